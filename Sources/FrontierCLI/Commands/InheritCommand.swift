import Data
import Foundation
import Inheritune
import Models
import Training

/// `frontier inheritune`: a student initialised from a parent's first blocks (Inheritune), optionally trained.
enum InheritCommand: Command {
  static let name = "inheritune"
  static let summary = "Build a smaller model from a parent's blocks (Inheritune), train it, write it in HF layout."
  static let options = [
    OptionSpec("parent", value: "PATH", "parent model: HF folder (llama, gpt2) or llama2.c .bin"),
    OptionSpec("layers", value: "N", default: "half the parent's", "student blocks"),
    OptionSpec(
      "inherit", value: "LIST", default: "blocks,token-embedding,head",
      "copied groups: blocks, token-embedding, head, positions, final-norm (or all, none)"),
    OptionSpec("blocks", value: "WHICH", default: "first", "parent blocks: first, last, random[:SEED]"),
    OptionSpec("block-parts", value: "PART", default: "all", "parts of each block: all, attention, mlp"),
    OptionSpec("out", value: "DIR", "the student goes here (HF layout); training files under DIR/run"),
    OptionSpec("data", value: "DIR", "folder with train.bin, val.bin, meta.json (from frontier prepare)"),
    OptionSpec("steps", value: "N", default: "0", "training steps (0: write the inherited model untrained)"),
    OptionSpec("grow", "grow loop: while validation is worse than the parent's, re-inherit 2 more blocks"),
    OptionSpec("grow-step", value: "N", default: "2", "blocks added per grow round"),
    OptionSpec("batch", value: "N", default: "8", "windows per step"),
    OptionSpec("context", value: "N", default: "min(128, parent's)", "tokens per window"),
    OptionSpec("lr", value: "F", default: "1e-3", "peak learning rate"),
    OptionSpec("min-lr", value: "F", default: "lr/10", "final learning rate of the cosine decay"),
    OptionSpec("warmup", value: "N", default: "5% of steps", "linear warmup steps"),
    OptionSpec("clip", value: "F", default: "1", "gradient-norm clip (0: off)"),
    OptionSpec("weight-decay", value: "F", default: "0.1", "AdamW weight decay on matrices"),
    OptionSpec("eval-every", value: "N", default: "steps/10", "validation interval in steps"),
    OptionSpec("eval-batches", value: "N", default: "8", "batches per validation"),
    OptionSpec("log-every", value: "N", default: "10", "plain progress line interval when not on a terminal"),
    OptionSpec("seed", value: "N", default: "0", "seed of the fresh tensors and of the data order"),
  ]

  static func run(_ args: ParsedArguments) throws {
    guard let parentPath = args.string("parent"), let out = args.string("out") else {
      throw UsageError(message: "frontier inheritune: pass --parent PATH and --out DIR (see --help)")
    }
    try OutputGuard.refuseOverlap(
      output: out, option: "--out",
      inputs: [("--parent", parentPath)] + (args.string("data").map { [("--data", $0)] } ?? []))
    try OutputGuard.requireFolder(output: out, option: "--out")
    let steps = try args.int("steps", default: 0)
    guard steps >= 0 else {
      throw UsageError(message: "frontier inheritune: --steps must be 0 or more, got \(steps)")
    }
    let parent = try ModelRegistry.load(parentPath)
    let k = Inheritune.layerCount(of: parent)
    guard let choice = BlockChoice(parsing: args.string("blocks") ?? "first") else {
      throw UsageError(message: "frontier inheritune: --blocks must be first, last, random or random:SEED")
    }
    guard let parts = BlockParts(rawValue: args.string("block-parts") ?? "all") else {
      throw UsageError(message: "frontier inheritune: --block-parts must be all, attention or mlp")
    }
    let options = try InheritanceOptions(
      list: args.string("inherit") ?? InheritanceOptions.paper.list, blockParts: parts, blockChoice: choice)
    let layers = try args.int("layers", default: max(1, k / 2))
    let seed = UInt64(truncatingIfNeeded: try args.int("seed", default: 0))
    let grow = args.flag("grow")
    if options.positions, (try TensorLayout.of(parent)).positions == nil {
      print("frontier inheritune: note: the parent has no learned positions; 'positions' copies nothing")
    }
    guard steps > 0 || grow else {
      let student = try Inheritune.makeStudent(from: parent, layers: layers, options: options, seed: seed)
      try student.save(to: out)
      describe(student, parentLayers: k, options: options)
      if let dataArgument = args.string("data") {
        let data = try Shards(path: resolveDataPath(dataArgument), parent: parent)
        let configuration = try trainingConfiguration(args, steps: 1, seed: seed, parent: parent)
        let parentLoss = try data.validationLoss(of: parent, configuration)
        let studentLoss = try data.validationLoss(of: student.model, configuration)
        print(String(format: "validation loss: parent %.4f, untrained student %.4f", parentLoss, studentLoss))
      }
      print("frontier inheritune: wrote \(out) (HF layout, untrained)")
      return
    }
    guard let dataArgument = args.string("data") else {
      throw UsageError(message: "frontier inheritune: training needs --data DIR (see frontier prepare)")
    }
    let data = try Shards(path: resolveDataPath(dataArgument), parent: parent)
    let configuration = try trainingConfiguration(args, steps: max(steps, 1), seed: seed, parent: parent)
    let parentLoss = try data.validationLoss(of: parent, configuration)
    print(String(format: "frontier inheritune: parent validation loss %.4f (%d blocks)", parentLoss, k))
    var round = 0
    let attempts = try Inheritune.grow(
      parent: parent, startLayers: layers, increment: try args.int("grow-step", default: 2), options: options,
      seed: seed, target: grow ? parentLoss : .infinity
    ) { student in
      round += 1
      describe(student, parentLayers: k, options: options)
      let runDirectory = (out as NSString).appendingPathComponent(grow ? "run-\(round)" : "run")
      let trainer = try Inheritune.makeTrainer(
        for: student.model, configuration: configuration, train: data.train, validation: data.validation,
        outputDirectory: runDirectory, progress: .standardError)
      try trainer.run()
      let loss = try trainer.evaluate() ?? .nan
      let rate = trainer.history.last { $0.split == .train }?.tokensPerSecond ?? 0
      print(
        String(
          format: "frontier inheritune: %d blocks, %d steps, validation loss %.4f (parent %.4f), %.0f tokens/s; "
            + "files in %@", student.parentBlocks.count, trainer.step, loss, parentLoss, rate, runDirectory))
      return loss
    }
    let final = attempts.last!
    try final.student.save(to: out)
    if grow {
      let met = final.validationLoss <= parentLoss
      print(
        "frontier inheritune: grow loop tried \(attempts.map { String($0.layers) }.joined(separator: ", ")) blocks; "
          + (met ? "met the parent's loss" : "stopped at the parent's depth without meeting its loss"))
    }
    print("frontier inheritune: wrote the trained \(final.layers)-block student to \(out) (HF layout)")
  }

