/*
 * mask.c - the tokens a grammar state allows: a walk of the vocabulary
 * trie that follows a path only while the automaton stays alive on its
 * bytes, so a state that allows a few bytes costs a few steps; the result
 * is kept with the state, since the same state comes back (inside a
 * string, along a list) far more often than new ones appear.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_int.h"

#define MAX_MASKS 1024  /* masks kept per grammar before the cache starts over */

void
g_masks_drop(struct l32_grammar *g)
{
	size_t i;

	for (i = 0; i < g->n_state; i++) {
		free(g->state[i].mask);
		g->state[i].mask = NULL;
	}
	g->n_masks = 0;
}

static void
set_bit(uint64_t *m, int32_t id)
{
	m[id >> 6] |= 1ull << (id & 63);
}

#define LOOP_MIN_SUBTREE 16  /* subtrees smaller than this are walked, not summarized */
#define MAX_UTF8_CHECKS 256  /* (state, decoding state) pairs looked at per loop check */

struct utf8_memo {
	int32_t st[MAX_UTF8_CHECKS];
	int u[MAX_UTF8_CHECKS];
	size_t n;
};

/* 1 when from state q, in UTF-8 decoding state u (see vocab_trie.c's
 * enum), every well-formed rest of a character brings the automaton back
 * to home, alive all the way; 0 when not or when it cannot tell; -1 out
 * of memory. */
static int
utf8_loops(struct l32_grammar *g, int32_t home, int32_t q, int u, struct utf8_memo *memo)
{
	static const struct { unsigned char lo, hi; int next; } lead[] = {
		{ 0xC2, 0xDF, 1 }, { 0xE0, 0xE0, 4 }, { 0xE1, 0xEC, 2 }, { 0xED, 0xED, 5 },
		{ 0xEE, 0xEF, 2 }, { 0xF0, 0xF0, 6 }, { 0xF1, 0xF3, 3 }, { 0xF4, 0xF4, 7 },
	};
	/* after each decoding state: the continuation bytes allowed and the next state */
	static const struct { unsigned char lo, hi; int next; } cont[] = {
		{ 0, 0, 0 }, { 0x80, 0xBF, 0 }, { 0x80, 0xBF, 1 }, { 0x80, 0xBF, 2 },
		{ 0xA0, 0xBF, 1 }, { 0x80, 0x9F, 1 }, { 0x90, 0xBF, 2 }, { 0x80, 0x8F, 2 },
	};
	size_t i;
	unsigned b;
	int32_t s;
	int rc = 1;

	for (i = 0; i < memo->n; i++)
		if (memo->st[i] == q && memo->u[i] == u)
			return 1;
	if (memo->n == MAX_UTF8_CHECKS)
		return 0;
	memo->st[memo->n] = q;
	memo->u[memo->n++] = u;
	if (u == 0) {
		for (i = 0; i < sizeof(lead) / sizeof(lead[0]); i++)
			for (b = lead[i].lo; b <= lead[i].hi; b++) {
				if ((s = g_step(g, q, (unsigned char)b)) <= 0)
					return s;
				if ((rc = utf8_loops(g, home, s, lead[i].next, memo)) != 1)
					return rc;
			}
		return 1;
	}
	for (b = cont[u].lo; b <= cont[u].hi; b++) {
		if ((s = g_step(g, q, (unsigned char)b)) <= 0)
			return s;
		if (cont[u].next == 0 ? s != home : (rc = utf8_loops(g, home, s, cont[u].next, memo)) != 1)
			return cont[u].next == 0 ? 0 : rc;
	}
	return 1;
}

static int
id_cmp(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return x < y ? -1 : x > y;
}

/* Where most printable ASCII bytes lead (next: the states after bytes
 * 0..127), 0 when they all die. */
static int32_t
main_successor(const int32_t *next)
{
	int32_t v[0x7F - 0x20], best = 0;
	size_t i, run, most = 0, n = 0;

	for (i = 0x20; i < 0x7F; i++)
		if (next[i] > 0)
			v[n++] = next[i];
	qsort(v, n, sizeof(*v), id_cmp);
	for (i = 0; i < n; i += run) {
		for (run = 1; i + run < n && v[i + run] == v[i]; run++)
			;
		if (run > most)
			most = run, best = v[i];
	}
	return best;
}

/* Fills in st's successor and the byte classes that all lead to it (when
 * every UTF-8 character does too, the UTF-8 class, and the states inside
 * those characters learn where they started).  A state where a few common
 * letters do not lead to one live state is not free text: it gets no
 * classes, without computing its 128 transitions. */
static int
state_loops(struct l32_grammar *g, int32_t st)
{
	uint64_t loop[2] = { 0, 0 }, bad[2] = { 0, 0 };
	struct utf8_memo *memo;
	int32_t next[0x80], succ, e, t;
	unsigned b;
	int c, rc;
	size_t i;

	g->state[st].loop_known = 1;
	g->state[st].home = st;
	g->state[st].uhome = G_U_BOUND;
	g->state[st].succ = 0;
	g->state[st].loop[0] = g->state[st].loop[1] = 0;
	if ((e = g_step(g, st, 'e')) < 0 || (t = g_step(g, st, 't')) < 0)
		return -1;
	if (e <= 0 || e != t)
		return 0;
	for (b = 0; b < 0x80; b++)
		if ((next[b] = g_step(g, st, (unsigned char)b)) < 0)
			return -1;
	succ = main_successor(next);
	for (b = 0; b < 0x80; b++) {
		c = g_byte_class((unsigned char)b);
		if (succ > 0 && next[b] == succ)
			loop[c >> 6] |= 1ull << (c & 63);
		else
			bad[c >> 6] |= 1ull << (c & 63);
	}
	loop[0] &= ~bad[0];
	loop[1] &= ~bad[1];
	g->state[st].succ = succ;
	if (succ > 0) {
		if ((memo = malloc(sizeof(*memo))) == NULL)
			return -1;
		memo->n = 0;
		if ((rc = utf8_loops(g, succ, st, 0, memo)) < 0) {
			free(memo);
			return -1;
		}
		if (rc == 1) {
			loop[G_CLASS_UTF8 >> 6] |= 1ull << (G_CLASS_UTF8 & 63);
			for (i = 1; i < memo->n; i++)
				if (g->state[memo->st[i]].home == 0) {
					g->state[memo->st[i]].home = st;
					g->state[memo->st[i]].uhome = (uint8_t)memo->u[i];
				}
		}
		free(memo);
	}
	g->state[st].loop[0] = loop[0];
	g->state[st].loop[1] = loop[1];
	return 0;
}

