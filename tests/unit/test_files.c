/*
 * test_files.c - the golden records through real model files.
 *
 * l32-forge regenerates the tiny and mini models from the weight recipe of
 * $L32_SHARED/golden/README.md as GGUF files (F32, F16, BF16, Q8_0, Q4_0, and
 * a Q4_K_M-style mix) and Hugging Face directories; each file is opened with
 * l32_model_open and run against golden.jsonl: the top-64 logits at the last
 * position, the log-sum-exp at every position, the argmax where the margin
 * allows, the full last-position logits where the golden data has them, and
 * the checkpoints of the long case.  The golden llama.cpp Q4_K_M files go
 * through the same checks.
 *
 * Also: the forged tiny F32 GGUF and BF16 safetensors are byte-identical to
 * the golden ones; the forge's K-quant blocks decode to the recipe values
 * within their step; and the resident memory after opening and running a
 * model is the mapped file plus buffers, not a second copy of the weights.
 *
 * l32-forge is found in $L32_TOOLS (make check sets it), else in the build
 * tree beside this program (../../tools/).
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cpu.h"
#include "compute/kernels/kernels.h"
#include "compute/kvcache.h"
#include "l32.h"
#include "prog/l32_prog.h"
#include "compute/matmul.h"
#include "model/model.h"
#include "formats/quant.h"
#include "isa_paths.h"
#include "recipe.h"

#define VOCAB 128256
#define MAX_CKPT 32

/* ------------------------------------------------------------ reference data */

static const char *
shared_dir(void)
{
	const char *s = getenv("L32_SHARED");

	return s != NULL && *s != '\0' ? s : "../shared";
}

/* A path under golden/; fails the test naming it when it is absent. */
static const char *
golden_path(const char *rel)
{
	static char path[8][4096];
	static int k;
	char *p = path[k++ % 8];

	snprintf(p, sizeof(path[0]), "%s/golden/%s", shared_dir(), rel);
	if (access(p, R_OK) != 0)
		ck_abort_msg("reference data missing: %s (set L32_SHARED to the shared "
		    "directory)", p);
	return p;
}

static json_t *
golden_all(void)
{
	static json_t *all;
	json_error_t jerr;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;

	if (all != NULL)
		return all;
	f = fopen(golden_path("golden.jsonl"), "r");
	ck_assert_msg(f != NULL, "reference data missing: golden.jsonl");
	all = json_array();
	while (getline(&line, &cap, f) > 0) {
		json_t *rec = json_loads(line, 0, &jerr);

		ck_assert_msg(rec != NULL, "golden.jsonl: %s", jerr.text);
		json_array_append_new(all, rec);
	}
	free(line);
	fclose(f);
	return all;
}

static const char *
str_of(const json_t *rec, const char *key)
{
	const char *s = json_string_value(json_object_get(rec, key));

	return s != NULL ? s : "";
}

/* The records of (model, weights) in file order; long cases only with
 * with_long. */
static size_t
records(const char *model, const char *weights, int with_long, const json_t **out,
    size_t max)
{
	json_t *rec;
	size_t i, n = 0, all = 0;

	json_array_foreach(golden_all(), i, rec) {
		if (strcmp(str_of(rec, "model"), model) != 0 ||
		    strcmp(str_of(rec, "weights"), weights) != 0)
			continue;
		all++;
		if ((with_long || json_object_get(rec, "checkpoints") == NULL) && n < max)
			out[n++] = rec;
	}
	ck_assert_msg(all > 0, "reference data missing: no %s/%s records in golden.jsonl",
	    model, weights);
	return n;
}

/* ------------------------------------------------------------ temp dir, forge */

static char tmp[512];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
tmp_setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmp, sizeof(tmp), "%s/l32-files-XXXXXX", t != NULL && *t ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void
tmp_teardown(void)
{
	nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *
forge_tool(void)
{
	static char path[4200];
	const char *t = getenv("L32_TOOLS");
	char exe[4096], *s;
	ssize_t n;

	if (t != NULL && *t != '\0') {
		snprintf(path, sizeof(path), "%s/l32-forge", t);
		return path;
	}
	/* <B>/tests/unit/test_files -> <B>/tools/l32-forge */
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_msg(n > 0, "cannot find l32-forge: set L32_TOOLS");
	exe[n] = '\0';
	for (int up = 0; up < 3 && (s = strrchr(exe, '/')) != NULL; up++)
		*s = '\0';
	snprintf(path, sizeof(path), "%s/tools/l32-forge", exe);
	return path;
}

/* Runs l32-forge -q -c config -t type -f layout -o tmp/name; returns the
 * output path. */
static const char *
forge(const char *config, const char *type, const char *layout, const char *name)
{
	static char out[8][1024];
	static int k;
	char *o = out[k++ % 8];
	const char *tool = forge_tool();
	int status;
	pid_t pid;

	/* the forge takes the tokenizer from these */
	(void)golden_path("tiny/llama32-tiny-s0-F32.gguf");
	(void)golden_path("tiny/hf-bf16/tokenizer.json");
	snprintf(o, sizeof(out[0]), "%s/%s", tmp, name);
	ck_assert_msg(access(tool, X_OK) == 0, "%s: not built (make tools, or set L32_TOOLS)",
	    tool);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl(tool, tool, "-q", "-c", config, "-t", type, "-f", layout, "-o", o,
		    (char *)NULL);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "l32-forge -c %s -t %s -f %s failed (status %d)", config, type, layout, status);
	return o;
}

