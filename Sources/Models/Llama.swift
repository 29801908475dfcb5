import LMCore
import NN
import TensorCore

/// Size and options of a Llama-family decoder, stored with Hugging Face `config.json` key names.
///
/// Both RoPE spellings are read: a top-level `rope_theta` (transformers 4.x) and
/// `rope_parameters: {rope_theta}` (5.x). Only the default (unscaled) RoPE is supported.
public struct LlamaConfiguration: HFConfiguration, Equatable {
  /// `"llama"`.
  public static let modelType = "llama"
  /// Vocabulary size V.
  public var vocabularySize: Int
  /// Model width C.
  public var hiddenSize: Int
  /// Width of the gated MLP.
  public var intermediateSize: Int
  /// Number of blocks.
  public var layers: Int
  /// Query heads H.
  public var heads: Int
  /// Key/value heads G (H is a multiple of G).
  public var kvHeads: Int
  /// Head width D.
  public var headDimensions: Int
  /// Longest sequence.
  public var contextLength: Int
  /// RMSNorm epsilon.
  public var rmsNormEps: Float
  /// RoPE frequency base θ.
  public var ropeTheta: Float
  /// Whether the output head is the token embedding.
  public var tiedEmbeddings: Bool
  /// Biases on the attention projections.
  public var attentionBias: Bool
  /// Biases on the MLP projections.
  public var mlpBias: Bool
  /// The MLP gate's activation (`hidden_act`).
  public var activation: Activation
  /// RoPE pairs (2i, 2i+1) as in llama2.c/Meta checkpoints instead of HF's rotate-half halves.
  /// Not an HF key: checkpoints saved in HF layout always use rotate-half.
  public var ropeInterleaved: Bool

  /// Creates a configuration; `kvHeads` defaults to `heads` and `headDimensions` to `hiddenSize / heads`.
  public init(
    vocabularySize: Int, hiddenSize: Int, intermediateSize: Int, layers: Int, heads: Int, kvHeads: Int? = nil,
    headDimensions: Int? = nil, contextLength: Int, rmsNormEps: Float = 1e-5, ropeTheta: Float = 10_000,
    tiedEmbeddings: Bool = false, attentionBias: Bool = false, mlpBias: Bool = false, activation: Activation = .silu,
    ropeInterleaved: Bool = false
  ) {
    self.vocabularySize = vocabularySize
    self.hiddenSize = hiddenSize
    self.intermediateSize = intermediateSize
    self.layers = layers
    self.heads = heads
    self.kvHeads = kvHeads ?? heads
    self.headDimensions = headDimensions ?? (heads > 0 ? hiddenSize / heads : 0)
    self.contextLength = contextLength
    self.rmsNormEps = rmsNormEps
    self.ropeTheta = ropeTheta
    self.tiedEmbeddings = tiedEmbeddings
    self.attentionBias = attentionBias
    self.mlpBias = mlpBias
    self.activation = activation
    self.ropeInterleaved = ropeInterleaved
  }

  /// Checks that the sizes fit together.
  public func validate() throws {
    let t = "LlamaConfiguration"
    try checkSizes(
      [
        "vocab_size": vocabularySize, "hidden_size": hiddenSize, "intermediate_size": intermediateSize,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kvHeads,
        "head_dim": headDimensions, "max_position_embeddings": contextLength,
      ], t)
    try configurationCheck(heads % kvHeads == 0, t, "num_attention_heads \(heads) is not a multiple of \(kvHeads)")
    try configurationCheck(headDimensions % 2 == 0, t, "head_dim \(headDimensions) must be even for RoPE")
    try configurationCheck(
      rmsNormEps.isFinite && rmsNormEps >= 0 && ropeTheta.isFinite && ropeTheta > 0, t,
      "rms_norm_eps (\(rmsNormEps)) must be finite and >= 0, rope_theta (\(ropeTheta)) finite and > 0")
  }

  private struct RopeParameters: Codable {
    var ropeTheta: Float?
    var ropeType: String?
    enum CodingKeys: String, CodingKey {
      case ropeTheta = "rope_theta"
      case ropeType = "rope_type"
    }
  }

