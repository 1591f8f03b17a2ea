/*
 * bench_decode.c - decode speed of a Llama 3.2 1B-shape Q8_0 model (random
 * weights from the golden recipe, built in memory), against the machine's
 * read bandwidth measured in the same run.
 *
 * One line per figure: tokens per second of single-sequence decode with 1
 * and 2 threads, and the fraction of the bandwidth limit (the bytes a
 * token reads, weights and KV cache, per second, over the measured
 * bandwidth of as many threads); then the same with one other CPU-bound
 * process on the machine (a spinning child), where 2 threads should not
 * fall behind 1.
 *
 * Usage: bench_decode [config (1B)] [tokens to decode (32)]
 */
#include <err.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compute/kernels/kernels.h"
#include "l32.h"
#include "prog/l32_prog.h"
#include "membw.h"
#include "model/model.h"
#include "base/pool.h"
#include "recipe.h"

#define PROMPT 64

static uint64_t
tensor_bytes(const struct l32_tensor *t)
{
	return (uint64_t)t->rows * t->row_bytes;
}

/* Bytes of weights one token reads: every projection and the output. */
static uint64_t
weight_bytes(const struct l32_model *m)
{
	uint64_t b = tensor_bytes(&m->w.output);

	for (int32_t l = 0; l < m->hp.n_layers; l++) {
		const struct l32_layer *L = &m->w.layers[l];

		b += tensor_bytes(&L->wq) + tensor_bytes(&L->wk) + tensor_bytes(&L->wv) +
		    tensor_bytes(&L->wo) + tensor_bytes(&L->w1) + tensor_bytes(&L->w2) +
		    tensor_bytes(&L->w3);
	}
	return b;
}

/* Decodes n tokens after a prompt on n_threads threads; returns seconds
 * per token. */
static double
decode(struct l32_model *m, int n_threads, int n)
{
	struct l32_ctx_params p;
	struct l32_ctx *c;
	struct l32_err err;
	int32_t tok[PROMPT], pos[PROMPT], seq[PROMPT] = { 0 };
	double t0;

	l32_ctx_params_init(&p);
	p.n_ctx = PROMPT + n;
	p.n_threads = n_threads;
	if ((c = l32_ctx_new(m, &p, &err)) == NULL)
		errx(3, "%s", err.msg);
	for (int32_t i = 0; i < PROMPT; i++) {
		tok[i] = i == 0 ? 128000 : 1000 + 37 * i;
		pos[i] = i;
	}
	if (l32_ctx_decode(c, &(struct l32_batch){ PROMPT, tok, pos, seq, NULL }, &err) < 0)
		errx(3, "%s", err.msg);
	t0 = membw_now();
	for (int32_t i = 0; i < n; i++) {
		int32_t t = 5000 + i, ps = PROMPT + i;

		if (l32_ctx_decode(c, &(struct l32_batch){ 1, &t, &ps, seq, NULL }, &err) < 0)
			errx(3, "%s", err.msg);
	}
	t0 = (membw_now() - t0) / n;
	l32_ctx_free(c);
	return t0;
}

/* A CPU-bound process to share the machine with. */
static pid_t
spinner(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		volatile unsigned long x = 0;

		for (;;)
			x++;
	}
	if (pid < 0)
		err(3, "fork");
	return pid;
}

int
main(int argc, char **argv)
{
	const char *config = argc > 1 ? argv[1] : "1B";
	int n = argc > 2 ? atoi(argv[2]) : 32;
	struct l32_model *m;
	struct l32_err err;
	struct l32_pool *pools[2];
	double bw[2], t0, load[3] = { -1, -1, -1 };
	uint64_t wb, kvb;
	FILE *f;

	if (n < 1 || n > 4096)
		errx(2, "usage: bench_decode [config] [tokens 1..4096]");
	if ((f = fopen("/proc/loadavg", "r")) != NULL) {
		if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
			load[0] = -1;
		fclose(f);
	}
	printf("machine load average (1/5/15 min): %.2f %.2f %.2f\n", load[0], load[1], load[2]);
	if (l32_kernels_init(&err) < 0)
		errx(2, "%s", err.msg);
	printf("kernel path: %s\n", l32_isa_name(l32_kernels_isa()));
	t0 = membw_now();
	if ((m = l32_recipe_model(config, L32_TYPE_Q8_0, 0, &err)) == NULL)
		errx(3, "%s", err.msg);
	wb = weight_bytes(m);
	/* the f32 K and V of every layer, at the average position */
	kvb = 2ull * (uint64_t)m->hp.n_layers * (uint64_t)(PROMPT + n / 2) *
	    (uint64_t)(m->hp.n_kv_heads * m->hp.head_dim) * sizeof(float);
	printf("%s Q8_0 model built in %.1f s: %.3f GB of weights read per token, %.3f GB of KV cache\n",
	    config, membw_now() - t0, wb / 1e9, kvb / 1e9);
	for (int t = 0; t < 2; t++) {
		if ((pools[t] = l32_pool_new(t + 1, &err)) == NULL)
			errx(3, "%s", err.msg);
		bw[t] = membw_read(pools[t], (size_t)512 << 20);
		printf("read bandwidth, %d thread%s: %.1f GB/s\n", t + 1, t ? "s" : "", bw[t]);
		l32_pool_free(pools[t]);
	}
	for (int t = 1; t <= 2; t++) {
		double s = decode(m, t, n);

		printf("decode, %d thread%s: %.2f tok/s, %.1f GB/s = %.2f of the bandwidth limit\n",
		    t, t > 1 ? "s" : "", 1 / s, (wb + kvb) / s / 1e9,
		    (wb + kvb) / s / 1e9 / bw[t - 1]);
	}
	for (int t = 1; t <= 2; t++) {
		pid_t pid = spinner();
		double s = decode(m, t, n / 2 > 0 ? n / 2 : 1);

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		printf("decode beside a CPU-bound process, %d thread%s: %.2f tok/s\n",
		    t, t > 1 ? "s" : "", 1 / s);
	}
	l32_recipe_model_free(m);
	return 0;
}
