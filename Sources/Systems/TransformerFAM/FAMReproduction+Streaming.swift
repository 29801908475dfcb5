import Foundation
import Models
import NN
import Reports
import TensorCore

extension FAMReproduction {
  /// Streams the same text through BSWA and FAM decoders in lockstep (alternating per token, so that load on
  /// the machine hits both alike) and reports time per token and state size against sequence length.
  static func runStreaming(_ s: Settings, parentPath: String, text: [Int], folder: ReportDraft) throws -> String {
    let parent = try Llama(contentsOf: parentPath)
    var generator = RandomGenerator(seed: 5)
    let bswa = try FAMModel(
      parent: parent, configuration: FAMConfiguration(mode: .bswa, blockSize: 64, memoryBlocks: 1, famLength: 0),
      generator: &generator)
    let fam = try FAMModel(
      parent: parent, configuration: FAMConfiguration(mode: .fam, blockSize: 64, memoryBlocks: 1, famLength: 8),
      generator: &generator)
    bswa.eval()
    fam.eval()
    let decoders = [try FAMStreamingDecoder(model: bswa), try FAMStreamingDecoder(model: fam)]
    let clock = ContinuousClock()
    var seconds = [0.0, 0.0]
    var blockSeconds: [[Double]] = [[], []]  // per decoder, the time of each complete block of 64 tokens
    let c = parent.config
    var table = MarkdownTable(header: ["Tokens", "BSWA state floats", "FAM state floats", "Full-attention KV floats"])
    var points: [[(Double, Double)]] = [[], [], []]
    var checkpoint = 64
    for (t, token) in text.prefix(s.streamTokens).enumerated() {
      for (i, decoder) in decoders.enumerated() {
        let start = clock.now
        _ = try decoder.step([token])
        seconds[i] += (clock.now - start).seconds
      }
      if (t + 1) % 64 == 0 {
        for i in 0..<2 { blockSeconds[i].append(seconds[i] - blockSeconds[i].reduce(0, +)) }
      }
      if t + 1 == checkpoint {
        let kv = 2 * c.layers * c.kvHeads * c.headDimensions * checkpoint
        let row = [decoders[0].stateFloatCount, decoders[1].stateFloatCount, kv]
        table.append(["\(checkpoint)"] + row.map { ReportFormat.grouped($0) })
        for i in 0..<3 { points[i].append((Double(checkpoint), Double(row[i]))) }
        checkpoint *= 2
      }
    }
    let count = Double(min(s.streamTokens, text.count))
    // The median block of 64 tokens (each includes one FAM update), so that a pause of the whole process during
    // one token (the machine is shared) does not count; the mean over all tokens is given beside it.
    let (bswaMs, famMs) = (median(blockSeconds[0]) * 1000 / 64, median(blockSeconds[1]) * 1000 / 64)
    let (bswaMean, famMean) = (seconds[0] * 1000 / count, seconds[1] * 1000 / count)
    try folder.write(
      SVGPlot.lineChart(
        title: "Attention state while streaming", xLabel: "tokens", yLabel: "floats held",
        series: [
          SVGPlot.Series(name: "BSWA b=64 m=1", points: points[0], color: "#1f77b4"),
          SVGPlot.Series(name: "FAM b=64 m=1 f=8", points: points[1], color: "#d62728"),
          SVGPlot.Series(name: "full attention KV cache", points: points[2], color: "#000000"),
        ]), to: "streaming-memory.svg")
    return """
      ## C. Streaming cost (acceptance 3)

      The untuned parent streamed \(Int(count)) tokens of held-out text token by token through `FAMStreamingDecoder`,
      BSWA (b = 64, m = 1) and FAM (b = 64, m = 1, f = 8) alternating per token in one process.
      Time per token, median block of 64 tokens: BSWA \(ReportFormat.fixed(bswaMs, digits: 2)) ms, FAM
      \(ReportFormat.fixed(famMs, digits: 2)) ms (FAM/BSWA = \(ReportFormat.fixed(famMs / bswaMs, digits: 3))); FAM's
      block-end update is included. Mean over all tokens (includes any pause of the process):
      BSWA \(ReportFormat.fixed(bswaMean, digits: 2)) ms, FAM \(ReportFormat.fixed(famMean, digits: 2)) ms.

      \(table.markdown)

      ![State size](streaming-memory.svg)
      """
  }
}
