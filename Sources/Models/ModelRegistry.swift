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

  /// Loads a model folder, its `config.json`/`.safetensors`, or a llama2.c `.bin` file.
  public static func load(_ path: String) throws -> LoadedModel {
    if isLlama2c(path) { return .llama(try Llama(llama2cPath: path)) }
    let checkpoint = try HFCheckpoint(path: path)
    guard let loader = loaders[checkpoint.modelType] else {
      throw CheckpointError(
        path: checkpoint.configPath, problem: "has model_type \"\(checkpoint.modelType)\", which is not supported",
        remedy: "use one of: \(modelTypes.joined(separator: ", "))")
    }
    return try loader(checkpoint)
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
    let logits = try self.logits(ids, cache: nil).sliced(axis: 1, 0..<(t - 1))
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
