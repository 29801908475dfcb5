import Checkpoints
import Foundation
import NN
import TensorCore

/// Size and options of a BERT encoder, stored with Hugging Face `config.json` key names.
public struct BERTConfiguration: HFConfiguration, Equatable {
  /// `"bert"`.
  public static let modelType = "bert"
  /// Vocabulary size V.
  public var vocabularySize: Int
  /// Model width C.
  public var hiddenSize: Int
  /// Number of encoder layers.
  public var layers: Int
  /// Attention heads H.
  public var heads: Int
  /// Feed-forward width.
  public var intermediateSize: Int
  /// Feed-forward activation (`hidden_act`; "gelu" is the exact erf form).
  public var activation: Activation
  /// Learned positions.
  public var contextLength: Int
  /// Token types (segments).
  public var typeVocabularySize: Int
  /// LayerNorm epsilon.
  public var layerNormEps: Float

  /// Creates a configuration.
  public init(
    vocabularySize: Int, hiddenSize: Int, layers: Int, heads: Int, intermediateSize: Int,
    activation: Activation = .gelu, contextLength: Int = 512, typeVocabularySize: Int = 2, layerNormEps: Float = 1e-12
  ) {
    self.vocabularySize = vocabularySize
    self.hiddenSize = hiddenSize
    self.layers = layers
    self.heads = heads
    self.intermediateSize = intermediateSize
    self.activation = activation
    self.contextLength = contextLength
    self.typeVocabularySize = typeVocabularySize
    self.layerNormEps = layerNormEps
  }

  /// Checks that the sizes fit together.
  public func validate() throws {
    let t = "BERTConfiguration"
    try checkSizes(
      [
        "vocab_size": vocabularySize, "hidden_size": hiddenSize, "num_hidden_layers": layers,
        "num_attention_heads": heads, "intermediate_size": intermediateSize, "max_position_embeddings": contextLength,
        "type_vocab_size": typeVocabularySize,
      ], t)
    try configurationCheck(hiddenSize % heads == 0, t, "hidden_size \(hiddenSize) is not a multiple of \(heads)")
    try configurationCheck(
      layerNormEps.isFinite && layerNormEps >= 0, t, "layer_norm_eps \(layerNormEps) must be finite and >= 0")
  }

  private enum CodingKeys: String, CodingKey {
    case vocabularySize = "vocab_size"
    case hiddenSize = "hidden_size"
    case layers = "num_hidden_layers"
    case heads = "num_attention_heads"
    case intermediateSize = "intermediate_size"
    case activation = "hidden_act"
    case contextLength = "max_position_embeddings"
    case typeVocabularySize = "type_vocab_size"
    case layerNormEps = "layer_norm_eps"
    case positionEmbeddingType = "position_embedding_type"
    case modelType = "model_type"
    case architectures
  }

  /// Reads HF keys; only absolute position embeddings are supported.
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let act = try c.decodeIfPresent(String.self, forKey: .activation) ?? "gelu"
    guard let activation = Activation(rawValue: act) else {
      throw TensorError("BERTConfiguration", "hidden_act \"\(act)\" is not supported (gelu, gelu_new, relu, silu)")
    }
    let positions = try c.decodeIfPresent(String.self, forKey: .positionEmbeddingType) ?? "absolute"
    guard positions == "absolute" else {
      throw TensorError("BERTConfiguration", "position_embedding_type \"\(positions)\" is not supported (absolute)")
    }
    self.init(
      vocabularySize: try c.decode(Int.self, forKey: .vocabularySize),
      hiddenSize: try c.decode(Int.self, forKey: .hiddenSize), layers: try c.decode(Int.self, forKey: .layers),
      heads: try c.decode(Int.self, forKey: .heads),
      intermediateSize: try c.decode(Int.self, forKey: .intermediateSize),
      activation: activation, contextLength: try c.decodeIfPresent(Int.self, forKey: .contextLength) ?? 512,
      typeVocabularySize: try c.decodeIfPresent(Int.self, forKey: .typeVocabularySize) ?? 2,
      layerNormEps: try c.decodeIfPresent(Float.self, forKey: .layerNormEps) ?? 1e-12)
  }

  /// Writes HF keys.
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(Self.modelType, forKey: .modelType)
    try c.encode(["BertModel"], forKey: .architectures)
    try c.encode(vocabularySize, forKey: .vocabularySize)
    try c.encode(hiddenSize, forKey: .hiddenSize)
    try c.encode(layers, forKey: .layers)
    try c.encode(heads, forKey: .heads)
    try c.encode(intermediateSize, forKey: .intermediateSize)
    try c.encode(activation.rawValue, forKey: .activation)
    try c.encode(contextLength, forKey: .contextLength)
    try c.encode(typeVocabularySize, forKey: .typeVocabularySize)
    try c.encode(layerNormEps, forKey: .layerNormEps)
    try c.encode("absolute", forKey: .positionEmbeddingType)
  }
}

