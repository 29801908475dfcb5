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
    let shape = AttentionShape(batch: b, heads: h, kvHeads: hkv, queryLength: tq, keyLength: tk, headDim: d)
    let s = scale ?? 1 / Float(d).squareRoot()
    let q = query.detached().float32Contiguous()
    let k = key.detached().float32Contiguous()
    let v = value.detached().float32Contiguous()
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
    var inputs = [query, key, value]
    if let bias { inputs.append(bias) }
    let biasShape = bias?.shape
    return out.recorded("attention", inputs) { g in
      let gc = g.contiguous()
      let dq = Tensor(uninitializedShape: q.shape)
      let dk = Tensor(uninitializedShape: k.shape)
      let dv = Tensor(uninitializedShape: v.shape)
      let dBias = biasData.map { Tensor.zeros($0.shape) }
      Attention.backward(
        q: q.pointer(), k: k.pointer(), v: v.pointer(), out: out.pointer(), dOut: gc.pointer(),
        logSumExp: lse.pointer(),
        dq: dq.pointer(), dk: dk.pointer(), dv: dv.pointer(), dBias: dBias?.pointer(), shape: shape, mask: mask,
        bias: biasView, scale: s)
      _ = biasData
      var grads: [Tensor?] = [dq, dk, dv]
      if let dBias, let biasShape { grads.append(try dBias.summed(toShape: biasShape)) }
      return grads
    }
  }
}
