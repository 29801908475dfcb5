import Kernels

/// The weights of one pre-norm decoder layer with grouped-query attention and a SwiGLU MLP (the Llama
/// block), as ``Tensor/decoderStep(layers:keys:values:row:position:configuration:)`` reads them. Linear
/// weights are stored [out, in].
public struct DecoderLayerWeights {
  /// RMSNorm weight before attention [C].
  public var attentionNorm: Tensor
  /// Query projection [H·D, C].
  public var query: Tensor
  /// Key projection [G·D, C].
  public var key: Tensor
  /// Value projection [G·D, C].
  public var value: Tensor
  /// Output projection [C, H·D].
  public var output: Tensor
  /// RMSNorm weight before the MLP [C].
  public var mlpNorm: Tensor
  /// Gate projection [F, C].
  public var gate: Tensor
  /// Up projection [F, C].
  public var up: Tensor
  /// Down projection [C, F].
  public var down: Tensor

  /// Collects one layer's weights.
  public init(
    attentionNorm: Tensor, query: Tensor, key: Tensor, value: Tensor, output: Tensor, mlpNorm: Tensor, gate: Tensor,
    up: Tensor, down: Tensor
  ) {
    (self.attentionNorm, self.query, self.key, self.value, self.output) = (attentionNorm, query, key, value, output)
    (self.mlpNorm, self.gate, self.up, self.down) = (mlpNorm, gate, up, down)
  }

  /// Every tensor of the layer.
  var all: [Tensor] { [attentionNorm, query, key, value, output, mlpNorm, gate, up, down] }

  /// Whether any of the weights takes part in a gradient computation.
  public var tracksGradients: Bool { all.contains { $0.requiresGrad } }

  /// Whether every weight is a dense float32 array, as the fused step reads them.
  public var isDenseFloat32: Bool { all.allSatisfy { $0.dtype == .float32 && $0.isContiguous } }
}

/// Sizes and options shared by the layers of a ``Tensor/decoderStep(layers:keys:values:row:position:configuration:)``.
public struct DecoderStepConfiguration {
  /// Query heads H.
  public var heads: Int
  /// Key/value heads G (H is a multiple of G).
  public var kvHeads: Int
  /// Head width D.
  public var headDimensions: Int
  /// RMSNorm epsilon.
  public var normEpsilon: Float
  /// The rotary embedding applied to queries and keys.
  public var rotary: RotaryConfiguration

  /// Creates a configuration.
  public init(heads: Int, kvHeads: Int, headDimensions: Int, normEpsilon: Float, rotary: RotaryConfiguration) {
    (self.heads, self.kvHeads, self.headDimensions) = (heads, kvHeads, headDimensions)
    (self.normEpsilon, self.rotary) = (normEpsilon, rotary)
  }
}

extension Tensor {
  /// The most tokens one ``decoderStep(layers:keys:values:row:position:configuration:)`` takes.
  public static var decoderStepMaximumTokens: Int { Gemv.maximumRows }

