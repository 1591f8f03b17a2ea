/*
 * test_summarize.c - cutting texts into chunks that fit a token budget, at
 * paragraph, sentence, word or token boundaries; and the map-reduce summary
 * on the golden tiny model with a small context: part counts and sizes
 * within the limit, every call counted in the usage.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"

static struct l32_model *model;
static const struct l32_tokenizer *tok;
static char tiny_path[4096];

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
}

static void
teardown(void)
{
	l32_model_free(model);
}

/* A document of np paragraphs of a few sentences each, from a fixed
 * pseudo-random sequence of words. */
static char *
document(int np, unsigned seed)
{
	static const char *const words[] = { "river", "model", "token", "city", "paper",
	    "result", "method", "system", "mountain", "data", "quick", "brown", "lazy" };
	struct l32_buf b = { 0 };
	int p, s, w, nw;

	for (p = 0; p < np; p++) {
		if (p > 0)
			l32_buf_puts(&b, "\n\n");
		for (s = 0; s < 2 + (int)(seed % 4); s++) {
			seed = seed * 1103515245u + 12345u;
			nw = 6 + (int)((seed >> 16) % 10);
			for (w = 0; w < nw; w++) {
				seed = seed * 1103515245u + 12345u;
				l32_buf_printf(&b, "%s%s", w == 0 ? (s > 0 ? " The" : "The") : " ",
				    w == 0 ? "" : words[(seed >> 16) % 13]);
			}
			l32_buf_puts(&b, ".");
		}
	}
	return b.data;
}

static int32_t
count(const char *s, size_t n)
{
	struct l32_tokens t = { 0 };
	struct l32_err err;
	int32_t c;

	ck_assert(l32_tokenize(tok, s, n, L32_TOKENIZE_SPECIAL, &t, &err) == 0);
	c = (int32_t)t.n;
	l32_tokens_free(&t);
	return c;
}

/* The text without white space, to check that chunks cover it in order. */
static void
squeeze(const char *s, size_t n, struct l32_buf *out)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr(" \t\r\n", s[i]))
			l32_buf_append(out, s + i, 1);
}

/* Cuts text, checks sizes, recounts and coverage; returns the chunks. */
static struct l32_span *
cut(const char *text, int32_t max, size_t *n)
{
	struct l32_span *c;
	struct l32_err err;
	struct l32_buf all = { 0 }, parts = { 0 };
	size_t i;

	ck_assert_msg(l32_chunk_text(tok, text, strlen(text), max, L32_TOKENIZE_SPECIAL, &c, n,
	    &err) == 0, "%s", err.msg);
	for (i = 0; i < *n; i++) {
		ck_assert_int_le(c[i].n_tokens, max);
		ck_assert_int_eq(c[i].n_tokens, count(text + c[i].off, c[i].len));
		ck_assert(c[i].len > 0 && !strchr(" \n", text[c[i].off]) &&
		    !strchr(" \n", text[c[i].off + c[i].len - 1]));
		ck_assert(l32_utf8_valid(text + c[i].off, c[i].len));
		if (i > 0)
			ck_assert_uint_ge(c[i].off, c[i - 1].off + c[i - 1].len);
		squeeze(text + c[i].off, c[i].len, &parts);
	}
	squeeze(text, strlen(text), &all);
	ck_assert_uint_eq(all.len, parts.len);
	ck_assert(all.len == 0 || memcmp(all.data, parts.data, all.len) == 0);
	l32_buf_free(&all);
	l32_buf_free(&parts);
	return c;
}

