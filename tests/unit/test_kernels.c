/*
 * test_kernels.c - the fast kernels of every weight type on every ISA
 * path this CPU runs, against quant.c's scalar reference: dequantization
 * bit for bit; dot products within the rounding of the 8-bit activations,
 * and to ~1e-5 of the exact dot product with those activations; rows
 * kernels equal to the dot kernel bit for bit for 1..8 tokens (a token's
 * result does not depend on its batch).  Then the CPU detection, the
 * L32_ISA override, and the thread pool.
 */
#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cpu.h"
#include "compute/kernels/kernels.h"
#include "l32.h"
#include "prog/l32_prog.h"
#include "compute/matmul.h"
#include "base/pool.h"
#include "formats/quant.h"
#include "isa_paths.h"
#include "recipe.h"

static const enum l32_type types[] = {
	L32_TYPE_F32, L32_TYPE_F16, L32_TYPE_BF16, L32_TYPE_Q8_0, L32_TYPE_Q4_0,
	L32_TYPE_Q5_0, L32_TYPE_Q5_1, L32_TYPE_Q4_K, L32_TYPE_Q5_K, L32_TYPE_Q6_K,
};
#define N_TYPES (int)(sizeof(types) / sizeof(types[0]))

/* ------------------------------------------------------------- random data */

static uint64_t rng_state;

static uint64_t
rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi). */
static float
urand(float lo, float hi)
{
	return lo + (hi - lo) * (float)(rnd() >> 40) / (float)(1 << 24);
}

/* Roughly normal (sum of uniforms), scaled. */
static float
nrand(float sigma)
{
	float s = 0.0f;

	for (int i = 0; i < 4; i++)
		s += urand(-1.0f, 1.0f);
	return s * sigma * 0.866f;
}

static void
put_f16(uint8_t *p, float v)
{
	uint16_t h = l32_f32_to_f16(v);

	memcpy(p, &h, 2);
}

static void
fill_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* One valid block of a block type at p: f16 scales of the sizes real files
 * have, random quants (the full range, -128 included for Q8_0). */
static void
make_block(enum l32_type type, uint8_t *p)
{
	switch (type) {
	case L32_TYPE_Q8_0:
		put_f16(p, urand(1e-4f, 1e-2f));
		fill_bytes(p + 2, 32);
		break;
	case L32_TYPE_Q4_0:
		put_f16(p, urand(1e-3f, 3e-2f));
		fill_bytes(p + 2, 16);
		break;
	case L32_TYPE_Q5_0:
		put_f16(p, urand(5e-4f, 2e-2f));
		fill_bytes(p + 2, 20);
		break;
	case L32_TYPE_Q5_1: {
		float d = urand(5e-4f, 2e-2f);

		put_f16(p, d);
		put_f16(p + 2, -16.0f * d + urand(-d, d));
		fill_bytes(p + 4, 20);
		break;
	}
	case L32_TYPE_Q4_K:
	case L32_TYPE_Q5_K:
		put_f16(p, urand(1e-4f, 2e-3f));
		put_f16(p + 2, urand(0.0f, 2e-3f));
		fill_bytes(p + 4, type == L32_TYPE_Q4_K ? 140 : 172);
		break;
	case L32_TYPE_Q6_K:
		fill_bytes(p, 208);
		put_f16(p + 208, urand(1e-5f, 1e-3f));
		break;
	default:
		break;
	}
}

/* A matrix of rows x cols of type (rows contiguous, row_bytes apart). */
static uint8_t *
make_matrix(enum l32_type type, int64_t rows, int64_t cols, size_t *row_bytes)
{
	const struct l32_type_traits *tr = l32_type_traits(type);
	size_t rb = l32_type_row_bytes(type, cols);
	uint8_t *m = malloc(rb * (size_t)rows + 64), *p = m;

	ck_assert(rb > 0 && m != NULL);
	*row_bytes = rb;
	for (int64_t r = 0; r < rows; r++)
		for (int64_t i = 0; i < cols; i += tr->block, p += tr->block_bytes) {
			float v = nrand(0.05f);
			uint16_t h;

			switch (type) {
			case L32_TYPE_F32:
				memcpy(p, &v, 4);
				break;
			case L32_TYPE_F16:
				put_f16(p, v);
				break;
			case L32_TYPE_BF16:
				h = l32_f32_to_bf16(v);
				memcpy(p, &h, 2);
				break;
			default:
				make_block(type, p);
				break;
			}
		}
	return m;
}

/* Activations: roughly normal, with an occasional outlier as real
 * hidden states have. */
static void
make_x(float *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		x[i] = (rnd() % 97 == 0) ? nrand(8.0f) : nrand(1.0f);
}

static int
is_block_type(enum l32_type type)
{
	return l32_type_traits(type)->block > 1;
}

