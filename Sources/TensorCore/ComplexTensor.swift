/// A complex tensor held as a pair of real tensors, differentiable through its parts.
///
/// Enough complex arithmetic for CEMA's and S4D's kernels: products, exponentials, powers by
/// real exponents via `exp(n · log z)`, and reductions.
public struct ComplexTensor: Sendable {
  /// The real part.
  public var real: Tensor
  /// The imaginary part.
  public var imaginary: Tensor

  /// Pairs two equally shaped tensors.
  public init(real: Tensor, imaginary: Tensor) throws {
    guard real.shape == imaginary.shape else {
      throw TensorError.shapes("complex", real.shape, imaginary.shape, "differ: both parts must have one shape")
    }
    self.real = real
    self.imaginary = imaginary
  }

  /// A complex tensor from polar form r·e^{iθ}.
  public init(magnitude r: Tensor, phase theta: Tensor) throws {
    try self.init(real: r * theta.cos(), imaginary: r * theta.sin())
  }

  /// Shape of both parts.
  public var shape: [Int] { real.shape }

  /// Sum.
  public static func + (a: ComplexTensor, b: ComplexTensor) throws -> ComplexTensor {
    try ComplexTensor(real: a.real + b.real, imaginary: a.imaginary + b.imaginary)
  }

  /// Difference.
  public static func - (a: ComplexTensor, b: ComplexTensor) throws -> ComplexTensor {
    try ComplexTensor(real: a.real - b.real, imaginary: a.imaginary - b.imaginary)
  }

  /// Product: (a + ib)(c + id) = (ac - bd) + i(ad + bc).
  public static func * (a: ComplexTensor, b: ComplexTensor) throws -> ComplexTensor {
    try ComplexTensor(
      real: a.real * b.real - a.imaginary * b.imaginary,
      imaginary: a.real * b.imaginary + a.imaginary * b.real)
  }

  /// Product with a real tensor (broadcasting).
  public func scaled(by r: Tensor) throws -> ComplexTensor {
    try ComplexTensor(real: real * r, imaginary: imaginary * r)
  }

  /// e^z = e^a (cos b + i sin b).
  public func exp() throws -> ComplexTensor {
    let m = real.exp()
    return try ComplexTensor(real: m * imaginary.cos(), imaginary: m * imaginary.sin())
  }

  /// The complex conjugate.
  public func conjugate() throws -> ComplexTensor {
    try ComplexTensor(real: real, imaginary: -imaginary)
  }

  /// |z|².
  public func squaredMagnitude() throws -> Tensor {
    try real * real + imaginary * imaginary
  }

  /// Sum over axes of both parts.
  public func sum(axes: [Int]? = nil, keepingDimensions keep: Bool = false) throws -> ComplexTensor {
    try ComplexTensor(
      real: real.sum(axes: axes, keepingDimensions: keep), imaginary: imaginary.sum(axes: axes, keepingDimensions: keep)
    )
  }

  /// Matrix product (a + ib)(c + id) over the last two axes.
  public func matmul(_ other: ComplexTensor) throws -> ComplexTensor {
    try ComplexTensor(
      real: real.matmul(other.real) - imaginary.matmul(other.imaginary),
      imaginary: real.matmul(other.imaginary) + imaginary.matmul(other.real))
  }
}
