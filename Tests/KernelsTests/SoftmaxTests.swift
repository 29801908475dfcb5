import Foundation
import Testing

@testable import Kernels

/// Deterministic floats uniform in [lo, hi).
private func randomFloats(_ n: Int, _ lo: Float, _ hi: Float, seed: UInt64) -> [Float] {
  var state = seed &* 2_862_933_555_777_941_757 &+ 3_037_000_493
  return (0..<n).map { _ in
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return lo + (hi - lo) * Float(state >> 40) / Float(1 << 24)
  }
}

/// Row/column shapes with awkward widths, plus one wide enough to split rows across tasks.
private let shapes: [(rows: Int, cols: Int)] = [
  (1, 1), (3, 7), (2, 15), (5, 16), (4, 17), (3, 33), (7, 100), (2, 1000), (64, 1031), (1, 40_000),
]

private func close(_ a: Float, _ r: Float, atol: Float, rtol: Float) -> Bool {
  if r.isNaN { return a.isNaN }
  if r.isInfinite || a.isInfinite { return a == r }
  return Swift.abs(a - r) <= atol + rtol * Swift.abs(r)
}

@Suite struct SoftmaxTests {
  @Test func forwardMatchesReferenceAndSumsToOne() {
    for (rows, cols) in shapes {
      let x = randomFloats(rows * cols, -20, 20, seed: UInt64(cols))
      var fast = [Float](repeating: 0, count: x.count)
      var reference = fast
      Softmax.forward(x, &fast, rows: rows, cols: cols)
      Softmax.forwardReference(x, &reference, rows: rows, cols: cols)
      for i in 0..<x.count { #expect(close(fast[i], reference[i], atol: 1e-9, rtol: 2e-6), "[\(rows)x\(cols)] \(i)") }
      for r in 0..<rows {
        let s = fast[(r * cols)..<((r + 1) * cols)].reduce(0.0) { $0 + Double($1) }
        #expect(Swift.abs(s - 1) < 1e-5)
      }
      Softmax.logForward(x, &fast, rows: rows, cols: cols)
      Softmax.logForwardReference(x, &reference, rows: rows, cols: cols)
      for i in 0..<x.count {
        #expect(close(fast[i], reference[i], atol: 4e-6, rtol: 1e-6), "log [\(rows)x\(cols)] \(i)")
      }
    }
  }

  @Test func largeInputsAreStableAndMayAlias() {
    var x = randomFloats(3 * 50, 1000, 1010, seed: 1)
    var reference = [Float](repeating: 0, count: x.count)
    Softmax.forwardReference(x, &reference, rows: 3, cols: 50)
    x.withUnsafeMutableBufferPointer { Softmax.forward($0.baseAddress!, $0.baseAddress!, rows: 3, cols: 50) }
    for i in 0..<x.count { #expect(close(x[i], reference[i], atol: 1e-9, rtol: 2e-6)) }
  }

  @Test func infinitiesAndNaN() {
    let cols = 20
    var x = randomFloats(4 * cols, -3, 3, seed: 2)
    x[0] = -.infinity  // row 0: one masked entry
    x[5] = -.infinity
    for j in 0..<cols { x[cols + j] = -.infinity }  // row 1: fully masked
    x[2 * cols + 3] = .nan  // row 2: NaN
    x[3 * cols + 7] = .infinity  // row 3: +inf
    var y = [Float](repeating: 0, count: x.count)
    var reference = y
    Softmax.forward(x, &y, rows: 4, cols: cols)
    Softmax.forwardReference(x, &reference, rows: 4, cols: cols)
    #expect(y[0] == 0 && y[5] == 0)
    #expect(y[cols..<(2 * cols)].allSatisfy { $0 == 0 })
    #expect(y[(2 * cols)...].allSatisfy { $0.isNaN })
    for i in 0..<cols { #expect(close(y[i], reference[i], atol: 1e-9, rtol: 2e-6)) }
    Softmax.logForward(x, &y, rows: 4, cols: cols)
    Softmax.logForwardReference(x, &reference, rows: 4, cols: cols)
    #expect(y[0] == -.infinity && y[5] == -.infinity)
    #expect(y[cols..<(2 * cols)].allSatisfy { $0 == -.infinity })
    #expect(y[(2 * cols)...].allSatisfy { $0.isNaN })
    for i in 0..<x.count { #expect(close(y[i], reference[i], atol: 4e-6, rtol: 1e-6)) }
  }

  @Test func backwardMatchesReference() {
    for (rows, cols) in shapes {
      let x = randomFloats(rows * cols, -5, 5, seed: UInt64(rows))
      let dy = randomFloats(rows * cols, -1, 1, seed: 9)
      var y = [Float](repeating: 0, count: x.count)
      var fast = y
      var reference = y
      Softmax.forward(x, &y, rows: rows, cols: cols)
      Softmax.backward(y: y, dy: dy, dx: &fast, rows: rows, cols: cols)
      Softmax.backwardReference(y: y, dy: dy, dx: &reference, rows: rows, cols: cols)
      for i in 0..<x.count { #expect(close(fast[i], reference[i], atol: 1e-7, rtol: 1e-5)) }
      Softmax.logForward(x, &y, rows: rows, cols: cols)
      Softmax.logBackward(y: y, dy: dy, dx: &fast, rows: rows, cols: cols)
      Softmax.logBackwardReference(y: y, dy: dy, dx: &reference, rows: rows, cols: cols)
      for i in 0..<x.count { #expect(close(fast[i], reference[i], atol: 1e-5, rtol: 1e-5)) }
      // dx may alias dy.
      var aliased = dy
      aliased.withUnsafeMutableBufferPointer {
        Softmax.logBackward(y: y, dy: $0.baseAddress!, dx: $0.baseAddress!, rows: rows, cols: cols)
      }
      #expect(aliased == fast)
    }
  }

  /// Loss L = Σ w ⊙ f(x) in Double; checks the reference backward against central differences.
  @Test(arguments: [false, true])
  func gradientsMatchFiniteDifferences(log: Bool) {
    let cols = 9
    let x = randomFloats(cols, -2, 2, seed: 4).map(Double.init)
    let w = randomFloats(cols, -1, 1, seed: 5).map(Double.init)
    func loss(_ v: [Double]) -> Double {
      let m = v.max()!
      let s = v.reduce(0) { $0 + Foundation.exp($1 - m) }
      return zip(v, w).reduce(0) { acc, p in
        acc + p.1 * (log ? p.0 - m - Foundation.log(s) : Foundation.exp(p.0 - m) / s)
      }
    }
    var y = [Float](repeating: 0, count: cols)
    var dx = y
    let xf = x.map(Float.init)
    let wf = w.map(Float.init)
    if log {
      Softmax.logForwardReference(xf, &y, rows: 1, cols: cols)
      Softmax.logBackwardReference(y: y, dy: wf, dx: &dx, rows: 1, cols: cols)
    } else {
      Softmax.forwardReference(xf, &y, rows: 1, cols: cols)
      Softmax.backwardReference(y: y, dy: wf, dx: &dx, rows: 1, cols: cols)
    }
    for i in 0..<cols {
      var plus = x.map { Double(Float($0)) }
      var minus = plus
      plus[i] += 1e-6
      minus[i] -= 1e-6
      let numeric = (loss(plus) - loss(minus)) / 2e-6
      #expect(Swift.abs(Double(dx[i]) - numeric) < 1e-5, "d/dx[\(i)]: \(dx[i]) vs \(numeric)")
    }
  }
}
