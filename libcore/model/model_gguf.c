/*
 * model_gguf.c - a model from a GGUF image: hyperparameters from the
 * llama.* metadata, tensors by their ggml names, RoPE frequencies from the
 * rope_freqs tensor, the tokenizer from tokenizer.ggml.*.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "model/model_load.h"

/* Special tokens that end generation, found by name in the vocabulary
 * (GGUF names only one eos id). */
static const char *const stop_names[] = { "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>" };

static int
gguf_find(struct l32_loader *L, const char *name, struct l32_src *s)
{
	const struct l32_gguf_tensor *t = l32_gguf_find_tensor(L->fmt, name);
	int d;

	if (t == NULL)
		return 0;
	s->name = t->name;
	s->file = L->source;
	s->type = t->type;
	s->n_dims = t->n_dims;
	for (d = 0; d < t->n_dims; d++)
		s->dims[d] = t->ne[d];
	s->data = t->data;
	s->nbytes = t->nbytes;
	return 1;
}

/* ------------------------------------------------------- metadata helpers */

static int
missing(const struct l32_gguf *g, const char *key, struct l32_err *err)
{
	return l32_err_set(err, L32_ERR_FORMAT, "%s: metadata key %s is missing", g->source, key);
}

static int
req_int(const struct l32_gguf *g, const char *key, int64_t min, int64_t max,
    int32_t *out, struct l32_err *err)
{
	int64_t v;
	int rc;

	if ((rc = l32_gguf_get_int(g, key, min, max, &v, err)) == 0)
		return missing(g, key, err);
	if (rc == 1)
		*out = (int32_t)v;
	return rc == 1 ? 0 : -1;
}

/* Leaves *out alone when the key is absent. */
static int
opt_int(const struct l32_gguf *g, const char *key, int64_t min, int64_t max,
    int32_t *out, struct l32_err *err)
{
	int64_t v;
	int rc;

	if ((rc = l32_gguf_get_int(g, key, min, max, &v, err)) == 1)
		*out = (int32_t)v;
	return rc == -1 ? -1 : 0;
}

static int
req_float(const struct l32_gguf *g, const char *key, float *out, struct l32_err *err)
{
	double v;
	int rc;

	if ((rc = l32_gguf_get_float(g, key, &v, err)) == 0)
		return missing(g, key, err);
	if (rc == 1)
		*out = (float)v;
	return rc == 1 ? 0 : -1;
}

static int
str_is(const char *s, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(s, want, n) == 0;
}

/* -------------------------------------------------------- hyperparameters */

static int
check_arch(const struct l32_gguf *g, struct l32_err *err)
{
	const char *s;
	size_t n;
	int rc;

	if ((rc = l32_gguf_get_str(g, "general.architecture", &s, &n, err)) == 0)
		return missing(g, "general.architecture", err);
	if (rc == -1)
		return -1;
	if (!str_is(s, n, "llama"))
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: metadata key general.architecture: value \"%.*s\" is not supported (llama is)",
		    g->source, (int)(n > 40 ? 40 : n), s);
	return 0;
}

/* llama.rope.scaling.*: absent or "none"; "linear" by 1 (a no-op); or
 * "llama3" with its factors.  Files for Llama 3 carry the scaling in the
 * rope_freqs tensor instead, which wins when present. */
static int
read_rope_scaling(const struct l32_gguf *g, struct l32_hparams *hp, struct l32_err *err)
{
	const char *key = "llama.rope.scaling.type", *s;
	double factor = 1;
	size_t n;
	int rc;

	if ((rc = l32_gguf_get_str(g, key, &s, &n, err)) == -1 ||
	    l32_gguf_get_float(g, "llama.rope.scaling.factor", &factor, err) == -1)
		return -1;
	if (rc == 0 || str_is(s, n, "none") || (str_is(s, n, "linear") && factor == 1))
		return 0;
	if (!str_is(s, n, "llama3"))
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: metadata key %s: value \"%.*s\" is not supported (none and llama3 are)",
		    g->source, key, (int)(n > 40 ? 40 : n), s);
	if (req_float(g, "llama.rope.scaling.factor", &hp->rope_factor, err) == -1 ||
	    req_float(g, "llama.rope.scaling.low_freq_factor", &hp->rope_low_freq_factor, err) == -1 ||
	    req_float(g, "llama.rope.scaling.high_freq_factor", &hp->rope_high_freq_factor, err) == -1 ||
	    req_int(g, "llama.rope.scaling.original_context_length", 1, INT32_MAX,
	    &hp->rope_orig_ctx, err) == -1)
		return -1;
	if (!(hp->rope_factor >= 1) || !isfinite(hp->rope_factor) ||
	    !(hp->rope_low_freq_factor > 0) || !(hp->rope_high_freq_factor > hp->rope_low_freq_factor) ||
	    !isfinite(hp->rope_high_freq_factor))
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: llama3 RoPE scaling: factor %g, low_freq_factor %g, high_freq_factor %g "
		    "(need factor >= 1 and 0 < low < high)", g->source, hp->rope_factor,
		    hp->rope_low_freq_factor, hp->rope_high_freq_factor);
	hp->rope_scaled = 1;
	return 0;
}

