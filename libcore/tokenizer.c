/*
 * tokenizer.c - the Llama 3 tokenizer: vocabulary tables, special tokens,
 * encoding (special-token scan, Meta's chunking, pre-tokenizer, BPE) and
 * decoding (whole, and streaming without broken UTF-8).
 *
 * BPE follows tiktoken: a piece that is itself a token is one id (this
 * lookup is required: some tokens are never reached by merging); otherwise
 * start from single bytes and merge the adjacent pair whose concatenation is
 * the lowest-ranked token, leftmost on ties, until none is a token.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "l32.h"
#include "pretok.h"
#include "tokenizer.h"

/* -------------------------------------------------------------- building */

struct l32_tokenizer *
tok_new(const char *source, size_t n_vocab, struct l32_err *err)
{
	struct l32_tokenizer *t;

	if (n_vocab == 0 || n_vocab > INT32_MAX / 2) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: vocabulary of %zu tokens", source, n_vocab);
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto nomem;
	t->n_vocab = (int32_t)n_vocab;
	t->bos = t->eos = t->eot = t->eom = -1;
	t->source = strdup(source);
	t->ent = calloc(n_vocab, sizeof(*t->ent));
	t->special = calloc(n_vocab, 1);
	if (t->source == NULL || t->ent == NULL || t->special == NULL)
		goto nomem;
	return t;
nomem:
	l32_tokenizer_free(t);
	l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory for %zu tokens", source, n_vocab);
	return NULL;
}

void
l32_tokenizer_free(struct l32_tokenizer *t)
{
	if (t == NULL)
		return;
	free(t->source);
	free(t->ent);
	free(t->special);
	free(t->blob);
	free(t->slots);
	free(t->trie);
	free(t);
}

