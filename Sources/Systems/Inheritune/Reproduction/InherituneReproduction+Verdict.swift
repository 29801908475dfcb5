import Foundation
import Reports

extension InherituneReproduction {
  /// Title, command and settings.
  func header(elapsedMinutes: Int) -> String {
    let s = settings
    return """
      # Inheritune in miniature

      Paper: Inheritune (arXiv 2404.08634). Its GPT-2 claim: a student made of the first half of a deeper
      reference's blocks, trained as long as the reference, matches the reference and beats a same-size model
      trained from scratch (GPT-2 medium on OpenWebText, 100k steps: inherited 16 layers **2.811** vs scratch
      16 layers **2.869** validation loss; the 24-layer reference 2.819; at 1k steps 3.18 vs 5.21).

      Made by `frontier reproduce inheritune\(quick ? " --quick" : "")` (the last invocation took \(elapsedMinutes) min;
      results are cached under the work folder; `nice -n 5` on two cores shared with other training runs and builds).
      Settings (track B): GPT-2 parent \(s.parentLayers) blocks, width \(s.width), \(s.heads) heads, context \(s.context),
      1/(ℓ+1) attention scaling, tied embedding; students \(s.studentLayers) blocks; batch \(s.batch)×\(s.context)
      tokens; parent \(s.parentSteps) steps, students S = \(s.steps) steps; AdamW (0.9, 0.95), weight decay 0.1,
      clip 1, LR \(s.learningRate) with 5% warmup and cosine decay to LR/10 (one LR for all runs; fresh optimizer
      state and a restarted schedule per student). Validation loss (nats/byte) on the same \(s.evaluationBatches)
      batches of held-out windows for every run, at step 0 and every \(s.evaluationInterval) steps.

      """
  }

  /// The plain statement of whether the claim holds, with the numbers behind it.
  func verdict(inherited: [RunResult], scratch: [RunResult], parent: RunResult?, early: Int) -> String {
    guard !inherited.isEmpty, !scratch.isEmpty, let parent else { return "Not enough runs for a verdict.\n" }
    func mean(_ rows: [RunResult], _ f: (RunResult) -> Float?) -> Double {
      Summary(rows.compactMap(f).map(Double.init)).mean
    }
    let inh = Summary(inherited.map { Double($0.finalLoss) })
    let scr = Summary(scratch.map { Double($0.finalLoss) })
    let gap = scr.mean - inh.mean
    let spread = max(inh.standardDeviation, scr.standardDeviation)
    let earlyGap =
      mean(scratch) { $0.validationLoss(atStep: early) } - mean(inherited) { $0.validationLoss(atStep: early) }
    let fifth = settings.steps / 5
    let gapAtFifth =
      mean(scratch) { $0.validationLoss(atStep: fifth) } - mean(inherited) { $0.validationLoss(atStep: fifth) }
    let toParent = inh.mean - Double(parent.finalLoss)
    let beatsScratch = gap > 0 && gap >= 2 * spread
    let nearParent = toParent <= 0.05
    let earlyLead = earlyGap >= 0.3
    let refuted = gap <= 0 || gapAtFifth <= 0
    let n = settings.studentLayers
    var out: String
    if refuted {
      out = "**The paper's claim does not hold in this miniature.** "
    } else if beatsScratch && nearParent && earlyLead {
      out = "**The paper's claim holds in this miniature.** "
    } else {
      out = "**The paper's claim holds only in part in this miniature.** "
    }
    out += String(
      format: "Inherited-%d ends at %.3f ± %.3f and scratch-%d at %.3f ± %.3f (mean ± sd over %d seeds, %d steps; "
        + "paper: 2.811 vs 2.869); the %d-block parent ends at %.3f (paper's reference: 2.819).\n\n",
      n, inh.mean, inh.standardDeviation, n, scr.mean, scr.standardDeviation, inherited.count, settings.steps,
      settings.parentLayers, parent.finalLoss)
    out += "The criteria of the spec (`../../../shared/papers/01-inheritune.md`, section 4):\n\n"
    out += String(
      format: "- inherited ends at least 2 seed-sd below scratch: gap %.3f nats vs 2 sd = %.3f — %@;\n", gap,
      2 * spread, beatsScratch ? "met" : "not met")
    out += String(
      format: "- inherited ends within 0.05 nats of the parent: %+.3f — %@;\n", toParent,
      nearParent ? "met" : "not met")
    out += String(
      format:
        "- inherited is far lower early: gap %.3f nats at step %d (paper: about 2 nats at 1%% of training) — %@;\n",
      earlyGap, early, earlyLead ? "met (≥ 0.3 nats)" : "not met (< 0.3 nats)")
    out += String(
      format: "- refuted if the gap closes within the first 20%% of training or inherited ≥ scratch at the end: gap "
        + "%.3f at step %d, %.3f at the end — %@.\n", gapAtFifth, fifth, gap, refuted ? "refuted" : "not refuted")
    if let twice = run("scratch-\(n) 2S") {
      out += String(
        format: "- Against scratch at twice the steps (%d): %.3f vs inherited %.3f — %@ (the paper's result here is "
          + "mixed). The parent's pretraining is not counted in that comparison; the table lists it.\n", twice.steps,
        twice.finalLoss, inh.mean, Double(twice.finalLoss) < inh.mean ? "scratch at 2S wins" : "inherited wins")
    }
    let growRuns = runs("grow")
    if growRuns.isEmpty {
      out += "- Grow loop: inherited-\(n) (seed \(inherited[0].seed)) "
      out +=
        Double(inherited[0].finalLoss) <= Double(parent.finalLoss)
        ? "met the parent's loss; no growth.\n" : "ran no round.\n"
    } else {
      let tried = growRuns.map { String(format: "%d blocks → %.3f", $0.layers, $0.finalLoss) }
      out += "- Grow loop (inherited-\(n) missed the parent's loss, so 2 more parent blocks were re-inherited): "
      out += tried.joined(separator: ", ") + String(format: " (parent %.3f).\n", parent.finalLoss)
    }
    return out
  }

