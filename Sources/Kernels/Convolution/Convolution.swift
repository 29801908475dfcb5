/// Shape of a 2-D convolution over one image `[channels, height, width]` with symmetric zero padding.
public struct Conv2DGeometry: Sendable {
  /// Input channels.
  public var channels: Int
  /// Input height.
  public var height: Int
  /// Input width.
  public var width: Int
  /// Kernel height.
  public var kernelHeight: Int
  /// Kernel width.
  public var kernelWidth: Int
  /// Vertical stride.
  public var strideY: Int
  /// Horizontal stride.
  public var strideX: Int
  /// Zero rows added above and below the image.
  public var padTop: Int
  /// Zero columns added left and right of the image.
  public var padLeft: Int
  /// Vertical dilation of the kernel taps.
  public var dilationY: Int
  /// Horizontal dilation of the kernel taps.
  public var dilationX: Int

  /// Output height: `(height + 2 padTop - dilationY (kernelHeight - 1) - 1) / strideY + 1`.
  public var outHeight: Int { (height + 2 * padTop - dilationY * (kernelHeight - 1) - 1) / strideY + 1 }
  /// Output width: `(width + 2 padLeft - dilationX (kernelWidth - 1) - 1) / strideX + 1`.
  public var outWidth: Int { (width + 2 * padLeft - dilationX * (kernelWidth - 1) - 1) / strideX + 1 }

  /// Creates a geometry; strides and dilations default to 1 and padding to 0.
  public init(
    channels: Int, height: Int, width: Int, kernelHeight: Int, kernelWidth: Int,
    strideY: Int = 1, strideX: Int = 1, padTop: Int = 0, padLeft: Int = 0, dilationY: Int = 1, dilationX: Int = 1
  ) {
    precondition(strideY > 0 && strideX > 0 && dilationY > 0 && dilationX > 0, "strides and dilations must be > 0")
    precondition(padTop >= 0 && padLeft >= 0 && kernelHeight > 0 && kernelWidth > 0, "bad kernel or padding")
    self.channels = channels
    self.height = height
    self.width = width
    self.kernelHeight = kernelHeight
    self.kernelWidth = kernelWidth
    self.strideY = strideY
    self.strideX = strideX
    self.padTop = padTop
    self.padLeft = padLeft
    self.dilationY = dilationY
    self.dilationX = dilationX
  }

  /// Rows of the column matrix: `channels * kernelHeight * kernelWidth`.
  public var columnRows: Int { channels * kernelHeight * kernelWidth }

  /// For kernel column `kx`: the input column offset `kx * dilationX - padLeft` and the range of output
  /// columns whose input column `ox * strideX + offset` lies inside the image.
  @inline(__always)
  func validColumns(kx: Int) -> (offset: Int, range: Range<Int>) {
    let offset = kx * dilationX - padLeft
    let ow = outWidth
    let lo = min(ow, offset >= 0 ? 0 : (-offset + strideX - 1) / strideX)
    let hi = width - 1 - offset < 0 ? 0 : min(ow, (width - 1 - offset) / strideX + 1)
    return (offset, lo..<max(lo, hi))
  }
}

/// Convolution helpers: im2col/col2im for 2-D convolutions through GEMM, causal depthwise conv1d,
/// and nearest/bilinear upsampling.
public enum Convolution {
  /// Elements per thread below which kernels stay single-threaded.
  @usableFromInline static let grain = 1 << 15

  // MARK: im2col / col2im

