import Checkpoints
import Data
import Foundation
import Generation
import Models
import NN
import TensorCore
import Testing
import Tokenizers
import Training

/// The inputs the loader fuzz found crashing, hanging or loading silently, each kept as a regression case
/// (plus the latent traps found while fixing them): every one must now be one clear error.
@Suite struct LoaderFuzzRegressionTests {
  /// A fresh copy of a seed folder.
  static func copy(_ folder: String) throws -> String {
    let seeds = try FuzzSeeds.shared.get()
    let copy = seeds.root + "/regression-\(UUID().uuidString)"
    try FuzzCases.copyFolder(folder, to: copy)
    return copy
  }

  /// `folder`'s config.json with `key` set to `value`.
  static func setConfig(_ folder: String, _ key: String, _ value: Any) throws {
    let path = folder + "/config.json"
    var object = try #require(
      try JSONSerialization.jsonObject(with: Foundation.Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    object[key] = value
    try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
  }

  /// The error `body` throws, as one line; fails the test when it returns.
  static func message(_ body: () throws -> Void) -> String {
    do {
      try body()
    } catch {
      let text = "\(error)"
      #expect(!text.contains("\n"), "not one line: \(text)")
      return text
    }
    Issue.record("no error thrown")
    return ""
  }

  /// Found: a config.json size of 10^18 trapped (integer overflow allocating placeholders), and sizes within
  /// Int but far beyond the weights (10^7 × 16 floats, 10^6 layers) allocated gigabytes before failing.
  @Test(arguments: [
    ("hidden_size", 1_000_000_000_000_000_000), ("intermediate_size", 1 << 40), ("vocab_size", 10_000_000),
    ("num_hidden_layers", 1_000_000), ("num_attention_heads", 1 << 23),
  ])
  func hugeLlamaSizesAreErrorsBeforeAllocating(key: String, value: Int) throws {
    let folder = try Self.copy(try FuzzSeeds.shared.get().llamaFolder)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try Self.setConfig(folder, key, value)
    let text = Self.message { _ = try ModelRegistry.load(folder) }
    #expect(text.contains("config.json"), "\(text)")
  }

  /// The same for GPT-2, whose MLP width 4·n_embd overflowed before validation; and a negative LayerNorm
  /// epsilon (found) loaded a model whose logits were NaN.
  @Test(arguments: [
    ("n_embd", 1_000_000_000_000_000_000 as Double), ("n_positions", 10_000_000), ("n_layer", 100_000),
    ("layer_norm_epsilon", -9.2e18), ("layer_norm_epsilon", -1e-5),
  ])
  func hugeOrInvalidGPT2ValuesAreErrors(key: String, value: Double) throws {
    let folder = try Self.copy(try FuzzSeeds.shared.get().gpt2ModelFolder)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    try Self.setConfig(folder, key, key.hasPrefix("layer_norm") ? value as Any : Int(value) as Any)
    let text = Self.message { _ = try ModelRegistry.load(folder) }
    #expect(text.contains("config.json"), "\(text)")
  }

  /// Found: meta.json and the shards were read without checking one against the other (token counts, ids
  /// outside the vocabulary), and a vocabulary of 10^18 reached model building.
  @Test func shardFoldersThatDisagreeWithTheirMetaAreErrors() throws {
    let seeds = try FuzzSeeds.shared.get()
    func edited(_ change: (String) throws -> Void) throws -> String {
      let folder = try Self.copy(seeds.shardFolder)
      try change(folder)
      return Self.message { _ = try PreparedShards(directory: folder) }
    }
    func setMeta(_ key: String, _ value: Any) -> (String) throws -> Void {
      { folder in
        let url = URL(fileURLWithPath: folder + "/meta.json")
        var meta = try #require(
          try JSONSerialization.jsonObject(with: Foundation.Data(contentsOf: url)) as? [String: Any])
        meta[key] = value
        try JSONSerialization.data(withJSONObject: meta).write(to: url)
      }
    }
    #expect(try edited(setMeta("trainTokens", 3)).contains("train.bin: holds"))
    #expect(try edited(setMeta("vocabularySize", 1_000_000_000_000_000_000)).contains("meta.json: vocabularySize"))
    #expect(try edited(setMeta("validationTokens", -1)).contains("negative"))
    let outside = try edited { folder in
      var bytes = [UInt8](try Foundation.Data(contentsOf: URL(fileURLWithPath: folder + "/val.bin")))
      (bytes[32], bytes[33]) = (0xE8, 0xFD)  // id 65000 in a vocabulary of 300
      try Foundation.Data(bytes).write(to: URL(fileURLWithPath: folder + "/val.bin"))
    }
    #expect(outside.contains("val.bin: token 0 is id 65000, outside meta.json's vocabulary of 300"), "\(outside)")
    #expect(try PreparedShards(directory: seeds.shardFolder).train.count > 0)
  }

