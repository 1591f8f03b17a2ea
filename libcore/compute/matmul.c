/*
 * matmul.c - products with weight matrices: per-row kernels for a few
 * tokens, BLIS GEMM on widened panels of rows for many.  The rows of a
 * per-row product are split over the context's thread pool in chunks the
 * threads claim as they go, so a thread slowed by a busy core takes fewer.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* blis.h is not clean under -Wextra; its warnings are not ours */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <blis.h>
#pragma GCC diagnostic pop

#include "compute/kernels/kernels.h"
#include "compute/matmul.h"
#include "base/cpu.h"
#include "base/pool.h"

/* A panel of widened rows: BLIS packs all the tokens again for each
 * panel, so a panel of many rows (the widened floats then come from L3 or
 * memory) beats one that stays in L2.  1B BF16 prefill on BLIS's skx
 * kernels, 2 threads, 128 / 512 tokens: 512 KB 26-31 / 50 tok/s, 2 MB
 * 56-59 / 87-89, 8 MB 70-77 / 91-105, 32 MB 70-71 / 93. */
#define PANEL_BYTES (8 * 1024 * 1024)
#define PANEL_MIN_ROWS 16
#define PANEL_MAX_ROWS 4096
/* Tokens from which widening rows for BLIS beats per-row dot products. */
#define GEMM_MIN_TOKENS 8
/* Tokens from which a type's prompt kernel (kernels.h: the same results
 * as its per-row kernel) beats the per-row one, unless the kernel says
 * otherwise (gemm_from); with fewer, most lanes of its groups of 8 would
 * be empty. */
#define GROUPS_MIN_TOKENS 6
/* The fewest rows a thread claims at a time (claims are rounded to 4
 * rows; the 8-row decode passes take any count), and the most bytes: long enough for the kernels to stream,
 * short enough that the threads finish together. */
#define CHUNK_MIN 16
#define CHUNK_MAX_BYTES (256 * 1024)
/* Multiply-adds a BLIS thread must have to repay starting it. */
#define SGEMM_THREAD_WORK (1 << 21)

/* ----------------------------------------------------------------- scratch */

size_t
l32_mm_bytes(int64_t max_cols)
{
	size_t need = (size_t)PANEL_MIN_ROWS * (size_t)max_cols * sizeof(float);

	return need > PANEL_BYTES ? need : PANEL_BYTES;
}

int
l32_mm_init(struct l32_mm *mm, int64_t max_cols, struct l32_err *err)
{
	size_t bytes = l32_mm_bytes(max_cols);

	memset(mm, 0, sizeof(*mm));
	mm->panel = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
	if (mm->panel == NULL)
		return l32_err_set(err, L32_ERR_NOMEM,
		    "matmul: cannot allocate a panel of %zu bytes", bytes);
	mm->panel_floats = bytes / sizeof(float);
	mm->gemm_min = GEMM_MIN_TOKENS;
	return 0;
}

void
l32_mm_free(struct l32_mm *mm)
{
	free(mm->panel);
	free(mm->xq);
	free(mm->groups);
	mm->panel = NULL;
	mm->panel_floats = 0;
	mm->xq = NULL;
	mm->xq_bytes = 0;
	mm->groups = NULL;
	mm->groups_bytes = 0;
}

/* ------------------------------------------------------------------ checks */

int
l32_matmul_check(const struct l32_tensor *w, struct l32_err *err)
{
	const struct l32_type_traits *tr = l32_type_traits(w->type);
	const char *name = w->name != NULL ? w->name : "(unnamed)";
	size_t need;

	if (tr == NULL || l32_kernels_get(w->type) == NULL)
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "tensor %s: type %s (%d) cannot be computed with", name,
		    tr != NULL ? tr->name : "unknown", (int)w->type);
	if (w->data == NULL || w->cols <= 0 || w->rows <= 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "tensor %s: empty (%lld x %lld)", name, (long long)w->rows,
		    (long long)w->cols);
	need = l32_type_row_bytes(w->type, w->cols);
	if (need == 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "tensor %s: row of %lld values is not a whole number of %s blocks of %d",
		    name, (long long)w->cols, tr->name, (int)tr->block);
	if (w->row_bytes < need)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "tensor %s: rows %zu bytes apart, but a row holds %zu", name,
		    w->row_bytes, need);
	if (w->type == L32_TYPE_F32 && ((uintptr_t)w->data % sizeof(float) != 0 ||
	    w->row_bytes % sizeof(float) != 0))
		return l32_err_set(err, L32_ERR_FORMAT,
		    "tensor %s: F32 data not aligned to 4 bytes", name);
	return 0;
}

