/// A problem with an inheritance request or its inputs: one line naming the input, the problem and the remedy.
public struct InherituneError: Error, CustomStringConvertible, Sendable {
  /// The file or option involved.
  public let subject: String
  /// What is wrong.
  public let problem: String
  /// What to do.
  public let remedy: String

  /// An error about `subject`.
  public init(_ subject: String, _ problem: String, _ remedy: String) {
    self.subject = subject
    self.problem = problem
    self.remedy = remedy
  }

  /// One line.
  public var description: String { "\(subject): \(problem); \(remedy)" }
}
