/*
 * kernels-avx2.c - the x86 kernels (kernels_simd.h) for AVX2 + FMA + F16C:
 * 8-bit products through vpmaddubsw (pairs to int16) and vpmaddwd (to
 * int32).  Called only on CPUs that have these (cpu.c).
 */
#include "compute/kernels/kernels.h"

#if defined(__x86_64__)
#define KS_DOT_ACC(acc, u, s) _mm256_add_epi32((acc), \
	_mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#define KS_TABLE l32_kernels_avx2
#include "compute/kernels/x86_drivers.inc"
#endif
