import Foundation
import Models
import NN
import TensorCore
import Testing

/// Sizes from files and the command line are checked against physical memory before anything is allocated:
/// one line naming the key or option, the size and the limit (these sizes crashed the process before).
@Suite(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
struct SizeLimitCLITests {
  /// A tiny Llama saved in HF layout in `folder`.
  static func savedModel(in folder: URL) throws -> String {
    var rng = RandomGenerator(seed: 4)
    let config = LlamaConfiguration(
      vocabularySize: 64, hiddenSize: 16, intermediateSize: 32, layers: 1, heads: 2, contextLength: 32,
      tiedEmbeddings: true)
    let path = folder.appendingPathComponent("model").path
    try Llama(config, generator: &rng).save(to: path)
    return path
  }

  @Test func generateRefusesAConfigAndATokenLimitBeyondMemory() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let model = try Self.savedModel(in: folder)
    let base = ["generate", "--model", model, "--prompt-ids", "1,2", "--temperature", "0", "--print-ids"]
    let fine = try CLIHarness.frontier(base + ["--max-tokens", "3"])
    #expect(fine.status == 0, "\(fine.stderr)")
    let limit = try CLIHarness.frontier(base + ["--max-tokens", String(Int.max)])
    CLIHarness.expectOneLine(
      limit, status: 2, mentioning: ["--max-tokens \(Int.max)", "of physical memory"], "max-tokens")

    let url = URL(fileURLWithPath: model + "/config.json")
    var json = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any] ?? [:]
    json["vocab_size"] = 10_000_000_000
    try JSONSerialization.data(withJSONObject: json).write(to: url)
    let huge = try CLIHarness.frontier(base + ["--max-tokens", "3"])
    CLIHarness.expectOneLine(
      huge, status: 1, mentioning: ["config.json", "vocab_size 10000000000", "hidden_size 16", "of physical memory"],
      "vocab_size")
  }

  @Test func trainRefusesSizesBeyondMemory() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try TrainCLITests.prepareByteShards(
      in: folder, lines: (0..<100).map { "Row \($0): a fox ran past stone \($0 * 3 % 11)." })
    let common = ["train", "--data", data, "--context", "16", "--steps", "1", "--eval-every", "0"]
    let cases: [([String], [String])] = [
      (["--vocab", "100000000000", "--layers", "1", "--heads", "2", "--width", "16"], ["--vocab 100000000000"]),
      (
        ["--layers", "1000000", "--heads", "4", "--width", "4096"], ["the blocks", "--layers 1000000", "--width 4096"]
      ),
      (["--model", "llama", "--layers", "1", "--heads", "2", "--width", "1048576"], ["--width 1048576"]),
      (["--layers", "1", "--heads", "2", "--width", "16", "--batch", "100000000"], ["--batch 100000000", "logits"]),
    ]
    for (index, (arguments, words)) in cases.enumerated() {
      let out = folder.appendingPathComponent("run-\(index)").path
      let result = try CLIHarness.frontier(common + arguments + ["--out", out])
      CLIHarness.expectOneLine(result, status: 2, mentioning: words + ["of physical memory"], "\(arguments)")
      #expect(!FileManager.default.fileExists(atPath: out))
    }
  }
}
