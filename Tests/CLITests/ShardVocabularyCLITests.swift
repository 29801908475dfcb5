import Foundation
import Testing

/// Token shards are checked against the model's vocabulary when training or evaluation opens them: an id
/// the model cannot look up is one line naming the file, the id and the vocabulary, before any step.
@Suite(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
struct ShardVocabularyCLITests {
  /// Writes `tokens` as a uint16 token shard (the format of Data.TokenShard: a 32-byte header, then the ids).
  static func writeShard(_ tokens: [UInt16], to path: String) throws {
    var bytes = Array("FRTS".utf8)
    func append<T: FixedWidthInteger>(_ value: T) {
      withUnsafeBytes(of: value.littleEndian) { bytes += $0 }
    }
    append(UInt32(1))
    append(UInt32(2))
    append(UInt32(0))
    append(UInt64(tokens.count))
    append(UInt64(0))
    for token in tokens { append(token) }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  }

  @Test func trainingRefusesAnIDBeyondTheVocabulary() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try TrainCLITests.prepareByteShards(
      in: folder, lines: (0..<100).map { "Row \($0): a fox ran past stone \($0 * 3 % 11)." })
    var tokens = (0..<3000).map { UInt16($0 % 200) }
    tokens[1500] = 300
    try Self.writeShard(tokens, to: data + "/train.bin")
    let out = folder.appendingPathComponent("run").path
    let result = try CLIHarness.frontier([
      "train", "--data", data, "--layers", "1", "--heads", "2", "--width", "16", "--context", "16", "--batch", "8",
      "--steps", "50", "--eval-every", "0", "--out", out,
    ])
    #expect(result.status == 1, "\(result.stderr)")
    #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
    for word in ["train.bin", "token 1500 is id 300", "vocabulary of 257"] {
      #expect(result.stderr.contains(word), "\(result.stderr)")
    }
    #expect(!FileManager.default.fileExists(atPath: out + "/metrics.jsonl"), "training started")
  }

  @Test(.enabled(if: GenerateCLITests.setup() != nil, "needs llama2c/stories260K.bin and the frontier binary"))
  func evaluationRefusesAnIDBeyondTheVocabulary() throws {
    let (_, model, _) = try #require(GenerateCLITests.setup())
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    var tokens = (0..<2000).map { UInt16(1 + $0 % 400) }
    tokens[1234] = 600
    try Self.writeShard(tokens, to: folder.appendingPathComponent("val.bin").path)
    let result = try CLIHarness.frontier(["eval", "--model", model, "--data", folder.path, "--context", "64"])
    #expect(result.status == 1, "\(result.stderr)")
    #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
    for word in ["val.bin", "token 1234 is id 600", "vocabulary of 512"] {
      #expect(result.stderr.contains(word), "\(result.stderr)")
    }
    // Reading fewer tokens than the bad one leaves nothing to refuse.
    let prefix = try CLIHarness.frontier([
      "eval", "--model", model, "--data", folder.path, "--context", "64", "--max-tokens", "1000",
    ])
    #expect(prefix.status == 0, "\(prefix.stderr)")
  }
}
