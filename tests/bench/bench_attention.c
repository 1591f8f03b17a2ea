/*
 * bench_attention.c - what long contexts cost: a prompt chunk and a
 * decode step at 2048, 8192 and 32768 positions of one sequence, with the
 * K/V cache in f32 and in f16, against the same at 128 positions.
 *
 * Evaluating 32768 tokens for real would take far longer than the figure
 * is worth, so the cache is filled directly (l32_ctx_seq_load, as the
 * prefix cache does) with the K/V of a real 128-token prompt over and
 * over: values of the right sizes, at the cost of a memory copy.  Then,
 * timed: one chunk of 64 prompt tokens on top (as a long prompt is
 * evaluated, a chunk at a time), and single-token decode steps after it
 * (the best of 3, or of fewer when they take over a second).  One line
 * per figure:
 *
 *   model: f16 K/V at 32768 positions, prefill 64 tokens, 2 threads:
 *     41.2 tok/s, 24.27 ms per token = 3.10x the time at 128 (+16.45 ms)
 *   model: f16 K/V at 32768 positions, decode, 2 threads: ...
 *
 * The time per token against the one at 128 positions is the attention's
 * share: the weights cost the same at every position.
 *
 * usage: bench_attention [-t threads] [-p positions,...] model.gguf
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "l32.h"
#include "prog/l32_prog.h"

/* The real prompt whose K/V fills the cache, and the base positions. */
#define BASE 128
/* Tokens of the timed prompt chunk; decode steps timed after it. */
#define CHUNK 64
#define STEPS 3
#define MAX_POSITIONS 8

static const char *label;
static int n_threads;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Token ids: fixed pseudo-random ordinary tokens. */
static void
prompt_ids(int32_t *ids, int32_t n, uint64_t seed)
{
	for (int32_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		ids[i] = (int32_t)((seed >> 33) % 128000);
	}
}

/* Evaluates n tokens of sequence 0 at positions from..from+n-1 (logits of
 * the last); returns the seconds it took. */
static double
eval(struct l32_ctx *c, const int32_t *ids, int32_t n, int32_t from)
{
	int32_t pos[BASE], seq[BASE];
	struct l32_batch b = { n, ids, pos, seq, NULL };
	struct l32_err e;
	double t0;

	for (int32_t i = 0; i < n; i++) {
		pos[i] = from + i;
		seq[i] = 0;
	}
	t0 = now();
	if (l32_ctx_decode(c, &b, &e) == -1)
		errx(3, "%s", e.msg);
	return now() - t0;
}

/* Sequence 0's cache := n positions (a multiple of BASE) of copies of
 * the BASE positions in kv. */
static void
fill(struct l32_ctx *c, const void *kv, int32_t n)
{
	struct l32_err e;

	l32_ctx_seq_clear(c, 0);
	for (int32_t at = 0; at < n; at += BASE)
		if (l32_ctx_seq_load(c, 0, BASE, kv, &e) == -1)
			errx(3, "%s", e.msg);
}

/* Seconds per token of a prompt chunk and of a decode step at pos. */
static void
measure(struct l32_ctx *c, const void *kv, int32_t pos, double *prefill, double *decode)
{
	int32_t ids[CHUNK];
	double spent = 0;

	fill(c, kv, pos);
	prompt_ids(ids, CHUNK, (uint64_t)pos);
	*prefill = eval(c, ids, CHUNK, pos) / CHUNK;
	*decode = 0;
	/* a slow step is measured less often: after 1 s, once is enough */
	for (int s = 0; s < STEPS && spent < 1.0; s++) {
		double t = eval(c, &ids[s], 1, pos + CHUNK + s);

		*decode = s == 0 || t < *decode ? t : *decode;
		spent += t;
	}
}

static void
print_line(const char *kvt, int32_t pos, const char *what, double t, double base)
{
	printf("%s: %s K/V at %d positions, %s, %d thread%s: %.2f tok/s, %.2f ms per token = "
	    "%.2fx the time at %d (%+.2f ms)\n", label, kvt, pos, what, n_threads,
	    n_threads > 1 ? "s" : "", 1.0 / t, t * 1e3, t / base, BASE, (t - base) * 1e3);
	fflush(stdout);
}

