// One instruction-set level of the q8_0 kernels; included by quant.h with FRONTIER_Q8_SUFFIX,
// FRONTIER_Q8_TARGET, FRONTIER_Q8_DOT256(sum, ax, sw) and FRONTIER_Q8_DOT128(ax, sw) defined.
//
// Layouts: x holds m rows of k int8 values (row stride k) with k / group scales per row (stride k / group);
// w holds the weight rows the same way. Values lie in [-127, 127]: the sign trick below relies on it
// (|-128| does not fit in int8). The tiles are written out by hand (macros): Swift's LLVM pipeline does not
// unroll loops over small accumulator arrays, which then live on the stack.

#define FRONTIER_Q8_FN static inline __attribute__((always_inline, target(FRONTIER_Q8_TARGET)))

/// The sum of the eight lanes.
FRONTIER_Q8_FN float FRONTIER_Q8_SUFFIX(frontier_q8_sum)(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/// The integer dot product of one block of `group` values of x and w, spread over eight int32 lanes (exact:
/// each lane holds at most group / 8 * 127² of it, rounded up). Inlined with a constant group where possible:
/// groups of 32 and 64 are written out (the loop below stays rolled, with its tail tests, even then).
FRONTIER_Q8_FN __m256i FRONTIER_Q8_SUFFIX(frontier_q8_block)(const int8_t *x, const int8_t *w, const int64_t group) {
  __m256i sum = _mm256_setzero_si256();
  if (group == 32 || group == 64) {
    const __m256i x0 = _mm256_loadu_si256((const __m256i *)x), w0 = _mm256_loadu_si256((const __m256i *)w);
    sum = FRONTIER_Q8_DOT256(sum, _mm256_sign_epi8(x0, x0), _mm256_sign_epi8(w0, x0));
    if (group == 64) {
      const __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + 32));
      const __m256i w1 = _mm256_loadu_si256((const __m256i *)(w + 32));
      sum = FRONTIER_Q8_DOT256(sum, _mm256_sign_epi8(x1, x1), _mm256_sign_epi8(w1, x1));
    }
    return sum;
  }
  int64_t p = 0;
  for (; p + 32 <= group; p += 32) {
    const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + p));
    const __m256i wv = _mm256_loadu_si256((const __m256i *)(w + p));
    sum = FRONTIER_Q8_DOT256(sum, _mm256_sign_epi8(xv, xv), _mm256_sign_epi8(wv, xv));
  }
  if (p + 16 <= group) {
    const __m128i xv = _mm_loadu_si128((const __m128i *)(x + p));
    const __m128i wv = _mm_loadu_si128((const __m128i *)(w + p));
    const __m128i d = FRONTIER_Q8_DOT128(_mm_sign_epi8(xv, xv), _mm_sign_epi8(wv, xv));
    sum = _mm256_add_epi32(sum, _mm256_zextsi128_si256(d));
    p += 16;
  }
  if (p < group) {
    int32_t t = 0;
    for (; p < group; p++) t += (int32_t)x[p] * (int32_t)w[p];
    sum = _mm256_add_epi32(sum, _mm256_zextsi128_si256(_mm_cvtsi32_si128(t)));
  }
  return sum;
}

