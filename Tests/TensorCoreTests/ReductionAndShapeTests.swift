import Foundation
import TestSupport
import Testing

@testable import TensorCore

@Suite struct ReductionAndShapeTests {
  @Test func reductionsMatchNaiveLoops() throws {
    let x = randomTensor([3, 4, 5], seed: 11)
    let v = x.floats
    func at(_ i: Int, _ j: Int, _ k: Int) -> Float { v[(i * 4 + j) * 5 + k] }
    let s = try x.sum(axes: [1]).floats
    let m = try x.max(axes: [0, 2]).floats
    let lse = try x.logSumExp(axes: [2]).floats
    let variance = try x.variance(axes: [0, 2], correction: 1).floats
    for i in 0..<3 {
      for k in 0..<5 {
        let expected = (0..<4).map { at(i, $0, k) }.reduce(0, +)
        #expect(abs(s[i * 5 + k] - expected) < 1e-5)
      }
      for j in 0..<4 {
        let row = (0..<5).map { Double(at(i, j, $0)) }
        let e = Foundation.log(row.map { Foundation.exp($0) }.reduce(0, +))
        #expect(abs(Double(lse[i * 4 + j]) - e) < 1e-5)
      }
    }
    for j in 0..<4 {
      var values: [Float] = []
      for i in 0..<3 { for k in 0..<5 { values.append(at(i, j, k)) } }
      #expect(m[j] == values.max()!)
      let mean = values.reduce(0, +) / 15
      let expected = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 14
      #expect(abs(variance[j] - expected) < 1e-5)
    }
    let am = try x.argmax(axis: 2).int64s
    for i in 0..<3 {
      for j in 0..<4 {
        let row = (0..<5).map { at(i, j, $0) }
        #expect(am[i * 4 + j] == Int64(row.firstIndex(of: row.max()!)!))
      }
    }
    #expect(abs(try x.mean().item() - Float((v.map { Double($0) }.reduce(0, +) / 60))) < 1e-6)
  }

  @Test func reductionGradients() throws {
    let x = randomTensor([3, 4, 5], seed: 12)
    let fs: [([Tensor]) throws -> Tensor] = [
      { try $0[0].sum(axes: [1]) }, { try $0[0].mean(axes: [0, 2], keepingDimensions: true) },
      { try $0[0].max(axes: [2]) }, { try $0[0].min(axes: [0]) }, { try $0[0].logSumExp(axes: [1, 2]) },
      { try $0[0].variance(axes: [2], correction: 1) }, { try $0[0].softmax(axis: 1) },
      { try $0[0].logSoftmax(axis: -1) }, { try $0[0].cumulativeSum(axis: 1) },
    ]
    for (i, f) in fs.enumerated() {
      let r = try checkGradients(of: f, at: [x])
      #expect(r.passed, "function \(i): \(r)")
    }
  }

  @Test func softmaxRowsSumToOne() throws {
    let x = randomTensor([4, 33], seed: 13, scale: 5)
    let y = try x.softmax().floats
    for r in 0..<4 {
      let row = y[(r * 33)..<(r * 33 + 33)]
      #expect(abs(row.reduce(0, +) - 1) < 1e-5)
    }
    let ls = try x.logSoftmax().exp().floats
    #expect(allClose(ls, y, atol: 1e-6, rtol: 1e-5))
  }

  @Test func viewsShareStorageAndMatchIndexing() throws {
    let x = Tensor((0..<24).map { Float($0) }, shape: [2, 3, 4])
    let p = try x.permuted([2, 0, 1])
    #expect(p.shape == [4, 2, 3])
    #expect(p.storage === x.storage)
    let pc = p.contiguous().floats
    for a in 0..<4 {
      for b in 0..<2 {
        for c in 0..<3 { #expect(pc[(a * 2 + b) * 3 + c] == Float((b * 3 + c) * 4 + a)) }
      }
    }
    let s = try x.sliced(axis: 2, 1..<3)
    #expect(s.floats == [1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22])
    let e = try Tensor([1, 2], shape: [2, 1]).expanded(to: [3, 2, 4])
    #expect(e.strides == [0, 1, 0])
    #expect(
      e.floats == [Float](repeating: 1, count: 4) + [Float](repeating: 2, count: 4)
        + [Float](repeating: 1, count: 4) + [Float](repeating: 2, count: 4)
        + [Float](repeating: 1, count: 4) + [Float](repeating: 2, count: 4))
    #expect(try x.reshaped([4, -1]).shape == [4, 6])
    #expect(throws: TensorError.self) { try x.reshaped([5, -1]) }
  }

