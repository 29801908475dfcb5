// Backward of the fused attention (FlashAttention-2 style). For each (batch, kv head) the probabilities are
// recomputed tile by tile from q, k and the saved logsumexp, P = exp(scale·q·kᵀ + bias - lse), and with
// δ_i = Σ_d dO·O (= Σ_j P·dP) the gradients are
//   dV = Pᵀ·dO,  dP = dO·Vᵀ,  dS = P ∘ (dP - δ),  dQ = scale·dS·K,  dK = scale·dSᵀ·Q,  dBias = dS.
//
// Parallel scheme: one work unit is a (batch, kv head) pair. It owns dK and dV of its kv head (summed over
// the query heads of its group, processed one after another) and dQ of those query heads, so no two threads
// ever write the same element. When there are fewer pairs than threads, a pair's query heads are split into
// parts that write separate dK/dV copies, summed afterwards. The one shared output is dBias when the bias is
// broadcast over batch or heads: then each thread accumulates into a private copy that is summed at the end
// (or, when those copies would be too large, the whole backward runs on one thread).

extension Attention {
  /// Gradients of ``forward(q:k:v:out:logSumExp:shape:mask:bias:scale:)`` given `dOut`.
  ///
  /// Writes (overwrites) dq [B, H, Tq, D], dk and dv [B, Hkv, Tk, D]; when `dBias` is non-nil it must have
  /// the layout and strides of `bias` and the bias gradient is accumulated into it with `+=`.
  /// `out` and `logSumExp` are the forward's results.
  public static func backward(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafePointer<Float>, dOut: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
    dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
    dBias: UnsafeMutablePointer<Float>?, shape: AttentionShape, mask: AttentionMask, bias: AttentionBias?,
    scale: Float
  ) {
    shape.validate()
    precondition(dBias == nil || bias != nil, "dBias needs the bias it belongs to")
    precondition(shape.hasContiguousKeyValues, "attention backward needs contiguous k and v (kvHeadStride nil)")
    let (bsz, hkv, tq, tk, d) = (shape.batch, shape.kvHeads, shape.queryLength, shape.keyLength, shape.headDim)
    dq.update(repeating: 0, count: bsz * shape.heads * tq * d)
    if bsz * shape.heads * tq * tk == 0 {
      dk.update(repeating: 0, count: bsz * hkv * tk * d)
      dv.update(repeating: 0, count: bsz * hkv * tk * d)
      return
    }
    let plan = AttentionBackwardPlan(
      q: q, k: k, v: v, out: out, dOut: dOut, logSumExp: logSumExp, dq: dq, shape: shape,
      mask: mask, bias: bias, scale: scale)
    // Work units: (batch, kv head, part of its query-head group). Parts > 1 only when there are fewer
    // (batch, kv head) pairs than threads; each part then writes its own dK/dV copy, summed at the end.
    let items = bsz * hkv
    let parts = items >= Parallel.threadCount ? 1 : min(shape.group, (Parallel.threadCount + items - 1) / items)
    let units = items * parts
    let work = 10 * shape.heads * tq * tk * d
    var workers = min(Parallel.threadCount, units, max(1, work / minimumParallelWork))

    // Private dBias copies when units would otherwise write the same bias element.
    var privateExtent = 0
    if dBias != nil, let bias, workers > 1,
      (bsz > 1 && bias.batchStride == 0) || ((hkv > 1 || parts > 1) && bias.headStride == 0)
    {
      let extent = bias.offset(batch: bsz - 1, head: shape.heads - 1, row: tq - 1) + tk
      if extent * workers <= 1 << 26 {
        privateExtent = extent
      } else {
        workers = 1
      }
    }
    let privateBias: UnsafeMutablePointer<Float>? =
      privateExtent > 0 ? .allocate(capacity: privateExtent * workers) : nil
    defer { privateBias?.deallocate() }
    privateBias?.initialize(repeating: 0, count: privateExtent * workers)
    let kvCount = bsz * hkv * tk * d
    let partial: UnsafeMutablePointer<Float>? = parts > 1 ? .allocate(capacity: 2 * parts * kvCount) : nil
    defer { partial?.deallocate() }

    Parallel.forEach(count: workers) { worker in
      let scratch = AttentionBackwardScratch(shape: shape)
      defer { scratch.deallocate() }
      let target = privateBias.map { $0 + worker * privateExtent } ?? dBias
      for unit in (units * worker / workers)..<(units * (worker + 1) / workers) {
        let (item, part) = unit.quotientAndRemainder(dividingBy: parts)
        let (b, kvHead) = item.quotientAndRemainder(dividingBy: hkv)
        let group = shape.group
        let heads = (kvHead * group + part * group / parts)..<(kvHead * group + (part + 1) * group / parts)
        let (dkOut, dvOut) = partial.map { ($0 + 2 * part * kvCount, $0 + (2 * part + 1) * kvCount) } ?? (dk, dv)
        plan.run(batch: b, kvHead: kvHead, heads: heads, scratch: scratch, dBias: target, dk: dkOut, dv: dvOut)
      }
    }
    if let partial {
      Parallel.forChunks(count: kvCount, grain: 1 << 16) { range in
        for e in range {
          var (sumK, sumV): (Float, Float) = (0, 0)
          for part in 0..<parts {
            sumK += partial[2 * part * kvCount + e]
            sumV += partial[(2 * part + 1) * kvCount + e]
          }
          dk[e] = sumK
          dv[e] = sumV
        }
      }
    }
    if let privateBias, let dBias, let bias {
      mergePrivateBias(privateBias, extent: privateExtent, copies: workers, into: dBias, bias: bias, shape: shape)
    }
  }

