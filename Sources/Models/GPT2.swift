import LMCore
import NN
import TensorCore

/// Size and options of a GPT-2 decoder, stored with Hugging Face `config.json` key names.
public struct GPT2Configuration: HFConfiguration, Equatable {
  /// `"gpt2"`.
  public static let modelType = "gpt2"
  /// Vocabulary size V.
  public var vocabularySize: Int
  /// Learned positions (the longest sequence).
  public var contextLength: Int
  /// Model width C.
  public var width: Int
  /// Number of blocks.
  public var layers: Int
  /// Attention heads H.
  public var heads: Int
  /// MLP width (`n_inner`; nil means 4·C).
  public var innerWidth: Int?
  /// The MLP activation (`activation_function`).
  public var activation: Activation
  /// LayerNorm epsilon.
  public var layerNormEps: Float
  /// Scores scaled by 1/√D (`scale_attn_weights`).
  public var scaleAttentionWeights: Bool
  /// Scores of block i further divided by i + 1 (`scale_attn_by_inverse_layer_idx`).
  public var scaleAttentionByInverseLayerIndex: Bool
  /// Whether the output head is the token embedding (always true for released GPT-2 models).
  public var tiedEmbeddings: Bool
  /// The layer index ℓ each block's 1/(ℓ + 1) attention scale uses (nil: its own position); lets a block
  /// copied from another depth keep its scale. Not an HF key (`attn_layer_indices`, ignored by transformers).
  public var attentionLayerIndices: [Int]?

  /// Creates a configuration.
  public init(
    vocabularySize: Int, contextLength: Int, width: Int, layers: Int, heads: Int, innerWidth: Int? = nil,
    activation: Activation = .geluTanh, layerNormEps: Float = 1e-5, scaleAttentionWeights: Bool = true,
    scaleAttentionByInverseLayerIndex: Bool = false, tiedEmbeddings: Bool = true, attentionLayerIndices: [Int]? = nil
  ) {
    self.vocabularySize = vocabularySize
    self.contextLength = contextLength
    self.width = width
    self.layers = layers
    self.heads = heads
    self.innerWidth = innerWidth
    self.activation = activation
    self.layerNormEps = layerNormEps
    self.scaleAttentionWeights = scaleAttentionWeights
    self.scaleAttentionByInverseLayerIndex = scaleAttentionByInverseLayerIndex
    self.tiedEmbeddings = tiedEmbeddings
    self.attentionLayerIndices = attentionLayerIndices
  }

  /// The MLP width.
  public var mlpWidth: Int { innerWidth ?? 4 * width }

  /// Checks that the sizes fit together.
  public func validate() throws {
    let t = "GPT2Configuration"
    try checkSizes(
      [
        "vocab_size": vocabularySize, "n_positions": contextLength, "n_embd": width, "n_layer": layers,
        "n_head": heads, "n_inner": innerWidth ?? 1,
      ], t)
    try configurationCheck(width % heads == 0, t, "n_embd \(width) is not a multiple of n_head \(heads)")
    try configurationCheck(
      layerNormEps.isFinite && layerNormEps >= 0, t, "layer_norm_epsilon \(layerNormEps) must be finite and >= 0")
    if let indices = attentionLayerIndices {
      try configurationCheck(
        indices.count == layers && indices.allSatisfy { $0 >= 0 }, t,
        "attn_layer_indices must hold one non-negative index per layer (\(layers))")
    }
  }

  private enum CodingKeys: String, CodingKey {
    case vocabularySize = "vocab_size"
    case contextLength = "n_positions"
    case width = "n_embd"
    case layers = "n_layer"
    case heads = "n_head"
    case innerWidth = "n_inner"
    case activation = "activation_function"
    case layerNormEps = "layer_norm_epsilon"
    case scaleAttentionWeights = "scale_attn_weights"
    case scaleAttentionByInverseLayerIndex = "scale_attn_by_inverse_layer_idx"
    case tiedEmbeddings = "tie_word_embeddings"
    case attentionLayerIndices = "attn_layer_indices"
    case modelType = "model_type"
    case architectures
    case dtype
  }