const char *
tok_quote(char *dst, size_t cap, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t i, o = 0;
	uint32_t cp;
	int k;

	if (cap < 8)
		return "";
	for (i = 0; i < n; i++) {
		unsigned c = s[i];

		if (o + 8 > cap) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		/* Well-formed UTF-8 stays readable; other bytes become \xNN. */
		if (c >= 0x80 && (k = l32_utf8_decode(s + i, n - i, &cp)) > 0) {
			memcpy(dst + o, s + i, (size_t)k);
			o += (size_t)k;
			i += (size_t)k - 1;
		} else if (c >= 0x20 && c < 0x7F && c != '\\' && c != '"') {
			dst[o++] = (char)c;
		} else if (c == '\\' || c == '"') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}

int
tok_set(struct l32_tokenizer *t, int32_t id, const void *p, size_t n, int special,
    const char *field, struct l32_err *err)
{
	char q[80];

	if (id < 0 || id >= t->n_vocab)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: %s: token id %d out of range 0..%d",
		    t->source, field, id, t->n_vocab - 1);
	if (n == 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: %s: token %d is empty",
		    t->source, field, id);
	if (t->ent[id].len != 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: %s: token id %d given twice (\"%s\")",
		    t->source, field, id, tok_quote(q, sizeof(q), p, n));
	if (n > UINT32_MAX - t->blob_len || t->blob_len + n > UINT32_MAX)
		return l32_err_set(err, L32_ERR_NOMEM, "%s: token bytes over 4 GiB", t->source);
	if (t->blob_len + n > t->blob_cap) {
		size_t cap = t->blob_cap ? t->blob_cap : 1 << 20;
		char *b;

		while (cap < t->blob_len + n)
			cap *= 2;
		if ((b = realloc(t->blob, cap)) == NULL)
			return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", t->source);
		t->blob = b;
		t->blob_cap = cap;
	}
	memcpy(t->blob + t->blob_len, p, n);
	t->ent[id].off = (uint32_t)t->blob_len;
	t->ent[id].len = (uint32_t)n;
	t->special[id] = special != 0;
	t->blob_len += n;
	return 0;
}

/* A 64-bit hash of a short byte string: whole words, then the tail read as
 * overlapping words; n is mixed in so tails of different lengths differ. */
static inline uint64_t
hash_bytes(const unsigned char *p, size_t n)
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
same_bytes(const unsigned char *a, const unsigned char *b, size_t n)
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

int32_t
tok_find(const struct l32_tokenizer *t, const void *p, size_t n)
{
	uint64_t h = hash_bytes(p, n), e;
	uint32_t tag = (uint32_t)(h >> 32);
	size_t i = (size_t)h & t->mask;

	while ((e = t->slots[i]) != 0) {
		if ((uint32_t)(e >> 32) == tag) {
			const struct tok_ent *te = &t->ent[(uint32_t)e - 1];

			if (te->len == n && same_bytes((const unsigned char *)t->blob + te->off, p, n))
				return (int32_t)((uint32_t)e - 1);
		}
		i = (i + 1) & t->mask;
	}
	return -1;
}

static const char *
tok_name(char *buf, size_t cap, int32_t id, int line_base)
{
	if (line_base >= 0)
		snprintf(buf, cap, "line %lld", (long long)id + line_base);
	else
		snprintf(buf, cap, "token id %d", id);
	return buf;
}

/* Adds ordinary token id to the hash map; fails on a duplicate. */
static int
index_add(struct l32_tokenizer *t, int32_t id, int line_base, struct l32_err *err)
{
	const unsigned char *p = (const unsigned char *)t->blob + t->ent[id].off;
	size_t n = t->ent[id].len;
	int32_t old;
	uint64_t h;
	size_t i;
	char q[80], a[32], b[32];

	if ((old = tok_find(t, p, n)) >= 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: %s: token \"%s\" duplicates %s",
		    t->source, tok_name(a, sizeof(a), id, line_base), tok_quote(q, sizeof(q), p, n),
		    tok_name(b, sizeof(b), old, line_base));
	h = hash_bytes(p, n);
	for (i = (size_t)h & t->mask; t->slots[i] != 0; i = (i + 1) & t->mask)
		;
	t->slots[i] = (h >> 32) << 32 | (uint64_t)(uint32_t)(id + 1);
	return 0;
}

/* Adds special token id to the trie of names; fails on a duplicate. */
static int
trie_add(struct l32_tokenizer *t, int32_t id, struct l32_err *err)
{
	const unsigned char *p = (const unsigned char *)t->blob + t->ent[id].off;
	size_t n = t->ent[id].len, k;
	int32_t node = 0, c;
	char q[80];

	for (k = 0; k < n; k++) {
		for (c = t->trie[node].child; c >= 0; c = t->trie[c].sibling)
			if (t->trie[c].byte == p[k])
				break;
		if (c < 0) {
			if (t->n_trie == t->trie_cap) {
				size_t cap = t->trie_cap * 2;
				struct tok_trie_node *nt = reallocarray(t->trie, cap, sizeof(*nt));

				if (nt == NULL)
					return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", t->source);
				t->trie = nt;
				t->trie_cap = cap;
			}
			c = (int32_t)t->n_trie++;
			t->trie[c].child = -1;
			t->trie[c].id = -1;
			t->trie[c].byte = p[k];
			t->trie[c].sibling = t->trie[node].child;
			t->trie[node].child = c;
		}
		node = c;
	}
	if (t->trie[node].id >= 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: special token \"%s\" given twice (ids %d and %d)", t->source,
		    tok_quote(q, sizeof(q), p, n), t->trie[node].id, id);
	t->trie[node].id = id;
	if (!t->special_first[p[0]]) {
		t->special_first[p[0]] = 1;
		t->n_special_first++;
		t->only_first = p[0];
	}
	return 0;
}

/* Longest special token that s[0..n) starts with: its id, length in *len. */
static int32_t
trie_match(const struct l32_tokenizer *t, const unsigned char *s, size_t n, size_t *len)
{
	int32_t node = 0, c, best = -1;
	size_t k;

	for (k = 0; k < n; k++) {
		for (c = t->trie[node].child; c >= 0; c = t->trie[c].sibling)
			if (t->trie[c].byte == s[k])
				break;
		if (c < 0)
			break;
		node = c;
		if (t->trie[node].id >= 0) {
			best = t->trie[node].id;
			*len = k + 1;
		}
	}
	return best;
}

int32_t
l32_tokenizer_special_id(const struct l32_tokenizer *t, const char *s, size_t n)
{
	size_t len = 0;
	int32_t id;

	if (n == 0 || t->trie == NULL)
		return -1;
	id = trie_match(t, (const unsigned char *)s, n, &len);
	return id >= 0 && len == n ? id : -1;
}

static int
find_named(struct l32_tokenizer *t, const char *name, int32_t *id, int required,
    struct l32_err *err)
{
	*id = l32_tokenizer_special_id(t, name, strlen(name));
	if (*id < 0 && required)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: missing special token %s",
		    t->source, name);
	return 0;
}

