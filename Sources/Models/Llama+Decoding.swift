import LMCore
import NN
import TensorCore

extension Llama {
  /// Logits [T, V] for T ≤ ``TensorCore/Tensor/decoderStepMaximumTokens`` new tokens of one sequence
  /// through ``TensorCore/Tensor/decoderStep(layers:keys:values:row:position:configuration:)`` (only the
  /// last token's [1, V] when `lastOnly`), or nil when that path does not apply (too many tokens or
  /// sequences, gradients wanted, a cache that records queries, biases, LoRA adapters or a gate other than
  /// SiLU): the caller then runs the layers.
  func decodingStepLogits(_ ids: Tensor, cache: KVCache, lastOnly: Bool = false) throws -> Tensor? {
    guard ids.rank == 2, ids.shape[0] == 1, ids.shape[1] >= 1, ids.shape[1] <= Tensor.decoderStepMaximumTokens,
      !cache.recordsQueries, config.activation == .silu, cache.keys.first?.shape[0] == 1,
      let weights = decodingWeights()
    else { return nil }
    if GradMode.isEnabled && (embedding.weight.requiresGrad || weights.contains(where: \.tracksGradients)) {
      return nil
    }
    try checkTokenIds(ids, model: "Llama", offset: cache.nextPosition, contextLength: contextLength)
    let tokens = ids.shape[1]
    guard cache.length + tokens <= cache.capacity else { return nil }
    let configuration = DecoderStepConfiguration(
      heads: config.heads, kvHeads: config.kvHeads, headDimensions: config.headDimensions,
      normEpsilon: config.rmsNormEps, rotary: config.rotary)
    let h = try embedding(ids).reshaped([tokens, config.hiddenSize]).decoderStep(
      layers: weights, keys: cache.keys, values: cache.values, row: cache.length, position: cache.nextPosition,
      configuration: configuration)
    try cache.advance(rows: tokens)
    let kept = lastOnly && tokens > 1 ? try h.sliced(axis: 0, (tokens - 1)..<tokens) : h
    return try outputLogits(norm(kept))
  }

  /// Every layer's weights for the fused decoding step, or nil when a layer has biases or adapters or a
  /// weight that is not a dense float32 array.
  func decodingWeights() -> [DecoderLayerWeights]? {
    var result: [DecoderLayerWeights] = []
    result.reserveCapacity(layers.count)
    for block in layers {
      let (attention, mlp) = (block.attention, block.mlp)
      let linears = [
        attention.queryProjection, attention.keyProjection, attention.valueProjection, attention.outputProjection,
        mlp.gate, mlp.up, mlp.down,
      ]
      guard linears.allSatisfy(\.isBare) else { return nil }
      let weights = DecoderLayerWeights(
        attentionNorm: block.attentionNorm.weight, query: attention.queryProjection.weight,
        key: attention.keyProjection.weight, value: attention.valueProjection.weight,
        output: attention.outputProjection.weight, mlpNorm: block.mlpNorm.weight, gate: mlp.gate.weight,
        up: mlp.up.weight, down: mlp.down.weight)
      guard weights.isDenseFloat32 else { return nil }
      result.append(weights)
    }
    return result
  }
}
