import Foundation
import Generation
import LMCore
import Models
import Tokenizers
import TriForce

/// `frontier triforce`: lossless hierarchical speculative decoding (TriForce) of a long prompt.
///
/// Stdout carries the continuation as `frontier generate` prints it (or the ids with `--print-ids`); the
/// acceptance rates and speed go to stderr.
enum TriForceCommand: Command {
  static let name = "triforce"
  static let summary = "Decode a long prompt with TriForce (draft -> retrieval cache -> full cache), losslessly."
  static let usage =
    "frontier triforce --target PATH --draft PATH (--prompt TEXT | --prompt-file FILE | --prompt-ids 1,2,3) [options]\n"
    + "       frontier triforce reproduce [--quick] [--output DIR] [--contexts 2048,32768] [--temperatures 0,1]\n"
    + "                                   [--prompts N] [--seeds N] [--max-tokens N] [--budget N]   (the table of reports/triforce)"
  static let allowsPositional = true
  static let options =
    [
      OptionSpec("target", value: "PATH", "the target Llama (Hugging Face folder)"),
      OptionSpec("draft", value: "PATH", "the small draft Llama with the same tokenizer"),
    ]
    + GenerateCommand.options.filter {
      !["model", "draft", "draft-length", "prompts-file", "batch", "weights"].contains($0.name)
    }
    + [
      OptionSpec("prompt-tokens", value: "N", default: "all", "keep only the first N prompt tokens"),
      OptionSpec("budget", value: "N", default: "4096", "prompt rows kept by the retrieval cache"),
      OptionSpec("chunk", value: "N", default: "8", "rows per retrieval chunk"),
      OptionSpec("gamma1", value: "N", default: "2", "draft tokens per retrieval-level pass"),
      OptionSpec("gamma2", value: "N", default: "6", "retrieval-level tokens per full-cache verification"),
      OptionSpec("sinks", value: "N", default: "16", "attention sinks of the draft's StreamingLLM cache"),
      OptionSpec("draft-cache", value: "N", default: "256", "rows of the draft's StreamingLLM cache"),
      OptionSpec("rebuild-stride", value: "N", default: "never", "rebuild the retrieval cache every N tokens"),
      OptionSpec(
        "method", value: "NAME", default: "triforce",
        "triforce, autoregressive, draft-only, retrieval-only or streaming-middle"),
      OptionSpec("quick", "reproduce: short contexts, one temperature"),
      OptionSpec("output", value: "DIR", default: "reports/triforce", "reproduce: report folder"),
      OptionSpec("contexts", value: "N,N", default: "2048,8192,16384,32768", "reproduce: prompt lengths"),
      OptionSpec("temperatures", value: "T,T", default: "0,0.6,1", "reproduce: sampling temperatures"),
      OptionSpec("prompts", value: "N", default: "3", "reproduce: prompts (books) per context"),
      OptionSpec("seeds", value: "N", default: "2", "reproduce: sampling seeds per prompt (T > 0)"),
    ]

  static func run(_ args: ParsedArguments) throws {
    if args.positional == ["reproduce"] {
      try reproduce(args)
      return
    }
    guard args.positional.isEmpty else {
      throw UsageError(message: "frontier triforce: unexpected argument '\(args.positional[0])' (see --help)")
    }
    guard let targetPath = args.string("target"), let draftPath = args.string("draft") else {
      throw UsageError(message: "frontier triforce: pass --target PATH and --draft PATH (see frontier triforce --help)")
    }
    let request = try GenerationRequest(args, command: "frontier triforce", options: options)
    let configuration = try configuration(args)
    guard let method = DecodingMethod(rawValue: args.string("method") ?? "triforce") else {
      throw UsageError(
        message: "frontier triforce: --method must be one of "
          + DecodingMethod.allCases.map(\.rawValue).joined(separator: ", "))
    }
    guard FileManager.default.fileExists(atPath: targetPath) else {
      throw CLIError("\(targetPath): target model not found; check the path")
    }
    let probe = try ModelRegistry.loadLanguageModel(targetPath)
    let tokenizer = try TokenizerLocator.find(
      explicit: args.string("tokenizer"), model: targetPath, vocabularySize: probe.vocabularySize,
      required: request.promptIDs == nil || !request.printIDs)
    var prompt = try request.promptIDs(tokenizer: tokenizer)
    if let limit = try optionalInt(args, "prompt-tokens") {
      guard limit > 0 else { throw UsageError(message: "frontier triforce: --prompt-tokens must be positive") }
      prompt = Array(prompt.prefix(limit))
    }
    let needed = prompt.count + request.maxTokens + configuration.middleLength + configuration.draftLength + 8
    let (target, extendedTarget) = try TriForceModels.llama(at: targetPath, contextLength: needed)
    let (draft, extendedDraft) = try TriForceModels.llama(at: draftPath, contextLength: needed)
    for (name, extended) in [("target", extendedTarget), ("draft", extendedDraft)] where extended {
      FileHandle.standardError.write(
        Data("frontier triforce: the \(name)'s context is extended to \(needed) positions (beyond its training)\n".utf8)
      )
    }
    let generation = GenerationOptions(
      maxTokens: request.maxTokens, sampling: request.sampling,
      stopTokens: GenerateCommand.stopTokens(model: probe, tokenizer: tokenizer),
      stopStrings: request.printIDs ? [] : request.stopStrings)
    let decoder = try TriForceDecoder(target: target, draft: draft, configuration: configuration)
    let result = try decoder.run(
      method, prompt: prompt, options: generation, text: request.textDecoder(tokenizer, prompt: prompt),
      onText: writeOut)
    writeOut(request.printIDs ? result.tokens.map(String.init).joined(separator: ",") + "\n" : "\n")
    let rates = [
      result.draftAcceptance.map { String(format: "draft acceptance %.3f", $0) },
      result.topAcceptance.map { String(format: "top acceptance %.3f", $0) },
    ].compactMap { $0 }.joined(separator: ", ")
    let line = String(
      format: "frontier triforce (%@): %d prompt + %d new tokens (%@); setup %.2f s, decode %.1f tokens/s%@",
      method.rawValue, prompt.count, result.tokens.count, result.stopReason.rawValue, result.setupSeconds,
      result.tokensPerSecond, rates.isEmpty ? "" : "; " + rates)
    let passes = result.passes.map {
      String(
        format: "%d passes %.1f ms each, %.1f tokens each", $0.passes, 1000 * $0.seconds / Double(max($0.passes, 1)),
        Double($0.tokens) / Double(max($0.passes, 1)))
    }
    FileHandle.standardError.write(
      Data((line + "\n  levels (top first): " + passes.joined(separator: "; ") + "\n").utf8))
  }

