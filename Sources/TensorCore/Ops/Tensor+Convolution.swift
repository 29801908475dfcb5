import Kernels

/// Stride, padding and dilation of a 2-D convolution.
public struct Conv2DOptions: Sendable, Equatable {
  /// Step between output pixels (y, x).
  public var stride: (Int, Int)
  /// Zero padding on each side (y, x).
  public var padding: (Int, Int)
  /// Spacing between kernel taps (y, x).
  public var dilation: (Int, Int)

  /// Creates options; the defaults give a dense, unpadded convolution.
  public init(stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1)) {
    self.stride = stride
    self.padding = padding
    self.dilation = dilation
  }

  /// Compares all fields.
  public static func == (a: Conv2DOptions, b: Conv2DOptions) -> Bool {
    a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation
  }
}

extension Tensor {
  /// Geometry of a convolution over a [C, H, W] image with a kh x kw kernel.
  static func geometry(channels: Int, height: Int, width: Int, kernel: (Int, Int), _ o: Conv2DOptions)
    -> Conv2DGeometry
  {
    Conv2DGeometry(
      channels: channels, height: height, width: width, kernelHeight: kernel.0, kernelWidth: kernel.1,
      strideY: o.stride.0, strideX: o.stride.1, padTop: o.padding.0, padLeft: o.padding.1, dilationY: o.dilation.0,
      dilationX: o.dilation.1)
  }

  /// im2col of every image of x [N, C, H, W] -> [N, C*kh*kw, outH*outW].
  static func columns(of x: Tensor, _ g: Conv2DGeometry) throws -> Tensor {
    let n = x.shape[0]
    let out = Tensor(uninitializedShape: [n, g.channels * g.kernelHeight * g.kernelWidth, g.outHeight * g.outWidth])
    for i in 0..<n {
      let image = try x.sliced(axis: 0, i..<(i + 1))
      let cols = try out.sliced(axis: 0, i..<(i + 1))
      Convolution.im2col(image.pointer(), cols.pointer(), geometry: g)
    }
    return out
  }

  /// col2im of [N, C*kh*kw, outH*outW] columns back into images [N, C, H, W] (summing overlaps).
  static func images(from columns: Tensor, _ g: Conv2DGeometry) throws -> Tensor {
    let n = columns.shape[0]
    let c = columns.contiguous()
    let out = Tensor.zeros([n, g.channels, g.height, g.width])
    for i in 0..<n {
      let cols = try c.sliced(axis: 0, i..<(i + 1))
      let image = try out.sliced(axis: 0, i..<(i + 1))
      Convolution.col2im(cols.pointer(), image.pointer(), geometry: g)
    }
    return out
  }

  /// 2-D convolution (cross-correlation, as in PyTorch): x [N, C, H, W], weight [O, C, kh, kw], bias [O].
  public func conv2d(weight: Tensor, bias: Tensor? = nil, options: Conv2DOptions = Conv2DOptions()) throws -> Tensor {
    guard rank == 4, weight.rank == 4, weight.shape[1] == shape[1] else {
      throw TensorError.shapes(
        "conv2d", shape, weight.shape, "do not match: need x [N, C, H, W] and weight [O, C, kh, kw]")
    }
    if let bias, bias.shape != [weight.shape[0]] {
      throw TensorError.shapes("conv2d", bias.shape, weight.shape, "do not match: bias must be [out channels]")
    }
    let g = Tensor.geometry(
      channels: shape[1], height: shape[2], width: shape[3], kernel: (weight.shape[2], weight.shape[3]), options)
    guard g.outHeight > 0, g.outWidth > 0 else {
      throw TensorError("conv2d", "kernel \(weight.shape) does not fit input \(shape) with these options")
    }
    let x = detached().float32Contiguous()
    let cols = try Tensor.columns(of: x, g)
    let w2 = try weight.reshaped([weight.shape[0], -1])
    var y = try w2.matmul(cols)  // [N, O, L]
    if let bias { y = try y + bias.reshaped([weight.shape[0], 1]) }
    let out = try y.reshaped([shape[0], weight.shape[0], g.outHeight, g.outWidth])
    // Gradient to x flows through the columns: d(cols) = W^T dY, then col2im.
    guard requiresGrad else { return out }
    return try out.addingInputGradient(of: self) { dy in
      let dcols = try w2.detached().transposed().matmul(try dy.reshaped([self.shape[0], weight.shape[0], -1]))
      return try Tensor.images(from: dcols, g)
    }
  }

