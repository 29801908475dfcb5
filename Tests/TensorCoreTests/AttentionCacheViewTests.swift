import Kernels
import TestSupport
import Testing

@testable import TensorCore

/// `Tensor.attention` reads key/value views of a preallocated cache in place; results must not change.
@Suite struct AttentionCacheViewTests {
  /// A [B, G, capacity, D] cache and its first `length` positions.
  func cacheViews(b: Int, g: Int, capacity: Int, length: Int, d: Int) throws -> (keys: Tensor, values: Tensor) {
    let keys = randomTensor([b, g, capacity, d], seed: 21)
    let values = randomTensor([b, g, capacity, d], seed: 22)
    return (try keys.sliced(axis: 2, 0..<length), try values.sliced(axis: 2, 0..<length))
  }

  @Test(arguments: [(1, 6, 6, 1, 48), (2, 4, 2, 1, 48), (2, 2, 2, 3, 20), (1, 4, 1, 5, 16)])
  func slicedCacheEqualsContiguousCopy(b: Int, h: Int, g: Int, tq: Int, d: Int) throws {
    let (capacity, length) = (64, 37)
    let (keys, values) = try cacheViews(b: b, g: g, capacity: capacity, length: length, d: d)
    // A single (batch, head) block is contiguous already.
    let blocks = b * g
    #expect(keys.isContiguous == (blocks == 1))
    #expect(keys.cacheViewHeadStride(sharedWith: values) == (blocks == 1 ? length : capacity) * d)
    let query = randomTensor([b, h, tq, d], seed: 23)
    let mask = AttentionMask(causal: true, queryOffset: length - tq)
    let viewed = try withoutGradients { try Tensor.attention(query: query, key: keys, value: values, mask: mask) }
    let copied = try withoutGradients {
      try Tensor.attention(query: query, key: keys.contiguous(), value: values.contiguous(), mask: mask)
    }
    // Grad mode on but nothing tracked: the in-place path too.
    let recordedMode = try Tensor.attention(query: query, key: keys, value: values, mask: mask)
    #expect(viewed.shape == [b, h, tq, d])
    #expect(viewed.floats == copied.floats)
    #expect(recordedMode.floats == copied.floats)
    #expect(viewed.floats.allSatisfy { $0.isFinite })
  }

  @Test func layoutDetection() throws {
    let (keys, values) = try cacheViews(b: 2, g: 3, capacity: 10, length: 4, d: 8)
    #expect(keys.cacheViewHeadStride(sharedWith: values) == 80)
    let dense = keys.contiguous()
    #expect(dense.cacheViewHeadStride(sharedWith: values.contiguous()) == 32)
    // Different strides for keys and values, or a transposed view, are copied.
    #expect(keys.cacheViewHeadStride(sharedWith: values.contiguous()) == nil)
    let transposed = try keys.transposed(2, 3).contiguous().transposed(2, 3)
    #expect(transposed.cacheViewHeadStride(sharedWith: transposed) == nil)
    // One head of two per batch: blocks are 2·capacity·D apart.
    let cache = randomTensor([2, 2, 10, 8], seed: 5)
    let oneHead = try cache.sliced(axis: 1, 0..<1).sliced(axis: 2, 0..<4)
    #expect(oneHead.cacheViewHeadStride(sharedWith: oneHead) == 160)
    let query = randomTensor([2, 2, 1, 8], seed: 6)
    let viewed = try Tensor.attention(query: query, key: oneHead, value: oneHead)
    let copied = try Tensor.attention(query: query, key: oneHead.contiguous(), value: oneHead.contiguous())
    #expect(viewed.floats == copied.floats)
    // Heads interleaved with the batch are not a block layout.
    let swapped = try cache.transposed(0, 1)
    #expect(swapped.cacheViewHeadStride(sharedWith: swapped) == nil)
  }

  /// When gradients are recorded, views are copied and the backward sees dense keys and values.
  @Test func gradientsThroughCacheViewsMatchCopies() throws {
    let (keys, values) = try cacheViews(b: 1, g: 2, capacity: 16, length: 9, d: 16)
    let query = randomTensor([1, 2, 3, 16], seed: 24)
    let projection = randomTensor([1, 2, 3, 16], seed: 25)
    let mask = AttentionMask(causal: true, queryOffset: 6)
    let loss = { (x: [Tensor]) in
      try (Tensor.attention(query: x[0], key: x[1], value: x[2], mask: mask) * projection).sum()
    }
    let (v1, g1) = try valueAndGradient(at: [query, keys, values], loss)
    let (v2, g2) = try valueAndGradient(at: [query, keys.contiguous(), values.contiguous()], loss)
    #expect(v1.item() == v2.item())
    for (a, b) in zip(g1, g2) { #expect(allClose(a.floats, b.floats, atol: 1e-6, rtol: 1e-6)) }
  }
}
