import Foundation
import Models
import NN
import Reports
import TensorCore
import Tokenizers

/// `frontier reproduce fam`: PassKey retrieval for BSWA (m = 0, 1, 2) and FAM, perplexity against context
/// length on held-out Gutenberg books (full attention, BSWA, FAM), and FAM's streaming cost; writes
/// `reports/fam/README.md` with tables and SVG plots.
public enum FAMReproduction {
  /// The sizes of one run.
  public struct Settings: Sendable {
    /// Fine-tuning steps per PassKey arm.
    public var passkeySteps: Int
    /// Sequences per PassKey step.
    public var passkeyBatch: Int
    /// Filler blocks drawn uniformly per training batch.
    public var trainBlocks: ClosedRange<Int>
    /// Filler lengths (blocks) tested.
    public var testBlocks: [Int]
    /// Sequences per tested length.
    public var testSequences: Int
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
      passkeySteps: Int, passkeyBatch: Int, trainBlocks: ClosedRange<Int>, testBlocks: [Int], testSequences: Int,
      bookLength: Int, bookSequences: Int, bookSteps: Int, streamTokens: Int
    ) {
      self.passkeySteps = passkeySteps
      self.passkeyBatch = passkeyBatch
      self.trainBlocks = trainBlocks
      self.testBlocks = testBlocks
      self.testSequences = testSequences
      self.bookLength = bookLength
      self.bookSequences = bookSequences
      self.bookSteps = bookSteps
      self.streamTokens = streamTokens
    }

