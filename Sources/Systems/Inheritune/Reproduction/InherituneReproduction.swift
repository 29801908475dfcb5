import Data
import Foundation
import Models
import NN
import Reports
import TensorCore
import Training

/// The miniature Inheritune reproduction behind `frontier reproduce inheritune`.
///
/// Track B (GPT-2 logs, from scratch): a parent GPT-2 with 1/(ℓ + 1) attention scaling is pretrained on
/// tiny-shakespeare bytes (last 10% held out), then half-depth students: inherited (the paper's flags) vs
/// scratch at S and 2S steps, three seeds of the pair, the low-data variant, ablations and the grow loop.
/// Track A (full run only): students of the pretrained llama2.c stories260K model on TinyStories.
/// Every run's result is cached under the work folder, so an interrupted run resumes where it stopped.
public final class InherituneReproduction {
  /// The sizes used.
  public let settings: ReproductionSettings
  /// Whether these are the quick settings.
  public let quick: Bool
  /// Cache folder (data shards, the parent, per-run results).
  public let workDirectory: String
  /// Report folder.
  public let reportDirectory: String
  /// The results so far, in run order.
  public internal(set) var results: [RunResult] = []
  /// Whether the last ``train`` call reused a cached result (the model was not trained).
  var lastRunWasCached = false
  /// Tokens/s of inherited and scratch students timed in alternation (see ``measureThroughput(parent:data:)``).
  var throughputRates: (inherited: [Double], scratch: [Double]) = ([], [])
  let log: (String) -> Void

  /// A reproduction writing to `reportDirectory` and caching in `workDirectory`.
  public init(
    settings: ReproductionSettings, quick: Bool, reportDirectory: String, workDirectory: String,
    log: @escaping (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
  ) {
    self.settings = settings
    self.quick = quick
    self.reportDirectory = reportDirectory
    self.workDirectory = workDirectory
    self.log = log
  }

  /// Runs every experiment (reusing cached ones) and returns the report.
  public func run() throws -> ReportDraft {
    try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
    let clock = ContinuousClock()
    let start = clock.now
    try runTrackB()
    if settings.trackA { try runTrackA() }
    let minutes = (clock.now - start).components.seconds / 60
    log("inheritune reproduction: every run done (\(minutes) min)")
    return try report(elapsedMinutes: Int(minutes))
  }

  /// Track B: parent, students, seeds, low data, ablations, grow loop.
  func runTrackB() throws {
    let s = settings
    let data = try shakespeareShards()
    let parent = try pretrainedParent(data)
    let n = s.studentLayers
    let full = RunData(train: data.train, validation: data.validation)
    let low = RunData(train: data.lowData, validation: data.validation)
    for seed in s.seeds {
      try inherit("inherited-\(n)", group: seed == s.seeds[0] ? "main" : "seeds", parent, n, .paper, seed, full)
      try scratch("scratch-\(n)", group: seed == s.seeds[0] ? "main" : "seeds", parent, n, s.steps, seed, full)
    }
    for seed in s.seeds {
      try scratch("scratch-\(n) 2S", group: seed == s.seeds[0] ? "main" : "seeds", parent, n, 2 * s.steps, seed, full)
    }
    try inherit("inherited-\(n) low-data", group: "low-data", parent, n, .paper, s.seeds[0], low)
    try scratch("scratch-\(n) low-data", group: "low-data", parent, n, s.steps, s.seeds[0], low)
    let ablations: [(String, InheritanceOptions)] = [
      ("inherit everything", .everything),
      ("blocks only", InheritanceOptions(tokenEmbedding: false, head: false)),
      ("last \(n) blocks", InheritanceOptions(blockChoice: .last)),
      ("random \(n) blocks", InheritanceOptions(blockChoice: .random(seed: 1))),
      ("attention only", InheritanceOptions(blockParts: .attention)),
      ("MLP only", InheritanceOptions(blockParts: .mlp)),
      ("embedding only", InheritanceOptions(blocks: false)),
    ]
    for seed in s.seeds {
      for (name, options) in ablations {
        try inherit(name, group: seed == s.seeds[0] ? "ablation" : "ablation-seeds", parent, n, options, seed, full)
      }
    }
    // 1/(ℓ+1) off: a second parent pretrained without the scaling, and the same pair of students from it.
    let unscaled = try pretrainedParent(data, inverseLayerScaling: false)
    for seed in s.seeds {
      try inherit("inherited-\(n), no 1/(ℓ+1)", group: "scaling-off", unscaled, n, .paper, seed, full)
      try scratch("scratch-\(n), no 1/(ℓ+1)", group: "scaling-off", unscaled, n, s.steps, seed, full)
    }
    throughputRates = try measureThroughput(parent: parent, data: full)
    let parentLoss = results.first { $0.name == "parent" && $0.group == "main" }!.finalLoss
    let first = results.first { $0.name == "inherited-\(n)" && $0.seed == s.seeds[0] }!
    _ = try Inheritune.grow(
      parent: parent, startLayers: n, options: .paper, seed: s.seeds[0], target: parentLoss
    ) { student in
      let layers = student.parentBlocks.count
      if layers == n { return first.finalLoss }
      return try train(
        "grow: inherited-\(layers)", group: "grow", student.model, usesParent: true,
        inherited: InheritanceOptions.paper.list,
        steps: s.steps, seed: s.seeds[0], full
      ).finalLoss
    }
  }

  /// A training and a validation shard.
  struct RunData {
    let train: TokenShard
    let validation: TokenShard
  }

  /// Trains an inherited student.
  func inherit(
    _ name: String, group: String, _ parent: LoadedModel, _ n: Int, _ options: InheritanceOptions, _ seed: UInt64,
    _ data: RunData
  ) throws {
    let student = try Inheritune.makeStudent(from: parent, layers: n, options: options, seed: seed)
    let what = "\(options.list) (\(options.blockChoice.name), \(options.blockParts.rawValue))"
    try train(
      name, group: group, student.model, usesParent: true, inherited: what, steps: settings.steps, seed: seed, data)
  }

  /// Trains a same-size student from its fresh initialisation.
  func scratch(
    _ name: String, group: String, _ parent: LoadedModel, _ n: Int, _ steps: Int, _ seed: UInt64, _ data: RunData
  ) throws {
    let student = try Inheritune.makeStudent(from: parent, layers: n, options: .nothing, seed: seed)
    try train(name, group: group, student.model, usesParent: false, inherited: "-", steps: steps, seed: seed, data)
  }
}

extension InherituneReproduction: Reproduction {
  /// The reproduce key, report folder and test target's stem.
  public static let name = "inheritune"
  /// The system and its paper.
  public static let summary = "Inheritune (arXiv 2404.08634)"
  /// Track B trains its own parent; track A reads llama2.c's stories260K from the data folder.
  public static let dependencies: [String] = []
  /// The engine and this system.
  public static let sources = ReproductionSources.engine + ["Sources/Systems/Inheritune"]

  /// ``ReproductionSettings/quick`` or ``ReproductionSettings/full``.
  public static func settings(quick: Bool) -> ReproductionSettings { quick ? .quick : .full }

  /// Runs every experiment missing from `context.workDirectory` and returns the report.
  public static func run(_ settings: ReproductionSettings, in context: ReproductionContext) throws -> ReportDraft {
    try InherituneReproduction(
      settings: settings, quick: context.quick, reportDirectory: context.reportDirectory,
      workDirectory: context.workDirectory
    ).run()
  }
}
