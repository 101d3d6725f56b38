import CShims
import Glibc
import Testing

/// The C shim is what the AF_XDP code will stand on: it must import libxdp's and libbpf's
/// headers into Swift and agree with the kernel's encoding of unaligned-chunk addresses.
@Suite("CShims")
struct CShimsTests {
    @Test("unaligned-chunk addresses: base in the low 48 bits, data offset above them")
    func unalignedAddressEncoding() {
        #expect(cshims_unaligned_offset_shift() == 48)
        #expect(cshims_unaligned_address_mask() == (1 << 48) - 1)
        // A fragment at UMEM offset 0x12345 whose data starts 256 bytes in (headroom).
        let encoded: UInt64 = 0x12345 | (256 << 48)
        #expect(xsk_umem__extract_addr(encoded) == 0x12345)
        #expect(xsk_umem__extract_offset(encoded) == 256)
        #expect(xsk_umem__add_offset_to_addr(encoded) == 0x12345 + 256)
    }

    @Test("libxdp and libbpf are linked and callable")
    func librariesLinked() {
        let bpf = String(cString: cshims_libbpf_version())
        #expect(bpf.split(separator: ".").count == 2, "libbpf version \(bpf)")
        var buffer = [CChar](repeating: 0, count: 128)
        #expect(libxdp_strerror(-EINVAL, &buffer, buffer.count) == 0)
        let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        #expect(!message.isEmpty)
    }
}
