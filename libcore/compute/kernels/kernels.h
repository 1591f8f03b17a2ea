/*
 * kernels.h - the kernel tables behind matmul.h: one row of kernels per
 * weight type, one table per instruction set (cpu.h), and the 8-bit
 * activation blocks the kernels share.
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

#include "base/cpu.h"
#include "formats/quant.h"

struct l32_err;
struct l32_tensor;

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

/* Rows r0..r1-1 of w times each of n tokens: y[t * ldy + r] = row r · x[t * w->cols ..]. */
typedef void (*l32_rows_fn)(const struct l32_tensor *w, int64_t r0, int64_t r1,
    const float *x, int64_t n, float *y, int64_t ldy);
/* Quantizes one token (cols values) to the 8-bit blocks above. */
typedef void (*l32_xq_quantize_fn)(const float *x, int64_t cols, void *xp);
/* The same as l32_rows_fn over quantized tokens, token t at
 * xp + t * l32_xq_bytes(xq, w->cols). */
typedef void (*l32_rows_xq_fn)(const struct l32_tensor *w, int64_t r0, int64_t r1,
    const void *xp, int64_t n, float *y, int64_t ldy);
/* Rows r0..r1-1 of w times the n tokens of a panel of groups of 8
 * (above), for prompts: y[t * ldy + r]. */
typedef void (*l32_gemm_xq_fn)(const struct l32_tensor *w, int64_t r0, int64_t r1,
    const void *panel, int64_t n, float *y, int64_t ldy);

/* The kernels of one weight type on one ISA: a row of a kernel table. */
struct l32_kernels {
	l32_dequant_fn dequant; /* one row (cols values) to f32, bit-identical
	                         * to quant.c's */
	l32_dot_fn dot;         /* one row · x; quantizes x block by block
	                         * when xq is set */
	l32_rows_fn rows;       /* a range of rows times a few tokens (f32 x;
	                         * quantized first when xq is set) */
	/* Optional (L32_XQ_NONE when absent): the tokens quantized once per
	 * product, then any range of rows over them; the split of rows over
	 * threads uses these.  Gives dot's results bit for bit. */
	enum l32_xq_kind xq;
	l32_xq_quantize_fn quantize;
	l32_rows_xq_fn rows_xq;
	/* Optional: many tokens at once, on the same quantized tokens in
	 * groups, with rows_xq's results bit for bit (NULL: prompts widen
	 * rows for BLIS). */
	l32_gemm_xq_fn gemm;
};

/*
 * A kernel table holds one row per weight type (L32_TYPE_COUNT rows, a
 * type without kernels all NULL), as ggml's type_traits_cpu.  Each ISA
 * (cpu.h) has one table, and every row of it meets the contract of struct
 * l32_kernels: dequant bit for bit, dot against the scalar reference
 * within the rounding of the 8-bit activations, and rows, rows_xq and gemm
 * the dot kernel's results bit for bit (tests/unit/test_kernels.c checks
 * each).  Adding a weight type is its layout and scalar reference
 * (quant.h), its kernels on each ISA, and one row in each table.
 */

/* The portable C kernels (kernels.c). */
extern const struct l32_kernels l32_kernels_portable[L32_TYPE_COUNT];
/* quant.c's scalar reference, f32 products on dequantized weights: the
 * table matmul starts with, and the oracle tests compute against. */
extern const struct l32_kernels l32_kernels_reference[L32_TYPE_COUNT];
/* The x86 tables (x86-avx2.c, x86-avx512vl-vnni.c); only for CPUs that
 * run the ISA, through l32_kernels_table. */
extern const struct l32_kernels l32_kernels_avx2[L32_TYPE_COUNT];
extern const struct l32_kernels l32_kernels_avx512vl_vnni[L32_TYPE_COUNT];

/* The table of isa; NULL when this CPU cannot run it.  Fills l32_f16_lut
 * before the first kernel is handed out. */
const struct l32_kernels *l32_kernels_table(enum l32_isa isa);

/* The installed kernels of a type; NULL when the type cannot be computed
 * with. */
const struct l32_kernels *l32_kernels_get(enum l32_type type);
/* Installs a whole table (at start-up, or in tests; no context may be
 * running a product). */
void l32_kernels_install(const struct l32_kernels *table);

/* A rows kernel over f32 x for a block type: quantizes the n tokens, then
 * rows_xq; when memory runs out, dot row by row (the same results). */
void l32_rows_with_xq(const struct l32_tensor *w, int64_t r0, int64_t r1,
    const float *x, int64_t n, float *y, int64_t ldy, enum l32_xq_kind kind,
    l32_xq_quantize_fn quantize, l32_rows_xq_fn rows_xq, l32_dot_fn dot);

/* Installs the table of the ISA named by L32_ISA (default: the best this
 * CPU runs).  Runs once; later calls return the first outcome.  Fails
 * (changing nothing) when L32_ISA names an unknown ISA or one this CPU
 * cannot run. */
int l32_kernels_init(struct l32_err *err);
/* The ISA l32_kernels_init installed (portable before it ran). */
enum l32_isa l32_kernels_isa(void);

/* The f32 value of every f16 bit pattern (exact), for block scales: one
 * load instead of a conversion. */
extern float l32_f16_lut[65536];

#endif