  /// Mean ± sd of the inherited and scratch runs over seeds.
  func seedTable(_ inherited: [RunResult], _ scratch: [RunResult], early: Int) -> String {
    var table = MarkdownTable(header: ["Run", "Seeds", "val @0", "val @\(early)", "val @end", "min"])
    for rows in [inherited, scratch] where !rows.isEmpty {
      func column(_ f: (RunResult) -> Float?) -> String {
        ReportFormat.meanAndDeviation(rows.compactMap(f).map(Double.init))
      }
      table.append([
        rows[0].name, rows.map { String($0.seed) }.joined(separator: ", "), column { $0.validationLosses.first },
        column { $0.validationLoss(atStep: early) }, column { $0.finalLoss }, column { $0.minimumLoss },
      ])
    }
    return table.markdown
  }

  /// Acceptance 3: inherited students train at the trainer's normal speed.
  func throughput(inherited: [RunResult], scratch: [RunResult]) -> String {
    guard !inherited.isEmpty, !scratch.isEmpty else { return "" }
    let a = Summary(inherited.map(\.tokensPerSecond)).mean
    let b = Summary(scratch.map(\.tokensPerSecond)).mean
    var out = String(
      format: "### Throughput\n\nOver the runs above, inherited students trained at %.0f tokens/s and same-shape "
        + "scratch students at %.0f tokens/s (mean over seeds, evaluation excluded; ratio %.2f). ", a, b, a / b)
    let (x, y) = throughputRates
    if !x.isEmpty && !y.isEmpty {
      let (mx, my) = (Self.median(x), Self.median(y))
      out += String(
        format: "Timed step by step in alternation (%d steps of each, one inherited step then one scratch step, so "
          + "both see the same machine load): median %.0f tokens/s inherited, %.0f tokens/s scratch (ratio %.2f). ",
        x.count, mx, my, mx / my)
    }
    out += "Both go through the same `Trainer` step as `frontier train`; once its tensors are copied an inherited "
    out += "student is an ordinary model. Other jobs (a 12M-parameter training run at higher priority, other "
    out += "helpers' builds and runs) shared the two cores, so a single run's figure in the tables says more about "
    out += "the machine's load at that moment than about the model; the alternated timing is the comparison.\n"
    return out
  }

