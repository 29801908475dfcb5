import Foundation
import Reports
import Testing

@testable import Training

#if canImport(FoundationXML)
  import FoundationXML
#endif

@Suite struct ReportingTests {
  @Test func lossPlotIsWellFormedSVG() throws {
    let dir = try temporaryDirectory("svg")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let config = TrainingConfiguration(steps: 6, batchSize: 2, contextLength: 8, evaluationInterval: 2)
    let (trainer, _) = try makeTrainer(config, shards: try randomShards(in: dir), output: dir + "/run")
    try trainer.run()
    let path = dir + "/run/loss.svg"
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.hasPrefix("<?xml") && text.hasSuffix("</svg>\n"))
    let document = try XMLDocument(contentsOf: URL(fileURLWithPath: path), options: [])
    let root = try #require(document.rootElement())
    #expect(root.name == "svg")
    let lines = root.elements(forName: "polyline")
    #expect(lines.count == 2)
    func pointCount(_ element: XMLElement) -> Int? {
      element.attributes?.first { $0.name == "points" }?.stringValue?.split(separator: " ").count
    }
    #expect(pointCount(lines[0]) == 6)
    #expect(pointCount(lines[1]) == 3)
  }

  @Test func plotEscapesTextAndSurvivesDegenerateData() throws {
    let svg = SVGPlot.lineChart(
      title: "a < b & \"c\"", xLabel: "x", yLabel: "y",
      series: [
        .init(name: "one", points: [(1, 2)], color: "red"),
        .init(name: "flat", points: [(0, 1), (1, 1), (2, .nan)], color: "blue"),
        .init(name: "empty", points: [], color: "green"),
      ])
    #expect(svg.contains("a &lt; b &amp; &quot;c&quot;"))
    #expect(!svg.contains("nan"))
    let document = try XMLDocument(xmlString: svg, options: [])
    #expect(document.rootElement()?.elements(forName: "circle").count == 1)
  }

  @Test func metricsLogTruncatesOnResume() throws {
    let dir = try temporaryDirectory("metrics")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let log = MetricsLog(path: dir + "/m.jsonl")
    for s in 1...5 { try log.append(MetricRecord(step: s, split: .train, loss: Float(s))) }
    try log.append(MetricRecord(step: 4, split: .validation, loss: 9))
    #expect(try log.records().count == 6)
    let kept = try log.truncate(afterStep: 3)
    #expect(kept.map(\.step) == [1, 2, 3])
    #expect(try log.records() == kept)
    #expect(ProgressReporter.duration(3725) == "1h02m" && ProgressReporter.duration(65) == "1m05s")
  }

  /// A metrics log whose lines end in CRLF (edited on Windows) reads like its LF twin.
  @Test func metricsLogWithCRLFReadsLikeLF() throws {
    let dir = try temporaryDirectory("metrics-crlf")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let lf = MetricsLog(path: dir + "/lf.jsonl")
    for s in 1...3 { try lf.append(MetricRecord(step: s, split: .train, loss: Float(s) / 2)) }
    let text = try String(contentsOfFile: lf.path, encoding: .utf8)
    try text.replacingOccurrences(of: "\n", with: "\r\n").write(
      toFile: dir + "/crlf.jsonl", atomically: true, encoding: .utf8)
    let crlf = MetricsLog(path: dir + "/crlf.jsonl")
    #expect(try lf.records().count == 3)
    #expect(try crlf.records() == lf.records())
  }
}
