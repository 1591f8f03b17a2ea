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
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels.h"
#include "kvcache.h"
#include "matmul.h"
#include "model.h"
#include "pool.h"
#include "quant.h"

/* Query tokens of one sequence from which attention runs on BLIS. */
#define ATT_GEMM_MIN 8
/* Query rows of a sequence whose scores are held at once (GEMM path). */
#define ATT_QCHUNK 64
/* Limits on the context parameters, far above any practical use. */
#define MAX_SEQ 65536
#define MAX_BATCH (1 << 20)

/* A token of the batch, for grouping by sequence. */
struct slot {
	int32_t seq, pos, idx;
};

/* The tokens of one sequence in the batch: slots[first .. first+n). */
struct group {
	int32_t seq, first, n;
};

struct l32_ctx {
	struct l32_model *m;
	struct l32_ctx_params p;
	int32_t dim, n_heads, n_kv_heads, head_dim, q_dim, kv_dim, ffn_dim, vocab;
	struct l32_mm mm;
	struct l32_kv kv;
	struct l32_pool *pool;  /* threads for the per-row products and decode attention */
	int n_threads;          /* p.n_threads, or the cores when that is 0 */

	/* run state: one mapping, laid out by ctx_layout */
	void *arena;
	size_t arena_bytes;
	float *x;         /* (n_batch, dim) residual stream */
	float *xn;        /* (n_batch, dim) normalized input of a block, then its output */
	float *q;         /* (n_batch, q_dim) queries */
	float *k, *v;     /* (n_batch, kv_dim) keys and values of the batch */
	float *att;       /* (n_batch, q_dim) attention output, heads side by side */
	float *h1, *h3;   /* (n_batch, ffn_dim) gate and up projections */
	float *rope_cos, *rope_sin; /* (n_batch, head_dim/2) per token */
	float *qg, *og;   /* (n_batch, q_dim) queries / outputs of one sequence */
	float *scores;    /* (n_threads, ATT_QCHUNK, n_ctx) attention weights, per thread */
	float *kw, *vw;   /* (n_ctx, kv_dim) a sequence's f16 K/V widened; kv_f16 only */
	float *kvrow;     /* (n_threads, head_dim) one f16 K/V row widened, per thread */
	float *xo;        /* (n_batch, dim) final normalized states of output tokens */
	float *logits;    /* (n_batch, vocab) */
	struct slot *slots;   /* (n_batch) batch tokens grouped by seq, by pos */
	struct group *groups; /* (n_batch) */
	int32_t *next_pos;    /* (n_seq) batch check: next position per sequence */
	int32_t *gpos;        /* (n_batch) positions of one sequence's tokens */
	int32_t *att1;        /* (n_batch) slots whose attention runs query by query */
	int32_t *logit_row;   /* (n_batch) row in logits, or -1 */
	int32_t *embd_row;    /* (n_batch) row in xo, or -1 */
	int32_t *fault;       /* (n_batch) where the token's activations first went
	                       * non-finite (l32_ctx_fault), 0 while finite */
	int32_t n_last;       /* tokens of the last decoded batch */
};

/* ------------------------------------------------------------------ setup */

void
l32_ctx_params_init(struct l32_ctx_params *p)
{
	p->n_ctx = 4096;
	p->n_seq = 1;
	p->n_batch = 512;
	p->n_threads = 0;
	p->kv_f16 = 0;
}

