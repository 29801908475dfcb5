import Kernels

/// How a 2-D (last two axes) view can be handed to BLAS without copying.
struct MatrixOperand {
  let tensor: Tensor
  let transposed: Bool
  let leadingDimension: Int

  /// Describes the last two axes of `t` as a BLAS operand, copying only when neither layout fits.
  init(_ t: Tensor) {
    let r = t.rank
    let rows = t.shape[r - 2]
    let cols = t.shape[r - 1]
    let rs = t.strides[r - 2]
    let cs = t.strides[r - 1]
    if (cs == 1 || cols == 1) && rs >= Swift.max(cols, 1) {
      self.tensor = t
      self.transposed = false
      self.leadingDimension = Swift.max(rs, 1)
    } else if (rs == 1 || rows == 1) && cs >= Swift.max(rows, 1) {
      self.tensor = t
      self.transposed = true
      self.leadingDimension = Swift.max(cs, 1)
    } else {
      let c = t.contiguous()
      self.tensor = c
      self.transposed = false
      self.leadingDimension = Swift.max(cols, 1)
    }
  }
}

extension Tensor {
  /// Matrix product over the last two axes with broadcasting of leading (batch) axes.
  ///
  /// 1-D operands are treated as a row (left) or column (right) vector and the added axis is removed.
  public func matmul(_ other: Tensor) throws -> Tensor {
    guard dtype == .float32 && other.dtype == .float32 else {
      throw TensorError("matmul", "needs float32 operands, got \(dtype) and \(other.dtype)")
    }
    if rank == 1 { return try unsqueezed(0).matmul(other).squeezed(-2) }
    if other.rank == 1 { return try matmul(other.unsqueezed(1)).squeezed(-1) }
    let m = shape[rank - 2]
    let k = shape[rank - 1]
    let n = other.shape[other.rank - 1]
    guard other.shape[other.rank - 2] == k else {
      throw TensorError.shapes(
        "matmul", shape, other.shape, "do not match: inner sizes \(k) and \(other.shape[other.rank - 2])")
    }
    guard let batch = broadcastShape(Array(shape.dropLast(2)), Array(other.shape.dropLast(2))) else {
      throw TensorError.shapes("matmul", shape, other.shape, "have batch axes that cannot be broadcast")
    }
    let out = Tensor.matmulKernel(detached(), other.detached(), batch: batch, m: m, n: n, k: k)
    let (a, b) = (detached(), other.detached())
    return out.recorded("matmul", [self, other]) { g in
      [
        requiresGrad ? try g.matmul(try b.transposed()).summed(toShape: a.shape) : nil,
        other.requiresGrad ? try a.transposed().matmul(g).summed(toShape: b.shape) : nil,
      ]
    }
  }

  /// Runs the product with BLAS, folding batch axes into M when the right operand is shared.
  static func matmulKernel(_ a: Tensor, _ b: Tensor, batch: [Int], m: Int, n: Int, k: Int) -> Tensor {
    let out = Tensor(uninitializedShape: batch + [m, n])
    let batchCount = batch.reduce(1, *)
    if batchCount == 0 || m == 0 || n == 0 { return out }
    // A shared 2-D right operand and a row-major left operand: one big GEMM.
    if b.rank == 2, a.rank > 2, let folded = try? a.reshapedIfView([batchCount * m, k]) {
      let left = MatrixOperand(folded)
      let right = MatrixOperand(b)
      if !left.transposed {
        Gemm.multiply(
          transposeA: false, transposeB: right.transposed, m: batchCount * m, n: n, k: k,
          a: left.tensor.pointer(), lda: left.leadingDimension, b: right.tensor.pointer(), ldb: right.leadingDimension,
          c: out.pointer(), ldc: n)
        return out
      }
    }
    let ea = (try? a.expanded(to: batch + [m, k])) ?? a
    let eb = (try? b.expanded(to: batch + [k, n])) ?? b
    let left = MatrixOperand(ea)
    let right = MatrixOperand(eb)
    let batchDims = batch.count
    var aOffsets = [Int](repeating: 0, count: batchCount)
    var bOffsets = [Int](repeating: 0, count: batchCount)
    for i in 0..<batchCount {
      var rem = i
      for d in stride(from: batchDims - 1, through: 0, by: -1) {
        let index = rem % batch[d]
        rem /= batch[d]
        aOffsets[i] += index * left.tensor.strides[d]
        bOffsets[i] += index * right.tensor.strides[d]
      }
    }
    Gemm.multiplyBatched(
      transposeA: left.transposed, transposeB: right.transposed, m: m, n: n, k: k,
      a: left.tensor.pointer(), lda: left.leadingDimension, aOffsets: aOffsets, b: right.tensor.pointer(),
      ldb: right.leadingDimension, bOffsets: bOffsets, c: out.pointer())
    return out
  }

