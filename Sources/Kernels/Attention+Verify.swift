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
///
/// Scores are a small matrix product per tile of 64 keys: the tile is transposed once into 64-wide
/// columns and the query rows (padded to a multiple of four, so every row block keeps a 4×64 score block
/// in registers) are multiplied against it. The weighted values are a second product over tiles of
/// value rows, each read from memory once and reused from cache by the second row block.
enum SharedKeyAttention {
  typealias V = SIMD16<Float>
  /// Key rows per transposed tile (the width of ``AttentionTile/packTransposed(_:rows:columns:into:)``).
  static let keyTile = Attention.keyTile
  /// Value rows per step of the weighted sum (64 KB at width 64, so the tile stays in L2 for every row block).
  static let valueTile = 256

  static func item(
    _ item: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>, shape: AttentionShape,
    mask: AttentionMask, scale: Float
  ) {
    let (b, g) = item.quotientAndRemainder(dividingBy: shape.kvHeads)
    let (t, d, group) = (shape.queryLength, shape.headDim, shape.group)
    let rows = group * t
    let padded = (rows + 3) & ~3
    let keys = k + item * shape.keyValueHeadStride
    let values = v + item * shape.keyValueHeadStride
    // Local row r = m * t + i is query i of head g * group + m; its global row is (b H + h) T + i.
    let global = (0..<rows).map { r in (b * shape.heads + g * group + r / t) * t + r % t }
    let bounds = (0..<rows).map { r in mask.bounds(query: mask.queryOffset + r % t, keyLength: shape.keyLength) }
    let first = bounds.map(\.lo).min() ?? 0
    let end = max(first, bounds.map(\.hi).max() ?? 0)
    let span = end - first
    let stride = (span + keyTile - 1) / keyTile * keyTile
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(1, padded * stride))
    let queries = UnsafeMutablePointer<Float>.allocate(capacity: padded * d)
    let sums = UnsafeMutablePointer<Float>.allocate(capacity: padded * d)
    let packed = UnsafeMutablePointer<Float>.allocate(capacity: keyTile * d)
    let staged = UnsafeMutablePointer<Float>.allocate(capacity: 16 * d)
    defer {
      staged.deallocate()
      scores.deallocate()
      queries.deallocate()
      sums.deallocate()
      packed.deallocate()
    }
    queries.update(repeating: 0, count: padded * d)
    for r in 0..<rows { AttentionTile.scaledCopy(q + global[r] * d, to: queries + r * d, count: d, factor: scale) }
    // Scores: each tile of key rows is read from memory once, transposed, and multiplied by every query row.
    var tile = first
    while tile < end {
      let count = min(keyTile, end - tile)
      transpose(keys + tile * d, rows: count, width: d, into: packed, staged: staged)
      AttentionTile.multiply(
        rows: padded, vectors: keyTile / 16, depth: d, a: queries, aRowStride: d, aDepthStride: 1, b: packed,
        bRowStride: keyTile, c: scores + (tile - first), cRowStride: stride, accumulate: false)
      tile += count
    }
    // Per row: hide keys it does not see, subtract the maximum, exponentiate, sum.
    var inverse = [Float](repeating: 0, count: padded)
    for r in 0..<padded {
      let s = scores + r * stride
      guard r < rows else {
        s.update(repeating: 0, count: span)
        continue
      }
      let lo = max(bounds[r].lo, first) - first
      let hi = min(bounds[r].hi, end) - first
      guard lo < hi else {
        s.update(repeating: 0, count: span)
        logSumExp[global[r]] = -.infinity
        continue
      }
      s.update(repeating: 0, count: lo)
      (s + hi).update(repeating: 0, count: span - hi)
      let (best, total) = exponentiate(s + lo, count: hi - lo)
      inverse[r] = 1 / total
      logSumExp[global[r]] = best + Float(log(Double(total)))
    }
    // Weighted values: tiles of value rows, each read from memory once for all rows.
    sums.update(repeating: 0, count: padded * d)
    tile = 0
    while tile < span {
      let count = min(valueTile, span - tile)
      AttentionTile.multiply(
        rows: padded, vectors: d / 16, depth: count, a: scores + tile, aRowStride: stride, aDepthStride: 1,
        b: values + (first + tile) * d, bRowStride: d, c: sums, cRowStride: d, accumulate: true)
      tile += count
    }
    for r in 0..<rows {
      AttentionTile.scaledCopy(sums + r * d, to: out + global[r] * d, count: d, factor: inverse[r])
    }
  }

  /// Writes `rows` (at most ``keyTile``) key rows of `width` floats (a multiple of 16) transposed into `dst`:
  /// `dst[c * keyTile + r] = src[r * width + c]`, zeros for rows past `rows`. Whole groups of 16 rows are
  /// transposed in registers; a partial group goes through `staged`, zero padded.
  static func transpose(
    _ src: UnsafePointer<Float>, rows: Int, width: Int, into dst: UnsafeMutablePointer<Float>,
    staged: UnsafeMutablePointer<Float>
  ) {
    var r0 = 0
    while r0 < keyTile {
      var block = src + r0 * width
      if r0 + 16 > rows {
        // Rows past the end are zeros (their scores are never read, but they must stay finite).
        let real = max(0, rows - r0)
        staged.update(from: block, count: real * width)
        (staged + real * width).update(repeating: 0, count: (16 - real) * width)
        block = UnsafePointer(staged)
      }
      var c0 = 0
      while c0 < width {
        RegisterBlock16(rows: block + c0, width: width).transposed()
          .store(to: dst + c0 * keyTile + r0, dstStride: keyTile)
        c0 += 16
      }
      r0 += 16
    }
  }

  /// Replaces `s[0..<count]` by exp(s − max) and returns the maximum and the sum of the exponentials.
  static func exponentiate(_ s: UnsafeMutablePointer<Float>, count: Int) -> (best: Float, total: Float) {
    var best = -Float.infinity
    var j = 0
    var vectorBest = V(repeating: -.infinity)
    while j + 16 <= count {
      vectorBest = pointwiseMax(vectorBest, load(s + j))
      j += 16
    }
    best = AttentionTile.horizontalMax(vectorBest)
    while j < count {
      best = max(best, s[j])
      j += 1
    }
    let shift = V(repeating: best)
    var vectorTotal = V()
    j = 0
    while j + 16 <= count {
      let p = VectorMath.exp(load(s + j) - shift)
      store(p, to: s + j)
      vectorTotal += p
      j += 16
    }
    var total = AttentionTile.horizontalSum(vectorTotal)
    while j < count {
      let p = VectorMath.exp(s[j] - best)
      s[j] = p
      total += p
      j += 1
    }
    return (best, total)
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

/// Sixteen vectors held in registers: a 16×16 block of floats, row i in `x<i>`.
struct RegisterBlock16 {
  typealias V = SIMD16<Float>
  var x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, x11, x12, x13, x14, x15: V

  /// Rows `src + i * width` (16 floats each).
  @inline(__always) init(rows src: UnsafePointer<Float>, width: Int) {
    self.init(
      x0: Self.load(src + 0 * width),
      x1: Self.load(src + 1 * width),
      x2: Self.load(src + 2 * width),
      x3: Self.load(src + 3 * width),
      x4: Self.load(src + 4 * width),
      x5: Self.load(src + 5 * width),
      x6: Self.load(src + 6 * width),
      x7: Self.load(src + 7 * width),
      x8: Self.load(src + 8 * width),
      x9: Self.load(src + 9 * width),
      x10: Self.load(src + 10 * width),
      x11: Self.load(src + 11 * width),
      x12: Self.load(src + 12 * width),
      x13: Self.load(src + 13 * width),
      x14: Self.load(src + 14 * width),
      x15: Self.load(src + 15 * width))
  }

  @inline(__always) init(
    x0: V, x1: V, x2: V, x3: V, x4: V, x5: V, x6: V, x7: V, x8: V, x9: V, x10: V, x11: V, x12: V, x13: V, x14: V, x15: V
  ) {
    self.x0 = x0
    self.x1 = x1
    self.x2 = x2
    self.x3 = x3
    self.x4 = x4
    self.x5 = x5
    self.x6 = x6
    self.x7 = x7
    self.x8 = x8
    self.x9 = x9
    self.x10 = x10
    self.x11 = x11
    self.x12 = x12
    self.x13 = x13
    self.x14 = x14
    self.x15 = x15
  }

  @inline(__always) static func pair(_ a: V, _ b: V) -> (V, V) {
    (V(lowHalf: a.evenHalf, highHalf: b.evenHalf), V(lowHalf: a.oddHalf, highHalf: b.oddHalf))
  }

  /// One round pairs rows (2i, 2i+1) into even and odd halves, rotating the row and column index bits by one
  /// place; four rounds transpose the block.
  @inline(__always) static func round(_ b: inout RegisterBlock16) {
    let (e0, o0) = pair(b.x0, b.x1)
    let (e1, o1) = pair(b.x2, b.x3)
    let (e2, o2) = pair(b.x4, b.x5)
    let (e3, o3) = pair(b.x6, b.x7)
    let (e4, o4) = pair(b.x8, b.x9)
    let (e5, o5) = pair(b.x10, b.x11)
    let (e6, o6) = pair(b.x12, b.x13)
    let (e7, o7) = pair(b.x14, b.x15)
    b.x0 = e0
    b.x1 = e1
    b.x2 = e2
    b.x3 = e3
    b.x4 = e4
    b.x5 = e5
    b.x6 = e6
    b.x7 = e7
    b.x8 = o0
    b.x9 = o1
    b.x10 = o2
    b.x11 = o3
    b.x12 = o4
    b.x13 = o5
    b.x14 = o6
    b.x15 = o7
  }

  /// The transposed block.
  @inline(__always) func transposed() -> RegisterBlock16 {
    var b = self
    Self.round(&b)
    Self.round(&b)
    Self.round(&b)
    Self.round(&b)
    return b
  }

  /// Writes row i to `dst + i * dstStride`.
  @inline(__always) func store(to dst: UnsafeMutablePointer<Float>, dstStride: Int) {
    let b = self
    store(b.x0, to: dst + 0 * dstStride)
    store(b.x1, to: dst + 1 * dstStride)
    store(b.x2, to: dst + 2 * dstStride)
    store(b.x3, to: dst + 3 * dstStride)
    store(b.x4, to: dst + 4 * dstStride)
    store(b.x5, to: dst + 5 * dstStride)
    store(b.x6, to: dst + 6 * dstStride)
    store(b.x7, to: dst + 7 * dstStride)
    store(b.x8, to: dst + 8 * dstStride)
    store(b.x9, to: dst + 9 * dstStride)
    store(b.x10, to: dst + 10 * dstStride)
    store(b.x11, to: dst + 11 * dstStride)
    store(b.x12, to: dst + 12 * dstStride)
    store(b.x13, to: dst + 13 * dstStride)
    store(b.x14, to: dst + 14 * dstStride)
    store(b.x15, to: dst + 15 * dstStride)
  }

  @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }

  @inline(__always) func store(_ x: V, to p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: x, as: V.self)
  }
}