/// One post-norm encoder layer: h = LN(x + attn(x)); LN(h + ffn(h)).
/// Shapes: B batch, T time, C width, H heads, D head width.
public final class BERTLayer: Module {
  @Child(key: "attention.self.query") public var query: Linear
  @Child(key: "attention.self.key") public var key: Linear
  @Child(key: "attention.self.value") public var value: Linear
  @Child(key: "attention.output.dense") public var attentionOutput: Linear
  @Child(key: "attention.output.LayerNorm") public var attentionNorm: LayerNorm
  @Child(key: "intermediate.dense") public var intermediate: Linear
  @Child(key: "output.dense") public var output: Linear
  @Child(key: "output.LayerNorm") public var outputNorm: LayerNorm
  let heads: Int
  let activation: Activation

  /// A layer whose linear layers (with biases) come from `linear(inFeatures, outFeatures, bias)`.
  init(_ c: BERTConfiguration, linear: (Int, Int, Bool) -> Linear) {
    heads = c.heads
    activation = c.activation
    super.init()
    query = linear(c.hiddenSize, c.hiddenSize, true)
    key = linear(c.hiddenSize, c.hiddenSize, true)
    value = linear(c.hiddenSize, c.hiddenSize, true)
    attentionOutput = linear(c.hiddenSize, c.hiddenSize, true)
    attentionNorm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
    intermediate = linear(c.hiddenSize, c.intermediateSize, true)
    output = linear(c.intermediateSize, c.hiddenSize, true)
    outputNorm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
  }

  /// x [B, T, C]; `bias` [B, 1, 1, T] hides padded keys.
  func callAsFunction(_ x: Tensor, bias: Tensor?) throws -> Tensor {
    let (b, t, c) = (x.shape[0], x.shape[1], x.shape[2])
    func split(_ y: Tensor) throws -> Tensor {
      try y.reshaped([b, t, heads, c / heads]).transposed(1, 2).contiguous()  // [B, H, T, D]
    }
    let y = try Tensor.attention(query: split(query(x)), key: split(key(x)), value: split(value(x)), bias: bias)
    let h = try attentionNorm(x + attentionOutput(y.transposed(1, 2).reshaped([b, t, c])))
    return try outputNorm(h + output(activation(intermediate(h))))
  }
}

/// A BERT encoder (BertModel) with sentence-transformers mean pooling; parameter paths are HF keys.
public final class BERT: Module {
  /// The configuration it was built from.
  public let config: BERTConfiguration
  @Child(key: "embeddings.word_embeddings") public var wordEmbedding: Embedding
  @Child(key: "embeddings.position_embeddings") public var positionEmbedding: Embedding
  @Child(key: "embeddings.token_type_embeddings") public var tokenTypeEmbedding: Embedding
  @Child(key: "embeddings.LayerNorm") public var embeddingNorm: LayerNorm
  /// The encoder layers.
  @Child(key: "encoder.layer") public var layers: [BERTLayer]
  /// The [CLS] pooler, when the checkpoint has one.
  @Child(key: "pooler.dense") public var pooler: Linear?

  /// A randomly initialised encoder (embeddings N(0, 0.02²)).
  public convenience init(_ config: BERTConfiguration, pooler: Bool = true, generator: inout RandomGenerator) throws {
    try config.validate()
    let c = config.hiddenSize
    let embeddings = [config.vocabularySize, config.contextLength, config.typeVocabularySize].map {
      Embedding($0, c, std: 0.02, generator: &generator)
    }
    try self.init(config, pooler: pooler, embeddings: embeddings) { Linear($0, $1, bias: $2, generator: &generator) }
  }

  /// An encoder of placeholder weights (``TensorCore/Tensor/placeholder(_:)``: shapes, no memory) for a
  /// checkpoint to fill; no random numbers are drawn.
  convenience init(placeholdersFor config: BERTConfiguration, pooler: Bool) throws {
    try config.validate()
    let embeddings = [config.vocabularySize, config.contextLength, config.typeVocabularySize].map {
      Embedding(weight: Tensor.placeholder([$0, config.hiddenSize]))
    }
    try self.init(config, pooler: pooler, embeddings: embeddings, linear: Linear.placeholder)
  }

  /// Assembles the encoder from its word, position and token-type `embeddings` and linear layers from
  /// `linear(in, out, bias)` (the layers', then the pooler's).
  init(
    _ config: BERTConfiguration, pooler: Bool, embeddings: [Embedding], linear: (Int, Int, Bool) -> Linear
  ) throws {
    try config.validate()
    self.config = config
    super.init()
    let c = config.hiddenSize
    (wordEmbedding, positionEmbedding, tokenTypeEmbedding) = (embeddings[0], embeddings[1], embeddings[2])
    embeddingNorm = LayerNorm(c, eps: config.layerNormEps)
    layers = (0..<config.layers).map { _ in BERTLayer(config, linear: linear) }
    self.pooler = pooler ? linear(c, c, true) : nil
  }

