import Models
import NN
import TensorCore

/// How the filler length of training sequences grows: blocks are drawn uniformly from a range whose bounds move
/// linearly from `start` to `end` over `rampSteps` steps, then stay at `end`.
public struct PasskeyCurriculum: Sendable, Equatable, Encodable {
  /// Filler blocks at step 0.
  public var start: ClosedRange<Int>
  /// Filler blocks from step `rampSteps` on.
  public var end: ClosedRange<Int>
  /// Steps over which the range moves from `start` to `end` (0: `end` from the first step).
  public var rampSteps: Int

  /// Creates a curriculum.
  public init(start: ClosedRange<Int>, end: ClosedRange<Int>, rampSteps: Int) {
    self.start = start
    self.end = end
    self.rampSteps = rampSteps
  }

  /// The range of filler blocks at `step`.
  public func range(atStep step: Int) -> ClosedRange<Int> {
    guard rampSteps > 0, step < rampSteps else { return end }
    func mix(_ a: Int, _ b: Int) -> Int { a + (b - a) * step / rampSteps }
    let low = mix(start.lowerBound, end.lowerBound)
    return low...max(low, mix(start.upperBound, end.upperBound))
  }

  /// The filler blocks of the batch at `step`, drawn from `generator`.
  public func blocks(atStep step: Int, generator: inout RandomGenerator) -> Int {
    let r = range(atStep: step)
    return r.lowerBound + Int(generator.next() % UInt64(r.count))
  }
}

/// The training recipe shared by every PassKey arm: a from-scratch pre-norm decoder, AdamW with warmup, a filler
/// curriculum, and an optional low-weight LM loss on the non-answer tokens.
public struct PasskeyRecipe: Sendable, Encodable {
  /// Model width d.
  public var hiddenSize = 96
  /// Decoder layers.
  public var layers = 3
  /// Attention heads.
  public var heads = 4
  /// Feed-forward width.
  public var intermediateSize = 256
  /// Training steps.
  public var steps = 1000
  /// Sequences per step.
  public var batch = 8
  /// Peak AdamW learning rate.
  public var learningRate: Float = 1e-3
  /// Linear warmup steps.
  public var warmupSteps = 50
  /// Weight of the LM loss on the non-answer tokens (0: answers only).
  public var languageWeight: Float = 0
  /// Final steps over which the learning rate falls linearly to 10% (0: constant after warmup).
  public var cooldownSteps = 0
  /// Steps before Random State Passing starts on the arms that use it.
  public var statePassingStartStep = 0
  /// Filler lengths over training.
  public var curriculum = PasskeyCurriculum(start: 0...2, end: 2...16, rampSteps: 500)
  /// Seed of the model weights (the same for every arm).
  public var modelSeed: UInt64 = 42
  /// Seed of the training data (the same sequence of batches for every arm).
  public var dataSeed: UInt64 = 7

  /// The default recipe.
  public init() {}
}

/// One PassKey arm: an attention configuration and whether Random State Passing is on.
public struct PasskeyArm: Sendable, Encodable {
  /// The row label.
  public var name: String
  /// The attention settings.
  public var configuration: FAMConfiguration
  /// Random State Passing probability (FAM only; 0 turns it off).
  public var statePassing: Float

  /// Creates an arm.
  public init(name: String, configuration: FAMConfiguration, statePassing: Float = 0.8) {
    self.name = name
    self.configuration = configuration
    self.statePassing = statePassing
  }

  /// The farthest token distance (in whole blocks of tokens) over which BSWA can move information through
  /// `layers` layers: each layer reaches m blocks back, so a token in block 0 reaches blocks up to L·m, i.e.
  /// positions below (L·m + 1)·b. nil for FAM (unbounded).
  public func receptiveField(layers: Int) -> Int? {
    guard configuration.activeFAMLength == 0 else { return nil }
    return (layers * configuration.memoryBlocks + 1) * configuration.blockSize
  }