  /// Runs a few tokens through pre-norm decoder layers — h += o(attention(rope(q), rope(k), v)) over a KV
  /// cache after RMSNorm, then h += down(silu(gate(x)) ⊙ up(x)) after RMSNorm — straight on the kernels,
  /// with no intermediate tensors: the decoding (one token) and speculative-verification (a few tokens)
  /// path of Llama-family models, where the arithmetic is small and per-operation overhead would otherwise
  /// rival the weight streaming. Each weight row is read once for all the tokens.
  ///
  /// `self` holds the tokens' embeddings, [C] for one token or [T, C] for T ≤ ``Gemv/maximumRows``. Their
  /// keys and values go into rows `row ..< row + T` of each layer's cache [1, G, capacity, D] (token t
  /// rotated at sequence position `position + t`), and token t attends to rows 0...row + t. Returns the last
  /// layer's output with the input's shape (before the final norm). Records no gradient; computes the same
  /// function as the per-operation layers.
  public func decoderStep(
    layers: [DecoderLayerWeights], keys: [Tensor], values: [Tensor], row: Int, position: Int,
    configuration: DecoderStepConfiguration
  ) throws -> Tensor {
    let (h, g, d) = (configuration.heads, configuration.kvHeads, configuration.headDimensions)
    let c = shape.last ?? 0
    let tokens = rank == 2 ? shape[0] : 1
    guard rank == 1 || rank == 2, tokens >= 1, tokens <= Gemv.maximumRows else {
      throw TensorError(
        "decoderStep", "the input \(shape) must be one embedding [C] or up to \(Gemv.maximumRows) of them [T, C]")
    }
    let f = layers.first?.gate.shape[0] ?? 0
    let capacity = keys.first.map { $0.rank == 4 ? $0.shape[2] : 0 } ?? 0
    let rotaryWidth = configuration.rotary.rotaryDimensions ?? d
    guard h > 0, g > 0, h % g == 0, d > 0, rotaryWidth % 2 == 0, rotaryWidth <= d else {
      throw TensorError("decoderStep", "heads \(h), kv heads \(g) and head width \(d) do not fit together")
    }
    guard keys.count == layers.count, values.count == layers.count, row >= 0, row + tokens <= capacity, position >= 0
    else {
      throw TensorError(
        "decoderStep",
        "the cache (\(keys.count) layers, capacity \(capacity)) cannot take rows \(row)..<\(row + tokens)")
    }
    for (layer, (k, v)) in zip(keys, values).enumerated() {
      guard k.shape == [1, g, capacity, d], v.shape == k.shape, k.isContiguous, v.isContiguous,
        k.dtype == .float32, v.dtype == .float32, !k.storage.isMapped, !v.storage.isMapped
      else {
        throw TensorError.shapes("decoderStep", k.shape, [1, g, capacity, d], "cache of layer \(layer) does not match")
      }
    }
    let expected: [[Int]] = [[c], [h * d, c], [g * d, c], [g * d, c], [c, h * d], [c], [f, c], [f, c], [c, f]]
    for (layer, weights) in layers.enumerated() {
      for (tensor, shape) in zip(weights.all, expected) {
        guard tensor.shape == shape, tensor.dtype == .float32, tensor.isContiguous else {
          throw TensorError.shapes("decoderStep", tensor.shape, shape, "weight of layer \(layer) does not match")
        }
      }
    }
    let x = detached().float32Contiguous().copiedStorage()  // the residual stream [T, C], updated in place
    // Scratch per token: normed input, q, k, v, rotated q by head [H, T, D], rotated k, attention output by
    // head [H, T, D] and by token [T, H·D], log-sum-exp, gate, up, rstd.
    let sizes = [c, h * d, g * d, g * d, h * d, g * d, h * d, h * d, h, f, f, 1].map { $0 * tokens }
    let scratch = Tensor(uninitializedShape: [sizes.reduce(0, +)])
    var offsets: [Int] = []
    var next = 0
    for size in sizes {
      offsets.append(next)
      next += size
    }
    let base = scratch.pointer()
    let (xn, q, k, v, qr, kr, att, merged, lse, gate, up, rstd) = (
      base + offsets[0], base + offsets[1], base + offsets[2], base + offsets[3], base + offsets[4],
      base + offsets[5], base + offsets[6], base + offsets[7], base + offsets[8], base + offsets[9],
      base + offsets[10], base + offsets[11]
    )
    let hidden = x.pointer()
    let shape = AttentionShape(
      batch: 1, heads: h, kvHeads: g, queryLength: tokens, keyLength: row + tokens, headDim: d,
      kvHeadStride: capacity * d)
    let mask = AttentionMask(causal: true, queryOffset: row)
    let scale = 1 / Float(d).squareRoot()
    func rotate(_ source: UnsafeMutablePointer<Float>, _ target: UnsafeMutablePointer<Float>, heads: Int) {
      Rotary.apply(
        source, target, outer: 1, seq: tokens, heads: heads, headDim: d, rotaryDim: rotaryWidth,
        base: configuration.rotary.base, positionOffset: position, positions: nil,
        interleaved: configuration.rotary.interleaved, inverse: false)
    }
    for (layer, w) in layers.enumerated() {
      Normalization.rmsNormForward(
        hidden, weight: w.attentionNorm.pointer(), xn, rstd: rstd, rows: tokens, cols: c,
        eps: configuration.normEpsilon)
      Gemv.multiplyTransposed(
        m: tokens, k: c, x: xn, ldx: c,
        products: [
          Gemv.Product(w: w.query.pointer(), ldw: c, columns: h * d, y: q, ldy: h * d),
          Gemv.Product(w: w.key.pointer(), ldw: c, columns: g * d, y: k, ldy: g * d),
          Gemv.Product(w: w.value.pointer(), ldw: c, columns: g * d, y: v, ldy: g * d),
        ])
      rotate(q, q, heads: h)
      rotate(k, kr, heads: g)
      // Queries by head for the attention kernel: [T, H, D] -> [H, T, D].
      for t in 0..<tokens {
        for head in 0..<h { (qr + (head * tokens + t) * d).update(from: q + (t * h + head) * d, count: d) }
      }
      let (cachedKeys, cachedValues) = (keys[layer].pointer(), values[layer].pointer())
      for t in 0..<tokens {
        for head in 0..<g {
          let slot = (head * capacity + row + t) * d
          (cachedKeys + slot).update(from: kr + (t * g + head) * d, count: d)
          (cachedValues + slot).update(from: v + (t * g + head) * d, count: d)
        }
      }
      Attention.forward(
        q: qr, k: cachedKeys, v: cachedValues, out: att, logSumExp: lse, shape: shape, mask: mask, bias: nil,
        scale: scale)
      // Back to one row per token: [H, T, D] -> [T, H·D].
      for t in 0..<tokens {
        for head in 0..<h { (merged + (t * h + head) * d).update(from: att + (head * tokens + t) * d, count: d) }
      }
      Gemv.multiplyTransposed(
        m: tokens, k: h * d, x: merged, ldx: h * d,
        products: [Gemv.Product(w: w.output.pointer(), ldw: h * d, columns: c, y: hidden, ldy: c, accumulate: true)])
      Normalization.rmsNormForward(
        hidden, weight: w.mlpNorm.pointer(), xn, rstd: rstd, rows: tokens, cols: c, eps: configuration.normEpsilon)
      Gemv.multiplyTransposed(
        m: tokens, k: c, x: xn, ldx: c,
        products: [
          Gemv.Product(w: w.gate.pointer(), ldw: c, columns: f, y: gate, ldy: f),
          Gemv.Product(w: w.up.pointer(), ldw: c, columns: f, y: up, ldy: f),
        ])
      Elementwise.siluGated(gate, up, gate, count: f * tokens)
      Gemv.multiplyTransposed(
        m: tokens, k: f, x: gate, ldx: f,
        products: [Gemv.Product(w: w.down.pointer(), ldw: f, columns: c, y: hidden, ldy: c, accumulate: true)])
    }
    return x
  }
}
