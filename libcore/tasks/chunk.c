/*
 * chunk.c - cutting a text into chunks that fit a token budget, at the
 * largest boundaries that allow it.
 *
 * The text is first cut into units: paragraphs (up to a blank line) that
 * fit the budget; a paragraph that does not is cut into lines, a line into
 * sentences, a sentence into words, a word (a very long run of non-space)
 * between tokens.  Units are then packed in order, as many to a chunk as
 * fit.  Units are counted one by one, and a chunk's count can differ from
 * their sum where tokens would merge across a cut, so each chunk is counted
 * again as it will be sent (trimmed) and given back units until it fits.
 */
#include <stdlib.h>
#include <string.h>

#include "tasks/l32_tasks.h"

enum level { LV_PARAGRAPH, LV_LINE, LV_SENTENCE, LV_WORD };

struct cutter {
	const struct l32_tokenizer *tok;
	const char *text;
	int32_t max;
	unsigned flags;
	struct l32_tokens ids;     /* scratch */
	struct l32_span *units;    /* (nunits) */
	size_t nunits, cap;
	struct l32_err *err;
};

static int
space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int
count(struct cutter *c, size_t off, size_t len, int32_t *n)
{
	c->ids.n = 0;
	if (l32_tokenize(c->tok, c->text + off, len, c->flags, &c->ids, c->err) == -1)
		return -1;
	*n = (int32_t)c->ids.n;
	return 0;
}

static int
push(struct l32_span **v, size_t *n, size_t *cap, size_t off, size_t len, int32_t tokens)
{
	struct l32_span *p;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		if ((p = reallocarray(*v, *cap, sizeof(**v))) == NULL)
			return -1;
		*v = p;
	}
	(*v)[(*n)++] = (struct l32_span){ off, len, tokens };
	return 0;
}

/* Counts text[off, off + len) and adds it as a unit. */
static int
add_unit(struct cutter *c, size_t off, size_t len)
{
	int32_t n;

	if (count(c, off, len, &n) == -1)
		return -1;
	if (push(&c->units, &c->nunits, &c->cap, off, len, n) == -1)
		return l32_err_set(c->err, L32_ERR_NOMEM, "out of memory");
	return 0;
}

/* ----------------------------------------------------------- boundaries */

/* The end of a run of white space starting at i. */
static size_t
skip_space(const char *t, size_t i, size_t end)
{
	while (i < end && space((unsigned char)t[i]))
		i++;
	return i;
}

/* Where the segment starting at off ends at this level: just after its
 * separator (which stays with it), or end. */
static size_t
segment_end(const char *t, size_t off, size_t end, enum level lv)
{
	size_t i, j, nl;

	for (i = off; i < end; i++) {
		unsigned char ch = (unsigned char)t[i];

		switch (lv) {
		case LV_PARAGRAPH:  /* white space holding two newlines */
			if (ch != '\n')
				break;
			for (j = i, nl = 0; j < end && space((unsigned char)t[j]); j++)
				nl += t[j] == '\n';
			if (nl >= 2)
				return j;
			i = j > i ? j - 1 : i;
			break;
		case LV_LINE:
			if (ch == '\n')
				return skip_space(t, i, end);
			break;
		case LV_SENTENCE:   /* . ! ? (and closing quotes) before a space */
			if (i + 3 <= end && (memcmp(t + i, "\xe3\x80\x82", 3) == 0 ||
			    memcmp(t + i, "\xef\xbc\x81", 3) == 0 || memcmp(t + i, "\xef\xbc\x9f", 3) == 0))
				return skip_space(t, i + 3, end);
			if (ch != '.' && ch != '!' && ch != '?')
				break;
			for (j = i + 1; j < end && strchr("\"')]", t[j]) != NULL; j++)
				;
			if (j < end && space((unsigned char)t[j]))
				return skip_space(t, j, end);
			break;
		case LV_WORD:
			if (space(ch) && i > off)
				return skip_space(t, i, end);
			break;
		}
	}
	return end;
}

/* -------------------------------------------------------------- units */

/* Cuts [off, end) between tokens into pieces a few tokens under max (a cut
 * moved back to a UTF-8 character boundary hands its bytes on to the next
 * piece), each ending on a character boundary. */
