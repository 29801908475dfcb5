import Foundation
import Generation
import LMCore
import Models
import Tokenizers

/// `frontier generate`: streams a continuation of a prompt from any causal language model the registry loads.
///
/// Stdout carries only the continuation (not the prompt), streamed as tokens arrive, then one newline;
/// llama2.c's `run` prints the prompt, the continuation and a newline, so its output is prompt + ours.
/// With `--print-ids` stdout is the generated ids, comma-separated, on one line. Timing goes to stderr.
enum GenerateCommand: Command {
  static let name = "generate"
  static let summary = "Generate text from a language model (llama2.c .bin or Hugging Face folder)."
  static let usage = "frontier generate --model PATH (--prompt TEXT | --prompt-ids 1,2,3) [options]"
  static let options =
    [
      OptionSpec("model", value: "PATH", "llama2.c .bin file, or Hugging Face folder / config.json / .safetensors"),
      OptionSpec("tokenizer", value: "PATH", default: "beside the model", "tokenizer file or folder"),
      OptionSpec("prompt", value: "TEXT", "prompt text (llama2.c and Llama tokenizers add BOS)"),
      OptionSpec("prompt-ids", value: "IDS", "prompt as comma-separated token ids, used as given"),
      OptionSpec("prompt-file", value: "FILE", "prompt text read from a file"),
      OptionSpec("max-tokens", value: "N", default: "256", "most new tokens"),
      OptionSpec("temperature", value: "T", default: "1", "softmax temperature (0: greedy)"),
      OptionSpec("top-k", value: "K", default: "0 (off)", "keep the K most likely tokens"),
      OptionSpec("top-p", value: "P", default: "1 (off)", "nucleus sampling threshold in (0, 1]"),
      OptionSpec("min-p", value: "P", default: "0 (off)", "drop tokens below P times the top probability"),
      OptionSpec("repetition-penalty", value: "R", default: "1 (off)", "penalty on tokens already in the context"),
      OptionSpec("seed", value: "S", default: "from the clock", "sampler seed"),
      OptionSpec("stop", value: "STRING", "stop before this text (repeat the option for several)"),
      OptionSpec("print-ids", "print the generated ids comma-separated instead of text"),
    ] + famOptions

  static func run(_ args: ParsedArguments) throws {
    guard let modelPath = args.string("model") else {
      throw UsageError(message: "frontier generate: pass the model with --model PATH (see frontier generate --help)")
    }
    let request = try GenerationRequest(args)
    let famConfiguration = try famConfiguration(args)
    guard FileManager.default.fileExists(atPath: modelPath) else {
      throw CLIError("\(modelPath): model not found; check the path (a llama2.c .bin file or a model folder)")
    }
    let loaded = try ModelRegistry.load(modelPath)
    guard let model = loaded.languageModel else {
      throw CLIError("\(modelPath): holds an encoder, not a language model; use frontier embed for it")
    }
    let tokenizer = try TokenizerLocator.find(
      explicit: args.string("tokenizer"), model: modelPath, vocabularySize: model.vocabularySize,
      required: request.promptIDs == nil || !request.printIDs)

    let prompt = try promptIDs(request, tokenizer: tokenizer, model: model)
    let stopTokens = stopTokens(tokenizer: tokenizer, modelPath: modelPath)
    let options = GenerationOptions(
      maxTokens: request.maxTokens, sampling: request.sampling, stopTokens: stopTokens,
      stopStrings: request.printIDs ? [] : request.stopStrings)
    if let famConfiguration {
      return try runFAM(
        famConfiguration, args: args, model: model, prompt: prompt, options: options, tokenizer: tokenizer,
        printIDs: request.printIDs)
    }
    var printer = tokenizer.map { StreamPrinter(tokenizer: $0, prompt: prompt, stops: options.stopStrings) }
    let decode = tokenizer.map { t in { (ids: [Int]) in t.decode(ids, skipSpecialTokens: true) } }
    let result = try Generator(model: model).generate(prompt: prompt, options: options, decode: decode) { id in
      if !request.printIDs { printer?.append(id) }
    }
    if request.printIDs {
      writeOut(result.tokens.map(String.init).joined(separator: ",") + "\n")
    } else {
      printer?.finish(cutAtStop: result.stopReason == .stopString)
      writeOut("\n")
    }
    let line = String(
      format: "frontier generate: %d prompt + %d new tokens (%@); time to first token %.1f ms, "
        + "prefill %.1f tokens/s, decode %.1f tokens/s",
      prompt.count, result.tokens.count, result.stopReason.rawValue, result.timeToFirstToken * 1000,
      result.prefillTokensPerSecond, result.decodeTokensPerSecond)
    FileHandle.standardError.write(Data((line + "\n").utf8))
  }