  /// Found: metrics.jsonl lines that were not records vanished, and a resumed run rewrote the log without
  /// them. Only a last line cut short (no newline) may be dropped.
  @Test func corruptMetricsLinesAreErrorsButATornLastLineIsDropped() throws {
    let seeds = try FuzzSeeds.shared.get()
    let lines = try String(contentsOfFile: seeds.metrics, encoding: .utf8).split(separator: "\n").map(String.init)
    let path = seeds.root + "/regression-\(UUID().uuidString).jsonl"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try ([lines[0], "{\"step\": 2, \"split\": \"train\"}", lines[2]].joined(separator: "\n") + "\n")
      .write(toFile: path, atomically: true, encoding: .utf8)
    #expect(Self.message { _ = try MetricsLog(path: path).records() }.contains("line 2 is not a metrics record"))
    try (lines[0] + "\n" + lines[1] + "\n" + lines[2].prefix(20)).write(toFile: path, atomically: true, encoding: .utf8)
    #expect(try MetricsLog(path: path).records().count == 2)
  }

  /// Found: a llama2.c tokenizer with a damaged byte piece, or cut at a token boundary before its byte
  /// pieces, loaded and then encoded text to the wrong tokens (no round trip).
  @Test func llama2cTokenizersWithoutTheirBytePiecesAreErrors() throws {
    let seeds = try FuzzSeeds.shared.get()
    let data = try Foundation.Data(contentsOf: URL(fileURLWithPath: seeds.llama2cTokenizers[0]))
    var bytes = [UInt8](data)
    // Token 68 (<0x41>, byte 'A') starts after the header, three specials and 65 byte pieces.
    let start = 4 + (8 + 5) + (8 + 3) + (8 + 4) + 65 * (8 + 6)
    #expect(String(decoding: bytes[(start + 8)..<(start + 14)], as: UTF8.self) == "<0x41>")
    bytes[start + 12] = UInt8(ascii: "F")
    let damaged = Self.message { _ = try Llama2cTokenizer(data: Foundation.Data(bytes), source: "tok.bin") }
    #expect(damaged.contains("token 68 is \"<0x4F>\", not the byte piece <0x41>"), "\(damaged)")
    let cut = Self.message { _ = try Llama2cTokenizer(data: data.prefix(start), source: "tok.bin") }
    #expect(cut.contains("has 68 tokens, fewer than"), "\(cut)")
  }

