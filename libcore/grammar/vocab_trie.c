/*
 * vocab_trie.c - the vocabulary's ordinary tokens as a byte trie, laid out
 * in depth-first order so a walk is one pass over flat arrays that jumps
 * over the subtree of a byte the grammar refuses.
 */
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_int.h"

struct sort_ent {
	const unsigned char *b;
	size_t n;
	int32_t id;
};

static int
ent_cmp(const void *a, const void *b)
{
	const struct sort_ent *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->b, y->b, n);

	if (c != 0)
		return c;
	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

void
l32_vocab_trie_free(struct l32_vocab_trie *t)
{
	if (t == NULL)
		return;
	free(t->byte);
	free(t->depth);
	free(t->skip);
	free(t->sub);
	free(t->wf);
	free(t->height);
	free(t->t0);
	free(t->toks);
	free(t->stop);
	free(t);
}

int32_t
l32_vocab_trie_n_vocab(const struct l32_vocab_trie *t)
{
	return t->n_vocab;
}

/* Fills the trie from tokens sorted by their bytes: a token shares with
 * the one before it the nodes of their common prefix and adds the rest. */
static void
build(struct l32_vocab_trie *t, const struct sort_ent *e, size_t n, uint32_t *path)
{
	size_t i, k, lcp, open = 0, node = 1, ntok = 0;

	t->depth[0] = 0;
	t->t0[0] = 0;
	for (i = 0; i < n; i++) {
		lcp = 0;
		if (i > 0)
			while (lcp < e[i - 1].n && lcp < e[i].n && e[i - 1].b[lcp] == e[i].b[lcp])
				lcp++;
		/* close the nodes below the common prefix */
		while (open > lcp)
			t->skip[path[open--]] = (uint32_t)node;
		for (k = lcp; k < e[i].n; k++) {
			t->byte[node] = e[i].b[k];
			t->depth[node] = (uint16_t)(k + 1);
			t->t0[node] = (uint32_t)ntok;
			path[++open] = (uint32_t)node++;
		}
		t->toks[ntok++] = e[i].id;
		t->t0[node] = (uint32_t)ntok;
	}
	while (open > 0)
		t->skip[path[open--]] = (uint32_t)node;
	t->skip[0] = (uint32_t)node;
	t->n_node = node;
}

enum { U_BOUND = G_U_BOUND, U_C1, U_C2, U_C3, U_E0, U_ED, U_F0, U_F4, U_N };

/* The decoding state after byte b in state u, or -1 when b is malformed. */
static int
utf8_next(int u, unsigned b)
{
	int cont = b >= 0x80 && b <= 0xBF;

	switch (u) {
	case U_BOUND:
		if (b < 0x80)
			return U_BOUND;
		if (b >= 0xC2 && b <= 0xDF)
			return U_C1;
		if (b == 0xE0)
			return U_E0;
		if (b == 0xED)
			return U_ED;
		if (b >= 0xE1 && b <= 0xEF)
			return U_C2;
		if (b == 0xF0)
			return U_F0;
		if (b == 0xF4)
			return U_F4;
		if (b >= 0xF1 && b <= 0xF3)
			return U_C3;
		return -1;
	case U_C1: return cont ? U_BOUND : -1;
	case U_C2: return cont ? U_C1 : -1;
	case U_C3: return cont ? U_C2 : -1;
	case U_E0: return b >= 0xA0 && b <= 0xBF ? U_C1 : -1;
	case U_ED: return b >= 0x80 && b <= 0x9F ? U_C1 : -1;
	case U_F0: return b >= 0x90 && b <= 0xBF ? U_C2 : -1;
	case U_F4: return b >= 0x80 && b <= 0x8F ? U_C2 : -1;
	}
	return -1;
}

/* Bottom up (reverse depth-first order): the byte classes of each
 * subtree, and whether every path from the node's edge down is
 * well-formed UTF-8 when it starts at a character boundary. */
static void
summarize(struct l32_vocab_trie *t)
{
	uint8_t *ok = t->wf;
	size_t i, c;
	int u, v, cls;

	for (i = t->n_node; i-- > 1;) {
		uint8_t good = 0;

		t->height[i] = 1;
		t->sub[i][0] = t->sub[i][1] = 0;
		cls = g_byte_class(t->byte[i]);
		t->sub[i][cls >> 6] |= 1ull << (cls & 63);
		for (c = i + 1; c < t->skip[i]; c = t->skip[c]) {
			t->sub[i][0] |= t->sub[c][0];
			t->sub[i][1] |= t->sub[c][1];
			if (t->height[c] + 1 > t->height[i])
				t->height[i] = (uint16_t)(t->height[c] + 1);
		}
		for (u = 0; u < U_N; u++) {
			if ((v = utf8_next(u, t->byte[i])) < 0)
				continue;
			for (c = i + 1; c < t->skip[i] && (ok[c] >> v & 1); c = t->skip[c])
				;
			if (c >= t->skip[i])
				good |= (uint8_t)(1u << u);
		}
		ok[i] = good;
	}
}

struct l32_vocab_trie *
l32_vocab_trie_new(const struct l32_tokenizer *tok, struct l32_err *err)
{
	int32_t nv = l32_tokenizer_n_vocab(tok), id;
	struct l32_vocab_trie *t = calloc(1, sizeof(*t));
	struct sort_ent *e = calloc((size_t)nv + 1, sizeof(*e));
	uint32_t *path = NULL;
	size_t n = 0, nodes = 1, maxd = 0;

	if (t == NULL || e == NULL)
		goto nomem;
	t->n_vocab = nv;
	for (id = 0; id < nv; id++) {
		if (l32_tokenizer_is_special(tok, id)) {
			if (l32_tokenizer_is_stop(tok, id)) {
				int32_t *s = reallocarray(t->stop, t->n_stop + 1, sizeof(*s));

				if (s == NULL)
					goto nomem;
				t->stop = s;
				s[t->n_stop++] = id;
			}
			continue;
		}
		e[n].b = (const unsigned char *)l32_token_bytes(tok, id, &e[n].n);
		if (e[n].n == 0 || e[n].n > UINT16_MAX)
			continue;
		e[n].id = id;
		nodes += e[n].n;  /* an upper bound */
		if (e[n].n > maxd)
			maxd = e[n].n;
		n++;
	}
	qsort(e, n, sizeof(*e), ent_cmp);
	t->byte = malloc(nodes);
	t->depth = malloc(nodes * sizeof(*t->depth));
	t->skip = malloc(nodes * sizeof(*t->skip));
	t->sub = malloc(nodes * sizeof(*t->sub));
	t->wf = malloc(nodes);
	t->height = malloc(nodes * sizeof(*t->height));
	t->t0 = malloc((nodes + 1) * sizeof(*t->t0));
	t->toks = malloc((n + 1) * sizeof(*t->toks));
	path = malloc((maxd + 2) * sizeof(*path));
	if (!t->byte || !t->depth || !t->skip || !t->sub || !t->wf || !t->height || !t->t0 || !t->toks || !path)
		goto nomem;
	t->max_depth = maxd;
	build(t, e, n, path);
	free(path);
	summarize(t);
	free(e);
	return t;
nomem:
	free(path);
	free(e);
	l32_vocab_trie_free(t);
	l32_err_set(err, L32_ERR_NOMEM, "out of memory building the vocabulary trie");
	return NULL;
}