int
tok_finish(struct l32_tokenizer *t, int line_base, struct l32_err *err)
{
	size_t n_ord = 0, cap;
	int32_t id;
	int b;
	char name[32];

	for (id = 0; id < t->n_vocab; id++) {
		if (t->ent[id].len == 0)
			return l32_err_set(err, L32_ERR_FORMAT, "%s: no token with id %d (ids must run 0..%d)",
			    t->source, id, t->n_vocab - 1);
		if (!t->special[id])
			n_ord++;
	}
	for (cap = 1024; cap < 2 * n_ord; cap *= 2)
		;
	t->mask = cap - 1;
	t->trie_cap = 256;
	t->n_trie = 1;
	t->slots = calloc(cap, sizeof(*t->slots));
	t->trie = calloc(t->trie_cap, sizeof(*t->trie));
	if (t->slots == NULL || t->trie == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", t->source);
	t->trie[0].child = t->trie[0].sibling = t->trie[0].id = -1;
	for (id = 0; id < t->n_vocab; id++) {
		if (t->special[id] ? trie_add(t, id, err) : index_add(t, id, line_base, err))
			return -1;
		if (!t->special[id] && t->ent[id].len > t->max_len)
			t->max_len = t->ent[id].len;
	}
	for (b = 0; b < 256; b++) {
		unsigned char c = (unsigned char)b;

		if ((t->byte_tok[b] = tok_find(t, &c, 1)) < 0) {
			snprintf(name, sizeof(name), "0x%02x", b);
			return l32_err_set(err, L32_ERR_FORMAT,
			    "%s: no token for the single byte %s (every byte must be a token)",
			    t->source, name);
		}
	}
	if (find_named(t, "<|begin_of_text|>", &t->bos, 1, err) ||
	    find_named(t, "<|end_of_text|>", &t->eos, 1, err) ||
	    find_named(t, "<|eot_id|>", &t->eot, 1, err) ||
	    find_named(t, "<|eom_id|>", &t->eom, 0, err))
		return -1;
	return 0;
}

/* GPT-2's byte-level alphabet: printable bytes stand for themselves, the
 * other 68 (00..20, 7F..A0, AD) map in order to U+0100..U+0143.  Inverse:
 * code point -> byte, or -1. */
static int
bytelevel_byte(uint32_t cp)
{
	uint32_t k;

	if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
		return (int)cp;
	if (cp < 0x100 || cp > 0x143)
		return -1;
	k = cp - 0x100;
	if (k < 33)
		return (int)k;
	if (k < 67)
		return (int)(0x7F + k - 33);
	return 0xAD;
}

long
tok_bytelevel_decode(const char *s, size_t n, unsigned char *out, uint32_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0;
	uint32_t cp;
	int k, b;

	while (i < n) {
		if ((k = l32_utf8_decode(p + i, n - i, &cp)) == 0) {
			*bad = 0x110000;
			return -1;
		}
		if ((b = bytelevel_byte(cp)) < 0) {
			*bad = cp;
			return -1;
		}
		out[o++] = (unsigned char)b;
		i += (size_t)k;
	}
	return (long)o;
}

int
tok_check_merge(const struct l32_tokenizer *t, const char *field, size_t index,
    const char *left, size_t llen, const char *right, size_t rlen, int32_t *prev,
    struct l32_err *err)
{
	unsigned char buf[512];
	long a, b;
	int32_t il, ir, im;
	uint32_t bad;
	char q[80], q2[80];

	if (llen + rlen > sizeof(buf))
		return l32_err_set(err, L32_ERR_FORMAT, "%s: %s[%zu]: merge of %zu bytes is too long",
		    t->source, field, index, llen + rlen);
	if ((a = tok_bytelevel_decode(left, llen, buf, &bad)) < 0 ||
	    (b = tok_bytelevel_decode(right, rlen, buf + a, &bad)) < 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: %s[%zu]: \"%s %s\" is not GPT-2 byte-level text (code point U+%04X)",
		    t->source, field, index, tok_quote(q, sizeof(q), left, llen),
		    tok_quote(q2, sizeof(q2), right, rlen), (unsigned)bad);
	if (a == 0 || b == 0 || (il = tok_find(t, buf, (size_t)a)) < 0 ||
	    (ir = tok_find(t, buf + a, (size_t)b)) < 0 ||
	    (im = tok_find(t, buf, (size_t)(a + b))) < 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: %s[%zu]: \"%s %s\": a part or the merged token is not in the vocabulary",
		    t->source, field, index, tok_quote(q, sizeof(q), left, llen),
		    tok_quote(q2, sizeof(q2), right, rlen));
	if (im < *prev)
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: %s[%zu]: \"%s %s\" makes token %d after a merge made token %d: "
		    "merges out of token-id order are not supported",
		    t->source, field, index, tok_quote(q, sizeof(q), left, llen),
		    tok_quote(q2, sizeof(q2), right, rlen), im, *prev);
	*prev = im;
	return 0;
}

