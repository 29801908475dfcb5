import Foundation
import TestSupport
import Testing

@testable import TensorCore

@Suite struct ArithmeticTests {
  @Test func broadcastingAddMatchesNaiveLoop() throws {
    let a = randomTensor([3, 1, 5], seed: 1)
    let b = randomTensor([4, 1], seed: 2)
    let y = try a + b
    #expect(y.shape == [3, 4, 5])
    let (av, bv, yv) = (a.floats, b.floats, y.floats)
    for i in 0..<3 {
      for j in 0..<4 {
        for k in 0..<5 {
          #expect(yv[(i * 4 + j) * 5 + k] == av[i * 5 + k] + bv[j])
        }
      }
    }
  }

  @Test func stridedOperandsMatchNaiveLoop() throws {
    let a = try randomTensor([6, 7], seed: 3).transposed()  // [7, 6], non-contiguous
    let b = try randomTensor([7, 12], seed: 4).sliced(axis: 1, 2..<8)  // [7, 6], strided rows
    for op in BinaryOp.allCases {
      let y = try Tensor.binaryKernel(op, a, b, op.rawValue).floats
      let (av, bv) = (a.contiguous().floats, b.contiguous().floats)
      for i in 0..<42 { #expect(y[i] == Binary.scalar(op, av[i], bv[i]), "\(op)") }
    }
  }

  @Test func shapeMismatchNamesBothShapes() {
    let a = Tensor.zeros([2, 3])
    let b = Tensor.zeros([4])
    #expect {
      _ = try a + b
    } throws: { error in
      let text = "\(error)"
      return text.contains("[2, 3]") && text.contains("[4]")
    }
    #expect {
      _ = try a.matmul(Tensor.zeros([4, 5]))
    } throws: { error in
      "\(error)".contains("[2, 3]") && "\(error)".contains("[4, 5]")
    }
  }

  @Test func binaryGradients() throws {
    let a = randomTensor([3, 4], seed: 5)
    let b = randomTensor([4], seed: 6).abs() + 0.5
    for f in [
      { (x: [Tensor]) in try x[0] + x[1] }, { try $0[0] - $0[1] }, { try $0[0] * $0[1] }, { try $0[0] / $0[1] },
      { try $0[0].maximum($0[1]) }, { try $0[0].minimum($0[1]) },
    ] {
      let r = try checkGradients(of: f, at: [a, b])
      #expect(r.passed, "\(r)")
    }
  }

  @Test func unaryForwardMatchesLibmAndGradientsMatchFiniteDifferences() throws {
    // Kept 0.1 away from zero so that finite differences never straddle the kinks of relu and abs.
    let x = Tensor(randomTensor([37], seed: 8).floats.map { $0 >= 0 ? $0 + 0.1 : $0 - 0.1 })
    let positive = x.abs() + 0.2
    for op in UnaryOp.allCases {
      let input = [.log, .sqrt, .rsqrt, .reciprocal].contains(op) ? positive : x
      let y = input.unary(op).floats
      let xs = input.floats
      for i in 0..<xs.count {
        let r = Float(naive(op, Double(xs[i])))
        #expect(abs(y[i] - r) <= 1e-5 + 1e-5 * abs(r), "\(op)(\(xs[i])) = \(y[i]), expected \(r)")
      }
      let check = try checkGradients(of: { $0[0].unary(op) }, at: [input])
      #expect(check.passed, "\(op): \(check)")
    }
    let p = try checkGradients(of: { $0[0].pow(1.7) }, at: [positive])
    #expect(p.passed, "\(p)")
  }

  @Test func whereSelectsAndRoutesGradients() throws {
    let c = Tensor([1, 0, 1, 0], shape: [4])
    let a = randomTensor([4], seed: 9)
    let b = randomTensor([2, 4], seed: 10)
    let y = try Tensor.select(c, a, b)
    #expect(y.shape == [2, 4])
    let (av, bv, yv) = (a.floats, b.floats, y.floats)
    for r in 0..<2 {
      for i in 0..<4 { #expect(yv[r * 4 + i] == (i % 2 == 0 ? av[i] : bv[r * 4 + i])) }
    }
    let check = try checkGradients(of: { try Tensor.select(c, $0[0], $0[1]) }, at: [a, b])
    #expect(check.passed, "\(check)")
  }

  @Test func comparisonsGiveZeroOrOne() throws {
    let a = Tensor([1, 2, 3], shape: [3])
    let b = Tensor([2, 2, 2], shape: [3])
    #expect(try a.compared(.less, b).floats == [1, 0, 0])
    #expect(try a.compared(.greaterEqual, b).floats == [0, 1, 1])
    #expect(try a.compared(.equal, b).floats == [0, 1, 0])
  }

  func naive(_ op: UnaryOp, _ x: Double) -> Double {
    switch op {
    case .neg: return -x
    case .exp: return Foundation.exp(x)
    case .log: return Foundation.log(x)
    case .sqrt: return x.squareRoot()
    case .rsqrt: return 1 / x.squareRoot()
    case .abs: return Swift.abs(x)
    case .tanh: return Foundation.tanh(x)
    case .sigmoid: return 1 / (1 + Foundation.exp(-x))
    case .relu: return Swift.max(x, 0)
    case .geluTanh: return 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x)))
    case .geluErf: return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
    case .silu: return x / (1 + Foundation.exp(-x))
    case .softplus: return Foundation.log1p(Foundation.exp(x))
    case .sin: return Foundation.sin(x)
    case .cos: return Foundation.cos(x)
    case .square: return x * x
    case .reciprocal: return 1 / x
    }
  }
}

@Suite struct ConversionOpTests {
  @Test func halfAndBFloat16RoundTripAndRound() throws {
    let x = Tensor([1, -2.5, 65504, 1e-8, 3.140625, 0.1], shape: [2, 3])
    let h = x.converted(to: .float16)
    #expect(h.dtype == .float16)
    #expect(h.floats == [1, -2.5, 65504, Float(Float16(1e-8)), 3.140625, Float(Float16(0.1))])
    let b = x.converted(to: .bfloat16).floats
    #expect(b[0] == 1 && b[1] == -2.5 && b[4] == 3.140625)
    #expect(abs(b[5] - 0.1) < 0.001 && b[5] != 0.1)
    let i = Tensor(indices: [3, -7], shape: [2])
    #expect(i.converted(to: .int32).converted(to: .float32).floats == [3, -7])
    // Gradients pass through float conversions unchanged.
    let (_, g) = try valueAndGradient(at: [x]) { v in try v[0].converted(to: .float16).converted(to: .float32).sum() }
    #expect(g[0].floats == [1, 1, 1, 1, 1, 1])
  }
}
