/*
 * fuzz_gguf.c - libFuzzer target: the GGUF reader, then the model loader,
 * on arbitrary bytes.  Every metadata value is walked (arrays of arrays
 * too) and the first and last byte of every tensor read, so a bounds error
 * anywhere shows up under the sanitizers.
 */
#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"
#include "model/model.h"

static volatile unsigned sink;

static void
walk(const struct l32_gguf_value *v)
{
	struct l32_gguf_value e;
	size_t pos = 0;

	if (v->type == L32_GGUF_STR && v->len > 0)
		sink += (unsigned char)v->str[0] + (unsigned char)v->str[v->len - 1];
	if (v->type != L32_GGUF_ARR)
		return;
	while (l32_gguf_arr_next(v, &pos, &e) == 0)
		walk(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l32_err err;
	struct l32_gguf *g;
	struct l32_model *m;
	const unsigned char *p;
	int64_t i;
	size_t k;

	if ((g = l32_gguf_parse(data, size, "fuzz.gguf", &err)) != NULL) {
		for (k = 0; k < g->n_kv; k++)
			walk(&g->kv[k].v);
		for (k = 0; k < g->n_tensors; k++) {
			p = g->tensors[k].data;
			sink += p[0] + p[g->tensors[k].nbytes - 1];
		}
		l32_gguf_get_int(g, "llama.block_count", 0, 100, &i, &err);
		l32_gguf_free(g);
	}
	if ((m = l32_model_from_gguf(data, size, "fuzz.gguf", &err)) != NULL) {
		sink += (unsigned)m->hp.dim + (unsigned char)l32_model_desc(m)[0];
		l32_model_free(m);
	}
	return 0;
}