  /// One image `[C, H, W]` to columns `[C * kh * kw, outH * outW]`, zero outside the image.
  ///
  /// Row `(c * kh + ky) * kw + kx` holds `image[c, oy * sy - pad + ky * dy, ox * sx - pad + kx * dx]` at
  /// column `oy * outW + ox`. Rows are filled in parallel for large images.
  public static func im2col(
    _ image: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry
  ) {
    let oh = g.outHeight
    let ow = g.outWidth
    let plane = oh * ow
    guard plane > 0, g.columnRows > 0 else { return }
    Parallel.forChunks(count: g.columnRows, grain: max(1, grain / plane)) { range in
      for r in range {
        let kx = r % g.kernelWidth
        let ky = (r / g.kernelWidth) % g.kernelHeight
        let c = r / (g.kernelWidth * g.kernelHeight)
        let src = image + c * g.height * g.width
        let (offset, valid) = g.validColumns(kx: kx)
        for oy in 0..<oh {
          let out = columns + r * plane + oy * ow
          let iy = oy * g.strideY - g.padTop + ky * g.dilationY
          if iy < 0 || iy >= g.height || valid.isEmpty {
            out.update(repeating: 0, count: ow)
            continue
          }
          out.update(repeating: 0, count: valid.lowerBound)
          (out + valid.upperBound).update(repeating: 0, count: ow - valid.upperBound)
          let line = src + iy * g.width + offset
          if g.strideX == 1 {
            (out + valid.lowerBound).update(from: line + valid.lowerBound, count: valid.count)
          } else {
            for ox in valid { out[ox] = line[ox * g.strideX] }
          }
        }
      }
    }
  }

  /// Scalar oracle for ``im2col(_:_:geometry:)``.
  public static func im2colReference(
    _ image: UnsafePointer<Float>, _ columns: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry
  ) {
    let oh = g.outHeight
    let ow = g.outWidth
    for c in 0..<g.channels {
      for ky in 0..<g.kernelHeight {
        for kx in 0..<g.kernelWidth {
          let r = (c * g.kernelHeight + ky) * g.kernelWidth + kx
          for oy in 0..<oh {
            for ox in 0..<ow {
              let iy = oy * g.strideY - g.padTop + ky * g.dilationY
              let ix = ox * g.strideX - g.padLeft + kx * g.dilationX
              let inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width
              columns[(r * oh + oy) * ow + ox] = inside ? image[(c * g.height + iy) * g.width + ix] : 0
            }
          }
        }
      }
    }
  }

  /// Adjoint of ``im2col(_:_:geometry:)``: ADDS the columns back into `image [C, H, W]` (zero it first for
  /// a plain transpose). Channels run in parallel; each owns its image plane.
  public static func col2im(
    _ columns: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry
  ) {
    let oh = g.outHeight
    let ow = g.outWidth
    let plane = oh * ow
    let taps = g.kernelHeight * g.kernelWidth
    guard plane > 0, g.columnRows > 0 else { return }
    Parallel.forChunks(count: g.channels, grain: max(1, grain / (plane * taps))) { range in
      for c in range {
        let dst = image + c * g.height * g.width
        for ky in 0..<g.kernelHeight {
          for kx in 0..<g.kernelWidth {
            let r = (c * g.kernelHeight + ky) * g.kernelWidth + kx
            let (offset, valid) = g.validColumns(kx: kx)
            if valid.isEmpty { continue }
            for oy in 0..<oh {
              let iy = oy * g.strideY - g.padTop + ky * g.dilationY
              if iy < 0 || iy >= g.height { continue }
              let from = columns + r * plane + oy * ow
              let line = dst + iy * g.width + offset
              if g.strideX == 1 {
                Layout.addRow(from + valid.lowerBound, into: line + valid.lowerBound, count: valid.count)
              } else {
                for ox in valid { line[ox * g.strideX] += from[ox] }
              }
            }
          }
        }
      }
    }
  }

  /// Scalar oracle for ``col2im(_:_:geometry:)``.
  public static func col2imReference(
    _ columns: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, geometry g: Conv2DGeometry
  ) {
    let oh = g.outHeight
    let ow = g.outWidth
    for c in 0..<g.channels {
      for ky in 0..<g.kernelHeight {
        for kx in 0..<g.kernelWidth {
          let r = (c * g.kernelHeight + ky) * g.kernelWidth + kx
          for oy in 0..<oh {
            for ox in 0..<ow {
              let iy = oy * g.strideY - g.padTop + ky * g.dilationY
              let ix = ox * g.strideX - g.padLeft + kx * g.dilationX
              if iy >= 0 && iy < g.height && ix >= 0 && ix < g.width {
                image[(c * g.height + iy) * g.width + ix] += columns[(r * oh + oy) * ow + ox]
              }
            }
          }
        }
      }
    }
  }