  /// Adds the per-thread dBias copies into `dBias`, touching each distinct bias element once.
  private static func mergePrivateBias(
    _ copies: UnsafeMutablePointer<Float>, extent: Int, copies count: Int, into dBias: UnsafeMutablePointer<Float>,
    bias: AttentionBias, shape: AttentionShape
  ) {
    for b in 0..<(bias.batchStride == 0 ? 1 : shape.batch) {
      for h in 0..<(bias.headStride == 0 ? 1 : shape.heads) {
        for i in 0..<(bias.rowStride == 0 ? 1 : shape.queryLength) {
          let offset = bias.offset(batch: b, head: h, row: i)
          for j in 0..<shape.keyLength {
            var total: Float = 0
            for c in 0..<count { total += copies[c * extent + offset + j] }
            dBias[offset + j] += total
          }
        }
      }
    }
  }
}

/// Per-thread working memory of the backward kernel, sized for one (batch, kv head) item.
struct AttentionBackwardScratch {
  let floats: UnsafeMutablePointer<Float>
  let ints: UnsafeMutablePointer<Int>
  let keyTiles: UnsafeMutablePointer<Float>  // keyTiles × D × 64: Kᵀ tiles
  let valueTiles: UnsafeMutablePointer<Float>  // keyTiles × D × 64: Vᵀ tiles
  let keyRows: UnsafeMutablePointer<Float>  // Tk × Dp: K padded (used when D % 16 != 0)
  let dK: UnsafeMutablePointer<Float>  // Tk × Dp
  let dV: UnsafeMutablePointer<Float>  // Tk × Dp
  let queryRows: UnsafeMutablePointer<Float>  // Tq × Dp: Q padded (used when D % 16 != 0)
  let dOutRows: UnsafeMutablePointer<Float>  // Tq × Dp: dO padded (used when D % 16 != 0)
  let dQ: UnsafeMutablePointer<Float>  // Tq × Dp
  let delta: UnsafeMutablePointer<Float>  // Tq
  let probabilities: UnsafeMutablePointer<Float>  // 64 × 64
  let scoreGradients: UnsafeMutablePointer<Float>  // 64 × 64: dP, then dS
  let lo: UnsafeMutablePointer<Int>  // Tq
  let hi: UnsafeMutablePointer<Int>  // Tq

