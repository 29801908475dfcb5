import CQuant

extension Gemv {
  /// The weights of one product, in one of the storage formats decoding reads: each holds a matrix
  /// [columns, k] of output features by input features, row-major.
  public enum Weights {
    /// float32 weights with a row stride of `rowStride` elements (at least k).
    case float32(UnsafePointer<Float>, rowStride: Int)
    /// bfloat16 weights (bit patterns; see ``Conversion/floatToBFloat16(_:_:count:)``) with a row stride of
    /// `rowStride` elements (at least k). Widened exactly to float32 and multiplied with the float32 x.
    case bfloat16(UnsafePointer<UInt16>, rowStride: Int)
    /// q8_0 weights whose rows are k values wide. x is quantised to q8_0 with the same group size (once per
    /// call and group size) and each block contributes (int8 · int8 dot product) · (weight scale · x scale),
    /// as llama.cpp does.
    case q8_0(Q8_0.Matrix)
  }

  /// One product of a mixed-format group that shares its left operand: `y = x · wᵀ` over `columns` output
  /// columns, added to what `y` holds when `accumulate` is set.
  public struct MixedProduct {
    /// The weights [columns, k] (a q8_0 matrix must have at least `columns` rows of k values).
    public var weights: Weights
    /// Output columns (rows of the weights used).
    public var columns: Int
    /// The output [m, columns] with row stride `ldy`.
    public var y: UnsafeMutablePointer<Float>
    /// Row stride of `y`, in elements.
    public var ldy: Int
    /// Whether the product is added to `y` (a residual add) instead of replacing it.
    public var accumulate: Bool

    /// Describes one product of a group.
    public init(weights: Weights, columns: Int, y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool = false) {
      (self.weights, self.columns, self.y, self.ldy, self.accumulate) = (weights, columns, y, ldy, accumulate)
    }

    /// Bytes of weights per element, scaled by four (float32 = 4), for sizing chunks of work.
    var elementBytes: Int {
      switch weights {
      case .float32: 4
      case .bfloat16: 2
      case .q8_0: 1
      }
    }
  }

  /// The q8_0 kernel level this CPU runs (a `FRONTIER_Q8_…` constant), detected once.
  static let q8Level: Int32 = frontier_q8_level()

  /// Runs every product of `products` with the same x [m, k] (float32, row stride `ldx`) in one parallel job,
  /// like the float32 group of ``Product``s but with float32, bfloat16 and q8_0 weights in any mix: the weights
  /// are read once per call for all `m` rows. `m` must be at most ``maximumRows``; q8_0 weights must be k
  /// values wide (layouts come from ``Q8_0/Layout/init(rows:columns:groupSize:)``, which rejects group sizes
  /// that do not divide the width).
  ///
  /// Accuracy: float32 and bfloat16 products round like the float32 ``Gemv``. A q8_0 product's block sums are
  /// exact integers; it differs from ``multiplyTransposedReference(m:k:x:ldx:products:)`` by at most
  /// (k / groupSize + 5) · 2⁻²⁴ · Σ_b |x_b|·|w_b| (per block: x scale · weight scale · Σ |qx · qw|), from the
  /// float products with the two scales and the float accumulation over blocks and lanes (plus one rounding
  /// of the sum into y when accumulating).
  ///
  /// A group of float32 products only goes through the float32 ``Gemv`` (its tiles stream dense rows
  /// fastest), so mixing costs a float32 model nothing.
  public static func multiplyTransposed(m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, products: [MixedProduct]) {
    var dense: [Product] = []
    for product in products {
      guard case .float32(let w, let stride) = product.weights else {
        multiplyTransposed(m: m, k: k, x: x, ldx: ldx, products: products, q8Level: q8Level)
        return
      }
      dense.append(
        Product(
          w: w, ldw: stride, columns: product.columns, y: product.y, ldy: product.ldy, accumulate: product.accumulate))
    }
    multiplyTransposed(m: m, k: k, x: x, ldx: ldx, products: dense)
  }