  /// Last hidden states [B, T, C] for ids [B, T]; `attentionMask` [B, T] (1 real, 0 padding) hides padded keys.
  public func hiddenStates(_ ids: Tensor, tokenTypes: Tensor? = nil, attentionMask: Tensor? = nil) throws -> Tensor {
    try checkTokenIds(ids, model: "BERT", offset: 0, contextLength: config.contextLength)
    let (b, t) = (ids.shape[0], ids.shape[1])
    let types = tokenTypes ?? Tensor(indices: [Int](repeating: 0, count: b * t), shape: [b, t])
    guard types.shape == ids.shape, attentionMask.map({ $0.shape == ids.shape }) ?? true else {
      throw TensorError.shapes("BERT", ids.shape, types.shape, "do not match (token types and mask must be [B, T])")
    }
    let positions = Tensor(indices: Array(0..<t), shape: [t])
    var h = try wordEmbedding(ids) + positionEmbedding(positions) + tokenTypeEmbedding(types)
    h = try embeddingNorm(h)  // [B, T, C]
    // Padded keys get a large negative score bias, as HF adds finfo(float32).min.
    let bias = try attentionMask.map { try ((1 - $0.converted(to: .float32)) * -1e30).reshaped([b, 1, 1, t]) }
    for layer in layers { h = try layer(h, bias: bias) }
    return h
  }

  /// tanh(pooler(h[:, 0])) [B, C]; throws when the model has no pooler.
  public func pooledOutput(_ hidden: Tensor) throws -> Tensor {
    guard let pooler else { throw TensorError("BERT", "this model has no pooler (pooler.dense)") }
    return try pooler(hidden.sliced(axis: 1, 0..<1).squeezed(1)).tanh()
  }

  /// Σ h·mask / Σ mask over time [B, C] (all positions when `attentionMask` is nil).
  public func meanPooled(_ hidden: Tensor, attentionMask: Tensor?) throws -> Tensor {
    guard let attentionMask else { return try hidden.mean(axes: [1]) }
    let m = try attentionMask.converted(to: .float32).unsqueezed(2)  // [B, T, 1]
    return try (hidden * m).sum(axes: [1]) / m.sum(axes: [1])
  }

  /// sentence-transformers embeddings: masked mean pooling, then L2 normalisation (eps 1e-12) [B, C].
  public func sentenceEmbeddings(_ ids: Tensor, attentionMask: Tensor? = nil) throws -> Tensor {
    let pooled = try meanPooled(hiddenStates(ids, attentionMask: attentionMask), attentionMask: attentionMask)
    let norms = try pooled.square().sum(axes: [1], keepingDimensions: true).sqrt()
    return try pooled / norms.maximum(Tensor(scalar: 1e-12))
  }
}

extension BERT {
  /// Loads a Hugging Face BERT checkpoint (folder, `config.json` or `.safetensors` path); keys may carry a
  /// `bert.` prefix, the pooler is kept when present, and task heads (e.g. `cls.*`, `classifier.*`) and
  /// `position_ids` buffers are ignored; any other tensor the config does not name (a layer beyond
  /// `num_hidden_layers`) is an error.
  public convenience init(contentsOf path: String) throws {
    try self.init(checkpoint: HFCheckpoint(path: path))
  }

  /// Builds the encoder that `checkpoint`'s config describes and copies its weights in.
  public convenience init(checkpoint: HFCheckpoint) throws {
    let config = try checkpoint.configuration(BERTConfiguration.self)
    try checkpoint.checkLayerCount(config.layers, key: "num_hidden_layers")
    let hasPooler =
      checkpoint.entry("pooler.dense.weight") != nil || checkpoint.entry("bert.pooler.dense.weight") != nil
    try self.init(placeholdersFor: config, pooler: hasPooler)
    try checkpoint.load(
      into: self, aliases: { ["bert." + $0] },
      ignoring: { name in
        let own = name.hasPrefix("bert.") ? String(name.dropFirst(5)) : name
        return own.hasSuffix("position_ids") || !["embeddings.", "encoder.", "pooler."].contains { own.hasPrefix($0) }
      })
  }

  /// Writes `config.json` and `model.safetensors` into `directory` in Hugging Face layout, each atomically.
  public func save(to directory: String) throws {
    try createDirectory(directory)
    var config = self.config
    config.layers = layers.count
    let base = URL(fileURLWithPath: directory)
    try saveSafetensors(to: base.appendingPathComponent("model.safetensors").path, metadata: ["format": "pt"])
    try writeJSONAtomically(config, to: base.appendingPathComponent("config.json").path)
  }
}
