import Checkpoints
import Foundation
import LMCore
import NN
import TensorCore
import TestSupport
import Testing

@testable import Models

@Suite struct LlamaTests {
  @Test(.enabled(if: Fixture.isPresent("tiny_llama"), Fixture.absent("tiny_llama")))
  func tinyLlamaMatchesTransformers() throws {
    let fixture = try #require(try Fixture("tiny_llama"))
    let model = try Llama(contentsOf: fixture.directory)
    #expect(model.config.kvHeads < model.config.heads)
    try checkCausalFixture(fixture, model)
  }

  @Test func cacheDecodingEqualsRecomputation() throws {
    var rng = RandomGenerator(seed: 3)
    for interleaved in [false, true] {
      let config = LlamaConfiguration(
        vocabularySize: 40, hiddenSize: 32, intermediateSize: 48, layers: 2, heads: 4, kvHeads: 2, contextLength: 32,
        tiedEmbeddings: interleaved, ropeInterleaved: interleaved)
      let model = try Llama(config, generator: &rng)
      try checkCacheMatchesRecomputation(model, ids: (0..<13).map { ($0 * 7 + 3) % 40 })
      try checkLastLogitsMatchFullLogits(model, ids: (0..<9).map { ($0 * 5 + 1) % 40 })
    }
  }

