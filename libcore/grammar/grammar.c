/*
 * grammar.c - the automaton of a grammar: a set of stacks of rule
 * positions (a nondeterministic pushdown automaton, as llama.cpp runs it),
 * made deterministic lazily: each set of stacks reached is interned as a
 * state, and each (state, byte) step is computed once and then looked up.
 *
 * Expanding a rule reference pushes the position after it only when there
 * is one: a reference at the end of an alternative is a tail call, so
 * right recursion such as R ::= x R runs in constant stack depth and
 * comes back to the same state, which is what makes the states (and their
 * token masks) repeat inside a long string or list.
 */
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_int.h"

#define MAX_STATES (1u << 22)  /* a grammar that needs more is refused at run time */
#define MAX_STACKS (1u << 24)
#define MAX_EXPAND_DEPTH 10000  /* rules entered in one step without a byte */

/* --------------------------------------------------------------- checks */

/* Which rules can match the empty string: a worklist over the
 * alternatives, each waiting for its rule references to turn nullable
 * (linear in the grammar's size, so a huge grammar cannot stall it). */
static int
nullable_rules(const struct l32_grammar *g, uint8_t *nul)
{
	uint32_t *pending = calloc(g->n_alt + 1, sizeof(*pending));
	uint32_t *alt_rule = calloc(g->n_alt + 1, sizeof(*alt_rule));
	uint32_t *occ_first = calloc(g->n_rule + 2, sizeof(*occ_first));
	uint32_t *occ = calloc(g->n_elem + 1, sizeof(*occ));
	uint32_t *queue = calloc(g->n_rule + 1, sizeof(*queue));
	size_t r, a, k, head = 0, tail = 0;
	const struct g_elem *e;
	int rc = -1;

	if (!pending || !alt_rule || !occ_first || !occ || !queue)
		goto out;
	memset(nul, 0, g->n_rule);
	/* occurrences of each rule: the alternatives that reference it */
	for (r = 0; r < g->n_rule; r++)
		for (a = g->rule[r].first_alt; a < g->rule[r].first_alt + g->rule[r].n_alt; a++) {
			alt_rule[a] = (uint32_t)r;
			for (e = &g->elem[g->alt[a]]; e->kind != G_END; e++) {
				if (e->kind == G_BYTES)
					pending[a] = UINT32_MAX / 2;  /* never empty */
				else {
					occ_first[e->arg + 1]++;
					pending[a]++;
				}
			}
		}
	for (r = 0; r < g->n_rule; r++)
		occ_first[r + 1] += occ_first[r];
	for (r = 0; r < g->n_rule; r++)
		for (a = g->rule[r].first_alt; a < g->rule[r].first_alt + g->rule[r].n_alt; a++)
			for (e = &g->elem[g->alt[a]]; e->kind != G_END; e++)
				if (e->kind == G_RULE)
					occ[occ_first[e->arg]++] = (uint32_t)a;
	for (r = g->n_rule; r > 0; r--)  /* back to the starts */
		occ_first[r] = occ_first[r - 1];
	occ_first[0] = 0;
	for (a = 0; a < g->n_alt; a++)
		if (pending[a] == 0 && !nul[alt_rule[a]]) {
			nul[alt_rule[a]] = 1;
			queue[tail++] = alt_rule[a];
		}
	while (head < tail) {
		r = queue[head++];
		for (k = occ_first[r]; k < occ_first[r + 1]; k++)
			if (--pending[occ[k]] == 0 && !nul[alt_rule[occ[k]]]) {
				nul[alt_rule[occ[k]]] = 1;
				queue[tail++] = alt_rule[occ[k]];
			}
	}
	rc = 0;
out:
	free(pending);
	free(alt_rule);
	free(occ_first);
	free(occ);
	free(queue);
	return rc;
}

/* Where the search below stops looking along an alternative. */
static const struct g_elem end_elem = { G_END, 0 };

/* Depth-first search over "rule r may start with rule s" (an explicit
 * stack, so a long chain of rules cannot overflow the C stack); colour 1
 * on the path, 2 done.  Returns the rule found on a cycle, -1 none, -2
 * out of memory. */
