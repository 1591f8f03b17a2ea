/*
 * bench_grammar.c - the cost of constrained decoding, one line per figure:
 *
 *   the vocabulary trie of the Llama 3 tokenizer (built once per model)
 *   compiling a nested JSON Schema (the median of 20)
 *   the token mask of each step of answers under that schema, tokenized
 *     with the real 128 256-token vocabulary: median and 99th percentile,
 *     for a grammar seen for the first time (every state new) and for one
 *     kept from earlier requests (as the engine keeps them)
 *   with a model file: decode tok/s of one sequence without and with the
 *     schema (fixed prompt and seeds, temperature 1, prefill not counted,
 *     after one request of each kind), and their ratio
 *
 * usage: bench_grammar [model.gguf]
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "l32.h"
#include "prog/l32_prog.h"

#define REQUESTS 8      /* answers per mask measurement */
#define DECODE 64       /* tokens per decode measurement */

static const char schema_text[] =
    "{\"type\":\"object\",\"properties\":{"
    "\"id\":{\"type\":\"string\",\"format\":\"uuid\"},"
    "\"customer\":{\"type\":\"object\",\"properties\":{"
    "\"name\":{\"type\":\"string\",\"maxLength\":40},"
    "\"email\":{\"type\":\"string\",\"format\":\"email\"},"
    "\"tier\":{\"enum\":[\"free\",\"pro\",\"enterprise\"]}},"
    "\"required\":[\"name\",\"email\",\"tier\"],\"additionalProperties\":false},"
    "\"items\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":10,\"items\":{\"type\":\"object\",\"properties\":{"
    "\"sku\":{\"type\":\"string\",\"pattern\":\"^[A-Z]{3}-[0-9]{4}$\"},"
    "\"description\":{\"type\":\"string\"},"
    "\"quantity\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000},"
    "\"price\":{\"type\":\"number\",\"minimum\":0,\"maximum\":100000}},"
    "\"required\":[\"sku\",\"description\",\"quantity\",\"price\"],\"additionalProperties\":false}},"
    "\"notes\":{\"type\":[\"string\",\"null\"]},"
    "\"placed\":{\"type\":\"string\",\"format\":\"date-time\"}},"
    "\"required\":[\"id\",\"customer\",\"items\",\"notes\",\"placed\"],\"additionalProperties\":false}";

