/*
 * kernels.c - the 8-bit activation blocks, the portable C kernels, and
 * the choice of kernels for this CPU (l32_kernels_init).
 *
 * The portable kernels are plain C: integer dot products of each stored
 * block with the quantized activations, one float accumulation per block.
 * They are the fallback on CPUs without AVX2 and the baseline the SIMD
 * paths are tested next to.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "compute/kernels/kernels.h"
#include "l32.h"
#include "model.h"
#include "formats/quant.h"

/* Values quantized at a time by the dot kernels (which take f32 x). */
#define DOT_CHUNK 1024

/* ------------------------------------------------------ activation blocks */

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

/* Values summed per entry of sum[]. */
static int
sum_span(enum l32_xq_kind kind)
{
	return kind == L32_XQ_Q8K ? 16 : 32;
}

size_t
l32_xq_bytes(enum l32_xq_kind kind, int64_t cols)
{
	int block = l32_xq_block(kind);
	size_t n = (size_t)cols;

	if (block == 0)
		return align64(n * sizeof(float));
	return align64(n) + align64(n / (size_t)block * sizeof(float)) +
	    align64(n / (size_t)sum_span(kind) * sizeof(int16_t));
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

/* Round half to even for |v| < 2^22: adding 1.5 * 2^23 leaves no fraction
 * bits, so the addition rounds in the default mode (the SIMD paths use the
 * same rounding). */
static float
round_even(float v)
{
	return (v + 0x1.8p23f) - 0x1.8p23f;
}

/* Quantizes n values (a multiple of block) in blocks; sums of every span. */
static void
quantize_blocks(const float *x, int64_t n, int block, int span, int8_t *qs,
    float *d, int16_t *sum)
{
	for (int64_t b = 0; b < n / block; b++, x += block, qs += block) {
		float amax = 0.0f, id;

		for (int j = 0; j < block; j++) {
			float a = x[j] < 0 ? -x[j] : x[j];

			amax = a > amax ? a : amax;
		}
		d[b] = amax / 127.0f;
		id = d[b] != 0.0f ? 1.0f / d[b] : 0.0f;
		for (int j = 0; j < block; j++)
			qs[j] = (int8_t)round_even(x[j] * id);
		for (int s = 0; s < block / span; s++) {
			int acc = 0;

			for (int j = 0; j < span; j++)
				acc += qs[s * span + j];
			sum[b * (block / span) + s] = (int16_t)acc;
		}
	}
}

void
l32_xq_quantize(enum l32_xq_kind kind, const float *x, int64_t cols, void *xp)
{
	struct l32_xq v;

	l32_xq_view(kind, xp, cols, &v);
	quantize_blocks(x, cols, l32_xq_block(kind), sum_span(kind),
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
		quantize_blocks(x + i, m, (QK), sum_span(KIND), qs, d, sum); \
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

/* ------------------------------------------------------------ the tables */

#define PLAIN(T, t) [L32_TYPE_##T] = { l32_dequant_row_##t, dot_##t, rows_##t }
#define BLOCK(T, t, K) [L32_TYPE_##T] = { l32_dequant_row_##t, dot_##t, rows_##t, \
	K, quantize_##t, rows_xq_##t }

const struct l32_kernels l32_kernels_portable[L32_TYPE_COUNT] = {
	PLAIN(F32, f32),
	PLAIN(F16, f16),
	PLAIN(BF16, bf16),
	BLOCK(Q8_0, q8_0, L32_XQ_Q8),
	BLOCK(Q4_0, q4_0, L32_XQ_Q8),
	BLOCK(Q5_0, q5_0, L32_XQ_Q8),
	BLOCK(Q5_1, q5_1, L32_XQ_Q8),
	BLOCK(Q4_K, q4_k, L32_XQ_Q8K),
	BLOCK(Q5_K, q5_k, L32_XQ_Q8K),
	BLOCK(Q6_K, q6_k, L32_XQ_Q8K),
};

/* The reference rows kernel: a loop over the type's reference dot. */
static void
rows_ref(const struct l32_tensor *w, int64_t r0, int64_t r1, const float *x,
    int64_t n, float *y, int64_t ldy)
{
	l32_dot_fn dot = l32_dot_ref(w->type);
	const char *row = (const char *)w->data + (size_t)r0 * w->row_bytes;

	/* row-major over weights: each row is read from memory once and
	 * stays in cache for all n tokens */
	for (int64_t r = r0; r < r1; r++, row += w->row_bytes)
		for (int64_t t = 0; t < n; t++)
			y[t * ldy + r] = dot(row, x + t * w->cols, w->cols);
}

#define REF(T, t) [L32_TYPE_##T] = { l32_dequant_row_##t, l32_dot_ref_##t, rows_ref }

const struct l32_kernels l32_kernels_reference[L32_TYPE_COUNT] = {
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

static const struct l32_kernels *const isa_tables[L32_ISA_COUNT] = {
	[L32_ISA_PORTABLE] = l32_kernels_portable,
#if defined(__x86_64__)
	[L32_ISA_AVX2] = l32_kernels_avx2,
	[L32_ISA_AVX512VL_VNNI] = l32_kernels_avx512vl_vnni,
#endif
};

float l32_f16_lut[65536];
static pthread_once_t lut_once = PTHREAD_ONCE_INIT;

static void
lut_fill(void)
{
	for (uint32_t h = 0; h < 65536; h++)
		l32_f16_lut[h] = l32_f16_to_f32((uint16_t)h);
}

const struct l32_kernels *
l32_kernels_table(enum l32_isa isa)
{
	pthread_once(&lut_once, lut_fill);
	if ((int)isa < 0 || isa >= L32_ISA_COUNT || !l32_isa_supported(isa))
		return NULL;
	return isa_tables[isa];
}

/* ---------------------------------------------------------- installed */

/* A whole table is installed at once, so no type can be left with a
 * mix of two tables' kernels. */
static const struct l32_kernels *installed_table = l32_kernels_reference;

const struct l32_kernels *
l32_kernels_get(enum l32_type type)
{
	const struct l32_kernels *k;

	if ((int)type < 0 || type >= L32_TYPE_COUNT)
		return NULL;
	k = &installed_table[type];
	return k->dot != NULL ? k : NULL;
}

void
l32_kernels_install(const struct l32_kernels *table)
{
	pthread_once(&lut_once, lut_fill);
	installed_table = table;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum l32_isa installed_isa = L32_ISA_PORTABLE;
static struct l32_err init_err;

static void
install(void)
{
	enum l32_isa isa;
	const struct l32_kernels *table;

	if (l32_isa_select(getenv("L32_ISA"), &isa, &init_err) < 0)
		return;
	table = l32_kernels_table(isa);
	if (table == NULL) {
		l32_err_set(&init_err, L32_ERR_UNSUPPORTED,
		    "L32_ISA=%s: this build has no kernels for it", l32_isa_name(isa));
		return;
	}
	l32_kernels_install(table);
	installed_isa = isa;
}

int
l32_kernels_init(struct l32_err *err)
{
	pthread_once(&init_once, install);
	if (init_err.kind != L32_ERR_NONE) {
		if (err != NULL)
			*err = init_err;
		return -1;
	}
	return 0;
}

enum l32_isa
l32_kernels_isa(void)
{
	return installed_isa;
}