static int32_t
left_cycle(const struct l32_grammar *g, const uint8_t *nul, uint8_t *colour, uint32_t root)
{
	struct frame {
		uint32_t r, a;           /* rule, its alternative being looked at */
		const struct g_elem *e;  /* next element of that alternative */
	} *st = malloc((g->n_rule + 1) * sizeof(*st));
	size_t n = 0;
	int32_t found = -1;
	uint32_t s;

	if (st == NULL)
		return -2;
	colour[root] = 1;
	st[n++] = (struct frame){ root, 0, g->rule[root].n_alt ? &g->elem[g->alt[g->rule[root].first_alt]] : &end_elem };
	while (n > 0) {
		struct frame *f = &st[n - 1];
		const struct g_rule *R = &g->rule[f->r];

		if (f->e->kind != G_RULE) {  /* this alternative is done: the next, or back */
			if (++f->a < R->n_alt)
				f->e = &g->elem[g->alt[R->first_alt + f->a]];
			else {
				colour[f->r] = 2;
				n--;
			}
			continue;
		}
		s = f->e->arg;
		/* past s only when it can be empty */
		f->e = nul[s] ? f->e + 1 : &end_elem;
		if (colour[s] == 1) {
			found = (int32_t)s;
			break;
		}
		if (colour[s] == 0) {
			colour[s] = 1;
			st[n++] = (struct frame){ s, 0, g->rule[s].n_alt ? &g->elem[g->alt[g->rule[s].first_alt]] : &end_elem };
		}
	}
	free(st);
	return found;
}

/* Splits the bytes into classes that every byte set treats alike (one
 * transition computed per class, not per byte). */
static void
byte_classes(struct l32_grammar *g)
{
	uint8_t map[256][2];
	size_t i, b, n = 1;
	uint16_t count[257] = { 0 };

	memset(g->bclass, 0, sizeof(g->bclass));
	for (i = 0; i < g->n_set; i++) {
		size_t m = 0;

		memset(map, 0xFF, sizeof(map));
		for (b = 0; b < 256; b++) {
			int in = g_byteset_has(&g->set[i], (unsigned char)b);
			uint8_t *slot = &map[g->bclass[b]][in];

			if (*slot == 0xFF)
				*slot = (uint8_t)m++;
			g->bclass[b] = *slot;
		}
		n = m;
	}
	for (b = 0; b < 256; b++)
		count[g->bclass[b] + 1]++;
	for (i = 1; i <= n; i++)
		count[i] += count[i - 1];
	for (i = 0; i <= 256; i++)
		g->bfirst[i] = i <= n ? count[i] : 256;
	for (b = 0; b < 256; b++)
		g->bmember[count[g->bclass[b]]++] = (uint8_t)b;
}

int
g_check(struct l32_grammar *g, struct l32_err *err)
{
	uint8_t *nul = malloc(g->n_rule + 1), *colour = calloc(g->n_rule + 1, 1);
	int32_t c = -1;
	size_t r;
	char *dot;

	if (nul == NULL || colour == NULL) {
		free(nul);
		free(colour);
		return l32_err_set(err, L32_ERR_NOMEM, "grammar: out of memory");
	}
	byte_classes(g);
	if (nullable_rules(g, nul) == -1)
		c = -2;
	for (r = 0; r < g->n_rule && c == -1; r++)
		if (colour[r] == 0)
			c = left_cycle(g, nul, colour, (uint32_t)r);
	free(nul);
	free(colour);
	if (c == -2)
		return l32_err_set(err, L32_ERR_NOMEM, "grammar: out of memory");
	if (c < 0)
		return 0;
	/* a generated rule is named after its parent: "name.N" */
	dot = strchr(g->rule[c].name, '.');
	return l32_err_set(err, L32_ERR_INVALID,
	    "grammar: rule '%.*s' is left-recursive (it can reach itself without reading a character)",
	    dot ? (int)(dot - g->rule[c].name) : (int)strlen(g->rule[c].name), g->rule[c].name);
}

