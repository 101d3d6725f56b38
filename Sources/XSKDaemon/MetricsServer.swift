// Prometheus metrics over HTTP, off unless asked, on the loopbacks unless told otherwise. The
// control thread feeds them from the workers' published counters once a second: the per-packet
// path never sees them. Named as node_exporter names its own: the `xskd_` namespace, base units,
// counters ending in `_total` and present at 0 from the start, no rates (`rate()` computes
// them), and `xskd_build_info` carrying the version.

import DaemonInput
import FlyingFox
import FlyingSocks
import Foundation
import Logging
import Prometheus
import Synchronization
import SystemCalls
import XSK
import XSKJobs

final class MetricsServer: @unchecked Sendable {
    // Unchecked: `last` and the metric handles are touched only by the control thread
    // (`update`); the registry is thread-safe and the HTTP tasks only read it.
    let registry = PrometheusCollectorRegistry()
    private var listeners: [(address: String, server: HTTPServer, task: Task<Void, any Error>)] = []
    private var last: [String: StatusSnapshot.QueueStatus] = [:]
    private let interface: String
    private let logger: Logger
    private let serverLog: ServerLog
    /// What the registry cannot hold: the round-trip histogram, already counted by the job
    /// (exposition text, appended to the registry's).
    private let histograms = LockedValue("")
    private let roundTrips: Bool
    private let residency: Bool

    /// Starts one HTTP server per address of `listen`, all serving the same registry. Every
    /// address is parsed before any server starts, so a refusal leaves nothing running.
    init(listen: OptionValues.MetricsAddress, interface: String, roundTrips: Bool = false, residency: Bool = false, logger: Logger) throws {
        self.interface = interface
        self.roundTrips = roundTrips
        self.residency = residency
        self.logger = logger
        self.listen = listen
        serverLog = ServerLog(logger)
        var servers: [(String, HTTPServer)] = []
        for address in listen.addresses {
            if OptionValues.MetricsAddress.isIPv6(address) {
                let socketAddress = try sockaddr_in6.inet6(ip6: address, port: listen.port)
                servers.append(("http://[\(address)]:\(listen.port)/metrics", HTTPServer(address: socketAddress, timeout: 5, logger: serverLog)))
            } else {
                let socketAddress = try sockaddr_in.inet(ip4: address, port: listen.port)
                servers.append(("http://\(address):\(listen.port)/metrics", HTTPServer(address: socketAddress, timeout: 5, logger: serverLog)))
            }
        }
        for (url, server) in servers {
            let registry = registry
            let histograms = histograms
            let task = Task {
                await server.appendRoute("GET /metrics") { _ in
                    var body = Data(registry.emitToBuffer())
                    body.append(contentsOf: Array(histograms.withLock { $0 }.utf8))
                    return HTTPResponse(
                        statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: body)
                }
                try await server.run()
            }
            listeners.append((url, server, task))
        }
        registry.makeGauge(
            descriptor: Self.descriptor("build_info", help: "Always 1; the labels say which xskd runs"),
            labels: [("version", PackageVersion.current)]
        ).set(1.0)
    }

    private let listen: OptionValues.MetricsAddress

    /// Waits until every server listens. With the two loopbacks of a bare PORT, one that cannot
    /// listen (IPv6 off, say) is a warning as long as the other does; an address asked for by
    /// name that cannot listen is an error naming it.
    func waitUntilListening() throws {
        var listening: [String] = []
        var failed: [String] = []
        for listener in listeners {
            let server = listener.server
            let ok = Self.wait { () async -> Bool in
                do {
                    try await server.waitUntilListening(timeout: 5)
                    return true
                } catch {
                    return false
                }
            }
            if ok { listening.append(listener.address) } else { failed.append(listener.address) }
        }
        if listening.isEmpty || (!listen.isLoopbackPair && !failed.isEmpty) {
            stop()
            throw DaemonError(
                "the metrics server could not listen on \(failed.joined(separator: ", ")) (address in use, or not an address of this host?)")
        }
        for address in failed {
            logger.warning("metrics not served on this loopback (its address family off?); served on the other", metadata: ["url": "\(address)"])
        }
        for address in listening { logger.info("metrics served", metadata: ["url": "\(address)"]) }
    }

    func stop() {
        // The servers' tasks end with a cancellation, which FlyingFox reports as critical.
        serverLog.stopping.store(true, ordering: .relaxed)
        for listener in listeners {
            let server = listener.server
            Self.wait { await server.stop(timeout: 1) }
            listener.task.cancel()
        }
    }

