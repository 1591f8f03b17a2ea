/*
 * bench_embed.c - embeddings per second: 100 inputs of 64 tokens embedded
 * in shared forward passes, against one input per call.
 *
 * The model is the first argument, else $L32_MODEL, else the golden tiny
 * model in $L32_SHARED.  Prints two lines:
 *   embed batched: 812.4 embeddings/s (100 inputs of 64 tokens, 8 per pass, 1 thread)
 *   embed one by one: 301.7 embeddings/s (...)
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "l32.h"
#include "prog/l32_prog.h"

#define N_INPUTS 100
#define N_TOKENS 64
#define PER_PASS 8

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Runs the embedding of every input, all at once or one by one, until a
 * second has passed; returns embeddings per second. */
static double
rate(struct l32_embedder *e, const struct l32_tokens *in, int batched, float *out)
{
	struct l32_err err;
	double t0 = now(), t;
	long done = 0;
	int i;

	do {
		if (batched) {
			if (l32_embed(e, in, N_INPUTS, L32_POOLING_MEAN, out, &err) == -1)
				errx(1, "%s", err.msg);
		} else
			for (i = 0; i < N_INPUTS; i++)
				if (l32_embed(e, &in[i], 1, L32_POOLING_MEAN, out, &err) == -1)
					errx(1, "%s", err.msg);
		done += N_INPUTS;
	} while ((t = now() - t0) < 1.0);
	return (double)done / t;
}

int
main(int argc, char **argv)
{
	static char path[4096];
	const char *shared = getenv("L32_SHARED") ? getenv("L32_SHARED") : "../shared";
	const char *threads_env = getenv("L32_THREADS");
	struct l32_tokens in[N_INPUTS];
	struct l32_ctx_params cp;
	struct l32_embedder *e;
	struct l32_model *m;
	struct l32_err err;
	float *out;
	int i, j, threads = threads_env ? atoi(threads_env) : 1;

	if (argc > 1)
		strlcpy(path, argv[1], sizeof(path));
	else if (getenv("L32_MODEL") != NULL)
		strlcpy(path, getenv("L32_MODEL"), sizeof(path));
	else
		snprintf(path, sizeof(path), "%s/golden/tiny/llama32-tiny-s0-F32.gguf", shared);
	if ((m = l32_model_open(path, &err)) == NULL)
		errx(1, "reference data missing or unreadable: %s", err.msg);
	l32_ctx_params_init(&cp);
	cp.n_ctx = N_TOKENS;
	cp.n_seq = PER_PASS;
	cp.n_threads = threads > 0 ? threads : 1;
	if ((e = l32_embedder_new(m, &cp, &err)) == NULL)
		errx(1, "%s", err.msg);
	/* BOS, then a fixed spread of ordinary tokens */
	for (i = 0; i < N_INPUTS; i++) {
		memset(&in[i], 0, sizeof(in[i]));
		l32_tokens_push(&in[i], 128000);
		for (j = 1; j < N_TOKENS; j++)
			l32_tokens_push(&in[i], (int32_t)((i * 7919 + j * 104729) % 120000) + 100);
	}
	if ((out = calloc((size_t)N_INPUTS * (size_t)l32_embedder_dim(e), sizeof(float))) == NULL)
		errx(1, "out of memory");
	printf("embed batched: %.1f embeddings/s (%d inputs of %d tokens, %d per pass, %d thread%s)\n",
	    rate(e, in, 1, out), N_INPUTS, N_TOKENS, PER_PASS, cp.n_threads, cp.n_threads == 1 ? "" : "s");
	printf("embed one by one: %.1f embeddings/s (%d inputs of %d tokens, 1 per call, %d thread%s)\n",
	    rate(e, in, 0, out), N_INPUTS, N_TOKENS, cp.n_threads, cp.n_threads == 1 ? "" : "s");
	for (i = 0; i < N_INPUTS; i++)
		l32_tokens_free(&in[i]);
	free(out);
	l32_embedder_free(e);
	l32_model_free(m);
	return 0;
}