void
l32_grammar_free(struct l32_grammar *g)
{
	size_t i;

	if (g == NULL || --g->refs > 0)
		return;
	free(g->key);
	for (i = 0; i < g->n_rule; i++)
		free(g->rule[i].name);
	for (i = 0; i < g->n_state; i++) {
		free(g->state[i].next);
		free(g->state[i].mask);
	}
	free(g->rule);
	free(g->alt);
	free(g->elem);
	free(g->set);
	free(g->stack);
	free(g->stack_map.slot);
	free(g->spool);
	free(g->state);
	free(g->state_map.slot);
	free(g->scratch);
	free(g->seen);
	free(g->seen_key);
	free(g->walk_state);
	free(g);
}

struct l32_grammar *
l32_grammar_ref(struct l32_grammar *g)
{
	g->refs++;
	return g;
}

int
l32_grammar_same(const struct l32_grammar *a, const struct l32_grammar *b)
{
	return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

size_t
l32_grammar_cache_bytes(const struct l32_grammar *g)
{
	return g->n_stack * sizeof(*g->stack) + g->n_spool * sizeof(*g->spool) +
	    g->n_state * (sizeof(*g->state) + 256 * sizeof(int32_t)) +
	    g->n_masks * (g->mask_trie ? ((size_t)g->mask_trie->n_vocab + 7) / 8 : 0);
}

/* ------------------------------------------------------------ interning */

static uint64_t
mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 33);
}

/* Rebuilds map m at twice its size from the hashes of ids 0..n-1. */
static int
map_rehash(struct g_map *m, size_t n, uint64_t (*hash)(const struct l32_grammar *, int32_t),
    const struct l32_grammar *g)
{
	size_t cap = m->cap ? m->cap * 2 : 1024, i, j;
	int32_t *slot = calloc(cap, sizeof(*slot));

	if (slot == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		for (j = hash(g, (int32_t)i) & (cap - 1); slot[j] != 0; j = (j + 1) & (cap - 1))
			;
		slot[j] = (int32_t)i + 1;
	}
	free(m->slot);
	m->slot = slot;
	m->cap = cap;
	return 0;
}

static uint64_t
stack_hash(const struct l32_grammar *g, int32_t id)
{
	return mix((uint64_t)g->stack[id].pos << 32 | (uint32_t)g->stack[id].parent);
}

static int32_t
stack_intern(struct l32_grammar *g, uint32_t pos, int32_t parent)
{
	uint64_t h = mix((uint64_t)pos << 32 | (uint32_t)parent);
	size_t j;
	int32_t id;

	if ((g->n_stack + 1) * 2 > g->stack_map.cap &&
	    map_rehash(&g->stack_map, g->n_stack, stack_hash, g) == -1)
		return -1;
	for (j = h & (g->stack_map.cap - 1); (id = g->stack_map.slot[j]) != 0; j = (j + 1) & (g->stack_map.cap - 1))
		if (g->stack[id - 1].pos == pos && g->stack[id - 1].parent == parent)
			return id - 1;
	if (g->n_stack >= MAX_STACKS ||
	    l32_grammar_grow((void **)&g->stack, &g->cap_stack, g->n_stack + 1, sizeof(*g->stack)) == -1)
		return -1;
	g->stack[g->n_stack].pos = pos;
	g->stack[g->n_stack].parent = parent;
	g->stack_map.slot[j] = (int32_t)g->n_stack + 1;
	return (int32_t)g->n_stack++;
}

static uint64_t
ids_hash(const int32_t *ids, size_t n)
{
	uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
	size_t i;

	for (i = 0; i < n; i++)
		h = mix(h ^ (uint32_t)ids[i]);
	return h;
}

static uint64_t
state_hash(const struct l32_grammar *g, int32_t id)
{
	return ids_hash(g->spool + g->state[id].off, g->state[id].n);
}

static int
id_cmp(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return x < y ? -1 : x > y;
}

