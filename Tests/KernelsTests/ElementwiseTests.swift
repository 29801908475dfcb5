import Foundation
import Testing

@testable import Kernels

/// A small deterministic generator (64-bit LCG) for test inputs.
private struct TestRandom {
  var state: UInt64

  init(seed: UInt64) { state = seed &* 6_364_136_223_846_793_005 &+ 1 }

  /// A float uniform in [lo, hi).
  mutating func uniform(_ lo: Float, _ hi: Float) -> Float {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return lo + (hi - lo) * Float(state >> 40) / Float(1 << 24)
  }
}

/// Awkward lengths: below, at and around the vector width, and one that spans several parallel chunks.
private let sizes = [1, 7, 15, 16, 17, 33, 100, 1000, 40_000]

/// Whether `a` matches `r` within atol + rtol |r|, with NaN matching NaN and infinities matching exactly.
private func close(_ a: Float, _ r: Float, atol: Float, rtol: Float) -> Bool {
  if r.isNaN { return a.isNaN }
  if r.isInfinite || a.isInfinite { return a == r }
  return Swift.abs(a - r) <= atol + rtol * Swift.abs(r)
}

/// Inputs suited to `op`: positive for log and roots, away from zero for reciprocal.
private func inputs(_ op: UnaryOp, count: Int, seed: UInt64) -> [Float] {
  var rng = TestRandom(seed: seed)
  return (0..<count).map { _ in
    switch op {
    case .log, .sqrt, .rsqrt: return Foundation.exp(rng.uniform(-12, 12))
    case .reciprocal:
      let v = rng.uniform(0.01, 10)
      return rng.uniform(0, 1) < 0.5 ? -v : v
    case .exp: return rng.uniform(-100, 89)
    case .sin, .cos: return rng.uniform(-200, 200)
    case .tanh, .geluTanh, .geluErf, .silu, .sigmoid:
      // Half the points near zero, where the absolute error bound matters most.
      return rng.uniform(0, 1) < 0.5 ? rng.uniform(-1, 1) : rng.uniform(-30, 30)
    default: return rng.uniform(-30, 30)
    }
  }
}

