import Checkpoints
import Foundation
import NN
import TensorCore

extension Llama {
  /// Loads a Hugging Face Llama checkpoint (folder, `config.json` or `.safetensors` path).
  public convenience init(contentsOf path: String) throws {
    try self.init(checkpoint: HFCheckpoint(path: path))
  }

  /// Builds the model that `checkpoint`'s config describes and copies its weights in.
  public convenience init(checkpoint: HFCheckpoint) throws {
    let config = try checkpoint.configuration(LlamaConfiguration.self)
    try self.init(placeholdersFor: config)
    try checkpoint.load(into: self)
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
  }

  /// Writes `config.json` and `model.safetensors` into `directory` in Hugging Face layout, each atomically.
  ///
  /// A model with interleaved RoPE (llama2.c) has its q/k rows permuted to rotate-half order, so that HF
  /// transformers and ``init(contentsOf:)`` compute the same function.
  public func save(to directory: String) throws {
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
      records.append(SafetensorsRecord(name: p.path, tensor: t))
    }
    let base = URL(fileURLWithPath: directory)
    try SafetensorsWriter.write(
      records, metadata: ["format": "pt"], to: base.appendingPathComponent("model.safetensors").path)
    try writeJSONAtomically(config, to: base.appendingPathComponent("config.json").path)
  }

  /// Reorders the rows of a q/k projection [n·D, C] within each head from pairs (2i, 2i+1) to halves
  /// (i, i + D/2): row h·D + a·D/2 + i takes row h·D + 2i + a.
  static func rotateHalfOrder(_ w: Tensor, headDimensions d: Int) throws -> Tensor {
    let (rows, cols) = (w.shape[0], w.shape[1])
    return try w.reshaped([rows / d, d / 2, 2, cols]).transposed(1, 2).contiguous().reshaped([rows, cols])
  }
}