static size_t
align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/* Lays out the run state from base (NULL: only measures); returns bytes. */
static size_t
ctx_layout(struct l32_ctx *c, char *base)
{
	size_t off = 0;
	size_t nb = (size_t)c->p.n_batch, nctx = (size_t)c->p.n_ctx;

#define TAKE(field, count) do { \
	c->field = base != NULL ? (void *)(base + off) : NULL; \
	off += align64((size_t)(count) * sizeof(*c->field)); \
} while (0)
	TAKE(x, nb * c->dim);
	TAKE(xn, nb * c->dim);
	TAKE(q, nb * c->q_dim);
	TAKE(k, nb * c->kv_dim);
	TAKE(v, nb * c->kv_dim);
	TAKE(att, nb * c->q_dim);
	TAKE(h1, nb * c->ffn_dim);
	TAKE(h3, nb * c->ffn_dim);
	TAKE(rope_cos, nb * (c->head_dim / 2));
	TAKE(rope_sin, nb * (c->head_dim / 2));
	TAKE(qg, nb * c->q_dim);
	TAKE(og, nb * c->q_dim);
	TAKE(scores, (size_t)c->n_threads * ATT_QCHUNK * nctx);
	TAKE(kw, c->p.kv_f16 ? nctx * c->kv_dim : 0);
	TAKE(vw, c->p.kv_f16 ? nctx * c->kv_dim : 0);
	TAKE(kvrow, (size_t)c->n_threads * c->head_dim);
	TAKE(xo, nb * c->dim);
	TAKE(logits, nb * c->vocab);
	TAKE(slots, nb);
	TAKE(groups, nb);
	TAKE(next_pos, c->p.n_seq);
	TAKE(gpos, nb);
	TAKE(att1, nb);
	TAKE(logit_row, nb);
	TAKE(embd_row, nb);
	TAKE(fault, nb);
#undef TAKE
	return off;
}

static int
check_params(const struct l32_hparams *hp, const struct l32_ctx_params *p,
    struct l32_err *err)
{
	int32_t max_ctx = hp->ctx_train > 0 ? hp->ctx_train : 1 << 24;

	if (p->n_ctx < 1 || p->n_ctx > max_ctx)
		return l32_err_set(err, L32_ERR_INVALID,
		    "context: n_ctx %d is outside 1..%d (the model's context length)",
		    p->n_ctx, max_ctx);
	if (p->n_seq < 1 || p->n_seq > MAX_SEQ)
		return l32_err_set(err, L32_ERR_INVALID,
		    "context: n_seq %d is outside 1..%d", p->n_seq, MAX_SEQ);
	if (p->n_batch < 1 || p->n_batch > MAX_BATCH)
		return l32_err_set(err, L32_ERR_INVALID,
		    "context: n_batch %d is outside 1..%d", p->n_batch, MAX_BATCH);
	if (p->n_threads < 0)
		return l32_err_set(err, L32_ERR_INVALID,
		    "context: n_threads %d is negative", p->n_threads);
	return 0;
}

static int
check_hparams(const struct l32_hparams *hp, struct l32_err *err)
{
	if (hp->dim <= 0 || hp->n_layers <= 0 || hp->n_heads <= 0 ||
	    hp->n_kv_heads <= 0 || hp->head_dim <= 0 || hp->ffn_dim <= 0 ||
	    hp->vocab <= 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "model: a dimension is not positive (dim %d, layers %d, heads %d, "
		    "kv heads %d, head_dim %d, ffn %d, vocab %d)", hp->dim,
		    hp->n_layers, hp->n_heads, hp->n_kv_heads, hp->head_dim,
		    hp->ffn_dim, hp->vocab);
	if (hp->head_dim % 2 != 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "model: head_dim %d is odd, RoPE needs pairs", hp->head_dim);
	if (hp->n_heads % hp->n_kv_heads != 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "model: %d heads are not a multiple of %d KV heads",
		    hp->n_heads, hp->n_kv_heads);
	if (!(hp->norm_eps >= 0.0f))
		return l32_err_set(err, L32_ERR_FORMAT,
		    "model: RMSNorm epsilon %g is negative", (double)hp->norm_eps);
	return 0;
}

/* A weight must have the shape the hyperparameters say and a computable type. */
static int
check_tensor(const struct l32_tensor *t, int64_t rows, int64_t cols,
    const char *what, int layer, struct l32_err *err)
{
	if (t->rows != rows || t->cols != cols)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "model: tensor %s (%s of layer %d) is [%lld, %lld], expected [%lld, %lld]",
		    t->name != NULL ? t->name : "(unnamed)", what, layer,
		    (long long)t->rows, (long long)t->cols, (long long)rows,
		    (long long)cols);
	return l32_matmul_check(t, err);
}

