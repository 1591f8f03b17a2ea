/*
 * tok_encode.c - text to token ids: the special-token scan, Meta's
 * chunking, the pre-tokenizer, then BPE on each piece.
 *
 * BPE follows tiktoken: a piece that is itself a token is one id (this
 * lookup is required: some tokens are never reached by merging); otherwise
 * start from single bytes and merge the adjacent pair whose concatenation is
 * the lowest-ranked token, leftmost on ties, until none is a token.  The
 * rank of a token is its id (see tokenizer.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/l32_tokenizer.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer.h"

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
		if ((id = tok_special_match(t, s + i, n - i, &len)) < 0) {
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
