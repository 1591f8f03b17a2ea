/*
 * regex.c - the regular expressions of JSON Schema's "pattern", the subset
 * l32 supports, as a GBNF expression over the JSON text of a string's
 * content (so a '"' the pattern allows is written \" and a newline \n).
 *
 * Supported: literal characters; . (any character but newline); classes
 * [...] and [^...] with ranges; the escapes \d \D \w \W \s \S \n \r \t \f
 * \v \xHH \uHHHH and \ before punctuation; groups (...) and (?:...);
 * alternation |; the quantifiers * + ? {m} {m,} {m,n}, greedy or lazy
 * (the same strings either way); ^ at the start and $ at the end.  A
 * pattern is a search, as JSON Schema says: without ^ (or $) any text may
 * come before (or after) the match.  Anything else (backreferences,
 * lookaround, \b, flags, anchors inside) is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_int.h"

#define MAX_RANGES 256
#define MAX_NEST 64
#define MAX_COUNT 1000

struct rx {
	const char *p, *end;
	struct l32_buf *out;
	const char *why;
	int depth;
};

struct cpset {
	struct { uint32_t lo, hi; } r[MAX_RANGES];
	size_t n;
};

static int
rx_fail(struct rx *x, const char *why)
{
	if (x->why == NULL)
		x->why = why;
	return -1;
}

static int
set_add(struct rx *x, struct cpset *s, uint32_t lo, uint32_t hi)
{
	if (s->n == MAX_RANGES)
		return rx_fail(x, "character class too large");
	s->r[s->n].lo = lo;
	s->r[s->n].hi = hi;
	s->n++;
	return 0;
}

static int
range_cmp(const void *a, const void *b)
{
	const uint32_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Sorts and merges; with neg, replaces the set by its complement. */
static void
set_norm(struct cpset *s, int neg)
{
	struct cpset t;
	size_t i, m = 0;
	uint32_t next = 0;

	qsort(s->r, s->n, sizeof(s->r[0]), range_cmp);
	for (i = 0; i < s->n; i++) {
		if (m > 0 && s->r[i].lo <= s->r[m - 1].hi + 1) {
			if (s->r[i].hi > s->r[m - 1].hi)
				s->r[m - 1].hi = s->r[i].hi;
		} else
			s->r[m++] = s->r[i];
	}
	s->n = m;
	if (!neg)
		return;
	t.n = 0;
	for (i = 0; i < s->n; i++) {
		if (s->r[i].lo > next) {
			t.r[t.n].lo = next;
			t.r[t.n++].hi = s->r[i].lo - 1;
		}
		next = s->r[i].hi + 1;
	}
	if (next <= 0x10FFFF) {
		t.r[t.n].lo = next;
		t.r[t.n++].hi = 0x10FFFF;
	}
	*s = t;
}

/* The class shorthands: \d \w \s and their complements. */
static int
shorthand(struct rx *x, char c, struct cpset *s)
{
	struct cpset t = { .n = 0 };

	switch (c | 0x20) {
	case 'd':
		set_add(x, &t, '0', '9');
		break;
	case 'w':
		set_add(x, &t, '0', '9');
		set_add(x, &t, 'A', 'Z');
		set_add(x, &t, 'a', 'z');
		set_add(x, &t, '_', '_');
		break;
	case 's':
		set_add(x, &t, '\t', '\r');
		set_add(x, &t, ' ', ' ');
		break;
	default:
		return 0;
	}
	set_norm(&t, c >= 'A' && c <= 'Z');
	for (size_t i = 0; i < t.n; i++)
		if (set_add(x, s, t.r[i].lo, t.r[i].hi) == -1)
			return -1;
	return 1;
}

