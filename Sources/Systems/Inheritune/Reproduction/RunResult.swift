/// One training run of the reproduction: what was trained and its validation curve.
public struct RunResult: Codable, Equatable, Sendable {
  /// Row name in the report.
  public var name: String
  /// Which table and plot it belongs to (`main`, `seeds`, `ablation`, `low-data`, `grow`, `track-a`).
  public var group: String
  /// Model blocks.
  public var layers: Int
  /// Parameters.
  public var parameters: Int
  /// Optimizer steps.
  public var steps: Int
  /// Seed of the fresh tensors and the data order.
  public var seed: UInt64
  /// What was inherited (`-` for scratch runs).
  public var inherited: String
  /// Whether the run started from a parent (its pretraining counts toward the run's cost).
  public var usesParent: Bool
  /// Tokens in the training shard it drew from.
  public var trainingTokens: Int
  /// Steps at which the validation loss was measured (0 first).
  public var evaluationSteps: [Int]
  /// Validation loss at those steps.
  public var validationLosses: [Float]
  /// Training throughput (evaluation excluded).
  public var tokensPerSecond: Double
  /// Training time in seconds (evaluation excluded).
  public var seconds: Double

  /// The validation loss at `step` (the nearest measured step at or after it).
  public func validationLoss(atStep step: Int) -> Float? {
    zip(evaluationSteps, validationLosses).first { $0.0 >= step }?.1
  }

  /// The last validation loss.
  public var finalLoss: Float { validationLosses.last ?? .nan }

  /// The lowest validation loss.
  public var minimumLoss: Float { validationLosses.min() ?? .nan }
}