/* Row lengths tested: a few blocks, a model's width, odd lengths for the
 * plain types. */
static int64_t
test_cols(enum l32_type type, int k)
{
	static const int64_t plain[] = { 37, 256, 2048 + 5 };
	static const int64_t q32[] = { 32 * 7, 1024 + 96, 2048 };
	static const int64_t qk[] = { 256, 256 * 5, 2048 };
	int block = l32_type_traits(type)->block;

	return block == 1 ? plain[k] : block == 32 ? q32[k] : qk[k];
}

/* ------------------------------------------------------------- ISA paths */

/* Every path (isa_paths.h): natively where the CPU runs the ISA, and the
 * emulated build of each SIMD ISA; set in main before the tests fork. */
static struct isa_path paths[ISA_PATHS_MAX];
static int n_paths;

static const char *
tname(enum l32_type type)
{
	return l32_type_traits(type)->name;
}

/* The kernels of type on a path. */
static struct l32_kernels
kernels_of(const struct isa_path *isa, enum l32_type type)
{
	ck_assert_msg(isa->table[type].dot != NULL, "%s: no kernels on %s",
	    tname(type), isa->name);
	return isa->table[type];
}

/* _i of a loop test over types × paths. */
static void
split(int i, enum l32_type *type, const struct isa_path **isa)
{
	*type = types[i % N_TYPES];
	*isa = &paths[i / N_TYPES];
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_dequant)
{
	enum l32_type type;
	const struct isa_path *isa;
	struct l32_kernels ks;

	split(_i, &type, &isa);
	rng_state = 1000 + (uint64_t)_i;
	ks = kernels_of(isa, type);
	for (int k = 0; k < 3; k++) {
		int64_t cols = test_cols(type, k);
		size_t rb;
		uint8_t *w = make_matrix(type, 3, cols, &rb);
		float *a = malloc((size_t)cols * sizeof(float));
		float *b = malloc((size_t)cols * sizeof(float));

		for (int r = 0; r < 3; r++) {
			l32_dequant_ref(type)(w + r * rb, a, cols);
			ks.dequant(w + r * rb, b, cols);
			for (int64_t i = 0; i < cols; i++)
				ck_assert_msg(memcmp(&a[i], &b[i], sizeof(float)) == 0,
				    "%s on %s: value %lld of %lld: %.9g, reference %.9g",
				    tname(type), isa->name, (long long)i,
				    (long long)cols, (double)b[i], (double)a[i]);
		}
		free(a);
		free(b);
		free(w);
	}
}
END_TEST

/* The quantized activations of an ISA are the portable quantizer's, byte
 * for byte. */
START_TEST(test_quantize_same_bytes)
{
	enum l32_type type;
	const struct isa_path *isa;
	struct l32_kernels ks;
	int64_t cols = 2048;
	size_t xs;
	float *x = malloc((size_t)cols * sizeof(float));
	char *a, *b;

	split(_i, &type, &isa);
	if (!is_block_type(type)) {
		free(x);
		return;
	}
	rng_state = 2000 + (uint64_t)_i;
	ks = kernels_of(isa, type);
	ck_assert(ks.xq != L32_XQ_NONE && ks.quantize != NULL && ks.rows_xq != NULL);
	xs = l32_xq_bytes(ks.xq, cols);
	a = calloc(1, xs);
	b = calloc(1, xs);
	make_x(x, cols);
	x[5] = 0.5f / 127.0f * 3.0f; /* exact ties occur; all paths round them alike */
	for (int i = 64; i < 96; i++)
		x[i] = 0.0f;             /* an all-zero block: d = 0, q = 0 */
	l32_xq_quantize(ks.xq, x, cols, a);
	ks.quantize(x, cols, b);
	ck_assert_msg(memcmp(a, b, xs) == 0, "%s on %s: quantized activations differ",
	    tname(type), isa->name);
	free(a);
	free(b);
	free(x);
}
END_TEST

