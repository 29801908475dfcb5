import LMCore
import NN
import TensorCore

extension Llama {
  /// Logits [1, V] for one new token through ``TensorCore/Tensor/decoderStep(layers:keys:values:row:position:configuration:)``,
  /// or nil when that path does not apply (several tokens or sequences, gradients wanted, a cache that
  /// records queries, biases, LoRA adapters or a gate other than SiLU): the caller then runs the layers.
  func decodingStepLogits(_ ids: Tensor, cache: KVCache) throws -> Tensor? {
    guard ids.shape == [1, 1], !cache.recordsQueries, config.activation == .silu, cache.keys.first?.shape[0] == 1,
      let weights = decodingWeights()
    else { return nil }
    if GradMode.isEnabled && (embedding.weight.requiresGrad || weights.contains(where: \.tracksGradients)) {
      return nil
    }
    try checkTokenIds(ids, model: "Llama", offset: cache.nextPosition, contextLength: contextLength)
    let configuration = DecoderStepConfiguration(
      heads: config.heads, kvHeads: config.kvHeads, headDimensions: config.headDimensions,
      normEpsilon: config.rmsNormEps, rotary: config.rotary)
    let h = try embedding(ids).decoderStep(
      layers: weights, keys: cache.keys, values: cache.values, row: cache.length, position: cache.nextPosition,
      configuration: configuration)
    try cache.advance(rows: 1)
    return try outputLogits(norm(h).reshaped([1, config.hiddenSize]))
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
