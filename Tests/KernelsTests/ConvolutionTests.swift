import Kernels
import Testing

/// Uniform floats in [-1, 1) from a fixed seed.
private func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
  var rng = RandomGenerator(seed: seed)
  var a = [Float](repeating: 0, count: count)
  a.withUnsafeMutableBufferPointer { rng.fillUniform($0.baseAddress!, count: count, low: -1, high: 1) }
  return a
}

/// Largest |a - b| / (1 + |b|).
private func maxError(_ a: [Float], _ b: [Float]) -> Float {
  precondition(a.count == b.count)
  var e: Float = 0
  for i in 0..<a.count { e = max(e, abs(a[i] - b[i]) / (1 + abs(b[i]))) }
  return e
}

private func dot(_ a: [Float], _ b: [Float]) -> Double {
  var s = 0.0
  for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
  return s
}

/// Applies a kernel that writes `outCount` floats.
private func run(_ outCount: Int, _ body: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
  var y = [Float](repeating: 0, count: outCount)
  y.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
  return y
}

private let geometries: [Conv2DGeometry] = [
  Conv2DGeometry(channels: 1, height: 1, width: 1, kernelHeight: 1, kernelWidth: 1),
  Conv2DGeometry(channels: 3, height: 7, width: 15, kernelHeight: 3, kernelWidth: 3, padTop: 1, padLeft: 1),
  Conv2DGeometry(
    channels: 2, height: 17, width: 33, kernelHeight: 3, kernelWidth: 5, strideY: 2, strideX: 2, padTop: 1,
    padLeft: 2),
  Conv2DGeometry(
    channels: 2, height: 15, width: 17, kernelHeight: 3, kernelWidth: 3, strideY: 1, strideX: 3, padTop: 2,
    padLeft: 3, dilationY: 2, dilationX: 2),
  Conv2DGeometry(channels: 1, height: 2, width: 3, kernelHeight: 5, kernelWidth: 5, padTop: 2, padLeft: 2),
  Conv2DGeometry(channels: 4, height: 7, width: 7, kernelHeight: 7, kernelWidth: 1, strideY: 3, padTop: 4),
  Conv2DGeometry(channels: 16, height: 33, width: 100, kernelHeight: 3, kernelWidth: 3, padTop: 1, padLeft: 1),
]

@Suite struct ConvolutionTests {
  @Test func geometryOutputSize() {
    let g = Conv2DGeometry(
      channels: 3, height: 32, width: 31, kernelHeight: 3, kernelWidth: 5, strideY: 2, strideX: 1, padTop: 1,
      padLeft: 2, dilationY: 1, dilationX: 2)
    #expect(g.outHeight == 16)  // (32 + 2 - 2 - 1) / 2 + 1
    #expect(g.outWidth == 27)  // (31 + 4 - 8 - 1) / 1 + 1
  }

  @Test func im2colMatchesReference() {
    for (n, g) in geometries.enumerated() {
      let image = randomFloats(g.channels * g.height * g.width, seed: UInt64(n))
      let count = g.columnRows * g.outHeight * g.outWidth
      let fast = run(count) { Convolution.im2col(image, $0, geometry: g) }
      let slow = run(count) { Convolution.im2colReference(image, $0, geometry: g) }
      #expect(firstMismatch(fast, slow) == nil, "geometry \(n)")
    }
  }

  @Test func col2imMatchesReferenceAndIsAdjoint() {
    for (n, g) in geometries.enumerated() {
      let imageCount = g.channels * g.height * g.width
      let columns = randomFloats(g.columnRows * g.outHeight * g.outWidth, seed: 100 + UInt64(n))
      let start = randomFloats(imageCount, seed: 200 + UInt64(n))
      var fast = start
      var slow = start
      fast.withUnsafeMutableBufferPointer { Convolution.col2im(columns, $0.baseAddress!, geometry: g) }
      slow.withUnsafeMutableBufferPointer { Convolution.col2imReference(columns, $0.baseAddress!, geometry: g) }
      #expect(maxError(fast, slow) < 1e-6, "geometry \(n)")

      let x = randomFloats(imageCount, seed: 300 + UInt64(n))
      let ax = run(columns.count) { Convolution.im2col(x, $0, geometry: g) }
      let aty = run(imageCount) { Convolution.col2im(columns, $0, geometry: g) }
      let lhs = dot(ax, columns)
      let rhs = dot(x, aty)
      #expect(abs(lhs - rhs) <= 1e-5 * (1 + abs(lhs)), "geometry \(n): \(lhs) vs \(rhs)")
    }
  }

  private static let conv1dCases: [(batch: Int, channels: Int, time: Int, k: Int)] = [
    (1, 1, 1, 1), (2, 3, 7, 4), (1, 5, 15, 3), (3, 2, 17, 4), (2, 7, 33, 2), (1, 3, 100, 5), (2, 2, 3, 5),
    (4, 33, 257, 4),
  ]

