import Checkpoints
import Foundation
import Generation
import LMCore
import Models
import NN
import TensorCore
import Tokenizers
import TransformerFAM

/// `frontier generate --attention bswa|fam`: streaming generation whose attention state stays flat in length.
extension GenerateCommand {
  /// The options that switch a Llama to block sliding-window attention or TransformerFAM.
  static let famOptions = [
    OptionSpec(
      "attention", value: "MODE", default: "full", "full, bswa (block sliding window) or fam (TransformerFAM)"),
    OptionSpec("block", value: "B", default: "64", "block size for bswa/fam"),
    OptionSpec("fam", value: "F", default: "8", "FAM activations per layer (fam)"),
    OptionSpec("memory-blocks", value: "M", default: "1", "previous blocks each block sees (bswa/fam)"),
    OptionSpec("fam-weights", value: "FILE", "safetensors of a FAM fine-tune (parent weights + fam_prompt)"),
  ]

  /// The attention mode asked for, or nil for the parent's full attention.
  static func famConfiguration(_ args: ParsedArguments) throws -> FAMConfiguration? {
    let text = args.string("attention") ?? "full"
    guard let mode = FAMAttentionMode(rawValue: text) else {
      throw UsageError(message: "frontier generate: --attention must be full, bswa or fam, got '\(text)'")
    }
    guard mode != .full else { return nil }
    let configuration = FAMConfiguration(
      mode: mode, blockSize: try args.int("block", default: 64),
      memoryBlocks: try args.int("memory-blocks", default: 1),
      famLength: mode == .fam ? try args.int("fam", default: 8) : 0)
    do {
      try configuration.validate()
    } catch {
      throw UsageError(message: "frontier generate: \(error) (see frontier generate --help)")
    }
    return configuration
  }

  /// The streaming BSWA/FAM decoder over a Llama-family `model` (and its fine-tuned FAM weights).
  static func famDecoder(_ configuration: FAMConfiguration, args: ParsedArguments, model loaded: any LanguageModel)
    throws -> FAMStreamingDecoder
  {
    guard let parent = loaded as? Llama else {
      throw CLIError("--attention \(configuration.mode.rawValue) needs a Llama-family model; this one is not")
    }
    var generator = RandomGenerator(seed: 0)
    let model = try FAMModel(parent: parent, configuration: configuration, generator: &generator)
    if let weights = args.string("fam-weights") {
      guard FileManager.default.fileExists(atPath: weights) else {
        throw CLIError("\(weights): FAM weights not found; pass the .safetensors a FAM fine-tune wrote")
      }
      try model.loadSafetensors(from: weights)
    }
    model.eval()
    return try FAMStreamingDecoder(model: model)
  }
}