/* ----------------------------------------------------------------- product */

/* The threads BLIS may use (l32_matmul_set_threads). */
static int blis_threads = 1;
static pthread_once_t blis_arch_once = PTHREAD_ONCE_INIT;

/* BLIS 0.9 takes its AVX-512 kernels (skx) only on the Intel CPU models
 * it knows to have two FMA units, and its AVX2 ones (haswell) on any
 * other, such as the "Intel Xeon Processor" a hypervisor shows: 1B BF16
 * prefill of 128 tokens, 1 thread, 32 against 43 tok/s with skx.  So on
 * an Intel CPU whose AVX-512 F/DQ/BW/VL the OS enables, skx, unless the
 * user chose (BLIS reads the variable once, at its first call). */
static void
blis_pick_arch(void)
{
	unsigned need = L32_CPU_AVX512F | L32_CPU_AVX512DQ | L32_CPU_AVX512BW |
	    L32_CPU_AVX512VL;

	if (l32_cpu_is_intel() && (l32_cpu_features() & need) == need)
		setenv("BLIS_ARCH_TYPE", "skx", 0);
}

int
l32_sgemm_threads(int64_t m, int64_t n, int64_t k)
{
	double work = (double)m * (double)n * (double)k;
	int t = (int)(work / SGEMM_THREAD_WORK);

	if (t > blis_threads)
		t = blis_threads;
	return t < 1 ? 1 : t;
}

void
l32_sgemm(int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
    const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
    int64_t ldc)
{
	float zero = 0.0f;
	rntm_t rntm = BLIS_RNTM_INITIALIZER;

	pthread_once(&blis_arch_once, blis_pick_arch);

	/* as many threads as the product's size pays for: BLIS starts its
	 * threads for every call, which a small product does not repay.  (A
	 * C element is computed whole by one thread whatever their number,
	 * so the result does not change with it.) */
	bli_rntm_set_num_threads(l32_sgemm_threads(m, n, k), &rntm);
	/* BLIS takes non-const pointers but does not write a or b; the
	 * strides describe b as stored, before the transposition */
	bli_sgemm_ex(BLIS_NO_TRANSPOSE, trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
	    m, n, k, &alpha, (float *)a, lda, 1, (float *)b, ldb, 1, &zero,
	    c, ldc, 1, NULL, &rntm);
}

void
l32_sgemm_1(int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
    const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
    int64_t ldc)
{
	float zero = 0.0f;
	rntm_t rntm = BLIS_RNTM_INITIALIZER;

	pthread_once(&blis_arch_once, blis_pick_arch);

	/* one thread whatever bli_thread_set_num_threads says: the callers
	 * are the pool's threads, each with its own product */
	bli_rntm_set_num_threads(1, &rntm);
	bli_sgemm_ex(BLIS_NO_TRANSPOSE, trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
	    m, n, k, &alpha, (float *)a, lda, 1, (float *)b, ldb, 1, &zero,
	    c, ldc, 1, NULL, &rntm);
}

void
l32_matmul_set_threads(int n)
{
	pthread_once(&blis_arch_once, blis_pick_arch);
	blis_threads = n >= 1 ? n : 1;
	bli_thread_set_num_threads(blis_threads);
}

/* c := a * bᵀ for c (m, nc) with row stride ldc, a (m, k) contiguous and
 * b (nc, k) with row stride ldb. */
static void
gemm_abt(int64_t m, int64_t nc, int64_t k, const float *a, const float *b,
    int64_t ldb, float *c, int64_t ldc)
{
	l32_sgemm(1, m, nc, k, 1.0f, a, k, b, ldb, c, ldc);
}

/* ------------------------------------------------- rows over the threads */