static int
check_weights(const struct l32_model *m, struct l32_err *err)
{
	const struct l32_hparams *hp = &m->hp;
	const struct l32_weights *w = &m->w;
	int64_t dim = hp->dim, q = (int64_t)hp->n_heads * hp->head_dim;
	int64_t kv = (int64_t)hp->n_kv_heads * hp->head_dim;

	if (w->layers == NULL || w->rope_freq == NULL || w->output_norm == NULL)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "model: %s: layers, rope frequencies or output norm missing",
		    m->path != NULL ? m->path : "(model)");
	if (check_tensor(&w->tok_embd, hp->vocab, dim, "token embedding", -1, err) < 0 ||
	    check_tensor(&w->output, hp->vocab, dim, "output", -1, err) < 0)
		return -1;
	for (int l = 0; l < hp->n_layers; l++) {
		const struct l32_layer *L = &w->layers[l];

		if (L->attn_norm == NULL || L->ffn_norm == NULL)
			return l32_err_set(err, L32_ERR_FORMAT,
			    "model: layer %d has no norm weights", l);
		if (check_tensor(&L->wq, q, dim, "wq", l, err) < 0 ||
		    check_tensor(&L->wk, kv, dim, "wk", l, err) < 0 ||
		    check_tensor(&L->wv, kv, dim, "wv", l, err) < 0 ||
		    check_tensor(&L->wo, dim, q, "wo", l, err) < 0 ||
		    check_tensor(&L->w1, hp->ffn_dim, dim, "w1", l, err) < 0 ||
		    check_tensor(&L->w2, dim, hp->ffn_dim, "w2", l, err) < 0 ||
		    check_tensor(&L->w3, hp->ffn_dim, dim, "w3", l, err) < 0)
			return -1;
	}
	return 0;
}

/* Fails when the cache, run state and scratch would not fit in the memory
 * available now, giving both figures.  kv_bytes 0: the size overflowed. */
static int
check_memory(const struct l32_ctx *c, size_t kv_bytes, size_t run_bytes,
    struct l32_err *err)
{
	uint64_t avail = l32_mem_available();
	uint64_t need = (uint64_t)kv_bytes + run_bytes;

	if (kv_bytes == 0)
		return l32_err_set(err, L32_ERR_NOMEM,
		    "context: the KV cache of %d positions x %d sequences "
		    "overflows the address space", c->p.n_ctx, c->p.n_seq);
	if (avail != 0 && need > avail)
		return l32_err_set(err, L32_ERR_NOMEM,
		    "context: the KV cache (%d positions x %d sequences, %s) and "
		    "buffers need %llu bytes, but only %llu bytes are available "
		    "(MemAvailable in /proc/meminfo); lower the context length or "
		    "the number of sequences", c->p.n_ctx, c->p.n_seq,
		    c->p.kv_f16 ? "f16" : "f32", (unsigned long long)need,
		    (unsigned long long)avail);
	return 0;
}

/* The longest row of any weight: matmul's panel must hold a few. */
static int64_t
max_cols(const struct l32_ctx *c)
{
	int64_t n = c->dim;

	if (c->q_dim > n)
		n = c->q_dim;
	if (c->ffn_dim > n)
		n = c->ffn_dim;
	return n;
}

struct l32_ctx *
l32_ctx_new(struct l32_model *m, const struct l32_ctx_params *p,
    struct l32_err *err)
{
	const struct l32_hparams *hp = &m->hp;
	struct l32_ctx *c;
	size_t kv_bytes;
	long ncpu;