  /// Sentences on track A.
  func trackAVerdict(_ rows: [RunResult], reference: RunResult?) -> String {
    guard let reference, let inherited = rows.first(where: { $0.name == "inherited-3" }),
      let scratch = rows.first(where: { $0.name == "scratch-3" })
    else { return "" }
    var out = String(
      format: "The parent's validation loss is %.3f (ln 512 = 6.238). After %d steps the inherited 3-block student "
        + "is at %.3f and the 3-block scratch student at %.3f (one seed): inheritance %@ here.",
      reference.finalLoss, inherited.steps, inherited.finalLoss, scratch.finalLoss,
      inherited.finalLoss < scratch.finalLoss ? "helps" : "does not help")
    let grown = rows.filter { $0.group == "track-a grow" }
    if !grown.isEmpty {
      out += " The grow loop re-inherited 2 more blocks because the 3-block student missed the parent's loss: "
      out += grown.map { String(format: "%d blocks → %.3f", $0.layers, $0.finalLoss) }.joined(separator: ", ")
      out += ". At the parent's full depth this is the parent itself with a fresh final norm, trained further on"
      out += " these stories, so it passing the parent measures adaptation to this data, not compression."
    }
    return out
  }

  /// Sentences on the low-data students.
  func lowDataVerdict() -> String {
    guard let inherited = runs("low-data").first(where: { $0.usesParent }),
      let scratch = runs("low-data").first(where: { !$0.usesParent })
    else { return "" }
    let overfits = inherited.finalLoss > inherited.minimumLoss + 0.05
    return String(
      format: "On %@ of the data the inherited student reaches a lower minimum (%.3f vs %.3f for scratch)%@; "
        + "at the end it is at %.3f vs %.3f.", lowDataPercent, inherited.minimumLoss, scratch.minimumLoss,
      overfits ? " but then overfits the few bytes it sees" : "", inherited.finalLoss, scratch.finalLoss)
  }

  /// Sentences comparing the ablations with the paper's sub-module numbers.
  func ablationVerdict(_ rows: [RunResult]) -> String {
    guard rows.count > 1 else { return "" }
    let ranked = rows.sorted { $0.finalLoss < $1.finalLoss }
    var out = "Ranked by final loss: "
    out += ranked.map { String(format: "%@ %.3f", $0.name, $0.finalLoss) }.joined(separator: " < ") + ". "
    if let attention = rows.first(where: { $0.name == "attention only" }),
      let mlp = rows.first(where: { $0.name == "MLP only" })
    {
      out += String(
        format: "Attention only %@ MLP only (%.3f vs %.3f); the paper (16L medium) has attention+MLP 2.808, "
          + "attention only 2.842, MLP only 2.853.", attention.finalLoss < mlp.finalLoss ? "beats" : "trails",
        attention.finalLoss, mlp.finalLoss)
    }
    return out
  }

  /// Final losses of the runs called `name` in `groups`, one per seed, in seed order.
  func finalLosses(_ name: String, groups: [String]) -> [Double] {
    results.filter { $0.name == name && groups.contains($0.group) }.sorted { $0.seed < $1.seed }
      .map { Double($0.finalLoss) }
  }

