import Data
import Distributed
import Foundation
import Kernels
import Models
import NN
import TensorCore
import Training

/// The model settings `frontier train` builds a model from; stored in checkpoints and checked on resume.
struct ModelSettings: Codable, Equatable {
  var architecture: String
  var vocabularySize: Int
  var contextLength: Int
  var layers: Int
  var heads: Int
  var width: Int
  /// The checkpoint the weights start from (`--init`), when not random.
  var initialWeights: String? = nil
  /// The RoPE base a Llama `--init` is retrained with (`--rope-base`), when changed.
  var ropeBase: Float? = nil
  /// LoRA rank, alpha and target layer names, when only adapters train.
  var lora: LoRASettings? = nil

  /// Sorted-key JSON, compared verbatim on resume.
  var json: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: (try? encoder.encode(self)) ?? Foundation.Data(), as: UTF8.self)
  }
}

/// `--lora-rank/--lora-alpha/--lora-targets`.
struct LoRASettings: Codable, Equatable {
  var rank: Int
  var alpha: Float
  var targets: [String]
}

/// A model ready for the trainer: the module, its logits function, and how to export it for `frontier generate`.
struct TrainableModel {
  let module: Module
  let forward: (Tensor, inout RandomGenerator) throws -> Tensor
  var export: ((String) throws -> Void)? = nil
}

/// Architectures `frontier train --model NAME` can build. Add an entry to train another model (e.g. Llama).
enum ModelArchitectures {
  nonisolated(unsafe) static var builders: [String: (ModelSettings, inout RandomGenerator) throws -> TrainableModel] = [
    "gpt": { settings, generator in
      let config = GPTConfiguration(
        vocabularySize: settings.vocabularySize, contextLength: settings.contextLength, layers: settings.layers,
        heads: settings.heads, width: settings.width)
      let model = try GPT(config, generator: &generator)
      return TrainableModel(module: model) { ids, _ in try model(ids) }
    },
    "llama": { settings, generator in
      // SwiGLU width 8/3 of the model width, rounded up to a multiple of 32; tied embeddings.
      let hidden = (settings.width * 8 / 3 + 31) / 32 * 32
      let config = LlamaConfiguration(
        vocabularySize: settings.vocabularySize, hiddenSize: settings.width, intermediateSize: hidden,
        layers: settings.layers, heads: settings.heads, contextLength: settings.contextLength, tiedEmbeddings: true)
      let model = try Llama(config, generator: &generator)
      return TrainableModel(
        module: model, forward: { ids, _ in try model.logits(ids, state: nil) },
        export: { directory in try model.save(to: directory) })
    },
  ]
}

/// `frontier train`: trains a language model on shards written by `frontier prepare`.
enum TrainCommand: Command {
  static let name = "train"
  static let summary = "Train a language model on prepared token shards (checkpoints, resume, metrics, loss plot)."
  static let options = [
    OptionSpec("config", value: "FILE", "JSON object of these options (command-line flags win)"),
    OptionSpec("data", value: "DIR", "folder with train.bin, val.bin, meta.json (from frontier prepare)"),
    OptionSpec("out", value: "DIR", default: "runs/train", "checkpoints, metrics.jsonl and loss.svg go here"),
    OptionSpec("model", value: "NAME", default: "gpt", "architecture"),
    OptionSpec("layers", value: "N", default: "4", "transformer blocks"),
    OptionSpec("heads", value: "N", default: "4", "attention heads"),
    OptionSpec("width", value: "N", default: "128", "model width"),
    OptionSpec("vocab", value: "N", default: "from meta.json", "vocabulary size"),
    OptionSpec("init", value: "PATH", "start from this checkpoint (HF folder or llama2.c .bin) instead of random"),
    OptionSpec(
      "rope-base", value: "F",
      "with a Llama --init: retrain with this RoPE base, at --context positions even beyond the checkpoint's"),
    OptionSpec("lora-rank", value: "N", "train LoRA adapters of this rank only (base weights frozen)"),
    OptionSpec("lora-alpha", value: "F", default: "2 x rank", "LoRA scaling numerator (scale = alpha / rank)"),
    OptionSpec("lora-targets", value: "NAMES", default: "q_proj,v_proj", "comma-separated Linear layer names"),
    OptionSpec("steps", value: "N", default: "1000", "optimizer steps"),
    OptionSpec("batch", value: "N", default: "8", "windows per micro-batch (per rank)"),
    OptionSpec("context", value: "N", default: "128", "tokens per window"),
    OptionSpec("lr", value: "F", default: "1e-3", "peak learning rate"),
    OptionSpec("min-lr", value: "F", default: "lr/10", "final learning rate of the cosine decay"),
    OptionSpec("warmup", value: "N", default: "0", "linear warmup steps"),
    OptionSpec("accumulation", value: "N", default: "1", "micro-batches per step"),
    OptionSpec("clip", value: "F", default: "1", "gradient-norm clip (0: off)"),
    OptionSpec("weight-decay", value: "F", default: "0.1", "AdamW weight decay on matrices"),
    OptionSpec("eval-every", value: "N", default: "100", "validation interval in steps (0: never)"),
    OptionSpec("eval-batches", value: "N", default: "8", "micro-batches per validation"),
    OptionSpec("checkpoint-every", value: "N", default: "500", "checkpoint interval in steps (0: end only)"),
    OptionSpec("keep", value: "N", default: "3", "checkpoints to keep"),
    OptionSpec("log-every", value: "N", default: "10", "plain progress line interval when not on a terminal"),
    OptionSpec("seed", value: "N", default: "0", "seed of the weights and the data order"),
    OptionSpec(
      "resume", value: "PATH", optionalValue: true,
      "continue the run in --out from its newest usable checkpoint, or from PATH (a checkpoint or run folder)"),
    OptionSpec("overwrite", "start over in an --out that holds a run (its checkpoints and model are removed)"),
  ]

