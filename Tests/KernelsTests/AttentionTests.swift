import Foundation
import Testing

@testable import Kernels

/// How a test case lays out its additive bias.
enum AttentionBiasLayout: Sendable {
  case none
  /// [B, H, Tq, Tk], nothing shared.
  case full
  /// [H, Tq, Tk] shared by every batch (batchStride 0).
  case sharedOverBatch
  /// [Tq, Tk] shared by every batch and head.
  case sharedOverBatchAndHeads
  /// [B, 1, 1, Tk] key padding: -inf on the last keys of batch 1, shared by heads and rows.
  case keyPadding
}

/// One fused-vs-reference comparison.
struct AttentionCase: Sendable, CustomTestStringConvertible {
  var name: String
  var shape: AttentionShape
  var mask = AttentionMask()
  var bias = AttentionBiasLayout.none

  var testDescription: String { name }

  init(
    _ name: String, b: Int = 1, h: Int = 2, hkv: Int? = nil, tq: Int, tk: Int? = nil, d: Int,
    mask: AttentionMask = AttentionMask(), bias: AttentionBiasLayout = .none
  ) {
    self.name = name
    self.shape = AttentionShape(
      batch: b, heads: h, kvHeads: hkv ?? h, queryLength: tq, keyLength: tk ?? tq, headDim: d)
    self.mask = mask
    self.bias = bias
  }

  static let all: [AttentionCase] = [
    .init("no mask T17 D16", b: 2, tq: 17, d: 16),
    .init("no mask T1 D16", tq: 1, d: 16),
    .init("no mask T257 D64", b: 1, h: 1, tq: 257, d: 64),
    .init("causal T100 D64", tq: 100, d: 64, mask: .init(causal: true)),
    .init("causal T257 D20", h: 1, tq: 257, d: 20, mask: .init(causal: true)),
    .init("causal prefix Tq33 Tk100 D80", tq: 33, tk: 100, d: 80, mask: .init(causal: true, queryOffset: 67)),
    .init("causal prefix Tq1 Tk70 D16", tq: 1, tk: 70, d: 16, mask: .init(causal: true, queryOffset: 69)),
    .init("window 50 causal T257 D16", h: 1, tq: 257, d: 16, mask: .init(causal: true, window: 50)),
    .init("window 7 T100 D20", tq: 100, d: 20, mask: .init(window: 7)),
    .init("blocks 16 back 0", tq: 100, d: 16, mask: .init(causal: true, blockSize: 16, blocksBack: 0)),
    .init("blocks 16 back 1", tq: 100, d: 20, mask: .init(causal: true, blockSize: 16, blocksBack: 1)),
    .init("blocks 24 back 2", tq: 130, d: 16, mask: .init(causal: true, blockSize: 24, blocksBack: 2)),
    .init("blocks 16 back 1 bidirectional", tq: 70, d: 16, mask: .init(blockSize: 16, blocksBack: 1)),
    .init("GQA 4/2 causal", h: 4, hkv: 2, tq: 70, d: 16, mask: .init(causal: true)),
    .init("GQA 4/1 no mask", b: 2, h: 4, hkv: 1, tq: 33, d: 80),
    .init(
      "MQA 4/1 one batch, bias shared over heads", b: 1, h: 4, hkv: 1, tq: 70, d: 16, mask: .init(causal: true),
      bias: .sharedOverBatchAndHeads),
    .init("bias full", b: 2, tq: 17, d: 20, bias: .full),
    .init("bias shared over batch", b: 2, tq: 100, d: 64, mask: .init(causal: true), bias: .sharedOverBatch),
    .init("bias shared over batch and heads", b: 3, tq: 100, d: 16, bias: .sharedOverBatchAndHeads),
    .init("key padding bias", b: 2, h: 4, hkv: 2, tq: 40, tk: 90, d: 16, bias: .keyPadding),
    .init("rows without keys", tq: 20, d: 16, mask: .init(causal: true, queryOffset: -3)),
    .init("empty window", tq: 5, d: 16, mask: .init(causal: true, window: 0)),
  ]
}

