import Data
import Foundation
import Generation
import Tokenizers
import TriForce

extension BenchCommand {
  /// Options of `frontier bench triforce`.
  static let triForceOptions = [
    OptionSpec("context", value: "N", default: "4096", "prompt tokens (from the Gutenberg books)"),
    OptionSpec("target", value: "PATH", default: "the base model", "target Llama folder"),
    OptionSpec("draft", value: "PATH", default: "~/.cache/frontier/triforce/draft-run/model", "draft Llama folder"),
    OptionSpec("tokenizer", value: "PATH", default: "the base model's", "tokenizer file"),
    OptionSpec("max-tokens", value: "N", default: "64", "new tokens per method"),
    OptionSpec("temperature", value: "T", default: "0.6", "softmax temperature (0: greedy)"),
    OptionSpec("top-p", value: "P", default: "0.9", "nucleus sampling threshold"),
    OptionSpec("budget", value: "N", default: "4096", "retrieval-cache budget"),
    OptionSpec("gamma1", value: "N", default: "2", "draft tokens per retrieval pass"),
    OptionSpec("gamma2", value: "N", default: "6", "retrieval tokens per full verification"),
  ]

  /// `frontier bench triforce`: autoregressive decoding and TriForce on the same prompt, in one run.
  static func measureTriForce(_ args: ParsedArguments) throws {
    let context = try args.int("context", default: 4096)
    let maxTokens = try args.int("max-tokens", default: 64)
    guard context > 1, maxTokens > 0 else {
      throw UsageError(message: "frontier bench triforce: --context must exceed 1 and --max-tokens be positive")
    }
    guard let targetPath = args.string("target") ?? TriForceWorkload.defaultTarget else {
      throw CLIError("no target model: pass --target PATH (a Llama folder) or train the base model first")
    }
    guard let draftPath = args.string("draft") ?? TriForceWorkload.defaultDraft else {
      throw CLIError(
        "no draft model: pass --draft PATH or train one into ~/.cache/frontier/triforce/draft-run (see the TriForce README)"
      )
    }
    let tokenizer = try TokenizerLoader.load(args.string("tokenizer") ?? TriForceWorkload.defaultTokenizer)
    let prompt = try TriForceWorkload.prompt(
      tokens: context, dataFolder: (try DataLocation.file("books_gutenberg_nltk") as NSString).deletingLastPathComponent
    ) { tokenizer.encode($0, addSpecialTokens: true) }
    var configuration = TriForceConfiguration()
    configuration.budget = try args.int("budget", default: configuration.budget)
    configuration.draftLength = try args.int("gamma1", default: configuration.draftLength)
    configuration.middleLength = try args.int("gamma2", default: configuration.middleLength)
    try configuration.validate()
    let needed = context + maxTokens + configuration.middleLength + configuration.draftLength + 8
    let target = try TriForceModels.llama(at: targetPath, contextLength: needed).model
    let draft = try TriForceModels.llama(at: draftPath, contextLength: needed).model
    let sampling = SamplingOptions(
      temperature: try args.float("temperature", default: 0.6), topP: try args.float("top-p", default: 0.9), seed: 1)
    let options = GenerationOptions(maxTokens: maxTokens, sampling: sampling)
    let decoder = try TriForceDecoder(target: target, draft: draft, configuration: configuration)
    let plain = try decoder.run(.autoregressive, prompt: prompt, options: options)
    let triforce = try decoder.run(.triforce, prompt: prompt, options: options)
    let results: [(String, Double, String)] = [
      ("autoregressive_tokens_per_s", plain.tokensPerSecond, "target with its full cache, \(context)-token prompt"),
      ("triforce_tokens_per_s", triforce.tokensPerSecond, "draft -> retrieval cache -> full cache"),
      ("speedup", plain.tokensPerSecond > 0 ? triforce.tokensPerSecond / plain.tokensPerSecond : 0, "ratio"),
      ("acceptance_draft", triforce.draftAcceptance ?? 0, "draft tokens kept by the retrieval level"),
      ("acceptance_retrieval", triforce.topAcceptance ?? 0, "retrieval tokens kept by the full cache"),
      ("context", Double(context), "prompt tokens"),
    ]
    report(results, json: args.flag("json"))
  }
}
