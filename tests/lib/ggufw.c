/*
 * ggufw.c - writing GGUF (v2/v3) and safetensors files.  The layouts are
 * the ones libcore's readers check (gguf.h, safetensors.h); everything is
 * little-endian.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ggufw.h"

/* ----------------------------------------------------------------- sinks */

/* Output goes to a buffer or a file; the first failure sticks. */
struct sink {
	struct l32_buf *buf;
	FILE *f;
	int failed;
};

static void
emit(struct sink *s, const void *p, size_t n)
{
	if (s->failed || n == 0)
		return;
	if (s->buf != NULL)
		s->failed = l32_buf_append(s->buf, p, n) == -1;
	else
		s->failed = fwrite(p, 1, n, s->f) != n;
}

static void
emit_zeros(struct sink *s, size_t n)
{
	static const char zeros[4096];
	size_t k;

	while (n > 0 && !s->failed) {
		k = n < sizeof(zeros) ? n : sizeof(zeros);
		emit(s, zeros, k);
		n -= k;
	}
}

static void
emit_le(struct sink *s, uint64_t v, int n)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	emit(s, b, (size_t)n);
}

int
ggufw_put_u32(struct l32_buf *b, uint32_t v)
{
	struct sink s = { b, NULL, 0 };

	emit_le(&s, v, 4);
	return s.failed ? -1 : 0;
}

int
ggufw_put_u64(struct l32_buf *b, uint64_t v)
{
	struct sink s = { b, NULL, 0 };

	emit_le(&s, v, 8);
	return s.failed ? -1 : 0;
}

int
ggufw_put_str(struct l32_buf *b, const char *str, size_t n)
{
	if (ggufw_put_u64(b, n) == -1)
		return -1;
	return l32_buf_append(b, str, n);
}

/* ------------------------------------------------------------------ GGUF */

struct wtensor {
	char *name;
	enum l32_type type;
	int n_dims;
	int64_t ne[L32_GGUF_MAX_DIMS];
	const void *data;
	size_t nbytes;
};

struct ggufw {
	uint32_t version, alignment;
	struct l32_buf kv;          /* encoded key/value pairs */
	uint64_t n_kv;
	struct wtensor *t;          /* (n_t) */
	size_t n_t, cap_t;
};

struct ggufw *
ggufw_new(void)
{
	struct ggufw *w = calloc(1, sizeof(*w));

	if (w != NULL) {
		w->version = 3;
		w->alignment = L32_GGUF_DEFAULT_ALIGNMENT;
	}
	return w;
}

void
ggufw_free(struct ggufw *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n_t; i++)
		free(w->t[i].name);
	free(w->t);
	l32_buf_free(&w->kv);
	free(w);
}

void
ggufw_set_version(struct ggufw *w, uint32_t version)
{
	w->version = version;
}

int
ggufw_kv_raw(struct ggufw *w, const char *key, enum l32_gguf_vtype type,
    const void *bytes, size_t n)
{
	if (ggufw_put_str(&w->kv, key, strlen(key)) == -1 ||
	    ggufw_put_u32(&w->kv, (uint32_t)type) == -1 ||
	    l32_buf_append(&w->kv, bytes, n) == -1)
		return -1;
	w->n_kv++;
	return 0;
}

static int
kv_scalar(struct ggufw *w, const char *key, enum l32_gguf_vtype type, uint64_t bits, int n)
{
	unsigned char b[8];
	int i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(bits >> (8 * i));
	return ggufw_kv_raw(w, key, type, b, (size_t)n);
}

