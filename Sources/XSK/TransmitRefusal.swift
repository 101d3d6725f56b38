// Why a frame may not go on a TX ring. The kernel validates each TX descriptor too, but it
// drops a bad one silently (its `tx_invalid_descs` counter) or, for a bad buffer in a chain,
// the whole chain; and a descriptor naming bytes the queue does not own would send another
// frame's data. So the queue checks a frame before it is queued: `XSKQueue.checkTransmit`
// throws this for a caller that builds descriptors by hand (as DPDK's `rte_eth_tx_prepare`
// checks mbufs before the burst), and `transmit` refuses a chain that fails it with the same
// words (a precondition: queuing a bad chain is the caller's bug).

/// Why a frame was refused before it reached a TX ring.
public enum TransmitRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    /// A chain on a socket bound without XDP_USE_SG.
    case chainOnSingleBufferSocket(buffers: Int)
    /// More buffers than the kernel sends as one frame.
    case chainTooLong(buffers: Int, limit: Int)
    /// Buffer `index` of the frame names bytes past the end of the UMEM.
    case outsideUmem(index: Int, address: UInt64, length: UInt32, umemSize: Int)
    /// Buffer `index`'s bytes run past the end of its own fragment (its chunk).
    case pastBuffer(index: Int, address: UInt64, length: UInt32, room: Int)
    /// Buffer `index` is longer than a UMEM chunk, the most the kernel takes in one descriptor.
    case longerThanChunk(index: Int, length: UInt32, chunkSize: Int)
    /// A chain with a buffer of no bytes (the kernel would end the frame there).
    case emptyBuffer(index: Int)
    /// A chain whose buffers' lengths (in their links) add up to more than the frame's.
    case lengthsDisagree(total: UInt32)

    /// What is wrong, in words for a log line or a precondition message.
    public var description: String {
        switch self {
        case .chainOnSingleBufferSocket(let buffers):
            "a chain of \(buffers) buffers on a single-buffer socket (bound without XDP_USE_SG)"
        case .chainTooLong(let buffers, let limit):
            "a chain of \(buffers) buffers: the kernel sends at most \(limit) as one frame"
        case .outsideUmem(let index, let address, let length, let size):
            "buffer \(index): \(length) bytes at address \(Self.hex(address)) run past the UMEM's \(size) bytes"
        case .pastBuffer(let index, let address, let length, let room):
            "buffer \(index): \(length) bytes at address \(Self.hex(address)) run past its buffer, which has room for \(room)"
        case .longerThanChunk(let index, let length, let chunk):
            "buffer \(index): \(length) bytes, longer than a \(chunk)-byte UMEM chunk"
        case .emptyBuffer(let index):
            "buffer \(index) of the chain has no bytes"
        case .lengthsDisagree(let total):
            "the chain's buffers hold more bytes than its length of \(total)"
        }
    }

    static func hex(_ value: UInt64) -> String { "0x" + String(value, radix: 16) }
}
