/*
 * l32_gen.h - sampling and the generation loop shared by l32-generate,
 * l32-rewrite and l32-summarize.  Included by l32.h.
 */
#ifndef L32_GEN_H
#define L32_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "grammar/l32_grammar.h"

struct l32_err;
struct l32_model;
struct l32_ctx;
struct l32_tokenizer;
struct l32_grammar;

/* ---------------------------------------------------------------- sampler */

struct l32_rng {
	uint64_t s[4]; /* xoshiro256** */
};

void l32_rng_seed(struct l32_rng *r, uint64_t seed);
uint64_t l32_rng_next(struct l32_rng *r);
/* Uniform in [0, 1). */
double l32_rng_uniform(struct l32_rng *r);

struct l32_bias {
	int32_t id;
	float bias;
};

/* Sampling settings of one request (OpenAI's fields).  The order applied:
 * logit_bias, presence/frequency penalties (over the completion so far),
 * then temperature 0 = argmax, else temperature, top_k, top_p, min_p and a
 * draw from what is left. */
struct l32_sampling {
	float temperature;       /* 0 = greedy */
	float top_p;             /* 1 = off */
	int32_t top_k;           /* 0 = off */
	float min_p;             /* 0 = off */
	float presence_penalty;
	float frequency_penalty;
	const struct l32_bias *bias;  /* (n_bias) */
	size_t n_bias;
};

void l32_sampling_init(struct l32_sampling *s);

/* Scratch of a sampler: sized for the vocabulary once, reused per step. */
struct l32_sampler;

struct l32_sampler *l32_sampler_new(int32_t n_vocab);
void l32_sampler_free(struct l32_sampler *sm);
/* Picks the next token from logits (n_vocab floats, not changed); counts
 * (n_vocab, may be NULL) holds how often each id occurred in the
 * completion, for the penalties. */
int32_t l32_sampler_pick(struct l32_sampler *sm, const struct l32_sampling *s,
    const float *logits, const uint32_t *counts, struct l32_rng *rng);

/* log-softmax helpers for logprobs: the log-sum-exp of logits, and the k
 * ids with the largest logits, best first. */
double l32_logsumexp(const float *logits, int32_t n);
void l32_top_ids(const float *logits, int32_t n, int32_t k, int32_t *ids);

/* ------------------------------------------------------------- generation */

enum l32_finish {
	L32_FINISH_NONE = 0,
	L32_FINISH_STOP,     /* a stop token or stop string */
	L32_FINISH_LENGTH,   /* max_tokens or the context limit */
	L32_FINISH_TOOL_CALLS,
};

const char *l32_finish_name(enum l32_finish f);

/* What one request asks of the generation loop. */
struct l32_gen_params {
	int32_t max_tokens;           /* completion tokens at most */
	int32_t n;                    /* choices */
	struct l32_sampling sampling;
	uint64_t seed;
	const char *const *stop;      /* (n_stop) stop strings */
	const size_t *stop_len;
	size_t n_stop;
	int logprobs;                 /* record logprobs of each token */
	int32_t top_logprobs;         /* 0..20 alternatives per token */
	int ignore_eos;               /* do not stop on stop tokens */
	struct l32_grammar *grammar;  /* constrained decoding (shared by the
	                                 request's choices), or NULL */
};

void l32_gen_params_init(struct l32_gen_params *p);
/* Takes temperature, top_p and top_k from the model's
 * generation_config.json where it has them. */
void l32_gen_params_from_model(struct l32_gen_params *p, const struct l32_model *m);

/* The sampling fields of an OpenAI request, parsed and checked. */
struct l32_genreq_limits {
	int32_t n_vocab;   /* logit_bias keys must be below it */
	int32_t max_n;     /* most choices per request */
	int structured;    /* read response_format and grammar */
	const char *grammar; /* GBNF for requests that set neither, or NULL */
};

struct l32_genreq {
	struct l32_gen_params p;   /* set defaults before parsing */
	int has_seed;              /* the request carried a seed */
	const char **stop;         /* storage behind p.stop (points into the request) */
	size_t *stop_len;
	struct l32_bias *bias;     /* storage behind p.sampling.bias */
	struct l32_grammar *grammar; /* behind p.grammar */
};

/* Reads temperature, top_p, top_k, min_p, presence/frequency_penalty,
 * logit_bias, seed, n, stop, max_tokens / max_completion_tokens, logprobs,
 * top_logprobs and ignore_eos from body into g->p, over the defaults it
 * holds; with lim->structured also response_format (json_object,
 * json_schema) and grammar (GBNF), compiled into g->grammar.  The stop
 * strings point into body: keep it alive. */
int l32_genreq_parse(json_t *body, const struct l32_genreq_limits *lim,
    struct l32_genreq *g, struct l32_err *err);
void l32_genreq_free(struct l32_genreq *g);

/* One choice's result. */
struct l32_gen_choice {
	struct l32_buf text;          /* content (UTF-8, stop string cut off) */
	struct l32_tokens ids;        /* completion ids, stop token excluded */
	enum l32_finish finish;
	json_t *logprobs;             /* OpenAI logprobs.content array, or NULL */
	size_t streamed;              /* bytes of text already handed to the stream callback */
};

/* Called after each step with the new text of a choice that is safe to
 * show (whole UTF-8 characters, nothing that could still become a stop
 * string); and once more with finish set when the choice ends.  Logprobs
 * entries for the new tokens are logprobs[first_lp ..]. */
typedef int (*l32_gen_stream_fn)(void *arg, int32_t index, const char *text,
    size_t len, size_t first_lp, enum l32_finish finish);

struct l32_engine;

/* An engine owns a context (KV cache) with room for n_seq sequences. */
struct l32_engine *l32_engine_new(struct l32_model *m, const struct l32_ctx_params *cp,
    struct l32_err *err);
void l32_engine_free(struct l32_engine *e);
struct l32_ctx *l32_engine_ctx(struct l32_engine *e);
int32_t l32_engine_n_ctx(const struct l32_engine *e);
int32_t l32_engine_n_seq(const struct l32_engine *e);

/* Generates p->n completions of prompt; choices must hold p->n entries
 * (zeroed by the caller; free them with l32_gen_choice_free).  stream may
 * be NULL.  Runs the engine until this request is done (other jobs of the
 * engine advance with it). */
int l32_generate(struct l32_engine *e, const int32_t *prompt, size_t n_prompt,
    const struct l32_gen_params *p, struct l32_gen_choice *choices,
    l32_gen_stream_fn stream, void *stream_arg, struct l32_err *err);
void l32_gen_choice_free(struct l32_gen_choice *c);

/* Continuous batching: a job is one request; every l32_engine_step samples
 * one token for each running choice of every job and evaluates them all in
 * one batch, so the weights are read once per step for all of them.  A job
 * starts (its prompt is evaluated) when the engine has p->n free sequence
 * slots; a choice's tokens do not depend on what runs beside it. */
struct l32_job;

int32_t l32_engine_free_slots(const struct l32_engine *e);
/* 1 while some job has choices running. */
int l32_engine_busy(const struct l32_engine *e);
struct l32_job *l32_job_start(struct l32_engine *e, const int32_t *prompt,
    size_t n_prompt, const struct l32_gen_params *p, struct l32_gen_choice *choices,
    l32_gen_stream_fn stream, void *stream_arg, struct l32_err *err);
int l32_engine_step(struct l32_engine *e, struct l32_err *err);
int l32_job_done(const struct l32_job *j);
/* Gives the job's sequence slots back (the choices stay the caller's). */
void l32_job_free(struct l32_job *j);

#endif
