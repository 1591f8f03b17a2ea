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
 * pass holds from the GEMM threshold (padded with a spare sequence when the
 * inputs are fewer tokens) to L32_EMBED_PASS_TOKENS tokens, and an input
 * longer than that is cut at fixed offsets, the same alone or in company.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "matmul.h"

struct l32_embedder {
	struct l32_ctx *ctx;
	int32_t dim, n_ctx;
	int32_t n_slots;          /* sequences for inputs; slot n_slots pads */
	int32_t min_tokens;       /* fewest tokens a pass may hold */
	int32_t pad_token;
	long passes;
	/* the pass being built */
	int32_t *tok, *pos, *seq; /* (PASS) */
	uint8_t *out;             /* (PASS) */
	int32_t *slot_input;      /* (n_slots) input in the slot, or -1 */
	int32_t *slot_done;       /* (n_slots) its tokens evaluated so far */
	double *sum;              /* (n_slots, dim) mean pooling: running sums */
};

/* matmul's GEMM threshold: the token count from which every product of a
 * pass runs on BLIS. */
static int
gemm_threshold(int32_t *min, struct l32_err *err)
{
	struct l32_mm mm;

	if (l32_mm_init(&mm, 1, err) == -1)
		return -1;
	*min = (int32_t)mm.gemm_min;
	l32_mm_free(&mm);
	if (*min < 1)
		*min = 1;
	if (*min > L32_EMBED_PASS_TOKENS)
		*min = L32_EMBED_PASS_TOKENS;
	return 0;
}

