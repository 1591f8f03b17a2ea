/*
 * program.c - the set-up every program over a model repeats: the model's
 * name in responses, the fingerprint, the default context, numeric
 * environment variables, and the checks of "model" and of unknown fields.
 */
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#include "prog/l32_prog.h"

/* Every field l32_genreq_parse reads except the logprobs pair. */
const char *const l32_sampling_fields[] = {
	"max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
	"min_p", "stop", "seed", "n", "presence_penalty", "frequency_penalty",
	"logit_bias", "ignore_eos", NULL
};

const char *
l32_model_name(const char *path)
{
	const char *s = strrchr(path, '/'), *t;

	if (s != NULL && s[1] == '\0' && s > path) {
		/* a directory given with a trailing slash: the name before it */
		for (t = s - 1; t > path && *t != '/'; t--)
			;
		return *t == '/' ? t + 1 : t;
	}
	return s != NULL ? s + 1 : path;
}

void
l32_fingerprint(const struct l32_model *m, int threads, char *buf, size_t size)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	char id[256];
	int n, i;

	n = snprintf(id, sizeof(id), "%s|%s|%llu|%d", L32_VERSION, l32_model_desc(m),
	    (unsigned long long)l32_model_weight_bytes(m), threads);
	for (i = 0; i < n && i < (int)sizeof(id); i++) {
		h ^= (unsigned char)id[i];
		h *= 0x100000001b3ULL;
	}
	snprintf(buf, size, "fp_l32_%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

struct l32_model *
l32_program_model(const char *arg, const char **name, struct l32_err *err)
{
	static char buf[4096];
	const char *path = l32_model_path(arg, buf, sizeof(buf));
	struct l32_model *m;

	if ((m = l32_model_open_with(path, L32_MODEL_PREFETCH, err)) == NULL)
		return NULL;
	if (l32_model_tokenizer(m) == NULL) {
		l32_model_free(m);
		l32_err_set(err, L32_ERR_FORMAT, "%s: the model holds no tokenizer", path);
		return NULL;
	}
	*name = l32_model_name(path);
	return m;
}

int
l32_opt_real(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi)) {
		warnx("%s %s: expected a number from %g to %g", opt, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int32_t
l32_default_ctx(const struct l32_hparams *hp)
{
	return hp->ctx_train > 0 && hp->ctx_train < 8192 ? hp->ctx_train : 8192;
}

/* Context parameters for m: n_ctx 0 is the default window; past it the
 * cache is kept in f16 (half the memory, so the 3B model's whole 131072
 * positions fit). */
static void
ctx_params(const struct l32_model *m, int32_t n_ctx, int32_t n_seq, int threads,
    int kv_f16, struct l32_ctx_params *cp)
{
	l32_ctx_params_init(cp);
	cp->n_ctx = n_ctx > 0 ? n_ctx : l32_default_ctx(l32_model_hparams(m));
	cp->n_seq = n_seq;
	cp->n_threads = threads;
	cp->kv_f16 = kv_f16 || cp->n_ctx > L32_KV_F32_MAX_CTX;
}

struct l32_engine *
l32_program_engine(struct l32_model *m, int32_t n_ctx, int32_t n_seq, int threads,
    int kv_f16, struct l32_err *err)
{
	struct l32_ctx_params cp;
	struct l32_engine *e;

	ctx_params(m, n_ctx, n_seq, threads, kv_f16, &cp);
	if ((e = l32_engine_new(m, &cp, err)) != NULL)
		l32_engine_set_stop(e, l32_filter_stopping);  /* SIGINT stops a long request too */
	return e;
}

int
l32_env_num(const char *name, long long lo, long long hi, long long *out)
{
	const char *s = getenv(name);

	if (s == NULL || *s == '\0')
		return 0;
	return l32_opt_num(name, s, lo, hi, out) == -1 ? -1 : 1;
}

int
l32_request_model(json_t *body, const char *served, const char **name,
    struct l32_err *err)
{
	const char *s = NULL;

	if (l32_json_get_str(body, "model", &s, NULL, err) == -1)
		return -1;
	*name = served;
	if (s == NULL)
		return 0;
	*name = s;
	if (strcmp(s, served) == 0 || strcasestr(s, "llama-3.2") != NULL ||
	    strcasestr(s, "llama3.2") != NULL || strcasestr(s, "llama_3.2") != NULL)
		return 0;
	l32_err_param(err, L32_ERR_INVALID, "model",
	    "The model `%s` does not exist here: this process serves %s (a Llama 3.2 model)",
	    s, served);
	err->code = "model_not_found";
	return -1;
}

static int
listed(const char *const *list, const char *key)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, key) == 0)
			return 1;
	return 0;
}

int
l32_request_fields(json_t *body, const char *const *known, const char *const *also,
    struct l32_err *err)
{
	const char *key;
	json_t *v;

	/* a field nobody reads would be silently ignored: name it instead */
	json_object_foreach(body, key, v) {
		if (listed(known, key) || listed(also, key))
			continue;
		l32_err_param(err, L32_ERR_INVALID, key,
		    "Unrecognized request argument supplied: %s", key);
		err->code = "unknown_parameter";
		return -1;
	}
	return 0;
}

void
l32_program_ctx_params(const struct l32_program *p, struct l32_ctx_params *cp)
{
	ctx_params(p->model, (int32_t)p->opt.ctx, (int32_t)p->opt.batch, (int)p->opt.threads,
	    p->opt.kv_f16, cp);
	cp->cache_mem = p->opt.cache_mem;
	cp->prefix_cache = p->opt.prefix_cache;
}