/* ---------------------------------------------------------------- queries */

int32_t l32_tokenizer_n_vocab(const struct l32_tokenizer *t) { return t->n_vocab; }
int32_t l32_tokenizer_bos(const struct l32_tokenizer *t) { return t->bos; }
int32_t l32_tokenizer_eos(const struct l32_tokenizer *t) { return t->eos; }
int32_t l32_tokenizer_eot(const struct l32_tokenizer *t) { return t->eot; }
int32_t l32_tokenizer_eom(const struct l32_tokenizer *t) { return t->eom; }

int
l32_tokenizer_is_stop(const struct l32_tokenizer *t, int32_t id)
{
	return id >= 0 && (id == t->eos || id == t->eot || id == t->eom);
}

int
l32_tokenizer_is_special(const struct l32_tokenizer *t, int32_t id)
{
	return id >= 0 && id < t->n_vocab && t->special[id];
}

const char *
l32_token_bytes(const struct l32_tokenizer *t, int32_t id, size_t *len)
{
	if (id < 0 || id >= t->n_vocab) {
		*len = 0;
		return NULL;
	}
	*len = t->ent[id].len;
	return t->blob + t->ent[id].off;
}

/* --------------------------------------------------------------- encoding */

static int
ids_reserve(struct l32_tokens *out, size_t extra)
{
	size_t cap;
	int32_t *p;

	if (out->cap - out->n >= extra)
		return 0;
	if (extra > SIZE_MAX / sizeof(int32_t) / 2 - out->n)
		return -1;
	cap = out->cap ? out->cap : 64;
	while (cap < out->n + extra)
		cap *= 2;
	if ((p = reallocarray(out->ids, cap, sizeof(*p))) == NULL)
		return -1;
	out->ids = p;
	out->cap = cap;
	return 0;
}

