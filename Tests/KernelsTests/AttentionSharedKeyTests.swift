import Testing

@testable import Kernels

/// Deterministic uniform numbers in [-1, 1).
func sharedKeyRandom(_ count: Int, seed: UInt64) -> [Float] {
  var state = seed
  return (0..<count).map { _ in
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(state >> 40) / Float(1 << 23) - 1
  }
}

/// Random q, k and v for `c` (k and v laid out [B, Hkv, capacity, D]) from three seeds, and the query row count.
func sharedKeyInputs(_ c: SmallQueryCase, seeds: (UInt64, UInt64, UInt64)) -> (
  q: [Float], k: [Float], v: [Float], rows: Int
) {
  let s = c.shape
  let (blocks, d) = (s.batch * s.kvHeads, s.headDim)
  let k = sharedKeyRandom(blocks * c.capacity * d, seed: seeds.0)
  let v = sharedKeyRandom(blocks * c.capacity * d, seed: seeds.1)
  let q = sharedKeyRandom(s.batch * s.heads * s.queryLength * d, seed: seeds.2)
  return (q, k, v, s.batch * s.heads * s.queryLength)
}

/// A forward kernel over raw buffers: q, k, v, out, logSumExp.
typealias SharedKeyKernel = (
  UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>,
  UnsafeMutablePointer<Float>
) -> Void

/// Outputs and log-sum-exps of two kernels on the same random inputs for `c` (NaN-filled before each run).
func sharedKeyOutputs(
  _ c: SmallQueryCase, seeds: (UInt64, UInt64, UInt64), _ first: SharedKeyKernel, versus second: SharedKeyKernel
) -> (([Float], [Float]), ([Float], [Float])) {
  let (q, k, v, rows) = sharedKeyInputs(c, seeds: seeds)
  func run(_ kernel: SharedKeyKernel) -> ([Float], [Float]) {
    var out = [Float](repeating: .nan, count: rows * c.shape.headDim)
    var lse = [Float](repeating: .nan, count: rows)
    kernel(q, k, v, &out, &lse)
    return (out, lse)
  }
  return (run(first), run(second))
}

@Suite struct AttentionSharedKeyTests {
  static let cases: [SmallQueryCase] = [
    .init("verify Tq7 D64 cache", b: 1, h: 6, hkv: 6, tq: 7, tk: 300, d: 64, capacity: 400),
    .init("verify Tq3 D32 GQA B2", b: 2, h: 4, hkv: 2, tq: 3, tk: 130, d: 32, capacity: 150),
    .init("verify Tq9 D64 group 3", b: 1, h: 3, hkv: 1, tq: 9, tk: 200, d: 64),
    .init(
      "Tq5 window 20", b: 1, h: 2, hkv: 2, tq: 5, tk: 90, d: 16,
      mask: AttentionMask(causal: true, window: 20, queryOffset: 85)),
    .init(
      "rows before every key", b: 1, h: 2, hkv: 1, tq: 2, tk: 40, d: 16,
      mask: AttentionMask(causal: true, queryOffset: -1)),
    // One key/value head and thousands of keys: the keys are split into segments whose partial results merge.
    .init("segments Tq4 group 2", b: 1, h: 2, hkv: 1, tq: 4, tk: 3000, d: 64, capacity: 3100),
    .init(
      "segments, window inside the last", b: 1, h: 1, hkv: 1, tq: 3, tk: 2600, d: 32,
      mask: AttentionMask(causal: true, window: 90, queryOffset: 2597)),
  ]

  /// The shared-key kernel (reached through forward) against the reference on the same strided inputs.
  @Test(arguments: cases)
  func matchesReference(_ c: SmallQueryCase) {
    let s = c.shape
    #expect(Attention.usesSharedKeys(s, biased: false))
    let ((fast, fastLSE), (slow, slowLSE)) = sharedKeyOutputs(c, seeds: (3, 5, 9)) { q, k, v, out, lse in
      Attention.forward(q: q, k: k, v: v, out: out, logSumExp: lse, shape: s, mask: c.mask, bias: nil, scale: 0.3)
    } versus: { q, k, v, out, lse in
      Attention.forwardReference(
        q: q, k: k, v: v, out: out, logSumExp: lse, shape: s, mask: c.mask, bias: nil, scale: 0.3)
    }
    #expect(zip(fast, slow).allSatisfy { abs($0 - $1) < 3e-5 }, "out")
    #expect(zip(fastLSE, slowLSE).allSatisfy { $0 == $1 || abs($0 - $1) < 3e-5 }, "logSumExp")
  }
}

@Suite struct AttentionSharedKeyPlainPathTests {
  static let cases: [SmallQueryCase] = [
    .init("Tq7 D64 partial key tile", b: 1, h: 6, hkv: 6, tq: 7, tk: 1001, d: 64, capacity: 1100),
    .init("Tq4 D48 GQA group 2", b: 1, h: 4, hkv: 2, tq: 4, tk: 77, d: 48),
    .init("Tq2 D16 few keys", b: 2, h: 2, hkv: 2, tq: 2, tk: 17, d: 16),
  ]

