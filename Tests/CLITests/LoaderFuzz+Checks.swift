import Checkpoints
import Data
import Foundation
import Models
import TensorCore
import Tokenizers
import Training

/// What a loaded input must satisfy for the load to count as legitimate; each returns nil when sane, else
/// what is wrong (a silent failure). The checks re-derive what they can from the files instead of trusting
/// the loader.
enum FuzzChecks {
  /// Every entry lies inside the file, entries do not overlap, and each reads as as many values as its
  /// shape holds.
  static func safetensors(_ file: SafetensorsFile) throws -> String? {
    let size = (try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? Int) ?? 0
    var end = 0
    for entry in file.entries.sorted(by: { $0.byteOffset < $1.byteOffset }) {
      let elements = entry.shape.reduce(1, *)
      guard entry.byteCount == elements * entry.dtype.byteSize else {
        return "entry \(entry.name) holds \(entry.byteCount) bytes for shape \(entry.shape) of \(entry.dtype)"
      }
      guard entry.byteOffset >= 8, entry.byteOffset + entry.byteCount <= size else {
        return "entry \(entry.name) lies outside the file (\(entry.byteOffset)+\(entry.byteCount) of \(size))"
      }
      guard entry.byteCount == 0 || entry.byteOffset >= end else { return "entry \(entry.name) overlaps another" }
      end = max(end, entry.byteOffset + entry.byteCount)
      guard try file.floats(entry.name).count == elements, try file.tensor(entry.name).shape == entry.shape else {
        return "entry \(entry.name) does not read as its shape \(entry.shape)"
      }
    }
    return nil
  }

  /// A language model whose every parameter is the same-named tensor of its folder's model.safetensors (same
  /// shape, same values, finite); with `forward`, a 3-token input gives finite logits of the right shape (a
  /// configuration the loader accepts must give a working model).
  static func modelMatchesItsFiles(_ loaded: LoadedModel, folder: String, forward: Bool) throws -> String? {
    guard let model = loaded.languageModel else { return "loaded as an encoder, not a language model" }
    let file = try SafetensorsFile(path: folder + "/model.safetensors")
    for (path, tensor) in loaded.module.parameters() {
      guard let entry = file[path] else { return "parameter \(path) is not in model.safetensors" }
      guard entry.shape == tensor.shape else {
        return "parameter \(path) has shape \(tensor.shape), the file \(entry.shape)"
      }
      let stored = try file.floats(path)
      let values = tensor.contiguous().floats
      guard zip(stored, values).allSatisfy({ $0.bitPattern == $1.bitPattern }) else {
        return "parameter \(path) differs from the file's tensor"
      }
      guard values.allSatisfy(\.isFinite) else { return "parameter \(path) holds a non-finite value" }
    }
    guard forward else { return nil }
    let t = min(3, model.contextLength)
    let logits = try model.logits(Tensor(indices: Array([1, 2, 3].prefix(t)), shape: [1, t]), state: nil)
    guard logits.shape == [1, t, model.vocabularySize] else { return "logits have shape \(logits.shape)" }
    guard logits.firstNonFiniteIndex() == nil else {
      return
        "an accepted config.json gives non-finite logits: \(String(decoding: try Foundation.Data(contentsOf: URL(fileURLWithPath: folder + "/config.json")), as: UTF8.self).prefix(600))"
    }
    return nil
  }

