import Foundation
import Generation
import Kernels
import LMCore
import Models
import TensorCore
import Tokenizers
import TransformerFAM

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
      OptionSpec(
        "weights", value: "FORMAT", default: "f32", "decode with weights in f32, bf16 or q8_0 (converted on load)"),
      OptionSpec("prompts-file", value: "FILE", "many prompts, one per line (text, or JSON with \"prompt\")"),
      OptionSpec("batch", value: "N", default: "8", "with --prompts-file: sequences decoded together"),
      OptionSpec(
        "draft", value: "PATH", "draft model for speculative decoding (same tokenizer; output unchanged in law)"),
      OptionSpec("draft-length", value: "N", default: "4", "draft tokens the model verifies per pass"),
    ] + famOptions

  static func run(_ args: ParsedArguments) throws {
    guard let modelPath = args.string("model") else {
      throw UsageError(message: "frontier generate: pass the model with --model PATH (see frontier generate --help)")
    }
    let request = try GenerationRequest(args)
    let famConfiguration = try famConfiguration(args)
    let draftLength = try args.int("draft-length", default: 4)
    guard draftLength > 0 else {
      throw UsageError(message: "frontier generate: --draft-length must be positive, got \(draftLength)")
    }
    guard args.string("draft") == nil || famConfiguration == nil else {
      throw UsageError(message: "frontier generate: --draft and --attention bswa|fam do not combine; pass one")
    }
    guard FileManager.default.fileExists(atPath: modelPath) else {
      throw CLIError("\(modelPath): model not found; check the path (a llama2.c .bin file or a model folder)")
    }
    let model = try loadLanguageModel(modelPath, weights: args.string("weights"))
    let tokenizer = try TokenizerLocator.find(
      explicit: args.string("tokenizer"), model: modelPath, vocabularySize: model.vocabularySize,
      required: request.promptIDs == nil || !request.printIDs)

    if let file = request.promptsFile {
      guard args.string("draft") == nil, famConfiguration == nil else {
        throw UsageError(message: "frontier generate: --prompts-file decodes plainly; drop --draft and --attention")
      }
      let options = GenerationOptions(
        maxTokens: request.maxTokens, sampling: request.sampling,
        stopTokens: stopTokens(model: model, tokenizer: tokenizer), stopStrings: request.stopStrings)
      return try runBatch(
        file: file, batch: try args.int("batch", default: 8), model: model, tokenizer: tokenizer,
        request: request, options: options)
    }
    guard args.string("batch") == nil else {
      throw UsageError(message: "frontier generate: --batch goes with --prompts-file FILE")
    }
    let prompt = try request.promptIDs(tokenizer: tokenizer)
    let options = GenerationOptions(
      maxTokens: request.maxTokens, sampling: request.sampling,
      stopTokens: stopTokens(model: model, tokenizer: tokenizer),
      stopStrings: request.printIDs ? [] : request.stopStrings)
    let iterator: any TokenIterator
    var summary: () -> String = { "" }
    if let famConfiguration {
      let decoder = try famDecoder(famConfiguration, args: args, model: model)
      iterator = FAMTokenIterator(decoder, sampling: options.sampling)
      // Interpolated, not String(format:): "%d" reads a 32-bit int, so a block size of 2^32 + 64 printed as 64.
      summary = {
        let c = famConfiguration
        return "; \(c.mode.rawValue) b=\(c.blockSize) m=\(c.memoryBlocks) f=\(c.activeFAMLength), attention state "
          + "\(decoder.stateFloatCount) floats (flat in length)"
      }
    } else if let draftPath = args.string("draft") {
      let speculative = try speculativeDecoder(
        target: model, draftPath: draftPath, length: draftLength, sampling: options.sampling,
        weights: args.string("weights"))
      iterator = SpeculativeIterator(speculative)
      summary = {
        let s = speculative.statistics
        return String(
          format: "; draft acceptance %.3f, %.2f tokens per target pass", s.acceptanceRate, s.tokensPerRound)
      }
    } else {
      iterator = PlainDecoder(model: model, sampling: options.sampling)
    }
    let result = try GenerationSession(options: options).run(
      iterator, prompt: prompt, text: request.textDecoder(tokenizer, prompt: prompt), onText: writeOut)
    writeOut(request.printIDs ? result.tokens.map(String.init).joined(separator: ",") + "\n" : "\n")
    FileHandle.standardError.write(Data((result.timingLine(command: "frontier generate") + summary() + "\n").utf8))
  }

  /// The causal language model at `path` (an encoder is one clear error), with its weights packed into
  /// `weights` (`f32`, `bf16` or `q8_0`) for decoding.
  static func loadLanguageModel(_ path: String, weights: String? = nil) throws -> any LanguageModel {
    let name = weights ?? "f32"
    guard let format = WeightFormat(name: name) else {
      throw UsageError(message: "frontier: --weights must be f32, bf16 or q8_0, got '\(name)'")
    }
    guard let model = try ModelRegistry.load(path).languageModel else {
      throw CLIError("\(path): holds an encoder, not a language model; use frontier embed for it")
    }
    guard format != .float32 else { return model }
    guard let llama = model as? Llama else {
      throw CLIError("\(path): --weights \(format) needs a Llama-family model; this one decodes in f32 (--weights f32)")
    }
    do {
      try llama.packWeights(format)
    } catch {
      throw CLIError("\(path): \(error); pass --weights f32 or bf16")
    }
    return llama
  }

  /// Speculative decoding of `target` with the draft model at `draftPath`: both with dense caches, the
  /// target verifying `length` draft tokens per pass; the output follows the target's distribution exactly.
  static func speculativeDecoder(
    target: any LanguageModel, draftPath: String, length: Int, sampling: SamplingOptions, weights: String?
  ) throws -> SpeculativeDecoder {
    guard FileManager.default.fileExists(atPath: draftPath) else {
      throw CLIError("\(draftPath): draft model not found; check the path")
    }
    let draft = try loadLanguageModel(draftPath, weights: weights)
    guard draft.vocabularySize == target.vocabularySize else {
      throw CLIError(
        "\(draftPath): the draft's vocabulary (\(draft.vocabularySize)) differs from the model's "
          + "(\(target.vocabularySize)); a draft must share the model's tokenizer")
    }
    let choices = SeededChoices(seed: sampling.seed)
    return try SpeculativeDecoder(
      draft: DecodingLevel(model: draft, sampling: sampling, choices: choices),
      verifier: DecodingLevel(model: target, sampling: sampling, choices: choices), draftLength: length,
      choices: choices)
  }

  /// The ids that end a generation: the model's end-of-sequence ids and the tokenizer's EOS.
  static func stopTokens(model: any LanguageModel, tokenizer: (any Tokenizer)?) -> Set<Int> {
    model.endOfSequenceIDs.union(tokenizer?.eosTokenID.map { [$0] } ?? [])
  }
}

