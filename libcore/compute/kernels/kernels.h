/*
 * kernels.h - the kernel tables behind matmul.h: one row of kernels per
 * weight type, one table per instruction set (cpu.h), and the 8-bit
 * activation blocks the kernels share.
 *
 * For the block types the activations of a token are quantized once per
 * product to 8-bit blocks (xq.h), and each stored block meets them in
 * integer dot products, as llama.cpp does.
 *
 * Every kernel computes each (row, token) pair with the same sequence of
 * operations whatever the rows and tokens around it: a token's result does
 * not depend on the batch it is in, nor on how rows are split over threads.
 */
#ifndef L32_KERNELS_H
#define L32_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "base/cpu.h"
#include "compute/kernels/xq.h"
#include "formats/quant.h"

struct l32_err;
struct l32_tensor;

/* Rows r0..r1-1 of w times each of n tokens: y[t * ldy + r] = row r · x[t * w->cols ..]. */
typedef void (*l32_rows_fn)(const struct l32_tensor *w, int64_t r0, int64_t r1,
    const float *x, int64_t n, float *y, int64_t ldy);
/* Quantizes one token (cols values) to the 8-bit blocks of xq.h. */
typedef void (*l32_xq_quantize_fn)(const float *x, int64_t cols, void *xp);
/* The same as l32_rows_fn over quantized tokens, token t at
 * xp + t * l32_xq_bytes(xq, w->cols). */
typedef void (*l32_rows_xq_fn)(const struct l32_tensor *w, int64_t r0, int64_t r1,
    const void *xp, int64_t n, float *y, int64_t ldy);
/* Rows r0..r1-1 of w times the n tokens of a panel of groups of 8
 * (xq.h), for prompts: y[t * ldy + r]. */
typedef void (*l32_gemm_xq_fn)(const struct l32_tensor *w, int64_t r0, int64_t r1,
    const void *panel, int64_t n, float *y, int64_t ldy);

/*
 * Decode attention of the query heads that share a KV head (GQA), over
 * one chunk of positions of that head's cache: the chunk's unnormalised
 * share of the softmax, which attention.c merges chunk by chunk in order
 * (the running max and sum rescaling of FlashAttention).  Each K and V
 * row is read, and for an f16 cache widened, once for the whole group.
 *
 * For each head i of the group, with s_t = scale * q_i . k_t over the
 * chunk's rows t = 0..n-1:
 *   out[i]             = m_i = max_t s_t
 *   out[g + i]         = l_i = sum_t e^(s_t - m_i)
 *   out[2g + i*hd + d] = sum_t e^(s_t - m_i) v_t[d]
 * Chunks start at multiples of L32_ATTN_CHUNK in absolute positions, so
 * a query's result is one fixed sequence of operations given its
 * position, however the chunks are spread over threads.
 */
#define L32_ATTN_CHUNK 256
struct l32_attn_chunk {
	const void *k, *v;   /* row 0 of the chunk in the head's K and V:
	                      * f32 elements in the F32 row of a table, f16
	                      * in the F16 row */
	int64_t ld;          /* elements from one row to the next (kv_dim) */
	const float *q;      /* (g, hd) the group's queries */
	int32_t g, hd, n;    /* heads, head_dim, rows (1..L32_ATTN_CHUNK) */
	float scale;         /* of the scores */
	float *tmp;          /* l32_attn_tmp_floats(g, hd) floats of scratch */
	float *out;          /* g * (hd + 2) floats, as above */
};
typedef void (*l32_attn_fn)(const struct l32_attn_chunk *a);

/* Rows of K or V an attention kernel widens (f16) and reuses at a time. */
#define L32_ATTN_ROWS 16
/* The scratch of an attention kernel: the scores of the chunk, and a
 * block of widened rows. */
#define l32_attn_tmp_floats(g, hd) \
	((size_t)(g) * L32_ATTN_CHUNK + (size_t)L32_ATTN_ROWS * (size_t)(hd))

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
	/* The fewest tokens for which gemm is faster than rows_xq (0: the
	 * matmul's default). */
	int gemm_from;
	/* Only in the rows of the K/V cache's types (F32, F16): decode
	 * attention over a chunk of that cache (l32_attn_fn). */
	l32_attn_fn attn;
};

/*
 * A kernel table holds one row per weight type (L32_TYPE_COUNT rows, a
 * type without kernels all NULL), as ggml's type_traits_cpu.  Adding a
 * weight type is its layout and scalar reference (formats/quant.h), its
 * kernels on each ISA, and one row in each table.
 *
 * What an ISA provides: one table, every row of which meets the contract
 * of struct l32_kernels (dequant bit for bit; dot against the scalar
 * reference within the rounding of the 8-bit activations; rows, rows_xq
 * and gemm the dot kernel's results bit for bit; the quantizer the same
 * bytes as xq.c's) and an entry in cpu.h's enum l32_isa with the features
 * it needs.  tests/unit/test_kernels.c checks every row of every table,
 * tests/unit/test_attention.c the attention kernels of its F32 and F16
 * rows (against a double-precision softmax, to about 1e-5).
 *
 * The x86 ISAs share one template on 256-bit vectors (x86_drivers.inc:
 * the drivers and the table; x86_vec.inc: the vector helpers;
 * x86_<type>.inc: each weight type's decode tile, prompt tile and
 * dequantization).  An x86 ISA is one file of primitives that defines,
 * then includes x86_drivers.inc:
 *   KS_DOT_ACC(a, u, s)  a plus the __m256i whose 32-bit lane i is
 *                        Σ_{j<4} u[4i+j] * s[4i+j], u unsigned bytes, s
 *                        signed (no saturation: |u| <= 128, |s| <= 127)
 *   KS_TABLE             the name of its table (l32_kernels_<isa>)
 * and a rule in the Makefile for its compiler flags (files *-<isa>.c).
 * The type files are written in x86 intrinsics: another vector ISA (ARM
 * NEON) gets its table from its own type files, or, unoptimised, from this
 * template compiled against SIMDe (as the tests build it, with
 * L32_KERNELS_EMULATED).
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
/* The installed decode attention kernel of an f32 (f16 = 0) or f16
 * cache; the portable one while quant.c's reference table, which has
 * none, is installed. */
l32_attn_fn l32_attn_kernel(int f16);
/* The portable C attention kernels (portable_attn.c). */
void l32_attn_portable_f32(const struct l32_attn_chunk *a);
void l32_attn_portable_f16(const struct l32_attn_chunk *a);

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