static struct l32_model *
open_model(const char *path)
{
	struct l32_err err = { 0 };
	struct l32_model *m = l32_model_open(path, &err);

	ck_assert_msg(m != NULL, "%s: %s", path, err.msg);
	return m;
}

/* ------------------------------------------------------------ running cases */

/* What a run of one token sequence gave. */
struct result {
	int32_t n;
	uint8_t *want;        /* (n) 1 where logits were asked for */
	double *lse;          /* (n) log-sum-exp of the logits */
	int32_t *argmax;      /* (n) */
	float *last;          /* (VOCAB) position n-1 */
	int32_t n_ckpt;
	int32_t ckpt_pos[MAX_CKPT];
	float *ckpt;          /* (n_ckpt, VOCAB) */
};

/* log-sum-exp of v (sums in double), and its argmax. */
static double
logsumexp(const float *v, int32_t n, int32_t *argmax)
{
	float max = v[0];
	double sum = 0.0;
	int32_t best = 0;

	for (int32_t i = 1; i < n; i++)
		if (v[i] > max) {
			max = v[i];
			best = i;
		}
	for (int32_t i = 0; i < n; i++)
		sum += exp((double)(v[i] - max));
	*argmax = best;
	return max + log(sum);
}

static struct l32_ctx *
new_ctx(struct l32_model *m, int32_t n_ctx, int32_t n_batch)
{
	struct l32_ctx_params p;
	struct l32_err err = { 0 };
	struct l32_ctx *c;

	l32_ctx_params_init(&p);
	p.n_ctx = n_ctx;
	p.n_seq = 1;
	p.n_batch = n_batch;
	p.n_threads = 1;
	c = l32_ctx_new(m, &p, &err);
	ck_assert_msg(c != NULL, "l32_ctx_new: %s", err.msg);
	return c;
}

/* Evaluates tok[0..n) in batches of up to 256, logits where r->want says. */
static void
run(struct l32_model *m, const int32_t *tok, int32_t n, struct result *r)
{
	int32_t chunk = n < 256 ? n : 256;
	struct l32_ctx *c = new_ctx(m, n, chunk);
	int32_t *pos = malloc((size_t)chunk * sizeof(int32_t));
	int32_t *seq = calloc((size_t)chunk, sizeof(int32_t));
	struct l32_err err = { 0 };

	for (int32_t s = 0; s < n; s += chunk) {
		int32_t k = n - s < chunk ? n - s : chunk;
		uint8_t *out = malloc((size_t)k);
		struct l32_batch b = { k, tok + s, pos, seq, out };

		for (int32_t i = 0; i < k; i++) {
			pos[i] = s + i;
			out[i] = r->want[s + i] ? L32_OUT_LOGITS : 0;
		}
		ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "decode at %d: %s", s, err.msg);
		for (int32_t i = 0; i < k; i++) {
			const float *lg = l32_ctx_logits(c, i);
			int32_t p = s + i;

			if (!out[i])
				continue;
			ck_assert_msg(lg != NULL, "no logits at position %d", p);
			r->lse[p] = logsumexp(lg, VOCAB, &r->argmax[p]);
			if (p == n - 1)
				memcpy(r->last, lg, VOCAB * sizeof(float));
			for (int32_t j = 0; j < r->n_ckpt; j++)
				if (r->ckpt_pos[j] == p)
					memcpy(r->ckpt + (size_t)j * VOCAB, lg, VOCAB * sizeof(float));
		}
		free(out);
	}
	free(pos);
	free(seq);
	l32_ctx_free(c);
}

/* ------------------------------------------------------------- comparisons */

struct tally {
	long checked, failed;
	double maxdiff;
	char first[320];
};