  @Test func causalConv1dMatchesReference() {
    for (n, c) in Self.conv1dCases.enumerated() {
      let count = c.batch * c.channels * c.time
      let x = randomFloats(count, seed: UInt64(n))
      let w = randomFloats(c.channels * c.k, seed: 50 + UInt64(n))
      let b = randomFloats(c.channels, seed: 90 + UInt64(n))
      for useBias in [false, true] {
        let fast = run(count) { y in
          b.withUnsafeBufferPointer { bp in
            Convolution.depthwiseCausalConv1d(
              x, weight: w, bias: useBias ? bp.baseAddress : nil, y, batch: c.batch, channels: c.channels,
              time: c.time, kernelSize: c.k)
          }
        }
        let slow = run(count) { y in
          b.withUnsafeBufferPointer { bp in
            Convolution.depthwiseCausalConv1dReference(
              x, weight: w, bias: useBias ? bp.baseAddress : nil, y, batch: c.batch, channels: c.channels,
              time: c.time, kernelSize: c.k)
          }
        }
        #expect(maxError(fast, slow) < 1e-5, "case \(n) bias \(useBias)")
      }
    }
  }

  @Test func causalConv1dBackwardMatchesReferenceAndFiniteDifferences() {
    for (n, c) in Self.conv1dCases.enumerated() {
      let count = c.batch * c.channels * c.time
      let x = randomFloats(count, seed: UInt64(n))
      let w = randomFloats(c.channels * c.k, seed: 50 + UInt64(n))
      let dy = randomFloats(count, seed: 70 + UInt64(n))
      let dw0 = randomFloats(c.channels * c.k, seed: 80 + UInt64(n))
      let db0 = randomFloats(c.channels, seed: 85 + UInt64(n))

      func backward(reference: Bool) -> (dx: [Float], dw: [Float], db: [Float]) {
        var dx = [Float](repeating: .nan, count: count)
        var dw = dw0
        var db = db0
        dx.withUnsafeMutableBufferPointer { dxp in
          dw.withUnsafeMutableBufferPointer { dwp in
            db.withUnsafeMutableBufferPointer { dbp in
              if reference {
                Convolution.depthwiseCausalConv1dBackwardReference(
                  x, weight: w, dy: dy, dx: dxp.baseAddress!, dweight: dwp.baseAddress!, dbias: dbp.baseAddress,
                  batch: c.batch, channels: c.channels, time: c.time, kernelSize: c.k)
              } else {
                Convolution.depthwiseCausalConv1dBackward(
                  x, weight: w, dy: dy, dx: dxp.baseAddress!, dweight: dwp.baseAddress!, dbias: dbp.baseAddress,
                  batch: c.batch, channels: c.channels, time: c.time, kernelSize: c.k)
              }
            }
          }
        }
        return (dx, dw, db)
      }
      let fast = backward(reference: false)
      let slow = backward(reference: true)
      #expect(maxError(fast.dx, slow.dx) < 1e-5, "case \(n) dx")
      #expect(maxError(fast.dw, slow.dw) < 1e-4, "case \(n) dweight")
      #expect(maxError(fast.db, slow.db) < 1e-4, "case \(n) dbias")

      // Loss L = sum(dy * y(x, w, b)) in Double; central differences on a few entries of each input.
      func loss(_ x: [Double], _ w: [Double], _ b: [Double]) -> Double {
        var s = 0.0
        for bi in 0..<c.batch {
          for ch in 0..<c.channels {
            for t in 0..<c.time {
              var v = b[ch]
              for j in 0..<c.k where t - (c.k - 1) + j >= 0 {
                v += w[ch * c.k + j] * x[(bi * c.channels + ch) * c.time + t - (c.k - 1) + j]
              }
              s += v * Double(dy[(bi * c.channels + ch) * c.time + t])
            }
          }
        }
        return s
      }
      let xd = x.map(Double.init)
      let wd = w.map(Double.init)
      let bd = [Double](repeating: 0.25, count: c.channels)
      let h = 1e-3
      for i in Set([0, count / 2, count - 1]) {
        var p = xd
        var m = xd
        p[i] += h
        m[i] -= h
        let fd = (loss(p, wd, bd) - loss(m, wd, bd)) / (2 * h)
        #expect(abs(fd - Double(fast.dx[i])) < 1e-4 * (1 + abs(fd)), "case \(n) dx[\(i)]")
      }
      for i in Set([0, w.count - 1]) {
        var p = wd
        var m = wd
        p[i] += h
        m[i] -= h
        let fd = (loss(xd, p, bd) - loss(xd, m, bd)) / (2 * h)
        let got = Double(fast.dw[i] - dw0[i])
        #expect(abs(fd - got) < 2e-4 * (1 + abs(fd)), "case \(n) dweight[\(i)]")
      }
      var p = bd
      var m = bd
      p[0] += h
      m[0] -= h
      let fd = (loss(xd, wd, p) - loss(xd, wd, m)) / (2 * h)
      #expect(abs(fd - Double(fast.db[0] - db0[0])) < 2e-4 * (1 + abs(fd)), "case \(n) dbias")
    }
  }

