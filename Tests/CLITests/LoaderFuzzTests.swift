import Checkpoints
import Data
import Foundation
import Models
import TensorCore
import Testing
import Tokenizers
import Training

/// The loaders under the mutation fuzz, with their number of in-process cases.
enum FuzzedLoader: String, CaseIterable, Sendable, CustomTestStringConvertible {
  case safetensors
  case modelWeights = "model-weights"
  case modelConfig = "model-config"
  case llama2c
  case llama2cTokenizer = "tokenizer-llama2c"
  case tokenizerJSON = "tokenizer-json"
  case gpt2Tokenizer = "tokenizer-gpt2"
  case tiktoken = "tokenizer-tiktoken"
  case shards
  case documents = "jsonl-documents"
  case metrics = "jsonl-metrics"

  var cases: Int {
    switch self {
    case .safetensors, .llama2c: return 80
    case .modelWeights: return 70
    case .modelConfig: return 90
    case .llama2cTokenizer, .shards: return 60
    case .tokenizerJSON, .gpt2Tokenizer: return 50
    case .documents, .metrics: return 40
    case .tiktoken: return 30
    }
  }

  /// Every `throughFrontier`-th case also runs through the `frontier` binary.
  var throughFrontier: Int? {
    switch self {
    case .metrics: return nil
    default: return 4
    }
  }

  /// Cases to run: ``cases`` times `FRONTIER_FUZZ_SCALE` (default 1; larger values explore further, with the
  /// same first cases).
  var scaledCases: Int { cases * Self.scale }

  /// `FRONTIER_FUZZ_SCALE`, at least 1.
  static let scale = max(1, ProcessInfo.processInfo.environment["FRONTIER_FUZZ_SCALE"].flatMap { Int($0) } ?? 1)

  /// FNV-1a of the name: the loader's part of every case seed.
  var seed: UInt64 { rawValue.utf8.reduce(0xCBF2_9CE4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 } }

  var testDescription: String { rawValue }
}

/// Mutation fuzz of every loader (the hardening issue's acceptance point): valid small inputs written by the
/// project's own writers are damaged by seeded mutations and loaded in-process and, for a share of the cases,
/// by the `frontier` binary (so that a crash or hang cannot take the test process down). Each case must end
/// in a clear error (one line naming the file) or in a load whose result passes the loader's sanity check:
/// no crash, no hang, no silent failure.
@Suite struct LoaderFuzzTests {
  @Test(arguments: FuzzedLoader.allCases)
  func mutatedInputsAreRejectedClearlyOrLoadSanely(_ loader: FuzzedLoader) throws {
    let seeds = try FuzzSeeds.shared.get()
    var tally = FuzzTally(loader: loader.rawValue)
    for index in 0..<loader.scaledCases {
      var rng = FuzzRandom(seed: loader.seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
      let folder = seeds.root + "/cases/\(loader.rawValue)-\(index)"
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(atPath: folder) }
      let viaFrontier = CLIHarness.hasBinary && loader.throughFrontier.map { index % $0 == 0 } == true
      try FuzzCases.run(
        loader, index: index, folder: folder, seeds: seeds, frontier: viaFrontier, rng: &rng, into: &tally)
    }
    print(tally.summary)
    for failure in tally.failures { Issue.record(Comment(rawValue: failure)) }
    #expect(tally.total >= loader.cases)
    #expect(tally.count("crash") == 0 && tally.count("hang") == 0 && tally.count("silent") == 0)
    #expect(tally.count("unclear") == 0)
    // The fuzz must reach both outcomes, or its mutations or its checks are broken.
    #expect(tally.count("rejected") > 0)
  }