static int
read_vocab(const struct l32_gguf *g, struct l32_hparams *hp, struct l32_err *err)
{
	const struct l32_gguf_value *tokens;
	int rc;

	hp->vocab = 0;
	if (opt_int(g, "llama.vocab_size", 1, 1 << 26, &hp->vocab, err) == -1)
		return -1;
	if (hp->vocab > 0)
		return 0;
	if ((rc = l32_gguf_get_arr(g, "tokenizer.ggml.tokens", L32_GGUF_STR, &tokens, err)) == -1)
		return -1;
	if (rc == 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: no vocabulary size: metadata keys llama.vocab_size and tokenizer.ggml.tokens are missing",
		    g->source);
	if (tokens->n < 1 || tokens->n > 1 << 26)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: metadata key tokenizer.ggml.tokens: %" PRIu64 " tokens (1..%d allowed)",
		    g->source, tokens->n, 1 << 26);
	hp->vocab = (int32_t)tokens->n;
	return 0;
}

static int
read_shape(const struct l32_gguf *g, struct l32_hparams *hp, struct l32_err *err)
{
	int32_t v, experts = 0;

	if (req_int(g, "llama.block_count", 1, 1 << 16, &hp->n_layers, err) == -1 ||
	    req_int(g, "llama.embedding_length", 1, 1 << 20, &hp->dim, err) == -1 ||
	    req_int(g, "llama.feed_forward_length", 1, 1 << 24, &hp->ffn_dim, err) == -1 ||
	    req_int(g, "llama.attention.head_count", 1, 1 << 16, &hp->n_heads, err) == -1 ||
	    req_int(g, "llama.context_length", 1, INT32_MAX, &hp->ctx_train, err) == -1 ||
	    opt_int(g, "llama.expert_count", 0, 1 << 16, &experts, err) == -1)
		return -1;
	if (experts > 0)
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: metadata key llama.expert_count: %d experts; mixture-of-experts models are not supported",
		    g->source, experts);
	hp->n_kv_heads = hp->n_heads;
	hp->head_dim = hp->dim / hp->n_heads;
	if (opt_int(g, "llama.attention.head_count_kv", 1, 1 << 16, &hp->n_kv_heads, err) == -1 ||
	    opt_int(g, "llama.attention.key_length", 1, 1 << 16, &hp->head_dim, err) == -1)
		return -1;
	if (hp->head_dim < 1)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: no head dimension: llama.attention.key_length is missing and "
		    "llama.embedding_length %d < llama.attention.head_count %d",
		    g->source, hp->dim, hp->n_heads);
	v = hp->head_dim;
	if (opt_int(g, "llama.attention.value_length", 1, 1 << 16, &v, err) == -1)
		return -1;
	if (v != hp->head_dim)
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: metadata key llama.attention.value_length: value %d differs from the key length %d",
		    g->source, v, hp->head_dim);
	v = hp->head_dim;
	if (opt_int(g, "llama.rope.dimension_count", 1, 1 << 16, &v, err) == -1)
		return -1;
	if (v != hp->head_dim)
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: metadata key llama.rope.dimension_count: value %d: RoPE on part of the %d head dimensions is not supported",
		    g->source, v, hp->head_dim);
	return 0;
}

static int
read_token_ids(const struct l32_gguf *g, struct l32_hparams *hp, struct l32_err *err)
{
	static const char *const keys[] = { "tokenizer.ggml.eos_token_id",
	    "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id" };
	int32_t id;
	size_t i;

	hp->bos = -1;
	if (opt_int(g, "tokenizer.ggml.bos_token_id", 0, hp->vocab - 1, &hp->bos, err) == -1)
		return -1;
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		id = -1;
		if (opt_int(g, keys[i], 0, hp->vocab - 1, &id, err) == -1)
			return -1;
		if (id >= 0 && l32_hparams_add_stop(g->source, hp, id, err) == -1)
			return -1;
	}
	return 0;
}

