/*
 * bench_kernels.c - how close the kernels come to the machine's limits:
 * the decode kernels to memory speed, the prompt kernels to the int8 peak.
 *
 * Prints one line per figure:
 *   the machine's int8 peak (int8peak.h: independent 8-bit dot-product
 *     instructions, vpdpbusd on each vector width where the CPU has
 *     AVX-512 VNNI, else AVX2's vpmaddubsw + vpmaddwd), 1 and all threads;
 *   the machine's read bandwidth (a streaming read of a buffer far larger
 *     than the caches, 1 and 2 threads);
 *   for each weight type the bytes per second of a 2048 x 8192
 *     matrix-vector product (rows of 8192 values, as Llama 3.2 1B's FFN
 *     down projection) as a fraction of that bandwidth;
 *   for Q8_0, Q4_0, Q4_K and Q6_K the multiply-adds per second of the
 *     type's prompt kernel (the gemm entry of kernels.h, on 1 thread) on a
 *     2048 x 2048 matrix by 8, 32 and 128 tokens, as a fraction of the
 *     int8 peak on 1 thread (and of the 256-bit peak, the width the
 *     kernels use, when a wider one is faster).
 * The products cycle through enough copies of their matrix that every one
 * reads its weights from memory: at least twice the last-level cache.
 *
 * L32_ISA picks the kernel path (default: the best this CPU runs).
 * Usage: bench_kernels [MiB of weights per type, default 256 or twice
 * the last-level cache, whichever is more]
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cpu.h"
#include "compute/kernels/kernels.h"
#include "l32.h"
#include "prog/l32_prog.h"
#include "compute/matmul.h"
#include "int8peak.h"
#include "membw.h"
#include "base/pool.h"
#include "formats/quant.h"

#define ROWS 2048
#define COLS 8192
/* The prompt kernels' matrix (as Llama 3.2 1B's attention output). */
#define GEMM_DIM 2048
/* Seconds each figure runs for, at least (and 3 passes). */
#define RUN_SECONDS 0.3

static const enum l32_type types[] = {
	L32_TYPE_F32, L32_TYPE_F16, L32_TYPE_BF16, L32_TYPE_Q8_0, L32_TYPE_Q4_0,
	L32_TYPE_Q5_0, L32_TYPE_Q5_1, L32_TYPE_Q4_K, L32_TYPE_Q5_K, L32_TYPE_Q6_K,
};
/* The types of the prompt kernel figures, and their numbers of tokens. */
static const enum l32_type gemm_types[] = {
	L32_TYPE_Q8_0, L32_TYPE_Q4_0, L32_TYPE_Q4_K, L32_TYPE_Q6_K,
};
static const int gemm_tokens[] = { 8, 32, 128 };

static uint64_t rng = 12345;

static uint64_t
rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* -------------------------------------------------------------- matvec */

/* Fills a matrix with valid random blocks: scales small and positive,
 * quants random. */
static void
fill_matrix(enum l32_type type, uint8_t *m, size_t bytes)
{
	const struct l32_type_traits *tr = l32_type_traits(type);
	size_t bb = (size_t)tr->block_bytes;

	for (size_t i = 0; i < bytes; i++)
		m[i] = (uint8_t)rnd();
	/* f16 scales at their offsets; the plain types get small values */
	for (size_t off = 0; off + bb <= bytes; off += bb) {
		uint16_t h = l32_f32_to_f16(1e-3f), b16 = l32_f32_to_bf16(0.01f);
		float f = 0.01f;

		switch (type) {
		case L32_TYPE_F32: memcpy(m + off, &f, 4); break;
		case L32_TYPE_F16: memcpy(m + off, &h, 2); break;
		case L32_TYPE_BF16: memcpy(m + off, &b16, 2); break;
		case L32_TYPE_Q5_1:
		case L32_TYPE_Q4_K:
		case L32_TYPE_Q5_K:
			memcpy(m + off + 2, &h, 2);
			memcpy(m + off, &h, 2);
			break;
		case L32_TYPE_Q6_K: memcpy(m + off + 208, &h, 2); break;
		default: memcpy(m + off, &h, 2); break;
		}
	}
}

/* GB/s of weights read by matvecs (l32_matmul of one token, as decode
 * runs them: activations quantized, rows split over the pool) over copies
 * of one matrix: the best pass over all the copies, as the bandwidth is
 * the best of its reads. */