    /// Minutes on two busy cores.
    public static let quick = Settings(
      passkeySteps: 150, passkeyBatch: 4, trainBlocks: 2...8, testBlocks: [2, 4, 8, 16, 32], testSequences: 8,
      bookLength: 512, bookSequences: 2, bookSteps: 8, streamTokens: 256)
    /// About half an hour.
    public static let full = Settings(
      passkeySteps: 600, passkeyBatch: 4, trainBlocks: 2...16, testBlocks: [2, 4, 8, 16, 32, 64, 128],
      testSequences: 16, bookLength: 1024, bookSequences: 6, bookSteps: 30, streamTokens: 1024)
  }

  /// Runs everything and writes `README.md` and the plots into `reportDirectory`; returns the README path.
  /// `workDirectory` holds nothing yet (the run keeps its models in memory).
  @discardableResult
  public static func run(quick: Bool, reportDirectory: String, workDirectory: String) throws -> String {
    try run(
      settings: quick ? Settings.quick : Settings.full, label: quick ? "quick" : "full",
      command: "frontier reproduce fam" + (quick ? " --quick" : ""), reportDirectory: reportDirectory,
      workDirectory: workDirectory)
  }

  /// Runs with explicit `settings` (e.g. a longer PassKey training); `label` and `command` go into the README.
  @discardableResult
  public static func run(
    settings: Settings, label: String, command: String, reportDirectory: String, workDirectory: String
  ) throws -> String {
    let folder = try ReportFolder(path: reportDirectory)
    try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
    let data = dataDirectory()
    let started = Date()
    var sections: [String] = []
    let s = settings
    let passkey = try runPasskey(s, data: data, folder: folder)
    sections.append(passkey)
    sections.append(try runBooks(s, data: data, folder: folder))
    let minutes = Date().timeIntervalSince(started) / 60
    let readme = """
      # TransformerFAM reproduction (\(label) run)

      Command: `\(command)` (system: Sources/Systems/TransformerFAM, paper
      arXiv 2404.09173). Wall time \(String(format: "%.1f", minutes)) min on a shared 2-core CPU. Every number
      below comes from this one run.

      \(sections.joined(separator: "\n\n"))
      """
    return try folder.write(readme, to: "README.md")
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

  /// PassKey arms on the stories260K parent: BSWA M0, M1, M2 and FAM (m = 0, f = 4), b = 32.
  static func runPasskey(_ s: Settings, data: String, folder: ReportFolder) throws -> String {
    let modelPath = (data as NSString).appendingPathComponent("llama2c/stories260K.bin")
    let tokenizerPath = (data as NSString).appendingPathComponent("llama2c/tok512.bin")
    let fillerPath = (data as NSString).appendingPathComponent("tinystories/tinystories_val_prefix.yuninxia.txt")
    let tokenizer = try TokenizerLoader.load(tokenizerPath)
    let block = 32
    let task = try PasskeyTask(tokenizer: tokenizer, fillerPath: fillerPath, blockSize: block)
    log("passkey: \(task.distinctDigits) distinct digit tokens")
    let arms: [(String, FAMConfiguration)] = [
      ("BSWA M0", FAMConfiguration(mode: .bswa, blockSize: block, memoryBlocks: 0, famLength: 0)),
      ("BSWA M1", FAMConfiguration(mode: .bswa, blockSize: block, memoryBlocks: 1, famLength: 0)),
      ("BSWA M2", FAMConfiguration(mode: .bswa, blockSize: block, memoryBlocks: 2, famLength: 0)),
      ("FAM m=0 f=4", FAMConfiguration(mode: .fam, blockSize: block, memoryBlocks: 0, famLength: 4)),
    ]
    var table = MarkdownTable(
      header: ["Arm", "Receptive field (tokens)", "Train ms/step", "Final train loss"]
        + s.testBlocks.map { "@\($0) blocks" })
    var series: [SVGPlot.Series] = []
    let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    for (index, (name, configuration)) in arms.enumerated() {
      let parent = try Llama(llama2cPath: modelPath)
      var generator = RandomGenerator(seed: 42)
      let model = try FAMModel(parent: parent, configuration: configuration, generator: &generator)
      let trainer = FAMTrainer(model: model, options: FAMTrainingOptions(learningRate: 2e-3, seed: 1))
      var data = RandomGenerator(seed: 7)
      let clock = ContinuousClock()
      let start = clock.now
      var losses: [Double] = []
      for step in 0..<s.passkeySteps {
        let blocks = s.trainBlocks.lowerBound + Int(data.next() % UInt64(s.trainBlocks.count))
        let batch = task.batch(s.passkeyBatch, fillerBlocks: blocks, generator: &data)
        losses.append(Double(try trainer.step(ids: batch.ids, targets: batch.targets)))
        if step % 20 == 0 { log("passkey \(name) step \(step) loss \(String(format: "%.3f", losses.last!))") }
      }
      let msPerStep = (clock.now - start).seconds * 1000 / Double(max(s.passkeySteps, 1))
      model.eval()
      var accuracies: [Double] = []
      var digitAccuracies: [Double] = []
      var evaluation = RandomGenerator(seed: 99)
      for blocks in s.testBlocks {
        var correct = 0.0
        var digits = 0.0
        var remaining = s.testSequences
        while remaining > 0 {
          let size = min(remaining, 4)
          let batch = task.batch(size, fillerBlocks: blocks, generator: &evaluation)
          let accuracy = try model.passkeyAccuracy(ids: batch.ids, targets: batch.targets)
          correct += accuracy.sequences * Double(size)
          digits += accuracy.digits * Double(size)
          remaining -= size
        }
        accuracies.append(correct / Double(s.testSequences))
        digitAccuracies.append(digits / Double(s.testSequences))
        log("passkey \(name) @\(blocks) blocks: key \(accuracies.last!), digits \(digitAccuracies.last!)")
      }
      let layers = parent.config.layers
      let field = configuration.mode == .fam ? "unbounded" : "\((layers * configuration.memoryBlocks + 1) * block)"
      let tail = losses.suffix(10)
      table.append(
        [
          name, field, ReportFormat.fixed(msPerStep, digits: 0),
          ReportFormat.fixed(tail.reduce(0, +) / Double(max(tail.count, 1))),
        ]
          + zip(accuracies, digitAccuracies).map {
            ReportFormat.fixed($0 * 100, digits: 0) + "% (" + ReportFormat.fixed($1 * 100, digits: 0) + "%)"
          })
      series.append(
        SVGPlot.Series(
          name: name, points: zip(s.testBlocks, accuracies).map { (log2(Double($0)), $1 * 100) },
          color: colors[index]))
    }
    try folder.write(
      SVGPlot.lineChart(
        title: "PassKey accuracy vs filler length", xLabel: "log2(filler blocks of 32 tokens)",
        yLabel: "accuracy (%)", series: series), to: "passkey.svg")
    let trainRange = "\(s.trainBlocks.lowerBound)–\(s.trainBlocks.upperBound)"
    return """
      ## A. PassKey retrieval

      Parent: llama2.c stories260K (5 layers, width 64, 8 heads, 4 KV heads, tok512), fully fine-tuned per arm
      for \(s.passkeySteps) steps of \(s.passkeyBatch) sequences (AdamW 2e-3, clip 1) with \(trainRange) filler
      blocks of b = 32 TinyStories tokens; FAM with Random Position Offset and Random State Passing (p = 0.8).
      Test: \(s.testSequences) fresh sequences per length, teacher-forced, a sequence counts when all 5 answer
      digits are the argmax (chance 0.001%); in brackets the fraction of digits right (chance 10%). BSWA's receptive field is (layers·m + 1)·b tokens; the key sits in
      the first block, so BSWA can only answer while the whole sequence fits in it.

      \(table.markdown)

      ![PassKey accuracy](passkey.svg)
      """
  }
}
