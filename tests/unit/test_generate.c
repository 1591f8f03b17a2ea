/*
 * test_generate.c - the generation loop on the golden tiny model: greedy
 * output equals argmax decoding through the context directly, logprobs
 * equal the golden log-softmax, and every sampling setting changes what it
 * should (each test would fail if its feature were a no-op).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"

static struct l32_model *model;
static struct l32_engine *engine;
static char tiny_path[4096];
static const int32_t test_sentence[] = { 128000, 2028, 374, 264, 1296, 11914, 13, 128001 };
#define N_TS 8

static void
setup(void)
{
	const char *shared = getenv("L32_SHARED") ? getenv("L32_SHARED") : "../shared";
	struct l32_ctx_params cp;
	struct l32_err err;

	snprintf(tiny_path, sizeof(tiny_path), "%s/golden/tiny/llama32-tiny-s0-F32.gguf", shared);
	model = l32_model_open(tiny_path, &err);
	if (model == NULL)
		ck_abort_msg("reference data missing or unreadable (%s): %s", tiny_path, err.msg);
	l32_ctx_params_init(&cp);
	cp.n_ctx = 256;
	cp.n_seq = 4;
	cp.n_batch = 64;
	cp.n_threads = 1;
	engine = l32_engine_new(model, &cp, &err);
	ck_assert_msg(engine != NULL, "%s", err.msg);
}

static void
teardown(void)
{
	l32_engine_free(engine);
	l32_model_free(model);
}

/* Runs one generation; choices must have room for p->n. */
static void
gen(const int32_t *prompt, size_t n, struct l32_gen_params *p, struct l32_gen_choice *c)
{
	struct l32_err err;

	memset(c, 0, sizeof(*c) * (size_t)p->n);
	ck_assert_msg(l32_generate(engine, prompt, n, p, c, NULL, NULL, &err) == 0, "%s", err.msg);
}

static void
greedy(struct l32_gen_params *p, int32_t max_tokens)
{
	l32_gen_params_init(p);
	p->sampling.temperature = 0;
	p->max_tokens = max_tokens;
	p->ignore_eos = 1;
}

START_TEST(greedy_equals_direct_argmax)
{
	struct l32_gen_params p;
	struct l32_gen_choice c;
	struct l32_ctx *ctx = l32_engine_ctx(engine);
	int32_t tok[N_TS], pos[N_TS], seq[N_TS], id, i, j, best;
	uint8_t out[N_TS] = { 0 };
	const float *lg;
	struct l32_batch b;
	struct l32_err err;
	int32_t vocab = l32_model_hparams(model)->vocab;

	greedy(&p, 12);
	gen(test_sentence, 7, &p, &c);
	ck_assert_int_eq((int)c.ids.n, 12);
	ck_assert_int_eq(c.finish, L32_FINISH_LENGTH);
	/* the same by hand: prefill, then argmax token after token */
	l32_ctx_seq_clear(ctx, 3);
	for (i = 0; i < 7; i++) {
		tok[i] = test_sentence[i];
		pos[i] = i;
		seq[i] = 3;
	}
	out[6] = L32_OUT_LOGITS;
	b = (struct l32_batch){ 7, tok, pos, seq, out };
	ck_assert(l32_ctx_decode(ctx, &b, &err) == 0);
	lg = l32_ctx_logits(ctx, 6);
	for (j = 0; j < 12; j++) {
		for (best = 0, i = 1; i < vocab; i++)
			if (lg[i] > lg[best])
				best = i;
		ck_assert_int_eq(c.ids.ids[j], best);
		id = best;
		pos[0] = 7 + j;
		out[0] = L32_OUT_LOGITS;
		b = (struct l32_batch){ 1, &id, pos, seq, out };
		ck_assert(l32_ctx_decode(ctx, &b, &err) == 0);
		lg = l32_ctx_logits(ctx, 0);
	}
	l32_ctx_seq_clear(ctx, 3);
	l32_gen_choice_free(&c);
}
END_TEST

