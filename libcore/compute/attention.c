/*
 * attention.c - softmax(q·Kᵀ / sqrt(head_dim) + causal mask) · V for every
 * head of every batch token over its sequence's K/V cache (GQA: a group of
 * query heads shares one KV head).  A prompt's run of queries goes to BLIS
 * a chunk at a time; single queries (decode steps) run KV head by KV head
 * over the thread pool, a long one's positions spread over the threads.
 */
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "compute/ctx.h"
#include "compute/kernels/kernels.h"
#include "formats/quant.h"

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

/*
 * Decode attention: the single queries of a batch, one (query, KV head)
 * pair, an item, at a time: the kernel (kernels.h, l32_attn_fn) makes
 * each L32_ATTN_CHUNK positions' share of the softmax for all the query
 * heads of the KV head at once, and the shares are merged in position
 * order.  When there are few items for the threads (one long sequence),
 * the chunks of an item are spread over the threads, their shares kept
 * in c->att_part and merged afterwards in the same order: the same
 * operations either way, so a query's result depends only on its
 * position.
 */

/* Floats of one chunk's share: m and l of each head of a group, then
 * their outputs (kernels.h). */
static size_t
part_floats(const struct l32_ctx *c)
{
	return (size_t)(c->n_heads / c->n_kv_heads) * (size_t)(c->head_dim + 2);
}

/* The chunks of a query at pos. */
static int32_t
n_chunks(int32_t pos)
{
	return pos / L32_ATTN_CHUNK + 1;
}

size_t
l32_attention_tmp_floats(const struct l32_ctx *c)
{
	return l32_attn_tmp_floats(c->n_heads / c->n_kv_heads, c->head_dim) +
	    2 * part_floats(c);
}

size_t
l32_attention_part_floats(const struct l32_ctx *c)
{
	return (size_t)ATT_SPLIT * (size_t)c->n_threads *
	    (size_t)n_chunks(c->p.n_ctx - 1) * part_floats(c);
}

struct decode_attn_job {
	struct l32_ctx *c;
	l32_attn_fn attn;
	int32_t layer, n;     /* queries: slots c->decode_q[0..n) */
	int32_t items;        /* n * n_kv_heads */
	int32_t *first;       /* spread: item i's chunks are units first[i] .. first[i+1]-1 */
	atomic_int next;
};

/* Chunk ch of an item's positions into out (part_floats). */
static void
chunk_share(const struct decode_attn_job *j, int32_t item, int32_t ch, float *tmp,
    float *out)
{
	const struct l32_ctx *c = j->c;
	int32_t g = c->n_heads / c->n_kv_heads, hd = c->head_dim, kvh = item % c->n_kv_heads;
	const struct slot *sl = &c->slots[c->decode_q[item / c->n_kv_heads]];
	int32_t t0 = ch * L32_ATTN_CHUNK, n = sl->pos + 1 - t0;
	size_t es = c->kv.f16 ? sizeof(uint16_t) : sizeof(float);
	size_t off = ((size_t)t0 * (size_t)c->kv_dim + (size_t)kvh * (size_t)hd) * es;
	struct l32_attn_chunk a = {
		.k = (const char *)l32_kv_block(&c->kv, j->layer, sl->seq, 0) + off,
		.v = (const char *)l32_kv_block(&c->kv, j->layer, sl->seq, 1) + off,
		.ld = c->kv_dim,
		.q = c->q + (size_t)sl->idx * (size_t)c->q_dim + (size_t)kvh * (size_t)g * (size_t)hd,
		.g = g, .hd = hd, .n = n < L32_ATTN_CHUNK ? n : L32_ATTN_CHUNK,
		.scale = 1.0f / sqrtf((float)hd),
		.tmp = tmp, .out = out,
	};

	j->attn(&a);
}

/* acc := acc merged with the share of the chunk after it: both
 * rescaled to their common max. */
static void
merge(float *acc, const float *part, int32_t g, int32_t hd)
{
	for (int32_t i = 0; i < g; i++) {
		float m = acc[i] > part[i] ? acc[i] : part[i];
		float a = expf(acc[i] - m), b = expf(part[i] - m);
		float *o = acc + 2 * g + (size_t)i * (size_t)hd;
		const float *p = part + 2 * g + (size_t)i * (size_t)hd;

		acc[i] = m;
		acc[g + i] = acc[g + i] * a + part[g + i] * b;
		for (int32_t d = 0; d < hd; d++)
			o[d] = o[d] * a + p[d] * b;
	}
}

