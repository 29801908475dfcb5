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

/// Four floats (imported into Swift as SIMD4<Float>).
typedef float frontier_float4 __attribute__((ext_vector_type(4)));
/// Eight floats (imported into Swift as SIMD8<Float>).
typedef float frontier_float8 __attribute__((ext_vector_type(8)));

/// The lane sums of four eight-lane vectors, (Σa, Σb, Σc, Σd). Written here because the same halving in
/// Swift (`lowHalf + highHalf`) is left as out-of-line calls inside large kernels, each spilling every
/// live vector register around it.
__attribute__((always_inline)) static inline frontier_float4 frontier_sums_of_four8(
    frontier_float8 a, frontier_float8 b, frontier_float8 c, frontier_float8 d) {
  // [a0..3 + a4..7 | b0..3 + b4..7], then the same for c and d.
  frontier_float8 ab = __builtin_shufflevector(a, b, 0, 1, 2, 3, 8, 9, 10, 11)
    + __builtin_shufflevector(a, b, 4, 5, 6, 7, 12, 13, 14, 15);
  frontier_float8 cd = __builtin_shufflevector(c, d, 0, 1, 2, 3, 8, 9, 10, 11)
    + __builtin_shufflevector(c, d, 4, 5, 6, 7, 12, 13, 14, 15);
  // Two lanes per key: [a, a, b, b, c, c, d, d].
  frontier_float8 pairs = __builtin_shufflevector(ab, cd, 0, 1, 4, 5, 8, 9, 12, 13)
    + __builtin_shufflevector(ab, cd, 2, 3, 6, 7, 10, 11, 14, 15);
  return __builtin_shufflevector(pairs, pairs, 0, 2, 4, 6) + __builtin_shufflevector(pairs, pairs, 1, 3, 5, 7);
}

/// The lane sums of four sixteen-lane vectors, (Σa, Σb, Σc, Σd).
__attribute__((always_inline)) static inline frontier_float4 frontier_sums_of_four16(
    frontier_float16 a, frontier_float16 b, frontier_float16 c, frontier_float16 d) {
#define FRONTIER_HALVES(v) \
  (__builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) + __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15))
  frontier_float4 sums = frontier_sums_of_four8(FRONTIER_HALVES(a), FRONTIER_HALVES(b), FRONTIER_HALVES(c), FRONTIER_HALVES(d));
#undef FRONTIER_HALVES
  return sums;
}

/// The vector registers the compile target has: 32 with AVX-512, else 16 (AVX2: sixteen 256-bit ones).
/// Kernels whose accumulators fill 32 registers take a narrower shape when there are 16.
static inline int frontier_vector_registers(void) {
#if defined(__AVX512F__)
  return 32;
#else
  return 16;
#endif
}