static int
read_hparams(const struct l32_gguf *g, struct l32_hparams *hp, struct l32_err *err)
{
	if (check_arch(g, err) == -1 || read_shape(g, hp, err) == -1 ||
	    req_float(g, "llama.attention.layer_norm_rms_epsilon", &hp->norm_eps, err) == -1 ||
	    req_float(g, "llama.rope.freq_base", &hp->rope_theta, err) == -1 ||
	    read_rope_scaling(g, hp, err) == -1 || read_vocab(g, hp, err) == -1 ||
	    read_token_ids(g, hp, err) == -1)
		return -1;
	return l32_hparams_check(g->source, hp, err);
}

/* ------------------------------------------------------------------- RoPE */

/* rope_freqs holds the llama3 scaling as a divisor of each base frequency. */
static int
read_rope_freqs(struct l32_loader *L, const struct l32_gguf_tensor *t, float *freq)
{
	struct l32_hparams *hp = &L->m->hp;
	int i, d, half = hp->head_dim / 2;
	float div, max = 1;

	for (d = 1; d < t->n_dims; d++)
		if (t->ne[d] != 1)
			break;
	if (t->type != L32_TYPE_F32 || t->ne[0] != half || d < t->n_dims)
		return l32_err_set(L->err, L32_ERR_FORMAT,
		    "%s: tensor %s: type %s shape [%" PRId64 ", ...], expected F32 [%d]",
		    L->source, t->name, l32_type_traits(t->type)->name, t->ne[0], half);
	for (i = 0; i < half; i++) {
		memcpy(&div, (const char *)t->data + 4 * i, 4);
		if (!(div > 0) || !isfinite(div))
			return l32_err_set(L->err, L32_ERR_FORMAT,
			    "%s: tensor %s: value %g at %d is not a positive number",
			    L->source, t->name, div, i);
		freq[i] = (float)(pow(hp->rope_theta, -2.0 * i / hp->head_dim) / div);
		if (div > max)
			max = div;
	}
	if (max > 1 && !hp->rope_scaled) {
		/* The divisors are all the file says of the scaling. */
		hp->rope_scaled = 1;
		hp->rope_factor = max;
	}
	return 0;
}

static int
setup_rope(struct l32_loader *L, const struct l32_gguf *g)
{
	const struct l32_gguf_tensor *t = l32_gguf_find_tensor(g, "rope_freqs.weight");
	float *freq;

	if ((freq = calloc((size_t)L->m->hp.head_dim / 2, sizeof(*freq))) == NULL)
		return l32_err_set(L->err, L32_ERR_NOMEM, "%s: out of memory", L->source);
	if (l32_model_own(L->m, freq, L->err) == -1)
		return -1;
	L->m->w.rope_freq = freq;
	L->m->w.rope_halves = 0;
	if (t != NULL)
		return read_rope_freqs(L, t, freq);
	l32_rope_freq_from_hparams(&L->m->hp, freq);
	return 0;
}

/* -------------------------------------------------------------- tokenizer */

struct strs {
	const char **s;
	size_t *len;
	size_t n;
};

static void
strs_free(struct strs *v)
{
	free(v->s);
	free(v->len);
}

static int
read_strs(const struct l32_gguf *g, const struct l32_gguf_value *arr, struct strs *v,
    struct l32_err *err)
{
	struct l32_gguf_value e;
	size_t pos = 0, i;

	v->n = (size_t)arr->n;
	v->s = calloc(v->n + 1, sizeof(*v->s));
	v->len = calloc(v->n + 1, sizeof(*v->len));
	if (v->s == NULL || v->len == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", g->source);
	for (i = 0; i < v->n && l32_gguf_arr_next(arr, &pos, &e) == 0; i++) {
		v->s[i] = e.str;
		v->len[i] = e.len;
	}
	return 0;
}

/* token_type: any integer array, as int32. */
static int32_t *
read_types(const struct l32_gguf *g, const struct l32_gguf_value *arr, size_t n_tokens,
    struct l32_err *err)
{
	const char *key = "tokenizer.ggml.token_type";
	struct l32_gguf_value e;
	int32_t *types;
	size_t pos = 0, i;

