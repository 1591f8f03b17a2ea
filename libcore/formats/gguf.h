/*
 * gguf.h - a GGUF (v2, v3) reader over a buffer in memory.
 *
 * Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64
 * metadata count; the metadata key/value pairs; the tensor infos (name,
 * u32 n_dims, u64 ne[n_dims] innermost first, u32 type, u64 offset); padding
 * to general.alignment (default 32); the data section, where each offset
 * starts.  Every count, length and offset is checked against the buffer
 * before anything is allocated from it.
 */
#ifndef L32_GGUF_H
#define L32_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "formats/l32_types.h"

enum l32_gguf_vtype {
	L32_GGUF_U8 = 0,
	L32_GGUF_I8 = 1,
	L32_GGUF_U16 = 2,
	L32_GGUF_I16 = 3,
	L32_GGUF_U32 = 4,
	L32_GGUF_I32 = 5,
	L32_GGUF_F32 = 6,
	L32_GGUF_BOOL = 7,
	L32_GGUF_STR = 8,
	L32_GGUF_ARR = 9,
	L32_GGUF_U64 = 10,
	L32_GGUF_I64 = 11,
	L32_GGUF_F64 = 12,
	L32_GGUF_NTYPES = 13,
};

#define L32_GGUF_MAX_DIMS 4
#define L32_GGUF_MAX_DEPTH 8      /* arrays of arrays nest at most this deep */
#define L32_GGUF_DEFAULT_ALIGNMENT 32

/* One metadata value.  Strings and arrays point into the buffer. */
struct l32_gguf_value {
	enum l32_gguf_vtype type;
	uint64_t u;        /* U8..U64 and BOOL */
	int64_t i;         /* I8..I64 */
	double f;          /* F32, F64 */
	const char *str;   /* STR: bytes, not NUL-terminated */
	size_t len;        /* STR: byte length */
	enum l32_gguf_vtype elem; /* ARR: element type */
	uint64_t n;        /* ARR: element count */
	const uint8_t *data;      /* ARR: first element's bytes */
	size_t bytes;      /* ARR: bytes of all elements */
};

struct l32_gguf_kv {
	char *key;
	struct l32_gguf_value v;
};

struct l32_gguf_tensor {
	char *name;
	int n_dims;
	int64_t ne[L32_GGUF_MAX_DIMS]; /* ne[0] innermost; unused dims are 1 */
	enum l32_type type;
	uint64_t offset;   /* from the start of the data section */
	const void *data;
	size_t nbytes;
};

struct l32_gguf {
	char *source;      /* file name for messages */
	uint32_t version;
	const uint8_t *base;
	size_t len;
	size_t alignment;
	size_t data_offset; /* start of the data section in the buffer */
	size_t n_kv;
	struct l32_gguf_kv *kv;            /* (n_kv) in file order */
	size_t n_tensors;
	struct l32_gguf_tensor *tensors;   /* (n_tensors) in file order */
	struct l32_gguf_kv **kv_by_key;            /* (n_kv) sorted by key */
	struct l32_gguf_tensor **tensor_by_name;   /* (n_tensors) sorted by name */
};

/* Parses and checks buf[0..len); source names it in messages.  The buffer
 * must outlive the result. */
struct l32_gguf *l32_gguf_parse(const void *buf, size_t len, const char *source,
    struct l32_err *err);
void l32_gguf_free(struct l32_gguf *g);

/* "u32", "string", "array", ... */
const char *l32_gguf_vtype_name(int type);

/* Lookups; NULL when absent. */
const struct l32_gguf_value *l32_gguf_find(const struct l32_gguf *g, const char *key);
const struct l32_gguf_tensor *l32_gguf_find_tensor(const struct l32_gguf *g,
    const char *name);

/* Typed getters: return 1 and store the value when the key is present, 0
 * when it is absent, -1 (err names the key, the type found and the type
 * expected, or the value and the range) otherwise. */
int l32_gguf_get_int(const struct l32_gguf *g, const char *key, int64_t min,
    int64_t max, int64_t *out, struct l32_err *err);
int l32_gguf_get_float(const struct l32_gguf *g, const char *key, double *out,
    struct l32_err *err);
int l32_gguf_get_bool(const struct l32_gguf *g, const char *key, int *out,
    struct l32_err *err);
int l32_gguf_get_str(const struct l32_gguf *g, const char *key, const char **s,
    size_t *len, struct l32_err *err);
/* An array whose elements have type elem (or any type when elem < 0). */
int l32_gguf_get_arr(const struct l32_gguf *g, const char *key, int elem,
    const struct l32_gguf_value **out, struct l32_err *err);
/* 1 when the key holds the string s exactly. */
int l32_gguf_str_is(const struct l32_gguf_value *v, const char *s);

/* Element *pos of an array (the caller starts at 0), then advances *pos to
 * the next element; elements are read in order.  Returns 0, or -1 past the
 * end. */
int l32_gguf_arr_next(const struct l32_gguf_value *arr, size_t *pos,
    struct l32_gguf_value *out);

#endif
