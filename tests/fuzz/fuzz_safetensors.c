/*
 * fuzz_safetensors.c - libFuzzer target: the safetensors reader on
 * arbitrary bytes; every tensor is looked up by name and its first and last
 * byte read.
 */
#include <stddef.h>
#include <stdint.h>

#include "formats/safetensors.h"

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l32_err err;
	struct l32_safetensors *st;
	const struct l32_st_tensor *t;
	const unsigned char *p;
	size_t k;

	if ((st = l32_safetensors_parse(data, size, "fuzz.safetensors", &err)) == NULL)
		return 0;
	for (k = 0; k < st->n; k++) {
		t = l32_safetensors_find(st, st->t[k].name);
		if (t != NULL && t->nbytes > 0) {
			p = t->data;
			sink += p[0] + p[t->nbytes - 1];
		}
	}
	l32_safetensors_free(st);
	return 0;
}