  private enum CodingKeys: String, CodingKey {
    case vocabularySize = "vocab_size"
    case hiddenSize = "hidden_size"
    case intermediateSize = "intermediate_size"
    case layers = "num_hidden_layers"
    case heads = "num_attention_heads"
    case kvHeads = "num_key_value_heads"
    case headDimensions = "head_dim"
    case contextLength = "max_position_embeddings"
    case rmsNormEps = "rms_norm_eps"
    case ropeTheta = "rope_theta"
    case ropeParameters = "rope_parameters"
    case ropeScaling = "rope_scaling"
    case tiedEmbeddings = "tie_word_embeddings"
    case attentionBias = "attention_bias"
    case mlpBias = "mlp_bias"
    case activation = "hidden_act"
    case modelType = "model_type"
    case architectures
    case dtype
  }

  /// Reads HF keys; absent optional keys take HF's Llama defaults.
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let heads = try c.decode(Int.self, forKey: .heads)
    let hidden = try c.decode(Int.self, forKey: .hiddenSize)
    let rope = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeParameters)
    if let type = rope?.ropeType, type != "default" {
      throw TensorError("LlamaConfiguration", "rope_type \"\(type)\" is not supported (only \"default\")")
    }
    if let scaling = try c.decodeIfPresent(RopeParameters.self, forKey: .ropeScaling),
      let type = scaling.ropeType, type != "default"
    {
      throw TensorError("LlamaConfiguration", "rope_scaling \"\(type)\" is not supported (only unscaled RoPE)")
    }
    let headDimensions = try c.decodeIfPresent(Int.self, forKey: .headDimensions)
    if headDimensions == nil && heads > 0 && hidden % heads != 0 {
      throw TensorError(
        "LlamaConfiguration",
        "num_attention_heads \(heads) does not divide hidden_size \(hidden) and there is no head_dim to say the width")
    }
    let act = try c.decodeIfPresent(String.self, forKey: .activation) ?? "silu"
    guard let activation = Activation(rawValue: act) else {
      throw TensorError("LlamaConfiguration", "hidden_act \"\(act)\" is not supported (silu, gelu, gelu_new, relu)")
    }
    self.init(
      vocabularySize: try c.decode(Int.self, forKey: .vocabularySize), hiddenSize: hidden,
      intermediateSize: try c.decode(Int.self, forKey: .intermediateSize),
      layers: try c.decode(Int.self, forKey: .layers), heads: heads,
      kvHeads: try c.decodeIfPresent(Int.self, forKey: .kvHeads),
      headDimensions: headDimensions,
      contextLength: try c.decodeIfPresent(Int.self, forKey: .contextLength) ?? 2048,
      rmsNormEps: try c.decodeIfPresent(Float.self, forKey: .rmsNormEps) ?? 1e-6,
      ropeTheta: try rope?.ropeTheta ?? c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? 10_000,
      tiedEmbeddings: try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? false,
      attentionBias: try c.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false,
      mlpBias: try c.decodeIfPresent(Bool.self, forKey: .mlpBias) ?? false, activation: activation)
  }

  /// Writes HF keys (both RoPE spellings, so transformers 4.x and 5.x read it); always rotate-half layout.
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(Self.modelType, forKey: .modelType)
    try c.encode(["LlamaForCausalLM"], forKey: .architectures)
    try c.encode("float32", forKey: .dtype)
    try c.encode(vocabularySize, forKey: .vocabularySize)
    try c.encode(hiddenSize, forKey: .hiddenSize)
    try c.encode(intermediateSize, forKey: .intermediateSize)
    try c.encode(layers, forKey: .layers)
    try c.encode(heads, forKey: .heads)
    try c.encode(kvHeads, forKey: .kvHeads)
    try c.encode(headDimensions, forKey: .headDimensions)
    try c.encode(contextLength, forKey: .contextLength)
    try c.encode(rmsNormEps, forKey: .rmsNormEps)
    try c.encode(ropeTheta, forKey: .ropeTheta)
    try c.encode(RopeParameters(ropeTheta: ropeTheta, ropeType: "default"), forKey: .ropeParameters)
    try c.encode(tiedEmbeddings, forKey: .tiedEmbeddings)
    try c.encode(attentionBias, forKey: .attentionBias)
    try c.encode(mlpBias, forKey: .mlpBias)
    try c.encode(activation.rawValue, forKey: .activation)
  }

  /// The rotary settings of this model.
  public var rotary: RotaryConfiguration { RotaryConfiguration(base: ropeTheta, interleaved: ropeInterleaved) }
}

