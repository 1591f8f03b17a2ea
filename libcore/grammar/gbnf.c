/*
 * gbnf.c - the GBNF parser: llama.cpp's grammar format turned into the
 * byte-level rules of grammar_int.h.
 *
 *     root  ::= "{" ws pair ("," ws pair)* "}"   # a comment
 *     pair  ::= [a-z]+ ":" [0-9]{1,3}
 *
 * Groups and repetitions become rules of their own, as llama.cpp does:
 * x* is R ::= x R | (empty), x+ is x x*, x? is R ::= x | (empty), x{m,n}
 * is m copies of x then n - m nested optionals.  A repetition applies to
 * the last symbol: an element, a group, or a whole "literal".  A rule ends
 * at the end of its line unless inside parentheses or after |.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_int.h"

#define MAX_REPEAT 4096      /* n of x{m,n} */
#define MAX_DEPTH 256        /* nested parentheses */
#define MAX_RULES (1u << 16) /* rules, counting groups and repetitions */

struct b_alt {
	struct g_elem *e;
	size_t n, cap;
};

struct b_rule {
	char *name;
	struct b_alt *alt;
	size_t n_alt, cap_alt;
	int defined;
	size_t at;            /* offset of the first reference, for "undefined" */
};

struct parser {
	const char *s, *p, *end;
	struct b_rule *rule;
	size_t n_rule, cap_rule;
	int32_t *slot;        /* (cap_slot) names to rule index + 1, 0 empty */
	size_t cap_slot;
	struct g_byteset *set;
	size_t n_set, cap_set;
	int32_t single[256];  /* set index of each one-byte set, or -1 */
	const char *cur;      /* rule being parsed, for messages */
	int depth;
	struct l32_err *err;
};

/* ------------------------------------------------------------- messages */

static void
where(const struct parser *ps, const char *at, size_t *line, size_t *col)
{
	const char *q;

	*line = 1;
	*col = 1;
	for (q = ps->s; q < at && q < ps->end; q++) {
		if (*q == '\n') {
			(*line)++;
			*col = 1;
		} else
			(*col)++;
	}
}

static int
fail(struct parser *ps, const char *at, const char *what)
{
	size_t line, col;

	where(ps, at, &line, &col);
	if (ps->cur != NULL)
		l32_err_set(ps->err, L32_ERR_INVALID, "grammar: rule '%s', line %zu column %zu: %s",
		    ps->cur, line, col, what);
	else
		l32_err_set(ps->err, L32_ERR_INVALID, "grammar: line %zu column %zu: %s", line, col, what);
	return -1;
}

static int
nomem(struct parser *ps)
{
	return l32_err_set(ps->err, L32_ERR_NOMEM, "grammar: out of memory");
}

/* ---------------------------------------------------------------- rules */

static uint64_t
name_hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

/* Adds rule i to the name table, growing it to stay under half full. */
static int
slot_add(struct parser *ps, int32_t i)
{
	size_t j, k, cap;
	int32_t *t;

	if ((ps->n_rule + 1) * 2 > ps->cap_slot) {
		cap = ps->cap_slot ? ps->cap_slot * 2 : 256;
		if ((t = calloc(cap, sizeof(*t))) == NULL)
			return -1;
		for (k = 0; k < ps->cap_slot; k++)
			if (ps->slot[k] != 0) {
				const char *nm = ps->rule[ps->slot[k] - 1].name;

				for (j = name_hash(nm, strlen(nm)) & (cap - 1); t[j] != 0; j = (j + 1) & (cap - 1))
					;
				t[j] = ps->slot[k];
			}
		free(ps->slot);
		ps->slot = t;
		ps->cap_slot = cap;
	}
	for (j = name_hash(ps->rule[i].name, strlen(ps->rule[i].name)) & (ps->cap_slot - 1);
	    ps->slot[j] != 0; j = (j + 1) & (ps->cap_slot - 1))
		;
	ps->slot[j] = i + 1;
	return 0;
}

