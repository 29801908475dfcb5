import Foundation
import Models
import NN
import TestSupport
import Testing

@testable import Checkpoints
@testable import TensorCore

@Suite struct ModuleCheckpointTests {
  func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("frontier-\(getpid())-\(name)").path
  }

  @Test func modelRoundTripIsBitExact() throws {
    var rng = RandomGenerator(seed: 1)
    let config = GPTConfiguration(vocabularySize: 17, contextLength: 8, layers: 2, heads: 2, width: 8)
    let a = try GPT(config, generator: &rng)
    let b = try GPT(config, generator: &rng)
    let path = temporaryPath("gpt.safetensors")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try a.saveSafetensors(to: path)
    try b.loadSafetensors(from: path)
    let pa = a.parameters()
    let pb = b.parameters()
    #expect(pa.keys.sorted() == pb.keys.sorted())
    for (k, t) in pa {
      let x = t.floats.map(\.bitPattern)
      let y = pb[k]!.floats.map(\.bitPattern)
      #expect(x == y, "\(k)")
    }
    let ids = Tensor(indices: [1, 2, 3, 4], shape: [1, 4])
    #expect(try a(ids).floats == b(ids).floats)
  }

  /// Every shape is checked against the file's header before any tensor is read: a mismatch leaves every
  /// weight as it was.
  @Test func aShapeMismatchLeavesTheModelUntouched() throws {
    var rng = RandomGenerator(seed: 3)
    let saved = try GPT(
      GPTConfiguration(vocabularySize: 17, contextLength: 8, layers: 2, heads: 2, width: 8), generator: &rng)
    let path = temporaryPath("gpt-mismatch.safetensors")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try saved.saveSafetensors(to: path)
    // The same model with a longer position table: the checkpoint's position embedding does not fit.
    let other = try GPT(
      GPTConfiguration(vocabularySize: 17, contextLength: 9, layers: 2, heads: 2, width: 8), generator: &rng)
    let before = other.parameters().mapValues(\.floats)
    do {
      try other.loadSafetensors(from: path)
      Issue.record("a mismatched shape loaded")
    } catch let error as CheckpointError {
      #expect(error.description.contains("[8, 8]") && error.description.contains("[9, 8]"), "\(error)")
    }
    #expect(other.parameters().mapValues(\.floats) == before, "weights were read before the shapes were checked")
  }

  @Test func optimizerStateRoundTripContinuesIdentically() throws {
    var rng = RandomGenerator(seed: 2)
    let config = GPTConfiguration(vocabularySize: 11, contextLength: 6, layers: 1, heads: 1, width: 4)
    let model = try GPT(config, generator: &rng)
    let twin = try GPT(config, generator: &rng)
    let modelPath = temporaryPath("m.safetensors")
    let statePath = temporaryPath("opt.safetensors")
    defer {
      try? FileManager.default.removeItem(atPath: modelPath)
      try? FileManager.default.removeItem(atPath: statePath)
    }
    let x = Tensor(indices: [1, 2, 3, 4, 5], shape: [1, 5])
    let y = Tensor(indices: [2, 3, 4, 5, 6], shape: [1, 5])
    let opt = AdamW(learningRate: 0.01)
    for _ in 0..<2 {
      let (_, g) = try valueAndGradient(of: model) { try $0.loss(inputs: x, targets: y) }
      try opt.update(model, gradients: g)
    }
    try model.saveSafetensors(to: modelPath)
    try OptimizerState.save(opt, to: statePath)
    try twin.loadSafetensors(from: modelPath)
    let resumed = AdamW(learningRate: 0.01)
    try OptimizerState.load(resumed, from: statePath)
    for m in [(model, opt), (twin, resumed)] {
      let (_, g) = try valueAndGradient(of: m.0) { try $0.loss(inputs: x, targets: y) }
      try m.1.update(m.0, gradients: g)
    }
    for (k, t) in model.parameters() { #expect(t.floats == twin.parameters()[k]!.floats, "\(k)") }
  }

  @Test func mismatchedCheckpointsGiveClearErrors() throws {
    var rng = RandomGenerator(seed: 3)
    let small = try GPT(
      GPTConfiguration(vocabularySize: 9, contextLength: 4, layers: 1, heads: 1, width: 4), generator: &rng)
    let other = try GPT(
      GPTConfiguration(vocabularySize: 10, contextLength: 4, layers: 1, heads: 1, width: 4), generator: &rng)
    let path = temporaryPath("small.safetensors")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try small.saveSafetensors(to: path)
    #expect {
      try other.loadSafetensors(from: path)
    } throws: { error in
      let text = "\(error)"
      return text.contains(path) && text.contains("wte.weight") && text.contains("[9, 4]")
    }
  }
}