/* The golden record's top logits at the last position of test_sentence. */
static int
golden_top(int32_t *ids, double *logit, int k, double *lse)
{
	const char *shared = getenv("L32_SHARED") ? getenv("L32_SHARED") : "../shared";
	char path[4096], *line = NULL;
	size_t cap = 0;
	FILE *f;
	int found = 0, i;

	snprintf(path, sizeof(path), "%s/golden/golden.jsonl", shared);
	ck_assert_msg((f = fopen(path, "r")) != NULL, "reference data missing: %s", path);
	while (!found && getline(&line, &cap, f) > 0) {
		json_t *o = json_loads(line, 0, NULL), *top;

		if (o != NULL && strcmp(json_string_value(json_object_get(o, "model")), "tiny") == 0 &&
		    strcmp(json_string_value(json_object_get(o, "weights")), "float") == 0 &&
		    strcmp(json_string_value(json_object_get(o, "case")), "test_sentence") == 0) {
			top = json_object_get(o, "logits_last_top64");
			for (i = 0; i < k; i++) {
				ids[i] = (int32_t)json_integer_value(json_object_get(json_array_get(top, (size_t)i), "id"));
				logit[i] = json_real_value(json_object_get(json_array_get(top, (size_t)i), "logit"));
			}
			*lse = json_real_value(json_object_get(o, "logsumexp_last"));
			found = 1;
		}
		json_decref(o);
	}
	free(line);
	fclose(f);
	return found;
}

START_TEST(top_logprobs_equal_golden_log_softmax)
{
	struct l32_gen_params p;
	struct l32_gen_choice c;
	int32_t ids[20];
	double logit[20], lse;
	json_t *entry, *top;
	int i;

	ck_assert_msg(golden_top(ids, logit, 20, &lse), "test_sentence record not found");
	greedy(&p, 1);
	p.logprobs = 1;
	p.top_logprobs = 20;
	gen(test_sentence, N_TS, &p, &c);
	entry = json_array_get(c.logprobs, 0);
	ck_assert_ptr_nonnull(entry);
	top = json_object_get(entry, "top_logprobs");
	ck_assert_int_eq((int)json_array_size(top), 20);
	for (i = 0; i < 20; i++) {
		json_t *t = json_array_get(top, (size_t)i);
		size_t blen;
		const char *bytes = l32_token_bytes(l32_model_tokenizer(model), ids[i], &blen);

		ck_assert(fabs(json_real_value(json_object_get(t, "logprob")) - (logit[i] - lse)) < 1e-3);
		ck_assert_int_eq((int)json_array_size(json_object_get(t, "bytes")), (int)blen);
		ck_assert_int_eq((int)json_integer_value(json_array_get(json_object_get(t, "bytes"), 0)),
		    (unsigned char)bytes[0]);
	}
	/* the sampled (greedy) token is the best one, with its logprob */
	ck_assert_int_eq(c.ids.ids[0], ids[0]);
	ck_assert(fabs(json_real_value(json_object_get(entry, "logprob")) - (logit[0] - lse)) < 1e-3);
	l32_gen_choice_free(&c);
}
END_TEST