  /// The process group; a multi-process launcher replaces this.
  nonisolated(unsafe) static var makeCommunicator: () throws -> Communicator = { try makeTrainingCommunicator() }

  static func run(_ parsed: ParsedArguments) throws {
    let args = try merged(parsed)
    guard let dataArgument = args.string("data") else {
      throw UsageError(message: "frontier train: pass the prepared data folder with --data (see frontier prepare)")
    }
    let out = args.string("out") ?? "runs/train"
    let data = try resolveDataPath(dataArgument)
    try OutputGuard.refuseOverlap(
      output: out, option: "--out",
      inputs: [("--data", data)] + (args.string("init").map { [("--init", $0)] } ?? []))
    try OutputGuard.requireFolder(output: out, option: "--out")
    let shards = try PreparedShards(directory: data)
    let (meta, train, validation) = (shards.meta, shards.train, shards.validation)

    let lr = try args.float("lr", default: 1e-3)
    let configuration = TrainingConfiguration(
      steps: try args.int("steps", default: 1000), batchSize: try args.int("batch", default: 8),
      contextLength: try args.int("context", default: 128), learningRate: lr,
      minimumLearningRate: try args.float("min-lr", default: lr / 10), warmupSteps: try args.int("warmup", default: 0),
      accumulationSteps: try args.int("accumulation", default: 1), gradientClip: try args.float("clip", default: 1),
      weightDecay: try args.float("weight-decay", default: 0.1),
      evaluationInterval: try args.int("eval-every", default: 100),
      evaluationBatches: try args.int("eval-batches", default: 8),
      checkpointInterval: try args.int("checkpoint-every", default: 500),
      keepCheckpoints: try args.int("keep", default: 3),
      seed: UInt64(truncatingIfNeeded: try args.int("seed", default: 0)),
      logInterval: try args.int("log-every", default: 10))
    do {
      try configuration.validate()
    } catch let error as TrainingError {
      throw UsageError(message: "frontier train: \(error.problem)")
    }
    // One writer per run folder: rank 0 (the only one that writes) holds the lock until the process ends;
    // then what the folder holds decides how the run starts.
    let communicator = try makeCommunicator()
    let lock = communicator.rank == 0 ? try RunLock(folder: out) : nil
    defer { lock?.release() }
    let start = try RunStart.decide(out: out, args: args)
    var settings = ModelSettings(
      architecture: args.string("model") ?? "gpt", vocabularySize: try args.int("vocab", default: meta.vocabularySize),
      contextLength: configuration.contextLength, layers: try args.int("layers", default: 4),
      heads: try args.int("heads", default: 4), width: try args.int("width", default: 128))
    var generator = RandomGenerator(seed: configuration.seed)
    let model: TrainableModel
    if let initial = args.string("init") {
      let ropeBase = try args.string("rope-base").map { _ in try args.float("rope-base", default: 10_000) }
      model = try pretrainedModel(initial, settings: &settings, data: data, meta: meta, ropeBase: ropeBase)
    } else {
      guard settings.vocabularySize >= meta.vocabularySize else {
        throw UsageError(
          message:
            "frontier train: --vocab \(settings.vocabularySize) is smaller than the data's \(meta.vocabularySize)"
        )
      }
      guard settings.heads > 0, settings.width % settings.heads == 0 else {
        throw UsageError(
          message: "frontier train: --heads \(settings.heads) does not divide --width \(settings.width); pass a width "
            + "that is a multiple of the heads")
      }
      try checkMemory(settings, batch: configuration.batchSize)
      guard let build = ModelArchitectures.builders[settings.architecture] else {
        let known = ModelArchitectures.builders.keys.sorted().joined(separator: ", ")
        throw UsageError(message: "frontier train: unknown --model '\(settings.architecture)' (choose from \(known))")
      }
      model = try build(settings, &generator)
    }
    // A shard id the model cannot look up would stop training at the first window that draws it.
    for shard in [train] + (validation.map { [$0] } ?? []) {
      try shard.checkIDs(below: settings.vocabularySize)
    }
    if args.string("lora-rank") != nil {
      let rank = try args.int("lora-rank", default: 8)
      let lora = LoRASettings(
        rank: rank, alpha: try args.float("lora-alpha", default: Float(2 * rank)),
        targets: (args.string("lora-targets") ?? "q_proj,v_proj").split(separator: ",").map {
          $0.trimmingCharacters(in: .whitespaces)
        })
      do {
        try model.module.addLoRA(rank: lora.rank, alpha: lora.alpha, targets: lora.targets, generator: &generator)
      } catch let error as TensorError {
        throw UsageError(message: "frontier train: --lora-targets/--lora-rank: \(error)")
      }
      settings.lora = lora
    }
    if communicator.rank == 0 {
      for note in try start.prepare(out) { print(note) }
    }
    let trainer = try Trainer(
      model: model.module, configuration: configuration, train: train, validation: validation,
      communicator: communicator, outputDirectory: out, modelDescription: settings.json, progress: .standardError,
      forward: model.forward)
    if let checkpoint = start.checkpoint {
      try trainer.resume(from: checkpoint)
      let skipped = start.skipped.isEmpty ? "" : "; skipped damaged \(RunStart.describe(start.skipped))"
      say(communicator, "frontier train: resumed from \(checkpoint) at step \(trainer.step)\(skipped)")
    }
    say(
      communicator,
      "frontier train: \(settings.architecture), \(model.module.parameterCount) parameters, "
        + "\(train.count) train tokens, \(trainer.tokensPerStep) tokens/step, \(communicator.size) rank(s)")
    try trainer.run()
    if let export = model.export, communicator.rank == 0 {
      let directory = (out as NSString).appendingPathComponent("model")
      try model.module.mergeLoRA()  // adapters fold into the weights, so the export is a plain model
      try export(directory)
      say(communicator, "frontier train: exported the final model to \(directory) (HF layout)")
    }
    let last = trainer.history.last { $0.split == .train }.map { String(format: "%.4f", $0.loss) } ?? "-"
    let validationLoss = trainer.history.last { $0.split == .validation }.map { String(format: "%.4f", $0.loss) } ?? "-"
    say(
      communicator,
      "frontier train: step \(trainer.step), train loss \(last), validation loss \(validationLoss); "
        + "wrote \(out)/checkpoints, \(out)/metrics.jsonl, \(out)/loss.svg")
  }

