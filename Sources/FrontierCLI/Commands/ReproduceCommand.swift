import Foundation
import Inheritune
import TransformerFAM
import TriForce

/// What `frontier reproduce SYSTEM` hands to a system's reproduction.
struct ReproductionRequest {
  /// Smaller settings that finish in a few minutes.
  let quick: Bool
  /// Where the report goes (`reports/SYSTEM` unless `--out` says otherwise).
  let reportDirectory: String
  /// Where data, parents and per-run results are cached.
  let workDirectory: String
  /// A part of the reproduction to run alone (`--only`), or nil for all of it.
  var only: String? = nil
}

/// One system's reproduction: a one-line summary and the function that runs it.
struct Reproduction {
  let summary: String
  /// The folder the reproduction caches into, when it does not use `--work` (the base model's fixed place).
  var fixedCache: String? = nil
  let run: (ReproductionRequest) throws -> Void
}

/// `frontier reproduce SYSTEM [--quick]`: runs a system's miniature reproduction and writes its report.
enum ReproduceCommand: Command {
  static let name = "reproduce"
  static let summary = "Run a system's miniature reproduction and write reports/<system>/ (--quick: minutes)."
  static let usage = "frontier reproduce SYSTEM [--quick] [--out DIR] [--work DIR] [--only PART]"
  static let allowsPositional = true
  static let options = [
    OptionSpec("quick", "small settings that finish in a few minutes"),
    OptionSpec("out", value: "DIR", default: "reports/SYSTEM", "report folder (--quick: WORK/report)"),
    OptionSpec("work", value: "DIR", default: "~/.cache/frontier/reproduce/SYSTEM[-quick]", "cache folder"),
    OptionSpec("only", value: "PART", "run one part into the cache, no report (fam: passkey or passkey:I,J)"),
  ]

  /// The systems that can be reproduced; a system registers itself with one entry.
  nonisolated(unsafe) static var systems: [String: Reproduction] = [
    "fam": Reproduction(summary: "TransformerFAM (arXiv 2404.09173)") { request in
      try FAMReproduction.run(
        quick: request.quick, reportDirectory: request.reportDirectory, workDirectory: request.workDirectory,
        only: request.only)
    },
    "triforce": Reproduction(summary: "TriForce (arXiv 2404.11912)") { request in
      try TriForceReproduction.run(quick: request.quick, output: request.reportDirectory) {
        FileHandle.standardError.write(Data(($0 + "\n").utf8))
      }
    },
    "base-model": Reproduction(
      summary: "the base model of the language-model stack (parent of the systems)",
      fixedCache: "~/.cache/frontier/base-model[-quick]"
    ) { request in
      // The parent model lives at a fixed place (~/.cache/frontier/base-model) that the systems read.
      try BaseModelReproduction.run(quick: request.quick, output: request.reportDirectory)
    },
    "inheritune": Reproduction(summary: "Inheritune (arXiv 2404.08634)") { request in
      try InherituneReproduction.run(
        quick: request.quick, reportDirectory: request.reportDirectory, workDirectory: request.workDirectory)
    },
  ]

  static func run(_ args: ParsedArguments) throws {
    let known = systems.keys.sorted().joined(separator: ", ")
    guard args.positional.count == 1, let system = args.positional.first else {
      throw UsageError(message: "frontier reproduce: name one system (\(known))")
    }
    guard let reproduction = systems[system] else {
      throw UsageError(message: "frontier reproduce: unknown system '\(system)' (choose from \(known))")
    }
    let quick = args.flag("quick")
    let home = FileManager.default.homeDirectoryForCurrentUser.path
    let work = args.string("work") ?? "\(home)/.cache/frontier/reproduce/\(system)\(quick ? "-quick" : "")"
    // A quick run's report goes to its cache, never over the committed report of a full run.
    let out = args.string("out") ?? (quick ? "\(work)/report" : "reports/\(system)")
    FileHandle.standardOutput.write(
      Data(
        "frontier reproduce: \(reproduction.summary)\(quick ? " (quick)" : ""); report in \(out), cache in \(reproduction.fixedCache ?? work)\n"
          .utf8))
    try reproduction.run(
      ReproductionRequest(quick: quick, reportDirectory: out, workDirectory: work, only: args.string("only")))
  }
}
