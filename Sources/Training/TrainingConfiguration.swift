import Foundation

/// The settings of one training run (everything but the model and the data).
///
/// `batchSize` is the micro-batch of one rank; one optimizer step sees
/// `batchSize × accumulationSteps × ranks` windows of `contextLength` tokens.
public struct TrainingConfiguration: Codable, Equatable, Sendable {
  /// Optimizer steps of the whole run.
  public var steps: Int
  /// Windows per micro-batch on each rank.
  public var batchSize: Int
  /// Tokens per window (the model's input length).
  public var contextLength: Int
  /// Peak learning rate.
  public var learningRate: Float
  /// Learning rate at the end of the cosine decay.
  public var minimumLearningRate: Float
  /// Linear warmup steps.
  public var warmupSteps: Int
  /// Micro-batches whose gradients are averaged into one step.
  public var accumulationSteps: Int
  /// Global gradient-norm limit (0 turns clipping off).
  public var gradientClip: Float
  /// AdamW weight decay (applied to matrices only).
  public var weightDecay: Float
  /// Evaluate on the validation shard every this many steps (0: never).
  public var evaluationInterval: Int
  /// Micro-batches per evaluation.
  public var evaluationBatches: Int
  /// Save a checkpoint every this many steps (0: only at the end).
  public var checkpointInterval: Int
  /// Checkpoints kept (the oldest are deleted).
  public var keepCheckpoints: Int
  /// Seed of the data sampler and of the trainer's random generator.
  public var seed: UInt64
  /// Print a plain progress line every this many steps when stderr is not a terminal.
  public var logInterval: Int

  /// A configuration with small-model defaults.
  public init(
    steps: Int = 1000, batchSize: Int = 8, contextLength: Int = 128, learningRate: Float = 1e-3,
    minimumLearningRate: Float? = nil, warmupSteps: Int = 0, accumulationSteps: Int = 1, gradientClip: Float = 1,
    weightDecay: Float = 0.1, evaluationInterval: Int = 0, evaluationBatches: Int = 4, checkpointInterval: Int = 0,
    keepCheckpoints: Int = 3, seed: UInt64 = 0, logInterval: Int = 10
  ) {
    self.steps = steps
    self.batchSize = batchSize
    self.contextLength = contextLength
    self.learningRate = learningRate
    self.minimumLearningRate = minimumLearningRate ?? learningRate / 10
    self.warmupSteps = warmupSteps
    self.accumulationSteps = accumulationSteps
    self.gradientClip = gradientClip
    self.weightDecay = weightDecay
    self.evaluationInterval = evaluationInterval
    self.evaluationBatches = evaluationBatches
    self.checkpointInterval = checkpointInterval
    self.keepCheckpoints = keepCheckpoints
    self.seed = seed
    self.logInterval = logInterval
  }

  /// Checks that every count is usable.
  public func validate() throws {
    func check(_ ok: Bool, _ what: String) throws {
      if !ok { throw TrainingError(problem: what, remedy: "fix the training configuration") }
    }
    try check(steps >= 0, "steps must be non-negative, got \(steps)")
    try check(batchSize > 0, "batch size must be positive, got \(batchSize)")
    try check(contextLength > 0, "context length must be positive, got \(contextLength)")
    try check(learningRate.isFinite && learningRate >= 0, "learning rate must be finite and non-negative")
    try check(minimumLearningRate.isFinite && minimumLearningRate >= 0, "minimum learning rate must be finite")
    try check(
      minimumLearningRate <= learningRate,
      "the minimum learning rate \(minimumLearningRate) (--min-lr) is above the peak learning rate \(learningRate) "
        + "(--lr); the cosine decay goes down from the peak")
    try check(
      weightDecay.isFinite && weightDecay >= 0,
      "weight decay must be finite and non-negative, got \(weightDecay) (--weight-decay)")
    try check(warmupSteps >= 0, "warmup steps must be non-negative")
    try check(accumulationSteps > 0, "accumulation steps must be positive, got \(accumulationSteps)")
    try check(gradientClip >= 0 && gradientClip.isFinite, "gradient clip must be finite and non-negative")
    try check(evaluationInterval >= 0 && evaluationBatches > 0, "evaluation interval/batches must be positive")
    try check(checkpointInterval >= 0 && keepCheckpoints > 0, "checkpoint interval/keep count must be positive")
    try check(logInterval > 0, "log interval must be positive")
  }
}

/// A training failure: one line saying what went wrong and what to do.
public struct TrainingError: Error, CustomStringConvertible, Sendable {
  /// The file involved, if any.
  public let path: String
  /// What went wrong.
  public let problem: String
  /// What to do.
  public let remedy: String

  /// Creates an error.
  public init(path: String = "", problem: String, remedy: String) {
    self.path = path
    self.problem = problem
    self.remedy = remedy
  }

  /// One line.
  public var description: String { path.isEmpty ? "\(problem); \(remedy)" : "\(path): \(problem); \(remedy)" }
}