START_TEST(seed_reproducible_and_n_choices)
{
	struct l32_gen_params p;
	struct l32_gen_choice a, b, n3[3];

	l32_gen_params_init(&p);
	p.max_tokens = 16;
	p.ignore_eos = 1;
	p.seed = 5;
	gen(test_sentence, 7, &p, &a);
	gen(test_sentence, 7, &p, &b);
	ck_assert_int_eq((int)a.ids.n, (int)b.ids.n);
	ck_assert(memcmp(a.ids.ids, b.ids.ids, a.ids.n * sizeof(int32_t)) == 0);
	l32_gen_choice_free(&b);
	p.seed = 6;
	gen(test_sentence, 7, &p, &b);
	ck_assert(memcmp(a.ids.ids, b.ids.ids, a.ids.n * sizeof(int32_t)) != 0);
	/* n = 3: choice 0 is the n = 1 answer, the others differ */
	p.seed = 5;
	p.n = 3;
	gen(test_sentence, 7, &p, n3);
	ck_assert(memcmp(a.ids.ids, n3[0].ids.ids, a.ids.n * sizeof(int32_t)) == 0);
	ck_assert(memcmp(n3[0].ids.ids, n3[1].ids.ids, a.ids.n * sizeof(int32_t)) != 0);
	ck_assert(memcmp(n3[1].ids.ids, n3[2].ids.ids, a.ids.n * sizeof(int32_t)) != 0);
	for (int i = 0; i < 3; i++)
		l32_gen_choice_free(&n3[i]);
	l32_gen_choice_free(&a);
	l32_gen_choice_free(&b);
}
END_TEST

START_TEST(stop_string_cuts_text)
{
	struct l32_gen_params p;
	struct l32_gen_choice full, cut;
	const char *stop[1];
	size_t stop_len[1], at;
	char s[8];

	greedy(&p, 24);
	gen(test_sentence, 7, &p, &full);
	ck_assert_uint_gt(full.text.len, 8);
	/* a stop string taken from the middle of the greedy text */
	at = full.text.len / 2;
	while (at > 0 && ((unsigned char)full.text.data[at] & 0xc0) == 0x80)
		at--;
	memcpy(s, full.text.data + at, 1);
	s[1] = '\0';
	stop[0] = s;
	stop_len[0] = 1;
	p.stop = stop;
	p.stop_len = stop_len;
	p.n_stop = 1;
	gen(test_sentence, 7, &p, &cut);
	ck_assert_int_eq(cut.finish, L32_FINISH_STOP);
	ck_assert_ptr_null(memchr(cut.text.data, s[0], cut.text.len));
	ck_assert(cut.text.len <= at);
	ck_assert(memcmp(cut.text.data, full.text.data, cut.text.len) == 0);
	ck_assert_int_eq((int)(memchr(full.text.data, s[0], full.text.len) - (void *)full.text.data),
	    (int)cut.text.len);
	l32_gen_choice_free(&full);
	l32_gen_choice_free(&cut);
}
END_TEST

static int
count_distinct(const struct l32_tokens *t)
{
	int n = 0;
	size_t i, j;

	for (i = 0; i < t->n; i++) {
		for (j = 0; j < i && t->ids[j] != t->ids[i]; j++)
			;
		n += j == i;
	}
	return n;
}

START_TEST(penalties_and_bias_change_output)
{
	struct l32_gen_params p;
	struct l32_gen_choice plain, pen, biased;
	struct l32_bias bias = { 4418, 100.0f };
	size_t i;

	greedy(&p, 24);
	gen(test_sentence, 7, &p, &plain);
	p.sampling.frequency_penalty = 2.0f;
	gen(test_sentence, 7, &p, &pen);
	/* the random tiny model repeats itself; the penalty spreads it out */
	ck_assert_int_gt(count_distinct(&pen.ids), count_distinct(&plain.ids));
	p.sampling.frequency_penalty = 0;
	p.sampling.presence_penalty = 2.0f;
	l32_gen_choice_free(&pen);
	gen(test_sentence, 7, &p, &pen);
	ck_assert_int_gt(count_distinct(&pen.ids), count_distinct(&plain.ids));
	p.sampling.presence_penalty = 0;
	p.sampling.bias = &bias;
	p.sampling.n_bias = 1;
	gen(test_sentence, 7, &p, &biased);
	for (i = 0; i < biased.ids.n; i++)
		ck_assert_int_eq(biased.ids.ids[i], 4418);
	l32_gen_choice_free(&plain);
	l32_gen_choice_free(&pen);
	l32_gen_choice_free(&biased);
}
END_TEST

