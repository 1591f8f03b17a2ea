/*
 * api_embed.c - the OpenAI embeddings request: checks a request body,
 * queues its inputs on the embedder and builds the {"object": "list"}
 * answer once they are all embedded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prog/l32_prog.h"

#define MAX_INPUTS 2048   /* inputs per request, as OpenAI allows */

/* One request, parsed. */
struct l32_api_embed_req {
	json_t *body;
	struct l32_sink *sink;
	struct l32_api_embed_req *next;
	int *done;              /* (n) the input's embedding is there */
	const char *model;
	int base64, truncate;
	int32_t dimensions;
	struct l32_tokens *in;  /* (n) */
	unsigned char *cut;     /* (n) input was truncated */
	size_t n;
	float *vec;             /* (n, dim) */
};

/* --------------------------------------------------------------- requests */

static const char *const known_fields[] = {
	"input", "model", "encoding_format", "dimensions", "user", "truncate",
	"id", "custom_id", "metadata", NULL
};

static int
context_error(const char *param, size_t n, int32_t n_ctx, struct l32_err *err)
{
	l32_err_param(err, L32_ERR_CONTEXT, param, "%s is %zu tokens; the context window is %d "
	    "tokens (-c); --truncate or \"truncate\": true cuts it", param, n, n_ctx);
	err->code = "context_length_exceeded";
	return -1;
}

/* A string (tokenized with BOS) or a list of ids (BOS put first when it
 * is not there), checked against the context. */
static int
take_input(struct l32_api_embed *e, struct l32_api_embed_req *r, json_t *v, const char *param, size_t i,
    struct l32_err *err)
{
	struct l32_tokens *t = &r->in[i];
	int32_t bos = l32_tokenizer_bos(e->tok), n_vocab = l32_tokenizer_n_vocab(e->tok);
	json_t *id;
	size_t k;
	char at[48];

	if (json_is_string(v)) {
		if (json_string_length(v) == 0)
			return l32_err_param(err, L32_ERR_INVALID, param, "%s is an empty string", param);
		if (l32_tokenize(e->tok, json_string_value(v), json_string_length(v),
		    L32_TOKENIZE_BOS, t, err) == -1)
			return -1;
	} else if (json_is_array(v) && json_array_size(v) > 0) {
		id = json_array_get(v, 0);
		if (!(json_is_integer(id) && json_integer_value(id) == bos) && l32_tokens_push(t, bos) == -1)
			return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		json_array_foreach(v, k, id) {
			if (!json_is_integer(id) || json_integer_value(id) < 0 ||
			    json_integer_value(id) >= n_vocab) {
				snprintf(at, sizeof(at), "%s[%zu]", param, k);
				return l32_err_param(err, L32_ERR_INVALID, at,
				    "%s is not a token id (0..%d)", at, n_vocab - 1);
			}
			if (l32_tokens_push(t, (int32_t)json_integer_value(id)) == -1)
				return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		}
	} else
		return l32_err_param(err, L32_ERR_INVALID, param,
		    "%s must be a non-empty string or a non-empty array of token ids", param);
	if (t->n > (size_t)e->n_ctx) {
		if (!r->truncate)
			return context_error(param, t->n, e->n_ctx, err);
		t->n = (size_t)e->n_ctx;
		r->cut[i] = 1;
	}
	return 0;
}

