import Foundation
import Testing
import VethLab
@testable import XSK
import TestSupport

/// The XDP program is attached through a BPF link, so a process that dies, even by SIGKILL,
/// leaves nothing attached: the kernel drops the link with the process's last reference.
@Suite("XDP attachment and process death", .serialized, Root.required)
struct ProcessDeathTests {
    @Test("a process killed with SIGKILL leaves no program attached, and the next attach works at once")
    func killedProcessLeavesNothing() async throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let namespace = lab.deviceNamespace
        let interface = lab.deviceInterface
        await #expect(processExitsWith: .signal(SIGKILL)) { [namespace = namespace as String, interface = interface as String] in
            let lab = VethLab.existing(deviceNamespace: namespace, deviceInterface: interface)
            let programs = try XDPPrograms(logger: TestLog.logger)
            let link = try lab.run(in: .device) {
                try programs.attach(.redirect, to: NetworkInterface(named: interface), mode: .native)
            }
            let attached = try lab.run(in: .device) { try programs.attachedProgram(on: NetworkInterface(named: interface)) }
            guard attached?.name == "xskd_redirect" else { exit(3) }
            _ = withExtendedLifetime(link) { kill(getpid(), SIGKILL) }
        }
        let programs = try XDPPrograms(logger: TestLog.logger)
        #expect(try eventually { try lab.run(in: .device) { try programs.attachedProgram(on: NetworkInterface(named: interface)) } == nil })
        let link = try lab.run(in: .device) {
            try programs.attach(.redirect, to: NetworkInterface(named: interface), mode: .native)
        }
        link.detach()
    }
}
