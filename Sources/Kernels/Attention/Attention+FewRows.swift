import CPrefetch

// Speculative verification with only a few query rows per key/value head, e.g. TriForce's middle level
// checking two drafted tokens against a retrieval cache of a few thousand rows. The rows-in-lanes kernel
// (``SharedKeyAttention``) spends D broadcast multiply-adds per key however few rows fill its 16 lanes,
// which makes three rows cost twice one when the cache sits in the last-level cache. Here keys sit in the
// lanes instead: a row's products with 16 keys are summed together by a tree of shuffles, so a key costs
// about D/16 multiply-adds per row plus a share of the tree. The first row reads a tile's keys from memory,
// the other rows find them in the first-level cache; the tile's values multiply all rows' probabilities at
// once (the attention tile product, each value row loaded once).

/// One key/value head against a few query rows (at most ``maximumRows``), keys in vector lanes; the same
/// contract, segments and destinations as ``SharedKeyAttention/item(_:segment:of:q:k:v:destination:shape:mask:scale:)``.
enum FewRowAttention {
  typealias V = SIMD16<Float>
  /// Most rows per key/value head this kernel serves: beyond four the rows-in-lanes kernel is as fast in
  /// cache and hides memory better (`frontier bench --only verify`).
  static let maximumRows = 4
  /// Keys per tile (a multiple of 16).
  static let keyTile = Attention.keyTile