  /// A pretrained checkpoint as a trainable model; the settings record its shape and path for resume checks.
  private static func pretrainedModel(
    _ path: String, settings: inout ModelSettings, data: String, meta: PreparedDataset, ropeBase: Float?
  ) throws -> TrainableModel {
    var loaded = try ModelRegistry.load(path)
    if let ropeBase {
      guard case .llama(let original) = loaded, ropeBase > 0 else {
        throw UsageError(message: "frontier train: --rope-base needs a positive value and a Llama --init (\(path))")
      }
      // The same weights under a new RoPE base and context (RoPE has no position table to resize).
      var config = original.config
      config.ropeTheta = ropeBase
      config.contextLength = max(config.contextLength, settings.contextLength)
      var generator = RandomGenerator(seed: 0)
      let retuned = try Llama(config, generator: &generator)
      try retuned.update(parameters: original.parameters())
      loaded = .llama(retuned)
      settings.ropeBase = ropeBase
    }
    guard let language = loaded.languageModel else {
      throw UsageError(message: "frontier train: --init \(path) holds an encoder; pass a causal language model")
    }
    guard language.vocabularySize >= meta.vocabularySize else {
      throw UsageError(
        message: "frontier train: --init \(path) has a \(language.vocabularySize)-token vocabulary but \(data) "
          + "holds ids up to \(meta.vocabularySize - 1); prepare the data with the model's tokenizer")
    }
    guard language.contextLength >= settings.contextLength else {
      throw UsageError(
        message: "frontier train: --context \(settings.contextLength) exceeds the \(language.contextLength) "
          + "positions of --init \(path); pass --context \(language.contextLength) or less, or --rope-base to "
          + "retrain a Llama at a longer context")
    }
    let module = loaded.module
    let save: (String) throws -> Void
    switch loaded {
    case .llama(let m):
      settings.architecture = "llama"
      save = { try m.save(to: $0) }
    case .gpt2(let m):
      settings.architecture = "gpt2"
      save = { try m.save(to: $0) }
    case .bert:
      throw UsageError(message: "frontier train: --init \(path) holds an encoder; pass a causal language model")
    }
    settings.vocabularySize = language.vocabularySize
    settings.layers = language.layerCount
    settings.heads = 0
    settings.width = 0
    settings.initialWeights = path
    return TrainableModel(
      module: module, forward: { ids, _ in try language.logits(ids, state: nil) },
      export: save)
  }

