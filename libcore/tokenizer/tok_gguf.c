/*
 * tok_gguf.c - builds the tokenizer from the vocabulary arrays of a GGUF
 * file (tokenizer.ggml.tokens, .token_type, .merges), as llama.cpp writes
 * them for the "gpt2" tokenizer model: ordinary tokens in GPT-2 byte-level
 * text, control tokens (type 3) as their plain names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

#define FIELD "tokenizer.ggml.tokens"

enum {
	TYPE_NORMAL = 1,
	TYPE_UNKNOWN = 2,
	TYPE_CONTROL = 3,
	TYPE_USER_DEFINED = 4,
	TYPE_UNUSED = 5,
	TYPE_BYTE = 6,
};

static int
add_token(struct l32_tokenizer *t, size_t i, const char *s, size_t n, int32_t type,
    unsigned char **buf, size_t *cap, struct l32_err *err)
{
	uint32_t bad;
	long nb;
	char q[80];

	/* tok_set's messages name the token by its id, which is i here: the
	 * array's name is enough (formatting "[i]" for each of 128256 tokens
	 * would be a tenth of the start-up) */
	switch (type) {
	case TYPE_CONTROL:
	case TYPE_USER_DEFINED:
		/* Matched as whole strings: special tokens for the encoder. */
		return tok_set(t, (int32_t)i, s, n, 1, FIELD, err);
	case TYPE_NORMAL:
	case TYPE_UNUSED:
		break;
	default:
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: tokenizer.ggml.token_type[%zu]: type %d is not supported in a byte-level BPE vocabulary",
		    t->source, i, type);
	}
	if (n > *cap) {
		unsigned char *b = realloc(*buf, n);

		if (b == NULL)
			return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", t->source);
		*buf = b;
		*cap = n;
	}
	if ((nb = tok_bytelevel_decode(s, n, *buf, &bad)) < 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: %s[%zu]: \"%s\" is not GPT-2 byte-level text (code point U+%04X)",
		    t->source, FIELD, i, tok_quote(q, sizeof(q), s, n), (unsigned)bad);
	return tok_set(t, (int32_t)i, *buf, (size_t)nb, 0, FIELD, err);
}

static int
check_merges(struct l32_tokenizer *t, const char *const *merges, const size_t *lens,
    size_t n, struct l32_err *err)
{
	const char *sp;
	int32_t prev = -1;
	size_t i;
	char q[80];

	for (i = 0; i < n; i++) {
		if (merges[i] == NULL)
			return l32_err_set(err, L32_ERR_FORMAT, "%s: tokenizer.ggml.merges[%zu]: missing",
			    t->source, i);
		sp = memchr(merges[i], ' ', lens[i]);
		if (sp == NULL || memchr(sp + 1, ' ', lens[i] - (size_t)(sp + 1 - merges[i])) != NULL)
			return l32_err_set(err, L32_ERR_FORMAT,
			    "%s: tokenizer.ggml.merges[%zu]: \"%s\" is not \"left right\"", t->source, i,
			    tok_quote(q, sizeof(q), merges[i], lens[i]));
		if (tok_check_merge(t, "tokenizer.ggml.merges", i, merges[i],
		    (size_t)(sp - merges[i]), sp + 1, lens[i] - (size_t)(sp + 1 - merges[i]), &prev, err))
			return -1;
	}
	return 0;
}

struct l32_tokenizer *
l32_tokenizer_from_gguf(const char *source, const char *const *tokens,
    const size_t *token_lens, size_t n_tokens, const int32_t *token_types,
    const char *const *merges, const size_t *merge_lens, size_t n_merges,
    struct l32_err *err)
{
	struct l32_tokenizer *t;
	unsigned char *buf = NULL;
	size_t cap = 0, i;

	if (tokens == NULL || token_lens == NULL || n_tokens == 0) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: tokenizer.ggml.tokens: missing or empty", source);
		return NULL;
	}
	if (token_types == NULL) {
		l32_err_set(err, L32_ERR_FORMAT,
		    "%s: tokenizer.ggml.token_type: missing (needed to find the control tokens)", source);
		return NULL;
	}
	if (n_merges > 0 && (merges == NULL || merge_lens == NULL)) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: tokenizer.ggml.merges: missing", source);
		return NULL;
	}
	if ((t = tok_new(source, n_tokens, err)) == NULL)
		return NULL;
	for (i = 0; i < n_tokens; i++) {
		if (tokens[i] == NULL) {
			l32_err_set(err, L32_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%zu]: missing", source, i);
			goto fail;
		}
		if (add_token(t, i, tokens[i], token_lens[i], token_types[i], &buf, &cap, err))
			goto fail;
	}
	if (tok_finish(t, -1, err) == -1 || check_merges(t, merges, merge_lens, n_merges, err))
		goto fail;
	free(buf);
	return t;
fail:
	free(buf);
	l32_tokenizer_free(t);
	return NULL;
}
