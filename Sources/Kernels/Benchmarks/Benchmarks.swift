import CBLAS

/// Raw reference measurements for `frontier bench`, made below the tensor API.
public enum KernelBenchmarks {
  /// Runs `body` once to warm up, then `repeats` times, and returns the best time in seconds.
  public static func bestTime(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    let clock = ContinuousClock()
    for _ in 0..<max(1, repeats) {
      let start = clock.now
      body()
      let d = clock.now - start
      best = min(best, d.seconds)
    }
    return best
  }

  /// Best time of one direct `cblas_sgemm` call on n x n x n row-major matrices, with OpenBLAS's own
  /// threading over ``Parallel/threadCount`` threads.
  public static func rawSGEMMSeconds(size n: Int, repeats: Int) -> Double {
    let a = Buffer(byteCount: n * n * 4, zeroed: true)
    let b = Buffer(byteCount: n * n * 4, zeroed: true)
    let c = Buffer(byteCount: n * n * 4, zeroed: true)
    let pa = a.pointer(as: Float.self)
    let pb = b.pointer(as: Float.self)
    Elementwise.fill(pa, value: 0.01, count: n * n)
    Elementwise.fill(pb, value: 0.02, count: n * n)
    openblas_set_num_threads(Int32(Parallel.threadCount))
    defer { openblas_set_num_threads(1) }
    return bestTime(repeats: repeats) {
      cblas_sgemm(
        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, pa, Int32(n), pb, Int32(n), 0,
        c.pointer(as: Float.self), Int32(n))
    }
  }
}

extension KernelBenchmarks {
  /// Best times of a one-row ``Gemv`` over an n x k weight matrix and of a plain parallel read of the
  /// same bytes (a sum, the bandwidth ceiling any matrix-vector product can reach), in alternation.
  public static func gemvAndReadSeconds(rows n: Int, columns k: Int, repeats: Int) -> (gemv: Double, read: Double) {
    let w = Buffer(byteCount: n * k * 4, zeroed: true)
    let x = Buffer(byteCount: k * 4, zeroed: true)
    let y = Buffer(byteCount: n * 4, zeroed: true)
    let pw = w.pointer(as: Float.self)
    Elementwise.fill(pw, value: 0.01, count: n * k)
    Elementwise.fill(x.pointer(as: Float.self), value: 0.5, count: k)
    let total = n * k
    let chunks = max(1, min(total / Gemv.parallelGrain, 8 * Parallel.threadCount))
    let sums = Buffer(byteCount: chunks * 64, zeroed: true)
    let shared = UncheckedSendable(pw)
    let out = UncheckedSendable(sums.pointer(as: Float.self))
    var gemv = Double.infinity
    var read = Double.infinity
    for _ in 0..<3 {
      gemv = min(
        gemv,
        bestTime(repeats: repeats) {
          Gemv.multiplyTransposed(
            m: 1, n: n, k: k, x: x.pointer(as: Float.self), ldx: k, w: pw, ldw: k, y: y.pointer(as: Float.self),
            ldy: n)
        })
      read = min(
        read,
        bestTime(repeats: repeats) {
          HotPool.run(chunks: chunks) { chunk in
            let lo = (total * chunk / chunks) & ~63
            let hi = chunk == chunks - 1 ? total : (total * (chunk + 1) / chunks) & ~63
            var (a0, a1, a2, a3) = (Gemv.V(), Gemv.V(), Gemv.V(), Gemv.V())
            var p = shared.value + lo
            let end = shared.value + hi
            while p < end {
              a0 += Gemv.load(p)
              a1 += Gemv.load(p + 16)
              a2 += Gemv.load(p + 32)
              a3 += Gemv.load(p + 48)
              p += 64
            }
            out.value[chunk * 16] = (a0 + a1 + a2 + a3).sum()
          }
        })
    }
    return (gemv, read)
  }
}

extension Duration {
  /// The duration in seconds.
  public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

extension KernelBenchmarks {
  /// Best times of causal attention for each of `rowCounts` new query rows per head against the caches of
  /// `layers` layers of `keyLength` rows each ([1, heads, keyLength, depth], small random keys and values),
  /// measured in alternation: what one speculative verification pass of k tokens spends in attention,
  /// against one decoding step. Several layers make the caches outgrow the last-level cache, as in a model.
  /// `keysInLanes` forces the kernel for rows > 1 (true: ``FewRowAttention``, false: the rows-in-lanes
  /// ``SharedKeyAttention``); nil lets ``Attention/forward(q:k:v:out:logSumExp:shape:mask:bias:scale:)`` choose.
  public static func cacheAttentionSeconds(
    rowCounts: [Int], layers: Int, keyLength: Int, heads: Int, depth: Int, repeats: Int, keysInLanes: Bool? = nil
  ) -> [Double] {
    let cacheCount = layers * heads * keyLength * depth
    let k = Buffer(byteCount: cacheCount * 4, zeroed: true)
    let v = Buffer(byteCount: cacheCount * 4, zeroed: true)
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    for p in [k.pointer(as: Float.self), v.pointer(as: Float.self)] {
      for i in 0..<cacheCount {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        p[i] = Float(Int32(truncatingIfNeeded: state >> 32)) * (0.01 / Float(Int32.max))
      }
    }
    let most = rowCounts.max() ?? 1
    let q = Buffer(byteCount: heads * most * depth * 4, zeroed: true)
    Elementwise.fill(q.pointer(as: Float.self), value: 0.1, count: heads * most * depth)
    let out = Buffer(byteCount: heads * most * depth * 4, zeroed: true)
    let logSumExp = Buffer(byteCount: heads * most * 4, zeroed: true)
    var best = [Double](repeating: .infinity, count: rowCounts.count)
    for _ in 0..<3 {
      for (index, rows) in rowCounts.enumerated() {
        let shape = AttentionShape(
          batch: 1, heads: heads, kvHeads: heads, queryLength: rows, keyLength: keyLength, headDim: depth)
        let mask = AttentionMask(causal: true, queryOffset: keyLength - rows)
        best[index] = min(
          best[index],
          bestTime(repeats: repeats) {
            for layer in 0..<layers {
              let offset = layer * heads * keyLength * depth
              let (kl, vl) = (k.pointer(as: Float.self) + offset, v.pointer(as: Float.self) + offset)
              let (o, l) = (out.pointer(as: Float.self), logSumExp.pointer(as: Float.self))
              let scale = 1 / Float(depth).squareRoot()
              if let keysInLanes, rows > 1 {
                Attention.forwardSharedKeys(
                  q: q.pointer(as: Float.self), k: kl, v: vl, out: o, logSumExp: l, shape: shape, mask: mask,
                  scale: scale, keysInLanes: keysInLanes)
              } else {
                Attention.forward(
                  q: q.pointer(as: Float.self), k: kl, v: vl, out: o, logSumExp: l, shape: shape, mask: mask,
                  bias: nil, scale: scale)
              }
            }
          })
      }
    }
    return best
  }
}
