import Foundation
import Testing
import VethLab
import TestSupport
import XSK
import PageFrag

/// Jumbo frames as buffer chains (multi-buffer AF_XDP), on veth links at MTU 9000: veth takes
/// that MTU with XDP attached only because xskd's program is the multi-buffer form.
@Suite("jumbo frames as chains", .serialized, Root.required)
struct JumboFrameTests {
    typealias RunningDaemon = DaemonTests.RunningDaemon

    /// Sends `count` raw frames of random sizes (60 to 9014 bytes, both ends included) and
    /// random content from the generator end to broadcast, and collects what comes back at the
    /// same end: prints how many came back exactly as sent with the MACs swapped, how many
    /// came back altered, and the bytes sent.
    static let echoScript = """
        import random, socket, struct, sys, threading, time
        interface, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x88B5))
        raw.bind((interface, 0x88B5))
        raw.settimeout(0.2)
        own, broadcast = raw.getsockname()[4], b"\\xff" * 6
        rng = random.Random(seed)
        sizes = [9014, 60] + [rng.randint(60, 9014) for _ in range(count - 2)]
        expected, intact, altered = {}, set(), 0
        def receive():
            global altered
            deadline = time.time() + 15
            while len(intact) + altered < count and time.time() < deadline:
                try:
                    data, address = raw.recvfrom(65536)
                except socket.timeout:
                    continue
                if address[2] == socket.PACKET_OUTGOING:
                    continue
                index = struct.unpack_from("<I", data, 14)[0] if len(data) >= 18 else -1
                if expected.get(index) == data:
                    intact.add(index)
                else:
                    altered += 1
        receiver = threading.Thread(target=receive)
        receiver.start()
        for index, size in enumerate(sizes):
            body = struct.pack("<I", index) + rng.randbytes(size - 18)
            expected[index] = own + broadcast + b"\\x88\\xb5" + body
            raw.send(broadcast + own + b"\\x88\\xb5" + body)
            time.sleep(0.002)
        receiver.join()
        print(len(intact), altered, sum(sizes))
        """

