import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// What one fuzz case came to.
enum FuzzVerdict: Sendable {
  /// A thrown error, or an error line and a non-zero exit: one line naming the file.
  case rejected
  /// Loaded, and what was loaded passed the loader's sanity check.
  case accepted
  /// A signal or a runtime trap of the subprocess.
  case crash(String)
  /// No answer within the time limit.
  case hang
  /// Loaded "successfully" with something wrong (the check's finding).
  case silent(String)
  /// An error that is not one line naming the mutated file (several lines, a trace, no file).
  case unclear(String)

  /// The tally's column.
  var name: String {
    switch self {
    case .rejected: return "rejected"
    case .accepted: return "accepted"
    case .crash: return "crash"
    case .hang: return "hang"
    case .silent: return "silent"
    case .unclear: return "unclear"
    }
  }

  /// The finding, for failures.
  var detail: String? {
    switch self {
    case .rejected, .accepted, .hang: return nil
    case .crash(let s), .silent(let s), .unclear(let s): return s
    }
  }

  /// Whether the case shows a defect: a crash, a hang, a silent failure or an unclear error.
  var isFailure: Bool { !(name == "rejected" || name == "accepted") }
}

/// Counts per verdict for one loader, with the failing cases spelled out.
struct FuzzTally {
  let loader: String
  private(set) var counts: [String: Int] = [:]
  private(set) var failures: [String] = []
  private(set) var total = 0
  private(set) var subprocesses = 0

  init(loader: String) { self.loader = loader }

  mutating func record(_ verdict: FuzzVerdict, case index: Int, mutation: String, subprocess: Bool = false) {
    total += 1
    if subprocess { subprocesses += 1 }
    counts[verdict.name, default: 0] += 1
    if verdict.isFailure {
      failures.append(
        "\(loader) case \(index)\(subprocess ? " (frontier)" : ""): \(verdict.name): \(verdict.detail ?? "") "
          + "[mutation: \(mutation)]")
    }
  }

  func count(_ name: String) -> Int { counts[name] ?? 0 }

  /// One line: loader, cases, verdict counts.
  var summary: String {
    let columns = ["rejected", "accepted", "crash", "hang", "silent", "unclear"].map { "\(count($0)) \($0)" }
    return "loader fuzz \(loader): \(total) cases (\(subprocesses) through frontier): "
      + columns.joined(separator: ", ")
  }
}

/// Runs one fuzz case in-process (with a time limit) or through the `frontier` binary, and judges it.
enum FuzzRun {
  /// Seconds an in-process load may take before it counts as a hang.
  static let inProcessLimit = 5.0
  /// Seconds a `frontier` subprocess may take before it is killed and counts as a hang.
  static let subprocessLimit = 10.0

  /// Calls `load` on its own thread. A throw is judged by its message (one line naming `names`, e.g. the
  /// mutated file), a return by `check` (nil: sane; else what is wrong). No answer within
  /// ``inProcessLimit`` is a hang (the thread is left behind).
  static func inProcess<T>(
    naming names: [String], load: @escaping () throws -> T, check: (T) throws -> String?
  ) -> FuzzVerdict {
    let job = Job(load)
    let done = DispatchSemaphore(value: 0)
    let thread = Thread {
      job.run()
      done.signal()
    }
    thread.stackSize = 8 << 20
    thread.start()
    guard done.wait(timeout: .now() + inProcessLimit) == .success, let result = job.result else { return .hang }
    switch result {
    case .failure(let error): return judgeError("\(error)", naming: names)
    case .success(let value):
      do {
        return try check(value).map { .silent($0) } ?? .accepted
      } catch {
        return .silent("loaded, then failed its check: \(error)")
      }
    }
  }

  /// Runs `frontier arguments`; exit 0 is judged by `check`, another exit by its stderr (one error line
  /// naming `names`, besides progress and warning lines), a signal or a runtime trap is a crash, and no exit
  /// within ``subprocessLimit`` a hang.
  static func frontier(
    _ arguments: [String], naming names: [String], check: (_ stdout: String) -> String?
  ) -> FuzzVerdict {
    guard let binary = CLIHarness.binary else { return .unclear("no frontier binary") }
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("frontier-fuzz-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: scratch) }
    do {
      try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
      let outURL = scratch.appendingPathComponent("out")
      let errURL = scratch.appendingPathComponent("err")
      _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
      _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
      let out = try FileHandle(forWritingTo: outURL)
      let err = try FileHandle(forWritingTo: errURL)
      let process = Process()
      process.executableURL = URL(fileURLWithPath: binary)
      process.arguments = arguments
      process.environment = ProcessInfo.processInfo.environment.merging(["OPENBLAS_NUM_THREADS": "1"]) { $1 }
      process.standardOutput = out
      process.standardError = err
      process.standardInput = FileHandle.nullDevice
      try process.run()
      let deadline = Date().addingTimeInterval(subprocessLimit)
      while process.isRunning && Date() < deadline { usleep(2_000) }
      let timedOut = process.isRunning
      if timedOut {
        kill(process.processIdentifier, SIGKILL)
      }
      process.waitUntilExit()
      try out.close()
      try err.close()
      if timedOut { return .hang }
      let stdout = String(decoding: try Foundation.Data(contentsOf: outURL), as: UTF8.self)
      let stderr = String(decoding: try Foundation.Data(contentsOf: errURL), as: UTF8.self)
      let traps = ["Fatal error", "Stack dump", "Backtrace", "Current stack trace", "Illegal instruction", "SIGSEGV"]
      if process.terminationReason == .uncaughtSignal || traps.contains(where: stderr.contains) {
        let last = stderr.split(separator: "\n").first { $0.contains("Fatal error") } ?? stderr.suffix(200)
        return .crash("signal or trap (status \(process.terminationStatus)): \(last)")
      }
      if process.terminationStatus == 0 { return check(stdout).map { .silent($0) } ?? .accepted }
      // Progress lines (eval's windows, train's steps) and warnings are not errors.
      let lines = stderr.split(separator: "\n").map(String.init).filter {
        !$0.isEmpty && !$0.hasPrefix("warning:") && !$0.contains(": window ") && !$0.hasPrefix("step ")
      }
      guard lines.count == 1 else {
        return .unclear("exit \(process.terminationStatus), stderr: \(stderr.prefix(400))")
      }
      return judgeError(lines[0], naming: names)
    } catch {
      return .unclear("could not run frontier: \(error)")
    }
  }

  /// An error message is clear when it is one non-empty line that names one of `names`.
  static func judgeError(_ message: String, naming names: [String]) -> FuzzVerdict {
    guard !message.isEmpty, !message.contains("\n") else { return .unclear("not one line: \(message.prefix(400))") }
    guard names.contains(where: { message.contains($0) }) else {
      return .unclear("names none of \(names): \(message.prefix(400))")
    }
    return .rejected
  }

  /// The work of one in-process case, handed to its thread.
  private final class Job<T>: @unchecked Sendable {
    let body: () throws -> T
    private let lock = NSLock()
    private var value: Result<T, Error>?

    init(_ body: @escaping () throws -> T) { self.body = body }

    func run() {
      let outcome = Result { try body() }
      lock.lock()
      value = outcome
      lock.unlock()
    }

    var result: Result<T, Error>? {
      lock.lock()
      defer { lock.unlock() }
      return value
    }
  }
}
