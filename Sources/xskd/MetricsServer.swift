// Prometheus metrics over HTTP, off unless asked, on loopback unless told otherwise. The
// control thread feeds them from the workers' published counters once a second: the per-packet
// path never sees them.

import FlyingFox
import Foundation
import Logging
import Prometheus

final class MetricsServer: @unchecked Sendable {
    // Unchecked: `last` and the metric handles are touched only by the control thread
    // (`update`); the registry is thread-safe and the HTTP task only reads it.
    let registry = PrometheusCollectorRegistry()
    private let server: HTTPServer
    private let task: Task<Void, any Error>
    private var last: [UInt32: StatusSnapshot.QueueStatus] = [:]
    private let interface: String
    private let logger: Logger

    /// Parses "PORT" (loopback) or "ADDRESS:PORT" (IPv4).
    init(address: String, port: UInt16, interface: String, logger: Logger) throws {
        self.interface = interface
        self.logger = logger
        server = HTTPServer(address: try .inet(ip4: address, port: port), timeout: 5)
        let registry = registry
        let server = server
        task = Task {
            await server.appendRoute("GET /metrics") { _ in
                HTTPResponse(
                    statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                    body: Data(registry.emitToBuffer()))
            }
            try await server.run()
        }
        logger.info("metrics served", metadata: ["url": "http://\(address):\(port)/metrics"])
    }

    /// Waits until the server listens (or fails), so that a bad address is an error at start.
    func waitUntilListening() throws {
        let server = server
        let listening = Self.wait { () async -> Bool in
            do {
                try await server.waitUntilListening(timeout: 5)
                return true
            } catch {
                return false
            }
        }
        guard listening else { throw DaemonError("the metrics server could not listen (address in use, or not an address of this host?)") }
    }

    func stop() {
        Self.wait { await self.server.stop(timeout: 1) }
        task.cancel()
    }

    /// Counters advance by what changed since the last update; gauges take the value.
    func update(_ snapshot: StatusSnapshot) {
        for queue in snapshot.queues {
            let labels = [("interface", interface), ("queue", "\(queue.queue)")]
            let before = last[queue.queue]
            func count(_ name: String, _ help: String, _ value: UInt64, _ previous: UInt64?) {
                let delta = value &- (previous ?? 0)
                guard delta > 0, delta < UInt64(Int64.max) else { return }
                registry.makeCounter(descriptor: Self.descriptor(name, unit: "total", help: help), labels: labels)
                    .increment(by: Int64(delta))
            }
            func gauge(_ name: String, unit: String = "", _ help: String, _ value: Double) {
                registry.makeGauge(descriptor: Self.descriptor(name, unit: unit, help: help), labels: labels).set(value)
            }
            count("rx_packets", "Frames received", queue.rxPackets, before?.rxPackets)
            count("rx_bytes", "Bytes received", queue.rxBytes, before?.rxBytes)
            count("tx_packets", "Frames sent (completed)", queue.txPackets, before?.txPackets)
            count("tx_bytes", "Bytes queued for sending", queue.txBytes, before?.txBytes)
            count("fill_shortfalls", "Refills that found no buffer", queue.fillShortfalls, before?.fillShortfalls)
            count("invalid_addresses", "RX or completion addresses skipped", queue.invalidAddresses, before?.invalidAddresses)
            count("invalid_lengths", "RX descriptors whose length ran past the buffer", queue.invalidLengths, before?.invalidLengths)
            count("tx_allocation_failures", "TX buffers asked for when the UMEM had none", queue.transmitAllocationFailures, before?.transmitAllocationFailures)
            count("rx_batches", "Receives that took at least one frame", queue.receiveBatches, before?.receiveBatches)
            count("tx_batches", "Transmits that queued at least one frame", queue.transmitBatches, before?.transmitBatches)
            count("poll_sleeps", "Times the poll thread slept in poll()", queue.sleeps, before?.sleeps)
            count("naps", "Timed naps of the adaptive wait while a stream flows", queue.naps, before?.naps)
            count("rx_wakeups", "recvfrom calls (RX wakeups, busy polling)", queue.receiveWakeups, before?.receiveWakeups)
            count("tx_wakeups", "sendto calls (TX wakeups)", queue.transmitWakeups, before?.transmitWakeups)
            count("xdp_redirected", "Frames the XDP program sent to the socket", queue.redirected, before?.redirected)
            count("xdp_passed", "Frames the XDP program left to the kernel", queue.passed, before?.passed)
            count("kernel_rx_dropped", "Frames the kernel dropped (XDP_STATISTICS)", queue.kernelRxDropped ?? 0, before?.kernelRxDropped)
            count("kernel_rx_ring_full", "Frames dropped on a full RX ring", queue.kernelRxRingFull ?? 0, before?.kernelRxRingFull)
            count("kernel_fill_ring_empty", "Times the kernel found the fill ring empty", queue.kernelFillRingEmpty ?? 0, before?.kernelFillRingEmpty)
            gauge("rx_packets", unit: "per_second", "Receive rate", queue.rxPacketsPerSecond)
            gauge("buffers_in_fill_ring", "Buffers posted, not yet taken", Double(queue.inFillRing ?? 0))
            gauge("buffers_in_application", "Frames the job holds", Double(queue.inApplication ?? 0))
            last[queue.queue] = queue
        }
        let labels = [("interface", interface)]
        registry.makeGauge(descriptor: Self.descriptor("umem_free", unit: "bytes", help: "UMEM bytes in the free lists"), labels: labels)
            .set(Double(snapshot.poolFreeBytes))
        registry.makeGauge(descriptor: Self.descriptor("buffers_outstanding", unit: "", help: "Buffers out of the pool"), labels: labels)
            .set(Double(snapshot.outstandingFragments))
    }

    static func descriptor(_ name: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "xskd", metricName: name, unitName: unit, helpText: help)
    }

    /// Runs async work from a plain thread and waits for it.
    @discardableResult
    static func wait<Result: Sendable>(_ body: @escaping @Sendable () async -> Result) -> Result {
        let box = ResultBox<Result>()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.value = await body()
            done.signal()
        }
        done.wait()
        return box.value!
    }

    final class ResultBox<Value>: @unchecked Sendable {
        var value: Value?
    }
}
