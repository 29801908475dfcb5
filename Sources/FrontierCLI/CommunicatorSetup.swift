import Distributed
import Foundation

/// The process group of `frontier train`: MPI under `mpirun`, one process otherwise.
///
/// Under MPI the returned communicator finalises MPI when it is released at the end of a run that did not
/// fail in a collective. A rank whose collective threw skips `MPI_Finalize` (which would wait for ranks that
/// may never arrive); it exits with an error, and `mpirun` then stops the job. If some other one-rank failure
/// leaves `MPI_Finalize` waiting for longer than ``FinalizingCommunicator/finalizeTimeout`` seconds, the rank
/// exits with status 1 so that the job still ends.
func makeTrainingCommunicator() throws -> Communicator {
  let communicator = try Communicators.fromEnvironment()
  guard let mpi = communicator as? MPICommunicator else { return communicator }
  return FinalizingCommunicator(mpi)
}

/// An ``MPICommunicator`` that calls `MPI_Finalize` when the last reference to it goes away.
final class FinalizingCommunicator: Communicator {
  /// Seconds `MPI_Finalize` may wait for the other ranks before this rank gives up and exits with status 1.
  static let finalizeTimeout: Double = 120

  let base: MPICommunicator
  /// Whether a collective threw (then finalising could hang, so it is skipped).
  private(set) var failed = false

  init(_ base: MPICommunicator) { self.base = base }

  var rank: Int { base.rank }
  var size: Int { base.size }

  func allReduceSum(_ values: inout [Float]) throws {
    try guarded { try base.allReduceSum(&values) }
  }

  func broadcast(_ values: inout [Float]) throws {
    try guarded { try base.broadcast(&values) }
  }

  func barrier() throws {
    try guarded { try base.barrier() }
  }

  private func guarded(_ body: () throws -> Void) throws {
    do {
      try body()
    } catch {
      failed = true
      throw error
    }
  }

  deinit {
    guard !failed else { return }
    let rank = base.rank
    let timeout = Self.finalizeTimeout
    let finished = FinishedFlag()
    let watchdog = Thread {
      Thread.sleep(forTimeInterval: timeout)
      guard !finished.value else { return }
      let line = "frontier train: rank \(rank) waited \(Int(timeout)) s in MPI_Finalize for other ranks; exiting\n"
      FileHandle.standardError.write(Data(line.utf8))
      _exit(1)
    }
    watchdog.start()
    do {
      try base.finalize()
      finished.value = true
    } catch {
      finished.value = true
      FileHandle.standardError.write(Data("frontier train: rank \(rank): \(error)\n".utf8))
    }
  }
}

/// A lock-protected boolean shared with the finalize watchdog.
private final class FinishedFlag: @unchecked Sendable {
  private let lock = NSLock()
  private var stored = false

  var value: Bool {
    get { lock.withLock { stored } }
    set { lock.withLock { stored = newValue } }
  }
}
