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
    /// Sampling temperature.
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
    /// Seconds of prefill and cache construction.
    public var setupSeconds: Double
  }

  /// Runs the protocol (quick: short contexts, one temperature, few tokens) and writes the report into
  /// `output`; progress lines go to `log`. Models default to ``TriForceWorkload``'s locations.
  @discardableResult
  public static func run(
    quick: Bool, output: String, target: String? = nil, draft: String? = nil, log: (String) -> Void = { _ in }
  ) throws -> [Row] {
    guard let targetPath = target ?? TriForceWorkload.defaultTarget else {
      throw TriForceError("no target model under ~/.cache/frontier/base-model; train the base model first")
    }
    guard let draftPath = draft ?? TriForceWorkload.defaultDraft else {
      throw TriForceError(
        "no draft model at ~/.cache/frontier/triforce/draft-run/model; train it as the TriForce README says")
    }
    let tokenizer = try TokenizerLoader.load(TriForceWorkload.defaultTokenizer)
    let books = (try DataLocation.file("books_gutenberg_nltk") as NSString).deletingLastPathComponent
    let contexts = quick ? [1024, 2048] : [2048, 8192, 16384, 32768]
    let temperatures: [Float] = quick ? [0.6] : [0, 0.6, 1.0]
    let maxTokens = quick ? 24 : 64
    let configuration = TriForceConfiguration(budget: quick ? 512 : 4096)
    let longest = (contexts.max() ?? 0) + maxTokens + 64
    let declared = try TriForceModels.declaredShape(at: targetPath)
    let drafted = try TriForceModels.declaredShape(at: draftPath)
    let models =
      "The target was trained at \(declared.contextLength) tokens with RoPE base \(Int(declared.ropeBase)), the "
      + "draft at \(drafted.contextLength) tokens (it only ever reads its \(configuration.draftCache)-row StreamingLLM "
      + "cache); prompts longer than the target's training length lower acceptance, not correctness."
    let targetModel = try TriForceModels.llama(at: targetPath, contextLength: longest).model
    let draftModel = try TriForceModels.llama(at: draftPath, contextLength: longest).model
    let decoder = try TriForceDecoder(target: targetModel, draft: draftModel, configuration: configuration)
    var rows: [Row] = []
    for context in contexts {
      let prompt = try TriForceWorkload.prompt(tokens: context, dataFolder: books) {
        tokenizer.encode($0, addSpecialTokens: true)
      }
      let prefill = try decoder.prefill(prompt)
      log(String(format: "triforce: context %d prefilled in %.1f s", context, prefill.seconds))
      for temperature in temperatures {
        let options = GenerationOptions(
          maxTokens: maxTokens, sampling: SamplingOptions(temperature: temperature, topP: 0.9, seed: 7))
        // Every method runs twice, in order and then in reverse (A B … B A), so that a slow spell of the
        // shared machine weighs on all methods alike; a method's speed is that of its faster run (a pause of
        // the whole process, which this machine's other users cause, then spoils at most one run).
        var runs: [DecodingMethod: [DecodingRun]] = [:]
        for method in DecodingMethod.allCases + DecodingMethod.allCases.reversed() {
          runs[method, default: []].append(
            try decoder.run(method, prompt: prompt, options: options, prefilled: prefill))
        }
        let speed = { (method: DecodingMethod) -> Double in (runs[method] ?? []).map(\.tokensPerSecond).max() ?? 0 }
        let baseline = speed(.autoregressive)
        for method in DecodingMethod.allCases {
          guard let run = runs[method]?.first else { continue }
          let row = Row(
            context: context, temperature: Double(temperature), method: method.rawValue,
            tokensPerSecond: speed(method), speedup: baseline > 0 ? speed(method) / baseline : 0,
            topAcceptance: run.topAcceptance, draftAcceptance: run.draftAcceptance,
            tokensPerVerification: run.levels.first?.tokensPerRound, setupSeconds: run.setupSeconds)
          rows.append(row)
          log(
            String(
              format: "triforce: context %d T %.1f %@: %.2f tokens/s (%.2fx)", context, temperature, method.rawValue,
              row.tokensPerSecond, row.speedup))
        }
      }
    }
    try write(
      rows, to: output, quick: quick, configuration: configuration, target: targetPath, draft: draftPath,
      models: models)
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
    _ rows: [Row], to output: String, quick: Bool, configuration c: TriForceConfiguration, target: String,
    draft: String, models: String
  ) throws {
    let folder = try ReportFolder(path: output)
    var table = MarkdownTable(header: [
      "Context", "T", "Method", "tokens/s", "Speedup", "α draft (middle)", "α top", "Tokens per full pass",
    ])
    let cell = { (x: Double?) in x.map { ReportFormat.fixed($0) } ?? "–" }
    for r in rows {
      table.append([
        "\(r.context)", ReportFormat.fixed(r.temperature, digits: 1), r.method,
        ReportFormat.fixed(r.tokensPerSecond, digits: 2),
        ReportFormat.fixed(r.speedup, digits: 2) + "×", cell(r.draftAcceptance), cell(r.topAcceptance),
        cell(r.tokensPerVerification),
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
        title: "Speedup over autoregressive decoding (T = \(temperature))", xLabel: "context (tokens)",
        yLabel: "speedup", series: series), to: "speedup.svg")
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try folder.write(String(decoding: try encoder.encode(rows), as: UTF8.self), to: "results.json")
    let text = """
      # TriForce: reproduction (\(quick ? "quick" : "full") run)

      Command: `frontier reproduce triforce\(quick ? " --quick" : "")` (or `frontier triforce reproduce\(quick ? " --quick" : "")`). Target `\(target)`, draft `\(draft)`;
      prompts are the first N tokens of the Gutenberg books; budget \(c.budget), chunk \(c.chunk), γ1 \(c.draftLength),
      γ2 \(c.middleLength), draft cache \(c.sinks) sinks + \(c.draftCache - c.sinks) recent, top-p 0.9. Every method
      samples the target's distribution exactly; speed is decode only (prefill and cache construction excluded),
      measured on one prompt per context in one run on this machine: each method decodes it twice, the
      methods in order and then in reverse order, and tokens/s is that of the faster of the two runs (shared
      CPU: numbers are noisy).

      \(models)

      ## Reading

      \(reading(rows))

      ![speedup](speedup.svg)

      \(table.markdown)
      """
    try folder.write(text, to: "README.md")
  }
}
