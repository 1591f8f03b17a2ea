/*
 * grammar_int.h - internal: the compiled form of a grammar and the cache
 * of its automaton, shared by gbnf.c (which builds the rules), grammar.c
 * (the automaton), mask.c and vocab_trie.c.
 *
 * Rules are over bytes: a character class of code points is compiled to
 * alternatives of UTF-8 byte ranges, so the automaton never decodes UTF-8
 * and a character split across two tokens needs nothing special.
 *
 * An alternative is a run of elements in elem[], ended by a G_END; a
 * position is an index into elem[].  A stack is a position to match next
 * and the stack to return to (its parent); id 0 is the bottom (nothing
 * left).  A state is a sorted set of stacks whose top positions are all
 * byte sets; a state holding the bottom accepts.  Stacks and states are
 * interned, so equal ones get equal ids, and a state's transitions and its
 * token mask are computed once.
 */
#ifndef L32_GRAMMAR_INT_H
#define L32_GRAMMAR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/l32_tokenizer.h"
#include "grammar/l32_grammar.h"

enum g_kind {
	G_END = 0,  /* end of an alternative */
	G_BYTES,    /* one byte from set[arg] */
	G_RULE,     /* rule arg */
};

struct g_elem {
	uint32_t kind : 2;
	uint32_t arg : 30;
};

struct g_byteset {
	uint64_t w[4];
};

static inline int
g_byteset_has(const struct g_byteset *s, unsigned char b)
{
	return (int)((s->w[b >> 6] >> (b & 63)) & 1);
}

struct g_rule {
	char *name;
	uint32_t first_alt, n_alt;  /* alternatives alt[first_alt ..] */
};

struct g_stack {
	uint32_t pos;     /* a G_BYTES element (or the resume point of a parent) */
	int32_t parent;   /* 0 = bottom */
};

struct g_state {
	uint32_t off, n;    /* stacks spool[off .. off + n) sorted */
	int32_t *next;      /* (256) next state per byte; -1 not yet known */
	uint64_t *mask;     /* allowed tokens, or NULL until asked */
	uint64_t loop[2];   /* byte classes (G_CLASS_*) whose bytes all lead to succ */
	int32_t succ;       /* where most printable ASCII bytes lead (this state
	                       itself inside a free string); 0 none */
	int32_t home;       /* a state whose loop is known, such that every
	                       well-formed rest of the UTF-8 character begun in
	                       decoding state uhome leads from here to it; 0 none */
	uint8_t uhome;
	uint8_t accepting;  /* holds the bottom */
	uint8_t loop_known; /* loop computed */
};

/* Byte classes of the trie's subtree summaries: one per printable ASCII
 * byte, tab, newline, the other control bytes, and the bytes >= 0x80
 * (which loop when every well-formed UTF-8 character does). */
enum {
	G_CLASS_TAB = 95,
	G_CLASS_NL = 96,
	G_CLASS_CTRL = 97,
	G_CLASS_UTF8 = 98,
};

/* UTF-8 decoding states: at a character boundary, expecting 1..3 more
 * continuation bytes (80..BF), or the restricted second byte after E0,
 * ED, F0 and F4. */
enum { G_U_BOUND, G_U_C1, G_U_C2, G_U_C3, G_U_E0, G_U_ED, G_U_F0, G_U_F4, G_U_N };

static inline int
g_byte_class(unsigned char b)
{
	if (b >= 0x20 && b < 0x7F)
		return b - 0x20;
	if (b == '\t')
		return G_CLASS_TAB;
	if (b == '\n')
		return G_CLASS_NL;
	return b < 0x80 ? G_CLASS_CTRL : G_CLASS_UTF8;
}

/* An open-addressing map from a 64-bit key hash to an id; the caller
 * checks the candidate ids for equality. */
struct g_map {
	int32_t *slot;   /* (cap) id + 1, 0 empty */
	size_t cap, n;
};

struct l32_grammar {
	int refs;                 /* holders; freed when the last one lets go */
	char *key;                /* the GBNF text it was compiled from */
	size_t key_len;

