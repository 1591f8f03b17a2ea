/*
 * forward.c - the Llama 3.2 forward pass over a batch of tokens.
 *
 * A batch holds tokens of one or more sequences, each at its own position
 * (a prompt's prefill, or one new token of each of many sequences).  Every
 * projection runs once for the whole batch through l32_matmul; attention
 * runs per sequence over that sequence's KV cache, with a causal mask.
 *
 *   x = embed(token)
 *   per layer:
 *     h = rmsnorm(x) * attn_norm
 *     q, k, v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ;  rotate q, k by pos * rope_freq
 *     x += softmax(q·Kᵀ / sqrt(head_dim) + mask) · V · Woᵀ   (GQA: KV heads shared)
 *     h = rmsnorm(x) * ffn_norm
 *     x += (silu(h·W1ᵀ) * (h·W3ᵀ)) · W2ᵀ
 *   logits = (rmsnorm(x) * output_norm) · Outputᵀ
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "compute/ctx.h"
#include "compute/kernels/kernels.h"

/* ---------------------------------------------------------- building blocks */

/* Fault codes in the order of the pass: the embedding, each layer's
 * attention and feed-forward blocks, the output norm, the output
 * projection. */
#define FAULT_EMBD 1
#define FAULT_ATTN(l) (2 + 2 * (l))
#define FAULT_FFN(l) (3 + 2 * (l))
#define FAULT_OUTPUT_NORM(c) (2 + 2 * (c)->m->hp.n_layers)
#define FAULT_OUTPUT(c) (3 + 2 * (c)->m->hp.n_layers)

int32_t
l32_ctx_fault(const struct l32_ctx *c, int32_t i)
{
	if (i < 0 || i >= c->n_last)
		return 0;
	return c->fault[i];
}

void
l32_ctx_fault_name(const struct l32_ctx *c, int32_t code, char *buf, size_t size)
{
	if (code == FAULT_EMBD)
		snprintf(buf, size, "the token embedding");
	else if (code == FAULT_OUTPUT_NORM(c))
		snprintf(buf, size, "the output norm");
	else if (code == FAULT_OUTPUT(c))
		snprintf(buf, size, "the output projection");
	else if (code >= 2 && code < FAULT_OUTPUT_NORM(c))
		snprintf(buf, size, "layer %d (%s)", (code - 2) / 2,
		    code % 2 == 0 ? "attention" : "feed-forward");
	else
		snprintf(buf, size, "an unknown place");
}

int
l32_err_nonfinite(struct l32_err *err, const struct l32_ctx *c, int32_t code)
{
	char where[64];

	l32_ctx_fault_name(c, code, where, sizeof(where));
	l32_err_set(err, L32_ERR_MODEL, "the model produced non-finite values (NaN or "
	    "infinity) in %s; its weights may be damaged", where);
	err->code = "model_error";
	return -1;
}

/* 1 when none of v[0..n) is NaN or infinite: the exponent bits are not all
 * ones (bit tests vectorize; isfinite in a loop need not). */
static int
all_finite(const float *v, size_t n)
{
	uint32_t bad = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t u;

		memcpy(&u, v + i, sizeof(u));
		bad |= (u & 0x7f800000u) == 0x7f800000u;
	}
	return bad == 0;
}

/* out = x / sqrt(mean(x²) + eps) * w, for n rows of dim values.  A row
 * whose sum of squares is not finite holds NaN or infinity: fault[t]
 * records code there, unless an earlier stage already went wrong (the
 * check costs nothing, the sum is needed anyway). */
static void
rmsnorm(float *out, const float *x, const float *w, int64_t n, int32_t dim,
    float eps, int32_t *fault, int32_t code)
{
	for (int64_t t = 0; t < n; t++, out += dim, x += dim) {
		double ss = 0.0;
		float scale;

		for (int32_t i = 0; i < dim; i++)
			ss += (double)x[i] * x[i];
		if (!isfinite(ss) && fault[t] == 0)
			fault[t] = code;
		scale = 1.0f / sqrtf((float)(ss / dim) + eps);
		for (int32_t i = 0; i < dim; i++)
			out[i] = (x[i] * scale) * w[i];
	}
}

/* cos and sin of pos * freq_i for each batch token (the angle in f32, as
 * the reference computes it). */
