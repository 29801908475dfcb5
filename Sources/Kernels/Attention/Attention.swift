#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Fused scaled-dot-product attention, FlashAttention-2 style: the score matrix is never materialised.
// B batch, H query heads, Hkv key/value heads, Tq query rows, Tk keys, D head dimension.
// Query head h reads key/value head h / (H / Hkv) (grouped-query attention).

/// Which keys a query may see. Positions are absolute: query row i has position `queryOffset + i`,
/// key j has position j.
///
/// All enabled conditions must hold. For every query the visible keys form one contiguous range
/// (see ``visibleKeys(query:keyLength:)``), which is what lets the fused kernels skip whole tiles.
public struct AttentionMask: Sendable {
  /// Keys after the query are hidden: key position <= query position.
  public var causal: Bool
  /// Sliding window: a key is visible when query position - key position < window.
  public var window: Int?
  /// Block sliding window: a query in block `qb = qpos / blockSize` sees keys in blocks
  /// `qb - blocksBack ... qb` (with ``causal`` additionally applied inside).
  public var blockSize: Int?
  /// How many earlier blocks a block sees; 0 gives a chunked block-diagonal mask.
  public var blocksBack: Int
  /// Position of query row 0 (for a KV prefix the caller usually passes keyLength - queryLength).
  public var queryOffset: Int

  /// Creates a mask; the default sees every key.
  public init(
    causal: Bool = false, window: Int? = nil, blockSize: Int? = nil, blocksBack: Int = 0, queryOffset: Int = 0
  ) {
    precondition(window.map { $0 >= 0 } ?? true, "attention window must be non-negative")
    precondition(blockSize.map { $0 > 0 } ?? true, "attention block size must be positive")
    precondition(blocksBack >= 0, "blocksBack must be non-negative")
    self.causal = causal
    self.window = window
    self.blockSize = blockSize
    self.blocksBack = blocksBack
    self.queryOffset = queryOffset
  }

  /// Whether query position `qpos` may see key position `kpos`.
  @inlinable public func allows(query qpos: Int, key kpos: Int) -> Bool {
    if causal && kpos > qpos { return false }
    if let window, qpos - kpos >= window { return false }
    if let blockSize {
      let queryBlock = Self.floorDivide(qpos, blockSize)
      let keyBlock = Self.floorDivide(kpos, blockSize)
      if keyBlock > queryBlock || keyBlock < queryBlock - blocksBack { return false }
    }
    return true
  }

  /// The key positions in `0..<keyLength` that query position `qpos` may see (possibly empty).
  @inlinable public func visibleKeys(query qpos: Int, keyLength: Int) -> Range<Int> {
    let (lo, hi) = bounds(query: qpos, keyLength: keyLength)
    return lo < hi ? lo..<hi : 0..<0
  }

  /// Visible keys as `lo..<hi` clamped to `0...keyLength`; empty when `lo >= hi`. Both ends are
  /// non-decreasing in `qpos`.
  @inlinable func bounds(query qpos: Int, keyLength: Int) -> (lo: Int, hi: Int) {
    var lo = 0
    var hi = keyLength
    if causal { hi = min(hi, qpos + 1) }
    if let window { lo = max(lo, qpos - window + 1) }
    if let blockSize {
      let queryBlock = Self.floorDivide(qpos, blockSize)
      lo = max(lo, (queryBlock - blocksBack) * blockSize)
      hi = min(hi, (queryBlock + 1) * blockSize)
    }
    return (min(max(lo, 0), keyLength), max(hi, 0))
  }

  @inlinable static func floorDivide(_ a: Int, _ b: Int) -> Int {
    a >= 0 ? a / b : -((b - 1 - a) / b)
  }
}

/// An optional additive bias added to the scores before softmax, broadcast over batch and/or heads:
/// element (b, h, i, j) is at `base[b * batchStride + h * headStride + i * rowStride + j]` (strides may be 0).
public struct AttentionBias: @unchecked Sendable {
  /// Element (0, 0, 0, 0).
  public var base: UnsafePointer<Float>
  /// Distance between batches (0 to broadcast over the batch).
  public var batchStride: Int
  /// Distance between query heads (0 to broadcast over heads).
  public var headStride: Int
  /// Distance between query rows (0 to broadcast over rows).
  public var rowStride: Int