/* The lines of one K/V type at every position. */
static void
kv_lines(struct l32_model *m, int f16, const int32_t *positions, int np)
{
	int32_t max = BASE, ids[BASE];
	struct l32_ctx_params p;
	struct l32_err e;
	struct l32_ctx *c;
	double base_p, base_d, tp, td;
	char what[64];
	void *kv;

	for (int i = 0; i < np; i++)
		max = positions[i] > max ? positions[i] : max;
	l32_ctx_params_init(&p);
	p.n_ctx = max + CHUNK + STEPS;
	p.n_seq = 1;
	p.n_batch = BASE;
	p.n_threads = n_threads;
	p.kv_f16 = f16;
	if ((c = l32_ctx_new(m, &p, &e)) == NULL)
		errx(3, "%s", e.msg);
	if ((kv = malloc(BASE * l32_ctx_pos_bytes(c))) == NULL)
		err(3, NULL);
	prompt_ids(ids, BASE, 1);
	ids[0] = 128000;
	eval(c, ids, BASE, 0);
	l32_ctx_seq_save(c, 0, 0, BASE, kv);
	/* the real prompt has faulted the weights and scratch in */
	measure(c, kv, BASE, &base_p, &base_d);
	snprintf(what, sizeof(what), "prefill %d tokens", CHUNK);
	print_line(f16 ? "f16" : "f32", BASE, what, base_p, base_p);
	print_line(f16 ? "f16" : "f32", BASE, "decode", base_d, base_d);
	for (int i = 0; i < np; i++) {
		measure(c, kv, positions[i], &tp, &td);
		print_line(f16 ? "f16" : "f32", positions[i], what, tp, base_p);
		print_line(f16 ? "f16" : "f32", positions[i], "decode", td, base_d);
	}
	free(kv);
	l32_ctx_free(c);
}

/* A comma-separated list of positions, each a multiple of BASE. */
static int
parse_positions(const char *s, int32_t *out)
{
	char buf[256], *tok, *save = NULL;
	const char *errstr;
	int n = 0;

	strlcpy(buf, s, sizeof(buf));
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (n == MAX_POSITIONS)
			errx(2, "-p %s: at most %d positions", s, MAX_POSITIONS);
		out[n] = (int32_t)strtonum(tok, BASE, 1 << 20, &errstr);
		if (errstr != NULL || out[n] % BASE != 0)
			errx(2, "-p %s: %s is not a multiple of %d from %d to %d", s, tok, BASE,
			    BASE, 1 << 20);
		n++;
	}
	if (n == 0)
		errx(2, "-p: no positions");
	return n;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: %s [-t threads] [-p positions,...] model\n", getprogname());
	exit(2);
}

int
main(int argc, char **argv)
{
	int32_t positions[MAX_POSITIONS] = { 2048, 8192, 32768 };
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int np = 3, ch;
	struct l32_model *m;
	struct l32_err e;
	const char *errstr;

	n_threads = ncpu > 0 ? (int)ncpu : 1;
	while ((ch = getopt(argc, argv, "p:t:")) != -1) {
		switch (ch) {
		case 'p':
			np = parse_positions(optarg, positions);
			break;
		case 't':
			n_threads = (int)strtonum(optarg, 1, 1024, &errstr);
			if (errstr != NULL)
				errx(2, "-t %s: %s", optarg, errstr);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 1)
		usage();
	label = strrchr(argv[optind], '/') != NULL ? strrchr(argv[optind], '/') + 1 :
	    argv[optind];
	if ((m = l32_model_open(argv[optind], &e)) == NULL)
		errx(3, "%s", e.msg);
	kv_lines(m, 0, positions, np);
	kv_lines(m, 1, positions, np);
	l32_model_free(m);
	return ferror(stdout) ? 3 : 0;
}
