import NN
import TensorCore

/// Size of a GPT-style decoder (pre-norm, learned positions, GELU MLP, tied head).
public struct GPTConfiguration: Codable, Sendable, Equatable {
  /// Vocabulary size.
  public var vocabularySize: Int
  /// Longest sequence (number of learned positions).
  public var contextLength: Int
  /// Number of blocks.
  public var layers: Int
  /// Attention heads.
  public var heads: Int
  /// Model width C.
  public var width: Int
  /// Dropout probability (0 disables it).
  public var dropout: Float

  /// Creates a configuration.
  public init(vocabularySize: Int, contextLength: Int, layers: Int, heads: Int, width: Int, dropout: Float = 0) {
    self.vocabularySize = vocabularySize
    self.contextLength = contextLength
    self.layers = layers
    self.heads = heads
    self.width = width
    self.dropout = dropout
  }

  /// Checks that the sizes fit together.
  public func validate() throws {
    guard vocabularySize > 0, contextLength > 0, layers > 0, heads > 0, width > 0 else {
      throw TensorError("GPTConfiguration", "every size must be positive: \(self)")
    }
    guard width % heads == 0 else {
      throw TensorError("GPTConfiguration", "width \(width) is not a multiple of heads \(heads)")
    }
  }
}

/// One pre-norm transformer block: x + attn(ln1(x)), then + mlp(ln2(x)).
public final class GPTBlock: Module {
  @Child(key: "ln_1") var norm1: LayerNorm
  @Child(key: "attn") var attention: CausalSelfAttention
  @Child(key: "ln_2") var norm2: LayerNorm
  @Child(key: "mlp") var mlp: MLP

  init(_ c: GPTConfiguration, generator: inout RandomGenerator) {
    super.init()
    norm1 = LayerNorm(c.width)
    attention = CausalSelfAttention(c, generator: &generator)
    norm2 = LayerNorm(c.width)
    mlp = MLP(c.width, hidden: 4 * c.width, activation: .geluTanh, generator: &generator)
  }

  func callAsFunction(_ x: Tensor) throws -> Tensor {
    let h = try x + attention(norm1(x))
    return try h + mlp(norm2(h))
  }
}

/// Causal self-attention with one fused query/key/value projection, as in GPT-2.
public final class CausalSelfAttention: Module {
  @Child(key: "c_attn") var qkv: Linear
  @Child(key: "c_proj") var projection: Linear
  let heads: Int

  init(_ c: GPTConfiguration, generator: inout RandomGenerator) {
    heads = c.heads
    super.init()
    qkv = Linear(c.width, 3 * c.width, generator: &generator)
    projection = Linear(c.width, c.width, generator: &generator)
  }

  /// x [B, T, C] -> [B, T, C].
  func callAsFunction(_ x: Tensor) throws -> Tensor {
    let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
    let d = c / heads
    let qkvHeads = try qkv(x).reshaped([b, t, 3, heads, d]).permuted([2, 0, 3, 1, 4])  // [3, B, H, T, D]
    let parts = try (0..<3).map { try qkvHeads.sliced(axis: 0, $0..<($0 + 1)).squeezed(0).contiguous() }
    let y = try Tensor.attention(query: parts[0], key: parts[1], value: parts[2], mask: AttentionMask(causal: true))
    return try projection(y.transposed(1, 2).reshaped([b, t, c]))
  }
}

/// A GPT-style language model.
public final class GPT: Module {
  /// The configuration it was built from.
  public let config: GPTConfiguration
  @Child(key: "wte") var tokenEmbedding: Embedding
  @Child(key: "wpe") var positionEmbedding: Embedding
  @Child(key: "h") var blocks: [GPTBlock]
  @Child(key: "ln_f") var finalNorm: LayerNorm

  /// A randomly initialised model (GPT-2's N(0, 0.02) embeddings).
  public init(_ config: GPTConfiguration, generator: inout RandomGenerator) throws {
    try config.validate()
    self.config = config
    super.init()
    tokenEmbedding = Embedding(config.vocabularySize, config.width, std: 0.02, generator: &generator)
    positionEmbedding = Embedding(config.contextLength, config.width, std: 0.02, generator: &generator)
    blocks = (0..<config.layers).map { _ in GPTBlock(config, generator: &generator) }
    finalNorm = LayerNorm(config.width)
  }

  /// Logits [B, T, vocabulary] for token ids [B, T].
  public func callAsFunction(_ ids: Tensor) throws -> Tensor {
    guard ids.rank == 2 else { throw TensorError("GPT", "token ids must be [batch, time], got \(ids.shape)") }
    let t = ids.shape[1]
    guard t <= config.contextLength else {
      throw TensorError("GPT", "sequence of \(t) tokens exceeds the context length \(config.contextLength)")
    }
    let positions = Tensor(indices: Array(0..<t), shape: [t])
    var h = try tokenEmbedding(ids) + positionEmbedding(positions)
    for block in blocks { h = try block(h) }
    return try tokenEmbedding.asLinear(finalNorm(h))
  }

  /// Mean next-token cross-entropy of `inputs` [B, T] against `targets` [B, T].
  public func loss(inputs: Tensor, targets: Tensor) throws -> Tensor {
    try self(inputs).crossEntropy(targets: targets)
  }
}
