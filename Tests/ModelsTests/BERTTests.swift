import Checkpoints
import Foundation
import Models
import NN
import TensorCore
import TestSupport
import Testing

/// Keeps only the rows of [B, T, C] values whose mask [B, T] is 1.
private func maskedRows(_ values: [Float], mask: [Int64], width: Int) -> [Float] {
  mask.indices.filter { mask[$0] == 1 }.flatMap { values[($0 * width)..<(($0 + 1) * width)] }
}

@Suite struct BERTTests {
  @Test(.enabled(if: Fixture.isPresent("tiny_bert"), Fixture.absent("tiny_bert")))
  func tinyBERTMatchesTransformers() throws {
    let fixture = try #require(try Fixture("tiny_bert"))
    let model = try BERT(contentsOf: fixture.directory)
    let ids = try fixture.tensor("input_ids")
    let mask = try fixture.tensor("attention_mask")
    let width = model.config.hiddenSize
    for (types, prefix) in [("token_type_ids", ""), ("pair_token_type_ids", "pair_")] {
      let h = try model.hiddenStates(ids, tokenTypes: fixture.tensor(types), attentionMask: mask)
      #expect(h.shape == (try fixture.tensor(prefix + "last_hidden_state")).shape)
      expectClose(
        maskedRows(h.floats, mask: mask.int64s, width: width),
        maskedRows(try fixture.floats(prefix + "last_hidden_state"), mask: mask.int64s, width: width),
        atol: fixture.atol(prefix + "last_hidden_state"), prefix + "last_hidden_state")
      expectClose(
        try model.meanPooled(h, attentionMask: mask).floats, try fixture.floats(prefix + "mean_pooled"),
        atol: fixture.atol(prefix + "mean_pooled"), prefix + "mean_pooled")
      if prefix.isEmpty {
        expectClose(
          try model.pooledOutput(h).floats, try fixture.floats("pooler_output"), atol: fixture.atol("pooler_output"),
          "pooler_output")
      }
    }
  }

  @Test(
    .enabled(if: Fixture.isPresent("minilm_l6_v2"), Fixture.absent("minilm_l6_v2")),
    .enabled(if: SharedData.miniLMDirectory() != nil, "needs the MiniLM model folder (\(SharedData.miniLMHint))"))
  func miniLMSentenceEmbeddingsMatchSentenceTransformers() throws {
    let fixture = try #require(try Fixture("minilm_l6_v2"))
    let dir = try #require(SharedData.miniLMDirectory())
    let model = try BERT(contentsOf: dir)
    let ids = try fixture.tensor("input_ids")
    let mask = try fixture.tensor("attention_mask")
    let embeddings = try withoutGradients { try model.sentenceEmbeddings(ids, attentionMask: mask) }
    #expect(embeddings.shape == (try fixture.tensor("embeddings")).shape)
    expectClose(
      embeddings.floats, try fixture.floats("embeddings"), atol: fixture.atol("embeddings", floor: 1e-6), "embeddings")
    // The first sentence alone, unpadded.
    let golden = try fixture.tensor("last_hidden_state_0")
    let length = golden.shape[1]
    let first = try ids.sliced(axis: 0, 0..<1).sliced(axis: 1, 0..<length).contiguous()
    let h = try withoutGradients { try model.hiddenStates(first) }
    expectClose(h.floats, golden.floats, atol: fixture.atol("last_hidden_state_0"), "last_hidden_state_0")
  }

  @Test func saveAndLoadIsBitExact() throws {
    var rng = RandomGenerator(seed: 9)
    let config = BERTConfiguration(vocabularySize: 30, hiddenSize: 16, layers: 2, heads: 4, intermediateSize: 32)
    let model = try BERT(config, generator: &rng)
    let dir = temporaryPath("bert-save")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try model.save(to: dir)
    guard case .bert(let loaded) = try ModelRegistry.load(dir) else {
      Issue.record("the registry did not return a BERT")
      return
    }
    #expect(loaded.config == config && loaded.pooler != nil)
    let (a, b) = (model.parameters(), loaded.parameters())
    for (k, t) in a { #expect(t.floats.map(\.bitPattern) == b[k]?.floats.map(\.bitPattern), "\(k)") }
    let ids = Tensor(indices: [1, 2, 3, 0, 4, 5, 6, 7], shape: [2, 4])
    let mask = Tensor(indices: [1, 1, 1, 0, 1, 1, 1, 1], shape: [2, 4])
    let e = try loaded.sentenceEmbeddings(ids, attentionMask: mask)
    #expect(try model.sentenceEmbeddings(ids, attentionMask: mask).floats == e.floats)
    // Rows have unit norm, and padding does not change a row.
    let row = Array(e.floats[0..<16])
    #expect(abs(row.map { $0 * $0 }.reduce(0, +) - 1) < 1e-5)
    let alone = try loaded.sentenceEmbeddings(Tensor(indices: [1, 2, 3], shape: [1, 3]))
    expectClose(alone.floats, row, atol: 1e-6, "padding invariance")
  }
}