/* The JSON text of code point c inside a string, as a GBNF literal. */
static void
emit_cp(struct l32_buf *b, uint32_t c)
{
	static const char short_esc[] = { ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r' };
	unsigned char u[4];
	size_t n;

	if (c == '"')
		l32_buf_puts(b, "\"\\\\\\\"\"");
	else if (c == '\\')
		l32_buf_puts(b, "\"\\\\\\\\\"");
	else if (c < 0x20 && c < sizeof(short_esc) && short_esc[c])
		l32_buf_printf(b, "\"\\\\%c\"", short_esc[c]);
	else if (c < 0x20)
		l32_buf_printf(b, "\"\\\\u%04X\"", c);
	else if (c < 0x80 && c != 0x7F && c != '"' && c != '\\')
		l32_buf_printf(b, "\"%c\"", (int)c);
	else {
		if (c < 0x800) {
			u[0] = (unsigned char)(0xC0 | c >> 6), u[1] = (unsigned char)(0x80 | (c & 0x3F)), n = 2;
		} else if (c < 0x10000) {
			u[0] = (unsigned char)(0xE0 | c >> 12), u[1] = (unsigned char)(0x80 | (c >> 6 & 0x3F));
			u[2] = (unsigned char)(0x80 | (c & 0x3F)), n = 3;
		} else {
			u[0] = (unsigned char)(0xF0 | c >> 18), u[1] = (unsigned char)(0x80 | (c >> 12 & 0x3F));
			u[2] = (unsigned char)(0x80 | (c >> 6 & 0x3F)), u[3] = (unsigned char)(0x80 | (c & 0x3F)), n = 4;
		}
		if (c == 0x7F)
			l32_buf_puts(b, "\"\\x7F\"");
		else {
			l32_buf_puts(b, "\"");
			l32_buf_append(b, u, n);
			l32_buf_puts(b, "\"");
		}
	}
}

/* A set of code points as GBNF: the characters JSON writes as they are in
 * one class, and those it escapes (", \ and the controls) one by one. */
static int
emit_set(struct rx *x, struct l32_buf *b, const struct cpset *s)
{
	size_t i, n = 0;
	uint32_t lo, hi, c;
	int raw = 0;

	l32_buf_puts(b, "(");
	for (i = 0; i < s->n; i++) {
		for (c = s->r[i].lo; c <= s->r[i].hi && c < 0x20; c++) {
			l32_buf_puts(b, n++ ? " | " : " ");
			emit_cp(b, c);
		}
		if (s->r[i].lo <= '"' && s->r[i].hi >= '"') {
			l32_buf_puts(b, n++ ? " | " : " ");
			emit_cp(b, '"');
		}
		if (s->r[i].lo <= '\\' && s->r[i].hi >= '\\') {
			l32_buf_puts(b, n++ ? " | " : " ");
			emit_cp(b, '\\');
		}
	}
	for (i = 0; i < s->n; i++) {
		lo = s->r[i].lo < 0x20 ? 0x20 : s->r[i].lo;
		hi = s->r[i].hi;
		if (lo > hi)
			continue;
		if (!raw)
			l32_buf_puts(b, n++ ? " | [" : " [");
		raw = 1;
		/* the class leaves out " and \ (written escaped above) */
		for (c = lo; c <= hi;) {
			uint32_t end = hi;

			if (c == '"' || c == '\\') {
				c++;
				continue;
			}
			if (c < '"' && end >= '"')
				end = '"' - 1;
			else if (c < '\\' && end >= '\\')
				end = '\\' - 1;
			l32_buf_printf(b, "\\U%08X", c);
			if (end > c)
				l32_buf_printf(b, "-\\U%08X", end);
			if (end == hi)
				break;
			c = end + 1;
		}
	}
	if (raw)
		l32_buf_puts(b, "]");
	l32_buf_puts(b, " )");
	if (n == 0)
		return rx_fail(x, "a character class that matches nothing");
	return 0;
}

static int
hexn(struct rx *x, int n, uint32_t *v)
{
	int i, h;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (x->p >= x->end)
			return rx_fail(x, "bad hexadecimal escape");
		h = *x->p >= '0' && *x->p <= '9' ? *x->p - '0' :
		    (*x->p | 0x20) >= 'a' && (*x->p | 0x20) <= 'f' ? (*x->p | 0x20) - 'a' + 10 : -1;
		if (h < 0)
			return rx_fail(x, "bad hexadecimal escape");
		*v = *v << 4 | (uint32_t)h;
		x->p++;
	}
	return 0;
}

