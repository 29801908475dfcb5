import CPrefetch

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// The forward pass for a few query rows (decoding, speculative verification): each query row reads
// its keys and values where they lie, e.g. in a KV cache, with no packing or tiling.

extension Attention {
  /// Query rows per head at or below which ``forward(q:k:v:out:logSumExp:shape:mask:bias:scale:)`` takes
  /// the row-at-a-time path.
  public static let smallQueryLength = 4

  /// The row-at-a-time forward pass; same contract as ``forward(q:k:v:out:logSumExp:shape:mask:bias:scale:)``
  /// (keys and values may sit `shape.kvHeadStride` apart), meant for a few query rows.
  public static func forwardSmallQuery(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>, shape: AttentionShape,
    mask: AttentionMask, bias: AttentionBias?, scale: Float
  ) {
    shape.validate()
    let items = shape.batch * shape.heads
    guard items * shape.queryLength > 0 else { return }
    // Decoding calls this once per layer and token with little work each time: the hot pool's
    // awake workers take chunks of (batch, head) items.
    let work = 4 * items * shape.queryLength * shape.keyLength * shape.headDim
    let chunks = max(1, min(items, work / (minimumParallelWork / 4), 4 * Parallel.threadCount))
    let pointers = UncheckedSendable((q, k, v, out, logSumExp))
    let biasBox = UncheckedSendable(bias)
    HotPool.run(chunks: chunks) { chunk in
      let range = (items * chunk / chunks)..<(items * (chunk + 1) / chunks)
      let (q, k, v, out, logSumExp) = pointers.value
      let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(shape.keyLength, 1))
      defer { scores.deallocate() }
      for item in range {
        let (b, h) = item.quotientAndRemainder(dividingBy: shape.heads)
        let kvOffset = (b * shape.kvHeads + h / shape.group) * shape.keyValueHeadStride
        for i in 0..<shape.queryLength {
          let row = item * shape.queryLength + i
          let (lo, hi) = mask.bounds(query: mask.queryOffset + i, keyLength: shape.keyLength)
          let biasRow = biasBox.value.map { $0.base + $0.offset(batch: b, head: h, row: i) }
          logSumExp[row] = SmallQueryAttention.row(
            q: q + row * shape.headDim, k: k + kvOffset, v: v + kvOffset, keys: lo..<max(lo, hi),
            depth: shape.headDim, bias: biasRow, scale: scale, scores: scores, out: out + row * shape.headDim)
        }
      }
    }
  }
}

/// One query row against its visible keys.
enum SmallQueryAttention {
  typealias V = SIMD16<Float>

