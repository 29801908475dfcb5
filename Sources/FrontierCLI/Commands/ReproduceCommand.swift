import Foundation
import Inheritune
import Kernels
import Reports
import TransformerFAM
import TriForce

/// `frontier reproduce SYSTEM|all [--quick]`: runs a system's miniature reproduction (or every one, in dependency
/// order) and writes its report.
enum ReproduceCommand: Command {
  static let name = "reproduce"
  static let summary = "Run a system's miniature reproduction and write reports/<system>/ (--quick: minutes)."
  static let usage = "frontier reproduce SYSTEM|all [--quick] [--out DIR] [--only PART] [--status]"
  static let allowsPositional = true
  static let options = [
    OptionSpec("quick", "small settings on the same code path, each system in a few minutes"),
    OptionSpec("out", value: "DIR", default: "reports/SYSTEM", "report folder (--quick: CACHE/report; not with all)"),
    OptionSpec("only", value: "PART", "run one part into the cache, no report (fam: passkey or passkey:I,J)"),
    OptionSpec("status", "print each cache's state (finished, unfinished, stale, empty) and run nothing"),
  ]

  /// Every reproduction; a system registers itself with one entry.
  static var reproductions: [any Reproduction.Type] {
    [
      BaseModelReproduction.self, TriForceModelsReproduction.self, TriForceReproduction.self,
      FAMReproduction.self, InherituneReproduction.self,
    ]
  }

  static func run(_ args: ParsedArguments) throws {
    let driver: ReproductionDriver
    do {
      driver = try ReproductionDriver(reproductions)
    } catch {
      throw CLIError("frontier reproduce: \(error)")
    }
    let known = (driver.names + ["all"]).joined(separator: ", ")
    guard args.positional.count == 1, let system = args.positional.first else {
      throw UsageError(message: "frontier reproduce: name one system (\(known))")
    }
    let quick = args.flag("quick")
    let chosen: [any Reproduction.Type]
    if system == "all" {
      guard args.string("out") == nil, args.string("only") == nil else {
        throw UsageError(message: "frontier reproduce all: --out and --only apply to one system; name it instead")
      }
      chosen = try driver.dependencyOrder()
    } else if let reproduction = driver.reproduction(named: system) {
      chosen = [reproduction]
    } else {
      throw UsageError(message: "frontier reproduce: unknown system '\(system)' (choose from \(known))")
    }
    if args.flag("status") {
      for reproduction in chosen { print(try status(of: reproduction, driver: driver, quick: quick)) }
      return
    }
    // Fingerprint every stage's sources now, before hours of running (see SourceFingerprint.of).
    for reproduction in try driver.dependencyOrder() { _ = try driver.stamp(of: reproduction, quick: quick) }
    let started = Date()
    for reproduction in chosen {
      let cache = reproduction.cacheDirectory(quick: quick)
      // A quick run's report goes to its cache, never over the committed report of a full run.
      let out =
        args.string("out")
        ?? (quick ? (cache as NSString).appendingPathComponent("report") : "reports/\(reproduction.name)")
      print(
        "frontier reproduce: \(reproduction.name): \(reproduction.summary)\(quick ? " (quick)" : ""); cache \(cache)"
          + (args.string("only") == nil ? ", report in \(out)" : ""))
      let begun = Date()
      do {
        try driver.run(
          reproduction, quick: quick, reportDirectory: out, only: args.string("only"),
          header: ReportHeader.current(threads: Parallel.threadCount))
      } catch let error as UsageError {
        throw error
      } catch let error as CLIError {
        throw error
      } catch {
        throw CLIError("frontier reproduce \(reproduction.name): \(error)")
      }
      print(
        String(
          format: "frontier reproduce: %@ done in %.1f min", reproduction.name, Date().timeIntervalSince(begun) / 60))
    }
    if chosen.count > 1 {
      print(String(format: "frontier reproduce all: done in %.1f min", Date().timeIntervalSince(started) / 60))
    }
  }

  /// One line: the cache, its state and the stamp a run would claim it with.
  static func status(of reproduction: any Reproduction.Type, driver: ReproductionDriver, quick: Bool) throws -> String {
    let cache = reproduction.cacheDirectory(quick: quick)
    let stamp = try driver.stamp(of: reproduction, quick: quick)
    let state: String
    if try driver.isComplete(reproduction, quick: quick) {
      state = "finished"
    } else if CacheStamp.recorded(in: cache) == stamp {
      state = "unfinished (the next run continues it)"
    } else if CacheStamp.recorded(in: cache) != nil {
      state = "stale (other settings, code or dependencies: the next run sets it aside)"
    } else if FileManager.default.fileExists(atPath: cache) {
      state = "unstamped (the next run sets it aside)"
    } else {
      state = "empty"
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let json = String(decoding: try encoder.encode(stamp), as: UTF8.self)
    return "\(reproduction.name): \(state); cache \(cache); stamp \(json)"
  }
}
