import Checkpoints
import Foundation
import NN
import TensorCore

extension GPT2 {
  /// Loads a Hugging Face GPT-2 checkpoint (folder, `config.json` or `.safetensors` path).
  ///
  /// Keys are read with or without the `transformer.` prefix (the original `gpt2` upload has none);
  /// attention-mask buffers (`attn.bias`, `attn.masked_bias`) and a stored tied `lm_head.weight` are ignored.
  public convenience init(contentsOf path: String) throws {
    try self.init(checkpoint: HFCheckpoint(path: path))
  }

  /// Builds the model that `checkpoint`'s config describes and copies its weights in.
  public convenience init(checkpoint: HFCheckpoint) throws {
    let config = try checkpoint.configuration(GPT2Configuration.self)
    try checkpoint.checkLayerCount(config.layers, key: "n_layer")
    try self.init(placeholdersFor: config)
    let prefix = "transformer."
    try checkpoint.load(
      into: self, aliases: { path in path.hasPrefix(prefix) ? [String(path.dropFirst(prefix.count))] : [] },
      ignoring: { name in
        name.hasSuffix(".attn.bias") || name.hasSuffix(".attn.masked_bias")
          || (config.tiedEmbeddings && name == "lm_head.weight")
      })
  }

  /// Writes `config.json` and `model.safetensors` into `directory` in Hugging Face layout, each atomically.
  public func save(to directory: String) throws {
    try createDirectory(directory)
    var config = self.config
    config.layers = blocks.count
    let indices = blocks.map(\.attention.layerIndex)
    config.attentionLayerIndices = indices == Array(indices.indices) ? nil : indices
    let base = URL(fileURLWithPath: directory)
    try saveSafetensors(to: base.appendingPathComponent("model.safetensors").path, metadata: ["format": "pt"])
    try writeJSONAtomically(config, to: base.appendingPathComponent("config.json").path)
  }
}
