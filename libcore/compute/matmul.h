/*
 * matmul.h - the one seam for products with weight matrices.
 *
 *   y[n, w->rows] = x[n, w->cols] · Wᵀ
 *
 * Few tokens (decode, up to the context's n_seq): dot products of each
 * stored row with each token, straight from the mapping, through the
 * per-type kernel table, the rows split over the context's threads.  Many
 * tokens (prefill): a panel of weight rows at a time is widened to f32 and
 * multiplied on BLIS; F32 weights go to BLIS as they are.
 *
 * The kernel table (kernels.h) starts as quant.c's scalar reference code;
 * l32_kernels_init installs the table of the CPU's instruction set, and
 * callers do not change.
 */
#ifndef L32_MATMUL_H
#define L32_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "compute/kernels/kernels.h"
#include "model/model.h"
#include "formats/quant.h"

struct l32_pool;

/* Scratch for l32_matmul; one per context. */
struct l32_mm {
	float *panel;        /* (panel_floats) widened weight rows */
	size_t panel_floats;
	int64_t gemm_min;    /* tokens from which BLIS is used */
	struct l32_pool *pool; /* threads the rows are split over; NULL: this one */
	void *xq;            /* (xq_bytes) the quantized tokens of a product */
	size_t xq_bytes;
	void *groups;        /* (groups_bytes) the same, in groups for gemm */
	size_t groups_bytes;
};

/* Bytes of scratch l32_mm_init takes for matrices of up to max_cols. */
size_t l32_mm_bytes(int64_t max_cols);
int l32_mm_init(struct l32_mm *mm, int64_t max_cols, struct l32_err *err);
void l32_mm_free(struct l32_mm *mm);

/* Checks that w can be multiplied: a known type, a row length that is a
 * whole number of blocks, rows far enough apart.  Names the tensor. */
int l32_matmul_check(const struct l32_tensor *w, struct l32_err *err);

/* y[n, w->rows] = x[n, w->cols] · Wᵀ; x and y row-major and contiguous.
 * w must have passed l32_matmul_check. */
int l32_matmul(const struct l32_tensor *w, const float *x, int64_t n, float *y,
    struct l32_mm *mm, struct l32_err *err);

/* c (m, n) := alpha * a (m, k) · b, all row-major with leading dimensions
 * lda, ldb, ldc.  b is (k, n), or when trans_b is set, stored (n, k) and
 * used transposed.  The BLIS call behind every product in libcore. */
void l32_sgemm(int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
    const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
    int64_t ldc);
/* The same on the calling thread alone. */
void l32_sgemm_1(int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
    const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
    int64_t ldc);
/* Threads BLIS may use (n >= 1). */
void l32_matmul_set_threads(int n);
/* The threads l32_sgemm gives a product of m x n x k multiply-adds: as
 * many as its size repays, at most l32_matmul_set_threads's. */
int l32_sgemm_threads(int64_t m, int64_t n, int64_t k);

/* Row r of w as f32 (w->cols values): the embedding lookup. */
int l32_tensor_row_f32(const struct l32_tensor *w, int64_t r, float *out);

#endif