	/* the fastest kernels this CPU runs, or those L32_ISA names */
	if (l32_kernels_init(err) < 0 || check_params(hp, p, err) < 0 ||
	    check_hparams(hp, err) < 0 || check_weights(m, err) < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "context: out of memory");
		return NULL;
	}
	c->m = m;
	c->p = *p;
	c->dim = hp->dim;
	c->n_heads = hp->n_heads;
	c->n_kv_heads = hp->n_kv_heads;
	c->head_dim = hp->head_dim;
	c->q_dim = hp->n_heads * hp->head_dim;
	c->kv_dim = hp->n_kv_heads * hp->head_dim;
	c->ffn_dim = hp->ffn_dim;
	c->vocab = hp->vocab;

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	c->n_threads = p->n_threads > 0 ? p->n_threads : (ncpu > 0 ? (int)ncpu : 1);

	/* the whole figure is checked before anything is mapped */
	kv_bytes = l32_kv_bytes(hp->n_layers, p->n_seq, p->n_ctx, c->kv_dim, p->kv_f16);
	c->arena_bytes = ctx_layout(c, NULL);
	if (check_memory(c, kv_bytes, c->arena_bytes + l32_mm_bytes(max_cols(c)),
	    err) < 0) {
		free(c);
		return NULL;
	}
	c->arena = mmap(NULL, c->arena_bytes, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->arena == MAP_FAILED) {
		l32_err_set(err, L32_ERR_NOMEM, "context: cannot map %zu bytes of buffers",
		    c->arena_bytes);
		free(c);
		return NULL;
	}
	ctx_layout(c, c->arena);
	if (l32_kv_init(&c->kv, hp->n_layers, p->n_seq, p->n_ctx, c->kv_dim,
	    p->kv_f16, err) < 0 || l32_mm_init(&c->mm, max_cols(c), err) < 0) {
		l32_ctx_free(c);
		return NULL;
	}
	/* Batch invariance: a decode step (one token per sequence) takes the
	 * per-row kernels, whose result for a token does not depend on the
	 * other tokens; only prompts go to BLIS. */
	if (c->mm.gemm_min <= p->n_seq)
		c->mm.gemm_min = p->n_seq + 1;
	/* the pool splits the per-row products and single-query attention,
	 * BLIS the GEMMs, never both at once */
	if ((c->pool = l32_pool_new(c->n_threads, err)) == NULL) {
		l32_ctx_free(c);
		return NULL;
	}
	c->mm.pool = c->pool;
	l32_matmul_set_threads(c->n_threads);
	return c;
}

void
l32_ctx_free(struct l32_ctx *c)
{
	if (c == NULL)
		return;
	l32_kv_free(&c->kv);
	l32_mm_free(&c->mm);
	l32_pool_free(c->pool);
	if (c->arena != NULL && c->arena != MAP_FAILED)
		munmap(c->arena, c->arena_bytes);
	free(c);
}

void
l32_ctx_seq_clear(struct l32_ctx *c, int32_t seq)
{
	if (seq >= 0 && seq < c->p.n_seq)
		c->kv.len[seq] = 0;
}

int32_t
l32_ctx_seq_len(const struct l32_ctx *c, int32_t seq)
{
	if (seq < 0 || seq >= c->p.n_seq)
		return 0;
	return c->kv.len[seq];
}

const float *
l32_ctx_logits(const struct l32_ctx *c, int32_t i)
{
	if (i < 0 || i >= c->n_last || c->logit_row[i] < 0)
		return NULL;
	return c->logits + (size_t)c->logit_row[i] * c->vocab;
}

const float *
l32_ctx_embd(const struct l32_ctx *c, int32_t i)
{
	if (i < 0 || i >= c->n_last || c->embd_row[i] < 0)
		return NULL;
	return c->xo + (size_t)c->embd_row[i] * c->dim;
}

/* Fault codes in the order of the pass: the embedding, each layer's
 * attention and feed-forward blocks, the output norm, the output
 * projection. */
#define FAULT_EMBD 1
#define FAULT_ATTN(l) (2 + 2 * (l))
#define FAULT_FFN(l) (3 + 2 * (l))
#define FAULT_OUTPUT_NORM(c) (2 + 2 * (c)->m->hp.n_layers)
#define FAULT_OUTPUT(c) (3 + 2 * (c)->m->hp.n_layers)

long
l32_ctx_split_jobs(const struct l32_ctx *c)
{
	return l32_pool_split_jobs(c->pool);
}

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
	    "infinity) in %s; its weights may be damaged (--check-weights looks for them)", where);
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

/* ------------------------------------------------------------ batch plan */

/* Every token must be a known id in a known sequence, continuing that
 * sequence where its cache ends, inside the context window. */