/* The item's output heads := its merged share over its sum. */
static void
finish(const struct decode_attn_job *j, int32_t item, const float *acc)
{
	const struct l32_ctx *c = j->c;
	int32_t g = c->n_heads / c->n_kv_heads, hd = c->head_dim, kvh = item % c->n_kv_heads;
	const struct slot *sl = &c->slots[c->decode_q[item / c->n_kv_heads]];
	float *o = c->att + (size_t)sl->idx * (size_t)c->q_dim + (size_t)kvh * (size_t)g * (size_t)hd;

	for (int32_t i = 0; i < g; i++) {
		float inv = 1.0f / acc[g + i];

		for (int32_t d = 0; d < hd; d++)
			o[(size_t)i * (size_t)hd + (size_t)d] = acc[2 * g + (size_t)i * (size_t)hd + (size_t)d] * inv;
	}
}

static float *
thread_tmp(const struct l32_ctx *c, int ith)
{
	return c->att_tmp + (size_t)ith * l32_attention_tmp_floats(c);
}

/* Whole items, one thread each: its chunks in order, merged as they come. */
static void
decode_items_run(void *arg, int ith, int nth)
{
	struct decode_attn_job *j = arg;
	const struct l32_ctx *c = j->c;
	float *tmp = thread_tmp(c, ith);
	float *acc = tmp + l32_attn_tmp_floats(c->n_heads / c->n_kv_heads, c->head_dim);
	float *cur = acc + part_floats(c);
	int32_t g = c->n_heads / c->n_kv_heads;
	int it;

	(void)nth;
	while ((it = atomic_fetch_add(&j->next, 1)) < j->items) {
		int32_t nc = n_chunks(c->slots[c->decode_q[it / c->n_kv_heads]].pos);

		chunk_share(j, it, 0, tmp, acc);
		for (int32_t ch = 1; ch < nc; ch++) {
			chunk_share(j, it, ch, tmp, cur);
			merge(acc, cur, g, c->head_dim);
		}
		finish(j, it, acc);
	}
}

/* Spread items, first pass: every chunk of every item into its place
 * in c->att_part. */
static void
decode_chunks_run(void *arg, int ith, int nth)
{
	struct decode_attn_job *j = arg;
	const struct l32_ctx *c = j->c;
	float *tmp = thread_tmp(c, ith);
	int32_t it = 0;
	int u;

	(void)nth;
	while ((u = atomic_fetch_add(&j->next, 1)) < j->first[j->items]) {
		/* a thread's units only grow, so its item does too */
		while (j->first[it + 1] <= u)
			it++;
		chunk_share(j, it, u - j->first[it], tmp, c->att_part + (size_t)u * part_floats(c));
	}
}

/* Spread items, second pass: each item's shares merged in order. */
static void
decode_merge_run(void *arg, int ith, int nth)
{
	struct decode_attn_job *j = arg;
	const struct l32_ctx *c = j->c;
	size_t pf = part_floats(c);
	int it;

	(void)ith;
	(void)nth;
	while ((it = atomic_fetch_add(&j->next, 1)) < j->items) {
		float *acc = c->att_part + (size_t)j->first[it] * pf;

		for (int32_t u = j->first[it] + 1; u < j->first[it + 1]; u++)
			merge(acc, c->att_part + (size_t)u * pf, c->n_heads / c->n_kv_heads,
			    c->head_dim);
		finish(j, it, acc);
	}
}

