import Foundation
import Tokenizers

/// `frontier tokenize`: train a byte-level BPE vocabulary, or encode and decode with a tokenizer.
enum TokenizeCommand: Command {
  static let name = "tokenize"
  static let summary = "Train a BPE tokenizer (tokenize train), or encode text with one (tokenize encode)."
  static let usage =
    "frontier tokenize train --vocab N FILES… --out tokenizer.json | frontier tokenize encode --tokenizer PATH TEXT"
  static let allowsPositional = true
  static let options = [
    OptionSpec("vocab", value: "N", default: "4096", "vocabulary size to train (bytes + merges + special tokens)"),
    OptionSpec("out", value: "FILE", "where to write the trained tokenizer.json"),
    OptionSpec("special", value: "LIST", default: "<|endoftext|>", "comma-separated special tokens to add"),
    OptionSpec("tokenizer", value: "PATH", "tokenizer to encode with (tokenizer.json, vocab folder, .tiktoken, .bin)"),
    OptionSpec("decode", "with encode: decode the ids back and print the text as well"),
  ]

  static func run(_ args: ParsedArguments) throws {
    guard let action = args.positional.first else {
      throw UsageError(message: "frontier tokenize: say 'train' or 'encode' (see frontier tokenize --help)")
    }
    let rest = Array(args.positional.dropFirst())
    switch action {
    case "train":
      let vocab = try args.int("vocab", default: 4096)
      guard let out = args.string("out") else { throw UsageError(message: "frontier tokenize train: pass --out FILE") }
      guard !rest.isEmpty else {
        throw UsageError(message: "frontier tokenize train: pass the text files to learn from")
      }
      let special = (args.string("special") ?? "<|endoftext|>").split(separator: ",").map(String.init)
      if let repeated = special.enumerated().first(where: { special[..<$0.offset].contains($0.element) }) {
        throw UsageError(
          message: "frontier tokenize train: --special lists \(repeated.element) twice; give each special token once")
      }
      guard vocab > 256 + special.count else {
        throw UsageError(
          message: "frontier tokenize train: --vocab must exceed 256 bytes + \(special.count) special tokens")
      }
      // Checked before learning, which can take minutes, rather than when writing.
      try OutputGuard.requireWritableFile(output: out, option: "--out")
      let clock = ContinuousClock()
      let start = clock.now
      let tokenizer = try BPETrainer(vocabularySize: vocab, specialTokens: special).train(files: rest)
      try tokenizer.saveTokenizerJSON(to: out)
      let elapsed = clock.now - start
      print(
        "frontier tokenize: \(tokenizer.vocabularySize) tokens learned from \(rest.count) files in \(elapsed); wrote \(out)"
      )
    case "encode":
      guard let path = args.string("tokenizer") else {
        throw UsageError(message: "frontier tokenize encode: pass --tokenizer PATH")
      }
      let text = rest.joined(separator: " ")
      guard !text.isEmpty else {
        throw UsageError(
          message: "frontier tokenize encode: no text to encode; pass it after the options, e.g. "
            + "frontier tokenize encode --tokenizer PATH 'Hello world'")
      }
      let tokenizer = try TokenizerLoader.load(path)
      let ids = tokenizer.encode(text, addSpecialTokens: false)
      print(ids.map(String.init).joined(separator: ","))
      if args.flag("decode") { print(tokenizer.decode(ids)) }
    default:
      throw UsageError(message: "frontier tokenize: unknown action '\(action)'; use 'train' or 'encode'")
    }
  }
}
