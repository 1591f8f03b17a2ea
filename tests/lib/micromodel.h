/*
 * micromodel.h - very small llama models (a few KB) written as GGUF images
 * or Hugging Face directories, with optional damage, for the model-file
 * tests and the fuzz seeds.
 *
 * Tensor values depend only on the tensor's name and the element index
 * (micro_value), so a test can check any element it reads back.  Values
 * are multiples of 1/64 below 2 in magnitude: exact in F32, F16 and BF16.
 */
#ifndef L32_MICROMODEL_H
#define L32_MICROMODEL_H

#include <stdint.h>

#include "l32.h"

#define MICRO_TOK_VOCAB 262 /* 256 bytes, 2 merged tokens, 4 specials */

struct micro_opts {
	int32_t dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim, vocab;
	enum l32_type type;      /* matrices: F32, F16 or BF16 */
	int tokenizer;           /* GGUF: a gpt2 vocabulary (vocab must be MICRO_TOK_VOCAB) */
	int untied;              /* write output.weight / lm_head.weight */
	int rope_freqs;          /* GGUF: write rope_freqs.weight */
	int version;             /* GGUF header version (3) */
	const char *skip;        /* leave out the tensor of this name */
	const char *reshape;     /* give this tensor one row too many */
	const char *drop_key;    /* leave out this metadata / config key */
	const char *retype_key;  /* write this key with a wrong type (a string
	                          * for a number, a number for a string) */
};

/* dim 8, 1 layer, 2 heads, 1 KV head, head_dim 4, ffn 16, vocab 16, F32. */
void micro_defaults(struct micro_opts *o);

/* Element i of the tensor named name (a norm when norm is 1). */
float micro_value(const char *name, int64_t i, int norm);

/* The model as a GGUF image appended to out. */
int micro_gguf(const struct micro_opts *o, struct l32_buf *out);

/* The model as a Hugging Face directory (created if needed): config.json,
 * generation_config.json, and model.safetensors, or with shards > 1 that
 * many model-0000N-of-0000M.safetensors and the index.  No tokenizer.json. */
int micro_hf_dir(const struct micro_opts *o, const char *dir, int shards);

/* dir/tokenizer.json: the micro vocabulary (MICRO_TOK_VOCAB ids) with
 * Llama 3's pre-tokenizer. */
int micro_hf_tokenizer(const char *dir);

/* GPT-2 byte-level text of byte b (1 or 2 UTF-8 bytes) into out; its length. */
int micro_bytelevel(unsigned char b, char out[3]);

#endif
