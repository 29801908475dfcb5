import Foundation
import Reports
import TensorCore
import Tokenizers

/// One PassKey arm's results, cached in the work directory so that arms can be trained in separate processes.
struct PasskeyArmResult: Codable {
  /// The recipe and test settings the result belongs to (a changed recipe invalidates the cache).
  var key: String
  /// The arm's name.
  var name: String
  /// Mean total loss over the last 10% of steps.
  var finalLoss: Double
  /// Seconds of training (this arm's own process; not a clean comparison across arms).
  var trainingSeconds: Double
  /// Exact 5-digit accuracy per tested length.
  var sequences: [Double]
  /// Per-digit accuracy per tested length.
  var digits: [Double]
}

extension FAMReproduction {
  /// The PassKey task on tok512 with TinyStories filler, b = 32.
  static func passkeyTask(data: String, header: PasskeyHeader) throws -> (PasskeyTask, vocabulary: Int) {
    let tokenizerPath = (data as NSString).appendingPathComponent("llama2c/tok512.bin")
    let fillerPath = (data as NSString).appendingPathComponent("tinystories/tinystories_val_prefix.yuninxia.txt")
    let tokenizer = try TokenizerLoader.load(tokenizerPath)
    let task = try PasskeyTask(tokenizer: tokenizer, fillerPath: fillerPath, blockSize: 32, header: header)
    return (task, tokenizer.vocabularySize)
  }

  /// The cache key of an arm under `s`.
  static func passkeyKey(_ s: Settings, arm: PasskeyArm) -> String {
    let r = s.passkey
    let c = r.curriculum
    return [
      arm.name, "\(r.hiddenSize)x\(r.layers)x\(r.heads)x\(r.intermediateSize)", "steps \(r.steps) batch \(r.batch)",
      "lr \(r.learningRate) warmup \(r.warmupSteps) cooldown \(r.cooldownSteps) lm \(r.languageWeight)",
      "rsp from \(r.statePassingStartStep) p \(arm.statePassing)",
      "curriculum \(c.start)->\(c.end)/\(c.rampSteps)", "seeds \(r.modelSeed) \(r.dataSeed)",
      "header \(s.passkeyHeader.rawValue)", "test \(s.testBlocks) x \(s.testSequences)",
    ].joined(separator: "; ")
  }

