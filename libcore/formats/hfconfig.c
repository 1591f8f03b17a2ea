/*
 * hfconfig.c - reading config.json, generation_config.json and
 * model.safetensors.index.json.  Every key l32 uses is type-checked and
 * range-checked; a message names the file, the key and the value found.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "formats/hfconfig.h"

struct jctx {
	const char *source;
	struct l32_err *err;
	const char *prefix;  /* of keys in messages: "rope_scaling." inside it */
};

static const char *
jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:  return "an object";
	case JSON_ARRAY:   return "an array";
	case JSON_STRING:  return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL:    return "a number";
	case JSON_TRUE:
	case JSON_FALSE:   return "a boolean";
	default:           return "null";
	}
}

/* The value as compact JSON, cut short, for messages. */
static void
show(const json_t *v, char *buf, size_t n)
{
	char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

	snprintf(buf, n, "%.60s%s", s != NULL ? s : "?", s != NULL && strlen(s) > 60 ? "..." : "");
	free(s);
}

static int
bad(const struct jctx *c, const char *key, const json_t *v, const char *expected)
{
	char val[80];

	show(v, val, sizeof(val));
	return l32_err_set(c->err, L32_ERR_FORMAT, "%s: key %s%s: value %s (%s), expected %s",
	    c->source, c->prefix, key, val, jtype(v), expected);
}

static int
missing(const struct jctx *c, const char *key)
{
	return l32_err_set(c->err, L32_ERR_FORMAT, "%s: key %s%s is missing", c->source, c->prefix,
	    key);
}

/* An integer in min..max: 1 when found, 0 when absent (or null), -1 on error. */
static int
get_int(const struct jctx *c, const json_t *obj, const char *key, int required,
    int64_t min, int64_t max, int64_t *out)
{
	const json_t *v = json_object_get(obj, key);
	char expected[96];

	if (v == NULL || json_is_null(v))
		return required ? missing(c, key) : 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(expected, sizeof(expected), "an integer in %lld..%lld",
		    (long long)min, (long long)max);
		return bad(c, key, v, expected);
	}
	*out = json_integer_value(v);
	return 1;
}

/* A finite number in min..max (an integer will do). */
static int
get_num(const struct jctx *c, const json_t *obj, const char *key, int required,
    double min, double max, double *out)
{
	const json_t *v = json_object_get(obj, key);
	char expected[96];
	double d;

	if (v == NULL || json_is_null(v))
		return required ? missing(c, key) : 0;
	d = json_number_value(v);
	if (!json_is_number(v) || !isfinite(d) || d < min || d > max) {
		snprintf(expected, sizeof(expected), "a number in %g..%g", min, max);
		return bad(c, key, v, expected);
	}
	*out = d;
	return 1;
}

static int
get_bool(const struct jctx *c, const json_t *obj, const char *key, int *out)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return bad(c, key, v, "true or false");
	*out = json_is_true(v);
	return 1;
}

static int
get_str(const struct jctx *c, const json_t *obj, const char *key, int required,
    const char **out)
{
	const json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return required ? missing(c, key) : 0;
	if (!json_is_string(v))
		return bad(c, key, v, "a string");
	*out = json_string_value(v);
	return 1;
}

/* A token id or a list of them (eos_token_id). */
static int
get_ids(const struct jctx *c, const json_t *obj, const char *key, int32_t *ids, int *n)
{
	const json_t *v = json_object_get(obj, key), *e;
	size_t i;

	*n = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
			return bad(c, key, v, "a token id (0..2147483647)");
		ids[(*n)++] = (int32_t)json_integer_value(v);
		return 1;
	}
	if (!json_is_array(v) || json_array_size(v) > L32_HF_MAX_IDS)
		return bad(c, key, v, "a token id or a list of at most 8");
	json_array_foreach(v, i, e) {
		if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > INT32_MAX)
			return bad(c, key, v, "a token id or a list of token ids");
		ids[(*n)++] = (int32_t)json_integer_value(e);
	}
	return 1;
}