static double
matvec(struct l32_pool *pool, enum l32_type type, const uint8_t *buf,
    size_t mat_bytes, int copies, const float *x)
{
	struct l32_tensor w = { "w", type, COLS, ROWS, NULL, l32_type_row_bytes(type, COLS) };
	float *y = malloc(ROWS * sizeof(float));
	double start = membw_now(), best = 0;
	struct l32_err err;
	struct l32_mm mm;

	if (l32_mm_init(&mm, COLS, &err) < 0)
		errx(3, "%s", err.msg);
	mm.pool = pool;
	for (int pass = 0; pass < 3 || membw_now() - start < RUN_SECONDS; pass++) {
		double t0 = membw_now(), gbs;

		for (int c = 0; c < copies; c++) {
			w.data = buf + (size_t)c * mat_bytes;
			if (l32_matmul(&w, x, 1, y, &mm, &err) < 0)
				errx(3, "%s", err.msg);
		}
		gbs = (double)mat_bytes * copies / (membw_now() - t0) / 1e9;
		best = gbs > best ? gbs : best;
	}
	l32_mm_free(&mm);
	free(y);
	return best;
}

/* --------------------------------------------------------- int8 peak */

/* The int8 peak lines; returns the best GMAC/s on 1 thread, and in
 * *peak256 the best on 256-bit vectors. */
static double
peak_lines(struct l32_pool *one, struct l32_pool *all, double *peak256)
{
	double best = 0;

	*peak256 = 0;
	for (size_t i = 0; i < sizeof(int8peak_loops) / sizeof(int8peak_loops[0]); i++) {
		const struct int8peak_loop *l = &int8peak_loops[i];
		double g1, gn;

		if (!int8peak_wanted(l))
			continue;
		g1 = int8peak_gmacs(one, l);
		gn = int8peak_gmacs(all, l);
		printf("int8 peak, %s on %d-bit vectors: 1 thread %.1f GMAC/s, %d threads %.1f GMAC/s\n",
		    l->name, l->bits, g1, l32_pool_threads(all), gn);
		best = g1 > best ? g1 : best;
		if (l->bits == 256 && g1 > *peak256)
			*peak256 = g1;
	}
	if (best == 0)
		printf("int8 peak: no 8-bit dot-product instructions on this CPU (needs AVX2)\n");
	return best;
}

/* ------------------------------------------------------ prompt kernels */

/* n tokens of cols random values, quantized and put in groups of 8 for
 * the prompt kernels (as matmul.c does); NULL when memory runs out. */
