import Kernels

extension Tensor {
  /// x · Wᵢᵀ for several weights [outᵢ, in] that share this input, e.g. a layer's query, key and value
  /// projections. Equal to `weights.map { try linear(weight: $0) }`; with a few rows of x and no gradient
  /// to record, the products run as one pass over all the weights (one hand-off to the worker threads).
  public func linear(weights: [Tensor]) throws -> [Tensor] {
    guard let inFeatures = shape.last else { throw TensorError("linear", "the input needs at least one axis") }
    let rows = count / Swift.max(inFeatures, 1)
    let tracked = GradMode.isEnabled && (requiresGrad || weights.contains { $0.requiresGrad })
    let plain = weights.allSatisfy {
      $0.rank == 2 && $0.shape[1] == inFeatures && $0.dtype == .float32 && $0.isContiguous
    }
    guard !tracked, plain, dtype == .float32, rows <= Gemv.maximumRows, weights.count > 1 else {
      return try weights.map { try linear(weight: $0) }
    }
    let x = contiguous()
    let leading = Array(shape.dropLast())
    let outputs = weights.map { Tensor(uninitializedShape: leading + [$0.shape[0]]) }
    let products = zip(weights, outputs).map { w, y in
      Gemv.Product(w: w.pointer(), ldw: inFeatures, columns: w.shape[0], y: y.pointer(), ldy: w.shape[0])
    }
    Gemv.multiplyTransposed(m: rows, k: inFeatures, x: x.pointer(), ldx: inFeatures, products: products)
    return outputs
  }

  /// residual + x · Wᵀ for a weight stored [out, in]: a linear layer and the residual connection around it
  /// in one operation (the product accumulates onto a copy of `residual`, which has the output's shape).
  public func linear(weight: Tensor, adding residual: Tensor) throws -> Tensor {
    guard let inFeatures = shape.last, weight.rank == 2, weight.shape[1] == inFeatures else {
      throw TensorError.shapes("linear", shape, weight.shape, "do not match: input features must equal weight.shape[1]")
    }
    let outFeatures = weight.shape[0]
    let outShape = Array(shape.dropLast()) + [outFeatures]
    guard residual.shape == outShape else {
      throw TensorError.shapes(
        "linear", residual.shape, outShape, "do not match: the residual must have the output's shape")
    }
    let x = detached().contiguous()
    let rows = count / Swift.max(inFeatures, 1)
    let out = residual.detached().float32Contiguous().copiedStorage()
    let w = MatrixOperand(weight.detached())
    Gemm.multiply(
      transposeA: false, transposeB: !w.transposed, m: rows, n: outFeatures, k: inFeatures,
      a: x.pointer(), lda: inFeatures, b: w.tensor.pointer(), ldb: w.leadingDimension, beta: 1,
      c: out.pointer(), ldc: outFeatures)
    let inputShape = shape
    let wd = weight.detached()
    return out.recorded("linear", [self, weight, residual]) { g in
      let g2 = try g.contiguous().reshaped([rows, outFeatures])
      let dx = self.requiresGrad ? try g2.matmul(wd).reshaped(inputShape) : nil
      let dw = weight.requiresGrad ? try g2.transposed().matmul(try x.reshaped([rows, inFeatures])) : nil
      return [dx, dw, residual.requiresGrad ? g : nil]
    }
  }
}