/// Deterministic uniform numbers in [-1, 1).
private struct AttentionRandom {
  var state: UInt64
  mutating func next() -> Float {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(state >> 40) / Float(1 << 23) - 1
  }
  mutating func array(_ count: Int, scale: Float = 1) -> [Float] {
    (0..<count).map { _ in next() * scale }
  }
}

/// Inputs of one case and both implementations' outputs.
struct AttentionRun {
  var q, k, v, dOut, bias: [Float]
  var biasDescriptor: (batch: Int, head: Int, row: Int)?

  init(_ c: AttentionCase, seed: UInt64 = 7) {
    let s = c.shape
    var rng = AttentionRandom(state: seed)
    let qCount = s.batch * s.heads * s.queryLength * s.headDim
    let kCount = s.batch * s.kvHeads * s.keyLength * s.headDim
    q = rng.array(qCount, scale: 2)
    k = rng.array(kCount, scale: 2)
    v = rng.array(kCount)
    dOut = rng.array(qCount)
    let (tq, tk, h) = (s.queryLength, s.keyLength, s.heads)
    switch c.bias {
    case .none:
      bias = [0]
    case .full:
      bias = rng.array(s.batch * h * tq * tk)
      biasDescriptor = (h * tq * tk, tq * tk, tk)
    case .sharedOverBatch:
      bias = rng.array(h * tq * tk)
      biasDescriptor = (0, tq * tk, tk)
    case .sharedOverBatchAndHeads:
      bias = rng.array(tq * tk)
      biasDescriptor = (0, 0, tk)
    case .keyPadding:
      bias = [Float](repeating: 0, count: s.batch * tk)
      for j in (tk - 25)..<tk { bias[tk + j] = -.infinity }
      biasDescriptor = (tk, 0, 0)
    }
  }

  typealias Outputs = (out: [Float], lse: [Float], dq: [Float], dk: [Float], dv: [Float], dBias: [Float])

  /// Runs forward then backward of either implementation.
  func evaluate(_ c: AttentionCase, reference: Bool) -> Outputs {
    let s = c.shape
    let scale = 1 / Float(s.headDim).squareRoot()
    var out = [Float](repeating: .nan, count: q.count)
    var lse = [Float](repeating: .nan, count: s.batch * s.heads * s.queryLength)
    var dq = [Float](repeating: .nan, count: q.count)
    var dk = [Float](repeating: .nan, count: k.count)
    var dv = [Float](repeating: .nan, count: k.count)
    var dBias = [Float](repeating: 0.5, count: bias.count)
    bias.withUnsafeBufferPointer { biasBuffer in
      let bias = biasDescriptor.map {
        AttentionBias(base: biasBuffer.baseAddress!, batchStride: $0.batch, headStride: $0.head, rowStride: $0.row)
      }
      let forward = reference ? Attention.forwardReference : Attention.forward
      forward(q, k, v, &out, &lse, s, c.mask, bias, scale)
      let backward = reference ? Attention.backwardReference : Attention.backward
      dBias.withUnsafeMutableBufferPointer { dBiasBuffer in
        backward(
          q, k, v, out, dOut, lse, &dq, &dk, &dv, bias == nil ? nil : dBiasBuffer.baseAddress, s, c.mask, bias, scale)
      }
    }
    return (out, lse, dq, dk, dv, dBias)
  }
}

/// max |a - b| relative to max(1, max |b|); infinities must match exactly.
private func attentionRelativeError(_ a: [Float], _ b: [Float]) -> Float {
  var worst: Float = 0
  var size: Float = 1
  for (x, y) in zip(a, b) {
    if x.isInfinite || y.isInfinite {
      if x != y { return .infinity }
      continue
    }
    if x.isNaN || y.isNaN { return .nan }
    worst = max(worst, abs(x - y))
    size = max(size, abs(y))
  }
  return a.count == b.count ? worst / size : .infinity
}