  /// Trains and tests the arms `indices` of `s.passkeyArms` that the cache in `workDirectory` lacks, and caches them.
  static func trainPasskeyArms(_ s: Settings, indices: [Int], data: String, workDirectory: String) throws {
    let (task, vocabulary) = try passkeyTask(data: data, header: s.passkeyHeader)
    for index in indices {
      let arm = s.passkeyArms[index]
      let key = passkeyKey(s, arm: arm)
      if cachedResult(key: key, arm: arm, workDirectory: workDirectory) != nil {
        log("passkey \(arm.name): cached")
        continue
      }
      let run = try PasskeyRun(arm: arm, recipe: s.passkey, task: task, vocabularySize: vocabulary)
      var losses: [Double] = []
      for step in 0..<s.passkey.steps {
        losses.append(Double(try run.step()))
        if step % 250 == 0 { log("passkey \(arm.name) step \(step) loss \(ReportFormat.fixed(losses.last!))") }
      }
      var result = PasskeyArmResult(
        key: key, name: arm.name, finalLoss: mean(losses.suffix(max(1, losses.count / 10))),
        trainingSeconds: run.trainingSeconds, sequences: [], digits: [])
      for blocks in s.testBlocks {
        let accuracy = try run.evaluate(blocks: blocks, sequences: s.testSequences, seed: 99)
        result.sequences.append(accuracy.sequences)
        result.digits.append(accuracy.digits)
        log("passkey \(arm.name) @\(blocks) blocks: key \(accuracy.sequences), digits \(accuracy.digits)")
      }
      let path = cachePath(arm: arm, workDirectory: workDirectory)
      try JSONEncoder().encode(result).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
  }

  static func cachePath(arm: PasskeyArm, workDirectory: String) -> String {
    let slug = arm.name.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
    return (workDirectory as NSString).appendingPathComponent("passkey-\(String(slug)).json")
  }

  static func cachedResult(key: String, arm: PasskeyArm, workDirectory: String) -> PasskeyArmResult? {
    guard let bytes = FileManager.default.contents(atPath: cachePath(arm: arm, workDirectory: workDirectory)),
      let result = try? JSONDecoder().decode(PasskeyArmResult.self, from: bytes), result.key == key
    else { return nil }
    return result
  }

  static func mean<C: Collection>(_ values: C) -> Double where C.Element == Double {
    values.reduce(0, +) / Double(max(values.count, 1))
  }

  /// Train ms/step of every arm from fresh models stepping in alternation (arm 1, arm 2, …, arm 1, …) on the same
  /// batches of `blocks` filler blocks, after one untimed warm-up step each: the median step per arm, so that a
  /// pause of the whole process during one step (the machine is shared) does not count.
  static func timePasskeyArms(_ s: Settings, data: String, blocks: Int) throws -> [Double] {
    let (task, vocabulary) = try passkeyTask(data: data, header: s.passkeyHeader)
    var recipe = s.passkey
    recipe.curriculum = PasskeyCurriculum(start: blocks...blocks, end: blocks...blocks, rampSteps: 0)
    let runs = try s.passkeyArms.map {
      try PasskeyRun(arm: $0, recipe: recipe, task: task, vocabularySize: vocabulary)
    }
    let warmup = runs[0].nextBatch()
    for run in runs { try run.step(warmup) }
    var steps = [[Double]](repeating: [], count: runs.count)
    for _ in 0..<s.timingSteps {
      let batch = runs[0].nextBatch()
      for (i, run) in runs.enumerated() {
        let before = run.trainingSeconds
        try run.step(batch)
        steps[i].append((run.trainingSeconds - before) * 1000)
      }
    }
    return steps.map(median)
  }

  /// The median of `values` (0 when empty).
  static func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  }