  /// Describes a bias tensor by its base pointer and strides; keys are contiguous.
  public init(base: UnsafePointer<Float>, batchStride: Int, headStride: Int, rowStride: Int) {
    self.base = base
    self.batchStride = batchStride
    self.headStride = headStride
    self.rowStride = rowStride
  }

  @inline(__always) func offset(batch b: Int, head h: Int, row i: Int) -> Int {
    b * batchStride + h * headStride + i * rowStride
  }
}

/// The sizes of one attention call.
public struct AttentionShape: Sendable {
  /// B, the batch size.
  public var batch: Int
  /// H, the number of query heads.
  public var heads: Int
  /// Hkv, the number of key/value heads; `heads` must be a multiple of it.
  public var kvHeads: Int
  /// Tq, query rows per head.
  public var queryLength: Int
  /// Tk, keys per head.
  public var keyLength: Int
  /// D, the head dimension (any positive value; multiples of 16 are fastest).
  public var headDim: Int
  /// Elements between consecutive (batch, kv head) blocks of k and v, or nil for `keyLength * headDim`
  /// (contiguous). A larger stride reads views of a preallocated cache [B, Hkv, capacity, D] without a copy.
  /// Only ``Attention/forward(q:k:v:out:logSumExp:shape:mask:bias:scale:)`` and its reference accept it.
  public var kvHeadStride: Int?

  /// Creates a shape.
  public init(
    batch: Int, heads: Int, kvHeads: Int, queryLength: Int, keyLength: Int, headDim: Int, kvHeadStride: Int? = nil
  ) {
    self.batch = batch
    self.heads = heads
    self.kvHeads = kvHeads
    self.queryLength = queryLength
    self.keyLength = keyLength
    self.headDim = headDim
    self.kvHeadStride = kvHeadStride
  }

  /// Elements between consecutive (batch, kv head) blocks of k and v.
  var keyValueHeadStride: Int { kvHeadStride ?? keyLength * headDim }
  /// Whether k and v are dense [B, Hkv, Tk, D].
  var hasContiguousKeyValues: Bool { keyValueHeadStride == keyLength * headDim }

  /// Query heads per key/value head.
  var group: Int { heads / kvHeads }
  /// The head dimension rounded up to a multiple of 16.
  var paddedHeadDim: Int { (headDim + 15) & ~15 }
  /// Key tiles per key/value head.
  var keyTiles: Int { (keyLength + Attention.keyTile - 1) / Attention.keyTile }
  /// Query tiles per query head.
  var queryTiles: Int { (queryLength + Attention.queryTile - 1) / Attention.queryTile }

  func validate() {
    precondition(batch >= 0 && heads >= 0 && queryLength >= 0 && keyLength >= 0, "negative attention size")
    precondition(headDim > 0, "attention head dimension must be positive")
    precondition(kvHeads > 0 && heads % kvHeads == 0, "heads (\(heads)) must be a multiple of kvHeads (\(kvHeads))")
    precondition(kvHeadStride.map { $0 >= 0 } ?? true, "attention kvHeadStride must be non-negative")
  }
}

/// Fused scaled-dot-product attention: `softmax(scale * q kᵀ + bias, masked) v`, forward and backward.
///
/// The kernels stream 64-key tiles past 64-row query tiles with an online softmax, so memory stays
/// O(T·D); tiles that the mask hides completely are skipped. They never call BLAS, so they may run
/// while other kernels' parallel regions are idle.
public enum Attention {
  /// Query rows per tile.
  static let queryTile = 64
  /// Keys per tile (the S tile is `queryTile × keyTile`, four SIMD16 vectors per row).
  static let keyTile = 64
  /// Roughly the floating-point work worth giving a thread of its own.
  static let minimumParallelWork = 1 << 18