    /// Counters advance by what changed since the last update; gauges take the value. Every
    /// field of `QueueSample.fields` is exported from the first update on (counters at 0).
    func update(_ snapshot: StatusSnapshot) {
        for queue in snapshot.queues {
            let labels = [("interface", queue.interface), ("queue", "\(queue.queue)")]
            let before = last["\(queue.interface)/\(queue.queue)"]
            for field in QueueSample.fields {
                let value = queue[field.name]
                let descriptor = Self.descriptor(field.name, help: "\(field.help) (\(field.unit))")
                switch field.kind {
                case .counter:
                    let counter = registry.makeCounter(descriptor: descriptor, labels: labels)
                    let delta = value &- (before?[field.name] ?? 0)
                    if delta > 0, delta < UInt64(Int64.max) { counter.increment(by: Int64(delta)) }
                case .gauge:
                    registry.makeGauge(descriptor: descriptor, labels: labels).set(Double(value))
                }
            }
            last["\(queue.interface)/\(queue.queue)"] = queue
        }
        let labels = [("interface", interface)]
        let gauges: [(String, String, Int)] = [
            ("umem_size_bytes", "Size of the UMEM", snapshot.umemSizeBytes),
            ("umem_free_bytes", "UMEM bytes in the pool's free lists", snapshot.umemFreeBytes),
            ("buffers_outstanding", "Buffers out of the pool (fill ring, kernel, job, TX ring)", snapshot.buffersOutstanding),
        ]
        for (name, help, value) in gauges {
            registry.makeGauge(descriptor: Self.descriptor(name, help: help), labels: labels).set(Double(value))
        }
        registry.makeGauge(
            descriptor: Self.descriptor("start_time_seconds", help: "When xskd started, in seconds since the Unix epoch"),
            labels: labels
        ).set(snapshot.startTimeSeconds)
        var text = ""
        if roundTrips {
            text += Self.histogramExposition(
                "round_trip_seconds", help: "Round trips of the latency job's probes", snapshot) { ($0.roundTrip, $0.roundTripBuckets) }
        }
        if residency {
            text += Self.histogramExposition(
                "residency_seconds", help: "Sampled frames' time from arrival at the XDP program to transmit completion", snapshot
            ) { ($0.residency, $0.residencyBuckets) }
        }
        text += Self.flowExposition(snapshot)
        histograms.withLock { $0 = text }
    }

    /// Each flow's sequence counts, under the queue totals' names with a `flow` label (the
    /// flow id in hex): at most `FlowSequences.capacity` flows a queue, and a flow once seen
    /// stays, so its counters only grow. Nothing while no queue has seen a stamped frame.
    static func flowExposition(_ snapshot: StatusSnapshot) -> String {
        guard snapshot.queues.contains(where: { !$0.flows.isEmpty }) else { return "" }
        let families: [(String, String, String, (StatusSnapshot.QueueStatus.Flow) -> UInt64)] = [
            ("sequence_received_total", "counter", "Stamped frames received, per flow", \.received),
            ("sequence_missing", "gauge", "Sequence numbers not received (yet), per flow", \.missing),
            ("sequence_reordered_total", "counter", "Stamped frames that came after a later one, per flow", \.reordered),
            ("sequence_duplicated_total", "counter", "Stamped frames whose number was seen already, per flow", \.duplicated),
            ("sequence_restarts_total", "counter", "Times a flow's sender started again, per flow", \.restarts),
        ]
        var text = ""
        for (name, type, help, value) in families {
            text += "# HELP xskd_flow_\(name) \(help)\n# TYPE xskd_flow_\(name) \(type)\n"
            for queue in snapshot.queues {
                for flow in queue.flows {
                    let labels = "interface=\"\(queue.interface)\",queue=\"\(queue.queue)\",flow=\"\(String(flow.flow, radix: 16))\""
                    text += "xskd_flow_\(name){\(labels)} \(value(flow))\n"
                }
            }
        }
        return text
    }

    /// `xskd_NAME`, a Prometheus histogram per queue, from the counts `histogram` picks.
    static func histogramExposition(
        _ name: String, help: String, _ snapshot: StatusSnapshot,
        _ histogram: (StatusSnapshot.QueueStatus) -> (StatusSnapshot.QueueStatus.LatencySummary?, StatusSnapshot.QueueStatus.HistogramBuckets)
    ) -> String {
        var text = "# HELP xskd_\(name) \(help)\n# TYPE xskd_\(name) histogram\n"
        for queue in snapshot.queues {
            let labels = "interface=\"\(queue.interface)\",queue=\"\(queue.queue)\""
            let (summary, buckets) = histogram(queue)
            let cumulative = buckets.cumulative.isEmpty ? [UInt64](repeating: 0, count: StatusSnapshot.latencyBounds.count) : buckets.cumulative
            for (bound, count) in zip(StatusSnapshot.latencyBounds, cumulative) {
                text += "xskd_\(name)_bucket{\(labels),le=\"\(Double(bound) / 1e9)\"} \(count)\n"
            }
            let count = summary?.count ?? 0
            text += "xskd_\(name)_bucket{\(labels),le=\"+Inf\"} \(count)\n"
            text += "xskd_\(name)_sum{\(labels)} \(Double(buckets.sum) / 1e9)\n"
            text += "xskd_\(name)_count{\(labels)} \(count)\n"
        }
        return text
    }

    static func descriptor(_ name: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "xskd", metricName: name, unitName: "", helpText: help)
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

    /// FlyingFox's own log lines, through the daemon's logger (so that they carry journal
    /// priorities too): its errors as warnings (a client's bad request is not the daemon's
    /// error), the rest as debug; nothing once the servers are being stopped.
    final class ServerLog: FlyingSocks.Logging {
        let logger: Logger
        let stopping = Atomic<Bool>(false)
        init(_ logger: Logger) { self.logger = logger }

        private func log(_ level: Logger.Level, _ text: () -> String) {
            guard !stopping.load(ordering: .relaxed) else { return }
            logger.log(level: level, "metrics server: \(text())")
        }
        func logDebug(_ debug: @autoclosure () -> String) { log(.debug, debug) }
        func logInfo(_ info: @autoclosure () -> String) { log(.debug, info) }
        func logWarning(_ warning: @autoclosure () -> String) { log(.warning, warning) }
        func logError(_ error: @autoclosure () -> String) { log(.warning, error) }
        func logCritical(_ critical: @autoclosure () -> String) { log(.warning, critical) }
    }
}
