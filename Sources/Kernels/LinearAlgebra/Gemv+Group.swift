extension Gemv {
  /// One product of a group that shares its left operand: `y = x · wᵀ` over `columns` output columns,
  /// added to what `y` holds when `accumulate` is set.
  public struct Product {
    /// The weights [columns, k], row-major with row stride `ldw`.
    public var w: UnsafePointer<Float>
    /// Row stride of `w`, in elements.
    public var ldw: Int
    /// Output columns (rows of `w`).
    public var columns: Int
    /// The output [m, columns] with row stride `ldy`.
    public var y: UnsafeMutablePointer<Float>
    /// Row stride of `y`, in elements.
    public var ldy: Int
    /// Whether the product is added to `y` (beta = 1) instead of replacing it.
    public var accumulate: Bool

    /// Describes one product of a group.
    public init(
      w: UnsafePointer<Float>, ldw: Int, columns: Int, y: UnsafeMutablePointer<Float>, ldy: Int,
      accumulate: Bool = false
    ) {
      (self.w, self.ldw, self.columns, self.y, self.ldy, self.accumulate) = (w, ldw, columns, y, ldy, accumulate)
    }
  }

  /// Runs every product of `products` with the same x [m, k] in one parallel job: the threads share out
  /// the column blocks of all of them, so a layer's query, key and value projections (or an MLP's gate and
  /// up projections) cost one hand-off to the workers instead of one each. `m` must be at most
  /// ``maximumRows``.
  public static func multiplyTransposed(
    m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, products: [Product]
  ) {
    precondition(m >= 0 && m <= maximumRows, "Gemv handles at most \(maximumRows) rows, got \(m)")
    guard m > 0 else { return }
    // (product, first column, end column) for every chunk of every product.
    var pieces: [(product: Int, lo: Int, hi: Int)] = []
    for (index, product) in products.enumerated() where product.columns > 0 {
      let blocks = (product.columns + 7) / 8
      let chunks = chunkCount(weights: product.columns * k, blocks: blocks)
      for chunk in 0..<chunks {
        let lo = blocks * chunk / chunks * 8
        let hi = min(product.columns, blocks * (chunk + 1) / chunks * 8)
        if lo < hi { pieces.append((index, lo, hi)) }
      }
    }
    let shared = UncheckedSendable((x, products, pieces))
    HotPool.run(chunks: pieces.count) { chunk in
      let (x, products, pieces) = shared.value
      let piece = pieces[chunk]
      let product = products[piece.product]
      transposedColumns(
        piece.lo..<piece.hi, m: m, k: k, alpha: 1, x: x, ldx: ldx, w: product.w, ldw: product.ldw,
        beta: product.accumulate ? 1 : 0, y: product.y, ldy: product.ldy)
    }
  }
}