static json_t *
load(const struct jctx *c, const void *text, size_t len)
{
	json_error_t jerr;
	json_t *root;

	if ((root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		l32_err_set(c->err, L32_ERR_FORMAT, "%s: line %d column %d: %s", c->source,
		    jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		l32_err_set(c->err, L32_ERR_FORMAT, "%s: not a JSON object", c->source);
		json_decref(root);
		return NULL;
	}
	return root;
}

/* ------------------------------------------------------------ config.json */

static int
check_arch(const struct jctx *c, const json_t *root)
{
	const json_t *archs = json_object_get(root, "architectures"), *e;
	const char *type = "";
	char val[80];
	size_t i;

	if (get_str(c, root, "model_type", 1, &type) == -1)
		return -1;
	if (strcmp(type, "llama") != 0)
		return l32_err_set(c->err, L32_ERR_UNSUPPORTED,
		    "%s: key model_type: value \"%.40s\" is not supported (llama is)", c->source, type);
	if (archs == NULL || json_is_null(archs))
		return 0;
	if (!json_is_array(archs))
		return bad(c, "architectures", archs, "a list of strings");
	json_array_foreach(archs, i, e) {
		if (!json_is_string(e))
			return bad(c, "architectures", archs, "a list of strings");
		if (strcmp(json_string_value(e), "LlamaForCausalLM") == 0)
			return 0;
	}
	show(archs, val, sizeof(val));
	return l32_err_set(c->err, L32_ERR_UNSUPPORTED,
	    "%s: key architectures: value %s is not supported (LlamaForCausalLM is)", c->source, val);
}

/* rope_scaling: absent, null, "default" (none) or "llama3". */
static int
read_rope_scaling(const struct jctx *c, const json_t *root, struct l32_hparams *hp)
{
	const json_t *rs = json_object_get(root, "rope_scaling");
	struct jctx in = { c->source, c->err, "rope_scaling." };
	const char *type = NULL;
	double factor, low, high;
	int64_t orig;

	hp->rope_scaled = 0;
	if (rs == NULL || json_is_null(rs))
		return 0;
	if (!json_is_object(rs))
		return bad(c, "rope_scaling", rs, "an object or null");
	/* Older configs name the field "type". */
	if (get_str(&in, rs, "rope_type", 0, &type) == -1 ||
	    (type == NULL && get_str(&in, rs, "type", 0, &type) == -1))
		return -1;
	if (type == NULL)
		return missing(&in, "rope_type");
	if (strcmp(type, "default") == 0)
		return 0;
	if (strcmp(type, "llama3") != 0)
		return l32_err_set(c->err, L32_ERR_UNSUPPORTED,
		    "%s: key rope_scaling.rope_type: value \"%.40s\" is not supported (llama3 is)",
		    c->source, type);
	if (get_num(&in, rs, "factor", 1, 1.0, 1e6, &factor) == -1 ||
	    get_num(&in, rs, "low_freq_factor", 1, 1e-6, 1e6, &low) == -1 ||
	    get_num(&in, rs, "high_freq_factor", 1, 1e-6, 1e6, &high) == -1 ||
	    get_int(&in, rs, "original_max_position_embeddings", 1, 1, INT32_MAX, &orig) == -1)
		return -1;
	if (high <= low)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: key rope_scaling.high_freq_factor: value %g is not above low_freq_factor %g",
		    c->source, high, low);
	hp->rope_scaled = 1;
	hp->rope_factor = (float)factor;
	hp->rope_low_freq_factor = (float)low;
	hp->rope_high_freq_factor = (float)high;
	hp->rope_orig_ctx = (int32_t)orig;
	return 0;
}

static int
read_shape(const struct jctx *c, const json_t *root, struct l32_hparams *hp)
{
	int64_t dim, ffn, layers, heads, kv, hd, vocab, ctx;
	int rc;

	if (get_int(c, root, "hidden_size", 1, 1, 1 << 20, &dim) == -1 ||
	    get_int(c, root, "intermediate_size", 1, 1, 1 << 24, &ffn) == -1 ||
	    get_int(c, root, "num_hidden_layers", 1, 1, 1 << 16, &layers) == -1 ||
	    get_int(c, root, "num_attention_heads", 1, 1, 1 << 16, &heads) == -1 ||
	    get_int(c, root, "vocab_size", 1, 1, 1 << 26, &vocab) == -1 ||
	    get_int(c, root, "max_position_embeddings", 1, 1, INT32_MAX, &ctx) == -1)
		return -1;
	/* Absent num_key_value_heads means plain multi-head attention, absent
	 * head_dim means hidden_size / heads, as transformers reads them. */
	if ((rc = get_int(c, root, "num_key_value_heads", 0, 1, 1 << 16, &kv)) == -1)
		return -1;
	if (rc == 0)
		kv = heads;
	if ((rc = get_int(c, root, "head_dim", 0, 1, 1 << 16, &hd)) == -1)
		return -1;
	if (rc == 0)
		hd = dim / heads;
	hp->dim = (int32_t)dim;
	hp->ffn_dim = (int32_t)ffn;
	hp->n_layers = (int32_t)layers;
	hp->n_heads = (int32_t)heads;
	hp->n_kv_heads = (int32_t)kv;
	hp->head_dim = (int32_t)hd;
	hp->vocab = (int32_t)vocab;
	hp->ctx_train = (int32_t)ctx;
	return 0;
}

int
l32_hfconfig_parse(const void *text, size_t len, const char *source,
    struct l32_hparams *hp, int *tie, struct l32_err *err)
{
	struct jctx c = { source, err, "" };
	json_t *root;
	double eps, theta;
	int64_t bos;
	int rc = -1, t;

	if ((root = load(&c, text, len)) == NULL)
		return -1;
	*tie = -1;
	hp->bos = -1;
	if (check_arch(&c, root) == -1 || read_shape(&c, root, hp) == -1 ||
	    get_num(&c, root, "rms_norm_eps", 1, 1e-30, 1.0, &eps) == -1 ||
	    get_num(&c, root, "rope_theta", 1, 1e-30, 1e30, &theta) == -1 ||
	    read_rope_scaling(&c, root, hp) == -1)
		goto out;
	hp->norm_eps = (float)eps;
	hp->rope_theta = (float)theta;
	if ((t = get_bool(&c, root, "tie_word_embeddings", tie)) == -1)
		goto out;
	if (t == 0)
		*tie = -1;
	if ((t = get_int(&c, root, "bos_token_id", 0, 0, INT32_MAX, &bos)) == -1)
		goto out;
	if (t == 1)
		hp->bos = (int32_t)bos;
	if (get_ids(&c, root, "eos_token_id", hp->stop_ids, &hp->n_stop_ids) == -1)
		goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ------------------------------------------------- generation_config.json */

int
l32_hfgen_parse(const void *text, size_t len, const char *source,
    struct l32_hfgen *gen, struct l32_err *err)
{
	struct jctx c = { source, err, "" };
	json_t *root;
	double temp, top_p;
	int64_t top_k;
	int rc = -1, sample = 1, t;

	gen->temperature = gen->top_p = -1;
	gen->top_k = -1;
	gen->n_eos = 0;
	if ((root = load(&c, text, len)) == NULL)
		return -1;
	if ((t = get_num(&c, root, "temperature", 0, 0.0, 1e6, &temp)) == -1)
		goto out;
	if (t == 1)
		gen->temperature = (float)temp;
	if ((t = get_num(&c, root, "top_p", 0, 0.0, 1.0, &top_p)) == -1)
		goto out;
	if (t == 1)
		gen->top_p = (float)top_p;
	if ((t = get_int(&c, root, "top_k", 0, 0, INT32_MAX, &top_k)) == -1)
		goto out;
	if (t == 1)
		gen->top_k = (int32_t)top_k;
	/* transformers decodes greedily when do_sample is false, whatever
	 * temperature says. */
	if (get_bool(&c, root, "do_sample", &sample) == -1)
		goto out;
	if (!sample)
		gen->temperature = 0;
	if (get_ids(&c, root, "eos_token_id", gen->eos, &gen->n_eos) == -1)
		goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* ----------------------------------------------- model.safetensors.index */

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct l32_hfindex_entry *)a)->tensor,
	    ((const struct l32_hfindex_entry *)b)->tensor);
}

