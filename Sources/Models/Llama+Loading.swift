import Checkpoints
import Foundation
import NN
import TensorCore

extension Llama {
  /// Loads a Hugging Face Llama checkpoint (folder, `config.json` or `.safetensors` path).
  public convenience init(contentsOf path: String) throws {
    try self.init(checkpoint: HFCheckpoint(path: path))
  }

  /// Builds the model that `checkpoint`'s config describes and copies its weights in. RoPE frequency
  /// buffers (`rotary_emb.inv_freq`) and, with tied embeddings, a stored `lm_head.weight` are ignored; any
  /// other tensor the config does not name (a layer beyond `num_hidden_layers`) is an error.
  public convenience init(checkpoint: HFCheckpoint) throws {
    let config = try checkpoint.configuration(LlamaConfiguration.self)
    try checkpoint.checkLayerCount(config.layers, key: "num_hidden_layers")
    try self.init(placeholdersFor: config)
    try checkpoint.load(
      into: self,
      ignoring: { name in
        name.hasSuffix("rotary_emb.inv_freq") || (config.tiedEmbeddings && name == "lm_head.weight")
      })
  }

  /// Loads a llama2.c `.bin` checkpoint (legacy, v1 float32 or v2 Q8_0), keeping its interleaved RoPE layout.
  public convenience init(llama2cPath path: String) throws {
    let file = try Llama2cCheckpoint(path: path)
    let h = file.header
    let config = LlamaConfiguration(
      vocabularySize: h.vocabularySize, hiddenSize: h.dim, intermediateSize: h.hiddenDim, layers: h.layers,
      heads: h.heads, kvHeads: h.kvHeads, contextLength: h.contextLength, rmsNormEps: 1e-5, ropeTheta: 10_000,
      tiedEmbeddings: h.sharedClassifier, ropeInterleaved: true)
    try self.init(placeholdersFor: config)
    for p in namedParameters() {
      guard let t = file.tensors[p.path] else {
        throw CheckpointError(path: path, problem: "lacks tensor \(p.path)", remedy: "re-export the checkpoint")
      }
      p.box.setTensor(t.copied())
    }
    // A version-2 file decodes from its own Q8_0 blocks (not re-quantised from the expanded floats). llama2.c
    // groups the flattened matrix, so a matrix whose width the group size does not divide has blocks that
    // straddle rows: it decodes from its expanded floats instead.
    guard !file.quantized.isEmpty else { return }
    func packed(_ name: String) throws -> PackedMatrix? {
      guard let blocks = file.quantized[name], let weight = file.tensors[name], weight.shape[1] % h.groupSize == 0
      else { return nil }
      return try PackedMatrix(
        q8Values: blocks.values, scales: blocks.scales, rows: weight.shape[0], columns: weight.shape[1],
        groupSize: h.groupSize)
    }
    for (i, block) in layers.enumerated() {
      let prefix = "model.layers.\(i)."
      let named: [(String, Linear)] = [
        ("self_attn.q_proj", block.attention.queryProjection), ("self_attn.k_proj", block.attention.keyProjection),
        ("self_attn.v_proj", block.attention.valueProjection), ("self_attn.o_proj", block.attention.outputProjection),
        ("mlp.gate_proj", block.mlp.gate), ("mlp.up_proj", block.mlp.up), ("mlp.down_proj", block.mlp.down),
      ]
      for (name, linear) in named { if let matrix = try packed(prefix + name + ".weight") { try linear.pack(matrix) } }
    }
    if let head, let matrix = try packed("lm_head.weight") {
      try head.pack(matrix)
    } else if head == nil {
      packedHead = try packed("model.embed_tokens.weight")
    }
  }

  /// Writes `config.json` and `model.safetensors` into `directory` in Hugging Face layout, each atomically,
  /// with tensors stored as `dtype` (float32, float16 or bfloat16).
  ///
  /// A model with interleaved RoPE (llama2.c) has its q/k rows permuted to rotate-half order, so that HF
  /// transformers and ``init(contentsOf:)`` compute the same function.
  public func save(to directory: String, dtype: DType = .float32) throws {
    guard [.float32, .float16, .bfloat16].contains(dtype) else {
      throw CheckpointError(
        path: directory, problem: "cannot hold weights as \(dtype)", remedy: "save as float32, float16 or bfloat16")
    }
    try createDirectory(directory)
    var config = self.config
    config.layers = layers.count
    config.ropeInterleaved = false
    var records: [SafetensorsRecord] = []
    for p in namedParameters() {
      guard var t = p.box.tensor else { continue }
      if self.config.ropeInterleaved && (p.path.hasSuffix("q_proj.weight") || p.path.hasSuffix("k_proj.weight")) {
        t = try Self.rotateHalfOrder(t, headDimensions: config.headDimensions)
      }
      records.append(SafetensorsRecord(name: p.path, tensor: dtype == .float32 ? t : t.converted(to: dtype)))
    }
    let base = URL(fileURLWithPath: directory)
    try SafetensorsWriter.write(
      records, metadata: ["format": "pt"], to: base.appendingPathComponent("model.safetensors").path)
    try writeJSONAtomically(config, to: base.appendingPathComponent("config.json").path)
  }