  static func item(
    _ item: Int, segment: Int, of segments: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
    v: UnsafePointer<Float>, destination: SharedKeyAttention.Destination, shape: AttentionShape,
    mask: AttentionMask, scale: Float
  ) {
    let (t, d) = (shape.queryLength, shape.headDim)
    let rows = shape.group * t
    let keys = k + item * shape.keyValueHeadStride
    let values = v + item * shape.keyValueHeadStride
    let unit = SharedKeyAttention.Unit(item: item, segment: segment, of: segments, shape: shape, mask: mask)
    let (global, bounds) = (unit.global, unit.bounds)
    let (segmentStart, segmentEnd) = (unit.keys.lowerBound, unit.keys.upperBound)
    // Scaled queries [rows, D], weighted value sums [padded, D], one tile of probabilities per row
    // [padded, keyTile]. The rows are padded to four, the value product's block height; padding rows keep
    // zero probabilities and are never delivered.
    let padded = (rows + 3) & ~3
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: rows * d + padded * (d + keyTile))
    defer { scratch.deallocate() }
    let (queries, sums, scores) = (scratch, scratch + rows * d, scratch + rows * d + padded * d)
    for r in 0..<rows {
      let source = q + global[r] * d
      for c in 0..<d { queries[r * d + c] = source[c] * scale }
    }
    sums.update(repeating: 0, count: padded * (d + keyTile))
    var best = [Float](repeating: -.infinity, count: rows)
    var total = [Float](repeating: 0, count: rows)
    var tile = segmentStart
    while tile < segmentEnd {
      let count = min(keyTile, segmentEnd - tile)
      // The next tile's keys and values (this one's for the last tile) move in while the first row works.
      let next = tile + count < segmentEnd ? tile + count : tile
      for r in 0..<rows {
        let row = scores + r * keyTile
        rowScores(
          keys + tile * d, count: count, depth: d, query: queries + r * d, into: row,
          prefetching: (keys + next * d, values + next * d), row: r, of: rows)
        let (lo, hi) = bounds[r]
        if tile < lo || tile + count > hi {
          for j in 0..<count where tile + j < lo || tile + j >= hi { row[j] = -.infinity }
        }
        let correction = softmaxStep(row, count: count, best: &best[r], total: &total[r])
        if correction != 1 {
          AttentionTile.scaledCopy(sums + r * d, to: sums + r * d, count: d, factor: correction)
        }
      }
      // Every row's probabilities times the tile's values, each value row read once for four rows.
      AttentionTile.multiply(
        rows: padded, vectors: d / 16, depth: count, a: scores, aRowStride: keyTile, aDepthStride: 1,
        b: values + tile * d, bRowStride: d, c: sums, cRowStride: d, accumulate: true)
      tile += count
    }
    for r in 0..<rows {
      unit.deliver(r, sums: sums + r * d, best: best[r], total: total[r], depth: d, to: destination)
    }
  }

  /// Row `r`'s scores against `count` keys (at most ``keyTile``): `s[j] = Σ_c k[j·depth + c] · q[c]`, then
  /// -inf up to the next multiple of 16. Whole blocks of 16 keys are reduced by ``block(_:depth:query:)``.
  @inline(__always)
  static func rowScores(
    _ k: UnsafePointer<Float>, count: Int, depth d: Int, query q: UnsafePointer<Float>,
    into s: UnsafeMutablePointer<Float>, prefetching next: (keys: UnsafePointer<Float>, values: UnsafePointer<Float>),
    row r: Int, of rows: Int
  ) {
    // The next tile's prefetches are spread over the first rows (block b by row b mod rows), so that
    // memory keeps streaming while the other rows compute.
    let sharers = min(rows, keyTile / 16)
    var j = 0
    while j + 16 <= count {
      let ahead = (j / 16) % sharers == r ? (next.keys + j * d, next.values + j * d) : nil
      // A literal head width of 64 (the common one) lets the dot products unroll.
      let scores =
        d == 64
        ? block(k + j * 64, depth: 64, query: q, prefetching: ahead)
        : block(k + j * d, depth: d, query: q, prefetching: ahead)
      store(scores, to: s + j)
      j += 16
    }
    while j < count {
      s[j] = AttentionTile.horizontalSum(dot(k + j * d, depth: d, query: q))
      j += 1
    }
    while j & 15 != 0 {
      s[j] = -.infinity
      j += 1
    }
  }

  /// The lane-wise products of one key row with the query, summed over the row's 16-float pieces.
  @inline(__always)
  static func dot(_ key: UnsafePointer<Float>, depth d: Int, query q: UnsafePointer<Float>) -> V {
    var a = load(q) * load(key)
    var c = 16
    while c < d {
      a.addProduct(load(q + c), load(key + c))
      c += 16
    }
    return a
  }

  /// The scores of 16 consecutive keys as one vector, in key order.
  ///
  /// Sixteen lane-wise products are summed by four levels of two-input shuffles and adds, each level
  /// halving the lanes per key. The levels leave lane 4i + j holding slot i + 4j, so slot s is given key
  /// s/4 + 4·(s mod 4) (the same permutation), and the lanes come out in key order.
  @inline(__always)
  static func block(
    _ k: UnsafePointer<Float>, depth d: Int, query q: UnsafePointer<Float>,
    prefetching ahead: (keys: UnsafePointer<Float>, values: UnsafePointer<Float>)?
  ) -> V {
    @inline(__always) func key(_ j: Int) -> V {
      if let ahead {
        // The same key's row of the next tile, keys and values, one cache line at a time.
        var c = 0
        while c < d {
          frontier_prefetch(ahead.keys + j * d + c)
          frontier_prefetch(ahead.values + j * d + c)
          c += 16
        }
      }
      return dot(k + j * d, depth: d, query: q)
    }
    let eights0 = frontier_sum_halves(key(0), key(4))
    let eights1 = frontier_sum_halves(key(8), key(12))
    let eights2 = frontier_sum_halves(key(1), key(5))
    let eights3 = frontier_sum_halves(key(9), key(13))
    let eights4 = frontier_sum_halves(key(2), key(6))
    let eights5 = frontier_sum_halves(key(10), key(14))
    let eights6 = frontier_sum_halves(key(3), key(7))
    let eights7 = frontier_sum_halves(key(11), key(15))
    let fours0 = frontier_sum_quarters(eights0, eights1)
    let fours1 = frontier_sum_quarters(eights2, eights3)
    let fours2 = frontier_sum_quarters(eights4, eights5)
    let fours3 = frontier_sum_quarters(eights6, eights7)
    return frontier_sum_singles(frontier_sum_pairs(fours0, fours1), frontier_sum_pairs(fours2, fours3))
  }

  /// One tile of one row's online softmax over `s` (padded with -inf to a multiple of 16): raises `best`
  /// to the tile's maximum, replaces the scores by their exponentials relative to it, rescales `total` and
  /// adds the tile's sum. Returns the factor by which the row's earlier weighted sums must be rescaled.
  @inline(__always)
  static func softmaxStep(_ s: UnsafeMutablePointer<Float>, count: Int, best: inout Float, total: inout Float)
    -> Float
  {
    let padded = (count + 15) & ~15
    var m = V(repeating: best)
    var j = 0
    while j < padded {
      m = SharedKeyAttention.larger(m, load(s + j))
      j += 16
    }
    let maximum = AttentionTile.horizontalMax(m)
    // A row that has seen no key yet keeps -inf; shifting it by 0 keeps exp(-inf) = 0.
    let shift = maximum == -.infinity ? 0 : maximum
    let correction = VectorMath.exp(best - shift)
    var sum = V()
    j = 0
    while j < padded {
      let p = VectorMath.exp(load(s + j) - V(repeating: shift))
      store(p, to: s + j)
      sum += p
      j += 16
    }
    total = total * correction + AttentionTile.horizontalSum(sum)
    best = maximum
    return correction
  }

  @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V { AttentionTile.load(p) }

  @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> V { AttentionTile.load(p) }

  @inline(__always) static func store(_ x: V, to p: UnsafeMutablePointer<Float>) { AttentionTile.store(x, to: p) }
}
