/*
 * gguf.c - parsing and checking GGUF headers: metadata, tensor infos and
 * where each tensor's bytes lie.  Nothing is trusted: a count is compared
 * with the bytes left before it sizes an allocation, and every tensor must
 * lie inside the data section without overlapping another.
 */
#include <endian.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"

#define GGUF_MAGIC "GGUF"
#define MAX_KEY_LEN 65535     /* the specification's limit */
#define MAX_NAME_LEN 255      /* ggml's is 63; leave room for longer names */
#define MIN_KV_BYTES 13       /* u64 key length, u32 type, a 1-byte value */
#define MIN_TENSOR_BYTES 32   /* u64 name length, u32 n_dims, u64 ne, u32 type, u64 offset */
#define MIN_ARRAY_BYTES 12    /* u32 element type, u64 count */

/* ---------------------------------------------------------------- cursor */

struct cur {
	const uint8_t *p;
	size_t len, off;
	const char *source;
	struct l32_err *err;
};

static size_t
left(const struct cur *c)
{
	return c->len - c->off;
}

static int
need(struct cur *c, size_t n, const char *what)
{
	if (n > left(c))
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: truncated at offset %zu: %s needs %zu bytes, %zu left",
		    c->source, c->off, what, n, left(c));
	return 0;
}

static uint64_t
le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	int i;

	for (i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int
rd_u32(struct cur *c, uint32_t *v, const char *what)
{
	if (need(c, 4, what) == -1)
		return -1;
	*v = (uint32_t)le(c->p + c->off, 4);
	c->off += 4;
	return 0;
}

/* le(p, 8) in one load: string lengths are read twice for each of the
 * vocabulary's 400000 strings. */
static uint64_t
le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static int
rd_u64(struct cur *c, uint64_t *v, const char *what)
{
	if (need(c, 8, what) == -1)
		return -1;
	*v = le64(c->p + c->off);
	c->off += 8;
	return 0;
}

/* A string: u64 length, then its bytes. */
static int
rd_str(struct cur *c, const char **s, size_t *n, const char *what)
{
	uint64_t len;
	size_t at = c->off;

	if (rd_u64(c, &len, what) == -1)
		return -1;
	if (len > left(c))
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: offset %zu: %s of %" PRIu64 " bytes exceeds the %zu bytes left",
		    c->source, at, what, len, left(c));
	*s = (const char *)c->p + c->off;
	*n = (size_t)len;
	c->off += (size_t)len;
	return 0;
}

/* ---------------------------------------------------------------- values */

static const struct {
	const char *name;
	size_t size; /* 0: variable (string, array) */
} vtypes[L32_GGUF_NTYPES] = {
	[L32_GGUF_U8] = { "u8", 1 },      [L32_GGUF_I8] = { "i8", 1 },
	[L32_GGUF_U16] = { "u16", 2 },    [L32_GGUF_I16] = { "i16", 2 },
	[L32_GGUF_U32] = { "u32", 4 },    [L32_GGUF_I32] = { "i32", 4 },
	[L32_GGUF_F32] = { "f32", 4 },    [L32_GGUF_BOOL] = { "bool", 1 },
	[L32_GGUF_STR] = { "string", 0 }, [L32_GGUF_ARR] = { "array", 0 },
	[L32_GGUF_U64] = { "u64", 8 },    [L32_GGUF_I64] = { "i64", 8 },
	[L32_GGUF_F64] = { "f64", 8 },
};

const char *
l32_gguf_vtype_name(int type)
{
	if (type < 0 || type >= L32_GGUF_NTYPES)
		return "unknown";
	return vtypes[type].name;
}

static int
is_int_type(int t)
{
	return t == L32_GGUF_U8 || t == L32_GGUF_I8 || t == L32_GGUF_U16 ||
	    t == L32_GGUF_I16 || t == L32_GGUF_U32 || t == L32_GGUF_I32 ||
	    t == L32_GGUF_U64 || t == L32_GGUF_I64;
}

