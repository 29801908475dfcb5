import Foundation
import Testing

@testable import Kernels

/// Deterministic floats uniform in [lo, hi).
private func randomFloats(_ n: Int, _ lo: Float, _ hi: Float, seed: UInt64) -> [Float] {
  var state = seed &* 2_862_933_555_777_941_757 &+ 11
  return (0..<n).map { _ in
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return lo + (hi - lo) * Float(state >> 40) / Float(1 << 24)
  }
}

/// [outer, reduce, inner] shapes: row reductions, strided ones with awkward inner widths, a tile boundary
/// (inner 513) and long single rows that split across threads.
private let shapes: [(Int, Int, Int)] = [
  (1, 1, 1), (3, 7, 1), (2, 15, 1), (4, 17, 1), (5, 33, 1), (3, 100, 1), (40, 1000, 1), (1, 300_000, 1),
  (2, 1, 7), (3, 5, 15), (2, 9, 17), (2, 33, 33), (1, 3, 513), (2, 300, 100), (1, 1000, 16),
]

private func close(_ a: Float, _ r: Float, atol: Float, rtol: Float) -> Bool {
  if r.isNaN { return a.isNaN }
  if r.isInfinite || a.isInfinite { return a == r }
  return Swift.abs(a - r) <= atol + rtol * Swift.abs(r)
}

@Suite struct ReductionTests {
  @Test(arguments: [Reduction.Kind.sum, .max, .min, .logSumExp])
  func reduceMatchesReference(kind: Reduction.Kind) {
    for (outer, reduce, inner) in shapes {
      let x = randomFloats(outer * reduce * inner, -10, 10, seed: UInt64(reduce * inner))
      var fast = [Float](repeating: 0, count: outer * inner)
      var reference = fast
      Reduction.reduce(kind, x, &fast, outer: outer, reduce: reduce, inner: inner)
      Reduction.reduceReference(kind, x, &reference, outer: outer, reduce: reduce, inner: inner)
      // Sums of n terms of size 10: allow a few ulp of the sum of magnitudes.
      let atol: Float = kind == .sum ? 1e-6 * Float(reduce) : 1e-6
      for i in 0..<fast.count {
        #expect(
          close(fast[i], reference[i], atol: atol, rtol: 2e-6),
          "\(kind) [\(outer),\(reduce),\(inner)] \(i): \(fast[i]) vs \(reference[i])")
      }
    }
  }

  @Test func nanAndInfinityPropagate() {
    // Row 0 has a NaN, row 1 is all -inf, row 2 has +inf, row 3 is ordinary; as rows and as columns.
    let cols = 37
    var rows = randomFloats(4 * cols, -1, 1, seed: 3)
    rows[20] = .nan
    for j in 0..<cols { rows[cols + j] = -.infinity }
    rows[2 * cols + 33] = .infinity
    var columns = [Float](repeating: 0, count: rows.count)  // transpose to [1, cols, 4]
    for r in 0..<4 { for j in 0..<cols { columns[j * 4 + r] = rows[r * cols + j] } }
    for kind in [Reduction.Kind.sum, .max, .min, .logSumExp] {
      var a = [Float](repeating: 0, count: 4)
      var b = a
      var reference = a
      Reduction.reduce(kind, rows, &a, outer: 4, reduce: cols, inner: 1)
      Reduction.reduce(kind, columns, &b, outer: 1, reduce: cols, inner: 4)
      Reduction.reduceReference(kind, rows, &reference, outer: 4, reduce: cols, inner: 1)
      for i in 0..<4 {
        #expect(close(a[i], reference[i], atol: 1e-5, rtol: 2e-6), "\(kind) row \(i): \(a[i]) vs \(reference[i])")
        #expect(close(b[i], reference[i], atol: 1e-5, rtol: 2e-6), "\(kind) column \(i): \(b[i]) vs \(reference[i])")
      }
      #expect(a[0].isNaN)
    }
  }

  @Test func emptyReductionGivesIdentity() {
    var y: [Float] = [7, 7]
    Reduction.reduce(.max, [], &y, outer: 2, reduce: 0, inner: 1)
    #expect(y == [-.infinity, -.infinity])
    Reduction.reduce(.sum, [], &y, outer: 1, reduce: 0, inner: 2)
    #expect(y == [0, 0])
  }

  @Test(arguments: [false, true])
  func argmaxMatchesReference(minimum: Bool) {
    for (outer, reduce, inner) in shapes {
      // Few distinct values so that ties are common.
      var x = randomFloats(outer * reduce * inner, 0, 6, seed: UInt64(reduce + inner)).map { $0.rounded() }
      var fast = [Int64](repeating: -1, count: outer * inner)
      var reference = fast
      Reduction.argmax(x, &fast, outer: outer, reduce: reduce, inner: inner, minimum: minimum)
      Reduction.argmaxReference(x, &reference, outer: outer, reduce: reduce, inner: inner, minimum: minimum)
      #expect(fast == reference, "[\(outer),\(reduce),\(inner)]")
      // NaN wins (first one), as in PyTorch.
      if reduce > 3 {
        x[2 * inner] = .nan
        x[3 * inner] = .nan
        Reduction.argmax(x, &fast, outer: outer, reduce: reduce, inner: inner, minimum: minimum)
        Reduction.argmaxReference(x, &reference, outer: outer, reduce: reduce, inner: inner, minimum: minimum)
        #expect(fast == reference)
        #expect(fast[0] == 2)
      }
    }
  }

  @Test(arguments: [0, 1])
  func momentsMatchReference(correction: Int) {
    for (outer, reduce, inner) in shapes {
      // A large offset checks numerical stability (naive E[x^2] - E[x]^2 would lose everything).
      let x = randomFloats(outer * reduce * inner, 1000, 1001, seed: UInt64(reduce))
      var mean = [Float](repeating: 0, count: outer * inner)
      var variance = mean
      var meanReference = mean
      var varianceReference = mean
      Reduction.moments(
        x, mean: &mean, variance: &variance, outer: outer, reduce: reduce, inner: inner, correction: correction)
      Reduction.momentsReference(
        x, mean: &meanReference, variance: &varianceReference, outer: outer, reduce: reduce, inner: inner,
        correction: correction)
      for i in 0..<mean.count {
        #expect(close(mean[i], meanReference[i], atol: 0, rtol: 1e-6))
        // Each term x - mean carries up to half an ulp of 1000 (3e-5) of input error; variance ~ 1/12.
        #expect(
          close(variance[i], varianceReference[i], atol: 2e-5, rtol: 1e-4),
          "[\(outer),\(reduce),\(inner)] var \(variance[i]) vs \(varianceReference[i])")
      }
    }
  }

  @Test func wholeBufferSums() {
    for n in [0, 1, 7, 17, 100, 1_000_003] {
      let x = randomFloats(n, -1, 1, seed: UInt64(n))
      let magnitude = x.reduce(0.0) { $0 + Double(Swift.abs($1)) }
      #expect(Swift.abs(Reduction.sum(x, count: n) - Reduction.sumReference(x, count: n)) <= 1e-8 * magnitude + 1e-6)
      let ss = Reduction.sumOfSquares(x, count: n)
      let ssReference = Reduction.sumOfSquaresReference(x, count: n)
      #expect(Swift.abs(ss - ssReference) <= 1e-6 * ssReference + 1e-12)
    }
  }
}
