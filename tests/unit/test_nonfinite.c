/*
 * test_nonfinite.c - a model whose weights hold NaN or infinity: the
 * requests it spoils fail with L32_ERR_MODEL naming the place where the
 * values first went non-finite, the requests beside them are answered as
 * on the sound model, and l32_model_check_weights finds the tensor.
 *
 * The models are micro models (tests/lib/micromodel.c) with a separate
 * output projection, so that damage to one token's embedding row spoils
 * only the sequences holding that token.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "l32.h"
#include "prog/l32_prog.h"
#include "micromodel.h"
#include "model/model.h"

static struct l32_buf image;      /* the sound model */
static struct l32_buf damaged;    /* a copy with NaN written into it */

static void
setup(void)
{
	struct micro_opts o;

	micro_defaults(&o);
	o.tokenizer = 1;
	o.vocab = MICRO_TOK_VOCAB;
	o.untied = 1;
	o.n_layers = 2;
	memset(&image, 0, sizeof(image));
	memset(&damaged, 0, sizeof(damaged));
	ck_assert(micro_gguf(&o, &image) == 0);
}

static void
teardown(void)
{
	l32_buf_free(&image);
	l32_buf_free(&damaged);
}

/* damaged := image with v over n values of tensor name from row row. */
static void
damage(const char *name, int64_t row, int n, float v)
{
	struct l32_err err;
	struct l32_gguf *g;
	const struct l32_gguf_tensor *t;
	size_t off;

	l32_buf_reset(&damaged);
	ck_assert(l32_buf_append(&damaged, image.data, image.len) == 0);
	g = l32_gguf_parse(damaged.data, damaged.len, "micro.gguf", &err);
	ck_assert_msg(g != NULL, "%s", err.msg);
	ck_assert_msg((t = l32_gguf_find_tensor(g, name)) != NULL, "no tensor %s", name);
	ck_assert(t->type == L32_TYPE_F32);
	off = (size_t)((const char *)t->data - damaged.data) + (size_t)(row * t->ne[0]) * sizeof(float);
	for (int i = 0; i < n; i++)
		memcpy(damaged.data + off + (size_t)i * sizeof(float), &v, sizeof(v));
	l32_gguf_free(g);
}

static struct l32_model *
open_model(const struct l32_buf *b)
{
	struct l32_err err;
	struct l32_model *m = l32_model_from_gguf(b->data, b->len, "micro.gguf", &err);

	ck_assert_msg(m != NULL, "%s", err.msg);
	return m;
}

static struct l32_engine *
new_engine(struct l32_model *m)
{
	struct l32_ctx_params cp;
	struct l32_err err;
	struct l32_engine *e;

	l32_ctx_params_init(&cp);
	cp.n_ctx = 64;
	cp.n_seq = 2;
	cp.n_batch = 16;
	cp.n_threads = 1;
	e = l32_engine_new(m, &cp, &err);
	ck_assert_msg(e != NULL, "%s", err.msg);
	return e;
}

static void
params(struct l32_gen_params *p)
{
	l32_gen_params_init(p);
	p->sampling.temperature = 0;
	p->max_tokens = 6;
	p->has_max_tokens = 1;
	p->ignore_eos = 1;
	p->logprobs = 1;
	p->top_logprobs = 2;
}

/* Runs prompts a (token 1 then 2) and b (token 1 then 3) together on m;
 * returns the error of each (rc_a, rc_b) and a's completion. */
static void
run_pair(struct l32_model *m, int *rc_a, int *rc_b, struct l32_err *err_b,
    struct l32_tokens *out_a)
{
	static const int32_t pa[] = { 1, 2, 4, 5 }, pb[] = { 1, 3, 4, 5 };
	struct l32_engine *e = new_engine(m);
	struct l32_gen_params p;
	struct l32_gen_choice ca, cb;
	struct l32_job *ja, *jb;
	struct l32_err err;

	params(&p);
	memset(&ca, 0, sizeof(ca));
	memset(&cb, 0, sizeof(cb));
	ja = l32_job_start(e, pa, 4, &p, &ca, NULL, NULL, &err);
	ck_assert_msg(ja != NULL, "%s", err.msg);
	jb = l32_job_start(e, pb, 4, &p, &cb, NULL, NULL, err_b);
	*rc_b = jb == NULL ? -1 : 0;
	while (!l32_job_done(ja) || (jb != NULL && !l32_job_done(jb)))
		ck_assert_msg(l32_engine_step(e, &err) == 0, "%s", err.msg);
	*rc_a = l32_job_error(ja, &err);
	if (jb != NULL)
		*rc_b = l32_job_error(jb, err_b);
	out_a->n = 0;
	ck_assert(l32_tokens_append(out_a, ca.ids.ids, ca.ids.n) == 0);
	l32_job_free(ja);
	l32_job_free(jb);
	l32_gen_choice_free(&ca);
	l32_gen_choice_free(&cb);
	l32_engine_free(e);
}