/* One character of a literal or class, after a backslash or not; a class
 * shorthand goes into s (when given) and returns 1. */
static int
read_cp(struct rx *x, uint32_t *cp, struct cpset *s)
{
	int n, r;
	char c;

	if (*x->p != '\\') {
		n = l32_utf8_decode((const unsigned char *)x->p, (size_t)(x->end - x->p), cp);
		if (n <= 0)
			return rx_fail(x, "invalid UTF-8");
		x->p += n;
		return 0;
	}
	if (++x->p >= x->end)
		return rx_fail(x, "a pattern cannot end with a backslash");
	c = *x->p++;
	if (s != NULL && (r = shorthand(x, c, s)) != 0)
		return r;
	switch (c) {
	case 'n': *cp = '\n'; return 0;
	case 'r': *cp = '\r'; return 0;
	case 't': *cp = '\t'; return 0;
	case 'f': *cp = '\f'; return 0;
	case 'v': *cp = '\v'; return 0;
	case 'x': return hexn(x, 2, cp);
	case 'u': return hexn(x, 4, cp);
	}
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return rx_fail(x, "an escape outside the supported subset (\\b, backreferences, \\p, ...)");
	*cp = (unsigned char)c;
	return 0;
}

static int
parse_class(struct rx *x)
{
	struct cpset s = { .n = 0 };
	uint32_t lo, hi;
	int neg = 0, r;

	x->p++;
	if (x->p < x->end && *x->p == '^')
		neg = 1, x->p++;
	while (x->p < x->end && (*x->p != ']' || s.n == 0)) {
		if ((r = read_cp(x, &lo, &s)) == -1)
			return -1;
		if (r == 1)
			continue;
		hi = lo;
		if (x->p + 1 < x->end && *x->p == '-' && x->p[1] != ']') {
			x->p++;
			if ((r = read_cp(x, &hi, NULL)) == -1)
				return -1;
			if (hi < lo)
				return rx_fail(x, "a character range out of order");
		}
		if (set_add(x, &s, lo, hi) == -1)
			return -1;
	}
	if (x->p >= x->end)
		return rx_fail(x, "an unterminated character class");
	x->p++;
	set_norm(&s, neg);
	return emit_set(x, x->out, &s);
}

static int parse_alt(struct rx *x);

static int
parse_atom(struct rx *x)
{
	struct cpset s = { .n = 0 };
	uint32_t cp;
	int r;

	switch (*x->p) {
	case '(':
		if (++x->depth > MAX_NEST)
			return rx_fail(x, "groups nested too deep");
		x->p++;
		if (x->p < x->end && *x->p == '?') {
			if (x->p + 1 < x->end && x->p[1] == ':')
				x->p += 2;
			else
				return rx_fail(x, "lookaround and group flags are not supported");
		}
		l32_buf_puts(x->out, "( ");
		if (parse_alt(x) == -1)
			return -1;
		if (x->p >= x->end || *x->p != ')')
			return rx_fail(x, "an unclosed group");
		x->p++;
		x->depth--;
		l32_buf_puts(x->out, " )");
		return 0;
	case '[':
		return parse_class(x);
	case '.':
		x->p++;
		set_add(x, &s, 0, '\n' - 1);
		set_add(x, &s, '\n' + 1, 0x10FFFF);
		return emit_set(x, x->out, &s);
	case '^': case '$':
		return rx_fail(x, "anchors are supported only at the start and the end");
	case '*': case '+': case '?': case '{':
		return rx_fail(x, "a quantifier with nothing before it");
	case ')':
		return rx_fail(x, "an unbalanced )");
	}
	if ((r = read_cp(x, &cp, &s)) == -1)
		return -1;
	if (r == 1) {
		set_norm(&s, 0);
		return emit_set(x, x->out, &s);
	}
	emit_cp(x->out, cp);
	return 0;
}

