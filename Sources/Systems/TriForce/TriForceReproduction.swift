import Data
import Foundation
import Generation
import Models
import Reports
import TensorCore
import Tokenizers

/// `frontier reproduce triforce`: tokens/s and acceptance of every ``DecodingMethod`` at several contexts and
/// temperatures on Gutenberg prompts, written to `reports/triforce/` (README.md, results.json, speedup.svg).
public enum TriForceReproduction {
  /// One measured cell of the table.
  public struct Row: Codable, Sendable {
    /// Prompt tokens.
    public var context: Int
    /// Sampling temperature (to three decimals, so that 0.6 reads 0.6).
    public var temperature: Double
    /// ``DecodingMethod`` raw value.
    public var method: String
    /// New tokens per second of decoding.
    public var tokensPerSecond: Double
    /// Speed over autoregressive decoding on the same prompt.
    public var speedup: Double
    /// Acceptance at the full-cache verification.
    public var topAcceptance: Double?
    /// Acceptance of draft tokens by the middle level.
    public var draftAcceptance: Double?
    /// Tokens emitted per full-cache verification pass.
    public var tokensPerVerification: Double?
    /// Seconds of prefill and cache construction (mean over prompts).
    public var setupSeconds: Double
    /// New tokens decoded in the counted runs, over all prompts.
    public var newTokens: Int
    /// Forward passes per new token at each level, top (full cache) first.
    public var passesPerToken: [Double] = []
    /// Milliseconds per forward pass at each level, top first.
    public var millisecondsPerPass: [Double] = []
    /// Tokens/s of each counted run, prompt by prompt and seed by seed in the same order for every method of
    /// a cell, so that two methods pair up run by run (``PairedRatio``).
    public var runTokensPerSecond: [Double] = []
  }

  /// One variant of the sweep: the default ``TriForceConfiguration`` (at the run's budget) with one value
  /// changed.
  public struct SweepVariant: Sendable, Equatable, Encodable {
    /// γ1 (draft tokens per middle verification), or nil for the default.
    public var draftLength: Int?
    /// γ2 (middle tokens per full verification), or nil for the default.
    public var middleLength: Int?
    /// Retrieval-cache budget, or nil for the run's.
    public var budget: Int?
    /// Chunk size, or nil for the default.
    public var chunk: Int?

    /// A variant changing the given values.
    public init(draftLength: Int? = nil, middleLength: Int? = nil, budget: Int? = nil, chunk: Int? = nil) {
      self.draftLength = draftLength
      self.middleLength = middleLength
      self.budget = budget
      self.chunk = chunk
    }

    /// `base` with this variant's values.
    public func applied(to base: TriForceConfiguration) -> TriForceConfiguration {
      var c = base
      if let draftLength { c.draftLength = draftLength }
      if let middleLength { c.middleLength = middleLength }
      if let budget { c.budget = budget }
      if let chunk { c.chunk = chunk }
      return c
    }

    /// "γ1 3", "budget 1024", ….
    public var label: String {
      [
        draftLength.map { "γ1 \($0)" }, middleLength.map { "γ2 \($0)" }, budget.map { "budget \($0)" },
        chunk.map { "chunk \($0)" },
      ].compactMap { $0 }.joined(separator: ", ")
    }
  }

  /// One measured variant of the sweep.
  public struct SweepRow: Codable, Sendable {
    /// ``SweepVariant/label``, or "default" for the reported configuration.
    public var variant: String
    /// Tokens/s of TriForce's runs, prompt by prompt.
    public var runTokensPerSecond: [Double]
    /// Tokens/s of autoregressive decoding on the same prompts.
    public var baselineTokensPerSecond: [Double]
    /// Acceptance at the full-cache verification.
    public var topAcceptance: Double?
    /// Acceptance of draft tokens by the middle level.
    public var draftAcceptance: Double?
  }

  /// What one reproduction measures.
  public struct Settings: Sendable, Equatable, Encodable {
    /// Prompt lengths in tokens.
    public var contexts: [Int]
    /// Sampling temperatures (top-p 0.9 throughout).
    public var temperatures: [Float]
    /// Prompts per context: the first `context` tokens of books 0, 1, … (sorted by name).
    public var prompts: Int
    /// Sampling seeds per prompt and temperature (7, 8, …); each seed is a separate set of runs.
    public var seeds: Int
    /// New tokens per run.
    public var maxTokens: Int
    /// Retrieval-cache budget.
    public var budget: Int
    /// The sweep of γ1, γ2, budget and chunk (TriForce alone against autoregressive decoding at the longest
    /// context and T 0.6, every prompt, the first seed); empty for none.
    public var sweep: [SweepVariant]