static int
check_batch(struct l32_ctx *c, const struct l32_batch *b, struct l32_err *err)
{
	if (b->n < 1 || b->n > c->p.n_batch)
		return l32_err_set(err, L32_ERR_INVALID,
		    "batch: %d tokens, but a batch takes 1..%d", b->n, c->p.n_batch);
	if (b->token == NULL || b->pos == NULL || b->seq == NULL)
		return l32_err_set(err, L32_ERR_INVALID,
		    "batch: token, pos and seq must all be given");
	for (int32_t s = 0; s < c->p.n_seq; s++)
		c->next_pos[s] = c->kv.len[s];
	for (int32_t i = 0; i < b->n; i++) {
		int32_t s = b->seq[i], pos = b->pos[i];

		if (b->token[i] < 0 || b->token[i] >= c->vocab)
			return l32_err_set(err, L32_ERR_INVALID,
			    "batch token %d: id %d is outside the vocabulary 0..%d",
			    i, b->token[i], c->vocab - 1);
		if (s < 0 || s >= c->p.n_seq)
			return l32_err_set(err, L32_ERR_INVALID,
			    "batch token %d: seq %d is outside 0..%d", i, s,
			    c->p.n_seq - 1);
		if (pos != c->next_pos[s])
			return l32_err_set(err, L32_ERR_INVALID,
			    "batch token %d: seq %d pos %d does not continue the "
			    "sequence, which holds %d positions", i, s, pos,
			    c->next_pos[s]);
		if (pos >= c->p.n_ctx)
			return l32_err_set(err, L32_ERR_CONTEXT,
			    "batch token %d: seq %d pos %d is past the context "
			    "window of %d positions", i, s, pos, c->p.n_ctx);
		c->next_pos[s]++;
	}
	return 0;
}

/* Groups the batch by sequence, stably, so each group's tokens are in
 * position order (check_batch made batch order position order).  After
 * check_batch, next_pos - len is each sequence's token count in the batch;
 * it becomes the sequence's first slot.  Returns the number of groups. */
static int32_t
group_batch(struct l32_ctx *c, const struct l32_batch *b)
{
	int32_t ng = 0, at = 0;

	for (int32_t s = 0; s < c->p.n_seq; s++) {
		int32_t count = c->next_pos[s] - c->kv.len[s];

		if (count > 0)
			c->groups[ng++] = (struct group){ s, at, count };
		c->next_pos[s] = at;
		at += count;
	}
	for (int32_t i = 0; i < b->n; i++)
		c->slots[c->next_pos[b->seq[i]]++] =
		    (struct slot){ b->seq[i], b->pos[i], i };
	return ng;
}

/* Which tokens want logits or embeddings: rows in c->logits / c->xo. */
static void
plan_outputs(struct l32_ctx *c, const struct l32_batch *b, int32_t *n_out)
{
	int32_t nl = 0, no = 0;

	for (int32_t i = 0; i < b->n; i++) {
		unsigned want = b->out != NULL ? b->out[i] :
		    (i == b->n - 1 ? L32_OUT_LOGITS : 0);

		c->logit_row[i] = -1;
		c->embd_row[i] = -1;
		if (want & (L32_OUT_LOGITS | L32_OUT_EMBD)) {
			if (want & L32_OUT_EMBD)
				c->embd_row[i] = no;
			if (want & L32_OUT_LOGITS)
				c->logit_row[i] = nl++;
			no++;
		}
	}
	*n_out = no;
}

/* ---------------------------------------------------------- building blocks */

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

/* s[0..n) := softmax(s[0..n)) */
static void
softmax(float *s, int32_t n)
{
	float max = s[0], sum = 0.0f, inv;

	for (int32_t t = 1; t < n; t++)
		if (s[t] > max)
			max = s[t];
	for (int32_t t = 0; t < n; t++) {
		s[t] = expf(s[t] - max);
		sum += s[t];
	}
	inv = 1.0f / sum;
	for (int32_t t = 0; t < n; t++)
		s[t] *= inv;
}

static float
silu(float x)
{
	return x / (1.0f + expf(-x));
}

/* ---------------------------------------------------------------- attention */

/* hd values of row t of a K/V block from offset off: in place for an f32
 * cache, widened into tmp (hd) for an f16 one. */
static const float *
kv_row(const struct l32_kv *kv, const void *block, int32_t t, int32_t off,
    int32_t hd, float *tmp)
{
	size_t i = (size_t)t * (size_t)kv->kv_dim + (size_t)off;

	if (!kv->f16)
		return (const float *)block + i;
	l32_dequant_row_f16((const uint16_t *)block + i, tmp, hd);
	return tmp;
}

typedef float v4f __attribute__((vector_size(16)));

/* One head of one query: o_h = softmax(q_h · K_g[0..pos]ᵀ / sqrt(hd)) ·
 * V_g[0..pos], K_g and V_g the head's KV head at offset off of each cache
 * row.  s (n_ctx) and tmp (head_dim) are the calling thread's scratch. */
