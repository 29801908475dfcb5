import CMPI

#if canImport(Glibc)
  import Glibc
#endif

/// Process-wide MPI state: initialisation, finalisation at exit and the message printed when `mpirun`
/// terminates this rank.
enum MPIRuntime {
  /// The line written to stderr when SIGTERM arrives (written from the signal handler, so preformatted).
  nonisolated(unsafe) private static var terminationMessage: UnsafeMutableBufferPointer<CChar>?
  /// The line written to stderr when the process exits without finalising MPI.
  nonisolated(unsafe) private static var exitMessage: UnsafeMutableBufferPointer<CChar>?
  nonisolated(unsafe) private static var exitHookInstalled = false

  /// Whether `MPI_Finalize` has run.
  static var isFinalized: Bool {
    var flag: Int32 = 0
    MPI_Finalized(&flag)
    return flag != 0
  }

  /// Whether `MPI_Init` has run.
  static var isInitialized: Bool {
    var flag: Int32 = 0
    MPI_Initialized(&flag)
    return flag != 0
  }

  /// Initialises MPI once per process (funneled threading) and arranges finalisation at exit.
  static func start() throws {
    if isFinalized {
      throw MPIError(
        operation: "MPI_Init_thread", code: 0, message: "MPI was finalized and cannot be restarted in this process")
    }
    if isInitialized { return }
    var provided: Int32 = 0
    try check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
    if !exitHookInstalled {
      exitHookInstalled = true
      atexit { MPIRuntime.reportUnfinalizedExit() }
    }
  }

  /// Finalises MPI if it is running.
  static func finish() throws {
    guard isInitialized, !isFinalized else { return }
    try check(MPI_Finalize(), "MPI_Finalize")
  }

  /// The exit hook for a rank that leaves without ``MPICommunicator/finalize()`` (usually after an error).
  ///
  /// Finalising here could hang: `MPI_Finalize` waits for every rank, and the others may be blocked in a
  /// collective waiting for this one. So the hook only prints one line; `mpirun` then sees a rank exit
  /// without finalising, prints its own report and kills the remaining ranks.
  private static func reportUnfinalizedExit() {
    guard isInitialized, !isFinalized, let message = exitMessage else { return }
    _ = write(2, message.baseAddress, message.count)
  }

  /// Throws an ``MPIError`` carrying Open MPI's message when `code` is not `MPI_SUCCESS`.
  static func check(_ code: Int32, _ operation: String) throws {
    guard code != MPI_SUCCESS else { return }
    var text = [CChar](repeating: 0, count: Int(shim_MPI_MAX_ERROR_STRING()) + 1)
    var length: Int32 = 0
    let message: String
    if MPI_Error_string(code, &text, &length) == MPI_SUCCESS {
      message = String(decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    } else {
      message = "unknown MPI error"
    }
    throw MPIError(operation: operation, code: code, message: message)
  }

  /// Makes SIGTERM (what `mpirun` sends when another rank failed or the job was interrupted) print one
  /// line naming this rank and exit with status 143 instead of vanishing silently.
  static func installTerminationMessage(rank: Int, size: Int) {
    guard terminationMessage == nil else { return }
    terminationMessage = preformatted(
      "frontier: rank \(rank) of \(size) stopped by mpirun (SIGTERM): another rank failed or the job "
        + "was interrupted; see mpirun's message")
    exitMessage = preformatted(
      "frontier: rank \(rank) of \(size) is exiting without finalizing MPI (after an error?); mpirun will stop "
        + "the other ranks")
    signal(SIGTERM) { _ in
      if let message = MPIRuntime.terminationMessage {
        _ = write(2, message.baseAddress, message.count)
      }
      _exit(143)
    }
  }

  /// `line` plus a newline in memory that is never freed (signal and exit handlers read it).
  private static func preformatted(_ line: String) -> UnsafeMutableBufferPointer<CChar> {
    let bytes = Array((line + "\n").utf8CString.dropLast())
    let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: bytes.count)
    _ = buffer.initialize(from: bytes)
    return buffer
  }
}