START_TEST(test_dot)
{
	enum l32_type type;
	const struct isa_path *isa;
	struct l32_kernels ks;

	split(_i, &type, &isa);
	rng_state = 3000 + (uint64_t)_i;
	ks = kernels_of(isa, type);
	for (int k = 0; k < 3; k++) {
		int64_t cols = test_cols(type, k);
		size_t rb, xs = l32_xq_bytes(ks.xq, cols);
		uint8_t *w = make_matrix(type, 4, cols, &rb);
		float *x = malloc((size_t)cols * sizeof(float));
		float *xd = malloc((size_t)cols * sizeof(float));
		float *wd = malloc((size_t)cols * sizeof(float));
		void *xq = aligned_alloc(64, xs);

		make_x(x, cols);
		/* the activations each kernel actually meets */
		if (ks.xq != L32_XQ_NONE) {
			l32_xq_quantize(ks.xq, x, cols, xq);
			l32_xq_dequant(ks.xq, xq, cols, xd);
		} else {
			memcpy(xd, x, (size_t)cols * sizeof(float));
		}
		for (int r = 0; r < 4; r++) {
			const uint8_t *row = w + r * rb;
			double exact = 0, mag = 0, qerr = 0, exact_x = 0;
			float got = ks.dot(row, x, cols);
			float ref_q = l32_dot_ref(type)(row, xd, cols);
			float ref = l32_dot_ref(type)(row, x, cols);

			l32_dequant_ref(type)(row, wd, cols);
			for (int64_t i = 0; i < cols; i++) {
				exact += (double)wd[i] * xd[i];
				exact_x += (double)wd[i] * x[i];
				mag += fabs((double)wd[i] * xd[i]);
				qerr += fabs((double)wd[i]) * fabs((double)x[i] - xd[i]);
			}
			/* against the exact dot product of what it computes */
			ck_assert_msg(fabs(got - exact) <= 1e-5 * mag + 1e-30,
			    "%s on %s, %lld values: %.9g, exact %.9g (|w·x| %.3g)",
			    tname(type), isa->name, (long long)cols,
			    (double)got, exact, mag);
			/* against the scalar reference on the same activations */
			ck_assert_msg(fabs(got - ref_q) <= 2e-5 * mag + 1e-30,
			    "%s on %s, %lld values: %.9g, reference on quantized x %.9g",
			    tname(type), isa->name, (long long)cols,
			    (double)got, (double)ref_q);
			/* against the reference on the f32 activations: apart
			 * by no more than the activations' rounding moves it */
			ck_assert_msg(fabs(got - ref) <= qerr + 2e-5 * mag + 1e-30,
			    "%s on %s, %lld values: %.9g, reference %.9g, allowed %.3g",
			    tname(type), isa->name, (long long)cols,
			    (double)got, (double)ref, qerr + 2e-5 * mag);
			(void)exact_x;
		}
		free(xq);
		free(wd);
		free(xd);
		free(x);
		free(w);
	}
}
END_TEST

/* rows for n = 1..8 tokens over an odd range of rows: each result equals
 * the dot kernel's bit for bit, and nothing outside the range is written;
 * the same through rows_xq. */
START_TEST(test_rows)
{
	enum l32_type type;
	const struct isa_path *isa;
	struct l32_kernels ks;
	const int64_t rows = 19, r0 = 2, r1 = 17, ldy = rows + 3;

	split(_i, &type, &isa);
	rng_state = 4000 + (uint64_t)_i;
	ks = kernels_of(isa, type);
	for (int k = 0; k < 2; k++) {
		int64_t cols = test_cols(type, k);
		size_t rb, xs = l32_xq_bytes(ks.xq, cols);
		uint8_t *wm = make_matrix(type, rows, cols, &rb);
		struct l32_tensor w = { "w", type, cols, rows, wm, rb };
		float *x = malloc(8 * (size_t)cols * sizeof(float));
		float *y = malloc(8 * (size_t)ldy * sizeof(float));
		float *y2 = malloc(8 * (size_t)ldy * sizeof(float));
		char *xq = aligned_alloc(64, 8 * xs);

		make_x(x, 8 * cols);
		for (int64_t n = 1; n <= 8; n++) {
			for (int64_t i = 0; i < 8 * ldy; i++)
				y[i] = y2[i] = -12345.0f;
			ks.rows(&w, r0, r1, x, n, y, ldy);
			if (ks.xq != L32_XQ_NONE) {
				for (int64_t t = 0; t < n; t++)
					ks.quantize(x + t * cols, cols, xq + (size_t)t * xs);
				ks.rows_xq(&w, r0, r1, xq, n, y2, ldy);
			} else {
				memcpy(y2, y, 8 * (size_t)ldy * sizeof(float));
			}
			for (int64_t t = 0; t < 8; t++)
				for (int64_t r = 0; r < ldy; r++) {
					float want = -12345.0f, got = y[t * ldy + r];

					if (t < n && r >= r0 && r < r1)
						want = ks.dot(wm + r * rb, x + t * cols, cols);
					ck_assert_msg(memcmp(&got, &want, sizeof(float)) == 0,
					    "%s on %s, rows: n %lld, token %lld, row %lld: %.9g, dot %.9g",
					    tname(type), isa->name, (long long)n,
					    (long long)t, (long long)r, (double)got, (double)want);
					got = y2[t * ldy + r];
					ck_assert_msg(memcmp(&got, &want, sizeof(float)) == 0,
					    "%s on %s, rows_xq: n %lld, token %lld, row %lld: %.9g, dot %.9g",
					    tname(type), isa->name, (long long)n,
					    (long long)t, (long long)r, (double)got, (double)want);
				}
		}
		free(xq);
		free(y2);
		free(y);
		free(x);
		free(wm);
	}
}
END_TEST

