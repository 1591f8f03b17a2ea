/*
 * fuzz_gbnf.c - libFuzzer target for the GBNF parser and the automaton.
 * The input is a grammar, optionally followed by a NUL byte and a text.
 * A grammar either fails with a message or compiles; then the text is run
 * through the automaton byte by byte and whole (same state), a random walk
 * over the live bytes from the input's hash ends in states that are alive,
 * and the token mask of the start state on the Llama 3 vocabulary (loaded
 * once from $L32_SHARED/llama3/tokenizer.model, when there) agrees with
 * advancing over a sample of the tokens.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"

static struct l32_tokenizer *tok;
static struct l32_vocab_trie *trie;
static int tried;

static void
load_vocab(void)
{
	const char *shared = getenv("L32_SHARED");
	char path[4096];
	struct l32_err err;

	tried = 1;
	snprintf(path, sizeof(path), "%s/llama3/tokenizer.model", shared ? shared : "../shared");
	if ((tok = l32_tokenizer_open(path, &err)) != NULL)
		trie = l32_vocab_trie_new(tok, &err);
}

static void
check_text(struct l32_grammar *g, const uint8_t *s, size_t n)
{
	int32_t a = l32_grammar_start(g), b = a;
	size_t i;

	for (i = 0; i < n && a > 0; i++)
		a = l32_grammar_advance(g, a, s + i, 1, NULL);
	b = l32_grammar_advance(g, b, s, n, NULL);
	if (a != b || (l32_grammar_match(g, s, n) != l32_grammar_accepting(g, b)))
		abort();
}

static void
random_walk(struct l32_grammar *g, uint64_t h)
{
	int32_t st = l32_grammar_start(g), next[256], live[256];
	int i, n, b;

	for (i = 0; i < 64 && st > 0; i++) {
		for (n = 0, b = 0; b < 256; b++) {
			unsigned char c = (unsigned char)b;

			if ((next[b] = l32_grammar_advance(g, st, &c, 1, NULL)) < 0)
				abort();
			if (next[b] > 0)
				live[n++] = b;
		}
		if (n == 0) {
			if (!l32_grammar_complete(g, st))
				abort();  /* a state with no way on must be a whole string */
			return;
		}
		h = h * 6364136223846793005ULL + 1442695040888963407ULL;
		st = next[live[(h >> 33) % (uint64_t)n]];
	}
}

static void
check_mask(struct l32_grammar *g)
{
	struct l32_err err;
	int32_t st = l32_grammar_start(g), id, nv = l32_tokenizer_n_vocab(tok);
	const uint64_t *m = l32_grammar_mask(g, trie, st, &err);
	const char *b;
	size_t n;
	int want;

	if (m == NULL)
		abort();
	for (id = 0; id < nv; id += 97) {
		b = l32_token_bytes(tok, id, &n);
		if (l32_tokenizer_is_special(tok, id))
			want = l32_tokenizer_is_stop(tok, id) && l32_grammar_accepting(g, st);
		else
			want = l32_grammar_advance(g, st, b, n, NULL) > 0;
		if (want != (int)(m[id >> 6] >> (id & 63) & 1))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t glen = nul ? (size_t)(nul - data) : size;
	struct l32_grammar *g;
	struct l32_err err;
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	if (!tried)
		load_vocab();
	l32_err_clear(&err);
	if ((g = l32_grammar_parse_gbnf((const char *)data, glen, &err)) == NULL) {
		if (err.msg[0] == '\0')
			abort();  /* a failure always says why */
		return 0;
	}
	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	if (nul != NULL)
		check_text(g, nul + 1, size - glen - 1);
	random_walk(g, h);
	if (trie != NULL)
		check_mask(g);
	l32_grammar_free(g);
	return 0;
}
