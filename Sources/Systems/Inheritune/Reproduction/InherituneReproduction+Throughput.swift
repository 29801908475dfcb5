import Foundation
import Models
import Training

extension InherituneReproduction {
  /// Times an inherited and a scratch student of the same shape step by step in alternation (one step of each,
  /// `rounds` times, after one untimed step each), so that both see the same machine load; returns the tokens/s
  /// of every timed step of each.
  func measureThroughput(parent: LoadedModel, data: RunData) throws -> (inherited: [Double], scratch: [Double]) {
    let rounds = quick ? 20 : 60
    let configuration = TrainingConfiguration(
      steps: rounds + 1, batchSize: settings.batch, contextLength: settings.context,
      learningRate: settings.learningRate, seed: 5)
    let trainers = try [InheritanceOptions.paper, .nothing].map { options in
      let student = try Inheritune.makeStudent(
        from: parent, layers: settings.studentLayers, options: options, seed: 5)
      let trainer = try Inheritune.makeTrainer(
        for: student.model, configuration: configuration, train: data.train, validation: nil)
      try trainer.trainStep()
      return trainer
    }
    var rates: [[Double]] = [[], []]
    let clock = ContinuousClock()
    for _ in 0..<rounds {
      for (i, trainer) in trainers.enumerated() {
        let start = clock.now
        try trainer.trainStep()
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        rates[i].append(Double(trainer.tokensPerStep) / seconds)
      }
    }
    log(
      String(
        format: "throughput (median of %d alternated steps): inherited %.0f tokens/s, scratch %.0f tokens/s", rounds,
        Self.median(rates[0]), Self.median(rates[1])))
    return (rates[0], rates[1])
  }

  /// The median of `values` (NaN when empty).
  static func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
  }
}