  /// Transposed 2-D convolution: x [N, Cin, H, W], weight [Cin, Cout, kh, kw] (PyTorch's layout), bias [Cout].
  public func convTranspose2d(
    weight: Tensor, bias: Tensor? = nil, options: Conv2DOptions = Conv2DOptions(), outputPadding: (Int, Int) = (0, 0)
  ) throws -> Tensor {
    guard rank == 4, weight.rank == 4, weight.shape[0] == shape[1] else {
      throw TensorError.shapes(
        "convTranspose2d", shape, weight.shape, "do not match: need x [N, Cin, H, W] and weight [Cin, Cout, kh, kw]")
    }
    let (cin, cout, kh, kw) = (weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3])
    if let bias, bias.shape != [cout] {
      throw TensorError.shapes("convTranspose2d", bias.shape, weight.shape, "do not match: bias must be [out channels]")
    }
    let o = options
    let outH = (shape[2] - 1) * o.stride.0 - 2 * o.padding.0 + o.dilation.0 * (kh - 1) + outputPadding.0 + 1
    let outW = (shape[3] - 1) * o.stride.1 - 2 * o.padding.1 + o.dilation.1 * (kw - 1) + outputPadding.1 + 1
    guard outH > 0, outW > 0 else { throw TensorError("convTranspose2d", "output would be empty for input \(shape)") }
    let g = Tensor.geometry(channels: cout, height: outH, width: outW, kernel: (kh, kw), options)
    guard g.outHeight == shape[2], g.outWidth == shape[3] else {
      throw TensorError("convTranspose2d", "output padding \(outputPadding) is inconsistent with input \(shape)")
    }
    let wT = try weight.reshaped([cin, cout * kh * kw]).transposed()  // [Cout*kh*kw, Cin]
    let x3 = try reshaped([shape[0], cin, -1])
    let colsValue = try wT.detached().matmul(x3.detached())  // [N, Cout*kh*kw, H*W]
    var y = try Tensor.images(from: colsValue, g)
    // Gradients: dx = W^T-adjoint of col2im = W · im2col(dy); dW = x · im2col(dy)^T.
    let inputs = [self, weight]
    let base = y.recorded("convTranspose2d", inputs) { dy in
      let dcols = try Tensor.columns(of: dy.contiguous(), g)  // [N, Cout*kh*kw, H*W]
      let dx = try wT.detached().transposed().matmul(dcols).reshaped(self.shape)
      let dw = try x3.detached().matmul(dcols.transposed()).sum(axes: [0]).reshaped(weight.shape)
      return [dx, dw]
    }
    y = base
    if let bias { y = try y + bias.reshaped([cout, 1, 1]) }
    return y
  }

  /// Adds a gradient path from `input` to `self` computed by `backward`, on top of the existing record.
  func addingInputGradient(of input: Tensor, _ backward: @escaping (Tensor) throws -> Tensor) throws -> Tensor {
    let rest = self
    let out = detached()
    return out.recorded("conv2d", [rest, input]) { g in [g, try backward(g)] }
  }

  /// Causal depthwise 1-D convolution: x [B, C, T], weight [C, K], bias [C]; output [B, C, T].
  public func causalDepthwiseConv1d(weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
    guard rank == 3, weight.rank == 2, weight.shape[0] == shape[1] else {
      throw TensorError.shapes("conv1d", shape, weight.shape, "do not match: need x [B, C, T] and weight [C, K]")
    }
    if let bias, bias.shape != [shape[1]] {
      throw TensorError.shapes("conv1d", bias.shape, weight.shape, "do not match: bias must be [channels]")
    }
    let (b, c, t, k) = (shape[0], shape[1], shape[2], weight.shape[1])
    let x = detached().float32Contiguous()
    let w = weight.detached().contiguous()
    let bb = bias?.detached().contiguous()
    let y = Tensor(uninitializedShape: shape)
    Convolution.depthwiseCausalConv1d(
      x.pointer(), weight: w.pointer(), bias: bb?.pointer(), y.pointer(), batch: b, channels: c, time: t, kernelSize: k)
    let inputs = bias.map { [self, weight, $0] } ?? [self, weight]
    return y.recorded("conv1d", inputs) { g in
      let gc = g.contiguous()
      let dx = Tensor(uninitializedShape: x.shape)
      let dw = Tensor.zeros(w.shape)
      let db = bb.map { Tensor.zeros($0.shape) }
      Convolution.depthwiseCausalConv1dBackward(
        x.pointer(), weight: w.pointer(), dy: gc.pointer(), dx: dx.pointer(), dweight: dw.pointer(),
        dbias: db?.pointer(), batch: b, channels: c, time: t, kernelSize: k)
      return db.map { [dx, dw, $0] } ?? [dx, dw]
    }
  }

  /// Upsamples x [N, C, H, W] to [N, C, outH, outW], by nearest neighbour or bilinear (half-pixel) interpolation.
  public func upsampled(height outH: Int, width outW: Int, bilinear: Bool = false) throws -> Tensor {
    guard rank == 4, outH > 0, outW > 0 else {
      throw TensorError("upsample", "input must be [N, C, H, W] and the size positive, got \(shape) -> \(outH)x\(outW)")
    }
    let x = detached().float32Contiguous()
    let planes = shape[0] * shape[1]
    let (h, w) = (shape[2], shape[3])
    let y = Tensor(uninitializedShape: [shape[0], shape[1], outH, outW])
    if bilinear {
      Convolution.upsampleBilinear(
        x.pointer(), y.pointer(), planes: planes, height: h, width: w, outHeight: outH, outWidth: outW)
    } else {
      Convolution.upsampleNearest(
        x.pointer(), y.pointer(), planes: planes, height: h, width: w, outHeight: outH, outWidth: outW)
    }
    return y.recorded("upsample", [self]) { g in
      let gc = g.contiguous()
      let dx = Tensor(uninitializedShape: x.shape)
      if bilinear {
        Convolution.upsampleBilinearBackward(
          dy: gc.pointer(), dx: dx.pointer(), planes: planes, height: h, width: w, outHeight: outH, outWidth: outW)
      } else {
        Convolution.upsampleNearestBackward(
          dy: gc.pointer(), dx: dx.pointer(), planes: planes, height: h, width: w, outHeight: outH, outWidth: outW)
      }
      return [dx]
    }
  }
}
