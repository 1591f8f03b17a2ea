/*
 * l32_compute.h - the forward pass: a context (K/V cache and scratch) over a
 * model, batches of tokens of several sequences evaluated together.
 */
#ifndef L32_COMPUTE_API_H
#define L32_COMPUTE_API_H

#include "model/l32_model.h"

/* ------------------------------------------------------------ forward pass */

struct l32_ctx_params {
	int32_t n_ctx;   /* positions per sequence (KV cache length) */
	int32_t n_seq;   /* sequences that can be live at once */
	int32_t n_batch; /* most tokens one l32_ctx_decode call takes */
	int n_threads;   /* 0 = all cores */
	int kv_f16;      /* store K/V in f16 */
};

void l32_ctx_params_init(struct l32_ctx_params *p);

struct l32_ctx;

/* Allocates the KV cache and scratch; checks up front that the memory it
 * will take is available, failing with a message that gives the figure. */
struct l32_ctx *l32_ctx_new(struct l32_model *m, const struct l32_ctx_params *p,
    struct l32_err *err);
void l32_ctx_free(struct l32_ctx *c);

enum {
	L32_OUT_LOGITS = 1, /* logits (vocab floats) of this token */
	L32_OUT_EMBD = 2,   /* final normalized hidden state (dim floats) */
};

/* A batch of tokens, each with its sequence and position (like
 * llama_batch).  A sequence's positions must continue where its cache ends. */
struct l32_batch {
	int32_t n;
	const int32_t *token; /* (n) */
	const int32_t *pos;   /* (n) */
	const int32_t *seq;   /* (n) in 0..n_seq-1 */
	const uint8_t *out;   /* (n) L32_OUT_* bits, or NULL for logits of the last token only */
};

/* Evaluates a batch; appends its K/V to each sequence's cache. */
int l32_ctx_decode(struct l32_ctx *c, const struct l32_batch *b, struct l32_err *err);
/* Results of batch token i (which must have asked for them); NULL otherwise. */
const float *l32_ctx_logits(const struct l32_ctx *c, int32_t i);
const float *l32_ctx_embd(const struct l32_ctx *c, int32_t i);
/* Non-finite activations (NaN, infinity: damaged weights) are looked for
 * at every norm and in the logits, at no cost worth naming.  l32_ctx_fault
 * gives, for batch token i of the last decode, the first place its
 * activations went non-finite (a code in pass order: the smallest of several
 * is the earliest), 0 when they stayed finite; its results are then not
 * to be used. */
int32_t l32_ctx_fault(const struct l32_ctx *c, int32_t i);
/* The place of a fault code: "layer 3 (attention)", "the output norm". */
void l32_ctx_fault_name(const struct l32_ctx *c, int32_t code, char *buf, size_t size);
/* Sets err (L32_ERR_MODEL, code "model_error") for a request the fault
 * spoiled, naming the place; returns -1. */
int l32_err_nonfinite(struct l32_err *err, const struct l32_ctx *c, int32_t code);

/* Steps of the forward passes so far that ran over more than one thread
 * of the context's pool (a step too small to repay the threads runs on
 * one): for tests and benchmarks. */
long l32_ctx_split_jobs(const struct l32_ctx *c);
/* Forgets a sequence's cache, so the slot can take a new sequence. */
void l32_ctx_seq_clear(struct l32_ctx *c, int32_t seq);
/* Positions held for a sequence. */
int32_t l32_ctx_seq_len(const struct l32_ctx *c, int32_t seq);

#endif /* L32_COMPUTE_API_H */
