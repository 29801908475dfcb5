import Foundation
import Testing

@testable import Kernels

/// Deterministic uniform numbers in [-1, 1).
private func gemvRandom(_ count: Int, seed: UInt64) -> [Float] {
  var state = seed
  return (0..<count).map { _ in
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(state >> 40) / Float(1 << 23) - 1
  }
}

/// Largest absolute difference, scaled by the reduction length.
private func agree(_ a: [Float], _ b: [Float], k: Int) -> Bool {
  let tolerance = 2e-6 * Float(max(k, 16))
  return a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tolerance }
}

@Suite struct GemvTests {
  /// (m, n, k): odd widths hit the 4-column and 64-column tails and the k % 16 tail; large ones run in chunks.
  static let shapes: [(Int, Int, Int)] = [
    (1, 1, 1), (1, 7, 5), (1, 33, 17), (2, 64, 48), (3, 129, 100), (4, 250, 288), (1, 3001, 96), (4, 1027, 300),
  ]

  @Test(arguments: 0..<shapes.count)
  func transposedMatchesReference(_ index: Int) {
    let (m, n, k) = Self.shapes[index]
    let (ldx, ldw, ldy) = (k + 3, k + 1, n + 2)
    let x = gemvRandom(m * ldx, seed: 1)
    let w = gemvRandom(n * ldw, seed: 2)
    let start = gemvRandom(m * ldy, seed: 3)
    for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (-2, 0.25)] {
      var fast = start
      var slow = start
      Gemv.multiplyTransposed(
        m: m, n: n, k: k, alpha: alpha, x: x, ldx: ldx, w: w, ldw: ldw, beta: beta, y: &fast, ldy: ldy)
      Gemv.multiplyTransposedReference(
        m: m, n: n, k: k, alpha: alpha, x: x, ldx: ldx, w: w, ldw: ldw, beta: beta, y: &slow, ldy: ldy)
      #expect(agree(fast, slow, k: k), "alpha \(alpha) beta \(beta)")
    }
  }

  /// A group of products sharing x (ragged widths, one accumulating, one empty) equals each product alone.
  @Test(arguments: [1, 3, 16])
  func groupMatchesSeparateProducts(_ m: Int) {
    let k = 100
    let widths = [37, 0, 258, 8, 1001]
    let x = gemvRandom(m * k, seed: 7)
    let weights = widths.enumerated().map { gemvRandom($0.element * k, seed: UInt64(10 + $0.offset)) }
    let starts = widths.enumerated().map { gemvRandom(m * $0.element, seed: UInt64(20 + $0.offset)) }
    var fast = starts
    var slow = starts
    for i in widths.indices where widths[i] > 0 {
      Gemv.multiplyTransposedReference(
        m: m, n: widths[i], k: k, x: x, ldx: k, w: weights[i], ldw: k, beta: i == 2 ? 1 : 0, y: &slow[i],
        ldy: widths[i])
    }
    weights.withUnsafeBufferPointers { w in
      fast.withUnsafeMutableBufferPointers { y in
        let products = widths.indices.map { i in
          Gemv.Product(w: w[i], ldw: k, columns: widths[i], y: y[i], ldy: widths[i], accumulate: i == 2)
        }
        Gemv.multiplyTransposed(m: m, k: k, x: x, ldx: k, products: products)
      }
    }
    for i in widths.indices { #expect(agree(fast[i], slow[i], k: k), "product \(i), m \(m)") }
  }

  @Test(arguments: 0..<shapes.count)
  func plainMatchesReference(_ index: Int) {
    let (m, n, k) = Self.shapes[index]
    let (ldx, ldb, ldy) = (k + 2, n + 5, n + 1)
    let x = gemvRandom(m * ldx, seed: 4)
    let b = gemvRandom(k * ldb, seed: 5)
    let start = gemvRandom(m * ldy, seed: 6)
    for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (-2, 0.25)] {
      var fast = start
      var slow = start
      Gemv.multiply(m: m, n: n, k: k, alpha: alpha, x: x, ldx: ldx, b: b, ldb: ldb, beta: beta, y: &fast, ldy: ldy)
      Gemv.multiplyReference(
        m: m, n: n, k: k, alpha: alpha, x: x, ldx: ldx, b: b, ldb: ldb, beta: beta, y: &slow, ldy: ldy)
      #expect(agree(fast, slow, k: k), "alpha \(alpha) beta \(beta)")
    }
  }

  /// beta = 0 must not read y: NaNs there do not leak into the result.
  @Test func betaZeroIgnoresOutput() {
    let (n, k) = (37, 20)
    let x = gemvRandom(k, seed: 7)
    let w = gemvRandom(n * k, seed: 8)
    var y = [Float](repeating: .nan, count: n)
    Gemv.multiplyTransposed(m: 1, n: n, k: k, x: x, ldx: k, w: w, ldw: k, y: &y, ldy: n)
    var z = [Float](repeating: .nan, count: n)
    Gemv.multiply(m: 1, n: n, k: k, x: x, ldx: k, b: w, ldb: n, y: &z, ldy: n)
    #expect(y.allSatisfy { $0.isFinite } && z.allSatisfy { $0.isFinite })
  }

  /// Gemm routes few-row products here, including a single row of a transposed A (a strided column).
  @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
  func gemmFewRowsMatchesReference(_ transposes: (Bool, Bool)) {
    let (transposeA, transposeB) = transposes
    for m in [1, 3] {
      let (n, k) = (45, 70)
      let lda = transposeA ? m + 2 : k + 1
      let ldb = transposeB ? k + 3 : n + 3
      let a = gemvRandom((transposeA ? k : m) * lda, seed: 9)
      let b = gemvRandom((transposeB ? n : k) * ldb, seed: 10)
      var fast = gemvRandom(m * n, seed: 11)
      var slow = fast
      Gemm.multiply(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1.5, a: a, lda: lda, b: b,
        ldb: ldb, beta: 0.5, c: &fast, ldc: n)
      Gemm.multiplyReference(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, alpha: 1.5, a: a, lda: lda, b: b,
        ldb: ldb, beta: 0.5, c: &slow, ldc: n)
      #expect(agree(fast, slow, k: k), "m \(m)")
    }
  }
}