static void
tally(struct tally *t, double got, double want, double tol, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
tally(struct tally *t, double got, double want, double tol, const char *fmt, ...)
{
	double d = fabs(got - want);
	char where[200];
	va_list ap;

	t->checked++;
	if (isnan(d))
		d = INFINITY;
	if (d > t->maxdiff)
		t->maxdiff = d;
	if (d <= tol)
		return;
	if (t->failed++ == 0) {
		va_start(ap, fmt);
		vsnprintf(where, sizeof(where), fmt, ap);
		va_end(ap);
		snprintf(t->first, sizeof(t->first), "%s: got %.6f want %.6f (tol %g)",
		    where, got, want, tol);
	}
}

/* How results are compared: tol for logits and log-sum-exps, argmax only
 * where the golden margin exceeds margin. */
struct tolerance {
	double tol, tol_long, margin;
};

static void
compare(const json_t *rec, const struct result *r, double tol, double margin,
    struct tally *t)
{
	const json_t *top = json_object_get(rec, "logits_last_top64");
	const json_t *lse = json_object_get(rec, "logsumexp_per_pos");
	const json_t *am = json_object_get(rec, "logits_argmax_per_pos");
	const json_t *mg = json_object_get(rec, "top2_margin_per_pos");
	const char *file;
	size_t i;
	json_t *e;

	ck_assert_msg(json_array_size(top) == 64 && (int32_t)json_array_size(lse) == r->n,
	    "golden record %s: fields missing", str_of(rec, "case"));
	json_array_foreach(top, i, e) {
		json_int_t id = json_integer_value(json_object_get(e, "id"));

		ck_assert(id >= 0 && id < VOCAB);
		tally(t, r->last[id], json_number_value(json_object_get(e, "logit")), tol,
		    "last logit of id %lld", (long long)id);
	}
	tally(t, r->lse[r->n - 1], json_number_value(json_object_get(rec, "logsumexp_last")),
	    tol, "logsumexp_last");
	for (int32_t p = 0; p < r->n; p++) {
		if (!r->want[p])
			continue;
		tally(t, r->lse[p], json_number_value(json_array_get(lse, (size_t)p)), tol,
		    "logsumexp at position %d", p);
		if (json_number_value(json_array_get(mg, (size_t)p)) > margin)
			tally(t, r->argmax[p],
			    (double)json_integer_value(json_array_get(am, (size_t)p)), 0.0,
			    "argmax at position %d", p);
	}
	json_array_foreach(json_object_get(rec, "checkpoints"), i, e) {
		int32_t pos = (int32_t)json_integer_value(json_object_get(e, "pos"));
		const float *lg = NULL;
		size_t j;
		json_t *te;

		for (int32_t c = 0; c < r->n_ckpt; c++)
			if (r->ckpt_pos[c] == pos)
				lg = r->ckpt + (size_t)c * VOCAB;
		ck_assert_msg(lg != NULL, "checkpoint %d not kept", pos);
		json_array_foreach(json_object_get(e, "top16"), j, te) {
			json_int_t id = json_integer_value(json_object_get(te, "id"));

			ck_assert(id >= 0 && id < VOCAB);
			tally(t, lg[id], json_number_value(json_object_get(te, "logit")), tol,
			    "checkpoint %d: logit of id %lld", pos, (long long)id);
		}
		tally(t, r->lse[pos], json_number_value(json_object_get(e, "logsumexp")), tol,
		    "checkpoint %d: logsumexp", pos);
	}
	if ((file = json_string_value(json_object_get(rec, "logits_last_file"))) != NULL) {
		float *want = malloc(VOCAB * sizeof(float));
		FILE *f = fopen(golden_path(file), "rb");

		ck_assert_msg(f != NULL && fread(want, sizeof(float), VOCAB, f) == VOCAB,
		    "reference data missing or short: %s", file);
		fclose(f);
		for (int32_t id = 0; id < VOCAB; id++)
			tally(t, r->last[id], want[id], tol, "%s[%d]", file, id);
		free(want);
	}
}

/* Runs one record on m and compares.  A long case computes logits only at
 * its checkpoints and last position (the output projection over 2048
 * positions is most of its cost). */
static long
check_record(struct l32_model *m, const json_t *rec, const struct tolerance *tl,
    const char *label, char *first, size_t first_len)
{
	const json_t *toks = json_object_get(rec, "tokens"), *e;
	int32_t n = (int32_t)json_array_size(toks), *tok;
	struct result r;
	struct tally t;
	double tol, t0 = (double)clock();
	size_t i;

	ck_assert_int_gt(n, 0);
	memset(&r, 0, sizeof(r));
	memset(&t, 0, sizeof(t));
	r.n = n;
	tok = malloc((size_t)n * sizeof(int32_t));
	r.want = malloc((size_t)n);
	r.lse = calloc((size_t)n, sizeof(double));
	r.argmax = calloc((size_t)n, sizeof(int32_t));
	r.last = calloc(VOCAB, sizeof(float));
	for (int32_t p = 0; p < n; p++)
		tok[p] = (int32_t)json_integer_value(json_array_get(toks, (size_t)p));
	json_array_foreach(json_object_get(rec, "checkpoints"), i, e) {
		ck_assert_int_lt(r.n_ckpt, MAX_CKPT);
		r.ckpt_pos[r.n_ckpt++] = (int32_t)json_integer_value(json_object_get(e, "pos"));
	}
	memset(r.want, r.n_ckpt > 0 ? 0 : 1, (size_t)n);
	for (int32_t j = 0; j < r.n_ckpt; j++)
		r.want[r.ckpt_pos[j]] = 1;
	r.want[n - 1] = 1;
	r.ckpt = calloc((size_t)(r.n_ckpt > 0 ? r.n_ckpt : 1) * VOCAB, sizeof(float));

	run(m, tok, n, &r);
	tol = r.n_ckpt > 0 ? tl->tol_long : tl->tol;
	compare(rec, &r, tol, tl->margin > tol ? tl->margin : tol, &t);
	fprintf(stderr, "%-24s %-17s %4d positions: %7ld values, max |diff| %.2e%s (%.2f s)%s%s\n",
	    label, str_of(rec, "case"), n, t.checked, t.maxdiff,
	    r.n_ckpt > 0 ? " at checkpoints and last" : "",
	    ((double)clock() - t0) / CLOCKS_PER_SEC, t.failed ? " FAIL " : "",
	    t.failed ? t.first : "");
	if (t.failed > 0 && first[0] == '\0')
		snprintf(first, first_len, "%s %s: %s", label, str_of(rec, "case"), t.first);
	free(tok);
	free(r.want);
	free(r.lse);
	free(r.argmax);
	free(r.last);
	free(r.ckpt);
	return t.failed;
}

static void
check_golden_with(struct l32_model *m, const char *model, const char *weights,
    int with_long, const struct tolerance *tl, const char *label)
{
	const json_t *recs[32];
	size_t n = records(model, weights, with_long, recs, 32);
	char first[512] = "";
	long failed = 0;

	ck_assert_int_gt(n, 0);
	for (size_t k = 0; k < n; k++)
		failed += check_record(m, recs[k], tl, label, first, sizeof(first));
	ck_assert_msg(failed == 0, "%ld values off; first: %s", failed, first);
}

/* 1 when the kernels installed for type round the activations to 8-bit
 * blocks (kernels.h): then a quantized file is no longer "f32 compute on
 * dequantized weights" and the README's looser tolerance applies. */
static int
activations_quantized(enum l32_type type)
{
	const struct l32_kernels *k = l32_kernels_get(type);

	if (k == NULL)
		return 0;
	if (k->xq != 0)
		return 1;
	for (int isa = 0; isa < L32_ISA_COUNT; isa++) {
		const struct l32_kernels *table = l32_kernels_table((enum l32_isa)isa);

		if (table != NULL && table[type].xq != L32_XQ_NONE &&
		    (k->dot == table[type].dot || k->rows == table[type].rows))
			return 1;
	}
	return 0;
}

/* Puts quant.c's reference kernels, f32 products on dequantized weights,
 * in place of the installed ones (no context may be live). */
static void
use_reference_kernels(void)
{
	l32_kernels_install(l32_kernels_reference);
}

/* The tolerance for m: 1e-3 (2e-3 for the long cases) when every weight
 * type it holds is computed in f32 on dequantized weights. */
static struct tolerance
tolerance_for(struct l32_model *m, const char *label)
{
	struct tolerance tl = { 1e-3, 2e-3, 1e-3 };
	struct l32_ctx *c = new_ctx(m, 8, 8); /* kernels are installed by now */
	int seen[L32_TYPE_COUNT] = { 0 }, quantized = 0;
	char types[128] = "";

	l32_ctx_free(c);
	seen[m->w.tok_embd.type] = 1;
	for (int l = 0; l < m->hp.n_layers; l++) {
		const struct l32_layer *L = &m->w.layers[l];

		seen[L->wq.type] = seen[L->wk.type] = seen[L->wv.type] = seen[L->wo.type] = 1;
		seen[L->w1.type] = seen[L->w2.type] = seen[L->w3.type] = 1;
	}
	for (int t = 0; t < L32_TYPE_COUNT; t++)
		if (seen[t]) {
			quantized |= activations_quantized((enum l32_type)t);
			strlcat(types, " ", sizeof(types));
			strlcat(types, l32_type_traits(t)->name, sizeof(types));
		}
	if (quantized) {
		/* README: "Q8_0-rounded activations: 0.5, argmax where the
		 * margin exceeds 0.5" */
		tl.tol = tl.tol_long = 0.5;
		tl.margin = 0.5;
	}
	fprintf(stderr, "%s: weights%s, %s activations (%s kernels): tolerance %g (long cases %g)\n",
	    label, types, quantized ? "8-bit block" : "f32", l32_isa_name(l32_kernels_isa()),
	    tl.tol, tl.tol_long);
	return tl;
}

/* The kernel paths the golden checks run on, one per ISA (isa_paths.h);
 * set in main before the tests fork. */
static struct isa_path gpaths[ISA_PATHS_MAX];
static int n_gpaths;

/* Checks m against the golden records of (model, weights).  The short
 * cases first on every kernel path, with the README's tolerance for
 * rounded activations (0.5) on the kernels that round them to 8-bit
 * blocks.  Then every case at 1e-3 on what a program runs, or, when that
 * rounds the activations, on the reference kernels, f32 on the
 * dequantized weights: that shows the file holds exactly the weights of
 * the golden run. */
static void
check_golden(struct l32_model *m, const char *model, const char *weights, int with_long,
    const char *label)
{
	const struct tolerance tight = { 1e-3, 2e-3, 1e-3 };
	struct tolerance tl;
	struct l32_err err;
	char lb[96];

	/* before any install: its first call installs its own table */
	ck_assert_msg(l32_kernels_init(&err) == 0, "%s", err.msg);
	for (int i = 0; i < n_gpaths; i++) {
		snprintf(lb, sizeof(lb), "%s, %s", label, gpaths[i].name);
		l32_kernels_install(gpaths[i].table);
		tl = tolerance_for(m, lb);
		check_golden_with(m, model, weights, 0, &tl, lb);
	}
	l32_kernels_install(l32_kernels_table(l32_kernels_isa()));
	tl = tolerance_for(m, label);
	if (tl.tol > tight.tol) {
		use_reference_kernels();
		fprintf(stderr, "%s: reference kernels, f32 activations: tolerance %g "
		    "(long cases %g)\n", label, tight.tol, tight.tol_long);
	}
	snprintf(lb, sizeof(lb), "%s%s", label, tl.tol > tight.tol ? " (ref)" : "");
	check_golden_with(m, model, weights, with_long, &tight, lb);
	l32_kernels_install(l32_kernels_table(l32_kernels_isa()));
}

/* ------------------------------------------------------------------ memory */

struct mem {
	long rss, anon, file;   /* kB: VmRSS, RssAnon, RssFile */
};

static struct mem
mem_now(void)
{
	struct mem m = { -1, -1, -1 };
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	ck_assert_msg(f != NULL, "cannot read /proc/self/status");
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "VmRSS: %ld", &m.rss);
		sscanf(line, "RssAnon: %ld", &m.anon);
		sscanf(line, "RssFile: %ld", &m.file);
	}
	fclose(f);
	ck_assert_msg(m.rss >= 0 && m.anon >= 0 && m.file >= 0,
	    "/proc/self/status lacks VmRSS, RssAnon or RssFile");
	return m;
}

