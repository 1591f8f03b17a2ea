/*
 * model_id.c - a model's identity for files that hold what the engine
 * computed with it (the prefix cache file): cheap to take at every start,
 * and different for another model even when its shapes and names are the
 * same (two fine-tunes of one base in safetensors have equal headers).
 *
 * It hashes the file sizes, each file's header (GGUF metadata and tensor
 * directory; each safetensors shard's JSON header), the hyperparameters
 * as the engine uses them (a Hugging Face directory's config.json), every
 * norm vector whole, and three 64-byte samples (first, middle, last) of
 * every weight matrix: a few hundred page reads, not the whole file.
 */
#include <string.h>

#include "base/hash.h"
#include "formats/gguf.h"
#include "formats/safetensors.h"
#include "model/model.h"

#define SAMPLE 64

static uint64_t
mix_bytes(uint64_t h, const void *p, size_t n)
{
	return l32_hash64(p, n, h);
}

static uint64_t
mix_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return l32_hash64(b, sizeof(b), h);
}

static uint64_t
mix_f32(uint64_t h, float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return mix_u64(h, u);
}

/* The type, shape and three samples of a weight matrix. */
static uint64_t
mix_tensor(uint64_t h, const struct l32_tensor *t)
{
	size_t n = (size_t)t->rows * t->row_bytes;
	const unsigned char *d = t->data;

	h = mix_u64(h, (uint64_t)t->type);
	h = mix_u64(h, (uint64_t)t->rows);
	h = mix_u64(h, (uint64_t)t->cols);
	if (d == NULL || n == 0)
		return h;
	if (n <= 3 * SAMPLE)
		return mix_bytes(h, d, n);
	h = mix_bytes(h, d, SAMPLE);
	h = mix_bytes(h, d + (n / 2 - SAMPLE / 2), SAMPLE);
	return mix_bytes(h, d + n - SAMPLE, SAMPLE);
}

static uint64_t
mix_hparams(uint64_t h, const struct l32_hparams *hp)
{
	const int32_t ints[] = { hp->dim, hp->n_layers, hp->n_heads, hp->n_kv_heads,
	    hp->head_dim, hp->ffn_dim, hp->vocab, hp->rope_scaled, hp->rope_orig_ctx,
	    hp->tied_output };
	const float reals[] = { hp->norm_eps, hp->rope_theta, hp->rope_factor,
	    hp->rope_low_freq_factor, hp->rope_high_freq_factor };

	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		h = mix_u64(h, (uint64_t)(uint32_t)ints[i]);
	for (size_t i = 0; i < sizeof(reals) / sizeof(reals[0]); i++)
		h = mix_f32(h, reals[i]);
	return h;
}

void
l32_model_identity(const struct l32_model *m, struct l32_model_id *id)
{
	const struct l32_hparams *hp = &m->hp;
	const struct l32_weights *w = &m->w;
	uint64_t h = 0x6c33326d6f64656cULL, bytes = 0;
	size_t dim = (size_t)hp->dim * sizeof(float);

	if (m->gguf != NULL) {
		bytes = m->gguf->len;
		h = mix_bytes(h, m->gguf->base, m->gguf->data_offset);
	}
	for (int i = 0; i < m->n_maps && m->gguf == NULL; i++) {
		bytes += m->maps[i].len;
		if (i < m->n_shards)
			h = mix_bytes(h, m->maps[i].addr, m->shards[i]->data_offset);
	}
	h = mix_u64(h, bytes);
	h = mix_hparams(h, hp);
	h = mix_u64(h, (uint64_t)w->rope_halves);
	if (w->rope_freq != NULL)
		h = mix_bytes(h, w->rope_freq, (size_t)(hp->head_dim / 2) * sizeof(float));
	h = mix_tensor(h, &w->tok_embd);
	h = mix_tensor(h, &w->output);
	if (w->output_norm != NULL)
		h = mix_bytes(h, w->output_norm, dim);
	for (int32_t l = 0; l < hp->n_layers && w->layers != NULL; l++) {
		const struct l32_layer *ly = &w->layers[l];

		if (ly->attn_norm != NULL)
			h = mix_bytes(h, ly->attn_norm, dim);
		if (ly->ffn_norm != NULL)
			h = mix_bytes(h, ly->ffn_norm, dim);
		h = mix_tensor(h, &ly->wq);
		h = mix_tensor(h, &ly->wk);
		h = mix_tensor(h, &ly->wv);
		h = mix_tensor(h, &ly->wo);
		h = mix_tensor(h, &ly->w1);
		h = mix_tensor(h, &ly->w2);
		h = mix_tensor(h, &ly->w3);
	}
	id->file_bytes = bytes;
	id->hash = h;
}