/* A shard must name a file in the model directory, nothing above it. */
static int
check_shard_name(const struct jctx *c, const char *tensor, const char *file)
{
	size_t n = strlen(file);

	if (n == 0 || n > 255 || strchr(file, '/') != NULL || strcmp(file, ".") == 0 ||
	    strcmp(file, "..") == 0)
		return l32_err_set(c->err, L32_ERR_FORMAT,
		    "%s: key weight_map.%s: value \"%.60s\" is not a file name in the directory",
		    c->source, tensor, file);
	return 0;
}

static int
add_shard(const struct jctx *c, struct l32_hfindex *ix, const char *file)
{
	int i;

	for (i = 0; i < ix->n_shards; i++)
		if (strcmp(ix->shards[i], file) == 0)
			return i;
	if (ix->n_shards == L32_HF_MAX_SHARDS)
		return l32_err_set(c->err, L32_ERR_UNSUPPORTED, "%s: more than %d shards",
		    c->source, L32_HF_MAX_SHARDS);
	if ((ix->shards[ix->n_shards] = strdup(file)) == NULL)
		return l32_err_set(c->err, L32_ERR_NOMEM, "%s: out of memory", c->source);
	return ix->n_shards++;
}

int
l32_hfindex_parse(const void *text, size_t len, const char *source,
    struct l32_hfindex *ix, struct l32_err *err)
{
	struct jctx c = { source, err, "" };
	const char *tensor;
	json_t *root, *wm, *file;
	int shard;