  /// The TriForce knobs from the command line.
  static func configuration(_ args: ParsedArguments) throws -> TriForceConfiguration {
    var c = TriForceConfiguration()
    c.budget = try args.int("budget", default: c.budget)
    c.chunk = try args.int("chunk", default: c.chunk)
    c.draftLength = try args.int("gamma1", default: c.draftLength)
    c.middleLength = try args.int("gamma2", default: c.middleLength)
    c.sinks = try args.int("sinks", default: c.sinks)
    c.draftCache = try args.int("draft-cache", default: c.draftCache)
    c.rebuildStride = try optionalInt(args, "rebuild-stride")
    do {
      try c.validate()
    } catch {
      throw UsageError(message: "frontier triforce: \(error)")
    }
    return c
  }

  /// `frontier triforce reproduce`: the full or quick protocol, with any of its settings overridden.
  static func reproduce(_ args: ParsedArguments) throws {
    let quick = args.flag("quick")
    var settings = TriForceReproduction.Settings(quick: quick)
    settings.contexts = try list(args, "contexts") { Int($0) } ?? settings.contexts
    settings.temperatures = try list(args, "temperatures") { Float($0) } ?? settings.temperatures
    settings.prompts = try args.int("prompts", default: settings.prompts)
    settings.seeds = try args.int("seeds", default: settings.seeds)
    settings.maxTokens = try args.int("max-tokens", default: settings.maxTokens)
    settings.budget = try args.int("budget", default: settings.budget)
    do {
      try settings.validate()
    } catch {
      throw UsageError(message: "frontier triforce reproduce: \(error)")
    }
    let overridden = ["contexts", "temperatures", "prompts", "seeds", "max-tokens", "budget"].compactMap { name in
      args.string(name).map { " --\(name) \($0)" }
    }
    let command = "frontier triforce reproduce" + (quick ? " --quick" : "") + overridden.joined()
    guard let target = args.string("target") ?? TriForceWorkload.defaultTarget else {
      throw UsageError(
        message:
          "frontier triforce reproduce: no target model; pass --target or run `frontier reproduce triforce-models`")
    }
    guard let draft = args.string("draft") ?? TriForceWorkload.defaultDraft else {
      throw UsageError(
        message: "frontier triforce reproduce: no draft model; pass --draft or run `frontier reproduce triforce-models`"
      )
    }
    try TriForceReproduction.run(
      settings, quick: quick, output: args.string("output") ?? "reports/triforce", target: target, draft: draft,
      tokenizer: args.string("tokenizer") ?? TriForceWorkload.defaultTokenizer, command: command
    ) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
  }

  /// A comma-separated list option, nil when absent.
  static func list<T>(_ args: ParsedArguments, _ name: String, _ parse: (String) -> T?) throws -> [T]? {
    guard let text = args.string(name) else { return nil }
    let values = text.split(separator: ",").map { parse($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
      throw UsageError(message: "frontier triforce reproduce: --\(name) needs a comma-separated list, got '\(text)'")
    }
    return values.compactMap { $0 }
  }

  /// An integer option without a default.
  static func optionalInt(_ args: ParsedArguments, _ name: String) throws -> Int? {
    guard let text = args.string(name) else { return nil }
    guard let value = Int(text) else {
      throw UsageError(message: "frontier triforce: --\(name) needs an integer, got '\(text)'")
    }
    return value
  }

}