static void
attend_head(const struct l32_ctx *c, const void *K, const void *V,
    const float *qh, int32_t pos, int32_t off, float *oh, float *s, float *tmp)
{
	l32_dot_fn dot = l32_kernels_get(L32_TYPE_F32)->dot;
	int32_t hd = c->head_dim;
	float scale = 1.0f / sqrtf((float)hd);

	for (int32_t t = 0; t <= pos; t++)
		s[t] = dot(kv_row(&c->kv, K, t, off, hd, tmp), qh, hd) * scale;
	softmax(s, pos + 1);
	memset(oh, 0, (size_t)hd * sizeof(float));
	for (int32_t t = 0; t <= pos; t++) {
		const float *vt = kv_row(&c->kv, V, t, off, hd, tmp);
		float w = s[t];
		int32_t d = 0;

		/* oh += w vt, four lanes at a time (SSE on any x86-64) */
		for (; d + 4 <= hd; d += 4) {
			v4f o, v;

			memcpy(&o, oh + d, sizeof(o));
			memcpy(&v, vt + d, sizeof(v));
			o += w * v;
			memcpy(oh + d, &o, sizeof(o));
		}
		for (; d < hd; d++)
			oh[d] += w * vt[d];
	}
}

/* The single queries of a batch (decode steps), one (query, head) pair at
 * a time over the threads. */
struct att_job {
	struct l32_ctx *c;
	int32_t layer, n;     /* queries: slots c->att1[0..n) */
	atomic_int next;
};

static void
att_run(void *arg, int ith, int nth)
{
	struct att_job *j = arg;
	struct l32_ctx *c = j->c;
	int32_t hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
	float *s = c->scores + (size_t)ith * (size_t)c->p.n_ctx;
	float *tmp = c->kvrow + (size_t)ith * (size_t)hd;
	int i;

	(void)nth;
	while ((i = atomic_fetch_add(&j->next, 1)) < j->n * c->n_heads) {
		const struct slot *sl = &c->slots[c->att1[i / c->n_heads]];
		int32_t h = i % c->n_heads;
		size_t qo = (size_t)sl->idx * c->q_dim + (size_t)h * hd;

		attend_head(c, l32_kv_block(&c->kv, j->layer, sl->seq, 0),
		    l32_kv_block(&c->kv, j->layer, sl->seq, 1), c->q + qo, sl->pos,
		    (h / group) * hd, c->att + qo, s, tmp);
	}
}

/* Attention of nq queries of one sequence on BLIS, ATT_QCHUNK queries at
 * a time, the heads claimed by the pool's threads (each with its own
 * scores and a one-thread BLIS call: a head's products are too small to
 * split well):
 *   S (qc, L) = Q_h (qc, hd) · K_g (L, hd)ᵀ / sqrt(hd), masked, softmax
 *   O_h (qc, hd) = S · V_g (L, hd)
 * q, o: (nq, q_dim); K, V: (L, kv_dim) f32, L = pos[nq-1] + 1;
 * pos: (nq) consecutive positions. */
struct attg_job {
	struct l32_ctx *c;
	const float *K, *V, *q;
	const int32_t *pos;
	int32_t nq;
	float *o;
	atomic_int next;   /* the first head not yet claimed */
};

static void
attg_head(struct attg_job *j, int32_t h, float *scores)
{
	struct l32_ctx *c = j->c;
	int32_t hd = c->head_dim, off = (h / (c->n_heads / c->n_kv_heads)) * hd;
	int64_t ldq = c->q_dim, ldkv = c->kv_dim, lds = c->p.n_ctx;
	float scale = 1.0f / sqrtf((float)hd);

	for (int32_t j0 = 0; j0 < j->nq; j0 += ATT_QCHUNK) {
		int32_t qc = j->nq - j0 < ATT_QCHUNK ? j->nq - j0 : ATT_QCHUNK;
		int32_t L = j->pos[j0 + qc - 1] + 1;   /* keys this chunk sees */

		/* S := scale * Q_h · K_gᵀ; K_g (L, hd) stored with row stride kv_dim */
		l32_sgemm_1(1, qc, L, hd, scale, j->q + (size_t)j0 * ldq + (size_t)h * hd,
		    ldq, j->K + off, ldkv, scores, lds);
		for (int32_t i = 0; i < qc; i++) {
			float *s = scores + (size_t)i * lds;
			int32_t n = j->pos[j0 + i] + 1;   /* causal: keys 0..pos */

			softmax(s, n);
			memset(s + n, 0, (size_t)(L - n) * sizeof(float));
		}
		/* O_h := S · V_g */
		l32_sgemm_1(0, qc, hd, L, 1.0f, scores, lds, j->V + off, ldkv,
		    j->o + (size_t)j0 * ldq + (size_t)h * hd, ldq);
	}
}