static void *
token_groups(const struct l32_kernels *k, int64_t cols, int n)
{
	size_t xs = l32_xq_bytes(k->xq, cols), gb = l32_xq_group_bytes(k->xq, cols);
	float *x = malloc((size_t)cols * sizeof(float));
	char *xq = aligned_alloc(64, xs * (size_t)n);
	char *groups = aligned_alloc(64, gb * (size_t)((n + L32_GEMM_LANES - 1) / L32_GEMM_LANES));

	if (x == NULL || xq == NULL || groups == NULL) {
		free(x);
		free(xq);
		free(groups);
		return NULL;
	}
	for (int t = 0; t < n; t++) {
		for (int64_t i = 0; i < cols; i++)
			x[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
		k->quantize(x, cols, xq + (size_t)t * xs);
	}
	for (int t = 0; t < n; t += L32_GEMM_LANES)
		l32_xq_group(k->xq, xq, xs, cols, t, n - t < L32_GEMM_LANES ? n - t : L32_GEMM_LANES,
		    groups + (size_t)(t / L32_GEMM_LANES) * gb);
	free(x);
	free(xq);
	return groups;
}

/* GMAC/s of a type's prompt kernel on this thread: n tokens by every row
 * of each copy of a matrix in turn, the best pass over all of them. */
static double
gemm_rate(const struct l32_kernels *k, enum l32_type type, const uint8_t *buf,
    size_t mat_bytes, int copies, int n)
{
	struct l32_tensor w = { "w", type, GEMM_DIM, GEMM_DIM, NULL,
	    l32_type_row_bytes(type, GEMM_DIM) };
	float *y = malloc((size_t)n * GEMM_DIM * sizeof(float));
	void *groups = token_groups(k, GEMM_DIM, n);
	double start = membw_now(), best = 0;

	if (y == NULL || groups == NULL)
		errx(3, "out of memory");
	for (int pass = 0; pass < 2 || membw_now() - start < RUN_SECONDS; pass++) {
		double t0 = membw_now(), g;

		for (int c = 0; c < copies; c++) {
			w.data = buf + (size_t)c * mat_bytes;
			k->gemm(&w, 0, GEMM_DIM, groups, n, y, GEMM_DIM);
		}
		g = (double)GEMM_DIM * GEMM_DIM * n * copies / (membw_now() - t0) / 1e9;
		best = g > best ? g : best;
	}
	free(groups);
	free(y);
	return best;
}

/* Copies of one random matrix of a type, at least two and at least total
 * bytes in all: *mat bytes each, *copies of them. */
static uint8_t *
matrix_copies(enum l32_type type, int64_t rows, int64_t cols, size_t total, size_t *mat,
    int *copies)
{
	uint8_t *buf;

	*mat = l32_type_row_bytes(type, cols) * (size_t)rows;
	*copies = (int)((total + *mat - 1) / *mat);
	if (*copies < 2)
		*copies = 2;
	buf = aligned_alloc(64, (*mat * (size_t)*copies + 63) & ~(size_t)63);
	if (buf == NULL)
		errx(3, "cannot allocate %d copies of %zu bytes", *copies, *mat);
	fill_matrix(type, buf, *mat);
	for (int c = 1; c < *copies; c++)
		memcpy(buf + (size_t)c * *mat, buf, *mat);
	return buf;
}

/* The prompt kernel lines, against the int8 peak on 1 thread. */
static void
gemm_lines(size_t total, double peak, double peak256)
{
	for (size_t i = 0; i < sizeof(gemm_types) / sizeof(gemm_types[0]); i++) {
		const struct l32_kernels *k = l32_kernels_get(gemm_types[i]);
		const char *name = l32_type_traits(gemm_types[i])->name;
		size_t mat;
		int copies;
		uint8_t *buf;

		if (k == NULL || k->gemm == NULL) {
			printf("%s prompt kernel: none on the %s path\n", name,
			    l32_isa_name(l32_kernels_isa()));
			continue;
		}
		buf = matrix_copies(gemm_types[i], GEMM_DIM, GEMM_DIM, total, &mat, &copies);
		for (size_t j = 0; j < sizeof(gemm_tokens) / sizeof(gemm_tokens[0]); j++) {
			int n = gemm_tokens[j];
			double g = gemm_rate(k, gemm_types[i], buf, mat, copies, n);
			char wide[64] = "";

			if (peak256 > 0 && peak256 < peak * 0.95)
				snprintf(wide, sizeof(wide), " (%.2f of the 256-bit peak)", g / peak256);
			printf("%s prompt kernel %dx%d by %d tokens, 1 thread: %.1f GMAC/s = %.2f of "
			    "the int8 peak%s (%.2f ms)\n", name, GEMM_DIM, GEMM_DIM, n, g,
			    peak > 0 ? g / peak : 0.0, wide, (double)GEMM_DIM * GEMM_DIM * n / g / 1e6);
		}
		free(buf);
	}
}

/* -------------------------------------------------------------- main */

/* Twice the last-level cache in MiB (0 when unknown): what the products
 * cycle through at least, so their weights come from memory. */
static size_t
llc_twice_mib(void)
{
	long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
	long llc = l3 > 0 ? l3 : l2 > 0 ? l2 : 0;

	return (size_t)llc * 2 >> 20;
}

int
main(int argc, char **argv)
{
	size_t mib = 256, total;
	struct l32_pool *pools[2], *all;
	struct l32_err err;
	double bw[2], load[3] = { -1, -1, -1 }, peak, peak256;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	float *x;
	FILE *f;

	if (llc_twice_mib() > mib)
		mib = llc_twice_mib();
	if (argc > 1)
		mib = strtoul(argv[1], NULL, 10);
	if (mib < 64)
		errx(2, "usage: bench_kernels [MiB of weights per type, >= 64]");
	if (l32_kernels_init(&err) < 0)
		errx(2, "%s", err.msg);
	total = mib << 20;
	if ((f = fopen("/proc/loadavg", "r")) != NULL) {
		if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = -1;
		fclose(f);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("machine load average (1/5/15 min): %.2f %.2f %.2f\n", load[0], load[1], load[2]);
	printf("kernel path: %s; products over %zu MiB of weights\n",
	    l32_isa_name(l32_kernels_isa()), mib);
	for (int t = 0; t < 2; t++)
		if ((pools[t] = l32_pool_new(t + 1, &err)) == NULL)
			errx(3, "%s", err.msg);
	if ((all = l32_pool_new(ncpu > 0 ? (int)ncpu : 1, &err)) == NULL)
		errx(3, "%s", err.msg);
	peak = peak_lines(pools[0], all, &peak256);
	l32_pool_free(all);

	for (int t = 0; t < 2; t++) {
		bw[t] = membw_read(pools[t], total);
		if (bw[t] <= 0)
			errx(3, "cannot allocate %zu MiB", mib);
		printf("read bandwidth, %d thread%s: %.1f GB/s\n", t + 1, t ? "s" : "", bw[t]);
	}

	x = malloc(COLS * sizeof(float));
	for (int i = 0; i < COLS; i++)
		x[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		size_t mat;
		int copies;
		uint8_t *buf = matrix_copies(types[k], ROWS, COLS, total, &mat, &copies);

		for (int t = 0; t < 2; t++) {
			double gbs = matvec(pools[t], types[k], buf, mat, copies, x);

			printf("%s matvec %dx%d, %d thread%s: %.1f GB/s = %.2f of bandwidth (%.2f ms)\n",
			    l32_type_traits(types[k])->name, ROWS, COLS, t + 1, t ? "s" : "",
			    gbs, gbs / bw[t], (double)mat / gbs / 1e6);
		}
		free(buf);
	}
	free(x);
	gemm_lines(total, peak, peak256);
	for (int t = 0; t < 2; t++)
		l32_pool_free(pools[t]);
	return 0;
}
