/*
 * xq.h - the 8-bit activation blocks the kernels share.
 *
 * For the block types the activations of a token are quantized once per
 * product ("xq"), and each stored block meets them in integer dot
 * products, as llama.cpp does:
 *   L32_XQ_Q8   blocks of 32 (for Q8_0, Q4_0, Q5_0, Q5_1)
 *   L32_XQ_Q8K  blocks of 256 with the sum of every 16 (for the K-quants)
 * A block of 32 or 256 values x gets d = max|x| / 127 and
 * q = round-half-even(x / d) (q = 0 when d = 0), computed identically on
 * every path, so the quantized activations are the same bytes everywhere.
 *
 * One token's xq, l32_xq_bytes(kind, cols) bytes (a multiple of 64):
 *   int8  qs[cols]                      (64-aligned)
 *   float d[cols / block]
 *   int16 sum[cols / 32] (Q8) or sum[cols / 16] (Q8K), sums of qs
 */
#ifndef L32_XQ_H
#define L32_XQ_H

#include <stddef.h>
#include <stdint.h>

enum l32_xq_kind {
	L32_XQ_NONE = 0, /* f32 activations as they are */
	L32_XQ_Q8,
	L32_XQ_Q8K,
};

/* A view of one token's xq. */
struct l32_xq {
	const int8_t *qs;   /* (cols) */
	const float *d;     /* (cols / block) */
	const int16_t *sum; /* (cols / 32) or (cols / 16) */
};

/* Values per block of a kind (32, 256); 0 for L32_XQ_NONE. */
int l32_xq_block(enum l32_xq_kind kind);
/* Bytes of one token's xq; cols must be a multiple of the block. */
size_t l32_xq_bytes(enum l32_xq_kind kind, int64_t cols);
void l32_xq_view(enum l32_xq_kind kind, const void *xp, int64_t cols, struct l32_xq *v);
/* The portable quantizer: one token's cols values to xp. */
void l32_xq_quantize(enum l32_xq_kind kind, const float *x, int64_t cols, void *xp);
/* d * q of each value (for tests). */
void l32_xq_dequant(enum l32_xq_kind kind, const void *xp, int64_t cols, float *out);

/* Prompts: tokens go to the GEMM kernels 8 at a time, in a "group" where
 * vector lane j is token j.  For each block of the kind, in order:
 *   int8  qs[block / 4][8][4]  values 4g..4g+3 of each token (32 bytes per g)
 *   float d[8]                 the tokens' block scales
 *   Q8:  int32 sum[8]          the tokens' block sums
 *   Q8K: int16 sum[8][8][2]    per pair p, sums of 16 number 2p, 2p+1
 * Tokens past the last are zeros.  The offsets in one block's part and its
 * size are named below. */
#define L32_GEMM_LANES 8
enum { L32_XQG_Q8_D = 256, L32_XQG_Q8_SUM = 288, L32_XQG_Q8_BYTES = 320 };
enum { L32_XQG_Q8K_D = 2048, L32_XQG_Q8K_SUM = 2080, L32_XQG_Q8K_BYTES = 2336 };
_Static_assert(L32_XQG_Q8_D == 32 * L32_GEMM_LANES &&
    L32_XQG_Q8_SUM == L32_XQG_Q8_D + 4 * L32_GEMM_LANES &&
    L32_XQG_Q8_BYTES == L32_XQG_Q8_SUM + 4 * L32_GEMM_LANES,
    "Q8 group block: qs[8][8][4], float d[8], int32 sum[8]");
_Static_assert(L32_XQG_Q8K_D == 256 * L32_GEMM_LANES &&
    L32_XQG_Q8K_SUM == L32_XQG_Q8K_D + 4 * L32_GEMM_LANES &&
    L32_XQG_Q8K_BYTES == L32_XQG_Q8K_SUM + 2 * 16 * L32_GEMM_LANES,
    "Q8K group block: qs[64][8][4], float d[8], int16 sum[8][8][2]");
/* Bytes of one group of tokens with rows of cols values. */
size_t l32_xq_group_bytes(enum l32_xq_kind kind, int64_t cols);
/* The group of tokens t .. t + n - 1 (n <= 8) of xp, token t + j at
 * xp + (t + j) * xs, to out (l32_xq_group_bytes). */
void l32_xq_group(enum l32_xq_kind kind, const void *xp, size_t xs, int64_t cols,
    int64_t t, int64_t n, void *out);

/* Values summed per entry of sum[]. */
static inline int
l32_xq_span(enum l32_xq_kind kind)
{
	return kind == L32_XQ_Q8K ? 16 : 32;
}

/* Round half to even for |v| < 2^22: adding 1.5 * 2^23 leaves no fraction
 * bits, so the addition rounds in the default mode (the SIMD paths use the
 * same rounding). */
static inline float
l32_round_even(float v)
{
	return (v + 0x1.8p23f) - 0x1.8p23f;
}

/* The portable quantizer of n values (a multiple of block) in blocks, with
 * the sums of every span; inline, so the kernels that quantize as they go
 * (the portable dot kernels) get it for their constant block. */
static inline void
l32_xq_quantize_blocks(const float *x, int64_t n, int block, int span, int8_t *qs,
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
			qs[j] = (int8_t)l32_round_even(x[j] * id);
		for (int s = 0; s < block / span; s++) {
			int acc = 0;

			for (int j = 0; j < span; j++)
				acc += qs[s * span + j];
			sum[b * (block / span) + s] = (int16_t)acc;
		}
	}
}

#endif
