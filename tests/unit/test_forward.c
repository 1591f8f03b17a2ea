/*
 * test_forward.c - the forward pass against the golden logits of the
 * reference implementation ($L32_SHARED/golden), on in-memory models built
 * from the weight recipe and on the golden model files; the reference
 * dequantization and dot products; the matmul seam; the KV cache.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/kernels/kernels.h"
#include "compute/kvcache.h"
#include "l32.h"
#include "prog/l32_prog.h"
#include "compute/matmul.h"
#include "model/model.h"
#include "formats/quant.h"
#include "isa_paths.h"
#include "recipe.h"

#define VOCAB 128256

/* ------------------------------------------------------------ reference data */

static const char *
shared_dir(void)
{
	const char *s = getenv("L32_SHARED");

	return s != NULL && *s != '\0' ? s : "../shared";
}

static char *
shared_path(const char *rel)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "%s/golden/%s", shared_dir(), rel);
	return buf;
}

static json_t *
golden(void)
{
	static json_t *all;
	json_error_t jerr;
	char *big = NULL;
	size_t cap = 0;
	FILE *f;

	if (all != NULL)
		return all;
	f = fopen(shared_path("golden.jsonl"), "r");
	ck_assert_msg(f != NULL, "reference data missing: cannot open %s "
	    "(set L32_SHARED to the shared directory)", shared_path("golden.jsonl"));
	all = json_array();
	/* lines are long (the long cases list 4096 tokens): read whole lines */
	while (getline(&big, &cap, f) > 0) {
		json_t *rec = json_loads(big, 0, &jerr);

		ck_assert_msg(rec != NULL, "golden.jsonl: %s", jerr.text);
		json_array_append_new(all, rec);
	}
	free(big);
	fclose(f);
	ck_assert_msg(json_array_size(all) > 0, "reference data missing: %s is empty",
	    shared_path("golden.jsonl"));
	return all;
}

static const char *
rec_str(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s != NULL ? s : "";
}

/* The golden records of a model and weights, in file order. */
static size_t
golden_records(const char *model, const char *weights, const json_t **out,
    size_t max)
{
	json_t *all = golden(), *rec;
	size_t i, n = 0;

	json_array_foreach(all, i, rec)
		if (strcmp(rec_str(rec, "model"), model) == 0 &&
		    strcmp(rec_str(rec, "weights"), weights) == 0 && n < max)
			out[n++] = rec;
	ck_assert_msg(n > 0, "reference data missing: no %s/%s records in golden.jsonl",
	    model, weights);
	return n;
}

static const json_t *
golden_record(const char *model, const char *weights, const char *name)
{
	const json_t *recs[64];
	size_t n = golden_records(model, weights, recs, 64);

	for (size_t i = 0; i < n; i++)
		if (strcmp(rec_str(recs[i], "case"), name) == 0)
			return recs[i];
	ck_abort_msg("reference data missing: no %s/%s/%s record", model, weights, name);
	return NULL;
}

