import Models

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