  /// Computes `out` and the per-row natural-log `logSumExp` of the masked, biased, scaled scores.
  ///
  /// q: [B, H, Tq, D], k and v: [B, Hkv, Tk, D], out: [B, H, Tq, D], logSumExp: [B, H, Tq]; all contiguous,
  /// except that (batch, kv head) blocks of k and v may lie `shape.kvHeadStride` elements apart.
  /// Rows with no visible key produce zeros and logSumExp = -inf.
  public static func forward(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>, shape: AttentionShape,
    mask: AttentionMask, bias: AttentionBias?, scale: Float
  ) {
    shape.validate()
    let rowCount = shape.batch * shape.heads * shape.queryLength
    if rowCount == 0 { return }
    if shape.batch * shape.kvHeads * shape.keyLength == 0 {
      out.update(repeating: 0, count: rowCount * shape.headDim)
      logSumExp.update(repeating: -.infinity, count: rowCount)
      return
    }
    if usesSharedKeys(shape, biased: bias != nil) {
      forwardSharedKeys(q: q, k: k, v: v, out: out, logSumExp: logSumExp, shape: shape, mask: mask, scale: scale)
      return
    }
    if shape.queryLength <= smallQueryLength {
      forwardSmallQuery(
        q: q, k: k, v: v, out: out, logSumExp: logSumExp, shape: shape, mask: mask, bias: bias, scale: scale)
      return
    }
    let pack = AttentionKeyValuePack(k: k, v: v, shape: shape)
    let plan = AttentionForwardPlan(
      q: q, keys: pack.keys, values: pack.values, valueHeadStride: pack.valueHeadStride,
      valueRowStride: pack.valueRowStride, out: out,
      logSumExp: logSumExp, shape: shape, mask: mask, bias: bias, scale: scale)
    let items = shape.batch * shape.heads * shape.queryTiles
    let workPerItem = 4 * queryTile * shape.keyLength * shape.headDim
    let grain = max(1, minimumParallelWork / max(workPerItem, 1))
    Parallel.forChunks(count: items, grain: grain) { range in
      let scratch = AttentionForwardScratch(paddedHeadDim: shape.paddedHeadDim)
      defer { scratch.deallocate() }
      for item in range { plan.run(item: item, scratch: scratch) }
    }
    withExtendedLifetime(pack) {}
  }
}

/// Keys transposed into `[B, Hkv, keyTiles, D, 64]` tiles (zero padded) for the S = Q·Kᵀ products, and
/// values padded to 16-float rows when D is not a multiple of 16 (the P·V products load whole vectors).
final class AttentionKeyValuePack {
  let storage: Buffer
  let keys: UnsafePointer<Float>
  let values: UnsafePointer<Float>
  /// Elements between the value blocks of consecutive (batch, kv head) pairs.
  let valueHeadStride: Int
  let valueRowStride: Int

  init(k: UnsafePointer<Float>, v: UnsafePointer<Float>, shape: AttentionShape) {
    let d = shape.headDim
    let dp = shape.paddedHeadDim
    let heads = shape.batch * shape.kvHeads
    let headSize = shape.keyLength * d
    let headStride = shape.keyValueHeadStride
    let keyFloats = shape.keyTiles * d * Attention.keyTile
    let valueFloats = d == dp ? 0 : shape.keyLength * dp
    storage = Buffer(byteCount: heads * (keyFloats + valueFloats) * MemoryLayout<Float>.stride)
    let base = storage.pointer(as: Float.self)
    let valueBase = base + heads * keyFloats
    keys = UnsafePointer(base)
    values = d == dp ? v : UnsafePointer(valueBase)
    valueRowStride = dp
    valueHeadStride = d == dp ? headStride : shape.keyLength * dp
    Parallel.forChunks(count: heads, grain: max(1, Attention.minimumParallelWork / max(headSize, 1))) { range in
      for head in range {
        AttentionTile.packTransposed(
          k + head * headStride, rows: shape.keyLength, columns: d, into: base + head * keyFloats)
        if d != dp {
          AttentionTile.packPadded(
            v + head * headStride, rows: shape.keyLength, columns: d, into: valueBase + head * valueFloats)
        }
      }
    }
  }
}

/// Per-thread working memory of the forward kernel.
struct AttentionForwardScratch {
  let scores: UnsafeMutablePointer<Float>  // queryTile × keyTile, S then P
  let accumulator: UnsafeMutablePointer<Float>  // queryTile × Dp, unnormalised output rows
  let rowMax: UnsafeMutablePointer<Float>
  let rowSum: UnsafeMutablePointer<Float>
  let lo: UnsafeMutablePointer<Int>
  let hi: UnsafeMutablePointer<Int>

