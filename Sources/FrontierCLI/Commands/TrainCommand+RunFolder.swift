import Foundation
import Training

/// How `frontier train` starts in its `--out` folder: from a checkpoint (`--resume`), or as a new run, which
/// first clears what an earlier run left there. A folder that holds a run (a checkpoint or an exported
/// model) is only started over with `--overwrite`; an absent or empty folder, or one holding only other
/// files (a stamp, the metrics of a run stopped before its first checkpoint), starts a new run as it is.
struct RunStart {
  /// The checkpoint to resume from, or nil for a new run.
  var checkpoint: String?
  /// Newer checkpoints passed over because they are damaged, with why.
  var skipped: [(checkpoint: String, reason: String)] = []

  /// Decides from `--resume [PATH]` and `--overwrite` and what `out` holds; reads files, writes nothing.
  static func decide(out: String, args: ParsedArguments) throws -> RunStart {
    let folder = RunFolder(path: out)
    let overwrite = args.flag("overwrite")
    guard args.flag("resume") else {
      if folder.holdsRun && !overwrite {
        throw CLIError(
          "--out \(out) already holds a run (\(folder.summary)); pass --resume to continue it, "
            + "--overwrite to start it over, or choose another --out")
      }
      return RunStart(checkpoint: nil)
    }
    guard !overwrite else {
      throw UsageError(message: "frontier train: --resume continues a run and --overwrite starts over; pass one")
    }
    guard let path = args.string("resume") else {
      let found = Trainer.newestValidCheckpoint(inRun: out)
      guard let checkpoint = found.checkpoint else {
        guard found.skipped.isEmpty else {
          throw CLIError(
            "no usable checkpoint under \(folder.checkpointsDirectory) (\(describe(found.skipped))); "
              + "pass --overwrite instead of --resume to start over")
        }
        throw UsageError(
          message: "frontier train: no checkpoint under \(folder.checkpointsDirectory) to resume; drop --resume")
      }
      return RunStart(checkpoint: checkpoint, skipped: found.skipped)
    }
    // --resume PATH: a checkpoint folder, or a run folder whose newest usable checkpoint is taken.
    var start: RunStart
    if FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("state.json")) {
      _ = try Trainer.checkpointState(at: path)
      start = RunStart(checkpoint: path)
    } else if FileManager.default.fileExists(atPath: RunFolder(path: path).checkpointsDirectory) {
      let found = Trainer.newestValidCheckpoint(inRun: path)
      guard let checkpoint = found.checkpoint else {
        throw CLIError(
          "--resume \(path) holds no usable checkpoint"
            + (found.skipped.isEmpty ? "" : " (\(describe(found.skipped)))") + "; pass another checkpoint")
      }
      start = RunStart(checkpoint: checkpoint, skipped: found.skipped)
    } else {
      throw UsageError(
        message: "frontier train: --resume \(path) is neither a checkpoint folder (with state.json) nor a run folder "
          + "(with checkpoints/)")
    }
    // Continuing another folder's run into --out: --out must not hold a run of its own.
    let source = OutputGuard.resolved(start.checkpoint ?? path)
    if !source.hasPrefix(OutputGuard.resolved(out) + "/") && folder.holdsRun {
      throw CLIError(
        "--out \(out) already holds a run (\(folder.summary)); to continue \(path) there, "
          + "choose an empty --out")
    }
    return start
  }

  /// Whether the run continues a checkpoint of `out` itself (rather than starting there).
  func continues(_ out: String) -> Bool {
    guard let checkpoint else { return false }
    return OutputGuard.resolved(checkpoint).hasPrefix(OutputGuard.resolved(out) + "/")
  }

  /// "step-00000040: state.json is not valid JSON, step-00000030: …".
  static func describe(_ skipped: [(checkpoint: String, reason: String)]) -> String {
    skipped.map { "\(($0.checkpoint as NSString).lastPathComponent): \($0.reason)" }.joined(separator: ", ")
  }

  /// Readies `out` for the run on the rank that writes (holding the run's lock): a new run clears what an
  /// earlier run left; either way orphaned temporary checkpoint folders go. Returns notes for the log.
  func prepare(_ out: String) throws -> [String] {
    let folder = RunFolder(path: out)
    var notes: [String] = []
    if !continues(out) {
      let removed = try folder.clear()
      if !removed.isEmpty {
        notes.append(
          "frontier train: starting a new run in \(out); removed the earlier \(removed.joined(separator: ", "))")
      }
    }
    let orphans = folder.removeOrphanedTemporaries()
    if !orphans.isEmpty {
      notes.append(
        "frontier train: removed \(orphans.count) orphaned temporary checkpoint folder(s): "
          + orphans.joined(separator: ", "))
    }
    return notes
  }
}
