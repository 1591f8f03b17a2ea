/*
 * test_attention.c - the decode attention kernels (kernels.h,
 * l32_attn_fn) of an f32 and an f16 cache on every ISA path, native and
 * emulated, against a plain double-precision reference: the max score,
 * the sum of the weights and the weighted values of each head of a
 * group, for whole and ragged chunks, head sizes off the vector width and
 * rows strided as in the cache; results that do not depend on what the
 * scratch held; very small weights; NaN carried through.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/kernels/kernels.h"
#include "formats/quant.h"
#include "isa_paths.h"

static struct isa_path paths[ISA_PATHS_MAX];
static int n_paths;

static uint64_t rng_state;

static float
urand(float lo, float hi)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return lo + (hi - lo) * (float)(z >> 40) / (float)(1 << 24);
}

/* Shapes: heads of the group, head_dim, rows of the chunk. */
static const struct shape {
	int32_t g, hd, n;
} shapes[] = {
	{ 4, 64, L32_ATTN_CHUNK },   /* Llama 3.2 1B */
	{ 3, 128, 37 },              /* 3B, a ragged last chunk */
	{ 4, 64, 1 },                /* the first position alone */
	{ 1, 6, 17 },                /* a head under one vector */
	{ 2, 42, L32_ATTN_CHUNK - 1 },
	{ 5, 72, 100 },
};
#define N_SHAPES (int)(sizeof(shapes) / sizeof(shapes[0]))

/* A chunk of a cache: K and V rows of ld elements, the group's head at
 * offset off of each, f32 or f16 (and then their f32 values in kf, vf). */
struct chunk {
	struct shape sh;
	int f16;
	int64_t ld, off;
	void *k, *v;
	float *kf, *vf, *q;
};

static void
chunk_make(struct chunk *c, const struct shape *sh, int f16, float qscale)
{
	size_t es = f16 ? 2 : 4, rows;

	c->sh = *sh;
	c->f16 = f16;
	c->off = sh->hd + 3;
	c->ld = 3 * sh->hd + 5;
	rows = (size_t)sh->n * (size_t)c->ld;
	c->k = malloc(rows * es);
	c->v = malloc(rows * es);
	c->kf = malloc(rows * sizeof(float));
	c->vf = malloc(rows * sizeof(float));
	c->q = malloc((size_t)sh->g * (size_t)sh->hd * sizeof(float));
	ck_assert(c->k && c->v && c->kf && c->vf && c->q);
	for (size_t i = 0; i < rows; i++) {
		float k = urand(-1, 1), v = urand(-2, 2);

		if (f16) {
			uint16_t hk = l32_f32_to_f16(k), hv = l32_f32_to_f16(v);

			((uint16_t *)c->k)[i] = hk;
			((uint16_t *)c->v)[i] = hv;
			k = l32_f16_to_f32(hk);
			v = l32_f16_to_f32(hv);
		} else {
			((float *)c->k)[i] = k;
			((float *)c->v)[i] = v;
		}
		c->kf[i] = k;
		c->vf[i] = v;
	}
	for (int32_t i = 0; i < sh->g * sh->hd; i++)
		c->q[i] = urand(-qscale, qscale);
}

static void
chunk_free(struct chunk *c)
{
	free(c->k);
	free(c->v);
	free(c->kf);
	free(c->vf);
	free(c->q);
}

/* Runs a kernel on the chunk, its scratch first filled with fill. */
static float *
chunk_run(l32_attn_fn f, const struct chunk *c, float fill)
{
	size_t nt = l32_attn_tmp_floats(c->sh.g, c->sh.hd);
	size_t no = (size_t)c->sh.g * (size_t)(c->sh.hd + 2);
	float *tmp = malloc(nt * sizeof(float)), *out = malloc(no * sizeof(float));
	size_t es = c->f16 ? 2 : 4;
	struct l32_attn_chunk a = {
		.k = (const char *)c->k + (size_t)c->off * es,
		.v = (const char *)c->v + (size_t)c->off * es,
		.ld = c->ld, .q = c->q, .g = c->sh.g, .hd = c->sh.hd, .n = c->sh.n,
		.scale = 1.0f / sqrtf((float)c->sh.hd), .tmp = tmp, .out = out,
	};

	ck_assert(tmp != NULL && out != NULL);
	for (size_t i = 0; i < nt; i++)
		tmp[i] = fill;
	for (size_t i = 0; i < no; i++)
		out[i] = fill;
	f(&a);
	free(tmp);
	return out;
}

