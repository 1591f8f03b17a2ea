/*
 * attention.c - softmax(q·Kᵀ / sqrt(head_dim) + causal mask) · V for every
 * head of every batch token over its sequence's K/V cache (GQA: a group of
 * query heads shares one KV head).  A prompt's run of queries goes to BLIS
 * a chunk at a time; single queries (decode steps) run head by head over
 * the thread pool.
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
struct decode_attn_job {
	struct l32_ctx *c;
	int32_t layer, n;     /* queries: slots c->decode_q[0..n) */
	atomic_int next;
};

static void
decode_attn_run(void *arg, int ith, int nth)
{
	struct decode_attn_job *j = arg;
	struct l32_ctx *c = j->c;
	int32_t hd = c->head_dim, group = c->n_heads / c->n_kv_heads;
	float *s = c->scores + (size_t)ith * (size_t)c->p.n_ctx;
	float *tmp = c->kvrow + (size_t)ith * (size_t)hd;
	int i;

	(void)nth;
	while ((i = atomic_fetch_add(&j->next, 1)) < j->n * c->n_heads) {
		const struct slot *sl = &c->slots[c->decode_q[i / c->n_heads]];
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
		l32_kv_widen(&c->kv, K, L, c->k_wide);
		l32_kv_widen(&c->kv, V, L, c->v_wide);
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
	if (n1 > 0) {
		struct decode_attn_job j = { c, layer, n1, 0 };
		int64_t keys = 0;

		for (int32_t i = 0; i < n1; i++)
			keys += c->slots[c->decode_q[i]].pos + 1;
		atomic_init(&j.next, 0);
		l32_pool_share_work(c->pool, decode_attn_run, &j, 2 * keys * c->n_heads * c->head_dim);
	}
}
