import Kernels

/// One weight matrix [out, in] of a decoding step: a dense float32 tensor or a ``PackedMatrix``.
public enum DecoderWeight {
  /// A dense float32 [out, in] tensor.
  case dense(Tensor)
  /// A packed (bf16, Q8_0) matrix.
  case packed(PackedMatrix)

  /// [out, in].
  public var shape: [Int] {
    switch self {
    case .dense(let t): return t.shape
    case .packed(let p): return [p.rows, p.columns]
    }
  }

  /// Whether it takes part in a gradient computation.
  var tracksGradients: Bool {
    if case .dense(let t) = self { return t.requiresGrad }
    return false
  }

  /// Whether the fused step can read it (a dense weight must be contiguous float32).
  var isReadable: Bool {
    if case .dense(let t) = self { return t.dtype == .float32 && t.isContiguous }
    return true
  }

  /// The kernels' view.
  var kernelWeights: Gemv.Weights {
    switch self {
    case .dense(let t): return .float32(UnsafePointer(t.pointer()), rowStride: t.shape[1])
    case .packed(let p): return p.kernelWeights
    }
  }
}

/// The weights of one pre-norm decoder layer with grouped-query attention and a SwiGLU MLP (the Llama
/// block), as ``Tensor/decoderStep(layers:sequences:configuration:)`` reads them. Linear weights are [out, in].
public struct DecoderLayerWeights {
  /// RMSNorm weight before attention [C].
  public var attentionNorm: Tensor
  /// Query projection [H·D, C].
  public var query: DecoderWeight
  /// Key projection [G·D, C].
  public var key: DecoderWeight
  /// Value projection [G·D, C].
  public var value: DecoderWeight
  /// Output projection [C, H·D].
  public var output: DecoderWeight
  /// RMSNorm weight before the MLP [C].
  public var mlpNorm: Tensor
  /// Gate projection [F, C].
  public var gate: DecoderWeight
  /// Up projection [F, C].
  public var up: DecoderWeight
  /// Down projection [C, F].
  public var down: DecoderWeight

  /// Collects one layer's weights.
  public init(
    attentionNorm: Tensor, query: DecoderWeight, key: DecoderWeight, value: DecoderWeight, output: DecoderWeight,
    mlpNorm: Tensor, gate: DecoderWeight, up: DecoderWeight, down: DecoderWeight
  ) {
    (self.attentionNorm, self.query, self.key, self.value, self.output) = (attentionNorm, query, key, value, output)
    (self.mlpNorm, self.gate, self.up, self.down) = (mlpNorm, gate, up, down)
  }

  /// Collects one layer's dense float32 weights.
  public init(
    attentionNorm: Tensor, query: Tensor, key: Tensor, value: Tensor, output: Tensor, mlpNorm: Tensor, gate: Tensor,
    up: Tensor, down: Tensor
  ) {
    self.init(
      attentionNorm: attentionNorm, query: .dense(query), key: .dense(key), value: .dense(value),
      output: .dense(output), mlpNorm: mlpNorm, gate: .dense(gate), up: .dense(up), down: .dense(down))
  }

  /// The seven matrices in order q, k, v, o, gate, up, down.
  var matrices: [DecoderWeight] { [query, key, value, output, gate, up, down] }

  /// Whether any of the weights takes part in a gradient computation.
  public var tracksGradients: Bool {
    attentionNorm.requiresGrad || mlpNorm.requiresGrad || matrices.contains { $0.tracksGradients }
  }

  /// Whether every weight is in a form the fused step reads (dense float32 arrays or packed matrices).
  public var isReadable: Bool {
    [attentionNorm, mlpNorm].allSatisfy { $0.dtype == .float32 && $0.isContiguous } && matrices.allSatisfy(\.isReadable)
  }
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

/// One sequence of a ``Tensor/decoderStep(layers:sequences:configuration:)``: its caches and where its
/// tokens go.
public struct DecoderStepSequence {
  /// Keys [1, G, capacity, D] of each layer (written at rows `row ..< row + tokens`).
  public var keys: [Tensor]
  /// Values [1, G, capacity, D] of each layer.
  public var values: [Tensor]
  /// The cache row of the first token.
  public var row: Int
  /// The sequence position of the first token.
  public var position: Int
  /// Tokens of this sequence (consecutive input rows).
  public var tokens: Int

  /// Describes one sequence.
  public init(keys: [Tensor], values: [Tensor], row: Int, position: Int, tokens: Int) {
    (self.keys, self.values, self.row, self.position, self.tokens) = (keys, values, row, position, tokens)
  }
}

extension Tensor {
  /// The most tokens one ``decoderStep(layers:sequences:configuration:)`` takes.
  public static var decoderStepMaximumTokens: Int { DecoderStep.maximumTokens }

  /// ``decoderStep(layers:sequences:configuration:)`` for the tokens of one sequence.
  public func decoderStep(
    layers: [DecoderLayerWeights], keys: [Tensor], values: [Tensor], row: Int, position: Int,
    configuration: DecoderStepConfiguration
  ) throws -> Tensor {
    try decoderStep(
      layers: layers,
      sequences: [
        DecoderStepSequence(keys: keys, values: values, row: row, position: position, tokens: rank == 2 ? shape[0] : 1)
      ], configuration: configuration)
  }