/* Decodes a fixed-size scalar at p (already bounds-checked). */
static void
decode_scalar(int type, const uint8_t *p, struct l32_gguf_value *v)
{
	uint64_t raw = le(p, (int)vtypes[type].size);
	uint32_t r32;
	float f32;

	switch (type) {
	case L32_GGUF_I8:  v->i = (int8_t)raw; break;
	case L32_GGUF_I16: v->i = (int16_t)raw; break;
	case L32_GGUF_I32: v->i = (int32_t)raw; break;
	case L32_GGUF_I64: v->i = (int64_t)raw; break;
	case L32_GGUF_F32:
		r32 = (uint32_t)raw;
		memcpy(&f32, &r32, 4);
		v->f = f32;
		break;
	case L32_GGUF_F64: memcpy(&v->f, &raw, 8); break;
	default:           v->u = raw; break;
	}
}

static int parse_value(struct cur *c, int type, int depth, const char *key,
    struct l32_gguf_value *v);

/* An array: u32 element type, u64 count, the elements. */
static int
parse_array(struct cur *c, int depth, const char *key, struct l32_gguf_value *v)
{
	struct l32_gguf_value sub;
	uint32_t elem;
	uint64_t n, i;
	size_t at = c->off, start, size, min;

	if (depth >= L32_GGUF_MAX_DEPTH)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: offset %zu: metadata key %s: arrays nested deeper than %d",
		    c->source, at, key, L32_GGUF_MAX_DEPTH);
	if (rd_u32(c, &elem, "array element type") == -1 ||
	    rd_u64(c, &n, "array length") == -1)
		return -1;
	if (elem >= L32_GGUF_NTYPES)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: offset %zu: metadata key %s: unknown array element type %" PRIu32,
		    c->source, at, key, elem);
	size = vtypes[elem].size;
	min = size ? size : elem == L32_GGUF_STR ? 8 : MIN_ARRAY_BYTES;
	if (n > left(c) / min)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: offset %zu: metadata key %s: array of %" PRIu64 " %s exceeds the %zu bytes left",
		    c->source, at, key, n, vtypes[elem].name, left(c));
	v->elem = elem;
	v->n = n;
	start = c->off;
	if (size != 0) {
		c->off += (size_t)n * size;
		if (elem == L32_GGUF_BOOL)
			for (i = 0; i < n; i++)
				if (c->p[start + i] > 1)
					return l32_err_set(c->err, L32_ERR_FORMAT,
					    "%s: offset %zu: metadata key %s: element %" PRIu64 " is bool %u, not 0 or 1",
					    c->source, start + (size_t)i, key, i, c->p[start + i]);
	} else {
		for (i = 0; i < n; i++) {
			memset(&sub, 0, sizeof(sub));
			if (parse_value(c, (int)elem, depth + 1, key, &sub) == -1)
				return -1;
		}
	}
	v->data = c->p + start;
	v->bytes = c->off - start;
	return 0;
}

static int
parse_value(struct cur *c, int type, int depth, const char *key,
    struct l32_gguf_value *v)
{
	size_t at = c->off;

	v->type = type;
	if (type == L32_GGUF_STR)
		return rd_str(c, &v->str, &v->len, "string value");
	if (type == L32_GGUF_ARR)
		return parse_array(c, depth, key, v);
	if (need(c, vtypes[type].size, "metadata value") == -1)
		return -1;
	decode_scalar(type, c->p + c->off, v);
	c->off += vtypes[type].size;
	if (type == L32_GGUF_BOOL && v->u > 1)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: offset %zu: metadata key %s: bool value %" PRIu64 ", not 0 or 1",
		    c->source, at, key, v->u);
	return 0;
}

int
l32_gguf_arr_next(const struct l32_gguf_value *arr, size_t *pos,
    struct l32_gguf_value *out)
{
	struct cur c = { arr->data, arr->bytes, *pos, "array", NULL };

