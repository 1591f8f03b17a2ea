/*
 * stepsize.c - how many sequences decode together when the user leaves it
 * to the program (--batch auto).  A decode step reads every weight once
 * whatever the number of sequences in it, so up to some number of
 * sequences a step costs what reading the weights costs, and past it what
 * the products' arithmetic costs: total tokens per second grow with the
 * step up to there, then flatten.  Where the bend lies depends on the
 * weight type (bytes per product) and on the machine (bandwidth against
 * integer throughput), so it is measured, once: the model's largest
 * per-layer matrix times one token and times PROBE tokens.  A program
 * that answers requests as they come measures only when a second one
 * would decode beside the first, so a single request never pays for it.
 *
 * The choice changes how fast answers come, never what they are: a
 * sequence's tokens are the same alone or beside others.
 */
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "gen/l32_gen.h"
#include "base/pool.h"
#include "compute/kernels/kernels.h"
#include "compute/kvcache.h"
#include "compute/matmul.h"
#include "model/model.h"

/* Tokens of the wide product: a few groups of 8 of the prompt kernels. */
#define PROBE 16
#define REPEATS 3

static double
seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int32_t
l32_step_size_from(double t1, double tn, int32_t n)
{
	/* the knee: the tokens whose arithmetic costs what reading the
	 * weights does (n tokens cost tn, of which t1 is reading) */
	double knee = tn > 0.0 ? (double)n * t1 / tn : (double)L32_STEP_MAX;
	/* twice the knee, in whole groups of 8 tokens: far enough past the
	 * bend that the rest of the step (attention, sampling) is shared too */
	double s = ceil(2.0 * knee / 8.0) * 8.0;

	if (!(s >= L32_STEP_MIN))   /* NaN too */
		return L32_STEP_MIN;
	return s > L32_STEP_MAX ? L32_STEP_MAX : (int32_t)s;
}

/* The best of REPEATS times of w times n tokens of x. */
static double
product_time(const struct l32_tensor *w, const float *x, int64_t n, float *y,
    struct l32_mm *mm, struct l32_err *err)
{
	double best = INFINITY;

	for (int i = 0; i < REPEATS; i++) {
		double t0 = seconds();

		if (l32_matmul(w, x, n, y, mm, err) == -1)
			return -1.0;
		t0 = seconds() - t0;
		if (t0 < best)
			best = t0;
	}
	return best;
}

/* Times the largest per-layer matrix of m (the FFN's up projection) times
 * 1 and PROBE tokens on threads threads; 0 with *t1, *tn set, or -1. */
static int
probe(const struct l32_model *m, int threads, double *t1, double *tn, struct l32_err *err)
{
	const struct l32_tensor *w = &m->w.layers[0].w3;
	struct l32_mm mm;
	float *x = malloc((size_t)(PROBE * w->cols) * sizeof(float));
	float *y = malloc((size_t)(PROBE * w->rows) * sizeof(float));
	int rc = -1;

	/* the kernels the context will run, not the portable ones that run
	 * before any context installs them */
	if (l32_kernels_init(err) == -1) {
		free(x);
		free(y);
		return -1;
	}
	if (x == NULL || y == NULL || l32_mm_init(&mm, w->cols, err) == -1) {
		free(x);
		free(y);
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	}
	for (int64_t i = 0; i < PROBE * w->cols; i++)
		x[i] = (float)((i * 7919) % 201 - 100) / 100.0f;
	if ((mm.pool = l32_pool_new(threads, err)) != NULL &&
	    l32_matmul(w, x, 1, y, &mm, err) == 0 &&   /* the pages, once */
	    (*t1 = product_time(w, x, 1, y, &mm, err)) >= 0.0 &&
	    (*tn = product_time(w, x, PROBE, y, &mm, err)) >= 0.0)
		rc = 0;
	l32_pool_free(mm.pool);
	mm.pool = NULL;
	l32_mm_free(&mm);
	free(x);
	free(y);
	return rc;
}

/* Halves s while s windows of n_ctx positions do not fit in half the
 * memory there is (when it can be told); at least one. */
static int32_t
fit_memory(const struct l32_model *m, int32_t s, int32_t n_ctx, int kv_f16)
{
	const struct l32_hparams *hp = &m->hp;
	uint64_t avail = l32_mem_available();
	/* the K/V of one sequence's whole window */
	uint64_t per = (uint64_t)n_ctx * (uint64_t)hp->n_layers * 2u *
	    (uint64_t)hp->n_kv_heads * (uint64_t)hp->head_dim * (kv_f16 ? 2u : 4u);

	while (s > 1 && avail > 0 && (uint64_t)s * per > avail / 2)
		s /= 2;
	return s;
}

int32_t
l32_step_bound(const struct l32_model *m, int32_t n_ctx, int kv_f16)
{
	return fit_memory(m, L32_STEP_MAX, n_ctx, kv_f16);
}

int32_t
l32_step_size(const struct l32_model *m, int threads, int32_t n_ctx, int kv_f16,
    struct l32_err *err)
{
	double t1 = 0.0, tn = 0.0;

	if (threads < 1) {   /* all cores, as the context takes them */
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		threads = ncpu > 0 ? (int)ncpu : 1;
	}
	if (probe(m, threads, &t1, &tn, err) == -1)
		return -1;
	/* every sequence may fill its window */
	return fit_memory(m, l32_step_size_from(t1, tn, PROBE), n_ctx, kv_f16);
}
