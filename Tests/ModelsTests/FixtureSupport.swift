import Checkpoints
import Foundation
import LMCore
import Models
import NN
import TensorCore
import TestSupport
import Testing

/// One golden fixture folder: expected tensors and their JSON description.
struct Fixture {
  let directory: String
  let expected: SafetensorsFile
  let json: [String: Any]

  /// Whether the fixture `name` (its folder and expected.json) is under the reference folder.
  static func isPresent(_ name: String) -> Bool { SharedData.hasReference("fixtures/\(name)/expected.json") }

  /// Why a test needing the fixture `name` is skipped.
  static func absent(_ name: String) -> Comment {
    "needs reference/fixtures/\(name) (\(SharedData.hint))"
  }

  /// The fixture `name` under the reference folder, or nil when absent (gate the test on ``isPresent(_:)``).
  init?(_ name: String) throws {
    guard let dir = SharedData.reference("fixtures/\(name)"),
      SharedData.reference("fixtures/\(name)/expected.json") != nil
    else { return nil }
    directory = dir
    expected = try SafetensorsFile(path: dir + "/expected.safetensors")
    let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/expected.json"))
    json = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
  }

  func tensor(_ name: String) throws -> Tensor { try expected.tensor(name).copied() }
  func floats(_ name: String) throws -> [Float] { try expected.floats(name) }

  /// The suggested absolute tolerance of `name` (with a floor), from expected.json.
  func atol(_ name: String, floor: Float = 1e-5) -> Float {
    let tensors = json["tensors"] as? [String: Any]
    let entry = tensors?[name] as? [String: Any]
    let value = (entry?["suggested_atol"] as? Double).map(Float.init) ?? floor
    return max(value, floor)
  }

  /// A value under a dotted path of expected.json.
  func value(_ path: String) -> Any? {
    var node: Any? = json
    for key in path.split(separator: ".") { node = (node as? [String: Any])?[String(key)] }
    return node
  }
}

/// Expects `actual` to match `golden` within atol + rtol·|golden| and reports the worst ratio.
func expectClose(
  _ actual: [Float], _ golden: [Float], atol: Float, rtol: Float = 1e-4, _ label: String,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let c = closeness(actual, golden, atol: atol, rtol: rtol)
  #expect(
    c <= 1, "\(label): worst |diff| / (atol + rtol|golden|) = \(c) (atol \(atol))", sourceLocation: sourceLocation)
}

/// A fresh temporary folder path (not created).
func temporaryPath(_ name: String) -> String {
  FileManager.default.temporaryDirectory.appendingPathComponent("frontier-models-\(getpid())-\(name)").path
}

/// Greedy continuation of `prompt` [1, T] for `count` tokens with a KV cache (argmax, first index on ties).
func greedyIds(_ model: any LanguageModel, prompt: [Int], count: Int) throws -> [Int] {
  let cache = model.makeState(batch: 1, capacity: prompt.count + count)
  var logits = try model.logits(Tensor(indices: prompt, shape: [1, prompt.count]), state: cache)
  var out: [Int] = []
  for _ in 0..<count {
    let last = try logits.sliced(axis: 1, (logits.shape[1] - 1)..<logits.shape[1]).floats
    let next = last.indices.max { last[$0] < last[$1] || (last[$0] == last[$1] && $0 > $1) }!
    out.append(next)
    logits = try model.logits(Tensor(indices: [next], shape: [1, 1]), state: cache)
  }
  return out
}