  // MARK: Causal depthwise conv1d

  /// Causal depthwise 1-D convolution: `x [batch, channels, time]`, `weight [channels, k]`, `bias [channels]`:
  /// `y[b, c, t] = bias[c] + sum_{j < k} weight[c, j] * x[b, c, t - (k - 1) + j]`, zero for negative time.
  public static func depthwiseCausalConv1d(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, batch: Int, channels: Int, time: Int, kernelSize: Int
  ) {
    let k = kernelSize
    let rows = batch * channels
    guard rows > 0, time > 0 else { return }
    Parallel.forChunks(count: rows, grain: max(1, grain / (time * max(k, 1)))) { range in
      for row in range {
        let c = row % channels
        let w = weight + c * k
        let b0 = bias?[c] ?? 0
        let xs = x + row * time
        let ys = y + row * time
        // Head: taps reaching before t = 0.
        let head = min(time, max(k - 1, 0))
        for t in 0..<head {
          var s = b0
          for j in (k - 1 - t)..<k { s += w[j] * xs[t - (k - 1) + j] }
          ys[t] = s
        }
        var t = head
        let back = xs - (k - 1)
        while t + 16 <= time {
          var acc = SIMD16<Float>(repeating: b0)
          for j in 0..<k {
            acc.addProduct(
              SIMD16(repeating: w[j]), UnsafeRawPointer(back + t + j).loadUnaligned(as: SIMD16<Float>.self))
          }
          UnsafeMutableRawPointer(ys + t).storeBytes(of: acc, as: SIMD16<Float>.self)
          t += 16
        }
        while t < time {
          var s = b0
          for j in 0..<k { s += w[j] * back[t + j] }
          ys[t] = s
          t += 1
        }
      }
    }
  }

  /// Scalar oracle for ``depthwiseCausalConv1d(_:weight:bias:_:batch:channels:time:kernelSize:)``,
  /// accumulating in Double.
  public static func depthwiseCausalConv1dReference(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, batch: Int, channels: Int, time: Int, kernelSize: Int
  ) {
    for b in 0..<batch {
      for c in 0..<channels {
        for t in 0..<time {
          var s = Double(bias?[c] ?? 0)
          for j in 0..<kernelSize {
            let source = t - (kernelSize - 1) + j
            if source >= 0 { s += Double(weight[c * kernelSize + j]) * Double(x[(b * channels + c) * time + source]) }
          }
          y[(b * channels + c) * time + t] = Float(s)
        }
      }
    }
  }

  /// Backward of ``depthwiseCausalConv1d(_:weight:bias:_:batch:channels:time:kernelSize:)``: WRITES `dx`,
  /// ADDS into `dweight [channels, k]` and `dbias [channels]`. Channels run in parallel.
  public static func depthwiseCausalConv1dBackward(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
    batch: Int, channels: Int, time: Int, kernelSize: Int
  ) {
    let k = kernelSize
    guard channels > 0, batch > 0, time > 0 else { return }
    Parallel.forChunks(count: channels, grain: max(1, grain / (batch * time * max(k, 1) * 2))) { range in
      for c in range {
        let w = weight + c * k
        var biasSum: Float = 0
        for b in 0..<batch {
          let row = b * channels + c
          let xs = x + row * time
          let g = dy + row * time
          let gs = dx + row * time
          // dx[t] = sum_j w[j] * dy[t + (k - 1) - j] where that time exists.
          let ahead = g + (k - 1)
          var t = 0
          let body = max(0, time - (k - 1))
          while t + 16 <= body {
            var acc = SIMD16<Float>()
            for j in 0..<k {
              acc.addProduct(
                SIMD16(repeating: w[j]), UnsafeRawPointer(ahead + t - j).loadUnaligned(as: SIMD16<Float>.self))
            }
            UnsafeMutableRawPointer(gs + t).storeBytes(of: acc, as: SIMD16<Float>.self)
            t += 16
          }
          while t < time {
            var s: Float = 0
            for j in 0..<k where t + (k - 1) - j < time { s += w[j] * ahead[t - j] }
            gs[t] = s
            t += 1
          }
          // dweight[j] += sum_t dy[t] * x[t - (k - 1) + j] over t >= k - 1 - j.
          for j in 0..<k {
            let start = k - 1 - j
            if start >= time { continue }
            let shifted = xs - start
            var acc = SIMD16<Float>()
            var u = start
            while u + 16 <= time {
              acc.addProduct(
                UnsafeRawPointer(g + u).loadUnaligned(as: SIMD16<Float>.self),
                UnsafeRawPointer(shifted + u).loadUnaligned(as: SIMD16<Float>.self))
              u += 16
            }
            var s = acc.sum()
            while u < time {
              s += g[u] * shifted[u]
              u += 1
            }
            dweight[c * k + j] += s
          }
          if dbias != nil {
            var acc = SIMD16<Float>()
            var u = 0
            while u + 16 <= time {
              acc += UnsafeRawPointer(g + u).loadUnaligned(as: SIMD16<Float>.self)
              u += 16
            }
            var s = acc.sum()
            while u < time {
              s += g[u]
              u += 1
            }
            biasSum += s
          }
        }
        if let dbias { dbias[c] += biasSum }
      }
    }
  }