struct l32_embedder *
l32_embedder_new(struct l32_model *m, const struct l32_ctx_params *cp, struct l32_err *err)
{
	struct l32_embedder *e;
	struct l32_ctx_params p = *cp;
	const struct l32_hparams *hp = l32_model_hparams(m);
	size_t pass = L32_EMBED_PASS_TOKENS;

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
	if (gemm_threshold(&e->min_tokens, err) == -1 ||
	    (e->ctx = l32_ctx_new(m, &p, err)) == NULL) {
		free(e);
		return NULL;
	}
	e->tok = calloc(pass, sizeof(int32_t));
	e->pos = calloc(pass, sizeof(int32_t));
	e->seq = calloc(pass, sizeof(int32_t));
	e->out = calloc(pass, 1);
	e->slot_input = calloc((size_t)e->n_slots, sizeof(int32_t));
	e->slot_done = calloc((size_t)e->n_slots, sizeof(int32_t));
	e->sum = calloc((size_t)e->n_slots * (size_t)e->dim, sizeof(double));
	if (!e->tok || !e->pos || !e->seq || !e->out || !e->slot_input || !e->slot_done ||
	    !e->sum) {
		l32_embedder_free(e);
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	return e;
}

void
l32_embedder_free(struct l32_embedder *e)
{
	if (e == NULL)
		return;
	l32_ctx_free(e->ctx);
	free(e->tok);
	free(e->pos);
	free(e->seq);
	free(e->out);
	free(e->slot_input);
	free(e->slot_done);
	free(e->sum);
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

/* ------------------------------------------------------------- one pass */

/* The next piece of the input in slot s: from where it stands to the next
 * multiple of the pass size, so the cuts do not depend on the company. */
static int32_t
piece_len(const struct l32_embedder *e, const struct l32_tokens *in, int32_t s)
{
	int32_t done = e->slot_done[s];
	int32_t left = (int32_t)in[e->slot_input[s]].n - done;

	return left < L32_EMBED_PASS_TOKENS ? left : L32_EMBED_PASS_TOKENS;
}

/* Adds the next piece of slot s to the pass at *used. */
static void
add_piece(struct l32_embedder *e, const struct l32_tokens *in, int32_t s,
    enum l32_pooling pool, int32_t *used)
{
	const struct l32_tokens *t = &in[e->slot_input[s]];
	int32_t k, n = piece_len(e, in, s), from = e->slot_done[s];

	for (k = 0; k < n; k++) {
		int32_t i = *used + k, p = from + k;

		e->tok[i] = t->ids[p];
		e->pos[i] = p;
		e->seq[i] = s;
		e->out[i] = pool == L32_POOLING_MEAN || (size_t)p + 1 == t->n ? L32_OUT_EMBD : 0;
	}
	*used += n;
}

/* Fills the pass: first the inputs under way (in slot order), then new
 * ones, in input order, while slots and room last. */
static int32_t
fill_pass(struct l32_embedder *e, const struct l32_tokens *in, size_t n, size_t *next,
    enum l32_pooling pool)
{
	int32_t used = 0, s;

	for (s = 0; s < e->n_slots; s++)
		if (e->slot_input[s] >= 0 && used + piece_len(e, in, s) <= L32_EMBED_PASS_TOKENS)
			add_piece(e, in, s, pool, &used);
	for (s = 0; s < e->n_slots && *next < n; s++) {
		int32_t len = (int32_t)(in[*next].n < L32_EMBED_PASS_TOKENS ?
		    in[*next].n : L32_EMBED_PASS_TOKENS);

		if (e->slot_input[s] >= 0)
			continue;
		if (used + len > L32_EMBED_PASS_TOKENS)
			break;
		e->slot_input[s] = (int32_t)(*next)++;
		e->slot_done[s] = 0;
		l32_ctx_seq_clear(e->ctx, s);
		memset(e->sum + (size_t)s * e->dim, 0, (size_t)e->dim * sizeof(double));
		add_piece(e, in, s, pool, &used);
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
 * or the outputs; finishes the inputs that are done. */
static void
collect(struct l32_embedder *e, const struct l32_tokens *in, int32_t used,
    enum l32_pooling pool, float *out)
{
	int32_t i, d, s;

	for (i = 0; i < used; i++) {
		const float *h = l32_ctx_embd(e->ctx, i);
		double *sum;

		if (h == NULL)
			continue;
		s = e->seq[i];
		if (pool == L32_POOLING_LAST) {
			memcpy(out + (size_t)e->slot_input[s] * e->dim, h, (size_t)e->dim * sizeof(float));
			continue;
		}
		sum = e->sum + (size_t)s * e->dim;
		for (d = 0; d < e->dim; d++)
			sum[d] += h[d];
	}
	for (i = 0; i < used; i++)
		e->slot_done[e->seq[i]]++;
	for (s = 0; s < e->n_slots; s++) {
		size_t len;

		if (e->slot_input[s] < 0 || (size_t)e->slot_done[s] < in[e->slot_input[s]].n)
			continue;
		len = in[e->slot_input[s]].n;
		if (pool == L32_POOLING_MEAN)
			for (d = 0; d < e->dim; d++)
				out[(size_t)e->slot_input[s] * e->dim + d] =
				    (float)(e->sum[(size_t)s * e->dim + d] / (double)len);
		e->slot_input[s] = -1;
		l32_ctx_seq_clear(e->ctx, s);
	}
}

static int
check_inputs(const struct l32_embedder *e, const struct l32_tokens *in, size_t n,
    struct l32_err *err)
{
	size_t i;

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
	return 0;
}

int
l32_embed(struct l32_embedder *e, const struct l32_tokens *in, size_t n,
    enum l32_pooling pool, float *out, struct l32_err *err)
{
	struct l32_batch b;
	size_t next = 0;
	int32_t s, used, total;
	int rc = 0;

	if (check_inputs(e, in, n, err) == -1)
		return -1;
	for (s = 0; s < e->n_slots; s++)
		e->slot_input[s] = -1;
	for (;;) {
		used = fill_pass(e, in, n, &next, pool);
		if (used == 0)
			break;
		total = pad_pass(e, used);
		b = (struct l32_batch){ total, e->tok, e->pos, e->seq, e->out };
		if (l32_ctx_decode(e->ctx, &b, err) == -1) {
			rc = -1;
			break;
		}
		e->passes++;
		collect(e, in, used, pool, out);
	}
	for (s = 0; s <= e->n_slots; s++)
		l32_ctx_seq_clear(e->ctx, s);
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
