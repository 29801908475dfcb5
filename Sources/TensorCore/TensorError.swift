/// An error from a tensor operation given inputs it cannot accept.
public struct TensorError: Error, CustomStringConvertible, Sendable {
  /// The operation that failed, such as `add` or `matmul`.
  public let operation: String
  /// A one-line explanation naming the offending shapes or values.
  public let message: String

  /// Creates an error for `operation`.
  public init(_ operation: String, _ message: String) {
    self.operation = operation
    self.message = message
  }

  /// An error naming both shapes of a binary operation.
  public static func shapes(_ operation: String, _ a: [Int], _ b: [Int], _ why: String) -> TensorError {
    TensorError(operation, "shapes \(a) and \(b) \(why)")
  }

  /// `operation: message`.
  public var description: String { "\(operation): \(message)" }
}