  init(paddedHeadDim dp: Int) {
    let rows = Attention.queryTile
    scores = .allocate(capacity: rows * Attention.keyTile)
    scores.initialize(repeating: 0, count: rows * Attention.keyTile)
    accumulator = .allocate(capacity: rows * dp)
    accumulator.initialize(repeating: 0, count: rows * dp)
    rowMax = .allocate(capacity: rows)
    rowSum = .allocate(capacity: rows)
    lo = .allocate(capacity: rows)
    hi = .allocate(capacity: rows)
  }

  func deallocate() {
    scores.deallocate()
    accumulator.deallocate()
    rowMax.deallocate()
    rowSum.deallocate()
    lo.deallocate()
    hi.deallocate()
  }
}

/// Everything one forward work item (batch, head, query tile) needs.
struct AttentionForwardPlan {
  let q: UnsafePointer<Float>
  let keys: UnsafePointer<Float>
  let values: UnsafePointer<Float>
  let valueHeadStride: Int
  let valueRowStride: Int
  let out: UnsafeMutablePointer<Float>
  let logSumExp: UnsafeMutablePointer<Float>
  let shape: AttentionShape
  let mask: AttentionMask
  let bias: AttentionBias?
  let scale: Float

  typealias V = SIMD16<Float>

  func run(item: Int, scratch: AttentionForwardScratch) {
    let tiles = shape.queryTiles
    let (bh, qt) = item.quotientAndRemainder(dividingBy: tiles)
    let (b, h) = bh.quotientAndRemainder(dividingBy: shape.heads)
    let kvHead = b * shape.kvHeads + h / shape.group
    let d = shape.headDim
    let dp = shape.paddedHeadDim
    let tk = shape.keyLength
    let r0 = qt * Attention.queryTile
    let rows = min(Attention.queryTile, shape.queryLength - r0)
    let rowBase = bh * shape.queryLength + r0
    let qTile = q + rowBase * d
    let s = scratch.scores
    let acc = scratch.accumulator
    let kt = Attention.keyTile

    var firstKey = tk
    var endKey = 0
    for i in 0..<rows {
      let (lo, hi) = mask.bounds(query: mask.queryOffset + r0 + i, keyLength: tk)
      scratch.lo[i] = lo
      scratch.hi[i] = hi
      if lo < hi {
        firstKey = min(firstKey, lo)
        endKey = max(endKey, hi)
      }
      scratch.rowMax[i] = -.infinity
      scratch.rowSum[i] = 0
    }
    acc.update(repeating: 0, count: rows * dp)

    var tile = firstKey / kt
    while tile * kt < endKey {
      defer { tile += 1 }
      let j0 = tile * kt
      let keyCount = min(kt, tk - j0)
      // 16-row slices only touch the key vectors some row of theirs sees (about half of a diagonal tile).
      for slice in stride(from: 0, to: rows, by: 16) {
        let sliceRows = min(16, rows - slice)
        let span = AttentionTile.visibleSpan(
          lo: scratch.lo, hi: scratch.hi, rows: slice..<(slice + sliceRows), keys: j0..<(j0 + keyCount))
        if span.isEmpty { continue }
        let v0 = (span.lowerBound - j0) / 16
        let v1 = (span.upperBound - j0 + 15) / 16
        AttentionTile.multiply(
          rows: sliceRows, vectors: v1 - v0, depth: d, a: qTile + slice * d, aRowStride: d, aDepthStride: 1,
          b: keys + (kvHead * shape.keyTiles + tile) * d * kt + 16 * v0, bRowStride: kt,
          c: s + slice * kt + 16 * v0, cRowStride: kt, accumulate: false)
        for i in slice..<(slice + sliceRows) {
          softmaxRow(i: i, b: b, h: h, row: r0 + i, j0: j0, keyCount: keyCount, vectors: v0..<v1, scratch: scratch)
        }
        let k0 = 16 * v0
        let k1 = min(16 * v1, keyCount)
        AttentionTile.multiply(
          rows: sliceRows, vectors: dp / 16, depth: k1 - k0, a: s + slice * kt + k0, aRowStride: kt,
          aDepthStride: 1, b: values + kvHead * valueHeadStride + (j0 + k0) * valueRowStride,
          bRowStride: valueRowStride, c: acc + slice * dp, cRowStride: dp, accumulate: true)
      }
    }

    for i in 0..<rows {
      let dst = out + (rowBase + i) * d
      let l = scratch.rowSum[i]
      if l > 0 {
        AttentionTile.scaledCopy(acc + i * dp, to: dst, count: d, factor: 1 / l)
        logSumExp[rowBase + i] = scratch.rowMax[i] + Float(log(Double(l)))
      } else {
        dst.update(repeating: 0, count: d)
        logSumExp[rowBase + i] = -.infinity
      }
    }
  }

