// What a client may ask xskd's control socket: one short line ending in a newline. Parsed from
// the raw bytes received, whatever they are: anything else is answered with one printable
// error line, which never echoes more than a short, cleaned prefix of what came in.

/// A request to the control socket.
public enum ControlRequest: String, Sendable, Equatable, CaseIterable {
    /// The status snapshot, as JSON.
    case stats

    /// Bytes read before a request without a newline is refused.
    public static let maximumLength = 4096

    /// The refusal of a request: `reply` is the line to send back (one line, newline-terminated).
    public struct Refusal: Error, Sendable, Equatable {
        public let reply: String
    }

    /// Parses the bytes a client sent, up to the first newline. `bytes` holds at most
    /// `maximumLength` bytes: a full buffer without a newline is a request too long.
    public static func parse(_ bytes: some Collection<UInt8>) -> Result<ControlRequest, Refusal> {
        let accepted = allCases.map(\.rawValue).joined(separator: ", ")
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else {
            return .failure(Refusal(reply: bytes.count >= maximumLength
                ? "error: request longer than \(maximumLength) bytes\n"
                : "error: a request is one line ending in a newline (accepted: \(accepted))\n"))
        }
        let line = bytes[..<newline]
        // Spaces, tabs and a carriage return around the word are forgiven (telnet, nc -C).
        let isBlank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
        let trimmed = line.drop(while: isBlank).reversed().drop(while: isBlank).reversed()
        if let request = ControlRequest(rawValue: String(decoding: trimmed, as: UTF8.self)) {
            return .success(request)
        }
        return .failure(Refusal(reply: "error: unknown request '\(shown(trimmed.prefix(64)))' (accepted: \(accepted))\n"))
    }

    /// Printable ASCII as is, every other byte as '?': an error line stays one clean line.
    static func shown(_ bytes: some Sequence<UInt8>) -> String {
        String(decoding: bytes.map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}
