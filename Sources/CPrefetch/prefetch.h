#pragma once
// Helpers for the kernels that Swift cannot express: the software prefetch instruction and two-input
// vector shuffles (Swift's SIMD types have no shuffle; building vectors lane by lane leaves the shuffle
// choice to the optimiser, which merges a reduction tree into long chains of narrow shuffles).

/// Asks the CPU to bring the cache line holding `address` into the core's second-level cache for a coming read.
static inline void frontier_prefetch(const void *address) { __builtin_prefetch(address, 0, 2); }

/// Sixteen floats (imported into Swift as SIMD16<Float>).
typedef float frontier_float16 __attribute__((ext_vector_type(16)));

// Four levels of a transposing reduction: sixteen vectors of 16 partial sums (one vector per key) become
// one vector of 16 whole sums. Each level adds two shuffles of two vectors, halving the lanes per key:
// halves:  [a0..7 + a8..15 | b0..7 + b8..15]                      (two keys, 8 lanes each)
// quarters: 128-bit blocks [x0 + x1, x2 + x3, y0 + y1, y2 + y3]     (four keys, 4 lanes each)
// pairs:   within each 128-bit block, [x0 + x2, x1 + x3, y0 + y2, y1 + y3]
// singles: within each 128-bit block, [x0 + x1, x2 + x3, y0 + y1, y2 + y3]

/// Level 1 of the reduction.
static inline frontier_float16 frontier_sum_halves(frontier_float16 a, frontier_float16 b) {
  return __builtin_shufflevector(a, b, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
    + __builtin_shufflevector(a, b, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
}

/// Level 2 of the reduction.
static inline frontier_float16 frontier_sum_quarters(frontier_float16 x, frontier_float16 y) {
  return __builtin_shufflevector(x, y, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
    + __builtin_shufflevector(x, y, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
}

/// Level 3 of the reduction.
static inline frontier_float16 frontier_sum_pairs(frontier_float16 x, frontier_float16 y) {
  return __builtin_shufflevector(x, y, 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29)
    + __builtin_shufflevector(x, y, 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
}

/// Level 4 of the reduction.
static inline frontier_float16 frontier_sum_singles(frontier_float16 x, frontier_float16 y) {
  return __builtin_shufflevector(x, y, 0, 2, 16, 18, 4, 6, 20, 22, 8, 10, 24, 26, 12, 14, 28, 30)
    + __builtin_shufflevector(x, y, 1, 3, 17, 19, 5, 7, 21, 23, 9, 11, 25, 27, 13, 15, 29, 31);
}
