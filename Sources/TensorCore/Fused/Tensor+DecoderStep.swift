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
    let expected: [[Int]] = [[c], [h * d, c], [g * d, c], [g * d, c], [c, h * d], [c], [f, c], [f, c], [c, f]]
    for (layer, weights) in layers.enumerated() {
      for (tensor, shape) in zip(weights.all, expected) {
        guard tensor.shape == shape, tensor.dtype == .float32, tensor.isContiguous else {
          throw TensorError.shapes("decoderStep", tensor.shape, shape, "weight of layer \(layer) does not match")
        }
      }
    }
    let x = detached().float32Contiguous().copiedStorage()  // the residual stream [T, C], updated in place
    let weights = layers.map {
      DecoderLayerPointers(
        attentionNorm: $0.attentionNorm.pointer(), query: $0.query.pointer(), key: $0.key.pointer(),
        value: $0.value.pointer(), output: $0.output.pointer(), mlpNorm: $0.mlpNorm.pointer(), gate: $0.gate.pointer(),
        up: $0.up.pointer(), down: $0.down.pointer())
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
