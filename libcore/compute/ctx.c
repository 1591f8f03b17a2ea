/*
 * ctx.c - a forward-pass context: parameters and the model's shapes
 * checked, the memory it will take checked before anything is mapped, the
 * run state laid out in one mapping, the K/V cache, threads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compute/ctx.h"
#include "compute/kernels/kernels.h"

/* Limits on the context parameters, far above any practical use. */
#define MAX_SEQ 65536
#define MAX_BATCH (1 << 20)

void
l32_ctx_params_init(struct l32_ctx_params *p)
{
	p->n_ctx = 4096;
	p->n_seq = 1;
	p->n_batch = 512;
	p->n_step = 0;
	p->n_threads = 0;
	p->kv_f16 = 0;
	p->cache_mem = -1;
	p->prefix_cache = NULL;
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
	TAKE(seq_q, nb * c->q_dim);
	TAKE(seq_out, nb * c->q_dim);
	TAKE(scores, (size_t)c->n_threads * ATT_QCHUNK * nctx);
	TAKE(k_wide, c->p.kv_f16 ? nctx * c->kv_dim : 0);
	TAKE(v_wide, c->p.kv_f16 ? nctx * c->kv_dim : 0);
	TAKE(att_tmp, (size_t)c->n_threads * l32_attention_tmp_floats(c));
	TAKE(att_part, l32_attention_part_floats(c));
	TAKE(att_first, (size_t)ATT_SPLIT * c->n_threads + 1);
	TAKE(xo, nb * c->dim);
	TAKE(logits, nb * c->vocab);
	TAKE(slots, nb);
	TAKE(groups, nb);
	TAKE(next_pos, c->p.n_seq);
	TAKE(seq_pos, nb);
	TAKE(decode_q, nb);
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
	if (p->n_step < 0 || p->n_step > MAX_SEQ)
		return l32_err_set(err, L32_ERR_INVALID,
		    "context: n_step %d is outside 0..%d", p->n_step, MAX_SEQ);
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
	int32_t step;
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
	step = p->n_step > p->n_seq ? p->n_step : p->n_seq;
	if (c->mm.gemm_min <= step)
		c->mm.gemm_min = (int64_t)step + 1;
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


long
l32_ctx_split_jobs(const struct l32_ctx *c)
{
	return l32_pool_split_jobs(c->pool);
}

size_t
l32_ctx_pos_bytes(const struct l32_ctx *c)
{
	return l32_kv_pos_bytes(&c->kv);
}

void
l32_ctx_seq_save(const struct l32_ctx *c, int32_t seq, int32_t from, int32_t n, void *dst)
{
	l32_kv_xfer(&c->kv, seq, from, n, dst, NULL);
}

int
l32_ctx_seq_load(struct l32_ctx *c, int32_t seq, int32_t n, const void *src,
    struct l32_err *err)
{
	int32_t at;

	if (seq < 0 || seq >= c->p.n_seq)
		return l32_err_set(err, L32_ERR_INVALID, "seq %d is outside 0..%d", seq,
		    c->p.n_seq - 1);
	at = c->kv.len[seq];
	if (n < 0 || n > c->p.n_ctx - at)
		return l32_err_set(err, L32_ERR_CONTEXT, "seq %d: %d more positions do not "
		    "fit the context window of %d", seq, n, c->p.n_ctx);
	l32_kv_xfer(&c->kv, seq, at, n, NULL, src);
	c->kv.len[seq] = at + n;
	return 0;
}

void
l32_ctx_seq_copy(struct l32_ctx *c, int32_t src, int32_t dst, int32_t n)
{
	size_t row = l32_kv_pos_bytes(&c->kv) / (size_t)(2 * c->kv.n_layers);

	for (int32_t l = 0; l < c->kv.n_layers; l++)
		for (int w = 0; w < 2; w++)
			memcpy(l32_kv_block(&c->kv, l, dst, w), l32_kv_block(&c->kv, l, src, w),
			    (size_t)n * row);
	c->kv.len[dst] = n;
}

/* 1 when a token's product with w does not depend on the other tokens of
 * the batch: the type's prompt kernel gives its rows kernel's bits (BLIS,
 * which F32, F16 and BF16 weights take for a prompt, may round
 * differently by the shape of the product). */
static int
invariant(const struct l32_tensor *w)
{
	const struct l32_kernels *k = l32_kernels_get(w->type);

	return k != NULL && k->gemm != NULL;
}

int32_t
l32_ctx_gemm_tokens(const struct l32_ctx *c)
{
	return (int32_t)c->mm.gemm_min;
}

int32_t
l32_ctx_align(const struct l32_ctx *c)
{
	const struct l32_weights *w = &c->m->w;

	for (int32_t l = 0; l < c->kv.n_layers; l++) {
		const struct l32_layer *ly = &w->layers[l];

		if (!invariant(&ly->wq) || !invariant(&ly->wk) || !invariant(&ly->wv) ||
		    !invariant(&ly->wo) || !invariant(&ly->w1) || !invariant(&ly->w2) ||
		    !invariant(&ly->w3))
			return c->p.n_batch;
	}
	return L32_CTX_ALIGN;
}
