import Data
import Distributed
import Foundation
import Models
import NN
import TensorCore
import TestSupport
import Testing

@testable import Training

@Suite struct TrainerTests {
  @Test func lossFallsOnARepetitiveSequence() throws {
    let dir = try temporaryDirectory("falls")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let config = TrainingConfiguration(
      steps: 60, batchSize: 4, contextLength: 8, learningRate: 1e-2, warmupSteps: 5, evaluationInterval: 30)
    let (trainer, _) = try makeTrainer(config, shards: try repetitiveShards(in: dir))
    let results = try trainer.run()
    #expect(results.count == 60 && trainer.step == 60)
    let first = results.prefix(3).map(\.loss).reduce(0, +) / 3
    let last = results.suffix(3).map(\.loss).reduce(0, +) / 3
    #expect(first > 2.0)
    #expect(last < 0.5 * first, "loss \(first) -> \(last)")
    let validation = trainer.history.filter { $0.split == .validation }
    #expect(validation.map(\.step) == [30, 60])
    #expect(validation.last!.loss < validation.first!.loss + 0.1)
    #expect(validation.last!.loss < 1.0)
  }

  @Test func resumeEqualsUninterruptedBitForBit() throws {
    let dir = try temporaryDirectory("resume")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let shards = try randomShards(in: dir)
    let config = TrainingConfiguration(
      steps: 8, batchSize: 3, contextLength: 8, learningRate: 3e-3, warmupSteps: 2, accumulationSteps: 2,
      gradientClip: 0.5, evaluationInterval: 4, checkpointInterval: 4)
    let (whole, wholeModel) = try makeTrainer(config, shards: shards, output: dir + "/a")
    let wholeLosses = try whole.run().map(\.loss)

    let (first, _) = try makeTrainer(config, shards: shards, output: dir + "/b")
    let firstLosses = try first.run(until: 4).map(\.loss)
    let checkpoint = try #require(Trainer.latestCheckpoint(inRun: dir + "/b"))
    #expect(checkpoint.hasSuffix("step-00000004"))
    // A different initialisation proves that the checkpoint, not the seed, supplies the weights.
    let (second, secondModel) = try makeTrainer(config, shards: shards, output: dir + "/b", modelSeed: 77)
    try second.resume(from: checkpoint)
    #expect(second.step == 4)
    let secondLosses = try second.run().map(\.loss)
    #expect(firstLosses + secondLosses == wholeLosses)
    #expect(weights(secondModel) == weights(wholeModel))
    // The metrics log of the resumed run matches the uninterrupted one.
    let a = try MetricsLog(path: dir + "/a/metrics.jsonl").records().map { [$0.step, Int($0.loss.bitPattern)] }
    let b = try MetricsLog(path: dir + "/b/metrics.jsonl").records().map { [$0.step, Int($0.loss.bitPattern)] }
    #expect(a == b && a.count == 10)
  }

  @Test func resumeRejectsAChangedBatch() throws {
    let dir = try temporaryDirectory("mismatch")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let shards = try randomShards(in: dir)
    var config = TrainingConfiguration(steps: 2, batchSize: 2, contextLength: 8)
    let (trainer, _) = try makeTrainer(config, shards: shards, output: dir)
    try trainer.run()
    config.batchSize = 3
    let (other, _) = try makeTrainer(config, shards: shards)
    do {
      try other.resume(from: try #require(Trainer.latestCheckpoint(inRun: dir)))
      Issue.record("a changed batch size was accepted")
    } catch let error as TrainingError {
      #expect(error.description.contains("batch size (--batch) is 2 but this run's is 3"), "\(error)")
    }
  }

  /// A minimum learning rate above the peak and a negative weight decay are refused, naming the option.
  @Test func configurationRefusesAMinimumAboveThePeakAndNegativeDecay() throws {
    let cases: [(TrainingConfiguration, String)] = [
      (TrainingConfiguration(learningRate: 1e-3, minimumLearningRate: 1e-2), "--min-lr"),
      (TrainingConfiguration(weightDecay: -0.1), "--weight-decay"),
      (TrainingConfiguration(weightDecay: .nan), "--weight-decay"),
    ]
    for (configuration, option) in cases {
      #expect {
        try configuration.validate()
      } throws: { error in
        "\(error)".contains(option)
      }
    }
    #expect(throws: Never.self) {
      try TrainingConfiguration(learningRate: 1e-3, minimumLearningRate: 1e-3, weightDecay: 0).validate()
    }
  }

  @Test func accumulatingTwoMicroBatchesEqualsOneDoubleBatch() throws {
    let dir = try temporaryDirectory("accumulate")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let shards = try randomShards(in: dir)
    let double = TrainingConfiguration(steps: 3, batchSize: 4, contextLength: 8, accumulationSteps: 1)
    let micro = TrainingConfiguration(steps: 3, batchSize: 2, contextLength: 8, accumulationSteps: 2)
    let (a, _) = try makeTrainer(double, shards: shards)
    let (b, _) = try makeTrainer(micro, shards: shards)
    let (lossA, gradsA) = try a.nextGradients()
    let (lossB, gradsB) = try b.nextGradients()
    #expect(abs(lossA - lossB) < 1e-5)
    #expect(gradsA.keys.sorted() == gradsB.keys.sorted())
    for (key, g) in gradsA {
      #expect(allClose(g.floats, gradsB[key]!.floats, atol: 1e-6, rtol: 1e-4), "\(key)")
    }
  }

  @Test func divergenceStopsWithAClearMessage() throws {
    let dir = try temporaryDirectory("nan")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let config = TrainingConfiguration(steps: 20, batchSize: 2, contextLength: 8, learningRate: 1e30, gradientClip: 0)
    let (trainer, _) = try makeTrainer(config, shards: try randomShards(in: dir))
    do {
      try trainer.run()
      Issue.record("training with lr 1e30 did not stop")
    } catch let error as TrainingError {
      #expect(error.description.contains("diverged") && error.description.contains("--lr"))
      #expect(trainer.step < 20)
    }
  }

  @Test func checkpointRetentionKeepsTheLastK() throws {
    let dir = try temporaryDirectory("keep")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let config = TrainingConfiguration(
      steps: 10, batchSize: 2, contextLength: 8, checkpointInterval: 2, keepCheckpoints: 2)
    let (trainer, _) = try makeTrainer(config, shards: try randomShards(in: dir), output: dir + "/run")
    try trainer.run()
    let names = Trainer.checkpoints(in: dir + "/run/checkpoints").map { ($0 as NSString).lastPathComponent }
    #expect(names == ["step-00000008", "step-00000010"])
    let all = try FileManager.default.contentsOfDirectory(atPath: dir + "/run/checkpoints")
    #expect(all.sorted() == names)
    let files = try FileManager.default.contentsOfDirectory(atPath: dir + "/run/checkpoints/step-00000010")
    #expect(files.sorted() == ["model.safetensors", "optimizer.safetensors", "state.json"])
  }
}
