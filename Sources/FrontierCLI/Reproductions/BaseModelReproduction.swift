import Data
import Foundation
import Generation
import Kernels
import LMCore
import Models
import Reports
import TensorCore
import Tokenizers
import Training

/// `frontier reproduce base-model [--quick]`: the language-model stack end to end on the English text in the data
/// folder — a BPE vocabulary trained by Frontier, token shards, a small Llama pretrained (resuming when
/// interrupted), then `reports/base-model/` with the loss curve, a table and samples.
///
/// The trained model is cached under `~/.cache/frontier/base-model/` (`run/model`, `tokenizer.json`): it is the
/// parent model of Inheritune, TriForce and TransformerFAM.
enum BaseModelReproduction: Reproduction {
  static let name = "base-model"
  static let summary = "the base model of the language-model stack (parent of the systems)"
  static let dependencies: [String] = []
  /// What training reads: the engine without generation, and the commands the stages run.
  static let sources =
    ReproductionSources.engine.filter { $0 != "Sources/Generation" } + [
      "Sources/FrontierCLI/Arguments.swift", "Sources/FrontierCLI/Commands/TokenizeCommand.swift",
      "Sources/FrontierCLI/Commands/PrepareCommand.swift", "Sources/FrontierCLI/Commands/TrainCommand.swift",
    ]

  /// The fixed place the systems read the parent from: `~/.cache/frontier/base-model[-quick]`.
  static func cacheDirectory(quick: Bool) -> String {
    (DataLocation.cacheDirectory as NSString).appendingPathComponent(quick ? "base-model-quick" : "base-model")
  }

  static func settings(quick: Bool) -> Recipe { quick ? .quick : .full }

  /// Sizes and schedule of one run.
  struct Recipe: Encodable {
    /// The corpus split the model trains on (``Data/CorpusSplit/version``).
    var split = CorpusSplit.version
    /// Whether only the first two training files are read (the quick run).
    var firstTwoFilesOnly: Bool
    var vocabulary: Int
    var layers: Int
    var heads: Int
    var width: Int
    var context: Int
    var batch: Int
    var steps: Int
    var warmup: Int
    var learningRate: Double
    var evaluationInterval: Int
    var checkpointInterval: Int

    /// The reported run: 12.2M parameters, 4,000 steps of 4 × 512 tokens (about 1–2 hours on 2 cores).
    static let full = Recipe(
      firstTwoFilesOnly: false, vocabulary: 4096, layers: 6, heads: 6, width: 384, context: 512, batch: 4, steps: 4000,
      warmup: 200,
      learningRate: 1e-3, evaluationInterval: 250, checkpointInterval: 500)
    /// A minute-long smoke run of the same pipeline.
    static let quick = Recipe(
      firstTwoFilesOnly: true, vocabulary: 512, layers: 2, heads: 2, width: 64, context: 64, batch: 4, steps: 40,
      warmup: 5,
      learningRate: 3e-3, evaluationInterval: 20, checkpointInterval: 20)
  }

  /// The data folder that holds the English corpus (tinystories, tinyshakespeare, books_gutenberg_nltk).
  static func dataFolder() throws -> String {
    guard let books = DataLocation.existingFile("books_gutenberg_nltk") else {
      throw UsageError(
        message: "frontier reproduce base-model: the data folder has no books_gutenberg_nltk/ (see "
          + "../shared/data/README.md; set FRONTIER_DATA or run `frontier fetch`)")
    }
    return (books as NSString).deletingLastPathComponent
  }

