/*
 * sampler.c - from logits to the next token: logit bias, penalties,
 * temperature, top-k, top-p, min-p, and a seeded random draw.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen/l32_gen.h"

/* ------------------------------------------------------------------- rng */

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
l32_rng_seed(struct l32_rng *r, uint64_t seed)
{
	int i;

	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t
l32_rng_next(struct l32_rng *r)
{
	uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double
l32_rng_uniform(struct l32_rng *r)
{
	return (double)(l32_rng_next(r) >> 11) * 0x1.0p-53;
}

/* --------------------------------------------------------------- sampler */

struct cand {
	int32_t id;
	float v;      /* adjusted logit, then probability */
};

struct l32_sampler {
	int32_t n_vocab;
	float *adj;          /* (n_vocab) logits after bias and penalties */
	struct cand *cand;   /* (n_vocab) candidates */
};

void
l32_sampling_init(struct l32_sampling *s)
{
	memset(s, 0, sizeof(*s));
	s->temperature = 1.0f;
	s->top_p = 1.0f;
}

struct l32_sampler *
l32_sampler_new(int32_t n_vocab)
{
	struct l32_sampler *sm = calloc(1, sizeof(*sm));

	if (sm == NULL)
		return NULL;
	sm->n_vocab = n_vocab;
	sm->adj = malloc((size_t)n_vocab * sizeof(*sm->adj));
	sm->cand = malloc((size_t)n_vocab * sizeof(*sm->cand));
	if (sm->adj == NULL || sm->cand == NULL) {
		l32_sampler_free(sm);
		return NULL;
	}
	return sm;
}

void
l32_sampler_free(struct l32_sampler *sm)
{
	if (sm == NULL)
		return;
	free(sm->adj);
	free(sm->cand);
	free(sm);
}

static int
cand_desc(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	if (x->v != y->v)
		return x->v > y->v ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;  /* stable order for ties */
}

/* Applies logit_bias and the OpenAI penalties:
 * logit -= count * frequency_penalty + (count > 0) * presence_penalty. */
static void
adjust(struct l32_sampler *sm, const struct l32_sampling *s, const float *logits,
    const uint32_t *counts)
{
	int32_t i;
	size_t b;

	memcpy(sm->adj, logits, (size_t)sm->n_vocab * sizeof(float));
	for (b = 0; b < s->n_bias; b++)
		if (s->bias[b].id >= 0 && s->bias[b].id < sm->n_vocab)
			sm->adj[s->bias[b].id] += s->bias[b].bias;
	if (counts == NULL || (s->presence_penalty == 0 && s->frequency_penalty == 0))
		return;
	for (i = 0; i < sm->n_vocab; i++)
		if (counts[i] > 0)
			sm->adj[i] -= (float)counts[i] * s->frequency_penalty + s->presence_penalty;
}

static int32_t
argmax(const float *v, int32_t n)
{
	int32_t i, best = 0;

	for (i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

/* Partial quickselect: moves the k largest candidates to the front. */
static void
select_top(struct cand *c, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1, i, j;
	struct cand pivot, t;

	while (lo < hi) {
		pivot = c[lo + (hi - lo) / 2];
		i = lo;
		j = hi;
		while (i <= j) {
			while (cand_desc(&c[i], &pivot) < 0)
				i++;
			while (cand_desc(&c[j], &pivot) > 0)
				j--;
			if (i <= j) {
				t = c[i], c[i] = c[j], c[j] = t;
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k - 1 <= j)
			hi = j;
		else if (k - 1 >= i)
			lo = i;
		else
			break;
	}
}

/* Draws an index with probability proportional to p over all ids. */
static int32_t
draw_all(const float *p, int32_t n, double sum, struct l32_rng *rng)
{
	double r = l32_rng_uniform(rng) * sum, acc = 0;
	int32_t i;

	for (i = 0; i < n; i++) {
		acc += p[i];
		if (r < acc)
			return i;
	}
	/* rounding: the last id that had any weight (never a masked one) */
	while (n > 1 && p[n - 1] <= 0)
		n--;
	return n - 1;
}

int32_t
l32_sampler_pick(struct l32_sampler *sm, const struct l32_sampling *s,
    const float *logits, const uint32_t *counts, struct l32_rng *rng)
{
	float *p = sm->adj, maxv, inv_t, thr = 0;
	double sum = 0, acc, r;
	size_t n = 0, i, keep;
	int32_t v;

	adjust(sm, s, logits, counts);
	if (s->temperature <= 0 || s->top_k == 1)
		return argmax(p, sm->n_vocab);
	maxv = p[argmax(p, sm->n_vocab)];
	inv_t = 1.0f / s->temperature;
	for (v = 0; v < sm->n_vocab; v++) {  /* unnormalised probabilities, best = 1 */
		p[v] = p[v] == -INFINITY ? 0 : expf((p[v] - maxv) * inv_t);  /* (masked by a grammar) */
		sum += p[v];
	}
	if (s->top_k <= 0 && s->top_p >= 1.0f && s->min_p <= 0)
		return draw_all(p, sm->n_vocab, sum, rng);
	/* Tokens under these bounds cannot survive min_p or top_p. */
	if (s->min_p > 0)
		thr = s->min_p;
	if (s->top_k <= 0 && s->top_p < 1.0f && (1.0 - s->top_p) * sum / (sm->n_vocab - 1) > thr)
		thr = (float)((1.0 - s->top_p) * sum / (sm->n_vocab - 1));
	for (v = 0; v < sm->n_vocab; v++)
		if (p[v] >= thr && p[v] > 0) {
			sm->cand[n].id = v;
			sm->cand[n].v = p[v];
			n++;
		}
	if (s->top_k > 0 && (size_t)s->top_k < n) {
		select_top(sm->cand, n, (size_t)s->top_k);
		n = (size_t)s->top_k;
	}
	qsort(sm->cand, n, sizeof(*sm->cand), cand_desc);
	for (sum = 0, i = 0; i < n; i++)
		sum += sm->cand[i].v;
	keep = n;
	if (s->top_p < 1.0f)  /* the smallest prefix whose mass reaches top_p */
		for (acc = 0, i = 0; i < n; i++) {
			acc += sm->cand[i].v;
			if (acc >= s->top_p * sum) {
				keep = i + 1;
				break;
			}
		}
	if (s->min_p > 0)
		for (i = 1; i < keep; i++)
			if (sm->cand[i].v < s->min_p * sm->cand[0].v) {
				keep = i;
				break;
			}
	for (sum = 0, i = 0; i < keep; i++)
		sum += sm->cand[i].v;
	r = l32_rng_uniform(rng) * sum;
	for (acc = 0, i = 0; i < keep; i++) {
		acc += sm->cand[i].v;
		if (r < acc)
			return sm->cand[i].id;
	}
	return sm->cand[keep - 1].id;
}

/* ------------------------------------------------------------- logprobs */

double
l32_logsumexp(const float *logits, int32_t n)
{
	float maxv = logits[argmax(logits, n)];
	double sum = 0;
	int32_t i;

	for (i = 0; i < n; i++)
		sum += exp((double)logits[i] - maxv);
	return maxv + log(sum);
}

void
l32_top_ids(const float *logits, int32_t n, int32_t k, int32_t *ids)
{
	int32_t i, j, m = 0;

	if (k <= 0)
		return;
	/* Insertion into a sorted list of k: k is at most 20. */
	for (i = 0; i < n; i++) {
		if (m == k && logits[i] <= logits[ids[m - 1]])
			continue;
		j = m < k ? m++ : k - 1;
		while (j > 0 && logits[ids[j - 1]] < logits[i]) {
			ids[j] = ids[j - 1];
			j--;
		}
		ids[j] = i;
	}
}
