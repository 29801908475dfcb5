import Data
import Foundation
import Reports
import Training
import TriForce

/// `frontier reproduce triforce-models [--quick]`: the models TriForce's reproduction runs, trained from the base
/// model's cache on the same shards and tokenizer (so never on the held-out books): the long-context target (the
/// base model with RoPE base 500000, fine-tuned on 2048-token and then 8192-token windows) and the 2-layer
/// draft. Each stage resumes from its checkpoints; the models land in `~/.cache/frontier/triforce[-quick]/`
/// (`target-8k/model`, `draft-run/model`). It writes no report of its own: TriForce's report names the models.
enum TriForceModelsReproduction: Reproduction {
  static let name = "triforce-models"
  static let summary = "TriForce's long-context target and draft, trained from the base model"
  static let dependencies = ["base-model"]
  static let sources = BaseModelReproduction.sources

  /// `~/.cache/frontier/triforce[-quick]`, where `frontier bench triforce` looks for its default models.
  static func cacheDirectory(quick: Bool) -> String {
    TriForceWorkload.modelsFolder + (quick ? "-quick" : "")
  }

  /// One `frontier train` run.
  struct Stage: Encodable {
    /// The folder under the cache (its `model/` is the result).
    var folder: String
    /// The run to start from (a folder under the cache, `base-model` for the base model), or nil for scratch.
    var initializer: String?
    /// `frontier train` options besides `--data`, `--init` and `--out`.
    var options: [String]
  }

  /// The three stages, in order.
  struct Settings: Encodable {
    var stages: [Stage]
  }

  static func settings(quick: Bool) -> Settings {
    if quick {
      return Settings(stages: [
        Stage(
          folder: "target-long", initializer: "base-model",
          options: [
            "--rope-base", "500000", "--context", "128", "--batch", "2", "--steps", "6", "--lr", "1e-3",
            "--warmup", "2", "--eval-every", "3", "--eval-batches", "1", "--seed", "11",
          ]),
        Stage(
          folder: "target-8k", initializer: "target-long",
          options: [
            "--rope-base", "500000", "--context", "256", "--batch", "1", "--steps", "4", "--lr", "5e-4",
            "--warmup", "1", "--eval-every", "0", "--checkpoint-every", "2", "--seed", "21",
          ]),
        Stage(
          folder: "draft-run", initializer: nil,
          options: [
            "--model", "llama", "--layers", "1", "--heads", "2", "--width", "32", "--context", "64",
            "--batch", "4", "--steps", "20", "--lr", "3e-3", "--warmup", "2", "--eval-every", "10", "--seed", "3",
          ]),
      ])
    }
    return Settings(stages: [
      Stage(
        folder: "target-long", initializer: "base-model",
        options: [
          "--rope-base", "500000", "--context", "2048", "--batch", "2", "--steps", "152", "--lr", "6e-4",
          "--min-lr", "6e-5", "--warmup", "20", "--eval-every", "50", "--eval-batches", "2", "--checkpoint-every",
          "25", "--seed", "11",
        ]),
      Stage(
        folder: "target-8k", initializer: "target-long",
        options: [
          "--rope-base", "500000", "--context", "8192", "--batch", "1", "--steps", "88", "--lr", "3e-4",
          "--min-lr", "3e-5", "--warmup", "4", "--eval-every", "0", "--checkpoint-every", "11", "--seed", "21",
        ]),
      Stage(
        folder: "draft-run", initializer: nil,
        options: [
          "--model", "llama", "--layers", "2", "--heads", "2", "--width", "128", "--context", "256",
          "--batch", "8", "--steps", "2000", "--lr", "2e-3", "--warmup", "100", "--checkpoint-every", "250",
          "--seed", "3",
        ]),
    ])
  }

  /// Trains every stage whose model is missing (resuming from its newest checkpoint) and returns an empty
  /// report.
  static func run(_ settings: Settings, in context: ReproductionContext) throws -> ReportDraft {
    let base = try context.cache(of: "base-model")
    let data = (base as NSString).appendingPathComponent("data")
    for stage in settings.stages {
      let out = (context.workDirectory as NSString).appendingPathComponent(stage.folder)
      let model = (out as NSString).appendingPathComponent("model")
      if FileManager.default.fileExists(atPath: (model as NSString).appendingPathComponent("config.json")) {
        context.log("triforce-models: \(stage.folder) is trained")
        continue
      }
      var arguments = ["--data", data, "--out", out] + stage.options
      if let initializer = stage.initializer {
        let from =
          initializer == "base-model" ? base : (context.workDirectory as NSString).appendingPathComponent(initializer)
        arguments += [
          "--init", (from as NSString).appendingPathComponent(initializer == "base-model" ? "run/model" : "model"),
        ]
      }
      if Trainer.latestCheckpoint(inRun: out) != nil { arguments.append("--resume") }
      context.log("triforce-models: training \(stage.folder)")
      try TrainCommand.run(
        try ParsedArguments(
          command: TrainCommand.name, args: arguments, specs: TrainCommand.options,
          allowsPositional: TrainCommand.allowsPositional))
    }
    return ReportDraft()
  }
}