static void
rope_tables(struct l32_ctx *c, const struct l32_batch *b)
{
	int32_t half = c->head_dim / 2;
	const float *freq = c->m->w.rope_freq;

	for (int32_t i = 0; i < b->n; i++)
		for (int32_t j = 0; j < half; j++) {
			float angle = (float)b->pos[i] * freq[j];

			c->rope_cos[(size_t)i * half + j] = cosf(angle);
			c->rope_sin[(size_t)i * half + j] = sinf(angle);
		}
}

/* Rotates each head of x (n_heads, head_dim) by the token's angles.  Meta
 * and GGUF order pairs dims (2j, 2j+1); Hugging Face "rotate-half" order
 * pairs (j, j + head_dim/2). */
static void
rope_rotate(float *x, int32_t n_heads, int32_t head_dim, const float *cs,
    const float *sn, int halves)
{
	int32_t half = head_dim / 2;

	for (int32_t h = 0; h < n_heads; h++, x += head_dim)
		for (int32_t j = 0; j < half; j++) {
			int32_t i0 = halves ? j : 2 * j;
			int32_t i1 = halves ? j + half : 2 * j + 1;
			float a = x[i0], b = x[i1];

			x[i0] = a * cs[j] - b * sn[j];
			x[i1] = a * sn[j] + b * cs[j];
		}
}

static float
silu(float x)
{
	return x / (1.0f + expf(-x));
}

/* ------------------------------------------------------------------ layers */

/* x += attention(rmsnorm(x)) · Woᵀ, writing this batch's K/V to the cache. */
static int
attention_block(struct l32_ctx *c, const struct l32_batch *b, int32_t layer,
    int32_t n_groups, struct l32_err *err)
{
	const struct l32_layer *L = &c->m->w.layers[layer];
	int32_t n = b->n, half = c->head_dim / 2;
	int halves = c->m->w.rope_halves;

	/* x is what layer - 1 (or the embedding) made of the tokens */
	rmsnorm(c->xn, c->x, L->attn_norm, n, c->dim, c->m->hp.norm_eps, c->fault,
	    layer == 0 ? FAULT_EMBD : FAULT_FFN(layer - 1));
	/* q (n, q_dim), k and v (n, kv_dim) */
	if (l32_matmul(&L->wq, c->xn, n, c->q, &c->mm, err) < 0 ||
	    l32_matmul(&L->wk, c->xn, n, c->k, &c->mm, err) < 0 ||
	    l32_matmul(&L->wv, c->xn, n, c->v, &c->mm, err) < 0)
		return -1;
	for (int32_t i = 0; i < n; i++) {
		const float *cs = c->rope_cos + (size_t)i * half;
		const float *sn = c->rope_sin + (size_t)i * half;

		rope_rotate(c->q + (size_t)i * c->q_dim, c->n_heads, c->head_dim,
		    cs, sn, halves);
		rope_rotate(c->k + (size_t)i * c->kv_dim, c->n_kv_heads,
		    c->head_dim, cs, sn, halves);
		l32_kv_store(&c->kv, layer, b->seq[i], b->pos[i],
		    c->k + (size_t)i * c->kv_dim, c->v + (size_t)i * c->kv_dim);
	}
	l32_attention(c, layer, n_groups);
	/* xn (n, dim) = att · Woᵀ */
	if (l32_matmul(&L->wo, c->att, n, c->xn, &c->mm, err) < 0)
		return -1;
	for (size_t i = 0; i < (size_t)n * c->dim; i++)
		c->x[i] += c->xn[i];
	return 0;
}

/* h1 := silu(h1) * h3 over the threads, GATE_CHUNK values a claim (an
 * expf per value: in decode the longest step between two products). */
#define GATE_CHUNK 1024

struct gate_job {
	float *h1;
	const float *h3;
	size_t n;
	atomic_size_t next;
};

static void
gate_run(void *arg, int ith, int nth)
{
	struct gate_job *j = arg;
	size_t a;

	(void)ith;
	(void)nth;
	while ((a = atomic_fetch_add(&j->next, GATE_CHUNK)) < j->n) {
		size_t b = j->n - a < GATE_CHUNK ? j->n : a + GATE_CHUNK;

		for (size_t i = a; i < b; i++)
			j->h1[i] = silu(j->h1[i]) * j->h3[i];
	}
}