@Suite struct ElementwiseTests {
  @Test(arguments: UnaryOp.allCases)
  func forwardMatchesReference(op: UnaryOp) {
    for n in sizes {
      let x = inputs(op, count: n, seed: UInt64(n))
      var fast = [Float](repeating: 0, count: n)
      var reference = fast
      Elementwise.unary(op, x, &fast, count: n)
      Elementwise.unaryReference(op, x, &reference, count: n)
      for i in 0..<n {
        #expect(
          close(fast[i], reference[i], atol: 1e-6, rtol: 2e-6),
          "\(op)(\(x[i])) = \(fast[i]), reference \(reference[i])")
      }
    }
  }

  @Test(arguments: UnaryOp.allCases)
  func specialValuesMatchLibm(op: UnaryOp) {
    let x: [Float] = [
      0, -0.0, 1, -1, .infinity, -.infinity, .nan, 1e-30, -1e-30, 1e30, -1e30, 88, 88.72, 89, -88, -100, -104,
      20.5, -20.5, Float.leastNormalMagnitude / 3, 3, -3, 0.5, 9, 70_000, -100_000,
    ]
    var fast = [Float](repeating: 0, count: x.count)
    var reference = fast
    Elementwise.unary(op, x, &fast, count: x.count)
    Elementwise.unaryReference(op, x, &reference, count: x.count)
    for i in 0..<x.count {
      #expect(
        close(fast[i], reference[i], atol: 1e-6, rtol: 2e-6),
        "\(op)(\(x[i])) = \(fast[i]), reference \(reference[i])")
    }
  }

  @Test func outputMayAliasInput() {
    for op in UnaryOp.allCases {
      let x = inputs(op, count: 1000, seed: 3)
      var separate = [Float](repeating: 0, count: x.count)
      Elementwise.unary(op, x, &separate, count: x.count)
      var inPlace = x
      inPlace.withUnsafeMutableBufferPointer {
        Elementwise.unary(op, $0.baseAddress!, $0.baseAddress!, count: $0.count)
      }
      #expect(inPlace.elementsEqual(separate) { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(op)")
    }
  }

  @Test(arguments: UnaryOp.allCases)
  func backwardMatchesReference(op: UnaryOp) {
    for n in sizes {
      let x = inputs(op, count: n, seed: UInt64(n) + 99).map { op == .exp ? Swift.min($0, 80) : $0 }
      var rng = TestRandom(seed: 5)
      let dy = (0..<n).map { _ in rng.uniform(-1, 1) }
      var y = [Float](repeating: 0, count: n)
      Elementwise.unary(op, x, &y, count: n)
      var fast = [Float](repeating: 0, count: n)
      var reference = fast
      Elementwise.unaryBackward(op, x: x, y: y, dy: dy, dx: &fast, count: n)
      Elementwise.unaryBackwardReference(op, x: x, y: y, dy: dy, dx: &reference, count: n)
      for i in 0..<n {
        #expect(
          close(fast[i], reference[i], atol: 2e-6, rtol: 4e-6),
          "\(op)'(\(x[i])) * \(dy[i]) = \(fast[i]), reference \(reference[i])")
      }
      // dx may alias dy.
      var aliased = dy
      aliased.withUnsafeMutableBufferPointer {
        Elementwise.unaryBackward(op, x: x, y: y, dy: $0.baseAddress!, dx: $0.baseAddress!, count: n)
      }
      #expect(aliased.elementsEqual(fast) { $0 == $1 || ($0.isNaN && $1.isNaN) }, "\(op) aliasing")
    }
  }

  @Test(arguments: UnaryOp.allCases)
  func referenceDerivativeMatchesFiniteDifferences(op: UnaryOp) {
    for x in inputs(op, count: 200, seed: 11).map(Double.init) {
      // Skip the kinks of abs and relu.
      if (op == .abs || op == .relu) && Swift.abs(x) < 1e-3 { continue }
      // Relative steps for the ops that blow up at zero.
      let relative = [.log, .sqrt, .rsqrt, .reciprocal].contains(op)
      let h = 1e-5 * (relative ? Swift.abs(x) : Swift.max(1, Swift.abs(x)))
      let numeric = (Elementwise.referenceValue(op, x + h) - Elementwise.referenceValue(op, x - h)) / (2 * h)
      let analytic = Elementwise.referenceDerivative(op, x)
      if !numeric.isFinite { continue }
      #expect(
        Swift.abs(numeric - analytic) <= 1e-6 * Swift.max(1, Swift.abs(analytic)),
        "\(op)'(\(x)): analytic \(analytic), numeric \(numeric)")
    }
  }

  @Test(arguments: [Float(0), 1, 2, 3, -1, -2, 0.5, 1.5, -2.5, 7, -3, 0.25, 10])
  func powMatchesReference(p: Float) {
    for n in sizes {
      var rng = TestRandom(seed: UInt64(n))
      let x = (0..<n).map { _ in
        let v = rng.uniform(0.01, 10)
        // Negative bases only where the result is real.
        return p.rounded() == p && rng.uniform(0, 1) < 0.5 ? -v : v
      }
      var fast = [Float](repeating: 0, count: n)
      var reference = fast
      Elementwise.pow(x, exponent: p, &fast, count: n)
      Elementwise.powReference(x, exponent: p, &reference, count: n)
      let rtol = Float(1 + Swift.abs(p)) * 3e-7
      for i in 0..<n {
        #expect(close(fast[i], reference[i], atol: 0, rtol: rtol), "\(x[i])^\(p) = \(fast[i]), \(reference[i])")
      }
      var rng2 = TestRandom(seed: 1)
      let dy = (0..<n).map { _ in rng2.uniform(-1, 1) }
      Elementwise.powBackward(x: x, exponent: p, dy: dy, dx: &fast, count: n)
      Elementwise.powBackwardReference(x: x, exponent: p, dy: dy, dx: &reference, count: n)
      for i in 0..<n {
        #expect(close(fast[i], reference[i], atol: 1e-7, rtol: rtol * 2), "d/dx \(x[i])^\(p)")
      }
    }
  }

  @Test func powSpecialValuesFollowLibm() {
    let x: [Float] = [
      0, -0.0, .infinity, -.infinity, .nan, -2, 2, Float.leastNormalMagnitude / 3, 1e30, -1e30, 1, -1, 1e-30,
    ]
    for p: Float in [0, 0.5, 1.5, -0.5, 3, -3, 2, -2, 100, -100, .infinity, 40, 1e30] {
      var fast = [Float](repeating: 0, count: x.count)
      var reference = fast
      Elementwise.pow(x, exponent: p, &fast, count: x.count)
      Elementwise.powReference(x, exponent: p, &reference, count: x.count)
      for i in 0..<x.count {
        #expect(
          close(fast[i], reference[i], atol: 0, rtol: 1e-4) || (fast[i] == 0 && Swift.abs(reference[i]) < 1e-37),
          "pow(\(x[i]), \(p)) = \(fast[i]), libm \(reference[i])")
      }
    }
  }

  @Test func powGradientMatchesFiniteDifferences() {
    for p in [1.5, -2.5, 3.0, 0.25] {
      for x in [0.3, 1.0, 2.7] {
        let h = 1e-6
        let numeric = (Foundation.pow(x + h, p) - Foundation.pow(x - h, p)) / (2 * h)
        var dx: Float = 0
        Elementwise.powBackwardReference(x: [Float(x)], exponent: Float(p), dy: [1], dx: &dx, count: 1)
        #expect(Swift.abs(Double(dx) - numeric) <= 1e-5 * Swift.max(1, Swift.abs(numeric)))
      }
    }
  }

  @Test func affineFillAndAccumulateMatchReference() {
    for n in sizes {
      var rng = TestRandom(seed: UInt64(n))
      let x = (0..<n).map { _ in rng.uniform(-5, 5) }
      var fast = [Float](repeating: 0, count: n)
      var reference = fast
      Elementwise.affine(x, scale: 1.5, shift: -0.25, &fast, count: n)
      Elementwise.affineReference(x, scale: 1.5, shift: -0.25, &reference, count: n)
      #expect(fast == reference)
      Elementwise.fill(&fast, value: 3.5, count: n)
      Elementwise.fillReference(&reference, value: 3.5, count: n)
      #expect(fast == reference)
      Elementwise.accumulate(x, into: &fast, count: n)
      Elementwise.accumulateReference(x, into: &reference, count: n)
      #expect(fast == reference)
      var inPlace = x
      inPlace.withUnsafeMutableBufferPointer {
        Elementwise.affine($0.baseAddress!, scale: 2, shift: 1, $0.baseAddress!, count: n)
      }
      #expect(inPlace == x.map { 1 + 2 * $0 })
    }
  }
}