    /// The full protocol, or the quick one (short contexts, one temperature, few tokens).
    public init(quick: Bool) {
      contexts = quick ? [1024, 2048] : [2048, 8192, 16384, 32768]
      temperatures = quick ? [0.6] : [0, 0.6, 1.0]
      prompts = quick ? 1 : 5
      seeds = quick ? 1 : 2
      maxTokens = quick ? 24 : 128
      budget = quick ? 512 : 4096
      sweep =
        quick
        ? [SweepVariant(draftLength: 1), SweepVariant(budget: 256), SweepVariant(chunk: 16)]
        : [
          SweepVariant(draftLength: 1), SweepVariant(draftLength: 3), SweepVariant(middleLength: 2),
          SweepVariant(middleLength: 4), SweepVariant(middleLength: 8), SweepVariant(budget: 1024),
          SweepVariant(budget: 2048), SweepVariant(chunk: 4), SweepVariant(chunk: 16),
        ]
    }

    /// Checks that every count is positive.
    public func validate() throws {
      guard !contexts.isEmpty, contexts.allSatisfy({ $0 > 1 }) else {
        throw TriForceError("contexts must be a non-empty list of lengths above 1 token")
      }
      guard !temperatures.isEmpty, temperatures.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
        throw TriForceError("temperatures must be a non-empty list of numbers at or above 0")
      }
      guard prompts > 0, seeds > 0, maxTokens > 0, budget > 0 else {
        throw TriForceError("prompts, seeds, new tokens and budget must be positive")
      }
      for variant in sweep {
        try variant.applied(to: TriForceConfiguration(budget: budget)).validate()
      }
    }
  }

  /// Runs `settings` with explicit models and writes the report (with a ``ReportHeader``) into `output`:
  /// `frontier triforce reproduce`, which overrides parts of the protocol. `quick` only names the run.
  @discardableResult
  public static func run(
    _ settings: Settings, quick: Bool, output: String, target: String, draft: String, tokenizer: String,
    command: String, log: (String) -> Void = { _ in }
  ) throws -> [Row] {
    let measured = try measure(settings, target: target, draft: draft, tokenizer: tokenizer, log: log)
    let document = try report(measured, settings: settings, quick: quick, command: command)
    document.insertHeader(ReportHeader.current(threads: Parallel.threadCount))
    try document.commit(to: output)
    return measured.rows
  }

  /// What ``measure(_:target:draft:tokenizer:log:)`` found, with what the report says about the models.
  public struct Measurement: Sendable {
    /// The pooled table.
    public var rows: [Row]
    /// The decoder's configuration.
    public var configuration: TriForceConfiguration
    /// The target and draft folders.
    public var target: String
    /// The draft folder.
    public var draft: String
    /// The sentence on the models' training lengths.
    public var models: String
    /// The sweep at the longest context (the default configuration first).
    public var sweep: [SweepRow] = []
    /// Prompts on which every method's T = 0 output was compared (all agreed, or the run stopped).
    public var greedyAgreements = 0
  }

  /// Decodes every prompt of `settings` with every method (A B … B A per prompt and seed) and pools the runs.
  public static func measure(
    _ settings: Settings, target targetPath: String, draft draftPath: String, tokenizer tokenizerPath: String,
    log: (String) -> Void
  ) throws -> Measurement {
    try settings.validate()
    let tokenizer = try TokenizerLoader.load(tokenizerPath)
    let books = (try DataLocation.file("books_gutenberg_nltk") as NSString).deletingLastPathComponent
    let configuration = TriForceConfiguration(budget: settings.budget)
    let longest = (settings.contexts.max() ?? 0) + settings.maxTokens + 64
    let declared = try TriForceModels.declaredShape(at: targetPath)
    let drafted = try TriForceModels.declaredShape(at: draftPath)
    let models =
      "The target was trained at \(declared.contextLength) tokens with RoPE base \(Int(declared.ropeBase)), the "
      + "draft at \(drafted.contextLength) tokens (it only ever reads its \(configuration.draftCache)-row StreamingLLM "
      + "cache); prompts longer than the target's training length lower acceptance, not correctness."
    let targetModel = try TriForceModels.llama(at: targetPath, contextLength: longest).model
    let draftModel = try TriForceModels.llama(at: draftPath, contextLength: longest).model
    let decoder = try TriForceDecoder(target: targetModel, draft: draftModel, configuration: configuration)
    // Per context and temperature, each method's faster run on every prompt.
    var measured: [Cell: [DecodingRun]] = [:]
    var greedyAgreements = 0
    var prefills: [PromptPrefill] = []
    for context in settings.contexts {
      for book in 0..<settings.prompts {
        let prompt = try TriForceWorkload.prompt(tokens: context, book: book, dataFolder: books) {
          tokenizer.encode($0, addSpecialTokens: true)
        }
        let prefill = try decoder.prefill(prompt)
        log(String(format: "triforce: context %d, prompt %d prefilled in %.1f s", context, book, prefill.seconds))
        if context == settings.contexts.max() { prefills.append(prefill) }
        for temperature in settings.temperatures {
          for seed in 0..<(temperature > 0 ? settings.seeds : 1) {
            let options = GenerationOptions(
              maxTokens: settings.maxTokens,
              sampling: SamplingOptions(temperature: temperature, topP: 0.9, seed: 7 + UInt64(seed)))
            // Every method runs twice, in order and then in reverse (A B … B A), so that a slow spell of the
            // shared machine weighs on all methods alike; the faster run counts (a pause of the whole process,
            // which this machine's other users cause, then spoils at most one run).
            var runs: [DecodingMethod: DecodingRun] = [:]
            for method in DecodingMethod.allCases + DecodingMethod.allCases.reversed() {
              let run = try decoder.run(method, prompt: prompt, options: options, prefilled: prefill)
              if let earlier = runs[method], earlier.decodeSeconds <= run.decodeSeconds { continue }
              runs[method] = run
            }
            if temperature == 0 {
              // Every method samples the target exactly, so greedy outputs must agree token for token.
              let reference = runs[.autoregressive]?.tokens
              for (method, run) in runs where run.tokens != reference {
                throw TriForceError(
                  "context \(context), prompt \(book): at T = 0 \(method.rawValue) emitted other tokens than "
                    + "autoregressive decoding (a losslessness bug; nothing was written)")
              }
              greedyAgreements += 1
            }
            for (method, run) in runs {
              measured[Cell(context: context, temperature: temperature, method: method), default: []].append(run)
              log(
                String(
                  format: "triforce: context %d prompt %d T %.1f seed %d %@: %.2f tokens/s", context, book, temperature,
                  7 + seed, method.rawValue, run.tokensPerSecond))
            }
          }
        }
      }
    }
    let sweep = try runSweep(
      settings, prefills: prefills, target: targetModel, draft: draftModel, configuration: configuration, log: log)
    return Measurement(
      rows: table(measured, settings: settings), configuration: configuration, target: targetPath, draft: draftPath,
      models: models, sweep: sweep, greedyAgreements: greedyAgreements)
  }

  /// TriForce with each sweep variant (and the default) against autoregressive decoding on every prompt of the
  /// longest context at T 0.6, the first seed; each prompt's runs go A B … B A and the faster of each counts.
  static func runSweep(
    _ settings: Settings, prefills: [PromptPrefill], target: Llama, draft: Llama,
    configuration: TriForceConfiguration, log: (String) -> Void
  ) throws -> [SweepRow] {
    guard !settings.sweep.isEmpty, !prefills.isEmpty else { return [] }
    let variants = [SweepVariant()] + settings.sweep
    let decoders = try variants.map {
      try TriForceDecoder(target: target, draft: draft, configuration: $0.applied(to: configuration))
    }
    let options = GenerationOptions(
      maxTokens: settings.maxTokens, sampling: SamplingOptions(temperature: 0.6, topP: 0.9, seed: 7))
    var fastest: [[DecodingRun]] = Array(repeating: [], count: variants.count)
    var baseline: [Double] = []
    for (index, prefill) in prefills.enumerated() {
      var best: [Int: DecodingRun] = [:]
      var plain: DecodingRun?
      let order = Array(variants.indices)
      for slot in [-1] + order + order.reversed() + [-1] {
        if slot < 0 {
          let run = try decoders[0].run(.autoregressive, prompt: prefill.prompt, options: options, prefilled: prefill)
          if plain == nil || run.decodeSeconds < plain!.decodeSeconds { plain = run }
          continue
        }
        let run = try decoders[slot].run(.triforce, prompt: prefill.prompt, options: options, prefilled: prefill)
        if let earlier = best[slot], earlier.decodeSeconds <= run.decodeSeconds { continue }
        best[slot] = run
      }
      baseline.append(plain?.tokensPerSecond ?? 0)
      for slot in order { fastest[slot].append(best[slot]!) }
      log(String(format: "triforce: sweep, prompt %d of %d done", index + 1, prefills.count))
    }
    return variants.indices.map { i in
      let runs = fastest[i]
      let level = { (l: Int) -> Double? in
        let counted = runs.compactMap { $0.levels.count > l ? $0.levels[l] : nil }
        return counted.isEmpty ? nil : counted.reduce(into: SpeculationStatistics()) { $0 += $1 }.acceptanceRate
      }
      return SweepRow(
        variant: i == 0 ? "default" : variants[i].label, runTokensPerSecond: runs.map(\.tokensPerSecond),
        baselineTokensPerSecond: baseline, topAcceptance: level(0), draftAcceptance: level(1))
    }
  }

  /// The speedup the cost model predicts for `row` from its own pass times and acceptances: one level costs
  /// (T_top + γ·T_draft) / E(γ, α) per token, two levels (T_top + (γ2 / E(γ1, α1))·(γ1·T_bottom + T_middle)) /
  /// E(γ2, α2), with E(γ, α) = (1 − α^(γ+1)) / (1 − α) tokens per verification; against one full pass per
  /// token for autoregressive decoding (`baselineMilliseconds`). Nil when a time or acceptance is missing.
  static func predictedSpeedup(
    _ row: Row, baselineMilliseconds: Double, configuration c: TriForceConfiguration
  ) -> Double? {
    func expected(_ gamma: Int, _ alpha: Double) -> Double {
      alpha >= 1 ? Double(gamma + 1) : (1 - pow(alpha, Double(gamma + 1))) / (1 - alpha)
    }
    let t = row.millisecondsPerPass
    guard baselineMilliseconds > 0, let top = row.topAcceptance else { return nil }
    let cost: Double
    switch t.count {
    case 2:
      let gamma = c.middleLength
      cost = (t[0] + Double(gamma) * t[1]) / expected(gamma, top)
    case 3:
      guard let inner = row.draftAcceptance else { return nil }
      let rounds = Double(c.middleLength) / expected(c.draftLength, inner)
      cost = (t[0] + rounds * (Double(c.draftLength) * t[2] + t[1])) / expected(c.middleLength, top)
    default:
      return nil
    }
    return cost > 0 ? baselineMilliseconds / cost : nil
  }

  /// One (context, temperature, method) cell before aggregation.
  struct Cell: Hashable {
    var context: Int
    var temperature: Float
    var method: DecodingMethod
  }

  /// Rows from the runs of each cell: tokens/s is all tokens over all decoding seconds, acceptance all kept
  /// over all checked tokens, summed across prompts.
  static func table(_ measured: [Cell: [DecodingRun]], settings: Settings) -> [Row] {
    func total(_ runs: [DecodingRun], level: Int) -> SpeculationStatistics? {
      let counted = runs.compactMap { $0.levels.count > level ? $0.levels[level] : nil }
      guard !counted.isEmpty else { return nil }
      return counted.reduce(into: SpeculationStatistics()) { $0 += $1 }
    }
    func speed(_ runs: [DecodingRun]) -> Double {
      let seconds = runs.map(\.decodeSeconds).reduce(0, +)
      return seconds > 0 ? Double(runs.map(\.tokens.count).reduce(0, +)) / seconds : 0
    }
    var rows: [Row] = []
    for context in settings.contexts {
      for temperature in settings.temperatures {
        let runs = { (method: DecodingMethod) in
          measured[Cell(context: context, temperature: temperature, method: method)] ?? []
        }
        let baseline = speed(runs(.autoregressive))
        for method in DecodingMethod.allCases where !runs(method).isEmpty {
          let cell = runs(method)
          let top = total(cell, level: 0)
          let middle = total(cell, level: 1)
          let tokens = cell.map(\.tokens.count).reduce(0, +)
          let passes = cell.pooledPasses
          let tokensPerSecond = speed(cell)
          rows.append(
            Row(
              context: context, temperature: (Double(temperature) * 1000).rounded() / 1000, method: method.rawValue,
              tokensPerSecond: tokensPerSecond, speedup: baseline > 0 ? tokensPerSecond / baseline : 0,
              topAcceptance: top?.acceptanceRate, draftAcceptance: middle?.acceptanceRate,
              tokensPerVerification: top?.tokensPerRound,
              setupSeconds: cell.map(\.setupSeconds).reduce(0, +) / Double(cell.count),
              newTokens: tokens, passesPerToken: passes.map { tokens > 0 ? Double($0.passes) / Double(tokens) : 0 },
              millisecondsPerPass: passes.map { $0.passes > 0 ? 1000 * $0.seconds / Double($0.passes) : 0 },
              runTokensPerSecond: cell.map(\.tokensPerSecond)))
        }
      }
    }
    return rows
  }

  /// Whether TriForce meets the speed goal at the longest context: at least 2× autoregressive decoding and
  /// faster than every other method, per temperature.
  static func reading(_ rows: [Row]) -> String {
    guard let longest = rows.map(\.context).max() else { return "No measurements." }
    let temperatures = Array(Set(rows.map(\.temperature))).sorted()
    var lines: [String] = []
    var verdicts: [ComparisonVerdict] = []
    let f = { (x: Double) in ReportFormat.fixed(x, digits: 2) }
    for t in temperatures {
      let cell = rows.filter { $0.context == longest && $0.temperature == t }
      guard let tri = cell.first(where: { $0.method == DecodingMethod.triforce.rawValue }) else { continue }
      let baseline = cell.first { $0.method == DecodingMethod.autoregressive.rawValue }
      let others = cell.filter { $0.method != DecodingMethod.triforce.rawValue && $0.method != "autoregressive" }
      let best = others.max { $0.tokensPerSecond < $1.tokensPerSecond }
      // Paired over prompts and seeds when the runs are recorded; else the pooled figures alone.
      let paired = { (other: Row?) -> PairedRatio? in
        guard let other, !tri.runTokensPerSecond.isEmpty,
          other.runTokensPerSecond.count == tri.runTokensPerSecond.count
        else { return nil }
        return try? PairedRatio(first: tri.runTokensPerSecond, second: other.runTokensPerSecond)
      }
      var line = "- T \(ReportFormat.fixed(t, digits: 1)): TriForce \(f(tri.speedup))× autoregressive"
      let overBaseline = paired(baseline)
      let twice: ComparisonVerdict
      if let overBaseline {
        twice = overBaseline.verdict(against: 2)
        line += " (paired: \(overBaseline.text); against 2×: \(twice.rawValue))"
      } else {
        twice = tri.speedup >= 2 ? .better : .worse
      }
      var fastest: ComparisonVerdict = .better
      if let best {
        line += "; best other method \(best.method) \(f(best.speedup))×"
        if let overBest = paired(best) {
          fastest = overBest.verdict(against: 1)
          line += " (TriForce over it, paired: \(overBest.text))"
        } else {
          fastest = tri.tokensPerSecond > best.tokensPerSecond ? .better : .worse
        }
      }
      switch fastest {
      case .better: line += "; TriForce is the fastest method."
      case .worse: line += "; TriForce is not the fastest method."
      case .tie: line += "; TriForce and \(best?.method ?? "the next method") tie for the fastest."
      }
      verdicts += [twice, fastest]
      lines.append(line)
    }
    let verdict: String
    if verdicts.contains(.worse) {
      verdict =
        "The speed goal (at least 2× autoregressive decoding and faster than every other method at the longest "
        + "context, \(longest) tokens) does **not** hold in this run."
    } else if verdicts.contains(.tie) {
      verdict =
        "The speed goal (at least 2× autoregressive decoding and faster than every other method at \(longest) "
        + "tokens) is **a tie** in this run: at least one margin lies inside its 95% paired bootstrap interval "
        + "(or has fewer than \(PairedRatio.minimumPairs) prompt-and-seed pairs)."
    } else {
      verdict =
        "The speed goal holds at \(longest) tokens: TriForce is at least 2× autoregressive decoding and faster "
        + "than every other method at every temperature."
    }
    let why = "Pass costs, the cost model and why: `Sources/Systems/TriForce/README.md` (Results so far)."
    return ([verdict, ""] + lines + ["", why]).joined(separator: "\n")
  }

  /// The γ1/γ2/budget/chunk sweep as Markdown: each variant's paired speedup over autoregressive decoding and
  /// over the default configuration.
  static func sweepSection(_ sweep: [SweepRow], contexts: [Int]) -> String {
    guard let reference = sweep.first, let longest = contexts.max() else { return "" }
    var table = MarkdownTable(header: [
      "Variant", "tokens/s", "Speedup over autoregressive (paired, 95% interval)", "Against the default",
      "α draft (middle)", "α top",
    ])
    for row in sweep {
      let mean = Summary(row.runTokensPerSecond).mean
      let overBaseline = try? PairedRatio(first: row.runTokensPerSecond, second: row.baselineTokensPerSecond)
      let overDefault =
        row.variant == reference.variant
        ? nil : try? PairedRatio(first: row.runTokensPerSecond, second: reference.runTokensPerSecond)
      let against =
        overDefault.map { ratio -> String in
          let verdict = ratio.verdict()
          return ratio.text + (verdict == .tie ? ", a tie" : verdict == .better ? ", faster" : ", slower")
        } ?? "–"
      table.append([
        row.variant, ReportFormat.fixed(mean, digits: 2), overBaseline?.text ?? "–", against,
        row.draftAcceptance.map { ReportFormat.fixed($0) } ?? "–",
        row.topAcceptance.map { ReportFormat.fixed($0) } ?? "–",
      ])
    }
    return """
      ## Sweep: γ1, γ2, budget and chunk (\(longest) tokens, T 0.6)

      TriForce with one setting changed from the default, against autoregressive decoding on the same prompts
      (first seed; each prompt's runs in order and then in reverse, the faster counts). The paper's Table 8:
      γ1 = 1/2/3/6 → 2.30/2.31/2.24/2.01×, γ2 = 2/4/6/8 → 1.90/2.22/2.31/2.20×; optimum chunk ≈ 8, budget ≈ 4K.

      \(table.markdown)
      """
  }

  /// README.md (tables), results.json and speedup.svg.
  static func report(_ measured: Measurement, settings: Settings, quick: Bool, command: String) throws -> ReportDraft {
    let rows = measured.rows
    let c = measured.configuration
    let folder = ReportDraft()
    var table = MarkdownTable(header: [
      "Context", "T", "Method", "tokens/s", "Speedup", "α draft (middle)", "α top", "Tokens per full pass",
      "Passes per token (top level first)", "ms per pass (top level first)", "Predicted speedup (cost model)",
    ])
    let cell = { (x: Double?) in x.map { ReportFormat.fixed($0) } ?? "–" }
    for r in rows {
      let baseline = rows.first {
        $0.context == r.context && $0.temperature == r.temperature
          && $0.method == DecodingMethod.autoregressive.rawValue
      }
      let predicted = predictedSpeedup(
        r, baselineMilliseconds: baseline?.millisecondsPerPass.first ?? 0, configuration: c)
      table.append([
        "\(r.context)", ReportFormat.fixed(r.temperature, digits: 1), r.method,
        ReportFormat.fixed(r.tokensPerSecond, digits: 2),
        ReportFormat.fixed(r.speedup, digits: 2) + "×", cell(r.draftAcceptance), cell(r.topAcceptance),
        cell(r.tokensPerVerification),
        r.passesPerToken.map { ReportFormat.fixed($0, digits: 2) }.joined(separator: " / "),
        r.millisecondsPerPass.map { ReportFormat.fixed($0, digits: 1) }.joined(separator: " / "),
        predicted.map { ReportFormat.fixed($0, digits: 2) + "×" } ?? "–",
      ])
    }
    let colors = ["#444444", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]
    let temperature = rows.contains { $0.temperature == 0.6 } ? 0.6 : rows.first?.temperature ?? 0
    let series = DecodingMethod.allCases.enumerated().map { i, method in
      SVGPlot.Series(
        name: method.rawValue,
        points: rows.filter { $0.method == method.rawValue && $0.temperature == temperature }.map {
          (Double($0.context), $0.speedup)
        }, color: colors[i % colors.count])
    }
    try folder.write(
      SVGPlot.lineChart(
        title: "Speedup over autoregressive decoding (T = \(ReportFormat.fixed(temperature, digits: 1)))",
        xLabel: "context (tokens)",
        yLabel: "speedup", series: series), to: "speedup.svg")
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try folder.write(String(decoding: try encoder.encode(rows), as: UTF8.self), to: "results.json")
    let seeding =
      settings.seeds == 1
      ? " (sampling seed 7)" : " with each of \(settings.seeds) sampling seeds (7–\(6 + settings.seeds); one at T 0)"
    let text = """
      # TriForce: reproduction (\(quick ? "quick" : "full") run)

      Command: `\(command)`. Target `\(measured.target.replacingOccurrences(of: NSHomeDirectory(), with: "~"))`, draft `\(measured.draft.replacingOccurrences(of: NSHomeDirectory(), with: "~"))`;
      budget \(c.budget), chunk \(c.chunk), γ1 \(c.draftLength), γ2 \(c.middleLength), draft cache \(c.sinks) sinks +
      \(c.draftCache - c.sinks) recent rows (compacted every \(StreamingWindow.defaultSlack) tokens), top-p 0.9. Every method samples the target's distribution exactly. Each
      context has \(settings.prompts) prompt\(settings.prompts == 1 ? "" : "s") (N tokens of the held-out books \(CorpusSplit.heldOutBookNames.map { "`\($0)`" }.joined(separator: " and ")) in turn, prompt i from passage ⌊i / 2⌋ of its book; no model here trained on them), each continued
      for \(settings.maxTokens) new tokens\(seeding) by every method twice, the methods in order and then in reverse
      order; the faster of the two runs counts. Tokens/s is all counted tokens over all their decoding seconds
      (prefill and cache construction excluded), acceptance is all kept over all checked tokens, summed over
      prompts and seeds. One run on this machine (shared CPU: numbers are noisy).

      \(measured.models)

      ## Reading

      \(reading(rows))

      ![speedup](speedup.svg)

      \(table.markdown)
      The predicted speedup is the cost model of the spec, evaluated with each row's own measured pass times
      and acceptances (one level: (T_top + γ·T_draft) / E(γ, α); two levels: (T_top + γ2 / E(γ1, α1) ·
      (γ1·T_bottom + T_middle)) / E(γ2, α2); E(γ, α) = (1 − α^(γ+1)) / (1 − α)), against one full pass per token.

      **T = 0 agreement:** on every one of the \(measured.greedyAgreements) greedy prompt runs (every context), every
      method emitted exactly the tokens of autoregressive decoding (checked during the run; a mismatch stops it).

      \(sweepSection(measured.sweep, contexts: settings.contexts))
      """
    try folder.write(text, to: "README.md")
    return folder
  }
}

