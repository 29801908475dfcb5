import CMPI

#if canImport(Glibc)
  import Glibc
#endif

/// A failed MPI call, described in one line.
public struct MPIError: Error, CustomStringConvertible {
  /// The MPI function that failed.
  public let operation: String
  /// The MPI error code (0 when the failure was detected before calling MPI).
  public let code: Int32
  /// Open MPI's text for the code, or our explanation.
  public let message: String

  /// One line: what failed, why, and what to do.
  public var description: String {
    "MPI: \(operation) failed (code \(code)): \(message); check the other ranks' output, "
      + "a peer process may have died"
  }
}

/// Data-parallel communication over Open MPI's `MPI_COMM_WORLD`.
///
/// Start the program with `mpirun -np N …`; ``Communicators/fromEnvironment()`` picks this class then.
/// The first instance initialises MPI (`MPI_Init_thread`, funneled: only the thread that created it may
/// call it) and sets `MPI_ERRORS_RETURN` on the world communicator, so failed calls throw ``MPIError``
/// instead of aborting inside the library. Every rank must call ``finalize()`` when done. A rank that exits
/// without it (for example after a thrown error) prints one line and `mpirun` stops the job; finalising at
/// exit is deliberately not attempted, since it would wait forever for ranks blocked in a collective.
/// ``abort(exitCode:)`` stops every rank at once.
///
/// When a peer process dies, Open MPI 4 does not report it to the survivors as an error: `mpirun` notices
/// the exit, prints a block naming the rank, and kills the remaining ranks (SIGTERM, then SIGKILL). Ranks
/// created here print one line (`frontier: rank R of N stopped by mpirun …`) when that SIGTERM arrives
/// and exit with status 143, so a job whose peer died ends non-zero and never hangs.
public final class MPICommunicator: Communicator {
  /// This process's index in `MPI_COMM_WORLD`.
  public let rank: Int
  /// Number of processes in `MPI_COMM_WORLD`.
  public let size: Int
  /// Most elements handed to one MPI call; longer buffers are reduced and sent in pieces.
  public let chunkElements: Int
  private let world: MPI_Comm

  /// Initialises MPI if needed and joins `MPI_COMM_WORLD`.
  ///
  /// - Parameter chunkElements: most floats per MPI call (1 to `Int32.max`); the default, 16 Mi floats
  ///   (64 MiB), keeps every count far from MPI's 32-bit limit.
  public init(chunkElements: Int = 1 << 24) throws {
    guard chunkElements > 0, chunkElements <= Int(Int32.max) else {
      throw MPIError(
        operation: "MPICommunicator.init", code: 0,
        message: "chunkElements \(chunkElements) is outside 1...\(Int32.max); pass a smaller positive value")
    }
    self.chunkElements = chunkElements
    try MPIRuntime.start()
    world = shim_MPI_COMM_WORLD()
    try MPIRuntime.check(MPI_Comm_set_errhandler(world, shim_MPI_ERRORS_RETURN()), "MPI_Comm_set_errhandler")
    var r: Int32 = 0
    var s: Int32 = 0
    try MPIRuntime.check(MPI_Comm_rank(world, &r), "MPI_Comm_rank")
    try MPIRuntime.check(MPI_Comm_size(world, &s), "MPI_Comm_size")
    rank = Int(r)
    size = Int(s)
    MPIRuntime.installTerminationMessage(rank: rank, size: size)
  }

  /// Replaces `values` on every rank by the elementwise sum over ranks (in place, chunked).
  ///
  /// Every rank must pass the same count; a mismatch is detected and thrown before any data moves.
  public func allReduceSum(_ values: inout [Float]) throws {
    try ensureRunning("allReduceSum")
    try checkSameCount(values.count, "allReduceSum")
    try values.withUnsafeMutableBufferPointer { buffer in
      guard let base = buffer.baseAddress else { return }
      for start in stride(from: 0, to: buffer.count, by: chunkElements) {
        let count = Int32(min(chunkElements, buffer.count - start))
        try MPIRuntime.check(
          MPI_Allreduce(shim_MPI_IN_PLACE(), base + start, count, shim_MPI_FLOAT(), shim_MPI_SUM(), world),
          "MPI_Allreduce")
      }
    }
  }

  /// Replaces `values` on every rank by rank 0's (every rank must pass the same count; chunked).
  public func broadcast(_ values: inout [Float]) throws {
    try ensureRunning("broadcast")
    try checkSameCount(values.count, "broadcast")
    try values.withUnsafeMutableBufferPointer { buffer in
      guard let base = buffer.baseAddress else { return }
      for start in stride(from: 0, to: buffer.count, by: chunkElements) {
        let count = Int32(min(chunkElements, buffer.count - start))
        try MPIRuntime.check(MPI_Bcast(base + start, count, shim_MPI_FLOAT(), 0, world), "MPI_Bcast")
      }
    }
  }

  /// Waits until every rank arrives.
  public func barrier() throws {
    try ensureRunning("barrier")
    try MPIRuntime.check(MPI_Barrier(world), "MPI_Barrier")
  }

  /// Shuts MPI down (every rank must call it; later calls on any communicator throw). Safe to call twice.
  public func finalize() throws {
    try MPIRuntime.finish()
  }

  /// Stops every rank of the job with `exitCode` (`MPI_Abort`); use it after an unrecoverable error so
  /// the other ranks do not wait for this one forever.
  public func abort(exitCode: Int32) -> Never {
    MPI_Abort(world, exitCode)
    exit(exitCode)
  }

  private func ensureRunning(_ operation: String) throws {
    if MPIRuntime.isFinalized {
      throw MPIError(
        operation: operation, code: 0, message: "MPI was already finalized; communicate before finalize()")
    }
  }

  /// Throws on every rank when the ranks disagree on `count` (mismatched counts would corrupt or hang).
  private func checkSameCount(_ count: Int, _ operation: String) throws {
    guard size > 1 else { return }
    var range: [Int64] = [-Int64(count), Int64(count)]  // max of -count is -(min count)
    try range.withUnsafeMutableBufferPointer { buffer in
      try MPIRuntime.check(
        MPI_Allreduce(shim_MPI_IN_PLACE(), buffer.baseAddress, 2, shim_MPI_INT64_T(), shim_MPI_MAX(), world),
        "MPI_Allreduce")
    }
    guard -range[0] == range[1] else {
      throw MPIError(
        operation: operation, code: 0,
        message: "ranks passed different element counts (\(-range[0]) to \(range[1])); pass equal-sized buffers")
    }
  }
}
