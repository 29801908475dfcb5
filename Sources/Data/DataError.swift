/// A problem with a data file or data setting: one line naming the file, what is wrong, and what to do.
public struct DataError: Error, CustomStringConvertible, Sendable {
  /// The file or folder involved (may be empty when no file is concerned).
  public let path: String
  /// What is wrong.
  public let problem: String
  /// What the user can do about it.
  public let remedy: String

  /// Creates an error about `path`.
  public init(path: String, problem: String, remedy: String) {
    self.path = path
    self.problem = problem
    self.remedy = remedy
  }

  /// One line: file, problem, remedy.
  public var description: String {
    let message = remedy.isEmpty ? problem : "\(problem); \(remedy)"
    return path.isEmpty ? message : "\(path): \(message)"
  }
}