/* A per-row product. */
struct rows_job {
	const struct l32_tensor *w;
	const struct l32_kernels *k;
	const float *x;    /* (n, cols), or NULL when xq is used */
	const char *xq;    /* n quantized tokens, xq_stride apart */
	size_t xq_stride;
	int64_t n;
	float *y;          /* (n, rows) */
	atomic_llong next; /* the first row not yet claimed */
	char *groups;      /* the tokens in groups for gemm, or NULL */
	size_t group_bytes;
};

/* Rows are claimed in chunks of a share of what is left, at most
 * CHUNK_MAX_BYTES, so they shrink towards the end and a thread slowed by
 * a busy core holds up the others little. */
static void
rows_run(void *arg, int ith, int nth)
{
	struct rows_job *j = arg;
	int64_t rows = j->w->rows;
	long long r0 = atomic_load(&j->next), c;
	long long cmax = (long long)(CHUNK_MAX_BYTES / j->w->row_bytes);

	(void)ith;
	for (;;) {
		do {
			if (r0 >= rows)
				return;
			c = (rows - r0) / (2 * nth);
			c = c > cmax ? cmax : c;
			c = c < CHUNK_MIN ? CHUNK_MIN : (c + 3) & ~3LL;
		} while (!atomic_compare_exchange_weak(&j->next, &r0, r0 + c));
		if (c > rows - r0)
			c = rows - r0;
		if (j->groups != NULL)
			j->k->gemm(j->w, r0, r0 + c, j->groups, j->n, j->y, rows);
		else if (j->xq != NULL)
			j->k->rows_xq(j->w, r0, r0 + c, j->xq, j->n, j->y, rows);
		else
			j->k->rows(j->w, r0, r0 + c, j->x, j->n, j->y, rows);
		r0 = atomic_load(&j->next);
	}
}

/* Quantizes the tokens of a job, split over the threads by token. */
static void
quantize_run(void *arg, int ith, int nth)
{
	struct rows_job *j = arg;
	int64_t cols = j->w->cols;

	for (int64_t t = ith; t < j->n; t += nth)
		j->k->quantize(j->x + t * cols, cols, (char *)j->xq + (size_t)t * j->xq_stride);
}

/* Grows a scratch buffer of mm to need bytes. */
static int
scratch(void **buf, size_t *have, size_t need, const char *what,
    struct l32_err *err)
{
	void *p;

	if (need <= *have)
		return 0;
	p = aligned_alloc(64, (need + 63) & ~(size_t)63);
	if (p == NULL)
		return l32_err_set(err, L32_ERR_NOMEM,
		    "matmul: cannot allocate %zu bytes of %s", need, what);
	free(*buf);
	*buf = p;
	*have = need;
	return 0;
}

/* Quantizes the n tokens of j into mm->xq. */
static int
quantize_tokens(struct rows_job *j, struct l32_mm *mm, struct l32_err *err)
{
	j->xq_stride = l32_xq_bytes(j->k->xq, j->w->cols);
	if (scratch(&mm->xq, &mm->xq_bytes, j->xq_stride * (size_t)j->n,
	    "quantized activations", err) < 0)
		return -1;
	j->xq = mm->xq;
	if (j->n > 1)
		l32_pool_run_work(mm->pool, quantize_run, j, j->n * j->w->cols * 4);
	else
		quantize_run(j, 0, 1);
	return 0;
}

static int
matmul_rows(const struct l32_tensor *w, const struct l32_kernels *k,
    const float *x, int64_t n, float *y, struct l32_mm *mm, struct l32_err *err)
{
	struct rows_job j = { w, k, x, NULL, 0, n, y, 0, NULL, 0 };

	if (k->rows_xq != NULL && quantize_tokens(&j, mm, err) < 0)
		return -1;
	atomic_init(&j.next, 0);
	l32_pool_share_work(mm->pool, rows_run, &j, w->rows * w->cols * n);
	return 0;
}

/* Puts the quantized tokens in groups of 8, a group per thread in turn. */
static void
group_run(void *arg, int ith, int nth)
{
	struct rows_job *j = arg;
	int64_t lanes = L32_GEMM_LANES;

	for (int64_t t = (int64_t)ith * lanes; t < j->n; t += (int64_t)nth * lanes)
		l32_xq_group(j->k->xq, j->xq, j->xq_stride, j->w->cols,
		    t, j->n - t < lanes ? j->n - t : lanes,
		    j->groups + (size_t)(t / lanes) * j->group_bytes);
}

