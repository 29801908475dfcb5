import Checkpoints
import Foundation
import LMCore
import NN
import TensorCore

/// A model loaded by ``ModelRegistry``.
public enum LoadedModel {
  /// A Llama-family decoder.
  case llama(Llama)
  /// A GPT-2 decoder.
  case gpt2(GPT2)
  /// A BERT encoder.
  case bert(BERT)

  /// The model as a parameter tree.
  public var module: Module {
    switch self {
    case .llama(let m): return m
    case .gpt2(let m): return m
    case .bert(let m): return m
    }
  }

  /// Token ids that end the model's sequences (empty for encoders).
  public var endOfSequenceIDs: Set<Int> { languageModel?.endOfSequenceIDs ?? [] }

  /// The model as a causal language model (nil for encoders).
  public var languageModel: (any LanguageModel)? {
    switch self {
    case .llama(let m): return m
    case .gpt2(let m): return m
    case .bert: return nil
    }
  }
}

/// Loads models by Hugging Face `model_type`, or llama2.c `.bin` files.
public enum ModelRegistry {
  /// How to build a model from an opened checkpoint, by `model_type`.
  public static let loaders: [String: @Sendable (HFCheckpoint) throws -> LoadedModel] = [
    LlamaConfiguration.modelType: { .llama(try Llama(checkpoint: $0)) },
    GPT2Configuration.modelType: { .gpt2(try GPT2(checkpoint: $0)) },
    BERTConfiguration.modelType: { .bert(try BERT(checkpoint: $0)) },
  ]

  /// The supported `model_type` values.
  public static var modelTypes: [String] { loaders.keys.sorted() }

  /// Whether `path` is a llama2.c checkpoint (a `.bin` file).
  public static func isLlama2c(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
      && URL(fileURLWithPath: path).pathExtension == "bin"
  }

  /// Loads a model folder, its `config.json`/`.safetensors`, or a llama2.c `.bin` file, with the ids that
  /// end its sequences (``LanguageModel/endOfSequenceIDs``): `eos_token_id` (a number or a list) from
  /// `generation_config.json`, else from `config.json`; for llama2.c files BOS (1, which starts every
  /// story and so ends one) and EOS (2).
  public static func load(_ path: String) throws -> LoadedModel {
    let loaded = try loadUnchecked(path)
    try checkFinite(loaded.module, path: path)
    return loaded
  }

  /// Throws, naming the tensor and the element, when a weight of `module` is NaN or infinite: such a
  /// checkpoint would decode garbage or train to NaN far from its cause.
  static func checkFinite(_ module: Module, path: String) throws {
    for parameter in module.namedParameters() {
      if let tensor = parameter.box.tensor, let index = tensor.firstNonFiniteIndex() {
        var position: [Int] = []
        var rest = index
        for size in tensor.shape.reversed() {
          position.insert(rest % size, at: 0)
          rest /= size
        }
        throw CheckpointError(
          path: path,
          problem: "tensor \(parameter.path) \(tensor.shape) holds a non-finite value (NaN or infinity) at \(position)",
          remedy: "the checkpoint is corrupt or diverged; restore it or export it again")
      }
    }
  }

  static func loadUnchecked(_ path: String) throws -> LoadedModel {
    if isLlama2c(path) {
      let model = try Llama(llama2cPath: path)
      model.endOfSequenceIDs = [1, 2]
      return .llama(model)
    }
    let checkpoint = try HFCheckpoint(path: path)
    guard let loader = loaders[checkpoint.modelType] else {
      throw CheckpointError(
        path: checkpoint.configPath, problem: "has model_type \"\(checkpoint.modelType)\", which is not supported",
        remedy: "use one of: \(modelTypes.joined(separator: ", "))")
    }
    let loaded = try loader(checkpoint)
    let ids = try endOfSequenceIDs(in: checkpoint.directory)
    switch loaded {
    case .llama(let model): model.endOfSequenceIDs = ids
    case .gpt2(let model): model.endOfSequenceIDs = ids
    case .bert: break
    }
    return loaded
  }

  /// `eos_token_id` of `generation_config.json` in `folder`, else of its `config.json` (a number, a list of
  /// numbers or null); a value of another type is an error naming the file.
  public static func endOfSequenceIDs(in folder: String) throws -> Set<Int> {
    for name in ["generation_config.json", "config.json"] {
      let path = (folder as NSString).appendingPathComponent(name)
      guard let data = FileManager.default.contents(atPath: path) else { continue }
      guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
        throw CheckpointError(path: path, problem: "is not a JSON object", remedy: "restore the original file")
      }
      guard let value = object["eos_token_id"], !(value is NSNull) else { continue }
      if let number = value as? Int { return [number] }
      if let list = value as? [Any], let numbers = list as? [Int], numbers.count == list.count { return Set(numbers) }
      throw CheckpointError(
        path: path, problem: "has eos_token_id \(value), which is neither a token id nor a list of them",
        remedy: "write eos_token_id as a number or a list of numbers")
    }
    return []
  }

  /// Loads a causal language model; an encoder is a one-line error.
  public static func loadLanguageModel(_ path: String) throws -> any LanguageModel {
    guard let model = try load(path).languageModel else {
      throw CheckpointError(
        path: path, problem: "holds an encoder, not a causal language model", remedy: "pass a decoder")
    }
    return model
  }
}

extension LanguageModel {
  /// Mean next-token cross-entropy of ids [B, T]: logits[:, :-1] against ids[:, 1:] (HF's `labels=input_ids`).
  public func nextTokenLoss(_ ids: Tensor) throws -> Tensor {
    guard ids.rank == 2, ids.shape[1] >= 2 else {
      throw TensorError("nextTokenLoss", "ids must be [batch, time] with time >= 2, got \(ids.shape)")
    }
    let t = ids.shape[1]
    let logits = try self.logits(ids, state: nil).sliced(axis: 1, 0..<(t - 1))
    return try logits.crossEntropy(targets: ids.sliced(axis: 1, 1..<t).contiguous())
  }
}

/// Checks token ids [B, T] against a model's context: T >= 1 and offset + T <= contextLength.
func checkTokenIds(_ ids: Tensor, model: String, offset: Int, contextLength: Int) throws {
  guard ids.rank == 2, ids.shape[0] > 0, ids.shape[1] > 0 else {
    throw TensorError(model, "token ids must be [batch, time] with both positive, got \(ids.shape)")
  }
  guard offset + ids.shape[1] <= contextLength else {
    throw TensorError(
      model, "\(offset) cached + \(ids.shape[1]) new tokens exceed the context length \(contextLength)")
  }
}

extension AttentionLanguageModel {
  /// The attention state of every layer of `state`, checked against this model's layer count and cache
  /// layout.
  func checkedLayers(_ state: DecodingState) throws -> [AttentionKV] {
    guard state.layers.count == layerCount, let caches = state.attentionLayers else {
      throw TensorError(
        "\(Self.self)", "a decoding state of \(state.layers.count) layers does not fit \(layerCount) attention layers")
    }
    let (g, d) = keyValueShape
    for (i, cache) in caches.enumerated() where cache.layout.heads != g || cache.layout.headDimensions != d {
      throw TensorError(
        "\(Self.self)",
        "layer \(i)'s cache holds \(cache.layout.heads) heads of width \(cache.layout.headDimensions); "
          + "the model has \(g) of width \(d)")
    }
    return caches
  }
}
