/*
 * model.h - libcore-internal view of a loaded model: tensors in the file
 * mapping, per-layer weights, and what the forward pass needs.
 * Shapes are written [rows, cols] with rows the output features; in GGUF
 * terms ne[0] = cols (innermost, contiguous) and ne[1] = rows.
 */
#ifndef L32_MODEL_INTERNAL_H
#define L32_MODEL_INTERNAL_H

#include "model/l32_model.h"
#include "base/mapfile.h"

/* A 2-D (or 1-D) tensor stored row-major in the file mapping. */
struct l32_tensor {
	const char *name;     /* the name in the file */
	enum l32_type type;
	int64_t cols;         /* values per row (ne[0]) */
	int64_t rows;         /* ne[1]; 1 for vectors */
	const void *data;     /* first byte of row 0, inside the mapping */
	size_t row_bytes;     /* bytes from one row to the next */
};

struct l32_layer {
	const float *attn_norm;   /* (dim) */
	struct l32_tensor wq;     /* [n_heads * head_dim, dim] */
	struct l32_tensor wk;     /* [n_kv_heads * head_dim, dim] */
	struct l32_tensor wv;     /* [n_kv_heads * head_dim, dim] */
	struct l32_tensor wo;     /* [dim, n_heads * head_dim] */
	const float *ffn_norm;    /* (dim) */
	struct l32_tensor w1;     /* gate [ffn_dim, dim] */
	struct l32_tensor w2;     /* down [dim, ffn_dim] */
	struct l32_tensor w3;     /* up   [ffn_dim, dim] */
};

struct l32_weights {
	struct l32_tensor tok_embd;  /* [vocab, dim] */
	const float *output_norm;    /* (dim) */
	struct l32_tensor output;    /* [vocab, dim]; a copy of tok_embd's view when tied */
	struct l32_layer *layers;    /* (n_layers) */
	/* 1 when q/k rows are in Hugging Face "rotate-half" order: dims i and
	 * i + head_dim/2 of a head pair up.  0: Meta/GGUF adjacent pairs. */
	int rope_halves;
	float *rope_freq;            /* (head_dim/2) final frequencies, scaling applied */
};

struct l32_model {
	char *path;
	char desc[128];
	struct l32_hparams hp;
	struct l32_weights w;
	struct l32_tokenizer *tok;       /* NULL when the file has none */
	struct l32_mapping maps[64];     /* mapped files (shards) */
	int n_maps;
	void *owned[8];                  /* converted norms and other small copies */
	int n_owned;
	float *norm_store;               /* f32 norms converted from BF16/F16 files */
	/* generation_config.json defaults; < 0 when absent */
	float gen_temperature, gen_top_p;
	int32_t gen_top_k;
	uint64_t weight_bytes;
	/* The parsed file headers; the tensors' names point into them. */
	struct l32_gguf *gguf;
	struct l32_safetensors *shards[64];
	int n_shards;
};

/* Builds a model over a GGUF image in memory (buf must outlive the model;
 * nothing is mapped); source names it in messages.  l32_model_open uses it
 * on the mapped file, the fuzz target and tests on bytes. */
struct l32_model *l32_model_from_gguf(const void *buf, size_t len, const char *source,
    struct l32_err *err);

/* Fills rope_freq from hp (theta, llama3 scaling) for files without a
 * rope_freqs tensor. */
void l32_rope_freq_from_hparams(const struct l32_hparams *hp, float *freq);

#endif
