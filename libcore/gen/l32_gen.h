/*
 * l32_gen.h - what runs a model for a request: sampling, the generation loop
 * and its continuous-batching engine, and embeddings over batched passes.
 */
#ifndef L32_GEN_API_H
#define L32_GEN_API_H

#include <jansson.h>
#include "compute/l32_compute.h"
#include "grammar/l32_grammar.h"

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
	int32_t max_tokens;           /* completion tokens at most (INT32_MAX when not set) */
	int has_max_tokens;           /* set by the request or the command line; else
	                               * only the context bounds a completion, and a
	                               * program may choose its own length */
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

/* One choice's result. */
struct l32_gen_choice {
	struct l32_buf text;          /* content (UTF-8, stop string cut off) */
	struct l32_tokens ids;        /* completion ids, stop token excluded */
	enum l32_finish finish;
	json_t *logprobs;             /* OpenAI logprobs.content array, or NULL */
	size_t streamed;              /* bytes of text already handed to the stream callback */
	int32_t cached_tokens;        /* prompt tokens whose K/V came from the prefix
	                               * cache (usage.prompt_tokens_details) */
};

/* Called after each step with the new text of a choice that is safe to
 * show (whole UTF-8 characters, nothing that could still become a stop
 * string); and once more with finish set when the choice ends.  Logprobs
 * entries for the new tokens are logprobs[first_lp ..]. */
typedef int (*l32_gen_stream_fn)(void *arg, int32_t index, const char *text,
    size_t len, size_t first_lp, enum l32_finish finish);

struct l32_engine;

/* An engine owns a context (KV cache) with room for n_seq sequences, and
 * a prefix cache (cp->cache_mem), over the prefix cache file
 * cp->prefix_cache when that exists: a file made for another model, K/V
 * layout or build, or damaged, fails the engine with err naming it. */
struct l32_engine *l32_engine_new(struct l32_model *m, const struct l32_ctx_params *cp,
    struct l32_err *err);
void l32_engine_free(struct l32_engine *e);
/* At a normal end: writes the prefix cache to cp->prefix_cache when that
 * file did not exist at l32_engine_new.  0 written (or no file to write),
 * 1 nothing written with the reason in err->msg, -1 failed (err set). */
int l32_engine_save_prefix(struct l32_engine *e, struct l32_err *err);
struct l32_ctx *l32_engine_ctx(struct l32_engine *e);
int32_t l32_engine_n_ctx(const struct l32_engine *e);
int32_t l32_engine_n_seq(const struct l32_engine *e);

/* The number of sequences to decode together when the user leaves it open
 * (stepsize.c): where a decode step of m on threads threads stops costing
 * only the reading of its weights, measured once, and as many as fit half
 * the memory available with n_ctx positions each; -1 with err set. */
#define L32_STEP_MIN 8
#define L32_STEP_MAX 32
int32_t l32_step_size(const struct l32_model *m, int threads, int32_t n_ctx, int kv_f16,
    struct l32_err *err);
/* The most l32_step_size may choose, without measuring: L32_STEP_MAX
 * halved while that many windows of n_ctx positions do not fit in half the
 * memory available. */
int32_t l32_step_bound(const struct l32_model *m, int32_t n_ctx, int kv_f16);
/* The choice from the time t1 of a product with one token and tn of the
 * same with n tokens: twice the knee n t1 / tn, rounded up to a multiple of
 * 8, from L32_STEP_MIN to L32_STEP_MAX. */
int32_t l32_step_size_from(double t1, double tn, int32_t n);

/* Fails when a prompt of n_prompt tokens is empty or leaves no room in
 * the context for a completion token (context_length_exceeded), naming
 * param, the request field the prompt came from ("messages", "prompt",
 * "input"). */
int l32_engine_check_prompt(const struct l32_engine *e, size_t n_prompt, const char *param,
    struct l32_err *err);

/* Makes the engine stop between two forward passes once stop() returns
 * non-zero (a signal came): l32_engine_step, and a prompt's prefill in
 * l32_job_start and l32_generate, then fail with L32_ERR_STOPPED.  NULL:
 * never. */
void l32_engine_set_stop(struct l32_engine *e, int (*stop)(void));

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
/* -1 with err set when the job ended in an error of its own (the model
 * computed NaN or infinity for it: L32_ERR_MODEL) rather than with its
 * answers; 0 otherwise.  Other jobs are not affected. */
int l32_job_error(const struct l32_job *j, struct l32_err *err);
/* Gives the job's sequence slots back (the choices stay the caller's). */
void l32_job_free(struct l32_job *j);

/* ------------------------------------------------------------ embeddings */

enum l32_pooling {
	L32_POOLING_MEAN = 0,   /* mean of the final normalized hidden states of every token */
	L32_POOLING_LAST,       /* the final normalized hidden state of the last token */
};

/* Tokens one forward pass of the embedder takes at most.  Kept below the
 * row count at which BLIS leaves its small-matrix code for its large one
 * (201 rows in its Haswell configuration, 512 in its Zen one), since the
 * two round differently and a text's embedding must not depend on what
 * else shares its pass. */
#define L32_EMBED_PASS_TOKENS 192

struct l32_embedder;

/* cp->n_seq inputs share a forward pass, each of up to cp->n_ctx tokens;
 * cp->n_batch is not used (a pass holds at most L32_EMBED_PASS_TOKENS). */
struct l32_embedder *l32_embedder_new(struct l32_model *m, const struct l32_ctx_params *cp,
    struct l32_err *err);
void l32_embedder_free(struct l32_embedder *e);
int32_t l32_embedder_dim(const struct l32_embedder *e);
int32_t l32_embedder_n_ctx(const struct l32_embedder *e);
/* Forward passes run so far. */
long l32_embedder_passes(const struct l32_embedder *e);

/* Queues n inputs (each 1..n_ctx ids; they must stay put until done), all
 * or none: the pooled final hidden states of input i (dim floats, not
 * normalized) go to out + i * dim, and done[i] becomes 1, during later
 * calls of l32_embedder_step.  done[i] becomes negative instead when the
 * model computed NaN or infinity for the input (l32_embedder_error says
 * where); its out is not to be used. */
int l32_embedder_add(struct l32_embedder *e, const struct l32_tokens *in, size_t n,
    enum l32_pooling pool, float *out, int *done, struct l32_err *err);
/* -1 with err naming the place (L32_ERR_MODEL) when done, an entry of
 * l32_embedder_add's done, is negative; 0 otherwise. */
int l32_embedder_error(const struct l32_embedder *e, int done, struct l32_err *err);
/* Inputs waiting or under way. */
size_t l32_embedder_pending(const struct l32_embedder *e);
/* One forward pass: the inputs under way, then waiting ones in the order
 * they came, as many as fit.  An input's result is bitwise the same
 * whatever shares its passes.  On failure every input is dropped. */
int l32_embedder_step(struct l32_embedder *e, struct l32_err *err);
/* The n inputs at once: out (n, dim).  Nothing else may be queued. */
int l32_embed(struct l32_embedder *e, const struct l32_tokens *in, size_t n,
    enum l32_pooling pool, float *out, struct l32_err *err);

/* v := v / |v| (L2); a zero vector stays zero. */
void l32_vec_normalize(float *v, size_t n);
/* Appends the base64 of v's values as little-endian IEEE f32 (OpenAI's
 * encoding_format "base64"). */
int l32_base64_f32(struct l32_buf *out, const float *v, size_t n);

#endif /* L32_GEN_API_H */
