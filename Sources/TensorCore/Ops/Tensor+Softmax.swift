import Kernels

extension Tensor {
  /// Softmax along `axis` (default: the last).
  public func softmax(axis: Int = -1) throws -> Tensor {
    try softmaxLike(axis: axis, log: false)
  }

  /// Log-softmax along `axis` (default: the last).
  public func logSoftmax(axis: Int = -1) throws -> Tensor {
    try softmaxLike(axis: axis, log: true)
  }

  private func softmaxLike(axis: Int, log: Bool) throws -> Tensor {
    let a = try checkedAxis(axis, log ? "logSoftmax" : "softmax")
    if a != rank - 1 {
      return try transposed(a, -1).softmaxLike(axis: -1, log: log).transposed(a, -1)
    }
    let x = detached().float32Contiguous()
    let cols = shape.last ?? 1
    let rows = count / Swift.max(cols, 1)
    let y = Tensor(uninitializedShape: shape)
    if log {
      Softmax.logForward(x.pointer(), y.pointer(), rows: rows, cols: cols)
    } else {
      Softmax.forward(x.pointer(), y.pointer(), rows: rows, cols: cols)
    }
    return y.recorded(log ? "logSoftmax" : "softmax", [self]) { g in
      let gc = g.contiguous()
      let dx = Tensor(uninitializedShape: y.shape)
      if log {
        Softmax.logBackward(y: y.pointer(), dy: gc.pointer(), dx: dx.pointer(), rows: rows, cols: cols)
      } else {
        Softmax.backward(y: y.pointer(), dy: gc.pointer(), dx: dx.pointer(), rows: rows, cols: cols)
      }
      return [dx]
    }
  }
}