static off_t
file_size(const char *path)
{
	struct stat st;

	ck_assert_msg(stat(path, &st) == 0, "%s: cannot stat", path);
	return st.st_size;
}

/* Opens the model at path, runs 8 tokens (logits at the last), and checks
 * that resident memory grew by the file (mapped, shared with the page
 * cache) plus the KV cache and buffers, never by a second copy of the
 * weights, which would be anonymous memory:
 *   - file-backed growth <= the file, plus 8 MB of shared-library pages
 *     touched for the first time (BLIS);
 *   - anonymous growth while opening <= 16 MB for a GGUF file (its
 *     tokenizer points into the mapping) or 48 MB for a directory (the
 *     tokenizer.json of 128256 tokens and 280147 merges is parsed into
 *     tables of about 40 MB);
 *   - anonymous growth while running <= the KV cache, the logits and 8 MB
 *     of per-context buffers. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static void
check_memory(const char *path, const char *weights_file, int hf, const char *label)
{
	static const int32_t tok[8] = { 128000, 2028, 374, 264, 1296, 11914, 13, 128001 };
	const double mb = 1024.0;
	struct mem m0 = mem_now(), m1, m2;
	struct l32_model *m = open_model(path);
	struct l32_ctx *c;
	struct l32_err err = { 0 };
	int32_t pos[8], seq[8] = { 0 };
	struct l32_batch b = { 8, tok, pos, seq, NULL };
	long file_kb = (long)(file_size(weights_file) / 1024), kv, open_max, run_max;

#ifdef UNDER_ASAN
	/* shadow memory and the allocation quarantine are anonymous too */
	fprintf(stderr, "%s memory: not checked under AddressSanitizer\n", label);
	l32_model_free(m);
	return;
