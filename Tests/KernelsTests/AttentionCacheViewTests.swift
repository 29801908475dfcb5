import Testing

@testable import Kernels

/// One attention call whose keys and values are the first `keyLength` positions of a larger cache.
struct AttentionCacheViewCase: Sendable, CustomTestStringConvertible {
  var name: String
  var shape: AttentionShape
  var capacity: Int
  var mask: AttentionMask

  var testDescription: String { name }

  init(_ name: String, b: Int, h: Int, hkv: Int, tq: Int, tk: Int, d: Int, capacity: Int, causal: Bool = true) {
    self.name = name
    self.shape = AttentionShape(
      batch: b, heads: h, kvHeads: hkv, queryLength: tq, keyLength: tk, headDim: d, kvHeadStride: capacity * d)
    self.capacity = capacity
    self.mask = AttentionMask(causal: causal, queryOffset: tk - tq)
  }

  static let all: [AttentionCacheViewCase] = [
    .init("decode D48 Tk1", b: 1, h: 6, hkv: 6, tq: 1, tk: 1, d: 48, capacity: 40),
    .init("decode D48 Tk37", b: 1, h: 6, hkv: 6, tq: 1, tk: 37, d: 48, capacity: 100),
    .init("decode D48 Tk130 B2 GQA", b: 2, h: 4, hkv: 2, tq: 1, tk: 130, d: 48, capacity: 200),
    .init("decode D20 (padded values)", b: 2, h: 2, hkv: 2, tq: 1, tk: 70, d: 20, capacity: 90),
    .init("prefill chunk Tq5 D16", b: 1, h: 4, hkv: 1, tq: 5, tk: 77, d: 16, capacity: 128),
    .init("full cache Tq66 D80", b: 2, h: 2, hkv: 1, tq: 66, tk: 96, d: 80, capacity: 96, causal: false),
    .init("empty keys", b: 1, h: 2, hkv: 2, tq: 1, tk: 0, d: 16, capacity: 8, causal: false),
  ]
}

/// Deterministic uniform numbers in [-1, 1).
private func cacheViewRandom(_ count: Int, seed: UInt64) -> [Float] {
  var state = seed
  return (0..<count).map { _ in
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(state >> 40) / Float(1 << 23) - 1
  }
}

@Suite struct AttentionCacheViewTests {
  /// The fused forward over cache views against the reference over contiguous copies of the same views.
  @Test(arguments: AttentionCacheViewCase.all)
  func cacheViewMatchesContiguousReference(_ c: AttentionCacheViewCase) {
    let s = c.shape
    let (blocks, d, tk) = (s.batch * s.kvHeads, s.headDim, s.keyLength)
    let cacheK = cacheViewRandom(blocks * c.capacity * d, seed: 3)
    let cacheV = cacheViewRandom(blocks * c.capacity * d, seed: 5)
    let q = cacheViewRandom(s.batch * s.heads * s.queryLength * d, seed: 9)
    // The valid prefix of every block, copied to dense [B, Hkv, Tk, D].
    let slice = { (cache: [Float]) in
      (0..<blocks).flatMap { cache[($0 * c.capacity * d)..<($0 * c.capacity * d + tk * d)] }
    }
    let (denseK, denseV) = (slice(cacheK), slice(cacheV))
    var dense = s
    dense.kvHeadStride = nil
    let rows = s.batch * s.heads * s.queryLength
    let scale: Float = 0.3
    var fast = [Float](repeating: .nan, count: rows * d)
    var fastLSE = [Float](repeating: .nan, count: rows)
    Attention.forward(
      q: q, k: cacheK, v: cacheV, out: &fast, logSumExp: &fastLSE, shape: s, mask: c.mask, bias: nil, scale: scale)
    var slow = [Float](repeating: .nan, count: rows * d)
    var slowLSE = [Float](repeating: .nan, count: rows)
    Attention.forwardReference(
      q: q, k: denseK, v: denseV, out: &slow, logSumExp: &slowLSE, shape: dense, mask: c.mask, bias: nil,
      scale: scale)
    var strided = [Float](repeating: .nan, count: rows * d)
    var stridedLSE = [Float](repeating: .nan, count: rows)
    Attention.forwardReference(
      q: q, k: cacheK, v: cacheV, out: &strided, logSumExp: &stridedLSE, shape: s, mask: c.mask, bias: nil,
      scale: scale)

    #expect(zip(fast, slow).allSatisfy { abs($0 - $1) < 3e-5 }, "out")
    #expect(zip(fastLSE, slowLSE).allSatisfy { $0 == $1 || abs($0 - $1) < 3e-5 }, "logSumExp")
    #expect(zip(strided, slow).allSatisfy { abs($0 - $1) < 1e-6 }, "strided reference")
    #expect(zip(stridedLSE, slowLSE).allSatisfy { $0 == $1 || abs($0 - $1) < 1e-6 }, "strided reference logSumExp")
  }

  @Test func explicitDenseStrideEqualsNil() {
    let shape = AttentionShape(batch: 1, heads: 2, kvHeads: 1, queryLength: 3, keyLength: 5, headDim: 16)
    var explicit = shape
    explicit.kvHeadStride = 5 * 16
    #expect(shape.keyValueHeadStride == 80 && shape.hasContiguousKeyValues)
    #expect(explicit.hasContiguousKeyValues)
    explicit.kvHeadStride = 96
    #expect(!explicit.hasContiguousKeyValues)
  }
}
