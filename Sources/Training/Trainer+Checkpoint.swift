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
    let name = String(format: "step-%08d", step)
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
        model: modelDescription)
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

  /// Restores the model, optimizer, sampler, generator and step from a checkpoint folder.
  ///
  /// The batch size, context length, accumulation and seed must match the checkpoint's (otherwise the run
  /// would not continue the same data stream), and so must the model description.
  public func resume(from checkpoint: String) throws {
    let statePath = (checkpoint as NSString).appendingPathComponent("state.json")
    guard let data = FileManager.default.contents(atPath: statePath) else {
      throw TrainingError(path: statePath, problem: "is missing", remedy: "pass a folder written by `frontier train`")
    }
    let state: TrainingState
    do {
      state = try JSONDecoder().decode(TrainingState.self, from: data)
    } catch {
      throw TrainingError(path: statePath, problem: "is not a valid training state", remedy: "pick another checkpoint")
    }
    let saved = state.configuration
    let mismatches = [
      ("batch size", saved.batchSize, configuration.batchSize),
      ("context length", saved.contextLength, configuration.contextLength),
      ("accumulation steps", saved.accumulationSteps, configuration.accumulationSteps),
      ("seed", Int(truncatingIfNeeded: saved.seed), Int(truncatingIfNeeded: configuration.seed)),
    ].filter { $0.1 != $0.2 }
    if let (what, old, new) = mismatches.first {
      throw TrainingError(
        path: statePath, problem: "the checkpoint's \(what) is \(old) but this run's is \(new)",
        remedy: "use the checkpoint's settings to resume, or start a new run")
    }
    // A checkpoint folder is named after its step (step-NNNNNNNN), and no run saves beyond its last step.
    let folderStep = Int((checkpoint as NSString).lastPathComponent.split(separator: "-").last ?? "")
    guard state.step >= 0, state.step <= saved.steps, folderStep.map({ $0 == state.step }) ?? true else {
      throw TrainingError(
        path: statePath,
        problem: "says step \(state.step), but the checkpoint is \((checkpoint as NSString).lastPathComponent) "
          + "of a run of \(saved.steps) steps",
        remedy: "restore state.json or resume from another checkpoint")
    }
    guard state.model == modelDescription else {
      throw TrainingError(
        path: statePath, problem: "was written for a different model (\(state.model))",
        remedy: "use the same model settings as the checkpoint")
    }
    try model.loadSafetensors(from: (checkpoint as NSString).appendingPathComponent("model.safetensors"))
    try OptimizerState.load(
      optimizer, from: (checkpoint as NSString).appendingPathComponent("optimizer.safetensors"), for: model)
    step = state.step
    sampler = WindowSampler(state: state.sampler, context: configuration.contextLength)
    generator = state.generator
    if let metrics {
      history = try metrics.truncate(afterStep: step)
    }
    resumedCheckpoint = checkpoint
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