int ggufw_kv_u8(struct ggufw *w, const char *k, uint8_t v)   { return kv_scalar(w, k, L32_GGUF_U8, v, 1); }
int ggufw_kv_i8(struct ggufw *w, const char *k, int8_t v)    { return kv_scalar(w, k, L32_GGUF_I8, (uint8_t)v, 1); }
int ggufw_kv_u16(struct ggufw *w, const char *k, uint16_t v) { return kv_scalar(w, k, L32_GGUF_U16, v, 2); }
int ggufw_kv_i16(struct ggufw *w, const char *k, int16_t v)  { return kv_scalar(w, k, L32_GGUF_I16, (uint16_t)v, 2); }
int ggufw_kv_u32(struct ggufw *w, const char *k, uint32_t v) { return kv_scalar(w, k, L32_GGUF_U32, v, 4); }
int ggufw_kv_i32(struct ggufw *w, const char *k, int32_t v)  { return kv_scalar(w, k, L32_GGUF_I32, (uint32_t)v, 4); }
int ggufw_kv_u64(struct ggufw *w, const char *k, uint64_t v) { return kv_scalar(w, k, L32_GGUF_U64, v, 8); }
int ggufw_kv_i64(struct ggufw *w, const char *k, int64_t v)  { return kv_scalar(w, k, L32_GGUF_I64, (uint64_t)v, 8); }
int ggufw_kv_bool(struct ggufw *w, const char *k, int v)     { return kv_scalar(w, k, L32_GGUF_BOOL, v != 0, 1); }

int
ggufw_kv_f32(struct ggufw *w, const char *key, float v)
{
	uint32_t bits;

	memcpy(&bits, &v, 4);
	return kv_scalar(w, key, L32_GGUF_F32, bits, 4);
}

int
ggufw_kv_f64(struct ggufw *w, const char *key, double v)
{
	uint64_t bits;

	memcpy(&bits, &v, 8);
	return kv_scalar(w, key, L32_GGUF_F64, bits, 8);
}

int
ggufw_kv_strn(struct ggufw *w, const char *key, const char *s, size_t n)
{
	struct l32_buf b = { 0 };
	int rc;

	rc = ggufw_put_str(&b, s, n) == -1 ? -1 : ggufw_kv_raw(w, key, L32_GGUF_STR, b.data, b.len);
	l32_buf_free(&b);
	return rc;
}

int
ggufw_kv_str(struct ggufw *w, const char *key, const char *s)
{
	return ggufw_kv_strn(w, key, s, strlen(s));
}

static int
elem_size(enum l32_gguf_vtype t)
{
	switch (t) {
	case L32_GGUF_U8: case L32_GGUF_I8: case L32_GGUF_BOOL: return 1;
	case L32_GGUF_U16: case L32_GGUF_I16: return 2;
	case L32_GGUF_U32: case L32_GGUF_I32: case L32_GGUF_F32: return 4;
	case L32_GGUF_U64: case L32_GGUF_I64: case L32_GGUF_F64: return 8;
	default: return 0;
	}
}

int
ggufw_kv_arr(struct ggufw *w, const char *key, enum l32_gguf_vtype elem,
    const void *vals, size_t n)
{
	struct l32_buf b = { 0 };
	struct sink s = { &b, NULL, 0 };
	const unsigned char *p = vals;
	uint64_t v;
	size_t i;
	int size = elem_size(elem), rc;

	if (size == 0)
		return -1;
	emit_le(&s, elem, 4);
	emit_le(&s, n, 8);
	for (i = 0; i < n; i++) {
		v = 0;
		memcpy(&v, p + i * (size_t)size, (size_t)size); /* host order is little-endian */
		emit_le(&s, v, size);
	}
	rc = s.failed ? -1 : ggufw_kv_raw(w, key, L32_GGUF_ARR, b.data, b.len);
	l32_buf_free(&b);
	return rc;
}

int
ggufw_kv_arr_str(struct ggufw *w, const char *key, const char *const *strs,
    const size_t *lens, size_t n)
{
	struct l32_buf b = { 0 };
	size_t i;
	int rc = 0;

	if (ggufw_put_u32(&b, L32_GGUF_STR) == -1 || ggufw_put_u64(&b, n) == -1)
		rc = -1;
	for (i = 0; i < n && rc == 0; i++)
		rc = ggufw_put_str(&b, strs[i], lens != NULL ? lens[i] : strlen(strs[i]));
	if (rc == 0)
		rc = ggufw_kv_raw(w, key, L32_GGUF_ARR, b.data, b.len);
	l32_buf_free(&b);
	return rc;
}

int
ggufw_alignment(struct ggufw *w, uint32_t alignment)
{
	if (alignment == 0 || (alignment & (alignment - 1)) != 0)
		return -1;
	w->alignment = alignment;
	return ggufw_kv_u32(w, "general.alignment", alignment);
}

