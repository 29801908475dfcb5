import Foundation
import Testing

/// Runs the built `frontier` executable as a subprocess.
enum CLIHarness {
  /// Expects `result` to have ended with `status` and exactly one stderr line containing every one of `words`.
  static func expectOneLine(
    _ result: Outcome, status: Int32, mentioning words: [String], _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(result.status == status, "\(what): \(result.stderr)", sourceLocation: sourceLocation)
    #expect(
      result.stderr.split(separator: "\n").count == 1, "\(what): one line: \(result.stderr)",
      sourceLocation: sourceLocation)
    for word in words {
      #expect(result.stderr.contains(word), "\(what): \(result.stderr)", sourceLocation: sourceLocation)
    }
  }

  /// The `frontier` binary: `FRONTIER_BINARY`, else beside the test bundle, else `<package>/.build/release`.
  /// Nil when none exists; tests that run it are gated on ``hasBinary`` and skip with ``binaryAbsent``.
  static let binary: String? = {
    var candidates: [String] = []
    if let env = ProcessInfo.processInfo.environment["FRONTIER_BINARY"], !env.isEmpty { candidates.append(env) }
    if let bundle = Bundle.main.executableURL ?? URL(string: "file://" + (CommandLine.arguments.first ?? "")) {
      var folder = bundle.deletingLastPathComponent()
      // macOS bundles nest the executable in X.xctest/Contents/MacOS.
      for _ in 0..<4 {
        candidates.append(folder.appendingPathComponent("frontier").path)
        folder = folder.deletingLastPathComponent()
      }
    }
    let package = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    candidates.append(package.appendingPathComponent(".build/release/frontier").path)
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
  }()

  /// Whether ``binary`` was found.
  static let hasBinary = binary != nil

  /// Why a test that runs the binary is skipped.
  static let binaryAbsent: Comment =
    "needs the frontier binary (swift build -c release, or set FRONTIER_BINARY to its path)"

  /// `mpirun` on the PATH, for the multi-rank tests.
  static let mpirun = onPath("mpirun")

  /// What a finished process left behind.
  struct Outcome {
    var status: Int32
    var stdout: String
    var stderr: String
  }

  /// Runs `executable` with `arguments`, collecting stdout and stderr; `environment` entries are added.
  static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("frontier-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    // Files rather than pipes: large outputs cannot fill a pipe buffer and stall the child.
    let outURL = scratch.appendingPathComponent("out")
    let errURL = scratch.appendingPathComponent("err")
    FileManager.default.createFile(atPath: outURL.path, contents: nil)
    FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL)
    let err = try FileHandle(forWritingTo: errURL)
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try out.close()
    try err.close()
    return Outcome(
      status: process.terminationStatus,
      stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
      stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
  }

  /// Runs `frontier` with `arguments`.
  static func frontier(_ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
    try run(binary ?? "/nonexistent/frontier", arguments, environment: environment)
  }

  /// A fresh temporary folder.
  static func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("frontier-cli-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// The first executable named `name` on PATH.
  static func onPath(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
  }
}
