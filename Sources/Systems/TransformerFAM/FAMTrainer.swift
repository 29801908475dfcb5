import NN
import TensorCore

/// Training options of TransformerFAM (§3.1, App. B): Random Position Offset and Random State Passing.
public struct FAMTrainingOptions: Sendable {
  /// AdamW learning rate (constant, as in the paper).
  public var learningRate: Float
  /// Global gradient-norm clip.
  public var clipNorm: Float
  /// Offset = U(0, 2π·10⁴)·round(U(0, 1)), added to every position of a step.
  public var randomPositionOffset: Bool
  /// Probability of starting a step from batch element 0's final FAM of the previous step (0 turns RSP off).
  public var statePassingProbability: Float
  /// Seed of the offsets and state-passing draws.
  public var seed: UInt64
  /// Steps of linear learning-rate warmup from 0 (then constant).
  public var warmupSteps: Int

  /// Creates options (paper defaults: offsets on, RSP p = 0.8).
  public init(
    learningRate: Float = 1e-3, clipNorm: Float = 1, randomPositionOffset: Bool = true,
    statePassingProbability: Float = 0.8, seed: UInt64 = 0, warmupSteps: Int = 0
  ) {
    self.warmupSteps = warmupSteps
    self.learningRate = learningRate
    self.clipNorm = clipNorm
    self.randomPositionOffset = randomPositionOffset
    self.statePassingProbability = statePassingProbability
    self.seed = seed
  }
}

/// Trains a ``FAMModel`` (all its trainable parameters: full fine-tuning, or LoRA adapters plus the FAM prompt
/// after `addLoRA`) on token batches with next-token cross-entropy; targets of -100 are ignored.
public final class FAMTrainer {
  /// The model being trained.
  public let model: FAMModel
  /// The options.
  public let options: FAMTrainingOptions
  private let optimizer: AdamW
  private var generator: RandomGenerator
  private var passedState: FAMState?
  private var steps = 0

  /// A trainer; it switches the model to training mode.
  public init(model: FAMModel, options: FAMTrainingOptions) {
    self.model = model
    self.options = options
    optimizer = AdamW(learningRate: options.learningRate, betas: (0.9, 0.99), weightDecay: 0)
    generator = RandomGenerator(seed: options.seed)
    model.train()
  }

  /// One step on ids [B, T] with targets [B, T]; returns the loss. With `auxiliary`, its cross-entropy
  /// (targets [B, T], -100 ignored) is added with the given weight (the paper's low-weight LM tail).
  @discardableResult
  public func step(ids: Tensor, targets: Tensor, auxiliary: (targets: Tensor, weight: Float)? = nil) throws -> Float {
    steps += 1
    let warmup = options.warmupSteps > 0 ? min(1, Float(steps) / Float(options.warmupSteps)) : 1
    optimizer.learningRate = options.learningRate * warmup
    var offset = 0
    if options.randomPositionOffset && generator.nextFloat() >= 0.5 {
      offset = Int(generator.nextFloat() * 2 * Float.pi * 10_000)
    }
    let batch = ids.shape[0]
    var state: FAMState?
    if let passedState, model.configuration.mode == .fam, generator.nextFloat() < options.statePassingProbability {
      state = try passedState.broadcastRow(0, to: batch)
    }
    var finalState: FAMState?
    let (loss, grads) = try valueAndGradient(of: model) { m in
      let (logits, next) = try m.logits(ids, state: state, positionOffset: offset)
      finalState = next
      let loss = try logits.crossEntropy(targets: targets)
      guard let auxiliary, auxiliary.weight > 0 else { return loss }
      return try loss + logits.crossEntropy(targets: auxiliary.targets) * auxiliary.weight
    }
    if options.statePassingProbability > 0, let finalState, !finalState.memory.isEmpty {
      passedState = try finalState.broadcastRow(0, to: 1).detached()
    }
    let (scale, _) = GradientClipping.scale(for: grads, maxNorm: options.clipNorm)
    try optimizer.update(model, gradients: grads, gradientScale: scale)
    return loss.item()
  }
}