/* A new rule of that name (names of generated rules hold a '.', so they
 * never meet the user's). */
static int32_t
rule_new(struct parser *ps, const char *name, size_t n, const char *at)
{
	struct b_rule *r;

	if (ps->n_rule >= MAX_RULES)
		return fail(ps, at, "the grammar has more than 65536 rules (counting groups and repetitions)");
	if (l32_grammar_grow((void **)&ps->rule, &ps->cap_rule, ps->n_rule + 1, sizeof(*ps->rule)) == -1)
		return nomem(ps);
	r = &ps->rule[ps->n_rule];
	memset(r, 0, sizeof(*r));
	if ((r->name = strndup(name, n)) == NULL || slot_add(ps, (int32_t)ps->n_rule) == -1)
		return nomem(ps);
	r->at = (size_t)(at - ps->s);
	return (int32_t)ps->n_rule++;
}

/* The index of rule name[0..n), made (undefined) on first use. */
static int32_t
rule_get(struct parser *ps, const char *name, size_t n, const char *at)
{
	size_t j;
	const char *nm;

	if (ps->cap_slot > 0)
		for (j = name_hash(name, n) & (ps->cap_slot - 1); ps->slot[j] != 0; j = (j + 1) & (ps->cap_slot - 1)) {
			nm = ps->rule[ps->slot[j] - 1].name;
			if (strlen(nm) == n && memcmp(nm, name, n) == 0)
				return ps->slot[j] - 1;
		}
	return rule_new(ps, name, n, at);
}

/* A new rule named after the current one, for a group or repetition. */
static int32_t
rule_anon(struct parser *ps)
{
	char name[160];

	snprintf(name, sizeof(name), "%.120s.%zu", ps->cur ? ps->cur : "g", ps->n_rule);
	return rule_new(ps, name, strlen(name), ps->p);
}

static struct b_alt *
alt_new(struct parser *ps, int32_t r)
{
	struct b_rule *rr = &ps->rule[r];

	if (l32_grammar_grow((void **)&rr->alt, &rr->cap_alt, rr->n_alt + 1, sizeof(*rr->alt)) == -1)
		return NULL;
	memset(&rr->alt[rr->n_alt], 0, sizeof(*rr->alt));
	return &rr->alt[rr->n_alt++];
}

static int
alt_push(struct parser *ps, struct b_alt *a, enum g_kind kind, uint32_t arg)
{
	if (l32_grammar_grow((void **)&a->e, &a->cap, a->n + 1, sizeof(*a->e)) == -1)
		return nomem(ps);
	a->e[a->n].kind = kind;
	a->e[a->n].arg = arg;
	a->n++;
	return 0;
}

static int32_t
set_add(struct parser *ps, const struct g_byteset *s)
{
	size_t i;

	for (i = 0; i < ps->n_set; i++)
		if (memcmp(&ps->set[i], s, sizeof(*s)) == 0)
			return (int32_t)i;
	if (l32_grammar_grow((void **)&ps->set, &ps->cap_set, ps->n_set + 1, sizeof(*ps->set)) == -1)
		return nomem(ps);
	ps->set[ps->n_set] = *s;
	return (int32_t)ps->n_set++;
}

static int32_t
set_range(struct parser *ps, unsigned lo, unsigned hi)
{
	struct g_byteset s = { { 0 } };
	unsigned b;
	int32_t i;

	if (lo == hi && ps->single[lo] >= 0)
		return ps->single[lo];
	for (b = lo; b <= hi; b++)
		s.w[b >> 6] |= 1ull << (b & 63);
	i = set_add(ps, &s);
	if (lo == hi && i >= 0)
		ps->single[lo] = i;
	return i;
}