/* Answers valid under the schema, as a model might write them. */
static const char *const answers[REQUESTS] = {
	"{\"id\":\"3f2b9c1e-8d4a-4b6f-9e2d-7a1c5b3e9f04\",\"customer\":{\"name\":\"Ada Lovelace\",\"email\":\"ada@example.com\",\"tier\":\"pro\"},\"items\":[{\"sku\":\"ABC-1234\",\"description\":\"A box of assorted screws, stainless steel, 200 pieces\",\"quantity\":3,\"price\":12.5},{\"sku\":\"XYZ-0001\",\"description\":\"Cordless drill with two batteries and a charger\",\"quantity\":1,\"price\":89.99}],\"notes\":\"Leave the parcel at the back door, please.\",\"placed\":\"2024-05-17T10:42:00Z\"}",
	"{\"id\":\"a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d\",\"customer\":{\"name\":\"Grace Hopper\",\"email\":\"grace.hopper@navy.mil\",\"tier\":\"enterprise\"},\"items\":[{\"sku\":\"COB-1959\",\"description\":\"Compiler manual, first edition, slightly worn\",\"quantity\":2,\"price\":250}],\"notes\":null,\"placed\":\"2023-12-09T08:00:00+01:00\"}",
	"{\"id\":\"00000000-1111-4222-8333-444444444444\",\"customer\":{\"name\":\"Jos\xc3\xa9 Mar\xc3\xad" "a \xc3\x91\xc3\xba\xc3\xb1" "ez\",\"email\":\"jose@correo.es\",\"tier\":\"free\"},\"items\":[{\"sku\":\"TAZ-0042\",\"description\":\"Taza de caf\xc3\xa9 con asa, cer\xc3\xa1mica blanca \xe2\x98\x95\",\"quantity\":6,\"price\":4.75},{\"sku\":\"PLA-0007\",\"description\":\"Platos hondos\",\"quantity\":12,\"price\":3.2},{\"sku\":\"CUC-0100\",\"description\":\"Cucharas\",\"quantity\":12,\"price\":1.05}],\"notes\":\"Entregar por la tarde\",\"placed\":\"2024-01-31T18:30:15Z\"}",
	"{\"id\":\"9e8d7c6b-5a49-4382-a716-051423324150\",\"customer\":{\"name\":\"\xe5\xb1\xb1\xe7\x94\xb0\xe5\xa4\xaa\xe9\x83\x8e\",\"email\":\"taro@example.jp\",\"tier\":\"pro\"},\"items\":[{\"sku\":\"JPN-2024\",\"description\":\"\xe6\x9c\xac\xe3\x81\xae\xe3\x82\xbb\xe3\x83\x83\xe3\x83\x88\xe3\x80\x81\xe5\x85\xa8\xe4\xb8\x89\xe5\x86\x8a\",\"quantity\":1,\"price\":3600}],\"notes\":null,\"placed\":\"2024-03-03T03:03:03+09:00\"}",
	"{\"id\":\"12345678-9abc-4def-8123-456789abcdef\",\"customer\":{\"name\":\"Bob\",\"email\":\"bob@b.io\",\"tier\":\"free\"},\"items\":[{\"sku\":\"AAA-0000\",\"description\":\"x\",\"quantity\":1000,\"price\":0}],\"notes\":\"\",\"placed\":\"2020-02-29T23:59:59Z\"}",
	"{\"id\":\"fedcba98-7654-4321-8fed-cba987654321\",\"customer\":{\"name\":\"Dr. Jane \\\"JJ\\\" Doe\",\"email\":\"jane.doe+orders@hospital.example.org\",\"tier\":\"enterprise\"},\"items\":[{\"sku\":\"MED-5150\",\"description\":\"Nitrile gloves, size M, box of 100\\nSecond line of the description\",\"quantity\":40,\"price\":7.99},{\"sku\":\"MED-5151\",\"description\":\"Nitrile gloves, size L, box of 100\",\"quantity\":40,\"price\":7.99}],\"notes\":\"Invoice to the accounts department\",\"placed\":\"2024-06-01T12:00:00.250Z\"}",
	"{\"id\":\"deadbeef-0000-4000-8000-000000000001\",\"customer\":{\"name\":\"Zo\xc3\xab\",\"email\":\"zoe@example.fr\",\"tier\":\"pro\"},\"items\":[{\"sku\":\"VIN-1982\",\"description\":\"Bordeaux, ch\xc3\xa2teau d\xe2\x80\x99\xc3\xa9t\xc3\xa9, six bottles in a wooden case\",\"quantity\":1,\"price\":540.0}],\"notes\":\"Fragile\",\"placed\":\"2022-11-11T11:11:11Z\"}",
	"{\"id\":\"c0ffee00-1234-4567-89ab-cdef01234567\",\"customer\":{\"name\":\"Max Mustermann\",\"email\":\"max@beispiel.de\",\"tier\":\"free\"},\"items\":[{\"sku\":\"BRT-0001\",\"description\":\"Brot\",\"quantity\":2,\"price\":3.5},{\"sku\":\"MLK-0002\",\"description\":\"Milch, 1 Liter\",\"quantity\":3,\"price\":1.19},{\"sku\":\"KAS-0003\",\"description\":\"K\xc3\xa4se\",\"quantity\":1,\"price\":6.8},{\"sku\":\"APF-0004\",\"description\":\"\xc3\x84pfel\",\"quantity\":6,\"price\":0.45}],\"notes\":null,\"placed\":\"2021-07-04T07:04:00-05:00\"}",
};

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct l32_grammar *
compile(const json_t *schema)
{
	struct l32_err err;
	struct l32_grammar *g = l32_grammar_from_schema(schema, "schema", &err);

	if (g == NULL)
		errx(3, "%s", err.msg);
	return g;
}

/* Times the mask of every step of the answers; with fresh, each answer
 * gets a newly compiled grammar.  Fills t (seconds per step), returns the
 * count. */
static size_t
mask_times(const struct l32_tokenizer *tok, const struct l32_vocab_trie *trie, const json_t *schema,
    struct l32_grammar *kept, double *t, size_t cap)
{
	struct l32_err err;
	struct l32_tokens ids = { 0 };
	size_t n = 0, i, len;
	const char *b;
	int a;

	for (a = 0; a < REQUESTS; a++) {
		struct l32_grammar *g = kept != NULL ? kept : compile(schema);
		int32_t st = l32_grammar_start(g);

		ids.n = 0;
		if (l32_tokenize(tok, answers[a], strlen(answers[a]), 0, &ids, &err) == -1)
			errx(3, "%s", err.msg);
		for (i = 0; i < ids.n && n < cap; i++) {
			double t0 = now();

			if (l32_grammar_mask(g, trie, st, &err) == NULL)
				errx(3, "%s", err.msg);
			t[n++] = now() - t0;
			b = l32_token_bytes(tok, ids.ids[i], &len);
			if ((st = l32_grammar_advance(g, st, b, len, &err)) <= 0)
				errx(3, "answer %d leaves the schema at token %zu", a, i);
		}
		if (!l32_grammar_accepting(g, st))
			errx(3, "answer %d is not complete under the schema", a);
		if (kept == NULL)
			l32_grammar_free(g);
	}
	l32_tokens_free(&ids);
	return n;
}

static void
report(const char *what, double *t, size_t n)
{
	qsort(t, n, sizeof(*t), dbl_cmp);
	printf("mask per token, %s: median %.1f us, p99 %.1f us, max %.1f us (%zu tokens)\n", what,
	    t[n / 2] * 1e6, t[(n * 99) / 100] * 1e6, t[n - 1] * 1e6, n);
}