  @Test(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
  func mutatedPromptFilesAreRejectedClearlyOrGenerateSanely() throws {
    let seeds = try FuzzSeeds.shared.get()
    var tally = FuzzTally(loader: "jsonl-prompts")
    for index in 0..<(30 * FuzzedLoader.scale) {
      var rng = FuzzRandom(seed: 0x5052_4F4D_5054 ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
      let folder = seeds.root + "/cases/prompts-\(index)"
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(atPath: folder) }
      try FuzzCases.prompts(index: index, folder: folder, seeds: seeds, rng: &rng, into: &tally)
    }
    print(tally.summary)
    for failure in tally.failures { Issue.record(Comment(rawValue: failure)) }
    #expect(tally.failures.isEmpty)
    #expect(tally.count("rejected") > 0 && tally.count("accepted") > 0)
  }

  @Test(.enabled(if: CLIHarness.hasBinary, CLIHarness.binaryAbsent))
  func mutatedTrainingCheckpointsAreRejectedClearlyOrResumeSanely() throws {
    let seeds = try FuzzSeeds.shared.get()
    // A three-step run with a checkpoint after each step, written by frontier itself, then cut back to its
    // state after step 2 (as if interrupted there), so that resuming with the same settings runs step 3.
    let run = seeds.root + "/training-run"
    try? FileManager.default.removeItem(atPath: run)
    let first = try CLIHarness.frontier(
      ["train", "--data", seeds.shardFolder, "--out", run] + FuzzCases.training(steps: 3))
    try #require(first.status == 0, "the seed run failed: \(first.stderr)")
    try FuzzCases.interruptAfterStepTwo(run)
    var tally = FuzzTally(loader: "training-checkpoint")
    for index in 0..<(40 * FuzzedLoader.scale) {
      var rng = FuzzRandom(seed: 0x5245_5355_4D45 ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
      let folder = seeds.root + "/cases/resume-\(index)"
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(atPath: folder) }
      try FuzzCases.resume(from: run, index: index, folder: folder, seeds: seeds, rng: &rng, into: &tally)
    }
    print(tally.summary)
    for failure in tally.failures { Issue.record(Comment(rawValue: failure)) }
    #expect(tally.failures.isEmpty)
    #expect(tally.count("rejected") > 0 && tally.count("accepted") > 0)
  }

  @Test func theFuzzCoversAtLeast500InProcessCases() {
    #expect(FuzzedLoader.allCases.map(\.cases).reduce(0, +) >= 500)
  }

  /// Every seed loads and passes its own check: the fuzz starts from valid inputs.
  @Test func unmutatedSeedsLoadAndPassTheirChecks() throws {
    let seeds = try FuzzSeeds.shared.get()
    for folder in [seeds.llamaFolder, seeds.llamaBF16Folder, seeds.gpt2ModelFolder] {
      #expect(try FuzzChecks.modelMatchesItsFiles(ModelRegistry.load(folder), folder: folder, forward: true) == nil)
      #expect(try FuzzChecks.safetensors(SafetensorsFile(path: folder + "/model.safetensors")) == nil)
    }
    for file in seeds.llama2cFiles {
      #expect(try FuzzChecks.llama2cMatchesItsHeader(ModelRegistry.load(file), file: file) == nil)
    }
    for path in seeds.llama2cTokenizers + [seeds.tokenizerJSON, seeds.gpt2Folder, seeds.tiktoken] {
      #expect(try FuzzChecks.roundTrip(TokenizerLoader.load(path)) == nil, "\(path)")
    }
    #expect(try FuzzChecks.shards(FuzzCases.loadShards(seeds.shardFolder)) == nil)
    #expect(try FuzzChecks.documents(ShardPreparer.documents(atPath: seeds.documents), file: seeds.documents) == nil)
    #expect(try FuzzChecks.metrics(FuzzCases.loadMetrics(seeds.metrics), file: seeds.metrics) == nil)
  }
}

/// One case per loader: copy the seed into the case folder, mutate one file, load, judge.
enum FuzzCases {
  static func run(
    _ loader: FuzzedLoader, index: Int, folder: String, seeds: FuzzSeeds, frontier: Bool, rng: inout FuzzRandom,
    into tally: inout FuzzTally
  ) throws {
    switch loader {
    case .safetensors:
      let file = folder + "/model.safetensors"
      try copy(rng.pick([seeds.llamaFolder, seeds.llamaBF16Folder]) + "/model.safetensors", to: file)
      let mutation = try mutateSafetensors(file, rng: &rng)
      let names = ["model.safetensors"]
      tally.record(
        FuzzRun.inProcess(naming: names, load: { try SafetensorsFile(path: file) }, check: FuzzChecks.safetensors),
        case: index, mutation: mutation)
      if frontier {
        tally.record(
          FuzzRun.frontier(["inspect", file], naming: names, check: FuzzChecks.inspectOutput), case: index,
          mutation: mutation, subprocess: true)
      }
    case .modelWeights, .modelConfig:
      let model = folder + "/llama"
      try copyFolder(rng.pick([seeds.llamaFolder, seeds.llamaBF16Folder, seeds.gpt2ModelFolder]), to: model)
      let mutated = loader == .modelWeights ? "model.safetensors" : "config.json"
      let mutation =
        loader == .modelWeights
        ? try mutateSafetensors(model + "/" + mutated, rng: &rng)
        : try mutate(model + "/" + mutated, json: 0.8, rng: &rng)
      let names = [mutated, model]
      tally.record(
        FuzzRun.inProcess(
          naming: names, load: { try ModelRegistry.load(model) },
          check: { try FuzzChecks.modelMatchesItsFiles($0, folder: model, forward: loader == .modelConfig) }),
        case: index, mutation: mutation)
      if frontier {
        tally.record(
          index % 8 == 0
            ? FuzzRun.frontier(["inspect", model], naming: names, check: FuzzChecks.inspectOutput)
            : FuzzRun.frontier(
              [
                "eval", "--model", model, "--data", seeds.shardFolder, "--max-tokens", "40", "--context", "16",
                "--batch", "1",
              ],
              naming: names, check: FuzzChecks.evalOutput),
          case: index, mutation: mutation, subprocess: true)
      }
    case .llama2c:
      let source = rng.pick(seeds.llama2cFiles)
      let file = folder + "/model.bin"
      try copy(source, to: file)
      let mutation = try mutate(file, fields: llama2cFields(source), rng: &rng)
      let names = ["model.bin"]
      tally.record(
        FuzzRun.inProcess(
          naming: names, load: { try ModelRegistry.load(file) },
          check: { try FuzzChecks.llama2cMatchesItsHeader($0, file: file) }),
        case: index, mutation: mutation)
      if frontier {
        tally.record(
          index % 8 == 0
            ? FuzzRun.frontier(["inspect", file], naming: names, check: FuzzChecks.inspectOutput)
            : FuzzRun.frontier(
              [
                "eval", "--model", file, "--data", seeds.shardFolder, "--max-tokens", "40", "--context", "16",
                "--batch", "1",
              ],
              naming: names, check: FuzzChecks.evalOutput),
          case: index, mutation: mutation, subprocess: true)
      }
    case .llama2cTokenizer, .tokenizerJSON, .gpt2Tokenizer, .tiktoken:
      let (path, mutated, mutation) = try mutateTokenizer(loader, folder: folder, seeds: seeds, rng: &rng)
      let names = [(mutated as NSString).lastPathComponent, folder]
      tally.record(
        FuzzRun.inProcess(naming: names, load: { try TokenizerLoader.load(path) }, check: FuzzChecks.roundTrip),
        case: index, mutation: mutation)
      if frontier {
        let text = "Once upon a time, héllo wörld 🤖 12345"
        tally.record(
          FuzzRun.frontier(
            ["tokenize", "encode", "--tokenizer", path, "--decode", text], naming: names,
            check: { FuzzChecks.tokenizeOutput($0, text: text) }),
          case: index, mutation: mutation, subprocess: true)
      }
    case .shards:
      let data = folder + "/shards"
      try copyFolder(seeds.shardFolder, to: data)
      let mutated = rng.pick(["train.bin", "val.bin", "meta.json"])
      let mutation =
        mutated == "meta.json"
        ? try mutate(data + "/meta.json", json: 0.8, rng: &rng)
        : try mutate(data + "/" + mutated, fields: shardFields, rng: &rng)
      let names = [mutated, data]
      tally.record(
        FuzzRun.inProcess(naming: names, load: { try loadShards(data) }, check: FuzzChecks.shards),
        case: index, mutation: mutation)
      if frontier {
        tally.record(
          index % 8 == 0
            ? FuzzRun.frontier(
              [
                "train", "--data", data, "--out", folder + "/run", "--steps", "1", "--batch", "1", "--context", "8",
                "--layers", "1", "--heads", "1", "--width", "8", "--eval-every", "1", "--eval-batches", "1",
              ], naming: names, check: { _ in nil })
            : FuzzRun.frontier(
              [
                "eval", "--model", seeds.llamaFolder, "--data", data, "--max-tokens", "40", "--context", "16",
                "--batch", "1",
              ],
              naming: names, check: FuzzChecks.evalOutput),
          case: index, mutation: mutation, subprocess: true)
      }
    case .documents:
      let file = folder + "/documents.jsonl"
      try copy(seeds.documents, to: file)
      let mutation = try mutate(file, json: 0.5, lines: 0.25, rng: &rng)
      let names = ["documents.jsonl"]
      tally.record(
        FuzzRun.inProcess(
          naming: names, load: { try ShardPreparer.documents(atPath: file) },
          check: { FuzzChecks.documents($0, file: file) }),
        case: index, mutation: mutation)
      if frontier {
        let out = folder + "/prepared"
        tally.record(
          FuzzRun.frontier(
            ["prepare", "--input", file, "--out", out, "--val-fraction", "0"], naming: names,
            check: { _ in FuzzChecks.prepared(out, from: file) }),
          case: index, mutation: mutation, subprocess: true)
      }
    case .metrics:
      let file = folder + "/metrics.jsonl"
      try copy(seeds.metrics, to: file)
      let mutation = try mutate(file, json: 0.5, lines: 0.25, rng: &rng)
      tally.record(
        FuzzRun.inProcess(
          naming: ["metrics.jsonl"], load: { try loadMetrics(file) }, check: { FuzzChecks.metrics($0, file: file) }),
        case: index, mutation: mutation)
    }
  }

