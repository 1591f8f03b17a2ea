/*
 * l32_model.h - model files (GGUF, Hugging Face directories) and their
 * hyperparameters, read from the file, never assumed.
 */
#ifndef L32_MODEL_API_H
#define L32_MODEL_API_H

#include "base/l32_base.h"
#include "formats/l32_types.h"
#include "tokenizer/l32_tokenizer.h"

struct l32_tokenizer;


struct l32_model;

/* Opens a GGUF file or a Hugging Face directory (config.json +
 * model.safetensors or shards + tokenizer.json).  Weights are mapped, not
 * read. */
struct l32_model *l32_model_open(const char *path, struct l32_err *err);
/* Flags of l32_model_open_with. */
enum {
	/* for a program about to compute: the weights' pages are mapped in
	 * by a background thread while the rest of the file (the tokenizer)
	 * loads, instead of page fault by page fault in the first pass */
	L32_MODEL_PREFETCH = 1,
};
struct l32_model *l32_model_open_with(const char *path, unsigned flags, struct l32_err *err);
void l32_model_free(struct l32_model *m);
const struct l32_hparams *l32_model_hparams(const struct l32_model *m);
/* The model's tokenizer (owned by the model); NULL if the file has none. */
struct l32_tokenizer *l32_model_tokenizer(const struct l32_model *m);
/* A short description: file type and shape, e.g. "llama 1.2B Q8_0". */
const char *l32_model_desc(const struct l32_model *m);
/* Bytes of weights mapped. */
uint64_t l32_model_weight_bytes(const struct l32_model *m);
/* What tells one model from another for files that hold what was
 * computed with it: the model files' size, and a hash of their headers,
 * hyperparameters, norms and samples of every weight matrix (fast: not the
 * whole file). */
struct l32_model_id {
	uint64_t file_bytes;  /* the model file's size; a directory's shards' */
	uint64_t hash;
};
void l32_model_identity(const struct l32_model *m, struct l32_model_id *id);
/* Reads every weight (each row widened to f32) and fails, naming the
 * tensor, row and column, at the first NaN or infinity (L32_ERR_FORMAT).
 * Reads the whole file: meant to be asked for, not done at every start. */
int l32_model_check_weights(const struct l32_model *m, struct l32_err *err);

#endif /* L32_MODEL_API_H */