/* The state of the stacks in g->scratch (sorted and deduplicated here). */
static int32_t
state_intern(struct l32_grammar *g)
{
	int32_t *ids = g->scratch, id;
	size_t n = 0, i, j;
	uint64_t h;
	struct g_state *s;

	if (g->n_scratch > 1)
		qsort(ids, g->n_scratch, sizeof(*ids), id_cmp);
	for (i = 0; i < g->n_scratch; i++)
		if (n == 0 || ids[n - 1] != ids[i])
			ids[n++] = ids[i];
	h = ids_hash(ids, n);
	if ((g->n_state + 1) * 2 > g->state_map.cap &&
	    map_rehash(&g->state_map, g->n_state, state_hash, g) == -1)
		return -1;
	for (j = h & (g->state_map.cap - 1); (id = g->state_map.slot[j]) != 0; j = (j + 1) & (g->state_map.cap - 1)) {
		s = &g->state[id - 1];
		if (s->n == n && (n == 0 || memcmp(g->spool + s->off, ids, n * sizeof(*ids)) == 0))
			return id - 1;
	}
	if (g->n_state >= MAX_STATES ||
	    l32_grammar_grow((void **)&g->state, &g->cap_state, g->n_state + 1, sizeof(*g->state)) == -1 ||
	    l32_grammar_grow((void **)&g->spool, &g->cap_spool, g->n_spool + n + 1, sizeof(*g->spool)) == -1)
		return -1;
	s = &g->state[g->n_state];
	memset(s, 0, sizeof(*s));
	s->off = (uint32_t)g->n_spool;
	s->n = (uint32_t)n;
	s->accepting = n > 0 && ids[0] == 0;
	if (n > 0)
		memcpy(g->spool + g->n_spool, ids, n * sizeof(*ids));
	g->n_spool += n;
	g->state_map.slot[j] = (int32_t)g->n_state + 1;
	return (int32_t)g->n_state++;
}

/* ------------------------------------------------------------ expansion */

/* Marks (pos, parent) expanded in this step; 1 when it already was. */
static int
seen_mark(struct l32_grammar *g, uint32_t pos, int32_t parent)
{
	uint64_t key = (uint64_t)pos << 32 | (uint32_t)parent;
	size_t j, cap = g->cap_seen;

	if (++g->n_seen * 2 > cap) {  /* cut the step short; it runs again */
		g->redo = 1;
		return 1;
	}
	for (j = mix(key) & (cap - 1); g->seen[j] == g->seen_gen; j = (j + 1) & (cap - 1))
		if (g->seen_key[j] == key)
			return 1;
	g->seen[j] = g->seen_gen;
	g->seen_key[j] = key;
	return 0;
}

static int
scratch_push(struct l32_grammar *g, int32_t id)
{
	if (l32_grammar_grow((void **)&g->scratch, &g->cap_scratch, g->n_scratch + 1, sizeof(*g->scratch)) == -1)
		return -1;
	g->scratch[g->n_scratch++] = id;
	return 0;
}

/* Adds to g->scratch every stack whose top is a byte set that the input
 * may reach by resuming at pos with parent below it.  depth counts the
 * rules entered without reading a byte, bounded so no grammar can run the
 * C stack out. */
static int
expand(struct l32_grammar *g, uint32_t pos, int32_t parent, int depth)
{
	const struct g_elem *e;
	const struct g_rule *r;
	int32_t np, id;
	uint32_t a;

	for (;;) {
		if (seen_mark(g, pos, parent))
			return 0;
		e = &g->elem[pos];
		if (e->kind == G_BYTES) {
			if ((id = stack_intern(g, pos, parent)) < 0)
				return -1;
			return scratch_push(g, id);
		}
		if (e->kind == G_END) {
			if (parent == 0)
				return scratch_push(g, 0);
			pos = g->stack[parent].pos;
			parent = g->stack[parent].parent;
			continue;
		}
		if (depth >= MAX_EXPAND_DEPTH)
			return -1;
		r = &g->rule[e->arg];
		np = parent;
		if (g->elem[pos + 1].kind != G_END && (np = stack_intern(g, pos + 1, parent)) < 0)
			return -1;
		for (a = 0; a < r->n_alt; a++)
			if (expand(g, g->alt[r->first_alt + a], np, depth + 1) == -1)
				return -1;
		return 0;
	}
}

/* Starts a step: a fresh seen set, four times bigger when the last try
 * filled it. */
