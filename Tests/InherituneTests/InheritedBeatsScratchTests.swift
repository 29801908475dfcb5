import Data
import Foundation
import Inheritune
import Models
import TensorCore
import TestSupport
import Testing
import Training

/// The paper's claim at the smallest scale CI can afford: a parent pretrained briefly on 20 KB of
/// tiny-shakespeare bytes, then half-depth students trained 50 steps on the same 20 KB, evaluated on held-out
/// bytes that neither saw.
@Suite(
  .enabled(
    if: SharedData.has(data: "tinyshakespeare/input.txt"), "tinyshakespeare/input.txt is absent (\(SharedData.hint))"))
struct InheritedBeatsScratchTests {
  @Test("after 50 steps on 20 KB, the inherited student's validation loss is below scratch's")
  func inheritedBeatsScratchEarly() throws {
    let path = try #require(SharedData.data("tinyshakespeare/input.txt"))
    let bytes = [UInt8](try #require(FileManager.default.contents(atPath: path))).map { Int($0) }
    try #require(bytes.count > 120_000)
    let folder = (NSTemporaryDirectory() as NSString).appendingPathComponent("inheritune-20kb-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    // 20 KB to train on; held-out bytes from the end of the file.
    try TokenShard.write(Array(bytes[..<20_000]), width: .uint16, to: folder + "/train.bin")
    try TokenShard.write(Array(bytes[(bytes.count - 20_000)...]), width: .uint16, to: folder + "/val.bin")
    let train = try TokenShard(path: folder + "/train.bin")
    let validation = try TokenShard(path: folder + "/val.bin")

    var generator = RandomGenerator(seed: 5)
    let config = GPT2Configuration(
      vocabularySize: 256, contextLength: 64, width: 32, layers: 4, heads: 4, scaleAttentionByInverseLayerIndex: true)
    let parent = LoadedModel.gpt2(try GPT2(config, generator: &generator))
    let recipe = { (steps: Int, seed: UInt64) in
      TrainingConfiguration(
        steps: steps, batchSize: 8, contextLength: 64, learningRate: 3e-3, warmupSteps: 5, evaluationBatches: 8,
        seed: seed)
    }
    _ = try Inheritune.makeTrainer(for: parent, configuration: recipe(200, 1), train: train, validation: nil).run()

    func student(_ options: InheritanceOptions) throws -> Float {
      let model = try Inheritune.makeStudent(from: parent, layers: 2, options: options, seed: 3).model
      _ = try Inheritune.makeTrainer(for: model, configuration: recipe(50, 2), train: train, validation: nil).run()
      return try Inheritune.validationLoss(
        of: model, configuration: recipe(0, 0xE7A1_5EED), train: train, validation: validation)
    }
    let inherited = try student(.paper)
    let scratch = try student(.nothing)
    #expect(inherited.isFinite && scratch.isFinite)
    #expect(inherited < scratch, "inherited \(inherited) vs scratch \(scratch)")
  }
}