  /// Runs the missing stages of the recipe in the cache (claimed by the driver's stamp of the recipe and the
  /// training code), then returns the report.
  static func run(_ recipe: Recipe, in context: ReproductionContext) throws -> ReportDraft {
    let cache = context.workDirectory
    let tokenizer = (cache as NSString).appendingPathComponent("tokenizer.json")
    let data = (cache as NSString).appendingPathComponent("data")
    let run = (cache as NSString).appendingPathComponent("run")
    let split = try CorpusSplit.materialize(
      dataFolder: try dataFolder(), into: (cache as NSString).appendingPathComponent("corpus"))
    var texts = split.training
    if recipe.firstTwoFilesOnly { texts = Array(texts.prefix(2)) }

    if !FileManager.default.fileExists(atPath: tokenizer) {
      try TokenizeCommand.run(
        try parse(TokenizeCommand.self, ["train", "--vocab", "\(recipe.vocabulary)", "--out", tokenizer] + texts))
    }
    if !FileManager.default.fileExists(atPath: (data as NSString).appendingPathComponent("meta.json")) {
      try PrepareCommand.run(
        try parse(
          PrepareCommand.self,
          [
            "--input", texts.joined(separator: ","), "--tokenizer", tokenizer, "--out", data, "--val-fraction",
            "0.02",
          ]))
    }
    let model = (run as NSString).appendingPathComponent("model")
    if !FileManager.default.fileExists(atPath: (model as NSString).appendingPathComponent("config.json")) {
      var arguments = [
        "--model", "llama", "--data", data, "--layers", "\(recipe.layers)", "--heads", "\(recipe.heads)", "--width",
        "\(recipe.width)", "--context", "\(recipe.context)", "--batch", "\(recipe.batch)", "--steps",
        "\(recipe.steps)", "--lr", "\(recipe.learningRate)", "--warmup", "\(recipe.warmup)", "--eval-every",
        "\(recipe.evaluationInterval)", "--checkpoint-every", "\(recipe.checkpointInterval)", "--seed", "1", "--out",
        run,
      ]
      // Resume from the newest usable checkpoint; with none (a first run, or only damaged ones) start over.
      let resumable = Trainer.newestValidCheckpoint(inRun: run).checkpoint != nil
      arguments.append(resumable ? "--resume" : "--overwrite")
      try TrainCommand.run(try parse(TrainCommand.self, arguments))
    }
    return try report(recipe: recipe, cache: cache)
  }

  /// Tokens of each held-out file the report evaluates (about a minute each for the full model).
  static let heldOutTokenLimit = 65_536

