/*
 * safetensors.c - parsing and checking a safetensors header: every tensor's
 * dtype, shape and byte range, which must lie in the file, match the shape
 * and not overlap another.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "formats/safetensors.h"

struct dtype {
	const char *name;
	enum l32_type type;
	int size;
};

static const struct dtype dtypes[] = {
	{ "F32", L32_TYPE_F32, 4 },
	{ "F16", L32_TYPE_F16, 2 },
	{ "BF16", L32_TYPE_BF16, 2 },
};

static const struct dtype *
find_dtype(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(dtypes) / sizeof(dtypes[0]); i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return &dtypes[i];
	return NULL;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct l32_st_tensor *)a)->name,
	    ((const struct l32_st_tensor *)b)->name);
}

static int
cmp_begin(const void *a, const void *b)
{
	const struct l32_st_tensor *x = *(const struct l32_st_tensor *const *)a;
	const struct l32_st_tensor *y = *(const struct l32_st_tensor *const *)b;

	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* A non-negative JSON integer. */
static int
get_u64(const json_t *j, uint64_t *v)
{
	if (!json_is_integer(j) || json_integer_value(j) < 0)
		return -1;
	*v = (uint64_t)json_integer_value(j);
	return 0;
}

static int
parse_shape(const struct l32_safetensors *st, struct l32_st_tensor *t,
    const json_t *shape, uint64_t *nelem, struct l32_err *err)
{
	uint64_t d, n = 1;
	size_t i;

	if (!json_is_array(shape))
		return l32_err_set(err, L32_ERR_FORMAT, "%s: tensor %s: shape is not an array",
		    st->source, t->name);
	if (json_array_size(shape) > L32_ST_MAX_DIMS)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: tensor %s: %zu dimensions (at most %d)",
		    st->source, t->name, json_array_size(shape), L32_ST_MAX_DIMS);
	t->n_dims = (int)json_array_size(shape);
	for (i = 0; i < json_array_size(shape); i++) {
		if (get_u64(json_array_get(shape, i), &d) == -1 || d > INT64_MAX)
			return l32_err_set(err, L32_ERR_FORMAT,
			    "%s: tensor %s: shape[%zu] is not a non-negative integer",
			    st->source, t->name, i);
		if (d != 0 && n > INT64_MAX / d)
			return l32_err_set(err, L32_ERR_FORMAT, "%s: tensor %s: shape is too large",
			    st->source, t->name);
		n *= d;
		t->shape[i] = (int64_t)d;
	}
	*nelem = n;
	return 0;
}

static int
parse_offsets(const struct l32_safetensors *st, struct l32_st_tensor *t,
    const json_t *offs, struct l32_err *err)
{
	if (!json_is_array(offs) || json_array_size(offs) != 2 ||
	    get_u64(json_array_get(offs, 0), &t->begin) == -1 ||
	    get_u64(json_array_get(offs, 1), &t->end) == -1)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: tensor %s: data_offsets is not an array of two non-negative integers",
		    st->source, t->name);
	return 0;
}

static int
parse_tensor(struct l32_safetensors *st, const uint8_t *data, size_t data_len,
    const char *name, const json_t *j, struct l32_st_tensor *t, struct l32_err *err)
{
	const struct dtype *dt;
	const json_t *dtype = json_object_get(j, "dtype");
	uint64_t nelem = 0;

	if ((t->name = strdup(name)) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", st->source);
	if (!json_is_object(j))
		return l32_err_set(err, L32_ERR_FORMAT, "%s: tensor %s: entry is not an object",
		    st->source, name);
	if (!json_is_string(dtype))
		return l32_err_set(err, L32_ERR_FORMAT, "%s: tensor %s: dtype is missing or not a string",
		    st->source, name);
	if ((dt = find_dtype(json_string_value(dtype))) == NULL)
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: tensor %s: dtype %.32s is not supported (BF16, F16 and F32 are)",
		    st->source, name, json_string_value(dtype));
	t->type = dt->type;
	if (parse_shape(st, t, json_object_get(j, "shape"), &nelem, err) == -1 ||
	    parse_offsets(st, t, json_object_get(j, "data_offsets"), err) == -1)
		return -1;
	if (t->begin > t->end || t->end > data_len)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 "] outside the %zu data bytes",
		    st->source, name, t->begin, t->end, data_len);
	if (nelem > UINT64_MAX / (uint64_t)dt->size || t->end - t->begin != nelem * (uint64_t)dt->size)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: tensor %s: data_offsets span %" PRIu64 " bytes, the shape needs %" PRIu64
		    " elements of %d bytes", st->source, name, t->end - t->begin, nelem, dt->size);
	t->data = data + t->begin;
	t->nbytes = (size_t)(t->end - t->begin);
	return 0;
}