/* The kernel's output against the reference in double: m to 1e-5 of
 * the scores' size, l and each weighted value (over l, the attention
 * output) relative to their size. */
static void
check_against_reference(const struct chunk *c, const float *out, const char *what)
{
	int32_t g = c->sh.g, hd = c->sh.hd, n = c->sh.n;
	double scale = 1.0 / sqrt((double)hd);
	double *s = malloc((size_t)n * sizeof(double));

	ck_assert(s != NULL);
	for (int32_t i = 0; i < g; i++) {
		double m = -INFINITY, l = 0, smax = 0;

		for (int32_t t = 0; t < n; t++) {
			const float *k = c->kf + (size_t)t * (size_t)c->ld + (size_t)c->off;
			double d = 0;

			for (int32_t j = 0; j < hd; j++)
				d += (double)c->q[(size_t)i * hd + j] * k[j];
			s[t] = d * scale;
			m = s[t] > m ? s[t] : m;
			smax = fabs(s[t]) > smax ? fabs(s[t]) : smax;
		}
		ck_assert_msg(fabs(out[i] - m) <= 1e-5 * (smax + 1),
		    "%s: head %d: max score %.9g, reference %.9g", what, i, (double)out[i], m);
		for (int32_t t = 0; t < n; t++)
			l += exp(s[t] - m);
		ck_assert_msg(fabs(out[g + i] - l) <= 1e-5 * l,
		    "%s: head %d: weight sum %.9g, reference %.9g", what, i, (double)out[g + i], l);
		for (int32_t d = 0; d < hd; d++) {
			double o = 0, got = out[2 * g + (size_t)i * hd + d] / (double)out[g + i];

			for (int32_t t = 0; t < n; t++)
				o += exp(s[t] - m) * c->vf[(size_t)t * (size_t)c->ld + (size_t)c->off + d];
			o /= l;
			ck_assert_msg(fabs(got - o) <= 2e-5 * 2.0,
			    "%s: head %d value %d: %.9g, reference %.9g", what, i, d, got, o);
		}
	}
	free(s);
}

static l32_attn_fn
kernel_of(const struct isa_path *p, int f16)
{
	l32_attn_fn f = p->table[f16 ? L32_TYPE_F16 : L32_TYPE_F32].attn;

	ck_assert_msg(f != NULL, "%s: no %s attention kernel", p->name, f16 ? "f16" : "f32");
	return f;
}

/* _i over paths x cache types x shapes. */
static void
split(int i, const struct isa_path **p, int *f16, const struct shape **sh)
{
	*sh = &shapes[i % N_SHAPES];
	*f16 = (i / N_SHAPES) % 2;
	*p = &paths[i / N_SHAPES / 2];
}

START_TEST(test_against_reference)
{
	const struct isa_path *p;
	const struct shape *sh;
	struct chunk c;
	char what[128];
	float *out;
	int f16;

	split(_i, &p, &f16, &sh);
	rng_state = 100 + (uint64_t)_i;
	chunk_make(&c, sh, f16, 1.0f);
	snprintf(what, sizeof(what), "%s, %s cache, g %d hd %d n %d", p->name,
	    f16 ? "f16" : "f32", sh->g, sh->hd, sh->n);
	out = chunk_run(kernel_of(p, f16), &c, 0.0f);
	check_against_reference(&c, out, what);
	free(out);
	chunk_free(&c);
}
END_TEST

/* The scratch is written before it is read: the same bits whatever it
 * held. */
