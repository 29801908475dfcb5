import Foundation
import Models
import Training

extension InherituneReproduction {
  /// Times inherited and scratch students of the same shape in alternation (three rounds of `steps` steps
  /// after one untimed step each), so that both see the same machine load; returns tokens/s per round.
  func measureThroughput(parent: LoadedModel, data: RunData) throws -> (inherited: [Double], scratch: [Double]) {
    let steps = quick ? 10 : 30
    var rates: [[Double]] = [[], []]
    let clock = ContinuousClock()
    for round in 0..<3 {
      for (i, options) in [InheritanceOptions.paper, .nothing].enumerated() {
        let student = try Inheritune.makeStudent(
          from: parent, layers: settings.studentLayers, options: options, seed: UInt64(round))
        let configuration = TrainingConfiguration(
          steps: steps + 1, batchSize: settings.batch, contextLength: settings.context,
          learningRate: settings.learningRate, seed: UInt64(round))
        let trainer = try Inheritune.makeTrainer(
          for: student.model, configuration: configuration, train: data.train, validation: nil)
        try trainer.trainStep()
        let start = clock.now
        try trainer.run()
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
        rates[i].append(Double(steps * trainer.tokensPerStep) / seconds)
      }
    }
    log(
      String(
        format: "throughput: inherited %@ tokens/s, scratch %@ tokens/s",
        rates[0].map { String(Int($0)) }.joined(separator: "/"), rates[1].map { String(Int($0)) }.joined(separator: "/")
      ))
    return (rates[0], rates[1])
  }
}