static int
push_bytes(struct parser *ps, struct b_alt *a, const char *s, size_t n)
{
	int32_t k;
	size_t i;

	for (i = 0; i < n; i++)
		if ((k = set_range(ps, (unsigned char)s[i], (unsigned char)s[i])) < 0 ||
		    alt_push(ps, a, G_BYTES, (uint32_t)k) == -1)
			return -1;
	return 0;
}

/* ------------------------------------------------------ character classes */

struct cp_range {
	uint32_t lo, hi;
};

static size_t
utf8_put(uint32_t c, unsigned char *o)
{
	if (c < 0x80) {
		o[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		o[0] = (unsigned char)(0xC0 | c >> 6);
		o[1] = (unsigned char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		o[0] = (unsigned char)(0xE0 | c >> 12);
		o[1] = (unsigned char)(0x80 | (c >> 6 & 0x3F));
		o[2] = (unsigned char)(0x80 | (c & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | c >> 18);
	o[1] = (unsigned char)(0x80 | (c >> 12 & 0x3F));
	o[2] = (unsigned char)(0x80 | (c >> 6 & 0x3F));
	o[3] = (unsigned char)(0x80 | (c & 0x3F));
	return 4;
}

/* Adds to rule r alternatives matching the UTF-8 encodings of the code
 * points lo..hi (all of one encoded length or split until they are), each
 * a run of byte ranges. */
static int
utf8_split(struct parser *ps, int32_t r, uint32_t lo, uint32_t hi)
{
	static const uint32_t top[] = { 0x7F, 0x7FF, 0xFFFF, 0x10FFFF };
	unsigned char a[4], b[4];
	struct b_alt *alt;
	uint32_t m;
	size_t i, n;
	int32_t k;

	for (i = 0; i < 3; i++)
		if (lo <= top[i] && hi > top[i])
			return utf8_split(ps, r, lo, top[i]) == -1 ? -1 : utf8_split(ps, r, top[i] + 1, hi);
	for (i = 1; i < 4; i++) {
		m = (1u << (6 * i)) - 1;
		if ((lo & ~m) != (hi & ~m)) {
			if ((lo & m) != 0)
				return utf8_split(ps, r, lo, lo | m) == -1 ? -1 :
				    utf8_split(ps, r, (lo | m) + 1, hi);
			if ((hi & m) != m)
				return utf8_split(ps, r, lo, (hi & ~m) - 1) == -1 ? -1 :
				    utf8_split(ps, r, hi & ~m, hi);
		}
	}
	n = utf8_put(lo, a);
	utf8_put(hi, b);
	if ((alt = alt_new(ps, r)) == NULL)
		return nomem(ps);
	for (i = 0; i < n; i++)
		if ((k = set_range(ps, a[i], b[i])) < 0 || alt_push(ps, alt, G_BYTES, (uint32_t)k) == -1)
			return -1;
	return 0;
}

static int
cp_cmp(const void *a, const void *b)
{
	const struct cp_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* Appends to alternative a the element for a class of code point ranges:
 * one byte set when it is all ASCII, else a rule of UTF-8 alternatives.
 * Surrogates are never matched. */
static int
push_class(struct parser *ps, int32_t owner, size_t alt_i, struct cp_range *rg, size_t n,
    int negate)
{
	struct cp_range sorted[512], out[520];
	struct g_byteset ascii = { { 0 } };
	size_t i, m = 0, k = 0;
	uint32_t next = 0, lo, hi, c;
	int32_t r, s;
	struct b_alt *alt;

	memcpy(sorted, rg, n * sizeof(*rg));
	qsort(sorted, n, sizeof(*sorted), cp_cmp);
	for (i = 0; i < n; i++) {  /* merge */
		if (m > 0 && sorted[i].lo <= out[m - 1].hi + 1) {
			if (sorted[i].hi > out[m - 1].hi)
				out[m - 1].hi = sorted[i].hi;
		} else
			out[m++] = sorted[i];
	}
	if (negate) {  /* the complement in 0..0x10FFFF */
		for (i = 0; i < m; i++) {
			if (out[i].lo > next)
				sorted[k++] = (struct cp_range){ next, out[i].lo - 1 };
			next = out[i].hi + 1;
		}
		if (next <= 0x10FFFF)
			sorted[k++] = (struct cp_range){ next, 0x10FFFF };
		memcpy(out, sorted, k * sizeof(*out));
		m = k;
	}
	k = 0;
	for (i = 0; i < m; i++) {
		for (c = out[i].lo; c <= out[i].hi && c < 0x80; c++)
			ascii.w[c >> 6] |= 1ull << (c & 63);
		if (out[i].hi >= 0x80)
			k++;
	}
	if (k == 0) {
		if ((s = set_add(ps, &ascii)) < 0)
			return -1;
		return alt_push(ps, &ps->rule[owner].alt[alt_i], G_BYTES, (uint32_t)s);
	}
	if ((r = rule_anon(ps)) < 0)
		return -1;
	ps->rule[r].defined = 1;
	if (ascii.w[0] | ascii.w[1]) {
		if ((s = set_add(ps, &ascii)) < 0 || (alt = alt_new(ps, r)) == NULL ||
		    alt_push(ps, alt, G_BYTES, (uint32_t)s) == -1)
			return s < 0 ? -1 : nomem(ps);
	}
	for (i = 0; i < m; i++) {
		lo = out[i].lo < 0x80 ? 0x80 : out[i].lo;
		hi = out[i].hi;
		if (hi < 0x80)
			continue;
		/* cut out the surrogates D800..DFFF */
		if (lo < 0xD800 && hi >= 0xD800) {
			if (utf8_split(ps, r, lo, 0xD7FF) == -1)
				return -1;
			lo = 0xE000;
		} else if (lo >= 0xD800 && lo <= 0xDFFF)
			lo = 0xE000;
		if (lo <= hi && utf8_split(ps, r, lo, hi) == -1)
			return -1;
	}
	if (ps->rule[r].n_alt == 0)
		return fail(ps, ps->p, "the character class matches nothing");
	return alt_push(ps, &ps->rule[owner].alt[alt_i], G_RULE, (uint32_t)r);
}

/* --------------------------------------------------------------- lexing */

static int
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '_';
}

/* Skips blanks and comments; newlines too when nl is set. */
static void
skip_space(struct parser *ps, int nl)
{
	while (ps->p < ps->end) {
		char c = *ps->p;

		if (c == ' ' || c == '\t' || c == '\r')
			ps->p++;
		else if (c == '\n' && nl)
			ps->p++;
		else if (c == '#') {
			while (ps->p < ps->end && *ps->p != '\n')
				ps->p++;
		} else
			break;
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads one character of a literal or class: a UTF-8 sequence or an
 * escape; its code point in *cp. */
static int
read_char(struct parser *ps, uint32_t *cp)
{
	const char *at = ps->p;
	int n = 0, i, h;
	uint32_t v = 0;

	if (ps->p >= ps->end)
		return fail(ps, at, "unexpected end of the grammar");
	if (*ps->p != '\\') {
		n = l32_utf8_decode((const unsigned char *)ps->p, (size_t)(ps->end - ps->p), cp);
		if (n <= 0)
			return fail(ps, at, "invalid UTF-8");
		ps->p += n;
		return 0;
	}
	if (++ps->p >= ps->end)
		return fail(ps, at, "unfinished escape");
	switch (*ps->p++) {
	case 'x': n = 2; break;
	case 'u': n = 4; break;
	case 'U': n = 8; break;
	case 'n': *cp = '\n'; return 0;
	case 't': *cp = '\t'; return 0;
	case 'r': *cp = '\r'; return 0;
	case '0': *cp = 0; return 0;
	case '\\': case '"': case '\'': case '[': case ']': case '-': case '/': case '^':
		*cp = (unsigned char)ps->p[-1];
		return 0;
	default:
		return fail(ps, at, "unknown escape");
	}
	for (i = 0; i < n; i++) {
		if (ps->p >= ps->end || (h = hexval(*ps->p)) < 0)
			return fail(ps, at, "bad hexadecimal escape");
		v = v << 4 | (uint32_t)h;
		ps->p++;
	}
	if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return fail(ps, at, "escape is not a Unicode scalar value");
	*cp = v;
	return 0;
}

/* ---------------------------------------------------------------- parse */

static int parse_alts(struct parser *ps, int32_t r);

static int
parse_literal(struct parser *ps, struct b_alt **a, int32_t owner, size_t alt_i)
{
	unsigned char u[4];
	uint32_t cp;

	ps->p++;  /* the quote */
	while (ps->p < ps->end && *ps->p != '"') {
		if (read_char(ps, &cp) == -1)
			return -1;
		if (push_bytes(ps, &ps->rule[owner].alt[alt_i], (const char *)u, utf8_put(cp, u)) == -1)
			return -1;
	}
	if (ps->p >= ps->end)
		return fail(ps, ps->p, "unterminated string literal");
	ps->p++;
	*a = &ps->rule[owner].alt[alt_i];
	return 0;
}

static int
parse_class(struct parser *ps, int32_t owner, size_t alt_i)
{
	struct cp_range rg[512];
	size_t n = 0;
	int negate = 0;
	uint32_t lo, hi;
	const char *at = ps->p;

	ps->p++;
	if (ps->p < ps->end && *ps->p == '^') {
		negate = 1;
		ps->p++;
	}
	while (ps->p < ps->end && *ps->p != ']') {
		if (read_char(ps, &lo) == -1)
			return -1;
		hi = lo;
		if (ps->p + 1 < ps->end && *ps->p == '-' && ps->p[1] != ']') {
			ps->p++;
			if (read_char(ps, &hi) == -1)
				return -1;
			if (hi < lo)
				return fail(ps, at, "character range out of order");
		}
		if (n == sizeof(rg) / sizeof(rg[0]))
			return fail(ps, at, "character class has too many ranges");
		rg[n++] = (struct cp_range){ lo, hi };
	}
	if (ps->p >= ps->end)
		return fail(ps, at, "unterminated character class");
	ps->p++;
	if (n == 0 && !negate)
		return fail(ps, at, "empty character class");
	return push_class(ps, owner, alt_i, rg, n, negate);
}

static int
parse_count(struct parser *ps, long *v)
{
	long x = 0;

	if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
		return fail(ps, ps->p, "expected a number");
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		x = x * 10 + (*ps->p++ - '0');
		if (x > MAX_REPEAT)
			return fail(ps, ps->p, "repetition count too large");
	}
	*v = x;
	return 0;
}

/* Replaces elements [start, n) of the alternative by their repetition
 * min..max times (max -1: unbounded). */
static int
repeat(struct parser *ps, int32_t owner, size_t alt_i, size_t start, long min, long max)
{
	struct b_alt *a = &ps->rule[owner].alt[alt_i], *x;
	struct g_elem sym;
	int32_t r, prev = -1;
	long i;

	if (a->n - start > 1) {  /* a literal: make it one rule */
		if ((r = rule_anon(ps)) < 0 || (x = alt_new(ps, r)) == NULL)
			return r < 0 ? -1 : nomem(ps);
		ps->rule[r].defined = 1;
		a = &ps->rule[owner].alt[alt_i];
		for (i = (long)start; i < (long)a->n; i++)
			if (alt_push(ps, x, a->e[i].kind, a->e[i].arg) == -1)
				return -1;
		sym.kind = G_RULE;
		sym.arg = (uint32_t)r;
	} else
		sym = a->e[start];
	a->n = start;
	for (i = 0; i < min; i++)
		if (alt_push(ps, &ps->rule[owner].alt[alt_i], sym.kind, sym.arg) == -1)
			return -1;
	if (max == min)
		return 0;
	if (max < 0) {  /* R ::= sym R | (empty) */
		if ((r = rule_anon(ps)) < 0 || (x = alt_new(ps, r)) == NULL)
			return r < 0 ? -1 : nomem(ps);
		ps->rule[r].defined = 1;
		if (alt_push(ps, x, sym.kind, sym.arg) == -1 || alt_push(ps, x, G_RULE, (uint32_t)r) == -1 ||
		    alt_new(ps, r) == NULL)
			return -1;
		return alt_push(ps, &ps->rule[owner].alt[alt_i], G_RULE, (uint32_t)r);
	}
	/* max - min nested optionals: R_k ::= sym R_{k-1} | (empty) */
	for (i = 0; i < max - min; i++) {
		if ((r = rule_anon(ps)) < 0 || (x = alt_new(ps, r)) == NULL)
			return r < 0 ? -1 : nomem(ps);
		ps->rule[r].defined = 1;
		if (alt_push(ps, x, sym.kind, sym.arg) == -1 ||
		    (prev >= 0 && alt_push(ps, x, G_RULE, (uint32_t)prev) == -1) || alt_new(ps, r) == NULL)
			return -1;
		prev = r;
	}
	return alt_push(ps, &ps->rule[owner].alt[alt_i], G_RULE, (uint32_t)prev);
}

/* One alternative: a sequence of symbols and their repetitions. */
static int
parse_seq(struct parser *ps, int32_t r, int nested)
{
	size_t alt_i, start;
	struct b_alt *a;
	const char *name, *at;
	int32_t sub;
	long min, max;

	if (alt_new(ps, r) == NULL)
		return nomem(ps);
	alt_i = ps->rule[r].n_alt - 1;
	for (;;) {
		skip_space(ps, nested);
		if (ps->p >= ps->end)
			break;
		a = &ps->rule[r].alt[alt_i];
		start = a->n;
		at = ps->p;
		if (*ps->p == '"') {
			if (parse_literal(ps, &a, r, alt_i) == -1)
				return -1;
		} else if (*ps->p == '[') {
			if (parse_class(ps, r, alt_i) == -1)
				return -1;
		} else if (*ps->p == '.') {
			struct cp_range any = { 0, 0x10FFFF };

			ps->p++;
			if (push_class(ps, r, alt_i, &any, 1, 0) == -1)
				return -1;
		} else if (*ps->p == '(') {
			if (++ps->depth > MAX_DEPTH)
				return fail(ps, at, "parentheses nested too deep");
			ps->p++;
			if ((sub = rule_anon(ps)) < 0)
				return -1;
			ps->rule[sub].defined = 1;
			if (parse_alts(ps, sub) == -1)
				return -1;
			skip_space(ps, 1);
			if (ps->p >= ps->end || *ps->p != ')')
				return fail(ps, at, "unclosed parenthesis");
			ps->p++;
			ps->depth--;
			if (alt_push(ps, &ps->rule[r].alt[alt_i], G_RULE, (uint32_t)sub) == -1)
				return -1;
		} else if (is_name_char(*ps->p)) {
			name = ps->p;
			while (ps->p < ps->end && is_name_char(*ps->p))
				ps->p++;
			/* a name followed by ::= starts the next rule */
			skip_space(ps, 0);
			if (ps->end - ps->p >= 3 && memcmp(ps->p, "::=", 3) == 0) {
				ps->p = name;
				break;
			}
			ps->p = name;
			while (ps->p < ps->end && is_name_char(*ps->p))
				ps->p++;
			if ((sub = rule_get(ps, name, (size_t)(ps->p - name), name)) < 0 ||
			    alt_push(ps, &ps->rule[r].alt[alt_i], G_RULE, (uint32_t)sub) == -1)
				return -1;
		} else
			break;
		/* repetition of the symbol just read */
		skip_space(ps, nested);
		if (ps->p >= ps->end)
			break;
		min = max = -2;
		if (*ps->p == '*')
			min = 0, max = -1;
		else if (*ps->p == '+')
			min = 1, max = -1;
		else if (*ps->p == '?')
			min = 0, max = 1;
		if (min != -2)
			ps->p++;
		else if (*ps->p == '{') {
			ps->p++;
			skip_space(ps, 1);
			if (parse_count(ps, &min) == -1)
				return -1;
			skip_space(ps, 1);
			max = min;
			if (ps->p < ps->end && *ps->p == ',') {
				ps->p++;
				skip_space(ps, 1);
				max = -1;
				if (ps->p < ps->end && *ps->p != '}' && parse_count(ps, &max) == -1)
					return -1;
				skip_space(ps, 1);
			}
			if (ps->p >= ps->end || *ps->p != '}')
				return fail(ps, ps->p, "expected } after the repetition count");
			ps->p++;
			if (max >= 0 && max < min)
				return fail(ps, at, "repetition {m,n} with n < m");
		}
		if (min != -2 && repeat(ps, r, alt_i, start, min, max) == -1)
			return -1;
	}
	return 0;
}

static int
parse_alts(struct parser *ps, int32_t r)
{
	int nested = ps->depth > 0;

	if (parse_seq(ps, r, nested) == -1)
		return -1;
	for (;;) {
		skip_space(ps, nested);
		if (ps->p >= ps->end || *ps->p != '|')
			return 0;
		ps->p++;
		skip_space(ps, 1);
		if (parse_seq(ps, r, nested) == -1)
			return -1;
	}
}

static int
parse_rule(struct parser *ps)
{
	const char *name = ps->p;
	int32_t r;

	while (ps->p < ps->end && is_name_char(*ps->p))
		ps->p++;
	if (ps->p == name)
		return fail(ps, ps->p, "expected a rule name");
	if ((r = rule_get(ps, name, (size_t)(ps->p - name), name)) < 0)
		return -1;
	ps->cur = ps->rule[r].name;
	if (ps->rule[r].defined)
		return fail(ps, name, "rule defined twice");
	ps->rule[r].defined = 1;
	skip_space(ps, 0);
	if (ps->end - ps->p < 3 || memcmp(ps->p, "::=", 3) != 0)
		return fail(ps, ps->p, "expected ::=");
	ps->p += 3;
	skip_space(ps, 1);
	if (parse_alts(ps, r) == -1)
		return -1;
	skip_space(ps, 0);
	if (ps->p < ps->end && *ps->p != '\n')
		return fail(ps, ps->p, *ps->p == ')' ? "unbalanced )" : "unexpected character");
	ps->cur = NULL;
	return 0;
}

/* ------------------------------------------------------------ flattening */

static void
parser_free(struct parser *ps)
{
	size_t i, j;

	for (i = 0; i < ps->n_rule; i++) {
		for (j = 0; j < ps->rule[i].n_alt; j++)
			free(ps->rule[i].alt[j].e);
		free(ps->rule[i].alt);
		free(ps->rule[i].name);
	}
	free(ps->rule);
	free(ps->slot);
	free(ps->set);
}

/* Moves the parsed rules into g's flat arrays. */
static int
flatten(struct parser *ps, struct l32_grammar *g)
{
	size_t i, j, na = 0, ne = 0;

	for (i = 0; i < ps->n_rule; i++) {
		na += ps->rule[i].n_alt;
		for (j = 0; j < ps->rule[i].n_alt; j++)
			ne += ps->rule[i].alt[j].n + 1;
	}
	g->rule = calloc(ps->n_rule ? ps->n_rule : 1, sizeof(*g->rule));
	g->alt = calloc(na ? na : 1, sizeof(*g->alt));
	g->elem = calloc(ne ? ne : 1, sizeof(*g->elem));
	if (g->rule == NULL || g->alt == NULL || g->elem == NULL)
		return nomem(ps);
	for (i = 0; i < ps->n_rule; i++) {
		struct b_rule *b = &ps->rule[i];

		g->rule[i].name = b->name;
		b->name = NULL;
		g->rule[i].first_alt = (uint32_t)g->n_alt;
		g->rule[i].n_alt = (uint32_t)b->n_alt;
		for (j = 0; j < b->n_alt; j++) {
			g->alt[g->n_alt++] = (uint32_t)g->n_elem;
			if (b->alt[j].n > 0)
				memcpy(&g->elem[g->n_elem], b->alt[j].e, b->alt[j].n * sizeof(*g->elem));
			g->n_elem += b->alt[j].n;
			g->elem[g->n_elem].kind = G_END;
			g->elem[g->n_elem++].arg = 0;
		}
	}
	g->n_rule = ps->n_rule;
	g->set = ps->set;
	g->n_set = ps->n_set;
	ps->set = NULL;
	return 0;
}

struct l32_grammar *
l32_grammar_parse_gbnf(const char *text, size_t len, struct l32_err *err)
{
	struct parser ps;
	struct l32_grammar *g;
	size_t i;

	memset(&ps, 0, sizeof(ps));
	ps.s = ps.p = text;
	ps.end = text + len;
	ps.err = err;
	memset(ps.single, -1, sizeof(ps.single));
	for (;;) {
		skip_space(&ps, 1);
		if (ps.p >= ps.end)
			break;
		if (parse_rule(&ps) == -1)
			goto fail;
	}
	ps.cur = NULL;
	for (i = 0; i < ps.n_rule; i++)
		if (!ps.rule[i].defined) {
			size_t line, col;

			where(&ps, ps.s + ps.rule[i].at, &line, &col);
			l32_err_set(err, L32_ERR_INVALID, "grammar: line %zu column %zu: rule '%s' is used but not defined",
			    line, col, ps.rule[i].name);
			goto fail;
		}
	for (i = 0; i < ps.n_rule && strcmp(ps.rule[i].name, "root") != 0; i++)
		;
	if (i == ps.n_rule) {
		l32_err_set(err, L32_ERR_INVALID, "grammar: no rule named 'root'");
		goto fail;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		nomem(&ps);
		goto fail;
	}
	g->refs = 1;
	g->root = (uint32_t)i;
	g->start = -1;
	if ((g->key = malloc(len + 1)) == NULL) {
		nomem(&ps);
		parser_free(&ps);
		free(g);
		return NULL;
	}
	memcpy(g->key, text, len);
	g->key[len] = '\0';
	g->key_len = len;
	if (flatten(&ps, g) == -1 || g_check(g, err) == -1) {
		parser_free(&ps);
		l32_grammar_free(g);
		return NULL;
	}
	parser_free(&ps);
	return g;
fail:
	parser_free(&ps);
	return NULL;
}

char *
l32_grammar_read_gbnf(const char *path, struct l32_err *err)
{
	struct l32_buf b = { 0 };
	struct l32_grammar *g;
	char chunk[8192];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (l32_buf_append(&b, chunk, n) == -1)
			break;
	if (ferror(f) || b.data == NULL) {
		l32_err_set(err, ferror(f) ? L32_ERR_IO : L32_ERR_INVALID, "%s: %s", path,
		    ferror(f) ? strerror(errno) : "the file is empty");
		fclose(f);
		l32_buf_free(&b);
		return NULL;
	}
	fclose(f);
	if ((g = l32_grammar_parse_gbnf(b.data, b.len, err)) == NULL) {
		char msg[sizeof(err->msg)];

		strlcpy(msg, err->msg, sizeof(msg));
		l32_err_set(err, err->kind, "%.200s: %.800s", path, msg);
		l32_buf_free(&b);
		return NULL;
	}
	l32_grammar_free(g);
	return b.data;
}
