import Foundation
import Models
import NN
import TensorCore
import TestSupport
import Testing

/// `frontier inheritune` and `frontier reproduce` run as subprocesses.
@Suite(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
struct InheritCLITests {
  static let ids = Tensor(indices: [3, 1, 4, 1, 5, 9, 2, 6], shape: [1, 8])

  /// A tiny GPT-2 parent with 1/(ℓ + 1) scaling saved in HF layout.
  static func saveParent(in folder: URL) throws -> (GPT2, String) {
    var generator = RandomGenerator(seed: 3)
    let config = GPT2Configuration(
      vocabularySize: 260, contextLength: 32, width: 16, layers: 4, heads: 2, scaleAttentionByInverseLayerIndex: true)
    let model = try GPT2(config, generator: &generator)
    let path = folder.appendingPathComponent("parent").path
    try model.save(to: path)
    return (model, path)
  }

  @Test func everyTensorOfEveryBlockReproducesTheParent() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let (parent, path) = try Self.saveParent(in: folder)
    let out = folder.appendingPathComponent("all").path
    let result = try CLIHarness.frontier([
      "inheritune", "--parent", path, "--layers", "4", "--inherit", "all", "--out", out,
    ])
    #expect(result.status == 0, "stderr: \(result.stderr)")
    #expect(try GPT2(contentsOf: out)(Self.ids).floats == parent(Self.ids).floats)
    // The default: half the blocks, 1/(ℓ + 1) scales of blocks 0 and 1, fresh wpe and ln_f.
    let half = folder.appendingPathComponent("half").path
    let last = try CLIHarness.frontier(["inheritune", "--parent", path, "--blocks", "last", "--out", half])
    #expect(last.status == 0, "stderr: \(last.stderr)")
    let student = try GPT2(contentsOf: half)
    #expect(student.blocks.map(\.attention.layerIndex) == [2, 3])
    #expect(student.tokenEmbedding.weight.floats == parent.tokenEmbedding.weight.floats)
    #expect(student.positionEmbedding.weight.floats != parent.positionEmbedding.weight.floats)
  }

  @Test func studentTrainsOnPreparedData() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let (_, path) = try Self.saveParent(in: folder)
    let text = (0..<200).map { "Line \($0): the cat sat on mat number \($0 * 7 % 13).\n\n" }.joined()
    let input = folder.appendingPathComponent("tiny.txt")
    try text.write(to: input, atomically: true, encoding: .utf8)
    let data = folder.appendingPathComponent("data").path
    let prepared = try CLIHarness.frontier(["prepare", "--input", input.path, "--out", data, "--val-fraction", "0.1"])
    #expect(prepared.status == 0, "stderr: \(prepared.stderr)")
    let out = folder.appendingPathComponent("student").path
    let trained = try CLIHarness.frontier([
      "inheritune", "--parent", path, "--data", data, "--steps", "3", "--context", "16", "--batch", "2", "--out", out,
      "--grow",
    ])
    #expect(trained.status == 0, "stderr: \(trained.stderr)")
    // Round 1 has 2 blocks; a second round (4 blocks) would run only if round 1 missed the parent's loss. The
    // parent is untrained (validation loss ln 256 ≈ 5.545, uniform over the bytes) and three steps take the
    // 2-block student well below it (about 5.47), so the loop stops after exactly one round.
    #expect(trained.stdout.contains("grow loop tried 2 blocks; met the parent's loss"), "stdout: \(trained.stdout)")
    #expect(FileManager.default.fileExists(atPath: out + "/run-1/metrics.jsonl"))
    #expect(!FileManager.default.fileExists(atPath: out + "/run-2"))
    #expect(try GPT2(contentsOf: out).blocks.count == 2)
  }

  @Test func mistakesAreOneLineErrors() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let (_, path) = try Self.saveParent(in: folder)
    let out = folder.appendingPathComponent("x").path
    for arguments in [
      ["inheritune", "--parent", path, "--inherit", "blocks,wpe", "--out", out],
      ["inheritune", "--parent", path, "--inherit", "blocks,head", "--out", out],
      ["inheritune", "--parent", path, "--layers", "9", "--out", out],
      ["inheritune", "--parent", path, "--steps", "5", "--out", out],
      ["reproduce", "no-such-system"],
    ] {
      let result = try CLIHarness.frontier(arguments)
      #expect(result.status != 0)
      #expect(result.stderr.split(separator: "\n").count == 1, "stderr: \(result.stderr)")
    }
  }
}
