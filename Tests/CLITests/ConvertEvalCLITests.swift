import Foundation
import TestSupport
import Testing

/// `frontier convert`, `frontier eval`, `--weights` and `--prompts-file` run as subprocesses on stories260K.
@Suite struct ConvertEvalCLITests {
  static let setup = GenerateCLITests.setup()

  /// Greedy ids of 40 tokens after "Once upon a time" from `model`.
  static func greedyIDs(_ model: String, _ extra: [String] = []) throws -> String {
    let (_, _, tokenizer) = try #require(setup)
    let result = try CLIHarness.frontier(
      [
        "generate", "--model", model, "--tokenizer", tokenizer, "--prompt", "Once upon a time", "--temperature", "0",
        "--max-tokens", "40", "--print-ids",
      ] + extra)
    #expect(result.status == 0, "stderr: \(result.stderr)")
    return result.stdout
  }

  @Test(.enabled(if: setup != nil, "needs llama2c/stories260K.bin and the frontier binary"))
  func convertedCheckpointsGiveTheSourcesGreedyOutput() throws {
    let (_, model, _) = try #require(Self.setup)
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let source = try Self.greedyIDs(model)
    #expect(source.split(separator: ",").count == 40)
    let hf = folder.appendingPathComponent("hf").path
    let back = folder.appendingPathComponent("back.bin").path
    let q8 = folder.appendingPathComponent("q8.bin").path
    let bf16 = folder.appendingPathComponent("bf16").path
    for (from, to, dtype) in [(model, hf, "f32"), (hf, back, "f32"), (model, q8, "q8_0"), (hf, bf16, "bf16")] {
      let result = try CLIHarness.frontier(["convert", "--from", from, "--to", to, "--dtype", dtype])
      #expect(result.status == 0, "convert \(from) -> \(to): \(result.stderr)")
    }
    #expect(try Self.greedyIDs(hf) == source, "HF folder")
    #expect(try Self.greedyIDs(back) == source, "llama2.c .bin written back")
    // Writing llama2.c again from its own output changes nothing, byte for byte.
    let again = folder.appendingPathComponent("again.bin").path
    #expect(try CLIHarness.frontier(["convert", "--from", back, "--to", again]).status == 0)
    #expect(try Data(contentsOf: URL(fileURLWithPath: back)) == Data(contentsOf: URL(fileURLWithPath: again)))
    // Lossy types still load and decode (their greedy output may differ).
    #expect(try Self.greedyIDs(q8).split(separator: ",").count == 40)
    #expect(try Self.greedyIDs(bf16).split(separator: ",").count == 40)
    #expect(try Self.greedyIDs(bf16, ["--weights", "bf16"]).split(separator: ",").count == 40)
  }

  @Test(.enabled(if: setup != nil, "needs llama2c/stories260K.bin and the frontier binary"))
  func badConversionsAndWeightTypesAreOneClearError() throws {
    let (_, model, tokenizer) = try #require(Self.setup)
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let copy = folder.appendingPathComponent("model.bin").path
    try FileManager.default.copyItem(atPath: model, toPath: copy)
    let before = try Data(contentsOf: URL(fileURLWithPath: copy))
    let cases: [([String], Int32, String)] = [
      (["convert", "--from", copy, "--to", copy], 1, "would overwrite"),
      (["convert", "--from", copy, "--to", folder.appendingPathComponent("x").path, "--dtype", "q8_0"], 2, "q8_0"),
      (["convert", "--from", copy, "--to", folder.appendingPathComponent("x.bin").path, "--dtype", "bf16"], 2, "bf16"),
      (
        ["convert", "--from", copy, "--to", folder.appendingPathComponent("x.bin").path, "--dtype", "f8"], 2, "--dtype"
      ),
      // stories260K's MLP is 172 wide: no block of 32 divides it.
      (["generate", "--model", copy, "--tokenizer", tokenizer, "--prompt", "a", "--weights", "q8_0"], 1, "q8_0"),
      (["generate", "--model", copy, "--tokenizer", tokenizer, "--prompt", "a", "--weights", "int4"], 2, "--weights"),
      (["generate", "--model", copy, "--tokenizer", tokenizer, "--prompt", "a", "--batch", "4"], 2, "--prompts-file"),
    ]
    for (arguments, status, mention) in cases {
      let result = try CLIHarness.frontier(arguments)
      #expect(result.status == status, "\(arguments): \(result.stderr)")
      #expect(result.stderr.contains(mention), "\(arguments): \(result.stderr)")
      #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
    }
    let empty = folder.appendingPathComponent("empty.txt").path
    try "\n\n".write(toFile: empty, atomically: true, encoding: .utf8)
    let batch = try CLIHarness.frontier([
      "generate", "--model", copy, "--tokenizer", tokenizer, "--prompts-file", empty,
    ])
    #expect(batch.status == 1 && batch.stderr.contains("holds no prompts"), "\(batch.stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == before, "the source was changed")
    #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["empty.txt", "model.bin"])
  }