static int
cut_tokens(struct cutter *c, size_t off, size_t end)
{
	struct l32_tokens ids = { 0 };
	size_t i, pos = off, cut, start = off, blen;
	size_t step = (size_t)(c->max > 8 ? c->max - 4 : c->max / 2);
	int rc = -1;

	if (l32_tokenize(c->tok, c->text + off, end - off, c->flags, &ids, c->err) == -1)
		return -1;
	for (i = 0; i < ids.n; i++) {
		l32_token_bytes(c->tok, ids.ids[i], &blen);
		pos += blen;
		if ((i + 1) % step != 0 || i + 1 == ids.n)
			continue;
		cut = pos < end ? pos : end;
		while (cut > start + 1 && cut < end && ((unsigned char)c->text[cut] & 0xc0) == 0x80)
			cut--;
		if (add_unit(c, start, cut - start) == -1)
			goto out;
		start = cut;
	}
	if (start < end && add_unit(c, start, end - start) == -1)
		goto out;
	rc = 0;
out:
	l32_tokens_free(&ids);
	return rc;
}

static int
make_units(struct cutter *c, size_t off, size_t end, enum level lv)
{
	size_t e;
	int32_t n;

	for (; off < end; off = e) {
		e = segment_end(c->text, off, end, lv);
		if (count(c, off, e - off, &n) == -1)
			return -1;
		if (n <= c->max) {
			if (push(&c->units, &c->nunits, &c->cap, off, e - off, n) == -1)
				return l32_err_set(c->err, L32_ERR_NOMEM, "out of memory");
		} else if (lv < LV_WORD) {
			if (make_units(c, off, e, lv + 1) == -1)
				return -1;
		} else if (cut_tokens(c, off, e) == -1)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- packing */

/* The chunk of units [i, j) trimmed: *off, *len. */
static void
chunk_of(const struct cutter *c, size_t i, size_t j, size_t *off, size_t *len)
{
	size_t a = c->units[i].off, b = c->units[j - 1].off + c->units[j - 1].len;

	while (a < b && space((unsigned char)c->text[a]))
		a++;
	while (b > a && space((unsigned char)c->text[b - 1]))
		b--;
	*off = a;
	*len = b - a;
}

static int
pack(struct cutter *c, struct l32_span **out, size_t *nout)
{
	size_t i = 0, j, cap = 0, off, len;
	int64_t sum;
	int32_t n;

	*nout = 0;
	while (i < c->nunits) {
		for (j = i, sum = 0; j < c->nunits && sum + c->units[j].n_tokens <= c->max; j++)
			sum += c->units[j].n_tokens;
		if (j == i)
			j = i + 1;
		for (;;) {
			chunk_of(c, i, j, &off, &len);
			if (count(c, off, len, &n) == -1)
				return -1;
			if (n <= c->max || j == i + 1)
				break;
			j--;
		}
		if (n > c->max)   /* one unit that grew when trimmed: cut it finer */
			return l32_err_set(c->err, L32_ERR_INVALID,
			    "chunking: a piece of %d tokens at byte %zu does not fit %d tokens",
			    n, off, c->max);
		if (len > 0 && push(out, nout, &cap, off, len, n) == -1)
			return l32_err_set(c->err, L32_ERR_NOMEM, "out of memory");
		i = j;
	}
	return 0;
}

int
l32_chunk_text(const struct l32_tokenizer *tok, const char *text, size_t len,
    int32_t max_tokens, unsigned flags, struct l32_span **out, size_t *n,
    struct l32_err *err)
{
	struct cutter c = { tok, text, max_tokens, flags & ~(unsigned)L32_TOKENIZE_BOS,
	    { 0 }, NULL, 0, 0, err };
	int rc;

	*out = NULL;
	*n = 0;
	if (max_tokens < 8)
		return l32_err_set(err, L32_ERR_INVALID,
		    "chunking: chunks of %d tokens are too small (at least 8)", max_tokens);
	rc = make_units(&c, 0, len, LV_PARAGRAPH);
	if (rc == 0)
		rc = pack(&c, out, n);
	if (rc == -1) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	free(c.units);
	l32_tokens_free(&c.ids);
	return rc;
}
