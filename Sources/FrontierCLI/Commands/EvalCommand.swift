import Data
import Foundation
import Generation
import LMCore
import Tokenizers

/// `frontier eval`: perplexity, nats per token and bits per byte of a language model on held-out data, by
/// llama.cpp's sliding-window convention (``Generation/SlidingWindowPerplexity``).
enum EvalCommand: Command {
  static let name = "eval"
  static let summary = "Perplexity, nats/token and bits/byte of a language model on text or token shards."
  static let usage = "frontier eval --model PATH --data (SHARDS_DIR | FILE[,FILE...]) [options]"
  static let allowsPositional = true
  static let options = [
    OptionSpec("model", value: "PATH", "llama2.c .bin file or Hugging Face folder"),
    OptionSpec("tokenizer", value: "PATH", default: "beside the model", "tokenizer for text (and bits per byte)"),
    OptionSpec("data", value: "PATH", "a folder of token shards (val.bin, as frontier prepare writes) or text files"),
    OptionSpec("split", value: "NAME", default: "val", "with a shards folder: the shard to read (val or train)"),
    OptionSpec("context", value: "N", default: "the model's context", "tokens per window"),
    OptionSpec("stride", value: "S", default: "the context", "tokens between window starts (scores min(S, N/2) each)"),
    OptionSpec("max-tokens", value: "N", default: "all", "read at most N tokens of data"),
    OptionSpec("batch", value: "B", default: "4", "windows per forward pass"),
    OptionSpec("weights", value: "FORMAT", default: "f32", "evaluate with weights in f32, bf16 or q8_0"),
    OptionSpec("json", "print one JSON object instead of a line"),
  ]

  static func run(_ args: ParsedArguments) throws {
    guard let modelPath = args.string("model") else {
      throw UsageError(message: "frontier eval: pass the model with --model PATH (see frontier eval --help)")
    }
    let listed = (args.string("data") ?? "").split(separator: ",").map(String.init) + args.positional
    guard !listed.isEmpty else {
      throw UsageError(message: "frontier eval: pass the data with --data (a shards folder or text files)")
    }
    let stride = try args.string("stride").map { _ in try args.int("stride", default: 0) }
    let batch = try args.int("batch", default: 4)
    let limit = try args.string("max-tokens").map { _ in try args.int("max-tokens", default: 0) }
    if let limit, limit < 2 { throw UsageError(message: "frontier eval: --max-tokens must be at least 2") }
    guard FileManager.default.fileExists(atPath: modelPath) else {
      throw CLIError("\(modelPath): model not found; check the path (a llama2.c .bin file or a model folder)")
    }
    let model = try GenerateCommand.loadLanguageModel(modelPath, weights: args.string("weights"))
    let context = try args.int("context", default: model.contextLength)
    let evaluator: SlidingWindowPerplexity
    do {
      evaluator = try SlidingWindowPerplexity(context: context, stride: stride, batch: batch)
    } catch {
      throw UsageError(message: "frontier eval: \(error) (see frontier eval --help)")
    }
    var isDirectory: ObjCBool = false
    let shards =
      listed.count == 1 && FileManager.default.fileExists(atPath: listed[0], isDirectory: &isDirectory)
      && isDirectory.boolValue
    let tokenizer = try TokenizerLocator.find(
      explicit: args.string("tokenizer"), model: modelPath, vocabularySize: model.vocabularySize, required: !shards)
    var tokens: [Int]
    let source: String
    if shards {
      let split = args.string("split") ?? "val"
      let path = (listed[0] as NSString).appendingPathComponent("\(split).bin")
      guard FileManager.default.fileExists(atPath: path) else {
        throw CLIError("\(path): no \(split) shard in the folder; pass a folder frontier prepare wrote, or text files")
      }
      let shard = try TokenShard(path: path)
      let read = 0..<min(shard.count, limit ?? shard.count)
      try shard.checkMemory(toRead: read.count)
      try shard.checkIDs(below: model.vocabularySize, in: read)
      tokens = try shard.tokens(in: read).map { Int($0) }
      source = path
    } else {
      guard let tokenizer else { throw CLIError("\(modelPath): no tokenizer found; pass --tokenizer") }
      tokens = []
      for file in listed {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
          throw CLIError("\(file): cannot read as UTF-8 text; check the path")
        }
        tokens += tokenizer.encode(text.replacingOccurrences(of: "\r\n", with: "\n"), addSpecialTokens: true)
        if let limit, tokens.count >= limit { break }
      }
      if let limit { tokens = Array(tokens.prefix(limit)) }
      source = listed.joined(separator: ",")
    }
    let bytes = tokenizer.map { t in { (id: Int) in t.decode([id], skipSpecialTokens: true).utf8.count } }
    let progress = ProgressLine()
    let result: SlidingWindowPerplexity.Result
    do {
      result = try evaluator.evaluate(model, tokens: tokens, bytes: bytes) { done, total in
        // About twenty lines in all when stderr is not a terminal.
        if progress.isTerminal || done == total || done % max(1, total / 20) < evaluator.batch {
          progress.update("frontier eval: window \(done)/\(total)", final: done == total)
        }
      }
    } catch let error as GenerationError {
      throw CLIError("\(modelPath) on \(source): \(error)")
    }
    if args.flag("json") {
      var object: [String: Any] = [
        "model": modelPath, "data": source, "context": context, "stride": evaluator.stride,
        "tokens_scored": result.tokens, "windows": result.windows, "nats_per_token": result.natsPerToken,
        "perplexity": result.perplexity, "weights": args.string("weights") ?? "f32",
      ]
      if let bpb = result.bitsPerByte { object["bits_per_byte"] = bpb }
      let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
      writeOut(String(decoding: data, as: UTF8.self) + "\n")
    } else {
      let bpb = result.bitsPerByte.map { String(format: ", %.4f bits/byte", $0) } ?? ""
      writeOut(
        String(
          format: "frontier eval: perplexity %.4f, %.4f nats/token%@ over %d tokens (%d windows of %d, stride %d)\n",
          result.perplexity, result.natsPerToken, bpb, result.tokens, result.windows, context, evaluator.stride))
    }
  }
}
