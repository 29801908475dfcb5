import Testing

@testable import Kernels

/// One small-Tq attention call: shape, mask, optional bias, and the key/value block stride.
struct SmallQueryCase: Sendable, CustomTestStringConvertible {
  var name: String
  var shape: AttentionShape
  var capacity: Int
  var mask: AttentionMask
  var biased: Bool

  var testDescription: String { name }

  init(
    _ name: String, b: Int, h: Int, hkv: Int, tq: Int, tk: Int, d: Int, capacity: Int? = nil,
    mask: AttentionMask? = nil, biased: Bool = false
  ) {
    let cap = capacity ?? tk
    self.name = name
    self.shape = AttentionShape(
      batch: b, heads: h, kvHeads: hkv, queryLength: tq, keyLength: tk, headDim: d,
      kvHeadStride: cap == tk ? nil : cap * d)
    self.capacity = cap
    self.mask = mask ?? AttentionMask(causal: true, queryOffset: tk - tq)
    self.biased = biased
  }

  static let all: [SmallQueryCase] = [
    .init("decode D48 Tk136 cache", b: 1, h: 6, hkv: 6, tq: 1, tk: 136, d: 48, capacity: 256),
    .init("decode D8 Tk300 (stories260K)", b: 1, h: 8, hkv: 4, tq: 1, tk: 300, d: 8, capacity: 512),
    .init("verify Tq4 D20 B2 GQA", b: 2, h: 4, hkv: 2, tq: 4, tk: 70, d: 20, capacity: 90),
    .init("Tq3 D64 with bias", b: 1, h: 3, hkv: 1, tq: 3, tk: 50, d: 64, biased: true),
    .init(
      "Tq2 window 5", b: 1, h: 2, hkv: 2, tq: 2, tk: 40, d: 16,
      mask: AttentionMask(causal: true, window: 5, queryOffset: 38)),
    .init(
      "rows before every key", b: 1, h: 2, hkv: 1, tq: 2, tk: 10, d: 16,
      mask: AttentionMask(causal: true, queryOffset: -1)),
    .init("Tq1 many heads (parallel)", b: 2, h: 16, hkv: 16, tq: 1, tk: 600, d: 64, capacity: 700),
  ]
}

/// Deterministic uniform numbers in [-1, 1).
private func smallQueryRandom(_ count: Int, seed: UInt64) -> [Float] {
  var state = seed
  return (0..<count).map { _ in
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(state >> 40) / Float(1 << 23) - 1
  }
}

@Suite struct AttentionSmallQueryTests {
  /// The row-at-a-time kernel (reached through forward) against the reference on the same strided inputs.
  @Test(arguments: SmallQueryCase.all)
  func matchesReference(_ c: SmallQueryCase) {
    let s = c.shape
    #expect(s.queryLength <= Attention.smallQueryLength)
    let (blocks, d) = (s.batch * s.kvHeads, s.headDim)
    let k = smallQueryRandom(blocks * c.capacity * d, seed: 3)
    let v = smallQueryRandom(blocks * c.capacity * d, seed: 5)
    let q = smallQueryRandom(s.batch * s.heads * s.queryLength * d, seed: 9)
    let rows = s.batch * s.heads * s.queryLength
    var biasValues = smallQueryRandom(rows * s.keyLength, seed: 11)
    if c.biased { biasValues[3] = -.infinity }  // one hidden key
    let run = { (reference: Bool) -> ([Float], [Float]) in
      var out = [Float](repeating: .nan, count: rows * d)
      var lse = [Float](repeating: .nan, count: rows)
      biasValues.withUnsafeBufferPointer { bias in
        let view =
          c.biased
          ? AttentionBias(
            base: bias.baseAddress!, batchStride: s.heads * s.queryLength * s.keyLength,
            headStride: s.queryLength * s.keyLength, rowStride: s.keyLength) : nil
        if reference {
          Attention.forwardReference(
            q: q, k: k, v: v, out: &out, logSumExp: &lse, shape: s, mask: c.mask, bias: view, scale: 0.3)
        } else {
          Attention.forward(
            q: q, k: k, v: v, out: &out, logSumExp: &lse, shape: s, mask: c.mask, bias: view, scale: 0.3)
        }
      }
      return (out, lse)
    }
    let (fast, fastLSE) = run(false)
    let (slow, slowLSE) = run(true)
    #expect(zip(fast, slow).allSatisfy { abs($0 - $1) < 3e-5 }, "out")
    #expect(zip(fastLSE, slowLSE).allSatisfy { $0 == $1 || abs($0 - $1) < 3e-5 }, "logSumExp")
  }

  /// A row whose every visible key has a -inf bias gives zeros and logSumExp -inf, like the tiled kernel.
  @Test func fullyHiddenRowGivesZeros() {
    let s = AttentionShape(batch: 1, heads: 1, kvHeads: 1, queryLength: 1, keyLength: 5, headDim: 16)
    let q = smallQueryRandom(16, seed: 1)
    let k = smallQueryRandom(80, seed: 2)
    let bias = [Float](repeating: -.infinity, count: 5)
    var out = [Float](repeating: .nan, count: 16)
    var lse: [Float] = [.nan]
    bias.withUnsafeBufferPointer { b in
      Attention.forward(
        q: q, k: k, v: k, out: &out, logSumExp: &lse, shape: s, mask: AttentionMask(),
        bias: AttentionBias(base: b.baseAddress!, batchStride: 0, headStride: 0, rowStride: 0), scale: 1)
    }
    #expect(out.allSatisfy { $0 == 0 } && lse[0] == -.infinity)
  }
}
