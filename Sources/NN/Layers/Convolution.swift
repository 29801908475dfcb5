import TensorCore

/// 2-D convolution over [N, C, H, W] inputs.
public final class Conv2d: Module {
  /// [out, in, kh, kw].
  @Parameter public var weight: Tensor
  /// [out], when present.
  @Parameter public var bias: Tensor?
  /// Stride, padding and dilation.
  public let options: Conv2DOptions

  /// A layer initialised like PyTorch's: U(-1/√fanIn, 1/√fanIn).
  public init(
    _ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), options: Conv2DOptions = Conv2DOptions(),
    bias: Bool = true, generator: inout RandomGenerator
  ) {
    let bound = 1 / Float(inChannels * kernel.0 * kernel.1).squareRoot()
    self.weight = Tensor.uniform(
      [outChannels, inChannels, kernel.0, kernel.1], low: -bound, high: bound, generator: &generator)
    self.bias = bias ? Tensor.uniform([outChannels], low: -bound, high: bound, generator: &generator) : nil
    self.options = options
    super.init()
  }

  /// Convolves `x`.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try x.conv2d(weight: weight, bias: bias, options: options)
  }
}

/// Transposed 2-D convolution (learned upsampling).
public final class ConvTranspose2d: Module {
  /// [in, out, kh, kw].
  @Parameter public var weight: Tensor
  /// [out], when present.
  @Parameter public var bias: Tensor?
  /// Stride, padding and dilation.
  public let options: Conv2DOptions
  /// Extra rows/columns added on one side of the output.
  public let outputPadding: (Int, Int)

  /// A layer initialised like PyTorch's.
  public init(
    _ inChannels: Int, _ outChannels: Int, kernel: (Int, Int), options: Conv2DOptions = Conv2DOptions(),
    outputPadding: (Int, Int) = (0, 0), bias: Bool = true, generator: inout RandomGenerator
  ) {
    let bound = 1 / Float(outChannels * kernel.0 * kernel.1).squareRoot()
    self.weight = Tensor.uniform(
      [inChannels, outChannels, kernel.0, kernel.1], low: -bound, high: bound, generator: &generator)
    self.bias = bias ? Tensor.uniform([outChannels], low: -bound, high: bound, generator: &generator) : nil
    self.options = options
    self.outputPadding = outputPadding
    super.init()
  }

  /// Applies the transposed convolution.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try x.convTranspose2d(weight: weight, bias: bias, options: options, outputPadding: outputPadding)
  }
}

/// 1-D convolution over [N, C, T] inputs, as a 2-D convolution of height 1.
public final class Conv1d: Module {
  /// [out, in, k].
  @Parameter public var weight: Tensor
  /// [out], when present.
  @Parameter public var bias: Tensor?
  /// Step between outputs.
  public let stride: Int
  /// Zeros added on both sides.
  public let padding: Int
  /// Spacing between taps.
  public let dilation: Int

  /// A layer initialised like PyTorch's.
  public init(
    _ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, dilation: Int = 1,
    bias: Bool = true, generator: inout RandomGenerator
  ) {
    let bound = 1 / Float(inChannels * kernelSize).squareRoot()
    self.weight = Tensor.uniform(
      [outChannels, inChannels, kernelSize], low: -bound, high: bound, generator: &generator)
    self.bias = bias ? Tensor.uniform([outChannels], low: -bound, high: bound, generator: &generator) : nil
    self.stride = stride
    self.padding = padding
    self.dilation = dilation
    super.init()
  }

  /// Convolves x [N, C, T] -> [N, out, T'].
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    guard x.rank == 3 else { throw TensorError("conv1d", "input must be [N, C, T], got \(x.shape)") }
    let w = try weight.unsqueezed(2)
    let options = Conv2DOptions(stride: (1, stride), padding: (0, padding), dilation: (1, dilation))
    return try x.unsqueezed(2).conv2d(weight: w, bias: bias, options: options).squeezed(2)
  }
}

/// Causal depthwise 1-D convolution (Mamba's short convolution): each channel sees its last k steps.
public final class CausalDepthwiseConv1d: Module {
  /// [channels, k].
  @Parameter public var weight: Tensor
  /// [channels], when present.
  @Parameter public var bias: Tensor?

  /// A layer initialised like PyTorch's depthwise Conv1d.
  public init(channels: Int, kernelSize: Int, bias: Bool = true, generator: inout RandomGenerator) {
    let bound = 1 / Float(kernelSize).squareRoot()
    self.weight = Tensor.uniform([channels, kernelSize], low: -bound, high: bound, generator: &generator)
    self.bias = bias ? Tensor.uniform([channels], low: -bound, high: bound, generator: &generator) : nil
    super.init()
  }

  /// Convolves x [N, C, T] causally.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try x.causalDepthwiseConv1d(weight: weight, bias: bias)
  }
}
