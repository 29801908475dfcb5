import Kernels

extension Tensor {
  /// Fused scaled-dot-product attention without materialising the score matrix.
  ///
  /// - Parameters:
  ///   - query: [B, H, Tq, D].
  ///   - key: [B, Hkv, Tk, D] with H a multiple of Hkv (grouped-query attention).
  ///   - value: [B, Hkv, Tk, D].
  ///   - mask: which keys each query sees; `queryOffset` places the queries after a KV prefix.
  ///   - bias: an additive score bias broadcastable to [B, H, Tq, Tk].
  ///   - scale: score scale, 1/√D by default.
  /// - Returns: [B, H, Tq, D].
  public static func attention(
    query: Tensor, key: Tensor, value: Tensor, mask: AttentionMask = AttentionMask(), bias: Tensor? = nil,
    scale: Float? = nil
  ) throws -> Tensor {
    guard query.rank == 4, key.rank == 4, value.rank == 4 else {
      throw TensorError.shapes("attention", query.shape, key.shape, "must both be [batch, heads, time, headDim]")
    }
    let (b, h, tq, d) = (query.shape[0], query.shape[1], query.shape[2], query.shape[3])
    let (hkv, tk) = (key.shape[1], key.shape[2])
    guard key.shape[0] == b, key.shape[3] == d, value.shape == key.shape else {
      throw TensorError.shapes("attention", query.shape, key.shape, "do not match (value \(value.shape))")
    }
    guard hkv > 0, h % hkv == 0 else {
      throw TensorError.shapes(
        "attention", query.shape, key.shape, "do not match: query heads must be a multiple of key heads")
    }
    let denseShape = AttentionShape(batch: b, heads: h, kvHeads: hkv, queryLength: tq, keyLength: tk, headDim: d)
    var shape = denseShape
    let s = scale ?? 1 / Float(d).squareRoot()
    let q = query.detached().float32Contiguous()
    var inputs = [query, key, value]
    if let bias { inputs.append(bias) }
    // Without a backward pass, key/value views of a KV cache [B, Hkv, capacity, D] are read in place.
    let recordsBackward = GradMode.isEnabled && inputs.contains { $0.requiresGrad }
    let cacheStride = recordsBackward ? nil : key.cacheViewHeadStride(sharedWith: value)
    let k = cacheStride == nil ? key.detached().float32Contiguous() : key.detached()
    let v = cacheStride == nil ? value.detached().float32Contiguous() : value.detached()
    if let cacheStride, cacheStride != tk * d { shape.kvHeadStride = cacheStride }
    var biasData: Tensor?
    var biasView: AttentionBias?
    if let bias {
      var c = bias.detached().float32Contiguous()
      guard let full = broadcastShape(c.shape, [b, h, tq, tk]), full == [b, h, tq, tk] else {
        throw TensorError.shapes(
          "attention", bias.shape, [b, h, tq, tk], "cannot be broadcast: bias must fit the scores")
      }
      if c.rank < 4 || c.shape[c.rank - 1] != tk { c = try c.expanded(to: [b, h, tq, tk]).contiguous() }
      let e = try c.expanded(to: [b, h, tq, tk])
      biasData = c
      biasView = AttentionBias(
        base: c.pointer(), batchStride: e.strides[0], headStride: e.strides[1], rowStride: e.strides[2])
    }
    let out = Tensor(uninitializedShape: [b, h, tq, d])
    let lse = Tensor(uninitializedShape: [b, h, tq])
    Attention.forward(
      q: q.pointer(), k: k.pointer(), v: v.pointer(), out: out.pointer(), logSumExp: lse.pointer(), shape: shape,
      mask: mask, bias: biasView, scale: s)
    let biasShape = bias?.shape
    return out.recorded("attention", inputs) { g in
      let gc = g.contiguous()
      // Recorded calls always copied k and v above; contiguous() keeps the backward safe regardless.
      let (kc, vc) = (k.contiguous(), v.contiguous())
      let dq = Tensor(uninitializedShape: q.shape)
      let dk = Tensor(uninitializedShape: kc.shape)
      let dv = Tensor(uninitializedShape: vc.shape)
      let dBias = biasData.map { Tensor.zeros($0.shape) }
      Attention.backward(
        q: q.pointer(), k: kc.pointer(), v: vc.pointer(), out: out.pointer(), dOut: gc.pointer(),
        logSumExp: lse.pointer(),
        dq: dq.pointer(), dk: dk.pointer(), dv: dv.pointer(), dBias: dBias?.pointer(), shape: denseShape,
        mask: mask, bias: biasView, scale: s)
      _ = biasData
      var grads: [Tensor?] = [dq, dk, dv]
      if let dBias, let biasShape { grads.append(try dBias.summed(toShape: biasShape)) }
      return grads
    }
  }
}

extension Tensor {
  /// The distance between consecutive (batch, head) blocks when this [B, G, T, D] float32 view and `other`
  /// are both dense within each block, share one block stride, and blocks follow each other at that stride
  /// (for example the first T positions of a [B, G, capacity, D] cache, stride capacity·D); nil otherwise.
  func cacheViewHeadStride(sharedWith other: Tensor) -> Int? {
    guard rank == 4, other.shape == shape, dtype == .float32, other.dtype == .float32 else { return nil }
    guard let mine = cacheViewHeadStride(), let theirs = other.cacheViewHeadStride(), mine == theirs else {
      return nil
    }
    return mine
  }

  /// The block stride of this [B, G, T, D] view alone (see ``cacheViewHeadStride(sharedWith:)``).
  private func cacheViewHeadStride() -> Int? {
    let (b, g, t, d) = (shape[0], shape[1], shape[2], shape[3])
    let block = t * d
    guard d == 1 || strides[3] == 1, t == 1 || strides[2] == d else { return nil }
    // Size-1 axes carry no layout information; with one block any stride works.
    let headStride = g > 1 ? strides[1] : (b > 1 ? strides[0] : block)
    guard headStride >= block, b == 1 || strides[0] == g * headStride else { return nil }
    return headStride
  }
}
