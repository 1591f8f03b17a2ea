/*
 * cpu.c - instruction set detection.  CPUID says what the processor
 * implements; XGETBV says which register files the OS saves on a context
 * switch.  A feature counts only when both agree: an AVX-512 CPU under an
 * OS (or hypervisor) that does not save the ZMM state must not run
 * AVX-512 code.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define L32_X86 1
#endif

#include "base/cpu.h"
#include "base/l32_base.h"

static const char *const feature_names[] = {
	"avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq",
	"avx512vnni", "avx512bf16",
};

static const char *const isa_names[L32_ISA_COUNT] = {
	[L32_ISA_PORTABLE] = "portable",
	[L32_ISA_AVX2] = "avx2",
	[L32_ISA_AVX512VL_VNNI] = "avx512vl-vnni",
};

static unsigned detected;
static pthread_once_t detect_once = PTHREAD_ONCE_INIT;

#ifdef L32_X86
/* XCR0: the state components the OS saves.  xgetbv is spelled out so the
 * file needs no -mxsave. */
static uint64_t
xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return (uint64_t)hi << 32 | lo;
}

static unsigned
detect_x86(void)
{
	unsigned a, b, c, d, f = 0;
	uint64_t xcr;
	int ymm_os, zmm_os;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return 0;
	/* OSXSAVE (bit 27) makes XGETBV usable; without it no AVX state */
	if (!(c & (1u << 27)) || !(c & (1u << 28)))
		return 0;
	xcr = xcr0();
	ymm_os = (xcr & 0x6) == 0x6;        /* SSE and AVX state */
	zmm_os = (xcr & 0xe6) == 0xe6;      /* + opmask, ZMM_Hi256, Hi16_ZMM */
	if (!ymm_os)
		return 0;
	if (c & (1u << 12))
		f |= L32_CPU_FMA;
	if (c & (1u << 29))
		f |= L32_CPU_F16C;
	if (__get_cpuid_max(0, NULL) < 7)
		return f;
	__cpuid_count(7, 0, a, b, c, d);
	if (b & (1u << 5))
		f |= L32_CPU_AVX2;
	if (zmm_os) {
		if (b & (1u << 16))
			f |= L32_CPU_AVX512F;
		if (b & (1u << 17))
			f |= L32_CPU_AVX512DQ;
		if (b & (1u << 30))
			f |= L32_CPU_AVX512BW;
		if (b & (1u << 31))
			f |= L32_CPU_AVX512VL;
		if (c & (1u << 11))
			f |= L32_CPU_AVX512VNNI;
		/* leaf 7 sub-leaf 1 exists when sub-leaf 0 reports it in eax */
		if (a >= 1) {
			unsigned a1, b1, c1, d1;

			__cpuid_count(7, 1, a1, b1, c1, d1);
			if (a1 & (1u << 5))
				f |= L32_CPU_AVX512BF16;
		}
	}
	return f;
}
#endif

static void
detect(void)
{
#ifdef L32_X86
	detected = detect_x86();
#else
	detected = 0;
#endif
}

unsigned
l32_cpu_features(void)
{
	pthread_once(&detect_once, detect);
	return detected;
}

int
l32_cpu_is_intel(void)
{
#ifdef L32_X86
	unsigned a, b, c, d;

	/* the vendor string "GenuineIntel" in ebx, edx, ecx */
	return __get_cpuid(0, &a, &b, &c, &d) && b == 0x756e6547u && d == 0x49656e69u &&
	    c == 0x6c65746eu;
#else
	return 0;
#endif
}

void
l32_cpu_feature_names(unsigned features, char *buf, size_t len)
{
	size_t n = sizeof(feature_names) / sizeof(feature_names[0]);

	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (!(features & (1u << i)))
			continue;
		if (buf[0] != '\0')
			strlcat(buf, " ", len);
		strlcat(buf, feature_names[i], len);
	}
	if (buf[0] == '\0')
		strlcpy(buf, "none", len);
}

const char *
l32_isa_name(enum l32_isa isa)
{
	if ((int)isa < 0 || isa >= L32_ISA_COUNT)
		return "unknown";
	return isa_names[isa];
}

unsigned
l32_isa_needs(enum l32_isa isa)
{
	unsigned avx2 = L32_CPU_AVX2 | L32_CPU_FMA | L32_CPU_F16C;

	switch (isa) {
	case L32_ISA_PORTABLE:
		return 0;
	case L32_ISA_AVX2:
		return avx2;
	case L32_ISA_AVX512VL_VNNI:
		/* BF16 is not needed: the decode kernels widen bf16 exactly */
		return avx2 | L32_CPU_AVX512F | L32_CPU_AVX512BW |
		    L32_CPU_AVX512VL | L32_CPU_AVX512DQ | L32_CPU_AVX512VNNI;
	default:
		return ~0u;
	}
}

int
l32_isa_supported(enum l32_isa isa)
{
	unsigned need = l32_isa_needs(isa);

	return (l32_cpu_features() & need) == need;
}

enum l32_isa
l32_isa_best(void)
{
	for (int i = L32_ISA_COUNT - 1; i > 0; i--)
		if (l32_isa_supported((enum l32_isa)i))
			return (enum l32_isa)i;
	return L32_ISA_PORTABLE;
}

int
l32_isa_select(const char *want, enum l32_isa *isa, struct l32_err *err)
{
	char missing[160], have[160];
	int i;

	if (want == NULL || *want == '\0' || strcmp(want, "auto") == 0) {
		*isa = l32_isa_best();
		return 0;
	}
	/* "avx512" named the VNNI path when it was the only AVX-512 one */
	if (strcmp(want, "avx512") == 0)
		want = isa_names[L32_ISA_AVX512VL_VNNI];
	for (i = 0; i < L32_ISA_COUNT; i++)
		if (strcmp(want, isa_names[i]) == 0)
			break;
	if (i == L32_ISA_COUNT)
		return l32_err_set(err, L32_ERR_INVALID,
		    "L32_ISA=%s: not one of auto, portable, avx2, avx512vl-vnni", want);
	if (!l32_isa_supported((enum l32_isa)i)) {
		l32_cpu_feature_names(l32_isa_needs((enum l32_isa)i) &
		    ~l32_cpu_features(), missing, sizeof(missing));
		l32_cpu_feature_names(l32_cpu_features(), have, sizeof(have));
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "L32_ISA=%s: this CPU (or its OS) lacks %s (it has: %s); "
		    "use %s or portable", want, missing, have,
		    l32_isa_name(l32_isa_best()));
	}
	*isa = (enum l32_isa)i;
	return 0;
}
