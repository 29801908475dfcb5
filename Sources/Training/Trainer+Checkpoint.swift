import Checkpoints
import Data
import Foundation
import Kernels
import NN
import Reports

/// Everything besides tensors that a resumed run needs, saved as `state.json`.
public struct TrainingState: Codable, Sendable {
  /// Completed optimizer steps.
  public var step: Int
  /// The training sampler's seed and position.
  public var sampler: SamplerState
  /// The trainer's random generator.
  public var generator: RandomGenerator
  /// The run's settings.
  public var configuration: TrainingConfiguration
  /// The model's configuration as JSON.
  public var model: String
  /// The training data (nil in checkpoints written before it was recorded).
  public var data: TrainingDataRecord?
  /// The processes that trained (nil in checkpoints written before it was recorded).
  public var ranks: Int?
}

/// Which tokens a run trains on: the training shard's path, token count and ``Data/TokenShard/fingerprint(samples:)``.
public struct TrainingDataRecord: Codable, Equatable, Sendable {
  /// The shard's path when the run started.
  public var path: String
  /// Its tokens.
  public var tokens: Int
  /// Its fingerprint.
  public var fingerprint: UInt64

  /// The record of `shard`.
  public init(_ shard: TokenShard) {
    path = URL(fileURLWithPath: shard.path).standardizedFileURL.path
    tokens = shard.count
    fingerprint = shard.fingerprint()
  }

  /// Whether both describe the same tokens (wherever the shard lies now).
  public func sameTokens(as other: TrainingDataRecord) -> Bool {
    tokens == other.tokens && fingerprint == other.fingerprint
  }
}

extension Trainer {
  /// The folder that holds this run's checkpoints, `<output>/checkpoints`.
  public var checkpointsDirectory: String? {
    outputDirectory.map { ($0 as NSString).appendingPathComponent("checkpoints") }
  }

  /// Writes `checkpoints/step-NNNNNNNN/` (model, optimizer, state) atomically, deletes the oldest beyond
  /// `keepCheckpoints`, and redraws `loss.svg`; returns the folder (nil on ranks other than 0).
  @discardableResult
  public func saveCheckpoint() throws -> String? {
    guard communicator.rank == 0, let root = checkpointsDirectory else { return nil }
    let fm = FileManager.default
    try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
    let name = String(format: "step-%08ld", step)
    let final = (root as NSString).appendingPathComponent(name)
    let temporary = (root as NSString).appendingPathComponent(
      ".\(name).tmp-\(ProcessInfo.processInfo.processIdentifier)")
    try? fm.removeItem(atPath: temporary)
    do {
      try fm.createDirectory(atPath: temporary, withIntermediateDirectories: false)
      try model.saveSafetensors(to: (temporary as NSString).appendingPathComponent("model.safetensors"))
      try OptimizerState.save(optimizer, to: (temporary as NSString).appendingPathComponent("optimizer.safetensors"))
      let state = TrainingState(
        step: step, sampler: sampler.state, generator: generator, configuration: configuration,
        model: modelDescription, data: trainingData, ranks: communicator.size)
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      try AtomicFile.write(
        [UInt8](try encoder.encode(state)), to: (temporary as NSString).appendingPathComponent("state.json"))
      if fm.fileExists(atPath: final) { try fm.removeItem(atPath: final) }
      try ByteIO.rename(temporary, to: final)
    } catch {
      try? fm.removeItem(atPath: temporary)
      throw TrainingError(
        path: final, problem: "cannot write the checkpoint (\(error))", remedy: "check free disk space")
    }
    for old in Self.checkpoints(in: root).dropLast(configuration.keepCheckpoints) {
      try? fm.removeItem(atPath: old)
    }
    try writePlot()
    return final
  }

  /// The checkpoint folders under `directory`, oldest first.
  public static func checkpoints(in directory: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    return names.compactMap { name -> (Int, String)? in
      guard name.hasPrefix("step-"), let n = Int(name.dropFirst(5)) else { return nil }
      return (n, (directory as NSString).appendingPathComponent(name))
    }.sorted { $0.0 < $1.0 }.map(\.1)
  }

  /// The newest checkpoint of a run folder (its `checkpoints/` subfolder), or nil.
  public static func latestCheckpoint(inRun directory: String) -> String? {
    checkpoints(in: (directory as NSString).appendingPathComponent("checkpoints")).last
  }

  /// Draws `loss.svg` (train and validation loss against step) into the output folder.
  public func writePlot() throws {
    guard communicator.rank == 0, let outputDirectory else { return }
    let train = history.filter { $0.split == .train }.map { (Double($0.step), Double($0.loss)) }
    let validation = history.filter { $0.split == .validation }.map { (Double($0.step), Double($0.loss)) }
    let svg = SVGPlot.lineChart(
      title: "Loss", xLabel: "step", yLabel: "cross-entropy (nats/token)",
      series: [
        .init(name: "train", points: train, color: "#1f77b4"),
        .init(name: "validation", points: validation, color: "#d62728"),
      ])
    try AtomicFile.write(text: svg, to: (outputDirectory as NSString).appendingPathComponent("loss.svg"))
  }
}