  /// Scalar oracle for ``depthwiseCausalConv1dBackward(_:weight:dy:dx:dweight:dbias:batch:channels:time:kernelSize:)``,
  /// accumulating in Double.
  public static func depthwiseCausalConv1dBackwardReference(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>, dbias: UnsafeMutablePointer<Float>?,
    batch: Int, channels: Int, time: Int, kernelSize: Int
  ) {
    let k = kernelSize
    for c in 0..<channels {
      var dw = [Double](repeating: 0, count: k)
      var db = 0.0
      for b in 0..<batch {
        let row = (b * channels + c) * time
        for t in 0..<time {
          var s = 0.0
          for j in 0..<k where t + (k - 1) - j < time {
            s += Double(weight[c * k + j]) * Double(dy[row + t + (k - 1) - j])
          }
          dx[row + t] = Float(s)
          db += Double(dy[row + t])
          for j in 0..<k where t - (k - 1) + j >= 0 {
            dw[j] += Double(dy[row + t]) * Double(x[row + t - (k - 1) + j])
          }
        }
      }
      for j in 0..<k { dweight[c * k + j] += Float(dw[j]) }
      if let dbias { dbias[c] += Float(db) }
    }
  }
}

// MARK: Upsampling

extension Convolution {
  /// Source taps of bilinear interpolation along one axis (PyTorch `align_corners=False`): output `i` reads
  /// inputs `i0[i]` and `i1[i]` with weights `w0[i]` and `w1[i]`.
  struct BilinearTaps {
    var i0: [Int]
    var i1: [Int]
    var w0: [Float]
    var w1: [Float]

    /// Half-pixel centres, `src = (dst + 0.5) * input / output - 0.5`, clamped below at 0; computed in Float
    /// as PyTorch does.
    init(input: Int, output: Int) {
      let scale = Float(input) / Float(output)
      i0 = []
      i1 = []
      w0 = []
      w1 = []
      for d in 0..<output {
        let s = max(0, scale * (Float(d) + 0.5) - 0.5)
        let a = min(Int(s), input - 1)
        let l = s - Float(a)
        i0.append(a)
        i1.append(a < input - 1 ? a + 1 : a)
        w0.append(1 - l)
        w1.append(l)
      }
    }
  }

  /// Nearest-neighbour upsampling of `x [planes, H, W]` to `y [planes, outH, outW]`:
  /// `y[p, i, j] = x[p, floor(i * H / outH), floor(j * W / outW)]`.
  public static func upsampleNearest(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int,
    outHeight: Int, outWidth: Int
  ) {
    guard planes > 0, outHeight > 0, outWidth > 0 else { return }
    let columns = (0..<outWidth).map { $0 * width / outWidth }
    columns.withUnsafeBufferPointer { cols in
      Parallel.forChunks(count: planes * outHeight, grain: max(1, grain / outWidth)) { range in
        for row in range {
          let p = row / outHeight
          let oy = row - p * outHeight
          let sy = oy * height / outHeight
          let out = y + row * outWidth
          if oy > 0 && range.contains(row - 1) && (oy - 1) * height / outHeight == sy {
            out.update(from: out - outWidth, count: outWidth)
            continue
          }
          let line = x + (p * height + sy) * width
          for ox in 0..<outWidth { out[ox] = line[cols[ox]] }
        }
      }
    }
  }