  /// The prompt as ids, checked against the model's vocabulary and context.
  static func promptIDs(_ request: GenerationRequest, tokenizer: (any Tokenizer)?, model: any LanguageModel) throws
    -> [Int]
  {
    var ids: [Int]
    if let given = request.promptIDs {
      ids = given
    } else if let tokenizer {
      ids = tokenizer.encode(request.prompt ?? "", addSpecialTokens: true)
      if ids.isEmpty, let bos = tokenizer.bosTokenID ?? tokenizer.eosTokenID { ids = [bos] }
    } else {
      ids = []
    }
    guard !ids.isEmpty else {
      throw CLIError("the prompt is empty and the tokenizer has no BOS token; give some prompt text or --prompt-ids")
    }
    if let bad = ids.first(where: { $0 < 0 || $0 >= model.vocabularySize }) {
      throw CLIError("prompt token id \(bad) is outside the model's vocabulary 0..<\(model.vocabularySize)")
    }
    guard ids.count <= model.contextLength else {
      throw CLIError(
        "the prompt has \(ids.count) tokens but the model's context is \(model.contextLength); shorten the prompt")
    }
    return ids
  }

  /// The ids that end a generation from the model at `modelPath`: the tokenizer's end of sequence, and
  /// for a llama2.c checkpoint also BOS (1, which ends a llama2.c story) and EOS (2); without a tokenizer,
  /// the `eos_token_id` of the model's `config.json`.
  static func stopTokens(tokenizer: (any Tokenizer)?, modelPath: String) -> Set<Int> {
    var stopTokens = Set<Int>()
    if let eos = tokenizer?.eosTokenID { stopTokens.insert(eos) }
    if ModelRegistry.isLlama2c(modelPath) {
      stopTokens.formUnion([1, 2])
    } else if tokenizer == nil, let eos = configEndOfSequence(modelPath) {
      stopTokens.insert(eos)
    }
    return stopTokens
  }

  /// `eos_token_id` from a Hugging Face `config.json` beside or at `path`, if it is a single integer.
  static func configEndOfSequence(_ path: String) -> Int? {
    var isDirectory: ObjCBool = false
    _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
    let folder = isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent
    let config = (folder as NSString).appendingPathComponent("config.json")
    guard let data = FileManager.default.contents(atPath: config),
      let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    else { return nil }
    return object["eos_token_id"] as? Int
  }
}

/// The validated command-line options of one generation.
struct GenerationRequest {
  var prompt: String?
  var promptIDs: [Int]?
  var maxTokens: Int
  var sampling: SamplingOptions
  var stopStrings: [String]
  var printIDs: Bool

  init(_ args: ParsedArguments, command: String = "frontier generate", options: [OptionSpec] = GenerateCommand.options)
    throws
  {
    prompt = args.string("prompt")
    if let file = args.string("prompt-file") {
      guard prompt == nil else { throw UsageError(message: "\(command): pass --prompt or --prompt-file, not both") }
      guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
        throw CLIError("\(file): cannot read the prompt file as UTF-8 text; check the path")
      }
      prompt = text
    }
    if let text = args.string("prompt-ids") {
      guard prompt == nil else { throw UsageError(message: "\(command): pass --prompt or --prompt-ids, not both") }
      let parts = text.split(separator: ",", omittingEmptySubsequences: false)
      let ids = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
      guard ids.count == parts.count, !ids.isEmpty else {
        throw UsageError(message: "\(command): --prompt-ids needs comma-separated integers like 1,2,3, got '\(text)'")
      }
      promptIDs = ids
    }
    guard prompt != nil || promptIDs != nil else {
      throw UsageError(
        message: "\(command): pass the prompt with --prompt TEXT, --prompt-file FILE or --prompt-ids 1,2,3")
    }
    maxTokens = try args.int("max-tokens", default: 256)
    guard maxTokens > 0 else {
      throw UsageError(message: "\(command): --max-tokens must be positive, got \(maxTokens)")
    }
    let seed: UInt64
    if let text = args.string("seed") {
      guard let value = UInt64(text) ?? Int64(text).map({ UInt64(bitPattern: $0) }) else {
        throw UsageError(message: "\(command): --seed needs an integer, got '\(text)'")
      }
      seed = value
    } else {
      seed = UInt64(Date().timeIntervalSince1970 * 1e6)
    }
    sampling = SamplingOptions(
      temperature: try args.float("temperature", default: 1), topK: try args.int("top-k", default: 0),
      topP: try args.float("top-p", default: 1), minP: try args.float("min-p", default: 0),
      repetitionPenalty: try args.float("repetition-penalty", default: 1), seed: seed)
    do {
      try sampling.validate()
    } catch {
      throw UsageError(message: "\(command): \(error) (see \(command) --help)")
    }
    stopStrings = Self.repeatedValues(of: "stop", in: Array(CommandLine.arguments.dropFirst(2)), options: options)
    if stopStrings.isEmpty, let one = args.string("stop") { stopStrings = [one] }
    guard !stopStrings.contains("") else { throw UsageError(message: "\(command): --stop needs a non-empty string") }
    printIDs = args.flag("print-ids")
  }

  /// Every value of a repeatable option `--name V` / `--name=V` in `arguments`, skipping other options' values.
  static func repeatedValues(
    of name: String, in arguments: [String], options: [OptionSpec] = GenerateCommand.options
  ) -> [String] {
    let takesValue = Set(options.filter { $0.value != nil }.map(\.name))
    var found: [String] = []
    var i = 0
    while i < arguments.count {
      let arg = arguments[i]
      i += 1
      guard arg.hasPrefix("--") else { continue }
      let body = arg.dropFirst(2)
      if let eq = body.firstIndex(of: "=") {
        if body[..<eq] == name { found.append(String(body[body.index(after: eq)...])) }
      } else if takesValue.contains(String(body)), i < arguments.count {
        if body == name { found.append(arguments[i]) }
        i += 1
      }
    }
    return found
  }
}