	if (arr->type != L32_GGUF_ARR || *pos >= arr->bytes)
		return -1;
	memset(out, 0, sizeof(*out));
	/* The array was checked whole when parsed, so this cannot fail on a
	 * parsed value; the cursor still bounds every read. */
	if (parse_value(&c, arr->elem, 1, "", out) == -1)
		return -1;
	*pos = c.off;
	return 0;
}

/* ------------------------------------------------------------- metadata */

static int
cmp_kv(const void *a, const void *b)
{
	const struct l32_gguf_kv *x = *(struct l32_gguf_kv *const *)a;
	const struct l32_gguf_kv *y = *(struct l32_gguf_kv *const *)b;

	return strcmp(x->key, y->key);
}

static int
cmp_tensor_name(const void *a, const void *b)
{
	const struct l32_gguf_tensor *x = *(struct l32_gguf_tensor *const *)a;
	const struct l32_gguf_tensor *y = *(struct l32_gguf_tensor *const *)b;

	return strcmp(x->name, y->name);
}

static int
cmp_tensor_offset(const void *a, const void *b)
{
	const struct l32_gguf_tensor *x = *(struct l32_gguf_tensor *const *)a;
	const struct l32_gguf_tensor *y = *(struct l32_gguf_tensor *const *)b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* A key or tensor name as a C string: no NUL bytes inside. */
static char *
dup_name(struct cur *c, const char *s, size_t n, size_t at, const char *what)
{
	char *d;

	if (memchr(s, '\0', n) != NULL) {
		l32_err_set(c->err, L32_ERR_FORMAT, "%s: offset %zu: %s holds a NUL byte",
		    c->source, at, what);
		return NULL;
	}
	if ((d = malloc(n + 1)) == NULL) {
		l32_err_set(c->err, L32_ERR_NOMEM, "%s: out of memory", c->source);
		return NULL;
	}
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static int
parse_kv(struct cur *c, struct l32_gguf_kv *kv)
{
	const char *s;
	size_t n, at = c->off;
	uint32_t type;

	if (rd_str(c, &s, &n, "metadata key") == -1)
		return -1;
	if (n == 0 || n > MAX_KEY_LEN)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: offset %zu: metadata key of %zu bytes (1..%d allowed)",
		    c->source, at, n, MAX_KEY_LEN);
	if ((kv->key = dup_name(c, s, n, at, "metadata key")) == NULL)
		return -1;
	at = c->off;
	if (rd_u32(c, &type, "metadata value type") == -1)
		return -1;
	if (type >= L32_GGUF_NTYPES)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: offset %zu: metadata key %s: unknown value type %" PRIu32,
		    c->source, at, kv->key, type);
	return parse_value(c, (int)type, 0, kv->key, &kv->v);
}

static int
parse_metadata(struct cur *c, struct l32_gguf *g, uint64_t n_kv)
{
	size_t i;

	if (n_kv > left(c) / MIN_KV_BYTES)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: metadata count %" PRIu64 " exceeds what the %zu bytes left can hold",
		    c->source, n_kv, left(c));
	g->kv = calloc(n_kv ? n_kv : 1, sizeof(*g->kv));
	g->kv_by_key = calloc(n_kv ? n_kv : 1, sizeof(*g->kv_by_key));
	if (g->kv == NULL || g->kv_by_key == NULL)
		return l32_err_set(c->err, L32_ERR_NOMEM, "%s: out of memory", c->source);
	for (i = 0; i < n_kv; i++) {
		g->n_kv = i + 1; /* so free() sees the key of a half-read pair */
		if (parse_kv(c, &g->kv[i]) == -1)
			return -1;
		g->kv_by_key[i] = &g->kv[i];
	}
	qsort(g->kv_by_key, g->n_kv, sizeof(*g->kv_by_key), cmp_kv);
	for (i = 1; i < g->n_kv; i++)
		if (strcmp(g->kv_by_key[i - 1]->key, g->kv_by_key[i]->key) == 0)
			return l32_err_set(c->err, L32_ERR_FORMAT,
			    "%s: metadata key %s appears twice", c->source, g->kv_by_key[i]->key);
	return 0;
}

