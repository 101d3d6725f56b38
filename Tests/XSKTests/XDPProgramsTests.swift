import CShims
import Testing
import VethLab
@testable import XSK

#if canImport(Glibc)
import Glibc
import TestSupport
#endif

@Suite("XDP programs on veth", .serialized, Root.required)
struct XDPProgramsTests {
    @Test("the embedded programs load, attach, and see every generated frame", arguments: [XDPAttachMode.native, .skb])
    func generatorThroughRedirect(mode: XDPAttachMode) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let link = try lab.run(in: .device) {
            try programs.attach(.redirect, to: NetworkInterface(named: lab.deviceInterface), mode: mode)
        }
        defer { link.detach() }
        #expect(link.mode == mode)

        try lab.run(in: .generator) {
            try programs.generate(
                frame: TestFrame.make(length: 64), count: 1000,
                on: NetworkInterface(named: lab.generatorInterface), sequenceOffset: TestFrame.sequenceOffset)
        }
        // No socket in the queue's slot: every frame is passed to the kernel, none redirected.
        let counters = try programs.counters(queue: 0)
        #expect(counters.passed == 1000)
        #expect(counters.redirected == 0)
    }

    @Test("a foreign program is refused unless forced; the link detaches only what we attached")
    func foreignProgram() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let interface = lab.deviceInterface
        let foreign = try ForeignProgram()
        try lab.run(in: .device) { try foreign.attachPlain(to: NetworkInterface(named: interface)) }

        do {
            _ = try lab.run(in: .device) {
                try programs.attach(.redirect, to: NetworkInterface(named: interface), mode: .native)
            }
            Issue.record("attaching over a foreign program must fail")
        } catch let error as XSKError {
            guard case .foreignProgramAttached(_, let name, _) = error else {
                Issue.record("unexpected error \(error)")
                return
            }
            #expect(name == ForeignProgram.name)
            #expect(error.description.contains("not xskd's"))
        }
        // Still attached: refusing changed nothing.
        #expect(try lab.run(in: .device) { try programs.attachedProgram(on: NetworkInterface(named: interface)) }?.name == ForeignProgram.name)

        let link = try lab.run(in: .device) {
            try programs.attach(.redirect, to: NetworkInterface(named: interface), mode: .native, replaceForeign: true)
        }
        #expect(try lab.run(in: .device) { try programs.attachedProgram(on: NetworkInterface(named: interface)) }?.name == "xskd_redirect")
        link.detach()
        #expect(try eventually { try lab.run(in: .device) { try programs.attachedProgram(on: NetworkInterface(named: interface)) } == nil })
    }

    @Test("an xskd program left attached the old way is replaced without force; a live link is not")
    func oldAttachmentReplacedLiveLinkKept() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let interface = lab.deviceInterface
        // A plain attachment of our own program, as a crashed older xskd might leave.
        try lab.run(in: .device) {
            let index = try NetworkInterface(named: interface).index
            let result = bpf_xdp_attach(Int32(index), programs.descriptor(of: .drop), UInt32(XDP_FLAGS_DRV_MODE), nil)
            if result != 0 { throw XSKError.invalidArgument("bpf_xdp_attach: \(result)") }
        }
        let link = try lab.run(in: .device) {
            try programs.attach(.redirect, to: NetworkInterface(named: interface), mode: .native)
        }
        #expect(try lab.run(in: .device) { try programs.attachedProgram(on: NetworkInterface(named: interface)) }?.name == "xskd_redirect")

        // A second xskd cannot take the interface from a live link.
        #expect(throws: XSKError.self) {
            _ = try lab.run(in: .device) {
                try programs.attach(.redirect, to: NetworkInterface(named: interface), mode: .native)
            }
        }
        link.detach()
        #expect(try eventually { try lab.run(in: .device) { try programs.attachedProgram(on: NetworkInterface(named: interface)) } == nil })
    }
}

/// A program that is not xskd's: two instructions (r0 = XDP_PASS; exit), loaded by hand and
/// attached the plain (netlink) way, as another tool would.
final class ForeignProgram: @unchecked Sendable {
    static let name = "foreign_pass"
    let descriptor: Int32

    init() throws {
        var instructions = [bpf_insn](repeating: bpf_insn(), count: 2)
        instructions[0].code = UInt8(BPF_ALU64 | BPF_MOV | BPF_K)
        instructions[0].imm = Int32(XDP_PASS.rawValue)
        instructions[1].code = UInt8(BPF_JMP | BPF_EXIT)
        let descriptor = bpf_prog_load(BPF_PROG_TYPE_XDP, Self.name, "GPL", instructions, 2, nil)
        guard descriptor >= 0 else { throw XSKError.invalidArgument("bpf_prog_load: \(descriptor)") }
        self.descriptor = descriptor
    }

    func attachPlain(to interface: NetworkInterface) throws {
        let result = bpf_xdp_attach(Int32(interface.index), descriptor, UInt32(XDP_FLAGS_DRV_MODE), nil)
        guard result == 0 else { throw XSKError.invalidArgument("bpf_xdp_attach: \(result)") }
    }

    deinit { close(descriptor) }
}
