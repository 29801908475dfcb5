import Foundation
import Testing

/// One writer per `frontier train --out` folder: a lock, no silent rerun over a run, resume that checks the
/// settings and passes over damaged checkpoints, and no orphaned temporary checkpoints.
@Suite(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
struct RunFolderCLITests {
  static func data(in folder: URL, _ word: String = "fox") throws -> String {
    try TrainCLITests.prepareByteShards(
      in: folder, lines: (0..<100).map { "Row \($0): a \(word) ran past stone \($0 * 3 % 11)." })
  }

  static func train(_ data: String, _ out: String, steps: Int = 6, _ extra: [String] = []) -> [String] {
    [
      "train", "--data", data, "--layers", "1", "--heads", "2", "--width", "16", "--context", "16", "--batch", "2",
      "--eval-every", "0", "--checkpoint-every", "2", "--log-every", "100", "--steps", String(steps), "--out", out,
    ] + extra
  }

  /// The train records of a run's metrics.jsonl, by step.
  static func trainSteps(_ out: String) throws -> [Int] {
    try TrainCLITests.trainLosses(URL(fileURLWithPath: out)).keys.sorted()
  }

  static func lineCount(_ path: String) throws -> Int {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count
  }

  @Test func aSecondTrainIntoARunningFolderIsRefused() throws {
    let binary = try #require(CLIHarness.binary)
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try Self.data(in: folder)
    let out = folder.appendingPathComponent("run").path
    let first = Process()
    first.executableURL = URL(fileURLWithPath: binary)
    first.arguments = Self.train(data, out, steps: 1_000_000, ["--checkpoint-every", "0"])
    first.standardOutput = FileHandle.nullDevice
    first.standardError = FileHandle.nullDevice
    try first.run()
    // SIGKILL: a child of the test runner inherits its blocked signals, SIGTERM among them.
    func stop() {
      if first.isRunning { kill(first.processIdentifier, SIGKILL) }
      first.waitUntilExit()
    }
    defer { stop() }
    let deadline = Date().addingTimeInterval(60)
    while !FileManager.default.fileExists(atPath: out + "/metrics.jsonl") && Date() < deadline && first.isRunning {
      Thread.sleep(forTimeInterval: 0.05)
    }
    #expect(first.isRunning && FileManager.default.fileExists(atPath: out + "/train.lock"))
    let second = try CLIHarness.frontier(Self.train(data, out, steps: 2))
    CLIHarness.expectOneLine(
      second, status: 1, mentioning: ["another frontier train (pid \(first.processIdentifier))", "another --out"],
      "second writer")
    stop()
    // The killed run left its lock file, but the system dropped the lock with the process.
    let third = try CLIHarness.frontier(Self.train(data, out, steps: 2))
    #expect(third.status == 0, "\(third.stderr)")
    #expect(try Self.trainSteps(out) == [1, 2])
  }

  @Test func aRerunIsRefusedUnlessOverwriteOrResume() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try Self.data(in: folder)
    let out = folder.appendingPathComponent("run").path
    let first = try CLIHarness.frontier(Self.train(data, out))
    #expect(first.status == 0, "\(first.stderr)")
    let rerun = try CLIHarness.frontier(Self.train(data, out))
    CLIHarness.expectOneLine(
      rerun, status: 1,
      mentioning: ["already holds a run (3 checkpoints up to step-00000006)", "--resume", "--overwrite"],
      "rerun")
    #expect(try Self.lineCount(out + "/metrics.jsonl") == 6, "the refused rerun wrote metrics")
    let both = try CLIHarness.frontier(Self.train(data, out, ["--resume", "--overwrite"]))
    CLIHarness.expectOneLine(both, status: 2, mentioning: ["--resume", "--overwrite"], "both")
    let over = try CLIHarness.frontier(Self.train(data, out, steps: 4, ["--overwrite"]))
    #expect(over.status == 0, "\(over.stderr)")
    #expect(over.stdout.contains("removed the earlier checkpoints, metrics.jsonl"), "\(over.stdout)")
    #expect(try Self.trainSteps(out) == [1, 2, 3, 4])
    #expect(try Self.lineCount(out + "/metrics.jsonl") == 4)
    let names = try FileManager.default.contentsOfDirectory(atPath: out + "/checkpoints").sorted()
    #expect(names == ["step-00000002", "step-00000004"])
  }

  /// An absent or empty folder, or one holding only a stamp or the metrics of a run stopped before its first
  /// checkpoint, is not a run: a first run starts there without --overwrite.
  @Test func aFolderWithoutARunTakesAFirstRun() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try Self.data(in: folder)
    let stamped = folder.appendingPathComponent("stamped").path
    try FileManager.default.createDirectory(atPath: stamped, withIntermediateDirectories: true)
    try "{\"recipe\": 1}\n".write(toFile: stamped + "/stamp.json", atomically: true, encoding: .utf8)
    let run = try CLIHarness.frontier(Self.train(data, stamped, steps: 2))
    #expect(run.status == 0, "\(run.stderr)")
    #expect(try String(contentsOfFile: stamped + "/stamp.json", encoding: .utf8) == "{\"recipe\": 1}\n")
    #expect(!FileManager.default.fileExists(atPath: stamped + "/train.lock"), "the lock file outlived the run")

    let empty = folder.appendingPathComponent("empty").path
    try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
    #expect(try CLIHarness.frontier(Self.train(data, empty, steps: 2)).status == 0)

    let stopped = folder.appendingPathComponent("stopped").path
    try FileManager.default.createDirectory(atPath: stopped, withIntermediateDirectories: true)
    let leftover = (1...3).map { "{\"loss\":9,\"split\":\"train\",\"step\":\($0)}\n" }.joined()
    try leftover.write(toFile: stopped + "/metrics.jsonl", atomically: true, encoding: .utf8)
    let restart = try CLIHarness.frontier(Self.train(data, stopped, steps: 2))
    #expect(restart.status == 0, "\(restart.stderr)")
    #expect(try Self.lineCount(stopped + "/metrics.jsonl") == 2, "the stopped run's metrics were kept")
    #expect(try TrainCLITests.trainLosses(URL(fileURLWithPath: stopped)).values.allSatisfy { $0 < 9 })
  }

  @Test func resumeNamesChangedSettingsAndData() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try Self.data(in: folder)
    let out = folder.appendingPathComponent("run").path
    #expect(try CLIHarness.frontier(Self.train(data, out)).status == 0)
    let changed = try CLIHarness.frontier(Self.train(data, out, steps: 8, ["--resume", "--lr", "0.002"]))
    CLIHarness.expectOneLine(
      changed, status: 1,
      mentioning: [
        "steps (--steps) is 6 but this run's is 8", "learning rate (--lr) is 0.001 but this run's is 0.002",
        "state.json",
      ], "changed settings")
    let otherFolder = folder.appendingPathComponent("other")
    try FileManager.default.createDirectory(at: otherFolder, withIntermediateDirectories: true)
    let other = try Self.data(in: otherFolder, "hen")
    let moved = try CLIHarness.frontier(Self.train(other, out, ["--resume"]))
    CLIHarness.expectOneLine(moved, status: 1, mentioning: ["training data (--data)", "other/data"], "other data")
    let same = try CLIHarness.frontier(Self.train(data, out, ["--resume"]))
    #expect(same.status == 0 && same.stdout.contains("resumed from"), "\(same.stderr)")
  }

  @Test func resumePassesOverDamagedCheckpointsAndTakesAPath() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try Self.data(in: folder)
    let out = folder.appendingPathComponent("run").path
    #expect(try CLIHarness.frontier(Self.train(data, out)).status == 0)
    let checkpoints = out + "/checkpoints"
    try "{\"step\": ".write(toFile: checkpoints + "/step-00000006/state.json", atomically: true, encoding: .utf8)
    let orphan = checkpoints + "/.step-00000008.tmp-424242"
    try FileManager.default.createDirectory(atPath: orphan, withIntermediateDirectories: true)
    try "x".write(toFile: orphan + "/model.safetensors", atomically: true, encoding: .utf8)
    let resumed = try CLIHarness.frontier(Self.train(data, out, ["--resume"]))
    #expect(resumed.status == 0, "\(resumed.stderr)")
    #expect(resumed.stdout.contains("resumed from \(checkpoints)/step-00000004 at step 4"), "\(resumed.stdout)")
    #expect(
      resumed.stdout.contains("skipped damaged step-00000006: state.json is not valid JSON"), "\(resumed.stdout)")
    #expect(resumed.stdout.contains("removed 1 orphaned temporary checkpoint folder"), "\(resumed.stdout)")
    #expect(!FileManager.default.fileExists(atPath: orphan))
    #expect(try Self.trainSteps(out) == Array(1...6))

    let explicit = try CLIHarness.frontier(Self.train(data, out, ["--resume", checkpoints + "/step-00000002"]))
    #expect(explicit.status == 0, "\(explicit.stderr)")
    #expect(explicit.stdout.contains("resumed from \(checkpoints)/step-00000002 at step 2"), "\(explicit.stdout)")

    // A state.json that is valid JSON but does not fit its checkpoint is named when asked for by path.
    let state = checkpoints + "/step-00000004/state.json"
    let text = try String(contentsOfFile: state, encoding: .utf8)
    try text.replacingOccurrences(of: "\"step\" : 4", with: "\"step\" : 3").write(
      toFile: state, atomically: true, encoding: .utf8)
    let tampered = try CLIHarness.frontier(Self.train(data, out, ["--resume", checkpoints + "/step-00000004"]))
    CLIHarness.expectOneLine(
      tampered, status: 1, mentioning: ["step-00000004/state.json", "says step 3 but the folder is step-00000004"],
      "tampered state")
  }
}
