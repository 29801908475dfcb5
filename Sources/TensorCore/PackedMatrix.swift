import Kernels

/// The storage format of a weight matrix read by decoding.
public enum WeightFormat: Equatable, Sendable, CustomStringConvertible {
  /// 32-bit floats.
  case float32
  /// bfloat16: the top 16 bits of a float32 (8-bit exponent, 7-bit mantissa), rounded to nearest even.
  case bfloat16
  /// Q8_0: int8 values in blocks of `groupSize` along a row, one float32 scale per block (GGML's q8_0
  /// uses 32; llama2.c's version-2 export records its own).
  case q8_0(groupSize: Int)

  /// The name used on the command line (`f32`, `bf16`, `q8_0`).
  public var description: String {
    switch self {
    case .float32: return "f32"
    case .bfloat16: return "bf16"
    case .q8_0: return "q8_0"
    }
  }

  /// Parses `f32`, `bf16` or `q8_0` (blocks of 32).
  public init?(name: String) {
    switch name {
    case "f32", "float32": self = .float32
    case "bf16", "bfloat16": self = .bfloat16
    case "q8_0": self = .q8_0(groupSize: 32)
    default: return nil
    }
  }
}

/// A weight matrix [rows, columns] (output features by input features) kept in a decoding format, read by
/// the few-row GEMV kernels: ``Tensor/linear(packed:)`` and the fused decoding step. Built once from a
/// float32 weight (or from a checkpoint's own Q8_0 blocks); immutable.
public final class PackedMatrix: @unchecked Sendable {
  /// The format.
  public let format: WeightFormat
  /// Output features.
  public let rows: Int
  /// Input features.
  public let columns: Int
  /// float32 values, bfloat16 bits, or q8_0 values followed by the block scales.
  let storage: Buffer
  /// Byte offset of the q8_0 scales in ``storage`` (a multiple of 4).
  let scaleOffset: Int
  /// The block layout of a q8_0 matrix.
  let layout: Q8_0.Layout?

  /// Packs a float32 matrix [rows, columns] into `format`; throws when the format cannot hold it (a Q8_0
  /// group size that does not divide the width).
  public init(_ weight: Tensor, format: WeightFormat) throws {
    guard weight.rank == 2 else {
      throw TensorError("PackedMatrix", "a weight matrix must be [out, in], got \(weight.shape)")
    }
    let (rows, columns) = (weight.shape[0], weight.shape[1])
    let source = weight.detached().float32Contiguous()
    (self.format, self.rows, self.columns) = (format, rows, columns)
    let count = rows * columns
    switch format {
    case .float32:
      storage = Buffer(byteCount: 4 * count)
      storage.pointer(as: Float.self).update(from: source.pointer(), count: count)
      (scaleOffset, self.layout) = (0, nil)
    case .bfloat16:
      storage = Buffer(byteCount: 2 * count)
      Conversion.floatToBFloat16(source.pointer(), storage.pointer(as: UInt16.self), count: count)
      (scaleOffset, self.layout) = (0, nil)
    case .q8_0(let group):
      let layout: Q8_0.Layout
      do {
        layout = try Q8_0.Layout(rows: rows, columns: columns, groupSize: group)
      } catch {
        throw TensorError("PackedMatrix", "cannot store [\(rows), \(columns)] as q8_0: \(error)")
      }
      (scaleOffset, self.layout) = ((count + 3) / 4 * 4, layout)
      storage = Buffer(byteCount: scaleOffset + 4 * layout.scaleCount)
      Q8_0.quantize(
        source.pointer(), layout: layout, values: storage.pointer(as: Int8.self),
        scales: storage.pointer(as: Float.self, at: scaleOffset / 4))
    }
    withExtendedLifetime(source) {}
  }

  /// A Q8_0 matrix from its blocks as a checkpoint stores them (llama2.c version 2): `values` row-major,
  /// `scales` one per block of `groupSize`; throws when the counts do not match the shape.
  public init(q8Values values: [Int8], scales: [Float], rows: Int, columns: Int, groupSize: Int) throws {
    let layout: Q8_0.Layout
    do {
      layout = try Q8_0.Layout(rows: rows, columns: columns, groupSize: groupSize)
    } catch {
      throw TensorError("PackedMatrix", "cannot hold [\(rows), \(columns)] as q8_0: \(error)")
    }
    guard values.count == layout.valueCount, scales.count == layout.scaleCount else {
      throw TensorError(
        "PackedMatrix",
        "q8_0 [\(rows), \(columns)] in blocks of \(groupSize) needs \(layout.valueCount) values and "
          + "\(layout.scaleCount) scales, got \(values.count) and \(scales.count)")
    }
    (format, self.rows, self.columns) = (.q8_0(groupSize: groupSize), rows, columns)
    (scaleOffset, self.layout) = ((values.count + 3) / 4 * 4, layout)
    storage = Buffer(byteCount: scaleOffset + 4 * scales.count)
    storage.write(values)
    storage.write(scales, offset: scaleOffset / 4)
  }

  /// Bytes the matrix occupies.
  public var byteCount: Int { storage.byteCount }

  /// The kernels' view of the weights.
  var kernelWeights: Gemv.Weights {
    switch format {
    case .float32: return .float32(UnsafePointer(storage.pointer(as: Float.self)), rowStride: columns)
    case .bfloat16: return .bfloat16(UnsafePointer(storage.pointer(as: UInt16.self)), rowStride: columns)
    case .q8_0:
      return .q8_0(
        Q8_0.Matrix(
          values: UnsafePointer(storage.pointer(as: Int8.self)),
          scales: UnsafePointer(storage.pointer(as: Float.self, at: scaleOffset / 4)), layout: layout!))
    }
  }

  /// The float32 values the packed matrix stands for, [rows, columns].
  public func unpacked() -> Tensor {
    let out = Tensor.zeros([rows, columns])
    let count = rows * columns
    switch format {
    case .float32: out.pointer().update(from: storage.pointer(as: Float.self), count: count)
    case .bfloat16: Conversion.bfloat16ToFloat(storage.pointer(as: UInt16.self), out.pointer(), count: count)
    case .q8_0:
      Q8_0.dequantize(
        values: storage.pointer(as: Int8.self), scales: storage.pointer(as: Float.self, at: scaleOffset / 4),
        layout: layout!, into: out.pointer())
    }
    return out
  }
}

extension Tensor {
  /// x · Wᵀ for x [..., columns] and packed weights W [rows, columns] -> [..., rows], through the few-row
  /// GEMV kernels (up to ``Kernels/Gemv/maximumRows`` input rows per pass over W). Records no gradient.
  public func linear(packed weights: PackedMatrix) throws -> Tensor {
    guard rank >= 1, shape[rank - 1] == weights.columns else {
      throw TensorError.shapes("linear", shape, [weights.rows, weights.columns], "do not fit x · Wᵀ")
    }
    let k = weights.columns
    let m = count / Swift.max(k, 1)
    let x = detached().float32Contiguous()
    let out = Tensor.zeros(Array(shape.dropLast()) + [weights.rows])
    let (source, target, w) = (x.pointer(), out.pointer(), weights.kernelWeights)
    for start in stride(from: 0, to: m, by: Gemv.maximumRows) {
      let rows = Swift.min(Gemv.maximumRows, m - start)
      Gemv.multiplyTransposed(
        m: rows, k: k, x: source + start * k, ldx: k,
        products: [
          Gemv.MixedProduct(weights: w, columns: weights.rows, y: target + start * weights.rows, ldy: weights.rows)
        ])
    }
    withExtendedLifetime((x, weights)) {}
    return out
  }
}
