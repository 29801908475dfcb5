#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// The forward pass for a handful of query rows over a long key/value cache (speculative verification):
// every key and value row is loaded once for all query rows that read it (the rows of all query heads of
// one key/value head), so checking k drafted tokens costs about as much memory traffic as one.

extension Attention {
  /// Most query rows per key/value head that ``forwardSharedKeys(q:k:v:out:logSumExp:shape:mask:scale:)``
  /// serves.
  public static let sharedKeyRows = 32

  /// Whether the shared-key path serves `shape` (no bias, head width a multiple of 16, 2...32 rows per
  /// key/value head, and keys enough to make the traffic matter).
  static func usesSharedKeys(_ shape: AttentionShape, biased: Bool) -> Bool {
    let rows = shape.group * shape.queryLength
    return !biased && shape.headDim % 16 == 0 && shape.queryLength > 1 && rows <= sharedKeyRows
      && shape.keyLength >= 8 * shape.queryLength
  }

  /// The shared-key forward pass; same contract as ``forward(q:k:v:out:logSumExp:shape:mask:bias:scale:)``
  /// without a bias (keys and values may sit `shape.kvHeadStride` apart). Needs a head width that is a
  /// multiple of 16.
  public static func forwardSharedKeys(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>, shape: AttentionShape,
    mask: AttentionMask, scale: Float
  ) {
    shape.validate()
    precondition(shape.headDim % 16 == 0, "forwardSharedKeys needs a head width that is a multiple of 16")
    let items = shape.batch * shape.kvHeads
    guard items * shape.queryLength > 0 else { return }
    let work = 4 * items * shape.group * shape.queryLength * shape.keyLength * shape.headDim
    let chunks = max(1, min(items, work / (minimumParallelWork / 4), 4 * Parallel.threadCount))
    let pointers = UncheckedSendable((q, k, v, out, logSumExp))
    HotPool.run(chunks: chunks) { chunk in
      let (q, k, v, out, logSumExp) = pointers.value
      for item in (items * chunk / chunks)..<(items * (chunk + 1) / chunks) {
        SharedKeyAttention.item(
          item, q: q, k: k, v: v, out: out, logSumExp: logSumExp, shape: shape, mask: mask, scale: scale)
      }
    }
  }
}

/// One key/value head against all of its query rows.
enum SharedKeyAttention {
  typealias V = SIMD16<Float>
  /// Key rows per tile (64 rows of width 64 take 16 KB, so a tile stays in L1 while every query row reads it).
  static let keyTile = 64

  static func item(
    _ item: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>, shape: AttentionShape,
    mask: AttentionMask, scale: Float
  ) {
    let (b, g) = item.quotientAndRemainder(dividingBy: shape.kvHeads)
    let (t, d, group) = (shape.queryLength, shape.headDim, shape.group)
    let rows = group * t
    let keys = k + item * shape.keyValueHeadStride
    let values = v + item * shape.keyValueHeadStride
    // Local row r = m * t + i is query i of head g * group + m; its global row is (b H + h) T + i.
    let global = (0..<rows).map { r in (b * shape.heads + g * group + r / t) * t + r % t }
    let bounds = (0..<rows).map { r in mask.bounds(query: mask.queryOffset + r % t, keyLength: shape.keyLength) }
    let first = bounds.map(\.lo).min() ?? 0
    let end = max(first, bounds.map(\.hi).max() ?? 0)
    let span = end - first
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(1, rows * span))
    let queries = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
    let sums = UnsafeMutablePointer<Float>.allocate(capacity: rows * d)
    defer {
      scores.deallocate()
      queries.deallocate()
      sums.deallocate()
    }
    for r in 0..<rows { (queries + r * d).update(from: q + global[r] * d, count: d) }
    // Scores: a tile of key rows is read from memory once and dotted with every query row from cache.
    var tile = first
    while tile < end {
      let tileEnd = min(end, tile + keyTile)
      for r in 0..<rows {
        let row = queries + r * d
        let (lo, hi) = bounds[r]
        let s = scores + r * span - first
        for j in tile..<tileEnd {
          guard j >= lo && j < hi else {
            s[j] = -.infinity
            continue
          }
          let key = keys + j * d
          var acc = V()
          var c = 0
          while c < d {
            acc.addProduct(load(row + c), load(key + c))
            c += 16
          }
          s[j] = AttentionTile.horizontalSum(acc) * scale
        }
      }
      tile = tileEnd
    }
    // Per row: subtract the maximum, exponentiate, sum.
    var inverse = [Float](repeating: 0, count: rows)
    for r in 0..<rows {
      let s = scores + r * span
      var best = -Float.infinity
      for j in 0..<span { best = max(best, s[j]) }
      if best == -.infinity {
        s.update(repeating: 0, count: span)
        logSumExp[global[r]] = -.infinity
        continue
      }
      var total: Float = 0
      var j = 0
      let shift = V(repeating: best)
      var vectorTotal = V()
      while j + 16 <= span {
        let p = VectorMath.exp(load(s + j) - shift)
        store(p, to: s + j)
        vectorTotal += p
        j += 16
      }
      total = AttentionTile.horizontalSum(vectorTotal)
      while j < span {
        let p = VectorMath.exp(s[j] - best)
        s[j] = p
        total += p
        j += 1
      }
      inverse[r] = 1 / total
      logSumExp[global[r]] = best + Float(log(Double(total)))
    }
    // Weighted values: a tile of value rows is read from memory once and added into every row's sum.
    sums.update(repeating: 0, count: rows * d)
    tile = first
    while tile < end {
      let tileEnd = min(end, tile + keyTile)
      for r in 0..<rows {
        let p = scores + r * span - first
        let acc = sums + r * d
        var c = 0
        while c < d {
          // Up to four 16-column accumulators in registers over the tile.
          let width = min(4, (d - c) / 16)
          var (a0, a1, a2, a3) = (load(acc + c), V(), V(), V())
          if width > 1 { a1 = load(acc + c + 16) }
          if width > 2 { a2 = load(acc + c + 32) }
          if width > 3 { a3 = load(acc + c + 48) }
          for j in tile..<tileEnd {
            let weight = V(repeating: p[j])
            let value = values + j * d + c
            a0.addProduct(weight, load(value))
            if width > 1 { a1.addProduct(weight, load(value + 16)) }
            if width > 2 { a2.addProduct(weight, load(value + 32)) }
            if width > 3 { a3.addProduct(weight, load(value + 48)) }
          }
          store(a0, to: acc + c)
          if width > 1 { store(a1, to: acc + c + 16) }
          if width > 2 { store(a2, to: acc + c + 32) }
          if width > 3 { store(a3, to: acc + c + 48) }
          c += 16 * width
        }
      }
      tile = tileEnd
    }
    for r in 0..<rows {
      let target = out + global[r] * d
      let w = V(repeating: inverse[r])
      var c = 0
      while c < d {
        store(load(sums + r * d + c) * w, to: target + c)
        c += 16
      }
    }
  }

  @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }

  @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }

  @inline(__always) static func store(_ x: V, to p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: x, as: V.self)
  }
}
