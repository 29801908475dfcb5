import Foundation
import Generation
import Models
import TestSupport
import Testing
import Tokenizers

/// Whether ``GenerateCLITests/setup()`` finds its files, and the reason shown when it does not (outside the
/// type: a suite's own attribute cannot refer to the suite).
private let generateSetupFound: Bool = GenerateCLITests.setup() != nil
private let generateSetupAbsent: Comment = GenerateCLITests.setupAbsent

/// `frontier generate` run as a subprocess on llama2.c's stories260K.
@Suite(.enabled(if: generateSetupFound, generateSetupAbsent))
struct GenerateCLITests {
  struct Case: Decodable {
    var prompt: String
    var steps: Int
    var output: String
  }

  struct Reference: Decodable {
    var cases: [Case]
  }

  /// Model, tokenizer and binary, or nil when one is absent (the tests then skip with ``setupAbsent``).
  static func setup() -> (binary: String, model: String, tokenizer: String)? {
    guard let binary = CLIHarness.binary, let model = SharedData.data("llama2c/stories260K.bin"),
      let tokenizer = SharedData.data("llama2c/tok512.bin")
    else { return nil }
    return (binary, model, tokenizer)
  }

  /// Why a test needing ``setup()`` is skipped.
  static let setupAbsent = Comment(
    rawValue: "needs the frontier binary (swift build -c release) and data/llama2c/stories260K.bin and tok512.bin "
      + "(\(SharedData.hint))")

  /// llama2.c prints the prompt, then the continuation, then "\n"; generate prints the continuation and "\n".
  /// llama2.c's loop runs `pos` over 0..<steps from BOS and prints the token after each position, so it prints
  /// `steps` tokens: the prompt ids after BOS, then steps - prompt ids + 1 new ones.
  @Test(
    .enabled(
      if: SharedData.hasReference("llama2c/stories260K_greedy.json"),
      "needs reference/llama2c/stories260K_greedy.json (\(SharedData.hint))"))
  func greedyOutputMatchesLlama2c() throws {
    let (_, model, tokenizerPath) = try #require(Self.setup())
    let referencePath = try #require(SharedData.reference("llama2c/stories260K_greedy.json"))
    let reference = try JSONDecoder().decode(
      Reference.self, from: Data(contentsOf: URL(fileURLWithPath: referencePath)))
    let tokenizer = try Llama2cTokenizer(path: tokenizerPath)
    #expect(!reference.cases.isEmpty)
    for item in reference.cases {
      let promptCount = tokenizer.encode(item.prompt, bos: true, eos: false).count
      let result = try CLIHarness.frontier([
        "generate", "--model", model, "--tokenizer", tokenizerPath, "--prompt", item.prompt, "--temperature", "0",
        "--max-tokens", String(item.steps - promptCount + 1),
      ])
      #expect(result.status == 0, "stderr: \(result.stderr)")
      #expect(item.prompt + result.stdout == item.output, "prompt '\(item.prompt)'")
      #expect(result.stderr.contains("time to first token") && result.stderr.contains("decode"))
    }
  }

  /// The tokenizer is found beside the model (tok512.bin for a 512-token model) when not given.
  @Test func findsTokenizerBesideModel() throws {
    let (_, model, tokenizer) = try #require(Self.setup())
    let common = [
      "generate", "--model", model, "--prompt", "Tom had a dog", "--temperature", "0", "--max-tokens", "20",
    ]
    let implicit = try CLIHarness.frontier(common)
    let explicit = try CLIHarness.frontier(common + ["--tokenizer", tokenizer])
    #expect(implicit.status == 0, "stderr: \(implicit.stderr)")
    #expect(implicit.stdout == explicit.stdout)
    #expect(implicit.stdout.count > 20)
  }

  /// --print-ids prints the ids of a greedy library run; --prompt-ids gives the same.
  @Test func printIDsMatchLibraryGreedyRun() throws {
    let (_, modelPath, tokenizerPath) = try #require(Self.setup())
    let tokenizer = try Llama2cTokenizer(path: tokenizerPath)
    let prompt = tokenizer.encode("Lily and Tom went to the park", bos: true, eos: false)
    let model = try ModelRegistry.loadLanguageModel(modelPath)
    let expected = try Generator(model: model).generate(
      prompt: prompt, options: GenerationOptions(maxTokens: 40, stopTokens: [1, 2])
    ).tokens
    let byText = try CLIHarness.frontier([
      "generate", "--model", modelPath, "--tokenizer", tokenizerPath, "--prompt", "Lily and Tom went to the park",
      "--temperature", "0", "--max-tokens", "40", "--print-ids",
    ])
    let byIDs = try CLIHarness.frontier([
      "generate", "--model", modelPath, "--prompt-ids", prompt.map(String.init).joined(separator: ","),
      "--temperature", "0", "--max-tokens", "40", "--print-ids",
    ])
    #expect(byText.status == 0 && byIDs.status == 0, "stderr: \(byText.stderr) \(byIDs.stderr)")
    #expect(byText.stdout == expected.map(String.init).joined(separator: ",") + "\n")
    #expect(byIDs.stdout == byText.stdout)
  }

