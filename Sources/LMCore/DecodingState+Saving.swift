import Checkpoints
import TensorCore

extension DecodingState {
  /// Writes every layer's contents to a safetensors file, atomically: tensors `layers.<i>.<name>`, and
  /// metadata `layers.<i>.<key>` plus each layer's kind and the layer count. `model` names the model in the
  /// metadata (checked by ``load(from:model:)`` when given).
  public func save(to path: String, model: String? = nil) throws {
    var records: [SafetensorsRecord] = []
    var metadata = ["format": "frontier-decoding-state", "layers": String(layers.count)]
    if let model { metadata["model"] = model }
    for (i, layer) in layers.enumerated() {
      let (tensors, values) = try layer.tensors()
      metadata["layers.\(i).kind"] = layer.kind
      for (name, tensor) in tensors { records.append(SafetensorsRecord(name: "layers.\(i).\(name)", tensor: tensor)) }
      for (key, value) in values { metadata["layers.\(i).\(key)"] = value }
    }
    try SafetensorsWriter.write(records, metadata: metadata, to: path)
  }

  /// Replaces every layer's contents by those saved at `path`; throws a ``CheckpointError`` naming the file
  /// when its layer count, kinds or shapes do not fit this state (a state saved from another model), and
  /// changes nothing then.
  public func load(from path: String, model: String? = nil) throws {
    let file = try SafetensorsFile(path: path)
    func problem(_ text: String) -> CheckpointError {
      CheckpointError(path: path, problem: text, remedy: "load a state saved from the same model and shape")
    }
    guard file.metadata["format"] == "frontier-decoding-state" else {
      throw problem("is not a saved decoding state (no format frontier-decoding-state in its metadata)")
    }
    guard file.metadata["layers"] == String(layers.count) else {
      throw problem("holds \(file.metadata["layers"] ?? "no") layers; this model has \(layers.count)")
    }
    if let model, let saved = file.metadata["model"], saved != model {
      throw problem("was saved from model \(saved), not \(model)")
    }
    let all = try file.tensors()
    let staged = snapshot()
    do {
      for (i, layer) in layers.enumerated() {
        let prefix = "layers.\(i)."
        guard file.metadata[prefix + "kind"] == layer.kind else {
          throw problem("layer \(i) holds a \(file.metadata[prefix + "kind"] ?? "missing") state, not \(layer.kind)")
        }
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in all where name.hasPrefix(prefix) {
          tensors[String(name.dropFirst(prefix.count))] = tensor
        }
        var values: [String: String] = [:]
        for (key, value) in file.metadata where key.hasPrefix(prefix) {
          values[String(key.dropFirst(prefix.count))] = value
        }
        do {
          try layer.load(tensors: tensors, metadata: values)
        } catch let error as TensorError {
          throw problem("layer \(i): \(error)")
        }
      }
    } catch {
      try? restore(staged)
      throw error
    }
  }
}
