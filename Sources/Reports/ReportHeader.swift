import Foundation

/// What every report's header names: the commit of the code that produced it, the command, the date and
/// the machine (CPU model and threads), so that a reader can tell which code and which machine a number
/// came from and rerun it.
public struct ReportHeader: Sendable, Equatable {
  /// The commit (`git rev-parse --short HEAD` of the source tree), with "+ local changes" when the tree has
  /// uncommitted changes to tracked files, or "unknown (not a git checkout)".
  public var commit: String
  /// The command line that wrote the report.
  public var command: String
  /// The date and time, UTC, ISO 8601.
  public var date: String
  /// The CPU model and the threads the kernels used.
  public var machine: String

  /// The header of a report written now by this process; `threads` is the kernels' thread count.
  public static func current(threads: Int, sourceDirectory: String? = nil) -> ReportHeader {
    let arguments = CommandLine.arguments
    let program = arguments.first.map { ($0 as NSString).lastPathComponent } ?? "frontier"
    let command = ([program] + arguments.dropFirst()).joined(separator: " ")
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    return ReportHeader(
      commit: commit(in: sourceDirectory ?? repositoryDirectory()), command: command,
      date: formatter.string(from: Date()), machine: "\(cpuModel()), \(threads) thread\(threads == 1 ? "" : "s")")
  }

  /// The first row of the header table.
  public static let tableHead = "| commit | command | date | machine |"

  /// The header as Markdown lines, placed under a report's title.
  public var markdown: String {
    """
    \(Self.tableHead)
    |---|---|---|---|
    | \(commit) | `\(command)` | \(date) | \(machine) |

    """
  }

  /// The repository the binary was built from: the nearest folder above the executable (symbolic links
  /// resolved, so `.build/release/frontier` is `.build/<triple>/release/frontier`) that holds `Package.swift`
  /// and `.git`; else the current directory.
  public static func repositoryDirectory() -> String {
    let manager = FileManager.default
    var folder = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
      .deletingLastPathComponent()
    for _ in 0..<8 {
      if manager.fileExists(atPath: folder.appendingPathComponent("Package.swift").path),
        manager.fileExists(atPath: folder.appendingPathComponent(".git").path)
      {
        return folder.path
      }
      let parent = folder.deletingLastPathComponent()
      if parent.path == folder.path { break }
      folder = parent
    }
    return manager.currentDirectoryPath
  }

  /// The short commit of `directory`'s git checkout and whether tracked files changed, or "unknown".
  static func commit(in directory: String) -> String {
    guard let head = run(["git", "-C", directory, "rev-parse", "--short=12", "HEAD"]), !head.isEmpty else {
      return "unknown (not a git checkout)"
    }
    let status = run(["git", "-C", directory, "status", "--porcelain", "--untracked-files=no"]) ?? ""
    return status.isEmpty ? head : "\(head) + local changes"
  }

  /// The CPU model from `/proc/cpuinfo` (Linux) or `sysctl` (macOS), or "unknown CPU".
  static func cpuModel() -> String {
    if let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
      let line = info.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
      let colon = line.firstIndex(of: ":")
    {
      return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    if let model = run(["sysctl", "-n", "machdep.cpu.brand_string"]), !model.isEmpty { return model }
    return "unknown CPU"
  }

  /// The trimmed standard output of a program found on PATH, or nil when it fails.
  static func run(_ arguments: [String]) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
  }
}
