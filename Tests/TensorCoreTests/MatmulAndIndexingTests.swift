import TestSupport
import Testing

@testable import TensorCore

@Suite struct MatmulAndIndexingTests {
  func naiveMatmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for p in 0..<k { s += Double(a[i * k + p]) * Double(b[p * n + j]) }
        c[i * n + j] = Float(s)
      }
    }
    return c
  }

  @Test func matmulMatchesNaiveLoopForEveryLayout() throws {
    let a = randomTensor([5, 7], seed: 20)
    let b = randomTensor([7, 3], seed: 21)
    let expected = naiveMatmul(a.floats, b.floats, m: 5, k: 7, n: 3)
    let variants: [(Tensor, Tensor)] = [
      (a, b), (try a.transposed().contiguous().transposed(), b), (a, try b.transposed().contiguous().transposed()),
    ]
    for (x, y) in variants {
      #expect(allClose(try x.matmul(y).floats, expected))
    }
    let row = try a.sliced(axis: 0, 2..<3)
    #expect(allClose(try row.matmul(b).floats, Array(expected[6..<9])))
    let vec = try a.sliced(axis: 0, 1..<2).squeezed(0)
    #expect(allClose(try vec.matmul(b).floats, Array(expected[3..<6])))
  }

  @Test func batchedMatmulBroadcastsBatchAxes() throws {
    let a = randomTensor([2, 3, 4, 5], seed: 22)
    let b = randomTensor([3, 5, 2], seed: 23)
    let c = try a.matmul(b)
    #expect(c.shape == [2, 3, 4, 2])
    let (av, bv, cv) = (a.floats, b.floats, c.floats)
    for i in 0..<2 {
      for j in 0..<3 {
        let block = naiveMatmul(
          Array(av[((i * 3 + j) * 20)..<((i * 3 + j) * 20 + 20)]), Array(bv[(j * 10)..<(j * 10 + 10)]), m: 4, k: 5,
          n: 2)
        #expect(allClose(Array(cv[((i * 3 + j) * 8)..<((i * 3 + j) * 8 + 8)]), block))
      }
    }
    let shared = try a.matmul(randomTensor([5, 6], seed: 24))
    #expect(shared.shape == [2, 3, 4, 6])
  }

  @Test func matmulAndLinearGradients() throws {
    let a = randomTensor([2, 3, 4], seed: 25)
    let b = randomTensor([4, 5], seed: 26)
    let r = try checkGradients(of: { try $0[0].matmul($0[1]) }, at: [a, b])
    #expect(r.passed, "\(r)")
    let bb = randomTensor([2, 4, 5], seed: 27)
    let r2 = try checkGradients(
      of: { try $0[0].matmul($0[1].transposed(1, 2).contiguous().transposed(1, 2)) }, at: [a, bb])
    #expect(r2.passed, "\(r2)")
    let w = randomTensor([6, 4], seed: 28)
    let bias = randomTensor([6], seed: 29)
    let y = try a.linear(weight: w, bias: bias)
    let reference = try a.matmul(w.transposed()) + bias
    #expect(allClose(y.floats, reference.floats))
    let r3 = try checkGradients(of: { try $0[0].linear(weight: $0[1], bias: $0[2]) }, at: [a, w, bias])
    #expect(r3.passed, "\(r3)")
  }

  @Test func indexingOpsMatchLoopsAndGradients() throws {
    let table = randomTensor([6, 4], seed: 30)
    let ids = Tensor(indices: [5, 0, 5, 2], shape: [2, 2])
    let e = try table.embedding(ids)
    #expect(e.shape == [2, 2, 4])
    let tv = table.floats
    let ev = e.floats
    for (i, id) in [5, 0, 5, 2].enumerated() {
      #expect(Array(ev[(i * 4)..<(i * 4 + 4)]) == Array(tv[(id * 4)..<(id * 4 + 4)]))
    }
    let r = try checkGradients(of: { try $0[0].embedding(ids) }, at: [table])
    #expect(r.passed, "\(r)")
    let index = Tensor(indices: [3, 1, 0, 0, 2, 3], shape: [6, 1])
    let g = try table.gather(axis: 1, index: index)
    for i in 0..<6 { #expect(g.floats[i] == tv[i * 4 + [3, 1, 0, 0, 2, 3][i]]) }
    let r2 = try checkGradients(of: { try $0[0].gather(axis: 1, index: index) }, at: [table])
    #expect(r2.passed, "\(r2)")
    let src = randomTensor([6, 1], seed: 31)
    let sa = try table.scatterAdding(axis: 1, index: index, source: src)
    var expected = tv
    for i in 0..<6 { expected[i * 4 + [3, 1, 0, 0, 2, 3][i]] += src.floats[i] }
    #expect(sa.floats == expected)
    let r3 = try checkGradients(
      of: { try $0[0].scatterAdding(axis: 1, index: index, source: $0[1]) }, at: [table, src])
    #expect(r3.passed, "\(r3)")
    #expect(throws: TensorError.self) { try table.embedding(Tensor(indices: [6], shape: [1])) }
    let oh = try Tensor(indices: [2, 0], shape: [2]).oneHot(classes: 3)
    #expect(oh.floats == [0, 0, 1, 1, 0, 0])
  }

  @Test func dropoutKeepsExpectationAndIsSeeded() throws {
    let x = Tensor.ones([10_000])
    var g1 = RandomGenerator(seed: 3)
    var g2 = RandomGenerator(seed: 3)
    let a = try x.dropout(probability: 0.25, generator: &g1).floats
    let b = try x.dropout(probability: 0.25, generator: &g2).floats
    #expect(a == b)
    let kept = a.filter { $0 != 0 }
    #expect(kept.allSatisfy { abs($0 - 4.0 / 3.0) < 1e-6 })
    #expect(abs(Double(kept.count) / 10_000 - 0.75) < 0.03)
  }

  @Test func gradientAccumulatesOverReuseAndDetachStopsIt() throws {
    let x = Tensor([1, 2, 3])
    let (_, g) = try valueAndGradient(at: [x]) { v in try (v[0] * v[0] + v[0]).sum() }
    #expect(g[0].floats == [3, 5, 7])
    let (_, g2) = try valueAndGradient(at: [x]) { v in try (v[0] * v[0].detached()).sum() }
    #expect(g2[0].floats == [1, 2, 3])
    let (_, g3) = try valueAndGradient(at: [x]) { v in try withoutGradients { v[0] * 2 }.sum() }
    #expect(g3[0].floats == [0, 0, 0])
  }
}