static void
attend_decode(struct l32_ctx *c, int32_t layer, int32_t n)
{
	struct decode_attn_job j = { c, l32_attn_kernel(c->kv.f16), layer, n,
	    n * c->n_kv_heads, NULL, 0 };
	int64_t keys = 0;

	for (int32_t i = 0; i < n; i++)
		keys += c->slots[c->decode_q[i]].pos + 1;
	atomic_init(&j.next, 0);
	if (c->n_threads == 1 || j.items >= ATT_SPLIT * c->n_threads) {
		l32_pool_share_work(c->pool, decode_items_run, &j,
		    2 * keys * c->n_heads * c->head_dim);
		return;
	}
	j.first = c->att_first;
	j.first[0] = 0;
	for (int32_t it = 0; it < j.items; it++)
		j.first[it + 1] = j.first[it] +
		    n_chunks(c->slots[c->decode_q[it / c->n_kv_heads]].pos);
	l32_pool_share_work(c->pool, decode_chunks_run, &j, 2 * keys * c->n_heads * c->head_dim);
	atomic_store(&j.next, 0);
	l32_pool_share_work(c->pool, decode_merge_run, &j,
	    (int64_t)j.first[j.items] * (int64_t)part_floats(c) * 2);
}

/* Attention of nq queries of one sequence on BLIS, ATT_QCHUNK queries at
 * a time, the heads claimed by the pool's threads (each with its own
 * scores and a one-thread BLIS call: a head's products are too small to
 * split well):
 *   S (qc, L) = Q_h (qc, hd) · K_g (L, hd)ᵀ / sqrt(hd), masked, softmax
 *   O_h (qc, hd) = S · V_g (L, hd)
 * q, o: (nq, q_dim); K, V: (L, kv_dim) f32, L = pos[nq-1] + 1;
 * pos: (nq) consecutive positions. */
struct prompt_attn_job {
	struct l32_ctx *c;
	const float *K, *V, *q;
	const int32_t *pos;
	int32_t nq;
	float *o;
	atomic_int next;   /* the first head not yet claimed */
};

