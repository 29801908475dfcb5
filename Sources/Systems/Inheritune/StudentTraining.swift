import Data
import Models
import NN
import TensorCore
import Training

extension Inheritune {
  /// A ``Trainer`` for `model`: the same trainer, optimizer and schedule `frontier train` uses, with fresh
  /// AdamW state and a schedule that starts with its warmup (as the paper restarts it for every student).
  public static func makeTrainer(
    for model: LoadedModel, configuration: TrainingConfiguration, train: TokenShard, validation: TokenShard?,
    outputDirectory: String? = nil, progress: ProgressReporter = .quiet
  ) throws -> Trainer {
    guard let language = model.languageModel else {
      throw InherituneError("model", "is an encoder", "train a causal language model")
    }
    return try Trainer(
      model: model.module, configuration: configuration, train: train, validation: validation,
      outputDirectory: outputDirectory, progress: progress
    ) { ids, _ in try language.logits(ids, cache: nil) }
  }

  /// Mean validation loss of `model` on the windows a trainer with `configuration` evaluates on.
  public static func validationLoss(
    of model: LoadedModel, configuration: TrainingConfiguration, train: TokenShard, validation: TokenShard
  ) throws -> Float {
    var quiet = configuration
    quiet.steps = 0
    let trainer = try makeTrainer(for: model, configuration: quiet, train: train, validation: validation)
    guard let loss = try trainer.evaluate() else {
      throw InherituneError(validation.path, "is too short to evaluate on", "prepare more validation text")
    }
    return loss
  }
}

/// One round of the grow loop.
public struct GrowAttempt {
  /// Student blocks in this round.
  public let layers: Int
  /// The trained student.
  public let student: InheritedModel
  /// Its validation loss after training.
  public let validationLoss: Float
}

extension Inheritune {
  /// The paper's Algorithm 1: start at `startLayers` blocks, train, and while the validation loss is above
  /// `target` (the parent's), re-inherit `increment` more blocks from the parent (not from the trained
  /// student) and train again from scratch state. Stops at the parent's depth.
  ///
  /// `train` trains one student and returns its validation loss.
  public static func grow(
    parent: LoadedModel, startLayers: Int, increment: Int = 2, options: InheritanceOptions = .paper,
    seed: UInt64 = 0, target: Float, train: (InheritedModel) throws -> Float
  ) throws -> [GrowAttempt] {
    guard increment >= 1 else {
      throw InherituneError("--grow-step", "must be at least 1, got \(increment)", "pass a positive number")
    }
    let k = layerCount(of: parent)
    var n = startLayers
    var attempts: [GrowAttempt] = []
    while true {
      let student = try makeStudent(from: parent, layers: n, options: options, seed: seed)
      let loss = try train(student)
      attempts.append(GrowAttempt(layers: n, student: student, validationLoss: loss))
      if loss <= target || n >= k { return attempts }
      n = min(n + increment, k)
    }
  }
}
