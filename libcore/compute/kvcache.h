/*
 * kvcache.h - the per-sequence key/value cache of the forward pass.
 *
 * One anonymous mapping holds, for each layer l and sequence s, a K block
 * and a V block of (n_ctx, kv_dim) elements, f32 or f16.  Pages are only
 * backed once a position is written, so a large n_ctx costs nothing until
 * it is used; the full size is still checked against the memory available
 * up front, because every sequence may fill its window.
 */
#ifndef L32_KVCACHE_H
#define L32_KVCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "compute/l32_compute.h"

struct l32_kv {
	void *mem;          /* (n_layers, n_seq, 2, n_ctx, kv_dim) elements */
	size_t bytes;
	int f16;            /* elements are f16, else f32 */
	int32_t n_layers, n_seq, n_ctx, kv_dim;
	int32_t *len;       /* (n_seq) positions held per sequence */
};

/* Bytes the cache of that shape takes; 0 when the figure overflows. */
size_t l32_kv_bytes(int32_t n_layers, int32_t n_seq, int32_t n_ctx,
    int32_t kv_dim, int f16);
int l32_kv_init(struct l32_kv *kv, int32_t n_layers, int32_t n_seq,
    int32_t n_ctx, int32_t kv_dim, int f16, struct l32_err *err);
void l32_kv_free(struct l32_kv *kv);

/* The K (which = 0) or V (which = 1) block of a layer and sequence:
 * (n_ctx, kv_dim) float or uint16_t elements. */
void *l32_kv_block(const struct l32_kv *kv, int32_t layer, int32_t seq, int which);
/* Writes the K and V rows (kv_dim each) of one position. */
void l32_kv_store(struct l32_kv *kv, int32_t layer, int32_t seq, int32_t pos,
    const float *k, const float *v);

/* Bytes of one position: every layer's K and V row. */
size_t l32_kv_pos_bytes(const struct l32_kv *kv);
/* Copies positions [from, from + n) of a sequence, laid out (layer, K/V,
 * n, kv_dim), out of the cache to out when that is not NULL, else into it
 * from in. */
void l32_kv_xfer(const struct l32_kv *kv, int32_t seq, int32_t from, int32_t n, void *out,
    const void *in);

/* MemAvailable of /proc/meminfo in bytes; 0 when it cannot be read. */
uint64_t l32_mem_available(void);

#endif
