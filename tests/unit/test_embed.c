/*
 * test_embed.c - embeddings on the golden tiny model: mean and last pooling
 * equal the hidden states the context gives for the input alone, an input's
 * embedding is bitwise the same whatever shares its forward passes, inputs
 * do share passes, and the base64 encoding round-trips.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"

static struct l32_model *model;
static const struct l32_tokenizer *tok;
static int32_t dim;
static char tiny_path[4096];

#define N_CTX 512

static void
setup(void)
{
	const char *shared = getenv("L32_SHARED") ? getenv("L32_SHARED") : "../shared";
	struct l32_err err;

	snprintf(tiny_path, sizeof(tiny_path), "%s/golden/tiny/llama32-tiny-s0-F32.gguf", shared);
	model = l32_model_open(tiny_path, &err);
	if (model == NULL)
		ck_abort_msg("reference data missing or unreadable (%s): %s", tiny_path, err.msg);
	tok = l32_model_tokenizer(model);
	dim = l32_model_hparams(model)->dim;
}

static void
teardown(void)
{
	l32_model_free(model);
}

static struct l32_embedder *
embedder(int32_t n_seq)
{
	struct l32_ctx_params cp;
	struct l32_embedder *e;
	struct l32_err err;

	l32_ctx_params_init(&cp);
	cp.n_ctx = N_CTX;
	cp.n_seq = n_seq;
	cp.n_threads = 1;
	e = l32_embedder_new(model, &cp, &err);
	ck_assert_msg(e != NULL, "%s", err.msg);
	return e;
}

static void
text(struct l32_tokens *t, const char *s)
{
	struct l32_err err;

	memset(t, 0, sizeof(*t));
	ck_assert_msg(l32_tokenize(tok, s, strlen(s), L32_TOKENIZE_BOS, t, &err) == 0, "%s", err.msg);
}

/* n ids, BOS first, the rest a fixed pattern over the vocabulary. */
static void
pattern(struct l32_tokens *t, size_t n, int32_t salt)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	l32_tokens_push(t, l32_tokenizer_bos(tok));
	for (i = 1; i < n; i++)
		l32_tokens_push(t, (int32_t)((i * 7919 + (size_t)salt * 104729) % 120000) + 100);
}

static float *
embed(struct l32_embedder *e, const struct l32_tokens *in, size_t n, enum l32_pooling pool)
{
	float *out = calloc(n * (size_t)dim, sizeof(float));
	struct l32_err err;

	ck_assert_msg(l32_embed(e, in, n, pool, out, &err) == 0, "%s", err.msg);
	return out;
}

/* The pooled hidden states of t through a context of its own, in one
 * l32_ctx_decode call: the sum in position order, in double. */
static void
direct(const struct l32_tokens *t, enum l32_pooling pool, float *out)
{
	struct l32_ctx_params cp;
	struct l32_ctx *ctx;
	struct l32_batch b;
	struct l32_err err;
	int32_t *pos = calloc(t->n, sizeof(int32_t)), *seq = calloc(t->n, sizeof(int32_t));
	uint8_t *o = calloc(t->n, 1);
	double *sum = calloc((size_t)dim, sizeof(double));
	size_t i;
	int32_t d;

	l32_ctx_params_init(&cp);
	cp.n_ctx = N_CTX;
	cp.n_batch = N_CTX;
	cp.n_threads = 1;
	ctx = l32_ctx_new(model, &cp, &err);
	ck_assert_msg(ctx != NULL, "%s", err.msg);
	for (i = 0; i < t->n; i++) {
		pos[i] = (int32_t)i;
		o[i] = L32_OUT_EMBD;
	}
	b = (struct l32_batch){ (int32_t)t->n, t->ids, pos, seq, o };
	ck_assert_msg(l32_ctx_decode(ctx, &b, &err) == 0, "%s", err.msg);
	for (i = 0; i < t->n; i++)
		for (d = 0; d < dim; d++)
			sum[d] += l32_ctx_embd(ctx, (int32_t)i)[d];
	for (d = 0; d < dim; d++)
		out[d] = pool == L32_POOLING_LAST ? l32_ctx_embd(ctx, (int32_t)t->n - 1)[d] :
		    (float)(sum[d] / (double)t->n);
	l32_ctx_free(ctx);
	free(pos);
	free(seq);
	free(o);
	free(sum);
}

static double
max_diff(const float *a, const float *b, int32_t n)
{
	double m = 0;

	for (int32_t i = 0; i < n; i++)
		if (fabs((double)a[i] - b[i]) > m)
			m = fabs((double)a[i] - b[i]);
	return m;
}

/* ------------------------------------------------------------------ tests */

/* An input of 8 to 192 tokens alone is one pass of the same kernels as the
 * direct call, so the results are bitwise equal; a shorter one differs from
 * an unpadded direct call by the rounding of matmul's dot kernels (the
 * embedder pads it to the GEMM path), a longer one by attention over two
 * passes: both within 1e-5. */