  /// Every ablation, the 2S arm and the 1/(ℓ+1)-off pair over all seeds, each against inherited-n (the paper's
  /// flags) with the tie rule of ``Reports/SeedComparison``, and how much of the gain the embedding alone gives.
  func seedSection() -> String {
    let n = settings.studentLayers
    let inherited = finalLosses("inherited-\(n)", groups: ["main", "seeds"])
    let scratch = finalLosses("scratch-\(n)", groups: ["main", "seeds"])
    guard inherited.count >= 2 else { return "" }
    var table = MarkdownTable(header: ["Run", "Seeds", "Final loss (mean ± sd)", "Against inherited-\(n)"])
    var names = ["scratch-\(n)", "scratch-\(n) 2S"]
    names += results.filter { $0.group == "ablation" }.map(\.name)
    for name in names {
      let losses = finalLosses(name, groups: ["main", "seeds", "ablation", "ablation-seeds"])
      guard !losses.isEmpty else { continue }
      let comparison = SeedComparison(first: losses, second: inherited, lowerIsBetter: true)
      let against: String
      switch comparison.verdict {
      case .tie: against = "tie (margin \(ReportFormat.fixed(comparison.margin)))"
      case .better: against = "lower by \(ReportFormat.fixed(-comparison.margin))"
      case .worse: against = "higher by \(ReportFormat.fixed(comparison.margin))"
      }
      table.append([name, "\(losses.count)", ReportFormat.meanAndDeviation(losses), against])
    }
    var out = "### Every arm over seeds\n\n"
    out += "Inherited-\(n) (the paper's flags) ends at \(ReportFormat.meanAndDeviation(inherited)) over "
    out += "\(inherited.count) seeds. A margin no larger than the larger of the two arms' seed standard deviations "
    out += "is called a tie.\n\n" + table.markdown + "\n"
    let embedding = finalLosses("embedding only", groups: ["ablation", "ablation-seeds"])
    if !embedding.isEmpty, !scratch.isEmpty {
      let gain = Summary(scratch).mean - Summary(inherited).mean
      let share = gain > 0 ? (Summary(scratch).mean - Summary(embedding).mean) / gain : .nan
      out += "**The embedding alone.** Inheriting only the tied token embedding and head (no blocks) ends at "
      out +=
        "\(ReportFormat.meanAndDeviation(embedding)), against scratch \(ReportFormat.meanAndDeviation(scratch)) and "
      out += "inherited-\(n) \(ReportFormat.meanAndDeviation(inherited)): "
      if share.isFinite {
        out += "it gives \(ReportFormat.fixed(100 * share, digits: 0))% of inherited-\(n)'s gain over scratch"
        out +=
          share > 0.5
          ? ", so **most of the measured gain comes from the tied embedding and head**, not the blocks.\n\n" : ".\n\n"
      } else {
        out += "inherited-\(n) has no gain over scratch to divide.\n\n"
      }
    }
    let offInherited = finalLosses("inherited-\(n), no 1/(ℓ+1)", groups: ["scaling-off"])
    let offScratch = finalLosses("scratch-\(n), no 1/(ℓ+1)", groups: ["scaling-off"])
    if !offInherited.isEmpty, !offScratch.isEmpty {
      let on = SeedComparison(first: inherited, second: scratch, lowerIsBetter: true)
      let off = SeedComparison(first: offInherited, second: offScratch, lowerIsBetter: true)
      out += "**1/(ℓ+1) off.** From a parent pretrained without the scaling"
      if let parent = run("parent, no 1/(ℓ+1)", group: "scaling-off") {
        out += " (final loss \(ReportFormat.fixed(Double(parent.finalLoss))))"
      }
      out += ", inherited-\(n) against scratch-\(n): \(off.sentence()). With the scaling: \(on.sentence()).\n\n"
    }
    return out
  }

  /// Deviations from the paper and the spec.
  func notes() -> String {
    """

    ## Deviations and notes

    - Byte-level tokens (ids 0-255) instead of characters: tiny-shakespeare is ASCII, so this is the same
      sequence with a larger (mostly unused) vocabulary. The last 10% of the file is held out.
    - Scaled down to fit two shared cores: S = \(settings.steps) steps per student instead of the spec's 2000, and
      the learning rate was not tuned on the reference. The parent trained \(settings.parentSteps) steps; the paper
      trains reference and students equally long, so "within 0.05 nats of the parent" compares a student with
      a parent that saw more data.
    - Fresh tensors use Frontier's GPT-2 initialisation (N(0, 0.02²) weights, wpe N(0, 0.01²), LayerNorms at 1/0),
      without GPT-2's 1/√(2·layers) scaling of residual projections.
    - "Attention only" copies each block's attention and the LayerNorm in front of it (ln_1); "MLP only" copies
      the MLP and ln_2. A block whose attention is copied keeps the parent's layer index ℓ for its 1/(ℓ+1) scale.
    - The "1/(ℓ+1) off" arms inherit from a second parent pretrained exactly like the first but without the
      scaling; their scratch student has no scaling either.
    - Parent pretraining FLOPs are estimated as 6 · parameters · tokens (attention scores not counted).
    - Per-run results are cached in the work folder; delete it to retrain everything.

    """
  }
}
