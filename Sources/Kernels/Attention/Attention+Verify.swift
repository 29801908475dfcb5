import CPrefetch

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
    let rows = shape.group * shape.queryLength
    forwardSharedKeys(
      q: q, k: k, v: v, out: out, logSumExp: logSumExp, shape: shape, mask: mask, scale: scale,
      keysInLanes: rows <= FewRowAttention.maximumRows)
  }

  /// The shared-key forward pass with its kernel chosen: keys in vector lanes (``FewRowAttention``, less
  /// arithmetic for a few rows) or query rows in lanes (``SharedKeyAttention``).
  static func forwardSharedKeys(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>, shape: AttentionShape,
    mask: AttentionMask, scale: Float, keysInLanes: Bool
  ) {
    shape.validate()
    precondition(shape.headDim % 16 == 0, "forwardSharedKeys needs a head width that is a multiple of 16")
    let items = shape.batch * shape.kvHeads
    guard items * shape.queryLength > 0 else { return }
    let rows = shape.group * shape.queryLength
    // With fewer key/value heads than threads, each head's keys are cut into segments whose partial
    // results (running maximum, sum and weighted values per row) are merged at the end.
    let tiles = (shape.keyLength + keyTile - 1) / keyTile
    let wanted = (2 * Parallel.threadCount + items - 1) / items
    let segments = max(1, min(wanted, tiles / SharedKeyAttention.tilesPerSegment))
    let units = items * segments
    let work = 4 * items * rows * shape.keyLength * shape.headDim
    let chunks = max(1, min(units, work / (minimumParallelWork / 4), 4 * Parallel.threadCount))
    let partialWidth = shape.headDim + 2
    let partials =
      segments > 1 ? UnsafeMutablePointer<Float>.allocate(capacity: units * rows * partialWidth) : nil
    defer { partials?.deallocate() }
    let pointers = UncheckedSendable((q, k, v, out, logSumExp, partials))
    HotPool.run(chunks: chunks) { chunk in
      let (q, k, v, out, logSumExp, partials) = pointers.value
      for unit in (units * chunk / chunks)..<(units * (chunk + 1) / chunks) {
        let (item, segment) = unit.quotientAndRemainder(dividingBy: segments)
        let destination: SharedKeyAttention.Destination =
          partials.map { .partial($0 + unit * rows * partialWidth) } ?? .output(out, logSumExp)
        if keysInLanes {
          FewRowAttention.item(
            item, segment: segment, of: segments, q: q, k: k, v: v, destination: destination, shape: shape,
            mask: mask, scale: scale)
        } else {
          SharedKeyAttention.item(
            item, segment: segment, of: segments, q: q, k: k, v: v, destination: destination, shape: shape,
            mask: mask, scale: scale)
        }
      }
    }
    if let partials {
      SharedKeyAttention.merge(
        partials, segments: segments, rows: rows, out: out, logSumExp: logSumExp, shape: shape)
    }
  }
}

/// One key/value head against all of its query rows, in one pass over its keys and values.
///
/// The query rows sit in vector lanes (up to 16 per group): each key row read from memory is broadcast
/// element by element against the transposed queries, so a tile of 64 keys yields its scores as 64
/// vectors of per-row scores with no transposition. Lane-wise maxima and sums keep every row's online
/// softmax (running maximum and sum); the probabilities then multiply the tile's value rows into the
/// running weighted sums. Scores never leave the first-level cache, and the key and value streams are read
/// side by side, once for all rows.
enum SharedKeyAttention {
  typealias V = SIMD16<Float>
  typealias Lanes = SIMD16<Int32>
  /// Keys per tile.
  static let keyTile = Attention.keyTile
  /// Query rows per lane group.
  static let lanes = 16
  /// Fewest key tiles per segment when a head's keys are split between threads.
  static let tilesPerSegment = 16

  /// Where a unit's rows go: the final output, or a record per row `[maximum, sum, weighted values (D)]`
  /// for ``merge(_:segments:rows:out:logSumExp:shape:)``.
  enum Destination {
    case output(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>)
    case partial(UnsafeMutablePointer<Float>)
  }

