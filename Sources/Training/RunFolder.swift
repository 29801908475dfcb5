import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The folder one training run writes (`frontier train --out`): `checkpoints/`, `metrics.jsonl`, `loss.svg`
/// and the exported `model/`. A ``RunLock`` keeps it to one writer at a time.
public struct RunFolder: Sendable {
  /// The folder.
  public let path: String

  /// The folder at `path` (it need not exist).
  public init(path: String) {
    self.path = path
  }

  /// What a run writes at the top of its folder, besides `checkpoints/`.
  public static let runFiles = ["metrics.jsonl", "loss.svg", "model"]

  /// `<path>/checkpoints`.
  public var checkpointsDirectory: String { (path as NSString).appendingPathComponent("checkpoints") }

  /// The checkpoint folders, oldest first.
  public var checkpoints: [String] { Trainer.checkpoints(in: checkpointsDirectory) }

  /// Whether an exported model (`model/config.json`) is there.
  var hasExportedModel: Bool {
    FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("model/config.json"))
  }

  /// Whether the folder holds a run worth keeping: a checkpoint or an exported model. An absent or empty
  /// folder is never a run, nor one holding only other files (a stamp, the lock, the metrics of a run that
  /// stopped before its first checkpoint, which a new run replaces).
  public var holdsRun: Bool { !checkpoints.isEmpty || hasExportedModel }

  /// The run's contents for a message: "2 checkpoints up to step-00000040 and an exported model".
  public var summary: String {
    var parts: [String] = []
    let all = checkpoints
    if let last = all.last {
      let name = (last as NSString).lastPathComponent
      parts.append(all.count == 1 ? "checkpoint \(name)" : "\(all.count) checkpoints up to \(name)")
    }
    if hasExportedModel { parts.append("an exported model") }
    return parts.isEmpty ? "nothing" : parts.joined(separator: " and ")
  }

  /// Temporary checkpoint folders (`checkpoints/.step-N.tmp-PID`) that a process left when it stopped while
  /// writing one. Only the lock holder writes them, so while the lock is held every one found is orphaned.
  public var orphanedTemporaries: [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointsDirectory)) ?? []
    return names.filter { $0.hasPrefix(".step-") && $0.contains(".tmp-") }.sorted().map {
      (checkpointsDirectory as NSString).appendingPathComponent($0)
    }
  }

  /// Removes the orphaned temporary checkpoint folders and returns their names.
  @discardableResult
  public func removeOrphanedTemporaries() -> [String] {
    orphanedTemporaries.compactMap { folder in
      (try? FileManager.default.removeItem(atPath: folder)) == nil ? nil : (folder as NSString).lastPathComponent
    }
  }

  /// Removes what a run writes (`checkpoints/`, `metrics.jsonl`, `loss.svg`, `model/`) and returns the names
  /// removed; anything else in the folder stays.
  @discardableResult
  public func clear() throws -> [String] {
    let manager = FileManager.default
    var removed: [String] = []
    for name in ["checkpoints"] + Self.runFiles {
      let item = (path as NSString).appendingPathComponent(name)
      guard manager.fileExists(atPath: item) else { continue }
      do {
        try manager.removeItem(atPath: item)
      } catch {
        throw TrainingError(
          path: item, problem: "cannot remove the previous run's \(name) (\(error))",
          remedy: "check the folder's permissions, or choose another --out")
      }
      removed.append(name)
    }
    return removed
  }
}

/// An exclusive lock on a run folder, so that two trainings never write into one: the file `train.lock`
/// holds the writer's process id under an exclusive `flock`, which the system drops when the process ends
/// however it ends. ``release()`` (or deinit) deletes the file, and the folder too when the lock created it
/// and it is still empty.
public final class RunLock {
  /// The lock file, `<folder>/train.lock`.
  public let path: String
  private let folder: String
  private let createdFolder: Bool
  private var descriptor: Int32

  /// The name of the lock file in a run folder.
  public static let fileName = "train.lock"

  /// Takes the lock of `folder`, creating the folder when missing; throws one line naming the holder's
  /// process id when another process has it.
  public init(folder: String) throws {
    let manager = FileManager.default
    self.folder = folder
    path = (folder as NSString).appendingPathComponent(Self.fileName)
    var isDirectory: ObjCBool = false
    createdFolder = !manager.fileExists(atPath: folder, isDirectory: &isDirectory)
    if createdFolder {
      do {
        try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
      } catch {
        throw TrainingError(
          path: folder, problem: "cannot create the run folder (\(error))", remedy: "choose a writable --out")
      }
    } else if !isDirectory.boolValue {
      throw TrainingError(path: folder, problem: "is a file, not a run folder", remedy: "choose a folder for --out")
    }
    while true {
      let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
      guard fd >= 0 else {
        throw TrainingError(
          path: path, problem: "cannot open the run's lock file (\(String(cString: strerror(errno))))",
          remedy: "check the folder's permissions")
      }
      guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
        let reason = errno
        let holder = Self.processID(in: fd)
        close(fd)
        if reason == EWOULDBLOCK {
          throw TrainingError(
            path: folder,
            problem: "another frontier train (pid \(holder.map(String.init) ?? "unknown")) is writing this run",
            remedy: "wait for it to finish or stop it, or choose another --out")
        }
        throw TrainingError(
          path: path, problem: "cannot lock the run (\(String(cString: strerror(reason))))",
          remedy: "check that the file system supports flock")
      }
      // A holder that released between our open and flock deleted the file we locked: lock the new one.
      var held = stat()
      var named = stat()
      if fstat(fd, &held) == 0, stat(path, &named) == 0, held.st_ino == named.st_ino, held.st_dev == named.st_dev {
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBufferPointer { pwrite(fd, $0.baseAddress, $0.count, 0) }
        descriptor = fd
        return
      }
      close(fd)
    }
  }

  /// The process id written in the lock file open at `fd`, if readable.
  private static func processID(in fd: Int32) -> Int? {
    var bytes = [UInt8](repeating: 0, count: 32)
    let count = bytes.withUnsafeMutableBufferPointer { pread(fd, $0.baseAddress, $0.count, 0) }
    guard count > 0 else { return nil }
    return Int(String(decoding: bytes[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
  }

  /// Gives the lock up: deletes the lock file (while still holding it), closes it, and removes the folder
  /// when the lock created it and nothing else was written there.
  public func release() {
    guard descriptor >= 0 else { return }
    unlink(path)
    close(descriptor)
    descriptor = -1
    if createdFolder, (try? FileManager.default.contentsOfDirectory(atPath: folder))?.isEmpty == true {
      rmdir(folder)
    }
  }

  deinit { release() }
}
