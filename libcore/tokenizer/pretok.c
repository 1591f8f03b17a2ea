/*
 * pretok.c - the Llama 3 pre-tokenizer regex as a hand-written matcher, and
 * Meta's chunking of long texts.
 *
 * The regex is tried alternative by alternative at each position, the first
 * that matches wins (backtracking semantics, not longest match); every
 * alternative is a simple run over code point classes, so each one is a
 * loop here.  ASCII is classified by table, the rest through unicode.c.
 */
#include "tokenizer/l32_tokenizer.h"
#include "tokenizer/pretok.h"
#include "base/unicode.h"

/* Classes of a unit as the regex sees it: the L32_UC_* bits. */
#define C_L L32_UC_L   /* \p{L} */
#define C_N L32_UC_N   /* \p{N} */
#define C_S L32_UC_WS  /* \s */
#define C_OTHER(c) (((c) & (C_L | C_N | C_S)) == 0) /* [^\s\p{L}\p{N}] */
#define IS_NL(b) ((b) == '\r' || (b) == '\n')

static size_t
unit_slow(const unsigned char *s, size_t n, size_t i, unsigned *cls)
{
	uint32_t cp;
	int k;

	if ((k = l32_utf8_decode(s + i, n - i, &cp)) == 0) {
		*cls = 0;
		return l32_utf8_bad_len(s + i, n - i);
	}
	*cls = l32_uclass(cp);
	return (size_t)k;
}

/* Length and class of the unit at s[i], i < n. */
static inline size_t
unit(const unsigned char *s, size_t n, size_t i, unsigned *cls)
{
	if (s[i] < 0x80) {
		*cls = l32_uclass_ascii[s[i]];
		return 1;
	}
	return unit_slow(s, n, i, cls);
}

/* End of the run of units from i that have a class bit in want. */
static inline size_t
run_of(const unsigned char *s, size_t n, size_t i, unsigned want)
{
	unsigned c;
	size_t k;

	while (i < n) {
		k = unit(s, n, i, &c);
		if (!(c & want))
			break;
		i += k;
	}
	return i;
}

static size_t
run_other(const unsigned char *s, size_t n, size_t i)
{
	unsigned c;
	size_t k;

	while (i < n) {
		k = unit(s, n, i, &c);
		if (!C_OTHER(c))
			break;
		i += k;
	}
	return i;
}

static inline int
lower(unsigned char b)
{
	return b | 0x20;
}

/* Alt 1, (?i:'s|'t|'re|'ve|'m|'ll|'d) at s[i] == '\'': end, or 0.  Case
 * folding matches ASCII both cases and U+017F (long s) for s. */
static size_t
contraction(const unsigned char *s, size_t n, size_t i)
{
	int a, b;

	if (i + 1 >= n)
		return 0;
	a = lower(s[i + 1]);
	if (s[i + 1] < 0x80 && (a == 's' || a == 't' || a == 'm' || a == 'd'))
		return i + 2;
	if (s[i + 1] == 0xC5 && i + 2 < n && s[i + 2] == 0xBF)
		return i + 3;
	if (i + 2 >= n || s[i + 1] >= 0x80 || s[i + 2] >= 0x80)
		return 0;
	b = lower(s[i + 2]);
	if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
		return i + 3;
	return 0;
}

/* Alts 5-7 on the whitespace run that starts at i. */
static size_t
spaces(const unsigned char *s, size_t n, size_t i)
{
	size_t j = i, last = i, after_nl = 0, k;
	unsigned c;

	while (j < n) {
		k = unit(s, n, j, &c);
		if (!(c & C_S))
			break;
		if (IS_NL(s[j]))
			after_nl = j + k;
		last = j;
		j += k;
	}
	if (after_nl != 0)
		return after_nl;      /* \s*[\r\n]+ up to the last CR/LF */
	if (j == n || last == i)
		return j;             /* \s+(?!\S) at the end, or \s+ of one */
	return last;                  /* \s+(?!\S): leave one for the next piece */
}

size_t
l32_pretok_next(const unsigned char *s, size_t n, size_t i)
{
	unsigned c, c2;
	size_t k, k2, j;

	if (s[i] == '\'' && (j = contraction(s, n, i)) != 0)
		return j;
	k = unit(s, n, i, &c);
	if (c & C_L)
		return run_of(s, n, i + k, C_L);
	if (!(c & C_N) && !IS_NL(s[i]) && i + k < n) {
		k2 = unit(s, n, i + k, &c2);
		if (c2 & C_L)
			return run_of(s, n, i + k + k2, C_L);
	}
	if (c & C_N) {
		j = i + k;
		if (j < n && (k2 = unit(s, n, j, &c2), c2 & C_N)) {
			j += k2;
			if (j < n && (k2 = unit(s, n, j, &c2), c2 & C_N))
				j += k2;
		}
		return j;
	}
	/* Alt 4:  ?[^\s\p{L}\p{N}]+[\r\n]* */
	j = i;
	if (s[i] == ' ' && i + 1 < n && (unit(s, n, i + 1, &c2), C_OTHER(c2)))
		j = i + 1;
	else if (!C_OTHER(c))
		return spaces(s, n, i);
	j = run_other(s, n, j);
	while (j < n && (s[j] == '\r' || s[j] == '\n'))
		j++;
	return j;
}

/* ------------------------------------------------------------- chunking */

void
l32_chunker_init(struct l32_chunker *c, const void *s, size_t n)
{
	c->s = s;
	c->n = n;
	c->pos = 0;
	c->scan = 0;
	c->chunk_end = 0;
	c->space = 0;
	c->run = 0;
}

/* Length and isspace() of the unit at s[i]. */
static inline size_t
py_unit(const unsigned char *s, size_t n, size_t i, int *space)
{
	uint32_t cp;
	int k;

	if (s[i] < 0x80) {
		*space = (l32_uclass_ascii[s[i]] & L32_UC_PYSPACE) != 0;
		return 1;
	}
	if ((k = l32_utf8_decode(s + i, n - i, &cp)) == 0) {
		*space = 0;
		return l32_utf8_bad_len(s + i, n - i);
	}
	*space = (l32_uclass(cp) & L32_UC_PYSPACE) != 0;
	return (size_t)k;
}

/* Sets chunk_end L32_CHUNK_CHARS units on from pos (s[i:i+400000]) and
 * starts a fresh run there, as Meta splits each chunk on its own. */
static void
next_chunk(struct l32_chunker *c)
{
	size_t j = c->pos, count = 0;
	int sp;

	while (j < c->n && count < L32_CHUNK_CHARS) {
		if (c->s[j] < 0x80)
			j++;
		else
			j += py_unit(c->s, c->n, j, &sp);
		count++;
	}
	c->chunk_end = j;
	c->scan = c->pos;
	py_unit(c->s, c->n, c->pos, &c->space);
	c->run = 0;
}

int
l32_chunker_next(struct l32_chunker *c, size_t *start, size_t *end)
{
	size_t j, k;
	int sp;

	if (c->pos >= c->n)
		return 0;
	if (c->pos == c->chunk_end)
		next_chunk(c);
	*start = c->pos;
	for (j = c->scan; j < c->chunk_end; j += k) {
		k = py_unit(c->s, c->n, j, &sp);
		if (sp != c->space) {
			c->space = sp;
			c->run = 1;
		} else if (++c->run > L32_CHUNK_RUN) {
			/* Cut before this unit, which starts the next run. */
			c->run = 1;
			c->pos = j;
			c->scan = j + k;
			*end = j;
			return 1;
		}
	}
	*end = c->chunk_end;
	c->pos = c->scan = c->chunk_end;
	return 1;
}
