// Unaligned 16-lane loads and stores and horizontal reductions shared by the row kernels (normalization,
// rotary embedding, cross-entropy), instead of a private copy in each file.

/// A 16-lane float vector at `p + i`, unaligned.
@inline(__always)
func load(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD16<Float> {
  UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
}

/// A 16-lane float vector at `p + i`, unaligned.
@inline(__always)
func load(_ p: UnsafeMutablePointer<Float>, _ i: Int) -> SIMD16<Float> {
  UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
}

/// Stores `v` at `p + i`, unaligned.
@inline(__always)
func store(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
  UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// Horizontal sum by pairwise halving (a tree, instead of the sequential scalar chain of `sum()`).
@inline(__always)
func horizontalSum(_ v: SIMD16<Float>) -> Float {
  let a = v.lowHalf + v.highHalf
  let b = a.lowHalf + a.highHalf
  let c = b.lowHalf + b.highHalf
  return c[0] + c[1]
}

/// Horizontal maximum by pairwise halving.
@inline(__always)
func horizontalMax(_ v: SIMD16<Float>) -> Float {
  var a = v.lowHalf
  a.replace(with: v.highHalf, where: v.highHalf .> a)
  var b = a.lowHalf
  b.replace(with: a.highHalf, where: a.highHalf .> b)
  var c = b.lowHalf
  c.replace(with: b.highHalf, where: b.highHalf .> c)
  return c[1] > c[0] ? c[1] : c[0]
}
