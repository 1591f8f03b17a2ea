/*
 * portable.c - the portable C kernels: integer dot products of each stored
 * block with the quantized activations, one float accumulation per block.
 * They are the fallback on CPUs without AVX2 and the baseline the SIMD
 * paths are tested next to.
 */
#include <string.h>

#include "compute/kernels/kernels.h"
#include "model/model.h"
#include "formats/quant.h"

/* Values quantized at a time by the dot kernels (which take f32 x). */
#define DOT_CHUNK 1024

/* ---------------------------------------------------- portable: f32 types */

static float
load_f16(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, sizeof(h));
	return l32_f16_to_f32(h);
}

static float
load_bf16(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, sizeof(h));
	return l32_bf16_to_f32(h);
}

/* Eight partial sums (which a compiler can keep in one vector), then a
 * fixed pairwise reduction and the tail. */
#define DOT_PLAIN(name, LOAD)						\
static float								\
name(const void *row, const float *x, int64_t n)			\
{									\
	const uint8_t *w = row;						\
	float s[8] = { 0 }, tail = 0.0f;				\
	int64_t i = 0;							\
									\
	for (; i + 8 <= n; i += 8)					\
		for (int j = 0; j < 8; j++)				\
			s[j] += LOAD(w, i + j) * x[i + j];		\
	for (; i < n; i++)						\
		tail += LOAD(w, i) * x[i];				\
	return ((s[0] + s[1]) + (s[2] + s[3])) +			\
	    ((s[4] + s[5]) + (s[6] + s[7])) + tail;			\
}

#define LOAD_F32(w, i) (((const float *)(const void *)(w))[i])
#define LOAD_F16(w, i) load_f16((w) + 2 * (i))
#define LOAD_BF16(w, i) load_bf16((w) + 2 * (i))
DOT_PLAIN(dot_f32, LOAD_F32)
DOT_PLAIN(dot_f16, LOAD_F16)
DOT_PLAIN(dot_bf16, LOAD_BF16)

#define ROWS_PLAIN(name, dot)						\
static void								\
name(const struct l32_tensor *w, int64_t r0, int64_t r1, const float *x,\
    int64_t n, float *y, int64_t ldy)					\
{									\
	const char *row = (const char *)w->data + (size_t)r0 * w->row_bytes; \
									\
	for (int64_t r = r0; r < r1; r++, row += w->row_bytes)		\
		for (int64_t t = 0; t < n; t++)				\
			y[t * ldy + r] = dot(row, x + t * w->cols, w->cols); \
}

ROWS_PLAIN(rows_f32, dot_f32)
ROWS_PLAIN(rows_f16, dot_f16)
ROWS_PLAIN(rows_bf16, dot_bf16)

/* ------------------------------------------------- portable: block types */

/* Each computes the stored blocks [b0, b1) of a row against xq; acc
 * carries the sum from block to block. */

static float
blocks_q8_0(const uint8_t *row, const struct l32_xq *x, int64_t b0, int64_t b1, float acc)
{
	for (int64_t b = b0; b < b1; b++) {
		const uint8_t *blk = row + L32_Q8_0_BYTES * b;
		const int8_t *q = (const int8_t *)(blk + L32_Q8_0_QS), *xq = x->qs + 32 * b;
		int32_t s = 0;

		for (int j = 0; j < 32; j++)
			s += q[j] * xq[j];
		acc += load_f16(blk + L32_Q8_0_D) * x->d[b] * (float)s;
	}
	return acc;
}

static float
blocks_q4_0(const uint8_t *row, const struct l32_xq *x, int64_t b0, int64_t b1, float acc)
{
	for (int64_t b = b0; b < b1; b++) {
		const uint8_t *blk = row + L32_Q4_0_BYTES * b, *q = blk + L32_Q4_0_QS;
		const int8_t *xq = x->qs + 32 * b;
		int32_t s = 0;

		for (int j = 0; j < 16; j++)
			s += ((q[j] & 0xf) - 8) * xq[j] + ((q[j] >> 4) - 8) * xq[j + 16];
		acc += load_f16(blk + L32_Q4_0_D) * x->d[b] * (float)s;
	}
	return acc;
}

