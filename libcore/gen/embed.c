/*
 * embed.c - embeddings: inputs packed several to a forward pass, their
 * final normalized hidden states pooled (mean over every token, or the
 * last token's), and the encodings of the result.
 *
 * Batch invariance.  A forward pass computes each token's row with the same
 * arithmetic whatever else is in the pass, as long as every pass takes the
 * same kernels.  Two things choose kernels: the token count of the pass
 * (matmul switches from per-row dot products to BLIS at its GEMM threshold,
 * BLIS from its small-matrix code to its large one at 201 or 512 rows) and
 * the token count of one sequence within the pass (attention).  So every
 * pass holds from the GEMM threshold of its context (padded with a spare
 * sequence when the inputs are fewer tokens) to L32_EMBED_PASS_TOKENS
 * tokens, and an input longer than that is cut at fixed offsets, the same
 * alone or in company.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen/l32_gen.h"

/* An input waiting or being evaluated. */
struct item {
	const struct l32_tokens *in;
	enum l32_pooling pool;
	float *out;               /* (dim) its result */
	int *done;                /* set to 1 when out holds it */
};

struct l32_embedder {
	struct l32_ctx *ctx;
	int32_t dim, n_ctx;
	int32_t n_slots;          /* sequences for inputs; slot n_slots pads */
	int32_t min_tokens;       /* fewest tokens a pass may hold */
	int32_t pad_token;
	long passes;
	/* inputs waiting, first in first out: queue[head .. head + n) */
	struct item *queue;
	size_t head, n, cap;
	/* the inputs in the slots */
	struct item *slot;        /* (n_slots) */
	int32_t *slot_done;       /* (n_slots) tokens evaluated so far; -1 free */
	int32_t *slot_fault;      /* (n_slots) earliest non-finite place among its
	                           * tokens (l32_ctx_fault), 0 none */
	unsigned char *slot_bad;  /* (n_slots) a token it pools went non-finite */
	double *sum;              /* (n_slots, dim) mean pooling: running sums */
	/* the pass being built */
	int32_t *tok, *pos, *seq; /* (PASS) */
	uint8_t *out;             /* (PASS) */
};

