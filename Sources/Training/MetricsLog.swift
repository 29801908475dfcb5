import Data
import Foundation

/// One line of `metrics.jsonl`.
public struct MetricRecord: Codable, Sendable, Equatable {
  /// Which data the loss was measured on.
  public enum Split: String, Codable, Sendable {
    /// A training step's loss.
    case train
    /// A validation evaluation.
    case validation = "val"
  }

  /// The step (1-based) the record belongs to.
  public var step: Int
  /// Train or validation.
  public var split: Split
  /// Mean cross-entropy in nats per token.
  public var loss: Float
  /// The learning rate (train records).
  public var learningRate: Float?
  /// Gradient norm before clipping (train records).
  public var gradientNorm: Float?
  /// Throughput over the run so far (train records).
  public var tokensPerSecond: Double?

  /// A record.
  public init(
    step: Int, split: Split, loss: Float, learningRate: Float? = nil, gradientNorm: Float? = nil,
    tokensPerSecond: Double? = nil
  ) {
    self.step = step
    self.split = split
    self.loss = loss
    self.learningRate = learningRate
    self.gradientNorm = gradientNorm
    self.tokensPerSecond = tokensPerSecond
  }

  /// The record of a training step.
  public init(train result: StepResult, tokensPerSecond: Double) {
    self.init(
      step: result.step, split: .train, loss: result.loss, learningRate: result.learningRate,
      gradientNorm: result.gradientNorm, tokensPerSecond: tokensPerSecond)
  }
}

/// Appends ``MetricRecord``s to a JSON-lines file.
public final class MetricsLog {
  /// The file.
  public let path: String

  /// A log at `path` (created on the first append).
  public init(path: String) {
    self.path = path
  }

  /// Appends one record as a line.
  public func append(_ record: MetricRecord) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var line = try encoder.encode(record)
    line.append(0x0A)
    if !FileManager.default.fileExists(atPath: path) {
      try AtomicFile.write([UInt8](line), to: path)
      return
    }
    guard let handle = FileHandle(forWritingAtPath: path) else {
      throw TrainingError(path: path, problem: "cannot append to the metrics log", remedy: "check permissions")
    }
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: line)
  }

  /// Every record in the file, in order (none when the file does not exist yet).
  ///
  /// A last line without its newline (an append cut short) is dropped when it is not a record; any other
  /// line that is not a record is an error naming the file and the line, so that a resumed run never
  /// rewrites the log without it.
  public func records() throws -> [MetricRecord] {
    guard FileManager.default.fileExists(atPath: path) else { return [] }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw TrainingError(path: path, problem: "cannot read the metrics log", remedy: "check its permissions")
    }
    let text = String(decoding: data, as: UTF8.self)
    let lines = TextLines.split(text)  // CRLF reads like LF
    let decoder = JSONDecoder()
    var records: [MetricRecord] = []
    for (number, line) in lines.enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
      do {
        records.append(try decoder.decode(MetricRecord.self, from: Foundation.Data(line.utf8)))
      } catch {
        if number == lines.count - 1 { continue }  // no newline after it: an append cut short
        throw TrainingError(
          path: path, problem: "line \(number + 1) is not a metrics record",
          remedy: "restore the line or delete it (and the records after it) before resuming")
      }
    }
    return records
  }

  /// Drops records after `step` (a resumed run rewrites what follows) and returns those kept.
  public func truncate(afterStep step: Int) throws -> [MetricRecord] {
    let kept = try records().filter { $0.step <= step }
    guard FileManager.default.fileExists(atPath: path) else { return kept }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    var bytes: [UInt8] = []
    for record in kept {
      bytes += try encoder.encode(record)
      bytes.append(0x0A)
    }
    try AtomicFile.write(bytes, to: path)
    return kept
  }
}

/// Progress output: an updating line on a terminal, plain lines otherwise, or nothing.
public struct ProgressReporter: Sendable {
  /// Whether output is shown at all.
  public let isEnabled: Bool
  /// Whether stderr is a terminal (then one line is redrawn in place).
  public let isTerminal: Bool

  /// No output.
  public static let quiet = ProgressReporter(isEnabled: false, isTerminal: false)

  /// Output to stderr, redrawn in place when it is a terminal.
  public static var standardError: ProgressReporter {
    ProgressReporter(isEnabled: true, isTerminal: isatty(STDERR_FILENO) != 0)
  }

  /// Creates a reporter.
  public init(isEnabled: Bool, isTerminal: Bool) {
    self.isEnabled = isEnabled
    self.isTerminal = isTerminal
  }

  /// Shows a step: always on a terminal, every `every` steps (and the last) otherwise.
  public func update(_ result: StepResult, total: Int, tokensPerSecond: Double, eta: Double, every: Int) {
    guard isEnabled else { return }
    let text = String(
      format: "step %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %@", result.step, total, result.loss,
      result.learningRate, tokensPerSecond, Self.duration(eta))
    if isTerminal {
      write("\r\u{1B}[K" + text)
    } else if result.step % every == 0 || result.step == total {
      write(text + "\n")
    }
  }

  /// A line of its own (evaluation results, notices).
  public func note(_ text: String) {
    guard isEnabled else { return }
    write(isTerminal ? "\r\u{1B}[K\(text)\n" : "\(text)\n")
  }

  /// Ends the updating line.
  public func finish() {
    if isEnabled && isTerminal { write("\n") }
  }

  private func write(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
  }

  /// `1h02m`, `3m05s` or `12s`.
  static func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
    if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
    return "\(s)s"
  }
}