  /// The training settings from the command line (the `frontier train` recipe).
  private static func trainingConfiguration(
    _ args: ParsedArguments, steps: Int, seed: UInt64, parent: LoadedModel
  ) throws -> TrainingConfiguration {
    let lr = try args.float("lr", default: 1e-3)
    let context = try args.int("context", default: min(128, parent.languageModel?.contextLength ?? 128))
    let configuration = TrainingConfiguration(
      steps: steps, batchSize: try args.int("batch", default: 8), contextLength: context, learningRate: lr,
      minimumLearningRate: try args.float("min-lr", default: lr / 10),
      warmupSteps: try args.int("warmup", default: steps / 20), gradientClip: try args.float("clip", default: 1),
      weightDecay: try args.float("weight-decay", default: 0.1),
      evaluationInterval: try args.int("eval-every", default: max(1, steps / 10)),
      evaluationBatches: try args.int("eval-batches", default: 8), checkpointInterval: 0, seed: seed,
      logInterval: try args.int("log-every", default: 10))
    do {
      try configuration.validate()
    } catch let error as TrainingError {
      throw UsageError(message: "frontier inheritune: \(error.problem)")
    }
    return configuration
  }

  private static func describe(_ student: InheritedModel, parentLayers k: Int, options: InheritanceOptions) {
    print(
      "frontier inheritune: \(student.parentBlocks.count)-block student of a \(k)-block parent, "
        + "\(student.module.parameterCount) parameters; parent blocks \(student.parentBlocks) "
        + "(\(options.blockParts.rawValue)); inherited \(options.list): \(student.copied.count) tensors")
  }
}

/// A prepared dataset checked against a parent's vocabulary.
private struct Shards {
  let train: TokenShard
  let validation: TokenShard

  init(path: String, parent: LoadedModel) throws {
    let shards = try PreparedShards(directory: path)
    let meta = shards.meta
    let vocabulary = parent.languageModel?.vocabularySize ?? 0
    guard meta.vocabularySize <= vocabulary else {
      throw UsageError(
        message: "frontier inheritune: \(path) has \(meta.vocabularySize) token ids, more than the parent's "
          + "\(vocabulary); prepare the data with the parent's tokenizer")
    }
    guard let validation = shards.validation else {
      throw CLIError("\(path): has no val.bin; prepare the data with a validation share (--val-fraction)")
    }
    // PreparedShards checked every id against meta.json's vocabulary (TokenShard.checkIDs), which is at most
    // the parent's: each id is one the parent can look up.
    train = shards.train
    self.validation = validation
  }

  func validationLoss(of model: LoadedModel, _ configuration: TrainingConfiguration) throws -> Float {
    try Inheritune.validationLoss(of: model, configuration: configuration, train: train, validation: validation)
  }
}