  init(shape: AttentionShape) {
    let tiles = shape.keyTiles * shape.headDim * Attention.keyTile
    let dp = shape.paddedHeadDim
    let padded = shape.headDim != dp
    let keyRowCount = shape.keyLength * dp
    let queryRowCount = shape.queryLength * dp
    let tile = Attention.queryTile * Attention.keyTile
    let sizes = [
      tiles, tiles, padded ? keyRowCount : 0, keyRowCount, keyRowCount, padded ? queryRowCount : 0,
      padded ? queryRowCount : 0, queryRowCount, shape.queryLength, tile, tile,
    ]
    // Round each part to 16 floats so that every part starts 64-byte aligned relative to the base.
    let total = sizes.reduce(0) { $0 + ($1 + 15) & ~15 }
    floats = .allocate(capacity: total)
    floats.initialize(repeating: 0, count: total)
    var parts: [UnsafeMutablePointer<Float>] = []
    var cursor = floats
    for size in sizes {
      parts.append(cursor)
      cursor += (size + 15) & ~15
    }
    (keyTiles, valueTiles, keyRows, dK, dV) = (parts[0], parts[1], parts[2], parts[3], parts[4])
    (queryRows, dOutRows, dQ, delta) = (parts[5], parts[6], parts[7], parts[8])
    (probabilities, scoreGradients) = (parts[9], parts[10])
    ints = .allocate(capacity: 2 * shape.queryLength)
    lo = ints
    hi = ints + shape.queryLength
  }

  func deallocate() {
    floats.deallocate()
    ints.deallocate()
  }
}

/// Everything a backward work item needs.
struct AttentionBackwardPlan {
  let q: UnsafePointer<Float>
  let k: UnsafePointer<Float>
  let v: UnsafePointer<Float>
  let out: UnsafePointer<Float>
  let dOut: UnsafePointer<Float>
  let logSumExp: UnsafePointer<Float>
  let dq: UnsafeMutablePointer<Float>
  let shape: AttentionShape
  let mask: AttentionMask
  let bias: AttentionBias?
  let scale: Float

  typealias V = SIMD16<Float>

  /// Computes dQ of the query heads `heads` (all reading kv head `kvHead`) and their contribution to that kv
  /// head's dK and dV, written to `dk` and `dv`; adds dS into `dBias` when given.
  func run(
    batch b: Int, kvHead: Int, heads: Range<Int>, scratch s: AttentionBackwardScratch,
    dBias: UnsafeMutablePointer<Float>?, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>
  ) {
    let (d, dp, tq, tk) = (shape.headDim, shape.paddedHeadDim, shape.queryLength, shape.keyLength)
    let padded = d != dp
    let kvIndex = b * shape.kvHeads + kvHead
    let kHead = k + kvIndex * tk * d
    AttentionTile.packTransposed(kHead, rows: tk, columns: d, into: s.keyTiles)
    AttentionTile.packTransposed(v + kvIndex * tk * d, rows: tk, columns: d, into: s.valueTiles)
    if padded { AttentionTile.packPadded(kHead, rows: tk, columns: d, into: s.keyRows) }
    let keyRows = padded ? UnsafePointer(s.keyRows) : kHead
    s.dK.update(repeating: 0, count: tk * dp)
    s.dV.update(repeating: 0, count: tk * dp)
    for i in 0..<tq {
      (s.lo[i], s.hi[i]) = mask.bounds(query: mask.queryOffset + i, keyLength: tk)
    }

    for h in heads {
      let rowBase = (b * shape.heads + h) * tq
      let qHead = q + rowBase * d
      let dOutHead = dOut + rowBase * d
      if padded {
        AttentionTile.packPadded(qHead, rows: tq, columns: d, into: s.queryRows)
        AttentionTile.packPadded(dOutHead, rows: tq, columns: d, into: s.dOutRows)
      }
      let head = HeadOperands(
        b: b, h: h, rowBase: rowBase, q: qHead, dOut: dOutHead,
        queryRows: padded ? UnsafePointer(s.queryRows) : qHead,
        dOutRows: padded ? UnsafePointer(s.dOutRows) : dOutHead,
        rowStride: padded ? dp : d, keyRows: keyRows, keyRowStride: padded ? dp : d)
      computeDelta(rowBase: rowBase, into: s.delta)
      s.dQ.update(repeating: 0, count: tq * dp)
      for tile in 0..<shape.keyTiles {
        for queryTile in 0..<shape.queryTiles {
          runTilePair(keyTile: tile, queryTile: queryTile, head: head, scratch: s, dBias: dBias)
        }
      }
      let dqHead = dq + rowBase * d
      for i in 0..<tq { AttentionTile.scaledCopy(s.dQ + i * dp, to: dqHead + i * d, count: d, factor: scale) }
    }
    let dkHead = dk + kvIndex * tk * d
    let dvHead = dv + kvIndex * tk * d
    for j in 0..<tk {
      AttentionTile.scaledCopy(s.dK + j * dp, to: dkHead + j * d, count: d, factor: scale)
      (dvHead + j * d).update(from: s.dV + j * dp, count: d)
    }
  }

