/*
 * bench_model.c - the speed of one model file, one line per figure:
 *
 *   load time (l32_model_open: map and check the file)
 *   time to first token: a 128-token prompt right after loading
 *   prefill tok/s of 128 and 512-token prompts (the best of two runs)
 *   decode tok/s: 64 tokens one at a time after a 128-token prompt, and
 *     that speed as a fraction of the bandwidth limit: the bytes of weights
 *     a token reads (every matrix, the output projection included) divided
 *     by the time per token, over the read bandwidth measured in this run
 *   decode with one other CPU-bound process on the machine (a forked busy
 *     loop), at -t 1 and at -t N, side by side
 *   batched decode: 1, 4, 8, 16 and 32 requests decoding together through
 *     the engine's jobs, total tok/s, and its ratio to one request alone
 *   the machine's read bandwidth (a streaming read of 1 GiB, far beyond the
 *     caches, with the widest loads the CPU has, measured in a child
 *     process before the model is loaded)
 *   peak resident memory (VmHWM) next to the file's size
 *
 * Threads: -t N (default: all cores); prefill and decode are also measured
 * on 1 thread when N > 1.  Prompts are fixed pseudo-random token ids; the
 * decode loop takes the argmax of each step's logits.
 *
 * -b: the batched decode figures only; -n N: those of N requests only.
 *
 * -p: the prefill figures only (128 and 512 tokens); -d: the decode figure
 * only; both together: both.  These are the figures tests/bench/peers.sh
 * sets beside other engines' llama-bench, so they match its shape: each is
 * measured once (peers.sh alternates the engines and takes the best), on
 * -t threads only, after a one-token warm-up step that faults the mapping
 * in, as llama-bench's model load does; no bandwidth is measured.
 *
 * usage: bench_model [-bdp] [-n requests] [-t threads] model.gguf|hf-directory
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "l32.h"
#include "prog/l32_prog.h"
#include "base/pool.h"

#define BW_BYTES ((size_t)1 << 30)
#define PROMPT 128
#define LONG_PROMPT 512
#define DECODE 64
#define BATCH_PROMPT 32

static const char *label;   /* the model file's name, first on every line */
static double bw[2];        /* GB/s on 1 and N threads */
static int n_threads;
static int only_n;           /* -n: the one batch size to measure, or 0 */
static int reps = 2;         /* runs of each prefill figure, the best kept */
/* The numbers of requests of the batched decode figures. */
static const int batch_sizes[] = { 1, 4, 8, 16, 32 };

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
line(const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", label);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Token ids of a prompt: fixed pseudo-random ordinary tokens. */
static void
prompt_ids(int32_t *ids, int32_t n, uint64_t seed)
{
	for (int32_t i = 0; i < n; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		ids[i] = i == 0 ? 128000 : (int32_t)((seed >> 33) % 128000);
	}
}

/* ------------------------------------------------------------- bandwidth */

struct read_job {
	const uint64_t *buf;
	size_t words;
	void (*read)(const uint64_t *p, size_t n, uint64_t *sink);
	uint64_t sink[64];
};

/*
 * Sums n words (a multiple of 8) with independent accumulators, so the
 * loads set the pace.  One core streams faster with wider loads (on Zen 4
 * about 17 GB/s with 16-byte loads, 27 GB/s with 32-byte ones), and the
 * decode kernels use the widest the CPU has, so the bandwidth limit is
 * measured with them too: the same loop compiled for AVX2 and AVX-512,
 * chosen at run time.
 */
#define READ_LOOP(name, bytes)							\
static void									\
name(const uint64_t *p, size_t n, uint64_t *sink)				\
{										\
	typedef uint64_t vec __attribute__((vector_size(bytes)));		\
	const vec *v = (const vec *)(const void *)p;				\
	size_t nv = n * 8 / (bytes);						\
	vec a[4] = { { 0 } };							\
										\
	for (size_t i = 0; i + 4 <= nv; i += 4)					\
		for (int k = 0; k < 4; k++)					\
			a[k] += v[i + k];					\
	a[0] += a[1] + a[2] + a[3];						\
	for (size_t k = 0; k < (bytes) / 8; k++)				\
		*sink += a[0][k];						\
}

READ_LOOP(read_base, 16)
__attribute__((target("avx2"))) READ_LOOP(read_avx2, 32)
__attribute__((target("avx512f"))) READ_LOOP(read_avx512, 64)

static void
read_share(void *arg, int ith, int nth)
{
	struct read_job *j = arg;
	/* shares of whole 256-byte lines */
	size_t lines = j->words / 32;
	size_t a = lines * (size_t)ith / (size_t)nth * 32;
	size_t b = lines * (size_t)(ith + 1) / (size_t)nth * 32;

	j->read(j->buf + a, b - a, &j->sink[ith % 64]);
}

/* GB/s (1e9 bytes) of the best of five full reads. */
static double
bandwidth_of(int threads, const uint64_t *buf)
{
	struct l32_err e;
	struct l32_pool *pool = l32_pool_new(threads, &e);
	struct read_job j = { buf, BW_BYTES / 8, read_base, { 0 } };
	double best = 0.0;

	if (pool == NULL)
		errx(3, "%s", e.msg);
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		j.read = read_avx512;
	else if (__builtin_cpu_supports("avx2"))
		j.read = read_avx2;
	l32_pool_run(pool, read_share, &j);
	for (int rep = 0; rep < 5; rep++) {
		double t0 = now(), gbs;

		l32_pool_run(pool, read_share, &j);
		gbs = (double)BW_BYTES / (now() - t0) / 1e9;
		best = gbs > best ? gbs : best;
	}
	l32_pool_free(pool);
	return best;
}

/* Measures in a child, so the buffer never counts in this process's peak
 * memory and its pages are gone before the model is mapped. */
static void
measure_bandwidth(void)
{
	int fd[2], status;
	pid_t pid;

	if (pipe(fd) == -1)
		err(3, "pipe");
	if ((pid = fork()) == -1)
		err(3, "fork");
	if (pid == 0) {
		uint64_t *buf = aligned_alloc(64, BW_BYTES);
		double r[2];

		close(fd[0]);
		if (buf == NULL)
			_exit(3);
		memset(buf, 1, BW_BYTES);
		r[0] = bandwidth_of(1, buf);
		r[1] = n_threads > 1 ? bandwidth_of(n_threads, buf) : r[0];
		_exit(write(fd[1], r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 3);
	}
	close(fd[1]);
	if (read(fd[0], bw, sizeof(bw)) != (ssize_t)sizeof(bw))
		errx(3, "bandwidth measurement failed");
	close(fd[0]);
	waitpid(pid, &status, 0);
}

/* ------------------------------------------------------------ contexts */

static struct l32_ctx *
context(struct l32_model *m, int32_t n_ctx, int32_t n_batch, int threads)
{
	struct l32_ctx_params p;
	struct l32_err e;
	struct l32_ctx *c;

	l32_ctx_params_init(&p);
	p.n_ctx = n_ctx;
	p.n_seq = 1;
	p.n_batch = n_batch;
	p.n_threads = threads;
	if ((c = l32_ctx_new(m, &p, &e)) == NULL)
		errx(3, "%s", e.msg);
	return c;
}

/* Evaluates a prompt of n tokens in one batch (logits of the last);
 * returns the seconds it took. */
static double
prefill(struct l32_ctx *c, const int32_t *ids, int32_t n)
{
	int32_t *pos = malloc((size_t)n * sizeof(int32_t));
	int32_t *seq = calloc((size_t)n, sizeof(int32_t));
	struct l32_batch b = { n, ids, pos, seq, NULL };
	struct l32_err e;
	double t0;

	if (pos == NULL || seq == NULL)
		err(3, NULL);
	for (int32_t i = 0; i < n; i++)
		pos[i] = i;
	t0 = now();
	if (l32_ctx_decode(c, &b, &e) == -1)
		errx(3, "%s", e.msg);
	t0 = now() - t0;
	free(pos);
	free(seq);
	return t0;
}

/* Prefill tok/s of an n-token prompt: the best of two runs, each on a
 * fresh context. */
static double
prefill_rate(struct l32_model *m, int32_t n, int threads)
{
	int32_t *ids = malloc((size_t)n * sizeof(int32_t));
	double best = 0.0;

	if (ids == NULL)
		err(3, NULL);
	prompt_ids(ids, n, 1);
	for (int rep = 0; rep < reps; rep++) {
		struct l32_ctx *c = context(m, n, n, threads);
		double t = prefill(c, ids, n);

		best = n / t > best ? n / t : best;
		l32_ctx_free(c);
	}
	free(ids);
	return best;
}

static int32_t
argmax(const float *v, int32_t n)
{
	int32_t best = 0;

	for (int32_t i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

/* Tokens per second of DECODE single-token steps after a PROMPT-token
 * prompt. */
static double
decode_rate(struct l32_model *m, int threads)
{
	int32_t vocab = l32_model_hparams(m)->vocab, ids[PROMPT], tok, pos, seq = 0;
	struct l32_ctx *c = context(m, PROMPT + DECODE + 1, PROMPT, threads);
	struct l32_batch b = { 1, &tok, &pos, &seq, NULL };
	struct l32_err e;
	double t0;

	prompt_ids(ids, PROMPT, 2);
	prefill(c, ids, PROMPT);
	tok = argmax(l32_ctx_logits(c, PROMPT - 1), vocab);
	t0 = now();
	for (pos = PROMPT; pos < PROMPT + DECODE; pos++) {
		if (l32_ctx_decode(c, &b, &e) == -1)
			errx(3, "%s", e.msg);
		tok = argmax(l32_ctx_logits(c, 0), vocab);
	}
	t0 = now() - t0;
	l32_ctx_free(c);
	return DECODE / t0;
}

/* Decode tok/s with the fraction of the bandwidth limit it reaches. */
static void
decode_line(struct l32_model *m, const char *what, int threads, double rate)
{
	double bytes = (double)l32_model_weight_bytes(m);
	double limit = bw[threads > 1] * 1e9 / bytes;

	line("decode %d tokens after %d%s, %d thread%s: %.2f tok/s = %.2f of the "
	    "bandwidth limit (%.2f GB per token, %.1f GB/s read = %.2f tok/s)", DECODE,
	    PROMPT, what, threads, threads > 1 ? "s" : "", rate, rate / limit, bytes / 1e9,
	    bw[threads > 1], limit);
}

/* -------------------------------------------------------------- batches */

/* Total tok/s of n requests decoding DECODE tokens each together, timed
 * from when every prompt has been evaluated. */
static double
batch_rate(struct l32_model *m, int n, int threads)
{
	struct l32_gen_choice *ch = calloc((size_t)n, sizeof(*ch));
	struct l32_job **jobs = calloc((size_t)n, sizeof(*jobs));
	struct l32_ctx_params cp;
	struct l32_gen_params gp;
	struct l32_engine *eng;
	struct l32_err e;
	int32_t ids[BATCH_PROMPT];
	size_t made = 0;
	double t0;

	if (ch == NULL || jobs == NULL)
		err(3, NULL);
	l32_ctx_params_init(&cp);
	cp.n_ctx = BATCH_PROMPT + DECODE + 1;
	cp.n_seq = n;
	cp.n_batch = BATCH_PROMPT;
	cp.n_threads = threads;
	if ((eng = l32_engine_new(m, &cp, &e)) == NULL)
		errx(3, "%s", e.msg);
	l32_gen_params_init(&gp);
	gp.max_tokens = DECODE;
	gp.n = 1;
	gp.sampling.temperature = 0.0f;
	gp.ignore_eos = 1;
	for (int i = 0; i < n; i++) {
		prompt_ids(ids, BATCH_PROMPT, 100 + (uint64_t)i);
		if ((jobs[i] = l32_job_start(eng, ids, BATCH_PROMPT, &gp, &ch[i], NULL, NULL,
		    &e)) == NULL)
			errx(3, "%s", e.msg);
	}
	t0 = now();
	for (int live = 1; live;) {
		live = 0;
		for (int i = 0; i < n; i++)
			live |= !l32_job_done(jobs[i]);
		if (live && l32_engine_step(eng, &e) == -1)
			errx(3, "%s", e.msg);
	}
	t0 = now() - t0;
	for (int i = 0; i < n; i++) {
		made += ch[i].ids.n;
		l32_job_free(jobs[i]);
		l32_gen_choice_free(&ch[i]);
	}
	l32_engine_free(eng);
	free(jobs);
	free(ch);
	/* the first token of each request comes from its prompt's logits */
	return (double)(made - (size_t)n) / t0;
}

/* One line per number of requests decoding together, with the ratio to
 * one request alone measured in the same run. */
static void
batch_lines(struct l32_model *m)
{
	double single = 0.0, rate;

	for (size_t i = 0; i < sizeof(batch_sizes) / sizeof(batch_sizes[0]); i++) {
		int n = batch_sizes[i];

		if (only_n > 0 && n != only_n && n != 1)
			continue;
		rate = batch_rate(m, n, n_threads);
		if (n == 1)
			single = rate;
		line("batched decode, %d request%s together (%d-token prompts, %d tokens each), "
		    "%d thread%s: %.2f tok/s total = %.2fx one request alone", n, n > 1 ? "s" : "",
		    BATCH_PROMPT, DECODE, n_threads, n_threads > 1 ? "s" : "", rate,
		    single > 0.0 ? rate / single : 0.0);
	}
}

/* -------------------------------------------------- -p and -d figures */

/* One decode step of one token: every weight is read once, so the
 * mapping is faulted in before the figures. */
static void
warm_up(struct l32_model *m, int threads)
{
	struct l32_ctx *c = context(m, 1, 1, threads);
	int32_t id = 128000;

	prefill(c, &id, 1);
	l32_ctx_free(c);
}

/* The figures compared with other engines, each measured once. */
static void
peer_lines(struct l32_model *m, int prefills, int decodes)
{
	const char *s = n_threads > 1 ? "s" : "";

	reps = 1;
	warm_up(m, n_threads);
	if (prefills) {
		line("prefill %d tokens, %d thread%s: %.2f tok/s", PROMPT, n_threads, s,
		    prefill_rate(m, PROMPT, n_threads));
		line("prefill %d tokens, %d thread%s: %.2f tok/s", LONG_PROMPT, n_threads, s,
		    prefill_rate(m, LONG_PROMPT, n_threads));
	}
	if (decodes)
		line("decode %d tokens after %d, %d thread%s: %.2f tok/s", DECODE, PROMPT,
		    n_threads, s, decode_rate(m, n_threads));
}

/* ----------------------------------------------------------- contention */

/* A CPU-bound process: a busy loop until killed. */
static pid_t
start_busy(void)
{
	pid_t pid = fork();

	if (pid == -1)
		err(3, "fork");
	if (pid == 0) {
		volatile uint64_t x = 0;

		for (;;)
			x++;
	}
	return pid;
}

static void
stop_busy(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* ----------------------------------------------------------------- main */

static long
status_kb(const char *key)
{
	char buf[256];
	long v = -1;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(buf, sizeof(buf), f) != NULL)
		if (strncmp(buf, key, n) == 0 && buf[n] == ':')
			v = strtol(buf + n + 1, NULL, 10);
	fclose(f);
	return v;
}

/* Bytes of the weights on disk: the file, or a directory's safetensors. */
static double
file_bytes(const char *path)
{
	struct stat st;
	char p[4200];

	if (stat(path, &st) == -1)
		err(3, "%s", path);
	if (S_ISDIR(st.st_mode)) {
		snprintf(p, sizeof(p), "%s/model.safetensors", path);
		if (stat(p, &st) == -1)
			return 0.0;
	}
	return (double)st.st_size;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: %s [-bdp] [-n requests] [-t threads] model\n", getprogname());
	exit(2);
}

int
main(int argc, char **argv)
{
	struct l32_model *m;
	struct l32_ctx *c;
	struct l32_err e;
	const char *errstr, *path;
	double t0, ttft, r1, rn;
	int32_t ids[PROMPT];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	pid_t busy;
	int ch, batch_only = 0, prefills = 0, decodes = 0;

	n_threads = ncpu > 0 ? (int)ncpu : 1;
	while ((ch = getopt(argc, argv, "bdn:pt:")) != -1) {
		switch (ch) {
		case 'b':
			batch_only = 1;
			break;
		case 'd':
			decodes = 1;
			break;
		case 'n':
			batch_only = 1;
			only_n = (int)strtonum(optarg, 1, 1024, &errstr);
			if (errstr != NULL)
				errx(2, "-n %s: %s", optarg, errstr);
			break;
		case 'p':
			prefills = 1;
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
	if (argc - optind != 1 || (batch_only && (prefills || decodes)))
		usage();
	path = argv[optind];
	label = strrchr(path, '/') != NULL && strrchr(path, '/')[1] != '\0' ?
	    strrchr(path, '/') + 1 : path;
	setvbuf(stdout, NULL, _IOLBF, 0);

	/* only the full set of figures prints the bandwidth */
	if (!batch_only && !prefills && !decodes)
		measure_bandwidth();
	t0 = now();
	if ((m = l32_model_open(path, &e)) == NULL)
		errx(3, "%s", e.msg);
	t0 = now() - t0;
	line("%s, %.2f GB file, %.2f GB of weights", l32_model_desc(m),
	    file_bytes(path) / 1e9, (double)l32_model_weight_bytes(m) / 1e9);
	line("load: %.3f s", t0);
	if (batch_only || prefills || decodes) {
		if (batch_only)
			batch_lines(m);
		else
			peer_lines(m, prefills, decodes);
		l32_model_free(m);
		return ferror(stdout) ? 3 : 0;
	}

	/* the first prompt after loading also faults the mapping in */
	prompt_ids(ids, PROMPT, 3);
	c = context(m, PROMPT, PROMPT, n_threads);
	ttft = prefill(c, ids, PROMPT);
	(void)argmax(l32_ctx_logits(c, PROMPT - 1), l32_model_hparams(m)->vocab);
	l32_ctx_free(c);
	line("time to first token (%d-token prompt, %d thread%s): %.3f s", PROMPT, n_threads,
	    n_threads > 1 ? "s" : "", ttft);

	if (n_threads > 1)
		line("prefill %d tokens, 1 thread: %.2f tok/s", PROMPT, prefill_rate(m, PROMPT, 1));
	line("prefill %d tokens, %d thread%s: %.2f tok/s", PROMPT, n_threads,
	    n_threads > 1 ? "s" : "", prefill_rate(m, PROMPT, n_threads));
	line("prefill %d tokens, %d thread%s: %.2f tok/s", LONG_PROMPT, n_threads,
	    n_threads > 1 ? "s" : "", prefill_rate(m, LONG_PROMPT, n_threads));

	if (n_threads > 1)
		decode_line(m, "", 1, decode_rate(m, 1));
	decode_line(m, "", n_threads, decode_rate(m, n_threads));

	busy = start_busy();
	r1 = decode_rate(m, 1);
	rn = n_threads > 1 ? decode_rate(m, n_threads) : r1;
	stop_busy(busy);
	line("decode %d tokens after %d with one other CPU-bound process running: "
	    "1 thread %.2f tok/s, %d threads %.2f tok/s (%.2fx)", DECODE, PROMPT, r1,
	    n_threads, rn, rn / r1);

	batch_lines(m);

	line("read bandwidth: 1 thread %.1f GB/s, %d threads %.1f GB/s", bw[0], n_threads,
	    bw[1]);
	line("peak RSS: %.2f GB (file %.2f GB)", (double)status_kb("VmHWM") * 1024.0 / 1e9,
	    file_bytes(path) / 1e9);
	l32_model_free(m);
	return ferror(stdout) ? 3 : 0;
}