  /// The PassKey arms at block size `block`: BSWA M0, M1, M2, M1_SG; FAM m = 0 and m = 1 without Random State
  /// Passing, and FAM m = 0 with it (p = 0.8, from the recipe's `statePassingStartStep`).
  public static func all(block: Int, fam: Int) -> [PasskeyArm] {
    func bswa(_ m: Int) -> FAMConfiguration {
      FAMConfiguration(mode: .bswa, blockSize: block, memoryBlocks: m, famLength: 0)
    }
    func famArm(_ m: Int) -> FAMConfiguration {
      FAMConfiguration(mode: .fam, blockSize: block, memoryBlocks: m, famLength: fam)
    }
    let stopped = FAMConfiguration(
      mode: .fam, blockSize: block, memoryBlocks: 1, famLength: 0, stopsMemoryGradient: true)
    return [
      PasskeyArm(name: "BSWA M0", configuration: bswa(0)),
      PasskeyArm(name: "BSWA M1", configuration: bswa(1)),
      PasskeyArm(name: "BSWA M2", configuration: bswa(2)),
      PasskeyArm(name: "BSWA M1_SG", configuration: stopped),
      PasskeyArm(name: "FAM m=0", configuration: famArm(0), statePassing: 0),
      PasskeyArm(name: "FAM m=1", configuration: famArm(1), statePassing: 0),
      PasskeyArm(name: "FAM m=0 + RSP", configuration: famArm(0), statePassing: 0.8),
    ]
  }
}

/// One arm's from-scratch model and trainer, fed the recipe's batches step by step.
public final class PasskeyRun {
  /// The arm.
  public let arm: PasskeyArm
  /// The model.
  public let model: FAMModel
  /// The recipe.
  public let recipe: PasskeyRecipe
  private let trainer: FAMTrainer
  private let task: PasskeyTask
  private var data: RandomGenerator
  /// Steps taken.
  public private(set) var stepCount = 0
  /// Seconds spent inside training steps.
  public private(set) var trainingSeconds = 0.0

  /// Builds the arm's model (the same initial weights for every arm) over a vocabulary of `vocabularySize`.
  public init(arm: PasskeyArm, recipe: PasskeyRecipe, task: PasskeyTask, vocabularySize: Int) throws {
    self.arm = arm
    self.recipe = recipe
    self.task = task
    var generator = RandomGenerator(seed: recipe.modelSeed)
    let config = LlamaConfiguration(
      vocabularySize: vocabularySize, hiddenSize: recipe.hiddenSize, intermediateSize: recipe.intermediateSize,
      layers: recipe.layers, heads: recipe.heads, contextLength: 1 << 16)
    let parent = try Llama(config, generator: &generator)
    var famGenerator = RandomGenerator(seed: recipe.modelSeed &+ 1)
    model = try FAMModel(parent: parent, configuration: arm.configuration, generator: &famGenerator)
    trainer = FAMTrainer(
      model: model,
      options: FAMTrainingOptions(
        learningRate: recipe.learningRate, statePassingProbability: arm.statePassing, seed: recipe.dataSeed &+ 1,
        warmupSteps: recipe.warmupSteps, statePassingStartStep: recipe.statePassingStartStep,
        cooldownStartStep: recipe.cooldownSteps > 0 ? recipe.steps - recipe.cooldownSteps : nil,
        cooldownSteps: recipe.cooldownSteps))
    data = RandomGenerator(seed: recipe.dataSeed)
  }

  /// The next training batch (the same sequence for every arm of one recipe).
  public func nextBatch() -> PasskeyBatch {
    let blocks = recipe.curriculum.blocks(atStep: stepCount, generator: &data)
    return task.batch(recipe.batch, fillerBlocks: blocks, generator: &data)
  }

  /// One training step on `batch` (default: the next one); returns the loss (answers plus weighted LM).
  @discardableResult
  public func step(_ batch: PasskeyBatch? = nil) throws -> Float {
    let b = batch ?? nextBatch()
    let clock = ContinuousClock()
    let start = clock.now
    let auxiliary = recipe.languageWeight > 0 ? (b.languageTargets, recipe.languageWeight) : nil
    let loss = try trainer.step(ids: b.ids, targets: b.targets, auxiliary: auxiliary)
    let elapsed = clock.now - start
    trainingSeconds += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    stepCount += 1
    return loss
  }

  /// Teacher-forced accuracy on `sequences` fresh sequences of `blocks` filler blocks (batches of `chunk`):
  /// exact 5-digit and per-digit.
  public func evaluate(blocks: Int, sequences: Int, seed: UInt64, chunk: Int = 8) throws -> (
    sequences: Double, digits: Double
  ) {
    model.eval()
    defer { model.train() }
    var generator = RandomGenerator(seed: seed)
    var (correct, digits) = (0.0, 0.0)
    var remaining = sequences
    while remaining > 0 {
      let size = min(remaining, chunk)
      let batch = task.batch(size, fillerBlocks: blocks, generator: &generator)
      let accuracy = try model.passkeyAccuracy(ids: batch.ids, targets: batch.targets)
      correct += accuracy.sequences * Double(size)
      digits += accuracy.digits * Double(size)
      remaining -= size
    }
    return (correct / Double(sequences), digits / Double(sequences))
  }
}
