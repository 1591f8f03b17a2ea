/*
 * tokenizer.h - internal: the tokenizer's tables, shared by the code that
 * builds them (tokenizer.c and the three loaders tok_tiktoken.c, tok_hf.c,
 * tok_gguf.c) and the code that uses them (tok_encode.c, tok_decode.c).
 *
 * Every loader ends with the same model: n_vocab tokens, each a byte
 * string; ordinary (BPE) tokens are found by their bytes through an
 * open-addressing hash map, special tokens by name through a small trie.
 * The merge priority of a byte string is its token id: for Llama 3 the
 * rank of a token is its id, and the loaders of merge lists check that the
 * lists are in that order.
 */
#ifndef L32_TOKENIZER_H
#define L32_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer/l32_tokenizer.h"

struct tok_ent {
	uint32_t off, len; /* the token's bytes: blob[off .. off + len) */
};

struct tok_trie_node {
	int32_t child;   /* first child, or -1 */
	int32_t sibling; /* next node with the same parent, or -1 */
	int32_t id;      /* special token ending here, or -1 */
	unsigned char byte;
};

struct l32_tokenizer {
	char *source;             /* file it came from, for messages */
	int32_t n_vocab;          /* all ids: ordinary and special */
	struct tok_ent *ent;      /* (n_vocab) bytes of each id; len 0 = unset */
	uint8_t *special;         /* (n_vocab) 1 for special (control) tokens */
	char *blob;               /* (blob_len) all token bytes */
	size_t blob_len, blob_cap;

	uint64_t *slots;          /* (mask + 1) hash tag << 32 | (id + 1); 0 empty */
	size_t mask;
	size_t max_len;           /* longest ordinary token, bytes */
	int32_t byte_tok[256];    /* id of each single byte */

	struct tok_trie_node *trie; /* (n_trie) node 0 is the root */
	size_t n_trie, trie_cap;
	uint8_t special_first[256]; /* 1 for bytes that start a special token */
	int n_special_first;
	unsigned char only_first;   /* the first byte when there is just one */

	int32_t bos, eos, eot, eom; /* -1 when absent (eom only) */
};

/* Allocates an empty tokenizer of n_vocab ids for source. */
struct l32_tokenizer *tok_new(const char *source, size_t n_vocab, struct l32_err *err);
/* Gives id its bytes; field names the origin for messages (a line, a JSON
 * path).  Fails on an id out of range, set twice, or empty bytes. */
int tok_set(struct l32_tokenizer *t, int32_t id, const void *p, size_t n,
    int special, const char *field, struct l32_err *err);
/* Checks that every id is set, builds the lookup tables and finds the
 * named special tokens.  line_base >= 0 names token id i "line i +
 * line_base" in messages (tiktoken files), else "token id i". */
int tok_finish(struct l32_tokenizer *t, int line_base, struct l32_err *err);

/* Longest special token that s[0..n) starts with: its id and its length in
 * *len; -1 when none. */
int32_t tok_special_match(const struct l32_tokenizer *t, const unsigned char *s, size_t n,
    size_t *len);

/* A 64-bit hash of a short byte string: whole words, then the tail read as
 * overlapping words; n is mixed in so tails of different lengths differ. */
static inline uint64_t
tok_hash(const unsigned char *p, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull), w;
	uint32_t a, b;

	while (n > 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
		h ^= h >> 31;
		p += 8;
		n -= 8;
	}
	if (n >= 4) {
		memcpy(&a, p, 4);
		memcpy(&b, p + n - 4, 4);
		w = (uint64_t)a << 32 | b;
	} else if (n > 0) {
		w = (uint64_t)p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
	} else {
		w = 0;
	}
	h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
	h ^= h >> 29;
	h *= 0x94D049BB133111EBull;
	return h ^ (h >> 32);
}

static inline int
tok_same_bytes(const unsigned char *a, const unsigned char *b, size_t n)
{
	uint64_t x, y;

	while (n >= 8) {
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		if (x != y)
			return 0;
		a += 8;
		b += 8;
		n -= 8;
	}
	while (n-- > 0)
		if (*a++ != *b++)
			return 0;
	return 1;
}

/* Id of the ordinary token with bytes p[0..n), or -1.  Inline: BPE calls
 * it for every candidate pair. */
static inline int32_t
tok_find(const struct l32_tokenizer *t, const void *p, size_t n)
{
	uint64_t h = tok_hash(p, n), e;
	uint32_t tag = (uint32_t)(h >> 32);
	size_t i = (size_t)h & t->mask;

	while ((e = t->slots[i]) != 0) {
		if ((uint32_t)(e >> 32) == tag) {
			const struct tok_ent *te = &t->ent[(uint32_t)e - 1];

			if (te->len == n && tok_same_bytes((const unsigned char *)t->blob + te->off, p, n))
				return (int32_t)((uint32_t)e - 1);
		}
		i = (i + 1) & t->mask;
	}
	return -1;
}



/* GPT-2 byte-level text (as tokenizer.json and GGUF store tokens) to bytes:
 * out must hold n bytes; returns the byte count, or -1 and the offending
 * code point in *bad (0x110000 for ill-formed UTF-8). */
long tok_bytelevel_decode(const char *s, size_t n, unsigned char *out, uint32_t *bad);

/*
 * Checks one merge "left right" of a tokenizer.json or GGUF merge list:
 * both parts and their concatenation are ordinary tokens, and the merged
 * ids do not go down along the list (*prev holds the last one; start it at
 * -1), so ranking by token id is the list's order.
 */
int tok_check_merge(const struct l32_tokenizer *t, const char *field, size_t index,
    const char *left, size_t llen, const char *right, size_t rlen, int32_t *prev,
    struct l32_err *err);

/* Writes a printable, shortened copy of p[0..n) to dst, for messages. */
const char *tok_quote(char *dst, size_t cap, const void *p, size_t n);

/* Reads a whole file (up to 1 GiB) into a malloc'ed buffer. */
int tok_read_file(const char *path, char **data, size_t *len, struct l32_err *err);

/* The parsers behind the loaders, on bytes in memory (source names them). */
struct l32_tokenizer *tok_parse_tiktoken(const char *source, const char *data,
    size_t len, struct l32_err *err);
struct l32_tokenizer *tok_parse_hf(const char *source, const char *data,
    size_t len, struct l32_err *err);

#endif /* L32_TOKENIZER_H */