/* input: a string, a list of strings, a list of ids or a list of lists of ids. */
static int
parse_input(struct l32_api_embed *e, struct l32_api_embed_req *r, struct l32_err *err)
{
	json_t *v = json_object_get(r->body, "input"), *item;
	char param[32];
	size_t i;
	int many;

	if (v == NULL || json_is_null(v))
		return l32_err_param(err, L32_ERR_INVALID, "input", "a request needs input");
	if (json_is_array(v) && (json_array_size(v) == 0 || json_array_size(v) > MAX_INPUTS))
		return l32_err_param(err, L32_ERR_INVALID, "input",
		    "input has %zu items; it must have 1 to %d", json_array_size(v), MAX_INPUTS);
	/* one input: a string, or a flat list of ids */
	many = json_is_array(v) && !json_is_integer(json_array_get(v, 0));
	r->n = many ? json_array_size(v) : 1;
	r->in = calloc(r->n, sizeof(*r->in));
	r->cut = calloc(r->n, 1);
	r->done = calloc(r->n, sizeof(int));
	r->vec = reallocarray(NULL, r->n, (size_t)e->dim * sizeof(float));
	if (r->in == NULL || r->cut == NULL || r->done == NULL || r->vec == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	if (!many)
		return take_input(e, r, v, "input", 0, err);
	json_array_foreach(v, i, item) {
		snprintf(param, sizeof(param), "input[%zu]", i);
		if (take_input(e, r, item, param, i, err) == -1)
			return -1;
	}
	return 0;
}

static int
parse_request(struct l32_api_embed *e, struct l32_api_embed_req *r, struct l32_err *err)
{
	const char *fmt = NULL;
	long long dims = r->dimensions;

	if (l32_request_fields(r->body, known_fields, NULL, err) == -1 ||
	    l32_request_model(r->body, e->model_name, &r->model, err) == -1 ||
	    l32_json_get_str(r->body, "encoding_format", &fmt, NULL, err) == -1 ||
	    l32_json_get_int(r->body, "dimensions", 1, e->dim, &dims, err) == -1 ||
	    l32_json_get_bool(r->body, "truncate", &r->truncate, err) == -1)
		return -1;
	if (fmt != NULL && strcmp(fmt, "float") != 0 && strcmp(fmt, "base64") != 0)
		return l32_err_param(err, L32_ERR_INVALID, "encoding_format",
		    "encoding_format \"%s\" is not \"float\" or \"base64\"", fmt);
	if (fmt != NULL)
		r->base64 = strcmp(fmt, "base64") == 0;
	r->dimensions = (int32_t)dims;
	return parse_input(e, r, err);
}

/* -------------------------------------------------------------- responses */

static json_t *
item_json(const struct l32_api_embed_req *r, size_t i, const float *v, int32_t n)
{
	json_t *o, *emb;
	int32_t d;

	if (r->base64) {
		struct l32_buf b = { 0 };

		emb = l32_base64_f32(&b, v, (size_t)n) == 0 ? json_stringn(b.data, b.len) : NULL;
		l32_buf_free(&b);
	} else {
		emb = json_array();
		for (d = 0; d < n; d++)
			json_array_append_new(emb, json_real((double)v[d]));
	}
	o = json_pack("{s:s, s:I, s:o}", "object", "embedding", "index", (json_int_t)i,
	    "embedding", emb);
	if (o != NULL && r->cut[i])
		json_object_set_new(o, "truncated", json_true());
	return o;
}

static json_t *
response(const struct l32_api_embed *e, struct l32_api_embed_req *r)
{
	json_t *data = json_array();
	int32_t n = r->dimensions > 0 ? r->dimensions : e->dim;
	json_int_t tokens = 0;
	size_t i;

	for (i = 0; i < r->n; i++) {
		float *v = r->vec + i * (size_t)e->dim;

		/* dimensions: the first n values, then normalized again */
		if (e->normalize)
			l32_vec_normalize(v, (size_t)n);
		json_array_append_new(data, item_json(r, i, v, n));
		tokens += (json_int_t)r->in[i].n;
	}
	return json_pack("{s:s, s:o, s:s, s:{s:I, s:I}}", "object", "list", "data", data,
	    "model", r->model, "usage", "prompt_tokens", tokens, "total_tokens", tokens);
}

static void
request_free(struct l32_api_embed_req *r)
{
	size_t i;

	for (i = 0; r->in != NULL && i < r->n; i++)
		l32_tokens_free(&r->in[i]);
	free(r->in);
	free(r->cut);
	free(r->done);
	free(r->vec);
	json_decref(r->body);
	free(r);
}

/* Answers the held requests whose inputs are all embedded. */
static int
finish_done(struct l32_api_embed *e)
{
	struct l32_api_embed_req **pp = &e->held, *r;
	struct l32_err err;
	json_t *resp;
	size_t i;
	int rc = 0;

	while ((r = *pp) != NULL) {
		for (i = 0; i < r->n && r->done[i]; i++)
			;
		if (i < r->n) {
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		l32_err_clear(&err);
		for (i = 0; i < r->n && l32_embedder_error(e->em, r->done[i], &err) == 0; i++)
			;
		if (i < r->n) {  /* the model computed NaN for an input */
			snprintf(err.param, sizeof(err.param), r->n > 1 ? "input[%zu]" : "input", i);
			l32_sink_fail(r->sink, &err);
		} else if ((resp = response(e, r)) == NULL) {
			l32_err_set(&err, L32_ERR_NOMEM, "out of memory");
			l32_sink_fail(r->sink, &err);
		} else {
			rc |= l32_sink_emit(r->sink, resp);
			l32_sink_finish(r->sink);
		}
		request_free(r);
	}
	return rc;
}

/* One forward pass, then the answers it completes.  A cancelled request
 * runs to its end all the same (the embedder keeps no way to take inputs
 * back, and a pass is short); its sink drops the answer. */
int
l32_api_embed_step(struct l32_api_embed *e, struct l32_err *err)
{
	if (l32_embedder_pending(e->em) > 0 && l32_embedder_step(e->em, err) == -1)
		return -1;
	if (finish_done(e) != 0)
		return l32_err_set(err, L32_ERR_IO, "output failed");
	return 0;
}

int
l32_api_embed_busy(const struct l32_api_embed *e)
{
	return e->held != NULL;
}

int
l32_api_embed_submit(struct l32_api_embed *e, json_t *body, struct l32_sink *s,
    struct l32_err *err)
{
	struct l32_api_embed_req *r, **pp;
	size_t i;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	r->body = json_incref(body);  /* r->model points into it */
	r->base64 = e->base64;
	r->truncate = e->truncate;
	r->dimensions = e->dimensions;
	if (parse_request(e, r, err) == -1) {
		request_free(r);
		return -1;
	}
	if (l32_embedder_add(e->em, r->in, r->n, e->pooling, r->vec, r->done, err) == -1) {
		request_free(r);
		return -1;
	}
	for (i = 0; i < r->n; i++)
		l32_sink_count_tokens(s, (long)r->in[i].n);
	r->sink = s;
	for (pp = &e->held; *pp != NULL; pp = &(*pp)->next)
		;
	*pp = r;
	return 0;
}

/* What a signal or a write error left unanswered. */
void
l32_api_embed_drop(struct l32_api_embed *e)
{
	while (e->held != NULL) {
		struct l32_api_embed_req *r = e->held;

		e->held = r->next;
		request_free(r);
	}
}

int
l32_api_embed_init(struct l32_api_embed *e, const struct l32_program *p,
    struct l32_err *err)
{
	struct l32_ctx_params cp;

	memset(e, 0, sizeof(*e));
	e->tok = p->tok;
	e->model_name = p->model_name;
	e->normalize = 1;
	e->pooling = L32_POOLING_MEAN;
	e->dim = l32_model_hparams(p->model)->dim;
	l32_program_ctx_params(p, &cp);
	if ((e->em = l32_embedder_new(p->model, &cp, err)) == NULL)
		return -1;
	e->n_ctx = l32_embedder_n_ctx(e->em);
	return 0;
}
