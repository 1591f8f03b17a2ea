/*
 * kernels.h - the fast kernels behind matmul.h's table, one set per
 * instruction set (cpu.h), and the 8-bit activation blocks they share.
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
 *
 * Every kernel computes each (row, token) pair with the same sequence of
 * operations whatever the rows and tokens around it: a token's result does
 * not depend on the batch it is in, nor on how rows are split over threads.
 */
#ifndef L32_KERNELS_H
#define L32_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "matmul.h"

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
 * Tokens past the last are zeros. */
#define L32_GEMM_LANES 8
/* Bytes of one group of tokens with rows of cols values. */
size_t l32_xq_group_bytes(enum l32_xq_kind kind, int64_t cols);
/* The group of tokens t .. t + n - 1 (n <= 8) of xp, token t + j at
 * xp + (t + j) * xs, to out (l32_xq_group_bytes). */
void l32_xq_group(enum l32_xq_kind kind, const void *xp, size_t xs, int64_t cols,
    int64_t t, int64_t n, void *out);

/* A rows kernel over f32 x for a block type: quantizes the n tokens, then
 * rows_xq; when memory runs out, dot row by row (the same results). */
void l32_rows_with_xq(const struct l32_tensor *w, int64_t r0, int64_t r1,
    const float *x, int64_t n, float *y, int64_t ldy, enum l32_xq_kind kind,
    l32_xq_quantize_fn quantize, l32_rows_xq_fn rows_xq, l32_dot_fn dot);

/* The kernels of one weight type on one ISA. */
struct l32_kernel_set {
	l32_dequant_fn dequant;  /* bit-identical to quant.c's */
	l32_dot_fn dot;          /* quantizes x block by block when xq is set */
	l32_rows_fn rows;        /* f32 x; quantizes it first when xq is set */
	enum l32_xq_kind xq;     /* L32_XQ_NONE: no quantized form */
	l32_xq_quantize_fn quantize;
	l32_rows_xq_fn rows_xq;
	/* Many tokens: rows_xq's results bit for bit (NULL: prompts widen
	 * rows for BLIS) */
	l32_gemm_xq_fn gemm;
};

/* The kernels of type on isa, which this CPU must run; -1 when the ISA has
 * none of its own for the type (fill then holds the portable ones, or
 * nothing for a type without kernels). */
int l32_kernels_for(enum l32_isa isa, enum l32_type type, struct l32_kernel_set *ks);

/* Installs the kernels of the ISA named by L32_ISA (default: the best this
 * CPU runs) into matmul.h's table.  Runs once; later calls return the first
 * outcome.  Fails (changing nothing) when L32_ISA names an unknown ISA or
 * one this CPU cannot run. */
int l32_kernels_init(struct l32_err *err);
/* The ISA l32_kernels_init installed (portable before it ran). */
enum l32_isa l32_kernels_isa(void);

/* The f32 value of every f16 bit pattern (exact), for block scales: one
 * load instead of a conversion.  Filled before l32_kernels_for hands out
 * any kernels. */
extern float l32_f16_lut[65536];

/* The 6-bit scales and mins of the 8 sub-blocks of a Q4_K/Q5_K block, from
 * its 12 scale bytes a|b|c (4 each): sub-blocks 0..3 keep the low 6 bits
 * of a (scales) and b (mins); 4..7 take their low 4 bits from the nibbles
 * of c and their top 2 from the top bits of a and b.  Byte s of *sc, *mn
 * is sub-block s. */
static inline void
l32_kq_scales(const uint8_t *s12, uint64_t *sc, uint64_t *mn)
{
	uint32_t a, b, c;

	memcpy(&a, s12, 4);
	memcpy(&b, s12 + 4, 4);
	memcpy(&c, s12 + 8, 4);
	*sc = (a & 0x3f3f3f3fu) | (uint64_t)((c & 0x0f0f0f0fu) |
	    ((a >> 2) & 0x30303030u)) << 32;
	*mn = (b & 0x3f3f3f3fu) | (uint64_t)(((c >> 4) & 0x0f0f0f0fu) |
	    ((b >> 2) & 0x30303030u)) << 32;
}

/* Per-ISA tables, defined in kernels-avx2.c and kernels-avx512.c.  Only to
 * be called when the CPU runs that ISA. */
int l32_kernels_avx2(enum l32_type type, struct l32_kernel_set *ks);
int l32_kernels_avx512(enum l32_type type, struct l32_kernel_set *ks);

#endif