#endif
	m1 = mem_now();
	for (int i = 0; i < 8; i++)
		pos[i] = i;
	c = new_ctx(m, 8, 8);
	ck_assert_msg(l32_ctx_decode(c, &b, &err) == 0, "%s", err.msg);
	ck_assert_ptr_nonnull(l32_ctx_logits(c, 7));
	m2 = mem_now();
	kv = (long)(l32_kv_bytes(m->hp.n_layers, 1, 8, m->hp.n_kv_heads * m->hp.head_dim, 0) /
	    1024);
	open_max = (hf ? 48 : 16) * 1024;
	run_max = kv + 8L * VOCAB * 4 / 1024 + 8 * 1024;
	fprintf(stderr, "%s memory: file %.1f MB (weights %.1f MB); opening: RSS +%.1f MB "
	    "(file-backed +%.1f, anonymous +%.1f); running 8 tokens: RSS +%.1f MB "
	    "(file-backed +%.1f, anonymous +%.1f)\n", label, file_kb / mb,
	    (double)l32_model_weight_bytes(m) / 1048576.0, (m1.rss - m0.rss) / mb,
	    (m1.file - m0.file) / mb, (m1.anon - m0.anon) / mb, (m2.rss - m1.rss) / mb,
	    (m2.file - m1.file) / mb, (m2.anon - m1.anon) / mb);
	ck_assert_msg(m2.file - m0.file <= file_kb + 8 * 1024,
	    "%s: file-backed memory grew by %ld kB for a %ld kB file", label,
	    m2.file - m0.file, file_kb);
	ck_assert_msg(m1.anon - m0.anon <= open_max,
	    "%s: opening took %ld kB of anonymous memory (at most %ld): weights copied?",
	    label, m1.anon - m0.anon, open_max);
	ck_assert_msg(m2.anon - m1.anon <= run_max,
	    "%s: running took %ld kB of anonymous memory (at most %ld): weights copied?",
	    label, m2.anon - m1.anon, run_max);
	l32_ctx_free(c);
	l32_model_free(m);
}