  /// The operands of one query head inside a work item.
  struct HeadOperands {
    let b: Int
    let h: Int
    let rowBase: Int
    let q: UnsafePointer<Float>  // Tq × D
    let dOut: UnsafePointer<Float>  // Tq × D
    let queryRows: UnsafePointer<Float>  // Q with rows `rowStride` apart, whole vectors readable
    let dOutRows: UnsafePointer<Float>  // dO likewise
    let rowStride: Int
    let keyRows: UnsafePointer<Float>  // K with rows `keyRowStride` apart, whole vectors readable
    let keyRowStride: Int
  }

  /// δ_i = Σ_d dO_i·O_i for every row of one head.
  private func computeDelta(rowBase: Int, into delta: UnsafeMutablePointer<Float>) {
    let d = shape.headDim
    for i in 0..<shape.queryLength {
      let o = out + (rowBase + i) * d
      let g = dOut + (rowBase + i) * d
      var acc = V()
      var c = 0
      while c + 16 <= d {
        acc.addProduct(AttentionTile.load(o + c), AttentionTile.load(g + c))
        c += 16
      }
      var total = AttentionTile.horizontalSum(acc)
      while c < d {
        total += o[c] * g[c]
        c += 1
      }
      delta[i] = total
    }
  }

  /// One (key tile, query tile) step: recompute P, then accumulate dV, dQ, dK (and dBias).
  private func runTilePair(
    keyTile tile: Int, queryTile: Int, head: HeadOperands, scratch s: AttentionBackwardScratch,
    dBias: UnsafeMutablePointer<Float>?
  ) {
    let kt = Attention.keyTile
    let (d, dp) = (shape.headDim, shape.paddedHeadDim)
    let j0 = tile * kt
    let keys = j0..<min(j0 + kt, shape.keyLength)
    let keyCount = keys.count
    let r0 = queryTile * Attention.queryTile
    let rows = r0..<min(r0 + Attention.queryTile, shape.queryLength)
    if AttentionTile.visibleSpan(lo: s.lo, hi: s.hi, rows: rows, keys: keys).isEmpty { return }
    let p = s.probabilities
    let g = s.scoreGradients
    // Entries outside the computed spans must read as P = dS = 0 in the transposed products below.
    let vectors = (keyCount + 15) / 16
    for i in 0..<rows.count {
      for vi in 0..<vectors {
        AttentionTile.store(V(), to: p + i * kt + 16 * vi)
        AttentionTile.store(V(), to: g + i * kt + 16 * vi)
      }
    }

    // Per 16 query rows: S = Q·Kᵀ, P = exp(scale·S + bias - lse), dP = dO·Vᵀ, dS = P ∘ (dP - δ), dQ += dS·K.
    for slice in stride(from: 0, to: rows.count, by: 16) {
      let sliceRows = (r0 + slice)..<min(r0 + slice + 16, rows.upperBound)
      let span = AttentionTile.visibleSpan(lo: s.lo, hi: s.hi, rows: sliceRows, keys: keys)
      if span.isEmpty { continue }
      let v0 = (span.lowerBound - j0) / 16
      let v1 = (span.upperBound - j0 + 15) / 16
      let k0 = 16 * v0
      let k1 = min(16 * v1, keyCount)
      let ps = p + slice * kt
      let gs = g + slice * kt
      AttentionTile.multiply(
        rows: sliceRows.count, vectors: v1 - v0, depth: d, a: head.q + sliceRows.lowerBound * d, aRowStride: d,
        aDepthStride: 1, b: s.keyTiles + tile * d * kt + k0, bRowStride: kt, c: ps + k0, cRowStride: kt,
        accumulate: false)
      for (i, row) in sliceRows.enumerated() {
        probabilityRow(ps + i * kt, row: row, head: head, keys: keys, vectors: v0..<v1, scratch: s)
      }
      AttentionTile.multiply(
        rows: sliceRows.count, vectors: v1 - v0, depth: d, a: head.dOut + sliceRows.lowerBound * d,
        aRowStride: d, aDepthStride: 1, b: s.valueTiles + tile * d * kt + k0, bRowStride: kt, c: gs + k0,
        cRowStride: kt, accumulate: false)
      for (i, row) in sliceRows.enumerated() {
        let delta = V(repeating: s.delta[row])
        let grow = gs + i * kt
        let prow = ps + i * kt
        for vi in v0..<v1 {
          let ds = AttentionTile.load(prow + 16 * vi) * (AttentionTile.load(grow + 16 * vi) - delta)
          AttentionTile.store(ds, to: grow + 16 * vi)
        }
        if let dBias, let bias {
          let target = dBias + bias.offset(batch: head.b, head: head.h, row: row) + j0
          for j in k0..<k1 { target[j] += grow[j] }
        }
      }
      AttentionTile.multiply(
        rows: sliceRows.count, vectors: dp / 16, depth: k1 - k0, a: gs + k0, aRowStride: kt, aDepthStride: 1,
        b: head.keyRows + (j0 + k0) * head.keyRowStride, bRowStride: head.keyRowStride,
        c: s.dQ + sliceRows.lowerBound * dp, cRowStride: dp, accumulate: true)
    }

    // Per 16 keys, over the query rows that see them: dV += Pᵀ·dO, dK += dSᵀ·Q (scaled once at the end).
    for k0 in stride(from: 0, to: keyCount, by: 16) {
      let sliceKeys = (j0 + k0)..<min(j0 + k0 + 16, keys.upperBound)
      let seeing = AttentionTile.seeingRows(lo: s.lo, hi: s.hi, rows: rows, keys: sliceKeys)
      if seeing.isEmpty { continue }
      let i0 = seeing.lowerBound - r0
      AttentionTile.multiply(
        rows: sliceKeys.count, vectors: dp / 16, depth: seeing.count, a: p + i0 * kt + k0, aRowStride: 1,
        aDepthStride: kt, b: head.dOutRows + seeing.lowerBound * head.rowStride, bRowStride: head.rowStride,
        c: s.dV + sliceKeys.lowerBound * dp, cRowStride: dp, accumulate: true)
      AttentionTile.multiply(
        rows: sliceKeys.count, vectors: dp / 16, depth: seeing.count, a: g + i0 * kt + k0, aRowStride: 1,
        aDepthStride: kt, b: head.queryRows + seeing.lowerBound * head.rowStride, bRowStride: head.rowStride,
        c: s.dK + sliceKeys.lowerBound * dp, cRowStride: dp, accumulate: true)
    }
  }

  /// Writes P for the key vectors `vectors` of one row (zero where the row sees nothing).
  @inline(__always)
  private func probabilityRow(
    _ prow: UnsafeMutablePointer<Float>, row: Int, head: HeadOperands, keys: Range<Int>, vectors: Range<Int>,
    scratch s: AttentionBackwardScratch
  ) {
    let (lo, hi) = (s.lo[row], s.hi[row])
    let lse = logSumExp[head.rowBase + row]
    let j0 = keys.lowerBound
    if max(lo, j0) >= min(hi, keys.upperBound) || lse == -.infinity {
      for vi in vectors { AttentionTile.store(V(), to: prow + 16 * vi) }
      return
    }
    let biasRow = bias.map { $0.base + $0.offset(batch: head.b, head: head.h, row: row) + j0 }
    let shift = V(repeating: lse)
    for vi in vectors {
      var x = AttentionTile.load(prow + 16 * vi) * scale
      if let biasRow { x += AttentionTile.loadPartial(biasRow + 16 * vi, count: keys.count - 16 * vi) }
      AttentionTile.hide(&x, firstKey: j0 + 16 * vi, lo: lo, hi: hi)
      AttentionTile.store(VectorMath.exp(x - shift), to: prow + 16 * vi)
    }
  }
}
