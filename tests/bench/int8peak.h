/*
 * int8peak.h - the machine's int8 peak: multiply-adds per second of 8-bit
 * dot-product instructions with nothing else in the way (no loads, and
 * enough independent chains to hide their latency), on the pool's threads.
 *
 * The instructions are the ones the prompt kernels are built on:
 * vpdpbusd (AVX-512 VNNI; 64 multiply-adds on 512-bit vectors, 32 on
 * 256-bit ones), else vpmaddubsw + vpmaddwd + vpaddd (AVX2; 32 per
 * three).  The loops are in assembly so that the compiler can neither
 * drop nor merge them; the CPU's features (base/cpu.h) choose the ones
 * that can run.  Included by bench_kernels (header-only, as membw.h).
 */
#ifndef L32_INT8PEAK_H
#define L32_INT8PEAK_H

#include <stddef.h>
#include <string.h>
#include <time.h>

#include "base/cpu.h"
#include "base/pool.h"

/* One instruction loop: iters iterations of macs multiply-adds. */
struct int8peak_loop {
	const char *name; /* what the loop runs */
	int bits;         /* vector width */
	unsigned needs;   /* l32_cpu_features bits */
	int vnni;         /* 1: vpdpbusd; 0: the AVX2 sequence it replaces */
	long macs;        /* multiply-adds per iteration */
	void (*run)(long iters);
};

/* 12 chains of vpdpbusd: latency 5 cycles, up to 2 issued per cycle. */
#define INT8PEAK_DP(r) "vpdpbusd %%" r "1, %%" r "0, %%" r
#define INT8PEAK_DP12(r)						\
	INT8PEAK_DP(r) "2\n\t" INT8PEAK_DP(r) "3\n\t" INT8PEAK_DP(r) "4\n\t"	\
	INT8PEAK_DP(r) "5\n\t" INT8PEAK_DP(r) "6\n\t" INT8PEAK_DP(r) "7\n\t"	\
	INT8PEAK_DP(r) "8\n\t" INT8PEAK_DP(r) "9\n\t" INT8PEAK_DP(r) "10\n\t"	\
	INT8PEAK_DP(r) "11\n\t" INT8PEAK_DP(r) "12\n\t" INT8PEAK_DP(r) "13\n\t"
#define INT8PEAK_CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6",	\
	"xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "cc"

static void
int8peak_vnni512(long iters)
{
	__asm__ volatile(
	    "vpxord %%zmm0, %%zmm0, %%zmm0\n\t"
	    "vpxord %%zmm1, %%zmm1, %%zmm1\n\t"
	    "1:\n\t"
	    INT8PEAK_DP12("zmm")
	    "dec %0\n\t"
	    "jnz 1b\n\t"
	    "vzeroupper\n\t"
	    : "+r"(iters) : : INT8PEAK_CLOBBERS);
}

static void
int8peak_vnni256(long iters)
{
	__asm__ volatile(
	    "vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
	    "vpxor %%ymm1, %%ymm1, %%ymm1\n\t"
	    "1:\n\t"
	    INT8PEAK_DP12("ymm")
	    "dec %0\n\t"
	    "jnz 1b\n\t"
	    "vzeroupper\n\t"
	    : "+r"(iters) : : INT8PEAK_CLOBBERS);
}

/* 6 chains of unsigned x signed bytes to pairs (vpmaddubsw), pairs to
 * 32-bit sums (vpmaddwd by ones), into the chain's sum (vpaddd): the
 * AVX2 kernels' dot product of 32 bytes. */
#define INT8PEAK_MADD(t, a)						\
	"vpmaddubsw %%ymm1, %%ymm0, %%ymm" t "\n\t"			\
	"vpmaddwd %%ymm15, %%ymm" t ", %%ymm" t "\n\t"			\
	"vpaddd %%ymm" t ", %%ymm" a ", %%ymm" a "\n\t"

static void
int8peak_avx2(long iters)
{
	__asm__ volatile(
	    "vpxor %%ymm0, %%ymm0, %%ymm0\n\t"
	    "vpxor %%ymm1, %%ymm1, %%ymm1\n\t"
	    "vpcmpeqw %%ymm15, %%ymm15, %%ymm15\n\t"
	    "vpsrlw $15, %%ymm15, %%ymm15\n\t"
	    "1:\n\t"
	    INT8PEAK_MADD("2", "8") INT8PEAK_MADD("3", "9") INT8PEAK_MADD("4", "10")
	    INT8PEAK_MADD("5", "11") INT8PEAK_MADD("6", "12") INT8PEAK_MADD("7", "13")
	    "dec %0\n\t"
	    "jnz 1b\n\t"
	    "vzeroupper\n\t"
	    : "+r"(iters) : : INT8PEAK_CLOBBERS);
}

/* The loops, the widest first. */
static const struct int8peak_loop int8peak_loops[] = {
	{ "vpdpbusd", 512, L32_CPU_AVX512F | L32_CPU_AVX512VNNI, 1, 12 * 64, int8peak_vnni512 },
	{ "vpdpbusd", 256, L32_CPU_AVX512F | L32_CPU_AVX512VL | L32_CPU_AVX512VNNI, 1, 12 * 32,
	    int8peak_vnni256 },
	{ "vpmaddubsw+vpmaddwd", 256, L32_CPU_AVX2, 0, 6 * 32, int8peak_avx2 },
};

/* 1 when a loop is one to measure on this CPU: the vpdpbusd ones where it
 * has VNNI, else the AVX2 one. */
static int
int8peak_wanted(const struct int8peak_loop *l)
{
	unsigned f = l32_cpu_features();

	if ((f & l->needs) != l->needs)
		return 0;
	return l->vnni || (f & L32_CPU_AVX512VNNI) == 0;
}

struct int8peak_job {
	const struct int8peak_loop *loop;
	long iters;
	int threads[64]; /* 1 for each thread that ran */
};

static void
int8peak_share(void *arg, int ith, int nth)
{
	struct int8peak_job *j = arg;

	(void)nth;
	j->loop->run(j->iters);
	j->threads[ith % 64] = 1;
}

static double
int8peak_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* GMAC/s of a loop on every thread of the pool: the best of 5 runs of at
 * least 50 ms each (after one to reach the vector units' clock), counting
 * the threads that took part (a pool whose workers lost their cores runs
 * the job on one). */
static double
int8peak_gmacs(struct l32_pool *pool, const struct int8peak_loop *l)
{
	struct int8peak_job j = { l, 1 << 16, { 0 } };
	double best = 0;

	for (;;) {
		double t0 = int8peak_now(), t;

		l->run(j.iters);
		t = int8peak_now() - t0;
		if (t >= 0.05)
			break;
		j.iters *= t > 0.005 ? (long)(0.06 / t) + 1 : 16;
	}
	for (int rep = 0; rep < 5; rep++) {
		double t0 = int8peak_now(), t;
		int n = 0;

		memset(j.threads, 0, sizeof(j.threads));
		l32_pool_run(pool, int8peak_share, &j);
		t = int8peak_now() - t0;
		for (int i = 0; i < 64; i++)
			n += j.threads[i];
		t = (double)l->macs * (double)j.iters * n / t / 1e9;
		best = t > best ? t : best;
	}
	return best;
}

#endif
