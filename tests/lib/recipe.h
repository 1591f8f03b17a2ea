/*
 * recipe.h - the deterministic weights of the golden checkpoints
 * ($L32_SHARED/golden/README.md, "Weight recipe"), ggml's reference Q8_0 and
 * Q4_0 quantizers, and in-memory models built from them.
 *
 * Every tensor has its own SplitMix64 stream seeded from its Meta name:
 *   state = mix64(seed ^ fnv1a64(name)),  r_i = mix64(state + (i+1) * golden)
 *   matrix element i: (2 (r_i >> 56) - 255) * 2^-e
 *   norm element i:   1 + ((r_i >> 59) - 16) / 128
 */
#ifndef L32_RECIPE_H
#define L32_RECIPE_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

struct l32_recipe_config {
	const char *name;                /* "tiny", "mini", "1B", "3B" */
	int32_t dim, n_layers, n_heads, n_kv_heads, head_dim, ffn_dim, vocab;
	int e_embd, e_attn, e_w2;        /* exponents e of the matrices */
};

/* The config of that name; NULL when unknown. */
const struct l32_recipe_config *l32_recipe_config(const char *name);

uint64_t l32_recipe_fnv1a64(const char *s);
uint64_t l32_recipe_mix64(uint64_t z);
/* The stream state of a tensor. */
uint64_t l32_recipe_state(const char *name, uint64_t seed);
/* r_i, the (i+1)-th output of the stream. */
uint64_t l32_recipe_r(uint64_t state, uint64_t i);
float l32_recipe_matrix_value(uint64_t r, int e);
float l32_recipe_norm_value(uint64_t r);

enum l32_recipe_kind {
	L32_RECIPE_MATRIX,
	L32_RECIPE_NORM,
};

/* Writes elements first..first+n-1 of a tensor's stream to out. */
void l32_recipe_fill(const char *name, uint64_t seed, enum l32_recipe_kind kind,
    int e, uint64_t first, float *out, size_t n);

/* The kind and exponent of a Meta tensor name under a config ("norm.weight",
 * "layers.3.feed_forward.w2.weight", ...); -1 for a name not in the model. */
int l32_recipe_tensor_kind(const struct l32_recipe_config *cfg, const char *name,
    enum l32_recipe_kind *kind, int *e);

/* ggml's reference quantizers; n a multiple of 32; out holds n/32 blocks. */
void l32_recipe_quantize_q8_0(const float *x, void *out, int64_t n);
void l32_recipe_quantize_q4_0(const float *x, void *out, int64_t n);

/* llama3 RoPE frequencies (head_dim/2 values) for theta and the scaling
 * factor, low/high frequency factors and original context. */
void l32_recipe_rope_freq(int head_dim, double theta, double factor,
    double low, double high, double orig_ctx, float *freq);

/* A complete in-memory model of a config with weights stored as type (F32,
 * Q8_0 or Q4_0): Meta tensor order, rope_halves 0, tied output.  Free it
 * with l32_recipe_model_free, not l32_model_free. */
struct l32_model *l32_recipe_model(const char *config, enum l32_type type,
    uint64_t seed, struct l32_err *err);
void l32_recipe_model_free(struct l32_model *m);

#endif
