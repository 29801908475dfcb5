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
  /// The step from which the learning rate falls linearly, reaching 10% after `cooldownSteps` (nil: constant).
  public var cooldownStartStep: Int?
  /// Length of the cooldown.
  public var cooldownSteps: Int
  /// Steps before Random State Passing starts (0: from the first step). From scratch, state passing from step 0
  /// keeps FAM from learning to store anything; it is switched on once the memory is in use.
  public var statePassingStartStep: Int

  /// Creates options (paper defaults: offsets on, RSP p = 0.8).
  public init(
    learningRate: Float = 1e-3, clipNorm: Float = 1, randomPositionOffset: Bool = true,
    statePassingProbability: Float = 0.8, seed: UInt64 = 0, warmupSteps: Int = 0, statePassingStartStep: Int = 0,
    cooldownStartStep: Int? = nil, cooldownSteps: Int = 1
  ) {
    self.cooldownStartStep = cooldownStartStep
    self.cooldownSteps = cooldownSteps
    self.warmupSteps = warmupSteps
    self.statePassingStartStep = statePassingStartStep
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
  /// Whether the last step started from a passed FAM state (Random State Passing).
  public private(set) var usedPassedState = false
  /// The learning rate of the last step (after warmup and cooldown).
  public var learningRate: Float { optimizer.learningRate }

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
    var cooldown: Float = 1
    if let start = options.cooldownStartStep, steps > start {
      cooldown = max(0.1, 1 - 0.9 * Float(steps - start) / Float(max(options.cooldownSteps, 1)))
    }
    optimizer.learningRate = options.learningRate * warmup * cooldown
    var offset = 0
    if options.randomPositionOffset && generator.nextFloat() >= 0.5 {
      offset = Int(generator.nextFloat() * 2 * Float.pi * 10_000)
    }
    let batch = ids.shape[0]
    var state: FAMState?
    usedPassedState = false
    let passes = generator.nextFloat() < options.statePassingProbability && steps > options.statePassingStartStep
    if let passedState, model.configuration.mode == .fam, passes {
      state = try passedState.broadcastRow(0, to: batch)
      usedPassedState = true
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