static int
classes_in(const uint64_t *sub, const uint64_t *set)
{
	return (sub[0] & ~set[0]) == 0 && (sub[1] & ~set[1]) == 0;
}

/* 1 when every path of the subtree of node i stays alive from state p:
 * each byte class of the subtree leads, state after state, along a chain
 * of successors at least as long as the subtree is deep (a loop, inside a
 * free string, is a chain that never ends; a string of bounded length is
 * a finite one).  A state inside a UTF-8 character starts at the
 * successor of the state the character began in.  -1 out of memory. */
static int
subtree_live(struct l32_grammar *g, const struct l32_vocab_trie *t, size_t i, int32_t p)
{
	const struct g_state *ps;
	int32_t s;
	unsigned k;

	if (g->state[p].home == 0 && !g->state[p].loop_known && state_loops(g, p) == -1)
		return -1;
	ps = &g->state[p];
	if (ps->home == 0 || !(t->wf[i] >> ps->uhome & 1))
		return 0;
	s = ps->home == p ? p : g->state[ps->home].succ;
	for (k = 0; k < t->height[i] && s > 0; k++) {
		if (!g->state[s].loop_known && state_loops(g, s) == -1)
			return -1;
		ps = &g->state[s];
		if (!classes_in(t->sub[i], ps->loop))
			return 0;
		if (ps->succ == s)  /* a loop: the rest stays here */
			return 1;
		s = ps->succ;
	}
	return s > 0;
}

/* Walks the trie from state st; ws holds the state at each depth.  A
 * subtree whose bytes all lead back to the state it starts from is taken
 * whole without walking it. */
static int
walk(struct l32_grammar *g, const struct l32_vocab_trie *t, int32_t st, uint64_t *m)
{
	int32_t *ws = g->walk_state, ns;
	const uint8_t *byte = t->byte;
	const uint16_t *depth = t->depth;
	const uint32_t *skip = t->skip, *t0 = t->t0;
	size_t i = 1, n = t->n_node;
	uint32_t k;

	int32_t p;
	int live;

	ws[0] = st;
	while (i < n) {
		p = ws[depth[i] - 1];
		if (skip[i] - i >= LOOP_MIN_SUBTREE) {
			if ((live = subtree_live(g, t, i, p)) < 0)
				return -1;
			if (live) {
				for (k = t0[i]; k < t0[skip[i]]; k++)
					set_bit(m, t->toks[k]);
				i = skip[i];
				continue;
			}
		}
		ns = g_step(g, p, byte[i]);
		if (ns <= 0) {
			if (ns < 0)
				return -1;
			i = skip[i];
			continue;
		}
		for (k = t0[i]; k < t0[i + 1]; k++)
			set_bit(m, t->toks[k]);
		ws[depth[i]] = ns;
		i++;
	}
	return 0;
}

const uint64_t *
l32_grammar_mask(struct l32_grammar *g, const struct l32_vocab_trie *t, int32_t st,
    struct l32_err *err)
{
	size_t words = ((size_t)t->n_vocab + 63) / 64, i;
	uint64_t *m;

	if (st <= 0 || (size_t)st >= g->n_state) {
		l32_err_set(err, L32_ERR_INVALID, "grammar: no such state %d", st);
		return NULL;
	}
	if (g->mask_trie != t || g->n_masks >= MAX_MASKS) {
		g_masks_drop(g);
		g->mask_trie = t;
	}
	if (g->state[st].mask != NULL)
		return g->state[st].mask;
	if (g->walk_cap < t->max_depth + 1) {
		free(g->walk_state);
		if ((g->walk_state = malloc((t->max_depth + 1) * sizeof(*g->walk_state))) == NULL) {
			g->walk_cap = 0;
			goto nomem;
		}
		g->walk_cap = t->max_depth + 1;
	}
	if ((m = calloc(words, sizeof(*m))) == NULL)
		goto nomem;
	if (walk(g, t, st, m) == -1) {
		free(m);
		goto nomem;
	}
	if (g->state[st].accepting)
		for (i = 0; i < t->n_stop; i++)
			set_bit(m, t->stop[i]);
	g->state[st].mask = m;
	g->n_masks++;
	return m;
nomem:
	l32_err_set(err, L32_ERR_NOMEM, "grammar: out of memory computing a token mask");
	return NULL;
}

void
l32_grammar_apply_mask(const uint64_t *mask, float *logits, int32_t n_vocab)
{
	int32_t i, j, end;

	for (i = 0; i < n_vocab; i += 64) {
		uint64_t w = mask[i / 64];

		if (w == ~0ull)
			continue;
		end = i + 64 < n_vocab ? i + 64 : n_vocab;
		for (j = i; j < end; j++)
			if (!(w >> (j - i) & 1))
				logits[j] = -INFINITY;
	}
}