	memset(ix, 0, sizeof(*ix));
	if ((root = load(&c, text, len)) == NULL)
		return -1;
	wm = json_object_get(root, "weight_map");
	if (wm == NULL) {
		missing(&c, "weight_map");
		goto fail;
	}
	if (!json_is_object(wm)) {
		bad(&c, "weight_map", wm, "an object");
		goto fail;
	}
	if ((ix->map = calloc(json_object_size(wm) + 1, sizeof(*ix->map))) == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", source);
		goto fail;
	}
	json_object_foreach(wm, tensor, file) {
		if (!json_is_string(file)) {
			bad(&c, "weight_map", file, "file names (strings)");
			goto fail;
		}
		if (check_shard_name(&c, tensor, json_string_value(file)) == -1 ||
		    (shard = add_shard(&c, ix, json_string_value(file))) == -1)
			goto fail;
		if ((ix->map[ix->n_map].tensor = strdup(tensor)) == NULL) {
			l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", source);
			goto fail;
		}
		ix->map[ix->n_map++].shard = shard;
	}
	if (ix->n_shards == 0) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: key weight_map: no tensors listed", source);
		goto fail;
	}
	qsort(ix->map, ix->n_map, sizeof(*ix->map), cmp_entry);
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	l32_hfindex_free(ix);
	return -1;
}

static int
cmp_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct l32_hfindex_entry *)elem)->tensor);
}

int
l32_hfindex_shard(const struct l32_hfindex *ix, const char *tensor)
{
	const struct l32_hfindex_entry *e;

	if (ix->n_map == 0)
		return -1;
	e = bsearch(tensor, ix->map, ix->n_map, sizeof(*ix->map), cmp_key);
	return e != NULL ? e->shard : -1;
}

void
l32_hfindex_free(struct l32_hfindex *ix)
{
	size_t i;
	int s;

	for (i = 0; i < ix->n_map; i++)
		free(ix->map[i].tensor);
	free(ix->map);
	for (s = 0; s < ix->n_shards; s++)
		free(ix->shards[s]);
	memset(ix, 0, sizeof(*ix));
}
