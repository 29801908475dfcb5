import Data
import Distributed
import Foundation
import LMCore
import NN
import TensorCore

/// Trains a language model on a token shard: AdamW, warmup + cosine schedule, gradient accumulation and
/// clipping, periodic evaluation and checkpoints, exact resume, and data parallelism over a ``Communicator``.
///
/// The loss is the mean next-token cross-entropy of the logits against the targets. With `size > 1`
/// ranks each rank draws its own slice of the global batch (see ``WindowSampler``), the gradients are summed
/// with one `allReduceSum` over a flat buffer (parameters in sorted path order) and divided by the rank
/// count, so every rank takes the same step. Rank 0 alone logs and writes files.
public final class Trainer {
  /// The model being trained.
  public let model: Module
  /// The run's settings.
  public let configuration: TrainingConfiguration
  /// The optimizer (its moments are part of every checkpoint).
  public let optimizer: AdamW
  /// The process group.
  public let communicator: Communicator
  /// The learning-rate schedule: linear warmup, then cosine decay to the minimum at the last step.
  public let schedule: LearningRateSchedule
  /// Completed optimizer steps.
  public internal(set) var step = 0
  /// The training-data sampler (its position is saved in checkpoints).
  public internal(set) var sampler: WindowSampler
  /// A random stream for the model (dropout); saved in checkpoints.
  public internal(set) var generator: RandomGenerator
  /// The model's configuration as JSON, stored in `state.json` and checked on resume.
  public let modelDescription: String
  /// The training shard's identity, stored in `state.json` and checked on resume.
  public let trainingData: TrainingDataRecord
  /// Where checkpoints, `metrics.jsonl` and `loss.svg` go (nil: nowhere).
  public let outputDirectory: String?
  /// Where progress goes (rank 0 only).
  public var progress: ProgressReporter
  /// Every train and validation record of this run (and of the run it resumed, from `metrics.jsonl`).
  public internal(set) var history: [MetricRecord] = []
  /// The checkpoint this run resumed from, if any (named when training diverges).
  public internal(set) var resumedCheckpoint: String?

  let forward: (Tensor, inout RandomGenerator) throws -> Tensor
  let trainShard: TokenShard
  let validationShard: TokenShard?
  let metrics: MetricsLog?

  /// A trainer for any module; `forward` maps ids [B, T] to logits [B, T, V].
  public init(
    model: Module, configuration: TrainingConfiguration, train: TokenShard, validation: TokenShard? = nil,
    communicator: Communicator = SingleProcessCommunicator(), outputDirectory: String? = nil,
    modelDescription: String = "{}", progress: ProgressReporter = .quiet,
    forward: @escaping (Tensor, inout RandomGenerator) throws -> Tensor
  ) throws {
    try configuration.validate()
    guard train.count > configuration.contextLength else {
      throw TrainingError(
        path: train.path,
        problem: "holds \(train.count) tokens, too few for a context of \(configuration.contextLength)",
        remedy: "prepare more text or lower --context")
    }
    self.model = model
    self.configuration = configuration
    self.trainShard = train
    self.validationShard = validation.flatMap { $0.count > configuration.contextLength ? $0 : nil }
    self.communicator = communicator
    self.outputDirectory = outputDirectory
    self.modelDescription = modelDescription
    trainingData = TrainingDataRecord(train)
    self.progress = communicator.rank == 0 ? progress : .quiet
    self.forward = forward
    optimizer = AdamW(
      learningRate: configuration.learningRate, betas: (0.9, 0.95), eps: 1e-8,
      weightDecay: configuration.weightDecay, decays: AdamW.decayMatricesOnly)
    schedule = .cosine(
      peak: configuration.learningRate, minimum: configuration.minimumLearningRate,
      warmup: configuration.warmupSteps, total: max(configuration.steps, 1))
    sampler = WindowSampler(seed: configuration.seed, context: configuration.contextLength)
    generator = RandomGenerator(seed: configuration.seed &+ 0x5EED)
    if let outputDirectory, communicator.rank == 0 {
      try FileManager.default.createDirectory(atPath: outputDirectory, withIntermediateDirectories: true)
      metrics = MetricsLog(path: (outputDirectory as NSString).appendingPathComponent("metrics.jsonl"))
    } else {
      metrics = nil
    }
  }

  /// A trainer for a ``LanguageModel`` that is a ``Module``: the logits come from `logits(_:state:)`.
  public convenience init<M: Module & LanguageModel>(
    languageModel: M, configuration: TrainingConfiguration, train: TokenShard, validation: TokenShard? = nil,
    communicator: Communicator = SingleProcessCommunicator(), outputDirectory: String? = nil,
    modelDescription: String = "{}", progress: ProgressReporter = .quiet
  ) throws {
    try self.init(
      model: languageModel, configuration: configuration, train: train, validation: validation,
      communicator: communicator, outputDirectory: outputDirectory, modelDescription: modelDescription,
      progress: progress
    ) { ids, _ in try languageModel.logits(ids, state: nil) }
  }

  /// Tokens one optimizer step consumes over all ranks.
  public var tokensPerStep: Int {
    configuration.batchSize * configuration.contextLength * configuration.accumulationSteps * communicator.size
  }

  /// One optimizer step; returns the training loss averaged over micro-batches and ranks.
  @discardableResult
  public func trainStep() throws -> StepResult {
    let (loss, gradients) = try nextGradients()
    let keys = gradients.keys.sorted()
    let norm = Float(keys.reduce(0.0) { $0 + gradients[$1]!.sumOfSquares() }.squareRoot())
    guard loss.isFinite, norm.isFinite else { throw diverged("loss \(loss), gradient norm \(norm)", at: step + 1) }
    let clip = configuration.gradientClip
    let scale: Float = clip > 0 && norm > clip ? clip / (norm + 1e-6) : 1
    optimizer.learningRate = schedule.rate(at: step)
    try optimizer.update(model, gradients: gradients, gradientScale: scale)
    step += 1
    return StepResult(step: step, loss: loss, learningRate: optimizer.learningRate, gradientNorm: norm)
  }