/// The validated command-line options of one generation.
struct GenerationRequest {
  var prompt: String?
  var promptsFile: String?
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
      // A file saved with CRLF line endings prompts like its LF twin.
      prompt = text.replacingOccurrences(of: "\r\n", with: "\n")
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
    promptsFile = args.string("prompts-file")
    guard promptsFile == nil || (prompt == nil && promptIDs == nil) else {
      throw UsageError(message: "\(command): pass --prompts-file or a single prompt (--prompt, --prompt-ids), not both")
    }
    guard prompt != nil || promptIDs != nil || promptsFile != nil else {
      throw UsageError(
        message: "\(command): pass the prompt with --prompt TEXT, --prompt-file FILE, --prompt-ids 1,2,3 "
          + "or --prompts-file FILE")
    }
    maxTokens = try args.int("max-tokens", default: 256)
    guard maxTokens > 0 else {
      throw UsageError(message: "\(command): --max-tokens must be positive, got \(maxTokens)")
    }
    // Every generated id is held (8 bytes each) until the end; a limit that could never fit is refused.
    let ids = MemoryTerm("the generated ids", [MemoryTerm.Factor("--max-tokens", maxTokens)], elementBytes: 8)
    if let problem = MemoryBudget.problem([ids], as: "64-bit ids", whole: "the output") {
      throw UsageError(message: "\(command): \(problem); pass a smaller --max-tokens")
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

  /// The prompt as ids: `--prompt-ids` as given, else the text encoded (with BOS where the tokenizer adds
  /// it; an empty text becomes BOS alone). The generation session checks them against the model.
  func promptIDs(tokenizer: (any Tokenizer)?) throws -> [Int] {
    if let promptIDs { return promptIDs }
    guard let tokenizer else { throw CLIError("no tokenizer found; pass --tokenizer PATH or --prompt-ids") }
    var ids = tokenizer.encode(prompt ?? "", addSpecialTokens: true)
    if ids.isEmpty, let bos = tokenizer.bosTokenID ?? tokenizer.eosTokenID { ids = [bos] }
    guard !ids.isEmpty else {
      throw CLIError("the prompt is empty and the tokenizer has no BOS token; give some prompt text or --prompt-ids")
    }
    return ids
  }

  /// The streaming detokenizer of the output, or nil when ids are printed.
  func textDecoder(_ tokenizer: (any Tokenizer)?, prompt: [Int]) -> StreamingDetokenizer? {
    printIDs ? nil : tokenizer.map { StreamingDetokenizer.continuing(prompt, tokenizer: $0) }
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