/// The shared golden checks of a causal LM fixture: logits, loss, every gradient, five AdamW losses and greedy ids.
func checkCausalFixture<M: Module & LanguageModel>(_ fixture: Fixture, _ model: M) throws {
  let ids = try fixture.tensor("input_ids")
  let logits = try model.logits(ids, state: nil)
  #expect(logits.shape == (try fixture.tensor("logits")).shape)
  expectClose(logits.floats, try fixture.floats("logits"), atol: fixture.atol("logits"), "logits")

  let (loss, grads) = try valueAndGradient(of: model) { m in try m.nextTokenLoss(ids) }
  expectClose(loss.floats, try fixture.floats("loss"), atol: fixture.atol("loss", floor: 1e-6), "loss")
  let names = fixture.value("parameter_names") as? [String] ?? []
  #expect(!names.isEmpty)
  #expect(Set(names) == Set(grads.keys), "parameter names differ from the HF names")
  for name in names {
    guard let g = grads[name] else { continue }
    let golden = try fixture.tensor("grad." + name)
    #expect(g.shape == golden.shape, "grad.\(name) shape")
    expectClose(g.floats, golden.floats, atol: fixture.atol("grad." + name, floor: 1e-6), "grad.\(name)")
  }

  let greedyPrompt = try fixture.tensor("greedy_input_ids").int64s.map(Int.init)
  let expectedNew = try fixture.tensor("greedy_new_ids").int64s.map(Int.init)
  #expect(try greedyIds(model, prompt: greedyPrompt, count: expectedNew.count) == expectedNew)

  let adam = fixture.value("adamw") as? [String: Any] ?? [:]
  let betas = adam["betas"] as? [Double] ?? [0.9, 0.999]
  let steps = adam["steps"] as? Int ?? 5
  let optimizer = AdamW(
    learningRate: Float(adam["lr"] as? Double ?? 1e-3), betas: (Float(betas[0]), Float(betas[1])),
    eps: Float(adam["eps"] as? Double ?? 1e-8), weightDecay: Float(adam["weight_decay"] as? Double ?? 0),
    decays: AdamW.decayMatricesOnly)
  var losses: [Float] = []
  for _ in 0..<steps {
    let (l, g) = try valueAndGradient(of: model) { m in try m.nextTokenLoss(ids) }
    losses.append(l.item())
    try optimizer.update(model, gradients: g)
  }
  expectClose(losses, try fixture.floats("adamw_losses"), atol: fixture.atol("adamw_losses"), "adamw_losses")
  let final = try withoutGradients { try model.nextTokenLoss(ids) }
  expectClose(final.floats, try fixture.floats("adamw_final_loss"), atol: fixture.atol("adamw_final_loss"), "final")
}

/// KV-cache decoding (prefill, then one token at a time, then a chunk) equals one full forward pass.
func checkCacheMatchesRecomputation(_ model: any LanguageModel, ids: [Int]) throws {
  let full = try model.logits(Tensor(indices: ids, shape: [1, ids.count]), state: nil).floats
  let v = model.vocabularySize
  let cache = model.makeState(batch: 1, capacity: ids.count)
  var pieces: [Float] = []
  let split = [0, 3, 4, 5, ids.count - 2, ids.count]
  for (a, b) in zip(split, split.dropFirst()) {
    let chunk = Array(ids[a..<b])
    pieces += try model.logits(Tensor(indices: chunk, shape: [1, chunk.count]), state: cache).floats
  }
  #expect(cache.position == ids.count)
  #expect(pieces.count == ids.count * v)
  expectClose(pieces, full, atol: 2e-5, "cached vs full logits")
}

/// `lastLogits` equals the last row of `logits`, with and without a cache, for two sequences at once.
func checkLastLogitsMatchFullLogits(_ model: any LanguageModel, ids: [Int]) throws {
  let v = model.vocabularySize
  let batch = Tensor(indices: ids + Array(ids.reversed()), shape: [2, ids.count])
  let full = try model.logits(batch, state: nil).floats
  var expected: [Float] = []
  for b in 0..<2 {
    let row = b * ids.count + ids.count - 1
    expected += full[(row * v)..<((row + 1) * v)]
  }
  expectClose(try model.lastLogits(batch, state: nil).floats, expected, atol: 1e-5, "last logits")
  let cache = model.makeState(batch: 2, capacity: ids.count)
  _ = try model.lastLogits(batch.sliced(axis: 1, 0..<(ids.count - 1)), state: cache)
  let step = try model.lastLogits(batch.sliced(axis: 1, (ids.count - 1)..<ids.count), state: cache)
  #expect(step.shape == [2, v])
  expectClose(step.floats, expected, atol: 2e-5, "cached last logits")
}
