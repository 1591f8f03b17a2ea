/*
 * fuzz_tokenizer_load.c - the three tokenizer loaders on arbitrary bytes:
 * the input is parsed as a tiktoken file, as a tokenizer.json and as GGUF
 * vocabulary arrays (one entry per line: a type digit then the token's
 * byte-level text, or 'm' then a merge "left right").  A damaged input must
 * give an error, never a crash; an accepted one must encode and decode a
 * sample text back to its bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"
#include "tokenizer/tokenizer.h"

static const char sample[] = "Hello, world! <|eot_id|> 123 caf\xc3\xa9 \xf0\x9f\xa6\x99\n\x80";

static void
round_trip(struct l32_tokenizer *t)
{
	struct l32_tokens ids = { 0 };
	struct l32_buf out = { 0 };
	struct l32_err err = { 0 };

	if (l32_tokenize(t, sample, sizeof(sample) - 1, L32_TOKENIZE_CHUNK, &ids, &err) == -1 ||
	    l32_detokenize_bytes(t, ids.ids, ids.n, &out, &err) == -1)
		abort();
	if (out.len != sizeof(sample) - 1 || memcmp(out.data, sample, out.len) != 0)
		abort();
	l32_tokens_free(&ids);
	l32_buf_free(&out);
}

static void
try_gguf(const uint8_t *data, size_t size)
{
	const char **toks = calloc(size + 1, sizeof(*toks)), **merges = calloc(size + 1, sizeof(*merges));
	size_t *tlen = calloc(size + 1, sizeof(*tlen)), *mlen = calloc(size + 1, sizeof(*mlen));
	int32_t *types = calloc(size + 1, sizeof(*types));
	size_t nt = 0, nm = 0, i = 0;
	struct l32_err err = { 0 };
	struct l32_tokenizer *t;

	if (toks == NULL || merges == NULL || tlen == NULL || mlen == NULL || types == NULL)
		abort();
	while (i < size) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t n = nl != NULL ? (size_t)(nl - (data + i)) : size - i;

		if (n >= 1 && data[i] == 'm') {
			merges[nm] = (const char *)data + i + 1;
			mlen[nm++] = n - 1;
		} else if (n >= 1) {
			types[nt] = data[i] - '0';
			toks[nt] = (const char *)data + i + 1;
			tlen[nt++] = n - 1;
		}
		i += n + 1;
	}
	t = l32_tokenizer_from_gguf("fuzz.gguf", toks, tlen, nt, types, merges, mlen, nm, &err);
	if (t != NULL) {
		round_trip(t);
		l32_tokenizer_free(t);
	} else if (err.msg[0] == '\0') {
		abort();
	}
	free(toks);
	free(merges);
	free(tlen);
	free(mlen);
	free(types);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l32_tokenizer *t;
	struct l32_err err = { 0 };

	if ((t = tok_parse_tiktoken("fuzz.model", (const char *)data, size, &err)) != NULL) {
		round_trip(t);
		l32_tokenizer_free(t);
	} else if (err.msg[0] == '\0') {
		abort(); /* a failure always says why */
	}
	err.msg[0] = '\0';
	if ((t = tok_parse_hf("fuzz.json", (const char *)data, size, &err)) != NULL) {
		round_trip(t);
		l32_tokenizer_free(t);
	} else if (err.msg[0] == '\0') {
		abort();
	}
	try_gguf(data, size);
	return 0;
}