  /// Perplexity of `model` on each held-out file, by ``Generation/SlidingWindowPerplexity``.
  static func heldOutTable(
    _ model: LanguageModel, tokenizer: Tokenizer, context: Int, files: CorpusSplit.Files
  ) throws -> MarkdownTable {
    var table = MarkdownTable(header: ["held-out file", "tokens scored", "nats/token", "perplexity", "bits/byte"])
    let evaluator = try SlidingWindowPerplexity(context: context)
    for file in files.heldOut {
      guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
        throw CLIError("\(file): cannot read the held-out file as UTF-8 text")
      }
      let tokens = Array(tokenizer.encode(text, addSpecialTokens: false).prefix(heldOutTokenLimit))
      let result = try evaluator.evaluate(model, tokens: tokens) {
        tokenizer.decode([$0], skipSpecialTokens: true).utf8.count
      }
      table.append([
        (file as NSString).lastPathComponent, ReportFormat.grouped(result.tokens),
        ReportFormat.fixed(result.natsPerToken),
        ReportFormat.fixed(result.perplexity, digits: 2), result.bitsPerByte.map { ReportFormat.fixed($0) } ?? "-",
      ])
    }
    return table
  }

  private static func parse(_ command: any Command.Type, _ arguments: [String]) throws -> ParsedArguments {
    try ParsedArguments(
      command: command.name, args: arguments, specs: command.options, allowsPositional: command.allowsPositional)
  }

  /// README.md (description, loss table, samples) and loss.svg from the cached run.
  static func report(recipe: Recipe, cache: String) throws -> ReportDraft {
    let run = (cache as NSString).appendingPathComponent("run")
    let records = try MetricsLog(path: (run as NSString).appendingPathComponent("metrics.jsonl")).records()
    let train = records.filter { $0.split == .train }
    let validation = records.filter { $0.split == .validation }
    guard let last = validation.last else {
      throw UsageError(message: "frontier reproduce base-model: \(run)/metrics.jsonl has no validation loss yet")
    }
    let folder = ReportDraft()
    let plot = SVGPlot.lineChart(
      title: "Base model: loss", xLabel: "step", yLabel: "cross-entropy (nats/token)",
      series: [
        .init(name: "train", points: train.map { (Double($0.step), Double($0.loss)) }, color: "#1f77b4"),
        .init(name: "validation", points: validation.map { (Double($0.step), Double($0.loss)) }, color: "#d62728"),
      ])
    try folder.write(plot, to: "loss.svg")

    var table = MarkdownTable(header: [
      "step", "tokens seen", "train loss (mean of the last 50 steps)", "validation loss",
    ])
    let tokensPerStep = recipe.batch * recipe.context
    for v in validation {
      let window = train.filter { $0.step > v.step - 50 && $0.step <= v.step }.map { Double($0.loss) }
      table.append([
        "\(v.step)", ReportFormat.grouped(v.step * tokensPerStep), ReportFormat.fixed(Summary(window).mean),
        ReportFormat.fixed(Double(v.loss)),
      ])
    }
    let rates = train.compactMap(\.tokensPerSecond)
    let seconds = train.map { Double(tokensPerStep) / max($0.tokensPerSecond ?? 1, 1) }.reduce(0, +)
    let modelPath = (run as NSString).appendingPathComponent("model")
    let loaded = try ModelRegistry.load(modelPath)
    guard let language = loaded.languageModel else {
      throw UsageError(message: "frontier reproduce base-model: \(modelPath) is not a language model")
    }
    let tokenizer = try TokenizerLoader.load((cache as NSString).appendingPathComponent("tokenizer.json"))
    let meta = try ShardPreparer.readMeta(from: (cache as NSString).appendingPathComponent("data"))
    let best = validation.min { $0.loss < $1.loss }!

    var samples = ""
    let generator = Generator(model: language)
    for prompt in ["Once upon a time", "It is a truth universally acknowledged", "HAMLET:", "Call me Ishmael."] {
      let options = GenerationOptions(
        maxTokens: 80, sampling: SamplingOptions(temperature: 0.8, topP: 0.95, seed: 1))
      let result = try generator.generate(
        prompt: tokenizer.encode(prompt, addSpecialTokens: false), options: options,
        decode: { tokenizer.decode($0, skipSpecialTokens: true) })
      samples += "**Prompt:** `\(prompt)`\n\n```\n\(prompt)\(result.text ?? "")\n```\n\n"
    }
    let heldOut = try heldOutTable(
      language, tokenizer: tokenizer, context: recipe.context,
      files: CorpusSplit.Files(
        training: [], heldOutBooks: try CorpusSplit.heldOutBooks(in: try dataFolder()),
        heldOutStories: (cache as NSString).appendingPathComponent("corpus/tinystories-heldout.txt")))
    let sourceList = meta.sources.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")
    let epochs = Double(recipe.steps * tokensPerStep) / Double(max(meta.trainTokens, 1))
    let text = """
      # Base model: a small Llama trained by Frontier

      Written by `frontier reproduce base-model` (\(ReportFormat.grouped(language.vocabularySize))-token
      vocabulary, \(recipe.layers) layers, \(recipe.heads) heads, width \(recipe.width), context
      \(recipe.context)). Re-running the command reuses the cached tokenizer, shards and model under
      `\(cache.replacingOccurrences(of: DataLocation.cacheDirectory, with: "~/.cache/frontier"))/` (delete that
      folder to start over) and rewrites this page.

      A Llama-style decoder (RMSNorm, RoPE θ 10,000, SwiGLU, tied embeddings) with
      \(ReportFormat.grouped(loaded.module.parameterCount)) parameters and a byte-level BPE vocabulary trained by
      `frontier tokenize train`, pretrained on \(sourceList) from the data folder, with 2% of documents
      held out (\(ReportFormat.grouped(meta.trainTokens)) training and \(ReportFormat.grouped(meta.validationTokens))
      validation tokens).

      Training: AdamW (β 0.9/0.95, weight decay 0.1 on matrices), peak learning rate \(recipe.learningRate) with
      \(recipe.warmup) warmup steps and cosine decay to a tenth, gradient clip 1, \(recipe.steps) steps of
      \(recipe.batch) × \(recipe.context) tokens (\(ReportFormat.grouped(recipe.steps * tokensPerStep)) tokens,
      \(ReportFormat.fixed(epochs, digits: 1)) epochs), seed 1. It took \(ReportFormat.fixed(seconds / 3600, digits: 2))
      hours of training steps at a mean \(ReportFormat.fixed(Summary(rates).mean, digits: 0)) tokens/s on this
      2-core machine (other jobs shared it during the run; `frontier bench` measures the quiet figure).

      **Held out from every model.** No model in Frontier's reproductions (this one, the TriForce draft and
      long-context target, LoRA tunings) trains on the Gutenberg books
      \(CorpusSplit.heldOutBookNames.map { "`\($0)`" }.joined(separator: " and ")) or on the last
      \(CorpusSplit.heldOutStoryCount) stories of `\(CorpusSplit.storiesFile)` (split `\(CorpusSplit.version)`);
      the validation loss below is measured on 2% of the other documents, also never trained on. On the
      held-out text (`frontier eval`'s sliding windows of \(recipe.context) tokens, stride \(recipe.context),
      the first \(ReportFormat.grouped(heldOutTokenLimit)) tokens of each file):

      \(heldOut.markdown)
      Final validation loss \(ReportFormat.fixed(Double(last.loss))) nats/token at step \(last.step) (best
      \(ReportFormat.fixed(Double(best.loss))) at step \(best.step)). With a corpus this small, later epochs
      repeat text the model has seen; the gap between train and validation loss in the table shows how much.

      ## Loss

      ![loss curve](loss.svg)

      \(table.markdown)
      ## Samples (temperature 0.8, top-p 0.95, seed 1, 80 new tokens)

      \(samples)
      """
    try folder.write(text, to: "README.md")
    return folder
  }
}