	/* the rules (immutable once built) */
	struct g_rule *rule;
	size_t n_rule;
	uint32_t *alt;            /* (n_alt) first element of each alternative */
	size_t n_alt;
	struct g_elem *elem;
	size_t n_elem;
	struct g_byteset *set;
	size_t n_set;
	uint32_t root;
	/* bytes no byte set tells apart share a class, and their transitions */
	uint8_t bclass[256];
	uint8_t bmember[256];     /* bytes sorted by class */
	uint16_t bfirst[257];     /* class c: bmember[bfirst[c] .. bfirst[c + 1]) */

	/* the automaton, built as it is used */
	struct g_stack *stack;
	size_t n_stack, cap_stack;
	struct g_map stack_map;
	int32_t *spool;           /* stacks of all states */
	size_t n_spool, cap_spool;
	struct g_state *state;
	size_t n_state, cap_state;
	struct g_map state_map;
	int32_t start;            /* -1 until computed */
	/* scratch of a transition */
	int32_t *scratch;
	size_t n_scratch, cap_scratch;
	uint32_t *seen;           /* (cap_seen) generation-stamped set of expansions */
	uint64_t *seen_key;
	size_t cap_seen;
	uint32_t seen_gen;
	size_t n_seen;            /* marks in this step */
	int redo;                 /* the seen table filled: run the step again, bigger */

	/* masks */
	const struct l32_vocab_trie *mask_trie; /* masks below are for it */
	size_t n_masks;
	int32_t *walk_state;      /* scratch of the trie walk, per depth */
	size_t walk_cap;
};

/* ---- building rules (gbnf.c) */
/* Checks the rules: every name defined, no left recursion. */
int g_check(struct l32_grammar *g, struct l32_err *err);

/* ---- numbers between bounds (numrange.c) */
/* Appends a GBNF group of the integers in [lo, hi] (has_lo, has_hi: which
 * bounds there are); 0 when none qualify. */
int g_int_range(struct l32_buf *b, int has_lo, long long lo, int has_hi, long long hi);
/* The same for numbers without an exponent; lk, hk: 0 no bound, 1
 * inclusive, 2 exclusive. */
int g_num_range(struct l32_buf *b, int lk, double lo, int hk, double hi);

/* ---- JSON Schema patterns (regex.c) */
/* Appends to out a GBNF expression for the JSON string contents in which
 * the pattern finds a match; any names the rule of one string character.
 * -1 with *why set when the pattern is outside the supported subset. */
int g_regex_gbnf(const char *pat, size_t len, const char *any, struct l32_buf *out,
    const char **why);

/* ---- the automaton (grammar.c) */
/* The state after byte b from st (0 = dead); -1 when memory runs out. */
int32_t g_step_slow(struct l32_grammar *g, int32_t st, unsigned char b);

static inline int32_t
g_step(struct l32_grammar *g, int32_t st, unsigned char b)
{
	int32_t *nx = g->state[st].next;

	if (nx != NULL && nx[b] >= 0)
		return nx[b];
	return g_step_slow(g, st, b);
}

/* Frees the masks of every state (when they were made for another trie,
 * or too many are held). */
void g_masks_drop(struct l32_grammar *g);

/* ---- the trie (vocab_trie.c) */
/* Nodes in depth-first order; node 0 is the root (no byte). */
struct l32_vocab_trie {
	int32_t n_vocab;
	size_t n_node;
	uint8_t *byte;     /* (n_node) byte on the edge into the node */
	uint16_t *depth;   /* (n_node) root 0 */
	uint32_t *skip;    /* (n_node) first node after the node's subtree */
	uint64_t (*sub)[2];/* (n_node) classes of the bytes on the node's edge and below */
	uint16_t *height;  /* (n_node) bytes on the longest path from the node's edge down */
	uint8_t *wf;       /* (n_node) bit u: every path from the node's edge down is
	                      well-formed UTF-8 (maybe cut short) from decoding state u */
	uint32_t *t0;      /* (n_node + 1) tokens ending at node i: toks[t0[i] .. t0[i + 1]),
	                      so those of its subtree are toks[t0[i] .. t0[skip[i]]) */
	int32_t *toks;     /* ordinary token ids in depth-first order */
	int32_t *stop;     /* the tokenizer's stop tokens */
	size_t n_stop;
	size_t max_depth;
};

/* Grows array *p of *cap elements of size bytes to hold need, doubling
 * (from 8); -1 out of memory, *p unchanged. */
int l32_grammar_grow(void **p, size_t *cap, size_t need, size_t size);

#endif /* L32_GRAMMAR_INT_H */