/* The prompt kernels (gemm) on n = 1..133 tokens in groups of 8, over an
 * odd range of rows (two whole tiles of 16 and 7 rows left over, for the
 * kernels with 16-row tiles; past 128 tokens, where a tile's sums are
 * stored and started again): each result the dot kernel's bit for bit (so
 * a token gets the same logits in a prompt, alone, or in a decode step
 * beside others), and nothing outside the rows and tokens written. */
START_TEST(test_gemm)
{
	static const int64_t ns[] = { 1, 4, 7, 8, 9, 16, 23, 40, 133 };
	enum l32_type type;
	const struct isa_path *isa;
	struct l32_kernels ks;
	const int64_t rows = 43, r0 = 2, r1 = 41, ldy = rows + 3, nmax = 133;

	split(_i, &type, &isa);
	ks = kernels_of(isa, type);
	if (ks.gemm == NULL)
		return;
	ck_assert(ks.xq != L32_XQ_NONE);
	rng_state = 7000 + (uint64_t)_i;
	for (int k = 0; k < 3; k++) {
		int64_t cols = test_cols(type, k);
		size_t rb, xs = l32_xq_bytes(ks.xq, cols), gb = l32_xq_group_bytes(ks.xq, cols);
		uint8_t *wm = make_matrix(type, rows, cols, &rb);
		struct l32_tensor w = { "w", type, cols, rows, wm, rb };
		float *x = malloc((size_t)(nmax * cols) * sizeof(float));
		float *y = malloc((size_t)(nmax * ldy) * sizeof(float));
		char *xq = aligned_alloc(64, (size_t)nmax * xs);
		/* aligned_alloc takes whole multiples of the alignment */
		char *groups = aligned_alloc(64, (gb * (size_t)(nmax / 8 + 1) + 63) & ~(size_t)63);

		make_x(x, nmax * cols);
		for (int64_t t = 0; t < nmax; t++)
			ks.quantize(x + t * cols, cols, xq + (size_t)t * xs);
		for (size_t q = 0; q < sizeof(ns) / sizeof(ns[0]); q++) {
			int64_t n = ns[q];

			for (int64_t t = 0; t < n; t += 8)
				l32_xq_group(ks.xq, xq, xs, cols, t, n - t < 8 ? n - t : 8,
				    groups + (size_t)(t / 8) * gb);
			for (int64_t i = 0; i < nmax * ldy; i++)
				y[i] = -12345.0f;
			ks.gemm(&w, r0, r1, groups, n, y, ldy);
			for (int64_t t = 0; t < nmax; t++)
				for (int64_t r = 0; r < ldy; r++) {
					float got = y[t * ldy + r], want = -12345.0f;

					if (t < n && r >= r0 && r < r1)
						want = ks.dot(wm + r * rb, x + t * cols, cols);
					ck_assert_msg(memcmp(&got, &want, sizeof(float)) == 0,
					    "%s on %s, gemm: cols %lld, n %lld, token %lld, row %lld: %.9g, dot %.9g",
					    tname(type), isa->name, (long long)cols, (long long)n,
					    (long long)t, (long long)r, (double)got, (double)want);
				}
		}
		free(groups);
		free(xq);
		free(y);
		free(x);
		free(wm);
	}
}
END_TEST

/* The SIMD paths agree with the portable one within rounding (they sum
 * in another order). */
START_TEST(test_paths_agree)
{
	enum l32_type type;
	const struct isa_path *isa;
	struct l32_kernels ks, kp, k2;
	const struct isa_path *avx2 = NULL;
	int64_t cols;
	size_t rb;
	uint8_t *w;
	float *x, *wd;

	split(_i, &type, &isa);
	if (isa->isa == L32_ISA_PORTABLE)
		return;
	for (int i = n_paths - 1; i >= 0; i--)
		if (paths[i].isa == L32_ISA_AVX2)
			avx2 = &paths[i];
	ck_assert(avx2 != NULL);
	k2 = kernels_of(avx2, type);
	rng_state = 5000 + (uint64_t)_i;
	cols = test_cols(type, 2);
	w = make_matrix(type, 8, cols, &rb);
	x = malloc((size_t)cols * sizeof(float));
	wd = malloc((size_t)cols * sizeof(float));
	make_x(x, cols);
	ks = kernels_of(isa, type);
	kp = kernels_of(&paths[0], type);
	for (int r = 0; r < 8; r++) {
		double mag = 0;
		float a = ks.dot(w + r * rb, x, cols), b = kp.dot(w + r * rb, x, cols);

		l32_dequant_ref(type)(w + r * rb, wd, cols);
		for (int64_t i = 0; i < cols; i++)
			mag += fabs((double)wd[i] * x[i]);
		ck_assert_msg(fabs(a - b) <= 2e-5 * mag, "%s: %s %.9g, portable %.9g",
		    tname(type), isa->name, (double)a, (double)b);
		/* every x86 path runs the same template, AVX-512VL/VNNI with
		 * vpdpbusd for byte products that never saturate, the
		 * emulated builds through SIMDe: the bits of the first AVX2
		 * path (native where the CPU has it) */
		if (isa != avx2) {
			float c = k2.dot(w + r * rb, x, cols);

			ck_assert_msg(memcmp(&a, &c, sizeof(a)) == 0, "%s: %s %.9g, %s %.9g",
			    tname(type), isa->name, (double)a, avx2->name, (double)c);
		}
	}
	free(wd);
	free(x);
	free(w);
}
END_TEST

