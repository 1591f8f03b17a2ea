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
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu.h"
#include "kernels.h"
#include "l32.h"
#include "pool.h"
#include "quant.h"

#define ROWS 2048
#define COLS 8192
/* Rows a thread claims at a time. */
#define CHUNK 16
/* Seconds each figure runs for, at least. */
#define RUN_SECONDS 0.4

static const enum l32_type types[] = {
	L32_TYPE_F32, L32_TYPE_F16, L32_TYPE_BF16, L32_TYPE_Q8_0, L32_TYPE_Q4_0,
	L32_TYPE_Q5_0, L32_TYPE_Q5_1, L32_TYPE_Q4_K, L32_TYPE_Q5_K, L32_TYPE_Q6_K,
};

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 12345;

static uint64_t
rnd(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* ------------------------------------------------------------ bandwidth */

struct read_job {
	const uint64_t *buf;
	size_t words;
	uint64_t sink[64];
};

/* Sums this thread's contiguous share with independent accumulators, so
 * the loads, not the additions, set the pace. */
static void
read_fn(void *arg, int ith, int nth)
{
	struct read_job *j = arg;
	size_t a = j->words * (size_t)ith / (size_t)nth;
	size_t b = j->words * (size_t)(ith + 1) / (size_t)nth;
	uint64_t s[8] = { 0 };

	for (size_t i = a; i + 8 <= b; i += 8)
		for (int k = 0; k < 8; k++)
			s[k] += j->buf[i + k];
	j->sink[ith] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

/* GB/s (1e9 bytes) of the best of several full reads. */
static double
bandwidth(struct l32_pool *pool, const uint64_t *buf, size_t bytes)
{
	struct read_job j = { buf, bytes / 8, { 0 } };
	double best = 0;

	l32_pool_run(pool, read_fn, &j); /* warm the page tables */
	for (int rep = 0; rep < 6; rep++) {
		double t0 = now(), gbs;

		l32_pool_run(pool, read_fn, &j);
		gbs = (double)bytes / (now() - t0) / 1e9;
		best = gbs > best ? gbs : best;
	}
	return best;
}

/* -------------------------------------------------------------- matvec */

struct mv_job {
	const struct l32_kernel_set *ks;
	struct l32_tensor w;
	const float *x;
	const void *xq;  /* quantized x, or NULL */
	float *y;
	atomic_long next;
};

static void
mv_fn(void *arg, int ith, int nth)
{
	struct mv_job *j = arg;
	long r0;

	(void)ith;
	(void)nth;
	while ((r0 = atomic_fetch_add(&j->next, CHUNK)) < ROWS) {
		long r1 = r0 + CHUNK < ROWS ? r0 + CHUNK : ROWS;

		if (j->xq != NULL)
			j->ks->rows_xq(&j->w, r0, r1, j->xq, 1, j->y, ROWS);
		else
			j->ks->rows(&j->w, r0, r1, j->x, 1, j->y, ROWS);
	}
}

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

/* GB/s of weights read by matvecs over copies of one matrix. */
static double
matvec(struct l32_pool *pool, const struct l32_kernel_set *ks, enum l32_type type,
    const uint8_t *buf, size_t mat_bytes, int copies, const float *x, void *xq)
{
	struct mv_job j;
	size_t rb = l32_type_row_bytes(type, COLS);
	float *y = malloc(ROWS * sizeof(float));
	double t0, t;
	long n = 0;

	memset(&j, 0, sizeof(j));
	j.ks = ks;
	j.w = (struct l32_tensor){ "w", type, COLS, ROWS, NULL, rb };
	j.x = x;
	j.y = y;
	t0 = now();
	do {
		j.w.data = buf + (size_t)(n % copies) * mat_bytes;
		/* the activations are quantized once per product, as decode does */
		if (ks->xq != L32_XQ_NONE) {
			ks->quantize(x, COLS, xq);
			j.xq = xq;
		}
		atomic_store(&j.next, 0);
		l32_pool_run(pool, mv_fn, &j);
		n++;
		t = now() - t0;
	} while (t < RUN_SECONDS || n < copies);
	free(y);
	return (double)mat_bytes * (double)n / t / 1e9;
}

int
main(int argc, char **argv)
{
	size_t mib = 256, total;
	struct l32_pool *pools[2];
	struct l32_err err;
	enum l32_isa isa;
	double bw[2], load[3] = { -1, -1, -1 };
	uint64_t *rbuf;
	float *x;
	void *xq;
	FILE *f;

	if (argc > 1)
		mib = strtoul(argv[1], NULL, 10);
	if (mib < 64)
		errx(2, "usage: bench_kernels [MiB of weights per type, >= 64]");
	if (l32_isa_select(getenv("L32_ISA"), &isa, &err) < 0)
		errx(2, "%s", err.msg);
	total = mib << 20;
	if ((f = fopen("/proc/loadavg", "r")) != NULL) {
		if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = -1;
		fclose(f);
	}
	printf("machine load average (1/5/15 min): %.2f %.2f %.2f\n", load[0], load[1], load[2]);
	printf("kernel path: %s\n", l32_isa_name(isa));
	for (int t = 0; t < 2; t++)
		if ((pools[t] = l32_pool_new(t + 1, &err)) == NULL)
			errx(3, "%s", err.msg);

	rbuf = aligned_alloc(64, total);
	if (rbuf == NULL)
		errx(3, "cannot allocate %zu MiB", mib);
	memset(rbuf, 1, total);
	for (int t = 0; t < 2; t++) {
		bw[t] = bandwidth(pools[t], rbuf, total);
		printf("read bandwidth, %d thread%s: %.1f GB/s\n", t + 1, t ? "s" : "", bw[t]);
	}
	free(rbuf);

	x = malloc(COLS * sizeof(float));
	xq = aligned_alloc(64, l32_xq_bytes(L32_XQ_Q8K, COLS) + l32_xq_bytes(L32_XQ_Q8, COLS));
	for (int i = 0; i < COLS; i++)
		x[i] = (float)((int)(rnd() % 2001) - 1000) / 1000.0f;
	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		struct l32_kernel_set ks;
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
		l32_kernels_for(isa, types[k], &ks);
		for (int t = 0; t < 2; t++) {
			double gbs = matvec(pools[t], &ks, types[k], buf, mat, copies, x, xq);

			printf("%s matvec %dx%d, %d thread%s: %.1f GB/s = %.2f of bandwidth (%.2f ms)\n",
			    l32_type_traits(types[k])->name, ROWS, COLS, t + 1, t ? "s" : "",
			    gbs, gbs / bw[t], (double)mat / gbs / 1e6);
		}
		free(buf);
	}
	free(xq);
	free(x);
	for (int t = 0; t < 2; t++)
		l32_pool_free(pools[t]);
	return 0;
}