static int
step_begin(struct l32_grammar *g)
{
	size_t want = g->cap_seen ? g->cap_seen : 1024;

	if (g->redo)
		want *= 4;
	g->redo = 0;
	g->n_seen = 0;
	if (want != g->cap_seen) {
		free(g->seen);
		free(g->seen_key);
		g->seen = calloc(want, sizeof(*g->seen));
		g->seen_key = malloc(want * sizeof(*g->seen_key));
		g->cap_seen = g->seen && g->seen_key ? want : 0;
		g->seen_gen = 0;
		if (g->cap_seen == 0)
			return -1;
	}
	if (++g->seen_gen == 0) {
		memset(g->seen, 0, g->cap_seen * sizeof(*g->seen));
		g->seen_gen = 1;
	}
	g->n_scratch = 0;
	return 0;
}

/* The seen table can fill when one step expands many positions: then the
 * step runs again with a bigger table. */
static int
seen_full(const struct l32_grammar *g)
{
	return g->redo;
}

int32_t
l32_grammar_start(struct l32_grammar *g)
{
	const struct g_rule *r = &g->rule[g->root];
	uint32_t a;
	int rc;

	if (g->start >= 0)
		return g->start;
	/* id 0: the bottom, at a position no element has */
	if (g->n_stack == 0 && stack_intern(g, UINT32_MAX, -1) != 0)
		return -1;
	if (g->n_state == 0) {  /* id 0: dead */
		g->n_scratch = 0;
		if (state_intern(g) != 0)
			return -1;
	}
	do {
		if (step_begin(g) == -1)
			return -1;
		for (rc = 0, a = 0; a < r->n_alt && rc == 0; a++)
			rc = expand(g, g->alt[r->first_alt + a], 0, 0);
		if (rc == -1)
			return -1;
	} while (seen_full(g));
	g->start = state_intern(g);
	return g->start;
}

int32_t
g_step_slow(struct l32_grammar *g, int32_t st, unsigned char b)
{
	struct g_state *s;
	const struct g_stack *k;
	uint32_t i;
	int32_t next;
	int rc;

	if (st == L32_GRAMMAR_DEAD)
		return L32_GRAMMAR_DEAD;
	do {
		if (step_begin(g) == -1)
			return -1;
		s = &g->state[st];
		for (rc = 0, i = 0; i < s->n && rc == 0; i++) {
			k = &g->stack[g->spool[s->off + i]];
			if (g->spool[s->off + i] != 0 && g_byteset_has(&g->set[g->elem[k->pos].arg], b))
				rc = expand(g, k->pos + 1, k->parent, 0);
			s = &g->state[st];
		}
		if (rc == -1)
			return -1;
	} while (seen_full(g));
	if ((next = state_intern(g)) < 0)
		return -1;
	s = &g->state[st];
	if (s->next == NULL) {
		if ((s->next = malloc(256 * sizeof(*s->next))) == NULL)
			return -1;
		memset(s->next, -1, 256 * sizeof(*s->next));
	}
	/* every byte of b's class goes the same way */
	for (i = g->bfirst[g->bclass[b]]; i < g->bfirst[g->bclass[b] + 1]; i++)
		s->next[g->bmember[i]] = next;
	return next;
}

int32_t
l32_grammar_advance(struct l32_grammar *g, int32_t st, const void *p, size_t n,
    struct l32_err *err)
{
	const unsigned char *s = p;
	size_t i;

	for (i = 0; i < n && st > 0; i++)
		st = g_step(g, st, s[i]);
	if (st < 0)
		l32_err_set(err, L32_ERR_NOMEM, "grammar: out of memory, or the grammar is too large to run "
		    "(more than %u automaton states, or rules nested %d deep)", MAX_STATES, MAX_EXPAND_DEPTH);
	return st;
}

int
l32_grammar_accepting(struct l32_grammar *g, int32_t st)
{
	return st > 0 && g->state[st].accepting;
}

int
l32_grammar_complete(struct l32_grammar *g, int32_t st)
{
	return st > 0 && g->state[st].accepting && g->state[st].n == 1;
}

int
l32_grammar_match(struct l32_grammar *g, const void *s, size_t n)
{
	int32_t st = l32_grammar_start(g);

	if (st < 0)
		return 0;
	st = l32_grammar_advance(g, st, s, n, NULL);
	return l32_grammar_accepting(g, st);
}

int
l32_grammar_grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 8;
	void *q;

	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	if ((q = reallocarray(*p, c, size)) == NULL)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}