START_TEST(test_isa_select)
{
	struct l32_err err;
	enum l32_isa isa;
	char have[160];

	l32_cpu_feature_names(l32_cpu_features(), have, sizeof(have));
	ck_assert_int_eq(l32_isa_select(NULL, &isa, &err), 0);
	ck_assert_int_eq(isa, l32_isa_best());
	ck_assert_int_eq(l32_isa_select("auto", &isa, &err), 0);
	ck_assert_int_eq(isa, l32_isa_best());
	ck_assert_int_eq(l32_isa_select("portable", &isa, &err), 0);
	ck_assert_int_eq(isa, L32_ISA_PORTABLE);
	ck_assert_int_eq(l32_isa_select("sse9", &isa, &err), -1);
	ck_assert_msg(strstr(err.msg, "L32_ISA=sse9") != NULL &&
	    strstr(err.msg, "avx512vl-vnni") != NULL, "message: %s", err.msg);
	/* the old name of the VNNI path still names it */
	l32_err_clear(&err);
	if (l32_isa_supported(L32_ISA_AVX512VL_VNNI)) {
		ck_assert_int_eq(l32_isa_select("avx512", &isa, &err), 0);
		ck_assert_int_eq(isa, L32_ISA_AVX512VL_VNNI);
	} else {
		ck_assert_int_eq(l32_isa_select("avx512", &isa, &err), -1);
		ck_assert_int_eq(err.kind, L32_ERR_UNSUPPORTED);
	}
	for (int i = 1; i < L32_ISA_COUNT; i++) {
		const char *name = l32_isa_name((enum l32_isa)i);

		l32_err_clear(&err);
		if (l32_isa_supported((enum l32_isa)i)) {
			ck_assert_int_eq(l32_isa_select(name, &isa, &err), 0);
			ck_assert_int_eq(isa, i);
		} else {
			/* forcing what the CPU lacks is an error, not a crash */
			ck_assert_int_eq(l32_isa_select(name, &isa, &err), -1);
			ck_assert_int_eq(err.kind, L32_ERR_UNSUPPORTED);
			ck_assert_msg(strstr(err.msg, "lacks") != NULL, "message: %s", err.msg);
		}
	}
	/* a CPU that runs an ISA runs the ones below it */
	for (int i = 1; i < L32_ISA_COUNT; i++)
		if (l32_isa_supported((enum l32_isa)i))
			ck_assert(l32_isa_supported((enum l32_isa)(i - 1)));
	ck_assert(strlen(have) > 0);
}
END_TEST

/* l32_kernels_init with L32_ISA as the suite runs under (unset: the
 * best): installs that ISA's kernels, or fails with a message when the CPU
 * cannot run it. */
START_TEST(test_kernels_init)
{
	const char *want = getenv("L32_ISA");
	struct l32_err err;
	enum l32_isa isa;
	int rc_sel = l32_isa_select(want, &isa, &err);

	l32_err_clear(&err);
	if (rc_sel < 0) {
		ck_assert_int_eq(l32_kernels_init(&err), -1);
		ck_assert_msg(strstr(err.msg, "L32_ISA") != NULL, "message: %s", err.msg);
		return;
	}
	ck_assert_msg(l32_kernels_init(&err) == 0, "%s", err.msg);
	ck_assert_int_eq(l32_kernels_isa(), isa);
	/* every member of every row, the prompt kernels included */
	for (int t = 0; t < L32_TYPE_COUNT; t++) {
		const struct l32_kernels *got = l32_kernels_get((enum l32_type)t);
		const struct l32_kernels *want = &l32_kernels_table(isa)[t];

		if (want->dot == NULL) {
			ck_assert(got == NULL);
			continue;
		}
		ck_assert(got != NULL);
		ck_assert_msg(memcmp(got, want, sizeof(*got)) == 0,
		    "%s: installed kernels differ from the %s table",
		    l32_type_traits(t)->name, l32_isa_name(isa));
	}
	/* a second call gives the first outcome */
	ck_assert_int_eq(l32_kernels_init(&err), 0);
}
END_TEST

/* ------------------------------------------------------------------- pool */