/* Id of the token p[0..n), or -1; skips the hash for overlong strings. */
static inline int32_t
rank_of(const struct l32_tokenizer *t, const unsigned char *p, size_t n)
{
	return n <= t->max_len ? tok_find(t, p, n) : -1;
}

#define SMALL_PIECE 256

/*
 * Merge loop for short pieces (tiktoken's): parts are kept as start offsets
 * with the rank of merging each part with the next; each step takes the
 * smallest rank, leftmost first, and re-ranks the two pairs it touched.
 */
static void
bpe_small(const struct l32_tokenizer *t, const unsigned char *p, size_t n, int32_t *dst,
    size_t *nout)
{
	uint32_t start[SMALL_PIECE + 1];
	int32_t rank[SMALL_PIECE], id[SMALL_PIECE];
	size_t m = n, i, best;

	for (i = 0; i < n; i++) {
		start[i] = (uint32_t)i;
		id[i] = t->byte_tok[p[i]];
	}
	start[n] = (uint32_t)n;
	for (i = 0; i + 1 < n; i++)
		rank[i] = rank_of(t, p + i, 2);
	for (;;) {
		int32_t r = INT32_MAX;

		best = m;
		for (i = 0; i + 1 < m; i++) {
			if (rank[i] >= 0 && rank[i] < r) {
				r = rank[i];
				best = i;
			}
		}
		if (best == m)
			break;
		/* Part best absorbs part best + 1. */
		id[best] = r;
		memmove(start + best + 1, start + best + 2, (m - best - 1) * sizeof(*start));
		memmove(id + best + 1, id + best + 2, (m - best - 2) * sizeof(*id));
		memmove(rank + best + 1, rank + best + 2,
		    (m - best >= 3 ? m - best - 3 : 0) * sizeof(*rank));
		m--;
		if (best + 1 < m)
			rank[best] = rank_of(t, p + start[best], start[best + 2] - start[best]);
		if (best > 0)
			rank[best - 1] = rank_of(t, p + start[best - 1],
			    start[best + 1] - start[best - 1]);
	}
	memcpy(dst, id, m * sizeof(*id));
	*nout = m;
}

/* A candidate merge in the heap: the pair that starts at byte pos and ends
 * at byte end; it is stale once those parts have changed. */
struct merge {
	int32_t rank;
	uint32_t pos, end;
};

