import Kernels

/// An n-dimensional array over shared storage, with optional gradient tracking.
///
/// A tensor is a view: `shape`, `strides` (in elements) and `offset` into a ``Buffer``. Views such as
/// ``transposed(_:_:)``, ``sliced(axis:_:)`` and ``expanded(to:)`` share the storage; operations produce
/// new contiguous tensors. Compute is float32; float16 and bfloat16 are storage types (convert with
/// ``converted(to:)``), int32 and int64 hold indices.
public struct Tensor: @unchecked Sendable {
  /// The memory behind this view.
  public let storage: Buffer
  /// Extent of each axis.
  public let shape: [Int]
  /// Step in elements between neighbours along each axis (0 on broadcast axes).
  public let strides: [Int]
  /// Index of the first element in `storage`, in elements.
  public let offset: Int
  /// The element type.
  public let dtype: DType
  /// The autograd record, when this tensor takes part in a gradient computation.
  var node: GradNode?

  /// Wraps storage as a view. The caller guarantees the view stays inside the buffer.
  public init(storage: Buffer, shape: [Int], strides: [Int]? = nil, offset: Int = 0, dtype: DType = .float32) {
    self.storage = storage
    self.shape = shape
    self.strides = strides ?? Tensor.contiguousStrides(for: shape)
    self.offset = offset
    self.dtype = dtype
    self.node = nil
  }

  /// Allocates an uninitialised contiguous tensor.
  public init(uninitializedShape shape: [Int], dtype: DType = .float32) {
    let count = shape.reduce(1, *)
    self.init(storage: Buffer(byteCount: count * dtype.byteSize), shape: shape, dtype: dtype)
  }

  /// A float32 tensor holding `values` in row-major order.
  public init(_ values: [Float], shape: [Int]) {
    precondition(values.count == shape.reduce(1, *), "Tensor: \(values.count) values do not fill shape \(shape)")
    self.init(uninitializedShape: shape)
    storage.write(values)
  }

  /// A 1-D float32 tensor.
  public init(_ values: [Float]) { self.init(values, shape: [values.count]) }

  /// A 0-d float32 tensor.
  public init(scalar: Float) { self.init([scalar], shape: []) }

  /// An int64 tensor of indices.
  public init(indices: [Int64], shape: [Int]) {
    precondition(indices.count == shape.reduce(1, *), "Tensor: \(indices.count) indices do not fill shape \(shape)")
    self.init(uninitializedShape: shape, dtype: .int64)
    storage.write(indices)
  }

  /// An int64 tensor from Int values.
  public init(indices: [Int], shape: [Int]) { self.init(indices: indices.map { Int64($0) }, shape: shape) }

  /// An int32 tensor.
  public init(int32 values: [Int32], shape: [Int]) {
    precondition(values.count == shape.reduce(1, *), "Tensor: \(values.count) values do not fill shape \(shape)")
    self.init(uninitializedShape: shape, dtype: .int32)
    storage.write(values)
  }

  /// Row-major strides for `shape`.
  public static func contiguousStrides(for shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
      strides[d] = s
      s *= shape[d]
    }
    return strides
  }

  /// Number of axes.
  public var rank: Int { shape.count }
  /// Number of elements.
  public var count: Int { shape.reduce(1, *) }
  /// Whether the view is row-major with no gaps (size-1 axes may have any stride).
  public var isContiguous: Bool {
    var expected = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
      if strides[d] != expected { return false }
      expected *= shape[d]
    }
    return true
  }
  /// Whether gradients flow back through this tensor.
  public var requiresGrad: Bool { node != nil }

  /// Extent of `axis`, which may be negative (counted from the end).
  public func size(_ axis: Int) -> Int { shape[normalizedAxis(axis)] }

  /// Turns a possibly negative axis into an index; traps on a programming error.
  @usableFromInline func normalizedAxis(_ axis: Int) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < Swift.max(rank, 1), "axis \(axis) out of range for shape \(shape)")
    return a
  }

  /// Checked version of ``normalizedAxis(_:)`` for user-supplied axes.
  func checkedAxis(_ axis: Int, _ op: String) throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0 && a < rank else { throw TensorError(op, "axis \(axis) is out of range for shape \(shape)") }
    return a
  }

  /// Typed pointer to the first element of the view (for handing to Kernels).
  @inlinable func pointer<T>(_: T.Type = Float.self) -> UnsafeMutablePointer<T> {
    storage.pointer(as: T.self, at: offset)
  }

  /// A contiguous float32 copy of the elements, in row-major order.
  public var floats: [Float] {
    let t = contiguous().converted(to: .float32)
    return t.storage.read(as: Float.self, offset: t.offset, count: t.count)
  }

  /// The elements as Int64 (index tensors, or floats truncated).
  public var int64s: [Int64] {
    let t = contiguous().converted(to: .int64)
    return t.storage.read(as: Int64.self, offset: t.offset, count: t.count)
  }

  /// The single element of a one-element tensor.
  public func item() -> Float {
    precondition(count == 1, "item() needs one element, shape is \(shape)")
    return floats[0]
  }
}

extension Tensor: CustomStringConvertible {
  /// Shape, dtype and the first few values.
  public var description: String {
    let values = count <= 8 ? floats : Array(floats.prefix(8))
    let shown = values.map { String($0) }.joined(separator: ", ")
    return "Tensor(\(shape), \(dtype)\(requiresGrad ? ", grad" : "")) [\(shown)\(count > 8 ? ", …" : "")]"
  }
}
