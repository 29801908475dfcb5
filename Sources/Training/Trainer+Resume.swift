import Checkpoints
import Data
import Foundation
import NN

extension Trainer {
  /// The state of the checkpoint folder `checkpoint`, once its files are found whole and consistent: a
  /// `state.json` that decodes, whose step matches the folder's name, the optimizer's step count and the
  /// sampler's position, and whose settings are valid; `model.safetensors` and `optimizer.safetensors` with
  /// valid headers. Anything else is a one-line ``TrainingError`` naming the file and what is wrong.
  public static func checkpointState(at checkpoint: String) throws -> TrainingState {
    let statePath = (checkpoint as NSString).appendingPathComponent("state.json")
    func corrupt(_ path: String, _ problem: String) -> TrainingError {
      TrainingError(
        path: path, problem: problem,
        remedy: "the checkpoint is damaged; resume from an earlier one (--resume PATH) or start over (--overwrite)")
    }
    guard let data = FileManager.default.contents(atPath: statePath) else {
      throw corrupt(statePath, "is missing")
    }
    guard (try? JSONSerialization.jsonObject(with: data)) != nil else { throw corrupt(statePath, "is not valid JSON") }
    let state: TrainingState
    do {
      state = try JSONDecoder().decode(TrainingState.self, from: data)
    } catch let error as DecodingError {
      throw corrupt(statePath, "is not a valid training state (\(Self.describe(error)))")
    }
    let c = state.configuration
    do {
      try c.validate()
    } catch let error as TrainingError {
      throw corrupt(statePath, "holds invalid settings: \(error.problem)")
    }
    guard state.step >= 0, state.step <= c.steps else {
      throw corrupt(statePath, "says step \(state.step), outside the run's 0...\(c.steps)")
    }
    let name = (checkpoint as NSString).lastPathComponent
    if name.hasPrefix("step-"), let folderStep = Int(name.dropFirst(5)), folderStep != state.step {
      throw corrupt(statePath, "says step \(state.step) but the folder is \(name)")
    }
    guard state.sampler.seed == c.seed else {
      throw corrupt(statePath, "has sampler seed \(state.sampler.seed) but the run's seed is \(c.seed)")
    }
    // Each step draws batch × accumulation windows on every rank.
    let perStep = UInt64(c.batchSize) * UInt64(c.accumulationSteps)
    let consistent =
      state.ranks.map { state.sampler.position == UInt64(state.step) * perStep * UInt64(max($0, 1)) }
      ?? (state.sampler.position % perStep == 0 && state.sampler.position >= UInt64(state.step) * perStep)
    guard consistent else {
      throw corrupt(
        statePath, "has sampler position \(state.sampler.position), which does not follow from step \(state.step)")
    }
    let modelPath = (checkpoint as NSString).appendingPathComponent("model.safetensors")
    let optimizerPath = (checkpoint as NSString).appendingPathComponent("optimizer.safetensors")
    do {
      _ = try SafetensorsFile(path: modelPath)
      let optimizer = try SafetensorsFile(path: optimizerPath)
      if optimizer["step"] != nil, let steps = try optimizer.floats("step").first, steps != Float(state.step) {
        throw corrupt(optimizerPath, "holds \(Int(steps)) optimizer steps but state.json says step \(state.step)")
      }
    } catch let error as CheckpointError {
      throw corrupt(error.path, error.problem)
    }
    return state
  }

  /// Where and how a `state.json` failed to decode, in a few words.
  static func describe(_ error: DecodingError) -> String {
    func path(_ keys: [CodingKey]) -> String {
      keys.isEmpty
        ? "the top level"
        : "\"" + keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") + "\""
    }
    switch error {
    case .keyNotFound(let key, let context): return "it lacks \(path(context.codingPath + [key]))"
    case .typeMismatch(_, let context): return "wrong type at \(path(context.codingPath))"
    case .valueNotFound(_, let context): return "null at \(path(context.codingPath))"
    case .dataCorrupted(let context): return "invalid value at \(path(context.codingPath))"
    @unknown default: return "undecodable"
    }
  }

  /// The newest checkpoint of the run folder `directory` that ``checkpointState(at:)`` accepts, and the newer
  /// ones skipped on the way, newest first, with why.
  public static func newestValidCheckpoint(inRun directory: String) -> (
    checkpoint: String?, skipped: [(checkpoint: String, reason: String)]
  ) {
    var skipped: [(checkpoint: String, reason: String)] = []
    for checkpoint in RunFolder(path: directory).checkpoints.reversed() {
      do {
        _ = try checkpointState(at: checkpoint)
        return (checkpoint, skipped)
      } catch let error as TrainingError {
        let file = (error.path as NSString).lastPathComponent
        skipped.append((checkpoint, "\(file) \(error.problem)"))
      } catch {
        skipped.append((checkpoint, "\(error)"))
      }
    }
    return (nil, skipped)
  }