  /// Turns row `i` of the score tile into probabilities relative to the running maximum and rescales the
  /// row's output accumulator (the online-softmax step).
  @inline(__always)
  private func softmaxRow(
    i: Int, b: Int, h: Int, row: Int, j0: Int, keyCount: Int, vectors: Range<Int>, scratch: AttentionForwardScratch
  ) {
    let srow = scratch.scores + i * Attention.keyTile
    let lo = scratch.lo[i]
    let hi = scratch.hi[i]
    if lo >= hi || lo >= j0 + keyCount || hi <= j0 {
      for vi in vectors { AttentionTile.store(V(), to: srow + 16 * vi) }
      return
    }
    let biasRow = bias.map { $0.base + $0.offset(batch: b, head: h, row: row) + j0 }
    var best = V(repeating: -.infinity)
    for vi in vectors {
      var x = AttentionTile.load(srow + 16 * vi) * scale
      if let biasRow { x += AttentionTile.loadPartial(biasRow + 16 * vi, count: keyCount - 16 * vi) }
      AttentionTile.hide(&x, firstKey: j0 + 16 * vi, lo: lo, hi: hi)
      AttentionTile.store(x, to: srow + 16 * vi)
      best.replace(with: x, where: x .> best)
    }
    let oldMax = scratch.rowMax[i]
    let newMax = max(oldMax, AttentionTile.horizontalMax(best))
    if newMax == -.infinity {
      for vi in vectors { AttentionTile.store(V(), to: srow + 16 * vi) }
      return
    }
    let shift = V(repeating: newMax)
    var total = V()
    for vi in vectors {
      let p = VectorMath.exp(AttentionTile.load(srow + 16 * vi) - shift)
      AttentionTile.store(p, to: srow + 16 * vi)
      total += p
    }
    let alpha = VectorMath.exp(oldMax - newMax)
    scratch.rowSum[i] = scratch.rowSum[i] * alpha + AttentionTile.horizontalSum(total)
    scratch.rowMax[i] = newMax
    if alpha != 1 {
      let dp = shape.paddedHeadDim
      let accRow = scratch.accumulator + i * dp
      let a = V(repeating: alpha)
      for c in stride(from: 0, to: dp, by: 16) {
        AttentionTile.store(AttentionTile.load(accRow + c) * a, to: accRow + c)
      }
    }
  }
}

/// Small dense building blocks on tiles: packing, masking and a register-blocked `C (+)= A·B`.
enum AttentionTile {
  typealias V = SIMD16<Float>

