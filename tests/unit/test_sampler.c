/* test_sampler.c - the sampler: each setting changes the draw as OpenAI
 * documents it, and seeded draws repeat. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"

#define NV 1000

static float logits[NV];

static void
fill_logits(uint64_t seed)
{
	struct l32_rng r;
	int i;

	l32_rng_seed(&r, seed);
	for (i = 0; i < NV; i++)
		logits[i] = (float)(l32_rng_uniform(&r) * 8.0 - 4.0);
}

static int32_t
best(const float *v, int n, int skip)
{
	int32_t i, b = -1;

	for (i = 0; i < n; i++)
		if (i != skip && (b < 0 || v[i] > v[b]))
			b = i;
	return b;
}

START_TEST(greedy_is_argmax)
{
	struct l32_sampler *sm = l32_sampler_new(NV);
	struct l32_sampling s;
	struct l32_rng rng;

	fill_logits(1);
	l32_sampling_init(&s);
	s.temperature = 0;
	l32_rng_seed(&rng, 0);
	ck_assert_int_eq(l32_sampler_pick(sm, &s, logits, NULL, &rng), best(logits, NV, -1));
	l32_sampler_free(sm);
}
END_TEST

START_TEST(logit_bias_moves_choice)
{
	struct l32_sampler *sm = l32_sampler_new(NV);
	struct l32_bias b = { 17, 100.0f };
	struct l32_sampling s;
	struct l32_rng rng;

	fill_logits(2);
	l32_sampling_init(&s);
	s.temperature = 0;
	l32_rng_seed(&rng, 0);
	ck_assert_int_ne(l32_sampler_pick(sm, &s, logits, NULL, &rng), 17);
	s.bias = &b;
	s.n_bias = 1;
	ck_assert_int_eq(l32_sampler_pick(sm, &s, logits, NULL, &rng), 17);
	/* -100 bans a token even at temperature 1 */
	b.id = best(logits, NV, -1);
	b.bias = -100.0f;
	s.temperature = 0;
	ck_assert_int_eq(l32_sampler_pick(sm, &s, logits, NULL, &rng), best(logits, NV, b.id));
	l32_sampler_free(sm);
}
END_TEST

START_TEST(penalties_lower_repeated_tokens)
{
	struct l32_sampler *sm = l32_sampler_new(NV);
	uint32_t *counts = calloc(NV, sizeof(*counts));
	int32_t top = (fill_logits(3), best(logits, NV, -1)), second = best(logits, NV, top);
	float gap = logits[top] - logits[second];
	struct l32_sampling s;
	struct l32_rng rng;

	l32_sampling_init(&s);
	s.temperature = 0;
	l32_rng_seed(&rng, 0);
	counts[top] = 3;
	ck_assert_int_eq(l32_sampler_pick(sm, &s, logits, counts, &rng), top);
	/* frequency: 3 occurrences * penalty > gap */
	s.frequency_penalty = gap / 3 + 0.01f;
	ck_assert_int_eq(l32_sampler_pick(sm, &s, logits, counts, &rng), second);
	s.frequency_penalty = 0;
	/* presence: once, whatever the count */
	s.presence_penalty = gap + 0.01f;
	ck_assert_int_eq(l32_sampler_pick(sm, &s, logits, counts, &rng), second);
	s.presence_penalty = gap - 0.01f;
	ck_assert_int_eq(l32_sampler_pick(sm, &s, logits, counts, &rng), top);
	free(counts);
	l32_sampler_free(sm);
}
END_TEST

/* Ranks of logits, best first. */
static int
rank_of(int32_t id)
{
	int i, r = 0;

	for (i = 0; i < NV; i++)
		if (logits[i] > logits[id] || (logits[i] == logits[id] && i < id))
			r++;
	return r;
}