static void
attg_run(void *arg, int ith, int nth)
{
	struct attg_job *j = arg;
	float *scores = j->c->scores + (size_t)ith * ATT_QCHUNK * (size_t)j->c->p.n_ctx;
	int h;

	(void)nth;
	while ((h = atomic_fetch_add(&j->next, 1)) < j->c->n_heads)
		attg_head(j, h, scores);
}

static void
attend_gemm(struct l32_ctx *c, const float *K, const float *V, const float *q,
    const int32_t *pos, int32_t nq, float *o)
{
	struct attg_job j = { c, K, V, q, pos, nq, o, 0 };

	atomic_init(&j.next, 0);
	/* scores and outputs: 2 products of nq x keys x head_dim per head */
	l32_pool_share_work(c->pool, attg_run, &j,
	    2 * (int64_t)c->n_heads * nq * (pos[nq - 1] + 1) * c->head_dim);
}

/* Attention of a run of at least ATT_GEMM_MIN batch tokens of one
 * sequence, on BLIS; their K/V are already in the cache. */
static void
attend_group(struct l32_ctx *c, int32_t layer, const struct group *g)
{
	const struct slot *sl = c->slots + g->first;
	const void *K = l32_kv_block(&c->kv, layer, g->seq, 0);
	const void *V = l32_kv_block(&c->kv, layer, g->seq, 1);
	int32_t *pos = c->gpos;
	int32_t L;

	/* gather the queries, widen an f16 cache, scatter the outputs */
	for (int32_t j = 0; j < g->n; j++) {
		memcpy(c->qg + (size_t)j * c->q_dim, c->q + (size_t)sl[j].idx * c->q_dim,
		    (size_t)c->q_dim * sizeof(float));
		pos[j] = sl[j].pos;
	}
	L = sl[g->n - 1].pos + 1;
	if (c->kv.f16) {
		l32_kv_widen(&c->kv, K, L, c->kw);
		l32_kv_widen(&c->kv, V, L, c->vw);
		K = c->kw;
		V = c->vw;
	}
	attend_gemm(c, K, V, c->qg, pos, g->n, c->og);
	for (int32_t j = 0; j < g->n; j++)
		memcpy(c->att + (size_t)sl[j].idx * c->q_dim, c->og + (size_t)j * c->q_dim,
		    (size_t)c->q_dim * sizeof(float));
}

/* ------------------------------------------------------------------ layers */

/* x += attention(rmsnorm(x)) · Woᵀ, writing this batch's K/V to the cache. */
static int
attention_block(struct l32_ctx *c, const struct l32_batch *b, int32_t layer,
    int32_t n_groups, struct l32_err *err)
{
	const struct l32_layer *L = &c->m->w.layers[layer];
	int32_t n = b->n, half = c->head_dim / 2, n1;
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
	/* att (n, q_dim): a sequence's run of queries on BLIS, single
	 * queries (decode) over the threads */
	n1 = 0;
	for (int32_t g = 0; g < n_groups; g++) {
		const struct group *gr = &c->groups[g];

		if (gr->n >= ATT_GEMM_MIN)
			attend_group(c, layer, gr);
		else
			for (int32_t j = 0; j < gr->n; j++)
				c->att1[n1++] = gr->first + j;
	}
	if (n1 > 0) {
		struct att_job j = { c, layer, n1, 0 };
		int64_t keys = 0;

		for (int32_t i = 0; i < n1; i++)
			keys += c->slots[c->att1[i]].pos + 1;
		atomic_init(&j.next, 0);
		l32_pool_share_work(c->pool, att_run, &j, 2 * keys * c->n_heads * c->head_dim);
	}
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
	if (check_batch(c, b, err) < 0)
		return -1;
	n_groups = group_batch(c, b);
	plan_outputs(c, b, &n_out);
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
