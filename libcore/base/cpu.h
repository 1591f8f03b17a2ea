/*
 * cpu.h - what the CPU can run: instruction set extensions from CPUID,
 * checked against the register state the OS saves (XGETBV), and the kernel
 * path (ISA) chosen from them or forced through L32_ISA.
 */
#ifndef L32_CPU_H
#define L32_CPU_H

#include <stddef.h>

struct l32_err;

/* Feature bits of l32_cpu_features. */
enum {
	L32_CPU_AVX2 = 1 << 0,
	L32_CPU_FMA = 1 << 1,
	L32_CPU_F16C = 1 << 2,
	L32_CPU_AVX512F = 1 << 3,
	L32_CPU_AVX512BW = 1 << 4,
	L32_CPU_AVX512VL = 1 << 5,
	L32_CPU_AVX512DQ = 1 << 6,
	L32_CPU_AVX512VNNI = 1 << 7,
	L32_CPU_AVX512BF16 = 1 << 8,
};

/* Kernel paths, from the most portable to the most demanding. */
enum l32_isa {
	L32_ISA_PORTABLE = 0, /* plain C */
	L32_ISA_AVX2,         /* AVX2 + FMA + F16C */
	/* the AVX2 kernels on 256-bit vectors with AVX-512VL's 32 registers
	 * and VNNI's vpdpbusd: the above + AVX-512 F/BW/VL/DQ + VNNI */
	L32_ISA_AVX512VL_VNNI,
	L32_ISA_COUNT,
};

/* The features of this CPU that the OS also enables (detected once). */
unsigned l32_cpu_features(void);
/* Whether the CPU is Intel's (CPUID's vendor string). */
int l32_cpu_is_intel(void);
/* Writes the names of the bits of features ("avx2 fma f16c") to buf. */
void l32_cpu_feature_names(unsigned features, char *buf, size_t len);

/* "portable", "avx2", "avx512vl-vnni". */
const char *l32_isa_name(enum l32_isa isa);
/* Features an ISA needs. */
unsigned l32_isa_needs(enum l32_isa isa);
/* 1 when this CPU can run the kernels of isa. */
int l32_isa_supported(enum l32_isa isa);
/* The most capable ISA this CPU runs. */
enum l32_isa l32_isa_best(void);

/* The ISA to use: the one named by want ("portable", "avx2",
 * "avx512vl-vnni", or "avx512", the name it had before, for it; NULL, ""
 * or "auto" for the best), which this CPU must run.  Names the
 * missing features when it cannot.  L32_ISA is the usual source of want. */
int l32_isa_select(const char *want, enum l32_isa *isa, struct l32_err *err);

#endif
