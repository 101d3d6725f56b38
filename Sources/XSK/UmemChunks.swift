// Which chunk mode a run's UMEM is registered in. Unaligned: buffers are page fragments sized
// from the MTU, packed at any offset (the most buffers per MiB). Aligned: every buffer is one
// whole chunk at a multiple of the chunk size, the kernel's own fast path (it finds a buffer by
// shifting its address, checks a fill address with one mask). The run resolves `.automatic`
// and logs which it took and why.

/// The UMEM's chunk mode for a run.
public enum UmemChunks: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The mode that measured faster for the run's interface and MTU (logged with the reason).
    case automatic = "auto"
    /// One chunk per buffer at chunk-aligned offsets.
    case aligned
    /// Page fragments at any offset, sized from the MTU.
    case unaligned
    /// The setting's name.
    public var description: String { rawValue }
}
