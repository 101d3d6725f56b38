// The capture's writer: one thread for the run that takes the finished pcapng blocks each
// poll thread staged (`CaptureStaging`) and writes them to the file, off the data path. It
// polls the staging areas about every millisecond when there is nothing to write, writes at
// most 1 MiB per call so that room frees up as it goes, starts a new file when the current one
// reaches its size or age, and deletes the oldest beyond the number of files allowed.
//
// A write that fails (a full disk, standard output's reader gone) ends the capture and never
// the run: the file is cut back to the last whole block, so it stays readable; the poll
// threads stop staging (their frames count as dropped from the capture), and the job goes on.
// Every file starts with the section header and every interface description, so each one is
// readable alone. After a kill -9, what was written is whole blocks but the last.

import CShims
import Logging
import Synchronization
import SystemCalls

#if canImport(Glibc)
import Glibc
#endif

/// What a capture wrote, for the stop report.
public struct CaptureReport: Sendable, CustomStringConvertible {
    /// The files written, oldest first (the ones rotation deleted are not listed).
    public var files: [String]
    /// Frames written, over every file.
    public var framesWritten: UInt64
    /// Bytes written, headers included, over every file.
    public var bytesWritten: UInt64
    /// Frames that were staged but never written: the capture stopped first (a failed write).
    public var framesDiscarded: UInt64
    /// Why the capture stopped before the run did; nil when it did not.
    public var failure: String?

    /// One line for the stop output.
    public var description: String {
        var line = "capture: \(framesWritten) frames, \(bytesWritten) bytes written to "
        line += files.count == 1 ? files[0] : "\(files.count) files (\(files.first ?? "") to \(files.last ?? ""))"
        if let failure { line += "; stopped early: \(failure), \(framesDiscarded) staged frames not written" }
        return line
    }
}

/// The thread that writes a run's capture.
public final class CaptureWriter: @unchecked Sendable {
    // Unchecked: the writer's state is its thread's between start and stop; the control thread
    // reads `report` only after `stop` joined it, and the staging areas are shared through
    // their own acquire/release indices.
    /// What to write.
    public let settings: CaptureSettings
    /// One staging area per poll thread, in queue order.
    let stagings: [CaptureStaging]
    /// The first pcapng interface id of each poll thread (its port 0).
    let firstInterfaces: [UInt32]
    /// Wall-clock nanoseconds at monotonic 0, for the producers' timestamps.
    let epochOffset: UInt64
    private let header: [UInt8]
    private let logger: Logger
    private let pollCPUs: [Int]
    private let stopping = Atomic<Bool>(false)
    private var thread: JoinableThread?

    private var descriptor: Int32 = -1
    private var fileIndex = 0
    private var fileBytes = 0
    private var fileOpened = ContinuousClock.now
    private var filesKept: [String] = []
    private var framesWritten: UInt64 = 0
    private var bytesWritten: UInt64 = 0
    private var framesDiscarded: UInt64 = 0
    private var failure: String?

    /// Sets up a capture of `interfaces` (pcapng interface id n is `interfaces[n]`), with
    /// `portCount` interfaces per poll thread and `threads` poll threads, and opens the first
    /// file with its header. Throws when the file cannot be opened or the staging mapped.
    ///
    /// `pollCPUs` are the CPUs the poll threads are pinned to: the writer runs on the others
    /// while any are left. Beside a poll thread it takes turns on that CPU, and on veth with
    /// the receive work in a NAPI thread on the same CPU, those turns were enough to overflow
    /// the driver's ring: 19 of 200 000 frames lost at 100 kfps, none with the writer moved.
    public init(
        settings: CaptureSettings, interfaces: [PcapngBlocks.Interface], threads: Int, portCount: Int,
        pollCPUs: [Int] = [], logger: Logger
    ) throws(RunnerError) {
        precondition(interfaces.count == threads * portCount, "one interface description per thread and port")
        guard settings.snapLength >= 1 && settings.snapLength <= 65535 else {
            throw RunnerError("capture snap length \(settings.snapLength): 1 to 65535 bytes")
        }
        guard settings.sampling >= 1 else { throw RunnerError("capture sampling of one frame in \(settings.sampling)") }
        if settings.toStandardOutput {
            guard !settings.rotates else { throw RunnerError("a capture to standard output cannot rotate") }
            guard isatty(STDOUT_FILENO) == 0 else {
                throw RunnerError("capture to standard output, which is a terminal: pipe it (--write - | tcpdump -r -) or name a file")
            }
        }
        self.settings = settings
        self.logger = logger
        self.pollCPUs = pollCPUs
        header = PcapngBlocks.fileHeader(interfaces: interfaces, snapLength: settings.snapLength, application: "xskd \(PackageVersion.current)")
        firstInterfaces = (0..<threads).map { UInt32($0 * portCount) }
        var realtime = timespec()
        clock_gettime(CLOCK_REALTIME, &realtime)
        let wall = UInt64(realtime.tv_sec) &* 1_000_000_000 &+ UInt64(realtime.tv_nsec)
        epochOffset = wall &- ProbeStamp.now()
        do {
            stagings = try (0..<threads).map { _ throws(SystemCallError) in try CaptureStaging(minimumBytes: settings.stagingBytes) }
        } catch {
            throw RunnerError("\(error)")
        }
        // A pipe whose reader leaves must end the capture with EPIPE, not the process.
        signal(SIGPIPE, SIG_IGN)
        if let failure = openFile() { throw RunnerError(failure) }
    }

