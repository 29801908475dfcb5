import Foundation
import Testing

@testable import Distributed

@Suite struct SingleProcessCommunicatorTests {
  @Test func oneRankLeavesValuesAlone() throws {
    let communicator = SingleProcessCommunicator()
    #expect(communicator.rank == 0 && communicator.size == 1)
    var values: [Float] = [1, -2, 3.5]
    try communicator.allReduceSum(&values)
    #expect(values == [1, -2, 3.5])
    try communicator.broadcast(&values)
    #expect(values == [1, -2, 3.5])
    try communicator.barrier()
  }

  @Test func withoutMPIRunTheFactoryPicksOneProcess() throws {
    let communicator = try Communicators.choose(launchedByMPI: false)
    #expect(communicator is SingleProcessCommunicator)
    #expect(communicator.size == 1)
  }

  @Test func badChunkSizeThrowsOneLine() {
    #expect {
      _ = try MPICommunicator(chunkElements: 0)
    } throws: { error in
      let text = String(describing: error)
      return error is MPIError && !text.contains("\n") && text.contains("chunkElements 0")
    }
  }
}

/// Runs `frontier mpi-selftest` under `mpirun -np 2`.
enum MPIJob {
  /// `mpirun` on the PATH.
  static let mpirun: URL? = {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent("mpirun") }
      .first { FileManager.default.isExecutableFile(atPath: $0.path) }
  }()

  /// The built `frontier` next to the test bundle, or in the package's `.build/release`.
  static let frontier: URL? = {
    let bundleDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let candidates = [
      bundleDirectory.appendingPathComponent("frontier"),
      Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("frontier"),
      packageRoot.appendingPathComponent(".build/release/frontier"),
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
  }()

  /// Whether both ``mpirun`` and ``frontier`` were found.
  static var isAvailable: Bool { mpirun != nil && frontier != nil }

  /// Exit status, stdout and stderr of `mpirun -np 2 frontier mpi-selftest arguments`; nil if it hung.
  static func run(_ arguments: [String], timeout: TimeInterval = 60) throws -> (
    status: Int32, output: String, errors: String
  )? {
    guard let mpirun, let frontier else { return nil }
    let process = Process()
    process.executableURL = mpirun
    process.arguments =
      ["--allow-run-as-root", "--oversubscribe", "-np", "2", frontier.path, "mpi-selftest"] + arguments
    let (out, err) = (Pipe(), Pipe())
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let deadline = Date().addingTimeInterval(timeout)
    while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
    if process.isRunning {
      process.terminate()
      return nil
    }
    let text = { (pipe: Pipe) in String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
    return (process.terminationStatus, text(out), text(err))
  }
}

@Suite(
  .serialized,
  .enabled(
    if: MPIJob.isAvailable,
    "needs mpirun on the PATH (apt-get install openmpi-bin) and .build/release/frontier (swift build -c release)"))
struct MPICommunicatorTests {
  @Test func twoRanksSumAKnownVector() throws {
    let result = try #require(try MPIJob.run([]), "mpirun hung")
    #expect(result.status == 0, "\(result.errors)")
    #expect(result.output.contains("2 rank(s)"))
    // Rank r sends (r + 1) * i, so the sum over two ranks is 3 * i.
    #expect(result.output.contains("[0, 3, 6, 9, 12, 15, 18, 21]"))
    #expect(result.output.contains("OK"))
    // Only rank 0 prints.
    #expect(result.output.components(separatedBy: "mpi-selftest: OK").count == 2)
  }

  @Test func chunkedBuffersSumCorrectly() throws {
    let result = try #require(try MPIJob.run(["--count", "1001", "--chunk", "100"]), "mpirun hung")
    #expect(result.status == 0, "\(result.errors)")
    #expect(result.output.contains("allreduce of 1001 floats in chunks of 100"))
    #expect(result.output.contains("OK"))
  }

  @Test func aRankThatThrowsEndsTheJobWithAClearLine() throws {
    let result = try #require(try MPIJob.run(["--fail-rank", "1"]), "mpirun hung after a rank failed")
    #expect(result.status != 0)
    #expect(result.errors.contains("rank 1 failed on purpose"))
    #expect(result.errors.contains("frontier: rank 0 of 2 stopped by mpirun"))
    #expect(!result.output.contains("OK"))
  }

  @Test func aRankThatIsKilledEndsTheJob() throws {
    let result = try #require(try MPIJob.run(["--crash-rank", "1"]), "mpirun hung after a rank was killed")
    #expect(result.status != 0)
    #expect(result.errors.contains("frontier: rank 0 of 2 stopped by mpirun"))
    #expect(!result.output.contains("OK"))
  }
}