  @Test func viewGradients() throws {
    let x = randomTensor([2, 3, 4], seed: 14)
    let fs: [([Tensor]) throws -> Tensor] = [
      { try $0[0].permuted([2, 0, 1]) * Tensor.arange(3) },
      { try $0[0].sliced(axis: 1, 1..<3).transposed(0, 2) },
      { try $0[0].sliced(axis: 0, 1..<2).expanded(to: [5, 3, 4]) },
      { try $0[0].reshaped([6, 4]).unsqueezed(1).squeezed(1) },
      { try $0[0].padded(axis: 2, before: 2, after: 1, value: 3) },
    ]
    for (i, f) in fs.enumerated() {
      let r = try checkGradients(of: f, at: [x])
      #expect(r.passed, "function \(i): \(r)")
    }
  }

  @Test func joinsAndSplits() throws {
    let a = randomTensor([2, 3], seed: 15)
    let b = randomTensor([2, 2], seed: 16)
    let c = try Tensor.concatenate([a, b], axis: 1)
    #expect(c.shape == [2, 5])
    let (av, bv, cv) = (a.floats, b.floats, c.floats)
    for r in 0..<2 {
      #expect(Array(cv[(r * 5)..<(r * 5 + 3)]) == Array(av[(r * 3)..<(r * 3 + 3)]))
      #expect(Array(cv[(r * 5 + 3)..<(r * 5 + 5)]) == Array(bv[(r * 2)..<(r * 2 + 2)]))
    }
    let parts = try c.split(sizes: [3, 2], axis: 1)
    #expect(parts[0].floats == av && parts[1].floats == bv)
    let chunks = try Tensor.arange(10).chunked(3, axis: 0)
    #expect(chunks.map { $0.count } == [4, 4, 2])
    let st = try Tensor.stack([a, a], axis: 1)
    #expect(st.shape == [2, 2, 3])
    let r = try checkGradients(
      of: { try Tensor.concatenate([$0[0], $0[1] * 2], axis: 1) }, at: [a, b])
    #expect(r.passed, "\(r)")
    let r2 = try checkGradients(of: { try Tensor.stack([$0[0], $0[0].exp()], axis: 0) }, at: [a])
    #expect(r2.passed, "\(r2)")
    #expect(throws: TensorError.self) { try Tensor.concatenate([a, Tensor.zeros([3, 2])], axis: 1) }
  }

  @Test func cumulativeSumMatchesLoop() throws {
    let x = randomTensor([2, 5, 3], seed: 17)
    let y = try x.cumulativeSum(axis: 1).floats
    let v = x.floats
    for o in 0..<2 {
      for i in 0..<3 {
        var s: Float = 0
        for a in 0..<5 {
          s += v[(o * 5 + a) * 3 + i]
          #expect(abs(y[(o * 5 + a) * 3 + i] - s) < 1e-5)
        }
      }
    }
  }
}

@Suite struct SliceGradientTests {
  @Test func slicesOfOneTensorAccumulateIntoOneGradient() throws {
    let x = randomTensor([2, 6, 3], seed: 80)
    let w = randomTensor([2, 2, 3], seed: 81)
    let (_, g) = try valueAndGradient(at: [x]) { v in
      let parts = try v[0].split(sizes: [2, 2, 2], axis: 1)
      return try (parts[0] * w + parts[1].exp() + parts[2] * parts[0] + v[0].sliced(axis: 1, 1..<3) * 2).sum()
    }
    // Hand-derived: d/dx0 = w + x2 (+2 on row 1 from the extra slice), d/dx1 = exp(x1) (+2 on row 2), d/dx2 = x0.
    let xv = x.floats
    let wv = w.floats
    let gv = g[0].floats
    for b in 0..<2 {
      for r in 0..<6 {
        for c in 0..<3 {
          let i = (b * 6 + r) * 3 + c
          let local = (r % 2) * 3 + c
          var expected: Float
          switch r / 2 {
          case 0: expected = wv[b * 6 + local] + xv[(b * 6 + r + 4) * 3 + c]
          case 1: expected = Foundation.exp(xv[i])
          default: expected = xv[(b * 6 + r - 4) * 3 + c]
          }
          if r == 1 || r == 2 { expected += 2 }
          #expect(abs(gv[i] - expected) < 1e-5, "b \(b) r \(r) c \(c)")
        }
      }
    }
  }
}
