import Distributed
import Foundation

/// `frontier mpi-selftest`: checks all-reduce, broadcast and barrier across the ranks of an `mpirun` job.
enum MPISelfTestCommand: Command {
  static let name = "mpi-selftest"
  static let summary = "Check MPI all-reduce/broadcast/barrier (run under mpirun -np N; alone it uses 1 rank)."
  static let options = [
    OptionSpec("count", value: "N", default: "1000", "floats to all-reduce"),
    OptionSpec("chunk", value: "N", default: "16777216", "most floats per MPI call (small values test chunking)"),
    OptionSpec("fail-rank", value: "R", "rank R throws an error before the all-reduce (tests failure handling)"),
    OptionSpec("crash-rank", value: "R", "rank R kills itself (SIGKILL) before the all-reduce"),
  ]

  /// An error a rank raises on purpose (`--fail-rank`).
  struct InjectedFailure: Error, CustomStringConvertible {
    let rank: Int
    var description: String { "rank \(rank) failed on purpose (--fail-rank \(rank))" }
  }

  /// A wrong collective result.
  struct CheckFailure: Error, CustomStringConvertible {
    let description: String
  }

  static func run(_ args: ParsedArguments) throws {
    let count = try args.int("count", default: 1000)
    let chunk = try args.int("chunk", default: 1 << 24)
    let failRank = try args.int("fail-rank", default: -1)
    let crashRank = try args.int("crash-rank", default: -1)
    guard count >= 0, chunk > 0, chunk <= Int(Int32.max) else {
      throw UsageError(message: "frontier mpi-selftest: --count must be >= 0 and --chunk in 1...\(Int32.max)")
    }
    let start = Date()
    let communicator = try Communicators.fromEnvironment(chunkElements: chunk)
    let (rank, size) = (communicator.rank, communicator.size)
    if rank == failRank { throw InjectedFailure(rank: rank) }
    if rank == crashRank { kill(getpid(), SIGKILL) }

    // Rank r contributes (r + 1) * i; the sum over ranks is i * size * (size + 1) / 2 (exact in Float
    // for the default sizes).
    var values = (0..<count).map { Float(rank + 1) * Float($0) }
    try communicator.allReduceSum(&values)
    let factor = Float(size * (size + 1) / 2)
    let wrong = values.indices.first { values[$0] != Float($0) * factor }
    if let wrong {
      throw CheckFailure(
        description: "rank \(rank): all-reduce element \(wrong) is \(values[wrong]), expected \(Float(wrong) * factor)")
    }

    var broadcast = [Float](repeating: rank == 0 ? 7 : -1, count: count)
    try communicator.broadcast(&broadcast)
    guard broadcast.allSatisfy({ $0 == 7 }) else {
      throw CheckFailure(description: "rank \(rank): broadcast did not deliver rank 0's values")
    }
    try communicator.barrier()
    if rank == 0 {
      let shown = values.prefix(8).map { String(Int($0)) }.joined(separator: ", ")
      let seconds = String(format: "%.3f", Date().timeIntervalSince(start))
      print("mpi-selftest: \(size) rank(s), allreduce of \(count) floats in chunks of \(chunk): [\(shown)]")
      print("mpi-selftest: OK (all-reduce, broadcast, barrier) in \(seconds) s")
    }
    if let mpi = communicator as? MPICommunicator { try mpi.finalize() }
  }
}