/* Calls of a job by ith, and the nth each saw. */
struct count_job {
	atomic_int calls[8];
	atomic_int bad;       /* calls with ith out of range or an unexpected nth */
	int nth;              /* the pool's size */
	int nth_seen;         /* nth of the current job (its share 0 sets it) */
	int late_ith;         /* this share sleeps late_us in each job, or -1 */
	int late_us;
};

static void
count_fn(void *arg, int ith, int nth)
{
	struct count_job *j = arg;

	if ((nth != j->nth && nth != 1) || ith < 0 || ith >= nth) {
		atomic_fetch_add(&j->bad, 1);
		return;
	}
	if (ith == 0)
		j->nth_seen = nth;
	atomic_fetch_add(&j->calls[ith], 1);
	if (ith == j->late_ith) {
		struct timespec ts = { 0, (long)j->late_us * 1000 };

		nanosleep(&ts, NULL);
	}
}

/* Each job runs once on each of its nth threads: all of the pool's, or
 * the caller's alone (while workers are late, which a busy machine can
 * cause here too). */
START_TEST(test_pool_every_thread_once)
{
	for (int n = 1; n <= 4; n++) {
		struct l32_err err;
		struct l32_pool *p = l32_pool_new(n, &err);
		struct count_job j;
		int runs = 20000, all = 0;

		ck_assert_msg(p != NULL, "%s", err.msg);
		ck_assert_int_eq(l32_pool_threads(p), n);
		memset(&j, 0, sizeof(j));
		j.nth = n;
		j.late_ith = -1;
		for (int r = 0; r < runs; r++) {
			int before[8];

			for (int i = 0; i < n; i++)
				before[i] = atomic_load(&j.calls[i]);
			l32_pool_run(p, count_fn, &j);
			for (int i = 0; i < n; i++)
				ck_assert_int_eq(atomic_load(&j.calls[i]) - before[i],
				    i < j.nth_seen ? 1 : 0);
			all += j.nth_seen == n;
		}
		ck_assert_int_eq(atomic_load(&j.bad), 0);
		/* how many runs have every thread depends on the load of the
		 * machine (a late worker is left out); some must */
		ck_assert_int_gt(all, 0);
		l32_pool_free(p);
	}
}
END_TEST

/* A worker that keeps arriving late (as on a core shared with a busy
 * process) makes the pool run jobs on the caller's thread alone for a
 * while, then on all threads again. */
START_TEST(test_pool_late_worker)
{
	struct l32_err err;
	struct l32_pool *p = l32_pool_new(2, &err);
	struct count_job j;
	int solo = 0, r;

	ck_assert(p != NULL);
	memset(&j, 0, sizeof(j));
	j.nth = 2;
	j.late_ith = 1;
	j.late_us = 2000;
	for (r = 0; r < 16 && j.nth_seen != 1; r++)
		l32_pool_run(p, count_fn, &j);
	j.late_ith = -1;
	for (r = 0; r < 2000; r++) {
		l32_pool_run(p, count_fn, &j);
		if (j.nth_seen != 1)
			break;
		solo++;
	}
	ck_assert_msg(solo >= 100, "jobs on the caller alone after late workers: %d", solo);
	ck_assert_msg(r < 2000, "the pool never went back to all threads");
	ck_assert_int_eq(atomic_load(&j.bad), 0);
	l32_pool_free(p);
}
END_TEST

/* Workers that have gone to sleep wake for the next job. */
START_TEST(test_pool_after_sleep)
{
	struct l32_err err;
	struct l32_pool *p = l32_pool_new(3, &err);
	struct count_job j;
	struct timespec ts = { 0, 2000000 };

	ck_assert(p != NULL);
	memset(&j, 0, sizeof(j));
	j.nth = 3;
	j.late_ith = -1;
	for (int r = 0; r < 20; r++) {
		nanosleep(&ts, NULL);
		l32_pool_run(p, count_fn, &j);
	}
	/* every job ran on the caller; the workers on those that used them */
	ck_assert_int_eq(atomic_load(&j.calls[0]), 20);
	ck_assert_int_eq(atomic_load(&j.calls[1]), atomic_load(&j.calls[2]));
	ck_assert_int_eq(atomic_load(&j.bad), 0);
	l32_pool_free(p);
}
END_TEST

/* A shared job: units claimed from a counter, each done exactly once
 * whoever joins. */
struct share_job {
	atomic_int next;
	atomic_int done[256];
	atomic_int bad;
};

static void
share_fn(void *arg, int ith, int nth)
{
	struct share_job *j = arg;
	int u;

	if (ith < 0 || ith >= nth)
		atomic_fetch_add(&j->bad, 1);
	while ((u = atomic_fetch_add(&j->next, 1)) < 256)
		atomic_fetch_add(&j->done[u], 1);
}

