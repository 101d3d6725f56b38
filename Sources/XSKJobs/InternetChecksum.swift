// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit
// words, for the IPv4 header and UDP/TCP. Nothing on a copy-mode AF_XDP path fills checksums
// in, so a job that builds IP frames computes them: once for what stays the same (a template),
// then per frame only over the bytes that change, added to the template's sum.

/// Partial Internet checksum sums and their final form.
public enum InternetChecksum {
    /// The sum of `bytes` as big-endian 16-bit words (an odd last byte padded with zero), to add
    /// to other partial sums before `finish`.
    @inlinable
    public static func sum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var total: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            total &+= UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { total &+= UInt32(bytes[index]) << 8 }
        return fold(total)
    }

    /// A sum folded into 16 bits (carries added back in), still a partial sum.
    @inlinable
    public static func fold(_ sum: UInt32) -> UInt32 {
        var folded = sum
        while folded > 0xFFFF { folded = (folded & 0xFFFF) &+ (folded >> 16) }
        return folded
    }

    /// The checksum field for a total partial sum: its ones' complement, in host order.
    @inlinable
    public static func finish(_ sum: UInt32) -> UInt16 {
        ~UInt16(truncatingIfNeeded: fold(sum))
    }

    /// The UDP checksum field for a total partial sum: as `finish`, but a result of 0 is sent
    /// as 0xFFFF (0 means "no checksum" in UDP over IPv4).
    @inlinable
    public static func finishUDP(_ sum: UInt32) -> UInt16 {
        let checksum = finish(sum)
        return checksum == 0 ? 0xFFFF : checksum
    }
}