  /// A case of `frontier generate --prompts-file` (the prompt-file reader lives in the executable).
  static func prompts(
    index: Int, folder: String, seeds: FuzzSeeds, rng: inout FuzzRandom, into tally: inout FuzzTally
  ) throws {
    let file = folder + "/prompts.jsonl"
    try copy(seeds.prompts, to: file)
    let mutation = try mutate(file, json: 0.6, lines: 0.2, rng: &rng)
    let arguments = [
      "generate", "--model", seeds.llamaFolder, "--prompts-file", file, "--max-tokens", "3", "--temperature", "0",
      "--batch", "2",
    ]
    tally.record(
      FuzzRun.frontier(arguments, naming: ["prompts.jsonl"], check: { FuzzChecks.generated($0, prompts: file) }),
      case: index, mutation: mutation, subprocess: true)
  }

  /// Removes a three-step run's last checkpoint and exported model, leaving the run as it stood after step 2.
  static func interruptAfterStepTwo(_ run: String) throws {
    try FileManager.default.removeItem(atPath: run + "/checkpoints/step-00000003")
    try? FileManager.default.removeItem(atPath: run + "/model")
  }

  /// `frontier train` settings of the tiny fuzz runs.
  static func training(steps: Int) -> [String] {
    [
      "--steps", String(steps), "--batch", "1", "--context", "8", "--layers", "1", "--heads", "1", "--width", "8",
      "--checkpoint-every", "1", "--eval-every", "1", "--eval-batches", "1", "--keep", "5",
    ]
  }

