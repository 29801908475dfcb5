import Foundation
import Testing

/// Settings that cannot work are refused at once: one stderr line naming the option, exit status 2 for a
/// command-line mistake and 1 for a file problem, and nothing written.
@Suite(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
struct ValidationCLITests {
  @Test func trainRefusesSettingsThatCannotWork() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try TrainCLITests.prepareByteShards(
      in: folder, lines: (0..<100).map { "Row \($0): a fox ran past stone \($0 * 3 % 11)." })
    let common = [
      "train", "--data", data, "--layers", "1", "--context", "16", "--batch", "2", "--steps", "1", "--eval-every",
      "0", "--checkpoint-every", "0",
    ]
    let cases: [([String], String)] = [
      (["--heads", "2", "--width", "16", "--lr", "1e-3", "--min-lr", "1e-2"], "--min-lr"),
      (["--heads", "2", "--width", "16", "--weight-decay", "-0.1"], "--weight-decay"),
      (["--model", "llama", "--heads", "8", "--width", "36"], "--heads"),
      (["--model", "gpt", "--heads", "4", "--width", "30"], "--heads"),
      (["--heads", "2", "--width", "16", "--steps", "-3"], "steps"),
    ]
    for (index, (arguments, option)) in cases.enumerated() {
      let out = folder.appendingPathComponent("run-\(index)").path
      let result = try CLIHarness.frontier(common + arguments + ["--out", out])
      CLIHarness.expectOneLine(result, status: 2, mentioning: [option], "\(arguments)")
      #expect(!FileManager.default.fileExists(atPath: out), "\(arguments) wrote \(out)")
    }
  }

  /// `--out` naming an existing file is one line saying so, not the file system's raw error.
  @Test func outputFolderThatIsAFileIsOneLine() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let data = try TrainCLITests.prepareByteShards(
      in: folder, lines: (0..<100).map { "Row \($0): a fox ran past stone \($0 * 3 % 11)." })
    let file = folder.appendingPathComponent("notes.txt").path
    try "keep me\n".write(toFile: file, atomically: true, encoding: .utf8)
    let train = try CLIHarness.frontier([
      "train", "--data", data, "--layers", "1", "--heads", "2", "--width", "16", "--context", "16", "--steps", "1",
      "--out", file,
    ])
    CLIHarness.expectOneLine(train, status: 1, mentioning: ["--out", "notes.txt", "is an existing file"], "train")
    let prepare = try CLIHarness.frontier([
      "prepare", "--input", folder.appendingPathComponent("tiny.txt").path, "--out", file,
    ])
    CLIHarness.expectOneLine(prepare, status: 1, mentioning: ["--out", "is an existing file"], "prepare")
    #expect(try String(contentsOfFile: file, encoding: .utf8) == "keep me\n")
  }

  @Test func tokenizeRefusesMissingTextRepeatedSpecialsAndAnUnwritableOutput() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let text = folder.appendingPathComponent("text.txt").path
    try String(repeating: "the cat sat on the mat and the dog sat on the log\n", count: 50).write(
      toFile: text, atomically: true, encoding: .utf8)
    let tokenizer = folder.appendingPathComponent("tokenizer.json").path
    let trained = try CLIHarness.frontier(["tokenize", "train", "--vocab", "300", "--out", tokenizer, text])
    #expect(trained.status == 0, "\(trained.stderr)")

    let encode = try CLIHarness.frontier(["tokenize", "encode", "--tokenizer", tokenizer])
    CLIHarness.expectOneLine(encode, status: 2, mentioning: ["no text"], "encode without text")
    #expect(encode.stdout.isEmpty)

    let repeated = folder.appendingPathComponent("repeated.json").path
    let twice = try CLIHarness.frontier([
      "tokenize", "train", "--vocab", "300", "--special", "<|a|>,<|b|>,<|a|>", "--out", repeated, text,
    ])
    CLIHarness.expectOneLine(twice, status: 2, mentioning: ["<|a|>", "twice"], "repeated special")
    #expect(!FileManager.default.fileExists(atPath: repeated))

    // The output's folder is checked before the inputs are read and the merges learned.
    let missing = folder.appendingPathComponent("no-such-folder/tokenizer.json").path
    let unwritable = try CLIHarness.frontier([
      "tokenize", "train", "--vocab", "300", "--out", missing, folder.appendingPathComponent("absent.txt").path,
    ])
    CLIHarness.expectOneLine(
      unwritable, status: 1, mentioning: ["--out", "no-such-folder", "does not exist"], "missing folder")
    let intoFolder = try CLIHarness.frontier(["tokenize", "train", "--vocab", "300", "--out", folder.path, text])
    CLIHarness.expectOneLine(intoFolder, status: 1, mentioning: ["--out", "is a folder"], "folder as --out")
  }

  @Test(.enabled(if: GenerateCLITests.setup() != nil, "needs llama2c/stories260K.bin and the frontier binary"))
  func inherituneRefusesNegativeSteps() throws {
    let (_, model, _) = try #require(GenerateCLITests.setup())
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let out = folder.appendingPathComponent("student").path
    let result = try CLIHarness.frontier([
      "inheritune", "--parent", model, "--layers", "2", "--steps", "-1", "--out", out,
    ])
    CLIHarness.expectOneLine(result, status: 2, mentioning: ["--steps", "-1"], "negative steps")
    #expect(!FileManager.default.fileExists(atPath: out))
  }

  /// The streaming summary prints the block size in full: a 32-bit format printed 2^32 + 64 as 64.
  @Test(.enabled(if: GenerateCLITests.setup() != nil, "needs llama2c/stories260K.bin and the frontier binary"))
  func streamingSummaryPrintsTheWholeBlockSize() throws {
    let (_, model, _) = try #require(GenerateCLITests.setup())
    let block = (1 << 32) + 64
    let result = try CLIHarness.frontier([
      "generate", "--model", model, "--prompt-ids", "1", "--max-tokens", "3", "--temperature", "0", "--print-ids",
      "--attention", "bswa", "--block", String(block),
    ])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stderr.contains("b=\(block) "), "\(result.stderr)")
  }
}