int
ggufw_tensor(struct ggufw *w, const char *name, enum l32_type type, int n_dims,
    const int64_t *ne, const void *data)
{
	struct wtensor *t;
	size_t cap;
	int d;

	if (n_dims < 1 || n_dims > L32_GGUF_MAX_DIMS)
		return -1;
	if (w->n_t == w->cap_t) {
		cap = w->cap_t ? 2 * w->cap_t : 32;
		if ((t = reallocarray(w->t, cap, sizeof(*t))) == NULL)
			return -1;
		w->t = t;
		w->cap_t = cap;
	}
	t = &w->t[w->n_t];
	memset(t, 0, sizeof(*t));
	if ((t->name = strdup(name)) == NULL)
		return -1;
	t->type = type;
	t->n_dims = n_dims;
	/* An unknown type has no size: only its info is written. */
	t->nbytes = l32_type_row_bytes(type, ne[0]);
	for (d = 0; d < n_dims; d++) {
		t->ne[d] = ne[d];
		if (d > 0)
			t->nbytes *= (size_t)ne[d];
	}
	t->data = data;
	w->n_t++;
	return 0;
}

static size_t
pad_to(size_t off, size_t align)
{
	return (align - off % align) % align;
}

/* Everything before the data section: header, metadata, tensor infos and
 * the padding to the alignment. */
static void
write_gguf_header(struct ggufw *w, struct sink *s)
{
	size_t i, off = 0, at;
	int d;

	emit(s, "GGUF", 4);
	emit_le(s, w->version, 4);
	emit_le(s, w->n_t, 8);
	emit_le(s, w->n_kv, 8);
	emit(s, w->kv.data, w->kv.len);
	at = 24 + w->kv.len;
	for (i = 0; i < w->n_t; i++) {
		const struct wtensor *t = &w->t[i];

		emit_le(s, strlen(t->name), 8);
		emit(s, t->name, strlen(t->name));
		emit_le(s, (uint64_t)t->n_dims, 4);
		for (d = 0; d < t->n_dims; d++)
			emit_le(s, (uint64_t)t->ne[d], 8);
		emit_le(s, t->type, 4);
		emit_le(s, off, 8);
		at += 8 + strlen(t->name) + 4 + 8 * (size_t)t->n_dims + 4 + 8;
		off += t->nbytes + pad_to(t->nbytes, w->alignment);
	}
	emit_zeros(s, pad_to(at, w->alignment));
}

static void
write_gguf(struct ggufw *w, struct sink *s)
{
	size_t i;

	write_gguf_header(w, s);
	for (i = 0; i < w->n_t; i++) {
		const struct wtensor *t = &w->t[i];

		if (t->data != NULL)
			emit(s, t->data, t->nbytes);
		else
			emit_zeros(s, t->nbytes);
		emit_zeros(s, pad_to(t->nbytes, w->alignment));
	}
}

int
ggufw_write_buf(struct ggufw *w, struct l32_buf *out)
{
	struct sink s = { out, NULL, 0 };

	write_gguf(w, &s);
	return s.failed ? -1 : 0;
}

int
ggufw_write_header_buf(struct ggufw *w, struct l32_buf *out)
{
	struct sink s = { out, NULL, 0 };

	write_gguf_header(w, &s);
	return s.failed ? -1 : 0;
}

static int
write_file(const char *path, void (*fn)(void *, struct sink *), void *w, struct l32_err *err)
{
	struct sink s = { NULL, NULL, 0 };

	if ((s.f = fopen(path, "wb")) == NULL)
		return l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
	fn(w, &s);
	if (fclose(s.f) != 0 || s.failed)
		return l32_err_set(err, L32_ERR_IO, "%s: write failed: %s", path, strerror(errno));
	return 0;
}

static void
write_gguf_fn(void *w, struct sink *s)
{
	write_gguf(w, s);
}

int
ggufw_write_file(struct ggufw *w, const char *path, struct l32_err *err)
{
	return write_file(path, write_gguf_fn, w, err);
}

/* ----------------------------------------------------------- safetensors */