  /// Writes the attention output of one query row to `out` (zeros when no key is visible) and returns
  /// the natural-log sum of exponentials of its scores (-inf when no key is visible).
  ///
  /// Columns past the last multiple of 16 (all of them when D < 16) are read as one vector per key:
  /// a whole 16-float load that runs into the next key's row, with the extra lanes zeroed, wherever
  /// that row is still inside `keys`; a lane-by-lane load for the last few keys.
  @inline(__always)
  static func row(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, keys: Range<Int>, depth d: Int,
    bias: UnsafePointer<Float>?, scale: Float, scores: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>
  ) -> Float {
    let vectorEnd = d & ~15
    let tail = d - vectorEnd
    let lanes = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
    let outside = lanes .>= SIMD16<Int32>(repeating: Int32(tail))
    // Keys below this one can load a whole vector at the tail without leaving the last key's row.
    let limit = keys.upperBound * d - vectorEnd - 16
    let wholeTailEnd = limit < 0 ? keys.lowerBound : max(keys.lowerBound, min(keys.upperBound, limit / d + 1))
    @inline(__always) func tailVector(_ row: UnsafePointer<Float>, key j: Int) -> V {
      if j < wholeTailEnd {
        var x = load(row + vectorEnd)
        x.replace(with: 0, where: outside)
        return x
      }
      return AttentionTile.loadPartial(row + vectorEnd, count: tail)
    }
    let qTail = tail > 0 ? AttentionTile.loadPartial(q + vectorEnd, count: tail) : V()
    // Scores and their maximum, two keys per step (two independent FMA chains).
    var best = -Float.infinity
    var j = keys.lowerBound
    while j < keys.upperBound {
      let pair = j + 1 < keys.upperBound
      let key0 = k + j * d
      let key1 = pair ? key0 + d : key0
      var (a0, a1) = (V(), V())
      var c = 0
      let ahead = key0 + 16 * d
      while c < vectorEnd {
        frontier_prefetch(ahead + 2 * c)
        let qv = load(q + c)
        a0.addProduct(qv, load(key0 + c))
        a1.addProduct(qv, load(key1 + c))
        c += 16
      }
      if tail > 0 {
        a0.addProduct(qTail, tailVector(key0, key: j))
        a1.addProduct(qTail, tailVector(key1, key: pair ? j + 1 : j))
      }
      var s0 = AttentionTile.horizontalSum(a0) * scale
      var s1 = AttentionTile.horizontalSum(a1) * scale
      if let bias {
        s0 += bias[j]
        if pair { s1 += bias[j + 1] }
      }
      scores[j] = s0
      best = max(best, s0)
      if pair {
        scores[j + 1] = s1
        best = max(best, s1)
      }
      j += 2
    }
    if best == -.infinity {
      out.update(repeating: 0, count: d)
      return -.infinity
    }
    // Probabilities (unnormalised) and their sum.
    let shift = V(repeating: best)
    var total = V()
    j = keys.lowerBound
    while j + 16 <= keys.upperBound {
      let p = VectorMath.exp(load(scores + j) - shift)
      store(p, to: scores + j)
      total += p
      j += 16
    }
    var sum = AttentionTile.horizontalSum(total)
    while j < keys.upperBound {
      let p = VectorMath.exp(scores[j] - best)
      scores[j] = p
      sum += p
      j += 1
    }
    // Weighted sum of values: up to four 16-column vectors per pass over the keys (independent FMA chains).
    let inverse = 1 / sum
    var c = 0
    while c < vectorEnd {
      let width = min(4, (vectorEnd - c) / 16)
      var (a0, a1, a2, a3) = (V(), V(), V(), V())
      var row = v + keys.lowerBound * d + c
      for j in keys {
        frontier_prefetch(row + 16 * d)
        let p = V(repeating: scores[j])
        a0.addProduct(p, load(row))
        if width > 1 { a1.addProduct(p, load(row + 16)) }
        if width > 2 { a2.addProduct(p, load(row + 32)) }
        if width > 3 { a3.addProduct(p, load(row + 48)) }
        row += d
      }
      store(a0 * inverse, to: out + c)
      if width > 1 { store(a1 * inverse, to: out + c + 16) }
      if width > 2 { store(a2 * inverse, to: out + c + 32) }
      if width > 3 { store(a3 * inverse, to: out + c + 48) }
      c += 16 * width
    }
    if tail > 0 {
      var (a0, a1) = (V(), V())
      j = keys.lowerBound
      while j + 1 < keys.upperBound {
        a0.addProduct(V(repeating: scores[j]), tailVector(v + j * d, key: j))
        a1.addProduct(V(repeating: scores[j + 1]), tailVector(v + (j + 1) * d, key: j + 1))
        j += 2
      }
      if j < keys.upperBound { a0.addProduct(V(repeating: scores[j]), tailVector(v + j * d, key: j)) }
      let a = (a0 + a1) * inverse
      for lane in 0..<tail { out[vectorEnd + lane] = a[lane] }
    }
    return best + Float(log(Double(sum)))
  }

  @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }

  @inline(__always) static func store(_ x: V, to p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: x, as: V.self)
  }

  @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }
}
