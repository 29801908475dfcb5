import Data
import Foundation
import Tokenizers

/// `frontier prepare`: text or JSONL files -> `train.bin`, `val.bin` and `meta.json` token shards.
enum PrepareCommand: Command {
  static let name = "prepare"
  static let summary = "Tokenize text or JSONL files into train/validation token shards."
  static let usage = "frontier prepare --input FILE[,FILE...] [FILE...] --out DIR [options]"
  static let allowsPositional = true
  static let options = [
    OptionSpec("input", value: "FILES", "comma-separated text (.txt) or JSON-lines (.jsonl) files"),
    OptionSpec("field", value: "NAME", default: "text", "the JSONL field that holds the text"),
    OptionSpec("tokenizer", value: "PATH|bytes", default: "bytes", "tokenizer file, or bytes (ids 0-255, EOS 256)"),
    OptionSpec("out", value: "DIR", "output folder"),
    OptionSpec("val-fraction", value: "F", default: "0.01", "share of documents held out for validation"),
    OptionSpec("eos", "end every document with the tokenizer's end-of-text id"),
    OptionSpec("seed", value: "N", default: "0", "seed of the document split"),
  ]

  /// Turns a `--tokenizer` argument into an encoding. The byte-level fallback is built in; tokenizer files
  /// are wired here (the Tokenizers target adapts to ``TokenEncoding`` with a ``ClosureEncoding``).
  nonisolated(unsafe) static var makeEncoding: (String) throws -> TokenEncoding = { spec in
    if spec == "bytes" { return ByteEncoding() }
    let tokenizer = try TokenizerLoader.load(spec)
    return ClosureEncoding(
      name: URL(fileURLWithPath: spec).lastPathComponent, vocabularySize: tokenizer.vocabularySize,
      endOfText: tokenizer.eosTokenID
    ) { text in tokenizer.encode(text, addSpecialTokens: false) }
  }

  static func run(_ args: ParsedArguments) throws {
    let listed = (args.string("input") ?? "").split(separator: ",").map(String.init) + args.positional
    guard !listed.isEmpty else { throw UsageError(message: "frontier prepare: pass the text files with --input") }
    guard let out = args.string("out") else {
      throw UsageError(message: "frontier prepare: pass the output folder with --out")
    }
    let fraction = Double(try args.float("val-fraction", default: 0.01))
    guard fraction >= 0 && fraction < 1 else {
      throw UsageError(message: "frontier prepare: --val-fraction must be in [0, 1), got \(fraction)")
    }
    let seed = try args.int("seed", default: 0)
    let inputs = try listed.map(resolveDataPath)
    try OutputGuard.refuseOverlap(
      output: out, option: "--out",
      inputs: inputs.map { ("--input", $0) } + (args.string("tokenizer").map { [("--tokenizer", $0)] } ?? []))
    try OutputGuard.requireFolder(output: out, option: "--out")
    let encoding = try makeEncoding(args.string("tokenizer") ?? "bytes")
    let meta = try ShardPreparer.prepare(
      inputs: inputs, encoding: encoding, directory: out, validationFraction: fraction,
      appendEndOfText: args.flag("eos"),
      field: args.string("field"), seed: UInt64(truncatingIfNeeded: seed))
    print(
      "frontier prepare: \(meta.documents) documents -> \(meta.trainTokens) train and \(meta.validationTokens) "
        + "validation tokens (\(meta.tokenizer), vocabulary \(meta.vocabularySize)) in \(out)")
  }
}