/* Σ q * xq over a Q5 block, q the unsigned 5-bit values. */
static int32_t
q5_dot(const uint8_t *qhp, const uint8_t *q, const int8_t *xq)
{
	uint32_t qh;
	int32_t s = 0;

	memcpy(&qh, qhp, sizeof(qh));
	for (int j = 0; j < 16; j++) {
		int lo = (q[j] & 0xf) | (int)((qh >> j) & 1) << 4;
		int hi = (q[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;

		s += lo * xq[j] + hi * xq[j + 16];
	}
	return s;
}

static float
blocks_q5_0(const uint8_t *row, const struct l32_xq *x, int64_t b0, int64_t b1, float acc)
{
	for (int64_t b = b0; b < b1; b++) {
		const uint8_t *blk = row + L32_Q5_0_BYTES * b;
		/* Σ (q - 16) xq = Σ q xq - 16 Σ xq */
		int32_t s = q5_dot(blk + L32_Q5_0_QH, blk + L32_Q5_0_QS, x->qs + 32 * b) -
		    16 * x->sum[b];

		acc += load_f16(blk + L32_Q5_0_D) * x->d[b] * (float)s;
	}
	return acc;
}

static float
blocks_q5_1(const uint8_t *row, const struct l32_xq *x, int64_t b0, int64_t b1, float acc)
{
	for (int64_t b = b0; b < b1; b++) {
		const uint8_t *blk = row + L32_Q5_1_BYTES * b;
		int32_t s = q5_dot(blk + L32_Q5_1_QH, blk + L32_Q5_1_QS, x->qs + 32 * b);
		float dx = x->d[b];

		/* Σ (d q + m) x = d dx Σ q xq + m dx Σ xq */
		acc += load_f16(blk + L32_Q5_1_D) * dx * (float)s;
		acc += load_f16(blk + L32_Q5_1_M) * (dx * (float)x->sum[b]);
	}
	return acc;
}

/* Q4_K and Q5_K (qh NULL for Q4_K): Σ_s sc_s Σ q xq scaled by d, minus
 * Σ_s m_s Σ xq scaled by dmin. */
static float
block_kq45(const uint8_t *blk, const uint8_t *qh, const uint8_t *qs,
    const struct l32_xq *x, int64_t b)
{
	const int8_t *xq = x->qs + 256 * b;
	const int16_t *bs = x->sum + 16 * b;
	uint64_t sc, mn;
	int32_t si = 0, sm = 0;

	l32_kq_scales(blk + L32_Q4_K_SCALES, &sc, &mn);
	for (int s = 0; s < 8; s++) {
		const uint8_t *q = qs + 32 * (s / 2);
		int shift = (s & 1) ? 4 : 0;
		int32_t p = 0;

		for (int l = 0; l < 32; l++) {
			int v = (q[l] >> shift) & 0xf;

			if (qh != NULL)
				v |= ((qh[l] >> s) & 1) << 4;
			p += v * xq[32 * s + l];
		}
		si += (int32_t)((sc >> (8 * s)) & 0xff) * p;
		sm += (int32_t)((mn >> (8 * s)) & 0xff) * (bs[2 * s] + bs[2 * s + 1]);
	}
	return load_f16(blk + L32_Q4_K_D) * x->d[b] * (float)si -
	    load_f16(blk + L32_Q4_K_DMIN) * x->d[b] * (float)sm;
}

static float
blocks_q4_k(const uint8_t *row, const struct l32_xq *x, int64_t b0, int64_t b1, float acc)
{
	for (int64_t b = b0; b < b1; b++) {
		const uint8_t *blk = row + L32_Q4_K_BYTES * b;

		acc += block_kq45(blk, NULL, blk + L32_Q4_K_QS, x, b);
	}
	return acc;
}

static float
blocks_q5_k(const uint8_t *row, const struct l32_xq *x, int64_t b0, int64_t b1, float acc)
{
	for (int64_t b = b0; b < b1; b++) {
		const uint8_t *blk = row + L32_Q5_K_BYTES * b;

		acc += block_kq45(blk, blk + L32_Q5_K_QH, blk + L32_Q5_K_QS, x, b);
	}
	return acc;
}

/* Q6_K: value 128h + 32k + l as in quant.c; Σ_j sc_j Σ (q - 32) xq over
 * the 16 groups j of 16 values. */
static float
blocks_q6_k(const uint8_t *row, const struct l32_xq *x, int64_t b0, int64_t b1, float acc)
{
	for (int64_t b = b0; b < b1; b++) {
		const uint8_t *blk = row + L32_Q6_K_BYTES * b, *ql = blk + L32_Q6_K_QL;
		const uint8_t *qh = blk + L32_Q6_K_QH;
		const int8_t *sc = (const int8_t *)(blk + L32_Q6_K_SCALES), *xq = x->qs + 256 * b;
		const int16_t *bs = x->sum + 16 * b;
		int32_t si = 0;

		for (int h = 0; h < 2; h++)
			for (int k = 0; k < 4; k++)
				for (int half = 0; half < 2; half++) {
					int32_t p = 0;
					int j = 8 * h + 2 * k + half;

					for (int l = 16 * half; l < 16 * half + 16; l++) {
						uint8_t lo = ql[64 * h + 32 * (k & 1) + l];
						int q = ((k < 2) ? (lo & 0xf) : (lo >> 4)) |
						    ((qh[32 * h + l] >> (2 * k)) & 3) << 4;

						p += q * xq[128 * h + 32 * k + l];
					}
					si += sc[j] * (p - 32 * bs[j]);
				}
		acc += load_f16(blk + L32_Q6_K_D) * x->d[b] * (float)si;
	}
	return acc;
}

/* The dot kernel (f32 x quantized DOT_CHUNK values at a time; a block's
 * quantization does not depend on its neighbours, so this equals rows_xq),
 * the rows kernel over xq, and the rows kernel over f32 x. */
#define BLOCK_KERNELS(T, QK, BB, KIND)					\
static float								\
dot_##T(const void *row, const float *x, int64_t n)			\
{									\
	int8_t qs[DOT_CHUNK];						\
	float d[DOT_CHUNK / (QK)];					\
	int16_t sum[DOT_CHUNK / 16];					\
	struct l32_xq v = { qs, d, sum };				\
	float acc = 0.0f;						\
									\
	for (int64_t i = 0; i < n; i += DOT_CHUNK) {			\
		int64_t m = n - i < DOT_CHUNK ? n - i : DOT_CHUNK;	\
									\
		l32_xq_quantize_blocks(x + i, m, (QK), l32_xq_span(KIND), qs, d, sum); \
		/* v indexes blocks from i, so the row does too */	\
		acc = blocks_##T((const uint8_t *)row + i / (QK) * (BB), &v, \
		    0, m / (QK), acc);					\
	}								\
	return acc;							\
}									\
									\
static void								\
rows_xq_##T(const struct l32_tensor *w, int64_t r0, int64_t r1,		\
    const void *xp, int64_t n, float *y, int64_t ldy)			\
{									\
	size_t xs = l32_xq_bytes((KIND), w->cols);			\
	const char *row = (const char *)w->data + (size_t)r0 * w->row_bytes; \
	struct l32_xq v;						\
									\
	for (int64_t r = r0; r < r1; r++, row += w->row_bytes)		\
		for (int64_t t = 0; t < n; t++) {			\
			l32_xq_view((KIND), (const char *)xp + (size_t)t * xs, \
			    w->cols, &v);				\
			y[t * ldy + r] = blocks_##T((const uint8_t *)row, &v, \
			    0, w->cols / (QK), 0.0f);			\
		}							\
}									\
									\
