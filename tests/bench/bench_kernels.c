/*
 * bench_kernels.c - how close the decode kernels come to memory speed.
 *
 * Prints one line per figure: the machine's read bandwidth (a streaming
 * read of a buffer far larger than the caches, 1 and 2 threads), then for
 * each weight type the bytes per second of a 2048 x 8192 matrix-vector
 * product (rows of 8192 values, as Llama 3.2 1B's FFN down projection),
 * cycling through enough copies of the matrix that every product reads
 * its weights from memory, as a fraction of that bandwidth.
 *
 * L32_ISA picks the kernel path (default: the best this CPU runs).
 * Usage: bench_kernels [MiB of weights per type, default 256]
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cpu.h"
#include "compute/kernels/kernels.h"
#include "l32.h"
#include "prog/l32_prog.h"
#include "compute/matmul.h"
#include "membw.h"
#include "base/pool.h"
#include "formats/quant.h"

#define ROWS 2048
#define COLS 8192
/* Seconds each figure runs for, at least (and 3 passes). */
#define RUN_SECONDS 0.3

static const enum l32_type types[] = {
	L32_TYPE_F32, L32_TYPE_F16, L32_TYPE_BF16, L32_TYPE_Q8_0, L32_TYPE_Q4_0,
	L32_TYPE_Q5_0, L32_TYPE_Q5_1, L32_TYPE_Q4_K, L32_TYPE_Q5_K, L32_TYPE_Q6_K,
};

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

int
main(int argc, char **argv)
{
	size_t mib = 256, total;
	struct l32_pool *pools[2];
	struct l32_err err;
	double bw[2], load[3] = { -1, -1, -1 };
	float *x;
	FILE *f;

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
	printf("machine load average (1/5/15 min): %.2f %.2f %.2f\n", load[0], load[1], load[2]);
	printf("kernel path: %s\n", l32_isa_name(l32_kernels_isa()));
	for (int t = 0; t < 2; t++)
		if ((pools[t] = l32_pool_new(t + 1, &err)) == NULL)
			errx(3, "%s", err.msg);

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
		size_t mat = l32_type_row_bytes(types[k], COLS) * ROWS;
		int copies = (int)((total + mat - 1) / mat);
		uint8_t *buf;

		if (copies < 2)
			copies = 2;
		buf = aligned_alloc(64, (mat * (size_t)copies + 63) & ~(size_t)63);
		if (buf == NULL)
			errx(3, "cannot allocate %d copies of %zu bytes", copies, mat);
		fill_matrix(types[k], buf, mat);
		for (int c = 1; c < copies; c++)
			memcpy(buf + (size_t)c * mat, buf, mat);
		for (int t = 0; t < 2; t++) {
			double gbs = matvec(pools[t], types[k], buf, mat, copies, x);

			printf("%s matvec %dx%d, %d thread%s: %.1f GB/s = %.2f of bandwidth (%.2f ms)\n",
			    l32_type_traits(types[k])->name, ROWS, COLS, t + 1, t ? "s" : "",
			    gbs, gbs / bw[t], (double)mat / gbs / 1e6);
		}
		free(buf);
	}
	free(x);
	for (int t = 0; t < 2; t++)
		l32_pool_free(pools[t]);
	return 0;
}
