/* kvcache.c - the key/value cache: layout, stores, and memory figures. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "compute/kvcache.h"
#include "formats/quant.h"

size_t
l32_kv_bytes(int32_t n_layers, int32_t n_seq, int32_t n_ctx, int32_t kv_dim,
    int f16)
{
	size_t n = 2 * (f16 ? sizeof(uint16_t) : sizeof(float));

	if (n_layers <= 0 || n_seq <= 0 || n_ctx <= 0 || kv_dim <= 0)
		return 0;
	if (__builtin_mul_overflow(n, (size_t)n_layers, &n) ||
	    __builtin_mul_overflow(n, (size_t)n_seq, &n) ||
	    __builtin_mul_overflow(n, (size_t)n_ctx, &n) ||
	    __builtin_mul_overflow(n, (size_t)kv_dim, &n))
		return 0;
	return n;
}

int
l32_kv_init(struct l32_kv *kv, int32_t n_layers, int32_t n_seq, int32_t n_ctx,
    int32_t kv_dim, int f16, struct l32_err *err)
{
	size_t bytes = l32_kv_bytes(n_layers, n_seq, n_ctx, kv_dim, f16);

	memset(kv, 0, sizeof(*kv));
	if (bytes == 0)
		return l32_err_set(err, L32_ERR_NOMEM,
		    "KV cache: %d layers x %d sequences x %d positions x %d values "
		    "overflows the address space", n_layers, n_seq, n_ctx, kv_dim);
	kv->len = calloc((size_t)n_seq, sizeof(*kv->len));
	if (kv->len == NULL)
		return l32_err_set(err, L32_ERR_NOMEM,
		    "KV cache: cannot allocate %d sequence slots", n_seq);
	/* MAP_NORESERVE: the caller has checked the figure against
	 * MemAvailable; untouched positions take no memory */
	kv->mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (kv->mem == MAP_FAILED) {
		kv->mem = NULL;
		free(kv->len);
		kv->len = NULL;
		return l32_err_set(err, L32_ERR_NOMEM,
		    "KV cache: cannot map %zu bytes", bytes);
	}
	kv->bytes = bytes;
	kv->f16 = f16;
	kv->n_layers = n_layers;
	kv->n_seq = n_seq;
	kv->n_ctx = n_ctx;
	kv->kv_dim = kv_dim;
	return 0;
}

void
l32_kv_free(struct l32_kv *kv)
{
	if (kv->mem != NULL)
		munmap(kv->mem, kv->bytes);
	free(kv->len);
	memset(kv, 0, sizeof(*kv));
}

void *
l32_kv_block(const struct l32_kv *kv, int32_t layer, int32_t seq, int which)
{
	size_t elt = kv->f16 ? sizeof(uint16_t) : sizeof(float);
	size_t block = (size_t)kv->n_ctx * (size_t)kv->kv_dim * elt;
	size_t idx = ((size_t)layer * (size_t)kv->n_seq + (size_t)seq) * 2 + (size_t)which;

	return (char *)kv->mem + idx * block;
}

static void
store_row(const struct l32_kv *kv, void *block, int32_t pos, const float *src)
{
	size_t off = (size_t)pos * (size_t)kv->kv_dim;

	if (kv->f16) {
		uint16_t *dst = (uint16_t *)block + off;

		for (int32_t i = 0; i < kv->kv_dim; i++)
			dst[i] = l32_f32_to_f16(src[i]);
	} else {
		memcpy((float *)block + off, src, (size_t)kv->kv_dim * sizeof(float));
	}
}

void
l32_kv_store(struct l32_kv *kv, int32_t layer, int32_t seq, int32_t pos,
    const float *k, const float *v)
{
	store_row(kv, l32_kv_block(kv, layer, seq, 0), pos, k);
	store_row(kv, l32_kv_block(kv, layer, seq, 1), pos, v);
}

size_t
l32_kv_pos_bytes(const struct l32_kv *kv)
{
	return (size_t)kv->n_layers * 2 * (size_t)kv->kv_dim *
	    (kv->f16 ? sizeof(uint16_t) : sizeof(float));
}

void
l32_kv_xfer(const struct l32_kv *kv, int32_t seq, int32_t from, int32_t n, void *out,
    const void *in)
{
	size_t row = (size_t)kv->kv_dim * (kv->f16 ? sizeof(uint16_t) : sizeof(float));
	size_t at = 0, len = (size_t)n * row;

	for (int32_t l = 0; l < kv->n_layers; l++)
		for (int w = 0; w < 2; w++, at += len) {
			char *b = (char *)l32_kv_block(kv, l, seq, w) + (size_t)from * row;

			if (out != NULL)
				memcpy((char *)out + at, b, len);
			else
				memcpy(b, (const char *)in + at, len);
		}
}

uint64_t
l32_mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	unsigned long long kb;
	uint64_t bytes = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) {
			bytes = (uint64_t)kb * 1024;
			break;
		}
	fclose(f);
	return bytes;
}
