import Foundation
import Models
import NN
import Reports
import TensorCore
import Tokenizers

/// `frontier reproduce fam`: PassKey retrieval for BSWA (m = 0, 1, 2) and FAM, perplexity against context
/// length on held-out Gutenberg books (full attention, BSWA, FAM), and FAM's streaming cost; writes
/// `reports/fam/README.md` with tables and SVG plots.
public enum FAMReproduction: Reproduction {
  /// The reproduce key, report folder and test target's stem.
  public static let name = "fam"
  /// The system and its paper.
  public static let summary = "TransformerFAM (arXiv 2404.09173)"
  /// The book and streaming sections read the base model.
  public static let dependencies = ["base-model"]
  /// The engine and this system.
  public static let sources = ReproductionSources.engine + ["Sources/Systems/TransformerFAM"]

  /// ``Settings/quick`` or ``Settings/full``.
  public static func settings(quick: Bool) -> Settings { quick ? .quick : .full }

  /// The sizes of one run.
  public struct Settings: Sendable, Encodable {
    /// The PassKey training recipe shared by every arm.
    public var passkey: PasskeyRecipe
    /// The PassKey header.
    public var passkeyHeader: PasskeyHeader
    /// The PassKey arms.
    public var passkeyArms: [PasskeyArm]
    /// Filler lengths (blocks) tested.
    public var testBlocks: [Int]
    /// Sequences per tested length.
    public var testSequences: Int
    /// Steps per arm of the alternating timing pass.
    public var timingSteps: Int
    /// Tokens per held-out Gutenberg sequence.
    public var bookLength: Int
    /// Held-out Gutenberg sequences.
    public var bookSequences: Int
    /// LoRA fine-tuning steps of BSWA and FAM on the training books.
    public var bookSteps: Int
    /// Tokens streamed for the time and memory measurement.
    public var streamTokens: Int

    /// Creates settings.
    public init(
      passkey: PasskeyRecipe, passkeyHeader: PasskeyHeader, passkeyArms: [PasskeyArm], testBlocks: [Int],
      testSequences: Int, timingSteps: Int, bookLength: Int, bookSequences: Int, bookSteps: Int, streamTokens: Int
    ) {
      self.passkey = passkey
      self.passkeyHeader = passkeyHeader
      self.passkeyArms = passkeyArms
      self.testBlocks = testBlocks
      self.testSequences = testSequences
      self.timingSteps = timingSteps
      self.bookLength = bookLength
      self.bookSequences = bookSequences
      self.bookSteps = bookSteps
      self.streamTokens = streamTokens
    }

    /// Minutes on two busy cores: three arms, short filler.
    public static var quick: Settings {
      var recipe = PasskeyRecipe()
      recipe.steps = 300
      recipe.curriculum = PasskeyCurriculum(start: 0...1, end: 0...1, rampSteps: 0)
      let arms = PasskeyArm.all(block: 32, fam: 4)
      return Settings(
        passkey: recipe, passkeyHeader: .short, passkeyArms: [arms[1], arms[2], arms[4]], testBlocks: [0, 1, 4, 16],
        testSequences: 16, timingSteps: 3, bookLength: 512, bookSequences: 2, bookSteps: 8, streamTokens: 256)
    }

    /// The full run: seven PassKey arms (about an hour of single-threaded training) and the book sections.
    public static var full: Settings {
      var recipe = PasskeyRecipe()
      recipe.steps = 1000
      recipe.cooldownSteps = 250
      recipe.statePassingStartStep = 300
      recipe.curriculum = PasskeyCurriculum(start: 0...1, end: 0...16, rampSteps: 600)
      return Settings(
        passkey: recipe, passkeyHeader: .short, passkeyArms: PasskeyArm.all(block: 32, fam: 4),
        testBlocks: [0, 1, 2, 4, 8, 16, 32, 64, 128], testSequences: 64, timingSteps: 10, bookLength: 1024,
        bookSequences: 6, bookSteps: 30, streamTokens: 1024)
    }
  }

  /// Runs the PassKey arms missing from `context.workDirectory`'s cache, the book and streaming sections on the
  /// base model (from the `base-model` reproduction's cache), and returns README.md and the plots.
  /// `context.only` = "passkey" or "passkey:I,J" trains just those PassKey arms (indices into the settings'
  /// arms) into the cache and returns an empty report, so that arms can be trained in parallel processes
  /// before the full command assembles the report.
  public static func run(_ settings: Settings, in context: ReproductionContext) throws -> ReportDraft {
    let workDirectory = context.workDirectory
    if let only = context.only {
      let parts = only.split(separator: ":", maxSplits: 1).map(String.init)
      guard parts.first == "passkey" else {
        throw TensorError("FAMReproduction", "--only \(only): unknown part; use passkey or passkey:I,J")
      }
      let all = Array(settings.passkeyArms.indices)
      let indices = parts.count > 1 ? parts[1].split(separator: ",").compactMap { Int($0) } : all
      guard !indices.isEmpty, indices.allSatisfy(all.contains) else {
        throw TensorError("FAMReproduction", "--only \(only): arm indices must lie in 0...\(all.count - 1)")
      }
      try trainPasskeyArms(settings, indices: indices, data: dataDirectory(), workDirectory: workDirectory)
      return ReportDraft()
    }
    let folder = ReportDraft()
    let data = dataDirectory()
    let started = Date()
    var sections: [String] = []
    sections.append(try runPasskey(settings, data: data, folder: folder, workDirectory: workDirectory))
    sections.append(try runBooks(settings, data: data, baseModel: try context.cache(of: "base-model"), folder: folder))
    let minutes = Date().timeIntervalSince(started) / 60
    let readme = """
      # TransformerFAM reproduction (\(context.quick ? "quick" : "full") run)

      Command: `frontier reproduce fam\(context.quick ? " --quick" : "")` (system: Sources/Systems/TransformerFAM,
      paper arXiv 2404.09173). Wall time \(String(format: "%.1f", minutes)) min (PassKey arms already in the
      cache are not retrained; see section A). Every number below comes from this command.

      \(sections.joined(separator: "\n\n"))
      """
    try folder.write(readme, to: "README.md")
    return folder
  }

  /// `FRONTIER_DATA`, else `../shared/data` beside the working directory, else `~/.cache/frontier`.
  static func dataDirectory() -> String {
    if let env = ProcessInfo.processInfo.environment["FRONTIER_DATA"] { return env }
    let shared = (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent("../shared/data")
    if FileManager.default.fileExists(atPath: shared) { return shared }
    return (NSHomeDirectory() as NSString).appendingPathComponent(".cache/frontier")
  }

  /// Prints a progress line to stderr.
  static func log(_ text: String) {
    FileHandle.standardError.write(Data(("[fam] " + text + "\n").utf8))
  }
}