START_TEST(test_scratch_ignored)
{
	const struct isa_path *p;
	const struct shape *sh;
	struct chunk c;
	float *a, *b;
	int f16;

	split(_i, &p, &f16, &sh);
	rng_state = 200 + (uint64_t)_i;
	chunk_make(&c, sh, f16, 1.0f);
	a = chunk_run(kernel_of(p, f16), &c, 0.0f);
	b = chunk_run(kernel_of(p, f16), &c, NAN);
	ck_assert_msg(memcmp(a, b, (size_t)sh->g * (size_t)(sh->hd + 2) * sizeof(float)) == 0,
	    "%s: the output depends on the scratch's contents", p->name);
	free(a);
	free(b);
	chunk_free(&c);
}
END_TEST

/* Scores far apart (weights down to e^-200, under any float): the
 * reference still holds, and the output is finite. */
START_TEST(test_wide_scores)
{
	const struct isa_path *p;
	const struct shape *sh;
	struct chunk c;
	char what[128];
	float *out;
	int f16;

	split(_i, &p, &f16, &sh);
	rng_state = 300 + (uint64_t)_i;
	chunk_make(&c, sh, f16, 60.0f);
	snprintf(what, sizeof(what), "%s, %s cache, wide scores", p->name, f16 ? "f16" : "f32");
	out = chunk_run(kernel_of(p, f16), &c, 0.0f);
	for (int32_t i = 0; i < sh->g * (sh->hd + 2); i++)
		ck_assert_msg(isfinite(out[i]), "%s: output %d is %g", what, i, (double)out[i]);
	check_against_reference(&c, out, what);
	free(out);
	chunk_free(&c);
}
END_TEST

/* A NaN in one head's query makes that head's output NaN (a fault the
 * forward pass reports) and leaves the other heads alone. */
START_TEST(test_nan_carried)
{
	const struct isa_path *p;
	const struct shape *sh;
	struct chunk c;
	float *out;
	int f16;

	split(_i, &p, &f16, &sh);
	rng_state = 400 + (uint64_t)_i;
	chunk_make(&c, sh, f16, 1.0f);
	c.q[sh->hd / 2] = NAN;   /* head 0 */
	out = chunk_run(kernel_of(p, f16), &c, 0.0f);
	for (int32_t d = 0; d < sh->hd; d++)
		ck_assert_msg(isnan(out[2 * sh->g + d]), "%s: head 0 value %d is %g", p->name, d,
		    (double)out[2 * sh->g + d]);
	for (int32_t i = 1; i < sh->g; i++)
		for (int32_t d = 0; d < sh->hd; d++)
			ck_assert(isfinite(out[2 * sh->g + (size_t)i * sh->hd + d]));
	free(out);
	chunk_free(&c);
}
END_TEST

/* The installed kernel of each cache type, and the portable one while
 * the reference table (without attention kernels) is installed. */
START_TEST(test_installed_kernel)
{
	for (int i = 0; i < n_paths; i++) {
		l32_kernels_install(paths[i].table);
		ck_assert(l32_attn_kernel(0) == paths[i].table[L32_TYPE_F32].attn);
		ck_assert(l32_attn_kernel(1) == paths[i].table[L32_TYPE_F16].attn);
	}
	l32_kernels_install(l32_kernels_reference);
	ck_assert(l32_attn_kernel(0) == l32_attn_portable_f32);
	ck_assert(l32_attn_kernel(1) == l32_attn_portable_f16);
}
END_TEST

static Suite *
attention_suite(void)
{
	Suite *s = suite_create("attention");
	TCase *tc = tcase_create("kernels");
	int n = n_paths * 2 * N_SHAPES;

	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_against_reference, 0, n);
	tcase_add_loop_test(tc, test_scratch_ignored, 0, n);
	tcase_add_loop_test(tc, test_wide_scores, 0, n);
	tcase_add_loop_test(tc, test_nan_carried, 0, n);
	tcase_add_test(tc, test_installed_kernel);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	n_paths = isa_paths(1, paths);
	sr = srunner_create(attention_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	isa_paths_print("test_attention", 1);
	return failed == 0 ? 0 : 1;
}
