import Foundation

/// A GitHub-flavoured Markdown table built row by row; cells are escaped so a `|` never breaks a row.
public struct MarkdownTable: Sendable {
  /// Column titles.
  public var header: [String]
  /// Rows of cells, each as long as `header`.
  public private(set) var rows: [[String]] = []

  /// An empty table with these column titles.
  public init(header: [String]) {
    self.header = header
  }

  /// Appends a row; short rows are padded with empty cells, long rows are an error of the caller.
  public mutating func append(_ cells: [String]) {
    precondition(cells.count <= header.count, "row has \(cells.count) cells for \(header.count) columns")
    rows.append(cells + Array(repeating: "", count: header.count - cells.count))
  }

  /// The table as Markdown text, one line per row, ending in a newline.
  public var markdown: String {
    func line(_ cells: [String]) -> String {
      "| " + cells.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |"
    }
    let rule = "|" + header.map { _ in "---|" }.joined()
    return ([line(header), rule] + rows.map(line)).joined(separator: "\n") + "\n"
  }
}

/// Number formatting shared by reports, so every table prints figures the same way.
public enum ReportFormat {
  /// `value` with `digits` decimals; "n/a" when not finite.
  public static func fixed(_ value: Double, digits: Int = 3) -> String {
    value.isFinite ? String(format: "%.\(digits)f", value) : "n/a"
  }

  /// "mean ± sd" of `values` with `digits` decimals (the sample standard deviation; "mean" alone for one value).
  public static func meanAndDeviation(_ values: [Double], digits: Int = 3) -> String {
    let summary = Summary(values)
    if values.count < 2 { return fixed(summary.mean, digits: digits) }
    return "\(fixed(summary.mean, digits: digits)) ± \(fixed(summary.standardDeviation, digits: digits))"
  }

  /// A count with thousands separators: 12194688 -> "12,194,688".
  public static func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (i, c) in digits.enumerated() {
      if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
      out.append(c)
    }
    return value < 0 ? "-" + out : out
  }
}

/// Mean and sample standard deviation of a list of measurements.
public struct Summary: Sendable, Equatable {
  /// Arithmetic mean (NaN for an empty list).
  public var mean: Double
  /// Sample standard deviation, divisor n - 1 (0 for fewer than two values).
  public var standardDeviation: Double
  /// Number of values.
  public var count: Int

  /// Summarises `values`.
  public init(_ values: [Double]) {
    count = values.count
    mean = values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    if values.count < 2 {
      standardDeviation = 0
    } else {
      let m = mean
      standardDeviation = (values.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(values.count - 1)).squareRoot()
    }
  }
}

/// Writes the files of `reports/<system>/` atomically (temporary name, then rename).
public struct ReportFolder: Sendable {
  /// The folder path.
  public let path: String

  /// Creates the folder (and parents) when missing.
  public init(path: String) throws {
    self.path = path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  /// Writes `text` to `name` inside the folder; returns the full path.
  @discardableResult
  public func write(_ text: String, to name: String) throws -> String {
    let target = (path as NSString).appendingPathComponent(name)
    let temporary = target + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
    do {
      try Foundation.Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
      guard rename(temporary, target) == 0 else {
        throw ReportError(path: target, problem: "cannot rename \(temporary) over it (errno \(errno))")
      }
    } catch {
      try? FileManager.default.removeItem(atPath: temporary)
      throw ReportError(path: target, problem: "cannot write (\(error.localizedDescription))")
    }
    return target
  }
}

/// A report file that could not be written.
public struct ReportError: Error, CustomStringConvertible {
  /// The file.
  public var path: String
  /// What went wrong.
  public var problem: String
  /// One line: file, problem, remedy.
  public var description: String { "\(path): \(problem); check that the folder is writable" }
}