  /// Restores the model, optimizer, sampler, generator and step from a checkpoint folder.
  ///
  /// Every setting that changes the run (steps, batch size, context, learning rates, warmup, accumulation,
  /// clipping, weight decay, seed, the number of ranks, the training data's tokens and the model) must
  /// match the checkpoint's: otherwise the run would not continue the one that was saved. All that differ
  /// are named in one line.
  public func resume(from checkpoint: String) throws {
    let state = try Self.checkpointState(at: checkpoint)
    let differences = settingDifferences(from: state)
    guard differences.isEmpty else {
      throw TrainingError(
        path: (checkpoint as NSString).appendingPathComponent("state.json"),
        problem: "this run's settings differ from the checkpoint's: the checkpoint's "
          + differences.joined(separator: ", its "),
        remedy: "resume with the checkpoint's settings, or start a new run (another --out, or --overwrite)")
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

  /// "batch size (--batch) is 2 but this run's is 3", one for each setting of `state` that differs from
  /// this trainer's.
  func settingDifferences(from state: TrainingState) -> [String] {
    let (saved, now) = (state.configuration, configuration)
    // Six significant digits unless that hides the difference: 0.0001 rather than 0.000100000005.
    func show(_ x: Float) -> String {
      let short = String(format: "%g", Double(x))
      return Float(short) == x ? short : "\(x)"
    }
    let settings: [(String, String, String)] = [
      ("steps (--steps)", "\(saved.steps)", "\(now.steps)"),
      ("batch size (--batch)", "\(saved.batchSize)", "\(now.batchSize)"),
      ("context length (--context)", "\(saved.contextLength)", "\(now.contextLength)"),
      ("learning rate (--lr)", show(saved.learningRate), show(now.learningRate)),
      ("minimum learning rate (--min-lr)", show(saved.minimumLearningRate), show(now.minimumLearningRate)),
      ("warmup steps (--warmup)", "\(saved.warmupSteps)", "\(now.warmupSteps)"),
      ("accumulation steps (--accumulation)", "\(saved.accumulationSteps)", "\(now.accumulationSteps)"),
      ("gradient clip (--clip)", show(saved.gradientClip), show(now.gradientClip)),
      ("weight decay (--weight-decay)", show(saved.weightDecay), show(now.weightDecay)),
      ("seed (--seed)", "\(saved.seed)", "\(now.seed)"),
      ("rank count", state.ranks.map(String.init) ?? "\(communicator.size)", "\(communicator.size)"),
    ]
    var out = settings.filter { $0.1 != $0.2 }.map { "\($0.0) is \($0.1) but this run's is \($0.2)" }
    if let data = state.data, !data.sameTokens(as: trainingData) {
      out.append(
        "training data (--data) is \(data.path) (\(data.tokens) tokens) but this run's is \(trainingData.path) "
          + "(\(trainingData.tokens) tokens\(data.tokens == trainingData.tokens ? ", other ids" : ""))")
    }
    out += Self.modelDifferences(state.model, modelDescription)
    return out
  }

  /// The top-level keys in which two JSON model descriptions differ ("model layers is 4 but this run's is
  /// 2"), or the two descriptions whole when either is not a JSON object.
  static func modelDifferences(_ saved: String, _ now: String) -> [String] {
    guard saved != now else { return [] }
    func object(_ text: String) -> [String: Any]? {
      (try? JSONSerialization.jsonObject(with: Foundation.Data(text.utf8))) as? [String: Any]
    }
    func show(_ value: Any?) -> String {
      guard let value else { return "absent" }
      guard JSONSerialization.isValidJSONObject(value),
        let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])
      else { return "\(value)" }
      return String(decoding: data, as: UTF8.self)
    }
    guard let a = object(saved), let b = object(now) else { return ["model is \(saved) but this run's is \(now)"] }
    let keys = Set(a.keys).union(b.keys).sorted()
    let differing = keys.filter { show(a[$0]) != show(b[$0]) }
    guard !differing.isEmpty else { return [] }
    return differing.map { "model \($0) is \(show(a[$0])) but this run's is \(show(b[$0]))" }
  }
}
