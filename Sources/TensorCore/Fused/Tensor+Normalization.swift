import Kernels

extension Tensor {
  /// RMSNorm over the last axis: x / sqrt(mean(x²) + eps) · weight.
  public func rmsNorm(weight: Tensor?, eps: Float) throws -> Tensor {
    let cols = shape.last ?? 1
    if let weight, weight.shape != [cols] {
      throw TensorError.shapes("rmsNorm", shape, weight.shape, "do not match: weight must be [last axis]")
    }
    let x = detached().float32Contiguous()
    let w = weight?.detached().contiguous()
    let rows = count / Swift.max(cols, 1)
    let y = Tensor(uninitializedShape: shape)
    let rstd = Tensor(uninitializedShape: [rows])
    Normalization.rmsNormForward(
      x.pointer(), weight: w?.pointer(), y.pointer(), rstd: rstd.pointer(), rows: rows, cols: cols, eps: eps)
    let inputs = weight.map { [self, $0] } ?? [self]
    return y.recorded("rmsNorm", inputs) { g in
      let gc = g.contiguous()
      let dx = Tensor(uninitializedShape: x.shape)
      let dw = w.map { Tensor.zeros($0.shape) }
      Normalization.rmsNormBackward(
        x.pointer(), weight: w?.pointer(), rstd: rstd.pointer(), dy: gc.pointer(), dx: dx.pointer(),
        dweight: dw?.pointer(), rows: rows, cols: cols)
      return dw.map { [dx, $0] } ?? [dx]
    }
  }

  /// LayerNorm over the last axis: (x - mean) / sqrt(var + eps) · weight + bias.
  public func layerNorm(weight: Tensor?, bias: Tensor?, eps: Float) throws -> Tensor {
    let cols = shape.last ?? 1
    for p in [weight, bias].compactMap({ $0 }) where p.shape != [cols] {
      throw TensorError.shapes("layerNorm", shape, p.shape, "do not match: weight and bias must be [last axis]")
    }
    let x = detached().float32Contiguous()
    let w = weight?.detached().contiguous()
    let b = bias?.detached().contiguous()
    let rows = count / Swift.max(cols, 1)
    let y = Tensor(uninitializedShape: shape)
    let mean = Tensor(uninitializedShape: [rows])
    let rstd = Tensor(uninitializedShape: [rows])
    Normalization.layerNormForward(
      x.pointer(), weight: w?.pointer(), bias: b?.pointer(), y.pointer(), mean: mean.pointer(), rstd: rstd.pointer(),
      rows: rows, cols: cols, eps: eps)
    var inputs = [self]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return y.recorded("layerNorm", inputs) { g in
      let gc = g.contiguous()
      let dx = Tensor(uninitializedShape: x.shape)
      let dw = w.map { Tensor.zeros($0.shape) }
      let db = b.map { Tensor.zeros($0.shape) }
      Normalization.layerNormBackward(
        x.pointer(), weight: w?.pointer(), mean: mean.pointer(), rstd: rstd.pointer(), dy: gc.pointer(),
        dx: dx.pointer(), dweight: dw?.pointer(), dbias: db?.pointer(), rows: rows, cols: cols)
      var grads: [Tensor?] = [dx]
      if let dw { grads.append(dw) }
      if let db { grads.append(db) }
      return grads
    }
  }

  /// GroupNorm of x [N, C, ...] with `groups` groups and per-channel weight and bias [C].
  public func groupNorm(groups: Int, weight: Tensor?, bias: Tensor?, eps: Float) throws -> Tensor {
    guard rank >= 2 else { throw TensorError("groupNorm", "input must be [N, C, ...], got \(shape)") }
    let channels = shape[1]
    guard groups > 0, channels % groups == 0 else {
      throw TensorError("groupNorm", "\(channels) channels cannot be split into \(groups) groups")
    }
    for p in [weight, bias].compactMap({ $0 }) where p.shape != [channels] {
      throw TensorError.shapes("groupNorm", shape, p.shape, "do not match: weight and bias must be [channels]")
    }
    let x = detached().float32Contiguous()
    let w = weight?.detached().contiguous()
    let b = bias?.detached().contiguous()
    let batch = shape[0]
    let spatial = count / Swift.max(batch * channels, 1)
    let y = Tensor(uninitializedShape: shape)
    let mean = Tensor(uninitializedShape: [batch * groups])
    let rstd = Tensor(uninitializedShape: [batch * groups])
    Normalization.groupNormForward(
      x.pointer(), weight: w?.pointer(), bias: b?.pointer(), y.pointer(), mean: mean.pointer(), rstd: rstd.pointer(),
      batch: batch, channels: channels, spatial: spatial, groups: groups, eps: eps)
    var inputs = [self]
    if let weight { inputs.append(weight) }
    if let bias { inputs.append(bias) }
    return y.recorded("groupNorm", inputs) { g in
      let gc = g.contiguous()
      let dx = Tensor(uninitializedShape: x.shape)
      let dw = w.map { Tensor.zeros($0.shape) }
      let db = b.map { Tensor.zeros($0.shape) }
      Normalization.groupNormBackward(
        x.pointer(), weight: w?.pointer(), mean: mean.pointer(), rstd: rstd.pointer(), dy: gc.pointer(),
        dx: dx.pointer(), dweight: dw?.pointer(), dbias: db?.pointer(), batch: batch, channels: channels,
        spatial: spatial, groups: groups)
      var grads: [Tensor?] = [dx]
      if let dw { grads.append(dw) }
      if let db { grads.append(db) }
      return grads
    }
  }
}
