/*
 * x86-avx512vl-vnni.c - the primitives of the AVX-512VL + VNNI path for
 * the x86 template (x86_drivers.inc): the same 256-bit kernels as AVX2,
 * with the 8-bit products in one vpdpbusd and the 32 vector registers of
 * AVX-512VL for the tiles, and the 512-bit tiles KS_VNNI selects
 * (x86_drivers.inc).  Run only on CPUs that have AVX-512 F/BW/VL/DQ
 * and VNNI (base/cpu.c).
 */
#include "compute/kernels/kernels.h"

#if defined(__x86_64__) || defined(L32_KERNELS_EMULATED)
#define KS_DOT_ACC(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
/* the R-row prompt tiles (x86_drivers.inc) */
#define KS_VNNI 1
#ifdef L32_KERNELS_EMULATED
#define KS_TABLE l32_kernels_avx512vl_vnni_emulated
#else
#define KS_TABLE l32_kernels_avx512vl_vnni
#endif
#include "compute/kernels/x86_drivers.inc"
#endif