/* x += (silu(h·W1ᵀ) * (h·W3ᵀ)) · W2ᵀ with h = rmsnorm(x). */
static int
ffn_block(struct l32_ctx *c, int32_t n, int32_t layer, struct l32_err *err)
{
	const struct l32_layer *L = &c->m->w.layers[layer];
	size_t nh = (size_t)n * c->ffn_dim;
	struct gate_job gj = { c->h1, c->h3, nh, 0 };

	rmsnorm(c->xn, c->x, L->ffn_norm, n, c->dim, c->m->hp.norm_eps, c->fault,
	    FAULT_ATTN(layer));
	/* h1, h3 (n, ffn_dim) */
	if (l32_matmul(&L->w1, c->xn, n, c->h1, &c->mm, err) < 0 ||
	    l32_matmul(&L->w3, c->xn, n, c->h3, &c->mm, err) < 0)
		return -1;
	atomic_init(&gj.next, 0);
	/* an expf and a division per value: about 16 multiply-adds */
	l32_pool_share_work(c->pool, gate_run, &gj, (int64_t)nh * 16);
	/* xn (n, dim) = h1 · W2ᵀ */
	if (l32_matmul(&L->w2, c->h1, n, c->xn, &c->mm, err) < 0)
		return -1;
	for (size_t i = 0; i < (size_t)n * c->dim; i++)
		c->x[i] += c->xn[i];
	return 0;
}

/* Final norm of the tokens that asked for output into xo; logits of those
 * that asked for them (gathered into xn first). */
static int
output_block(struct l32_ctx *c, const struct l32_batch *b, struct l32_err *err)
{
	const struct l32_weights *w = &c->m->w;
	int32_t no = 0, nl = 0;

	for (int32_t i = 0; i < b->n; i++) {
		float *xo;

		if (c->logit_row[i] < 0 && c->embd_row[i] < 0)
			continue;
		xo = c->xo + (size_t)no * c->dim;
		rmsnorm(xo, c->x + (size_t)i * c->dim, w->output_norm, 1, c->dim,
		    c->m->hp.norm_eps, &c->fault[i], FAULT_FFN(c->m->hp.n_layers - 1));
		if (c->fault[i] == 0 && !all_finite(xo, (size_t)c->dim))
			c->fault[i] = FAULT_OUTPUT_NORM(c);
		if (c->logit_row[i] >= 0)
			memcpy(c->xn + (size_t)nl++ * c->dim, xo,
			    (size_t)c->dim * sizeof(float));
		no++;
	}
	/* logits (nl, vocab) = xn · Outputᵀ */
	if (l32_matmul(&w->output, c->xn, nl, c->logits, &c->mm, err) < 0)
		return -1;
	/* a damaged output row spoils only its own logit: every one is looked at */
	for (int32_t i = 0; i < b->n; i++)
		if (c->logit_row[i] >= 0 && c->fault[i] == 0 &&
		    !all_finite(c->logits + (size_t)c->logit_row[i] * c->vocab, (size_t)c->vocab))
			c->fault[i] = FAULT_OUTPUT(c);
	return 0;
}

/* -------------------------------------------------------------------- decode */

int
l32_ctx_decode(struct l32_ctx *c, const struct l32_batch *b, struct l32_err *err)
{
	int32_t n_groups, n_out;

	c->n_last = 0;
	if (l32_batch_plan(c, b, &n_groups, &n_out, err) < 0)
		return -1;
	rope_tables(c, b);
	memset(c->fault, 0, (size_t)b->n * sizeof(*c->fault));

	/* x (n, dim) = embeddings of the tokens */
	for (int32_t i = 0; i < b->n; i++)
		if (l32_tensor_row_f32(&c->m->w.tok_embd, b->token[i],
		    c->x + (size_t)i * c->dim) < 0)
			return l32_err_set(err, L32_ERR_INVALID,
			    "batch token %d: no embedding for id %d", i, b->token[i]);

	for (int32_t l = 0; l < c->m->hp.n_layers; l++)
		if (attention_block(c, b, l, n_groups, err) < 0 ||
		    ffn_block(c, b->n, l, err) < 0)
			return -1;
	if (n_out > 0 && output_block(c, b, err) < 0)
		return -1;

	for (int32_t i = 0; i < b->n; i++)
		c->kv.len[b->seq[i]]++;
	c->n_last = b->n;
	return 0;
}