  @Test(.enabled(if: setup != nil, "needs llama2c/stories260K.bin and the frontier binary"))
  func promptsFileGivesOneJSONLinePerPromptEqualToSingleRuns() throws {
    let (_, model, tokenizer) = try #require(Self.setup)
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let prompts = folder.appendingPathComponent("prompts.jsonl").path
    let texts = ["Once upon a time", "Lily", "The dog ran", "Tom had a big"]
    try (texts.map { "{\"prompt\": \"\($0)\"}" }.joined(separator: "\r\n") + "\n").write(
      toFile: prompts, atomically: true, encoding: .utf8)
    let result = try CLIHarness.frontier([
      "generate", "--model", model, "--tokenizer", tokenizer, "--prompts-file", prompts, "--batch", "3",
      "--temperature", "0", "--max-tokens", "24",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n")
    #expect(lines.count == texts.count)
    for (i, line) in lines.enumerated() {
      let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      #expect(object["index"] as? Int == i && object["prompt"] as? String == texts[i])
      let ids = (object["tokens"] as? [Int] ?? []).map(String.init).joined(separator: ",")
      let single = try CLIHarness.frontier([
        "generate", "--model", model, "--tokenizer", tokenizer, "--prompt", texts[i], "--temperature", "0",
        "--max-tokens", "24", "--print-ids",
      ])
      #expect(ids + "\n" == single.stdout, "prompt \(texts[i])")
    }
  }

  @Test(
    .enabled(
      if: setup != nil && SharedData.data("tinystories/tinystories_val_prefix.yuninxia.txt") != nil,
      "needs stories260K and TinyStories"))
  func evalReportsPerplexityAsALineAndJSON() throws {
    let (_, model, tokenizer) = try #require(Self.setup)
    let text = try #require(SharedData.data("tinystories/tinystories_val_prefix.yuninxia.txt"))
    let base = [
      "eval", "--model", model, "--tokenizer", tokenizer, "--data", text, "--context", "128", "--max-tokens", "4096",
    ]
    let line = try CLIHarness.frontier(base)
    #expect(line.status == 0, "\(line.stderr)")
    #expect(line.stdout.hasPrefix("frontier eval: perplexity "))
    let json = try CLIHarness.frontier(base + ["--json", "--stride", "32"])
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
    let perplexity = try #require(object["perplexity"] as? Double)
    let bits = try #require(object["bits_per_byte"] as? Double)
    // stories260K is a real TinyStories model: far better than uniform over 512 tokens, worse than perfect.
    #expect(perplexity > 1.5 && perplexity < 60, "perplexity \(perplexity)")
    #expect(bits > 0.3 && bits < 4, "bits per byte \(bits)")
    #expect(object["tokens_scored"] as? Int == ((4096 - 128) / 32 + 1) * 32)
    let bf16 = try CLIHarness.frontier(base + ["--json", "--stride", "32", "--weights", "bf16"])
    let other = try #require(try JSONSerialization.jsonObject(with: Data(bf16.stdout.utf8)) as? [String: Any])
    let lossy = try #require(other["perplexity"] as? Double)
    #expect(abs(lossy / perplexity - 1) < 0.01, "bf16 \(lossy) vs f32 \(perplexity)")
  }
}