START_TEST(test_pool_share)
{
	for (int n = 1; n <= 3; n++) {
		struct l32_err err;
		struct l32_pool *p = l32_pool_new(n, &err);

		ck_assert(p != NULL);
		for (int r = 0; r < 3000; r++) {
			struct share_job j;

			memset(&j, 0, sizeof(j));
			/* now and then a pause, so workers go to sleep */
			if (r % 500 == 0) {
				struct timespec ts = { 0, 1000000 };

				nanosleep(&ts, NULL);
			}
			if (r % 2)
				l32_pool_share(p, share_fn, &j);
			else
				l32_pool_run(p, share_fn, &j);
			for (int u = 0; u < 256; u++)
				ck_assert_int_eq(atomic_load(&j.done[u]), 1);
			ck_assert_int_eq(atomic_load(&j.bad), 0);
		}
		l32_pool_free(p);
	}
}
END_TEST

START_TEST(test_pool_errors)
{
	struct l32_err err;

	l32_err_clear(&err);
	ck_assert(l32_pool_new(0, &err) == NULL);
	ck_assert_int_eq(err.kind, L32_ERR_INVALID);
	ck_assert_int_eq(l32_pool_threads(NULL), 1);
	l32_pool_free(NULL);
}
END_TEST

struct rows_job {
	const struct l32_kernels *ks;
	const struct l32_tensor *w;
	const float *x;
	int64_t n;
	float *y;
};

/* Rows split in contiguous shares, as a matrix product splits them. */
static void
rows_fn(void *arg, int ith, int nth)
{
	struct rows_job *j = arg;
	int64_t rows = j->w->rows;
	int64_t r0 = rows * ith / nth, r1 = rows * (ith + 1) / nth;

	j->ks->rows(j->w, r0, r1, j->x, j->n, j->y, rows);
}

/* A product split over 1, 2, 3 threads gives the same bits. */
START_TEST(test_pool_rows_identical)
{
	static const enum l32_type pt[] = { L32_TYPE_Q8_0, L32_TYPE_Q4_K, L32_TYPE_F16 };
	enum l32_isa isa = l32_isa_best();

	rng_state = 6000;
	for (size_t k = 0; k < sizeof(pt) / sizeof(pt[0]); k++) {
		struct l32_kernels ks;
		int64_t rows = 301, cols = 1024, n = 3;
		size_t rb;
		uint8_t *wm = make_matrix(pt[k], rows, cols, &rb);
		struct l32_tensor w = { "w", pt[k], cols, rows, wm, rb };
		float *x = malloc((size_t)(n * cols) * sizeof(float));
		float *y[3];

		ks = l32_kernels_table(isa)[pt[k]];
		make_x(x, n * cols);
		for (int t = 1; t <= 3; t++) {
			struct l32_err err;
			struct l32_pool *p = l32_pool_new(t, &err);
			struct rows_job j = { &ks, &w, x, n, NULL };

			ck_assert(p != NULL);
			y[t - 1] = malloc((size_t)(n * rows) * sizeof(float));
			j.y = y[t - 1];
			l32_pool_run(p, rows_fn, &j);
			l32_pool_free(p);
		}
		ck_assert(memcmp(y[0], y[1], (size_t)(n * rows) * sizeof(float)) == 0);
		ck_assert(memcmp(y[0], y[2], (size_t)(n * rows) * sizeof(float)) == 0);
		for (int t = 0; t < 3; t++)
			free(y[t]);
		free(x);
		free(wm);
	}
}
END_TEST

/* ---------------------------------------------------------- batch invariance */

#define INV_SEQ 8
#define INV_STEPS 3

/* Logits of INV_STEPS decode steps of INV_SEQ sequences (after a prompt
 * each, prefilled alone) on a context of n_threads threads; mode 0 steps
 * each sequence alone, 1 all in one batch (the prompt kernels' path), 2
 * in a batch of three (the per-row kernels') then one at a time, in
 * another order.  out: (INV_STEPS, INV_SEQ, vocab). */
