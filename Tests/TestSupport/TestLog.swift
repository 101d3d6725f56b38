import Logging

/// The one logger tests hand to the code under test: it discards everything, so that test
/// output shows only the tests' own findings.
public enum TestLog {
    public static let logger: Logger = {
        var logger = Logger(label: "xskd.tests", factory: { _ in SwiftLogNoOpLogHandler() })
        logger.logLevel = .critical
        return logger
    }()
}
