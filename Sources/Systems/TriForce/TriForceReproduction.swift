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
        var baseline = 0.0
        for method in DecodingMethod.allCases {
          let run = try decoder.run(method, prompt: prompt, options: options, prefilled: prefill)
          if method == .autoregressive { baseline = run.tokensPerSecond }
          let row = Row(
            context: context, temperature: Double(temperature), method: method.rawValue,
            tokensPerSecond: run.tokensPerSecond, speedup: baseline > 0 ? run.tokensPerSecond / baseline : 0,
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
    try write(rows, to: output, quick: quick, configuration: configuration, target: targetPath, draft: draftPath)
    return rows
  }

  /// README.md (tables), results.json and speedup.svg.
  static func write(
    _ rows: [Row], to output: String, quick: Bool, configuration c: TriForceConfiguration, target: String,
    draft: String
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
      measured on one prompt per context in one run on this machine (shared CPU: numbers are noisy).

      The models were trained at 256–512 tokens with RoPE base 10000: at long contexts their predictions
      degrade, which lowers acceptance (not correctness).

      ![speedup](speedup.svg)

      \(table.markdown)
      """
    try folder.write(text, to: "README.md")
  }
}
