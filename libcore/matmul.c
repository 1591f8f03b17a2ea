/*
 * matmul.c - products with weight matrices: per-row kernels for a few
 * tokens, BLIS GEMM on widened panels of rows for many.
 */
#include <stdlib.h>
#include <string.h>

/* blis.h is not clean under -Wextra; its warnings are not ours */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <blis.h>
#pragma GCC diagnostic pop

#include "matmul.h"

/* A panel of widened rows is sized to stay in L2 between being written
 * and BLIS packing it. */
#define PANEL_BYTES (512 * 1024)
#define PANEL_MIN_ROWS 16
#define PANEL_MAX_ROWS 256
/* Tokens from which widening rows for BLIS beats per-row dot products. */
#define GEMM_MIN_TOKENS 8

/* ------------------------------------------------------------ kernel table */

#define REF(T, t) [L32_TYPE_##T] = { l32_dequant_row_##t, l32_dot_ref_##t, l32_rows_generic }

static struct l32_kernels kernels[L32_TYPE_COUNT] = {
	REF(F32, f32),
	REF(F16, f16),
	REF(BF16, bf16),
	REF(Q8_0, q8_0),
	REF(Q4_0, q4_0),
	REF(Q5_0, q5_0),
	REF(Q5_1, q5_1),
	REF(Q4_K, q4_k),
	REF(Q5_K, q5_k),
	REF(Q6_K, q6_k),
};

const struct l32_kernels *
l32_kernels_get(enum l32_type type)
{
	if ((int)type < 0 || type >= L32_TYPE_COUNT || kernels[type].dot == NULL)
		return NULL;
	return &kernels[type];
}

void
l32_kernels_set(enum l32_type type, const struct l32_kernels *k)
{
	if ((int)type < 0 || type >= L32_TYPE_COUNT)
		return;
	if (k->dequant != NULL)
		kernels[type].dequant = k->dequant;
	if (k->dot != NULL)
		kernels[type].dot = k->dot;
	if (k->rows != NULL)
		kernels[type].rows = k->rows;
}

void
l32_rows_generic(const struct l32_tensor *w, int64_t r0, int64_t r1,
    const float *x, int64_t n, float *y, int64_t ldy)
{
	l32_dot_fn dot = kernels[w->type].dot;
	const char *row = (const char *)w->data + (size_t)r0 * w->row_bytes;

	/* row-major over weights: each row is read from memory once and
	 * stays in cache for all n tokens */
	for (int64_t r = r0; r < r1; r++, row += w->row_bytes)
		for (int64_t t = 0; t < n; t++)
			y[t * ldy + r] = dot(row, x + t * w->cols, w->cols);
}

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
	mm->panel = NULL;
	mm->panel_floats = 0;
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

void
l32_sgemm(int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
    const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
    int64_t ldc)
{
	float zero = 0.0f;

	/* BLIS takes non-const pointers but does not write a or b; the
	 * strides describe b as stored, before the transposition */
	bli_sgemm(BLIS_NO_TRANSPOSE, trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
	    m, n, k, &alpha, (float *)a, lda, 1, (float *)b, ldb, 1, &zero,
	    c, ldc, 1);
}

void
l32_matmul_set_threads(int n)
{
	bli_thread_set_num_threads(n >= 1 ? n : 1);
}

/* c := a * bᵀ for c (m, nc) with row stride ldc, a (m, k) contiguous and
 * b (nc, k) with row stride ldb. */
static void
gemm_abt(int64_t m, int64_t nc, int64_t k, const float *a, const float *b,
    int64_t ldb, float *c, int64_t ldc)
{
	l32_sgemm(1, m, nc, k, 1.0f, a, k, b, ldb, c, ldc);
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
	if (n < mm->gemm_min) {
		k->rows(w, 0, rows, x, n, y, rows);
		return 0;
	}
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
		int64_t nr = rows - r0 < pr ? rows - r0 : pr;
		const char *src = (const char *)w->data + (size_t)r0 * w->row_bytes;

		for (int64_t r = 0; r < nr; r++, src += w->row_bytes)
			k->dequant(src, mm->panel + r * cols, cols);
		/* y[:, r0 .. r0+nr) := x · panelᵀ */
		gemm_abt(n, nr, cols, x, mm->panel, cols, y + r0, rows);
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
