/*
 * fuzz_hfconfig.c - libFuzzer target: the readers of config.json,
 * generation_config.json and model.safetensors.index.json, each on the
 * same arbitrary bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "formats/hfconfig.h"

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l32_hparams hp;
	struct l32_hfgen gen;
	struct l32_hfindex ix;
	struct l32_err err;
	size_t k;
	int tie;

	memset(&hp, 0, sizeof(hp));
	if (l32_hfconfig_parse(data, size, "config.json", &hp, &tie, &err) == 0)
		sink += (unsigned)hp.dim + (unsigned)hp.n_stop_ids + (unsigned)tie;
	if (l32_hfgen_parse(data, size, "generation_config.json", &gen, &err) == 0)
		sink += (unsigned)gen.n_eos + (unsigned)gen.top_k;
	if (l32_hfindex_parse(data, size, "model.safetensors.index.json", &ix, &err) == 0) {
		for (k = 0; k < ix.n_map; k++)
			sink += (unsigned)l32_hfindex_shard(&ix, ix.map[k].tensor);
		sink += (unsigned)l32_hfindex_shard(&ix, "model.norm.weight");
		l32_hfindex_free(&ix);
	}
	return 0;
}