/* ----------------------------------------------------------- tensor infos */

static int
parse_tensor_info(struct cur *c, size_t idx, struct l32_gguf_tensor *t)
{
	const char *s;
	size_t n, at = c->off;
	uint32_t n_dims, type;
	uint64_t ne;
	int d;

	if (rd_str(c, &s, &n, "tensor name") == -1)
		return -1;
	if (n == 0 || n > MAX_NAME_LEN)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: offset %zu: tensor %zu: name of %zu bytes (1..%d allowed)",
		    c->source, at, idx, n, MAX_NAME_LEN);
	if ((t->name = dup_name(c, s, n, at, "tensor name")) == NULL)
		return -1;
	at = c->off;
	if (rd_u32(c, &n_dims, "tensor dimension count") == -1)
		return -1;
	if (n_dims < 1 || n_dims > L32_GGUF_MAX_DIMS)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: offset %zu: tensor %s: %" PRIu32 " dimensions (1..%d allowed)",
		    c->source, at, t->name, n_dims, L32_GGUF_MAX_DIMS);
	t->n_dims = (int)n_dims;
	for (d = 0; d < L32_GGUF_MAX_DIMS; d++)
		t->ne[d] = 1;
	for (d = 0; d < (int)n_dims; d++) {
		at = c->off;
		if (rd_u64(c, &ne, "tensor dimension") == -1)
			return -1;
		if (ne < 1 || ne > INT64_MAX)
			return l32_err_set(c->err, L32_ERR_FORMAT,
			    "%s: offset %zu: tensor %s: dimension %d is %" PRIu64,
			    c->source, at, t->name, d, ne);
		t->ne[d] = (int64_t)ne;
	}
	if (rd_u32(c, &type, "tensor type") == -1)
		return -1;
	t->type = (enum l32_type)type;
	return rd_u64(c, &t->offset, "tensor offset");
}

/* Checks the tensor's type and size, and places it in the data section. */
static int
place_tensor(struct cur *c, const struct l32_gguf *g, struct l32_gguf_tensor *t)
{
	const struct l32_type_traits *tr = l32_type_traits((int)t->type);
	uint64_t rows = 1, nbytes, data_len = g->len - g->data_offset;
	size_t row_bytes;
	int d;

	if (tr == NULL)
		return l32_err_set(c->err, L32_ERR_FORMAT, "%s: tensor %s: unknown type id %u",
		    c->source, t->name, (unsigned)t->type);
	if (!tr->supported)
		return l32_err_set(c->err, L32_ERR_UNSUPPORTED,
		    "%s: tensor %s: type %s is not supported", c->source, t->name, tr->name);
	if (t->ne[0] % tr->block != 0)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: tensor %s: row of %" PRId64 " values is not a whole number of %s blocks of %d",
		    c->source, t->name, t->ne[0], tr->name, tr->block);
	if ((uint64_t)(t->ne[0] / tr->block) > SIZE_MAX / (uint64_t)tr->block_bytes)
		goto toobig;
	row_bytes = l32_type_row_bytes((int)t->type, t->ne[0]);
	for (d = 1; d < L32_GGUF_MAX_DIMS; d++) {
		if ((uint64_t)t->ne[d] > UINT64_MAX / rows)
			goto toobig;
		rows *= (uint64_t)t->ne[d];
	}
	if (rows > UINT64_MAX / row_bytes)
		goto toobig;
	nbytes = rows * row_bytes;
	if (t->offset % g->alignment != 0)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: tensor %s: offset %" PRIu64 " is not a multiple of the alignment %zu",
		    c->source, t->name, t->offset, g->alignment);
	if (t->offset > data_len || nbytes > data_len - t->offset)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: tensor %s: %" PRIu64 " bytes at offset %" PRIu64
		    " lie outside the data section (%" PRIu64 " bytes at file offset %zu)",
		    c->source, t->name, nbytes, t->offset, data_len, g->data_offset);
	t->nbytes = (size_t)nbytes;
	t->data = g->base + g->data_offset + t->offset;
	return 0;
