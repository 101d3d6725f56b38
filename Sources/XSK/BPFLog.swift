// libbpf and libxdp print their diagnostics (verifier logs among them) through a C callback;
// this routes them to a Logger, since libraries never print.

import CShims
import Logging
import SystemCalls

enum BPFLog {
    private static let logger = LockedValue<Logger?>(nil)

    /// Sends libbpf/libxdp messages to `logger` from now on (the last caller wins: one process,
    /// one libbpf).
    static func route(to newLogger: Logger) {
        logger.withLock { $0 = newLogger }
        cshims_set_bpf_log_sink { level, message in
            guard let message else { return }
            let text = String(cString: message).trimmingSuffixNewlines()
            BPFLog.logger.withLock { logger in
                switch level {
                case 0: logger?.warning("libbpf: \(text)")
                case 1: logger?.debug("libbpf: \(text)")
                default: logger?.trace("libbpf: \(text)")
                }
            }
        }
    }
}

extension String {
    func trimmingSuffixNewlines() -> String {
        var text = self
        while text.last == "\n" { text.removeLast() }
        return text
    }
}