START_TEST(pooling_equals_direct_hidden_states)
{
	struct l32_embedder *e = embedder(4);
	struct l32_tokens t[3];
	float *got, want[512];
	enum l32_pooling pools[2] = { L32_POOLING_MEAN, L32_POOLING_LAST };
	int k, i;

	text(&t[0], "The quick brown fox jumps over the lazy dog near the river bank.");
	text(&t[1], "Hi");
	pattern(&t[2], 300, 1);
	ck_assert_uint_ge(t[0].n, 8);
	ck_assert_uint_lt(t[1].n, 8);
	for (k = 0; k < 2; k++)
		for (i = 0; i < 3; i++) {
			got = embed(e, &t[i], 1, pools[k]);
			direct(&t[i], pools[k], want);
			if (i == 0)
				ck_assert_msg(memcmp(got, want, (size_t)dim * sizeof(float)) == 0,
				    "pool %d: max diff %g", k, max_diff(got, want, dim));
			else
				ck_assert_msg(max_diff(got, want, dim) < 1e-5, "input %d pool %d: %g", i, k,
				    max_diff(got, want, dim));
			free(got);
		}
	/* mean and last are different things */
	got = embed(e, &t[0], 1, L32_POOLING_MEAN);
	direct(&t[0], L32_POOLING_LAST, want);
	ck_assert(max_diff(got, want, dim) > 1e-3);
	free(got);
	for (i = 0; i < 3; i++)
		l32_tokens_free(&t[i]);
	l32_embedder_free(e);
}
END_TEST

/* Bitwise: an input's embedding does not depend on its company, on how
 * many inputs share a pass, or on being cut over several passes. */
START_TEST(batch_invariance_bitwise)
{
	struct l32_embedder *one = embedder(1), *four = embedder(4);
	struct l32_tokens in[9];
	float *alone[9], *batch, *batch1;
	size_t i;
	int k;

	text(&in[0], "x");
	text(&in[1], "Hello world");
	text(&in[2], "A somewhat longer sentence, with a comma, and more words than the others.");
	pattern(&in[3], 191, 2);
	pattern(&in[4], 193, 3);
	pattern(&in[5], 400, 4);
	text(&in[6], "y z");
	pattern(&in[7], 8, 5);
	pattern(&in[8], 7, 6);
	for (i = 0; i < 9; i++)
		alone[i] = embed(one, &in[i], 1, L32_POOLING_MEAN);
	for (k = 0; k < 2; k++) {
		batch = embed(four, in, 9, L32_POOLING_MEAN);
		batch1 = embed(one, in, 9, L32_POOLING_MEAN);
		for (i = 0; i < 9; i++) {
			ck_assert_msg(memcmp(batch + i * (size_t)dim, alone[i], (size_t)dim * sizeof(float)) == 0,
			    "input %zu in a batch of 9: max diff %g", i, max_diff(batch + i * (size_t)dim, alone[i], dim));
			ck_assert(memcmp(batch1 + i * (size_t)dim, alone[i], (size_t)dim * sizeof(float)) == 0);
		}
		free(batch);
		free(batch1);
	}
	/* many inputs to a pass (the context's GEMM threshold rises with its
	 * sequences) */
	for (k = 0; k < 2; k++) {
		struct l32_embedder *many = embedder(k == 0 ? 8 : 24);

		batch = embed(many, in, 9, L32_POOLING_MEAN);
		batch1 = embed(many, &in[0], 1, L32_POOLING_MEAN);
		for (i = 0; i < 9; i++)
			ck_assert_msg(memcmp(batch + i * (size_t)dim, alone[i], (size_t)dim * sizeof(float)) == 0,
			    "input %zu, %d to a pass: max diff %g", i, k == 0 ? 8 : 24,
			    max_diff(batch + i * (size_t)dim, alone[i], dim));
		ck_assert(memcmp(batch1, alone[0], (size_t)dim * sizeof(float)) == 0);
		free(batch);
		free(batch1);
		l32_embedder_free(many);
	}
	/* the other pooling too, in another order */
	for (i = 0; i < 9; i++) {
		free(alone[i]);
		alone[i] = embed(one, &in[i], 1, L32_POOLING_LAST);
	}
	batch = embed(four, in + 3, 6, L32_POOLING_LAST);
	for (i = 0; i < 6; i++)
		ck_assert(memcmp(batch + i * (size_t)dim, alone[i + 3], (size_t)dim * sizeof(float)) == 0);
	free(batch);
	for (i = 0; i < 9; i++) {
		free(alone[i]);
		l32_tokens_free(&in[i]);
	}
	l32_embedder_free(one);
	l32_embedder_free(four);
}
END_TEST

