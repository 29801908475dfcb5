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
      config.activation == .silu
    else { return nil }
    let caches = try checkedLayers(state)
    guard caches.allSatisfy({ !$0.observesQueries && $0.layout.batch == 1 }), let weights = decodingWeights() else {
      return nil
    }
    if GradMode.isEnabled && (embedding.weight.requiresGrad || weights.contains(where: \.tracksGradients)) {
      return nil
    }
    try checkTokenIds(ids, model: "Llama", offset: state.position, contextLength: contextLength)
    let tokens = ids.shape[1]
    let (rows, position) = (caches[0].length, caches[0].position)
    guard caches.allSatisfy({ $0.length == rows && $0.position == position && rows + tokens <= $0.capacity }) else {
      return nil
    }
    let configuration = DecoderStepConfiguration(
      heads: config.heads, kvHeads: config.kvHeads, headDimensions: config.headDimensions,
      normEpsilon: config.rmsNormEps, rotary: config.rotary)
    let h = try embedding(ids).reshaped([tokens, config.hiddenSize]).decoderStep(
      layers: weights, keys: caches.map(\.keys), values: caches.map(\.values), row: rows, position: position,
      configuration: configuration)
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
    let caches = try states.map { try checkedLayers($0) }
    let fused =
      config.activation == .silu && !(GradMode.isEnabled && embedding.weight.requiresGrad)
      && caches.allSatisfy { layers in
        let (rows, position) = (layers[0].length, layers[0].position)
        return position < contextLength
          && layers.allSatisfy {
            !$0.observesQueries && $0.layout.batch == 1 && $0.length == rows && $0.position == position
              && rows < $0.capacity
          }
      }
    guard fused, let weights = decodingWeights(), !weights.contains(where: \.tracksGradients) else {
      return try sequentialLastLogits(tokens, states: states)
    }
    let configuration = DecoderStepConfiguration(
      heads: config.heads, kvHeads: config.kvHeads, headDimensions: config.headDimensions,
      normEpsilon: config.rmsNormEps, rotary: config.rotary)
    var rows: [Tensor] = []
    for group in stride(from: 0, to: tokens.count, by: Tensor.decoderStepMaximumTokens) {
      let members = group..<min(group + Tensor.decoderStepMaximumTokens, tokens.count)
      let sequences = members.map { b in
        DecoderStepSequence(
          keys: caches[b].map(\.keys), values: caches[b].map(\.values), row: caches[b][0].length,
          position: caches[b][0].position, tokens: 1)
      }
      let x = try embedding(Tensor(indices: Array(tokens[members]), shape: [1, members.count]))
        .reshaped([members.count, config.hiddenSize])
      let h = try x.decoderStep(layers: weights, sequences: sequences, configuration: configuration)
      for b in members { for cache in caches[b] { try cache.advance(rows: 1) } }
      rows.append(try outputLogits(norm(h)))  // [G, V]
    }
    return rows.count == 1 ? rows[0] : try Tensor.concatenate(rows, axis: 0)
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