@Suite struct HotPoolTests {
  @Test func everyChunkRunsOnce() {
    for chunks in [0, 1, 2, 7, 64] {
      let marks = Buffer(byteCount: max(chunks, 1) * 4, zeroed: true)
      let p = UncheckedSendable(marks.pointer(as: Int32.self))
      HotPool.run(chunks: chunks) { p.value[$0] += 1 }
      #expect(marks.read(as: Int32.self, count: chunks).allSatisfy { $0 == 1 }, "\(chunks) chunks")
    }
  }

  /// Jobs from several threads at once, and a job started inside a chunk, each still cover every chunk once.
  @Test func concurrentAndNestedCallsCoverEveryChunk() {
    let callers = 4
    let chunks = 33
    let marks = Buffer(byteCount: callers * chunks * chunks * 4, zeroed: true)
    let p = UncheckedSendable(marks.pointer(as: Int32.self))
    DispatchQueue.concurrentPerform(iterations: callers) { caller in
      for _ in 0..<20 {
        HotPool.run(chunks: chunks) { outer in
          HotPool.run(chunks: chunks) { inner in
            p.value[(caller * chunks + outer) * chunks + inner] += 1
          }
        }
      }
    }
    #expect(marks.read(as: Int32.self, count: callers * chunks * chunks).allSatisfy { $0 == 20 })
  }

  /// Back-to-back jobs of many and few chunks: a worker left behind by one job must never run a chunk of
  /// the next one, so every job sees each of its chunks run exactly once and nothing else.
  @Test func backToBackJobsOfDifferentSizesRunEachChunkOnce() {
    let widest = 16
    let marks = Buffer(byteCount: widest * 4, zeroed: true)
    let p = UncheckedSendable(marks.pointer(as: Int32.self))
    var wrong = 0
    for job in 0..<200_000 {
      let chunks = [widest, 2, 3, 1, 9][job % 5]
      p.value.update(repeating: 0, count: widest)
      HotPool.run(chunks: chunks) { p.value[$0] += 1 }
      let seen = marks.read(as: Int32.self, count: widest)
      if seen != (0..<widest).map({ $0 < chunks ? 1 : 0 }) { wrong += 1 }
    }
    #expect(wrong == 0)
  }
}

extension Array where Element == [Float] {
  /// Calls `body` with a base pointer for every inner array (a non-empty dummy for empty ones).
  fileprivate func withUnsafeBufferPointers<R>(_ body: ([UnsafePointer<Float>]) -> R) -> R {
    let buffers = map { inner -> UnsafeMutablePointer<Float> in
      let p = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(inner.count, 1))
      p.initialize(from: inner, count: inner.count)
      return p
    }
    defer { buffers.forEach { $0.deallocate() } }
    return body(buffers.map { UnsafePointer($0) })
  }

  /// Like ``withUnsafeBufferPointers(_:)`` with writable copies that are stored back afterwards.
  fileprivate mutating func withUnsafeMutableBufferPointers<R>(_ body: ([UnsafeMutablePointer<Float>]) -> R) -> R {
    let buffers = map { inner -> UnsafeMutablePointer<Float> in
      let p = UnsafeMutablePointer<Float>.allocate(capacity: Swift.max(inner.count, 1))
      p.initialize(from: inner, count: inner.count)
      return p
    }
    defer { buffers.forEach { $0.deallocate() } }
    let result = body(buffers)
    for i in indices { self[i] = [Float](UnsafeBufferPointer(start: buffers[i], count: self[i].count)) }
    return result
  }
}
