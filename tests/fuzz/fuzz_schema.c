/*
 * fuzz_schema.c - libFuzzer target for the JSON Schema compiler.  The
 * input is a schema; it either fails with a message (and an unsupported
 * keyword with code unsupported_value and a param naming it) or compiles,
 * and then random walks through the automaton that end in an accepting
 * state have written JSON that parses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"

/* Walks from the start choosing live bytes by h; when a whole string is
 * reached (taken with some chance, or when nothing else is left), it must
 * be JSON. */
static void
walk(struct l32_grammar *g, uint64_t h)
{
	int32_t st = l32_grammar_start(g), next[256];
	unsigned char text[512], live[256];
	size_t len = 0;
	int n, b;
	json_t *v;

	while (st > 0 && len < sizeof(text)) {
		h = h * 6364136223846793005ULL + 1442695040888963407ULL;
		if (l32_grammar_accepting(g, st) && (h >> 60) < 4)
			break;
		for (n = 0, b = 0; b < 256; b++) {
			unsigned char c = (unsigned char)b;

			if ((next[b] = l32_grammar_advance(g, st, &c, 1, NULL)) < 0)
				abort();
			if (next[b] > 0)
				live[n++] = (unsigned char)b;
		}
		if (n == 0)
			break;
		/* lean towards the bytes that close things, so walks end */
		b = (h >> 59) < 12 ? live[n - 1 - (int)((h >> 20) % (uint64_t)(n < 3 ? n : 3))] :
		    live[(h >> 33) % (uint64_t)n];
		for (int k = 0; k < n; k++)
			if (live[k] == '}' || live[k] == ']' || live[k] == '"')
				if ((h >> 40) % 3 == 0)
					b = live[k];
		text[len++] = (unsigned char)b;
		st = next[b];
	}
	if (!l32_grammar_accepting(g, st))
		return;
	if ((v = json_loadb((const char *)text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)) == NULL)
		abort();
	json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l32_grammar *g;
	struct l32_err err;
	json_t *s;
	uint64_t h = 1469598103934665603ULL;
	size_t i;
	int k;

	if ((s = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL)) == NULL)
		return 0;
	l32_err_clear(&err);
	if ((g = l32_grammar_from_schema(s, "schema", &err)) == NULL) {
		if (err.msg[0] == '\0')
			abort();
		if (err.code != NULL && strcmp(err.code, "unsupported_value") == 0 &&
		    strncmp(err.param, "schema", 6) != 0)
			abort();  /* unsupported: the param names where */
		json_decref(s);
		return 0;
	}
	for (i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	for (k = 0; k < 8; k++)
		walk(g, h + (uint64_t)k * 0x9E3779B97F4A7C15ULL);
	l32_grammar_free(g);
	json_decref(s);
	return 0;
}
