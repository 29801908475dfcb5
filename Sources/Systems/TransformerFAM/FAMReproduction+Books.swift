import Data
import Foundation
import Models
import NN
import Reports
import TensorCore
import Tokenizers

extension FAMReproduction {
  /// The base model in the `base-model` reproduction's cache folder `baseModel`, when it has been trained.
  static func parentPath(baseModel: String) -> String? {
    let path = (baseModel as NSString).appendingPathComponent("run/model")
    let weights = (path as NSString).appendingPathComponent("model.safetensors")
    return FileManager.default.fileExists(atPath: weights) ? path : nil
  }

  /// Per-position next-token losses [T] of one sequence ids [T + 1].
  static func positionLosses(_ model: FAMModel, _ tokens: [Int]) throws -> [Double] {
    try withoutGradients {
      let t = tokens.count - 1
      let ids = Tensor(indices: Array(tokens.dropLast()), shape: [1, t])
      let targets = Tensor(indices: Array(tokens.dropFirst()), shape: [1, t, 1])
      let logProbabilities = try model.logits(ids).logits.logSoftmax(axis: -1)  // [1, T, V]
      return try logProbabilities.gather(axis: 2, index: targets).floats.map { -Double($0) }
    }
  }

  /// Perplexity against context length on held-out Gutenberg books, then FAM's streaming time and memory.
  static func runBooks(_ s: Settings, data: String, baseModel: String, folder: ReportDraft) throws -> String {
    guard let parentPath = parentPath(baseModel: baseModel) else {
      throw TensorError("FAMReproduction", "\(baseModel): no trained base model; run `frontier reproduce base-model`")
    }
    let tokenizerPath = (baseModel as NSString).appendingPathComponent("tokenizer.json")
    let tokenizer = try TokenizerLoader.load(tokenizerPath)
    let books = (data as NSString).appendingPathComponent("books_gutenberg_nltk")
    let heldOut = CorpusSplit.heldOutBookNames
    let training = [
      "austen-emma.txt", "austen-sense.txt", "chesterton-ball.txt", "chesterton-brown.txt", "melville-moby_dick.txt",
    ]
    func tokens(_ name: String) throws -> [Int] {
      let path = (books as NSString).appendingPathComponent(name)
      guard let bytes = FileManager.default.contents(atPath: path) else {
        throw TensorError("FAMReproduction", "\(path): cannot read the book; check FRONTIER_DATA")
      }
      return tokenizer.encode(String(decoding: bytes, as: UTF8.self), addSpecialTokens: false)
    }
    let evalBooks = try heldOut.map(tokens)
    let trainBooks = try training.map(tokens)
    var evalSequences: [[Int]] = []
    for i in 0..<s.bookSequences {
      let book = evalBooks[i % evalBooks.count]
      let slot = i / evalBooks.count
      let slots = (s.bookSequences + evalBooks.count - 1) / evalBooks.count
      let start = (book.count - s.bookLength - 1) * (slot + 1) / (slots + 1)
      evalSequences.append(Array(book[start...(start + s.bookLength)]))
    }
    let block = 64
    let bswa = FAMConfiguration(mode: .bswa, blockSize: block, memoryBlocks: 1, famLength: 0)
    let fam = FAMConfiguration(mode: .fam, blockSize: block, memoryBlocks: 1, famLength: 8)
    let full = FAMConfiguration(mode: .full, blockSize: block, memoryBlocks: 1, famLength: 0)
    let arms: [(String, FAMConfiguration, Bool)] = [
      ("Full attention (parent)", full, false), ("BSWA b=64 m=1", bswa, false), ("FAM b=64 m=1 f=8", fam, false),
      ("BSWA b=64 m=1, LoRA-tuned", bswa, true), ("FAM b=64 m=1 f=8, LoRA-tuned", fam, true),
    ]
    let bucket = 128
    let buckets = s.bookLength / bucket
    var table = MarkdownTable(
      header: ["Arm", "Tune ms/step", "Mean loss"] + (0..<buckets).map { "pos \($0 * bucket)–\(($0 + 1) * bucket - 1)" }
    )
    var series: [SVGPlot.Series] = []
    let colors = ["#000000", "#1f77b4", "#d62728", "#17becf", "#ff7f0e"]
    var contextLength = 0
    for (index, (name, configuration, tuned)) in arms.enumerated() {
      let parent = try Llama(contentsOf: parentPath)
      contextLength = parent.config.contextLength
      var generator = RandomGenerator(seed: 5)
      let model = try FAMModel(parent: parent, configuration: configuration, generator: &generator)
      var msPerStep = Double.nan
      if tuned {
        try model.addLoRA(
          rank: 8, alpha: 16, targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
          generator: &generator)
        model.unfreeze(["fam_prompt"])
        let trainer = FAMTrainer(model: model, options: FAMTrainingOptions(learningRate: 1e-3, seed: 3))
        var sampler = RandomGenerator(seed: 11)
        let length = min(512, s.bookLength)
        let clock = ContinuousClock()
        let start = clock.now
        for step in 0..<s.bookSteps {
          var ids: [Int] = []
          var targets: [Int] = []
          for _ in 0..<2 {
            let book = trainBooks[Int(sampler.next() % UInt64(trainBooks.count))]
            let at = Int(sampler.next() % UInt64(book.count - length - 1))
            ids += book[at..<(at + length)]
            targets += book[(at + 1)...(at + length)]
          }
          let loss = try trainer.step(
            ids: Tensor(indices: ids, shape: [2, length]), targets: Tensor(indices: targets, shape: [2, length]))
          if step % 10 == 0 { log("books \(name) step \(step) loss \(String(format: "%.3f", loss))") }
        }
        msPerStep = (clock.now - start).seconds * 1000 / Double(max(s.bookSteps, 1))
      }
      model.eval()
      var sums = [Double](repeating: 0, count: s.bookLength)
      for sequence in evalSequences {
        for (i, loss) in try positionLosses(model, sequence).enumerated() { sums[i] += loss }
      }
      let mean = sums.map { $0 / Double(evalSequences.count) }
      let byBucket = (0..<buckets).map { b in mean[(b * bucket)..<((b + 1) * bucket)].reduce(0, +) / Double(bucket) }
      log("books \(name): \(byBucket.map { String(format: "%.3f", $0) })")
      table.append(
        [
          name, tuned ? ReportFormat.fixed(msPerStep, digits: 0) : "–",
          ReportFormat.fixed(mean.reduce(0, +) / Double(mean.count)),
        ]
          + byBucket.map { ReportFormat.fixed($0) })
      series.append(
        SVGPlot.Series(
          name: name, points: byBucket.enumerated().map { (Double($0 * bucket + bucket / 2), $1) }, color: colors[index]
        ))
    }
    try folder.write(
      SVGPlot.lineChart(
        title: "Held-out Gutenberg loss by position", xLabel: "token position", yLabel: "loss (nats)", series: series),
      to: "books-loss.svg")
    let streaming = try runStreaming(s, parentPath: parentPath, text: evalBooks[0], folder: folder)
    return """
      ## B. Loss against context length on held-out Gutenberg books

      Parent: `\(parentPath)` (trained context \(contextLength)), its 4,096-token BPE. Held out: \(heldOut.joined(separator: ", "));
      \(s.bookSequences) sequences of \(s.bookLength) tokens, loss per position averaged in buckets of \(bucket).
      "LoRA-tuned" arms trained rank-8 LoRA on every projection (plus the FAM prompt) for \(s.bookSteps) steps of
      2 × \(min(512, s.bookLength)) tokens from \(training.count) other books (AdamW 1e-3; FAM with RSP and position offsets).
      Untuned FAM uses a random initial FAM prompt: the only new weights. Tune ms/step times each arm's tuning on
      its own, one after the other on a shared machine: not a clean cost comparison (section C is).

      \(table.markdown)

      ![Loss by position](books-loss.svg)

      \(streaming)
      """
  }
}