  private static let upsampleCases: [(planes: Int, h: Int, w: Int, oh: Int, ow: Int)] = [
    (1, 1, 1, 1, 1), (1, 1, 1, 7, 3), (2, 2, 3, 4, 6), (3, 7, 5, 15, 17), (2, 15, 17, 33, 34), (1, 17, 33, 7, 15),
    (5, 3, 100, 7, 1), (32, 20, 20, 40, 40),
  ]

  @Test func upsampleNearestMatchesReferenceAndIsAdjoint() {
    for (n, c) in Self.upsampleCases.enumerated() {
      let inCount = c.planes * c.h * c.w
      let outCount = c.planes * c.oh * c.ow
      let x = randomFloats(inCount, seed: UInt64(n))
      let dy = randomFloats(outCount, seed: 40 + UInt64(n))
      let fast = run(outCount) {
        Convolution.upsampleNearest(
          x, $0, planes: c.planes, height: c.h, width: c.w, outHeight: c.oh, outWidth: c.ow)
      }
      let slow = run(outCount) {
        Convolution.upsampleNearestReference(
          x, $0, planes: c.planes, height: c.h, width: c.w, outHeight: c.oh, outWidth: c.ow)
      }
      #expect(firstMismatch(fast, slow) == nil, "case \(n)")
      let back = run(inCount) {
        $0.update(repeating: .nan, count: inCount)
        Convolution.upsampleNearestBackward(
          dy: dy, dx: $0, planes: c.planes, height: c.h, width: c.w, outHeight: c.oh, outWidth: c.ow)
      }
      let backRef = run(inCount) {
        Convolution.upsampleNearestBackwardReference(
          dy: dy, dx: $0, planes: c.planes, height: c.h, width: c.w, outHeight: c.oh, outWidth: c.ow)
      }
      #expect(maxError(back, backRef) < 1e-5, "case \(n) backward")
      let lhs = dot(fast, dy)
      let rhs = dot(x, back)
      #expect(abs(lhs - rhs) <= 1e-5 * (1 + abs(lhs)), "case \(n) adjoint")
    }
  }

  @Test func upsampleBilinearMatchesReferenceAndIsAdjoint() {
    for (n, c) in Self.upsampleCases.enumerated() {
      let inCount = c.planes * c.h * c.w
      let outCount = c.planes * c.oh * c.ow
      let x = randomFloats(inCount, seed: UInt64(n))
      let dy = randomFloats(outCount, seed: 40 + UInt64(n))
      let fast = run(outCount) {
        Convolution.upsampleBilinear(
          x, $0, planes: c.planes, height: c.h, width: c.w, outHeight: c.oh, outWidth: c.ow)
      }
      let slow = run(outCount) {
        Convolution.upsampleBilinearReference(
          x, $0, planes: c.planes, height: c.h, width: c.w, outHeight: c.oh, outWidth: c.ow)
      }
      #expect(maxError(fast, slow) < 1e-5, "case \(n)")
      let back = run(inCount) {
        $0.update(repeating: .nan, count: inCount)
        Convolution.upsampleBilinearBackward(
          dy: dy, dx: $0, planes: c.planes, height: c.h, width: c.w, outHeight: c.oh, outWidth: c.ow)
      }
      let backRef = run(inCount) {
        Convolution.upsampleBilinearBackwardReference(
          dy: dy, dx: $0, planes: c.planes, height: c.h, width: c.w, outHeight: c.oh, outWidth: c.ow)
      }
      #expect(maxError(back, backRef) < 1e-5, "case \(n) backward")
      let lhs = dot(fast, dy)
      let rhs = dot(x, back)
      #expect(abs(lhs - rhs) <= 1e-5 * (1 + abs(lhs)), "case \(n) adjoint")
    }
  }

  /// Values from `torch.nn.functional.interpolate(x, size=(4, 4), mode=…)` for x = [[1, 2], [3, 4]].
  @Test func upsampleMatchesPyTorchValues() {
    let x: [Float] = [1, 2, 3, 4]
    let bilinear = run(16) {
      Convolution.upsampleBilinear(x, $0, planes: 1, height: 2, width: 2, outHeight: 4, outWidth: 4)
    }
    let expected: [Float] = [
      1.00, 1.25, 1.75, 2.00,
      1.50, 1.75, 2.25, 2.50,
      2.50, 2.75, 3.25, 3.50,
      3.00, 3.25, 3.75, 4.00,
    ]
    #expect(maxError(bilinear, expected) < 1e-6)
    let nearest = run(16) {
      Convolution.upsampleNearest(x, $0, planes: 1, height: 2, width: 2, outHeight: 4, outWidth: 4)
    }
    #expect(nearest == [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4])
  }
}

/// The first index where the arrays differ (or the shorter count), nil if they are equal.
private func firstMismatch<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
  if a.count != b.count { return min(a.count, b.count) }
  return a.indices.first { a[$0] != b[$0] }
}