  /// A reshape that never copies: nil when the layout would need one.
  func reshapedIfView(_ newShape: [Int]) throws -> Tensor? {
    guard isContiguous else { return nil }
    return Tensor(storage: storage, shape: newShape, offset: offset, dtype: dtype)
  }

  /// x · Wᵀ + b for a weight stored [out, in] (PyTorch's layout), over any leading axes of x.
  public func linear(weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
    try linearProduct(weight: weight, bias: bias, residual: nil)
  }

  /// residual + x · Wᵀ for a weight stored [out, in]: a linear layer and the residual connection around it
  /// in one operation (the product accumulates onto a copy of `residual`, which has the output's shape).
  public func linear(weight: Tensor, adding residual: Tensor) throws -> Tensor {
    try linearProduct(weight: weight, bias: nil, residual: residual)
  }

  /// x · Wᵀ plus `bias` broadcast over rows or plus `residual` (at most one of the two), with its tape record.
  private func linearProduct(weight: Tensor, bias: Tensor?, residual: Tensor?) throws -> Tensor {
    guard let inFeatures = shape.last, weight.rank == 2, weight.shape[1] == inFeatures else {
      throw TensorError.shapes("linear", shape, weight.shape, "do not match: input features must equal weight.shape[1]")
    }
    if let bias, bias.shape != [weight.shape[0]] {
      throw TensorError.shapes("linear", bias.shape, weight.shape, "do not match: bias must be [out features]")
    }
    let outFeatures = weight.shape[0]
    let outShape = Array(shape.dropLast()) + [outFeatures]
    if let residual, residual.shape != outShape {
      throw TensorError.shapes(
        "linear", residual.shape, outShape, "do not match: the residual must have the output's shape")
    }
    let x = detached().contiguous()
    let rows = count / Swift.max(inFeatures, 1)
    let out = residual?.detached().float32Contiguous().copiedStorage() ?? Tensor(uninitializedShape: outShape)
    let w = MatrixOperand(weight.detached())
    if let bias {
      let b = bias.detached().contiguous()
      Gemm.broadcastRows(b.pointer(), into: out.pointer(), rows: rows, cols: outFeatures, ldc: outFeatures)
    }
    Gemm.multiply(
      transposeA: false, transposeB: !w.transposed, m: rows, n: outFeatures, k: inFeatures,
      a: x.pointer(), lda: inFeatures, b: w.tensor.pointer(), ldb: w.leadingDimension,
      beta: bias == nil && residual == nil ? 0 : 1, c: out.pointer(), ldc: outFeatures)
    let inputs = [self, weight] + [bias, residual].compactMap { $0 }
    let inputShape = shape
    let wd = weight.detached()
    return out.recorded("linear", inputs) { g in
      let g2 = try g.contiguous().reshaped([rows, outFeatures])
      let dx = self.requiresGrad ? try g2.matmul(wd).reshaped(inputShape) : nil
      let dw = weight.requiresGrad ? try g2.transposed().matmul(try x.reshaped([rows, inFeatures])) : nil
      var result: [Tensor?] = [dx, dw]
      if bias != nil { result.append(try g2.sum(axes: [0])) }
      if let residual { result.append(residual.requiresGrad ? g : nil) }
      return result
    }
  }
}