  /// The shared-key kernel equals the row-at-a-time kernel (the decoding path) row for row.
  @Test(arguments: cases)
  func matchesRowAtATime(_ c: SmallQueryCase) {
    let s = c.shape
    #expect(Attention.usesSharedKeys(s, biased: false))
    let ((shared, sharedLSE), (plain, plainLSE)) = sharedKeyOutputs(c, seeds: (11, 13, 17)) { q, k, v, out, lse in
      Attention.forwardSharedKeys(q: q, k: k, v: v, out: out, logSumExp: lse, shape: s, mask: c.mask, scale: 0.125)
    } versus: { q, k, v, out, lse in
      Attention.forwardSmallQuery(
        q: q, k: k, v: v, out: out, logSumExp: lse, shape: s, mask: c.mask, bias: nil, scale: 0.125)
    }
    #expect(zip(shared, plain).allSatisfy { abs($0 - $1) < 2e-5 }, "out")
    #expect(zip(sharedLSE, plainLSE).allSatisfy { abs($0 - $1) < 2e-5 }, "logSumExp")
  }
}

@Suite struct AttentionFewRowTests {
  static let cases: [SmallQueryCase] = [
    .init("Tq3 D64 retrieval-sized cache", b: 1, h: 6, hkv: 6, tq: 3, tk: 4100, d: 64, capacity: 4200),
    .init("Tq2 D64 partial block", b: 1, h: 2, hkv: 2, tq: 2, tk: 77, d: 64),
    .init("Tq4 D48 keys not a multiple of 16", b: 2, h: 2, hkv: 2, tq: 4, tk: 203, d: 48, capacity: 210),
    .init("Tq2 D32 GQA group 2", b: 1, h: 4, hkv: 2, tq: 2, tk: 150, d: 32),
    .init("Tq3 D16 fewer keys than a block", b: 1, h: 1, hkv: 1, tq: 3, tk: 24, d: 16),
    .init(
      "Tq3 window 40", b: 1, h: 2, hkv: 2, tq: 3, tk: 300, d: 64,
      mask: AttentionMask(causal: true, window: 40, queryOffset: 297)),
    .init(
      "Tq2 rows before every key", b: 1, h: 2, hkv: 1, tq: 2, tk: 40, d: 16,
      mask: AttentionMask(causal: true, queryOffset: -1)),
    // One key/value head and thousands of keys: segments whose partial results merge.
    .init("segments Tq2 group 2", b: 1, h: 2, hkv: 1, tq: 2, tk: 3000, d: 64, capacity: 3100),
  ]

  /// Keys in lanes (the few-row kernel) and rows in lanes both equal the reference, for up to four rows per
  /// key/value head (every case is within ``FewRowAttention/maximumRows``, the cases `forward` sends to it).
  @Test(arguments: cases)
  func bothKernelsMatchReference(_ c: SmallQueryCase) {
    let s = c.shape
    #expect(Attention.usesSharedKeys(s, biased: false))
    #expect(s.group * s.queryLength <= FewRowAttention.maximumRows)
    for keysInLanes in [true, false] {
      let ((fast, fastLSE), (slow, slowLSE)) = sharedKeyOutputs(c, seeds: (21, 23, 29)) { q, k, v, out, lse in
        Attention.forwardSharedKeys(
          q: q, k: k, v: v, out: out, logSumExp: lse, shape: s, mask: c.mask, scale: 0.3, keysInLanes: keysInLanes)
      } versus: { q, k, v, out, lse in
        Attention.forwardReference(
          q: q, k: k, v: v, out: out, logSumExp: lse, shape: s, mask: c.mask, bias: nil, scale: 0.3)
      }
      #expect(zip(fast, slow).allSatisfy { abs($0 - $1) < 3e-5 }, "out, keys in lanes: \(keysInLanes)")
      #expect(
        zip(fastLSE, slowLSE).allSatisfy { $0 == $1 || abs($0 - $1) < 3e-5 },
        "logSumExp, keys in lanes: \(keysInLanes)")
    }
  }

  /// The shuffle tree puts each of 16 keys' dot product in its own lane, in key order.
  @Test func blockOfSixteenKeysIsInKeyOrder() {
    let d = 32
    let keys = (0..<(16 * d)).map { Float($0 % d == 0 ? $0 / d + 1 : 0) + Float($0 % 7) * 0.001 }
    let query = (0..<d).map { Float($0 == 0 ? 1 : 0.5) }
    let got = keys.withUnsafeBufferPointer { k in
      query.withUnsafeBufferPointer { q in
        FewRowAttention.block(k.baseAddress!, depth: d, query: q.baseAddress!, prefetching: nil)
      }
    }
    for j in 0..<16 {
      let want = (0..<d).reduce(Float(0)) { $0 + keys[j * d + $1] * query[$1] }
      #expect(abs(got[j] - want) < 1e-4, "key \(j): \(got[j]) vs \(want)")
    }
  }
}