toobig:
	return l32_err_set(c->err, L32_ERR_FORMAT,
	    "%s: tensor %s: shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "] is too large",
	    c->source, t->name, t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
}

static int
check_overlaps(struct cur *c, struct l32_gguf *g)
{
	struct l32_gguf_tensor **by_off, *a, *b;
	size_t i;
	int rc = 0;

	if (g->n_tensors < 2)
		return 0;
	if ((by_off = calloc(g->n_tensors, sizeof(*by_off))) == NULL)
		return l32_err_set(c->err, L32_ERR_NOMEM, "%s: out of memory", c->source);
	for (i = 0; i < g->n_tensors; i++)
		by_off[i] = &g->tensors[i];
	qsort(by_off, g->n_tensors, sizeof(*by_off), cmp_tensor_offset);
	for (i = 1; i < g->n_tensors && rc == 0; i++) {
		a = by_off[i - 1];
		b = by_off[i];
		if (a->offset + a->nbytes > b->offset)
			rc = l32_err_set(c->err, L32_ERR_FORMAT,
			    "%s: tensors %s (offset %" PRIu64 ", %zu bytes) and %s (offset %" PRIu64 ") overlap",
			    c->source, a->name, a->offset, a->nbytes, b->name, b->offset);
	}
	free(by_off);
	return rc;
}

static int
parse_tensors(struct cur *c, struct l32_gguf *g, uint64_t n_tensors)
{
	size_t i;

	if (n_tensors > left(c) / MIN_TENSOR_BYTES)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: tensor count %" PRIu64 " exceeds what the %zu bytes left can hold",
		    c->source, n_tensors, left(c));
	g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof(*g->tensors));
	g->tensor_by_name = calloc(n_tensors ? n_tensors : 1, sizeof(*g->tensor_by_name));
	if (g->tensors == NULL || g->tensor_by_name == NULL)
		return l32_err_set(c->err, L32_ERR_NOMEM, "%s: out of memory", c->source);
	for (i = 0; i < n_tensors; i++) {
		g->n_tensors = i + 1;
		if (parse_tensor_info(c, i, &g->tensors[i]) == -1)
			return -1;
		g->tensor_by_name[i] = &g->tensors[i];
	}
	qsort(g->tensor_by_name, g->n_tensors, sizeof(*g->tensor_by_name), cmp_tensor_name);
	for (i = 1; i < g->n_tensors; i++)
		if (strcmp(g->tensor_by_name[i - 1]->name, g->tensor_by_name[i]->name) == 0)
			return l32_err_set(c->err, L32_ERR_FORMAT, "%s: tensor %s appears twice",
			    c->source, g->tensor_by_name[i]->name);
	return 0;
}

/* general.alignment: a power of two, 32 when absent. */
static int
read_alignment(struct cur *c, struct l32_gguf *g)
{
	int64_t a;
	int rc;

	g->alignment = L32_GGUF_DEFAULT_ALIGNMENT;
	if ((rc = l32_gguf_get_int(g, "general.alignment", 1, (int64_t)1 << 30, &a, c->err)) == -1)
		return -1;
	if (rc == 0)
		return 0;
	if ((a & (a - 1)) != 0)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: metadata key general.alignment: value %" PRId64 " is not a power of two",
		    c->source, a);
	g->alignment = (size_t)a;
	return 0;
}

/* The data section starts at the first aligned offset after the infos. */
static int
place_data(struct cur *c, struct l32_gguf *g)
{
	size_t pad = (g->alignment - c->off % g->alignment) % g->alignment;
	size_t i;

	if (pad > left(c)) {
		if (g->n_tensors > 0)
			return l32_err_set(c->err, L32_ERR_FORMAT,
			    "%s: truncated: the data section would start at offset %zu, past the end (%zu bytes)",
			    c->source, c->off + pad, c->len);
		pad = left(c);
	}
	g->data_offset = c->off + pad;
	for (i = 0; i < g->n_tensors; i++)
		if (place_tensor(c, g, &g->tensors[i]) == -1)
			return -1;
	return check_overlaps(c, g);
}

