/*
 * l32_types.h - tensor storage types (ggml's ids, so GGUF type ids map 1:1)
 * and their block sizes; the hyperparameters a model file describes.
 */
#ifndef L32_TYPES_API_H
#define L32_TYPES_API_H

#include <stddef.h>
#include <stdint.h>
#include "base/l32_base.h"

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

/* A model's hyperparameters, as its file gives them. */
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

#endif /* L32_TYPES_API_H */