/// Streams decoded text to stdout, holding back text that may be the start of a stop string.
struct StreamPrinter {
  private var detokenizer: StreamingDetokenizer
  private let stops: [String]
  private var pending = ""

  /// Primes the detokenizer with the prompt, so that e.g. llama2.c's space after BOS is dropped as in `run`.
  init(tokenizer: any Tokenizer, prompt: [Int], stops: [String]) {
    detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
    _ = detokenizer.append(contentsOf: prompt)
    self.stops = stops
  }

  mutating func append(_ id: Int) {
    pending += detokenizer.append(id)
    flush(final: false)
  }

  /// Writes what is left; with `cutAtStop` the text ends before the first stop string.
  mutating func finish(cutAtStop: Bool) {
    pending += detokenizer.finish()
    if cutAtStop, let cut = stops.compactMap({ pending.range(of: $0)?.lowerBound }).min() {
      pending = String(pending[..<cut])
    }
    flush(final: true)
  }

  private mutating func flush(final: Bool) {
    guard !stops.isEmpty, !final else {
      writeOut(pending)
      pending = ""
      return
    }
    if stops.contains(where: { pending.contains($0) }) { return }  // generation stops; finish() cuts
    // Hold back the longest suffix that begins some stop string.
    var keep = 0
    for stop in stops {
      for length in stride(from: min(stop.count - 1, pending.count), to: 0, by: -1)
      where pending.hasSuffix(stop.prefix(length)) {
        keep = max(keep, length)
        break
      }
    }
    let split = pending.index(pending.endIndex, offsetBy: -keep)
    writeOut(String(pending[..<split]))
    pending = String(pending[split...])
  }
}

/// Writes `text` to stdout at once (unbuffered, for streaming).
func writeOut(_ text: String) {
  guard !text.isEmpty else { return }
  FileHandle.standardOutput.write(Data(text.utf8))
}

/// A runtime failure of a CLI command: one line saying what is wrong and what to do (exit status 1).
struct CLIError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// Finds the tokenizer of a model: the explicit path, else a file beside the model.
enum TokenizerLocator {
  /// Loads `explicit`, or the first tokenizer beside `model` whose vocabulary fits (`tok<V>.bin`,
  /// `tokenizer.bin`, `tokenizer.json`, or what ``TokenizerLoader`` finds in the folder).
  /// Returns nil only when nothing is found and `required` is false.
  static func find(explicit: String?, model: String, vocabularySize: Int, required: Bool) throws -> (any Tokenizer)? {
    if let explicit {
      let tokenizer = try TokenizerLoader.load(explicit)
      try check(tokenizer, path: explicit, vocabularySize: vocabularySize)
      return tokenizer
    }
    var isDirectory: ObjCBool = false
    _ = FileManager.default.fileExists(atPath: model, isDirectory: &isDirectory)
    let folder = isDirectory.boolValue ? model : (model as NSString).deletingLastPathComponent
    let names = ["tok\(vocabularySize).bin", "tokenizer.bin", "tokenizer.json", ""]
    var firstError: Error?
    for name in names {
      let path = name.isEmpty ? folder : (folder as NSString).appendingPathComponent(name)
      guard name.isEmpty || FileManager.default.fileExists(atPath: path) else { continue }
      do {
        let tokenizer = try TokenizerLoader.load(path.isEmpty ? "." : path)
        try check(tokenizer, path: path, vocabularySize: vocabularySize)
        return tokenizer
      } catch {
        if !name.isEmpty, firstError == nil { firstError = error }
      }
    }
    if let firstError, required { throw firstError }
    guard required else { return nil }
    throw CLIError(
      "\(model): no tokenizer found beside the model (tok\(vocabularySize).bin, tokenizer.bin, tokenizer.json); "
        + "pass one with --tokenizer")
  }

  /// Throws when the tokenizer has ids the model cannot score.
  static func check(_ tokenizer: any Tokenizer, path: String, vocabularySize: Int) throws {
    guard tokenizer.vocabularySize <= vocabularySize else {
      throw CLIError(
        "\(path): tokenizer vocabulary \(tokenizer.vocabularySize) is larger than the model's \(vocabularySize); "
          + "pass the tokenizer the model was trained with (--tokenizer)")
    }
  }
}