  /// Refuses sizes whose model (weights, gradients and AdamW's two moments: 16 bytes a parameter) or
  /// logits of one micro-batch could not fit in physical memory, naming the options, before any allocation.
  /// Both architectures have about 12 · width² parameters a block.
  static func checkMemory(_ settings: ModelSettings, batch: Int) throws {
    typealias F = MemoryTerm.Factor
    let (v, w, t) = (
      F("--vocab", settings.vocabularySize), F("--width", settings.width), F("--context", settings.contextLength)
    )
    let model = [
      MemoryTerm("the token embedding", [v, w], elementBytes: 16),
      MemoryTerm("the blocks", [F("--layers", settings.layers), w, w], multiplier: 12, elementBytes: 16),
      MemoryTerm("the positions", [t, w], elementBytes: 16),
    ]
    let logits = [MemoryTerm("the logits of a micro-batch", [F("--batch", batch), t, v], multiplier: 3)]
    if let problem = MemoryBudget.problem(model, as: "weights, gradients and AdamW moments")
      ?? MemoryBudget.problem(logits, as: "float32 logits, probabilities and their gradients")
    {
      throw UsageError(message: "frontier train: \(problem); pass smaller sizes")
    }
  }

  private static func say(_ communicator: Communicator, _ text: String) {
    if communicator.rank == 0 { print(text) }
  }

  /// The command line with values from `--config` filled in where no flag was given.
  static func merged(_ args: ParsedArguments) throws -> ParsedArguments {
    guard let path = args.string("config") else { return args }
    guard let bytes = FileManager.default.contents(atPath: path) else {
      throw UsageError(message: "frontier train: cannot read --config \(path)")
    }
    guard let object = (try? JSONSerialization.jsonObject(with: bytes)) as? [String: Any] else {
      throw UsageError(message: "frontier train: \(path) is not a JSON object of option names to values")
    }
    var result = args
    let specs = Dictionary(uniqueKeysWithValues: options.map { ($0.name, $0) })
    for (key, value) in object.sorted(by: { $0.key < $1.key }) {
      guard let spec = specs[key], key != "config" else {
        throw UsageError(message: "frontier train: \(path) has unknown option '\(key)' (see frontier train --help)")
      }
      if spec.valueIsOptional, let on = value as? Bool {
        if on && !args.flags.contains(key) { result.flags.insert(key) }
      } else if spec.valueIsOptional, let text = value as? String {
        if !args.flags.contains(key) {
          result.flags.insert(key)
          result.values[key] = text
        }
      } else if spec.value == nil {
        guard let on = value as? Bool else {
          throw UsageError(message: "frontier train: \(path): '\(key)' must be true or false")
        }
        if on && !args.flags.contains(key) { result.flags.insert(key) }
      } else if args.values[key] == nil {
        switch value {
        case let s as String: result.values[key] = s
        case let n as NSNumber: result.values[key] = n.stringValue
        default: throw UsageError(message: "frontier train: \(path): '\(key)' must be a number or a string")
        }
      }
    }
    return result
  }
}
