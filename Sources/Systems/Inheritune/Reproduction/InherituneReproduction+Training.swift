import Data
import Foundation
import Models
import NN
import TensorCore
import Training

extension InherituneReproduction {
  /// A cached run: the settings it was made with and its result.
  struct CachedRun: Codable {
    let fingerprint: String
    let result: RunResult
  }

  /// Trains `model` for `steps` with the reproduction's recipe, measuring the validation loss on fixed windows at
  /// step 0 and every `interval` steps; reuses a cached result made with the same settings.
  @discardableResult
  func train(
    _ name: String, group: String, _ model: LoadedModel, usesParent: Bool, inherited: String, steps: Int,
    seed: UInt64, _ data: RunData, context: Int? = nil, interval: Int? = nil, fingerprintBase: String? = nil
  ) throws -> RunResult {
    let context = context ?? settings.context
    let interval = interval ?? settings.evaluationInterval
    let fingerprint =
      "\(fingerprintBase ?? settingsJSON)|\(name)|\(group)|\(seed)|\(steps)|\(context)|\(interval)|\(inherited)"
    let slug = (group + "-" + name + "-\(seed)").map { $0.isLetter || $0.isNumber ? $0 : "-" }
    let cachePath = (workDirectory as NSString).appendingPathComponent("runs/\(String(slug)).json")
    if let bytes = FileManager.default.contents(atPath: cachePath),
      let cached = try? JSONDecoder().decode(CachedRun.self, from: bytes), cached.fingerprint == fingerprint
    {
      log(String(format: "%@: cached, validation loss %.4f", name, cached.result.finalLoss))
      results.append(cached.result)
      lastRunWasCached = true
      return cached.result
    }
    let lr = settings.learningRate
    var configuration = TrainingConfiguration(
      steps: max(steps, 1), batchSize: settings.batch, contextLength: context, learningRate: lr,
      minimumLearningRate: lr / 10, warmupSteps: steps / 20, gradientClip: 1, weightDecay: 0.1,
      evaluationInterval: 0, evaluationBatches: settings.evaluationBatches, checkpointInterval: 0, seed: seed)
    let trainer = try Inheritune.makeTrainer(
      for: model, configuration: configuration, train: data.train, validation: nil)
    configuration.steps = 0
    configuration.seed = 0xE7A1_5EED  // the same validation windows for every run
    let evaluator = try Inheritune.makeTrainer(
      for: model, configuration: configuration, train: data.train, validation: data.validation)
    var points = Array(stride(from: 0, to: steps, by: interval))
    points.append(steps)
    var losses: [Float] = []
    var seconds = 0.0
    let clock = ContinuousClock()
    for point in points {
      if point > trainer.step {
        let start = clock.now
        try trainer.run(until: point)
        let elapsed = clock.now - start
        seconds += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
      }
      guard let loss = try evaluator.evaluate() else {
        throw InherituneError(data.validation.path, "is too short to evaluate on", "use a larger validation split")
      }
      losses.append(loss)
    }
    let rate = seconds > 0 ? Double(steps * trainer.tokensPerStep) / seconds : 0
    let result = RunResult(
      name: name, group: group, layers: Inheritune.layerCount(of: model), parameters: model.module.parameterCount,
      steps: steps, seed: seed, inherited: inherited, usesParent: usesParent, trainingTokens: data.train.count,
      evaluationSteps: points, validationLosses: losses, tokensPerSecond: rate, seconds: seconds)
    log(
      String(
        format: "%@ (seed %d): validation %.4f at step 0, %.4f at step %d (min %.4f); %.0f tokens/s, %.0f s", name,
        Int(seed), losses[0], result.finalLoss, steps, result.minimumLoss, rate, seconds))
    let cached = try JSONEncoder().encode(CachedRun(fingerprint: fingerprint, result: result))
    try FileManager.default.createDirectory(
      atPath: (cachePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try AtomicFile.write([UInt8](cached), to: cachePath)
    results.append(result)
    lastRunWasCached = false
    return result
  }

  /// The settings as sorted JSON (part of every cache fingerprint).
  var settingsJSON: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: (try? encoder.encode(settings)) ?? Foundation.Data(), as: UTF8.self)
  }