  /// Section A: trains the missing arms, times all arms in alternation, and writes the table and plot.
  static func runPasskey(_ s: Settings, data: String, folder: ReportDraft, workDirectory: String) throws -> String {
    try trainPasskeyArms(s, indices: Array(s.passkeyArms.indices), data: data, workDirectory: workDirectory)
    let results = s.passkeyArms.map {
      cachedResult(key: passkeyKey(s, arm: $0), arm: $0, workDirectory: workDirectory)!
    }
    let timingBlocks = s.passkey.curriculum.end.upperBound
    let milliseconds = try timePasskeyArms(s, data: data, blocks: timingBlocks)
    let (task, _) = try passkeyTask(data: data, header: s.passkeyHeader)
    let r = s.passkey
    var table = MarkdownTable(
      header: ["Arm", "Reach (filler blocks)", "Train ms/step", "Final loss"] + s.testBlocks.map { "@\($0)" })
    var series: [SVGPlot.Series] = []
    let colors = ["#1f77b4", "#17becf", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#8c564b"]
    for (index, (arm, result)) in zip(s.passkeyArms, results).enumerated() {
      // The last answer is predicted at position overhead − 2 + F·b; BSWA reaches it while that is below the field.
      let reach = arm.receptiveField(layers: r.layers).map { field -> String in
        let spare = field - task.overheadLength + 1
        return "\(field) tokens: " + (spare < 0 ? "none" : "F ≤ \(spare / task.blockSize)")
      }
      table.append(
        [
          arm.name, reach ?? "unbounded", ReportFormat.fixed(milliseconds[index], digits: 0),
          ReportFormat.fixed(result.finalLoss),
        ]
          + zip(result.sequences, result.digits).map {
            ReportFormat.fixed($0 * 100, digits: 0) + "% (" + ReportFormat.fixed($1 * 100, digits: 0) + ")"
          })
      series.append(
        SVGPlot.Series(
          name: arm.name, points: zip(s.testBlocks, result.sequences).map { (log2(max(Double($0), 0.5)), $1 * 100) },
          color: colors[index % colors.count]))
    }
    try folder.write(
      SVGPlot.lineChart(
        title: "PassKey exact-key accuracy vs filler length",
        xLabel: "log2(filler blocks of 32 tokens); -1 = no filler", yLabel: "exact 5-digit accuracy (%)",
        series: series), to: "passkey.svg")
    return passkeySection(s, table: table, task: task, timingBlocks: timingBlocks)
  }
}

extension FAMReproduction {
  /// The text of section A around its table.
  static func passkeySection(_ s: Settings, table: MarkdownTable, task: PasskeyTask, timingBlocks: Int) -> String {
    let r = s.passkey
    let c = r.curriculum
    let curriculum =
      c.rampSteps > 0 && c.start != c.end
      ? "F uniform in \(c.start.lowerBound)–\(c.start.upperBound) at step 0, the range widening linearly to "
        + "\(c.end.lowerBound)–\(c.end.upperBound) by step \(c.rampSteps) and staying there"
      : "F uniform in \(c.end.lowerBound)–\(c.end.upperBound) throughout"
    return """
      ## A. PassKey retrieval

      Model, trained from scratch per arm (same initial weights and the same batches for every arm): pre-norm
      Llama-style decoder, d \(r.hiddenSize), \(r.layers) layers, \(r.heads) heads, SwiGLU \(r.intermediateSize),
      RoPE (base 10k), tok512 vocabulary; b = \(task.blockSize), FAM f = 4. Sequence: BOS, "The pass key is", 5
      digits (one token each), F blocks of \(task.blockSize) TinyStories tokens, "What is the pass key? The pass key
      is", the 5 digits (\(task.overheadLength) tokens besides the filler; the key sits at positions
      \(task.keyPosition)–\(task.keyPosition + 4)). Loss on the 5 answer digits only\(
        r.languageWeight > 0 ? " plus \(r.languageWeight) × LM loss elsewhere" : "").
      Training: \(r.steps) steps × \(r.batch) sequences, AdamW (0.9, 0.99) \(r.learningRate) after \(r.warmupSteps)
      warmup steps\(r.cooldownSteps > 0 ? ", falling linearly to 10% over the last \(r.cooldownSteps)" : ""), clip 1, full BPTT, Random Position
      Offset on every arm. Random State Passing (p = 0.8) only on "+ RSP", from step \(r.statePassingStartStep).
      Curriculum: \(curriculum) (all
      sequences of a batch share F). M1_SG runs block by block with the memory blocks' keys and values detached.

      Test: \(s.testSequences) fresh sequences per filler length F, teacher-forced; a cell is the exact-key
      accuracy (all 5 digits argmax; chance 0.001%) and, in brackets, per-digit accuracy (chance 10%).
      Reach: BSWA's receptive field in our implementation is (L·m + 1)·b tokens (a layer reaches m blocks back,
      so the key in block 0 reaches blocks ≤ L·m; the paper's rough L·(m+1)·b overcounts by (L−1)·b); the column
      gives the largest F whose every answer position lies inside it. Train ms/step: median step of a separate pass
      in this process, fresh models of every arm stepping in alternation on the same \(s.timingSteps) batches of
      F = \(timingBlocks) (\(timingBlocks * task.blockSize + task.overheadLength - 1) tokens × \(r.batch)); BSWA M0–M2 run as one masked
      pass per layer, M1_SG and FAM block by block.

      \(table.markdown)

      ![PassKey accuracy](passkey.svg)

      Arms may be trained ahead in parallel single-threaded processes with
      `frontier reproduce fam --only passkey:I,J` (indices in table order); their results are cached in the work
      directory and reused by the full command when the recipe is unchanged.
      """
  }
}
