/// A group of processes that train one model together (data parallelism).
public protocol Communicator: AnyObject {
  /// This process's index, 0 ..< size.
  var rank: Int { get }
  /// Number of processes.
  var size: Int { get }
  /// Replaces `values` on every rank by the elementwise sum over ranks.
  func allReduceSum(_ values: inout [Float]) throws
  /// Replaces `values` on every rank by rank 0's.
  func broadcast(_ values: inout [Float]) throws
  /// Waits until every rank arrives.
  func barrier() throws
}

/// The trivial group of one process.
public final class SingleProcessCommunicator: Communicator {
  /// Rank 0.
  public let rank = 0
  /// One process.
  public let size = 1
  /// Creates the group.
  public init() {}
  /// Nothing to sum.
  public func allReduceSum(_ values: inout [Float]) throws {}
  /// Nothing to send.
  public func broadcast(_ values: inout [Float]) throws {}
  /// Nothing to wait for.
  public func barrier() throws {}
}
