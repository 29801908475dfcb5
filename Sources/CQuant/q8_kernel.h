// One instruction-set level of the q8_0 kernels; included by quant.h with FRONTIER_Q8_SUFFIX,
// FRONTIER_Q8_TARGET, FRONTIER_Q8_DOT256(sum, ax, sw) and FRONTIER_Q8_DOT128(ax, sw) defined.
//
// Layouts: x holds m rows of k int8 values (row stride k) with k / group scales per row (stride k / group);
// w holds the weight rows the same way. Values lie in [-127, 127]: the sign trick below relies on it
// (|-128| does not fit in int8).

/// The sum of the eight lanes.
static inline __attribute__((always_inline, target(FRONTIER_Q8_TARGET))) float FRONTIER_Q8_SUFFIX(frontier_q8_sum)(
    __m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/// rows (1 or 2) rows of x against cols (1 to 4) weight rows; y[r * ldy + c] = Σ_b (x_r · w_c over block b) *
/// (xs[r][b] * ws[c][b]), added to y when accumulate is set. Always inlined with constant rows, cols and
/// (where it is 32 or 64) group, so that the loops unroll and the accumulators stay in registers.
static inline __attribute__((always_inline, target(FRONTIER_Q8_TARGET))) void FRONTIER_Q8_SUFFIX(frontier_q8_tile)(
    const int rows, const int cols, const int64_t group, const int64_t k, const int8_t *x, const float *xs,
    const int8_t *w, const float *ws, float *y, const int64_t ldy, const int accumulate) {
  const int64_t blocks = k / group;
  __m256 acc[2][4];
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) acc[r][c] = _mm256_setzero_ps();
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t base = b * group;
    __m256i sum[2][4];
    for (int r = 0; r < rows; r++)
      for (int c = 0; c < cols; c++) sum[r][c] = _mm256_setzero_si256();
    int64_t p = 0;
    for (; p + 32 <= group; p += 32) {
      __m256i wv[4];
      for (int c = 0; c < cols; c++) wv[c] = _mm256_loadu_si256((const __m256i *)(w + c * k + base + p));
      for (int r = 0; r < rows; r++) {
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + r * k + base + p));
        const __m256i ax = _mm256_sign_epi8(xv, xv);
        for (int c = 0; c < cols; c++) sum[r][c] = FRONTIER_Q8_DOT256(sum[r][c], ax, _mm256_sign_epi8(wv[c], xv));
      }
    }
    if (p + 16 <= group) {
      for (int r = 0; r < rows; r++) {
        const __m128i xv = _mm_loadu_si128((const __m128i *)(x + r * k + base + p));
        const __m128i ax = _mm_sign_epi8(xv, xv);
        for (int c = 0; c < cols; c++) {
          const __m128i wv = _mm_loadu_si128((const __m128i *)(w + c * k + base + p));
          const __m128i d = FRONTIER_Q8_DOT128(ax, _mm_sign_epi8(wv, xv));
          sum[r][c] = _mm256_add_epi32(sum[r][c], _mm256_zextsi128_si256(d));
        }
      }
      p += 16;
    }
    if (p < group) {
      for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
          int32_t t = 0;
          for (int64_t q = p; q < group; q++) t += (int32_t)x[r * k + base + q] * (int32_t)w[c * k + base + q];
          sum[r][c] = _mm256_add_epi32(sum[r][c], _mm256_zextsi128_si256(_mm_cvtsi32_si128(t)));
        }
    }
    for (int r = 0; r < rows; r++) {
      const float sx = xs[r * blocks + b];
      for (int c = 0; c < cols; c++) {
        const __m256 d = _mm256_set1_ps(ws[c * blocks + b] * sx);
        acc[r][c] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[r][c]), d, acc[r][c]);
      }
    }
  }
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) {
      const float s = FRONTIER_Q8_SUFFIX(frontier_q8_sum)(acc[r][c]);
      float *out = y + r * ldy + c;
      *out = accumulate ? *out + s : s;
    }
}

/// frontier_q8_tile with the group size made a constant where it is 32 or 64.
static inline __attribute__((always_inline, target(FRONTIER_Q8_TARGET))) void FRONTIER_Q8_SUFFIX(frontier_q8_group)(
    const int rows, const int cols, const int64_t group, const int64_t k, const int8_t *x, const float *xs,
    const int8_t *w, const float *ws, float *y, const int64_t ldy, const int accumulate) {
  if (group == 32) {
    FRONTIER_Q8_SUFFIX(frontier_q8_tile)(rows, cols, 32, k, x, xs, w, ws, y, ldy, accumulate);
  } else if (group == 64) {
    FRONTIER_Q8_SUFFIX(frontier_q8_tile)(rows, cols, 64, k, x, xs, w, ws, y, ldy, accumulate);
  } else {
    FRONTIER_Q8_SUFFIX(frontier_q8_tile)(rows, cols, group, k, x, xs, w, ws, y, ldy, accumulate);
  }
}

/// Output columns lo ..< hi of y [m, n] = x [m, k] · wᵀ (w [n, k]): each tile of four weight rows is read
/// from memory once and meets the rows of x two at a time.
static inline __attribute__((target(FRONTIER_Q8_TARGET))) void FRONTIER_Q8_SUFFIX(frontier_q8_columns)(
    const int64_t m, const int64_t k, const int64_t group, const int8_t *x, const float *xs, const int8_t *w,
    const float *ws, const int64_t lo, const int64_t hi, float *y, const int64_t ldy, const int accumulate) {
  const int64_t blocks = k / group;
  int64_t j = lo;
  for (; j + 4 <= hi; j += 4) {
    const int8_t *wj = w + j * k;
    const float *sj = ws + j * blocks;
    int64_t i = 0;
    for (; i + 2 <= m; i += 2)
      FRONTIER_Q8_SUFFIX(frontier_q8_group)(
          2, 4, group, k, x + i * k, xs + i * blocks, wj, sj, y + i * ldy + j, ldy, accumulate);
    if (i < m)
      FRONTIER_Q8_SUFFIX(frontier_q8_group)(
          1, 4, group, k, x + i * k, xs + i * blocks, wj, sj, y + i * ldy + j, ldy, accumulate);
  }
  for (; j < hi; j++) {
    int64_t i = 0;
    for (; i + 2 <= m; i += 2)
      FRONTIER_Q8_SUFFIX(frontier_q8_group)(
          2, 1, group, k, x + i * k, xs + i * blocks, w + j * k, ws + j * blocks, y + i * ldy + j, ldy, accumulate);
    if (i < m)
      FRONTIER_Q8_SUFFIX(frontier_q8_group)(
          1, 1, group, k, x + i * k, xs + i * blocks, w + j * k, ws + j * blocks, y + i * ldy + j, ldy, accumulate);
  }
}