static int
read_num(struct rx *x, long *v)
{
	long n = 0;

	if (x->p >= x->end || *x->p < '0' || *x->p > '9')
		return rx_fail(x, "a bad {m,n} quantifier");
	while (x->p < x->end && *x->p >= '0' && *x->p <= '9')
		if ((n = n * 10 + (*x->p++ - '0')) > MAX_COUNT)
			return rx_fail(x, "a repetition count above 1000");
	*v = n;
	return 0;
}

static int
parse_quant(struct rx *x)
{
	long m, n;

	if (x->p >= x->end)
		return 0;
	switch (*x->p) {
	case '*': case '+': case '?':
		l32_buf_printf(x->out, "%c", *x->p++);
		break;
	case '{':
		x->p++;
		if (read_num(x, &m) == -1)
			return -1;
		n = m;
		if (x->p < x->end && *x->p == ',') {
			x->p++;
			n = -1;
			if (x->p < x->end && *x->p != '}' && read_num(x, &n) == -1)
				return -1;
		}
		if (x->p >= x->end || *x->p != '}' || (n >= 0 && n < m))
			return rx_fail(x, "a bad {m,n} quantifier");
		x->p++;
		if (n < 0)
			l32_buf_printf(x->out, "{%ld,}", m);
		else
			l32_buf_printf(x->out, "{%ld,%ld}", m, n);
		break;
	default:
		return 0;
	}
	if (x->p < x->end && *x->p == '?')  /* lazy: the same strings */
		x->p++;
	else if (x->p < x->end && *x->p == '+')
		return rx_fail(x, "possessive quantifiers are not supported");
	if (x->p < x->end && (*x->p == '*' || *x->p == '+' || *x->p == '?' || *x->p == '{'))
		return rx_fail(x, "a quantifier after a quantifier");
	return 0;
}

static int
parse_seq(struct rx *x)
{
	int n = 0;

	while (x->p < x->end && *x->p != '|' && *x->p != ')') {
		if (*x->p == '$' && x->p + 1 == x->end)
			break;  /* the end anchor, handled by the caller */
		/* each item in its own group so a quantifier applies to it */
		l32_buf_puts(x->out, n++ ? " ( " : "( ");
		if (parse_atom(x) == -1)
			return -1;
		l32_buf_puts(x->out, " )");
		if (parse_quant(x) == -1)
			return -1;
	}
	if (n == 0)
		l32_buf_puts(x->out, "\"\"");
	return 0;
}

static int
parse_alt(struct rx *x)
{
	if (parse_seq(x) == -1)
		return -1;
	while (x->p < x->end && *x->p == '|') {
		x->p++;
		l32_buf_puts(x->out, " | ");
		if (parse_seq(x) == -1)
			return -1;
	}
	return 0;
}

/* Appends to out a GBNF expression for the JSON string contents that the
 * pattern finds a match in; any names the rule of one string character,
 * used for what an unanchored pattern lets through around its match.  -1
 * with *why set when the pattern is outside the subset. */
int
g_regex_gbnf(const char *pat, size_t len, const char *any, struct l32_buf *out,
    const char **why)
{
	struct rx x = { pat, pat + len, out, NULL, 0 };
	int start = len > 0 && pat[0] == '^';
	int end = len > 0 && pat[len - 1] == '$' && (len < 2 || pat[len - 2] != '\\');

	if (start)
		x.p++;
	l32_buf_puts(out, "( ");
	if (!start)
		l32_buf_printf(out, "%s* ", any);
	l32_buf_puts(out, "( ");
	if (parse_alt(&x) == -1 || (x.p < x.end && !(end && x.p + 1 == x.end)))
		goto fail;
	l32_buf_puts(out, " )");
	if (!end)
		l32_buf_printf(out, " %s*", any);
	l32_buf_puts(out, " )");
	return 0;
fail:
	if (x.why == NULL)
		x.why = x.p < x.end && *x.p == ')' ? "an unbalanced )" : "anchors are supported only at the start and the end";
	*why = x.why;
	return -1;
}