  /// The mixed-format product group with the q8_0 kernel level chosen by the caller (tests run every level
  /// this CPU supports).
  static func multiplyTransposed(
    m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, products: [MixedProduct], q8Level: Int32
  ) {
    precondition(m >= 0 && m <= maximumRows, "Gemv handles at most \(maximumRows) rows, got \(m)")
    guard m > 0 else { return }
    guard k > 0 else {
      // An empty reduction: y = 0, or y unchanged when accumulating.
      for product in products where !product.accumulate {
        for i in 0..<m { (product.y + i * product.ldy).update(repeating: 0, count: product.columns) }
      }
      return
    }
    var groups: [Int] = []
    var hasBFloat16 = false
    for product in products {
      switch product.weights {
      case .float32(_, let stride), .bfloat16(_, let stride):
        precondition(stride >= k, "weight row stride \(stride) is below k = \(k)")
        if case .bfloat16 = product.weights { hasBFloat16 = true }
      case .q8_0(let matrix):
        precondition(matrix.layout.columns == k, "q8_0 rows hold \(matrix.layout.columns) values, k is \(k)")
        precondition(matrix.layout.rows >= product.columns, "q8_0 matrix has fewer rows than \(product.columns)")
        if !groups.contains(matrix.layout.groupSize) { groups.append(matrix.layout.groupSize) }
      }
    }
    // x in the forms the kernels read: pairs split for bfloat16, q8_0 blocks for each group size.
    let split = UnsafeMutablePointer<Float>.allocate(capacity: hasBFloat16 ? m * k : 0)
    defer { split.deallocate() }
    if hasBFloat16 { splitPairs(m: m, k: k, x: x, ldx: ldx, into: split) }
    let quantized = groups.map { group in
      let values = UnsafeMutablePointer<Int8>.allocate(capacity: m * k)
      let scales = UnsafeMutablePointer<Float>.allocate(capacity: m * k / group)
      for i in 0..<m {
        Q8_0.quantizeRow(
          x + i * ldx, count: k, groupSize: group, values: values + i * k, scales: scales + i * (k / group))
      }
      return (group: group, values: values, scales: scales)
    }
    defer {
      for q in quantized {
        q.values.deallocate()
        q.scales.deallocate()
      }
    }
    // (product, first column, end column) for every chunk of every product.
    var pieces: [(product: Int, lo: Int, hi: Int)] = []
    for (index, product) in products.enumerated() where product.columns > 0 {
      let blocks = (product.columns + 7) / 8
      let chunks = chunkCount(weights: product.columns * k * product.elementBytes / 4, blocks: blocks)
      for chunk in 0..<chunks {
        let lo = blocks * chunk / chunks * 8
        let hi = min(product.columns, blocks * (chunk + 1) / chunks * 8)
        if lo < hi { pieces.append((index, lo, hi)) }
      }
    }
    let shared = UncheckedSendable((x, UnsafePointer(split), products, pieces, quantized))
    HotPool.run(chunks: pieces.count) { chunk in
      let (x, split, products, pieces, quantized) = shared.value
      let piece = pieces[chunk]
      let product = products[piece.product]
      var xq: (values: UnsafePointer<Int8>, scales: UnsafePointer<Float>)?
      if case .q8_0(let matrix) = product.weights,
        let q = quantized.first(where: { $0.group == matrix.layout.groupSize })
      {
        xq = (UnsafePointer(q.values), UnsafePointer(q.scales))
      }
      mixedPiece(
        product, columns: piece.lo..<piece.hi, m: m, k: k, x: x, ldx: ldx, split: split, quantized: xq,
        q8Level: q8Level)
    }
  }

  /// Columns `columns` of one product of the mixed group. Never inlined: inlined into the driver (as with one
  /// thread, where the pool runs the chunks in a loop), the kernels made a function so large that the optimiser
  /// left the standard library's vector loads and halves as calls, and bfloat16 ran 3.5 times slower.
  @inline(never)
  static func mixedPiece(
    _ product: MixedProduct, columns: Range<Int>, m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int,
    split: UnsafePointer<Float>, quantized: (values: UnsafePointer<Int8>, scales: UnsafePointer<Float>)?,
    q8Level: Int32
  ) {
    switch product.weights {
    case .float32(let w, let ldw):
      transposedColumns(
        columns, m: m, k: k, alpha: 1, x: x, ldx: ldx, w: w, ldw: ldw, beta: product.accumulate ? 1 : 0,
        y: product.y, ldy: product.ldy)
    case .bfloat16(let w, let ldw):
      bfloat16Columns(
        columns, m: m, k: k, x: split, w: w, ldw: ldw, y: product.y, ldy: product.ldy, accumulate: product.accumulate)
    case .q8_0(let matrix):
      guard let quantized else { preconditionFailure("x was not quantised for group size \(matrix.layout.groupSize)") }
      q8Columns(
        columns, m: m, x: quantized.values, xScales: quantized.scales, w: matrix, y: product.y, ldy: product.ldy,
        accumulate: product.accumulate, level: q8Level)
    }
  }

  /// The plain loop twin of the mixed-format product group: sums in Double;
  /// q8_0 products quantise x with ``Q8_0/quantizeReference(_:layout:values:scales:)`` and sum
  /// Σ_b (integer block dot) · (weight scale · x scale).
  public static func multiplyTransposedReference(
    m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, products: [MixedProduct]
  ) {
    for product in products {
      var quantizedX: [Int8] = []
      var xScales: [Float] = []
      if case .q8_0(let matrix) = product.weights {
        quantizedX = [Int8](repeating: 0, count: m * k)
        xScales = [Float](repeating: 0, count: m * matrix.layout.blocksPerRow)
        let rows = Q8_0.Layout(checkedRows: m, columns: k, groupSize: matrix.layout.groupSize)
        let dense = (0..<m).flatMap { i in (0..<k).map { x[i * ldx + $0] } }
        Q8_0.quantizeReference(dense, layout: rows, values: &quantizedX, scales: &xScales)
      }
      for i in 0..<m {
        for j in 0..<product.columns {
          var s = 0.0
          switch product.weights {
          case .float32(let w, let ldw):
            for p in 0..<k { s += Double(x[i * ldx + p]) * Double(w[j * ldw + p]) }
          case .bfloat16(let w, let ldw):
            for p in 0..<k { s += Double(x[i * ldx + p]) * Double(Float(bitPattern: UInt32(w[j * ldw + p]) << 16)) }
          case .q8_0(let matrix):
            let group = matrix.layout.groupSize
            for b in 0..<(k / group) {
              var dot = 0
              for p in (b * group)..<((b + 1) * group) {
                dot += Int(quantizedX[i * k + p]) * Int(matrix.values[j * k + p])
              }
              let blocks = k / group
              s += Double(dot) * Double(matrix.scales[j * blocks + b]) * Double(xScales[i * blocks + b])
            }
          }
          let out = product.y + i * product.ldy + j
          out.pointee = product.accumulate ? out.pointee + Float(s) : Float(s)
        }
      }
    }
  }
}
