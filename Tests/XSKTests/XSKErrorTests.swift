import Glibc
import PageFrag
import Testing
import VethLab
@testable import XSK
import TestSupport

/// Bind modes, busy polling and the errors a user meets, each with its context and hint.
@Suite("AF_XDP bind modes and errors on veth", .serialized, Root.required)
struct XSKErrorTests {
    static func pool() throws -> PagePool {
        try PagePool(configuration: .init(size: 4 << 20, backing: .smallPages), logger: TestLog.logger)
    }

    @Test("zero-copy asked on veth fails with EOPNOTSUPP and says so; automatic falls back to copy")
    func zeroCopyOnVeth() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let pool = try Self.pool()
        let interface = lab.deviceInterface
        do {
            _ = try lab.run(in: .device) { () throws -> XSKSocket in
                var configuration = XSKSocket.Configuration(interface: interface, queue: 0)
                configuration.bindMode = .zeroCopy
                return try XSKSocket(umem: Umem(pool: pool, logger: TestLog.logger), configuration: configuration, logger: TestLog.logger)
            }
            Issue.record("zero-copy must fail on veth")
        } catch let error as XSKError {
            guard case .system(let system) = error else { throw error }
            #expect(system.errno == EOPNOTSUPP)
            #expect(error.description.contains("interface \(interface) queue 0"))
            #expect(error.description.contains("copy mode"))
        }
        let socket = try lab.run(in: .device) {
            try XSKSocket(umem: Umem(pool: pool, logger: TestLog.logger), configuration: .init(interface: interface, queue: 0), logger: TestLog.logger)
        }
        #expect(socket.boundMode == .copy)
    }

    @Test("a queue the interface does not have, and an interface that does not exist, are clear errors")
    func badQueueAndInterface() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let pool = try Self.pool()
        let interface = lab.deviceInterface
        #expect {
            _ = try lab.run(in: .device) {
                try XSKSocket(umem: Umem(pool: pool, logger: TestLog.logger), configuration: .init(interface: interface, queue: 7), logger: TestLog.logger)
            }
        } throws: { error in
            guard case .system(let system) = error as? XSKError else { return false }
            return system.errno == EINVAL && "\(error)".contains("queue 7")
        }
        #expect {
            _ = try lab.run(in: .device) {
                try XSKSocket(umem: Umem(pool: pool, logger: TestLog.logger), configuration: .init(interface: "nosuch0", queue: 0), logger: TestLog.logger)
            }
        } throws: { error in
            "\(error)" == "interface nosuch0 does not exist"
        }
        // Nothing was left behind by the failures: the pool is untouched and quiescent.
        try pool.verifyQuiescent()
    }

    @Test("ring sizes that are not powers of two are refused before any system call")
    func badRingSizes() throws {
        let pool = try Self.pool()
        var umemConfiguration = Umem.Configuration()
        umemConfiguration.fillSize = 1000
        #expect(throws: XSKError.self) { _ = try Umem(pool: pool, configuration: umemConfiguration, logger: TestLog.logger) }
        umemConfiguration = .init()
        umemConfiguration.chunkSize = 1024
        #expect(throws: XSKError.self) { _ = try Umem(pool: pool, configuration: umemConfiguration, logger: TestLog.logger) }
    }

    @Test("busy polling can be turned on, and frames still arrive")
    func busyPoll() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let pool = try PagePool(configuration: .init(size: 16 << 20, backing: .smallPages, tracksFragments: true), logger: TestLog.logger)
        let harness = try XSKHarness(lab: lab, pool: pool)
        // A second socket on another UMEM cannot share this queue; check busy poll on a fresh lab
        // end instead: the generator side.
        let interface = lab.generatorInterface
        let other = try PagePool(configuration: .init(size: 4 << 20, backing: .smallPages), logger: TestLog.logger)
        let socket = try lab.run(in: .generator) { () throws -> XSKSocket in
            var configuration = XSKSocket.Configuration(interface: interface, queue: 0)
            configuration.busyPoll = .init(microseconds: 20, budget: 64)
            return try XSKSocket(umem: Umem(pool: other, logger: TestLog.logger), configuration: configuration, logger: TestLog.logger)
        }
        #expect(socket.boundMode == .copy)
        try harness.generate(count: 100, length: 64)
        #expect(harness.receive { _, _ in } == 100)
        try harness.tearDown()
    }

    @Test("attach mode automatic picks native on veth")
    func automaticAttach() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let link = try lab.run(in: .device) {
            try programs.attach(.redirect, to: NetworkInterface(named: lab.deviceInterface), mode: .automatic)
        }
        #expect(link.mode == .native)
        link.detach()
    }
}