  /// Reads HF keys; absent optional keys take HF's GPT-2 defaults.
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let act = try c.decodeIfPresent(String.self, forKey: .activation) ?? "gelu_new"
    let activation: Activation
    switch act {
    case "gelu_new", "gelu_pytorch_tanh": activation = .geluTanh
    case "gelu": activation = .gelu
    case "relu": activation = .relu
    case "silu", "swish": activation = .silu
    default:
      throw TensorError("GPT2Configuration", "activation_function \"\(act)\" is not supported (gelu_new, gelu, relu)")
    }
    self.init(
      vocabularySize: try c.decode(Int.self, forKey: .vocabularySize),
      contextLength: try c.decode(Int.self, forKey: .contextLength), width: try c.decode(Int.self, forKey: .width),
      layers: try c.decode(Int.self, forKey: .layers), heads: try c.decode(Int.self, forKey: .heads),
      innerWidth: try c.decodeIfPresent(Int.self, forKey: .innerWidth), activation: activation,
      layerNormEps: try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-5,
      scaleAttentionWeights: try c.decodeIfPresent(Bool.self, forKey: .scaleAttentionWeights) ?? true,
      scaleAttentionByInverseLayerIndex: try c.decodeIfPresent(Bool.self, forKey: .scaleAttentionByInverseLayerIndex)
        ?? false,
      tiedEmbeddings: try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? true,
      attentionLayerIndices: try c.decodeIfPresent([Int].self, forKey: .attentionLayerIndices))
  }

  /// Writes HF keys.
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(Self.modelType, forKey: .modelType)
    try c.encode(["GPT2LMHeadModel"], forKey: .architectures)
    try c.encode("float32", forKey: .dtype)
    try c.encode(vocabularySize, forKey: .vocabularySize)
    try c.encode(contextLength, forKey: .contextLength)
    try c.encode(width, forKey: .width)
    try c.encode(layers, forKey: .layers)
    try c.encode(heads, forKey: .heads)
    try c.encode(innerWidth, forKey: .innerWidth)
    try c.encode(activation == .geluTanh ? "gelu_new" : activation.rawValue, forKey: .activation)
    try c.encode(layerNormEps, forKey: .layerNormEps)
    try c.encode(scaleAttentionWeights, forKey: .scaleAttentionWeights)
    try c.encode(scaleAttentionByInverseLayerIndex, forKey: .scaleAttentionByInverseLayerIndex)
    try c.encode(tiedEmbeddings, forKey: .tiedEmbeddings)
    try c.encodeIfPresent(attentionLayerIndices, forKey: .attentionLayerIndices)
  }
}

/// HF's `Conv1D`: y = x·W + b with W stored [in, out] (the transpose of ``Linear``), as GPT-2 checkpoints hold it.
public final class Conv1D: Module {
  /// [inFeatures, outFeatures].
  @Parameter public var weight: Tensor
  /// [outFeatures].
  @Parameter public var bias: Tensor

  /// A layer initialised N(0, 0.02²) with zero bias (GPT-2's initialisation).
  public convenience init(_ inFeatures: Int, _ outFeatures: Int, generator: inout RandomGenerator) {
    self.init(
      weight: Tensor.normal([inFeatures, outFeatures], std: 0.02, generator: &generator),
      bias: Tensor.zeros([outFeatures]))
  }

  /// Wraps existing weights: `weight` [in, out], `bias` [out].
  public init(weight: Tensor, bias: Tensor) {
    self.weight = weight
    self.bias = bias
    super.init()
  }

  /// A layer of zeros: a placeholder for weights that a checkpoint fills next.
  public static func zeros(_ inFeatures: Int, _ outFeatures: Int) -> Conv1D {
    Conv1D(weight: Tensor.zeros([inFeatures, outFeatures]), bias: Tensor.zeros([outFeatures]))
  }

  /// A layer of ``TensorCore/Tensor/placeholder(_:)`` tensors for weights that a checkpoint supplies next.
  public static func placeholder(_ inFeatures: Int, _ outFeatures: Int) -> Conv1D {
    Conv1D(weight: Tensor.placeholder([inFeatures, outFeatures]), bias: Tensor.placeholder([outFeatures]))
  }

  /// Applies the layer over the last axis (the [in, out] weight enters GEMM as a transposed view, no copy).
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try x.linear(weight: weight.transposed(), bias: bias)
  }
}