  /// The fused step (``Tensor/decoderStep``) of one or several tokens equals the full forward pass position by position,
  /// for rotate-half and interleaved RoPE with grouped-query attention; LoRA or a query-recording cache
  /// turns it off.
  @Test func decodingStepEqualsTheLayers() throws {
    var rng = RandomGenerator(seed: 5)
    for interleaved in [false, true] {
      let config = LlamaConfiguration(
        vocabularySize: 40, hiddenSize: 32, intermediateSize: 48, layers: 2, heads: 4, kvHeads: 2, contextLength: 32,
        ropeTheta: 500, tiedEmbeddings: interleaved, ropeInterleaved: interleaved)
      let model = try Llama(config, generator: &rng)
      let ids = (0..<12).map { ($0 * 7 + 3) % 40 }
      let full = try model.logits(Tensor(indices: ids, shape: [1, ids.count]), state: nil).floats
      try withoutGradients {
        let state = model.makeState(batch: 1, capacity: ids.count)
        _ = try model.lastLogits(Tensor(indices: Array(ids[..<4]), shape: [1, 4]), state: state)
        // Steps of one, three and four tokens (a speculative verification's shape).
        var t = 4
        for tokens in [1, 3, 4] {
          let step = try #require(
            try model.decodingStepLogits(
              Tensor(indices: Array(ids[t..<(t + tokens)]), shape: [1, tokens]), state: state))
          #expect(step.shape == [tokens, 40])
          expectClose(step.floats, Array(full[(t * 40)..<((t + tokens) * 40)]), atol: 2e-5, "step at \(t)")
          t += tokens
        }
        #expect(state.position == ids.count)
        try state.trim(toPosition: 9)
        let last = try #require(
          try model.decodingStepLogits(Tensor(indices: Array(ids[9...]), shape: [1, 3]), state: state, lastOnly: true))
        #expect(last.shape == [1, 40])
        expectClose(last.floats, Array(full[(11 * 40)...]), atol: 2e-5, "last of three")
        let observing = DecodingState(
          layers: (0..<2).map { _ in QueryObservingKV(batch: 1, heads: 2, capacity: 4, headDimensions: 8) })
        #expect(try model.decodingStepLogits(Tensor(indices: [1], shape: [1, 1]), state: observing) == nil)
      }
      let down = model.layers[0].mlp.down.weight
      model.layers[0].mlp.down.weight = try Tensor.zeros([down.shape[1], down.shape[0]]).transposed()  // a strided view
      #expect(model.decodingWeights() == nil)
      model.layers[0].mlp.down.weight = down
      var adapterRng = RandomGenerator(seed: 6)
      try model.addLoRA(rank: 2, alpha: 4, targets: ["q_proj"], generator: &adapterRng)
      #expect(model.decodingWeights() == nil)
    }
  }

  @Test func saveAndLoadIsBitExact() throws {
    var rng = RandomGenerator(seed: 4)
    let config = LlamaConfiguration(
      vocabularySize: 30, hiddenSize: 16, intermediateSize: 24, layers: 2, heads: 4, kvHeads: 2, contextLength: 16,
      ropeTheta: 500_000)
    let model = try Llama(config, generator: &rng)
    let dir = temporaryPath("llama-save")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try model.save(to: dir)
    let loaded = try Llama(contentsOf: dir)
    #expect(loaded.config == config)
    let (a, b) = (model.parameters(), loaded.parameters())
    #expect(a.keys.sorted() == b.keys.sorted())
    for (k, t) in a { #expect(t.floats.map(\.bitPattern) == b[k]?.floats.map(\.bitPattern), "\(k)") }
    let ids = Tensor(indices: [1, 5, 9, 2], shape: [1, 4])
    #expect(try model(ids).floats == loaded(ids).floats)
    // Loading through the registry gives the same language model.
    let lm = try ModelRegistry.loadLanguageModel(dir)
    #expect(try lm.logits(ids, state: nil).floats == model(ids).floats)
  }

  @Test func aNonFiniteWeightIsFoundAtLoadNamingTheTensor() throws {
    var rng = RandomGenerator(seed: 5)
    let config = LlamaConfiguration(
      vocabularySize: 30, hiddenSize: 16, intermediateSize: 24, layers: 2, heads: 4, kvHeads: 2, contextLength: 16)
    let model = try Llama(config, generator: &rng)
    let dir = temporaryPath("llama-nan")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try model.save(to: dir)
    #expect(throws: Never.self) { try ModelRegistry.load(dir) }
    for (bad, row, column) in [(Float.nan, 3, 17), (-Float.infinity, 15, 23)] {
      let down = try #require(model.namedParameters().first { $0.path.hasSuffix("layers.1.mlp.down_proj.weight") })
      var values = [Float](repeating: 0.5, count: 16 * 24)
      values[row * 24 + column] = bad
      down.box.setTensor(Tensor(values, shape: [16, 24]))
      try model.save(to: dir)
      #expect {
        try ModelRegistry.load(dir)
      } throws: { error in
        let line = "\(error)"
        return line.contains("model.layers.1.mlp.down_proj.weight") && line.contains("[\(row), \(column)]")
          && line.contains("non-finite")
      }
    }
  }

  @Test func readsBothRopeThetaSpellings() throws {
    let base = """
      {"model_type": "llama", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 12,
       "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 8
      """
    let old = try JSONDecoder().decode(LlamaConfiguration.self, from: Data((base + #", "rope_theta": 1234.0}"#).utf8))
    let new = try JSONDecoder().decode(
      LlamaConfiguration.self, from: Data((base + #", "rope_parameters": {"rope_theta": 4321.0}}"#).utf8))
    #expect(old.ropeTheta == 1234 && new.ropeTheta == 4321)
    #expect(old.kvHeads == 2 && old.headDimensions == 4)
    // Without head_dim, heads that do not divide the width are an error, not a truncated head width.
    let uneven = base.replacingOccurrences(of: "\"num_attention_heads\": 2", with: "\"num_attention_heads\": 3")
    #expect {
      try JSONDecoder().decode(LlamaConfiguration.self, from: Data((uneven + "}").utf8))
    } throws: { error in
      "\(error)".contains("num_attention_heads 3") && "\(error)".contains("hidden_size 8")
    }
    let explicit = try JSONDecoder().decode(
      LlamaConfiguration.self, from: Data((uneven + #", "head_dim": 4}"#).utf8))
    #expect(explicit.headDimensions == 4 && explicit.heads == 3)
    #expect(throws: (any Error).self) {
      try JSONDecoder().decode(
        LlamaConfiguration.self, from: Data((base + #", "rope_scaling": {"rope_type": "llama3"}}"#).utf8))
    }
  }

  @Test(.enabled(if: Fixture.isPresent("tiny_llama"), Fixture.absent("tiny_llama")))
  func configMismatchNamesTensorAndShapes() throws {
    let fixture = try #require(try Fixture("tiny_llama"))
    let dir = temporaryPath("llama-mismatch")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      atPath: fixture.directory + "/model.safetensors", toPath: dir + "/model.safetensors")
    var json =
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture.directory + "/config.json")))
      as! [String: Any]
    json["intermediate_size"] = (json["intermediate_size"] as! Int) + 1
    try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/config.json"))
    do {
      _ = try Llama(contentsOf: dir)
      Issue.record("a mismatched config loaded")
    } catch let error as CheckpointError {
      let text = error.description
      #expect(text.contains("mlp.") && text.contains("config.json implies") && !text.contains("\n"), "\(text)")
    }
    // A broken config is one line naming config.json.
    json["hidden_size"] = "wide"
    try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: dir + "/config.json"))
    do {
      _ = try Llama(contentsOf: dir)
      Issue.record("a broken config loaded")
    } catch let error as CheckpointError {
      #expect(error.description.contains("config.json") && error.description.contains("hidden_size"), "\(error)")
    }
    // A truncated safetensors file is a clear error too.
    let bytes = try Data(contentsOf: URL(fileURLWithPath: fixture.directory + "/model.safetensors"))
    try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: dir + "/model.safetensors"))
    try FileManager.default.removeItem(atPath: dir + "/config.json")
    try FileManager.default.copyItem(atPath: fixture.directory + "/config.json", toPath: dir + "/config.json")
    #expect(throws: CheckpointError.self) { try Llama(contentsOf: dir) }
  }
}

/// A cache that asks for the queries of every pass (as TriForce's query recording does).
final class QueryObservingKV: AttentionKV {
  override var observesQueries: Bool { true }
}
