import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `#require` for values produced by a mutating call on a non-copyable value, which the macro
/// cannot take apart.
public func unwrap<Value>(
    _ value: Value?, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) throws -> Value {
    try #require(value, comment, sourceLocation: sourceLocation)
}

/// Polls `condition` until it holds or `timeout` passes: for kernel state that settles shortly
/// after the call that changes it (a link released when its last descriptor closes).
public func eventually(timeout: Duration = .seconds(2), _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}