START_TEST(spoiled_request_fails_alone)
{
	struct l32_model *m;
	struct l32_tokens sound = { 0 }, got = { 0 };
	struct l32_err err;
	int ra, rb;

	m = open_model(&image);
	run_pair(m, &ra, &rb, &err, &sound);
	ck_assert(ra == 0 && rb == 0);
	l32_model_free(m);

	/* token 3's embedding row: only the request that holds token 3 */
	damage("token_embd.weight", 3, 8, NAN);
	m = open_model(&damaged);
	run_pair(m, &ra, &rb, &err, &got);
	ck_assert_int_eq(ra, 0);
	ck_assert_int_eq(rb, -1);
	ck_assert_int_eq(err.kind, L32_ERR_MODEL);
	ck_assert_str_eq(err.code, "model_error");
	ck_assert_msg(strstr(err.msg, "non-finite") != NULL && strstr(err.msg, "token embedding") != NULL,
	    "%s", err.msg);
	/* the request beside it is answered as on the sound model */
	ck_assert_uint_eq(got.n, sound.n);
	ck_assert(memcmp(got.ids, sound.ids, sound.n * sizeof(int32_t)) == 0);
	l32_model_free(m);
	l32_tokens_free(&sound);
	l32_tokens_free(&got);
}
END_TEST

/* Damage that reaches every request names its place. */
START_TEST(fault_names_the_place)
{
	static const struct {
		const char *tensor;
		float v;
		const char *where;
	} cases[] = {
		{ "blk.1.attn_q.weight", NAN, "layer 1 (attention)" },
		{ "blk.0.ffn_up.weight", INFINITY, "layer 0 (feed-forward)" },
		{ "blk.1.ffn_norm.weight", NAN, "layer 1 (feed-forward)" },
		{ "output_norm.weight", NAN, "the output norm" },
		{ "output.weight", NAN, "the output projection" },
	};
	static const int32_t prompt[] = { 1, 2, 4, 5 };
	struct l32_gen_params p;
	struct l32_gen_choice c;
	struct l32_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct l32_model *m;
		struct l32_engine *e;

		damage(cases[i].tensor, 0, 8, cases[i].v);
		m = open_model(&damaged);
		e = new_engine(m);
		params(&p);
		memset(&c, 0, sizeof(c));
		ck_assert_int_eq(l32_generate(e, prompt, 4, &p, &c, NULL, NULL, &err), -1);
		ck_assert_int_eq(err.kind, L32_ERR_MODEL);
		ck_assert_msg(strstr(err.msg, cases[i].where) != NULL, "%s: %s", cases[i].tensor, err.msg);
		/* never a false "out of memory" (logprobs of NaN cannot be written) */
		ck_assert(strstr(err.msg, "memory") == NULL);
		l32_gen_choice_free(&c);
		l32_engine_free(e);
		l32_model_free(m);
	}
}
END_TEST

START_TEST(embeddings_fail_per_input)
{
	struct l32_model *m;
	struct l32_embedder *em;
	struct l32_ctx_params cp;
	struct l32_tokens in[2] = { { 0 }, { 0 } };
	struct l32_err err;
	float out[2 * 8];
	int done[2];

	damage("token_embd.weight", 3, 8, NAN);
	m = open_model(&damaged);
	l32_ctx_params_init(&cp);
	cp.n_ctx = 64;
	cp.n_seq = 2;
	cp.n_threads = 1;
	em = l32_embedder_new(m, &cp, &err);
	ck_assert_msg(em != NULL, "%s", err.msg);
	ck_assert(l32_tokens_push(&in[0], 1) == 0 && l32_tokens_push(&in[0], 2) == 0);
	ck_assert(l32_tokens_push(&in[1], 1) == 0 && l32_tokens_push(&in[1], 3) == 0);
	ck_assert(l32_embedder_add(em, in, 2, L32_POOLING_MEAN, out, done, &err) == 0);
	while (l32_embedder_pending(em) > 0)
		ck_assert_msg(l32_embedder_step(em, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(done[0], 1);
	ck_assert_int_lt(done[1], 0);
	for (int d = 0; d < 8; d++)
		ck_assert(isfinite(out[d]));
	ck_assert_int_eq(l32_embedder_error(em, done[0], &err), 0);
	ck_assert_int_eq(l32_embedder_error(em, done[1], &err), -1);
	ck_assert_msg(strstr(err.msg, "token embedding") != NULL, "%s", err.msg);
	/* l32_embed of the spoiled input fails */
	ck_assert_int_eq(l32_embed(em, &in[1], 1, L32_POOLING_LAST, out, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_MODEL);
	l32_tokens_free(&in[0]);
	l32_tokens_free(&in[1]);
	l32_embedder_free(em);
	l32_model_free(m);
}
END_TEST

START_TEST(check_weights_finds_the_tensor)
{
	struct l32_model *m;
	struct l32_err err;

	m = open_model(&image);
	ck_assert_msg(l32_model_check_weights(m, &err) == 0, "%s", err.msg);
	l32_model_free(m);
	damage("blk.1.ffn_down.weight", 2, 1, INFINITY);
	m = open_model(&damaged);
	ck_assert_int_eq(l32_model_check_weights(m, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_FORMAT);
	ck_assert_msg(strstr(err.msg, "blk.1.ffn_down.weight") != NULL && strstr(err.msg, "row 2") != NULL,
	    "%s", err.msg);
	l32_model_free(m);
	damage("output_norm.weight", 0, 1, NAN);
	m = open_model(&damaged);
	ck_assert_int_eq(l32_model_check_weights(m, &err), -1);
	ck_assert_msg(strstr(err.msg, "output norm") != NULL, "%s", err.msg);
	l32_model_free(m);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("nonfinite");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, spoiled_request_fails_alone);
	tcase_add_test(tc, fault_names_the_place);
	tcase_add_test(tc, embeddings_fail_per_input);
	tcase_add_test(tc, check_weights_finds_the_tensor);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
