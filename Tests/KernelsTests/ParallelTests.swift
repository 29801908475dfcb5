import Foundation
import Testing

@testable import Kernels

@Suite struct ParallelTests {
  @Test func chunksCoverRangeExactlyOnce() {
    let n = 100_003
    let marks = Buffer(byteCount: n * 4, zeroed: true)
    let p = UncheckedSendable(marks.pointer(as: Int32.self))
    Parallel.forChunks(count: n, grain: 1000) { range in
      for i in range { p.value[i] += 1 }
    }
    let values = marks.read(as: Int32.self, count: n)
    #expect(values.allSatisfy { $0 == 1 })
  }

  @Test func poolBucketsRoundUp() {
    #expect(BufferPool.capacity(for: 1) == 64)
    #expect(BufferPool.capacity(for: 4096) == 4096)
    let c = BufferPool.capacity(for: 5000)
    #expect(c >= 5000 && c <= 5000 * 5 / 4 + 1024)
  }
}

@Suite struct VectorMathTests {
  @Test func expMatchesLibm() {
    for x in stride(from: Float(-87), through: 88, by: 0.37) {
      let e = VectorMath.exp(x)
      let r = Float(Foundation.exp(Double(x)))
      #expect(abs(e - r) <= 4e-7 * r, "exp(\(x)) = \(e), libm \(r)")
    }
    #expect(VectorMath.exp(-Float.infinity) == 0)
    #expect(VectorMath.exp(-100) == 0)
  }
}
