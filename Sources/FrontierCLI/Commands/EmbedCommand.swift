import Foundation
import Models
import TensorCore
import Tokenizers

/// `frontier embed`: sentence embeddings from a BERT-family encoder (e.g. all-MiniLM-L6-v2).
///
/// Each text is encoded with the folder's tokenizer (`[CLS] … [SEP]`), the texts run as one padded batch
/// with an attention mask, and the last hidden states are mean-pooled over real tokens and L2-normalised
/// (sentence-transformers' recipe).
///
/// Output with `--json`: one JSON object `{"model": PATH, "dimensions": D, "embeddings": [[Float]]}`, one row
/// per text in order. Without it: one line per text of space-separated numbers.
enum EmbedCommand: Command {
  static let name = "embed"
  static let summary = "Sentence embeddings from a BERT/MiniLM model folder (mean pooling + L2 norm)."
  static let usage = "frontier embed --model DIR [--json] TEXT [TEXT...]"
  static let allowsPositional = true
  static let options = [
    OptionSpec("model", value: "DIR", "Hugging Face BERT folder (config.json, model.safetensors, tokenizer.json)"),
    OptionSpec("tokenizer", value: "PATH", default: "the model folder", "tokenizer.json or folder"),
    OptionSpec("json", "print {\"model\", \"dimensions\", \"embeddings\": [[...]]} instead of plain lines"),
  ]

  static func run(_ args: ParsedArguments) throws {
    guard let modelPath = args.string("model") else {
      throw UsageError(message: "frontier embed: pass the model folder with --model DIR (see frontier embed --help)")
    }
    let texts = args.positional
    guard !texts.isEmpty else {
      throw UsageError(message: "frontier embed: pass one or more texts after the options")
    }
    guard FileManager.default.fileExists(atPath: modelPath) else {
      throw CLIError("\(modelPath): model not found; pass a BERT model folder")
    }
    guard case .bert(let bert) = try ModelRegistry.load(modelPath) else {
      throw CLIError("\(modelPath): is not a BERT encoder; frontier embed needs a BERT-family model (model_type bert)")
    }
    var isDirectory: ObjCBool = false
    _ = FileManager.default.fileExists(atPath: modelPath, isDirectory: &isDirectory)
    let folder = isDirectory.boolValue ? modelPath : (modelPath as NSString).deletingLastPathComponent
    let tokenizerPath = args.string("tokenizer") ?? folder
    let tokenizer = try TokenizerLoader.load(tokenizerPath)
    try TokenizerLocator.check(tokenizer, path: tokenizerPath, vocabularySize: bert.config.vocabularySize)

    let embeddings = try embed(texts, model: bert, tokenizer: tokenizer)
    if args.flag("json") {
      let rows = embeddings.map { "[" + $0.map { "\($0)" }.joined(separator: ",") + "]" }
      let dimensions = embeddings.first?.count ?? 0
      writeOut(
        "{\"model\":\(jsonString(modelPath)),\"dimensions\":\(dimensions),\"embeddings\":["
          + rows.joined(separator: ",") + "]}\n")
    } else {
      writeOut(embeddings.map { $0.map { "\($0)" }.joined(separator: " ") + "\n" }.joined())
    }
  }

  /// Unit-length sentence embeddings of `texts`, one array per text.
  static func embed(_ texts: [String], model: BERT, tokenizer: any Tokenizer) throws -> [[Float]] {
    let encoded = texts.map { tokenizer.encode($0, addSpecialTokens: true) }
    for (i, ids) in encoded.enumerated() {
      guard !ids.isEmpty else { throw CLIError("text \(i + 1) encodes to no tokens; pass non-empty text") }
      guard ids.count <= model.config.contextLength else {
        throw CLIError(
          "text \(i + 1) has \(ids.count) tokens, more than the model's \(model.config.contextLength); shorten it")
      }
    }
    let length = encoded.map(\.count).max() ?? 0
    let pad = tokenizer.padTokenID ?? 0
    var ids: [Int] = []
    var mask: [Int] = []
    for row in encoded {
      ids += row + [Int](repeating: pad, count: length - row.count)
      mask += [Int](repeating: 1, count: row.count) + [Int](repeating: 0, count: length - row.count)
    }
    let shape = [encoded.count, length]
    let result = try withoutGradients {
      try model.sentenceEmbeddings(
        Tensor(indices: ids, shape: shape), attentionMask: Tensor(indices: mask, shape: shape))
    }
    let flat = result.floats
    let width = result.shape[1]
    return (0..<encoded.count).map { Array(flat[($0 * width)..<(($0 + 1) * width)]) }
  }

  /// `text` as a JSON string literal.
  static func jsonString(_ text: String) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])) ?? Data()
    let array = String(decoding: data, as: UTF8.self)
    return array.count >= 2 ? String(array.dropFirst().dropLast()) : "\"\""
  }
}
