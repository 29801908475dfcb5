import Data
import Foundation
import Testing

@testable import Training

/// One writer per run folder, what counts as a run, damaged checkpoints and the settings a resume compares.
@Suite struct RunFolderTests {
  @Test func aSecondLockOnAFolderNamesTheHolder() throws {
    let dir = try temporaryDirectory("lock") + "/run"
    defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
    let first = try RunLock(folder: dir)
    #expect(FileManager.default.fileExists(atPath: dir + "/train.lock"))
    #expect {
      _ = try RunLock(folder: dir)
    } throws: { error in
      "\(error)".contains("another frontier train (pid \(getpid()))") && !"\(error)".contains("\n")
    }
    first.release()
    // Released: the lock file is gone, and so is the folder the lock created (nothing was written there).
    #expect(!FileManager.default.fileExists(atPath: dir))
    let again = try RunLock(folder: dir)
    try "x".write(toFile: dir + "/stamp.json", atomically: true, encoding: .utf8)
    again.release()
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["stamp.json"])
  }

  @Test func onlyCheckpointsAndAnExportedModelMakeARun() throws {
    let dir = try temporaryDirectory("holds")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let folder = RunFolder(path: dir + "/run")
    #expect(!folder.holdsRun)
    let manager = FileManager.default
    try manager.createDirectory(
      atPath: dir + "/run/checkpoints/.step-00000004.tmp-1234", withIntermediateDirectories: true)
    for name in ["stamp.json", "metrics.jsonl", "loss.svg", "train.lock"] {
      try "{}".write(toFile: dir + "/run/" + name, atomically: true, encoding: .utf8)
    }
    #expect(!folder.holdsRun, "leftovers of a run stopped before its first checkpoint are not a run")
    #expect(folder.removeOrphanedTemporaries() == [".step-00000004.tmp-1234"])
    try manager.createDirectory(atPath: dir + "/run/checkpoints/step-00000002", withIntermediateDirectories: true)
    #expect(folder.holdsRun && folder.summary == "checkpoint step-00000002")
    try manager.createDirectory(atPath: dir + "/run/model", withIntermediateDirectories: true)
    try "{}".write(toFile: dir + "/run/model/config.json", atomically: true, encoding: .utf8)
    #expect(folder.summary == "checkpoint step-00000002 and an exported model")
    #expect(try folder.clear() == ["checkpoints", "metrics.jsonl", "loss.svg", "model"])
    #expect(try manager.contentsOfDirectory(atPath: dir + "/run").sorted() == ["stamp.json", "train.lock"])
  }

  /// Checkpoints at steps 2, 4 and 6 of a tiny run.
  func checkpointedRun(_ dir: String) throws -> (TrainingConfiguration, (TokenShard, TokenShard)) {
    let shards = try randomShards(in: dir)
    let config = TrainingConfiguration(steps: 6, batchSize: 2, contextLength: 8, checkpointInterval: 2)
    let (trainer, _) = try makeTrainer(config, shards: shards, output: dir + "/run")
    try trainer.run()
    #expect(RunFolder(path: dir + "/run").checkpoints.count == 3)
    return (config, shards)
  }

  /// Rewrites the JSON object of `path` with `change`.
  func edit(_ path: String, _ change: (inout [String: Any]) -> Void) throws {
    let url = URL(fileURLWithPath: path)
    var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
    change(&json)
    try JSONSerialization.data(withJSONObject: json).write(to: url)
  }

  @Test func damagedCheckpointsAreSkippedNamingWhy() throws {
    let dir = try temporaryDirectory("damaged")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try checkpointedRun(dir)
    let run = dir + "/run"
    #expect(Trainer.newestValidCheckpoint(inRun: run).checkpoint?.hasSuffix("step-00000006") == true)
    try "{\"step\": 6".write(toFile: run + "/checkpoints/step-00000006/state.json", atomically: true, encoding: .utf8)
    let model = run + "/checkpoints/step-00000004/model.safetensors"
    let bytes = try Data(contentsOf: URL(fileURLWithPath: model))
    try bytes.prefix(bytes.count - 10).write(to: URL(fileURLWithPath: model))
    let found = Trainer.newestValidCheckpoint(inRun: run)
    #expect(found.checkpoint?.hasSuffix("step-00000002") == true)
    #expect(found.skipped.map { ($0.checkpoint as NSString).lastPathComponent } == ["step-00000006", "step-00000004"])
    #expect(found.skipped[0].reason.contains("state.json is not valid JSON"), "\(found.skipped)")
    #expect(found.skipped[1].reason.contains("model.safetensors"), "\(found.skipped)")
  }

  /// A state.json that is valid JSON but does not fit its checkpoint is damaged too.
  @Test func tamperedStateValuesAreFound() throws {
    let dir = try temporaryDirectory("tampered")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try checkpointedRun(dir)
    let checkpoint = dir + "/run/checkpoints/step-00000004"
    let state = checkpoint + "/state.json"
    let original = try Data(contentsOf: URL(fileURLWithPath: state))
    let cases: [(String, (inout [String: Any]) -> Void)] = [
      ("says step 5 but the folder is step-00000004", { $0["step"] = 5 }),
      ("outside the run's 0...6", { $0["step"] = -1 }),
      (
        "sampler position 7",
        { json in
          var sampler = json["sampler"] as? [String: Any] ?? [:]
          sampler["position"] = 7
          json["sampler"] = sampler
        }
      ),
      (
        "sampler seed 9",
        { json in
          var sampler = json["sampler"] as? [String: Any] ?? [:]
          sampler["seed"] = 9
          json["sampler"] = sampler
        }
      ),
      ("lacks \"generator\"", { $0["generator"] = nil }),
      ("invalid value at \"generator\"", { $0["generator"] = [0, 0, 0, 0] }),
      (
        "invalid settings",
        { json in
          var configuration = json["configuration"] as? [String: Any] ?? [:]
          configuration["batchSize"] = 0
          json["configuration"] = configuration
        }
      ),
    ]
    for (words, change) in cases {
      try original.write(to: URL(fileURLWithPath: state))
      try edit(state, change)
      #expect {
        _ = try Trainer.checkpointState(at: checkpoint)
      } throws: { error in
        "\(error)".contains("state.json") && "\(error)".contains(words) && !"\(error)".contains("\n")
      }
    }
    // The optimizer's step count must agree with the state's.
    try original.write(to: URL(fileURLWithPath: state))
    try FileManager.default.removeItem(atPath: checkpoint + "/optimizer.safetensors")
    try FileManager.default.copyItem(
      atPath: dir + "/run/checkpoints/step-00000002/optimizer.safetensors",
      toPath: checkpoint + "/optimizer.safetensors")
    #expect {
      _ = try Trainer.checkpointState(at: checkpoint)
    } throws: { error in
      "\(error)".contains("optimizer.safetensors") && "\(error)".contains("2 optimizer steps")
    }
  }

  @Test func resumeNamesEverySettingThatDiffers() throws {
    let dir = try temporaryDirectory("settings")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var (config, shards) = try checkpointedRun(dir)
    let checkpoint = try #require(Trainer.latestCheckpoint(inRun: dir + "/run"))
    config.learningRate = 3e-3
    config.minimumLearningRate = 1e-4
    config.steps = 8
    config.warmupSteps = 1
    let (changed, _) = try makeTrainer(config, shards: shards)
    #expect {
      try changed.resume(from: checkpoint)
    } throws: { error in
      let line = "\(error)"
      return [
        "steps (--steps) is 6 but this run's is 8", "learning rate (--lr) is 0.001 but this run's is 0.003",
        "warmup steps (--warmup) is 0 but this run's is 1",
      ].allSatisfy { line.contains($0) }
        && !line.contains("batch size") && !line.contains("\n")
    }
    // Other training data: same settings, other tokens.
    try FileManager.default.createDirectory(atPath: dir + "/other", withIntermediateDirectories: true)
    try TokenShard.write((0..<3000).map { $0 % 16 }, width: .uint16, to: dir + "/other/train.bin")
    let sameConfig = TrainingConfiguration(steps: 6, batchSize: 2, contextLength: 8, checkpointInterval: 2)
    let (otherData, _) = try makeTrainer(
      sameConfig, shards: (try TokenShard(path: dir + "/other/train.bin"), shards.1))
    #expect {
      try otherData.resume(from: checkpoint)
    } throws: { error in
      "\(error)".contains("training data (--data)") && "\(error)".contains("other/train.bin")
    }
    // The same tokens in another folder are the same data.
    try FileManager.default.copyItem(atPath: dir + "/train.bin", toPath: dir + "/other/moved.bin")
    let (moved, _) = try makeTrainer(sameConfig, shards: (try TokenShard(path: dir + "/other/moved.bin"), shards.1))
    try moved.resume(from: checkpoint)
    #expect(moved.step == 6)
  }

  @Test func modelDifferencesNameTheKeys() {
    let differences = Trainer.modelDifferences(
      #"{"architecture":"gpt","layers":4,"width":128}"#, #"{"architecture":"gpt","layers":2,"width":128}"#)
    #expect(differences == ["model layers is 4 but this run's is 2"])
    #expect(Trainer.modelDifferences("{}", "{}").isEmpty)
    #expect(Trainer.modelDifferences("x", "y") == ["model is x but this run's is y"])
  }
}