/* ------------------------------------------------------------------ tests */

static int
same_bytes(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	char ba[1 << 16], bb[1 << 16];
	size_t na, nb;
	int same = fa != NULL && fb != NULL;

	while (same) {
		na = fread(ba, 1, sizeof(ba), fa);
		nb = fread(bb, 1, sizeof(bb), fb);
		same = na == nb && memcmp(ba, bb, na) == 0;
		if (na == 0)
			break;
	}
	if (fa != NULL)
		fclose(fa);
	if (fb != NULL)
		fclose(fb);
	return same;
}

/* The forged tiny F32 GGUF is the golden file, byte for byte (so its
 * sha256 is the README's), and so is the BF16 safetensors. */
START_TEST(test_forge_identical)
{
	const char *gguf = forge("tiny", "F32", "gguf", "tiny-F32.gguf");
	const char *hf = forge("tiny", "BF16", "hf", "tiny-hf-bf16");
	char st[1100];

	ck_assert_msg(same_bytes(gguf, golden_path("tiny/llama32-tiny-s0-F32.gguf")),
	    "forged tiny F32 GGUF differs from the golden file");
	snprintf(st, sizeof(st), "%s/model.safetensors", hf);
	ck_assert_msg(same_bytes(st, golden_path("tiny/hf-bf16/model.safetensors")),
	    "forged tiny BF16 safetensors differs from the golden file");
	snprintf(st, sizeof(st), "%s/config.json", hf);
	ck_assert_msg(same_bytes(st, golden_path("tiny/hf-bf16/config.json")),
	    "forged tiny config.json differs from the golden one");
}
END_TEST