  /// A case of `frontier train --resume`: a copy of `run` with one file of its newest checkpoint (or its
  /// metrics log) mutated, resumed for one more step.
  static func resume(
    from run: String, index: Int, folder: String, seeds: FuzzSeeds, rng: inout FuzzRandom,
    into tally: inout FuzzTally
  ) throws {
    let copy = folder + "/run"
    try copyFolder(run, to: copy)  // folders inside are copied whole
    let newest = "checkpoints/step-00000002/"
    let mutated = rng.pick([
      newest + "state.json", newest + "model.safetensors", newest + "optimizer.safetensors", "metrics.jsonl",
    ])
    let path = copy + "/" + mutated
    let mutation: String
    if mutated.hasSuffix(".safetensors") {
      mutation = try mutateSafetensors(path, rng: &rng)
    } else {
      mutation = try mutate(path, json: 0.7, lines: mutated == "metrics.jsonl" ? 0.2 : 0, rng: &rng)
    }
    let arguments = ["train", "--data", seeds.shardFolder, "--out", copy, "--resume"] + training(steps: 3)
    tally.record(
      FuzzRun.frontier(
        arguments, naming: [(mutated as NSString).lastPathComponent, copy + "/" + newest.dropLast()],
        check: { $0.contains("resumed from") && $0.contains("step 3") ? nil : "no resumed run in: \($0.prefix(300))" }),
      case: index, mutation: "\(mutated): \(mutation)", subprocess: true)
  }

