#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Picks the communicator for how the process was launched.
public enum Communicators {
  /// ``MPICommunicator`` when launched by Open MPI's `mpirun` (the variable `OMPI_COMM_WORLD_SIZE` is set),
  /// otherwise ``SingleProcessCommunicator``.
  ///
  /// Running the plain binary never touches MPI, so single-process use needs no MPI daemon.
  /// - Parameter chunkElements: passed to ``MPICommunicator/init(chunkElements:)``.
  public static func fromEnvironment(chunkElements: Int = 1 << 24) throws -> any Communicator {
    try choose(launchedByMPI: isLaunchedByMPI, chunkElements: chunkElements)
  }

  /// Whether `mpirun` started this process.
  public static var isLaunchedByMPI: Bool { getenv("OMPI_COMM_WORLD_SIZE") != nil }

  /// The same choice with the launch mode given explicitly.
  static func choose(launchedByMPI: Bool, chunkElements: Int = 1 << 24) throws -> any Communicator {
    launchedByMPI ? try MPICommunicator(chunkElements: chunkElements) : SingleProcessCommunicator()
  }
}