/* Ten inputs of 20 tokens, four to a pass: three passes, not ten. */
START_TEST(inputs_share_passes)
{
	struct l32_embedder *e = embedder(4);
	struct l32_tokens in[10];
	float *out;
	long before;
	int i;

	for (i = 0; i < 10; i++)
		pattern(&in[i], 20, i);
	before = l32_embedder_passes(e);
	out = embed(e, in, 10, L32_POOLING_MEAN);
	ck_assert_int_eq(l32_embedder_passes(e) - before, 3);
	free(out);
	/* a 400-token input takes passes of at most L32_EMBED_PASS_TOKENS */
	l32_tokens_free(&in[0]);
	pattern(&in[0], 400, 0);
	before = l32_embedder_passes(e);
	out = embed(e, in, 1, L32_POOLING_MEAN);
	ck_assert_int_eq(l32_embedder_passes(e) - before, 3);
	free(out);
	for (i = 0; i < 10; i++)
		l32_tokens_free(&in[i]);
	l32_embedder_free(e);
}
END_TEST

START_TEST(bad_inputs)
{
	struct l32_embedder *e = embedder(2);
	struct l32_tokens in[2];
	struct l32_err err;
	float out[2 * 64];

	pattern(&in[0], 5, 0);
	pattern(&in[1], N_CTX + 1, 1);
	ck_assert_int_eq(l32_embed(e, in, 2, L32_POOLING_MEAN, out, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_CONTEXT);
	ck_assert_str_eq(err.code, "context_length_exceeded");
	ck_assert_ptr_nonnull(strstr(err.msg, "513"));
	in[1].n = 0;
	ck_assert_int_eq(l32_embed(e, in, 2, L32_POOLING_MEAN, out, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_INVALID);
	/* exactly the context is fine */
	in[1].n = N_CTX;
	ck_assert_int_eq(l32_embed(e, in, 2, L32_POOLING_MEAN, out, &err), 0);
	l32_tokens_free(&in[0]);
	l32_tokens_free(&in[1]);
	l32_embedder_free(e);
}
END_TEST

static int
b64val(char c)
{
	const char *a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = strchr(a, c);

	return c != '\0' && p != NULL ? (int)(p - a) : -1;
}

/* Decodes base64 (with padding) into bytes; returns their count. */
static size_t
b64decode(const char *s, size_t n, unsigned char *out)
{
	size_t i, o = 0;

	ck_assert_uint_eq(n % 4, 0);
	for (i = 0; i < n; i += 4) {
		int v[4], k;

		for (k = 0; k < 4; k++)
			v[k] = s[i + k] == '=' ? 0 : b64val(s[i + k]);
		for (k = 0; k < 4; k++)
			ck_assert_int_ge(v[k], 0);
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (s[i + 2] != '=')
			out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (s[i + 3] != '=')
			out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	return o;
}

START_TEST(base64_round_trip)
{
	struct l32_embedder *e = embedder(1);
	struct l32_tokens t;
	struct l32_buf b = { 0 };
	unsigned char bytes[4 * 64];
	float one = 1.0f, *v, back[64];
	size_t n, i, k;

	/* 1.0f is 00 00 80 3f little-endian */
	ck_assert_int_eq(l32_base64_f32(&b, &one, 1), 0);
	ck_assert_str_eq(b.data, "AACAPw==");
	text(&t, "Round trip through base64.");
	v = embed(e, &t, 1, L32_POOLING_MEAN);
	l32_vec_normalize(v, (size_t)dim);
	/* every length mod 3 of the byte string: 1, 2 and 64 floats */
	for (k = 1; k <= (size_t)dim; k = k == 2 ? (size_t)dim : k + 1) {
		l32_buf_reset(&b);
		ck_assert_int_eq(l32_base64_f32(&b, v, k), 0);
		ck_assert_uint_eq(b.len, (4 * k + 2) / 3 * 4);
		n = b64decode(b.data, b.len, bytes);
		ck_assert_uint_eq(n, 4 * k);
		for (i = 0; i < k; i++) {
			uint32_t u = (uint32_t)bytes[4 * i] | (uint32_t)bytes[4 * i + 1] << 8 |
			    (uint32_t)bytes[4 * i + 2] << 16 | (uint32_t)bytes[4 * i + 3] << 24;

			memcpy(&back[i], &u, 4);
		}
		ck_assert(memcmp(back, v, k * sizeof(float)) == 0);
	}
	free(v);
	l32_buf_free(&b);
	l32_tokens_free(&t);
	l32_embedder_free(e);
}
END_TEST

START_TEST(normalize)
{
	float v[4] = { 3, 0, 4, 0 }, z[3] = { 0, 0, 0 };

	l32_vec_normalize(v, 4);
	ck_assert(fabsf(v[0] - 0.6f) < 1e-7 && fabsf(v[2] - 0.8f) < 1e-7 && v[1] == 0);
	l32_vec_normalize(z, 3);
	ck_assert(z[0] == 0 && z[1] == 0 && z[2] == 0);
	/* dimensions: truncated, then normalized again */
	l32_vec_normalize(v, 1);
	ck_assert(v[0] == 1.0f);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("embed");
	TCase *tc = tcase_create("embed");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, pooling_equals_direct_hidden_states);
	tcase_add_test(tc, batch_invariance_bitwise);
	tcase_add_test(tc, inputs_share_passes);
	tcase_add_test(tc, bad_inputs);
	tcase_add_test(tc, base64_round_trip);
	tcase_add_test(tc, normalize);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
