/*
 * safetensors.h - a safetensors reader over a buffer in memory.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [b, e]},
 *  "__metadata__": {...}}, then the data; offsets count from the end of the
 * header.  Shapes are outermost first (row-major).
 */
#ifndef L32_SAFETENSORS_H
#define L32_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "formats/l32_types.h"

#define L32_ST_MAX_DIMS 8
#define L32_ST_MAX_HEADER (100u << 20) /* as the reference implementation limits it */

struct l32_st_tensor {
	char *name;
	enum l32_type type;      /* F32, F16 or BF16 */
	int n_dims;              /* 0 for a scalar */
	int64_t shape[L32_ST_MAX_DIMS]; /* outermost first */
	uint64_t begin, end;     /* data_offsets */
	const void *data;
	size_t nbytes;
};

struct l32_safetensors {
	char *source;            /* file name for messages */
	size_t data_offset;      /* 8 + header length */
	size_t n;
	struct l32_st_tensor *t; /* (n) sorted by name */
};

/* Parses and checks buf[0..len); the buffer must outlive the result. */
struct l32_safetensors *l32_safetensors_parse(const void *buf, size_t len,
    const char *source, struct l32_err *err);
void l32_safetensors_free(struct l32_safetensors *st);
const struct l32_st_tensor *l32_safetensors_find(const struct l32_safetensors *st,
    const char *name);

#endif