static void
prompt_attn_head(struct prompt_attn_job *j, int32_t h, float *scores)
{
	struct l32_ctx *c = j->c;
	int32_t hd = c->head_dim, off = (h / (c->n_heads / c->n_kv_heads)) * hd;
	int64_t ldq = c->q_dim, ldkv = c->kv_dim, lds = c->p.n_ctx;
	float scale = 1.0f / sqrtf((float)hd);

	for (int32_t j0 = 0, qc; j0 < j->nq; j0 += qc) {
		/* chunks end at multiples of ATT_QCHUNK in absolute positions,
		 * whatever the batch: see l32_attention */
		int32_t room = ATT_QCHUNK - j->pos[j0] % ATT_QCHUNK;
		int32_t L;

		qc = j->nq - j0 < room ? j->nq - j0 : room;
		L = j->pos[j0 + qc - 1] + 1;   /* keys this chunk sees */

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
prompt_attn_run(void *arg, int ith, int nth)
{
	struct prompt_attn_job *j = arg;
	float *scores = j->c->scores + (size_t)ith * ATT_QCHUNK * (size_t)j->c->p.n_ctx;
	int h;

	(void)nth;
	while ((h = atomic_fetch_add(&j->next, 1)) < j->c->n_heads)
		prompt_attn_head(j, h, scores);
}

static void
attend_prompt(struct l32_ctx *c, const float *K, const float *V, const float *q,
    const int32_t *pos, int32_t nq, float *o)
{
	struct prompt_attn_job j = { c, K, V, q, pos, nq, o, 0 };

	atomic_init(&j.next, 0);
	/* scores and outputs: 2 products of nq x keys x head_dim per head */
	l32_pool_share_work(c->pool, prompt_attn_run, &j,
	    2 * (int64_t)c->n_heads * nq * (pos[nq - 1] + 1) * c->head_dim);
}

/* Positions of an f16 cache widened at a time (a unit of the threads). */
#define WIDEN_ROWS 256

struct widen_job {
	const void *K, *V;
	float *k, *v;
	int32_t L, kv_dim;
	l32_dequant_fn dequant;
	atomic_int next;
};

static void
widen_run(void *arg, int ith, int nth)
{
	struct widen_job *j = arg;
	int32_t units = (j->L + WIDEN_ROWS - 1) / WIDEN_ROWS;
	int u;

	(void)ith;
	(void)nth;
	while ((u = atomic_fetch_add(&j->next, 1)) < 2 * units) {
		int32_t t0 = (u / 2) * WIDEN_ROWS;
		int32_t n = j->L - t0 < WIDEN_ROWS ? j->L - t0 : WIDEN_ROWS;
		size_t at = (size_t)t0 * (size_t)j->kv_dim;

		j->dequant((const uint16_t *)(u % 2 ? j->V : j->K) + at,
		    (u % 2 ? j->v : j->k) + at, (int64_t)n * j->kv_dim);
	}
}

/* c->k_wide, c->v_wide := positions [0, L) of an f16 K and V block, by
 * the installed F16 kernel over the threads (exact, as any widening). */
static void
widen(struct l32_ctx *c, const void *K, const void *V, int32_t L)
{
	struct widen_job j = { K, V, c->k_wide, c->v_wide, L, c->kv_dim,
	    l32_kernels_get(L32_TYPE_F16)->dequant, 0 };

	atomic_init(&j.next, 0);
	l32_pool_share_work(c->pool, widen_run, &j, 2 * (int64_t)L * c->kv_dim);
}

/* Attention of a run of whole query chunks (see l32_attention) of one
 * sequence, on BLIS; their K/V are already in the cache. */
static void
attend_group(struct l32_ctx *c, int32_t layer, const struct group *g)
{
	const struct slot *sl = c->slots + g->first;
	const void *K = l32_kv_block(&c->kv, layer, g->seq, 0);
	const void *V = l32_kv_block(&c->kv, layer, g->seq, 1);
	int32_t *pos = c->seq_pos;
	int32_t L;

	/* gather the queries, widen an f16 cache, scatter the outputs */
	for (int32_t j = 0; j < g->n; j++) {
		memcpy(c->seq_q + (size_t)j * c->q_dim, c->q + (size_t)sl[j].idx * c->q_dim,
		    (size_t)c->q_dim * sizeof(float));
		pos[j] = sl[j].pos;
	}
	L = sl[g->n - 1].pos + 1;
	if (c->kv.f16) {
		widen(c, K, V, L);
		K = c->k_wide;
		V = c->v_wide;
	}
	attend_prompt(c, K, V, c->seq_q, pos, g->n, c->seq_out);
	for (int32_t j = 0; j < g->n; j++)
		memcpy(c->att + (size_t)sl[j].idx * c->q_dim, c->seq_out + (size_t)j * c->q_dim,
		    (size_t)c->q_dim * sizeof(float));
}

/* Positions [a, b) of a sequence's run of slots that make one query
 * chunk: up to the next multiple of ATT_QCHUNK. */
static int32_t
chunk_end(const struct l32_ctx *c, const struct group *gr, int32_t a)
{
	const struct slot *sl = c->slots + gr->first;
	int32_t b = a + 1;

	while (b < gr->n && sl[b].pos % ATT_QCHUNK != 0)
		b++;
	return b;
}

/*
 * Which path a query takes, and with which others, depends only on the
 * absolute positions of the sequence's queries in this batch: a chunk
 * (queries between two multiples of ATT_QCHUNK) of at least ATT_GEMM_MIN
 * queries goes to BLIS as one product, a smaller one query by query.  So
 * a prompt whose first positions came from elsewhere (a prefix cache, a
 * sibling choice, at a multiple of ATT_QCHUNK) is computed with the very
 * products, shapes and all, of the same prompt computed whole, and gives
 * the same bits (BLIS may round differently by matrix shape).
 */
void
l32_attention(struct l32_ctx *c, int32_t layer, int32_t n_groups)
{
	int32_t n1;

	n1 = 0;
	for (int32_t g = 0; g < n_groups; g++) {
		const struct group *gr = &c->groups[g];
		int32_t a = 0, b, run = -1;

		for (; a < gr->n; a = b) {
			b = chunk_end(c, gr, a);
			if (b - a >= ATT_GEMM_MIN) {
				if (run < 0)
					run = a;
				continue;
			}
			if (run >= 0) {
				struct group sub = { gr->seq, gr->first + run, a - run };

				attend_group(c, layer, &sub);
				run = -1;
			}
			for (int32_t j = a; j < b; j++)
				c->decode_q[n1++] = gr->first + j;
		}
		if (run >= 0) {
			struct group sub = { gr->seq, gr->first + run, gr->n - run };

			attend_group(c, layer, &sub);
		}
	}
	if (n1 > 0)
		attend_decode(c, layer, n1);
}