  /// The shard folder as training reads it: `meta.json`, `train.bin` and `val.bin`.
  static func loadShards(_ folder: String) throws -> PreparedShards {
    try PreparedShards(directory: folder)
  }

  /// The records of a metrics log as a resumed run reads them.
  static func loadMetrics(_ file: String) throws -> [MetricRecord] {
    try MetricsLog(path: file).records()
  }

  // MARK: Mutating files

  static func copy(_ source: String, to destination: String) throws {
    try FileManager.default.copyItem(atPath: source, toPath: destination)
  }

  static func copyFolder(_ source: String, to destination: String) throws {
    try FileManager.default.createDirectory(atPath: destination, withIntermediateDirectories: true)
    for name in try FileManager.default.contentsOfDirectory(atPath: source) {
      try copy(source + "/" + name, to: destination + "/" + name)
    }
  }

  /// Mutates `file` in place: a JSON edit with probability `json`, a line edit with probability `lines`,
  /// else a byte mutation (with `fields` as the header integers).
  static func mutate(
    _ file: String, json: Double = 0, lines: Double = 0, fields: [HeaderField] = [], rng: inout FuzzRandom
  ) throws -> String {
    var bytes = [UInt8](try Foundation.Data(contentsOf: URL(fileURLWithPath: file)))
    let roll = Double(rng.below(1000)) / 1000
    let what =
      roll < json
      ? Mutator.mutateJSON(&bytes, rng: &rng)
      : roll < json + lines
        ? Mutator.mutateLines(&bytes, rng: &rng) : Mutator.mutateBytes(&bytes, fields: fields, rng: &rng)
    try Foundation.Data(bytes).write(to: URL(fileURLWithPath: file))
    return what
  }

  /// Mutates a safetensors file: an edit of its JSON header (re-framed with its new length, or rarely the
  /// old one) or a byte mutation with the 8-byte header length as a field.
  static func mutateSafetensors(_ file: String, rng: inout FuzzRandom) throws -> String {
    var bytes = [UInt8](try Foundation.Data(contentsOf: URL(fileURLWithPath: file)))
    let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    let what: String
    if rng.chance(0.45), length > 0, 8 + length <= bytes.count {
      var header = Array(bytes[8..<(8 + length)])
      let edit = Mutator.mutateJSON(&header, rng: &rng)
      let keep = rng.chance(0.15)
      let framed = keep ? length : header.count
      bytes = (0..<8).map { UInt8(truncatingIfNeeded: framed >> (8 * $0)) } + header + bytes[(8 + length)...]
      what = "header: \(edit)\(keep ? " (old length kept)" : "")"
    } else {
      what = Mutator.mutateBytes(&bytes, fields: [HeaderField(name: "header length", offset: 0, width: 8)], rng: &rng)
    }
    try Foundation.Data(bytes).write(to: URL(fileURLWithPath: file))
    return what
  }