/// GPT-2 causal self-attention. Shapes: B batch, T new tokens, C width, H heads, D head width.
public final class GPT2Attention: Module {
  @Child(key: "c_attn") public var qkv: Conv1D
  @Child(key: "c_proj") public var projection: Conv1D
  let heads: Int
  /// The layer index ℓ the block was built as (its 1/(ℓ + 1) scale, when enabled, uses it).
  public let layerIndex: Int
  /// The score scale: 1/√D (or 1), divided by layerIndex + 1 when the config asks; fixed when the block is built
  /// so that it travels with the block.
  public let scale: Float

  /// Projections from `conv(inFeatures, outFeatures)`: c_attn, then c_proj.
  init(_ c: GPT2Configuration, layerIndex: Int, conv: (Int, Int) -> Conv1D) {
    heads = c.heads
    self.layerIndex = layerIndex
    var s: Float = c.scaleAttentionWeights ? 1 / Float(c.width / c.heads).squareRoot() : 1
    if c.scaleAttentionByInverseLayerIndex { s /= Float(layerIndex + 1) }
    scale = s
    super.init()
    qkv = conv(c.width, 3 * c.width)
    projection = conv(c.width, c.width)
  }

  func callAsFunction(_ x: Tensor, cache: AttentionKV?) throws -> Tensor {
    let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
    let d = c / heads
    let offset = cache?.length ?? 0
    let parts = try qkv(x).split(sizes: [c, c, c], axis: 2).map {
      try $0.reshaped([b, t, heads, d]).transposed(1, 2).contiguous()  // [B, H, T, D]
    }
    var (k, v) = (parts[1], parts[2])
    if let cache { (k, v) = try cache.append(keys: k, values: v) }  // [B, H, P + T, D]
    let y = try Tensor.attention(
      query: parts[0], key: k, value: v, mask: AttentionMask(causal: true, queryOffset: offset), scale: scale)
    return try projection(y.transposed(1, 2).reshaped([b, t, c]))
  }
}

/// One GPT-2 block: h = x + attn(ln_1(x)); h + mlp(ln_2(h)).
public final class GPT2Block: Module {
  @Child(key: "ln_1") public var norm1: LayerNorm
  @Child(key: "attn") public var attention: GPT2Attention
  @Child(key: "ln_2") public var norm2: LayerNorm
  @Child(key: "mlp.c_fc") public var up: Conv1D
  @Child(key: "mlp.c_proj") public var down: Conv1D
  let activation: Activation

  /// A block built as block number `layerIndex` (which fixes its attention scale), randomly initialised.
  public convenience init(_ c: GPT2Configuration, layerIndex: Int, generator: inout RandomGenerator) {
    self.init(c, layerIndex: layerIndex) { Conv1D($0, $1, generator: &generator) }
  }

  /// A block built as block number `layerIndex` whose layers come from `conv(inFeatures, outFeatures)`
  /// (attention's, then the MLP's), e.g. ``Conv1D/placeholder(_:_:)`` for weights a checkpoint fills.
  public init(_ c: GPT2Configuration, layerIndex: Int, conv: (Int, Int) -> Conv1D) {
    activation = c.activation
    super.init()
    norm1 = LayerNorm(c.width, eps: c.layerNormEps)
    attention = GPT2Attention(c, layerIndex: layerIndex, conv: conv)
    norm2 = LayerNorm(c.width, eps: c.layerNormEps)
    up = conv(c.width, c.mlpWidth)
    down = conv(c.mlpWidth, c.width)
  }

  func callAsFunction(_ x: Tensor, cache: AttentionKV?) throws -> Tensor {
    let h = try x + attention(norm1(x), cache: cache)
    return try h + down(activation(up(norm2(h))))
  }
}

/// A GPT-2 causal language model (GPT2LMHeadModel); parameter paths are HF checkpoint keys.
public final class GPT2: Module, AttentionLanguageModel {
  /// The configuration it was built from.
  public let config: GPT2Configuration
  /// Token embedding [V, C].
  @Child(key: "transformer.wte") public var tokenEmbedding: Embedding
  /// Position embedding [contextLength, C].
  @Child(key: "transformer.wpe") public var positionEmbedding: Embedding
  /// The blocks.
  @Child(key: "transformer.h") public var blocks: [GPT2Block]
  /// Final LayerNorm.
  @Child(key: "transformer.ln_f") public var finalNorm: LayerNorm
  /// The output head, or nil when tied to ``tokenEmbedding``.
  @Child(key: "lm_head") public var head: Linear?