  /// A Llama whose sizes are those of the llama2.c header (read here from the file's bytes), with finite
  /// weights of the shapes the header implies.
  static func llama2cMatchesItsHeader(_ loaded: LoadedModel, file: String) throws -> String? {
    guard case .llama(let model) = loaded else { return "loaded as \(loaded.module) instead of a Llama" }
    let bytes = [UInt8](try Foundation.Data(contentsOf: URL(fileURLWithPath: file)).prefix(64))
    func int32(_ offset: Int) -> Int {
      Int(Int32(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }))
    }
    let versioned = int32(0) == 0x616b_3432
    let base = versioned ? 8 : 0
    let (dim, hidden, layers, heads, kvHeads) = (
      int32(base), int32(base + 4), int32(base + 8), int32(base + 12), int32(base + 16)
    )
    let vocabulary = int32(base + 20)
    let context = int32(base + 24)
    let shared = versioned ? bytes[36] == 1 : vocabulary > 0
    let c = model.config
    let header = [dim, hidden, layers, heads, kvHeads, abs(vocabulary), context]
    let config = [c.hiddenSize, c.intermediateSize, c.layers, c.heads, c.kvHeads, c.vocabularySize, c.contextLength]
    guard header == config, c.tiedEmbeddings == shared, model.layers.count == layers else {
      return
        "the model's sizes \(config) (tied \(c.tiedEmbeddings)) differ from the header's \(header) (shared \(shared))"
    }
    let p = model.parameters()
    let expected: [String: [Int]] = [
      "model.embed_tokens.weight": [abs(vocabulary), dim], "model.layers.0.self_attn.q_proj.weight": [dim, dim],
      "model.layers.0.self_attn.k_proj.weight": [kvHeads * (dim / heads), dim],
      "model.layers.0.mlp.gate_proj.weight": [hidden, dim], "model.norm.weight": [dim],
    ]
    for (name, shape) in expected where p[name]?.shape != shape {
      return "\(name) has shape \(p[name]?.shape ?? []), the header implies \(shape)"
    }
    if let (name, _) = p.first(where: { $0.value.firstNonFiniteIndex() != nil }) {
      return "parameter \(name) holds a non-finite value"
    }
    return nil
  }

  /// Encoding then decoding ``FuzzSeeds/roundTripText`` gives it back, with every id in the vocabulary.
  static func roundTrip(_ tokenizer: any Tokenizer) -> String? {
    let text = FuzzSeeds.roundTripText
    let ids = tokenizer.encode(text, addSpecialTokens: true)
    if let bad = ids.first(where: { $0 < 0 || $0 >= tokenizer.vocabularySize }) {
      return "encodes id \(bad) outside its vocabulary of \(tokenizer.vocabularySize)"
    }
    let back = tokenizer.decode(ids, skipSpecialTokens: false)
    guard back == text else {
      return "does not round-trip (vocabulary \(tokenizer.vocabularySize)): \(back.debugDescription.prefix(160))"
    }
    return nil
  }

  /// `meta.json` agrees with the shards: width, token counts, a positive vocabulary holding every id and
  /// the end-of-text id, document counts.
  static func shards(_ loaded: PreparedShards) throws -> String? {
    let meta = loaded.meta
    guard let validation = loaded.validation else { return "val.bin was not opened" }
    let train = loaded.train
    guard meta.vocabularySize > 0 else { return "meta.json has vocabulary size \(meta.vocabularySize)" }
    guard meta.width == train.width, meta.width == validation.width else {
      return "meta.json says \(meta.width), the shards are \(train.width) and \(validation.width)"
    }
    guard meta.trainTokens == train.count, meta.validationTokens == validation.count else {
      return "meta.json counts \(meta.trainTokens) + \(meta.validationTokens) tokens, the shards hold "
        + "\(train.count) + \(validation.count)"
    }
    guard meta.documents >= 0, (0...max(0, meta.documents)).contains(meta.validationDocuments) else {
      return "meta.json counts \(meta.documents) documents, \(meta.validationDocuments) held out"
    }
    if let eos = meta.endOfText, !(0..<meta.vocabularySize).contains(eos) {
      return "meta.json's end-of-text id \(eos) is outside its vocabulary of \(meta.vocabularySize)"
    }
    for shard in [train, validation] {
      if let bad = try shard.tokens(in: 0..<shard.count).first(where: { $0 < 0 || $0 >= meta.vocabularySize }) {
        return "\(shard.path) holds id \(bad), outside meta.json's vocabulary of \(meta.vocabularySize)"
      }
    }
    return nil
  }

  /// The "text" of every non-blank line of `file`, read here with JSONSerialization; nil when a line has
  /// none (then the file must not load).
  static func expectedDocuments(_ file: String) -> [String]? {
    guard let data = FileManager.default.contents(atPath: file) else { return nil }
    var texts: [String] = []
    for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if trimmed.isEmpty { continue }
      guard let object = (try? JSONSerialization.jsonObject(with: Foundation.Data(trimmed.utf8))) as? [String: Any],
        let text = object["text"] as? String
      else { return nil }
      texts.append(text)
    }
    return texts
  }

  /// One document per non-blank line, each the line's "text".
  static func documents(_ documents: [String], file: String) -> String? {
    guard let expected = expectedDocuments(file) else { return "a line without a string \"text\" was accepted" }
    guard documents == expected else { return "read \(documents.count) documents, the file has \(expected.count)" }
    return nil
  }

  /// Every non-blank line of the log is a record (a last line without its newline may be dropped when it is
  /// not one: an append cut short), and every loss is finite.
  static func metrics(_ records: [MetricRecord], file: String) -> String? {
    let text = String(decoding: FileManager.default.contents(atPath: file) ?? Foundation.Data(), as: UTF8.self)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    if !text.hasSuffix("\n"), let last = lines.last,
      (try? JSONDecoder().decode(MetricRecord.self, from: Foundation.Data(last.utf8))) == nil
    {
      lines.removeLast()
    }
    let kept = lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    guard records.count == kept.count else {
      return "kept \(records.count) records of \(kept.count) lines: the others were dropped without an error"
    }
    if let bad = records.first(where: { !$0.loss.isFinite }) {
      return "record of step \(bad.step) has loss \(bad.loss)"
    }
    return nil
  }

  /// `frontier inspect` printed a parameter count.
  static func inspectOutput(_ stdout: String) -> String? {
    stdout.contains("parameters: ") ? nil : "no parameter count in: \(stdout.prefix(200))"
  }

  /// `frontier eval` printed finite nats per token and a perplexity of at least 1 (infinite only when the
  /// nats overflow its exponential).
  static func evalOutput(_ stdout: String) -> String? {
    func number(after label: String) -> Double? {
      guard let range = stdout.range(of: label) else { return nil }
      return Double(stdout[range.upperBound...].prefix { $0 != "," && $0 != " " })
    }
    guard let perplexity = number(after: "perplexity "), let nats = number(after: ", ") else {
      return "no perplexity in: \(stdout.prefix(200))"
    }
    guard nats.isFinite, perplexity >= 1, perplexity.isFinite || nats > 709 else {
      return "perplexity \(perplexity), \(nats) nats/token"
    }
    return nil
  }

  /// `frontier tokenize encode --decode` printed ids and decoded them back to `text` (a llama2.c tokenizer
  /// keeps its dummy-prefix space when no BOS is added).
  static func tokenizeOutput(_ stdout: String, text: String) -> String? {
    let lines = stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard lines.count >= 2, lines[0].split(separator: ",").allSatisfy({ Int($0) != nil }) else {
      return "unexpected output: \(stdout.prefix(200))"
    }
    guard lines[1] == text || lines[1] == " " + text else { return "decoded \(lines[1].debugDescription)" }
    return nil
  }

  /// `frontier prepare` wrote a meta.json counting the file's documents.
  static func prepared(_ folder: String, from file: String) -> String? {
    guard let expected = expectedDocuments(file) else { return "a line without a string \"text\" was accepted" }
    guard let meta = try? ShardPreparer.readMeta(from: folder) else { return "no readable meta.json" }
    guard meta.documents == expected.count else { return "meta.json counts \(meta.documents) of \(expected.count)" }
    return nil
  }

  /// `frontier generate --prompts-file` printed one JSON line per non-blank prompt line, in order, with at
  /// most 3 new tokens each.
  static func generated(_ stdout: String, prompts file: String) -> String? {
    let content = String(decoding: FileManager.default.contents(atPath: file) ?? Foundation.Data(), as: UTF8.self)
    let prompts = content.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).filter {
      !$0.trimmingCharacters(in: .whitespaces).isEmpty
    }
    let lines = stdout.split(separator: "\n")
    guard lines.count == prompts.count else { return "\(lines.count) results for \(prompts.count) prompts" }
    for (i, line) in lines.enumerated() {
      guard let object = (try? JSONSerialization.jsonObject(with: Foundation.Data(line.utf8))) as? [String: Any],
        object["index"] as? Int == i, let tokens = object["tokens"] as? [Int], tokens.count <= 3
      else { return "result line \(i + 1) is not a result: \(line.prefix(160))" }
    }
    return nil
  }
}