struct stw_tensor {
	char *name;
	json_t *info;       /* {"dtype", "shape", "data_offsets"} */
	const void *data;
	size_t nbytes;
};

struct stw {
	json_t *meta;       /* NULL until an entry is added */
	struct stw_tensor *t;
	size_t n_t, cap_t;
	uint64_t size;      /* data bytes so far */
};

struct stw *
stw_new(void)
{
	return calloc(1, sizeof(struct stw));
}

void
stw_free(struct stw *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n_t; i++) {
		free(w->t[i].name);
		json_decref(w->t[i].info);
	}
	free(w->t);
	json_decref(w->meta);
	free(w);
}

int
stw_meta(struct stw *w, const char *key, const char *value)
{
	if (w->meta == NULL && (w->meta = json_object()) == NULL)
		return -1;
	return json_object_set_new(w->meta, key, json_string(value));
}

int
stw_tensor(struct stw *w, const char *name, const char *dtype, int n_dims,
    const int64_t *shape, const void *data, size_t nbytes)
{
	struct stw_tensor *t;
	json_t *sh;
	size_t cap;
	int d;

	if (w->n_t == w->cap_t) {
		cap = w->cap_t ? 2 * w->cap_t : 32;
		if ((t = reallocarray(w->t, cap, sizeof(*t))) == NULL)
			return -1;
		w->t = t;
		w->cap_t = cap;
	}
	if ((sh = json_array()) == NULL)
		return -1;
	for (d = 0; d < n_dims; d++)
		json_array_append_new(sh, json_integer(shape[d]));
	t = &w->t[w->n_t];
	t->info = json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype, "shape", sh,
	    "data_offsets", (json_int_t)w->size, (json_int_t)(w->size + nbytes));
	if (t->info == NULL || (t->name = strdup(name)) == NULL) {
		json_decref(t->info);
		return -1;
	}
	t->data = data;
	t->nbytes = nbytes;
	w->size += nbytes;
	w->n_t++;
	return 0;
}

/* The header: __metadata__ first, then the tensors in the order added,
 * padded with spaces so the data starts 8-aligned. */
static char *
stw_header(struct stw *w, size_t *len)
{
	json_t *h = json_object();
	char *s, *p;
	size_t i, n;

	if (h == NULL)
		return NULL;
	if (w->meta != NULL)
		json_object_set(h, "__metadata__", w->meta);
	for (i = 0; i < w->n_t; i++)
		json_object_set(h, w->t[i].name, w->t[i].info);
	s = json_dumps(h, JSON_COMPACT);
	json_decref(h);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	if ((p = realloc(s, n + 8)) == NULL) {
		free(s);
		return NULL;
	}
	while (n % 8 != 0)
		p[n++] = ' ';
	*len = n;
	return p;
}

static void
write_st(struct stw *w, struct sink *s)
{
	size_t i, len = 0;
	char *hdr;

	if ((hdr = stw_header(w, &len)) == NULL) {
		s->failed = 1;
		return;
	}
	emit_le(s, len, 8);
	emit(s, hdr, len);
	free(hdr);
	for (i = 0; i < w->n_t; i++) {
		if (w->t[i].data != NULL)
			emit(s, w->t[i].data, w->t[i].nbytes);
		else
			emit_zeros(s, w->t[i].nbytes);
	}
}

int
stw_write_header_buf(struct stw *w, struct l32_buf *out)
{
	struct sink s = { out, NULL, 0 };
	size_t len = 0;
	char *hdr;

	if ((hdr = stw_header(w, &len)) == NULL)
		return -1;
	emit_le(&s, len, 8);
	emit(&s, hdr, len);
	free(hdr);
	return s.failed ? -1 : 0;
}

int
stw_write_buf(struct stw *w, struct l32_buf *out)
{
	struct sink s = { out, NULL, 0 };

	write_st(w, &s);
	return s.failed ? -1 : 0;
}

static void
write_st_fn(void *w, struct sink *s)
{
	write_st(w, s);
}

int
stw_write_file(struct stw *w, const char *path, struct l32_err *err)
{
	return write_file(path, write_st_fn, w, err);
}