  /// Found while fixing the resume cases: a saved step count of NaN trapped converting to Int, and moments
  /// of another shape were handed to the update kernel, which wrote past them. Found: NaN weights or moments
  /// and negative second moments resumed and diverged with an unclear error.
  @Test func corruptOptimizerStatesAndWeightsAreErrors() throws {
    var rng = RandomGenerator(seed: 5)
    let model = try GPT(
      GPTConfiguration(vocabularySize: 11, contextLength: 6, layers: 1, heads: 1, width: 4), generator: &rng)
    let x = Tensor(indices: [1, 2, 3, 4, 5], shape: [1, 5])
    let y = Tensor(indices: [2, 3, 4, 5, 6], shape: [1, 5])
    let optimizer = AdamW(learningRate: 0.01)
    let (_, gradients) = try valueAndGradient(of: model) { try $0.loss(inputs: x, targets: y) }
    try optimizer.update(model, gradients: gradients)
    let state = optimizer.stateTensors()
    let root = try FuzzSeeds.shared.get().root
    let path = root + "/regression-\(UUID().uuidString).safetensors"
    defer { try? FileManager.default.removeItem(atPath: path) }
    func load(_ change: (inout [String: Tensor]) -> Void) -> String {
      var edited = state
      change(&edited)
      let records = edited.sorted { $0.key < $1.key }.map { SafetensorsRecord(name: $0.key, tensor: $0.value) }
      return Self.message {
        try SafetensorsWriter.write(records, to: path)
        try OptimizerState.load(AdamW(), from: path, for: model)
      }
    }
    let moment = try #require(state.keys.sorted().first { $0.hasPrefix("v.") })
    let shape = try #require(state[moment]).shape
    #expect(load { $0["step"] = Tensor([1e30]) }.contains("step count 1e+30"))
    #expect(throws: TensorError.self) { try AdamW().loadState(["step": Tensor([Float.nan])]) }
    #expect(throws: TensorError.self) { try SGD(learningRate: 0.1).loadState(["step": Tensor([Float.infinity])]) }
    #expect(load { $0[moment] = Tensor.full(shape, value: -1) }.contains("negative second moment"))
    #expect(load { $0[moment] = Tensor.full(shape, value: .nan) }.contains("non-finite"))
    #expect(load { $0[moment] = Tensor.zeros([2]) }.contains("of shape [2] for a parameter of \(shape)"))
    #expect(load { $0["m.nothing"] = Tensor.zeros([2]) }.contains("for no trainable parameter"))
    // The update refuses moments of another shape even when no model was given to check them on load.
    let foreign = AdamW()
    var wrong = state
    wrong[moment] = Tensor.zeros([2])
    try foreign.loadState(wrong)
    #expect(throws: TensorError.self) { try foreign.update(model, gradients: gradients) }
    // Weights holding NaN are refused on load.
    var poisoned = model.parameters()
    let name = try #require(poisoned.keys.sorted().first)
    poisoned[name] = Tensor.full(try #require(poisoned[name]).shape, value: .nan)
    try SafetensorsWriter.write(
      poisoned.sorted { $0.key < $1.key }.map { SafetensorsRecord(name: $0.key, tensor: $0.value) }, to: path)
    #expect(Self.message { try model.loadSafetensors(from: path) }.contains("tensor \(name) holds a non-finite value"))
  }

  /// A model whose logits are not finite has no perplexity: evaluation says so instead of reporting NaN.
  @Test func perplexityOfNonFiniteLogitsIsAnError() throws {
    var rng = RandomGenerator(seed: 9)
    let model = try Llama(
      LlamaConfiguration(
        vocabularySize: 16, hiddenSize: 8, intermediateSize: 16, layers: 1, heads: 2, contextLength: 16),
      generator: &rng)
    try model.update(parameters: ["model.norm.weight": Tensor.full([8], value: .nan)])
    let evaluator = try SlidingWindowPerplexity(context: 8)
    let text = Self.message { _ = try evaluator.evaluate(model, tokens: Array(0..<16)) }
    #expect(text.contains("not a number of nats"), "\(text)")
  }

  /// Found: a prompts file line whose ids the model cannot take was reported as "prompt N" (its index among
  /// the prompts), not as the file and line.
  @Test(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
  func promptFileErrorsNameTheFileAndLine() throws {
    let seeds = try FuzzSeeds.shared.get()
    let file = seeds.root + "/regression-\(UUID().uuidString).jsonl"
    defer { try? FileManager.default.removeItem(atPath: file) }
    try "{\"prompt_ids\": [1, 2]}\n\n{\"prompt_ids\": [5, 999]}\n".write(
      toFile: file, atomically: true, encoding: .utf8)
    let result = try CLIHarness.frontier(
      ["generate", "--model", seeds.llamaFolder, "--prompts-file", file, "--max-tokens", "2", "--temperature", "0"])
    #expect(result.status == 1)
    #expect(result.stderr.contains("\(file):3: prompt token 999 is outside"), "\(result.stderr)")
  }

  /// Found: a state.json whose step was mutated to 10^9 resumed "successfully" and trained nothing; NaN
  /// weights resumed and failed later with an encoding error.
  @Test(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
  func corruptTrainingCheckpointsAreErrorsOnResume() throws {
    let seeds = try FuzzSeeds.shared.get()
    let run = seeds.root + "/regression-run-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: run) }
    let first = try CLIHarness.frontier(
      ["train", "--data", seeds.shardFolder, "--out", run] + FuzzCases.training(steps: 3))
    try #require(first.status == 0, "\(first.stderr)")
    try FuzzCases.interruptAfterStepTwo(run)
    let checkpoint = run + "/checkpoints/step-00000002"
    let state = checkpoint + "/state.json"
    let original = try String(contentsOfFile: state, encoding: .utf8)
    try original.replacingOccurrences(of: "\"step\" : 2", with: "\"step\" : 1000000000")
      .write(toFile: state, atomically: true, encoding: .utf8)
    let resume = ["train", "--data", seeds.shardFolder, "--out", run, "--resume"] + FuzzCases.training(steps: 3)
    let stepped = try CLIHarness.frontier(resume)
    // A damaged newest checkpoint is skipped, named with its reason, and the run resumes from the one before
    // (one writer per run folder: --resume takes the newest checkpoint that checks out).
    let resumedFromFirst = "resumed from \(run)/checkpoints/step-00000001 at step 1; skipped damaged step-00000002"
    #expect(stepped.status == 0 && stepped.stdout.contains(resumedFromFirst), "\(stepped.stdout)\(stepped.stderr)")
    // That run went on to step 3; cut it back to step 2 again, then poison step 2's weights.
    try FuzzCases.interruptAfterStepTwo(run)
    try original.write(toFile: state, atomically: true, encoding: .utf8)
    let weights = checkpoint + "/model.safetensors"
    let file = try SafetensorsFile(path: weights)
    var tensors: [String: Tensor] = [:]
    for entry in file.entries { tensors[entry.name] = try file.tensor(entry.name).copied() }
    let name = try #require(tensors.keys.sorted().first)
    tensors[name] = Tensor.full(try #require(tensors[name]).shape, value: .nan)
    try SafetensorsWriter.write(
      tensors.sorted { $0.key < $1.key }.map { SafetensorsRecord(name: $0.key, tensor: $0.value) }, to: weights)
    let poisoned = try CLIHarness.frontier(resume)
    // Weights whose headers check out are read on resume, and a non-finite value is one clear error.
    #expect(
      poisoned.status == 1 && poisoned.stderr.contains("model.safetensors: tensor \(name) holds a non-finite"),
      "\(poisoned.stderr)")
  }
}