extension TriForceReproduction: Reproduction {
  /// The reproduce key, report folder and test target's stem.
  public static let name = "triforce"
  /// The system and its paper.
  public static let summary = "TriForce (arXiv 2404.11912)"
  /// The long-context target and the draft (which in turn read the base model and its tokenizer).
  public static let dependencies = ["triforce-models"]
  /// The engine and this system.
  public static let sources = ReproductionSources.engine + ["Sources/Systems/TriForce"]

  /// The full or quick protocol.
  public static func settings(quick: Bool) -> Settings { Settings(quick: quick) }

  /// Measures every method with the `triforce-models` reproduction's target and draft and returns the report.
  public static func run(_ settings: Settings, in context: ReproductionContext) throws -> ReportDraft {
    let models = try context.cache(of: "triforce-models")
    let tokenizer = ((try context.cache(of: "base-model")) as NSString).appendingPathComponent("tokenizer.json")
    let measured = try measure(
      settings, target: (models as NSString).appendingPathComponent(TriForceWorkload.targetFolder),
      draft: (models as NSString).appendingPathComponent(TriForceWorkload.draftFolder), tokenizer: tokenizer,
      log: context.log)
    return try report(
      measured, settings: settings, quick: context.quick,
      command: "frontier reproduce triforce" + (context.quick ? " --quick" : ""))
  }
}
