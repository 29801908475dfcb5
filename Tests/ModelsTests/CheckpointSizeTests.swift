import Checkpoints
import Foundation
import Kernels
import Models
import NN
import TensorCore
import Testing

/// A checkpoint's sizes are checked before anything is allocated: config.json against physical memory, every
/// tensor against the shape the config implies, and no tensor may be left over.
@Suite struct CheckpointSizeTests {
  /// A small random Llama saved in HF layout, and its folder.
  static func savedLlama(_ name: String, layers: Int = 3) throws -> (Llama, String) {
    var rng = RandomGenerator(seed: 11)
    let config = LlamaConfiguration(
      vocabularySize: 40, hiddenSize: 16, intermediateSize: 24, layers: layers, heads: 4, kvHeads: 2,
      contextLength: 32)
    let model = try Llama(config, generator: &rng)
    let dir = temporaryPath(name)
    try model.save(to: dir)
    return (model, dir)
  }

  /// Rewrites keys of the JSON object in `dir/config.json`.
  static func editConfig(_ dir: String, _ changes: [String: Any]) throws {
    let url = URL(fileURLWithPath: dir + "/config.json")
    var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
    for (key, value) in changes { json[key] = value }
    try JSONSerialization.data(withJSONObject: json).write(to: url)
  }

  /// Expects loading `dir` to throw one line containing every one of `words`.
  static func expectRefusal(
    _ dir: String, mentioning words: [String], sourceLocation: SourceLocation = #_sourceLocation
  ) {
    do {
      _ = try ModelRegistry.load(dir)
      Issue.record("\(dir) loaded", sourceLocation: sourceLocation)
    } catch {
      let line = "\(error)"
      #expect(!line.contains("\n"), "\(line)", sourceLocation: sourceLocation)
      for word in words { #expect(line.contains(word), "\(line)", sourceLocation: sourceLocation) }
    }
  }

  @Test func layersBeyondTheConfigAreListed() throws {
    let (_, dir) = try Self.savedLlama("llama-extra-layers")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(throws: Never.self) { try ModelRegistry.load(dir) }
    try Self.editConfig(dir, ["num_hidden_layers": 1])
    // Nine tensors a layer (two norms, four attention and three MLP projections), layers 1 and 2.
    Self.expectRefusal(
      dir,
      mentioning: [
        "model.safetensors", "holds 18 tensors that config.json does not name", "model.layers.1.",
        "layers 1...2 beyond the 1 that config.json names",
      ])
  }

  @Test func aTensorNoParameterTakesIsNamedWhileBuffersAreIgnored() throws {
    var rng = RandomGenerator(seed: 12)
    let model = try GPT2(
      GPT2Configuration(vocabularySize: 30, contextLength: 16, width: 16, layers: 2, heads: 2), generator: &rng)
    let dir = temporaryPath("gpt2-extra")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try model.save(to: dir)
    let path = dir + "/model.safetensors"
    let file = try SafetensorsFile(path: path)
    var records = try file.entries.map { SafetensorsRecord(name: $0.name, tensor: try file.tensor($0.name).copied()) }
    // What the original GPT-2 upload stores besides the parameters: attention-mask buffers, a tied head.
    records.append(SafetensorsRecord(name: "transformer.h.0.attn.bias", tensor: Tensor.ones([1, 1, 16, 16])))
    records.append(SafetensorsRecord(name: "lm_head.weight", tensor: model.tokenEmbedding.weight))
    try SafetensorsWriter.write(records, to: path)
    #expect(throws: Never.self) { try ModelRegistry.load(dir) }
    records.append(SafetensorsRecord(name: "transformer.extra.weight", tensor: Tensor.ones([4])))
    try SafetensorsWriter.write(records, to: path)
    Self.expectRefusal(dir, mentioning: ["holds a tensor that config.json does not name: transformer.extra.weight"])
  }

  @Test func aMissingTensorIsNamed() throws {
    let (_, dir) = try Self.savedLlama("llama-missing", layers: 1)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Self.editConfig(dir, ["num_hidden_layers": 2])
    Self.expectRefusal(dir, mentioning: ["has no tensor model.layers.1.", "and 5 more, which config.json implies"])
  }

  /// Sizes no machine here can hold are refused from config.json alone, naming the key, the size and the
  /// limit, without allocating the placeholders (which would take terabytes).
  @Test func sizesBeyondMemoryAreRefusedNamingTheKey() throws {
    let (_, dir) = try Self.savedLlama("llama-huge", layers: 1)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cases: [([String: Any], [String])] = [
      (["vocab_size": 10_000_000_000], ["the token embedding", "vocab_size 10000000000", "hidden_size 16"]),
      (["num_hidden_layers": 1_000_000_000_000], ["num_hidden_layers 1000000000000"]),
      (["intermediate_size": 1 << 40], ["the MLP weights", "intermediate_size \(1 << 40)"]),
      (["max_position_embeddings": 1 << 50], ["max_position_embeddings \(1 << 50)"]),
    ]
    for (changes, words) in cases {
      try Self.editConfig(dir, ["vocab_size": 40, "num_hidden_layers": 1, "intermediate_size": 24])
      try Self.editConfig(dir, ["max_position_embeddings": 32])
      try Self.editConfig(dir, changes)
      Self.expectRefusal(dir, mentioning: ["config.json"] + words + ["of physical memory"])
    }
    // Parts that each fit but not together: the total and its largest part are named.
    let budget = MemoryBudget.physicalBytes
    let vocabulary = Int(0.3 * budget / (16 * 4))  // untied: the embedding and the head
    let inner = Int(0.6 * budget / (3 * 16 * 4))
    try Self.editConfig(
      dir,
      ["vocab_size": vocabulary, "intermediate_size": inner, "max_position_embeddings": 32, "num_hidden_layers": 1])
    Self.expectRefusal(dir, mentioning: ["in all (the largest part:", "of physical memory"])
  }

  @Test func gpt2AndBERTSizesAreCheckedToo() throws {
    let gpt2 = GPT2Configuration(vocabularySize: 50, contextLength: 1 << 40, width: 16, layers: 1, heads: 2)
    #expect(MemoryBudget.problem(gpt2.memoryTerms, as: "float32")?.contains("n_positions \(1 << 40)") == true)
    let bert = BERTConfiguration(
      vocabularySize: 50, hiddenSize: 16, layers: 1, heads: 2, intermediateSize: 1 << 40, contextLength: 16)
    #expect(MemoryBudget.problem(bert.memoryTerms, as: "float32")?.contains("intermediate_size \(1 << 40)") == true)
    let small = LlamaConfiguration(
      vocabularySize: 32000, hiddenSize: 2048, intermediateSize: 5632, layers: 22, heads: 32, kvHeads: 4,
      contextLength: 2048)
    #expect(MemoryBudget.problem(small.memoryTerms, as: "float32") == nil, "TinyLlama's sizes fit")
  }
}
