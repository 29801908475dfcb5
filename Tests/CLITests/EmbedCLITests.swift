import Checkpoints
import Foundation
import TestSupport
import Testing

/// `frontier embed` run as a subprocess on the real all-MiniLM-L6-v2.
@Suite(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
struct EmbedCLITests {
  /// The MiniLM folder (config.json and model.safetensors; see ``SharedData/miniLMDirectory(containing:)``).
  static func modelFolder() -> String? { SharedData.miniLMDirectory() }

  /// Why a test needing ``modelFolder()`` is skipped.
  static let modelAbsent: Comment = "needs the MiniLM model folder (\(SharedData.miniLMHint))"

  struct Expected: Decodable {
    var sentences: [String]
  }

  struct Output: Decodable {
    var dimensions: Int
    var embeddings: [[Float]]
  }

  /// --json embeddings of the fixture sentences match the sentence-transformers goldens.
  @Test(
    .enabled(if: modelFolder() != nil, modelAbsent),
    .enabled(
      if: SharedData.hasReference("fixtures/minilm_l6_v2/expected.json")
        && SharedData.hasReference("fixtures/minilm_l6_v2/expected.safetensors"),
      "needs reference/fixtures/minilm_l6_v2/expected.json and expected.safetensors (\(SharedData.hint))"))
  func embeddingsMatchGoldens() throws {
    let folder = try #require(Self.modelFolder())
    let expectedJSON = try #require(SharedData.reference("fixtures/minilm_l6_v2/expected.json"))
    let expectedTensors = try #require(SharedData.reference("fixtures/minilm_l6_v2/expected.safetensors"))
    let sentences = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: expectedJSON)))
      .sentences
    let result = try CLIHarness.frontier(["embed", "--model", folder, "--json"] + sentences)
    #expect(result.status == 0, "stderr: \(result.stderr)")
    let output = try JSONDecoder().decode(Output.self, from: Data(result.stdout.utf8))
    let golden = try SafetensorsFile(path: expectedTensors)
    let expected = try golden.floats("embeddings")
    let width = expected.count / sentences.count
    #expect(output.dimensions == width)
    #expect(output.embeddings.count == sentences.count)
    var worst: Float = 0
    for (row, values) in output.embeddings.enumerated() {
      #expect(values.count == width)
      for (column, value) in values.enumerated() where column < width {
        let target = expected[row * width + column]
        worst = max(worst, abs(value - target) - 1e-4 * abs(target))
      }
    }
    #expect(worst <= 1e-5, "largest excess difference \(worst)")

    let plain = try CLIHarness.frontier(["embed", "--model", folder, sentences[0]])
    let firstRow = plain.stdout.split(separator: "\n").first.map { $0.split(separator: " ").compactMap { Float($0) } }
    // Alone, the sentence's few token rows take the small-row GEMV kernel; in the batch, BLAS: equal to rounding.
    let batched = output.embeddings.first ?? []
    #expect(firstRow?.count == batched.count)
    #expect(zip(firstRow ?? [], batched).allSatisfy { abs($0 - $1) <= 1e-6 })
  }

  /// A missing folder is a one-line error.
  @Test func missingFolderIsAnError() throws {
    let missing = try CLIHarness.frontier(["embed", "--model", "/nonexistent/minilm", "hello"])
    #expect(missing.status == 1 && missing.stderr.split(separator: "\n").count == 1)
  }

  /// A decoder is a one-line error naming BERT.
  @Test(
    .enabled(
      if: SharedData.has(data: "llama2c/stories260K.bin"), "needs data/llama2c/stories260K.bin (\(SharedData.hint))"))
  func decoderIsAnError() throws {
    let llama = try #require(SharedData.data("llama2c/stories260K.bin"))
    let decoder = try CLIHarness.frontier(["embed", "--model", llama, "hello"])
    #expect(decoder.status == 1 && decoder.stderr.contains("BERT"))
  }

  /// No texts is a usage error.
  @Test(.enabled(if: modelFolder() != nil, modelAbsent))
  func noTextsIsAUsageError() throws {
    let folder = try #require(Self.modelFolder())
    let none = try CLIHarness.frontier(["embed", "--model", folder, "--json"])
    #expect(none.status == 2 && none.stderr.split(separator: "\n").count == 1)
  }
}