  /// Scalar oracle for ``upsampleNearest(_:_:planes:height:width:outHeight:outWidth:)``.
  public static func upsampleNearestReference(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int,
    outHeight: Int, outWidth: Int
  ) {
    for p in 0..<planes {
      for oy in 0..<outHeight {
        for ox in 0..<outWidth {
          y[(p * outHeight + oy) * outWidth + ox] =
            x[(p * height + oy * height / outHeight) * width + ox * width / outWidth]
        }
      }
    }
  }

  /// Adjoint of ``upsampleNearest(_:_:planes:height:width:outHeight:outWidth:)``: WRITES
  /// `dx [planes, H, W]` as the sum of the `dy [planes, outH, outW]` entries that copied each input.
  public static func upsampleNearestBackward(
    dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int,
    outHeight: Int, outWidth: Int
  ) {
    guard planes > 0, height * width > 0 else { return }
    let columns = (0..<outWidth).map { $0 * width / outWidth }
    columns.withUnsafeBufferPointer { cols in
      Parallel.forChunks(count: planes, grain: max(1, grain / max(1, outHeight * outWidth))) { range in
        for p in range {
          let plane = dx + p * height * width
          plane.update(repeating: 0, count: height * width)
          for oy in 0..<outHeight {
            let line = plane + (oy * height / outHeight) * width
            let g = dy + (p * outHeight + oy) * outWidth
            for ox in 0..<outWidth { line[cols[ox]] += g[ox] }
          }
        }
      }
    }
  }

  /// Scalar oracle for ``upsampleNearestBackward(dy:dx:planes:height:width:outHeight:outWidth:)``,
  /// accumulating in Double.
  public static func upsampleNearestBackwardReference(
    dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int,
    outHeight: Int, outWidth: Int
  ) {
    var sums = [Double](repeating: 0, count: planes * height * width)
    for p in 0..<planes {
      for oy in 0..<outHeight {
        for ox in 0..<outWidth {
          sums[(p * height + oy * height / outHeight) * width + ox * width / outWidth] +=
            Double(dy[(p * outHeight + oy) * outWidth + ox])
        }
      }
    }
    for i in 0..<sums.count { dx[i] = Float(sums[i]) }
  }

  /// Bilinear upsampling (or resizing) of `x [planes, H, W]` to `y [planes, outH, outW]` with PyTorch's
  /// `align_corners=False` semantics: half-pixel centres, source coordinates clamped at the borders.
  public static func upsampleBilinear(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int,
    outHeight: Int, outWidth: Int
  ) {
    guard planes > 0, outHeight > 0, outWidth > 0 else { return }
    let tx = BilinearTaps(input: width, output: outWidth)
    let ty = BilinearTaps(input: height, output: outHeight)
    tx.i0.withUnsafeBufferPointer { x0 in
      tx.i1.withUnsafeBufferPointer { x1 in
        tx.w0.withUnsafeBufferPointer { a0 in
          tx.w1.withUnsafeBufferPointer { a1 in
            Parallel.forChunks(count: planes * outHeight, grain: max(1, grain / (4 * outWidth))) { range in
              for row in range {
                let p = row / outHeight
                let oy = row - p * outHeight
                let r0 = x + (p * height + ty.i0[oy]) * width
                let r1 = x + (p * height + ty.i1[oy]) * width
                let b0 = ty.w0[oy]
                let b1 = ty.w1[oy]
                let out = y + row * outWidth
                for ox in 0..<outWidth {
                  let top = a0[ox] * r0[x0[ox]] + a1[ox] * r0[x1[ox]]
                  let bottom = a0[ox] * r1[x0[ox]] + a1[ox] * r1[x1[ox]]
                  out[ox] = b0 * top + b1 * bottom
                }
              }
            }
          }
        }
      }
    }
  }