  /// Tiny-shakespeare as bytes (ids 0-255): the last 10% held out, and the first `lowDataFraction` of the
  /// training part as the low-data shard.
  func shakespeareShards() throws -> (train: TokenShard, validation: TokenShard, lowData: TokenShard) {
    let source = try DataLocation.file("tinyshakespeare/input.txt")
    guard let text = FileManager.default.contents(atPath: source), text.count > 10_000 else {
      throw InherituneError(source, "is missing or shorter than 10,000 bytes", "restore tiny-shakespeare")
    }
    let bytes = [UInt8](text).map { Int($0) }
    let cut = bytes.count * 9 / 10
    let low = max(settings.context * 4, Int(Double(cut) * settings.lowDataFraction))
    let directory = (workDirectory as NSString).appendingPathComponent("shakespeare")
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    func shard(_ name: String, _ tokens: ArraySlice<Int>) throws -> TokenShard {
      let path = (directory as NSString).appendingPathComponent(name)
      try TokenShard.write(Array(tokens), width: .uint16, to: path)
      return try TokenShard(path: path)
    }
    return (
      try shard("train.bin", bytes[..<cut]), try shard("val.bin", bytes[cut...]),
      try shard("train-low.bin", bytes[..<low])
    )
  }

  /// The track B parent: pretrained here (or loaded from the cache when its settings match), with the
  /// 1/(ℓ+1) attention scaling (the paper's GPT-2 code) or, for that ablation, without it.
  func pretrainedParent(
    _ data: (train: TokenShard, validation: TokenShard, lowData: TokenShard), inverseLayerScaling: Bool = true
  ) throws -> LoadedModel {
    let s = settings
    let directory = (workDirectory as NSString).appendingPathComponent(
      inverseLayerScaling ? "parent" : "parent-unscaled")
    let config = GPT2Configuration(
      vocabularySize: 256, contextLength: s.context, width: s.width, layers: s.parentLayers, heads: s.heads,
      scaleAttentionByInverseLayerIndex: inverseLayerScaling)
    var generator = RandomGenerator(seed: 1000)
    let fresh = LoadedModel.gpt2(try GPT2(config, generator: &generator))
    // Only the parent's own settings identify it, so student settings can change without retraining it.
    let base =
      "parent \(s.parentLayers)x\(s.width)/\(s.heads) ctx \(s.context) batch \(s.batch) lr \(s.learningRate) "
      + "eval \(s.evaluationBatches)" + (inverseLayerScaling ? "" : " unscaled")
    let result = try train(
      inverseLayerScaling ? "parent" : "parent, no 1/(ℓ+1)", group: inverseLayerScaling ? "main" : "scaling-off", fresh,
      usesParent: false, inherited: "-", steps: s.parentSteps, seed: 1000,
      RunData(train: data.train, validation: data.validation), interval: max(1, s.parentSteps / s.evaluationPoints),
      fingerprintBase: base)
    guard lastRunWasCached else {
      if case .gpt2(let model) = fresh { try model.save(to: directory) }
      return fresh
    }
    // The result came from the cache: the saved weights must be the model that produced it.
    guard let saved = try? GPT2(contentsOf: directory), try isCachedParent(saved, result) else {
      throw InherituneError(
        directory, "does not hold the parent the cached results were made with",
        "delete \(workDirectory) and run again")
    }
    return .gpt2(saved)
  }

  /// Whether `saved` gives the cached parent's final validation loss (so it is the model that run produced).
  private func isCachedParent(_ saved: GPT2, _ result: RunResult) throws -> Bool {
    let data = try shakespeareShards()
    let configuration = TrainingConfiguration(
      steps: 0, batchSize: settings.batch, contextLength: settings.context,
      evaluationBatches: settings.evaluationBatches, seed: 0xE7A1_5EED)
    let loss = try Inheritune.validationLoss(
      of: .gpt2(saved), configuration: configuration, train: data.train, validation: data.validation)
    return abs(loss - result.finalLoss) < 1e-4
  }
}