struct steps {
	double first, last;
	size_t n;
};

/* Times the decode steps from the stream callbacks (each step that adds
 * text calls it), so the prompt's prefill is not counted. */
static int
on_step(void *arg, int32_t index, const char *text, size_t len, size_t first_lp,
    enum l32_finish finish)
{
	struct steps *s = arg;
	double t = now();

	if (finish != L32_FINISH_NONE || len == 0)
		return 0;
	if (s->n++ == 0)
		s->first = t;
	s->last = t;
	return 0;
}

/* Seconds per decode step of one sequence, with grammar g or none, on an
 * engine that has already run one request of the same kind (the
 * vocabulary trie built, the grammar's masks warm, as in a batch job). */
static double
decode(struct l32_model *m, struct l32_grammar *g, size_t *made)
{
	struct l32_ctx_params cp;
	struct l32_gen_params gp;
	struct l32_gen_choice c;
	struct l32_engine *e;
	struct l32_err err;
	int32_t prompt[8] = { 128000, 791, 2768, 374, 264, 4823, 1665, 25 };
	double total = 0;
	size_t steps = 0;
	int seed;

	l32_ctx_params_init(&cp);
	cp.n_ctx = 8 + DECODE + 1;
	cp.n_seq = 1;
	if ((e = l32_engine_new(m, &cp, &err)) == NULL)
		errx(3, "%s", err.msg);
	/* seed 0 warms up; answers under the schema may end early: run until
	 * DECODE steps are timed */
	for (seed = 0; steps < DECODE && seed < 100; seed++) {
		struct steps st = { 0, 0, 0 };

		l32_gen_params_init(&gp);
		gp.max_tokens = DECODE;
		gp.sampling.temperature = 1;
		gp.seed = (uint64_t)seed;
		gp.ignore_eos = g == NULL;
		gp.grammar = g;
		memset(&c, 0, sizeof(c));
		if (l32_generate(e, prompt, 8, &gp, &c, on_step, &st, &err) == -1)
			errx(3, "%s", err.msg);
		if (seed > 0 && st.n > 1) {
			total += st.last - st.first;
			steps += st.n - 1;
		}
		l32_gen_choice_free(&c);
	}
	l32_engine_free(e);
	*made = steps;
	return total / (double)(steps ? steps : 1);
}

int
main(int argc, char **argv)
{
	const char *shared = getenv("L32_SHARED");
	char path[4096];
	struct l32_tokenizer *tok;
	struct l32_vocab_trie *trie;
	struct l32_grammar *g;
	struct l32_err err;
	json_error_t je;
	json_t *schema;
	double t[4096], c[20], t0;
	size_t n, i;

	snprintf(path, sizeof(path), "%s/llama3/tokenizer.model", shared ? shared : "../shared");
	if ((tok = l32_tokenizer_open(path, &err)) == NULL)
		errx(3, "%s", err.msg);
	if ((schema = json_loads(schema_text, 0, &je)) == NULL)
		errx(3, "schema: %s", je.text);
	t0 = now();
	if ((trie = l32_vocab_trie_new(tok, &err)) == NULL)
		errx(3, "%s", err.msg);
	printf("vocabulary trie of %d tokens: %.1f ms (once per model)\n",
	    l32_tokenizer_n_vocab(tok), (now() - t0) * 1e3);
	for (i = 0; i < 20; i++) {
		t0 = now();
		l32_grammar_free(compile(schema));
		c[i] = now() - t0;
	}
	qsort(c, 20, sizeof(*c), dbl_cmp);
	printf("schema compile (nested order schema): median %.2f ms\n", c[10] * 1e3);
	n = mask_times(tok, trie, schema, NULL, t, 4096);
	report("grammar new to each answer", t, n);
	g = compile(schema);
	mask_times(tok, trie, schema, g, t, 4096);  /* the earlier requests */
	n = mask_times(tok, trie, schema, g, t, 4096);
	report("grammar kept across answers", t, n);
	if (argc > 1) {
		struct l32_model *m = l32_model_open(argv[1], &err);
		struct l32_grammar *dg;
		double free_s, schema_s;
		size_t made0, made1;

		if (m == NULL)
			errx(3, "%s", err.msg);
		free_s = decode(m, NULL, &made0);
		dg = compile(schema);
		schema_s = decode(m, dg, &made1);
		printf("decode without a schema: %.2f tok/s (%zu steps)\n", 1 / free_s, made0);
		printf("decode with the schema: %.2f tok/s (%zu steps), %.3f of the speed without\n",
		    1 / schema_s, made1, free_s / schema_s);
		l32_grammar_free(dg);
		l32_model_free(m);
	}
	l32_grammar_free(g);
	l32_vocab_trie_free(trie);
	l32_tokenizer_free(tok);
	json_decref(schema);
	return 0;
}
