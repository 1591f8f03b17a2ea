/*
 * tokenizer.h - internal: the tokenizer's tables and the helpers its three
 * loaders (tok_tiktoken.c, tok_hf.c, tok_gguf.c) share.
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

#include "l32.h"

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

/* Id of the ordinary token with bytes p[0..n), or -1. */
int32_t tok_find(const struct l32_tokenizer *t, const void *p, size_t n);

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