/* ----------------------------------------------------------------- header */

static int
parse_header(struct cur *c, struct l32_gguf *g, uint64_t *n_tensors, uint64_t *n_kv)
{
	uint32_t v, swapped;

	if (c->len < 4 || memcmp(c->p, GGUF_MAGIC, 4) != 0) {
		if (c->len < 4)
			return l32_err_set(c->err, L32_ERR_FORMAT,
			    "%s: not a GGUF file: %zu bytes, too short for the magic", c->source, c->len);
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: not a GGUF file: magic %02x %02x %02x %02x, expected \"GGUF\"",
		    c->source, c->p[0], c->p[1], c->p[2], c->p[3]);
	}
	c->off = 4;
	if (rd_u32(c, &v, "version") == -1)
		return -1;
	swapped = (v >> 24) | (v >> 8 & 0xff00) | (v << 8 & 0xff0000) | (v << 24);
	if (v == 0 || (v > 3 && swapped >= 1 && swapped <= 3))
		return l32_err_set(c->err, v == 0 ? L32_ERR_FORMAT : L32_ERR_UNSUPPORTED,
		    "%s: GGUF version %" PRIu32 "%s", c->source, v,
		    v == 0 ? " is invalid" : ": a big-endian file, not supported");
	if (v == 1 || v > 3)
		return l32_err_set(c->err, L32_ERR_UNSUPPORTED,
		    "%s: GGUF version %" PRIu32 " is not supported (2 and 3 are)", c->source, v);
	g->version = v;
	if (rd_u64(c, n_tensors, "tensor count") == -1 || rd_u64(c, n_kv, "metadata count") == -1)
		return -1;
	return 0;
}

struct l32_gguf *
l32_gguf_parse(const void *buf, size_t len, const char *source, struct l32_err *err)
{
	struct cur c = { buf, len, 0, source, err };
	struct l32_gguf *g;
	uint64_t n_tensors, n_kv;

	if ((g = calloc(1, sizeof(*g))) == NULL || (g->source = strdup(source)) == NULL) {
		free(g);
		l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", source);
		return NULL;
	}
	g->base = buf;
	g->len = len;
	g->alignment = L32_GGUF_DEFAULT_ALIGNMENT;
	if (parse_header(&c, g, &n_tensors, &n_kv) == -1 ||
	    parse_metadata(&c, g, n_kv) == -1 ||
	    read_alignment(&c, g) == -1 ||
	    parse_tensors(&c, g, n_tensors) == -1 ||
	    place_data(&c, g) == -1) {
		l32_gguf_free(g);
		return NULL;
	}
	return g;
}

void
l32_gguf_free(struct l32_gguf *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n_kv; i++)
		free(g->kv[i].key);
	for (i = 0; i < g->n_tensors; i++)
		free(g->tensors[i].name);
	free(g->kv);
	free(g->kv_by_key);
	free(g->tensors);
	free(g->tensor_by_name);
	free(g->source);
	free(g);
}

/* ---------------------------------------------------------------- lookups */

static int
cmp_key(const void *key, const void *elem)
{
	return strcmp(key, (*(struct l32_gguf_kv *const *)elem)->key);
}

static int
cmp_name(const void *key, const void *elem)
{
	return strcmp(key, (*(struct l32_gguf_tensor *const *)elem)->name);
}

const struct l32_gguf_value *
l32_gguf_find(const struct l32_gguf *g, const char *key)
{
	struct l32_gguf_kv **kv;

	if (g->n_kv == 0)
		return NULL;
	kv = bsearch(key, g->kv_by_key, g->n_kv, sizeof(*g->kv_by_key), cmp_key);
	return kv != NULL ? &(*kv)->v : NULL;
}

