import Foundation
import Testing

/// No command writes over what it reads: `--out` equal to, inside or holding an input is refused with one
/// line, exit status 1, and the input is left as it was.
@Suite struct OutputGuardCLITests {
  static let setup = GenerateCLITests.setup()

  /// Every file under `folder` with its contents.
  static func snapshot(_ folder: String) throws -> [String: Data] {
    var files: [String: Data] = [:]
    let manager = FileManager.default
    for name in try manager.subpathsOfDirectory(atPath: folder) {
      let path = (folder as NSString).appendingPathComponent(name)
      var isDirectory: ObjCBool = false
      if manager.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
        files[name] = try Data(contentsOf: URL(fileURLWithPath: path))
      }
    }
    return files
  }

  @Test(.enabled(if: setup != nil, "needs llama2c/stories260K.bin and the frontier binary"))
  func inherituneNeverWritesIntoItsParent() throws {
    let (_, model, _) = try #require(Self.setup)
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let parent = folder.appendingPathComponent("parent").path
    #expect(try CLIHarness.frontier(["convert", "--from", model, "--to", parent]).status == 0)
    let before = try Self.snapshot(parent)
    for out in [parent, parent + "/student", parent + "/../parent/"] {
      let result = try CLIHarness.frontier(["inheritune", "--parent", parent, "--layers", "2", "--out", out])
      #expect(result.status == 1, "--out \(out): \(result.stderr)")
      #expect(result.stderr.contains("would overwrite --parent"), "\(result.stderr)")
      #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
    }
    #expect(try Self.snapshot(parent) == before, "the parent folder changed")
  }

  @Test(.enabled(if: CLIHarness.binary != nil, "needs the frontier binary"))
  func prepareAndTrainNeverWriteOverTheirInputs() throws {
    let folder = try CLIHarness.temporaryFolder()
    defer { try? FileManager.default.removeItem(at: folder) }
    let text = folder.appendingPathComponent("text.txt").path
    try String(repeating: "A line of text for the shards.\n\n", count: 200).write(
      toFile: text, atomically: true, encoding: .utf8)
    let before = try Data(contentsOf: URL(fileURLWithPath: text))
    let prepare = try CLIHarness.frontier(["prepare", "--input", text, "--out", text])
    #expect(prepare.status == 1 && prepare.stderr.contains("would overwrite --input"), "\(prepare.stderr)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: text)) == before)

    let data = folder.appendingPathComponent("data").path
    #expect(try CLIHarness.frontier(["prepare", "--input", text, "--out", data]).status == 0)
    let shards = try Self.snapshot(data)
    let train = try CLIHarness.frontier([
      "train", "--model", "llama", "--data", data, "--layers", "1", "--heads", "1", "--width", "16", "--context", "16",
      "--steps", "1", "--out", data + "/run",
    ])
    #expect(train.status == 1 && train.stderr.contains("would overwrite --data"), "\(train.stderr)")
    #expect(try Self.snapshot(data) == shards, "the shards folder changed")
  }
}
