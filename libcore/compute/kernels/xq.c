/*
 * xq.c - the 8-bit activation blocks (xq.h): the portable quantizer, the
 * layout of one token's blocks and of a group of 8, and the rows kernel
 * every block type builds on them.
 */
#include <stdlib.h>
#include <string.h>

#include "compute/kernels/kernels.h"
#include "model/model.h"

int
l32_xq_block(enum l32_xq_kind kind)
{
	switch (kind) {
	case L32_XQ_Q8:  return 32;
	case L32_XQ_Q8K: return 256;
	default:         return 0;
	}
}

static size_t
align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

size_t
l32_xq_bytes(enum l32_xq_kind kind, int64_t cols)
{
	int block = l32_xq_block(kind);
	size_t n = (size_t)cols;

	if (block == 0)
		return align64(n * sizeof(float));
	return align64(n) + align64(n / (size_t)block * sizeof(float)) +
	    align64(n / (size_t)l32_xq_span(kind) * sizeof(int16_t));
}

void
l32_xq_view(enum l32_xq_kind kind, const void *xp, int64_t cols, struct l32_xq *v)
{
	const char *p = xp;
	size_t n = (size_t)cols;

	v->qs = (const int8_t *)p;
	v->d = (const float *)(p + align64(n));
	v->sum = (const int16_t *)(p + align64(n) +
	    align64(n / (size_t)l32_xq_block(kind) * sizeof(float)));
}

void
l32_xq_quantize(enum l32_xq_kind kind, const float *x, int64_t cols, void *xp)
{
	struct l32_xq v;

	l32_xq_view(kind, xp, cols, &v);
	l32_xq_quantize_blocks(x, cols, l32_xq_block(kind), l32_xq_span(kind),
	    (int8_t *)v.qs, (float *)v.d, (int16_t *)v.sum);
}

void
l32_xq_dequant(enum l32_xq_kind kind, const void *xp, int64_t cols, float *out)
{
	struct l32_xq v;
	int block = l32_xq_block(kind);

	l32_xq_view(kind, xp, cols, &v);
	for (int64_t i = 0; i < cols; i++)
		out[i] = (float)v.qs[i] * v.d[i / block];
}

size_t
l32_xq_group_bytes(enum l32_xq_kind kind, int64_t cols)
{
	int block = l32_xq_block(kind);
	size_t per = kind == L32_XQ_Q8K ? L32_XQG_Q8K_BYTES : L32_XQG_Q8_BYTES;

	return block == 0 ? 0 : (size_t)(cols / block) * per;
}

void
l32_xq_group(enum l32_xq_kind kind, const void *xp, size_t xs, int64_t cols,
    int64_t t, int64_t n, void *out)
{
	int block = l32_xq_block(kind);
	size_t per = l32_xq_group_bytes(kind, cols) / (size_t)(cols / block);
	size_t d_at = kind == L32_XQ_Q8K ? L32_XQG_Q8K_D : L32_XQG_Q8_D;
	size_t sum_at = kind == L32_XQ_Q8K ? L32_XQG_Q8K_SUM : L32_XQG_Q8_SUM;

	memset(out, 0, l32_xq_group_bytes(kind, cols));
	for (int64_t j = 0; j < n; j++) {
		struct l32_xq v;

		l32_xq_view(kind, (const char *)xp + (size_t)(t + j) * xs, cols, &v);
		for (int64_t b = 0; b < cols / block; b++) {
			char *g = (char *)out + (size_t)b * per;

			for (int q = 0; q < block / 4; q++)
				memcpy(g + 32 * q + 4 * j, v.qs + block * b + 4 * q, 4);
			memcpy(g + d_at + 4 * j, &v.d[b], sizeof(float));
			if (kind == L32_XQ_Q8) {
				int32_t sum = v.sum[b];

				memcpy(g + sum_at + 4 * j, &sum, sizeof(sum));
				continue;
			}
			/* pair p: the sums of 16 number 2p and 2p + 1 */
			for (int p = 0; p < 8; p++)
				memcpy(g + sum_at + 32 * p + 4 * j, &v.sum[16 * b + 2 * p],
				    2 * sizeof(int16_t));
		}
	}
}

void
l32_rows_with_xq(const struct l32_tensor *w, int64_t r0, int64_t r1,
    const float *x, int64_t n, float *y, int64_t ldy, enum l32_xq_kind kind,
    l32_xq_quantize_fn quantize, l32_rows_xq_fn rows_xq, l32_dot_fn dot)
{
	size_t xs = l32_xq_bytes(kind, w->cols);
	char *xp = aligned_alloc(64, xs * (size_t)n);

	if (xp == NULL) {
		/* dot gives the same results, quantizing as it goes */
		const char *row = (const char *)w->data + (size_t)r0 * w->row_bytes;

		for (int64_t r = r0; r < r1; r++, row += w->row_bytes)
			for (int64_t t = 0; t < n; t++)
				y[t * ldy + r] = dot(row, x + t * w->cols, w->cols);
		return;
	}
	for (int64_t t = 0; t < n; t++)
		quantize(x + t * w->cols, w->cols, xp + (size_t)t * xs);
	rows_xq(w, r0, r1, xp, n, y, ldy);
	free(xp);
}

