import Foundation
import Kernels

/// Writes a file whole or not at all: `body` writes into `"<path>.tmp-<pid>-<random>"` in the same
/// directory, which is synced and renamed over `path`; on any failure the temporary file is removed, and
/// an IO failure becomes a ``CheckpointError`` naming `path` (`what` says what was being written).
func writeAtomically(to path: String, what: String, _ body: (ByteIO.FileWriter) throws -> Void) throws {
  let temporary = "\(path).tmp-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 16))"
  do {
    let file = try ByteIO.FileWriter(creatingNew: temporary)
    do {
      try body(file)
      try file.synchronize()
      try file.close()
      try ByteIO.rename(temporary, to: path)
    } catch {
      try? file.close()
      ByteIO.removeFile(temporary)
      throw error
    }
  } catch let error as ByteIO.IOError {
    throw CheckpointError(
      path: path, problem: "cannot write \(what): \(error.reason)",
      remedy: "check that the directory exists, is writable and has free space")
  }
}