  /// A randomly initialised model (GPT-2's N(0, 0.02²) weights).
  public convenience init(_ config: GPT2Configuration, generator: inout RandomGenerator) throws {
    try config.validate()
    let tokens = Embedding(config.vocabularySize, config.width, std: 0.02, generator: &generator)
    let positions = Embedding(config.contextLength, config.width, std: 0.01, generator: &generator)
    try self.init(config, tokenEmbedding: tokens, positionEmbedding: positions) {
      Conv1D($0, $1, generator: &generator)
    }
    if !config.tiedEmbeddings {
      head = Linear(config.width, config.vocabularySize, bias: false, generator: &generator)
    }
  }

  /// A model of placeholder weights (``TensorCore/Tensor/placeholder(_:)``: shapes, no memory) for a
  /// checkpoint to fill; no random numbers are drawn.
  convenience init(placeholdersFor config: GPT2Configuration) throws {
    try config.validate()
    try self.init(
      config, tokenEmbedding: Embedding(weight: Tensor.placeholder([config.vocabularySize, config.width])),
      positionEmbedding: Embedding(weight: Tensor.placeholder([config.contextLength, config.width])),
      conv: Conv1D.placeholder)
    if !config.tiedEmbeddings { head = Linear.placeholder(config.width, config.vocabularySize, bias: false) }
  }

  /// Assembles the model from its embeddings and blocks whose layers come from `conv(in, out)`; the head
  /// starts tied (nil) and the convenience initialisers add an untied one.
  init(
    _ config: GPT2Configuration, tokenEmbedding: Embedding, positionEmbedding: Embedding,
    conv: (Int, Int) -> Conv1D
  ) throws {
    try config.validate()
    self.config = config
    super.init()
    self.tokenEmbedding = tokenEmbedding
    self.positionEmbedding = positionEmbedding
    blocks = (0..<config.layers).map {
      GPT2Block(config, layerIndex: config.attentionLayerIndices?[$0] ?? $0, conv: conv)
    }
    finalNorm = LayerNorm(config.width, eps: config.layerNormEps)
    head = nil
  }

  /// Token ids that end a sequence; ``ModelRegistry`` fills them in from the checkpoint.
  public var endOfSequenceIDs: Set<Int> = []
  public var vocabularySize: Int { config.vocabularySize }
  public var contextLength: Int { config.contextLength }
  public var layerCount: Int { blocks.count }
  public var keyValueShape: (heads: Int, headDimensions: Int) { (config.heads, config.width / config.heads) }

  /// Final normalised hidden states [B, T, C] for ids [B, T]; every layer's state takes the tokens in
  /// when `state` is given.
  public func hiddenStates(_ ids: Tensor, state: DecodingState? = nil) throws -> Tensor {
    let offset = state?.position ?? 0  // sequence position (a sparse cache holds fewer rows)
    try checkTokenIds(ids, model: "GPT2", offset: offset, contextLength: contextLength)
    let caches = try state.map { try checkedLayers($0) }
    let t = ids.shape[1]
    let positions = Tensor(indices: Array(offset..<(offset + t)), shape: [t])
    var h = try tokenEmbedding(ids) + positionEmbedding(positions)  // [B, T, C]
    for (i, block) in blocks.enumerated() { h = try block(h, cache: caches?[i]) }
    return try finalNorm(h)
  }

  /// Logits [B, T, V] for ids [B, T], continuing `state` when given.
  public func logits(_ ids: Tensor, state: DecodingState?) throws -> Tensor {
    try outputLogits(hiddenStates(ids, state: state))
  }

  /// The head (or the tied embedding) applied to final hidden states [..., C] -> [..., V].
  func outputLogits(_ h: Tensor) throws -> Tensor {
    try head.map { try $0(h) } ?? tokenEmbedding.asLinear(h)
  }

  /// Logits [B, V] of the last position only: the head runs on one row per sequence.
  public func lastLogits(_ ids: Tensor, state: DecodingState?) throws -> Tensor {
    let h = try hiddenStates(ids, state: state)  // [B, T, C]
    let t = h.shape[1]
    let last = try h.sliced(axis: 1, (t - 1)..<t).reshaped([h.shape[0], h.shape[2]])  // [B, C]
    return try outputLogits(last)
  }

  /// Logits [B, T, V] without a cache.
  public func callAsFunction(_ ids: Tensor) throws -> Tensor { try logits(ids, state: nil) }
}