const struct l32_gguf_tensor *
l32_gguf_find_tensor(const struct l32_gguf *g, const char *name)
{
	struct l32_gguf_tensor **t;

	if (g->n_tensors == 0)
		return NULL;
	t = bsearch(name, g->tensor_by_name, g->n_tensors, sizeof(*g->tensor_by_name), cmp_name);
	return t != NULL ? *t : NULL;
}

static int
wrong_type(const struct l32_gguf *g, const char *key, const struct l32_gguf_value *v,
    const char *expected, struct l32_err *err)
{
	if (v->type == L32_GGUF_ARR)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: metadata key %s: type array of %s, expected %s", g->source, key,
		    l32_gguf_vtype_name(v->elem), expected);
	return l32_err_set(err, L32_ERR_FORMAT, "%s: metadata key %s: type %s, expected %s",
	    g->source, key, l32_gguf_vtype_name(v->type), expected);
}

int
l32_gguf_get_int(const struct l32_gguf *g, const char *key, int64_t min,
    int64_t max, int64_t *out, struct l32_err *err)
{
	const struct l32_gguf_value *v = l32_gguf_find(g, key);
	int is_unsigned;

	if (v == NULL)
		return 0;
	if (!is_int_type(v->type))
		return wrong_type(g, key, v, "an integer", err);
	is_unsigned = v->type == L32_GGUF_U8 || v->type == L32_GGUF_U16 ||
	    v->type == L32_GGUF_U32 || v->type == L32_GGUF_U64;
	if (is_unsigned && (v->u > INT64_MAX || (int64_t)v->u < min || (int64_t)v->u > max))
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: metadata key %s: value %" PRIu64 " out of range %" PRId64 "..%" PRId64,
		    g->source, key, v->u, min, max);
	if (!is_unsigned && (v->i < min || v->i > max))
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: metadata key %s: value %" PRId64 " out of range %" PRId64 "..%" PRId64,
		    g->source, key, v->i, min, max);
	*out = is_unsigned ? (int64_t)v->u : v->i;
	return 1;
}

int
l32_gguf_get_float(const struct l32_gguf *g, const char *key, double *out,
    struct l32_err *err)
{
	const struct l32_gguf_value *v = l32_gguf_find(g, key);

	if (v == NULL)
		return 0;
	if (v->type != L32_GGUF_F32 && v->type != L32_GGUF_F64)
		return wrong_type(g, key, v, "f32", err);
	*out = v->f;
	return 1;
}

int
l32_gguf_get_bool(const struct l32_gguf *g, const char *key, int *out,
    struct l32_err *err)
{
	const struct l32_gguf_value *v = l32_gguf_find(g, key);

	if (v == NULL)
		return 0;
	if (v->type != L32_GGUF_BOOL)
		return wrong_type(g, key, v, "bool", err);
	*out = v->u != 0;
	return 1;
}

int
l32_gguf_get_str(const struct l32_gguf *g, const char *key, const char **s,
    size_t *len, struct l32_err *err)
{
	const struct l32_gguf_value *v = l32_gguf_find(g, key);

	if (v == NULL)
		return 0;
	if (v->type != L32_GGUF_STR)
		return wrong_type(g, key, v, "string", err);
	*s = v->str;
	*len = v->len;
	return 1;
}

int
l32_gguf_get_arr(const struct l32_gguf *g, const char *key, int elem,
    const struct l32_gguf_value **out, struct l32_err *err)
{
	const struct l32_gguf_value *v = l32_gguf_find(g, key);
	char expected[64];

	if (v == NULL)
		return 0;
	snprintf(expected, sizeof(expected), "array of %s",
	    elem < 0 ? "any type" : l32_gguf_vtype_name(elem));
	if (v->type != L32_GGUF_ARR || (elem >= 0 && (int)v->elem != elem))
		return wrong_type(g, key, v, expected, err);
	*out = v;
	return 1;
}

int
l32_gguf_str_is(const struct l32_gguf_value *v, const char *s)
{
	size_t n = strlen(s);

	return v != NULL && v->type == L32_GGUF_STR && v->len == n && memcmp(v->str, s, n) == 0;
}