static inline int
merge_less(const struct merge *a, const struct merge *b)
{
	return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void
heap_push(struct merge *h, size_t *n, struct merge m)
{
	size_t i = (*n)++;

	while (i > 0 && merge_less(&m, &h[(i - 1) / 2])) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = m;
}

static struct merge
heap_pop(struct merge *h, size_t *n)
{
	struct merge top = h[0], last = h[--*n];
	size_t i = 0, c;

	while ((c = 2 * i + 1) < *n) {
		if (c + 1 < *n && merge_less(&h[c + 1], &h[c]))
			c++;
		if (!merge_less(&h[c], &last))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = last;
	return top;
}

/*
 * The same merge order for long pieces (a paragraph of CJK, a long run of
 * one character) in O(n log n): parts are a linked list indexed by their
 * first byte, candidate pairs wait in a min-heap ordered by (rank, pos).
 */
static int
bpe_large(const struct l32_tokenizer *t, const unsigned char *p, size_t n, int32_t *dst,
    size_t *nout)
{
	uint32_t *next, *prev;
	int32_t *id;
	struct merge *heap, m;
	size_t nheap = 0, i, o = 0;

	next = reallocarray(NULL, n + 1, sizeof(*next));
	prev = reallocarray(NULL, n + 1, sizeof(*prev));
	id = reallocarray(NULL, n, sizeof(*id));
	/* n - 1 initial pairs, then at most 2 per merge (n - 1 merges). */
	heap = reallocarray(NULL, 3 * n, sizeof(*heap));
	if (next == NULL || prev == NULL || id == NULL || heap == NULL) {
		free(next);
		free(prev);
		free(id);
		free(heap);
		return -1;
	}
	for (i = 0; i < n; i++) {
		next[i] = (uint32_t)i + 1;
		prev[i] = (uint32_t)i - 1; /* wraps for part 0: never read */
		id[i] = t->byte_tok[p[i]];
	}
	next[n] = (uint32_t)n;
	for (i = 0; i + 1 < n; i++) {
		m.rank = rank_of(t, p + i, 2);
		m.pos = (uint32_t)i;
		m.end = (uint32_t)i + 2;
		if (m.rank >= 0)
			heap_push(heap, &nheap, m);
	}
	while (nheap > 0) {
		uint32_t a, b;

		m = heap_pop(heap, &nheap);
		a = m.pos;
		b = next[a];
		/* Stale: a was absorbed, or the pair no longer ends at m.end. */
		if (id[a] < 0 || b >= n || next[b] != m.end)
			continue;
		id[a] = m.rank;
		id[b] = -1;
		next[a] = next[b];
		if (next[a] < n)
			prev[next[a]] = a;
		if (a > 0) {
			uint32_t pa = prev[a];

			m.rank = rank_of(t, p + pa, next[a] - pa);
			m.pos = pa;
			m.end = next[a];
			if (m.rank >= 0)
				heap_push(heap, &nheap, m);
		}
		if (next[a] < n) {
			m.rank = rank_of(t, p + a, next[next[a]] - a);
			m.pos = a;
			m.end = next[next[a]];
			if (m.rank >= 0)
				heap_push(heap, &nheap, m);
		}
	}
	for (i = 0; i < n; i = next[i])
		dst[o++] = id[i];
	*nout = o;
	free(next);
	free(prev);
	free(id);
	free(heap);
	return 0;
}

/* Appends the ids of one pre-tokenizer piece. */
static int
bpe_piece(const struct l32_tokenizer *t, const unsigned char *p, size_t n,
    struct l32_tokens *out)
{
	int32_t id;
	size_t got;

	if (ids_reserve(out, n) == -1)
		return -1;
	if ((id = rank_of(t, p, n)) >= 0) {
		out->ids[out->n++] = id;
		return 0;
	}
	if (n <= SMALL_PIECE) {
		bpe_small(t, p, n, out->ids + out->n, &got);
	} else {
		if (n > UINT32_MAX - 1 || bpe_large(t, p, n, out->ids + out->n, &got) == -1)
			return -1;
	}
	out->n += got;
	return 0;
}

/* Text without special tokens: pre-tokenizer pieces, each through BPE. */
static int
encode_ordinary(const struct l32_tokenizer *t, const unsigned char *s, size_t n,
    struct l32_tokens *out)
{
	size_t i = 0, j;

	while (i < n) {
		j = l32_pretok_next(s, n, i);
		if (bpe_piece(t, s + i, j - i, out) == -1)
			return -1;
		i = j;
	}
	return 0;
}

/* Next byte at or after i that may start a special token, or n. */
static size_t
next_special_start(const struct l32_tokenizer *t, const unsigned char *s, size_t n, size_t i)
{
	const unsigned char *q;

	if (t->n_special_first == 1) {
		q = memchr(s + i, t->only_first, n - i);
		return q != NULL ? (size_t)(q - s) : n;
	}
	while (i < n && !t->special_first[s[i]])
		i++;
	return i;
}

/* Text with special parsing: exact special-token strings become their ids,
 * the text between them is encoded on its own. */
static int
encode_segment(const struct l32_tokenizer *t, const unsigned char *s, size_t n,
    unsigned flags, struct l32_tokens *out)
{
	size_t from = 0, i = 0, len = 0;
	int32_t id;

	if (!(flags & L32_TOKENIZE_SPECIAL) || t->n_special_first == 0)
		return encode_ordinary(t, s, n, out);
	while ((i = next_special_start(t, s, n, i)) < n) {
		if ((id = trie_match(t, s + i, n - i, &len)) < 0) {
			i++;
			continue;
		}
		if (encode_ordinary(t, s + from, i - from, out) == -1 ||
		    l32_tokens_push(out, id) == -1)
			return -1;
		i += len;
		from = i;
	}
	return encode_ordinary(t, s + from, n - from, out);
}

int
l32_tokenize(const struct l32_tokenizer *t, const char *text, size_t len,
    unsigned flags, struct l32_tokens *out, struct l32_err *err)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t first = out->n, a, b;
	struct l32_chunker ch;
	int rc = 0;

	if ((flags & L32_TOKENIZE_BOS) && l32_tokens_push(out, t->bos) == -1)
		goto nomem;
	if (flags & L32_TOKENIZE_CHUNK) {
		l32_chunker_init(&ch, s, len);
		while (rc == 0 && l32_chunker_next(&ch, &a, &b))
			rc = encode_segment(t, s + a, b - a, flags, out);
	} else {
		rc = encode_segment(t, s, len, flags, out);
	}
	if (rc == -1)
		goto nomem;
	/* BOS is never doubled: drop ours when the text began with one. */
	if ((flags & L32_TOKENIZE_BOS) && out->n > first + 1 && out->ids[first + 1] == t->bos &&
	    (flags & L32_TOKENIZE_SPECIAL)) {
		memmove(out->ids + first + 1, out->ids + first + 2,
		    (out->n - first - 2) * sizeof(*out->ids));
		out->n--;
	}
	return 0;
nomem:
	return l32_err_set(err, L32_ERR_NOMEM, "tokenize: out of memory for %zu bytes of text", len);
}

/* --------------------------------------------------------------- decoding */

static int
bad_id(const struct l32_tokenizer *t, int32_t id, struct l32_err *err)
{
	return l32_err_set(err, L32_ERR_INVALID, "token id %d out of range 0..%d",
	    id, t->n_vocab - 1);
}

int
l32_detokenize_bytes(const struct l32_tokenizer *t, const int32_t *ids, size_t n,
    struct l32_buf *out, struct l32_err *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (ids[i] < 0 || ids[i] >= t->n_vocab)
			return bad_id(t, ids[i], err);
		if (l32_buf_append(out, t->blob + t->ent[ids[i]].off, t->ent[ids[i]].len) == -1)
			return l32_err_set(err, L32_ERR_NOMEM, "detokenize: out of memory");
	}
	return 0;
}