    deinit {
        if descriptor >= 0 && !settings.toStandardOutput { close(descriptor) }
    }

    /// The producer for thread `position`.
    func producer(position: Int, portCount: Int) -> CaptureProducer {
        CaptureProducer(
            staging: stagings[position], settings: settings, firstInterface: firstInterfaces[position],
            epochOffset: epochOffset, portCount: portCount)
    }

    /// Starts the writer thread.
    public func start() {
        precondition(thread == nil, "the capture writer was started already")
        thread = JoinableThread { [self] in run() }
    }

    /// Writes what is staged, then stops the thread and closes the file. Call it once the poll
    /// threads have stopped, so that nothing is staged after.
    public func stop() -> CaptureReport {
        stopping.store(true, ordering: .releasing)
        thread?.join()
        thread = nil
        if descriptor >= 0 {
            if !settings.toStandardOutput { close(descriptor) }
            descriptor = -1
        }
        return CaptureReport(
            files: filesKept, framesWritten: framesWritten, bytesWritten: bytesWritten, framesDiscarded: framesDiscarded,
            failure: failure)
    }

    private func run() {
        placeOffPollCPUs()
        while true {
            let finishing = stopping.load(ordering: .acquiring)
            var wrote = false
            for staging in stagings where drain(staging) { wrote = true }
            if finishing { return }
            if !wrote {
                var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
                nanosleep(&pause, nil)
            }
        }
    }

    private func placeOffPollCPUs() {
        guard !pollCPUs.isEmpty else { return }
        let cpus = pollCPUs.map(Int32.init)
        let left = cshims_exclude_cpus_current_thread(cpus, Int32(cpus.count))
        if left > 0 {
            logger.debug("capture writer off the poll threads' CPUs", metadata: ["pollCPUs": "\(pollCPUs)", "cpusLeft": "\(left)"])
        } else if left == 0 {
            logger.notice(
                "the poll threads hold every CPU this process may use: the capture writer takes turns with them",
                metadata: ["pollCPUs": "\(pollCPUs)"])
        } else {
            logger.warning("cannot move the capture writer off the poll threads' CPUs", metadata: ["errno": "\(-left)"])
        }
    }

    /// Writes what `staging` holds now (1 MiB per call at most, rotating on the way); whether
    /// anything was taken.
    private func drain(_ staging: CaptureStaging) -> Bool {
        var took = false
        while true {
            let (start, count, _) = staging.pending()
            guard count > 0 else { return took }
            took = true
            guard failure == nil else {
                framesDiscarded &+= Self.walk(start, count, budget: count).frames
                staging.consume(count)
                continue
            }
            if settings.rotates, dueForRotation() {
                if let why = rotate() {
                    fail(why)
                    continue
                }
            }
            var budget = 1 << 20
            if let limit = settings.rotateBytes { budget = min(budget, max(limit - fileBytes, 0)) }
            var (length, frames) = Self.walk(start, count, budget: budget)
            if length == 0 {
                // The next block does not fit in what the file has left: a new file, unless
                // this one holds no frame yet (a block longer than the limit goes in alone).
                if fileBytes > header.count, settings.rotates {
                    if let why = rotate() { fail(why) }
                    continue
                }
                (length, frames) = Self.walk(start, count, budget: Int(start.load(fromByteOffset: 4, as: UInt32.self)))
            }
            let written = writeAll(start, length)
            if written < length {
                let error = errno
                // Cut back to the last whole block, so that the file stays readable.
                let kept = Self.walk(start, written, budget: written)
                if !settings.toStandardOutput { _ = ftruncate(descriptor, off_t(fileBytes + kept.length)) }
                fileBytes += kept.length
                framesWritten &+= kept.frames
                bytesWritten &+= UInt64(kept.length)
                framesDiscarded &+= frames &- kept.frames
                staging.consume(length)
                fail("cannot write \(currentPath): \(SystemCallError.name(ofErrno: error)) (\(String(cString: strerror(error))))")
                continue
            }
            fileBytes += length
            framesWritten &+= frames
            bytesWritten &+= UInt64(length)
            staging.consume(length)
        }
    }

