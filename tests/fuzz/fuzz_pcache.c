/*
 * fuzz_pcache.c - libFuzzer target: the prefix cache file's reader on
 * arbitrary bytes.  The identity wanted is read from the input's own
 * header when it has one (so the fuzzer gets past it to the directory
 * and the blocks), else a fixed one; every block of a file that passes is
 * looked up by its parent, key and tokens, as the engine does, and the
 * first and last byte of its keys and values read.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gen/prefix_file.h"

#define HDR 256
#define ENTRY 288

static volatile unsigned sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* The identity in the header at data (prefix_file.c's layout). */
static void
want_from(const uint8_t *h, struct l32_pfile_id *id)
{
	memset(id, 0, sizeof(*id));
	id->build = rd64(h + 16);
	id->model_bytes = rd64(h + 24);
	id->model_hash = rd64(h + 32);
	id->kv_elem = rd32(h + 40);
	id->n_layer = rd32(h + 44);
	id->n_kv_heads = rd32(h + 48);
	id->head_dim = rd32(h + 52);
	id->block = rd32(h + 56);
	id->n_batch = rd32(h + 60);
	id->isa = rd32(h + 64);
	id->cpu = rd32(h + 68);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l32_pfile_id want = { 1, 2, 3, 2, 1, 1, 1, L32_PFILE_BLOCK, 512, 0, 0, "fuzz" };
	struct l32_err err;
	struct l32_pfile *f;
	int32_t tok[L32_PFILE_BLOCK];

	if (size >= HDR)
		want_from(data, &want);
	if ((f = l32_pfile_parse(data, size, "fuzz.l32c", &want, &err)) == NULL)
		return 0;
	for (size_t i = 0; i < l32_pfile_count(f); i++) {
		const uint8_t *e = data + HDR + i * ENTRY;
		size_t bytes = l32_pfile_block_bytes(&want);
		const uint8_t *kv = l32_pfile_kv(f, i);
		int64_t j;

		for (int k = 0; k < L32_PFILE_BLOCK; k++)
			tok[k] = (int32_t)rd32(e + 32 + 4 * k);
		j = l32_pfile_find(f, rd64(e + 8), rd64(e), tok);
		/* found: this block, or an equal one (same parent and tokens) */
		if (j < 0 || (size_t)j >= l32_pfile_count(f))
			__builtin_trap();
		sink += kv[0] + kv[bytes - 1];
	}
	tok[0] ^= 1;
	sink += (unsigned)l32_pfile_find(f, 0, l32_pfile_key(0, tok), tok);
	l32_pfile_close(f);
	return 0;
}