static void								\
rows_##T(const struct l32_tensor *w, int64_t r0, int64_t r1,		\
    const float *x, int64_t n, float *y, int64_t ldy)			\
{									\
	l32_rows_with_xq(w, r0, r1, x, n, y, ldy, (KIND),		\
	    quantize_##T, rows_xq_##T, dot_##T);			\
}

static void
quantize_q8(const float *x, int64_t cols, void *xp)
{
	l32_xq_quantize(L32_XQ_Q8, x, cols, xp);
}

static void
quantize_q8k(const float *x, int64_t cols, void *xp)
{
	l32_xq_quantize(L32_XQ_Q8K, x, cols, xp);
}

#define quantize_q8_0 quantize_q8
#define quantize_q4_0 quantize_q8
#define quantize_q5_0 quantize_q8
#define quantize_q5_1 quantize_q8
#define quantize_q4_k quantize_q8k
#define quantize_q5_k quantize_q8k
#define quantize_q6_k quantize_q8k

BLOCK_KERNELS(q8_0, L32_QK, L32_Q8_0_BYTES, L32_XQ_Q8)
BLOCK_KERNELS(q4_0, L32_QK, L32_Q4_0_BYTES, L32_XQ_Q8)
BLOCK_KERNELS(q5_0, L32_QK, L32_Q5_0_BYTES, L32_XQ_Q8)
BLOCK_KERNELS(q5_1, L32_QK, L32_Q5_1_BYTES, L32_XQ_Q8)
BLOCK_KERNELS(q4_k, L32_QK_K, L32_Q4_K_BYTES, L32_XQ_Q8K)
BLOCK_KERNELS(q5_k, L32_QK_K, L32_Q5_K_BYTES, L32_XQ_Q8K)
BLOCK_KERNELS(q6_k, L32_QK_K, L32_Q6_K_BYTES, L32_XQ_Q8K)

/* ------------------------------------------------------------- the table */

#define PLAIN(T, t) [L32_TYPE_##T] = { .dequant = l32_dequant_row_##t, .dot = dot_##t, \
	.rows = rows_##t }
#define BLOCK(T, t, K) [L32_TYPE_##T] = { .dequant = l32_dequant_row_##t, .dot = dot_##t, \
	.rows = rows_##t, .xq = K, .quantize = quantize_##t, .rows_xq = rows_xq_##t }

const struct l32_kernels l32_kernels_portable[L32_TYPE_COUNT] = {
	[L32_TYPE_F32] = { .dequant = l32_dequant_row_f32, .dot = dot_f32,
	    .rows = rows_f32, .attn = l32_attn_portable_f32 },
	[L32_TYPE_F16] = { .dequant = l32_dequant_row_f16, .dot = dot_f16,
	    .rows = rows_f16, .attn = l32_attn_portable_f16 },
	PLAIN(BF16, bf16),
	BLOCK(Q8_0, q8_0, L32_XQ_Q8),
	BLOCK(Q4_0, q4_0, L32_XQ_Q8),
	BLOCK(Q5_0, q5_0, L32_XQ_Q8),
	BLOCK(Q5_1, q5_1, L32_XQ_Q8),
	BLOCK(Q4_K, q4_k, L32_XQ_Q8K),
	BLOCK(Q5_K, q5_k, L32_XQ_Q8K),
	BLOCK(Q6_K, q6_k, L32_XQ_Q8K),
};