  /// Runs a few tokens through pre-norm decoder layers — h += o(attention(rope(q), rope(k), v)) over a KV
  /// cache after RMSNorm, then h += down(silu(gate(x)) ⊙ up(x)) after RMSNorm — straight on the kernels
  /// (``Kernels/DecoderStep``), with no intermediate tensors: the decoding (one token), batched decoding
  /// (one token of each of several sequences) and speculative-verification (a few tokens) path of
  /// Llama-family models, where per-operation overhead would otherwise rival the weight streaming. Each
  /// weight row is read once for all the tokens.
  ///
  /// `self` holds the tokens' embeddings, [C] for one token or [T, C] for T ≤ ``decoderStepMaximumTokens``,
  /// the sequences' tokens one after another. A sequence's keys and values go into rows `row ..< row + Ts`
  /// of each layer's cache [1, G, capacity, D] (token t rotated at position `position + t`), and its token t
  /// attends to its own rows 0...row + t. Returns the last layer's output with the input's shape (before
  /// the final norm). Records no gradient; computes the same function as the per-operation layers.
  public func decoderStep(
    layers: [DecoderLayerWeights], sequences: [DecoderStepSequence], configuration: DecoderStepConfiguration
  ) throws -> Tensor {
    let (h, g, d) = (configuration.heads, configuration.kvHeads, configuration.headDimensions)
    let c = shape.last ?? 0
    let tokens = rank == 2 ? shape[0] : 1
    guard rank == 1 || rank == 2, tokens >= 1, tokens <= Self.decoderStepMaximumTokens,
      sequences.reduce(0, { $0 + $1.tokens }) == tokens, sequences.allSatisfy({ $0.tokens > 0 })
    else {
      throw TensorError(
        "decoderStep",
        "the input \(shape) must be one embedding [C] or up to \(Self.decoderStepMaximumTokens) of them [T, C], "
          + "split among the sequences")
    }
    let f = layers.first?.gate.shape[0] ?? 0
    let rotaryWidth = configuration.rotary.rotaryDimensions ?? d
    guard h > 0, g > 0, h % g == 0, d > 0, rotaryWidth % 2 == 0, rotaryWidth <= d else {
      throw TensorError("decoderStep", "heads \(h), kv heads \(g) and head width \(d) do not fit together")
    }
    var pointers: [DecoderSequence] = []
    for sequence in sequences {
      let (keys, values, row, tokens) = (sequence.keys, sequence.values, sequence.row, sequence.tokens)
      let capacity = keys.first.map { $0.rank == 4 ? $0.shape[2] : 0 } ?? 0
      guard keys.count == layers.count, values.count == layers.count, row >= 0, row + tokens <= capacity,
        sequence.position >= 0
      else {
        throw TensorError(
          "decoderStep",
          "the cache (\(keys.count) layers, capacity \(capacity)) cannot take rows \(row)..<\(row + tokens)")
      }
      for (layer, (k, v)) in zip(keys, values).enumerated() {
        guard k.shape == [1, g, capacity, d], v.shape == k.shape, k.isContiguous, v.isContiguous,
          k.dtype == .float32, v.dtype == .float32, !k.storage.isMapped, !v.storage.isMapped
        else {
          throw TensorError.shapes(
            "decoderStep", k.shape, [1, g, capacity, d], "cache of layer \(layer) does not match")
        }
      }
      pointers.append(
        DecoderSequence(
          keys: keys.map { $0.pointer() }, values: values.map { $0.pointer() }, capacity: capacity, row: row,
          position: sequence.position, tokens: tokens))
    }
    let expected: [[Int]] = [[h * d, c], [g * d, c], [g * d, c], [c, h * d], [f, c], [f, c], [c, f]]
    for (layer, weights) in layers.enumerated() {
      for norm in [weights.attentionNorm, weights.mlpNorm] {
        guard norm.shape == [c], norm.dtype == .float32, norm.isContiguous else {
          throw TensorError.shapes("decoderStep", norm.shape, [c], "norm weight of layer \(layer) does not match")
        }
      }
      for (matrix, shape) in zip(weights.matrices, expected) {
        guard matrix.shape == shape, matrix.isReadable else {
          throw TensorError.shapes("decoderStep", matrix.shape, shape, "weight of layer \(layer) does not match")
        }
      }
    }
    let x = detached().float32Contiguous().copiedStorage()  // the residual stream [T, C], updated in place
    let weights = layers.map {
      DecoderLayerPointers(
        attentionNorm: $0.attentionNorm.pointer(), query: $0.query.kernelWeights, key: $0.key.kernelWeights,
        value: $0.value.kernelWeights, output: $0.output.kernelWeights, mlpNorm: $0.mlpNorm.pointer(),
        gate: $0.gate.kernelWeights, up: $0.up.kernelWeights, down: $0.down.kernelWeights)
    }
    DecoderStep.run(
      x.pointer(), layers: weights, sequences: pointers,
      shape: DecoderStepShape(
        width: c, heads: h, kvHeads: g, headDimensions: d, mlpWidth: f, rotaryDimensions: rotaryWidth,
        rotaryBase: configuration.rotary.base, rotaryInterleaved: configuration.rotary.interleaved,
        normEpsilon: configuration.normEpsilon))
    withExtendedLifetime((layers, sequences)) {}
    return x
  }
}
