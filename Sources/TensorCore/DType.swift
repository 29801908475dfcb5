/// The element type of a tensor's storage.
///
/// Compute happens in `float32`; `float16` and `bfloat16` are storage formats for weights,
/// converted on load. `int32` and `int64` hold indices and token ids.
public enum DType: String, Sendable, CaseIterable, Codable {
  case float32
  case float16
  case bfloat16
  case int32
  case int64

  /// Bytes per element.
  public var byteSize: Int {
    switch self {
    case .float32, .int32: return 4
    case .float16, .bfloat16: return 2
    case .int64: return 8
    }
  }

  /// Whether the type holds floating-point values.
  public var isFloatingPoint: Bool {
    switch self {
    case .float32, .float16, .bfloat16: return true
    case .int32, .int64: return false
    }
  }
}
