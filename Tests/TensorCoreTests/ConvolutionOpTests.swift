import Foundation
import TestSupport
import Testing

@testable import TensorCore

@Suite struct ConvolutionOpTests {
  @Test func conv2dMatchesNaiveLoop() throws {
    let x = randomTensor([2, 3, 7, 6], seed: 60)
    let w = randomTensor([4, 3, 3, 2], seed: 61)
    let b = randomTensor([4], seed: 62)
    let options = Conv2DOptions(stride: (2, 1), padding: (1, 1), dilation: (1, 2))
    let y = try x.conv2d(weight: w, bias: b, options: options)
    let (xv, wv, bv) = (x.floats, w.floats, b.floats)
    let oh = (7 + 2 - 1 * 2 - 1) / 2 + 1
    let ow = (6 + 2 - 2 * 1 - 1) / 1 + 1
    #expect(y.shape == [2, 4, oh, ow])
    let yv = y.floats
    for n in 0..<2 {
      for o in 0..<4 {
        for i in 0..<oh {
          for j in 0..<ow {
            var s = Double(bv[o])
            for c in 0..<3 {
              for p in 0..<3 {
                for q in 0..<2 {
                  let yy = i * 2 - 1 + p
                  let xx = j - 1 + q * 2
                  if yy >= 0 && yy < 7 && xx >= 0 && xx < 6 {
                    s += Double(xv[((n * 3 + c) * 7 + yy) * 6 + xx]) * Double(wv[((o * 3 + c) * 3 + p) * 2 + q])
                  }
                }
              }
            }
            #expect(abs(Double(yv[((n * 4 + o) * oh + i) * ow + j]) - s) < 1e-4)
          }
        }
      }
    }
    let r = try checkGradients(of: { try $0[0].conv2d(weight: $0[1], bias: $0[2], options: options) }, at: [x, w, b])
    #expect(r.passed, "\(r)")
  }

  @Test func transposedConvIsTheAdjointOfConv() throws {
    let options = Conv2DOptions(stride: (2, 2), padding: (1, 0))
    let x = randomTensor([1, 3, 8, 7], seed: 63)
    let w = randomTensor([5, 3, 3, 3], seed: 64)
    let y = try x.conv2d(weight: w, options: options)
    let probe = randomTensor(y.shape, seed: 65)
    let back = try probe.convTranspose2d(
      weight: w, options: options, outputPadding: (8 - ((y.shape[2] - 1) * 2 - 2 + 3), 7 - ((y.shape[3] - 1) * 2 + 3)))
    #expect(back.shape == x.shape)
    let lhs = try (y * probe).sum().item()
    let rhs = try (x * back).sum().item()
    #expect(abs(lhs - rhs) < 1e-3 * max(1, abs(lhs)))
    let bias = randomTensor([3], seed: 66)
    let r = try checkGradients(
      of: { try $0[0].convTranspose2d(weight: $0[1], bias: $0[2], options: options, outputPadding: (1, 0)) },
      at: [probe, w, bias])
    #expect(r.passed, "\(r)")
  }

  @Test func causalDepthwiseConvMatchesLoop() throws {
    let x = randomTensor([2, 3, 9], seed: 67)
    let w = randomTensor([3, 4], seed: 68)
    let b = randomTensor([3], seed: 69)
    let y = try x.causalDepthwiseConv1d(weight: w, bias: b).floats
    let (xv, wv, bv) = (x.floats, w.floats, b.floats)
    for n in 0..<2 {
      for c in 0..<3 {
        for t in 0..<9 {
          var s = bv[c]
          for j in 0..<4 where t - 3 + j >= 0 { s += wv[c * 4 + j] * xv[(n * 3 + c) * 9 + t - 3 + j] }
          #expect(abs(y[(n * 3 + c) * 9 + t] - s) < 1e-5)
        }
      }
    }
    let r = try checkGradients(of: { try $0[0].causalDepthwiseConv1d(weight: $0[1], bias: $0[2]) }, at: [x, w, b])
    #expect(r.passed, "\(r)")
  }

  @Test func upsamplingMatchesDefinitionsAndGradients() throws {
    let x = randomTensor([1, 2, 3, 4], seed: 70)
    let near = try x.upsampled(height: 6, width: 8)
    let xv = x.floats
    let nv = near.floats
    for c in 0..<2 {
      for i in 0..<6 {
        for j in 0..<8 { #expect(nv[(c * 6 + i) * 8 + j] == xv[(c * 3 + i / 2) * 4 + j / 2]) }
      }
    }
    let bil = try x.upsampled(height: 6, width: 8, bilinear: true)
    // Half-pixel centres: output (1, 1) samples input (0.25, 0.25) -> clamped blend of the top-left 2x2.
    let expected = 0.75 * 0.75 * xv[0] + 0.75 * 0.25 * xv[1] + 0.25 * 0.75 * xv[4] + 0.25 * 0.25 * xv[5]
    #expect(abs(bil.floats[9] - expected) < 1e-5)
    for bilinear in [false, true] {
      let r = try checkGradients(of: { try $0[0].upsampled(height: 5, width: 7, bilinear: bilinear) }, at: [x])
      #expect(r.passed, "bilinear \(bilinear): \(r)")
    }
  }

  @Test func complexArithmeticMatchesFormulas() throws {
    let a = try ComplexTensor(real: Tensor([1, 2]), imaginary: Tensor([3, -1]))
    let b = try ComplexTensor(real: Tensor([0.5, -2]), imaginary: Tensor([2, 4]))
    let p = try a * b
    let expectedReal: [Float] = [-5.5, 0]  // 1·0.5 - 3·2, 2·(-2) - (-1)·4
    let expectedImaginary: [Float] = [3.5, 10]  // 1·2 + 3·0.5, 2·4 + (-1)·(-2)
    #expect(p.real.floats == expectedReal)
    #expect(p.imaginary.floats == expectedImaginary)
    let e = try ComplexTensor(real: Tensor([0.3]), imaginary: Tensor([1.1])).exp()
    #expect(abs(e.real.item() - Float(Foundation.exp(0.3) * Foundation.cos(1.1))) < 1e-5)
    #expect(abs(e.imaginary.item() - Float(Foundation.exp(0.3) * Foundation.sin(1.1))) < 1e-5)
    let r = try checkGradients(
      of: { v in
        let z = try ComplexTensor(real: v[0], imaginary: v[1])
        return try (z * z).exp().squaredMagnitude()
      }, at: [randomTensor([4], seed: 71, scale: 0.5), randomTensor([4], seed: 72, scale: 0.5)])
    #expect(r.passed, "\(r)")
  }
}
