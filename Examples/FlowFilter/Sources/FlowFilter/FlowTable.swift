// Flows counted in a table made once, before traffic: open addressing over a fixed number of
// slots, so that counting a frame never allocates. A flow is IPv4 source and destination,
// protocol, and for UDP and TCP the ports; when the table is full, new flows are counted as
// "untracked" instead of growing it.

struct FlowKey: Hashable {
    var source: UInt32
    var destination: UInt32
    var sourcePort: UInt16
    var destinationPort: UInt16
    var ipProtocol: UInt8
}

struct FlowTable {
    struct Entry {
        var key: FlowKey
        var frames: UInt64
        var bytes: UInt64
        var dropped: UInt64
    }

    private var slots: [Entry?]
    private let mask: Int
    private(set) var untracked: UInt64 = 0

    /// A table of `capacity` slots (rounded up to a power of two).
    init(capacity: Int) {
        var size = 1
        while size < capacity { size <<= 1 }
        slots = Array(repeating: nil, count: size)
        mask = size - 1
    }

    /// Counts one frame of `key`.
    mutating func count(_ key: FlowKey, bytes: Int, dropped: Bool) {
        var index = key.hashValue & mask
        for _ in 0...mask {
            if slots[index] == nil { slots[index] = Entry(key: key, frames: 0, bytes: 0, dropped: 0) }
            if slots[index]!.key == key {
                slots[index]!.frames &+= 1
                slots[index]!.bytes &+= UInt64(bytes)
                if dropped { slots[index]!.dropped &+= 1 }
                return
            }
            index = (index + 1) & mask
        }
        untracked &+= 1
    }

    var entries: [Entry] { slots.compactMap { $0 } }
}
