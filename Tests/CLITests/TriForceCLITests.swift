import Foundation
import TestSupport
import Testing

/// `frontier triforce` run as a subprocess on llama2.c's stories260K (target and draft alike).
@Suite(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
struct TriForceCLITests {
  static func setup() -> (model: String, tokenizer: String)? {
    guard CLIHarness.binary != nil, let model = SharedData.data("llama2c/stories260K.bin"),
      let tokenizer = SharedData.data("llama2c/tok512.bin")
    else { return nil }
    return (model, tokenizer)
  }

  /// Why a test needing ``setup()`` is skipped.
  static let setupAbsent: Comment = "needs data/llama2c/stories260K.bin and tok512.bin (\(SharedData.hint))"

  static let story = String(
    repeating: "Lily went to the park with her mom. She saw a big red ball and a little dog. The dog was happy. ",
    count: 8)

  /// Greedy TriForce prints what greedy `frontier generate` prints, with a retrieval budget far below the prompt.
  @Test(.enabled(if: setup() != nil, setupAbsent))
  func greedyTriForceMatchesGreedyGenerate() throws {
    let (model, tokenizer) = try #require(Self.setup())
    let common = ["--tokenizer", tokenizer, "--prompt", Self.story, "--temperature", "0", "--max-tokens", "40"]
    let plain = try CLIHarness.frontier(["generate", "--model", model] + common)
    #expect(plain.status == 0, "stderr: \(plain.stderr)")
    for method in ["triforce", "retrieval-only", "streaming-middle"] {
      let tri = try CLIHarness.frontier(
        [
          "triforce", "--target", model, "--draft", model, "--budget", "64", "--chunk", "8", "--draft-cache", "48",
          "--sinks", "4", "--method", method,
        ] + common)
      #expect(tri.status == 0, "stderr: \(tri.stderr)")
      #expect(tri.stdout == plain.stdout, "\(method)")
      #expect(tri.stderr.contains("frontier triforce (\(method)):"))
    }
  }

  /// Sampled decoding with --print-ids prints exactly the asked number of ids, all inside the vocabulary.
  @Test(.enabled(if: setup() != nil, setupAbsent))
  func sampledTriForcePrintsIDs() throws {
    let (model, tokenizer) = try #require(Self.setup())
    let result = try CLIHarness.frontier([
      "triforce", "--target", model, "--draft", model, "--tokenizer", tokenizer, "--prompt", Self.story,
      "--budget", "64", "--temperature", "0.8", "--seed", "3", "--max-tokens", "30", "--print-ids",
    ])
    #expect(result.status == 0, "stderr: \(result.stderr)")
    let ids = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").compactMap {
      Int($0)
    }
    // Seed 3 samples no end-of-sequence token within the 30, so the run stops on the limit with all 30 ids.
    #expect(ids.count == 30, "stdout: \(result.stdout)")
    #expect(ids.allSatisfy { (0..<512).contains($0) })
  }

  /// Bad input gets one error line naming the problem and a non-zero exit.
  @Test(arguments: [
    (["triforce", "reproduce", "--contexts", "2048,many"], "--contexts"),
    (["triforce", "reproduce", "--prompts", "0"], "prompts"),
    (["triforce", "--target", "/nonexistent/model", "--draft", "/nonexistent/draft", "--prompt", "hi"], "not found"),
    (["triforce", "--method", "fastest", "--target", "a", "--draft", "b", "--prompt", "hi"], "--method"),
  ])
  func badInputGetsOneErrorLine(arguments: [String], mention: String) throws {
    let result = try CLIHarness.frontier(arguments)
    #expect(result.status != 0)
    let lines = result.stderr.split(separator: "\n")
    #expect(lines.count == 1 && result.stderr.contains(mention), "stderr: \(result.stderr)")
  }
}
