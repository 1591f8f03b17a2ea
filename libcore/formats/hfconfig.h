/*
 * hfconfig.h - the JSON files of a Hugging Face model directory:
 * config.json, generation_config.json and model.safetensors.index.json.
 * Each parser reads a buffer, so the fuzz targets need no files; source
 * names the file in messages.
 */
#ifndef L32_HFCONFIG_H
#define L32_HFCONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "formats/l32_types.h"

#define L32_HF_MAX_IDS 8     /* eos ids kept from one file */
#define L32_HF_MAX_SHARDS 64 /* the model's mapping slots */

/* config.json: fills the shape, norm, RoPE and token-id fields of hp
 * (stop ids from eos_token_id) and sets *tie to tie_word_embeddings, or -1
 * when the key is absent. */
int l32_hfconfig_parse(const void *text, size_t len, const char *source,
    struct l32_hparams *hp, int *tie, struct l32_err *err);

struct l32_hfgen {
	float temperature;   /* < 0 when absent; 0 when do_sample is false */
	float top_p;         /* < 0 when absent */
	int32_t top_k;       /* < 0 when absent */
	int32_t eos[L32_HF_MAX_IDS];
	int n_eos;
};

/* generation_config.json. */
int l32_hfgen_parse(const void *text, size_t len, const char *source,
    struct l32_hfgen *gen, struct l32_err *err);

struct l32_hfindex_entry {
	char *tensor;
	int shard;           /* index into shards */
};

struct l32_hfindex {
	char *shards[L32_HF_MAX_SHARDS]; /* file names, each once, in first-seen order */
	int n_shards;
	struct l32_hfindex_entry *map;   /* (n_map) sorted by tensor */
	size_t n_map;
};

/* model.safetensors.index.json: its weight_map.  Shard names must be plain
 * file names inside the directory. */
int l32_hfindex_parse(const void *text, size_t len, const char *source,
    struct l32_hfindex *ix, struct l32_err *err);
/* The shard holding tensor, or -1 when the index does not list it. */
int l32_hfindex_shard(const struct l32_hfindex *ix, const char *tensor);
void l32_hfindex_free(struct l32_hfindex *ix);

#endif
