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
    ) { ids, _ in try language.logits(ids, state: nil) }
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
