/*
 * kernels-avx512.c - the x86 kernels (kernels_simd.h) for CPUs with
 * AVX-512 F/BW/VL/DQ and VNNI: 8-bit products in one vpdpbusd, and the
 * 32 vector registers of AVX-512VL for the tiles.  Called only on CPUs that
 * have these (cpu.c).
 */
#include "compute/kernels/kernels.h"

#if defined(__x86_64__)
#define KS_DOT_ACC(acc, u, s) _mm256_dpbusd_epi32((acc), (u), (s))
#define KS_TABLE l32_kernels_avx512vl_vnni
#include "compute/kernels/x86_drivers.inc"
#endif