static const struct variant {
	const char *config, *type, *layout; /* l32-forge -c -t -f */
	const char *weights;                /* golden records */
	enum l32_type mtype;                /* the matrices' type in the file */
	int with_long;                      /* also the long case */
	int memory;                         /* check resident memory */
} variants[] = {
	{ "mini", "F32", "gguf", "float", L32_TYPE_F32, 1, 1 },
	{ "mini", "F16", "gguf", "float", L32_TYPE_F16, 0, 1 },
	{ "mini", "BF16", "gguf", "float", L32_TYPE_BF16, 0, 1 },
	{ "mini", "Q8_0", "gguf", "q8_0", L32_TYPE_Q8_0, 0, 1 },
	{ "mini", "Q4_0", "gguf", "q4_0", L32_TYPE_Q4_0, 0, 1 },
	{ "mini", "F32", "hf", "float", L32_TYPE_F32, 1, 1 },
	{ "tiny", "F16", "gguf", "float", L32_TYPE_F16, 0, 0 },
	{ "tiny", "Q8_0", "gguf", "q8_0", L32_TYPE_Q8_0, 0, 0 },
	{ "tiny", "Q4_0", "gguf", "q4_0", L32_TYPE_Q4_0, 0, 0 },
	{ "tiny", "F32", "hf", "float", L32_TYPE_F32, 0, 0 },
};

START_TEST(test_forged_golden)
{
	const struct variant *v = &variants[_i];
	char name[64], label[64], weights_file[1100];
	const char *path;
	struct l32_model *m;
	int hf = strcmp(v->layout, "hf") == 0;

	snprintf(name, sizeof(name), "%s-%s%s", v->config, v->type, hf ? "-hf" : ".gguf");
	snprintf(label, sizeof(label), "%s %s %s", v->config, v->type, v->layout);
	path = forge(v->config, v->type, v->layout, name);
	snprintf(weights_file, sizeof(weights_file), "%s%s", path,
	    hf ? "/model.safetensors" : "");
	if (v->memory)
		check_memory(path, weights_file, hf, label);

	m = open_model(path);
	ck_assert_int_eq(m->hp.dim, l32_recipe_config(v->config)->dim);
	ck_assert_int_eq(m->w.layers[0].wq.type, v->mtype);
	ck_assert_int_eq(m->w.tok_embd.type, v->mtype);
	ck_assert_int_eq(m->w.rope_halves, hf);
	ck_assert_ptr_nonnull(l32_model_tokenizer(m));
	check_golden(m, v->config, v->weights, v->with_long, label);
	l32_model_free(m);
}
END_TEST

/* llama.cpp's own Q4_K_M files: tiny (Q5_0 and Q8_0 fallbacks), mini (real
 * Q4_K and Q6_K blocks). */
START_TEST(test_golden_q4_k_m)
{
	static const char *const files[][2] = {
		{ "tiny", "tiny/llama32-tiny-s0-Q4_K_M.gguf" },
		{ "mini", "mini/llama32-mini-s0-Q4_K_M.gguf" },
	};
	struct l32_model *m = open_model(golden_path(files[_i][1]));

	check_golden(m, files[_i][0], "q4_k_m", 1, files[_i][1]);
	l32_model_free(m);
}
END_TEST

/* relative RMS error of the decoded rows of t against the recipe */
static double
decode_error(const struct l32_recipe_config *cfg, const struct l32_tensor *t,
    const char *meta)
{
	l32_dequant_fn dq = l32_dequant_ref(t->type);
	float *got = malloc((size_t)t->cols * sizeof(float));
	float *want = malloc((size_t)t->cols * sizeof(float));
	enum l32_recipe_kind kind;
	double err2 = 0.0, sig2 = 0.0;
	int e;

	ck_assert_ptr_nonnull(dq);
	ck_assert_int_eq(l32_recipe_tensor_kind(cfg, meta, &kind, &e), 0);
	for (int64_t r = 0; r < t->rows; r += 7) {
		dq((const char *)t->data + (size_t)r * t->row_bytes, got, t->cols);
		l32_recipe_fill(meta, 0, kind, e, (uint64_t)(r * t->cols), want,
		    (size_t)t->cols);
		for (int64_t j = 0; j < t->cols; j++) {
			err2 += ((double)got[j] - want[j]) * ((double)got[j] - want[j]);
			sig2 += (double)want[j] * want[j];
		}
	}
	free(got);
	free(want);
	return sqrt(err2 / sig2);
}

/* The forge's Q4_K_M mix: llama.cpp's choice of Q6_K tensors, blocks that
 * decode to the recipe within their step, and a model that runs. */