  /// The loss and gradient of the next global batch (accumulated over micro-batches, averaged over ranks);
  /// advances the sampler but does not update the model.
  public func nextGradients() throws -> (loss: Float, gradients: [String: Tensor]) {
    model.train()
    var accumulator = GradientAccumulator()
    var lossSum: Float = 0
    for _ in 0..<configuration.accumulationSteps {
      let batch = try sampler.next(
        from: trainShard, batch: configuration.batchSize, rank: communicator.rank, ranks: communicator.size)
      let (loss, gradients) = try valueAndGradient(of: model) { _ in
        try forward(batch.inputs, &generator).crossEntropy(targets: batch.targets)
      }
      lossSum += loss.item()
      try accumulator.add(gradients)
    }
    var gradients = accumulator.mean()
    var loss = lossSum / Float(configuration.accumulationSteps)
    if communicator.size > 1 { loss = try averageOverRanks(&gradients, loss: loss) }
    return (loss, gradients)
  }

  /// Sums gradients (and the loss) over ranks in one flat buffer and divides by the rank count.
  private func averageOverRanks(_ gradients: inout [String: Tensor], loss: Float) throws -> Float {
    let keys = gradients.keys.sorted()
    var flat: [Float] = []
    flat.reserveCapacity(keys.reduce(1) { $0 + gradients[$1]!.count })
    for key in keys { flat += gradients[key]!.floats }
    flat.append(loss)
    try communicator.allReduceSum(&flat)
    let inverse = 1 / Float(communicator.size)
    var offset = 0
    for key in keys {
      let shape = gradients[key]!.shape
      let n = gradients[key]!.count
      gradients[key] = Tensor(flat[offset..<(offset + n)].map { $0 * inverse }, shape: shape)
      offset += n
    }
    return flat[offset] * inverse
  }

  /// Mean loss over the validation batches (the same windows every time), or nil without a validation shard.
  public func evaluate() throws -> Float? {
    guard let validationShard else { return nil }
    model.eval()
    defer { model.train() }
    let evalSampler = WindowSampler(seed: configuration.seed ^ 0xE7A1, context: configuration.contextLength)
    var evalGenerator = RandomGenerator(seed: 1)
    let perRank = configuration.batchSize
    var sums: [Float] = [0, 0]
    try withoutGradients {
      for b in 0..<configuration.evaluationBatches {
        let first = UInt64((b * communicator.size + communicator.rank) * perRank)
        let batch = try evalSampler.batch(from: validationShard, count: perRank, first: first)
        sums[0] += try forward(batch.inputs, &evalGenerator).crossEntropy(targets: batch.targets).item()
        sums[1] += 1
      }
    }
    if communicator.size > 1 { try communicator.allReduceSum(&sums) }
    return sums[0] / sums[1]
  }

  /// Trains until `configuration.steps` (or `until`), evaluating, logging and checkpointing on the way.
  ///
  /// Writes a final checkpoint and `loss.svg` when an output directory is set.
  @discardableResult
  public func run(until last: Int? = nil) throws -> [StepResult] {
    let target = min(last ?? configuration.steps, configuration.steps)
    var results: [StepResult] = []
    let clock = ContinuousClock()
    let start = clock.now
    let firstStep = step
    while step < target {
      let result = try trainStep()
      results.append(result)
      let elapsed = max(1e-9, (clock.now - start).seconds)
      let rate = Double((step - firstStep) * tokensPerStep) / elapsed
      let eta = elapsed / Double(step - firstStep) * Double(target - step)
      try record(MetricRecord(train: result, tokensPerSecond: rate))
      progress.update(
        result, total: configuration.steps, tokensPerSecond: rate, eta: eta, every: configuration.logInterval)
      if configuration.evaluationInterval > 0 && (step % configuration.evaluationInterval == 0 || step == target),
        let validation = try evaluate()
      {
        guard validation.isFinite else { throw diverged("validation loss \(validation)", at: step) }
        try record(MetricRecord(step: step, split: .validation, loss: validation))
        progress.note(String(format: "step %d: validation loss %.4f", step, validation))
      }
      if configuration.checkpointInterval > 0 && step % configuration.checkpointInterval == 0 && step < target {
        try saveCheckpoint()
      }
    }
    progress.finish()
    if outputDirectory != nil && target > firstStep { try saveCheckpoint() }
    return results
  }

  /// Training diverged at `step` (`what` says how), naming the checkpoint the run resumed from, if any.
  private func diverged(_ what: String, at step: Int) -> TrainingError {
    TrainingError(
      path: resumedCheckpoint ?? "",
      problem: "training diverged at step \(step)\(resumedCheckpoint == nil ? "" : " after resuming from it"): \(what)",
      remedy: "lower the learning rate (--lr), enable clipping (--clip), or resume from an earlier checkpoint")
  }

  private func record(_ entry: MetricRecord) throws {
    history.append(entry)
    try metrics?.append(entry)
  }
}

/// What one optimizer step did.
public struct StepResult: Sendable, Equatable {
  /// The step number (1-based) just completed.
  public let step: Int
  /// Training loss averaged over micro-batches and ranks.
  public let loss: Float
  /// The learning rate used.
  public let learningRate: Float
  /// Global gradient norm before clipping.
  public let gradientNorm: Float
}