START_TEST(top_k_keeps_k_best)
{
	struct l32_sampler *sm = l32_sampler_new(NV);
	struct l32_sampling s;
	struct l32_rng rng;
	int i, seen[5] = { 0 }, r;

	fill_logits(4);
	l32_sampling_init(&s);
	s.temperature = 2.0f;  /* flat: without top_k, far ranks would appear */
	s.top_k = 5;
	l32_rng_seed(&rng, 42);
	for (i = 0; i < 2000; i++) {
		r = rank_of(l32_sampler_pick(sm, &s, logits, NULL, &rng));
		ck_assert_int_lt(r, 5);
		seen[r]++;
	}
	for (i = 0; i < 5; i++)
		ck_assert_int_gt(seen[i], 0);
	l32_sampler_free(sm);
}
END_TEST

START_TEST(top_p_and_min_p_cut_the_tail)
{
	struct l32_sampler *sm = l32_sampler_new(NV);
	struct l32_sampling s;
	struct l32_rng rng;
	int i, maxrank = 0, r;

	fill_logits(5);
	logits[7] = 20.0f;  /* one token with nearly all the mass */
	l32_sampling_init(&s);
	s.top_p = 0.5f;
	l32_rng_seed(&rng, 1);
	for (i = 0; i < 500; i++)
		ck_assert_int_eq(l32_sampler_pick(sm, &s, logits, NULL, &rng), 7);
	fill_logits(5);
	s.top_p = 1.0f;
	s.min_p = 0.5f;  /* keeps tokens within log(2) of the best */
	for (i = 0; i < 1000; i++) {
		int32_t id = l32_sampler_pick(sm, &s, logits, NULL, &rng);

		ck_assert(logits[id] >= logits[best(logits, NV, -1)] - logf(2.0f) - 1e-5f);
		r = rank_of(id);
		if (r > maxrank)
			maxrank = r;
	}
	ck_assert_int_gt(maxrank, 0);
	l32_sampler_free(sm);
}
END_TEST

START_TEST(draws_follow_softmax_and_repeat)
{
	struct l32_sampler *sm = l32_sampler_new(4);
	float lg[4] = { 0.0f, (float)log(2.0), (float)log(3.0), (float)log(4.0) };
	int counts[4] = { 0 }, i, n = 20000;
	int32_t a[50], b[50];
	struct l32_sampling s;
	struct l32_rng rng;

	l32_sampling_init(&s);
	l32_rng_seed(&rng, 7);
	for (i = 0; i < n; i++)
		counts[l32_sampler_pick(sm, &s, lg, NULL, &rng)]++;
	for (i = 0; i < 4; i++)  /* p = (i+1)/10 */
		ck_assert(fabs(counts[i] / (double)n - (i + 1) / 10.0) < 0.02);
	l32_rng_seed(&rng, 99);
	for (i = 0; i < 50; i++)
		a[i] = l32_sampler_pick(sm, &s, lg, NULL, &rng);
	l32_rng_seed(&rng, 99);
	for (i = 0; i < 50; i++)
		b[i] = l32_sampler_pick(sm, &s, lg, NULL, &rng);
	ck_assert(memcmp(a, b, sizeof(a)) == 0);
	l32_sampler_free(sm);
}
END_TEST

START_TEST(top_ids_and_logsumexp)
{
	int32_t ids[20];
	double lse, ref = 0;
	int i;

	fill_logits(6);
	l32_top_ids(logits, NV, 20, ids);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(rank_of(ids[i]), i);
	lse = l32_logsumexp(logits, NV);
	for (i = 0; i < NV; i++)
		ref += exp(logits[i]);
	ck_assert(fabs(lse - log(ref)) < 1e-9 * fabs(log(ref)) + 1e-9);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("sampler");
	TCase *tc = tcase_create("sampler");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, greedy_is_argmax);
	tcase_add_test(tc, logit_bias_moves_choice);
	tcase_add_test(tc, penalties_lower_repeated_tokens);
	tcase_add_test(tc, top_k_keeps_k_best);
	tcase_add_test(tc, top_p_and_min_p_cut_the_tail);
	tcase_add_test(tc, draws_follow_softmax_and_repeat);
	tcase_add_test(tc, top_ids_and_logsumexp);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