START_TEST(test_forge_q4_k_m)
{
	const struct l32_recipe_config *cfg = l32_recipe_config("mini");
	const char *path = forge("mini", "Q4_K_M", "gguf", "mini-Q4_K_M.gguf");
	struct l32_model *m = open_model(path);
	const json_t *recs[32];
	struct result r;
	int32_t tok[8] = { 128000, 2028, 374, 264, 1296, 11914, 13, 128001 };
	char meta[64];
	double worst[2] = { 0, 0 };

	/* layers 2 and 3 of 4 take Q6_K for attn_v and ffn_down, like the
	 * golden llama.cpp file */
	ck_assert_int_eq(m->w.tok_embd.type, L32_TYPE_Q6_K);
	for (int l = 0; l < cfg->n_layers; l++) {
		const struct l32_layer *L = &m->w.layers[l];
		enum l32_type more = l >= 2 ? L32_TYPE_Q6_K : L32_TYPE_Q4_K;
		const struct { const struct l32_tensor *t; const char *name; } ts[] = {
			{ &L->wq, "attention.wq" }, { &L->wk, "attention.wk" },
			{ &L->wv, "attention.wv" }, { &L->wo, "attention.wo" },
			{ &L->w1, "feed_forward.w1" }, { &L->w2, "feed_forward.w2" },
			{ &L->w3, "feed_forward.w3" },
		};

		ck_assert_int_eq(L->wv.type, more);
		ck_assert_int_eq(L->w2.type, more);
		ck_assert_int_eq(L->wq.type, L32_TYPE_Q4_K);
		for (size_t k = 0; k < sizeof(ts) / sizeof(ts[0]); k++) {
			double d;

			snprintf(meta, sizeof(meta), "layers.%d.%s.weight", l, ts[k].name);
			d = decode_error(cfg, ts[k].t, meta);
			ck_assert_msg(d < (ts[k].t->type == L32_TYPE_Q6_K ? 0.03 : 0.12),
			    "%s (%s): relative RMS error %.4f", meta,
			    l32_type_traits(ts[k].t->type)->name, d);
			worst[ts[k].t->type == L32_TYPE_Q6_K] =
			    fmax(worst[ts[k].t->type == L32_TYPE_Q6_K], d);
		}
	}
	worst[1] = fmax(worst[1], decode_error(cfg, &m->w.tok_embd, "tok_embeddings.weight"));
	fprintf(stderr, "forged mini Q4_K_M: relative RMS error of the blocks: Q4_K %.4f, "
	    "Q6_K %.4f\n", worst[0], worst[1]);
	ck_assert(worst[1] < 0.03);

	/* it runs: finite logits, a log-sum-exp near the float model's */
	memset(&r, 0, sizeof(r));
	r.n = 8;
	r.want = (uint8_t[8]){ 0, 0, 0, 0, 0, 0, 0, 1 };
	r.lse = calloc(8, sizeof(double));
	r.argmax = calloc(8, sizeof(int32_t));
	r.last = calloc(VOCAB, sizeof(float));
	run(m, tok, 8, &r);
	records("mini", "float", 0, recs, 32);
	for (int32_t i = 0; i < VOCAB; i++)
		ck_assert_msg(isfinite(r.last[i]), "logit %d is not finite", i);
	ck_assert_msg(fabs(r.lse[7] - json_number_value(json_object_get(recs[0],
	    "logsumexp_last"))) < 2.0, "logsumexp %.3f far from the float model's", r.lse[7]);
	free(r.lse);
	free(r.argmax);
	free(r.last);
	l32_model_free(m);
}
END_TEST

static Suite *
files_suite(void)
{
	Suite *s = suite_create("files");
	TCase *tc = tcase_create("forge");

	tcase_add_checked_fixture(tc, tmp_setup, tmp_teardown);
	/* the golden cases run on every kernel path, emulated ones (SIMDe,
	 * several times slower) included, and under the sanitizers */
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test_forge_identical);
	tcase_add_loop_test(tc, test_forged_golden, 0,
	    (int)(sizeof(variants) / sizeof(variants[0])));
	tcase_add_test(tc, test_forge_q4_k_m);
	suite_add_tcase(s, tc);

	tc = tcase_create("golden-q4_k_m");
	/* the golden cases run on every kernel path, emulated ones (SIMDe,
	 * several times slower) included, and under the sanitizers */
	tcase_set_timeout(tc, 900);
	tcase_add_loop_test(tc, test_golden_q4_k_m, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	n_gpaths = isa_paths(0, gpaths);
	sr = srunner_create(files_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* last, where a log's tail shows it: the paths the golden checks ran on */
	isa_paths_print("test_files", 0);
	return failed == 0 ? 0 : 1;
}
