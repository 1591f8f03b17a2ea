/*
 * test_threads.c - each product chooses from its size whether to split
 * over the threads: the golden tiny model's embedding pass runs on one
 * thread with -t 2 (splitting it cost more than it saved: l32-embed was
 * several times slower with -t 2 than with -t 1), while a product large
 * enough (its output projection over the 128256-token vocabulary) still
 * splits; and the results are the same bits either way.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"
#include "compute/matmul.h"
#include "base/pool.h"

static struct l32_model *model;

static void
setup(void)
{
	const char *shared = getenv("L32_SHARED") ? getenv("L32_SHARED") : "../shared";
	char path[4096];
	struct l32_err err;

	snprintf(path, sizeof(path), "%s/golden/tiny/llama32-tiny-s0-F32.gguf", shared);
	model = l32_model_open(path, &err);
	if (model == NULL)
		ck_abort_msg("reference data missing or unreadable (%s): %s", path, err.msg);
}

static void
teardown(void)
{
	l32_model_free(model);
}

START_TEST(thread_count_follows_size)
{
	struct l32_err err;
	struct l32_pool *p = l32_pool_new(2, &err);

	ck_assert_msg(p != NULL, "%s", err.msg);
	ck_assert_int_eq(l32_pool_threads_for(p, 64 * 64), 1);
	ck_assert_int_eq(l32_pool_threads_for(p, L32_POOL_SPLIT_WORK - 1), 1);
	ck_assert_int_eq(l32_pool_threads_for(p, 2048 * 2048), 2);
	l32_pool_free(p);
	l32_matmul_set_threads(2);
	ck_assert_int_eq(l32_sgemm_threads(192, 64, 64), 1);     /* a tiny layer */
	ck_assert_int_eq(l32_sgemm_threads(512, 2048, 2048), 2); /* a 1B prompt */
	l32_matmul_set_threads(1);
	ck_assert_int_eq(l32_sgemm_threads(512, 2048, 2048), 1);
}
END_TEST

/* One embedding pass of 192 tokens (4 sequences of 48) and one decode
 * step with logits, on a context of n threads: the final states and
 * logits, and the jobs that were split. */
static void
passes(int threads, float *embd, float *logits, long *split_embed, long *split_decode)
{
	struct l32_ctx_params cp;
	struct l32_err err;
	struct l32_ctx *c;
	int32_t tok[192], pos[192], seq[192];
	uint8_t out[192];
	int32_t vocab = l32_model_hparams(model)->vocab, dim = l32_model_hparams(model)->dim;

	l32_ctx_params_init(&cp);
	cp.n_ctx = 64;
	cp.n_seq = 5;
	cp.n_batch = 192;
	cp.n_threads = threads;
	ck_assert_msg((c = l32_ctx_new(model, &cp, &err)) != NULL, "%s", err.msg);
	for (int i = 0; i < 192; i++) {
		tok[i] = 1000 + 7 * i;
		seq[i] = i / 48;
		pos[i] = i % 48;
		out[i] = L32_OUT_EMBD;
	}
	struct l32_batch b = { 192, tok, pos, seq, out };
	ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
	*split_embed = l32_ctx_split_jobs(c);
	memcpy(embd, l32_ctx_embd(c, 191), (size_t)dim * sizeof(float));
	/* the next token of sequence 4, with logits */
	tok[0] = 9906;
	pos[0] = 0;
	seq[0] = 4;
	out[0] = L32_OUT_LOGITS;
	b.n = 1;
	ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
	*split_decode = l32_ctx_split_jobs(c) - *split_embed;
	memcpy(logits, l32_ctx_logits(c, 0), (size_t)vocab * sizeof(float));
	l32_ctx_free(c);
}

START_TEST(small_products_stay_on_one_thread)
{
	int32_t vocab = l32_model_hparams(model)->vocab, dim = l32_model_hparams(model)->dim;
	float *e1 = calloc((size_t)dim, sizeof(float)), *e2 = calloc((size_t)dim, sizeof(float));
	float *l1 = calloc((size_t)vocab, sizeof(float)), *l2 = calloc((size_t)vocab, sizeof(float));
	long s1, d1, s2, d2;

	ck_assert(e1 && e2 && l1 && l2);
	passes(1, e1, l1, &s1, &d1);
	passes(2, e2, l2, &s2, &d2);
	ck_assert_int_eq(s1, 0);
	ck_assert_int_eq(d1, 0);
	/* -t 2: the tiny model's layers are too small to split ... */
	ck_assert_msg(s2 == 0, "%ld jobs of the embedding pass were split", s2);
	/* ... its output projection (128256 x 64) is not */
	ck_assert_msg(d2 > 0, "the output projection was not split");
	ck_assert(memcmp(e1, e2, (size_t)dim * sizeof(float)) == 0);
	ck_assert(memcmp(l1, l2, (size_t)vocab * sizeof(float)) == 0);
	free(e1);
	free(e2);
	free(l1);
	free(l2);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("threads");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, thread_count_follows_size);
	tcase_add_test(tc, small_products_stay_on_one_thread);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
