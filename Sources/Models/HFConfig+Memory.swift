import Kernels

// The float32 tensors each configuration implies, named by the config.json keys they come from, so that a
// size that cannot fit in memory is refused before the placeholders or the weights are allocated.

extension LlamaConfiguration {
  public var memoryTerms: [MemoryTerm] {
    typealias F = MemoryTerm.Factor
    let (v, c, l) = (F("vocab_size", vocabularySize), F("hidden_size", hiddenSize), F("num_hidden_layers", layers))
    let projections = F(
      "(num_attention_heads + num_key_value_heads) × head_dim",
      saturatingProduct(saturatingSum(heads, kvHeads), headDimensions))
    return [
      MemoryTerm("the token embedding", [v, c], multiplier: tiedEmbeddings ? 1 : 2),
      MemoryTerm("the attention projections", [l, c, projections], multiplier: 2),
      MemoryTerm("the MLP weights", [l, c, F("intermediate_size", intermediateSize)], multiplier: 3),
      MemoryTerm("one activation per position", [F("max_position_embeddings", contextLength), c]),
    ]
  }
}

extension GPT2Configuration {
  public var memoryTerms: [MemoryTerm] {
    typealias F = MemoryTerm.Factor
    let (c, l) = (F("n_embd", width), F("n_layer", layers))
    let inner = innerWidth.map { F("n_inner", $0) } ?? F("4 × n_embd", saturatingProduct(4, width))
    return [
      MemoryTerm("the token embedding", [F("vocab_size", vocabularySize), c], multiplier: tiedEmbeddings ? 1 : 2),
      MemoryTerm("the position embedding", [F("n_positions", contextLength), c]),
      MemoryTerm("the attention projections", [l, c, c], multiplier: 4),
      MemoryTerm("the MLP weights", [l, c, inner], multiplier: 2),
    ]
  }
}

extension BERTConfiguration {
  public var memoryTerms: [MemoryTerm] {
    typealias F = MemoryTerm.Factor
    let (c, l) = (F("hidden_size", hiddenSize), F("num_hidden_layers", layers))
    return [
      MemoryTerm("the word embedding", [F("vocab_size", vocabularySize), c]),
      MemoryTerm("the position embedding", [F("max_position_embeddings", contextLength), c]),
      MemoryTerm("the token type embedding", [F("type_vocab_size", typeVocabularySize), c]),
      MemoryTerm("the attention projections", [l, c, c], multiplier: 4),
      MemoryTerm("the MLP weights", [l, c, F("intermediate_size", intermediateSize)], multiplier: 2),
    ]
  }
}

// Sizes are weighed before they are validated, so their sums and products saturate instead of trapping.

private func saturatingSum(_ a: Int, _ b: Int) -> Int {
  let (value, overflow) = a.addingReportingOverflow(b)
  return overflow ? (a < 0 ? Int.min : Int.max) : value
}

private func saturatingProduct(_ a: Int, _ b: Int) -> Int {
  let (value, overflow) = a.multipliedReportingOverflow(by: b)
  return overflow ? ((a < 0) != (b < 0) ? Int.min : Int.max) : value
}