static void
decode_steps(struct l32_model *m, int n_threads, int mode, float *out)
{
	static const int32_t order[INV_SEQ] = { 5, 2, 7, 0, 3, 6, 1, 4 };
	int32_t vocab = l32_model_hparams(m)->vocab;
	struct l32_ctx_params p;
	struct l32_ctx *c;
	struct l32_err err;

	l32_ctx_params_init(&p);
	p.n_ctx = 32;
	p.n_seq = INV_SEQ;
	p.n_batch = 8;
	p.n_threads = n_threads;
	c = l32_ctx_new(m, &p, &err);
	ck_assert_msg(c != NULL, "l32_ctx_new: %s", err.msg);
	for (int32_t s = 0; s < INV_SEQ; s++) {
		int32_t tok[4] = { 128000, 100 + 7 * s, 2000 + s, 300 + 3 * s };
		int32_t pos[4] = { 0, 1, 2, 3 }, seq[4] = { s, s, s, s };
		struct l32_batch b = { 4, tok, pos, seq, NULL };

		ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
	}
	for (int32_t step = 0; step < INV_STEPS; step++) {
		int32_t tok[INV_SEQ], pos[INV_SEQ], seq[INV_SEQ];
		uint8_t outf[INV_SEQ];
		int32_t done = 0;

		while (done < INV_SEQ) {
			int32_t n = mode == 0 ? 1 : mode == 1 ? INV_SEQ : done == 0 ? 3 : 1;
			struct l32_batch b = { n, tok, pos, seq, outf };

			for (int32_t i = 0; i < n; i++) {
				int32_t s = mode == 2 ? order[done + i] : done + i;

				tok[i] = 1000 + 10 * step + s;
				pos[i] = 4 + step;
				seq[i] = s;
				outf[i] = L32_OUT_LOGITS;
			}
			ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
			for (int32_t i = 0; i < n; i++)
				memcpy(out + ((size_t)step * INV_SEQ + (size_t)seq[i]) * (size_t)vocab,
				    l32_ctx_logits(c, i), (size_t)vocab * sizeof(float));
			done += n;
		}
	}
	l32_ctx_free(c);
}

/* A sequence's logits are the same bits alone, in a batch of any size and
 * order, and on any number of threads, with the fast kernels the context
 * installs (8-bit activations included). */
START_TEST(test_batch_invariance)
{
	static const enum l32_type mt[] = { L32_TYPE_Q8_0, L32_TYPE_Q4_0, L32_TYPE_F32 };
	struct l32_err err;
	struct l32_model *m = l32_recipe_model("tiny", mt[_i], 0, &err);
	size_t n;
	float *ref, *got;

	ck_assert_msg(m != NULL, "recipe model: %s", err.msg);
	n = (size_t)INV_STEPS * INV_SEQ * (size_t)l32_model_hparams(m)->vocab;
	ref = malloc(n * sizeof(float));
	got = malloc(n * sizeof(float));
	decode_steps(m, 1, 0, ref);
	for (int threads = 1; threads <= 3; threads++)
		for (int mode = 0; mode < 3; mode++) {
			if (threads == 1 && mode == 0)
				continue;
			decode_steps(m, threads, mode, got);
			ck_assert_msg(memcmp(ref, got, n * sizeof(float)) == 0,
			    "%s: logits differ with %d threads, batch mode %d",
			    tname(mt[_i]), threads, mode);
		}
	free(got);
	free(ref);
	l32_recipe_model_free(m);
}
END_TEST

/* ------------------------------------------------------------------- main */

static Suite *
kernels_suite(void)
{
	Suite *s = suite_create("kernels");
	TCase *tc;
	int n = N_TYPES * n_paths;

	tc = tcase_create("kernels");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_dequant, 0, n);
	tcase_add_loop_test(tc, test_quantize_same_bytes, 0, n);
	tcase_add_loop_test(tc, test_dot, 0, n);
	tcase_add_loop_test(tc, test_rows, 0, n);
	tcase_add_loop_test(tc, test_gemm, 0, n);
	tcase_add_loop_test(tc, test_paths_agree, 0, n);
	suite_add_tcase(s, tc);

	tc = tcase_create("cpu");
	tcase_add_test(tc, test_isa_select);
	tcase_add_test(tc, test_kernels_init);
	suite_add_tcase(s, tc);

	tc = tcase_create("pool");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_pool_every_thread_once);
	tcase_add_test(tc, test_pool_after_sleep);
	tcase_add_test(tc, test_pool_late_worker);
	tcase_add_test(tc, test_pool_share);
	tcase_add_test(tc, test_pool_errors);
	tcase_add_test(tc, test_pool_rows_identical);
	suite_add_tcase(s, tc);

	tc = tcase_create("batch");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_batch_invariance, 0, 3);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	char have[160], missing[160];
	int failed;

	/* say what this CPU lacks, and so runs emulated only */
	l32_cpu_feature_names(l32_cpu_features(), have, sizeof(have));
	printf("test_kernels: CPU features: %s\n", have);
	for (int i = 0; i < L32_ISA_COUNT; i++) {
		enum l32_isa isa = (enum l32_isa)i;

		if (l32_isa_supported(isa))
			continue;
		l32_cpu_feature_names(l32_isa_needs(isa) & ~l32_cpu_features(),
		    missing, sizeof(missing));
		printf("test_kernels: ISA %s: not native, this CPU lacks %s\n",
		    l32_isa_name(isa), missing);
	}
	n_paths = isa_paths(1, paths);
	sr = srunner_create(kernels_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* last, where a log's tail shows it: the paths the kernels ran on */
	isa_paths_print("test_kernels", 1);
	return failed == 0 ? 0 : 1;
}
