import Models

extension Inheritune {
  /// The closed-form parameter count of a GPT-2 model: per block 4C² + 4C (attention) + 2CM + M + C (MLP)
  /// + 4C (two LayerNorms); plus V·C (wte), T·C (wpe), 2C (ln_f), and V·C for an untied head.
  /// With M = 4C this is the paper's 12·n·C² + V·C + T·C + norms (and biases).
  public static func parameterCount(_ c: GPT2Configuration) -> Int {
    let (d, m) = (c.width, c.mlpWidth)
    let block = 4 * d * d + 4 * d + 2 * d * m + m + d + 4 * d
    return c.layers * block + c.vocabularySize * d + c.contextLength * d + 2 * d
      + (c.tiedEmbeddings ? 0 : c.vocabularySize * d)
  }

  /// The closed-form parameter count of a Llama model: per block C·H·D + 2·C·G·D + H·D·C (attention)
  /// + 3·C·I (gated MLP) + 2C (RMSNorms) and the optional biases; plus V·C, C (final norm), and V·C untied.
  public static func parameterCount(_ c: LlamaConfiguration) -> Int {
    let (d, q, kv, i) = (c.hiddenSize, c.heads * c.headDimensions, c.kvHeads * c.headDimensions, c.intermediateSize)
    var block = d * q + 2 * d * kv + q * d + 3 * d * i + 2 * d
    if c.attentionBias { block += q + 2 * kv + d }
    if c.mlpBias { block += 2 * i + d }
    return c.layers * block + c.vocabularySize * d + d + (c.tiedEmbeddings ? 0 : c.vocabularySize * d)
  }

  /// The closed-form parameter count of a loaded causal model (0 for an encoder).
  public static func parameterCount(_ model: LoadedModel) -> Int {
    switch model {
    case .llama(let m):
      var c = m.config
      c.layers = m.layers.count
      return parameterCount(c)
    case .gpt2(let m):
      var c = m.config
      c.layers = m.blocks.count
      return parameterCount(c)
    case .bert: return 0
    }
  }
}
