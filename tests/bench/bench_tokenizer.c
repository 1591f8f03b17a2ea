/*
 * bench_tokenizer.c - encoding speed of the Llama 3 tokenizer on one core.
 *
 * Texts come from $L32_SHARED/llama3/tokenizer-cases.jsonl: English (the
 * english, lang-en and long-doc cases) and multilingual (the other lang-*
 * and the script cases), each repeated to about 4 MB.  Each figure runs for
 * about two seconds and prints one line:
 *   tokenizer english: 3.41 M tokens/s, 14.2 MB/s (1 thread)
 */
#include <err.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "l32.h"
#include "prog/l32_prog.h"

#define TARGET_BYTES (4u << 20)
#define SECONDS 2.0

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int
is_english(const char *cat)
{
	return strcmp(cat, "english") == 0 || strcmp(cat, "lang-en") == 0 ||
	    strcmp(cat, "long-doc") == 0;
}

static int
is_multilingual(const char *cat)
{
	return (strncmp(cat, "lang-", 5) == 0 && strcmp(cat, "lang-en") != 0) ||
	    strcmp(cat, "script") == 0;
}

/* Concatenates the texts of the cases whose category passes want, with a
 * newline between them, repeated up to TARGET_BYTES. */
static void
build_text(const char *path, int (*want)(const char *), struct l32_buf *out)
{
	struct l32_buf once = { 0 };
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		err(1, "reference data missing: %s (set L32_SHARED)", path);
	while ((n = getline(&line, &cap, f)) > 0) {
		json_error_t jerr;
		json_t *c = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &jerr);
		const char *cat;

		if (c == NULL)
			errx(1, "%s: %s", path, jerr.text);
		cat = json_string_value(json_object_get(c, "category"));
		if (cat != NULL && want(cat)) {
			json_t *t = json_object_get(c, "text");

			if (l32_buf_append(&once, json_string_value(t), json_string_length(t)) == -1 ||
			    l32_buf_append(&once, "\n", 1) == -1)
				err(1, NULL);
		}
		json_decref(c);
	}
	free(line);
	fclose(f);
	if (once.len == 0)
		errx(1, "%s: no texts for the benchmark", path);
	while (out->len < TARGET_BYTES)
		if (l32_buf_append(out, once.data, once.len) == -1)
			err(1, NULL);
	l32_buf_free(&once);
}

static void
bench(const struct l32_tokenizer *tok, const char *name, const struct l32_buf *text,
    unsigned flags)
{
	struct l32_tokens ids = { 0 };
	struct l32_err e = { 0 };
	double t0 = now(), dt;
	size_t tokens = 0, bytes = 0;

	do {
		ids.n = 0;
		if (l32_tokenize(tok, text->data, text->len, flags, &ids, &e) == -1)
			errx(1, "%s", e.msg);
		tokens += ids.n;
		bytes += text->len;
	} while ((dt = now() - t0) < SECONDS);
	printf("tokenizer %s: %.2f M tokens/s, %.1f MB/s (1 thread)\n", name,
	    (double)tokens / dt / 1e6, (double)bytes / dt / 1e6);
	fflush(stdout);
	l32_tokens_free(&ids);
}

int
main(void)
{
	struct l32_buf en = { 0 }, multi = { 0 };
	struct l32_tokenizer *tok;
	struct l32_err e = { 0 };
	const char *shared = getenv("L32_SHARED");
	char *model, *cases;

	if (shared == NULL || *shared == '\0')
		shared = "../shared";
	if (asprintf(&model, "%s/llama3/tokenizer.model", shared) == -1 ||
	    asprintf(&cases, "%s/llama3/tokenizer-cases.jsonl", shared) == -1)
		err(1, NULL);
	if ((tok = l32_tokenizer_load_tiktoken(model, &e)) == NULL)
		errx(1, "reference data missing or bad: %s", e.msg);
	build_text(cases, is_english, &en);
	build_text(cases, is_multilingual, &multi);
	bench(tok, "english", &en, 0);
	bench(tok, "english, Meta chunking", &en, L32_TOKENIZE_CHUNK);
	bench(tok, "multilingual", &multi, 0);
	l32_buf_free(&en);
	l32_buf_free(&multi);
	l32_tokenizer_free(tok);
	free(model);
	free(cases);
	return 0;
}
