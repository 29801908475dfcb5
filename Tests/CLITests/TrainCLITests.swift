import Checkpoints
import Foundation
import Testing

/// `frontier prepare` + `frontier train`: one process with batch 4 against two MPI ranks with batch 2 each.
@Suite(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
struct TrainCLITests {
  struct Record: Decodable {
    var step: Int
    var split: String
    var loss: Float
  }

  static func trainLosses(_ run: URL) throws -> [Int: Float] {
    let text = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
    var losses: [Int: Float] = [:]
    for line in text.split(separator: "\n") {
      let record = try JSONDecoder().decode(Record.self, from: Data(line.utf8))
      if record.split == "train" { losses[record.step] = record.loss }
    }
    return losses
  }

  /// Writes `lines` to a text file in `folder` and prepares byte-level shards from it; returns the data folder.
  static func prepareByteShards(in folder: URL, lines: [String]) throws -> String {
    let input = folder.appendingPathComponent("tiny.txt")
    try lines.map { $0 + "\n" }.joined().write(to: input, atomically: true, encoding: .utf8)
    let data = folder.appendingPathComponent("data").path
    let prepared = try CLIHarness.frontier([
      "prepare", "--input", input.path, "--out", data, "--tokenizer", "bytes", "--val-fraction", "0",
    ])
    #expect(prepared.status == 0, "stderr: \(prepared.stderr)")
    return data
  }

  @Test(.enabled(if: CLIHarness.mpirun != nil, "needs mpirun on the PATH (apt-get install openmpi-bin)"))
  func twoRanksMatchOneProcessWithTheGlobalBatch() throws {
    let binary = try #require(CLIHarness.binary)
    let mpirun = try #require(CLIHarness.mpirun)
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try Self.prepareByteShards(
      in: folder, lines: (0..<300).map { "Line \($0): the cat sat on mat number \($0 * 7 % 13), then it slept." })
    let steps = 4
    let common = [
      "train", "--data", data, "--layers", "1", "--heads", "2", "--width", "32", "--context", "32",
      "--steps", String(steps), "--lr", "3e-3", "--seed", "11", "--eval-every", "0", "--checkpoint-every", "0",
      "--log-every", "1",
    ]
    let single = folder.appendingPathComponent("single")
    let one = try CLIHarness.frontier(common + ["--batch", "4", "--out", single.path])
    #expect(one.status == 0, "stderr: \(one.stderr)")
    let double = folder.appendingPathComponent("mpi")
    let two = try CLIHarness.run(
      mpirun,
      ["--allow-run-as-root", "--oversubscribe", "-np", "2", binary] + common + ["--batch", "2", "--out", double.path],
      environment: ["OMPI_MCA_rmaps_base_oversubscribe": "1"])
    #expect(two.status == 0, "stderr: \(two.stderr)")
    #expect(two.stdout.contains("2 rank(s)"), "stdout: \(two.stdout)")
    #expect(!two.stderr.contains("finaliz"), "stderr: \(two.stderr)")

    let expected = try Self.trainLosses(single)
    let actual = try Self.trainLosses(double)
    #expect(expected.count == steps && actual.count == steps)
    for step in 1...steps {
      let a = try #require(expected[step])
      let b = try #require(actual[step])
      #expect(abs(a - b) <= 1e-4 * abs(a), "step \(step): \(a) vs \(b)")
    }
    // Learning happened, so the comparison is not between two untouched models.
    #expect((expected[steps] ?? 0) < (expected[1] ?? 0))
  }
}

/// `frontier train --init … --lora-rank`: only the adapted layers change, and the export is a plain model.
@Suite(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
struct LoRATrainCLITests {
  @Test func loraFineTuneChangesOnlyTheTargetLayers() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try TrainCLITests.prepareByteShards(
      in: folder, lines: (0..<200).map { "Row \($0): a dog ran to tree \($0 * 5 % 11) and barked." })
    let common = [
      "train", "--data", data, "--context", "32", "--batch", "4", "--eval-every", "0", "--checkpoint-every", "0",
      "--log-every", "1", "--seed", "3",
    ]
    let base = folder.appendingPathComponent("base").path
    let pretrain = try CLIHarness.frontier(
      common + ["--model", "llama", "--layers", "1", "--heads", "2", "--width", "32", "--steps", "3", "--out", base])
    #expect(pretrain.status == 0, "stderr: \(pretrain.stderr)")
    let tuned = folder.appendingPathComponent("lora").path
    let lora = try CLIHarness.frontier(
      common + [
        "--init", base + "/model", "--lora-rank", "2", "--lora-targets", "q_proj,v_proj", "--steps", "6", "--lr",
        "3e-2", "--out", tuned,
      ])
    #expect(lora.status == 0, "stderr: \(lora.stderr)")
    let losses = try TrainCLITests.trainLosses(URL(fileURLWithPath: tuned))
    #expect((losses[6] ?? .infinity) < (losses[1] ?? 0), "\(losses)")

    let before = try SafetensorsFile(path: base + "/model/model.safetensors")
    let after = try SafetensorsFile(path: tuned + "/model/model.safetensors")
    #expect(before.entries.map(\.name).sorted() == after.entries.map(\.name).sorted())
    for entry in before.entries {
      let changed = try before.floats(entry.name) != after.floats(entry.name)
      let target = entry.name.contains("q_proj") || entry.name.contains("v_proj")
      #expect(changed == target, "\(entry.name): changed \(changed)")
    }

    let wrong = try CLIHarness.frontier(
      common + ["--init", base + "/model", "--lora-rank", "2", "--lora-targets", "c_attn", "--out", tuned + "2"])
    #expect(wrong.status != 0 && wrong.stderr.contains("q_proj"), "stderr: \(wrong.stderr)")
  }
}

/// `frontier train --init … --rope-base`: a Llama retrained with a new RoPE base at a longer context.
@Suite(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
struct RopeBaseTrainCLITests {
  @Test func ropeBaseRetrainsBeyondTheCheckpointsContext() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try TrainCLITests.prepareByteShards(
      in: folder, lines: (0..<200).map { "Row \($0): a bird sang on branch \($0 * 3 % 7) at dawn." })
    let common = [
      "train", "--data", data, "--batch", "2", "--eval-every", "0", "--checkpoint-every", "0", "--log-every", "1",
      "--seed", "5", "--steps", "2",
    ]
    let base = folder.appendingPathComponent("base").path
    let pretrain = try CLIHarness.frontier(
      common + ["--model", "llama", "--layers", "1", "--heads", "2", "--width", "32", "--context", "16", "--out", base])
    #expect(pretrain.status == 0, "stderr: \(pretrain.stderr)")
    let refused = try CLIHarness.frontier(
      common + ["--init", base + "/model", "--context", "48", "--out", base + "-refused"])
    #expect(refused.status != 0 && refused.stderr.contains("--rope-base"), "stderr: \(refused.stderr)")
    let long = folder.appendingPathComponent("long").path
    let retrained = try CLIHarness.frontier(
      common + ["--init", base + "/model", "--rope-base", "50000", "--context", "48", "--out", long])
    #expect(retrained.status == 0, "stderr: \(retrained.stderr)")
    let config =
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: long + "/model/config.json"))) as? [String: Any]
    #expect((config?["rope_theta"] as? NSNumber)?.doubleValue == 50000, "\(String(describing: config))")
    #expect((config?["max_position_embeddings"] as? NSNumber)?.intValue == 48, "\(String(describing: config))")
  }
}