    /// The whole blocks at `start` within `count` bytes and `budget` bytes: their length and
    /// how many are packet blocks.
    private static func walk(_ start: UnsafeMutableRawPointer, _ count: Int, budget: Int) -> (length: Int, frames: UInt64) {
        var at = 0
        var frames: UInt64 = 0
        let limit = min(count, budget)
        while at + 8 <= count {
            let length = Int(start.load(fromByteOffset: at + 4, as: UInt32.self))
            assert(length >= 12 && length & 3 == 0, "a staged block of \(length) bytes")
            guard at + length <= limit else { break }
            if start.load(fromByteOffset: at, as: UInt32.self) == PcapngBlocks.enhancedPacketType { frames &+= 1 }
            at += length
        }
        return (at, frames)
    }

    /// Writes `count` bytes, retrying short writes; how many were written (less on an error,
    /// with errno set).
    private func writeAll(_ start: UnsafeMutableRawPointer, _ count: Int) -> Int {
        var done = 0
        while done < count {
            let result = write(descriptor, start + done, count - done)
            if result < 0 {
                if errno == EINTR { continue }
                return done
            }
            if result == 0 {
                errno = EIO
                return done
            }
            done += result
        }
        return done
    }

    private var currentPath: String {
        settings.toStandardOutput ? "standard output" : settings.rotates ? settings.rotatedPath(fileIndex) : settings.path
    }

    private func dueForRotation() -> Bool {
        if let limit = settings.rotateBytes, fileBytes >= limit, fileBytes > header.count { return true }
        if let interval = settings.rotateInterval, ContinuousClock.now - fileOpened >= interval { return true }
        return false
    }

    /// Closes the current file and opens the next, deleting the oldest beyond the limit.
    private func rotate() -> String? {
        close(descriptor)
        descriptor = -1
        fileIndex += 1
        if let why = openFile() { return why }
        if let maximum = settings.maximumFiles {
            while filesKept.count > maximum {
                let oldest = filesKept.removeFirst()
                if unlink(oldest) != 0 {
                    logger.warning("capture: cannot delete an old file", metadata: ["file": "\(oldest)", "errno": "\(SystemCallError.name(ofErrno: errno))"])
                }
            }
        }
        return nil
    }

    /// Opens the current file and writes its header; why not, on failure.
    private func openFile() -> String? {
        let path = currentPath
        if settings.toStandardOutput {
            descriptor = STDOUT_FILENO
        } else {
            descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else {
                let error = errno
                return "cannot open capture file \(path): \(SystemCallError.name(ofErrno: error)) (\(String(cString: strerror(error))))"
            }
            filesKept.append(path)
        }
        if settings.toStandardOutput { filesKept = ["standard output"] }
        fileOpened = .now
        let written = header.withUnsafeBytes { writeAll(UnsafeMutableRawPointer(mutating: $0.baseAddress!), $0.count) }
        guard written == header.count else {
            let error = errno
            if !settings.toStandardOutput { _ = ftruncate(descriptor, 0) }
            return "cannot write the header of \(path): \(SystemCallError.name(ofErrno: error)) (\(String(cString: strerror(error))))"
        }
        fileBytes = header.count
        bytesWritten &+= UInt64(header.count)
        if settings.rotates { logger.info("capture: writing a new file", metadata: ["file": "\(path)"]) }
        return nil
    }

    private func fail(_ why: String) {
        failure = why
        for staging in stagings { staging.markStopped() }
        logger.error("capture stopped; the job goes on without it", metadata: ["error": "\(why)"])
    }
}