struct l32_embedder *
l32_embedder_new(struct l32_model *m, const struct l32_ctx_params *cp, struct l32_err *err)
{
	struct l32_embedder *e;
	struct l32_ctx_params p = *cp;
	const struct l32_hparams *hp = l32_model_hparams(m);
	size_t pass = L32_EMBED_PASS_TOKENS;
	int32_t s;

	if (cp->n_seq < 1) {
		l32_err_set(err, L32_ERR_INVALID, "embeddings: %d inputs per pass", cp->n_seq);
		return NULL;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	e->dim = hp->dim;
	e->n_ctx = cp->n_ctx;
	e->n_slots = cp->n_seq;
	e->pad_token = hp->bos >= 0 ? hp->bos : 0;
	p.n_seq = cp->n_seq + 1;
	p.n_batch = L32_EMBED_PASS_TOKENS;
	if ((e->ctx = l32_ctx_new(m, &p, err)) == NULL) {
		free(e);
		return NULL;
	}
	/* a pass this long or longer runs on BLIS; when none can, every
	 * pass takes the per-row kernels, which are batch-invariant too */
	s = l32_ctx_gemm_tokens(e->ctx);
	e->min_tokens = s > L32_EMBED_PASS_TOKENS ? 0 : s;
	e->slot = calloc((size_t)e->n_slots, sizeof(*e->slot));
	e->slot_done = calloc((size_t)e->n_slots, sizeof(int32_t));
	e->slot_fault = calloc((size_t)e->n_slots, sizeof(int32_t));
	e->slot_bad = calloc((size_t)e->n_slots, 1);
	e->sum = calloc((size_t)e->n_slots * (size_t)e->dim, sizeof(double));
	e->tok = calloc(pass, sizeof(int32_t));
	e->pos = calloc(pass, sizeof(int32_t));
	e->seq = calloc(pass, sizeof(int32_t));
	e->out = calloc(pass, 1);
	if (!e->slot || !e->slot_done || !e->sum || !e->tok || !e->pos || !e->seq || !e->out ||
	    !e->slot_fault || !e->slot_bad) {
		l32_embedder_free(e);
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	for (s = 0; s < e->n_slots; s++)
		e->slot_done[s] = -1;
	return e;
}

void
l32_embedder_free(struct l32_embedder *e)
{
	if (e == NULL)
		return;
	l32_ctx_free(e->ctx);
	free(e->queue);
	free(e->slot);
	free(e->slot_done);
	free(e->slot_fault);
	free(e->slot_bad);
	free(e->sum);
	free(e->tok);
	free(e->pos);
	free(e->seq);
	free(e->out);
	free(e);
}

int32_t
l32_embedder_dim(const struct l32_embedder *e)
{
	return e->dim;
}

int32_t
l32_embedder_n_ctx(const struct l32_embedder *e)
{
	return e->n_ctx;
}

long
l32_embedder_passes(const struct l32_embedder *e)
{
	return e->passes;
}

/* --------------------------------------------------------------- queue */

int
l32_embedder_add(struct l32_embedder *e, const struct l32_tokens *in, size_t n,
    enum l32_pooling pool, float *out, int *done, struct l32_err *err)
{
	struct item *q;
	size_t i, cap;

	for (i = 0; i < n; i++) {
		if (in[i].n == 0)
			return l32_err_set(err, L32_ERR_INVALID, "embeddings: input %zu is empty", i);
		if (in[i].n > (size_t)e->n_ctx) {
			l32_err_set(err, L32_ERR_CONTEXT, "embeddings: input %zu is %zu tokens; "
			    "the context window is %d tokens", i, in[i].n, e->n_ctx);
			err->code = "context_length_exceeded";
			return -1;
		}
	}
	if (e->head > 0 && e->head == e->n)   /* drained: start over at the front */
		e->head = e->n = 0;
	if (n > e->cap - e->n) {
		for (cap = e->cap ? e->cap : 64; cap - e->n < n; cap *= 2)
			if (cap > SIZE_MAX / 2 / sizeof(*q))
				return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		if ((q = reallocarray(e->queue, cap, sizeof(*q))) == NULL)
			return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		e->queue = q;
		e->cap = cap;
	}
	for (i = 0; i < n; i++) {
		done[i] = 0;
		e->queue[e->n++] = (struct item){ &in[i], pool, out + i * (size_t)e->dim, &done[i] };
	}
	return 0;
}

size_t
l32_embedder_pending(const struct l32_embedder *e)
{
	size_t n = e->n - e->head;
	int32_t s;

	for (s = 0; s < e->n_slots; s++)
		n += e->slot_done[s] >= 0;
	return n;
}

/* Forgets every input, waiting or half done (after a failed pass). */
static void
drop_all(struct l32_embedder *e)
{
	int32_t s;

	e->head = e->n = 0;
	for (s = 0; s <= e->n_slots; s++) {
		if (s < e->n_slots)
			e->slot_done[s] = -1;
		l32_ctx_seq_clear(e->ctx, s);
	}
}

/* ------------------------------------------------------------- one pass */

/* The next piece of the input in slot s: from where it stands to the next
 * multiple of the pass size, so the cuts do not depend on the company. */
static int32_t
piece_len(const struct l32_embedder *e, int32_t s)
{
	int32_t left = (int32_t)e->slot[s].in->n - e->slot_done[s];

	return left < L32_EMBED_PASS_TOKENS ? left : L32_EMBED_PASS_TOKENS;
}

/* Adds the next piece of slot s to the pass at *used. */
static void
add_piece(struct l32_embedder *e, int32_t s, int32_t *used)
{
	const struct item *it = &e->slot[s];
	int32_t k, n = piece_len(e, s), from = e->slot_done[s];

	for (k = 0; k < n; k++) {
		int32_t i = *used + k, p = from + k;

		e->tok[i] = it->in->ids[p];
		e->pos[i] = p;
		e->seq[i] = s;
		e->out[i] = it->pool == L32_POOLING_MEAN || (size_t)p + 1 == it->in->n ?
		    L32_OUT_EMBD : 0;
	}
	*used += n;
}

/* Fills the pass: first the inputs under way (in slot order), then
 * waiting ones, in queue order, while slots and room last. */
static int32_t
fill_pass(struct l32_embedder *e)
{
	int32_t used = 0, s, len;

	for (s = 0; s < e->n_slots; s++)
		if (e->slot_done[s] >= 0 && used + piece_len(e, s) <= L32_EMBED_PASS_TOKENS)
			add_piece(e, s, &used);
	for (s = 0; s < e->n_slots && e->head < e->n; s++) {
		if (e->slot_done[s] >= 0)
			continue;
		len = (int32_t)(e->queue[e->head].in->n < L32_EMBED_PASS_TOKENS ?
		    e->queue[e->head].in->n : L32_EMBED_PASS_TOKENS);
		if (used + len > L32_EMBED_PASS_TOKENS)
			break;
		e->slot[s] = e->queue[e->head++];
		e->slot_done[s] = 0;
		e->slot_fault[s] = 0;
		e->slot_bad[s] = 0;
		l32_ctx_seq_clear(e->ctx, s);
		memset(e->sum + (size_t)s * e->dim, 0, (size_t)e->dim * sizeof(double));
		add_piece(e, s, &used);
	}
	return used;
}

/* Pads the pass to min_tokens with the spare sequence, whose results are
 * not read. */
static int32_t
pad_pass(struct l32_embedder *e, int32_t used)
{
	int32_t k, pad = e->min_tokens - used;

	l32_ctx_seq_clear(e->ctx, e->n_slots);
	for (k = 0; k < pad; k++) {
		e->tok[used + k] = e->pad_token;
		e->pos[used + k] = k;
		e->seq[used + k] = e->n_slots;
		e->out[used + k] = 0;
	}
	return pad > 0 ? used + pad : used;
}

/* Takes the hidden states of the pass into the sums (in position order)
 * or the outputs; finishes the inputs that are done.  An input whose
 * pooled states went non-finite (NaN, infinity) is done with
 * -(the earliest place of the fault among its tokens). */
static void
collect(struct l32_embedder *e, int32_t used)
{
	int32_t i, d, s, code;

	for (i = 0; i < used; i++) {
		const float *h = l32_ctx_embd(e->ctx, i);
		double *sum;

		s = e->seq[i];
		if ((code = l32_ctx_fault(e->ctx, i)) != 0) {
			if (e->slot_fault[s] == 0 || code < e->slot_fault[s])
				e->slot_fault[s] = code;
			e->slot_bad[s] |= h != NULL;
		}
		if (h == NULL || e->slot_bad[s])
			continue;
		if (e->slot[s].pool == L32_POOLING_LAST) {
			memcpy(e->slot[s].out, h, (size_t)e->dim * sizeof(float));
			continue;
		}
		sum = e->sum + (size_t)s * e->dim;
		for (d = 0; d < e->dim; d++)
			sum[d] += h[d];
	}
	for (i = 0; i < used; i++)
		e->slot_done[e->seq[i]]++;
	for (s = 0; s < e->n_slots; s++) {
		struct item *it = &e->slot[s];

		if (e->slot_done[s] < 0 || (size_t)e->slot_done[s] < it->in->n)
			continue;
		if (it->pool == L32_POOLING_MEAN)
			for (d = 0; d < e->dim; d++)
				it->out[d] = (float)(e->sum[(size_t)s * e->dim + d] / (double)it->in->n);
		*it->done = e->slot_bad[s] ? -e->slot_fault[s] : 1;
		e->slot_done[s] = -1;
		l32_ctx_seq_clear(e->ctx, s);
	}
}

int
l32_embedder_step(struct l32_embedder *e, struct l32_err *err)
{
	struct l32_batch b;
	int32_t used, total;

	if ((used = fill_pass(e)) == 0)
		return 0;
	total = pad_pass(e, used);
	b = (struct l32_batch){ total, e->tok, e->pos, e->seq, e->out };
	if (l32_ctx_decode(e->ctx, &b, err) == -1) {
		drop_all(e);
		return -1;
	}
	e->passes++;
	collect(e, used);
	return 0;
}

int
l32_embedder_error(const struct l32_embedder *e, int done, struct l32_err *err)
{
	if (done >= 0)
		return 0;
	return l32_err_nonfinite(err, e->ctx, -done);
}

int
l32_embed(struct l32_embedder *e, const struct l32_tokens *in, size_t n,
    enum l32_pooling pool, float *out, struct l32_err *err)
{
	int *done = calloc(n ? n : 1, sizeof(int));
	size_t i;
	int rc;

	if (done == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	rc = l32_embedder_add(e, in, n, pool, out, done, err);
	while (rc == 0 && l32_embedder_pending(e) > 0)
		rc = l32_embedder_step(e, err);
	for (i = 0; rc == 0 && i < n; i++)
		rc = l32_embedder_error(e, done[i], err);
	free(done);
	return rc;
}

/* ------------------------------------------------------------ encodings */

void
l32_vec_normalize(float *v, size_t n)
{
	double ss = 0.0, scale;
	size_t i;

	for (i = 0; i < n; i++)
		ss += (double)v[i] * v[i];
	if (ss == 0.0)
		return;
	scale = 1.0 / sqrt(ss);
	for (i = 0; i < n; i++)
		v[i] = (float)(v[i] * scale);
}

int
l32_base64_f32(struct l32_buf *out, const float *v, size_t n)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t nb = n * 4, i;
	unsigned char *bytes;
	char *o;

	if (n > SIZE_MAX / 8 || l32_buf_reserve(out, (nb + 2) / 3 * 4) == -1)
		return -1;
	if ((bytes = malloc(nb ? nb : 1)) == NULL)
		return -1;
	/* little-endian whatever the host */
	for (i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, &v[i], 4);
		bytes[4 * i] = (unsigned char)u;
		bytes[4 * i + 1] = (unsigned char)(u >> 8);
		bytes[4 * i + 2] = (unsigned char)(u >> 16);
		bytes[4 * i + 3] = (unsigned char)(u >> 24);
	}
	o = out->data + out->len;
	for (i = 0; i + 2 < nb; i += 3) {
		uint32_t w = (uint32_t)bytes[i] << 16 | (uint32_t)bytes[i + 1] << 8 | bytes[i + 2];

		*o++ = b64[w >> 18];
		*o++ = b64[(w >> 12) & 63];
		*o++ = b64[(w >> 6) & 63];
		*o++ = b64[w & 63];
	}
	if (i < nb) {
		uint32_t w = (uint32_t)bytes[i] << 16 | (i + 1 < nb ? (uint32_t)bytes[i + 1] << 8 : 0);

		*o++ = b64[w >> 18];
		*o++ = b64[(w >> 12) & 63];
		*o++ = i + 1 < nb ? b64[(w >> 6) & 63] : '=';
		*o++ = '=';
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	free(bytes);
	return 0;
}
