import Data
import Foundation
import Generation
import Reports
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
  }

  /// What one reproduction measures.
  public struct Settings: Sendable, Equatable {
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

    /// The full protocol, or the quick one (short contexts, one temperature, few tokens).
    public init(quick: Bool) {
      contexts = quick ? [1024, 2048] : [2048, 8192, 16384, 32768]
      temperatures = quick ? [0.6] : [0, 0.6, 1.0]
      prompts = quick ? 1 : 3
      seeds = quick ? 1 : 2
      maxTokens = quick ? 24 : 128
      budget = quick ? 512 : 4096
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
    }
  }

  /// Runs the protocol (quick: short contexts, one temperature, few tokens) and writes the report into
  /// `output`; progress lines go to `log`. Models default to ``TriForceWorkload``'s locations.
  @discardableResult
  public static func run(
    quick: Bool, output: String, target: String? = nil, draft: String? = nil, log: (String) -> Void = { _ in }
  ) throws -> [Row] {
    try run(Settings(quick: quick), quick: quick, output: output, target: target, draft: draft, log: log)
  }

  /// Runs `settings` and writes the report into `output` (`quick` only names the run in the report).
  @discardableResult
  public static func run(
    _ settings: Settings, quick: Bool, output: String, target: String? = nil, draft: String? = nil,
    command: String? = nil, log: (String) -> Void = { _ in }
  ) throws -> [Row] {
    try settings.validate()
    guard let targetPath = target ?? TriForceWorkload.defaultTarget else {
      throw TriForceError("no target model under ~/.cache/frontier/base-model; train the base model first")
    }
    guard let draftPath = draft ?? TriForceWorkload.defaultDraft else {
      throw TriForceError(
        "no draft model at ~/.cache/frontier/triforce/draft-run/model; train it as the TriForce README says")
    }
    let tokenizer = try TokenizerLoader.load(TriForceWorkload.defaultTokenizer)
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
    for context in settings.contexts {
      for book in 0..<settings.prompts {
        let prompt = try TriForceWorkload.prompt(tokens: context, book: book, dataFolder: books) {
          tokenizer.encode($0, addSpecialTokens: true)
        }
        let prefill = try decoder.prefill(prompt)
        log(String(format: "triforce: context %d, prompt %d prefilled in %.1f s", context, book, prefill.seconds))
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
    let rows = table(measured, settings: settings)
    try write(
      rows, to: output, quick: quick, settings: settings, configuration: configuration, target: targetPath,
      draft: draftPath, models: models, command: command)
    return rows
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
              millisecondsPerPass: passes.map { $0.passes > 0 ? 1000 * $0.seconds / Double($0.passes) : 0 }))
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
    var holds = true
    for t in temperatures {
      let cell = rows.filter { $0.context == longest && $0.temperature == t }
      guard let tri = cell.first(where: { $0.method == DecodingMethod.triforce.rawValue }) else { continue }
      let others = cell.filter { $0.method != DecodingMethod.triforce.rawValue && $0.method != "autoregressive" }
      let best = others.max { $0.speedup < $1.speedup }
      let fastest = others.allSatisfy { tri.tokensPerSecond > $0.tokensPerSecond }
      holds = holds && tri.speedup >= 2 && fastest
      lines.append(
        "- T \(ReportFormat.fixed(t, digits: 1)): TriForce \(ReportFormat.fixed(tri.speedup, digits: 2))× autoregressive"
          + (best.map { "; best other method \($0.method) \(ReportFormat.fixed($0.speedup, digits: 2))×" } ?? "")
          + (fastest ? "; TriForce is the fastest method." : "; TriForce is not the fastest method."))
    }
    let verdict =
      holds
      ? "The speed goal holds at \(longest) tokens: TriForce is at least 2× autoregressive decoding and faster "
        + "than every other method at every temperature."
      : "The speed goal (at least 2× autoregressive decoding and faster than every other method at the longest "
        + "context, \(longest) tokens) does **not** hold in this run."
    let why = "Pass costs, the cost model and why: `Sources/Systems/TriForce/README.md` (Results so far)."
    return ([verdict, ""] + lines + ["", why]).joined(separator: "\n")
  }

  /// README.md (tables), results.json and speedup.svg.
  static func write(
    _ rows: [Row], to output: String, quick: Bool, settings: Settings, configuration c: TriForceConfiguration,
    target: String, draft: String, models: String, command: String?
  ) throws {
    let folder = try ReportFolder(path: output)
    var table = MarkdownTable(header: [
      "Context", "T", "Method", "tokens/s", "Speedup", "α draft (middle)", "α top", "Tokens per full pass",
      "Passes per token (top level first)", "ms per pass (top level first)",
    ])
    let cell = { (x: Double?) in x.map { ReportFormat.fixed($0) } ?? "–" }
    for r in rows {
      table.append([
        "\(r.context)", ReportFormat.fixed(r.temperature, digits: 1), r.method,
        ReportFormat.fixed(r.tokensPerSecond, digits: 2),
        ReportFormat.fixed(r.speedup, digits: 2) + "×", cell(r.draftAcceptance), cell(r.topAcceptance),
        cell(r.tokensPerVerification),
        r.passesPerToken.map { ReportFormat.fixed($0, digits: 2) }.joined(separator: " / "),
        r.millisecondsPerPass.map { ReportFormat.fixed($0, digits: 1) }.joined(separator: " / "),
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

      Command: `\(command ?? "frontier reproduce triforce" + (quick ? " --quick" : ""))`. Target `\(target)`, draft `\(draft)`;
      budget \(c.budget), chunk \(c.chunk), γ1 \(c.draftLength), γ2 \(c.middleLength), draft cache \(c.sinks) sinks +
      \(c.draftCache - c.sinks) recent rows (compacted every \(StreamingWindow.defaultSlack) tokens), top-p 0.9. Every method samples the target's distribution exactly. Each
      context has \(settings.prompts) prompt\(settings.prompts == 1 ? "" : "s") (the first N tokens of Gutenberg book\(settings.prompts == 1 ? " 0" : "s 0–\(settings.prompts - 1)")), each continued
      for \(settings.maxTokens) new tokens\(seeding) by every method twice, the methods in order and then in reverse
      order; the faster of the two runs counts. Tokens/s is all counted tokens over all their decoding seconds
      (prefill and cache construction excluded), acceptance is all kept over all checked tokens, summed over
      prompts and seeds. One run on this machine (shared CPU: numbers are noisy).

      \(models)

      ## Reading

      \(reading(rows))

      ![speedup](speedup.svg)

      \(table.markdown)
      """
    try folder.write(text, to: "README.md")
  }
}