	if (arr->n != n_tokens || (arr->elem != L32_GGUF_I32 && arr->elem != L32_GGUF_U32 &&
	    arr->elem != L32_GGUF_I8 && arr->elem != L32_GGUF_U8 && arr->elem != L32_GGUF_I16 &&
	    arr->elem != L32_GGUF_U16)) {
		l32_err_set(err, L32_ERR_FORMAT,
		    "%s: metadata key %s: array of %" PRIu64 " %s, expected %zu integers",
		    g->source, key, arr->n, l32_gguf_vtype_name(arr->elem), n_tokens);
		return NULL;
	}
	if ((types = calloc(n_tokens + 1, sizeof(*types))) == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", g->source);
		return NULL;
	}
	for (i = 0; i < n_tokens && l32_gguf_arr_next(arr, &pos, &e) == 0; i++) {
		if (arr->elem == L32_GGUF_U8 || arr->elem == L32_GGUF_U16 || arr->elem == L32_GGUF_U32)
			types[i] = e.u > INT32_MAX ? -1 : (int32_t)e.u; /* -1: no such type */
		else
			types[i] = (int32_t)e.i;
	}
	return types;
}

static int
add_named_stops(struct l32_loader *L, const struct strs *tok)
{
	size_t i, k;

	for (k = 0; k < sizeof(stop_names) / sizeof(stop_names[0]); k++)
		for (i = 0; i < tok->n; i++)
			if (str_is(tok->s[i], tok->len[i], stop_names[k])) {
				if (l32_hparams_add_stop(L->source, &L->m->hp, (int32_t)i, L->err) == -1)
					return -1;
				break;
			}
	return 0;
}

static int
build_tokenizer(struct l32_loader *L, const struct l32_gguf *g,
    const struct l32_gguf_value *tokens, const struct l32_gguf_value *merges,
    const struct l32_gguf_value *types_arr)
{
	struct strs tok = { 0 }, mer = { 0 };
	int32_t *types = NULL;
	int rc = -1;

	if (tokens->n > (uint64_t)L->m->hp.vocab) {
		l32_err_set(L->err, L32_ERR_FORMAT,
		    "%s: metadata key tokenizer.ggml.tokens: %" PRIu64 " tokens, more than the vocabulary size %d",
		    L->source, tokens->n, L->m->hp.vocab);
		return -1;
	}
	if (read_strs(g, tokens, &tok, L->err) == -1 || read_strs(g, merges, &mer, L->err) == -1)
		goto out;
	if (types_arr != NULL && (types = read_types(g, types_arr, tok.n, L->err)) == NULL)
		goto out;
	if (add_named_stops(L, &tok) == -1)
		goto out;
	L->m->tok = l32_tokenizer_from_gguf(L->source, tok.s, tok.len, tok.n, types,
	    mer.s, mer.len, mer.n, L->err);
	rc = L->m->tok != NULL ? 0 : -1;
out:
	strs_free(&tok);
	strs_free(&mer);
	free(types);
	return rc;
}

/* A "gpt2" (byte-level BPE) vocabulary, or none at all. */
static int
load_tokenizer(struct l32_loader *L, const struct l32_gguf *g)
{
	const struct l32_gguf_value *tokens = NULL, *merges = NULL, *types = NULL;
	const char *model;
	size_t n;
	int has_model, has_tokens;

	if ((has_model = l32_gguf_get_str(g, "tokenizer.ggml.model", &model, &n, L->err)) == -1 ||
	    (has_tokens = l32_gguf_get_arr(g, "tokenizer.ggml.tokens", L32_GGUF_STR, &tokens,
	    L->err)) == -1)
		return -1;
	if (!has_model && !has_tokens)
		return 0;
	if (!has_model)
		return missing(g, "tokenizer.ggml.model", L->err);
	if (!str_is(model, n, "gpt2"))
		return l32_err_set(L->err, L32_ERR_UNSUPPORTED,
		    "%s: metadata key tokenizer.ggml.model: value \"%.*s\" is not supported (gpt2 is)",
		    L->source, (int)(n > 40 ? 40 : n), model);
	if (!has_tokens)
		return missing(g, "tokenizer.ggml.tokens", L->err);
	switch (l32_gguf_get_arr(g, "tokenizer.ggml.merges", L32_GGUF_STR, &merges, L->err)) {
	case -1:
		return -1;
	case 0:
		return missing(g, "tokenizer.ggml.merges", L->err);
	}
	if (l32_gguf_get_arr(g, "tokenizer.ggml.token_type", -1, &types, L->err) == -1)
		return -1;
	return build_tokenizer(L, g, tokens, merges, types);
}

/* ------------------------------------------------------------------- load */

int
l32_model_load_gguf(struct l32_model *m, const void *buf, size_t len,
    const char *source, struct l32_err *err)
{
	struct l32_loader L = { .m = m, .source = source, .err = err, .hf = 0, .tie = -1,
	    .find = gguf_find };

	if ((m->gguf = l32_gguf_parse(buf, len, source, err)) == NULL)
		return -1;
	L.fmt = m->gguf;
	if (read_hparams(m->gguf, &m->hp, err) == -1 || l32_model_map_weights(&L) == -1 ||
	    setup_rope(&L, m->gguf) == -1 || load_tokenizer(&L, m->gguf) == -1)
		return -1;
	return 0;
}
