/*
 * l32_model.h - model files, hyperparameters and the forward pass.
 * Included by l32.h; programs include l32.h only.
 */
#ifndef L32_MODEL_H
#define L32_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct l32_err;
struct l32_tokenizer;

/* Tensor storage types; the values are ggml's, so GGUF type ids map 1:1. */
enum l32_type {
	L32_TYPE_F32 = 0,
	L32_TYPE_F16 = 1,
	L32_TYPE_Q4_0 = 2,
	L32_TYPE_Q4_1 = 3,
	L32_TYPE_Q5_0 = 6,
	L32_TYPE_Q5_1 = 7,
	L32_TYPE_Q8_0 = 8,
	L32_TYPE_Q8_1 = 9,
	L32_TYPE_Q2_K = 10,
	L32_TYPE_Q3_K = 11,
	L32_TYPE_Q4_K = 12,
	L32_TYPE_Q5_K = 13,
	L32_TYPE_Q6_K = 14,
	L32_TYPE_Q8_K = 15,
	L32_TYPE_BF16 = 30,
	L32_TYPE_COUNT = 31,
};

struct l32_type_traits {
	const char *name;   /* "Q8_0"; NULL for ids l32 does not know */
	int32_t block;      /* values per block (1 for plain types) */
	int32_t block_bytes;/* bytes per block */
	int supported;      /* 1 when l32 can compute with it */
};

/* Traits of a type id; NULL when the id is out of range or unknown. */
const struct l32_type_traits *l32_type_traits(int type);
/* Bytes of a row of n values, or 0 when n is not a multiple of the block. */
size_t l32_type_row_bytes(int type, int64_t n);

struct l32_hparams {
	int32_t dim;          /* embedding length */
	int32_t n_layers;
	int32_t n_heads;
	int32_t n_kv_heads;
	int32_t head_dim;
	int32_t ffn_dim;      /* feed-forward hidden size */
	int32_t vocab;
	int32_t ctx_train;    /* the model's own context length (131072) */
	float norm_eps;       /* RMSNorm epsilon */
	float rope_theta;
	int rope_scaled;      /* llama3 frequency scaling in use */
	float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
	int32_t rope_orig_ctx;/* original_max_position_embeddings */
	int tied_output;      /* output projection = token embedding */
	int32_t bos;          /* -1 when unknown */
	int32_t stop_ids[8];  /* ids that end generation */
	int n_stop_ids;
};

struct l32_model;

/* Opens a GGUF file or a Hugging Face directory (config.json +
 * model.safetensors or shards + tokenizer.json).  Weights are mapped, not
 * read. */
struct l32_model *l32_model_open(const char *path, struct l32_err *err);
void l32_model_free(struct l32_model *m);
const struct l32_hparams *l32_model_hparams(const struct l32_model *m);
/* The model's tokenizer (owned by the model); NULL if the file has none. */
struct l32_tokenizer *l32_model_tokenizer(const struct l32_model *m);
/* A short description: file type and shape, e.g. "llama 1.2B Q8_0". */
const char *l32_model_desc(const struct l32_model *m);
/* Bytes of weights mapped. */
uint64_t l32_model_weight_bytes(const struct l32_model *m);
/* Reads every weight (each row widened to f32) and fails, naming the
 * tensor, row and column, at the first NaN or infinity (L32_ERR_FORMAT).
 * Reads the whole file: meant for --check-weights, not every start. */
int l32_model_check_weights(const struct l32_model *m, struct l32_err *err);

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

#endif /* L32_MODEL_H */