// acc##R##C += (block b of x row R · w row C) · x scale · w scale, inside a loop over b with base = b * group
// and sx##R = the broadcast x scale. (The x scale is applied first so that its broadcast is shared by the
// four weight rows and the weight scale is a broadcast load: one vector multiply per pair instead of a
// scalar multiply and a broadcast.)
#define FRONTIER_Q8_STEP(R, C)                                                                              \
  acc##R##C = _mm256_fmadd_ps(                                                                              \
      _mm256_mul_ps(                                                                                        \
          _mm256_cvtepi32_ps(FRONTIER_Q8_SUFFIX(frontier_q8_block)(x##R + base, w##C + base, group)), sx##R), \
      _mm256_broadcast_ss(ws##C + b), acc##R##C)
#define FRONTIER_Q8_STORE(R, C)                                                                             \
  do {                                                                                                      \
    const float s = FRONTIER_Q8_SUFFIX(frontier_q8_sum)(acc##R##C);                                         \
    float *out = y + R * ldy + C;                                                                           \
    *out = accumulate ? *out + s : s;                                                                       \
  } while (0)

/// One row of x against four weight rows (row stride k): y[c] = Σ_b dot_b · scales, added when accumulate is set.
FRONTIER_Q8_FN void FRONTIER_Q8_SUFFIX(frontier_q8_tile1x4)(
    const int64_t group, const int64_t k, const int8_t *x0, const float *xs0, const int8_t *w0, const float *ws0,
    float *y, const int64_t ldy, const int accumulate) {
  const int64_t blocks = k / group;
  const int8_t *w1 = w0 + k, *w2 = w0 + 2 * k, *w3 = w0 + 3 * k;
  const float *ws1 = ws0 + blocks, *ws2 = ws0 + 2 * blocks, *ws3 = ws0 + 3 * blocks;
  __m256 acc00 = _mm256_setzero_ps(), acc01 = acc00, acc02 = acc00, acc03 = acc00;
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t base = b * group;
    const __m256 sx0 = _mm256_broadcast_ss(xs0 + b);
    FRONTIER_Q8_STEP(0, 0);
    FRONTIER_Q8_STEP(0, 1);
    FRONTIER_Q8_STEP(0, 2);
    FRONTIER_Q8_STEP(0, 3);
  }
  FRONTIER_Q8_STORE(0, 0);
  FRONTIER_Q8_STORE(0, 1);
  FRONTIER_Q8_STORE(0, 2);
  FRONTIER_Q8_STORE(0, 3);
}

/// Two rows of x (row stride k) against four weight rows.
FRONTIER_Q8_FN void FRONTIER_Q8_SUFFIX(frontier_q8_tile2x4)(
    const int64_t group, const int64_t k, const int8_t *x0, const float *xs0, const int8_t *w0, const float *ws0,
    float *y, const int64_t ldy, const int accumulate) {
  const int64_t blocks = k / group;
  const int8_t *x1 = x0 + k, *w1 = w0 + k, *w2 = w0 + 2 * k, *w3 = w0 + 3 * k;
  const float *xs1 = xs0 + blocks, *ws1 = ws0 + blocks, *ws2 = ws0 + 2 * blocks, *ws3 = ws0 + 3 * blocks;
  __m256 acc00 = _mm256_setzero_ps(), acc01 = acc00, acc02 = acc00, acc03 = acc00;
  __m256 acc10 = acc00, acc11 = acc00, acc12 = acc00, acc13 = acc00;
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t base = b * group;
    const __m256 sx0 = _mm256_broadcast_ss(xs0 + b), sx1 = _mm256_broadcast_ss(xs1 + b);
    FRONTIER_Q8_STEP(0, 0);
    FRONTIER_Q8_STEP(1, 0);
    FRONTIER_Q8_STEP(0, 1);
    FRONTIER_Q8_STEP(1, 1);
    FRONTIER_Q8_STEP(0, 2);
    FRONTIER_Q8_STEP(1, 2);
    FRONTIER_Q8_STEP(0, 3);
    FRONTIER_Q8_STEP(1, 3);
  }
  FRONTIER_Q8_STORE(0, 0);
  FRONTIER_Q8_STORE(0, 1);
  FRONTIER_Q8_STORE(0, 2);
  FRONTIER_Q8_STORE(0, 3);
  FRONTIER_Q8_STORE(1, 0);
  FRONTIER_Q8_STORE(1, 1);
  FRONTIER_Q8_STORE(1, 2);
  FRONTIER_Q8_STORE(1, 3);
}

/// One row of x against one weight row.
FRONTIER_Q8_FN void FRONTIER_Q8_SUFFIX(frontier_q8_tile1x1)(
    const int64_t group, const int64_t k, const int8_t *x0, const float *xs0, const int8_t *w0, const float *ws0,
    float *y, const int64_t ldy, const int accumulate) {
  const int64_t blocks = k / group;
  __m256 acc00 = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t base = b * group;
    const __m256 sx0 = _mm256_broadcast_ss(xs0 + b);
    FRONTIER_Q8_STEP(0, 0);
  }
  FRONTIER_Q8_STORE(0, 0);
}

#undef FRONTIER_Q8_STEP
#undef FRONTIER_Q8_STORE

/// Output columns lo ..< hi of y [m, n] = x [m, k] · wᵀ (w [n, k]) with a constant-foldable group: each tile
/// of four weight rows is read from memory once and meets the rows of x two at a time (from L1 after the first).
FRONTIER_Q8_FN void FRONTIER_Q8_SUFFIX(frontier_q8_columns_group)(
    const int64_t m, const int64_t k, const int64_t group, const int8_t *x, const float *xs, const int8_t *w,
    const float *ws, const int64_t lo, const int64_t hi, float *y, const int64_t ldy, const int accumulate) {
  const int64_t blocks = k / group;
  int64_t j = lo;
  for (; j + 4 <= hi; j += 4) {
    int64_t i = 0;
    for (; i + 2 <= m; i += 2)
      FRONTIER_Q8_SUFFIX(frontier_q8_tile2x4)(
          group, k, x + i * k, xs + i * blocks, w + j * k, ws + j * blocks, y + i * ldy + j, ldy, accumulate);
    if (i < m)
      FRONTIER_Q8_SUFFIX(frontier_q8_tile1x4)(
          group, k, x + i * k, xs + i * blocks, w + j * k, ws + j * blocks, y + i * ldy + j, ldy, accumulate);
  }
  for (; j < hi; j++)
    for (int64_t i = 0; i < m; i++)
      FRONTIER_Q8_SUFFIX(frontier_q8_tile1x1)(
          group, k, x + i * k, xs + i * blocks, w + j * k, ws + j * blocks, y + i * ldy + j, ldy, accumulate);
}

/// Output columns lo ..< hi of y [m, n] = x [m, k] · wᵀ for q8_0 x and w (see the layouts above); added to y
/// when accumulate is set. Groups of 32 and 64 get their own compiled copies.
static inline __attribute__((target(FRONTIER_Q8_TARGET))) void FRONTIER_Q8_SUFFIX(frontier_q8_columns)(
    const int64_t m, const int64_t k, const int64_t group, const int8_t *x, const float *xs, const int8_t *w,
    const float *ws, const int64_t lo, const int64_t hi, float *y, const int64_t ldy, const int accumulate) {
  if (group == 32) {
    FRONTIER_Q8_SUFFIX(frontier_q8_columns_group)(m, k, 32, x, xs, w, ws, lo, hi, y, ldy, accumulate);
  } else if (group == 64) {
    FRONTIER_Q8_SUFFIX(frontier_q8_columns_group)(m, k, 64, x, xs, w, ws, lo, hi, y, ldy, accumulate);
  } else {
    FRONTIER_Q8_SUFFIX(frontier_q8_columns_group)(m, k, group, x, xs, w, ws, lo, hi, y, ldy, accumulate);
  }
}

#undef FRONTIER_Q8_FN
