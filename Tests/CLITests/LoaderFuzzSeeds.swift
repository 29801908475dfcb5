import Checkpoints
import Data
import Foundation
import Models
import TensorCore
import TestSupport
import Training

@testable import Tokenizers

/// The valid inputs the loader fuzz mutates, written once per test process into a temporary folder by the
/// project's own writers: a tiny Llama as a Hugging Face folder (float32 and bfloat16) and as llama2.c
/// `.bin` files (version 1 and Q8_0 version 2), a tiny GPT-2 folder, a byte-level BPE tokenizer as
/// `tokenizer.json`, as GPT-2's `vocab.json` + `merges.txt` and as a tiktoken file, a llama2.c tokenizer, token shards with `meta.json`, and JSONL files of
/// documents, prompts and training metrics. llama2.c's stories260K and tok512 join when the shared data holds
/// them.
struct FuzzSeeds: Sendable {
  /// The folder holding every seed.
  let root: String
  /// Hugging Face folder of the tiny Llama, float32 (config.json, model.safetensors, tokenizer.json).
  let llamaFolder: String
  /// The same model stored as bfloat16.
  let llamaBF16Folder: String
  /// Hugging Face folder of a tiny GPT-2 (config.json, model.safetensors).
  let gpt2ModelFolder: String
  /// llama2.c version-1 and version-2 files of the tiny Llama, then stories260K.bin when present.
  let llama2cFiles: [String]
  /// tokenizer.json of the BPE tokenizer.
  let tokenizerJSON: String
  /// Folder with vocab.json and merges.txt of the same tokenizer.
  let gpt2Folder: String
  /// The same tokenizer as a tiktoken rank file.
  let tiktoken: String
  /// llama2.c tokenizers: a small one written here, then tok512.bin when present.
  let llama2cTokenizers: [String]
  /// Folder with train.bin, val.bin and meta.json (ids of the BPE tokenizer).
  let shardFolder: String
  /// JSONL documents for `frontier prepare` (a "text" field per line).
  let documents: String
  /// JSONL prompts for `frontier generate --prompts-file` (text, ids and plain lines).
  let prompts: String
  /// metrics.jsonl as the trainer writes it.
  let metrics: String

  /// Text every tokenizer must reproduce after encoding and decoding.
  static let roundTripText = "Once upon a time, a tiny robot said \"héllo wörld\" 🤖 — 12345.\n\tThe end."

  /// The seeds, built on first use.
  static let shared: Result<FuzzSeeds, Error> = Result { try FuzzSeeds.build() }

  private static let corpus = [
    "Once upon a time there was a little robot who loved to read stories about the sea.",
    "The robot found a shell on the beach and listened to the waves inside it every night.",
    "One day a bird asked the robot to read a story aloud, and the robot said yes with joy.",
    "They read about whales, boats and stars until the sun went down behind the hills.",
    "When morning came the bird flew home, and the robot waited for the next story time.",
  ]

  private static func build() throws -> FuzzSeeds {
    let temporary = FileManager.default.temporaryDirectory
    // Seed folders of test processes that have ended are removed (a process cannot remove its own at exit).
    for name in (try? FileManager.default.contentsOfDirectory(atPath: temporary.path)) ?? [] {
      if name.hasPrefix("frontier-fuzz-seeds-"), let pid = Int32(name.dropFirst(20)), kill(pid, 0) != 0, errno == ESRCH
      {
        try? FileManager.default.removeItem(at: temporary.appendingPathComponent(name))
      }
    }
    let root = temporary.appendingPathComponent("frontier-fuzz-seeds-\(getpid())").path
    try? FileManager.default.removeItem(atPath: root)
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }

    let bpe = try BPETrainer(vocabularySize: 300, specialTokens: ["<|endoftext|>"]).train(texts: corpus)
    let tokenizerJSON = path("tokenizer.json")
    try bpe.saveTokenizerJSON(to: tokenizerJSON)
    let gpt2Folder = path("gpt2")
    try writeGPT2Files(bpe, into: gpt2Folder)
    let tiktoken = path("tokenizer.tiktoken")
    let ranks = (0..<bpe.vocabularySize).filter { !bpe.specialIDs.contains($0) }.map {
      Foundation.Data(bpe.tokenBytes[$0]).base64EncodedString() + " \($0)\n"
    }
    try ranks.joined().write(toFile: tiktoken, atomically: true, encoding: .utf8)

    let config = LlamaConfiguration(
      vocabularySize: bpe.vocabularySize, hiddenSize: 16, intermediateSize: 32, layers: 2, heads: 2, kvHeads: 1,
      contextLength: 64)
    var generator = RandomGenerator(seed: 7)
    let llama = try Llama(config, generator: &generator)
    let llamaFolder = path("llama")
    try llama.save(to: llamaFolder)
    try FileManager.default.copyItem(atPath: tokenizerJSON, toPath: llamaFolder + "/tokenizer.json")
    let llamaBF16Folder = path("llama-bf16")
    try llama.save(to: llamaBF16Folder, dtype: .bfloat16)
    let gpt2ModelFolder = path("gpt2-model")
    let gpt2 = try GPT2(
      GPT2Configuration(vocabularySize: bpe.vocabularySize, contextLength: 64, width: 16, layers: 2, heads: 2),
      generator: &generator)
    try gpt2.save(to: gpt2ModelFolder)
    var llama2cFiles = [path("tiny-v1.bin"), path("tiny-q8.bin")]
    try llama.saveLlama2c(to: llama2cFiles[0])
    try llama.saveLlama2c(to: llama2cFiles[1], q8GroupSize: llama.llama2cGroupSize)
    if let stories = SharedData.data("llama2c/stories260K.bin") { llama2cFiles.append(stories) }

