#pragma once
// Integer kernels of the q8_0 matrix-vector product (see Kernels/Gemv+Q8.swift): int8 weights against int8
// activations, one float scale per block of `group` values on each side.
//
// x86-64 only. Each instruction-set level is compiled with a function-level target attribute (q8_kernel.h,
// included once per level) and chosen at run time by frontier_q8_level(), so the binary still runs on a
// CPU without the newer extensions. Elsewhere frontier_q8_level() reports FRONTIER_Q8_PORTABLE and Swift
// runs its portable loops.

#include <stddef.h>
#include <stdint.h>

/// No kernel here: use the portable Swift loops.
#define FRONTIER_Q8_PORTABLE 0
/// AVX2 + FMA: sign trick, vpmaddubsw + vpmaddwd.
#define FRONTIER_Q8_AVX2 1
/// AVX-512 VNNI (256-bit form, needs AVX-512VL): sign trick, vpdpbusd.
#define FRONTIER_Q8_VNNI 2

/// The best level this CPU (and OS) supports.
static inline int frontier_q8_level(void) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")) return FRONTIER_Q8_VNNI;
    return FRONTIER_Q8_AVX2;
  }
#endif
  return FRONTIER_Q8_PORTABLE;
}

#if defined(__x86_64__)
#include <immintrin.h>

// AVX2: |x| (unsigned) times sign(w, x) (signed) in pairs to int16 (no saturation: 2 * 127 * 127 < 2^15),
// then pairs of int16 to int32.
#define FRONTIER_Q8_SUFFIX(name) name##_avx2
#define FRONTIER_Q8_TARGET "avx2,fma"
#define FRONTIER_Q8_DOT256(sum, ax, sw) \
  _mm256_add_epi32(sum, _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sw), _mm256_set1_epi16(1)))
#define FRONTIER_Q8_DOT128(ax, sw) _mm_madd_epi16(_mm_maddubs_epi16(ax, sw), _mm_set1_epi16(1))
#include "q8_kernel.h"
#undef FRONTIER_Q8_SUFFIX
#undef FRONTIER_Q8_TARGET
#undef FRONTIER_Q8_DOT256
#undef FRONTIER_Q8_DOT128

// AVX-512 VNNI on 256-bit vectors: one vpdpbusd adds the four products of each int32 lane.
#define FRONTIER_Q8_SUFFIX(name) name##_vnni
#define FRONTIER_Q8_TARGET "avx2,fma,avx512f,avx512vl,avx512vnni"
#define FRONTIER_Q8_DOT256(sum, ax, sw) _mm256_dpbusd_epi32(sum, ax, sw)
#define FRONTIER_Q8_DOT128(ax, sw) _mm_dpbusd_epi32(_mm_setzero_si128(), ax, sw)
#include "q8_kernel.h"
#undef FRONTIER_Q8_SUFFIX
#undef FRONTIER_Q8_TARGET
#undef FRONTIER_Q8_DOT256
#undef FRONTIER_Q8_DOT128

#endif