int
l32_detokenize(const struct l32_tokenizer *t, const int32_t *ids, size_t n,
    struct l32_buf *out, struct l32_err *err)
{
	struct l32_buf raw = { 0 };
	int rc;

	if ((rc = l32_detokenize_bytes(t, ids, n, &raw, err)) == 0 &&
	    l32_utf8_sanitize(out, raw.data, raw.len) == -1)
		rc = l32_err_set(err, L32_ERR_NOMEM, "detokenize: out of memory");
	l32_buf_free(&raw);
	return rc;
}

void
l32_decoder_init(struct l32_decoder *d)
{
	d->npend = 0;
}

static const char fffd[3] = { (char)0xEF, (char)0xBF, (char)0xBD };

/* Sequence length announced by lead byte b (which started pend). */
static size_t
lead_len(unsigned char b)
{
	return b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
}

/* 1 when byte c may follow the pending bytes of d. */
static int
continues(const struct l32_decoder *d, unsigned char c)
{
	unsigned lo = 0x80, hi = 0xBF;

	if (d->npend == 1) {
		switch (d->pend[0]) {
		case 0xE0: lo = 0xA0; break;
		case 0xED: hi = 0x9F; break;
		case 0xF0: lo = 0x90; break;
		case 0xF4: hi = 0x8F; break;
		}
	}
	return c >= lo && c <= hi;
}

/*
 * Appends p[0..n) to the pending bytes and emits what is decided: valid
 * characters as they are, each maximal ill-formed subpart as U+FFFD.  A
 * truncated but so far valid sequence at the end waits in d->pend.
 */