    var llama2cTokenizers = [path("tok-small.bin")]
    try writeLlama2cTokenizer(to: llama2cTokenizers[0])
    if let tok512 = SharedData.data("llama2c/tok512.bin") { llama2cTokenizers.append(tok512) }

    let text = path("corpus.txt")
    try corpus.joined(separator: "\n\n").write(toFile: text, atomically: true, encoding: .utf8)
    let shardFolder = path("shards")
    let encoding = ClosureEncoding(name: "tokenizer.json", vocabularySize: bpe.vocabularySize, endOfText: 299) {
      bpe.encode($0, addSpecialTokens: false)
    }
    try ShardPreparer.prepare(
      inputs: [text], encoding: encoding, directory: shardFolder, validationFraction: 0.4, appendEndOfText: true)

    let documents = path("documents.jsonl")
    let lines = try corpus.map { line -> String in
      String(decoding: try JSONSerialization.data(withJSONObject: ["text": line, "id": line.count]), as: UTF8.self)
    }
    try (lines.joined(separator: "\n") + "\n").write(toFile: documents, atomically: true, encoding: .utf8)
    let prompts = path("prompts.jsonl")
    let promptLines = [
      "{\"prompt\": \"Once upon a time\"}", "{\"prompt_ids\": [5, 17, 42, 99]}", "The robot said",
      "{\"prompt\": \"a bird\\nflew\"}",
    ]
    try (promptLines.joined(separator: "\n") + "\n").write(toFile: prompts, atomically: true, encoding: .utf8)
    let metrics = path("metrics.jsonl")
    let log = MetricsLog(path: metrics)
    for step in 1...6 {
      try log.append(
        MetricRecord(
          step: step, split: .train, loss: 5 - Float(step) * 0.25, learningRate: 1e-3, gradientNorm: 0.5,
          tokensPerSecond: 1000))
      if step % 3 == 0 { try log.append(MetricRecord(step: step, split: .validation, loss: 4.5)) }
    }
    return FuzzSeeds(
      root: root, llamaFolder: llamaFolder, llamaBF16Folder: llamaBF16Folder, gpt2ModelFolder: gpt2ModelFolder,
      llama2cFiles: llama2cFiles, tokenizerJSON: tokenizerJSON, gpt2Folder: gpt2Folder, tiktoken: tiktoken,
      llama2cTokenizers: llama2cTokenizers, shardFolder: shardFolder, documents: documents, prompts: prompts,
      metrics: metrics)
  }

  /// GPT-2's two files for `tokenizer`: `vocab.json` (byte-level string -> id, the special token included)
  /// and `merges.txt` (a version line, then one `left right` pair per line in rank order).
  private static func writeGPT2Files(_ tokenizer: BPETokenizer, into folder: String) throws {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    var vocabulary: [String: Int] = [:]
    for id in 0..<tokenizer.vocabularySize {
      if let token = tokenizer.token(for: id) { vocabulary[token] = id }
    }
    let data = try JSONSerialization.data(withJSONObject: vocabulary, options: [.sortedKeys])
    try data.write(to: URL(fileURLWithPath: folder + "/vocab.json"))
    var merges = "#version: 0.2\n"
    for (a, b) in tokenizer.mergeList {
      merges += "\(tokenizer.token(for: a) ?? "") \(tokenizer.token(for: b) ?? "")\n"
    }
    try merges.write(toFile: folder + "/merges.txt", atomically: true, encoding: .utf8)
  }

  /// A small llama2.c tokenizer: `<unk>`, `<s>`, `</s>`, the 256 byte pieces, the corpus's characters, then
  /// its words with a leading space and their prefixes (so that merges chain), scored by length.
  private static func writeLlama2cTokenizer(to path: String) throws {
    var pieces: [[UInt8]] = [Array("<unk>".utf8), Array("<s>".utf8), Array("</s>".utf8)]
    pieces += (0..<256).map { Array(String(format: "<0x%02X>", $0).utf8) }
    var seen = Set(pieces)
    var scores = [Float](repeating: 0, count: pieces.count)
    for character in Set(corpus.joined()).sorted() where seen.insert(Array(String(character).utf8)).inserted {
      pieces.append(Array(String(character).utf8))
      scores.append(0)
    }
    let words = Set(corpus.flatMap { $0.split(separator: " ").map { " " + $0 } } + [" "]).sorted()
    for word in words {
      let bytes = Array(word.utf8)
      for end in 1...bytes.count where seen.insert(Array(bytes[..<end])).inserted {
        pieces.append(Array(bytes[..<end]))
        scores.append(Float(end) - Float(pieces.count) * 1e-4)
      }
    }
    var out: [UInt8] = []
    func append(_ value: UInt32) { out += withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    append(UInt32(pieces.map(\.count).max() ?? 1))
    for (piece, score) in zip(pieces, scores) {
      append(score.bitPattern)
      append(UInt32(piece.count))
      out += piece
    }
    try Foundation.Data(out).write(to: URL(fileURLWithPath: path))
  }
}
