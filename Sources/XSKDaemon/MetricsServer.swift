// Prometheus metrics over HTTP, off unless asked, on loopback unless told otherwise. The
// control thread feeds them from the workers' published counters once a second: the per-packet
// path never sees them.

import FlyingFox
import Foundation
import Logging
import Prometheus
import XSKJobs

final class MetricsServer: @unchecked Sendable {
    // Unchecked: `last` and the metric handles are touched only by the control thread
    // (`update`); the registry is thread-safe and the HTTP task only reads it.
    let registry = PrometheusCollectorRegistry()
    private let server: HTTPServer
    private let task: Task<Void, any Error>
    private var last: [String: StatusSnapshot.QueueStatus] = [:]
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

    /// Counters advance by what changed since the last update; gauges take the value. Every
    /// field of `QueueSample.fields` is exported, counters from the first update on (at 0).
    func update(_ snapshot: StatusSnapshot) {
        for queue in snapshot.queues {
            let labels = [("interface", queue.interface), ("queue", "\(queue.queue)")]
            let before = last["\(queue.interface)/\(queue.queue)"]
            for field in QueueSample.fields {
                let value = queue[field.key]
                switch field.kind {
                case .counter:
                    let counter = registry.makeCounter(descriptor: Self.descriptor(field.name, unit: "total", help: field.help), labels: labels)
                    let delta = value &- (before?[field.key] ?? 0)
                    if delta > 0, delta < UInt64(Int64.max) { counter.increment(by: Int64(delta)) }
                case .gauge:
                    registry.makeGauge(descriptor: Self.descriptor(field.name, unit: "", help: field.help), labels: labels).set(Double(value))
                }
            }
            registry.makeGauge(descriptor: Self.descriptor("rx_packets", unit: "per_second", help: "Receive rate"), labels: labels)
                .set(queue.rxPacketsPerSecond)
            last["\(queue.interface)/\(queue.queue)"] = queue
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