  /// A prompt file saved with CRLF line endings gives the continuation of its LF twin.
  @Test func promptFileWithCRLFPromptsLikeLF() throws {
    let (_, model, tokenizer) = try #require(Self.setup())
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    var outputs: [String] = []
    for (name, text) in [
      ("lf.txt", "Once upon a time\nthere was a dog\n"), ("crlf.txt", "Once upon a time\r\nthere was a dog\r\n"),
    ] {
      let path = folder.appendingPathComponent(name).path
      try Data(text.utf8).write(to: URL(fileURLWithPath: path))
      let result = try CLIHarness.frontier([
        "generate", "--model", model, "--tokenizer", tokenizer, "--prompt-file", path, "--temperature", "0",
        "--max-tokens", "8", "--print-ids",
      ])
      #expect(result.status == 0, "stderr: \(result.stderr)")
      outputs.append(result.stdout)
    }
    #expect(outputs[1] == outputs[0] && !outputs[0].isEmpty)
  }

  /// Text stops before a stop string; sampling with a seed is reproducible.
  @Test func stopStringsAndSeeds() throws {
    let (_, model, tokenizer) = try #require(Self.setup())
    let base = ["generate", "--model", model, "--tokenizer", tokenizer, "--prompt", "Once upon a time"]
    let full = try CLIHarness.frontier(base + ["--temperature", "0", "--max-tokens", "60"])
    let stopped = try CLIHarness.frontier(
      base + ["--temperature", "0", "--max-tokens", "60", "--stop", "girl", "--stop", "zzz"])
    #expect(full.status == 0 && stopped.status == 0)
    let cut = try #require(full.stdout.range(of: "girl"))
    #expect(stopped.stdout == String(full.stdout[..<cut.lowerBound]) + "\n")
    #expect(stopped.stderr.contains("stopString"))

    let sampled =
      base + ["--temperature", "0.9", "--top-k", "40", "--top-p", "0.9", "--seed", "7", "--max-tokens", "30"]
    let first = try CLIHarness.frontier(sampled)
    let second = try CLIHarness.frontier(sampled)
    #expect(first.status == 0 && first.stdout == second.stdout)
  }

  /// Each failure is one stderr line and the documented exit status.
  @Test(
    .enabled(
      if: SharedData.has(data: "llama2c/tokenizer.bin"), "needs data/llama2c/tokenizer.bin (\(SharedData.hint))"))
  func errorsAreOneLine() throws {
    let (_, model, tokenizer) = try #require(Self.setup())
    let bigTokenizer = try #require(SharedData.data("llama2c/tokenizer.bin"))
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let corrupt = folder.appendingPathComponent("broken.bin").path
    try Data([1, 2, 3, 4, 5, 6, 7]).write(to: URL(fileURLWithPath: corrupt))
    let longPrompt = String(repeating: "Once upon a time there was a dog. ", count: 200)
    let cases: [(arguments: [String], status: Int32, mentions: String)] = [
      (["--model", "/nonexistent/model.bin", "--prompt", "Hi"], 1, "/nonexistent/model.bin"),
      (["--model", corrupt, "--tokenizer", tokenizer, "--prompt", "Hi"], 1, "broken.bin"),
      (["--model", model, "--tokenizer", bigTokenizer, "--prompt", "Hi"], 1, "vocabulary"),
      (["--model", model, "--tokenizer", tokenizer, "--prompt", longPrompt], 1, "context"),
      (["--model", model, "--tokenizer", tokenizer, "--prompt", "Hi", "--top-p", "2"], 2, "top-p"),
      (["--model", model, "--tokenizer", tokenizer, "--prompt", "Hi", "--temperature", "-1"], 2, "temperature"),
      (["--model", model, "--tokenizer", tokenizer, "--prompt", "Hi", "--max-tokens", "0"], 2, "max-tokens"),
      (["--model", model, "--prompt-ids", "1,x"], 2, "prompt-ids"),
      (["--model", model], 2, "--prompt"),
    ]
    for item in cases {
      let limit = item.arguments.contains("--max-tokens") ? [] : ["--max-tokens", "5"]
      let result = try CLIHarness.frontier(["generate"] + item.arguments + limit)
      #expect(result.status == item.status, "\(item.arguments.prefix(4)): \(result.stderr)")
      let lines = result.stderr.split(separator: "\n")
      #expect(lines.count == 1, "\(item.arguments.prefix(4)): \(result.stderr)")
      #expect(result.stderr.contains(item.mentions), "\(result.stderr)")
      #expect(result.stdout.isEmpty)
    }
  }
}