  static func item(
    _ item: Int, segment: Int, of segments: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
    v: UnsafePointer<Float>, destination: Destination, shape: AttentionShape, mask: AttentionMask, scale: Float
  ) {
    let (t, d, group) = (shape.queryLength, shape.headDim, shape.group)
    let rows = group * t
    let groups = (rows + lanes - 1) / lanes
    let keys = k + item * shape.keyValueHeadStride
    let values = v + item * shape.keyValueHeadStride
    let unit = Unit(item: item, segment: segment, of: segments, shape: shape, mask: mask)
    let (global, bounds) = (unit.global, unit.bounds)
    let (segmentStart, segmentEnd) = (unit.keys.lowerBound, unit.keys.upperBound)
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: keyTile * lanes)
    let queries = UnsafeMutablePointer<Float>.allocate(capacity: groups * d * lanes)
    let sums = UnsafeMutablePointer<Float>.allocate(capacity: groups * lanes * d)
    defer {
      scores.deallocate()
      queries.deallocate()
      sums.deallocate()
    }
    // Queries transposed per group: element (c, lane) at c * 16 + lane; lanes past the rows are zero.
    queries.update(repeating: 0, count: groups * d * lanes)
    sums.update(repeating: 0, count: groups * lanes * d)
    for r in 0..<rows {
      let (grp, lane) = r.quotientAndRemainder(dividingBy: lanes)
      let src = q + global[r] * d
      for c in 0..<d { queries[(grp * d + c) * lanes + lane] = src[c] * scale }
    }
    // Visible key range per lane; lanes past the rows see everything (their scores are zero and unused).
    var lows = [Lanes](repeating: Lanes(repeating: .min), count: groups)
    var highs = [Lanes](repeating: Lanes(repeating: .max), count: groups)
    for r in 0..<rows {
      let (grp, lane) = r.quotientAndRemainder(dividingBy: lanes)
      lows[grp][lane] = Int32(bounds[r].lo)
      highs[grp][lane] = Int32(bounds[r].hi)
    }
    var best = [V](repeating: V(repeating: -.infinity), count: groups)
    var total = [V](repeating: V(), count: groups)
    var tile = segmentStart
    while tile < segmentEnd {
      let count = min(keyTile, segmentEnd - tile)
      // The next tile's keys and values (this one's for the last tile) move in while this one is computed.
      let next = tile + count < segmentEnd ? tile + count : tile
      for grp in 0..<groups {
        let live = min(lanes, rows - grp * lanes)
        scoresTransposed(
          keys + tile * d, count: count, depth: d, queries: queries + grp * d * lanes, into: scores,
          prefetching: (keys + next * d, values + next * d))
        let whole = Int32(tile) >= lows[grp].max() && Int32(tile + count) <= highs[grp].min()
        if !whole { hide(scores, count: count, firstKey: tile, lows: lows[grp], highs: highs[grp]) }
        let correction = softmaxStep(scores, count: count, best: &best[grp], total: &total[grp])
        if correction != V(repeating: 1) {
          for lane in 0..<live where correction[lane] != 1 {
            let row = sums + (grp * lanes + lane) * d
            AttentionTile.scaledCopy(row, to: row, count: d, factor: correction[lane])
          }
        }
        AttentionTile.multiply(
          rows: (live + 3) & ~3, vectors: d / 16, depth: count, a: scores, aRowStride: 1, aDepthStride: lanes,
          b: values + tile * d, bRowStride: d, c: sums + grp * lanes * d, cRowStride: d, accumulate: true)
      }
      tile += count
    }
    for r in 0..<rows {
      let (grp, lane) = r.quotientAndRemainder(dividingBy: lanes)
      unit.deliver(r, sums: sums + r * d, best: best[grp][lane], total: total[grp][lane], depth: d, to: destination)
    }
  }

  /// The rows of one key/value head and the keys one segment of them reads, shared by both shared-key kernels.
  struct Unit {
    /// The global row of each local row.
    let global: [Int]
    /// The visible keys of each local row.
    let bounds: [(lo: Int, hi: Int)]
    /// This segment's keys: its share of whole tiles from the first visible key, cut at the last.
    let keys: Range<Int>

    init(item: Int, segment: Int, of segments: Int, shape: AttentionShape, mask: AttentionMask) {
      let (t, rows) = (shape.queryLength, shape.group * shape.queryLength)
      global = (0..<rows).map { SharedKeyAttention.globalRow($0, item: item, shape: shape) }
      bounds = (0..<rows).map { r in mask.bounds(query: mask.queryOffset + r % t, keyLength: shape.keyLength) }
      let first = bounds.map(\.lo).min() ?? 0
      let end = max(first, bounds.map(\.hi).max() ?? 0)
      let tiles = (end - first + keyTile - 1) / keyTile
      let start = first + tiles * segment / segments * keyTile
      keys = start..<max(start, min(end, first + tiles * (segment + 1) / segments * keyTile))
    }

    /// Writes local row `r` (weighted sums `sums`, running maximum and sum) to `destination`: the finished
    /// output row and log-sum-exp, or the segment's record `[maximum, sum, sums]`.
    func deliver(
      _ r: Int, sums: UnsafeMutablePointer<Float>, best: Float, total: Float, depth d: Int, to destination: Destination
    ) {
      switch destination {
      case .output(let out, let logSumExp):
        finish(sums, best: best, total: total, depth: d, out: out + global[r] * d, logSumExp: logSumExp + global[r])
      case .partial(let records):
        let record = records + r * (d + 2)
        record[0] = best
        record[1] = total
        (record + 2).update(from: sums, count: d)
      }
    }
  }

  /// Scores of `count` key rows (at most ``keyTile``) against the transposed queries `qt` ([depth][16]):
  /// `s[j * 16 + lane] = Σ_c k[j * depth + c] · qt[c * 16 + lane]`. Eight keys per step keep eight
  /// independent FMA chains in flight. Each step also prefetches the same rows of the next tile's keys and
  /// values (one cache line per two FMA rounds), so that the memory streams keep moving during the arithmetic.
  @inline(__always)
  static func scoresTransposed(
    _ k: UnsafePointer<Float>, count: Int, depth d: Int, queries qt: UnsafePointer<Float>,
    into s: UnsafeMutablePointer<Float>, prefetching next: (keys: UnsafePointer<Float>, values: UnsafePointer<Float>)
  ) {
    var j = 0
    while j + 8 <= count {
      // One pointer per key row, all advanced together (no index arithmetic in the loop).
      var r = k + j * d
      var x = qt
      let end = qt + d * lanes
      var (nextKeys, nextValues) = (next.keys + j * d, next.values + j * d)
      var (a0, a1, a2, a3, a4, a5, a6, a7) = (V(), V(), V(), V(), V(), V(), V(), V())
      let (d2, d3, d4, d5, d6, d7) = (2 * d, 3 * d, 4 * d, 5 * d, 6 * d, 7 * d)
      while x < end {
        let column = load(x)
        a0.addProduct(V(repeating: r[0]), column)
        a1.addProduct(V(repeating: r[d]), column)
        a2.addProduct(V(repeating: r[d2]), column)
        a3.addProduct(V(repeating: r[d3]), column)
        a4.addProduct(V(repeating: r[d4]), column)
        a5.addProduct(V(repeating: r[d5]), column)
        a6.addProduct(V(repeating: r[d6]), column)
        a7.addProduct(V(repeating: r[d7]), column)
        // Eight rows of d floats are d / 2 cache lines per stream: one line of each every second round.
        if (x - qt) & lanes == 0 {
          frontier_prefetch(nextKeys)
          frontier_prefetch(nextValues)
          nextKeys += 16
          nextValues += 16
        }
        r += 1
        x += lanes
      }
      let out = s + j * lanes
      store(a0, to: out)
      store(a1, to: out + lanes)
      store(a2, to: out + 2 * lanes)
      store(a3, to: out + 3 * lanes)
      store(a4, to: out + 4 * lanes)
      store(a5, to: out + 5 * lanes)
      store(a6, to: out + 6 * lanes)
      store(a7, to: out + 7 * lanes)
      j += 8
    }
    while j < count {
      let r = k + j * d
      var a = V()
      for c in 0..<d { a.addProduct(V(repeating: r[c]), load(qt + c * lanes)) }
      store(a, to: s + j * lanes)
      j += 1
    }
  }

  /// Sets the score of key `firstKey + j` to -inf in every lane whose visible range `lows..<highs` misses it.
  static func hide(
    _ s: UnsafeMutablePointer<Float>, count: Int, firstKey: Int, lows: Lanes, highs: Lanes
  ) {
    for j in 0..<count {
      let key = Lanes(repeating: Int32(firstKey + j))
      var x = load(s + j * lanes)
      x.replace(with: -.infinity, where: (key .< lows) .| (key .>= highs))
      store(x, to: s + j * lanes)
    }
  }

  /// One tile of the online softmax, lane by lane: raises the running maximum `best` to the tile's,
  /// replaces the scores by their exponentials relative to it, rescales the running sum `total` and adds
  /// the tile's. Returns the factor by which earlier weighted sums must be rescaled (1 where the maximum
  /// held, 0 where nothing was visible before).
  @inline(__always)
  static func softmaxStep(_ s: UnsafeMutablePointer<Float>, count: Int, best: inout V, total: inout V) -> V {
    var m = best
    for j in 0..<count { m = larger(m, load(s + j * lanes)) }
    // Lanes that have seen no key yet keep -inf; shifting them by 0 keeps exp(-inf) = 0.
    var shift = m
    shift.replace(with: 0, where: m .== V(repeating: -.infinity))
    let correction = VectorMath.exp(best - shift)
    var sum = V()
    for j in 0..<count {
      let p = VectorMath.exp(load(s + j * lanes) - shift)
      store(p, to: s + j * lanes)
      sum += p
    }
    total = total * correction + sum
    best = m
    return correction
  }

  /// The lane-wise maximum (the standard library's generic `pointwiseMax` is not specialised here).
  @inline(__always) static func larger(_ a: V, _ b: V) -> V {
    var m = a
    m.replace(with: b, where: b .> a)
    return m
  }

  /// Combines the per-segment records of ``item(_:segment:of:q:k:v:destination:shape:mask:scale:)`` into
  /// the output rows and their log-sum-exp.
  static func merge(
    _ partials: UnsafeMutablePointer<Float>, segments: Int, rows: Int, out: UnsafeMutablePointer<Float>,
    logSumExp: UnsafeMutablePointer<Float>, shape: AttentionShape
  ) {
    let d = shape.headDim
    let width = d + 2
    for item in 0..<(shape.batch * shape.kvHeads) {
      for r in 0..<rows {
        let global = globalRow(r, item: item, shape: shape)
        let record = { (segment: Int) in partials + ((item * segments + segment) * rows + r) * width }
        let best = (0..<segments).map { record($0)[0] }.max() ?? -.infinity
        // Weighted sums rescaled to the common maximum, accumulated in the output row.
        let target = out + global * d
        target.update(repeating: 0, count: d)
        var total: Float = 0
        for segment in 0..<segments {
          let row = record(segment)
          guard row[0] > -.infinity else { continue }
          let factor = VectorMath.exp(row[0] - best)
          total += row[1] * factor
          for c in 0..<d { target[c] += row[2 + c] * factor }
        }
        finish(target, best: best, total: total, depth: d, out: target, logSumExp: logSumExp + global)
      }
    }
  }

  /// The global row of local row `r` of key/value head `item`: local row r = m · T + i is query i of head
  /// g · group + m, at (b · H + h) · T + i.
  @inline(__always) static func globalRow(_ r: Int, item: Int, shape: AttentionShape) -> Int {
    let (b, g) = item.quotientAndRemainder(dividingBy: shape.kvHeads)
    let t = shape.queryLength
    return (b * shape.heads + g * shape.group + r / t) * t + r % t
  }

  /// Writes one finished row: the weighted sums over their softmax total, and the log-sum-exp; zeros and
  /// -inf when the row saw no key (total 0). `sums` may be `out` itself.
  @inline(__always) static func finish(
    _ sums: UnsafePointer<Float>, best: Float, total: Float, depth d: Int, out: UnsafeMutablePointer<Float>,
    logSumExp: UnsafeMutablePointer<Float>
  ) {
    guard total > 0 else {
      out.update(repeating: 0, count: d)
      logSumExp.pointee = -.infinity
      return
    }
    AttentionTile.scaledCopy(sums, to: out, count: d, factor: 1 / total)
    logSumExp.pointee = best + Float(log(Double(total)))
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