/* The step size measured on the model (l32_step_size), at most bound
 * (0: none), shown with --progress; -1 with err set. */
static int32_t
measure_step(struct l32_program *p, int32_t bound, struct l32_err *err)
{
	struct l32_ctx_params cp;
	int32_t s;

	ctx_params(p->model, (int32_t)p->opt.ctx, 1, (int)p->opt.threads, p->opt.kv_f16, &cp);
	if ((s = l32_step_size(p->model, cp.n_threads, cp.n_ctx, cp.kv_f16, err)) == -1)
		return -1;
	if (bound > 0 && s > bound)
		s = bound;
	if (p->opt.fo.progress == 1 || (p->opt.fo.progress == -1 && isatty(STDERR_FILENO)))
		fprintf(stderr, "%s: up to %d sequences at a time (--batch auto)\n", getprogname(), s);
	return s;
}

/* -b auto: for a generating program the step size measured on the model,
 * or with step_lazy its bound, the measurement left to
 * l32_program_step_on; for another program its own default. */
static int
resolve_batch(struct l32_program *p, struct l32_err *err)
{
	struct l32_ctx_params cp;
	int32_t s;

	if (!(p->takes & L32_TAKES_GEN)) {
		p->opt.batch = p->batch_default != L32_BATCH_AUTO ? p->batch_default : 4;
		return 0;
	}
	if (p->step_lazy) {
		/* as many slots as the measurement may choose: which it
		 * chooses never changes the context, so never an answer */
		ctx_params(p->model, (int32_t)p->opt.ctx, 1, (int)p->opt.threads, p->opt.kv_f16, &cp);
		p->opt.batch = l32_step_bound(p->model, cp.n_ctx, cp.kv_f16);
		p->step_pending = 1;
		return 0;
	}
	if ((s = measure_step(p, 0, err)) == -1)
		return -1;
	p->opt.batch = s;
	return 0;
}

/* l32_jobq_step_fn of l32_program_step_on: the measurement, or the fewest
 * sequences after a warning when it failed (the run goes on). */
static int32_t
step_now(void *arg)
{
	struct l32_program *p = arg;
	struct l32_err err;
	int32_t s;

	l32_err_clear(&err);
	if ((s = measure_step(p, (int32_t)p->opt.batch, &err)) == -1) {
		s = L32_STEP_MIN < p->opt.batch ? L32_STEP_MIN : (int32_t)p->opt.batch;
		warnx("--batch auto: %s: %d sequences at a time", err.msg, s);
	}
	p->step_pending = 0;
	return s;
}

void
l32_program_step_on(struct l32_program *p, struct l32_jobq *q)
{
	if (p->step_pending)
		l32_jobq_set_step(q, step_now, p);
}

int
l32_program_open(struct l32_program *p, struct l32_err *err)
{
	struct l32_ctx_params cp;

	l32_err_clear(err);
	if (p->takes & L32_TAKES_FILTER)
		l32_filter_catch_signals();
	if ((p->takes & L32_TAKES_CHAT) &&
	    l32_chat_date(p->opt.date, p->date, sizeof(p->date), err) == -1) {
		char msg[sizeof(err->msg)];

		strlcpy(msg, err->msg, sizeof(msg));
		l32_err_set(err, L32_ERR_INVALID, "--date: %.1000s", msg);
		return L32_EXIT_USAGE;
	}
	if ((p->model = l32_program_model(p->opt.model, &p->model_name, err)) == NULL)
		return L32_EXIT_FATAL;
	p->tok = l32_model_tokenizer(p->model);
	if (p->opt.check_weights && l32_model_check_weights(p->model, err) == -1)
		return L32_EXIT_FATAL;
	if ((p->takes & L32_TAKES_GEN) && p->opt.prefix_cache != NULL && p->opt.cache_mem == 0 &&
	    access(p->opt.prefix_cache, F_OK) == -1 && errno == ENOENT) {
		/* the file is written from the cache in memory, which 0 turns off */
		l32_err_set(err, L32_ERR_INVALID, "--prefix-cache %s: the file does not exist, and "
		    "with --cache-mem 0 nothing would be kept to write to it", p->opt.prefix_cache);
		return L32_EXIT_USAGE;
	}
	if (p->opt.batch == L32_BATCH_AUTO && resolve_batch(p, err) == -1)
		return L32_EXIT_FATAL;
	if (p->takes & L32_TAKES_GEN) {
		l32_common_gen_defaults(&p->opt, p->model, &p->defaults);
		l32_program_ctx_params(p, &cp);
		if ((p->engine = l32_engine_new(p->model, &cp, err)) == NULL)
			return L32_EXIT_FATAL;
		l32_engine_set_stop(p->engine, l32_filter_stopping);  /* SIGINT stops a long request too */
	}
	l32_fingerprint(p->model, (int)p->opt.threads, p->fingerprint, sizeof(p->fingerprint));
	return 0;
}

int
l32_program_save(struct l32_program *p, int status)
{
	struct l32_err err;
	int rc;

	/* a run a signal stopped ends at once; the next run writes the file */
	if (p->engine == NULL || l32_filter_stopping())
		return status;
	l32_err_clear(&err);
	if ((rc = l32_engine_save_prefix(p->engine, &err)) == 0)
		return status;
	warnx("--prefix-cache %s", err.msg);
	return rc == -1 && status < L32_EXIT_FATAL ? L32_EXIT_FATAL : status;
}

void
l32_program_close(struct l32_program *p)
{
	l32_engine_free(p->engine);
	l32_model_free(p->model);
	p->engine = NULL;
	p->model = NULL;
}