START_TEST(context_limit)
{
	struct l32_gen_params p;
	struct l32_gen_choice c;
	struct l32_err err;
	int32_t *longp = calloc(300, sizeof(int32_t));

	greedy(&p, 1000);
	for (int i = 0; i < 300; i++)
		longp[i] = 1000 + i;
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(l32_generate(engine, longp, 300, &p, &c, NULL, NULL, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_CONTEXT);
	ck_assert_str_eq(err.code, "context_length_exceeded");
	ck_assert_ptr_nonnull(strstr(err.msg, "300"));
	/* max_tokens beyond the window: clipped, finish "length" */
	gen(longp, 250, &p, &c);
	ck_assert_int_eq(c.finish, L32_FINISH_LENGTH);
	ck_assert_int_eq((int)c.ids.n, 256 - 250);
	l32_gen_choice_free(&c);
	free(longp);
}
END_TEST

struct streamed {
	struct l32_buf text;
	int finished, calls;
};

static int
collect(void *arg, int32_t index, const char *text, size_t len, size_t first_lp,
    enum l32_finish finish)
{
	struct streamed *s = arg;

	ck_assert(l32_utf8_valid(text, len));
	l32_buf_append(&s->text, text, len);
	s->calls++;
	if (finish)
		s->finished++;
	return 0;
}

START_TEST(stream_pieces_add_up)
{
	struct l32_gen_params p;
	struct l32_gen_choice c;
	struct streamed s = { { 0 }, 0, 0 };
	struct l32_err err;

	greedy(&p, 20);
	memset(&c, 0, sizeof(c));
	ck_assert(l32_generate(engine, test_sentence, 7, &p, &c, collect, &s, &err) == 0);
	ck_assert_int_eq(s.finished, 1);
	ck_assert_int_gt(s.calls, 1);
	ck_assert_uint_eq(s.text.len, c.text.len);
	ck_assert(memcmp(s.text.data, c.text.data, c.text.len) == 0);
	l32_buf_free(&s.text);
	l32_gen_choice_free(&c);
}
END_TEST

/* --batch auto: the choice from timings (twice the knee, whole groups of
 * 8, clamped), and a real measurement on the tiny model within bounds. */
START_TEST(step_size)
{
	struct l32_err err;
	int32_t s;

	/* 16 tokens cost what 1 does: still reading-bound at 16, the most */
	ck_assert_int_eq(l32_step_size_from(1.0, 1.0, 16), L32_STEP_MAX);
	/* knee 4 (16 tokens cost 4x one): 8 */
	ck_assert_int_eq(l32_step_size_from(1.0, 4.0, 16), 8);
	/* knee 6.4: 12.8, up to 16 */
	ck_assert_int_eq(l32_step_size_from(1.0, 2.5, 16), 16);
	/* knee 10.7: 24 */
	ck_assert_int_eq(l32_step_size_from(1.0, 1.5, 16), 24);
	/* arithmetic-bound already at 1 token: the fewest */
	ck_assert_int_eq(l32_step_size_from(1.0, 16.0, 16), L32_STEP_MIN);
	ck_assert_int_eq(l32_step_size_from(1.0, 0.0, 16), L32_STEP_MAX);
	ck_assert_int_eq(l32_step_size_from(0.0, 0.0, 16), L32_STEP_MAX);
	s = l32_step_size(model, 1, 256, 0, &err);
	ck_assert_msg(s >= 1 && s <= L32_STEP_MAX, "step size %d: %s", s, err.msg);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("generate");
	TCase *tc = tcase_create("generate");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, greedy_equals_direct_argmax);
	tcase_add_test(tc, top_logprobs_equal_golden_log_softmax);
	tcase_add_test(tc, seed_reproducible_and_n_choices);
	tcase_add_test(tc, stop_string_cuts_text);
	tcase_add_test(tc, penalties_and_bias_change_output);
	tcase_add_test(tc, context_limit);
	tcase_add_test(tc, stream_pieces_add_up);
	tcase_add_test(tc, step_size);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
