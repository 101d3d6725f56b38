// What a capture writes and how: the file, how much of each frame, which frames, when to start
// a new file. The runner takes one (`RunnerConfiguration.capture`) and every queue of the run
// stages its frames for the one writer.

/// How a run captures the frames its queues receive and send into pcapng files.
public struct CaptureSettings: Sendable, Equatable {
    /// The file to write, or `-` for standard output (a pipe). With rotation, files are this
    /// name with a number before the extension (`capture.0000.pcapng`, `capture.0001.pcapng`).
    public var path: String
    /// At most this many bytes of each frame are kept (the original length is recorded too).
    public var snapLength = 65535
    /// One frame in this many is captured (1: every frame).
    public var sampling = 1
    /// Capture what the queues receive.
    public var inbound = true
    /// Capture what the queues send.
    public var outbound = true
    /// Start a new file once this many bytes are written to the current one (the file ends at
    /// a block boundary at or below it, unless a single block is longer); nil: no size limit.
    public var rotateBytes: Int?
    /// Start a new file when the current one is this old and a frame is to be written; nil: no
    /// time limit.
    public var rotateInterval: Duration?
    /// With rotation, keep at most this many files (the oldest is deleted); nil: keep every one.
    public var maximumFiles: Int?
    /// Each queue's staging area between its poll thread and the writer, in bytes: what the
    /// capture absorbs while the disk is slower than the traffic.
    public var stagingBytes = 8 << 20

    /// A capture into `path` of every frame, whole, in both directions.
    public init(path: String) { self.path = path }

    /// Whether the capture goes to standard output.
    public var toStandardOutput: Bool { path == "-" }

    /// Whether files rotate.
    public var rotates: Bool { rotateBytes != nil || rotateInterval != nil }

    /// The name of file number `index` of a rotating capture: the number before the extension.
    public func rotatedPath(_ index: Int) -> String {
        let number = String(index).count >= 4 ? String(index) : String(repeating: "0", count: 4 - String(index).count) + String(index)
        let slash = path.lastIndex(of: "/")
        if let dot = path.lastIndex(of: "."), dot != path.startIndex, slash.map({ $0 < dot }) ?? true,
            path[path.index(before: dot)] != "/"
        {
            return "\(path[..<dot]).\(number)\(path[dot...])"
        }
        return "\(path).\(number)"
    }
}
