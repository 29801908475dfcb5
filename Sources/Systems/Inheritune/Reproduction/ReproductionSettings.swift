/// The sizes of the miniature Inheritune reproduction (track B: GPT-2 on tiny-shakespeare bytes; track A:
/// the pretrained llama2.c stories260K model on TinyStories).
public struct ReproductionSettings: Codable, Equatable, Sendable {
  /// Parent blocks k (track B).
  public var parentLayers: Int
  /// Student blocks n = k/2.
  public var studentLayers: Int
  /// Model width.
  public var width: Int
  /// Attention heads.
  public var heads: Int
  /// Tokens per window.
  public var context: Int
  /// Windows per step.
  public var batch: Int
  /// Parent pretraining steps.
  public var parentSteps: Int
  /// Student steps S (scratch also runs 2S).
  public var steps: Int
  /// Peak learning rate (one value for parent and every student).
  public var learningRate: Float
  /// Validation points per S steps (plus step 0).
  public var evaluationPoints: Int
  /// Batches per validation (the same windows for every run).
  public var evaluationBatches: Int
  /// Seeds of the inherited/scratch pair.
  public var seeds: [UInt64]
  /// Share of the training bytes the low-data students see.
  public var lowDataFraction: Double
  /// Whether to run track A (stories260K), when its files are present.
  public var trackA: Bool
  /// Track A student steps.
  public var trackASteps: Int
  /// Track A tokens per window.
  public var trackAContext: Int

  /// The full run (about 40 minutes on two shared cores).
  public static let full = ReproductionSettings(
    parentLayers: 8, studentLayers: 4, width: 96, heads: 4, context: 128, batch: 16, parentSteps: 1000, steps: 600,
    learningRate: 1e-3, evaluationPoints: 20, evaluationBatches: 8, seeds: [0, 1, 2], lowDataFraction: 0.01,
    trackA: true, trackASteps: 600, trackAContext: 256)

  /// The quick run (a few minutes).
  public static let quick = ReproductionSettings(
    parentLayers: 4, studentLayers: 2, width: 48, heads: 4, context: 64, batch: 8, parentSteps: 400, steps: 300,
    learningRate: 2e-3, evaluationPoints: 10, evaluationBatches: 4, seeds: [0, 1, 2], lowDataFraction: 0.01,
    trackA: true, trackASteps: 100, trackAContext: 128)

  /// Steps between validations.
  public var evaluationInterval: Int { max(1, steps / evaluationPoints) }

  /// Tokens per optimizer step.
  public var tokensPerStep: Int { batch * context }
}
