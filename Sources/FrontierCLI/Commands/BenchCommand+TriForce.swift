import Data
import Foundation
import Generation
import Kernels
import LMCore
import TensorCore
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
    OptionSpec("sinks", value: "N", default: "16", "attention sinks of the draft's StreamingLLM cache"),
    OptionSpec("draft-cache", value: "N", default: "256", "rows of the draft's StreamingLLM cache"),
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
    configuration.sinks = try args.int("sinks", default: configuration.sinks)
    configuration.draftCache = try args.int("draft-cache", default: configuration.draftCache)
    try configuration.validate()
    let needed = context + maxTokens + configuration.middleLength + configuration.draftLength + 8
    let target = try TriForceModels.llama(at: targetPath, contextLength: needed).model
    let draft = try TriForceModels.llama(at: draftPath, contextLength: needed).model
    let sampling = SamplingOptions(
      temperature: try args.float("temperature", default: 0.6), topP: try args.float("top-p", default: 0.9), seed: 1)
    let options = GenerationOptions(maxTokens: maxTokens, sampling: sampling)
    let decoder = try TriForceDecoder(target: target, draft: draft, configuration: configuration)
    // One prefill for the pass costs and both methods; the methods alternate (A B A B) and speed is total
    // tokens over total time.
    let prefill = try decoder.prefill(prompt)
    let passTimes = try passCosts(target: target, draft: draft, prefill: prefill, budget: configuration.budget)
    var plainRuns: [DecodingRun] = []
    var triforceRuns: [DecodingRun] = []
    for _ in 0..<2 {
      plainRuns.append(try decoder.run(.autoregressive, prompt: prompt, options: options, prefilled: prefill))
      triforceRuns.append(try decoder.run(.triforce, prompt: prompt, options: options, prefilled: prefill))
    }
    let speed = { (runs: [DecodingRun]) -> Double in
      let seconds = runs.map(\.decodeSeconds).reduce(0, +)
      return seconds > 0 ? Double(runs.map(\.tokens.count).reduce(0, +)) / seconds : 0
    }
    let (plainSpeed, triforceSpeed) = (speed(plainRuns), speed(triforceRuns))
    let triforce = triforceRuns[0]
    let results: [(String, Double, String)] =
      [
        ("autoregressive_tokens_per_s", plainSpeed, "target with its full cache, \(context)-token prompt"),
        ("triforce_tokens_per_s", triforceSpeed, "draft -> retrieval cache -> full cache"),
        ("speedup", plainSpeed > 0 ? triforceSpeed / plainSpeed : 0, "ratio (runs alternated A B A B)"),
        ("acceptance_draft", triforce.draftAcceptance ?? 0, "draft tokens kept by the retrieval level"),
        ("acceptance_retrieval", triforce.topAcceptance ?? 0, "retrieval tokens kept by the full cache"),
        ("context", Double(context), "prompt tokens"),
      ] + passTimes + runBreakdown(triforceRuns)
    report(results, json: args.flag("json"))
  }

  /// Where TriForce's decoding time went: passes and milliseconds per level (top first) and the time outside
  /// forward passes (sampling, verification, cache bookkeeping), totalled over `runs`.
  static func runBreakdown(_ runs: [DecodingRun]) -> [(String, Double, String)] {
    let names = ["full", "middle", "draft"]
    var rows: [(String, Double, String)] = []
    var inPasses = 0.0
    for (name, (passes, seconds, _)) in zip(names, runs.pooledPasses) {
      inPasses += seconds
      rows.append(("run_passes_\(name)", Double(passes), "forward passes of the \(name) level while decoding"))
      rows.append(("run_ms_per_pass_\(name)", 1000 * seconds / Double(max(passes, 1)), "mean pass time"))
    }
    let total = runs.map(\.decodeSeconds).reduce(0, +)
    let tokens = runs.map(\.tokens.count).reduce(0, +)
    rows.append(
      (
        "run_ms_per_token_outside_passes", 1000 * (total - inPasses) / Double(max(tokens, 1)),
        "sampling, checks, copies"
      ))
    return rows
  }

  /// Milliseconds of one target pass over k = 1, 3, 7 new tokens with the full cache, one with the retrieval
  /// cache (3 tokens) and one draft pass (the paper's T_p(k), T_r, T_q; best of 3).
  static func passCosts(target: LanguageModel, draft: LanguageModel, prefill: PromptPrefill, budget: Int) throws
    -> [(String, Double, String)]
  {
    let prompt = prefill.prompt
    let full = try prefill.state(of: target, extraCapacity: 16)
    func cost(_ model: LanguageModel, _ state: DecodingState, tokens: Int) throws -> Double {
      let base = state.position
      let ids = Tensor(indices: Array(prompt.suffix(tokens)), shape: [1, tokens])
      var failure: Error?
      let seconds = KernelBenchmarks.bestTime(repeats: 3) {
        do {
          _ = try withoutGradients { try model.logits(ids, state: state) }
          try state.trim(toPosition: base)
        } catch { failure = error }
      }
      if let failure { throw failure }
      return seconds * 1000
    }
    let retrieval = try RetrievalCache(budget: budget, chunk: 8).build(
      from: full, queries: prefill.lastQueries, extraCapacity: 16)
    let window = draft.makeState(batch: 1, capacity: 256)
    _ = try withoutGradients {
      try draft.logits(Tensor(indices: Array(prompt.prefix(240)), shape: [1, 240]), state: window)
    }
    return [
      ("pass_ms_target_full_k1", try cost(target, full, tokens: 1), "T_p(1)"),
      ("pass_ms_target_full_k3", try cost(target, full, tokens: 3), "T_p(3)"),
      ("pass_ms_target_full_k7", try cost(target, full, tokens: 7), "T_p(7)"),
      ("pass_ms_target_retrieval_k3", try cost(target, retrieval, tokens: 3), "T_r with budget \(budget)"),
      ("pass_ms_draft_k1", try cost(draft, window, tokens: 1), "T_q, 240 cached rows"),
    ]
  }
}
