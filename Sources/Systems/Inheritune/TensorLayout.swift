import Models

/// The tensor group a parameter belongs to, as far as inheritance is concerned.
public enum TensorGroup: Equatable, Sendable {
  /// Part of block `index`: its attention (with the norm before it) or its MLP (with its norm).
  case block(index: Int, part: BlockParts)
  /// The token embedding (also the head of a tied model).
  case tokenEmbedding
  /// An untied output head.
  case head
  /// Learned position embeddings.
  case positions
  /// The final norm.
  case finalNorm
}

/// How a model family names its tensors (Hugging Face keys, as ``Module/namedParameters(prefix:)`` gives them).
public struct TensorLayout: Equatable, Sendable {
  /// Family name for messages.
  public let family: String
  /// The blocks' common prefix, followed by the block index and a dot.
  public let blockPrefix: String
  /// Paths inside a block that belong to its attention part (the pre-attention norm included).
  public let attentionPrefixes: [String]
  /// Paths inside a block that belong to its MLP part (the pre-MLP norm included).
  public let mlpPrefixes: [String]
  /// The token embedding's module prefix.
  public let tokenEmbedding: String
  /// The untied head's module prefix.
  public let head: String
  /// The learned position embedding's module prefix, if the family has one.
  public let positions: String?
  /// The final norm's module prefix.
  public let finalNorm: String

  /// Llama (`LlamaForCausalLM` keys; llama2.c checkpoints load into the same names).
  public static let llama = TensorLayout(
    family: "llama", blockPrefix: "model.layers.", attentionPrefixes: ["self_attn.", "input_layernorm."],
    mlpPrefixes: ["mlp.", "post_attention_layernorm."], tokenEmbedding: "model.embed_tokens.", head: "lm_head.",
    positions: nil, finalNorm: "model.norm.")

  /// GPT-2 (`GPT2LMHeadModel` keys).
  public static let gpt2 = TensorLayout(
    family: "gpt2", blockPrefix: "transformer.h.", attentionPrefixes: ["attn.", "ln_1."],
    mlpPrefixes: ["mlp.", "ln_2."], tokenEmbedding: "transformer.wte.", head: "lm_head.",
    positions: "transformer.wpe.", finalNorm: "transformer.ln_f.")

  /// The group of parameter `path`, or nil for a path this layout does not know.
  public func group(of path: String) -> TensorGroup? {
    if path.hasPrefix(blockPrefix) {
      let rest = path.dropFirst(blockPrefix.count)
      guard let dot = rest.firstIndex(of: "."), let index = Int(rest[..<dot]) else { return nil }
      let inner = rest[rest.index(after: dot)...]
      if attentionPrefixes.contains(where: { inner.hasPrefix($0) }) { return .block(index: index, part: .attention) }
      if mlpPrefixes.contains(where: { inner.hasPrefix($0) }) { return .block(index: index, part: .mlp) }
      return nil
    }
    if path.hasPrefix(tokenEmbedding) { return .tokenEmbedding }
    if path.hasPrefix(head) { return .head }
    if let positions, path.hasPrefix(positions) { return .positions }
    if path.hasPrefix(finalNorm) { return .finalNorm }
    return nil
  }

  /// `path` of a block parameter moved from its block to block `index` (other paths unchanged).
  public func path(_ path: String, movedToBlock index: Int) -> String {
    guard path.hasPrefix(blockPrefix) else { return path }
    let rest = path.dropFirst(blockPrefix.count)
    guard let dot = rest.firstIndex(of: ".") else { return path }
    return blockPrefix + String(index) + String(rest[dot...])
  }

  /// The layout of a loaded model; encoders are an error.
  public static func of(_ model: LoadedModel) throws -> TensorLayout {
    switch model {
    case .llama: return .llama
    case .gpt2: return .gpt2
    case .bert:
      throw InherituneError(
        "parent", "is a BERT encoder", "pass a causal language model (Llama, llama2.c or GPT-2)")
    }
  }
}
