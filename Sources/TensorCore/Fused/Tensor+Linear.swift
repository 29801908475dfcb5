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
}
