import Testing
@testable import XSK
import TestSupport

@Suite("FragmentBitmap")
struct FragmentBitmapTests {
    @Test("marks, clears, counts and gives back every marked offset")
    func markAndClear() {
        let bitmap = FragmentBitmap(regionSize: 1 << 20, granularity: 64)
        let offsets: [UInt64] = [0, 64, 1792, 4096 * 3 + 128, (1 << 20) - 64]
        for offset in offsets { bitmap.insert(offset) }
        #expect(bitmap.count == offsets.count)
        #expect(bitmap.contains(1792))
        #expect(!bitmap.contains(128))
        #expect(bitmap.remove(1792))
        #expect(!bitmap.remove(1792), "a second remove finds nothing")
        #expect(!bitmap.remove(192), "an offset never marked")
        var returned: [UInt64] = []
        bitmap.removeAll { returned.append($0) }
        #expect(returned == offsets.filter { $0 != 1792 })
        #expect(bitmap.count == 0)
    }
}