START_TEST(chunks_at_paragraphs)
{
	char *doc = document(12, 7);
	struct l32_span *c;
	size_t n, i;
	int32_t total = count(doc, strlen(doc));

	c = cut(doc, 100, &n);
	ck_assert_uint_ge(n, (size_t)(total + 99) / 100);
	ck_assert_uint_gt(n, 1);
	/* every paragraph fits, so every chunk is whole paragraphs */
	for (i = 0; i < n; i++) {
		ck_assert(c[i].off == 0 || doc[c[i].off - 1] == '\n');
		ck_assert(c[i].off + c[i].len == strlen(doc) || doc[c[i].off + c[i].len] == '\n');
	}
	free(c);
	/* the whole text in one chunk when it fits */
	c = cut(doc, total, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(c[0].n_tokens, total);
	free(c);
	free(doc);
}
END_TEST

START_TEST(chunks_at_sentences_words_tokens)
{
	struct l32_buf b = { 0 };
	struct l32_span *c;
	size_t n, i;
	char *doc = document(1, 3), *one;

	/* one paragraph over the budget: cut after sentences */
	c = cut(doc, 30, &n);
	ck_assert_uint_gt(n, 1);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(doc[c[i].off + c[i].len - 1], '.');
	free(c);
	/* one sentence: between words */
	for (i = 0; i < 60; i++)
		l32_buf_printf(&b, "%sword%zu", i ? " " : "", i);
	c = cut(b.data, 20, &n);
	ck_assert_uint_gt(n, 3);
	for (i = 0; i + 1 < n; i++)
		ck_assert_int_eq(b.data[c[i].off + c[i].len], ' ');
	free(c);
	/* one run of letters and two-byte characters: between tokens, on
	 * character boundaries */
	l32_buf_reset(&b);
	for (i = 0; i < 400; i++)
		l32_buf_puts(&b, i % 3 ? "x\xc3\xa9q" : "zk");
	c = cut(b.data, 16, &n);
	ck_assert_uint_gt(n, 10);
	free(c);
	/* nothing but white space: no chunks; budgets under 8: an error */
	one = " \n\n \t ";
	ck_assert_int_eq(l32_chunk_text(tok, one, strlen(one), 16, 0, &c, &n, NULL), 0);
	ck_assert_uint_eq(n, 0);
	free(c);
	ck_assert_int_eq(l32_chunk_text(tok, doc, strlen(doc), 4, 0, &c, &n, NULL), -1);
	l32_buf_free(&b);
	free(doc);
}
END_TEST

/* ------------------------------------------------------------- summaries */

struct calls {
	struct l32_summary_call c[256];
	int n;
};

static void
record(void *arg, const struct l32_summary_call *c)
{
	struct calls *k = arg;

	ck_assert_int_lt(k->n, 256);
	k->c[k->n++] = *c;
}

static struct l32_engine *
engine(int32_t n_ctx, int32_t n_seq)
{
	struct l32_engine *e;
	struct l32_err err;

	e = l32_program_engine(model, n_ctx, n_seq, 1, 0, &err);
	ck_assert_msg(e != NULL, "%s", err.msg);
	return e;
}

static int
summarize(struct l32_engine *e, const char *doc, struct calls *k, struct l32_summary *s,
    struct l32_err *err)
{
	struct l32_gen_params p;
	struct l32_summary_opts o;

	l32_gen_params_init(&p);
	p.sampling.temperature = 0;
	p.ignore_eos = 1;
	memset(&o, 0, sizeof(o));
	o.gen = &p;
	o.on_call = record;
	o.arg = k;
	memset(s, 0, sizeof(*s));
	k->n = 0;
	return l32_summarize(e, tok, doc, strlen(doc), &o, s, err);
}

START_TEST(map_reduce_with_a_small_context)
{
	struct l32_engine *e = engine(320, 4), *e1 = engine(320, 1);
	struct l32_summary s, s1;
	struct l32_err err;
	struct calls *k = calloc(1, sizeof(*k));
	char *doc = document(8, 5);
	struct l32_span *parts;
	size_t n;
	int64_t prompt = 0, completion = 0;
	int i, level0 = 0, merges = 0;

	ck_assert_msg(summarize(e, doc, k, &s, &err) == 0, "%s", err.msg);
	ck_assert_int_gt(s.chunks, 1);
	ck_assert_int_eq(s.calls, k->n);
	for (i = 0; i < k->n; i++) {
		const struct l32_summary_call *c = &k->c[i];

		prompt += c->prompt_tokens;
		completion += c->completion_tokens;
		ck_assert_int_le(c->text_tokens, c->limit);
		ck_assert_int_le(c->prompt_tokens + c->completion_tokens, 320);
		merges += c->stage == L32_SUMMARY_MERGE;
		if (c->level == 0) {
			ck_assert_int_eq(c->stage, L32_SUMMARY_PART);
			ck_assert_int_eq(c->index, level0);
			ck_assert_int_eq(c->count, s.chunks);
			level0++;
		}
	}
	ck_assert_int_eq(level0, s.chunks);
	ck_assert_int_gt(merges, 0);   /* the part summaries took a round of merging */
	ck_assert_int_eq(k->c[k->n - 1].stage, L32_SUMMARY_FINAL);
	ck_assert_int_eq(s.levels, k->c[k->n - 1].level + 1);
	ck_assert_int_eq(s.prompt_tokens, prompt);
	ck_assert_int_eq(s.completion_tokens, completion);
	ck_assert_uint_gt(s.text.len, 0);
	/* the parts are the chunks of the document at the part limit */
	ck_assert(l32_chunk_text(tok, doc, strlen(doc), k->c[0].limit, L32_TOKENIZE_SPECIAL,
	    &parts, &n, &err) == 0);
	ck_assert_uint_eq(n, (size_t)s.chunks);
	for (i = 0; i < s.chunks; i++)
		ck_assert_int_eq(parts[i].n_tokens, k->c[i].text_tokens);
	free(parts);
	/* parts summarized together or one at a time: the same summary */
	ck_assert_msg(summarize(e1, doc, k, &s1, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(s1.text.len, s.text.len);
	ck_assert(memcmp(s1.text.data, s.text.data, s.text.len) == 0);
	ck_assert_int_eq(s1.calls, s.calls);
	ck_assert_int_eq(s1.completion_tokens, s.completion_tokens);
	l32_summary_free(&s1);
	l32_summary_free(&s);
	free(doc);
	free(k);
	l32_engine_free(e);
	l32_engine_free(e1);
}
END_TEST

START_TEST(short_text_in_one_call)
{
	struct l32_engine *e = engine(320, 2);
	struct l32_summary s;
	struct l32_err err;
	struct calls *k = calloc(1, sizeof(*k));

	ck_assert_msg(summarize(e, "  The cat sat on the mat.\n", k, &s, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(s.chunks, 1);
	ck_assert_int_eq(s.calls, 1);
	ck_assert_int_eq(k->c[0].stage, L32_SUMMARY_WHOLE);
	ck_assert_int_eq(s.prompt_tokens, k->c[0].prompt_tokens);
	/* no max_tokens: a quarter of the context */
	ck_assert_int_eq(s.completion_tokens, 80);
	ck_assert_int_eq(s.truncated, 1);
	l32_summary_free(&s);
	ck_assert_int_eq(summarize(e, " \n ", k, &s, &err), -1);
	ck_assert_str_eq(err.param, "input");
	free(k);
	l32_engine_free(e);
}
END_TEST

START_TEST(context_too_small)
{
	struct l32_engine *e = engine(160, 2);
	struct l32_summary s;
	struct l32_err err;
	struct calls *k = calloc(1, sizeof(*k));
	char *doc = document(6, 1);

	ck_assert_int_eq(summarize(e, doc, k, &s, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_CONTEXT);
	ck_assert_str_eq(err.code, "context_length_exceeded");
	ck_assert_int_eq(k->n, 0);
	l32_summary_free(&s);
	free(doc);
	free(k);
	l32_engine_free(e);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("summarize");
	TCase *tc = tcase_create("summarize");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, chunks_at_paragraphs);
	tcase_add_test(tc, chunks_at_sentences_words_tokens);
	tcase_add_test(tc, map_reduce_with_a_small_context);
	tcase_add_test(tc, short_text_in_one_call);
	tcase_add_test(tc, context_too_small);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
