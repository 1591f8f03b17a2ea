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
	int32_t n_step;  /* most sequences a decode step may ever hold, when
	                  * more than n_seq (0: n_seq); see l32_ctx_gemm_tokens */
	int n_threads;   /* 0 = all cores */
	int kv_f16;      /* store K/V in f16 */
	long long cache_mem; /* bytes of the engine's prefix cache: 0 off,
	                      * -1 (l32_ctx_params_init) the default */
	const char *prefix_cache; /* the prefix cache file, or NULL */
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

/* A sequence's cache may be filled from elsewhere (a prefix cache,
 * another sequence) up to a multiple of l32_ctx_align positions and the
 * rest computed on top, in batches that end where the whole's would (at
 * multiples of n_batch): the results are then the same bits as those of
 * the whole computed alone.  That is L32_CTX_ALIGN when the model's
 * weights take batch-invariant kernels (see l32_attention for attention),
 * else n_batch, so that the batches themselves are the same. */
#define L32_CTX_ALIGN 64
int32_t l32_ctx_align(const struct l32_ctx *c);
/* The fewest tokens a pass must hold for weights without batch-invariant
 * kernels (F32, F16, BF16) to take BLIS: above n_seq and n_step, so that a
 * decode step (one token per sequence) never does.  The generation engine
 * (l32_engine_new), whose slot count may be measured, sets n_step to the
 * most the measurement may choose, so that which kernels a prompt takes,
 * and so its bits, do not depend on it. */
int32_t l32_ctx_gemm_tokens(const struct l32_ctx *c);
/* Bytes one position takes in the K/V cache: every layer's K and V. */
size_t l32_ctx_pos_bytes(const struct l32_ctx *c);
/* Copies positions [from, from + n) of a sequence's K/V, held, to dst
 * (n * l32_ctx_pos_bytes bytes). */
void l32_ctx_seq_save(const struct l32_ctx *c, int32_t seq, int32_t from, int32_t n,
    void *dst);
/* Appends n positions, as l32_ctx_seq_save wrote them, to a sequence's
 * K/V; fails past the context window. */
int l32_ctx_seq_load(struct l32_ctx *c, int32_t seq, int32_t n, const void *src,
    struct l32_err *err);
/* Sequence dst's cache := the first n positions of src's. */
void l32_ctx_seq_copy(struct l32_ctx *c, int32_t src, int32_t dst, int32_t n);

#endif /* L32_COMPUTE_API_H */