  @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }

  @inline(__always) static func load(_ p: UnsafeMutablePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }

  @inline(__always) static func store(_ x: V, to p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: x, as: V.self)
  }

  /// The largest lane, by a halving tree (`SIMD.max()` compiles to a scalar compare chain).
  @inline(__always) static func horizontalMax(_ x: V) -> Float {
    var m8 = x.lowHalf
    m8.replace(with: x.highHalf, where: x.highHalf .> m8)
    var m4 = m8.lowHalf
    m4.replace(with: m8.highHalf, where: m8.highHalf .> m4)
    var m2 = m4.lowHalf
    m2.replace(with: m4.highHalf, where: m4.highHalf .> m2)
    return max(m2[0], m2[1])
  }

  /// The sum of the lanes, by a halving tree.
  @inline(__always) static func horizontalSum(_ x: V) -> Float {
    let s8 = x.lowHalf + x.highHalf
    let s4 = s8.lowHalf + s8.highHalf
    let s2 = s4.lowHalf + s4.highHalf
    return s2[0] + s2[1]
  }

  /// Loads `count` floats (all 16 when `count >= 16`), zero-filling the rest.
  @inline(__always) static func loadPartial(_ p: UnsafePointer<Float>, count: Int) -> V {
    if count >= 16 { return load(p) }
    var x = V()
    for lane in 0..<max(count, 0) { x[lane] = p[lane] }
    return x
  }

  /// Sets lanes whose key index (`firstKey + lane`) lies outside `lo..<hi` to -inf.
  @inline(__always) static func hide(_ x: inout V, firstKey: Int, lo: Int, hi: Int) {
    if firstKey >= lo && firstKey + 16 <= hi { return }
    let keys = SIMD16<Int32>(repeating: Int32(truncatingIfNeeded: firstKey)) &+ laneIndex
    let outside = (keys .< SIMD16<Int32>(repeating: Int32(lo))) .| (keys .>= SIMD16<Int32>(repeating: Int32(hi)))
    x.replace(with: -.infinity, where: outside)
  }

  /// The keys in `keys` that at least one of `rows` sees (rows see `lo[i]..<hi[i]`), as one range.
  @inline(__always) static func visibleSpan(
    lo: UnsafeMutablePointer<Int>, hi: UnsafeMutablePointer<Int>, rows: Range<Int>, keys: Range<Int>
  ) -> Range<Int> {
    var first = keys.upperBound
    var end = keys.lowerBound
    for i in rows {
      let a = max(lo[i], keys.lowerBound)
      let b = min(hi[i], keys.upperBound)
      if a < b {
        first = min(first, a)
        end = max(end, b)
      }
    }
    return first < end ? first..<end : keys.lowerBound..<keys.lowerBound
  }

  /// The rows of `rows` that see at least one key of `keys`, as one range from the first to the last.
  @inline(__always) static func seeingRows(
    lo: UnsafeMutablePointer<Int>, hi: UnsafeMutablePointer<Int>, rows: Range<Int>, keys: Range<Int>
  ) -> Range<Int> {
    var first = rows.upperBound
    var end = rows.lowerBound
    for i in rows where max(lo[i], keys.lowerBound) < min(hi[i], keys.upperBound) {
      first = min(first, i)
      end = i + 1
    }
    return first < end ? first..<end : rows.lowerBound..<rows.lowerBound
  }

  static let laneIndex = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)

  /// Writes a `rows × columns` matrix as column tiles of width 64: tile t holds
  /// `dst[t * columns * 64 + c * 64 + r] = src[(64 t + r) * columns + c]`, zero beyond `rows`.
  static func packTransposed(
    _ src: UnsafePointer<Float>, rows: Int, columns: Int, into dst: UnsafeMutablePointer<Float>
  ) {
    let width = Attention.keyTile
    withUnsafeTemporaryAllocation(of: V.self, capacity: 32) { block in
      let m = block.baseAddress!
      var r0 = 0
      while r0 < rows {
        // 16 source rows starting at r0 go to lanes (r0 % 64) ..< +16 of tile r0 / 64.
        let tileDst = dst + (r0 / width) * columns * width + r0 % width
        let rowCount = min(16, rows - r0)
        var c0 = 0
        while c0 < columns {
          let columnCount = min(16, columns - c0)
          for r in 0..<16 {
            m[r] = r < rowCount ? loadPartial(src + (r0 + r) * columns + c0, count: columnCount) : V()
          }
          transpose16(m, scratch: m + 16)
          for c in 0..<columnCount { store(m[c], to: tileDst + (c0 + c) * width) }
          c0 += 16
        }
        r0 += 16
      }
      // Zero the unused lane groups of a partial last tile.
      let tail = rows % width
      if tail != 0 {
        let tileDst = dst + (rows / width) * columns * width
        let firstEmpty = (tail + 15) & ~15
        for c in 0..<columns { (tileDst + c * width + firstEmpty).update(repeating: 0, count: width - firstEmpty) }
      }
    }
  }

  /// Transposes the 16×16 matrix held in `m[0..<16]` in place (`scratch` holds 16 more vectors).
  ///
  /// Each round pairs rows (2i, 2i+1) into even and odd halves, which rotates the row and column index
  /// bits by one place; four rounds swap them completely.
  @inline(__always) static func transpose16(_ m: UnsafeMutablePointer<V>, scratch: UnsafeMutablePointer<V>) {
    var from = m
    var to = scratch
    for _ in 0..<4 {
      for i in 0..<8 {
        let a = from[2 * i]
        let b = from[2 * i + 1]
        to[i] = V(lowHalf: a.evenHalf, highHalf: b.evenHalf)
        to[i + 8] = V(lowHalf: a.oddHalf, highHalf: b.oddHalf)
      }
      swap(&from, &to)
    }
  }

  /// `dst[c] = src[c] * factor` for `c < count`.
  @inline(__always) static func scaledCopy(
    _ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<Float>, count: Int, factor: Float
  ) {
    var c = 0
    let f = V(repeating: factor)
    while c + 16 <= count {
      store(load(src + c) * f, to: dst + c)
      c += 16
    }
    while c < count {
      dst[c] = src[c] * factor
      c += 1
    }
  }

  /// Copies a `rows × columns` matrix into rows of `(columns + 15) & ~15` floats, zero padded.
  static func packPadded(_ src: UnsafePointer<Float>, rows: Int, columns: Int, into dst: UnsafeMutablePointer<Float>) {
    let padded = (columns + 15) & ~15
    for r in 0..<rows {
      let row = dst + r * padded
      row.update(from: src + r * columns, count: columns)
      (row + columns).update(repeating: 0, count: padded - columns)
    }
  }

  /// `C (+)= A·B` on a `rows × 16·vectors` block of C (row-major, `cRowStride` apart).
  ///
  /// A element (r, k) is `a[r * aRowStride + k * aDepthStride]` (so a transposed A is free), and B row k
  /// holds `16·vectors` floats starting at `b + k * bRowStride`. The core keeps a 4×64 block of C in 16
  /// registers.
  static func multiply(
    rows: Int, vectors: Int, depth: Int, a: UnsafePointer<Float>, aRowStride: Int, aDepthStride: Int,
    b: UnsafePointer<Float>, bRowStride: Int, c: UnsafeMutablePointer<Float>, cRowStride: Int, accumulate: Bool
  ) {
    var r = 0
    while r + 4 <= rows {
      let ar = a + r * aRowStride
      let cr = c + r * cRowStride
      var vi = 0
      while vi + 4 <= vectors {
        block4x4(depth, ar, aRowStride, aDepthStride, b + 16 * vi, bRowStride, cr + 16 * vi, cRowStride, accumulate)
        vi += 4
      }
      if vi + 2 <= vectors {
        block4x2(depth, ar, aRowStride, aDepthStride, b + 16 * vi, bRowStride, cr + 16 * vi, cRowStride, accumulate)
        vi += 2
      }
      if vi < vectors {
        block4x1(depth, ar, aRowStride, aDepthStride, b + 16 * vi, bRowStride, cr + 16 * vi, cRowStride, accumulate)
      }
      r += 4
    }
    while r < rows {
      for vi in 0..<vectors {
        var acc = accumulate ? load(c + r * cRowStride + 16 * vi) : V()
        var ap = a + r * aRowStride
        var bp = b + 16 * vi
        for _ in 0..<depth {
          acc.addProduct(V(repeating: ap[0]), load(bp))
          ap += aDepthStride
          bp += bRowStride
        }
        store(acc, to: c + r * cRowStride + 16 * vi)
      }
      r += 1
    }
  }

  @inline(__always)
  private static func block4x4(
    _ depth: Int, _ a: UnsafePointer<Float>, _ ars: Int, _ ads: Int, _ b: UnsafePointer<Float>, _ brs: Int,
    _ c: UnsafeMutablePointer<Float>, _ crs: Int, _ accumulate: Bool
  ) {
    var c00 = V(), c01 = V(), c02 = V(), c03 = V()
    var c10 = V(), c11 = V(), c12 = V(), c13 = V()
    var c20 = V(), c21 = V(), c22 = V(), c23 = V()
    var c30 = V(), c31 = V(), c32 = V(), c33 = V()
    if accumulate {
      c00 = load(c); c01 = load(c + 16); c02 = load(c + 32); c03 = load(c + 48)
      c10 = load(c + crs); c11 = load(c + crs + 16); c12 = load(c + crs + 32); c13 = load(c + crs + 48)
      c20 = load(c + 2 * crs); c21 = load(c + 2 * crs + 16)
      c22 = load(c + 2 * crs + 32); c23 = load(c + 2 * crs + 48)
      c30 = load(c + 3 * crs); c31 = load(c + 3 * crs + 16)
      c32 = load(c + 3 * crs + 32); c33 = load(c + 3 * crs + 48)
    }
    var ap = a
    var bp = b
    for _ in 0..<depth {
      let b0 = load(bp), b1 = load(bp + 16), b2 = load(bp + 32), b3 = load(bp + 48)
      var x = V(repeating: ap[0])
      c00.addProduct(x, b0); c01.addProduct(x, b1); c02.addProduct(x, b2); c03.addProduct(x, b3)
      x = V(repeating: ap[ars])
      c10.addProduct(x, b0); c11.addProduct(x, b1); c12.addProduct(x, b2); c13.addProduct(x, b3)
      x = V(repeating: ap[2 * ars])
      c20.addProduct(x, b0); c21.addProduct(x, b1); c22.addProduct(x, b2); c23.addProduct(x, b3)
      x = V(repeating: ap[3 * ars])
      c30.addProduct(x, b0); c31.addProduct(x, b1); c32.addProduct(x, b2); c33.addProduct(x, b3)
      ap += ads
      bp += brs
    }
    store(c00, to: c); store(c01, to: c + 16); store(c02, to: c + 32); store(c03, to: c + 48)
    store(c10, to: c + crs); store(c11, to: c + crs + 16)
    store(c12, to: c + crs + 32); store(c13, to: c + crs + 48)
    store(c20, to: c + 2 * crs); store(c21, to: c + 2 * crs + 16)
    store(c22, to: c + 2 * crs + 32); store(c23, to: c + 2 * crs + 48)
    store(c30, to: c + 3 * crs); store(c31, to: c + 3 * crs + 16)
    store(c32, to: c + 3 * crs + 32); store(c33, to: c + 3 * crs + 48)
  }

  @inline(__always)
  private static func block4x2(
    _ depth: Int, _ a: UnsafePointer<Float>, _ ars: Int, _ ads: Int, _ b: UnsafePointer<Float>, _ brs: Int,
    _ c: UnsafeMutablePointer<Float>, _ crs: Int, _ accumulate: Bool
  ) {
    var c00 = V(), c01 = V(), c10 = V(), c11 = V()
    var c20 = V(), c21 = V(), c30 = V(), c31 = V()
    if accumulate {
      c00 = load(c); c01 = load(c + 16); c10 = load(c + crs); c11 = load(c + crs + 16)
      c20 = load(c + 2 * crs); c21 = load(c + 2 * crs + 16); c30 = load(c + 3 * crs); c31 = load(c + 3 * crs + 16)
    }
    var ap = a
    var bp = b
    for _ in 0..<depth {
      let b0 = load(bp), b1 = load(bp + 16)
      var x = V(repeating: ap[0])
      c00.addProduct(x, b0); c01.addProduct(x, b1)
      x = V(repeating: ap[ars])
      c10.addProduct(x, b0); c11.addProduct(x, b1)
      x = V(repeating: ap[2 * ars])
      c20.addProduct(x, b0); c21.addProduct(x, b1)
      x = V(repeating: ap[3 * ars])
      c30.addProduct(x, b0); c31.addProduct(x, b1)
      ap += ads
      bp += brs
    }
    store(c00, to: c); store(c01, to: c + 16); store(c10, to: c + crs); store(c11, to: c + crs + 16)
    store(c20, to: c + 2 * crs); store(c21, to: c + 2 * crs + 16)
    store(c30, to: c + 3 * crs); store(c31, to: c + 3 * crs + 16)
  }

  @inline(__always)
  private static func block4x1(
    _ depth: Int, _ a: UnsafePointer<Float>, _ ars: Int, _ ads: Int, _ b: UnsafePointer<Float>, _ brs: Int,
    _ c: UnsafeMutablePointer<Float>, _ crs: Int, _ accumulate: Bool
  ) {
    var c0 = V(), c1 = V(), c2 = V(), c3 = V()
    if accumulate {
      c0 = load(c); c1 = load(c + crs); c2 = load(c + 2 * crs); c3 = load(c + 3 * crs)
    }
    var ap = a
    var bp = b
    for _ in 0..<depth {
      let b0 = load(bp)
      c0.addProduct(V(repeating: ap[0]), b0)
      c1.addProduct(V(repeating: ap[ars]), b0)
      c2.addProduct(V(repeating: ap[2 * ars]), b0)
      c3.addProduct(V(repeating: ap[3 * ars]), b0)
      ap += ads
      bp += brs
    }
    store(c0, to: c); store(c1, to: c + crs); store(c2, to: c + 2 * crs); store(c3, to: c + 3 * crs)
  }
}
