import Checkpoints
import Foundation
import LMCore
import Models
import NN
import TensorCore
import TestSupport
import Testing

@Suite struct GPT2Tests {
  @Test(.enabled(if: Fixture.isPresent("tiny_gpt2"), Fixture.absent("tiny_gpt2")))
  func tinyGPT2MatchesTransformers() throws {
    let fixture = try #require(try Fixture("tiny_gpt2"))
    let model = try GPT2(contentsOf: fixture.directory)
    #expect(model.head == nil)
    try checkCausalFixture(fixture, model)
  }

  @Test func cacheDecodingEqualsRecomputation() throws {
    var rng = RandomGenerator(seed: 5)
    let config = GPT2Configuration(
      vocabularySize: 50, contextLength: 24, width: 32, layers: 3, heads: 4, scaleAttentionByInverseLayerIndex: true)
    let model = try GPT2(config, generator: &rng)
    try checkCacheMatchesRecomputation(model, ids: (0..<15).map { ($0 * 11 + 1) % 50 })
    try checkLastLogitsMatchFullLogits(model, ids: (0..<9).map { ($0 * 13 + 2) % 50 })
  }

  @Test func attentionScaleTravelsWithTheBlock() throws {
    var rng = RandomGenerator(seed: 6)
    var config = GPT2Configuration(vocabularySize: 20, contextLength: 8, width: 16, layers: 3, heads: 4)
    config.scaleAttentionByInverseLayerIndex = true
    let model = try GPT2(config, generator: &rng)
    #expect(model.blocks.map(\.attention.scale) == [0.5, 0.25, 0.5 / 3])
    config.scaleAttentionWeights = false
    let unscaled = try GPT2(config, generator: &rng)
    #expect(unscaled.blocks.map(\.attention.scale) == [1, 0.5, 1 / Float(3)])
    // A two-block model built from blocks 1 and 2 keeps their scales and still runs.
    let ids = Tensor(indices: [1, 2, 3], shape: [1, 3])
    let before = try model(ids).floats
    model.blocks = Array(model.blocks.dropFirst())
    #expect(model.blocks.map(\.attention.scale) == [0.25, 0.5 / 3])
    let after = try model(ids).floats
    #expect(after.count == before.count && after != before)
    // The flag changes the function (scores differ per layer).
    config.scaleAttentionWeights = true
    config.scaleAttentionByInverseLayerIndex = false
    var rngA = RandomGenerator(seed: 7)
    var rngB = RandomGenerator(seed: 7)
    let plain = try GPT2(config, generator: &rngA)
    config.scaleAttentionByInverseLayerIndex = true
    let inverse = try GPT2(config, generator: &rngB)
    #expect(plain.blocks[0].attention.scale == inverse.blocks[0].attention.scale)
    #expect(try plain(ids).floats != inverse(ids).floats)
  }

  @Test func saveAndLoadIsBitExact() throws {
    var rng = RandomGenerator(seed: 8)
    let config = GPT2Configuration(
      vocabularySize: 33, contextLength: 12, width: 16, layers: 2, heads: 2, innerWidth: 40,
      scaleAttentionByInverseLayerIndex: true)
    let model = try GPT2(config, generator: &rng)
    let dir = temporaryPath("gpt2-save")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try model.save(to: dir)
    guard case .gpt2(let loaded) = try ModelRegistry.load(dir) else {
      Issue.record("the registry did not return a GPT-2")
      return
    }
    #expect(loaded.config == config)
    let (a, b) = (model.parameters(), loaded.parameters())
    #expect(a.keys.sorted() == b.keys.sorted())
    for (k, t) in a { #expect(t.floats.map(\.bitPattern) == b[k]?.floats.map(\.bitPattern), "\(k)") }
    let ids = Tensor(indices: [3, 1, 4, 1, 5], shape: [1, 5])
    #expect(try model(ids).floats == loaded(ids).floats)
  }

  @Test(.enabled(if: Fixture.isPresent("tiny_gpt2"), Fixture.absent("tiny_gpt2")))
  func readsKeysWithoutTransformerPrefix() throws {
    let fixture = try #require(try Fixture("tiny_gpt2"))
    let dir = temporaryPath("gpt2-noprefix")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: fixture.directory + "/config.json", toPath: dir + "/config.json")
    let file = try SafetensorsFile(path: fixture.directory + "/model.safetensors")
    var records = try file.entries.map {
      SafetensorsRecord(name: String($0.name.dropFirst("transformer.".count)), tensor: try file.tensor($0.name))
    }
    records.append(SafetensorsRecord(name: "h.0.attn.bias", tensor: Tensor.ones([1, 1, 4, 4])))
    try SafetensorsWriter.write(records, to: dir + "/model.safetensors")
    let a = try GPT2(contentsOf: fixture.directory)
    let b = try GPT2(contentsOf: dir)
    let ids = try fixture.tensor("input_ids")
    #expect(try a(ids).floats == b(ids).floats)
  }
}
