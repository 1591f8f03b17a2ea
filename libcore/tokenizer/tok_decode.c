/*
 * tok_decode.c - token ids to bytes and text: whole (UTF-8 with each
 * maximal ill-formed subpart replaced by U+FFFD, as Python's
 * errors="replace") and streaming, which holds back the bytes of a
 * character split across tokens until it completes or proves ill-formed.
 */
#include <stdint.h>
#include <string.h>

#include "tokenizer/l32_tokenizer.h"
#include "tokenizer/tokenizer.h"

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