static int
check_overlaps(const struct l32_safetensors *st, struct l32_err *err)
{
	const struct l32_st_tensor **by_off;
	size_t i, n = 0;
	int rc = 0;

	if ((by_off = calloc(st->n ? st->n : 1, sizeof(*by_off))) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", st->source);
	for (i = 0; i < st->n; i++)
		if (st->t[i].nbytes > 0)
			by_off[n++] = &st->t[i];
	qsort(by_off, n, sizeof(*by_off), cmp_begin);
	for (i = 1; i < n && rc == 0; i++)
		if (by_off[i - 1]->end > by_off[i]->begin)
			rc = l32_err_set(err, L32_ERR_FORMAT,
			    "%s: tensors %s [%" PRIu64 ", %" PRIu64 "] and %s [%" PRIu64 ", %" PRIu64 "] overlap",
			    st->source, by_off[i - 1]->name, by_off[i - 1]->begin, by_off[i - 1]->end,
			    by_off[i]->name, by_off[i]->begin, by_off[i]->end);
	free(by_off);
	return rc;
}

static int
parse_header(struct l32_safetensors *st, const json_t *root, const uint8_t *data,
    size_t data_len, struct l32_err *err)
{
	const char *name;
	json_t *j;
	size_t i;

	if (!json_is_object(root))
		return l32_err_set(err, L32_ERR_FORMAT, "%s: header is not a JSON object", st->source);
	if ((st->t = calloc(json_object_size(root) + 1, sizeof(*st->t))) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", st->source);
	json_object_foreach((json_t *)root, name, j) {
		if (strcmp(name, "__metadata__") == 0)
			continue;
		if (parse_tensor(st, data, data_len, name, j, &st->t[st->n++], err) == -1)
			return -1;
	}
	qsort(st->t, st->n, sizeof(*st->t), cmp_name);
	for (i = 1; i < st->n; i++)
		if (strcmp(st->t[i - 1].name, st->t[i].name) == 0)
			return l32_err_set(err, L32_ERR_FORMAT, "%s: tensor %s appears twice",
			    st->source, st->t[i].name);
	return check_overlaps(st, err);
}

struct l32_safetensors *
l32_safetensors_parse(const void *buf, size_t len, const char *source, struct l32_err *err)
{
	const uint8_t *p = buf;
	struct l32_safetensors *st;
	json_error_t jerr;
	json_t *root = NULL;
	uint64_t hlen = 0;
	int i;

	if ((st = calloc(1, sizeof(*st))) == NULL || (st->source = strdup(source)) == NULL) {
		free(st);
		l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", source);
		return NULL;
	}
	if (len < 8) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: truncated: %zu bytes, too short for the header length",
		    source, len);
		goto fail;
	}
	for (i = 7; i >= 0; i--)
		hlen = hlen << 8 | p[i];
	if (hlen > len - 8 || hlen > L32_ST_MAX_HEADER || hlen < 2) {
		l32_err_set(err, L32_ERR_FORMAT,
		    "%s: header length %" PRIu64 " is not in 2..%u or exceeds the %zu bytes that follow",
		    source, hlen, L32_ST_MAX_HEADER, len - 8);
		goto fail;
	}
	if (p[8] != '{') {
		l32_err_set(err, L32_ERR_FORMAT, "%s: header does not start with '{' (not a safetensors file?)",
		    source);
		goto fail;
	}
	st->data_offset = 8 + (size_t)hlen;
	if ((root = json_loadb((const char *)p + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: header JSON: %s at byte %d", source, jerr.text,
		    jerr.position);
		goto fail;
	}
	if (parse_header(st, root, p + st->data_offset, len - st->data_offset, err) == -1)
		goto fail;
	json_decref(root);
	return st;
fail:
	json_decref(root);
	l32_safetensors_free(st);
	return NULL;
}

void
l32_safetensors_free(struct l32_safetensors *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->n; i++)
		free(st->t[i].name);
	free(st->t);
	free(st->source);
	free(st);
}

static int
cmp_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct l32_st_tensor *)elem)->name);
}

const struct l32_st_tensor *
l32_safetensors_find(const struct l32_safetensors *st, const char *name)
{
	if (st->n == 0)
		return NULL;
	return bsearch(name, st->t, st->n, sizeof(*st->t), cmp_key);
}
