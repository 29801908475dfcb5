import Foundation
import LMCore
import Models
import TensorCore

/// Loading the target and draft for long prompts.
public enum TriForceModels {
  /// The Llama at `path`, with its context raised to at least `contextLength` positions when it is shorter.
  ///
  /// RoPE has no position table, so the weights run at any position; quality past the trained length is not
  /// promised (the caller should say so). Returns the model and whether its context was extended.
  public static func llama(at path: String, contextLength: Int) throws -> (model: Llama, extended: Bool) {
    guard FileManager.default.fileExists(atPath: path) else {
      throw TriForceError("\(path): model not found; pass a Hugging Face Llama folder")
    }
    guard case .llama(let model) = try ModelRegistry.load(path) else {
      throw TriForceError("\(path): not a Llama model; TriForce needs RoPE models (Llama family)")
    }
    guard model.contextLength < contextLength else { return (model, false) }
    return (try extended(model, to: contextLength), true)
  }

  /// The context length and RoPE base a Llama folder's `config.json` declares (what it was trained for).
  public static func declaredShape(at path: String) throws -> (contextLength: Int, ropeBase: Float) {
    let file = (path as NSString).appendingPathComponent("config.json")
    guard let bytes = FileManager.default.contents(atPath: file),
      let config = try? JSONDecoder().decode(LlamaConfiguration.self, from: bytes)
    else { throw TriForceError("\(file): not a readable Llama config.json") }
    return (config.contextLength, config.ropeTheta)
  }

  /// The same weights with `max_position_embeddings` set to `contextLength`.
  public static func extended(_ model: Llama, to contextLength: Int) throws -> Llama {
    var config = model.config
    config.contextLength = contextLength
    var generator = RandomGenerator(seed: 0)
    let longer = try Llama(config, generator: &generator)
    try longer.update(parameters: model.parameters())
    return longer
  }
}