/// Grouped-query self-attention with RoPE. Shapes: B batch, T new tokens, H query heads, G key/value
/// heads, D head width, P cached positions.
public final class LlamaAttention: Module {
  @Child(key: "q_proj") public var queryProjection: Linear
  @Child(key: "k_proj") public var keyProjection: Linear
  @Child(key: "v_proj") public var valueProjection: Linear
  @Child(key: "o_proj") public var outputProjection: Linear
  let heads: Int
  let kvHeads: Int
  let headDimensions: Int
  let rotary: RotaryConfiguration

  /// Projections from `linear(inFeatures, outFeatures, bias)`, in the order q, k, v, o.
  init(_ c: LlamaConfiguration, linear: (Int, Int, Bool) -> Linear) {
    (heads, kvHeads, headDimensions, rotary) = (c.heads, c.kvHeads, c.headDimensions, c.rotary)
    super.init()
    let (w, d, bias) = (c.hiddenSize, c.headDimensions, c.attentionBias)
    queryProjection = linear(w, heads * d, bias)
    keyProjection = linear(w, kvHeads * d, bias)
    valueProjection = linear(w, kvHeads * d, bias)
    outputProjection = linear(heads * d, w, bias)
  }

  /// residual + attention(x) for x [B, T, C]; with a cache the tokens sit at positions P ..< P + T.
  func callAsFunction(_ x: Tensor, cache: AttentionKV?, adding residual: Tensor) throws -> Tensor {
    let (b, t, d) = (x.shape[0], x.shape[1], headDimensions)
    let (offset, position) = (cache?.length ?? 0, cache?.position ?? 0)  // cache rows, sequence position
    let qkv = try Linear.outputs(of: [queryProjection, keyProjection, valueProjection], on: x)
    let q = try qkv[0].reshaped([b, t, heads, d])
      .rotaryEmbedding(rotary, positionOffset: position).transposed(1, 2).contiguous()  // [B, H, T, D]
    var k = try qkv[1].reshaped([b, t, kvHeads, d])
      .rotaryEmbedding(rotary, positionOffset: position).transposed(1, 2).contiguous()  // [B, G, T, D]
    var v = try qkv[2].reshaped([b, t, kvHeads, d]).transposed(1, 2).contiguous()  // [B, G, T, D]
    if let cache { (k, v) = try cache.append(keys: k, values: v, queries: q) }  // [B, G, P + T, D]
    let y = try Tensor.attention(
      query: q, key: k, value: v, mask: AttentionMask(causal: true, queryOffset: offset))  // [B, H, T, D]
    return try outputProjection(y.transposed(1, 2).reshaped([b, t, heads * d]), adding: residual)
  }
}

/// One pre-norm block: h = x + attn(norm(x)); h + mlp(norm(h)).
public final class LlamaBlock: Module {
  @Child(key: "input_layernorm") public var attentionNorm: RMSNorm
  @Child(key: "self_attn") public var attention: LlamaAttention
  @Child(key: "post_attention_layernorm") public var mlpNorm: RMSNorm
  @Child(key: "mlp") public var mlp: GatedMLP

  /// A block whose linear layers come from `linear(inFeatures, outFeatures, bias)` (attention's, then the MLP's).
  init(_ c: LlamaConfiguration, linear: (Int, Int, Bool) -> Linear) {
    super.init()
    attentionNorm = RMSNorm(c.hiddenSize, eps: c.rmsNormEps)
    attention = LlamaAttention(c, linear: linear)
    mlpNorm = RMSNorm(c.hiddenSize, eps: c.rmsNormEps)
    mlp = GatedMLP(c.hiddenSize, hidden: c.intermediateSize, activation: c.activation, bias: c.mlpBias, linear: linear)
  }

  func callAsFunction(_ x: Tensor, cache: AttentionKV?) throws -> Tensor {
    let h = try attention(attentionNorm(x), cache: cache, adding: x)
    return try mlp(mlpNorm(h), adding: h)
  }
}

