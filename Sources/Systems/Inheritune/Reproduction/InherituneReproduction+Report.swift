import Foundation
import Reports

extension InherituneReproduction {
  /// The runs of `group`.
  func runs(_ group: String) -> [RunResult] { results.filter { $0.group == group } }

  /// The first run called `name` (track B unless `group` says otherwise).
  func run(_ name: String, group: String? = nil) -> RunResult? {
    results.first { $0.name == name && (group == nil || $0.group == group) }
  }

  /// The parent's pretraining cost as "tokens / FLOPs" (6 · parameters · tokens).
  func parentCost(_ r: RunResult, parent: RunResult?) -> String {
    guard r.usesParent else { return "0" }
    guard let parent, parent.steps > 0 else { return "not counted (pretrained elsewhere)" }
    let tokens = parent.steps * settings.tokensPerStep
    let flops = 6 * Double(parent.parameters) * Double(tokens)
    return "\(ReportFormat.grouped(tokens)) tok / \(String(format: "%.2e", flops))"
  }

  /// The table of `rows` (validation losses in nats per token).
  func table(_ rows: [RunResult], parent: RunResult?, early: Int) -> String {
    var table = MarkdownTable(header: [
      "Run", "Seed", "Layers", "Params", "Steps", "Train tokens", "Parent pretraining (tokens / FLOPs)", "val @0",
      "val @\(early)", "val @end", "min", "tok/s",
    ])
    for r in rows {
      table.append([
        r.name, "\(r.seed)", "\(r.layers)", ReportFormat.grouped(r.parameters), "\(r.steps)",
        ReportFormat.grouped(r.trainingTokens), parentCost(r, parent: parent), fixed(r.validationLosses.first),
        fixed(r.validationLoss(atStep: early)), fixed(r.finalLoss), fixed(r.minimumLoss),
        r.tokensPerSecond > 0 ? ReportFormat.grouped(Int(r.tokensPerSecond)) : "-",
      ])
    }
    return table.markdown
  }

  private func fixed(_ value: Float?) -> String { ReportFormat.fixed(Double(value ?? .nan)) }

  /// A validation-loss plot of `rows`.
  func plot(_ title: String, _ rows: [RunResult]) -> String {
    let colors = [
      "#000000", "#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f",
    ]
    let series = rows.enumerated().map { i, r in
      SVGPlot.Series(
        name: r.name + (r.group == "seeds" ? " (seed \(r.seed))" : ""),
        points: zip(r.evaluationSteps, r.validationLosses).map { (Double($0.0), Double($0.1)) },
        color: colors[i % colors.count])
    }
    return SVGPlot.lineChart(title: title, xLabel: "step", yLabel: "validation loss (nats/token)", series: series)
  }

  /// README.md, the SVG curves and results.json.
  func report(elapsedMinutes: Int) throws -> ReportDraft {
    let folder = ReportDraft()
    let s = settings
    let n = s.studentLayers
    let early = s.steps / 10
    let parent = run("parent")
    let main = runs("main") + runs("grow")
    let seedRuns = results.filter { ($0.group == "main" || $0.group == "seeds") && $0.steps == s.steps }
    let inherited = seedRuns.filter { $0.name == "inherited-\(n)" }
    let scratch = seedRuns.filter { $0.name == "scratch-\(n)" }
    try folder.write(plot("Track B: parent, inherited vs scratch", main), to: "main.svg")
    try folder.write(plot("Track B: three seeds", inherited + scratch), to: "seeds.svg")
    let first = inherited.first.map { [$0] } ?? []
    try folder.write(plot("Track B: ablations", first + runs("ablation")), to: "ablations.svg")
    try folder.write(plot("Track B: students on \(lowDataPercent) of the data", runs("low-data")), to: "low-data.svg")
    let trackA = runs("track-a") + runs("track-a grow")
    if !trackA.isEmpty {
      try folder.write(
        plot("Track A: stories260K students on TinyStories", trackA.filter { $0.steps > 0 }), to: "track-a.svg")
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try folder.write(String(decoding: try encoder.encode(results), as: UTF8.self), to: "results.json")

    var text = header(elapsedMinutes: elapsedMinutes)
    text += "\n## Track B: GPT-2 on tiny-shakespeare bytes\n\n"
    text += verdict(inherited: inherited, scratch: scratch, parent: parent, early: early) + "\n"
    text += "### Inherited vs scratch over seeds\n\n" + seedTable(inherited, scratch, early: early) + "\n"
    text += "### Every run\n\n" + table(main + runs("seeds"), parent: parent, early: early) + "\n"
    text += "Curves: [main.svg](main.svg), [seeds.svg](seeds.svg).\n\n"
    text += "### Low-data variant (students see \(lowDataPercent) of the training bytes, "
    if let low = runs("low-data").first {
      text += String(format: "about %.0f epochs)\n\n", Double(low.steps * s.tokensPerStep) / Double(low.trainingTokens))
    } else {
      text += "not run)\n\n"
    }
    text += lowDataVerdict() + "\n\n"
    text += table(runs("low-data"), parent: parent, early: early) + "\nCurves: [low-data.svg](low-data.svg).\n\n"
    text += "### Ablations (seed \(s.seeds[0]), \(n) blocks)\n\n" + ablationVerdict(first + runs("ablation")) + "\n\n"
    text += table(first + runs("ablation"), parent: parent, early: early)
    text += "\nCurves: [ablations.svg](ablations.svg).\n\n"
    text += seedSection()
    text += throughput(inherited: inherited, scratch: scratch)
    if !trackA.isEmpty {
      let reference = trackA.first { $0.steps == 0 }
      text += "\n## Track A: the pretrained llama2.c stories260K model as parent\n\n"
      text += "TinyStories (both shared files) tokenized with tok512, 10% of the stories held out; windows of "
      text += "\(s.trackAContext) tokens. The parent was pretrained by llama2.c (its cost is not known here). "
      text += trackAVerdict(trackA, reference: reference) + "\n\n"
      text += table(trackA, parent: nil, early: s.trackASteps / 10) + "\nCurves: [track-a.svg](track-a.svg).\n"
    }
    text += notes()
    try folder.write(text, to: "README.md")
    return folder
  }

  var lowDataPercent: String { String(format: "%g%%", settings.lowDataFraction * 100) }
}