/* Many tokens through the type's GEMM kernel: quantized, grouped, then
 * rows claimed as for matmul_rows. */
static int
matmul_gemm(const struct l32_tensor *w, const struct l32_kernels *k,
    const float *x, int64_t n, float *y, struct l32_mm *mm, struct l32_err *err)
{
	struct rows_job j = { w, k, x, NULL, 0, n, y, 0, NULL, 0 };
	int64_t ngroups = (n + L32_GEMM_LANES - 1) / L32_GEMM_LANES;

	if (quantize_tokens(&j, mm, err) < 0)
		return -1;
	j.group_bytes = l32_xq_group_bytes(k->xq, w->cols);
	if (scratch(&mm->groups, &mm->groups_bytes, j.group_bytes * (size_t)ngroups,
	    "grouped activations", err) < 0)
		return -1;
	j.groups = mm->groups;
	l32_pool_run_work(mm->pool, group_run, &j, n * w->cols);
	atomic_init(&j.next, 0);
	l32_pool_share_work(mm->pool, rows_run, &j, w->rows * w->cols * n);
	return 0;
}

/* Widening a panel of rows, split over the threads by row. */
struct widen_job {
	const struct l32_tensor *w;
	const struct l32_kernels *k;
	int64_t r0, nr;
	float *panel;
};

static void
widen_run(void *arg, int ith, int nth)
{
	struct widen_job *j = arg;
	int64_t a = j->nr * ith / nth, b = j->nr * (ith + 1) / nth;
	const char *src = (const char *)j->w->data + (size_t)(j->r0 + a) * j->w->row_bytes;

	for (int64_t r = a; r < b; r++, src += j->w->row_bytes)
		j->k->dequant(src, j->panel + r * j->w->cols, j->w->cols);
}

int
l32_matmul(const struct l32_tensor *w, const float *x, int64_t n, float *y,
    struct l32_mm *mm, struct l32_err *err)
{
	const struct l32_kernels *k = l32_kernels_get(w->type);
	int64_t cols = w->cols, rows = w->rows, pr;

	if (k == NULL)
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "tensor %s: type %d cannot be computed with", w->name,
		    (int)w->type);
	if (n <= 0)
		return 0;
	/* before gemm_min: the prompt kernels give the rows kernels'
	 * results, so decode steps of several sequences may take them */
	if (k->gemm != NULL && n >= (k->gemm_from > 0 ? k->gemm_from : GROUPS_MIN_TOKENS))
		return matmul_gemm(w, k, x, n, y, mm, err);
	if (n < mm->gemm_min)
		return matmul_rows(w, k, x, n, y, mm, err);
	if (w->type == L32_TYPE_F32) {
		gemm_abt(n, rows, cols, x, w->data,
		    (int64_t)(w->row_bytes / sizeof(float)), y, rows);
		return 0;
	}

	/* widen pr rows at a time; the panel holds at least PANEL_MIN_ROWS */
	pr = (int64_t)(mm->panel_floats / (size_t)cols);
	if (pr > PANEL_MAX_ROWS)
		pr = PANEL_MAX_ROWS;
	if (pr < 1)
		return l32_err_set(err, L32_ERR_INVALID,
		    "tensor %s: rows of %lld values exceed the matmul panel",
		    w->name, (long long)cols);
	for (int64_t r0 = 0; r0 < rows; r0 += pr) {
		struct widen_job j = { w, k, r0, rows - r0 < pr ? rows - r0 : pr, mm->panel };

		l32_pool_run_work(mm->pool, widen_run, &j, j.nr * cols * 4);
		/* y[:, r0 .. r0+nr) := x · panelᵀ */
		gemm_abt(n, j.nr, cols, x, mm->panel, cols, y + r0, rows);
	}
	return 0;
}

int
l32_tensor_row_f32(const struct l32_tensor *w, int64_t r, float *out)
{
	const struct l32_kernels *k = l32_kernels_get(w->type);

	if (k == NULL || r < 0 || r >= w->rows)
		return -1;
	k->dequant((const char *)w->data + (size_t)r * w->row_bytes, out, w->cols);
	return 0;
}
