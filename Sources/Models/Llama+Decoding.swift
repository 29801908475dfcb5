import LMCore
import NN
import TensorCore

extension Llama {
  /// Logits [T, V] for T ≤ ``TensorCore/Tensor/decoderStepMaximumTokens`` new tokens of one sequence
  /// through ``TensorCore/Tensor/decoderStep(layers:keys:values:row:position:configuration:)`` (only the
  /// last token's [1, V] when `lastOnly`), or nil when that path does not apply (too many tokens or
  /// sequences, gradients wanted, a cache that records queries, biases, LoRA adapters or a gate other than
  /// SiLU): the caller then runs the layers.
  func decodingStepLogits(_ ids: Tensor, state: DecodingState, lastOnly: Bool = false) throws -> Tensor? {
    guard ids.rank == 2, ids.shape[0] == 1, ids.shape[1] >= 1, ids.shape[1] <= Tensor.decoderStepMaximumTokens,
      let weights = fusedStepWeights()
    else { return nil }
    let tokens = ids.shape[1]
    guard let caches = try fusedStepCaches(state, tokens: tokens) else { return nil }
    try checkTokenIds(ids, model: "Llama", offset: state.position, contextLength: contextLength)
    let (rows, position) = (caches[0].length, caches[0].position)
    let h = try embedding(ids).reshaped([tokens, config.hiddenSize]).decoderStep(
      layers: weights, keys: caches.map(\.keys), values: caches.map(\.values), row: rows, position: position,
      configuration: decoderStepConfiguration)
    for cache in caches { try cache.advance(rows: tokens) }
    let kept = lastOnly && tokens > 1 ? try h.sliced(axis: 0, (tokens - 1)..<tokens) : h
    return try outputLogits(norm(kept))
  }

  /// Next-token logits [B, V] of B sequences continuing their own states by one token each, through the
  /// fused decoding step in groups of up to ``TensorCore/Tensor/decoderStepMaximumTokens`` sequences (each
  /// weight read once per group); sequences the fused step cannot take run through the layers one by one.
  public func batchedLastLogits(_ tokens: [Int], states: [DecodingState]) throws -> Tensor {
    guard tokens.count == states.count, !tokens.isEmpty else {
      throw TensorError("Llama", "batched decoding needs one state per token, got \(tokens.count) and \(states.count)")
    }
    let ids = Tensor(indices: tokens, shape: [1, tokens.count])
    try checkTokenIds(ids, model: "Llama", offset: 0, contextLength: contextLength)
    var fused: [[AttentionKV]] = []
    for state in states {
      guard let caches = try fusedStepCaches(state, tokens: 1), caches[0].position < contextLength else { break }
      fused.append(caches)
    }
    guard fused.count == states.count, let weights = fusedStepWeights() else {
      return try sequentialLastLogits(tokens, states: states)
    }
    var rows: [Tensor] = []
    for group in stride(from: 0, to: tokens.count, by: Tensor.decoderStepMaximumTokens) {
      let members = group..<min(group + Tensor.decoderStepMaximumTokens, tokens.count)
      let sequences = members.map { b in
        DecoderStepSequence(
          keys: fused[b].map(\.keys), values: fused[b].map(\.values), row: fused[b][0].length,
          position: fused[b][0].position, tokens: 1)
      }
      let x = try embedding(Tensor(indices: Array(tokens[members]), shape: [1, members.count]))
        .reshaped([members.count, config.hiddenSize])
      let h = try x.decoderStep(layers: weights, sequences: sequences, configuration: decoderStepConfiguration)
      for b in members { for cache in fused[b] { try cache.advance(rows: 1) } }
      rows.append(try outputLogits(norm(h)))  // [G, V]
    }
    return rows.count == 1 ? rows[0] : try Tensor.concatenate(rows, axis: 0)
  }

