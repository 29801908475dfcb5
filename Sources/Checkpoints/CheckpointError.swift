/// An error reading or writing a checkpoint file: names the file, what is wrong, and what to do.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
  /// The file involved.
  public let path: String
  /// What is wrong with it.
  public let problem: String
  /// What the user can do about it.
  public let remedy: String

  /// Creates an error for `path`.
  public init(
    path: String, problem: String, remedy: String = "check that the file is complete and in the expected format"
  ) {
    self.path = path
    self.problem = problem
    self.remedy = remedy
  }

  /// One line: file, problem, remedy.
  public var description: String { "\(path): \(problem); \(remedy)" }
}
