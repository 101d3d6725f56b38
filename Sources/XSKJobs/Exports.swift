// What a job's author needs beside this module: the AF_XDP layer's types that a run is
// configured with (`TrafficFilter`, `XDPAttachMode`, `XSKSocket.BindMode`, the counters) and
// the allocator's (`PagePool.Backing`). One import then suffices.

@_exported import PageFrag
@_exported import XSK