@Suite struct AttentionTests {
  @Test(arguments: AttentionCase.all)
  func fusedMatchesReference(_ c: AttentionCase) {
    let run = AttentionRun(c)
    let fast = run.evaluate(c, reference: false)
    let slow = run.evaluate(c, reference: true)
    let tolerance: Float = 3e-5
    #expect(attentionRelativeError(fast.out, slow.out) < tolerance, "out")
    #expect(attentionRelativeError(fast.lse, slow.lse) < tolerance, "logSumExp")
    #expect(attentionRelativeError(fast.dq, slow.dq) < tolerance, "dq")
    #expect(attentionRelativeError(fast.dk, slow.dk) < tolerance, "dk")
    #expect(attentionRelativeError(fast.dv, slow.dv) < tolerance, "dv")
    #expect(attentionRelativeError(fast.dBias, slow.dBias) < tolerance, "dBias")
  }

  @Test func rowsWithoutVisibleKeysAreZero() {
    let c = AttentionCase("rows without keys", tq: 20, d: 16, mask: .init(causal: true, queryOffset: -3))
    let fast = AttentionRun(c).evaluate(c, reference: false)
    for h in 0..<2 {
      for i in 0..<20 {
        let row = h * 20 + i
        let zero = fast.out[(row * 16)..<(row * 16 + 16)].allSatisfy { $0 == 0 }
        #expect(zero == (i < 3))
        #expect((fast.lse[row] == -.infinity) == (i < 3))
        if i < 3 { #expect(fast.dq[(row * 16)..<(row * 16 + 16)].allSatisfy { $0 == 0 }) }
      }
    }
  }

  @Test func visibleKeysAgreeWithAllows() {
    let masks: [AttentionMask] = [
      .init(), .init(causal: true), .init(causal: true, queryOffset: 5), .init(window: 4),
      .init(causal: true, window: 3, queryOffset: -2), .init(blockSize: 3, blocksBack: 1),
      .init(causal: true, blockSize: 4, blocksBack: 0), .init(causal: true, window: 6, blockSize: 5, blocksBack: 2),
    ]
    for mask in masks {
      for qpos in -4..<30 {
        let range = mask.visibleKeys(query: qpos, keyLength: 25)
        for key in 0..<25 {
          #expect(range.contains(key) == mask.allows(query: qpos, key: key), "\(mask) q \(qpos) k \(key)")
        }
      }
    }
  }

  /// The Double reference backward against central finite differences of its own forward.
  @Test func referenceBackwardMatchesFiniteDifferences() {
    let shape = AttentionShape(batch: 1, heads: 2, kvHeads: 1, queryLength: 3, keyLength: 5, headDim: 4)
    let mask = AttentionMask(causal: true, window: 4, queryOffset: 2)
    var rng = AttentionRandom(state: 11)
    let draw = { (n: Int) in (0..<n).map { _ in Double(rng.next()) } }
    var inputs = [draw(shape.queryCount), draw(shape.keyCount), draw(shape.keyCount), draw(2 * 3 * 5)]
    let weights = draw(shape.queryCount)
    let scale = 0.7
    func loss(_ x: [[Double]]) -> Double {
      let out = Attention.referenceForward(
        q: x[0], k: x[1], v: x[2], bias: x[3], shape: shape, mask: mask, scale: scale)
      return zip(out.out, weights).reduce(0) { $0 + $1.0 * $1.1 }
    }
    let grads = Attention.referenceBackward(
      q: inputs[0], k: inputs[1], v: inputs[2], dOut: weights, bias: inputs[3], shape: shape, mask: mask, scale: scale)
    let analytic = [grads.dq, grads.dk, grads.dv, grads.dBias]
    let step = 1e-6
    for t in 0..<4 {
      for e in inputs[t].indices {
        let saved = inputs[t][e]
        inputs[t][e] = saved + step
        let up = loss(inputs)
        inputs[t][e] = saved - step
        let down = loss(inputs)
        inputs[t][e] = saved
        let numeric = (up - down) / (2 * step)
        #expect(abs(numeric - analytic[t][e]) < 1e-7, "input \(t) element \(e): \(numeric) vs \(analytic[t][e])")
      }
    }
  }
}