/// A Llama-family causal language model (LlamaForCausalLM); parameter paths are HF checkpoint keys.
public final class Llama: Module, AttentionLanguageModel {
  /// The configuration it was built from.
  public let config: LlamaConfiguration
  /// Token embedding [V, C].
  @Child(key: "model.embed_tokens") public var embedding: Embedding
  /// The blocks.
  @Child(key: "model.layers") public var layers: [LlamaBlock]
  /// Final RMSNorm.
  @Child(key: "model.norm") public var norm: RMSNorm
  /// The output head, or nil when tied to ``embedding``.
  @Child(key: "lm_head") public var head: Linear?
  /// The tied head in a decoding format, when packed (``packWeights(_:)``).
  public internal(set) var packedHead: PackedMatrix?

  /// A randomly initialised model (embeddings N(0, 0.02²), PyTorch's default for linear layers).
  public convenience init(_ config: LlamaConfiguration, generator: inout RandomGenerator) throws {
    try config.validate()
    let embedding = Embedding(config.vocabularySize, config.hiddenSize, std: 0.02, generator: &generator)
    try self.init(config, embedding: embedding) { Linear($0, $1, bias: $2, generator: &generator) }
  }

  /// A model of placeholder weights (``TensorCore/Tensor/placeholder(_:)``: shapes, no memory) for a
  /// checkpoint to fill; no random numbers are drawn.
  convenience init(placeholdersFor config: LlamaConfiguration) throws {
    try config.validate()
    let embedding = Embedding(weight: Tensor.placeholder([config.vocabularySize, config.hiddenSize]))
    try self.init(config, embedding: embedding, linear: Linear.placeholder)
  }

  /// Assembles the model: `embedding`, then blocks and the untied head from `linear(in, out, bias)`.
  init(_ config: LlamaConfiguration, embedding: Embedding, linear: (Int, Int, Bool) -> Linear) throws {
    try config.validate()
    self.config = config
    super.init()
    self.embedding = embedding
    layers = (0..<config.layers).map { _ in LlamaBlock(config, linear: linear) }
    norm = RMSNorm(config.hiddenSize, eps: config.rmsNormEps)
    head = config.tiedEmbeddings ? nil : linear(config.hiddenSize, config.vocabularySize, false)
  }

  /// Token ids that end a sequence; ``ModelRegistry`` fills them in from the checkpoint.
  public var endOfSequenceIDs: Set<Int> = []
  public var vocabularySize: Int { config.vocabularySize }
  public var contextLength: Int { config.contextLength }
  public var layerCount: Int { layers.count }
  public var keyValueShape: (heads: Int, headDimensions: Int) { (config.kvHeads, config.headDimensions) }

  /// Final normalised hidden states [B, T, C] for ids [B, T]; every layer's state takes the tokens in
  /// when `state` is given.
  public func hiddenStates(_ ids: Tensor, state: DecodingState? = nil) throws -> Tensor {
    try checkTokenIds(ids, model: "Llama", offset: state?.position ?? 0, contextLength: contextLength)
    let caches = try state.map { try checkedLayers($0) }
    var h = try embedding(ids)  // [B, T, C]
    for (i, layer) in layers.enumerated() { h = try layer(h, cache: caches?[i]) }
    return try norm(h)
  }

  /// Logits [B, T, V] for ids [B, T], continuing `state` when given.
  public func logits(_ ids: Tensor, state: DecodingState?) throws -> Tensor {
    // A few new tokens continuing a cache take the fused decoding step when it applies.
    if let state, let step = try decodingStepLogits(ids, state: state) {
      return try step.reshaped([1, ids.shape[1], config.vocabularySize])
    }
    return try outputLogits(hiddenStates(ids, state: state))
  }

  /// The head (or the tied embedding) applied to final hidden states [..., C] -> [..., V].
  func outputLogits(_ h: Tensor) throws -> Tensor {
    if let head { return try head(h) }
    if let packedHead { return try h.linear(packed: packedHead) }
    return try embedding.asLinear(h)
  }

  /// Logits [B, V] of the last position only: the head runs on one row per sequence.
  public func lastLogits(_ ids: Tensor, state: DecodingState?) throws -> Tensor {
    if let state, let logits = try decodingStepLogits(ids, state: state, lastOnly: true) { return logits }
    let h = try hiddenStates(ids, state: state)  // [B, T, C]
    let t = h.shape[1]
    let last = try h.sliced(axis: 1, (t - 1)..<t).reshaped([h.shape[0], h.shape[2]])  // [B, C]
    return try outputLogits(last)
  }

  /// Logits [B, T, V] without a cache.
  public func callAsFunction(_ ids: Tensor) throws -> Tensor { try logits(ids, state: nil) }
}