  /// Copies a tokenizer seed for `loader` into `folder` and mutates one of its files; returns the path to
  /// load, the mutated file and the mutation.
  static func mutateTokenizer(
    _ loader: FuzzedLoader, folder: String, seeds: FuzzSeeds, rng: inout FuzzRandom
  ) throws -> (String, String, String) {
    switch loader {
    case .llama2cTokenizer:
      let source = rng.pick(seeds.llama2cTokenizers)
      let file = folder + "/tokenizer.bin"
      try copy(source, to: file)
      return (file, file, try mutate(file, fields: try llama2cTokenizerFields(source, rng: &rng), rng: &rng))
    case .tiktoken:
      let file = folder + "/tokenizer.tiktoken"
      try copy(seeds.tiktoken, to: file)
      return (file, file, try mutate(file, lines: 0.4, rng: &rng))
    case .tokenizerJSON:
      let file = folder + "/tokenizer.json"
      try copy(seeds.tokenizerJSON, to: file)
      return (file, file, try mutate(file, json: 0.75, rng: &rng))
    default:
      let gpt2 = folder + "/gpt2"
      try copyFolder(seeds.gpt2Folder, to: gpt2)
      if rng.chance(0.55) {
        return (gpt2, gpt2 + "/vocab.json", try mutate(gpt2 + "/vocab.json", json: 0.7, rng: &rng))
      }
      return (gpt2, gpt2 + "/merges.txt", try mutate(gpt2 + "/merges.txt", lines: 0.5, rng: &rng))
    }
  }

  /// The header integers of a llama2.c checkpoint: the `ak42` header of versions 1 and 2, else the legacy one.
  static func llama2cFields(_ file: String) throws -> [HeaderField] {
    let head = [UInt8](try Foundation.Data(contentsOf: URL(fileURLWithPath: file)).prefix(4))
    let names = ["dim", "hidden_dim", "layers", "heads", "kv_heads", "vocab", "seq_len"]
    if head == [0x32, 0x34, 0x6B, 0x61] {
      return [HeaderField(name: "magic", offset: 0, width: 4), HeaderField(name: "version", offset: 4, width: 4)]
        + names.enumerated().map { HeaderField(name: $1, offset: 8 + 4 * $0, width: 4) }
        + [HeaderField(name: "shared", offset: 36, width: 1), HeaderField(name: "group size", offset: 37, width: 4)]
    }
    return names.enumerated().map { HeaderField(name: $1, offset: 4 * $0, width: 4) }
  }

  /// The header of a llama2.c tokenizer and the score and length of a few of its tokens.
  static func llama2cTokenizerFields(_ file: String, rng: inout FuzzRandom) throws -> [HeaderField] {
    let bytes = [UInt8](try Foundation.Data(contentsOf: URL(fileURLWithPath: file)))
    var fields = [HeaderField(name: "max_token_length", offset: 0, width: 4)]
    var offset = 4
    var id = 0
    var starts: [(Int, Int)] = []
    while offset + 8 <= bytes.count {
      starts.append((id, offset))
      let length = (0..<4).reduce(0) { $0 | Int(bytes[offset + 4 + $1]) << (8 * $1) }
      offset += 8 + length
      id += 1
    }
    for _ in 0..<4 {
      let (token, at) = rng.pick(starts)
      fields.append(HeaderField(name: "score of token \(token)", offset: at, width: 4))
      fields.append(HeaderField(name: "length of token \(token)", offset: at + 4, width: 4))
    }
    return fields
  }

  /// The header integers of a token shard.
  static let shardFields = [
    HeaderField(name: "magic", offset: 0, width: 4), HeaderField(name: "version", offset: 4, width: 4),
    HeaderField(name: "token width", offset: 8, width: 4), HeaderField(name: "token count", offset: 16, width: 8),
  ]
}