int
l32_decoder_push(struct l32_decoder *d, const struct l32_tokenizer *t, int32_t id,
    struct l32_buf *out, struct l32_err *err)
{
	const unsigned char *p;
	size_t n, i = 0, ok, bad;

	if (id < 0 || id >= t->n_vocab)
		return bad_id(t, id, err);
	p = (const unsigned char *)t->blob + t->ent[id].off;
	n = t->ent[id].len;
	/* Finish (or give up on) a held-back sequence first. */
	while (d->npend > 0 && i < n) {
		if (!continues(d, p[i])) {
			d->npend = 0;
			if (l32_buf_append(out, fffd, 3) == -1)
				goto nomem;
			break;
		}
		d->pend[d->npend++] = p[i++];
		if (d->npend == lead_len(d->pend[0])) {
			if (l32_buf_append(out, d->pend, d->npend) == -1)
				goto nomem;
			d->npend = 0;
		}
	}
	while (i < n) {
		uint32_t cp;
		int k;

		/* Copy the longest run of whole characters. */
		for (ok = i; ok < n; ok += (size_t)k) {
			if (p[ok] < 0x80)
				k = 1;
			else if ((k = l32_utf8_decode(p + ok, n - ok, &cp)) == 0)
				break;
		}
		if (l32_buf_append(out, p + i, ok - i) == -1)
			goto nomem;
		if ((i = ok) == n)
			break;
		bad = l32_utf8_bad_len(p + i, n - i);
		if (i + bad == n && p[i] >= 0xC2 && p[i] <= 0xF4) {
			/* A valid beginning cut by the end of the token: hold it. */
			memcpy(d->pend, p + i, bad);
			d->npend = bad;
			break;
		}
		if (l32_buf_append(out, fffd, 3) == -1)
			goto nomem;
		i += bad;
	}
	return 0;
nomem:
	return l32_err_set(err, L32_ERR_NOMEM, "decode: out of memory");
}

int
l32_decoder_flush(struct l32_decoder *d, struct l32_buf *out)
{
	if (d->npend == 0)
		return 0;
	d->npend = 0;
	return l32_buf_append(out, fffd, 3);
}

/* ---------------------------------------------------------------- opening */

int
tok_read_file(const char *path, char **data, size_t *len, struct l32_err *err)
{
	struct stat st;
	size_t got = 0;
	ssize_t r;
	char *buf;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (1 << 30)) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: %s", path,
		    S_ISREG(st.st_mode) ? "file over 1 GiB" : "not a regular file");
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			l32_err_set(err, L32_ERR_IO, "%s: %s", path,
			    r == 0 ? "file shrank while reading" : strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

/* A JSON file starts with '{' after white space; a tiktoken file with base64. */
static struct l32_tokenizer *
open_file(const char *path, struct l32_err *err)
{
	struct l32_tokenizer *t;
	char *data;
	size_t len, i = 0;

	if (tok_read_file(path, &data, &len, err) == -1)
		return NULL;
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
		i++;
	if (i < len && data[i] == '{')
		t = tok_parse_hf(path, data, len, err);
	else
		t = tok_parse_tiktoken(path, data, len, err);
	free(data);
	return t;
}

struct l32_tokenizer *
l32_tokenizer_open(const char *path, struct l32_err *err)
{
	static const char *const names[] = { "tokenizer.json", "tokenizer.model" };
	struct l32_tokenizer *t;
	struct stat st;
	char *p;
	size_t k;

	if (stat(path, &st) == -1) {
		l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode))
		return open_file(path, err);
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		if (asprintf(&p, "%s/%s", path, names[k]) == -1) {
			l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", path);
			return NULL;
		}
		if (access(p, F_OK) == 0) {
			t = open_file(p, err);
			free(p);
			return t;
		}
		free(p);
	}
	l32_err_set(err, L32_ERR_IO, "%s: directory holds neither tokenizer.json nor tokenizer.model",
	    path);
	return NULL;
}