  /// The layers' caches of `state` when the fused step can append `tokens` tokens to it: one sequence,
  /// nothing watching the queries, every layer at the same row and position with room left; else nil.
  func fusedStepCaches(_ state: DecodingState, tokens: Int) throws -> [AttentionKV]? {
    let caches = try checkedLayers(state)
    let (rows, position) = (caches[0].length, caches[0].position)
    let fits = caches.allSatisfy {
      !$0.observesQueries && $0.layout.batch == 1 && $0.length == rows && $0.position == position
        && rows + tokens <= $0.capacity
    }
    return fits ? caches : nil
  }

  /// The fused step's weights when it applies: a SiLU gate, layers it can read, and no gradient wanted.
  func fusedStepWeights() -> [DecoderLayerWeights]? {
    guard config.activation == .silu, let weights = decodingWeights() else { return nil }
    if GradMode.isEnabled && (embedding.weight.requiresGrad || weights.contains(where: \.tracksGradients)) {
      return nil
    }
    return weights
  }

  /// The sizes and options of this model's fused decoding step.
  var decoderStepConfiguration: DecoderStepConfiguration {
    DecoderStepConfiguration(
      heads: config.heads, kvHeads: config.kvHeads, headDimensions: config.headDimensions,
      normEpsilon: config.rmsNormEps, rotary: config.rotary)
  }

  /// Every layer's weights for the fused decoding step (packed where a layer is packed), or nil when a
  /// layer has biases or adapters or a weight that is neither a dense float32 array nor packed.
  func decodingWeights() -> [DecoderLayerWeights]? {
    var result: [DecoderLayerWeights] = []
    result.reserveCapacity(layers.count)
    func weight(_ linear: Linear) -> DecoderWeight { linear.packed.map { .packed($0) } ?? .dense(linear.weight) }
    for block in layers {
      let (attention, mlp) = (block.attention, block.mlp)
      let linears = [
        attention.queryProjection, attention.keyProjection, attention.valueProjection, attention.outputProjection,
        mlp.gate, mlp.up, mlp.down,
      ]
      guard linears.allSatisfy(\.isBare) else { return nil }
      let weights = DecoderLayerWeights(
        attentionNorm: block.attentionNorm.weight, query: weight(attention.queryProjection),
        key: weight(attention.keyProjection), value: weight(attention.valueProjection),
        output: weight(attention.outputProjection), mlpNorm: block.mlpNorm.weight, gate: weight(mlp.gate),
        up: weight(mlp.up), down: weight(mlp.down))
      guard weights.isReadable else { return nil }
      result.append(weights)
    }
    return result
  }

  /// Packs every projection and the output head into `format` for decoding (``NN/Linear/pack(_:)``; the
  /// tied head is packed apart from the embedding, which lookups keep reading in float32). `.float32` drops
  /// the packed copies. Throws, naming the tensor, when a weight cannot take the format (a Q8_0 group size
  /// that does not divide its width).
  public func packWeights(_ format: WeightFormat) throws {
    for (i, block) in layers.enumerated() {
      let (attention, mlp) = (block.attention, block.mlp)
      let named: [(String, Linear)] = [
        ("self_attn.q_proj", attention.queryProjection), ("self_attn.k_proj", attention.keyProjection),
        ("self_attn.v_proj", attention.valueProjection), ("self_attn.o_proj", attention.outputProjection),
        ("mlp.gate_proj", mlp.gate), ("mlp.up_proj", mlp.up), ("mlp.down_proj", mlp.down),
      ]
      for (name, linear) in named {
        do {
          try linear.pack(format)
        } catch {
          throw TensorError(
            "Llama", "model.layers.\(i).\(name).weight \(linear.weight.shape) cannot be \(format): \(error)")
        }
      }
    }
    do {
      if let head {
        try head.pack(format)
      } else {
        packedHead = format == .float32 ? nil : try PackedMatrix(embedding.weight, format: format)
      }
    } catch {
      throw TensorError("Llama", "the output head \(embedding.weight.shape) cannot be \(format): \(error)")
    }
  }
}
