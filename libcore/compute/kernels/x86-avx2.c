/*
 * x86-avx2.c - the primitives of the AVX2 + FMA + F16C path for the x86
 * template (x86_drivers.inc): 8-bit products through vpmaddubsw (pairs to
 * int16) and vpmaddwd (to int32).  Run only on CPUs that have these
 * (base/cpu.c).
 */
#include "compute/kernels/kernels.h"

#if defined(__x86_64__) || defined(L32_KERNELS_EMULATED)
#define KS_DOT_ACC(acc, u, s) _mm256_add_epi32((acc), \
	_mm256_madd_epi16(_mm256_maddubs_epi16((u), (s)), _mm256_set1_epi16(1)))
#ifdef L32_KERNELS_EMULATED
#define KS_TABLE l32_kernels_avx2_emulated
#else
#define KS_TABLE l32_kernels_avx2
#endif
#include "compute/kernels/x86_drivers.inc"
#endif
