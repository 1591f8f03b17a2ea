/*
 * ctx.h - a forward-pass context: the model, its K/V cache, the run state
 * of one batch, and the steps of l32_ctx_decode that live in their own
 * files (the batch plan, attention).  Internal to compute/.
 */
#ifndef L32_CTX_H
#define L32_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "compute/kvcache.h"
#include "compute/matmul.h"
#include "model/model.h"
#include "base/pool.h"

/* Query tokens of one sequence from which attention runs on BLIS. */
#define ATT_GEMM_MIN 8
/* Query rows of a sequence whose scores are held at once (GEMM path). */
#define ATT_QCHUNK 64
/* chunk boundaries are where a cache may be taken over (l32_attention) */
_Static_assert(L32_CTX_ALIGN % ATT_QCHUNK == 0, "L32_CTX_ALIGN must be whole chunks");

/* Decode attention spreads a query's positions over the threads while
 * it has fewer than ATT_SPLIT (query, KV head) pairs per thread. */
#define ATT_SPLIT 4

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
	float *seq_q;     /* (n_batch, q_dim) one sequence's queries, gathered */
	float *seq_out;   /* (n_batch, q_dim) their attention outputs */
	float *scores;    /* (n_threads, ATT_QCHUNK, n_ctx) attention weights, per thread */
	float *k_wide;    /* (n_ctx, kv_dim) a sequence's f16 K widened; kv_f16 only */
	float *v_wide;    /* (n_ctx, kv_dim) its V widened */
	float *att_tmp;   /* (n_threads, l32_attention_tmp_floats) decode attention
	                   * scratch, per thread */
	float *att_part;  /* (l32_attention_part_floats) the chunks' shares of
	                   * spread decode attention */
	int32_t *att_first; /* (ATT_SPLIT * n_threads + 1) its first chunk per pair */
	float *xo;        /* (n_batch, dim) final normalized states of output tokens */
	float *logits;    /* (n_batch, vocab) */
	struct slot *slots;   /* (n_batch) batch tokens grouped by seq, by pos */
	struct group *groups; /* (n_batch) */
	int32_t *next_pos;    /* (n_seq) batch check: next position per sequence */
	int32_t *seq_pos;     /* (n_batch) positions of one sequence's tokens */
	int32_t *decode_q;    /* (n_batch) slots whose attention runs query by query */
	int32_t *logit_row;   /* (n_batch) row in logits, or -1 */
	int32_t *embd_row;    /* (n_batch) row in xo, or -1 */
	int32_t *fault;       /* (n_batch) where the token's activations first went
	                       * non-finite (l32_ctx_fault), 0 while finite */
	int32_t n_last;       /* tokens of the last decoded batch */
};

/* Checks a batch, groups its tokens by sequence (c->slots, c->groups) and
 * plans which rows get logits or embeddings; *n_groups and *n_out count
 * them. */
int l32_batch_plan(struct l32_ctx *c, const struct l32_batch *b, int32_t *n_groups,
    int32_t *n_out, struct l32_err *err);

/* c->att (n, q_dim) := attention of every batch token over its sequence's
 * cache (this layer's K/V of the batch already stored): runs of a
 * sequence's queries on BLIS, single queries over the threads. */
void l32_attention(struct l32_ctx *c, int32_t layer, int32_t n_groups);
/* Floats of decode attention's scratch per thread, and of its shares. */
size_t l32_attention_tmp_floats(const struct l32_ctx *c);
size_t l32_attention_part_floats(const struct l32_ctx *c);

#endif /* L32_CTX_H */
