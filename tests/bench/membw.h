/*
 * membw.h - the machine's read bandwidth, measured the way decode reads
 * weights: each thread streams its share of a buffer far larger than the
 * caches, as 4 prefetched streams of 256-bit loads where the CPU has them.  Included by the
 * benchmarks (header-only, so it is not built as a program of its own).
 */
#ifndef L32_MEMBW_H
#define L32_MEMBW_H

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cpu.h"
#include "base/pool.h"

struct membw_job {
	const uint64_t *buf;
	size_t words;
	int avx2;
	uint64_t sink[64];
};

static double
membw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The share as 4 interleaved streams (its quarters), each prefetched
 * 512 bytes ahead: the way the decode kernels read weights. */
__attribute__((target("avx2"))) static uint64_t
membw_sum_avx2(const uint64_t *p, size_t n)
{
	__m256i s[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(),
	    _mm256_setzero_si256(), _mm256_setzero_si256() };
	size_t q = n / 4 / 8 * 8;
	uint64_t out[4];

	for (size_t i = 0; i < q; i += 8)
		for (int k = 0; k < 4; k++) {
			const uint64_t *r = p + (size_t)k * q + i;

			_mm_prefetch((const char *)r + 512, _MM_HINT_T0);
			s[k] = _mm256_add_epi64(s[k], _mm256_add_epi64(
			    _mm256_load_si256((const __m256i *)r),
			    _mm256_load_si256((const __m256i *)(r + 4))));
		}
	s[0] = _mm256_add_epi64(_mm256_add_epi64(s[0], s[1]), _mm256_add_epi64(s[2], s[3]));
	_mm256_storeu_si256((__m256i *)out, s[0]);
	return out[0] + out[1] + out[2] + out[3];
}

static uint64_t
membw_sum(const uint64_t *p, size_t n)
{
	uint64_t s[8] = { 0 };

	for (size_t i = 0; i + 8 <= n; i += 8)
		for (int k = 0; k < 8; k++)
			s[k] += p[i + k];
	return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

static void
membw_run(void *arg, int ith, int nth)
{
	struct membw_job *j = arg;
	/* shares on 64-byte boundaries */
	size_t a = j->words / 8 * (size_t)ith / (size_t)nth * 8;
	size_t b = j->words / 8 * (size_t)(ith + 1) / (size_t)nth * 8;

	j->sink[ith] = j->avx2 ? membw_sum_avx2(j->buf + a, b - a) :
	    membw_sum(j->buf + a, b - a);
}

/* GB/s (1e9 bytes) of the best of several full reads of bytes on the
 * pool's threads; 0 when the buffer cannot be had. */
static double
membw_read(struct l32_pool *pool, size_t bytes)
{
	struct membw_job j;
	double best = 0;

	memset(&j, 0, sizeof(j));
	j.buf = aligned_alloc(64, bytes);
	if (j.buf == NULL)
		return 0;
	memset((void *)j.buf, 1, bytes);
	j.words = bytes / 8;
	j.avx2 = (l32_cpu_features() & L32_CPU_AVX2) != 0;
	l32_pool_run(pool, membw_run, &j);
	for (int rep = 0; rep < 6; rep++) {
		double t0 = membw_now(), gbs;

		l32_pool_run(pool, membw_run, &j);
		gbs = (double)bytes / (membw_now() - t0) / 1e9;
		best = gbs > best ? gbs : best;
	}
	free((void *)j.buf);
	return best;
}

#endif