  /// Scalar oracle for ``upsampleBilinear(_:_:planes:height:width:outHeight:outWidth:)``, in Double.
  public static func upsampleBilinearReference(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int,
    outHeight: Int, outWidth: Int
  ) {
    for p in 0..<planes {
      for oy in 0..<outHeight {
        let (y0, y1, ly) = bilinearSource(oy, input: height, output: outHeight)
        for ox in 0..<outWidth {
          let (x0, x1, lx) = bilinearSource(ox, input: width, output: outWidth)
          func at(_ i: Int, _ j: Int) -> Double { Double(x[(p * height + i) * width + j]) }
          let v =
            (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1))
          y[(p * outHeight + oy) * outWidth + ox] = Float(v)
        }
      }
    }
  }

  /// Adjoint of ``upsampleBilinear(_:_:planes:height:width:outHeight:outWidth:)``: WRITES `dx [planes, H, W]`.
  /// Planes run in parallel; each owns its `dx` plane.
  public static func upsampleBilinearBackward(
    dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int,
    outHeight: Int, outWidth: Int
  ) {
    guard planes > 0, height * width > 0 else { return }
    guard outHeight > 0, outWidth > 0 else {
      dx.update(repeating: 0, count: planes * height * width)
      return
    }
    let tx = BilinearTaps(input: width, output: outWidth)
    let ty = BilinearTaps(input: height, output: outHeight)
    Parallel.forChunks(count: planes, grain: max(1, grain / (4 * outHeight * outWidth))) { range in
      for p in range {
        let plane = dx + p * height * width
        plane.update(repeating: 0, count: height * width)
        for oy in 0..<outHeight {
          let r0 = plane + ty.i0[oy] * width
          let r1 = plane + ty.i1[oy] * width
          let b0 = ty.w0[oy]
          let b1 = ty.w1[oy]
          let g = dy + (p * outHeight + oy) * outWidth
          for ox in 0..<outWidth {
            let top = b0 * g[ox]
            let bottom = b1 * g[ox]
            r0[tx.i0[ox]] += tx.w0[ox] * top
            r0[tx.i1[ox]] += tx.w1[ox] * top
            r1[tx.i0[ox]] += tx.w0[ox] * bottom
            r1[tx.i1[ox]] += tx.w1[ox] * bottom
          }
        }
      }
    }
  }

  /// Scalar oracle for ``upsampleBilinearBackward(dy:dx:planes:height:width:outHeight:outWidth:)``, in Double.
  public static func upsampleBilinearBackwardReference(
    dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, planes: Int, height: Int, width: Int,
    outHeight: Int, outWidth: Int
  ) {
    var sums = [Double](repeating: 0, count: planes * height * width)
    for p in 0..<planes {
      for oy in 0..<outHeight {
        let (y0, y1, ly) = bilinearSource(oy, input: height, output: outHeight)
        for ox in 0..<outWidth {
          let (x0, x1, lx) = bilinearSource(ox, input: width, output: outWidth)
          let g = Double(dy[(p * outHeight + oy) * outWidth + ox])
          sums[(p * height + y0) * width + x0] += (1 - ly) * (1 - lx) * g
          sums[(p * height + y0) * width + x1] += (1 - ly) * lx * g
          sums[(p * height + y1) * width + x0] += ly * (1 - lx) * g
          sums[(p * height + y1) * width + x1] += ly * lx * g
        }
      }
    }
    for i in 0..<sums.count { dx[i] = Float(sums[i]) }
  }

  /// Double-precision source taps for the reference bilinear kernels.
  static func bilinearSource(_ d: Int, input: Int, output: Int) -> (Int, Int, Double) {
    let s = max(0, (Double(d) + 0.5) * Double(input) / Double(output) - 0.5)
    let a = min(Int(s), input - 1)
    return (a, a < input - 1 ? a + 1 : a, s - Double(a))
  }
}