static int32_t *
rec_tokens(const json_t *rec, int32_t *n)
{
	const json_t *a = json_object_get(rec, "tokens");
	int32_t *t;

	*n = (int32_t)json_array_size(a);
	ck_assert_int_gt(*n, 0);
	t = malloc((size_t)*n * sizeof(*t));
	for (int32_t i = 0; i < *n; i++)
		t[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
	return t;
}

/* Reads n floats of a file under golden/. */
static float *
read_f32(const char *rel, size_t n)
{
	FILE *f = fopen(shared_path(rel), "rb");
	float *v;

	ck_assert_msg(f != NULL, "reference data missing: cannot open %s",
	    shared_path(rel));
	v = malloc(n * sizeof(float));
	ck_assert_msg(fread(v, sizeof(float), n, f) == n, "%s: short file", rel);
	fclose(f);
	return v;
}

/* ------------------------------------------------------------- comparisons */

/* 1 when the kernels a context installs (L32_ISA) round the activations
 * through 8-bit blocks for some weight of m, as llama.cpp's CPU dot
 * products do: the golden README's tolerance for that is 0.5, with the
 * argmax checked where the margin exceeds it.  The kernels themselves are
 * checked against the exact reference in test_kernels. */
static int
activations_quantized(const struct l32_model *m)
{
	const struct l32_tensor *t[] = { &m->w.output, &m->w.layers[0].wq,
	    &m->w.layers[0].wo, &m->w.layers[0].w2, &m->w.layers[0].w3 };
	struct l32_err err;

	ck_assert_msg(l32_kernels_init(&err) == 0, "%s", err.msg);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (l32_kernels_get(t[i]->type)->xq != 0)
			return 1;
	return 0;
}

#define TOL_QUANTIZED_ACT 0.5

/* The kernel paths the golden checks run on, one per ISA (isa_paths.h);
 * set in main before the tests fork.  The first is portable. */
static struct isa_path gpaths[ISA_PATHS_MAX];
static int n_gpaths;

/* Installs quant.c's reference kernels (f32 activations, exact) for every
 * type when on, else the whole table of the ISA l32_kernels_init chose. */
static void
use_reference_kernels(int on)
{
	struct l32_err err;

	ck_assert_msg(l32_kernels_init(&err) == 0, "%s", err.msg);
	l32_kernels_install(on ? l32_kernels_reference : l32_kernels_table(l32_kernels_isa()));
}

/* Installs the kernels of a path (after l32_kernels_init, which would put
 * its own back). */
static void
use_path(const struct isa_path *p)
{
	struct l32_err err;

	ck_assert_msg(l32_kernels_init(&err) == 0, "%s", err.msg);
	l32_kernels_install(p->table);
}

/* Counts values compared and failures, remembering the worst. */
struct tally {
	long checked, failed;
	double maxdiff;
	char worst[256];
	char first[256];
};

static void
tally_val(struct tally *t, double got, double want, double tol, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
tally_val(struct tally *t, double got, double want, double tol, const char *fmt, ...)
{
	double d = fabs(got - want);
	char where[160];
	va_list ap;

	t->checked++;
	if (d <= tol && d <= t->maxdiff)
		return;
	va_start(ap, fmt);
	vsnprintf(where, sizeof(where), fmt, ap);
	va_end(ap);
	if (!(d <= t->maxdiff) || isnan(d)) {
		t->maxdiff = isnan(d) ? INFINITY : d;
		snprintf(t->worst, sizeof(t->worst), "%s: got %.6f want %.6f",
		    where, got, want);
	}
	if (!(d <= tol)) {
		if (t->failed++ == 0)
			snprintf(t->first, sizeof(t->first), "%s: got %.6f want %.6f (tol %g)",
			    where, got, want, tol);
	}
}

/* ------------------------------------------------------------ running cases */

/* What a run of a token sequence gives, position by position. */
struct result {
	int32_t n;
	uint8_t *want;        /* (n) 1 where logits are computed; NULL: everywhere */
	double *lse;          /* (n) log-sum-exp of the logits */
	int32_t *argmax;      /* (n) */
	float *last;          /* (VOCAB) logits at position n-1 */
	float *all;           /* (n, VOCAB) when asked for */
	int32_t n_ckpt;
	int32_t ckpt_pos[32];
	float *ckpt;          /* (n_ckpt, VOCAB) logits at the checkpoints */
};

static void
result_free(struct result *r)
{
	free(r->want);
	free(r->lse);
	free(r->argmax);
	free(r->last);
	free(r->all);
	free(r->ckpt);
	memset(r, 0, sizeof(*r));
}

/*
 * The test spends most of its time in the log-sum-exp of 128256 logits per
 * position, so that runs 4 lanes at a time (GCC/clang vector extensions,
 * SSE2 on any x86-64): e^x for x <= 0 as 2^k e^r with x = k ln2 + r,
 * |r| <= ln2/2, e^r by its Taylor polynomial to degree 7 (relative error
 * about 1e-7); lanes below -87 give 0.
 */
typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static v4f
exp_neg4(v4f x)
{
	v4i k = __builtin_convertvector(x * 1.44269504f - 0.5f, v4i); /* round, x <= 0 */
	v4f kf = __builtin_convertvector(k, v4f);
	v4f r = (x - kf * 0.693145751953125f) - kf * 1.428606765330187e-06f;
	v4f r2 = r * r, r4 = r2 * r2;
	v4f p = ((1.0f + r) + r2 * (0.5f + r * (1.0f / 6))) + r4 *
	    ((1.0f / 24 + r * (1.0f / 120)) + r2 * (1.0f / 720 + r * (1.0f / 5040)));
	v4i scale = (k + 127) << 23;     /* the bits of 2^k */
	v4i keep = x > -87.0f;

	return (v4f)((v4i)(p * (v4f)scale) & keep);
}

static double
logsumexp(const float *v, int32_t n, int32_t *argmax)
{
	v4f m4 = { v[0], v[0], v[0], v[0] }, x;
	float max = v[0];
	double total = 0.0;
	int32_t i;

	for (i = 0; i + 4 <= n; i += 4) {
		v4i gt;

		memcpy(&x, v + i, sizeof(x));
		gt = x > m4;
		m4 = (v4f)(((v4i)x & gt) | ((v4i)m4 & ~gt));
	}
	for (; i < n; i++)
		max = v[i] > max ? v[i] : max;
	for (int k = 0; k < 4; k++)
		max = m4[k] > max ? m4[k] : max;
	if (argmax != NULL)
		for (*argmax = 0; v[*argmax] != max; ++*argmax)
			;
	/* blocks of 256 values summed in f32 lanes, the blocks in double */
	for (i = 0; i < n; i += 256) {
		v4f acc = { 0, 0, 0, 0 };
		int32_t j = i, end = n - i < 256 ? n : i + 256;
		float rest = 0.0f;

		for (; j + 4 <= end; j += 4) {
			memcpy(&x, v + j, sizeof(x));
			acc += exp_neg4(x - max);
		}
		for (; j < end; j++) {
			v4f one = { v[j] - max, -100.0f, -100.0f, -100.0f };

			rest += exp_neg4(one)[0];
		}
		total += ((double)acc[0] + acc[1]) + ((double)acc[2] + acc[3]) + rest;
	}
	return max + log(total);
}

static void
record_logits(struct result *r, int32_t pos, const float *lg)
{
	r->lse[pos] = logsumexp(lg, VOCAB, &r->argmax[pos]);
	if (pos == r->n - 1)
		memcpy(r->last, lg, VOCAB * sizeof(float));
	if (r->all != NULL)
		memcpy(r->all + (size_t)pos * VOCAB, lg, VOCAB * sizeof(float));
	for (int32_t c = 0; c < r->n_ckpt; c++)
		if (r->ckpt_pos[c] == pos)
			memcpy(r->ckpt + (size_t)c * VOCAB, lg, VOCAB * sizeof(float));
}

static void
result_init(struct result *r, int32_t n, int keep_all)
{
	memset(r, 0, sizeof(*r));
	r->n = n;
	r->lse = calloc((size_t)n, sizeof(double));
	r->argmax = calloc((size_t)n, sizeof(int32_t));
	r->last = calloc(VOCAB, sizeof(float));
	if (keep_all)
		r->all = calloc((size_t)n * VOCAB, sizeof(float));
}

/* Decodes tok[0..n) in batches of `chunk` tokens into sequence seq of c,
 * logits at every position. */
static void
run_chunks(struct l32_ctx *c, int32_t seq, const int32_t *tok, int32_t n,
    int32_t chunk, struct result *r)
{
	int32_t *pos = malloc((size_t)chunk * sizeof(int32_t));
	int32_t *sq = malloc((size_t)chunk * sizeof(int32_t));
	uint8_t *out = malloc((size_t)chunk);
	struct l32_err err;

	for (int32_t s = 0; s < n; s += chunk) {
		int32_t k = n - s < chunk ? n - s : chunk;
		struct l32_batch b = { k, tok + s, pos, sq, out };

		for (int32_t i = 0; i < k; i++) {
			pos[i] = s + i;
			sq[i] = seq;
			out[i] = r->want == NULL || r->want[s + i] ? L32_OUT_LOGITS : 0;
		}
		ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "decode at %d: %s",
		    s, err.msg);
		for (int32_t i = 0; i < k; i++) {
			const float *lg = l32_ctx_logits(c, i);

			if (out[i] == 0) {
				ck_assert_ptr_null(lg);
				continue;
			}
			ck_assert_msg(lg != NULL, "no logits for batch token %d", i);
			record_logits(r, s + i, lg);
		}
	}
	free(pos);
	free(sq);
	free(out);
}

static struct l32_ctx *
new_ctx_threads(struct l32_model *m, int32_t n_ctx, int32_t n_seq, int32_t n_batch,
    int kv_f16, int threads)
{
	struct l32_ctx_params p;
	struct l32_err err;
	struct l32_ctx *c;

	l32_ctx_params_init(&p);
	p.n_ctx = n_ctx;
	p.n_seq = n_seq;
	p.n_batch = n_batch;
	p.n_threads = threads;
	p.kv_f16 = kv_f16;
	c = l32_ctx_new(m, &p, &err);
	ck_assert_msg(c != NULL, "l32_ctx_new: %s", err.msg);
	return c;
}

static struct l32_ctx *
new_ctx(struct l32_model *m, int32_t n_ctx, int32_t n_seq, int32_t n_batch, int kv_f16)
{
	return new_ctx_threads(m, n_ctx, n_seq, n_batch, kv_f16, 1);
}

/* ------------------------------------------------------- golden comparison */

/* Compares a run with one golden record; returns the tally. */
static void
check_record(const json_t *rec, const struct result *r, double tol, struct tally *t)
{
	const json_t *top = json_object_get(rec, "logits_last_top64");
	const json_t *lse = json_object_get(rec, "logsumexp_per_pos");
	const json_t *am = json_object_get(rec, "logits_argmax_per_pos");
	const json_t *mg = json_object_get(rec, "top2_margin_per_pos");
	const json_t *cps = json_object_get(rec, "checkpoints");
	const char *file;
	size_t i;
	json_t *e;

	ck_assert_msg(json_array_size(top) == 64 && (int32_t)json_array_size(lse) == r->n &&
	    (int32_t)json_array_size(am) == r->n && (int32_t)json_array_size(mg) == r->n,
	    "golden record %s: fields missing", rec_str(rec, "case"));
	json_array_foreach(top, i, e) {
		int64_t id = json_integer_value(json_object_get(e, "id"));

		tally_val(t, r->last[id], json_real_value(json_object_get(e, "logit")),
		    tol, "last logit of id %lld", (long long)id);
	}
	tally_val(t, r->lse[r->n - 1],
	    json_number_value(json_object_get(rec, "logsumexp_last")), tol,
	    "logsumexp_last");
	for (int32_t p = 0; p < r->n; p++) {
		if (r->want != NULL && !r->want[p])
			continue;
		tally_val(t, r->lse[p], json_number_value(json_array_get(lse, (size_t)p)),
		    tol, "logsumexp at pos %d", p);
		if (json_number_value(json_array_get(mg, (size_t)p)) > tol)
			tally_val(t, r->argmax[p],
			    (double)json_integer_value(json_array_get(am, (size_t)p)),
			    0.0, "argmax at pos %d", p);
	}
	json_array_foreach(cps, i, e) {
		int32_t pos = (int32_t)json_integer_value(json_object_get(e, "pos"));
		const json_t *t16 = json_object_get(e, "top16");
		const float *lg = NULL;
		size_t j;
		json_t *te;

		for (int32_t c = 0; c < r->n_ckpt; c++)
			if (r->ckpt_pos[c] == pos)
				lg = r->ckpt + (size_t)c * VOCAB;
		ck_assert_msg(lg != NULL, "checkpoint %d not kept", pos);
		ck_assert_int_eq(json_array_size(t16), 16);
		json_array_foreach(t16, j, te) {
			int64_t id = json_integer_value(json_object_get(te, "id"));

			tally_val(t, lg[id], json_real_value(json_object_get(te, "logit")),
			    tol, "checkpoint pos %d logit of id %lld", pos, (long long)id);
		}
		tally_val(t, r->lse[pos], json_number_value(json_object_get(e, "logsumexp")),
		    tol, "checkpoint pos %d logsumexp", pos);
	}
	file = json_string_value(json_object_get(rec, "logits_last_file"));
	if (file != NULL) {
		float *want = read_f32(file, VOCAB);

		for (int32_t id = 0; id < VOCAB; id++)
			tally_val(t, r->last[id], want[id], tol, "%s[%d]", file, id);
		free(want);
	}
	file = json_string_value(json_object_get(rec, "logits_all_file"));
	if (file != NULL) {
		float *want = read_f32(file, (size_t)r->n * VOCAB);

		ck_assert_msg(r->all != NULL, "all-position logits not kept");
		for (size_t k = 0; k < (size_t)r->n * VOCAB; k++)
			tally_val(t, r->all[k], want[k], tol, "%s[pos %zu][%zu]", file,
			    k / VOCAB, k % VOCAB);
		free(want);
	}
}

/* Runs every golden record of (model, weights) on m; tol_short for cases of
 * up to 1024 tokens, tol_long above.  With light set, a long case computes
 * logits only at its checkpoints and last position (the output projection
 * and log-sum-exp over 4096 x 128256 logits dominate the run time), and the
 * per-position checks run there; every case of a model is checked in full
 * by the float run without light.  tol_long < 0 leaves the long cases out. */
static void
check_golden(struct l32_model *m, const char *model, const char *weights,
    int kv_f16, double tol_short, double tol_long, int light, const char *label)
{
	const json_t *recs[64];
	size_t nrec = golden_records(model, weights, recs, 64);
	long failed = 0;
	char first[512] = "";

	for (size_t k = 0; k < nrec; k++) {
		const json_t *rec = recs[k];
		const json_t *cps = json_object_get(rec, "checkpoints");
		struct result r;
		struct tally t;
		struct l32_ctx *c;
		int32_t n, *tok = rec_tokens(rec, &n);
		double tol = n > 1024 ? tol_long : tol_short;
		size_t i;
		json_t *e;

		if (tol < 0) {
			free(tok);
			continue;
		}
		result_init(&r, n, json_object_get(rec, "logits_all_file") != NULL);
		json_array_foreach(cps, i, e)
			r.ckpt_pos[r.n_ckpt++] =
			    (int32_t)json_integer_value(json_object_get(e, "pos"));
		r.ckpt = calloc((size_t)(r.n_ckpt > 0 ? r.n_ckpt : 1) * VOCAB, sizeof(float));
		if (light && r.n_ckpt > 0) {
			r.want = calloc((size_t)n, 1);
			for (int32_t j = 0; j < r.n_ckpt; j++)
				r.want[r.ckpt_pos[j]] = 1;
			r.want[n - 1] = 1;
		}
		c = new_ctx(m, n, 1, n < 256 ? n : 256, kv_f16);
		run_chunks(c, 0, tok, n, n < 256 ? n : 256, &r);
		l32_ctx_free(c);

		memset(&t, 0, sizeof(t));
		check_record(rec, &r, tol, &t);
		fprintf(stderr, "%s %s/%s %-18s %4d positions: %7ld values, max |diff| %.2e%s%s%s\n",
		    label, model, weights, rec_str(rec, "case"), n, t.checked,
		    t.maxdiff, r.want != NULL ? " (logits at checkpoints and last only)" : "",
		    t.failed ? " FAIL " : "", t.failed ? t.first : "");
		if (t.failed && failed == 0)
			snprintf(first, sizeof(first), "%s %s: %s", label,
			    rec_str(rec, "case"), t.first);
		failed += t.failed;
		result_free(&r);
		free(tok);
	}
	ck_assert_msg(failed == 0, "%ld values off; first: %s", failed, first);
}

/* ------------------------------------------------------------------ recipe */

START_TEST(test_recipe_check_values)
{
	static const struct {
		const char *name;
		uint64_t fnv, state, r0;
		double v[4];
		int norm, e;
	} cv[] = {
		{ "tok_embeddings.weight", 0x771ef68a9b91c762ull, 0xe241bfdc9de04e9bull,
		  0x3be200db2b33625full, { -0.267578125, 0.412109375, 0.048828125,
		  -0.173828125 }, 0, 9 },
		{ "layers.0.attention.wq.weight", 0x2c403a3125427ab5ull,
		  0x974a4cce9eb14eddull, 0x8e346dd33111ea42ull, { 0.0283203125,
		  -0.0498046875, 0.1943359375, -0.1376953125 }, 0, 10 },
		{ "layers.1.feed_forward.w2.weight", 0x8e2abcf7f5f32605ull,
		  0x89b49be227898c3eull, 0x56083f0f61dd9b05ull, { -0.04052734375,
		  0.02294921875, -0.08251953125, -0.00732421875 }, 0, 11 },
		{ "layers.0.attention_norm.weight", 0xd62285eae3172f6eull,
		  0xc7662b913731971cull, 0x673ae5f3b0d89779ull, { 0.96875, 0.953125,
		  1.0, 0.90625 }, 1, 0 },
		{ "norm.weight", 0xe45e883176c5ce0full, 0x776abe94ef6c0a25ull,
		  0xf97e30aecc9b5000ull, { 1.1171875, 0.890625, 0.953125, 0.9921875 },
		  1, 0 },
	};
	const struct l32_recipe_config *tiny = l32_recipe_config("tiny");

	for (size_t i = 0; i < sizeof(cv) / sizeof(cv[0]); i++) {
		enum l32_recipe_kind kind;
		float v[4];
		int e;

		ck_assert_uint_eq(l32_recipe_fnv1a64(cv[i].name), cv[i].fnv);
		ck_assert_uint_eq(l32_recipe_state(cv[i].name, 0), cv[i].state);
		ck_assert_uint_eq(l32_recipe_r(cv[i].state, 0), cv[i].r0);
		ck_assert_int_eq(l32_recipe_tensor_kind(tiny, cv[i].name, &kind, &e), 0);
		ck_assert_int_eq(kind == L32_RECIPE_NORM, cv[i].norm);
		ck_assert_int_eq(e, cv[i].e);
		l32_recipe_fill(cv[i].name, 0, kind, e, 0, v, 4);
		for (int j = 0; j < 4; j++)
			ck_assert_msg(v[j] == (float)cv[i].v[j], "%s[%d] = %.10g, want %.10g",
			    cv[i].name, j, v[j], cv[i].v[j]);
	}
}
END_TEST

START_TEST(test_recipe_configs)
{
	/* the README's parameter counts follow from the shapes */
	static const struct { const char *name; uint64_t params; } pc[] = {
		{ "tiny", 8307008 }, { "mini", 35850496 },
		{ "1B", 1235814400 }, { "3B", 3212749824ull },
	};
	enum l32_recipe_kind kind;
	int e;

	for (size_t i = 0; i < 4; i++) {
		const struct l32_recipe_config *c = l32_recipe_config(pc[i].name);
		uint64_t q = (uint64_t)c->n_heads * c->head_dim;
		uint64_t kv = (uint64_t)c->n_kv_heads * c->head_dim;
		uint64_t layer = 2 * (uint64_t)c->dim + 2 * q * c->dim +
		    2 * kv * c->dim + 3 * (uint64_t)c->ffn_dim * c->dim;

		ck_assert_ptr_nonnull(c);
		ck_assert_uint_eq((uint64_t)c->vocab * c->dim + c->n_layers * layer +
		    c->dim, pc[i].params);
	}
	ck_assert_ptr_null(l32_recipe_config("huge"));
	ck_assert_int_eq(l32_recipe_tensor_kind(l32_recipe_config("tiny"),
	    "layers.2.attention.wq.weight", &kind, &e), -1);
	ck_assert_int_eq(l32_recipe_tensor_kind(l32_recipe_config("tiny"),
	    "layers.1.feed_forward.w4.weight", &kind, &e), -1);
}
END_TEST

START_TEST(test_recipe_rope)
{
	/* GGUF's rope_freqs divisors for the tiny model (README) */
	static const double div[8] = { 1, 1, 1, 1, 3.2922626, 32, 32, 32 };
	float f[8];

	l32_recipe_rope_freq(16, 500000.0, 32.0, 1.0, 4.0, 8192.0, f);
	for (int i = 0; i < 8; i++) {
		double base = pow(500000.0, -2.0 * i / 16);

		ck_assert_msg(fabs(base / f[i] / div[i] - 1) < 1e-6,
		    "freq %d: divisor %.7f, want %.7f", i, base / f[i], div[i]);
	}
}
END_TEST

START_TEST(test_recipe_quantizers)
{
	/* Q8_0 and Q4_0 by hand on one block */
	float x[32], y[32];
	uint8_t q8[34], q4[18];
	uint16_t d;

	for (int j = 0; j < 32; j++)
		x[j] = (float)(j - 12) / 8.0f;   /* -1.5 .. 2.375 */
	l32_recipe_quantize_q8_0(x, q8, 32);
	memcpy(&d, q8, 2);
	ck_assert_uint_eq(d, l32_f32_to_f16(2.375f / 127));
	ck_assert_int_eq((int8_t)q8[2 + 31], 127);
	ck_assert_int_eq((int8_t)q8[2 + 0], (int)roundf(-1.5f * (1.0f / (2.375f / 127))));
	l32_dequant_row_q8_0(q8, y, 32);
	for (int j = 0; j < 32; j++)
		ck_assert(fabsf(y[j] - x[j]) <= 2.375f / 127 / 2 + 1e-3f);

	/* max element 2.375 -> d = -0.296875; q = trunc(x / d + 8.5) capped 15 */
	l32_recipe_quantize_q4_0(x, q4, 32);
	memcpy(&d, q4, 2);
	ck_assert_uint_eq(d, l32_f32_to_f16(2.375f / -8));
	ck_assert_int_eq(q4[2 + 15] >> 4, 0);        /* x[31] = max -> q 0 */
	ck_assert_int_eq(q4[2 + 12] & 15, 8);        /* x[12] = 0   -> q 8 */
	ck_assert_int_eq(q4[2 + 0] & 15, 13);        /* -1.5 / -0.296875 + 8.5 = 13.55 */
	l32_dequant_row_q4_0(q4, y, 32);
	ck_assert(y[0] == (13 - 8) * l32_f16_to_f32(d));
}
END_TEST

/* ------------------------------------------------------------------- quant */

START_TEST(test_f16_conversions)
{
	static const struct { float f; uint16_t h; } cases[] = {
		{ 1.0f, 0x3c00 }, { -2.0f, 0xc000 }, { 65504.0f, 0x7bff },
		{ 0.5f, 0x3800 }, { 0x1p-24f, 0x0001 }, { 0x1p-14f, 0x0400 },
		{ 0.0f, 0x0000 }, { -0.0f, 0x8000 }, { INFINITY, 0x7c00 },
		{ 65520.0f, 0x7c00 },          /* halfway to 2^16: rounds to inf */
		{ 65519.0f, 0x7bff },
		{ 0x1p-25f, 0x0000 },          /* tie with 0 and 2^-24: even */
		{ 0x1.8p-25f, 0x0001 },
		{ 0x1.8p-24f, 0x0002 },        /* tie between 1 and 2: even */
		{ 0.1f, 0x2e66 },
		{ 1.0f + 0x1p-11f, 0x3c00 },   /* tie: even mantissa */
		{ 1.0f + 0x1.8p-10f, 0x3c02 }, /* tie: even is up */
		{ 1e-10f, 0x0000 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(l32_f32_to_f16(cases[i].f) == cases[i].h,
		    "f16(%a) = %04x, want %04x", (double)cases[i].f,
		    l32_f32_to_f16(cases[i].f), cases[i].h);
	ck_assert(isnan(l32_f16_to_f32(l32_f32_to_f16(NAN))));
	/* every non-NaN half survives the round trip */
	for (uint32_t h = 0; h < 0x10000; h++) {
		if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0)
			continue;
		ck_assert_msg(l32_f32_to_f16(l32_f16_to_f32((uint16_t)h)) == h,
		    "f16 %04x does not round-trip", h);
	}
	ck_assert(l32_f16_to_f32(0x0001) == 0x1p-24f);
	ck_assert(l32_f16_to_f32(0x8001) == -0x1p-24f);
	ck_assert(l32_f16_to_f32(0x3555) == 0x1.554p-2f);
	/* bf16: the high half, rounded to nearest even */
	ck_assert_uint_eq(l32_f32_to_bf16(1.0f), 0x3f80);
	ck_assert_uint_eq(l32_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);            /* tie, even */
	ck_assert_uint_eq(l32_f32_to_bf16(1.0f + 0x1.8p-7f), 0x3f82);          /* tie, up to even */
	ck_assert_uint_eq(l32_f32_to_bf16(1.0f + 0x1.2p-8f), 0x3f81);
	ck_assert(l32_bf16_to_f32(0xc040) == -3.0f);
	ck_assert(isnan(l32_bf16_to_f32(l32_f32_to_bf16(NAN))));
}
END_TEST

/* A tiny deterministic generator for test data. */
static uint64_t
rnd(uint64_t *s)
{
	*s += 0x9e3779b97f4a7c15ull;
	return l32_recipe_mix64(*s);
}

static void
put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

/* Q5_0 / Q5_1 blocks from chosen 5-bit values, packed as the README says:
 * low nibbles j / j+16 in qs[j], fifth bit j in qh. */
static void
pack_q5(const int q[32], uint8_t *qh4, uint8_t *qs)
{
	uint32_t qh = 0;

	for (int j = 0; j < 16; j++)
		qs[j] = (uint8_t)((q[j] & 15) | (q[j + 16] & 15) << 4);
	for (int j = 0; j < 32; j++)
		qh |= (uint32_t)(q[j] >> 4) << j;
	memcpy(qh4, &qh, 4);
}

START_TEST(test_dequant_q5_0_q5_1)
{
	uint8_t b0[22], b1[24];
	int q[32];
	float y[32];
	uint64_t s = 1;
	float d = 0.125f, m = -1.5f;

	for (int j = 0; j < 32; j++)
		q[j] = (int)(rnd(&s) % 32);
	q[0] = 0;
	q[31] = 31;
	put16(b0, l32_f32_to_f16(d));
	pack_q5(q, b0 + 2, b0 + 6);
	l32_dequant_row_q5_0(b0, y, 32);
	for (int j = 0; j < 32; j++)
		ck_assert_msg(y[j] == (float)(q[j] - 16) * d, "q5_0[%d] = %g, want %g",
		    j, y[j], (q[j] - 16) * d);
	ck_assert(y[0] == -2.0f && y[31] == 1.875f);

	put16(b1, l32_f32_to_f16(d));
	put16(b1 + 2, l32_f32_to_f16(m));
	pack_q5(q, b1 + 4, b1 + 8);
	l32_dequant_row_q5_1(b1, y, 32);
	for (int j = 0; j < 32; j++)
		ck_assert_msg(y[j] == (float)q[j] * d + m, "q5_1[%d] = %g, want %g",
		    j, y[j], q[j] * d + m);
}
END_TEST

/* Q4_K / Q5_K: 6-bit scales and mins packed into 12 bytes as the README
 * says; q values of 4 (or 5) bits. */
static void
pack_kq(const int sc[8], const int mn[8], uint8_t scales[12])
{
	memset(scales, 0, 12);
	for (int s = 0; s < 4; s++) {
		scales[s] = (uint8_t)(sc[s] | (sc[s + 4] >> 4) << 6);
		scales[s + 4] = (uint8_t)(mn[s] | (mn[s + 4] >> 4) << 6);
		scales[s + 8] = (uint8_t)((sc[s + 4] & 15) | (mn[s + 4] & 15) << 4);
	}
}

static void
make_kq(int five, uint64_t seed, uint8_t *b, float *want)
{
	int sc[8], mn[8], q[256];
	float d = 0.0078125f, dmin = 0.001953125f;
	uint8_t *qh = b + 16, *qs = five ? b + 48 : b + 16;
	uint64_t s = seed;

	for (int i = 0; i < 8; i++) {
		sc[i] = (int)(rnd(&s) % 64);
		mn[i] = (int)(rnd(&s) % 64);
	}
	sc[7] = 63;
	mn[6] = 63;
	for (int i = 0; i < 256; i++)
		q[i] = (int)(rnd(&s) % (five ? 32 : 16));
	put16(b, l32_f32_to_f16(d));
	put16(b + 2, l32_f32_to_f16(dmin));
	pack_kq(sc, mn, b + 4);
	if (five)
		memset(qh, 0, 32);
	for (int sb = 0; sb < 8; sb++)
		for (int l = 0; l < 32; l++) {
			int v = q[32 * sb + l];
			uint8_t *p = &qs[32 * (sb / 2) + l];

			if (sb % 2 == 0)
				*p = (uint8_t)(v & 15);
			else
				*p |= (uint8_t)((v & 15) << 4);
			if (five)
				qh[l] |= (uint8_t)((v >> 4) << sb);
			want[32 * sb + l] = d * (float)sc[sb] * (float)v - dmin * (float)mn[sb];
		}
}

START_TEST(test_dequant_q4_k_q5_k)
{
	uint8_t b4[144 * 2], b5[176 * 2];
	float want[512], y[512];

	make_kq(0, 7, b4, want);
	make_kq(0, 8, b4 + 144, want + 256);
	l32_dequant_row_q4_k(b4, y, 512);
	for (int i = 0; i < 512; i++)
		ck_assert_msg(y[i] == want[i], "q4_k[%d] = %g, want %g", i, y[i], want[i]);
	make_kq(1, 9, b5, want);
	make_kq(1, 10, b5 + 176, want + 256);
	l32_dequant_row_q5_k(b5, y, 512);
	for (int i = 0; i < 512; i++)
		ck_assert_msg(y[i] == want[i], "q5_k[%d] = %g, want %g", i, y[i], want[i]);

	/* a literal block: d 1, dmin 0.5, scale of sub-block 5 = 0x23 (low
	 * nibble in scales[9], high bits in scales[1] >> 6), min 0x11; every q 7 */
	memset(b4, 0, 144);
	put16(b4, 0x3c00);
	put16(b4 + 2, 0x3800);
	b4[4 + 1] = 0x80;            /* sc5 high 2 bits = 2 */
	b4[4 + 5] = 0x40;            /* m5 high 2 bits = 1 */
	b4[4 + 9] = 0x13;            /* sc5 low = 3, m5 low = 1 */
	memset(b4 + 16, 0x77, 128);
	l32_dequant_row_q4_k(b4, y, 256);
	ck_assert(y[5 * 32] == 35.0f * 7 - 0.5f * 17);
	ck_assert(y[0] == 0.0f);
}
END_TEST

START_TEST(test_dequant_q6_k)
{
	uint8_t b[210];
	int q[256], sc[16];
	float d = 0.0625f, y[256];
	uint64_t s = 3;

	memset(b, 0, sizeof(b));
	for (int i = 0; i < 16; i++)
		sc[i] = (int)(rnd(&s) % 256) - 128;
	for (int i = 0; i < 256; i++)
		q[i] = (int)(rnd(&s) % 64);
	/* half h, value 32k + l: low 4 bits in ql[64h + 32(k&1) + l] (low
	 * nibble for k < 2), high 2 bits at qh[32h + l] bit 2k */
	for (int h = 0; h < 2; h++)
		for (int k = 0; k < 4; k++)
			for (int l = 0; l < 32; l++) {
				int v = q[128 * h + 32 * k + l];
				uint8_t *lo = &b[64 * h + 32 * (k & 1) + l];

				*lo |= (uint8_t)(k < 2 ? (v & 15) : (v & 15) << 4);
				b[128 + 32 * h + l] |= (uint8_t)((v >> 4) << (2 * k));
			}
	for (int i = 0; i < 16; i++)
		b[192 + i] = (uint8_t)(int8_t)sc[i];
	put16(b + 208, l32_f32_to_f16(d));
	l32_dequant_row_q6_k(b, y, 256);
	for (int h = 0; h < 2; h++)
		for (int k = 0; k < 4; k++)
			for (int l = 0; l < 32; l++) {
				int i = 128 * h + 32 * k + l;
				float want = d * (float)sc[8 * h + 2 * k + l / 16] *
				    (float)(q[i] - 32);

				ck_assert_msg(y[i] == want, "q6_k[%d] = %g, want %g", i,
				    y[i], want);
			}
	/* a literal block: all bits 0 -> q = -32; scale 3 at index 0 */
	memset(b, 0, sizeof(b));
	b[192] = 3;
	put16(b + 208, 0x3c00);
	l32_dequant_row_q6_k(b, y, 256);
	ck_assert(y[0] == -96.0f && y[15] == -96.0f && y[16] == 0.0f);
}
END_TEST

/* A row of n values of type t from random bytes with sane f16 scales. */
static size_t
random_row(enum l32_type t, int64_t n, uint64_t seed, uint8_t *buf)
{
	const struct l32_type_traits *tr = l32_type_traits(t);
	size_t bytes = l32_type_row_bytes(t, n);
	uint64_t s = seed;

	for (size_t i = 0; i < bytes; i++)
		buf[i] = (uint8_t)rnd(&s);
	for (int64_t b = 0; b < n / tr->block; b++) {
		uint8_t *p = buf + b * tr->block_bytes;
		uint16_t d = l32_f32_to_f16((float)(rnd(&s) % 1000 + 1) / 8192.0f);
		uint16_t m = l32_f32_to_f16(-(float)(rnd(&s) % 1000) / 4096.0f);

		switch (t) {
		case L32_TYPE_F16:
		case L32_TYPE_BF16:
			put16(p, t == L32_TYPE_F16 ? d : l32_f32_to_bf16(l32_f16_to_f32(d)));
			break;
		case L32_TYPE_F32: {
			float f = l32_f16_to_f32(d) * ((rnd(&s) & 1) ? 1 : -1);

			memcpy(p, &f, 4);
			break;
		}
		case L32_TYPE_Q5_1:
		case L32_TYPE_Q4_K:
		case L32_TYPE_Q5_K:
			put16(p, d);
			put16(p + 2, m);
			break;
		case L32_TYPE_Q6_K:
			put16(p + 208, d);
			break;
		default:
			put16(p, d);
			break;
		}
	}
	return bytes;
}

static const enum l32_type all_types[] = {
	L32_TYPE_F32, L32_TYPE_F16, L32_TYPE_BF16, L32_TYPE_Q8_0, L32_TYPE_Q4_0,
	L32_TYPE_Q5_0, L32_TYPE_Q5_1, L32_TYPE_Q4_K, L32_TYPE_Q5_K, L32_TYPE_Q6_K,
};
#define N_TYPES (sizeof(all_types) / sizeof(all_types[0]))

START_TEST(test_dot_reference)
{
	enum l32_type t = all_types[_i];
	int64_t n = 512;
	uint8_t buf[512 * 4];
	float x[512], w[512];
	double want = 0, scale = 0;
	uint64_t s = 11;

	random_row(t, n, 100 + (uint64_t)_i, buf);
	for (int64_t i = 0; i < n; i++)
		x[i] = (float)((int)(rnd(&s) % 2001) - 1000) / 1000.0f;
	ck_assert_ptr_nonnull(l32_dequant_ref(t));
	l32_dequant_ref(t)(buf, w, n);
	for (int64_t i = 0; i < n; i++) {
		ck_assert(isfinite(w[i]));
		want += (double)w[i] * x[i];
		scale += fabs((double)w[i] * x[i]);
	}
	ck_assert_msg(fabs(l32_dot_ref(t)(buf, x, n) - want) <= 1e-5 * scale + 1e-6,
	    "%s: dot %g, want %g", l32_type_traits(t)->name,
	    l32_dot_ref(t)(buf, x, n), want);
	ck_assert_ptr_null(l32_dot_ref(L32_TYPE_Q2_K));
}
END_TEST

/* ------------------------------------------------------------------ matmul */

START_TEST(test_matmul_paths)
{
	enum l32_type t = all_types[_i];
	const struct l32_type_traits *tr = l32_type_traits(t);
	int64_t cols = tr->block == 256 ? 512 : 96, rows = 301;
	size_t rb = l32_type_row_bytes(t, cols), stride = rb + 8; /* padded rows */
	uint8_t *data = aligned_alloc(64, (stride * (size_t)rows + 127) & ~(size_t)63);
	static const int64_t ns[] = { 1, 3, 8, 40 };
	struct l32_tensor w = { "w", t, cols, rows, data, stride };
	float *x = malloc(40 * (size_t)cols * sizeof(float));
	float *y = malloc(40 * (size_t)rows * sizeof(float));
	float *wr = malloc((size_t)cols * sizeof(float));
	struct l32_mm mm;
	struct l32_err err;
	uint64_t s = 5;

	for (int64_t r = 0; r < rows; r++)
		random_row(t, cols, 1000 + (uint64_t)r, data + (size_t)r * stride);
	for (int64_t i = 0; i < 40 * cols; i++)
		x[i] = (float)((int)(rnd(&s) % 2001) - 1000) / 1000.0f;
	ck_assert_int_eq(l32_matmul_check(&w, &err), 0);
	ck_assert_int_eq(l32_mm_init(&mm, cols, &err), 0);
	for (size_t k = 0; k < 4; k++) {
		int64_t n = ns[k];

		ck_assert_int_eq(l32_matmul(&w, x, n, y, &mm, &err), 0);
		for (int64_t r = 0; r < rows; r++) {
			ck_assert_int_eq(l32_tensor_row_f32(&w, r, wr), 0);
			for (int64_t tk = 0; tk < n; tk++) {
				double want = 0, scale = 0;

				for (int64_t i = 0; i < cols; i++) {
					want += (double)wr[i] * x[tk * cols + i];
					scale += fabs((double)wr[i] * x[tk * cols + i]);
				}
				ck_assert_msg(fabs(y[tk * rows + r] - want) <= 1e-5 * scale + 1e-6,
				    "%s n %lld row %lld token %lld: %g, want %g", tr->name,
				    (long long)n, (long long)r, (long long)tk,
				    y[tk * rows + r], want);
			}
		}
	}
	ck_assert_int_eq(l32_tensor_row_f32(&w, rows, wr), -1);
	l32_mm_free(&mm);
	free(data);
	free(x);
	free(y);
	free(wr);
}
END_TEST

START_TEST(test_matmul_check)
{
	struct l32_tensor w = { "blk.0.attn_q.weight", L32_TYPE_Q2_K, 256, 4, "", 84 };
	struct l32_err err;

	ck_assert_int_eq(l32_matmul_check(&w, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "blk.0.attn_q.weight"));
	ck_assert_ptr_nonnull(strstr(err.msg, "Q2_K"));
	w.type = L32_TYPE_Q4_K;
	w.cols = 100;
	ck_assert_int_eq(l32_matmul_check(&w, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "100"));
	w.cols = 256;
	w.row_bytes = 100;
	ck_assert_int_eq(l32_matmul_check(&w, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "144"));
}
END_TEST

/* Forcing the reference kernels and going back restores every kernel
 * l32_kernels_init installed, the prompt (gemm) kernels included: the
 * fast-path golden checks run on what a program runs. */
START_TEST(test_reference_kernels_restore)
{
	struct l32_kernels before[L32_TYPE_COUNT];
	struct l32_err err;
	int gemm = 0;

	/* what a program runs: the table l32_kernels_init installs */
	ck_assert_msg(l32_kernels_init(&err) == 0, "%s", err.msg);
	for (int t = 0; t < L32_TYPE_COUNT; t++) {
		const struct l32_kernels *k = l32_kernels_get((enum l32_type)t);

		memset(&before[t], 0, sizeof(before[t]));
		if (k != NULL)
			before[t] = *k;
		gemm += before[t].gemm != NULL;
	}
	use_reference_kernels(1);
	for (int t = 0; t < L32_TYPE_COUNT; t++) {
		const struct l32_kernels *k = l32_kernels_get((enum l32_type)t);

		if (k != NULL)
			ck_assert(k->gemm == NULL && k->xq == L32_XQ_NONE);
	}
	use_reference_kernels(0);
	for (int t = 0; t < L32_TYPE_COUNT; t++) {
		const struct l32_kernels *k = l32_kernels_get((enum l32_type)t);
		struct l32_kernels now;

		memset(&now, 0, sizeof(now));
		if (k != NULL)
			now = *k;
		ck_assert_msg(memcmp(&now, &before[t], sizeof(now)) == 0,
		    "type %d: the kernels put back differ from those installed", t);
	}
	/* the SIMD tables have prompt kernels, so the check above covered them */
	if (l32_kernels_isa() != L32_ISA_PORTABLE)
		ck_assert_int_gt(gemm, 0);
}
END_TEST

/* ------------------------------------------------------- golden, in memory */

static const struct {
	const char *model, *weights;
	enum l32_type type;
} mem_variants[] = {
	{ "tiny", "float", L32_TYPE_F32 },
	{ "tiny", "q8_0", L32_TYPE_Q8_0 },
	{ "tiny", "q4_0", L32_TYPE_Q4_0 },
	{ "mini", "float", L32_TYPE_F32 },
	{ "mini", "q8_0", L32_TYPE_Q8_0 },
	{ "mini", "q4_0", L32_TYPE_Q4_0 },
};

static struct l32_model *
recipe_model(const char *config, enum l32_type type)
{
	struct l32_err err;
	struct l32_model *m = l32_recipe_model(config, type, 0, &err);

	ck_assert_msg(m != NULL, "recipe model: %s", err.msg);
	return m;
}

/* _i of the golden loop tests: a variant of n on a kernel path. */
static const struct isa_path *
golden_path(int i, int n, int *variant)
{
	*variant = i % n;
	return &gpaths[i / n];
}

/* 1 when the long cases run on path p (installed): the path a program
 * takes here; when the tests emulate that one too, portable.  The short
 * cases run on every path: the long ones test the KV cache and attention
 * rather than the kernels, and take most of the time. */
static int
golden_long_path(const struct isa_path *p)
{
	const struct l32_kernels *def = l32_kernels_table(l32_kernels_isa());
	int any = 0;

	for (int i = 0; i < n_gpaths; i++)
		any |= gpaths[i].table == def;
	return any ? p->table == def : p == &gpaths[0];
}

#define N_MEM_VARIANTS (int)(sizeof(mem_variants) / sizeof(mem_variants[0]))

/* Each variant on each kernel path: the forward pass exactly (once, on the
 * first path), then through the path's kernels, with the tolerance for
 * rounded activations when they round them. */
START_TEST(test_golden_memory)
{
	int v;
	const struct isa_path *p = golden_path(_i, N_MEM_VARIANTS, &v);
	struct l32_model *m = recipe_model(mem_variants[v].model, mem_variants[v].type);
	char label[96];
	int q;

	use_path(p);
	q = activations_quantized(m);
	if (q && p == &gpaths[0]) {
		use_reference_kernels(1);
		check_golden(m, mem_variants[v].model, mem_variants[v].weights, 0,
		    1e-3, 2e-3, mem_variants[v].type != L32_TYPE_F32, "recipe");
		use_path(p);
	}
	snprintf(label, sizeof(label), "recipe, %s%s", p->name, q ? ", 8-bit activations" : "");
	check_golden(m, mem_variants[v].model, mem_variants[v].weights, 0,
	    q ? TOL_QUANTIZED_ACT : 1e-3,
	    !golden_long_path(p) ? -1 : q ? TOL_QUANTIZED_ACT : 2e-3,
	    q || mem_variants[v].type != L32_TYPE_F32, label);
	use_reference_kernels(0);
	l32_recipe_model_free(m);
}
END_TEST

START_TEST(test_golden_kv_f16)
{
	struct l32_model *m = recipe_model("tiny", L32_TYPE_F32);

	check_golden(m, "tiny", "float", 1, 2e-2, 2e-2, 1, "kv-f16");
	l32_recipe_model_free(m);
}
END_TEST

/* ---------------------------------------------------------------- KV cache */

/* Logits of every position of tok, decoded in chunks of `chunk`. */
static float *
all_logits(struct l32_model *m, const int32_t *tok, int32_t n, int32_t chunk,
    int kv_f16)
{
	struct l32_ctx *c = new_ctx(m, n, 1, chunk, kv_f16);
	struct result r;
	float *all;

	result_init(&r, n, 1);
	run_chunks(c, 0, tok, n, chunk, &r);
	all = r.all;
	r.all = NULL;
	result_free(&r);
	l32_ctx_free(c);
	return all;
}

static double
max_diff(const float *a, const float *b, size_t n)
{
	double d = 0;

	for (size_t i = 0; i < n; i++)
		if (!(fabs((double)a[i] - b[i]) <= d))
			d = fabs((double)a[i] - b[i]);
	return d;
}

START_TEST(test_decode_matches_prefill)
{
	/* tiny F32, tiny Q8_0, mini F32 (on a prefix: each decoded token
	 * costs a scalar pass over the 128256-row output matrix), tiny F32
	 * with an f16 cache (both paths then read the same f16 values) */
	const char *config = _i == 2 ? "mini" : "tiny";
	int kv_f16 = _i == 3;
	/* the two paths' K/V differ by ~1e-7 before rounding, which can
	 * flip an f16 rounding (5e-4 relative): a looser bound for f16 */
	double tol = kv_f16 ? 2e-3 : 1e-4;
	struct l32_model *m = recipe_model(config, _i == 1 ? L32_TYPE_Q8_0 : L32_TYPE_F32);
	const json_t *rec = golden_record(config, "float", "chat_system_user");
	int32_t n, *tok = rec_tokens(rec, &n);
	int32_t *pos = malloc(64 * sizeof(int32_t)), *seq = calloc(64, sizeof(int32_t));
	float *prefill, *step;
	const float *tail;
	struct l32_ctx *c;
	struct l32_batch b;
	struct l32_err err;
	double d;

	if (_i == 2)
		n = 20;
	/* prefill runs on BLIS with f32 activations, decode on the per-row
	 * kernels, which may round them to 8 bits */
	if (activations_quantized(m))
		tol = TOL_QUANTIZED_ACT;
	ck_assert_int_le(n, 64);
	for (int32_t i = 0; i < n; i++)
		pos[i] = i;
	prefill = all_logits(m, tok, n, n, kv_f16);    /* one batch: GEMM paths */
	step = all_logits(m, tok, n, 1, kv_f16);       /* token by token: dot paths */
	d = max_diff(prefill, step, (size_t)n * VOCAB);
	fprintf(stderr, "%s %s%s: prefill vs token-by-token over %d positions: max |diff| %.2e\n",
	    config, _i == 1 ? "Q8_0" : "F32", kv_f16 ? " f16 cache" : "", n, d);
	ck_assert_msg(d <= tol, "token-by-token decode differs by %g", d);

	/* prefill n-1 tokens (logits of the last by default), then decode one */
	c = new_ctx(m, n, 1, n, kv_f16);
	b = (struct l32_batch){ n - 1, tok, pos, seq, NULL };
	ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(l32_ctx_seq_len(c, 0), n - 1);
	ck_assert_ptr_null(l32_ctx_logits(c, 0));
	ck_assert_ptr_nonnull(l32_ctx_logits(c, n - 2));
	b = (struct l32_batch){ 1, tok + n - 1, pos + n - 1, seq, NULL };
	ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
	tail = l32_ctx_logits(c, 0);
	d = max_diff(tail, prefill + (size_t)(n - 1) * VOCAB, VOCAB);
	ck_assert_msg(d <= tol, "prefill n-1 then decode 1 differs by %g", d);
	l32_ctx_free(c);
	free(prefill);
	free(step);
	free(pos);
	free(seq);
	free(tok);
	l32_recipe_model_free(m);
}
END_TEST

/* Two sequences decoded in one batch (interleaved tokens, then one token of
 * each per step) give the logits each gives alone. */
START_TEST(test_two_sequences)
{
	struct l32_model *m = recipe_model("tiny", L32_TYPE_F32);
	int32_t na, nb, *ta = rec_tokens(golden_record("tiny", "float", "chat_multi_turn"), &na);
	int32_t *tb = rec_tokens(golden_record("tiny", "float", "llama_cpp_chktxt"), &nb);
	int32_t pa = 20, pb = 40;      /* prompt lengths; the rest is decoded */
	int32_t steps = 12;
	float *alone_a = all_logits(m, ta, pa + steps, 16, 0);
	float *alone_b = all_logits(m, tb, pb + steps, 16, 0);
	struct l32_ctx *c = new_ctx(m, 128, 3, 64, 0);
	int32_t tok[64], pos[64], seq[64], n = 0;
	uint8_t out[64];
	struct l32_batch b = { 0, tok, pos, seq, out };
	struct l32_err err;
	double d = 0;

	/* prompts: b's tokens first and a's interleaved among them; seq 2 idle */
	for (int32_t i = 0, ia = 0, ib = 0; ia < pa || ib < pb; i++) {
		if (ib < pb) {
			tok[n] = tb[ib]; pos[n] = ib; seq[n] = 1; out[n++] = L32_OUT_LOGITS; ib++;
		}
		if (ia < pa && i % 2 == 0) {
			tok[n] = ta[ia]; pos[n] = ia; seq[n] = 0; out[n++] = L32_OUT_LOGITS; ia++;
		}
	}
	b.n = n;
	ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
	for (int32_t i = 0; i < n; i++) {
		const float *want = (seq[i] == 0 ? alone_a : alone_b) + (size_t)pos[i] * VOCAB;
		double di = max_diff(l32_ctx_logits(c, i), want, VOCAB);

		d = di > d ? di : d;
	}
	ck_assert_int_eq(l32_ctx_seq_len(c, 0), pa);
	ck_assert_int_eq(l32_ctx_seq_len(c, 1), pb);
	ck_assert_int_eq(l32_ctx_seq_len(c, 2), 0);
	/* then one token of each per step, b first */
	for (int32_t s = 0; s < steps; s++) {
		tok[0] = tb[pb + s]; pos[0] = pb + s; seq[0] = 1; out[0] = L32_OUT_LOGITS;
		tok[1] = ta[pa + s]; pos[1] = pa + s; seq[1] = 0; out[1] = L32_OUT_LOGITS;
		b.n = 2;
		ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
		d = fmax(d, max_diff(l32_ctx_logits(c, 0), alone_b + (size_t)(pb + s) * VOCAB, VOCAB));
		d = fmax(d, max_diff(l32_ctx_logits(c, 1), alone_a + (size_t)(pa + s) * VOCAB, VOCAB));
	}
	fprintf(stderr, "two sequences in one batch vs alone: max |diff| %.2e\n", d);
	ck_assert_msg(d <= 1e-4, "batched sequences differ from alone by %g", d);

	/* a cleared slot starts again at position 0 */
	l32_ctx_seq_clear(c, 0);
	ck_assert_int_eq(l32_ctx_seq_len(c, 0), 0);
	tok[0] = ta[0]; pos[0] = 0; seq[0] = 0;
	b.n = 1;
	b.out = NULL;
	ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
	ck_assert(max_diff(l32_ctx_logits(c, 0), alone_a, VOCAB) <= 1e-4);
	l32_ctx_free(c);
	free(alone_a);
	free(alone_b);
	free(ta);
	free(tb);
	l32_recipe_model_free(m);
}
END_TEST

/* L32_OUT_EMBD gives the final normalized state: with the tied output its
 * dot product with an embedding row is that token's logit. */
START_TEST(test_embeddings)
{
	struct l32_model *m = recipe_model("tiny", L32_TYPE_F32);
	struct l32_ctx *c = new_ctx(m, 16, 1, 16, 0);
	int32_t tok[3] = { 128000, 2028, 374 }, pos[3] = { 0, 1, 2 }, seq[3] = { 0, 0, 0 };
	uint8_t out[3] = { L32_OUT_EMBD, 0, L32_OUT_EMBD | L32_OUT_LOGITS };
	struct l32_batch b = { 3, tok, pos, seq, out };
	struct l32_err err;
	const float *e0, *e2, *lg, *E = m->w.tok_embd.data;

	ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
	e0 = l32_ctx_embd(c, 0);
	e2 = l32_ctx_embd(c, 2);
	lg = l32_ctx_logits(c, 2);
	ck_assert_ptr_nonnull(e0);
	ck_assert_ptr_nonnull(e2);
	ck_assert_ptr_nonnull(lg);
	ck_assert_ptr_null(l32_ctx_logits(c, 0));
	ck_assert_ptr_null(l32_ctx_embd(c, 1));
	ck_assert_ptr_null(l32_ctx_logits(c, 1));
	ck_assert_ptr_null(l32_ctx_embd(c, 3));
	for (int32_t id = 0; id < VOCAB; id += 997) {
		double dot = 0;

		for (int i = 0; i < 64; i++)
			dot += (double)e2[i] * E[(size_t)id * 64 + i];
		ck_assert_msg(fabs(dot - lg[id]) <= 1e-4, "id %d: %g vs %g", id, dot, lg[id]);
	}
	l32_ctx_free(c);
	l32_recipe_model_free(m);
}
END_TEST

/* decodes tok[from, to) of seq in batches that end at multiples of nb, the
 * last token's logits out */
static void
decode_span(struct l32_ctx *c, const int32_t *tok, int32_t from, int32_t to, int32_t nb,
    int32_t seq)
{
	int32_t pos[128], sq[128];
	uint8_t out[128];
	struct l32_err err;

	ck_assert_int_le(nb, 128);
	while (from < to) {
		int32_t n = to - from < nb - from % nb ? to - from : nb - from % nb;
		struct l32_batch b = { n, tok + from, pos, sq, out };

		for (int32_t i = 0; i < n; i++) {
			pos[i] = from + i;
			sq[i] = seq;
			out[i] = from + i == to - 1 ? L32_OUT_LOGITS : 0;
		}
		ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
		from += n;
	}
}

/* A prompt whose first k positions are taken from elsewhere (the prefix
 * cache) at a multiple of l32_ctx_align, the rest computed on top, gives
 * the bits of the prompt computed whole: K/V and logits.  Float weights
 * align to n_batch (BLIS rounds by shape), int8-kernel weights to
 * L32_CTX_ALIGN, where the attention chunks of both runs are the same. */
START_TEST(test_resume_aligned)
{
	enum l32_type type = _i == 0 ? L32_TYPE_F32 : L32_TYPE_Q8_0;
	struct l32_model *m = recipe_model("tiny", type);
	/* the last chunk, [192, 197), is a run of 5 queries inside the whole
	 * prompt's last batch, [128, 197), and a batch of its own when the
	 * prompt resumes at 192: it must take the same path both times */
	int32_t nb = 128, n = 197, tok[197], align;
	struct l32_ctx *c = new_ctx(m, 512, 2, nb, 0);
	size_t pb = l32_ctx_pos_bytes(c);
	char *kv = malloc(pb * (size_t)n), *kv2 = malloc(pb * (size_t)n);
	float *whole = malloc(VOCAB * sizeof(float));
	struct l32_err err;
	uint64_t x = 7;
	int tried = 0;

	ck_assert(kv != NULL && kv2 != NULL && whole != NULL);
	align = l32_ctx_align(c);
	ck_assert_int_eq(align, type == L32_TYPE_F32 ? nb : L32_CTX_ALIGN);
	for (int32_t i = 0; i < n; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		tok[i] = (int32_t)((x >> 33) % 128000);
	}
	decode_span(c, tok, 0, n, nb, 0);
	memcpy(whole, l32_ctx_logits(c, (n - 1) % nb), VOCAB * sizeof(float));
	l32_ctx_seq_save(c, 0, 0, n, kv);
	for (int32_t k = align; k < n; k += align) {
		int32_t last = n - 1 - (k > (n - 1) / nb * nb ? k : (n - 1) / nb * nb);

		l32_ctx_seq_clear(c, 1);
		/* positions [0, k) as saved: (layer, K/V, n, kv_dim) rows of k */
		l32_ctx_seq_copy(c, 0, 1, k);
		decode_span(c, tok, k, n, nb, 1);
		ck_assert_int_eq(l32_ctx_seq_len(c, 1), n);
		l32_ctx_seq_save(c, 1, 0, n, kv2);
		ck_assert_msg(memcmp(kv, kv2, pb * (size_t)n) == 0, "resumed at %d: K/V differ", k);
		ck_assert_msg(memcmp(whole, l32_ctx_logits(c, last), VOCAB * sizeof(float)) == 0,
		    "resumed at %d: logits differ", k);
		tried++;
	}
	ck_assert_int_gt(tried, 0);
	/* l32_ctx_seq_load appends saved positions */
	l32_ctx_seq_clear(c, 1);
	ck_assert_msg(l32_ctx_seq_load(c, 1, n, kv, &err) == 0, "%s", err.msg);
	l32_ctx_seq_save(c, 1, 0, n, kv2);
	ck_assert(memcmp(kv, kv2, pb * (size_t)n) == 0);
	ck_assert_int_eq(l32_ctx_seq_load(c, 1, 512 - n + 1, kv, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_CONTEXT);
	free(kv);
	free(kv2);
	free(whole);
	l32_ctx_free(c);
	l32_recipe_model_free(m);
}
END_TEST

/* One sequence's decode logits at a position past two decode attention
 * chunks (L32_ATTN_CHUNK) are the same bits alone and beside 3 other
 * sequences, on 1 thread and on 2 (alone on 2 its chunks are spread over
 * the threads, beside the others not), with an f32 and an f16 cache. */
START_TEST(test_decode_invariance)
{
	int kv_f16 = _i;
	struct l32_model *m = recipe_model("tiny", L32_TYPE_F32);
	/* seq 4 is a copy of seq 0, decoded beside 1..3 */
	int32_t lens[4] = { 2 * L32_ATTN_CHUNK + 77, 40, L32_ATTN_CHUNK + 3, 2 * L32_ATTN_CHUNK };
	int32_t n = lens[0], nb = 64, *tok[4];
	float *want = malloc(VOCAB * sizeof(float));
	uint64_t x = 11;

	ck_assert(want != NULL);
	for (int s = 0; s < 4; s++) {
		ck_assert((tok[s] = malloc((size_t)(lens[s] + 1) * sizeof(int32_t))) != NULL);
		for (int32_t i = 0; i <= lens[s]; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			tok[s][i] = (int32_t)((x >> 33) % 128000);
		}
	}
	for (int threads = 1; threads <= 2; threads++) {
		struct l32_ctx *c = new_ctx_threads(m, n + 1, 5, nb, kv_f16, threads);
		int32_t bt[4], bp[4], bs[4];
		uint8_t out[4] = { L32_OUT_LOGITS, L32_OUT_LOGITS, L32_OUT_LOGITS, L32_OUT_LOGITS };
		struct l32_batch b = { 1, bt, bp, bs, out };
		struct l32_err err;

		for (int s = 0; s < 4; s++)
			decode_span(c, tok[s], 0, lens[s], nb, s);
		l32_ctx_seq_copy(c, 0, 4, n);
		/* alone */
		bt[0] = tok[0][n]; bp[0] = n; bs[0] = 0;
		ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
		if (threads == 1)
			memcpy(want, l32_ctx_logits(c, 0), VOCAB * sizeof(float));
		else
			ck_assert_msg(memcmp(want, l32_ctx_logits(c, 0), VOCAB * sizeof(float)) == 0,
			    "kv_f16 %d: alone on 2 threads differs from 1", kv_f16);
		/* beside the others, third in the batch */
		for (int s = 1, j = 0; s <= 4; s++, j++) {
			int src = s == 4 ? 0 : s;

			bt[j] = tok[src][lens[src]];
			bp[j] = lens[src];
			bs[j] = s;
		}
		b.n = 4;
		ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
		ck_assert_msg(memcmp(want, l32_ctx_logits(c, 3), VOCAB * sizeof(float)) == 0,
		    "kv_f16 %d, %d threads: beside 3 sequences differs from alone", kv_f16, threads);
		l32_ctx_free(c);
	}
	for (int s = 0; s < 4; s++)
		free(tok[s]);
	free(want);
	l32_recipe_model_free(m);
}
END_TEST

START_TEST(test_batch_errors)
{
	struct l32_model *m = recipe_model("tiny", L32_TYPE_F32);
	struct l32_ctx_params p;
	struct l32_ctx *c = new_ctx(m, 4, 2, 8, 0);
	int32_t tok[8] = { 1, 2, 3, 4, 5 }, pos[8] = { 0, 1, 2 }, seq[8] = { 0 };
	struct l32_batch b = { 3, tok, pos, seq, NULL };
	struct l32_err err;

	ck_assert_int_eq(l32_ctx_decode(c, &b, &err), 0);
	/* a gap */
	pos[0] = 5;
	b.n = 1;
	ck_assert_int_eq(l32_ctx_decode(c, &b, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_INVALID);
	ck_assert_msg(strstr(err.msg, "seq 0 pos 5") != NULL, "%s", err.msg);
	ck_assert_ptr_null(l32_ctx_logits(c, 0));
	/* a repeat inside one batch */
	pos[0] = 3;
	pos[1] = 3;
	seq[1] = 0;
	b.n = 2;
	ck_assert_int_eq(l32_ctx_decode(c, &b, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_INVALID);
	/* the last position fits, the next one does not */
	b.n = 1;
	ck_assert_int_eq(l32_ctx_decode(c, &b, &err), 0);
	ck_assert_int_eq(l32_ctx_seq_len(c, 0), 4);
	pos[0] = 4;
	ck_assert_int_eq(l32_ctx_decode(c, &b, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_CONTEXT);
	ck_assert_msg(strstr(err.msg, "seq 0 pos 4") != NULL, "%s", err.msg);
	ck_assert_int_eq(l32_ctx_seq_len(c, 0), 4);
	/* unknown sequence, token id, batch size */
	pos[0] = 0;
	seq[0] = 2;
	ck_assert_int_eq(l32_ctx_decode(c, &b, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_INVALID);
	seq[0] = 1;
	tok[0] = VOCAB;
	ck_assert_int_eq(l32_ctx_decode(c, &b, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.msg, "128256"));
	tok[0] = 1;
	b.n = 9;
	ck_assert_int_eq(l32_ctx_decode(c, &b, &err), -1);
	b.n = 0;
	ck_assert_int_eq(l32_ctx_decode(c, &b, &err), -1);
	l32_ctx_free(c);

	/* a cache that cannot fit says how much it needs and what is there */
	l32_ctx_params_init(&p);
	p.n_ctx = 131072;
	p.n_seq = 65536;
	ck_assert_ptr_null(l32_ctx_new(m, &p, &err));
	ck_assert_int_eq(err.kind, L32_ERR_NOMEM);
	ck_assert_msg(strstr(err.msg, "MemAvailable") != NULL &&
	    strstr(err.msg, "need 4398") != NULL, "%s", err.msg);
	p.n_seq = 1;
	p.n_ctx = 131073;
	ck_assert_ptr_null(l32_ctx_new(m, &p, &err));
	ck_assert_int_eq(err.kind, L32_ERR_INVALID);
	l32_recipe_model_free(m);
}
END_TEST

/* ------------------------------------------------------ golden, from files */

static const struct {
	const char *path, *model, *weights;
	int rope_halves;
} file_variants[] = {
	{ "tiny/llama32-tiny-s0-F32.gguf", "tiny", "float", 0 },
	{ "tiny/hf-bf16", "tiny", "float", 1 },
	{ "tiny/llama32-tiny-s0-Q4_K_M.gguf", "tiny", "q4_k_m", 0 },
	{ "mini/llama32-mini-s0-Q4_K_M.gguf", "mini", "q4_k_m", 0 },
};

#define N_FILE_VARIANTS (int)(sizeof(file_variants) / sizeof(file_variants[0]))

START_TEST(test_golden_files)
{
	struct l32_err err;
	int v;
	const struct isa_path *p = golden_path(_i, N_FILE_VARIANTS, &v);
	struct l32_model *m = l32_model_open(shared_path(file_variants[v].path), &err);
	char label[256];
	int q;

	ck_assert_msg(m != NULL, "reference data missing or unreadable: %s", err.msg);
	ck_assert_int_eq(m->w.rope_halves, file_variants[v].rope_halves);
	use_path(p);
	q = activations_quantized(m);
	if (q && p == &gpaths[0]) {
		use_reference_kernels(1);
		check_golden(m, file_variants[v].model, file_variants[v].weights, 0,
		    1e-3, 2e-3, 1, file_variants[v].path);
		use_path(p);
	}
	snprintf(label, sizeof(label), "%s, %s%s", file_variants[v].path, p->name,
	    q ? ", 8-bit activations" : "");
	check_golden(m, file_variants[v].model, file_variants[v].weights, 0,
	    q ? TOL_QUANTIZED_ACT : 1e-3,
	    !golden_long_path(p) ? -1 : q ? TOL_QUANTIZED_ACT : 2e-3, 1, label);
	use_reference_kernels(0);
	l32_model_free(m);
}
END_TEST

/* The mini Q4_K_M file holds real Q4_K and Q6_K blocks, so its golden
 * check above runs those kernels. */
START_TEST(test_kquant_file_types)
{
	struct l32_err err;
	struct l32_model *m = l32_model_open(
	    shared_path("mini/llama32-mini-s0-Q4_K_M.gguf"), &err);
	int seen[L32_TYPE_COUNT] = { 0 };

	ck_assert_msg(m != NULL, "reference data missing or unreadable: %s", err.msg);
	for (int l = 0; l < m->hp.n_layers; l++) {
		const struct l32_tensor *ts[] = { &m->w.layers[l].wq, &m->w.layers[l].wv,
		    &m->w.layers[l].w2 };

		for (int k = 0; k < 3; k++)
			seen[ts[k]->type]++;
	}
	seen[m->w.tok_embd.type]++;
	ck_assert_msg(seen[L32_TYPE_Q4_K] > 0 && seen[L32_TYPE_Q6_K] > 0,
	    "mini Q4_K_M: expected Q4_K and Q6_K matrices");
	l32_model_free(m);
}
END_TEST

/* -------------------------------------------------------------------- main */

static Suite *
forward_suite(void)
{
	Suite *s = suite_create("forward");
	TCase *tc;

	tc = tcase_create("recipe");
	tcase_add_test(tc, test_recipe_check_values);
	tcase_add_test(tc, test_recipe_configs);
	tcase_add_test(tc, test_recipe_rope);
	tcase_add_test(tc, test_recipe_quantizers);
	suite_add_tcase(s, tc);

	tc = tcase_create("quant");
	tcase_add_test(tc, test_f16_conversions);
	tcase_add_test(tc, test_dequant_q5_0_q5_1);
	tcase_add_test(tc, test_dequant_q4_k_q5_k);
	tcase_add_test(tc, test_dequant_q6_k);
	tcase_add_loop_test(tc, test_dot_reference, 0, N_TYPES);
	suite_add_tcase(s, tc);

	tc = tcase_create("matmul");
	tcase_add_loop_test(tc, test_matmul_paths, 0, N_TYPES);
	tcase_add_test(tc, test_matmul_check);
	tcase_add_test(tc, test_reference_kernels_restore);
	suite_add_tcase(s, tc);

	tc = tcase_create("kv");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_decode_matches_prefill, 0, 4);
	tcase_add_test(tc, test_two_sequences);
	tcase_add_test(tc, test_embeddings);
	tcase_add_test(tc, test_batch_errors);
	tcase_add_loop_test(tc, test_resume_aligned, 0, 2);
	tcase_add_loop_test(tc, test_decode_invariance, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("golden-memory");
	/* the golden cases run on every kernel path, emulated ones (SIMDe,
	 * several times slower) included, and under the sanitizers */
	tcase_set_timeout(tc, 900);
	tcase_add_loop_test(tc, test_golden_memory, 0, N_MEM_VARIANTS * n_gpaths);
	tcase_add_test(tc, test_golden_kv_f16);
	suite_add_tcase(s, tc);

	tc = tcase_create("golden-files");
	/* the golden cases run on every kernel path, emulated ones (SIMDe,
	 * several times slower) included, and under the sanitizers */
	tcase_set_timeout(tc, 900);
	tcase_add_loop_test(tc, test_golden_files, 0, N_FILE_VARIANTS * n_gpaths);
	tcase_add_test(tc, test_kquant_file_types);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	n_gpaths = isa_paths(0, gpaths);
	sr = srunner_create(forward_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* last, where a log's tail shows it: the paths the golden checks ran on */
	isa_paths_print("test_forward", 0);
	return failed == 0 ? 0 : 1;
}
