import Kernels

extension Tensor {
  /// A float32 tensor filled with `value`.
  public static func full(_ shape: [Int], value: Float) -> Tensor {
    let t = Tensor(uninitializedShape: shape)
    Elementwise.fill(t.pointer(), value: value, count: t.count)
    return t
  }

  /// A float32 tensor of zeros.
  public static func zeros(_ shape: [Int]) -> Tensor {
    let count = shape.reduce(1, *)
    return Tensor(storage: Buffer(byteCount: count * 4, zeroed: true), shape: shape)
  }

  /// A stand-in of `shape` that allocates one float: every element reads 0 (all strides are 0). For the
  /// parameters of a model whose weights a checkpoint supplies next, so that building the model costs no
  /// memory before the checkpoint's shapes are checked. Not for writing into.
  public static func placeholder(_ shape: [Int]) -> Tensor {
    Tensor(storage: Buffer(byteCount: 4, zeroed: true), shape: shape, strides: [Int](repeating: 0, count: shape.count))
  }

  /// A float32 tensor of ones.
  public static func ones(_ shape: [Int]) -> Tensor { full(shape, value: 1) }

  /// Zeros shaped like `other`.
  public static func zeros(like other: Tensor) -> Tensor { zeros(other.shape) }

  /// 0, 1, …, n-1 as float32.
  public static func arange(_ n: Int) -> Tensor { Tensor((0..<n).map { Float($0) }) }

  /// Uniform samples in [low, high).
  public static func uniform(
    _ shape: [Int], low: Float = 0, high: Float = 1, generator: inout RandomGenerator
  ) -> Tensor {
    let t = Tensor(uninitializedShape: shape)
    generator.fillUniform(t.pointer(), count: t.count, low: low, high: high)
    return t
  }

  /// Normal samples with the given mean and standard deviation.
  public static func normal(
    _ shape: [Int], mean: Float = 0, std: Float = 1, generator: inout RandomGenerator
  ) -> Tensor {
    let t = Tensor(uninitializedShape: shape)
    generator.fillNormal(t.pointer(), count: t.count, mean: mean, std: std)
    return t
  }

  /// A contiguous copy of the view (or the view itself when already contiguous and starting at its storage).
  public func contiguous() -> Tensor {
    if isContiguous { return self }
    let out = Tensor(uninitializedShape: shape, dtype: dtype)
    if dtype == .float32 {
      Layout.copy(pointer(), shape: shape, strides: strides, out.pointer())
    } else {
      Layout.copyBytes(
        UnsafeRawPointer(storage.pointer(as: UInt8.self, at: offset * dtype.byteSize)), elementSize: dtype.byteSize,
        shape: shape, strides: strides, UnsafeMutableRawPointer(out.pointer(UInt8.self)))
    }
    return out.recorded("contiguous", [self]) { g in [g] }
  }

  /// The values in another element type. Float types round-trip through float32; float to int truncates.
  public func converted(to target: DType) -> Tensor {
    if target == dtype { return self }
    let src = contiguous()
    let out = Tensor(uninitializedShape: shape, dtype: target)
    let n = count
    switch (src.dtype, target) {
    case (.float32, .float16): Conversion.floatToHalf(src.pointer(), out.pointer(Float16.self), count: n)
    case (.float16, .float32): Conversion.halfToFloat(src.pointer(Float16.self), out.pointer(), count: n)
    case (.float32, .bfloat16): Conversion.floatToBFloat16(src.pointer(), out.pointer(UInt16.self), count: n)
    case (.bfloat16, .float32): Conversion.bfloat16ToFloat(src.pointer(UInt16.self), out.pointer(), count: n)
    case (.int32, .float32): Conversion.int32ToFloat(src.pointer(Int32.self), out.pointer(), count: n)
    case (.int64, .float32): Conversion.int64ToFloat(src.pointer(Int64.self), out.pointer(), count: n)
    case (.float32, .int32): Conversion.floatToInt32(src.pointer(), out.pointer(Int32.self), count: n)
    case (.int32, .int64): Conversion.int32ToInt64(src.pointer(Int32.self), out.pointer(Int64.self), count: n)
    case (.int64, .int32): Conversion.int64ToInt32(src.pointer(Int64.self), out.pointer(Int32.self), count: n)
    case (.float32, .int64):
      return converted(to: .int32).converted(to: .int64)
    default:
      return src.converted(to: .float32).converted(to: target)
    }
    if src.dtype == .float32 && target.isFloatingPoint {
      return out.recorded("convert", [self]) { g in [g] }
    }
    if target == .float32 && src.dtype.isFloatingPoint {
      return out.recorded("convert", [self]) { g in [g] }
    }
    return out
  }
}