  /// Writes a llama2.c `.bin` file: version 1 (float32) or, with `q8GroupSize`, version 2 (Q8_0 in blocks
  /// of that size). q/k rows go to llama2.c's interleaved RoPE order. Throws a ``CheckpointError`` naming
  /// the file when the model is not one llama2.c's `run` computes (biases, another RoPE base or norm
  /// epsilon, a gate other than SiLU).
  public func saveLlama2c(to path: String, q8GroupSize: Int? = nil) throws {
    let c = config
    func refuse(_ why: String) -> CheckpointError {
      CheckpointError(
        path: path, problem: "cannot hold this model as llama2.c: \(why)", remedy: "save it as a Hugging Face folder")
    }
    guard !c.attentionBias, !c.mlpBias else { throw refuse("llama2.c has no biases") }
    guard c.activation == .silu else { throw refuse("llama2.c's MLP gate is SiLU, not \(c.activation.rawValue)") }
    guard c.ropeTheta == 10_000, abs(c.rmsNormEps - 1e-5) < 1e-9 else {
      throw refuse(
        "llama2.c's run uses rope_theta 10000 and rms_norm_eps 1e-5, this model \(c.ropeTheta) and \(c.rmsNormEps)")
    }
    guard c.headDimensions * c.heads == c.hiddenSize, c.rotary.rotaryDimensions == nil else {
      throw refuse("llama2.c needs head_dim = hidden_size / heads and RoPE over the whole head")
    }
    var tensors: [String: Tensor] = [:]
    for p in namedParameters() {
      guard var t = p.box.tensor else { continue }
      if !c.ropeInterleaved && (p.path.hasSuffix("q_proj.weight") || p.path.hasSuffix("k_proj.weight")) {
        t = try Self.interleavedOrder(t, headDimensions: c.headDimensions)
      }
      tensors[p.path] = t
    }
    let header = Llama2cCheckpoint.Header(
      version: q8GroupSize == nil ? 1 : 2, dim: c.hiddenSize, hiddenDim: c.intermediateSize, layers: layers.count,
      heads: c.heads, kvHeads: c.kvHeads, vocabularySize: c.vocabularySize, contextLength: c.contextLength,
      sharedClassifier: c.tiedEmbeddings, groupSize: q8GroupSize ?? 0)
    try Llama2cCheckpoint.write(tensors, header: header, to: path)
  }

  /// llama2.c's Q8_0 group size for this model: 64, halved until it divides the widths (its `export.py`).
  public var llama2cGroupSize: Int {
    var size = 64
    while size > 1 && (config.hiddenSize % size != 0 || config.intermediateSize % size != 0) { size /= 2 }
    return size
  }

  /// Reorders the rows of a q/k projection [n·D, C] within each head from halves (i, i + D/2) to pairs
  /// (2i, 2i+1): the inverse of ``rotateHalfOrder(_:headDimensions:)``.
  static func interleavedOrder(_ w: Tensor, headDimensions d: Int) throws -> Tensor {
    let (rows, cols) = (w.shape[0], w.shape[1])
    return try w.reshaped([rows / d, 2, d / 2, cols]).transposed(1, 2).contiguous().reshaped([rows, cols])
  }

  /// Reorders the rows of a q/k projection [n·D, C] within each head from pairs (2i, 2i+1) to halves
  /// (i, i + D/2): row h·D + a·D/2 + i takes row h·D + 2i + a.
  static func rotateHalfOrder(_ w: Tensor, headDimensions d: Int) throws -> Tensor {
    let (rows, cols) = (w.shape[0], w.shape[1])
    return try w.reshaped([rows / d, d / 2, 2, cols]).transposed(1, 2).contiguous().reshaped([rows, cols])
  }
}