    @Test("reflect at MTU 9000: frames of random sizes up to 9014 bytes come back byte-exact, MACs swapped; every buffer home")
    func reflectJumbo() throws {
        let lab = try VethLab(mtu: 9000)
        defer { lab.destroy() }
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--job", "reflect", "--filter-ethertype", "0x88b5", "--stats-interval", "0",
        ])
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        #expect(daemon.errors.withLock { $0 }.contains("multiBuffer=true"), "\(daemon.errors.withLock { $0 })")
        let count = 300
        let result = try lab.exec(in: .generator, "/usr/bin/python3", "-c", Self.echoScript, lab.interface(.generator), "\(count)", "13")
        let fields = result.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(fields.count == 3, "\(result)")
        // The generator end's veth queue holds 256 frames: a few may be lost there on a busy
        // host, after xskd sent them; none may come back altered.
        #expect(fields[0] >= count * 95 / 100, "\(fields[0]) of \(count) came back intact")
        #expect(fields[1] == 0, "\(fields[1]) came back altered")
        // The counters are published a moment after the frames.
        _ = try eventually(timeout: .seconds(3)) { try DaemonTests.queueFields(lab)["rx_packets_total"] == count }
        let queue = try DaemonTests.queueFields(lab)
        #expect(queue["rx_packets_total"] == count, "\(queue)")
        #expect(queue["rx_bytes_total"] == fields[2])
        #expect((queue["rx_chains_total"] ?? 0) > count / 2, "\(queue)")
        #expect(queue["chains_discarded_total"] == 0)
        #expect(try eventually {
            let now = try DaemonTests.queueFields(lab)
            return now["tx_packets_total"] == count && now["tx_completions_total"] == count - now["tx_chains_total"]! + now["tx_chain_buffers_total"]!
        })
        #expect(daemon.terminate() == 0)
        let output = daemon.output.withLock { $0 }
        #expect(output.contains("drain report: every buffer came home"), "\(output)")
        #expect(output.contains("still with the application 0,"), "\(output)")
    }

    @Test("forward at MTU 9000: ping -s 8972 -M do both ways, and a TCP stream at MTU 9000 arrives intact")
    func forwardJumbo() throws {
        let lab = try DaemonTests.ForwardLab(mtu: 9000)
        defer { lab.destroy() }
        let daemon = try RunningDaemon(namespace: lab.middle, arguments: [
            "run", "-i", lab.portA, "--job", "forward", "--to", lab.portB, "--stats-interval", "0",
        ])
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        let ab = try lab.exec(lab.hostA, ["ping", "-c", "5", "-i", "0.2", "-W", "2", "-s", "8972", "-M", "do", "198.18.210.2"])
        #expect(ab.contains("5 received"), "\(ab)")
        let ba = try lab.exec(lab.hostB, ["ping", "-c", "5", "-i", "0.2", "-W", "2", "-s", "8972", "-M", "do", "198.18.210.1"])
        #expect(ba.contains("5 received"), "\(ba)")
        // 20 MB from A to B; the digest on both sides must agree.
        let receiver = try RunningDaemon(namespace: lab.hostB, arguments: [], wrapper: ["/usr/bin/python3", "-c", """
            import hashlib, socket, sys
            server = socket.socket()
            server.bind(("198.18.210.2", 9100))
            server.listen(1)
            server.settimeout(20)
            print("listening", file=sys.stderr, flush=True)
            connection, _ = server.accept()
            connection.settimeout(20)
            digest, total = hashlib.sha256(), 0
            while True:
                chunk = connection.recv(1 << 20)
                if not chunk: break
                digest.update(chunk)
                total += len(chunk)
            print(total, digest.hexdigest())
            """, "--"])
        #expect(receiver.waitFor("listening"), "\(receiver.errors.withLock { $0 })")
        let sent = try lab.exec(lab.hostA, ["/usr/bin/python3", "-c", """
            import hashlib, random, socket
            rng = random.Random(7)
            data = rng.randbytes(20 << 20)
            connection = socket.create_connection(("198.18.210.2", 9100), timeout=20)
            connection.sendall(data)
            connection.close()
            print(len(data), hashlib.sha256(data).hexdigest())
            """])
        #expect(receiver.wait() == 0, "\(receiver.errors.withLock { $0 })")
        let received = receiver.output.withLock { $0 }
        #expect(sent.trimmingCharacters(in: .whitespacesAndNewlines) == received.trimmingCharacters(in: .whitespacesAndNewlines), "sent \(sent), received \(received)")
        #expect(daemon.terminate() == 0)
        let output = daemon.output.withLock { $0 }
        #expect(output.contains("drain report: every buffer came home"), "\(output)")
    }

    @Test("--multi-buffer off: the single-buffer program and sockets, said in the log; a frame longer than one buffer goes to the kernel")
    func multiBufferOff() throws {
        let lab = try VethLab(mtu: 3000)
        defer { lab.destroy() }
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--multi-buffer", "off", "--stats-interval", "0",
        ])
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        #expect(try DaemonTests.attached(lab) == "xskd_redirect")
        #expect(daemon.errors.withLock { $0 }.contains("multiBuffer=false"))
        // 2500 bytes fit no 2048-byte chunk: the program passes them to the kernel.
        try DaemonTests.generate(lab, count: 50, length: 2500)
        try DaemonTests.generate(lab, count: 50, length: 1000)
        let settled = try eventually(timeout: .seconds(3)) {
            let fields = try DaemonTests.queueFields(lab)
            return fields["rx_packets_total"] == 50 && fields["xdp_too_long_total"] == 50
        }
        let fields = try DaemonTests.queueFields(lab)
        #expect(settled, "\(fields)")
        #expect(fields["rx_chains_total"] == 0)
        #expect(daemon.terminate() == 0)
    }

    @Test(
        "generate at 9000 bytes: chains of five buffers, paced, counted whole at the peer (an xskd drop at MTU 9000, six buffers each); chains wrap the TX ring's end",
        arguments: [UmemChunks.unaligned, .aligned])
    func generateJumbo(chunks: UmemChunks) throws {
        let lab = try VethLab(mtu: 9000)
        defer { lab.destroy() }
        let peer = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.generatorInterface, "--job", "drop", "--stats-interval", "0",
        ], side: .generator)
        #expect(peer.waitFor("xskd running"), "\(peer.errors.withLock { $0 })")
        let count = 500
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--job", "generate", "--size", "9000", "--count", "\(count)", "--rate", "5000",
            // A TX ring of 64 slots, which chains of five do not divide: 2500 buffers wrap it
            // 39 times, and most wraps fall inside a chain.
            "--ring-size", "64", "--stats-interval", "0", "--umem-chunks", "\(chunks)",
        ])
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        let settled = try eventually(timeout: .seconds(5)) { try DaemonTests.queueFields(interface: lab.generatorInterface)["rx_packets_total"] == count }
        let received = try DaemonTests.queueFields(interface: lab.generatorInterface)
        #expect(settled, "\(received)")
        #expect(received["rx_bytes_total"] == count * 9000)
        // Received into 2048-byte fill buffers of 1792 bytes of room each: six per frame.
        #expect(received["rx_chains_total"] == count && received["rx_chain_buffers_total"] == count * 6, "\(received)")
        #expect(received["chains_discarded_total"] == 0)
        #expect(daemon.terminate() == 0)
        let output = daemon.output.withLock { $0 }
        // 9000 bytes in buffers of 1984: five each, every one completed.
        #expect(output.contains("tx \(count), \(count) of them chains (sent \(count * 5) of \(count * 5) buffers),"), "\(output)")
        #expect(output.contains("drain report: every buffer came home"), "\(output)")
        #expect(peer.terminate() == 0)
    }

    @Test("generate longer than the link's MTU is refused with the sizes, before anything is sent")
    func generateBeyondMTU() throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--job", "generate", "--size", "4000", "--count", "10", "--stats-interval", "0",
        ])
        #expect(daemon.wait() == 1)
        let errors = daemon.errors.withLock { $0 }
        #expect(errors.contains("size 4000 is longer than \(lab.deviceInterface) sends: MTU 1500 takes frames of at most 1518 bytes"), "\(errors)")
    }

    @Test("100 stop/start cycles of a multi-buffer queue under 3000-byte traffic at MTU 9000: chains taken whole, every page home each time")
    func hundredCyclesOfChains() throws {
        let lab = try VethLab(mtu: 9000)
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let link = try XSKQueueTests.attach(lab, programs, program: .redirectFrags)
        defer { link.detach() }
        let pool = try XSKQueueTests.pool()
        // 3000 bytes: two receive buffers each (1792 bytes of room in a 2048-byte chunk).
        let traffic = try BackgroundTraffic(lab, burst: 200, length: 3000, limit: .seconds(60))
        defer { traffic.stop() }
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        var (chains, discarded, single) = (UInt64(0), UInt64(0), UInt64(0))
        for _ in 1...100 {
            let socket = try Self.socket(on: lab, pool: pool)
            try programs.insertSocket(socket.descriptor, queue: 0)
            var queue = try XSKQueue(socket: socket, programs: programs, logger: TestLog.logger)
            #expect(socket.isMultiBuffer && queue.limit.takesChains)
            let deadline = ContinuousClock.now + .milliseconds(20)
            while ContinuousClock.now < deadline {
                let count = queue.receive(into: frames)
                for frame in frames.prefix(count) {
                    if frame.segments != 2 || frame.length != 3000 { single &+= 1 }
                    queue.release(frame)
                }
            }
            chains &+= queue.statistics.rxChains
            discarded &+= queue.statistics.chainsDiscarded
            // Traffic keeps coming: the stop finds chains in the RX ring and takes them back
            // buffer by buffer.
            _ = queue.stop(programs: programs)
            try pool.verifyQuiescent()
        }
        #expect(chains > 0)
        #expect(discarded == 0)
        #expect(single == 0, "\(single) frames were not whole 3000-byte chains of two")
    }

    @Test("receives asking for fewer frames than a chain has buffers (1 at a time, then 3, 64): chains taken whole, none discarded")
    func receiveFewerThanAChain() throws {
        let lab = try VethLab(mtu: 9000)
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let link = try XSKQueueTests.attach(lab, programs, program: .redirectFrags)
        defer { link.detach() }
        let pool = try XSKQueueTests.pool()
        let socket = try Self.socket(on: lab, pool: pool)
        try programs.insertSocket(socket.descriptor, queue: 0)
        var queue = try XSKQueue(socket: socket, programs: programs, logger: TestLog.logger)
        // 3000 bytes (the most the generator's live frames carry): two receive buffers each. A
        // receive that asks for one frame must look past its count for the chain's end rather
        // than wait for ever or discard it; one that asks for three ends inside a chain.
        let traffic = try BackgroundTraffic(lab, burst: 100, length: 3000, limit: .seconds(60))
        defer { traffic.stop() }
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        var (whole, other) = (0, 0)
        for slots in [1, 3, 64] {
            let deadline = ContinuousClock.now + .milliseconds(300)
            var taken = 0
            while ContinuousClock.now < deadline {
                let count = queue.receive(into: UnsafeMutableBufferPointer(rebasing: frames[0..<slots]))
                #expect(count <= slots)
                for frame in frames.prefix(count) {
                    if frame.segments == 2 && frame.length == 3000 { whole += 1 } else { other += 1 }
                    queue.release(frame)
                }
                taken += count
            }
            #expect(taken > 0, "nothing received asking for \(slots) frames at a time")
        }
        traffic.stop()
        #expect(queue.statistics.chainsDiscarded == 0)
        #expect(other == 0, "\(other) frames were not whole 3000-byte chains of two")
        #expect(whole > 0)
        _ = queue.stop(programs: programs)
        try pool.verifyQuiescent()
    }

    @Test("the fill ring nearly empty under 3000-byte chains: a chain the fill ring cannot hold whole is dropped whole by the kernel and counted, never cut short; single frames still fit; let go, chains arrive whole; every buffer home")
    func fillRingNearlyEmpty() throws {
        let lab = try VethLab(mtu: 9000)
        defer { lab.destroy() }
        let programs = try XDPPrograms(logger: TestLog.logger)
        let link = try XSKQueueTests.attach(lab, programs, program: .redirectFrags)
        defer { link.detach() }
        // 2 MiB of 32 KiB pages: 1024 buffers of 2048 bytes, every one of them in the
        // 4096-slot fill ring; 3000-byte frames take two (1792 bytes of room each).
        let pool = try XSKQueueTests.pool(size: 2 << 20)
        let socket = try Self.socket(on: lab, pool: pool)
        try programs.insertSocket(socket.descriptor, queue: 0)
        var queue = try XSKQueue(socket: socket, programs: programs, logger: TestLog.logger)
        let capacity = (32768 / queue.fragmentSize) * (pool.size / 32768)
        try #require(queue.statistics.fillPosted == UInt64(capacity) && capacity % 2 == 0)
        let frames = UnsafeMutableBufferPointer<ReceivedFrame>.allocate(capacity: 64)
        defer { frames.deallocate() }
        var held: [ReceivedFrame] = []

        // One 64-byte frame held leaves an odd number of buffers: after every pair has gone to a
        // chain, one buffer is left that no chain fits.
        try XSKQueueTests.generate(lab, programs, count: 1, length: 64)
        Self.receiveAll(&queue, frames, into: &held)
        try #require(held.count == 1 && !held[0].isChain)
        try XSKQueueTests.generate(lab, programs, count: 600, length: 3000, first: 1)
        Self.receiveAll(&queue, frames, into: &held)
        let chains = held.dropFirst()
        #expect(chains.count == (capacity - 1) / 2)
        #expect(chains.allSatisfy { $0.segments == 2 && $0.length == 3000 }, "a chain arrived cut short")
        #expect(queue.statistics.chainsDiscarded == 0)
        #expect(queue.census.inFillRing == 1)
        #expect(queue.census.inApplication == held.count, "frames held, a chain counted once")
        let before = try queue.socket.statistics()
        #expect(before.rxDropped >= UInt64(600 - chains.count), "\(before)")

        // Another chain finds one buffer: dropped whole and counted; the buffer stays in the
        // fill ring, where a single frame still fits.
        try XSKQueueTests.generate(lab, programs, count: 1, length: 3000, first: 1000)
        Self.receiveAll(&queue, frames, into: &held)
        #expect(held.count == 1 + chains.count)
        #expect(try queue.socket.statistics().rxDropped == before.rxDropped + 1)
        try XSKQueueTests.generate(lab, programs, count: 1, length: 64, first: 1001)
        Self.receiveAll(&queue, frames, into: &held)
        #expect(held.count == 2 + chains.count && held.last.map { !$0.isChain } == true)
        #expect(queue.census.inFillRing == 0 && queue.census.inApplication == held.count)
        #expect(pool.census().freeBytes == 0)

        // The job lets go: the fill ring fills again and a burst of chains arrives whole.
        for frame in held { queue.release(frame) }
        held.removeAll()
        #expect(queue.refill() > 0)
        try XSKQueueTests.generate(lab, programs, count: 200, length: 3000, first: 100_000)
        Self.receiveAll(&queue, frames, into: &held)
        #expect(held.count == 200 && held.allSatisfy { $0.segments == 2 && $0.length == 3000 })
        for frame in held { queue.release(frame) }
        #expect(queue.statistics.chainsDiscarded == 0)
        let report = queue.stop(programs: programs)
        #expect(report.stillInApplication == 0)
        try pool.verifyQuiescent()
        #expect(pool.census().outstandingFragments == 0)
    }

    @Test("bad TX chains are refused with what is wrong, naming the buffer: too long, outside the UMEM, past the buffer or the chunk, on a single-buffer socket")
    func badTransmitChainsRefused() throws {
        let lab = try VethLab(mtu: 9000)
        defer { lab.destroy() }
        let pool = try XSKQueueTests.pool()
        for multiBuffer in [XSKSocket.MultiBuffer.on, .off] {
            let socket = try Self.socket(on: lab, pool: pool, multiBuffer: multiBuffer)
            var queue = try XSKQueue(socket: socket, programs: nil, logger: TestLog.logger)
            let chunk = Int(socket.umem.configuration.chunkSize)
            // A chain of two whole-chunk buffers, built the way JobContext builds one: the data
            // 64 bytes in (the unaligned address's offset bits), the link in front of it.
            var fragments: [Fragment] = []
            for _ in 0..<2 {
                let fragment = queue.allocateTransmitBuffer(length: chunk)
                fragments.append(try #require(fragment))
            }
            func buffer(_ fragment: Fragment, length: UInt32) -> ReceivedFrame {
                ReceivedFrame(fragment: fragment, address: UInt64(FrameChain.linkSpace) << 48 | fragment.offset, length: length)
            }
            let dataRoom = UInt32(chunk - FrameChain.linkSpace)
            let first = buffer(fragments[0], length: dataRoom)
            let second = buffer(fragments[1], length: 100)
            FrameChain.link(first, to: second, base: pool.base)
            var chain = first
            chain.segments = 2
            chain.length = dataRoom + 100
            #expect(Self.refusal(queue, second) == nil, "a single buffer inside its fragment passes")
            if multiBuffer == .off {
                #expect(Self.refusal(queue, chain) == .chainOnSingleBufferSocket(buffers: 2))
                #expect(Self.refusal(queue, chain)?.description == "a chain of 2 buffers on a single-buffer socket (bound without XDP_USE_SG)")
            } else {
                #expect(Self.refusal(queue, chain) == nil, "a chain built as JobContext builds one passes")
                var long = chain
                long.segments = 19
                #expect(Self.refusal(queue, long) == .chainTooLong(buffers: 19, limit: 18))
                #expect(Self.refusal(queue, long)?.description == "a chain of 19 buffers: the kernel sends at most 18 as one frame")
                // The second buffer's link names an address past the UMEM's end.
                let outside = Fragment(offset: UInt64(pool.size) - 512, length: 2048)
                FrameChain.link(first, to: buffer(outside, length: 100), base: pool.base)
                #expect(Self.refusal(queue, chain) == .outsideUmem(
                    index: 1, address: UInt64(FrameChain.linkSpace) << 48 | outside.offset, length: 100, umemSize: pool.size))
                // Its length runs past its own buffer.
                var overlong = second
                overlong.length = dataRoom + 1
                FrameChain.link(first, to: overlong, base: pool.base)
                chain.length = dataRoom * 2 + 1
                #expect(Self.refusal(queue, chain) == .pastBuffer(index: 1, address: overlong.address, length: dataRoom + 1, room: Int(dataRoom)))
                // A fragment longer than a chunk, its buffer longer than the chunk too.
                var wide = second
                wide.fragment = Fragment(offset: fragments[1].offset, length: UInt32(chunk * 2))
                wide.length = UInt32(chunk + 1)
                FrameChain.link(first, to: wide, base: pool.base)
                chain.length = dataRoom + UInt32(chunk + 1)
                #expect(Self.refusal(queue, chain) == .longerThanChunk(index: 1, length: UInt32(chunk + 1), chunkSize: chunk))
                // Links that claim more bytes than the frame has, and an empty buffer.
                FrameChain.link(first, to: second, base: pool.base)
                chain.length = dataRoom - 1
                #expect(Self.refusal(queue, chain) == .lengthsDisagree(total: dataRoom - 1))
                chain.length = dataRoom
                #expect(Self.refusal(queue, chain) == .emptyBuffer(index: 1))
            }
            for fragment in fragments { queue.releaseTransmitBuffer(fragment) }
            _ = queue.stop(programs: nil)
        }
        try pool.verifyQuiescent()
    }

    @Test("tap on reflect at MTU 9000: chains captured whole both ways (received as sent, sent with MACs swapped), a snap length cuts them")
    func tapJumboChains() throws {
        let lab = try VethLab(mtu: 9000)
        defer { lab.destroy() }
        let directory = try DaemonTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for snap in [65535, 5000] {
            let file = directory + "/jumbo-\(snap).pcapng"
            let daemon = try RunningDaemon(lab: lab, arguments: [
                "run", "-i", lab.deviceInterface, "--job", "reflect", "--tap", file, "--snap-length", "\(snap)",
                "--filter-ethertype", "0x88b5", "--stats-interval", "0",
            ])
            #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
            let sent = try DaemonTests.sendFrames(lab, count: 150, longest: 9014, seed: 7)
            _ = try eventually(timeout: .seconds(3)) { try DaemonTests.queueFields(lab)["tx_completions_total"] ?? 0 > 0 }
            usleep(300_000)
            let fields = try DaemonTests.queueFields(lab)
            #expect(daemon.terminate() == 0, "\(daemon.errors.withLock { $0 })")
            #expect((fields["rx_chains_total"] ?? 0) > 0, "\(fields)")
            let captured = try #require(try DaemonTests.readCapture([file]).first)
            #expect(captured.complete)
            let inbound = captured.testFrames.filter { $0.direction == 1 }
            let outbound = captured.testFrames.filter { $0.direction == 2 }
            let cut = sent.map { String($0.prefix(2 * snap)) }
            #expect(inbound.map(\.data) == cut, "received frames, first \(snap) bytes")
            #expect(inbound.map(\.original) == sent.map { $0.count / 2 })
            let swapped = sent.map { frame in
                String(String(frame.dropFirst(12).prefix(12) + frame.prefix(12) + frame.dropFirst(24)).prefix(2 * snap))
            }
            #expect(outbound.map(\.data) == swapped, "sent frames: the received ones with their MACs swapped")
            #expect(outbound.map(\.original) == sent.map { $0.count / 2 })
            #expect(fields["capture_dropped_total"] == 0, "\(fields)")
        }
    }

    @Test(
        "the MTU raised to 9000 and lowered to 1500 under traffic, twice: jumbo frames arrive whole as chains once raised, go to the kernel once lowered; nothing corrupted, discarded or leaked",
        arguments: [UmemChunks.unaligned, .aligned])
    func mtuFollowedUnderJumboTraffic(chunks: UmemChunks) throws {
        let lab = try VethLab()
        defer { lab.destroy() }
        let daemon = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.deviceInterface, "--stats-interval", "0", "--umem-chunks", "\(chunks)",
        ])
        // Unaligned buffers are sized from the MTU: a raise waits for the small ones, a lowering
        // follows at once. Aligned chunks are whole chunks taking chains from the start: each
        // change is logged as needing nothing.
        let (raised, lowered) = chunks == .aligned
            ? ("longer frames arrive as chains already", "longer frames arrive as chains already")
            : ("frame limit raised", "frame limit follows now")
        #expect(daemon.waitFor("xskd running"), "\(daemon.errors.withLock { $0 })")
        // Traffic throughout, the longest frame MTU 1500 takes: the fill ring turns over while
        // the MTU moves.
        let traffic = try BackgroundTraffic(lab, burst: 200, length: 1514, limit: .seconds(60))
        defer { traffic.stop() }
        func setMTU(_ mtu: Int) throws {
            // Raised: the receiving end first would take frames the sender cannot make yet
            // (harmless); lowered: the sender first, so no frame is longer than the receiver's MTU.
            let order: [VethLab.Side] = mtu > 1500 ? [.device, .generator] : [.generator, .device]
            for side in order { _ = try lab.exec(in: side, "ip", "link", "set", lab.interface(side), "mtu", "\(mtu)") }
        }
        func logged(_ text: String, times: Int) -> Bool {
            eventually(timeout: .seconds(10)) {
                daemon.errors.withLock { $0 }.components(separatedBy: text).count - 1 >= times
            }
        }
        var previous = try DaemonTests.queueFields(lab)
        for round in 1...2 {
            try setMTU(9000)
            #expect(logged(raised, times: chunks == .aligned ? 2 * round - 1 : round), "\(daemon.errors.withLock { $0 })")
            #expect(daemon.errors.withLock { $0 }.contains("chains=true"))
            // Jumbo frames of random sizes from a packet socket: each arrives whole, a chain.
            let sent = try DaemonTests.sendFrames(lab, count: 100, longest: 9014, seed: round, pause: 0.001)
            let jumbo = sent.filter { $0.count / 2 > 1792 }.count
            #expect(try eventually {
                try DaemonTests.queueFields(lab)["rx_chains_total"]! >= previous["rx_chains_total"]! + jumbo
            }, "\((try? DaemonTests.queueFields(lab)) ?? [:])")
            try setMTU(1500)
            #expect(logged(lowered, times: chunks == .aligned ? 2 * round : round), "\(daemon.errors.withLock { $0 })")
            // Lowered: a jumbo frame cannot cross the link at all, and what the 1500-byte
            // traffic brings still arrives in one buffer each.
            let atLowering = try DaemonTests.queueFields(lab)
            usleep(200_000)
            let after = try DaemonTests.queueFields(lab)
            #expect(after["rx_chains_total"] == atLowering["rx_chains_total"], "chains at MTU 1500: \(after)")
            #expect(after["rx_packets_total"]! > atLowering["rx_packets_total"]!, "the traffic stopped: \(after)")
            previous = after
        }
        traffic.stop()
        let last = try DaemonTests.queueFields(lab)
        #expect(last["invalid_lengths_total"] == 0 && last["invalid_addresses_total"] == 0, "\(last)")
        #expect(last["chains_discarded_total"] == 0, "\(last)")
        #expect(daemon.terminate() == 0)
        let output = daemon.output.withLock { $0 }
        #expect(output.contains("drain report: every buffer came home"), "\(output)")
    }

    @Test("xskd reflect stopped and started 10 times under 9000-byte traffic (100 with --long): chains both ways each time, a clean drain report each stop")
    func stopStartUnderJumboTraffic() throws {
        try Self.stopStartUnderJumboTraffic(cycles: LongTests.enabled ? 100 : 10)
    }

    /// `cycles` runs of xskd reflect at MTU 9000 while an xskd on the generator's end sends
    /// 9000-byte frames (chains of five) at 20 kfps: each run receives and sends chains, and
    /// stops with chains in every ring.
    static func stopStartUnderJumboTraffic(cycles: Int) throws {
        let lab = try VethLab(mtu: 9000)
        defer { lab.destroy() }
        let rate = 20_000
        let sender = try RunningDaemon(lab: lab, arguments: [
            "run", "-i", lab.generatorInterface, "--job", "generate", "--size", "9000", "--rate", "\(rate)",
            "--count", "\(rate * (cycles + 30))", "--stats-interval", "0",
        ], side: .generator)
        #expect(sender.waitFor("xskd running"), "\(sender.errors.withLock { $0 })")
        for cycle in 1...cycles {
            let daemon = try RunningDaemon(lab: lab, arguments: [
                "run", "-i", lab.deviceInterface, "--job", "reflect", "--stats-interval", "0",
            ])
            #expect(daemon.waitFor("xskd running"), "cycle \(cycle): \(daemon.errors.withLock { $0 })")
            let flowing = try eventually(timeout: .seconds(5)) {
                let fields = try DaemonTests.queueFields(lab)
                return (fields["rx_chains_total"] ?? 0) > 50 && (fields["tx_chains_total"] ?? 0) > 50
            }
            #expect(flowing, "cycle \(cycle): no chains both ways: \((try? DaemonTests.queueFields(lab)) ?? [:])")
            let fields = try DaemonTests.queueFields(lab)
            #expect(daemon.terminate() == 0, "cycle \(cycle)")
            let output = daemon.output.withLock { $0 }
            let clean = output.contains("drain report: every buffer came home") && output.contains("still with the application 0,")
                && output.contains("invalid addresses 0, invalid lengths 0")
            #expect(clean, "cycle \(cycle): \(output)")
            #expect(fields["chains_discarded_total"] == 0, "cycle \(cycle): \(fields)")
            if !clean || !flowing { break }
        }
        #expect(sender.terminate() == 0)
    }

    /// Takes every frame the RX ring has and keeps it in `held`, as a job that holds what it
    /// receives.
    static func receiveAll(_ queue: inout XSKQueue, _ frames: UnsafeMutableBufferPointer<ReceivedFrame>, into held: inout [ReceivedFrame]) {
        while true {
            let count = queue.receive(into: frames)
            if count == 0 { return }
            held.append(contentsOf: frames.prefix(count))
        }
    }

    /// What `queue.checkTransmit` says of `frame`: nil when it passes.
    static func refusal(_ queue: borrowing XSKQueue, _ frame: ReceivedFrame) -> TransmitRefusal? {
        do throws(TransmitRefusal) {
            try queue.checkTransmit(frame)
            return nil
        } catch {
            return error
        }
    }

    /// A socket on queue 0 of the lab's device end, over a UMEM of `pool` registered with `umem`.
    static func socket(
        on lab: VethLab, pool: PagePool, multiBuffer: XSKSocket.MultiBuffer = .on, umem: Umem.Configuration = .init()
    ) throws -> XSKSocket {
        let interface = lab.deviceInterface
        return try lab.run(in: .device) {
            var configuration = XSKSocket.Configuration(interface: interface, queue: 0)
            configuration.multiBuffer = multiBuffer
            return try XSKSocket(
                umem: Umem(pool: pool, configuration: umem, logger: TestLog.logger), configuration: configuration,
                logger: TestLog.logger)
        }
    }
}
