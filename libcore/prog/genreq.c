/*
 * genreq.c - the OpenAI sampling fields of a request (temperature, top_p,
 * top_k, min_p, penalties, logit_bias, seed, n, stop, max_tokens,
 * logprobs), checked and turned into struct l32_gen_params, for every
 * program that generates text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prog/l32_prog.h"
#include "grammar/l32_grammar.h"

#define MAX_STOP 16          /* stop strings per request */
#define MAX_STOP_LEN 1024    /* bytes per stop string */
#define MAX_BIAS 1024        /* logit_bias entries */

void
l32_genreq_free(struct l32_genreq *g)
{
	free(g->stop);
	free(g->stop_len);
	free(g->bias);
	l32_grammar_free(g->grammar);
	memset(g, 0, sizeof(*g));
}

static int
parse_stop(json_t *body, struct l32_genreq *g, struct l32_err *err)
{
	json_t *v = json_object_get(body, "stop"), *s;
	size_t i, n;
	char param[32];

	if (v == NULL || json_is_null(v))
		return 0;
	n = json_is_array(v) ? json_array_size(v) : 1;
	if (!json_is_string(v) && !json_is_array(v))
		return l32_err_param(err, L32_ERR_INVALID, "stop", "stop must be a string or an array of strings");
	if (n > MAX_STOP)
		return l32_err_param(err, L32_ERR_INVALID, "stop", "stop has %zu strings; at most %d", n, MAX_STOP);
	g->stop = calloc(n ? n : 1, sizeof(*g->stop));
	g->stop_len = calloc(n ? n : 1, sizeof(*g->stop_len));
	if (g->stop == NULL || g->stop_len == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		s = json_is_array(v) ? json_array_get(v, i) : v;
		snprintf(param, sizeof(param), json_is_array(v) ? "stop[%zu]" : "stop", i);
		if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > MAX_STOP_LEN)
			return l32_err_param(err, L32_ERR_INVALID, param,
			    "%s must be a non-empty string of at most %d bytes", param, MAX_STOP_LEN);
		g->stop[i] = json_string_value(s);
		g->stop_len[i] = json_string_length(s);
	}
	g->p.stop = g->stop;
	g->p.stop_len = g->stop_len;
	g->p.n_stop = n;
	return 0;
}

/* logit_bias: {"<token id>": bias in -100..100, ...}. */
static int
parse_bias(json_t *body, int32_t n_vocab, struct l32_genreq *g, struct l32_err *err)
{
	json_t *v = json_object_get(body, "logit_bias"), *b;
	const char *key, *errstr;
	long long id;
	size_t n = 0;
	char param[64];

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return l32_err_param(err, L32_ERR_INVALID, "logit_bias", "logit_bias must be an object of token ids to biases");
	if (json_object_size(v) > MAX_BIAS)
		return l32_err_param(err, L32_ERR_INVALID, "logit_bias", "logit_bias has %zu entries; at most %d",
		    json_object_size(v), MAX_BIAS);
	if ((g->bias = calloc(json_object_size(v) + 1, sizeof(*g->bias))) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	json_object_foreach(v, key, b) {
		snprintf(param, sizeof(param), "logit_bias.%.40s", key);
		id = strtonum(key, 0, n_vocab - 1, &errstr);
		if (errstr != NULL)
			return l32_err_param(err, L32_ERR_INVALID, param,
			    "logit_bias key \"%.40s\" is not a token id (0..%d)", key, n_vocab - 1);
		if (!json_is_number(b) || json_number_value(b) < -100 || json_number_value(b) > 100)
			return l32_err_param(err, L32_ERR_INVALID, param,
			    "logit_bias values must be numbers from -100 to 100");
		g->bias[n].id = (int32_t)id;
		g->bias[n].bias = (float)json_number_value(b);
		n++;
	}
	g->p.sampling.bias = g->bias;
	g->p.sampling.n_bias = n;
	return 0;
}

/* logprobs: true/false (chat) or an integer 0..20 (completions: the
 * number of alternatives); top_logprobs 0..20 needs logprobs. */
static int
parse_logprobs(json_t *body, struct l32_genreq *g, struct l32_err *err)
{
	json_t *v = json_object_get(body, "logprobs");
	long long k = -1;

	if (v != NULL && json_is_integer(v)) {
		if (l32_json_get_int(body, "logprobs", 0, 20, &k, err) == -1)
			return -1;
		g->p.logprobs = 1;
		g->p.top_logprobs = (int32_t)k;
	} else if (l32_json_get_bool(body, "logprobs", &g->p.logprobs, err) == -1)
		return -1;
	k = -1;
	if (l32_json_get_int(body, "top_logprobs", 0, 20, &k, err) == -1)
		return -1;
	if (k >= 0 && !g->p.logprobs)
		return l32_err_param(err, L32_ERR_INVALID, "top_logprobs",
		    "top_logprobs needs logprobs set to true");
	if (k >= 0)
		g->p.top_logprobs = (int32_t)k;
	return 0;
}

/* 1 when body holds key with a value other than null. */
static int
given(json_t *body, const char *key)
{
	json_t *v = json_object_get(body, key);

	return v != NULL && !json_is_null(v);
}

static int
parse_numbers(json_t *body, const struct l32_genreq_limits *lim, struct l32_genreq *g,
    struct l32_err *err)
{
	struct l32_sampling *s = &g->p.sampling;
	double d;
	long long v;

#define NUM(key, lo, hi, dst) do { d = (dst); \
	if (l32_json_get_num(body, key, lo, hi, &d, err) == -1) return -1; \
	(dst) = (float)d; } while (0)
	NUM("temperature", 0, 2, s->temperature);
	NUM("top_p", 0, 1, s->top_p);
	NUM("min_p", 0, 1, s->min_p);
	NUM("presence_penalty", -2, 2, s->presence_penalty);
	NUM("frequency_penalty", -2, 2, s->frequency_penalty);
#undef NUM
	v = s->top_k;
	if (l32_json_get_int(body, "top_k", -1, INT32_MAX, &v, err) == -1)
		return -1;
	s->top_k = v < 0 ? 0 : (int32_t)v;  /* -1 is vLLM's "off" */
	v = g->p.n;
	if (l32_json_get_int(body, "n", 1, lim->max_n, &v, err) == -1) {
		if (err->kind == L32_ERR_INVALID && lim->max_n > 0)
			snprintf(err->msg + strlen(err->msg), sizeof(err->msg) - strlen(err->msg),
			    " (--batch sets the most choices a request may ask for)");
		return -1;
	}
	g->p.n = (int32_t)v;
	v = g->p.max_tokens;
	if (l32_json_get_int(body, "max_tokens", 1, INT32_MAX, &v, err) == -1 ||
	    l32_json_get_int(body, "max_completion_tokens", 1, INT32_MAX, &v, err) == -1)
		return -1;
	g->p.max_tokens = (int32_t)v;
	if (given(body, "max_tokens") || given(body, "max_completion_tokens"))
		g->p.has_max_tokens = 1;
	if (json_object_get(body, "seed") != NULL && !json_is_null(json_object_get(body, "seed"))) {
		if (l32_json_get_int(body, "seed", INT64_MIN, INT64_MAX, &v, err) == -1)
			return -1;
		g->p.seed = (uint64_t)v;
		g->has_seed = 1;
	}
	return 0;
}

/* response_format {"type": "json_schema", "json_schema": {...}}: the
 * schema compiled; errors name their place under
 * response_format.json_schema.schema. */
static int
parse_json_schema(json_t *rf, struct l32_genreq *g, struct l32_err *err)
{
	json_t *js = json_object_get(rf, "json_schema"), *v;
	const char *k;

	if (!json_is_object(js))
		return l32_err_param(err, L32_ERR_INVALID, "response_format.json_schema",
		    "response_format of type json_schema needs a json_schema object");
	json_object_foreach(js, k, v) {
		if (strcmp(k, "schema") == 0 || (strcmp(k, "name") == 0 && json_is_string(v)) ||
		    (strcmp(k, "description") == 0 && json_is_string(v)) ||
		    (strcmp(k, "strict") == 0 && (json_is_boolean(v) || json_is_null(v))))
			continue;
		l32_err_param(err, L32_ERR_INVALID, "response_format.json_schema",
		    "response_format.json_schema.%.60s is %s", k,
		    strcmp(k, "name") == 0 || strcmp(k, "description") == 0 ? "not a string" :
		    strcmp(k, "strict") == 0 ? "not a boolean" : "not a known field");
		return -1;
	}
	if ((v = json_object_get(js, "schema")) == NULL)
		return l32_err_param(err, L32_ERR_INVALID, "response_format.json_schema.schema",
		    "response_format.json_schema has no schema");
	if (!json_is_object(v) && !json_is_boolean(v))
		return l32_err_param(err, L32_ERR_INVALID, "response_format.json_schema.schema",
		    "response_format.json_schema.schema must be a JSON Schema object");
	g->grammar = l32_grammar_from_schema(v, "response_format.json_schema.schema", err);
	return g->grammar == NULL ? -1 : 0;
}

/* tool_choice "required" or {"type": "function", "function": {"name":
 * ...}}: the answer is calls of the tools (1), else 0. */
static int
parse_tool_choice(json_t *body, struct l32_genreq *g, struct l32_err *err)
{
	json_t *tc = json_object_get(body, "tool_choice");
	const char *only = NULL;

	if (json_is_object(tc)) {
		const char *type = json_string_value(json_object_get(tc, "type"));

		only = json_string_value(json_object_get(json_object_get(tc, "function"), "name"));
		if (type == NULL || strcmp(type, "function") != 0 || only == NULL)
			return l32_err_param(err, L32_ERR_INVALID, "tool_choice",
			    "tool_choice must be \"none\", \"auto\", \"required\" or "
			    "{\"type\": \"function\", \"function\": {\"name\": ...}}");
	} else if (!json_is_string(tc) || strcmp(json_string_value(tc), "required") != 0)
		return 0;
	if ((g->grammar = l32_grammar_tool_calls(json_object_get(body, "tools"), only, err)) == NULL)
		return -1;
	return 1;
}

/* response_format and grammar: what the answer must look like, compiled
 * to the grammar the generation loop enforces; tool_choice "required" or
 * a named function, the tool calls.  A GBNF grammar from the command line
 * (lim->grammar) applies when the request sets none of them. */
static int
parse_structured(json_t *body, const struct l32_genreq_limits *lim, struct l32_genreq *g,
    struct l32_err *err)
{
	json_t *rf = json_object_get(body, "response_format"), *gr = json_object_get(body, "grammar");
	const char *type;
	int tools;

	if (rf != NULL && json_is_null(rf))
		rf = NULL;
	if (gr != NULL && json_is_null(gr))
		gr = NULL;
	if (rf != NULL) {
		if (!json_is_object(rf) || (type = json_string_value(json_object_get(rf, "type"))) == NULL)
			return l32_err_param(err, L32_ERR_INVALID, "response_format",
			    "response_format must be an object with a type");
		if (strcmp(type, "text") == 0)
			rf = NULL;
		else if (strcmp(type, "json_object") != 0 && strcmp(type, "json_schema") != 0)
			return l32_err_param(err, L32_ERR_INVALID, "response_format.type",
			    "response_format.type must be \"text\", \"json_object\" or \"json_schema\"");
	}
	if (rf != NULL && gr != NULL)
		return l32_err_param(err, L32_ERR_INVALID, "grammar",
		    "a request may set grammar or a JSON response_format, not both");
	if ((tools = parse_tool_choice(body, g, err)) != 0) {
		if (tools == 1 && (rf != NULL || gr != NULL))
			return l32_err_param(err, L32_ERR_INVALID, "tool_choice",
			    "tool_choice that requires a call cannot go with grammar or a JSON response_format");
		if (tools == -1)
			return -1;
	} else if (gr != NULL) {
		if (!json_is_string(gr))
			return l32_err_param(err, L32_ERR_INVALID, "grammar", "grammar must be a string (GBNF)");
		if ((g->grammar = l32_grammar_parse_gbnf(json_string_value(gr), json_string_length(gr), err)) == NULL) {
			strlcpy(err->param, "grammar", sizeof(err->param));
			return -1;
		}
	} else if (rf != NULL && strcmp(json_string_value(json_object_get(rf, "type")), "json_object") == 0) {
		if ((g->grammar = l32_grammar_json_object(err)) == NULL)
			return -1;
	} else if (rf != NULL) {
		if (parse_json_schema(rf, g, err) == -1)
			return -1;
	} else if (lim->grammar != NULL &&
	    (g->grammar = l32_grammar_parse_gbnf(lim->grammar, strlen(lim->grammar), err)) == NULL)
		return -1;
	g->p.grammar = g->grammar;
	return 0;
}

int
l32_genreq_parse(json_t *body, const struct l32_genreq_limits *lim, struct l32_genreq *g,
    struct l32_err *err)
{
	if (parse_numbers(body, lim, g, err) == -1 || parse_stop(body, g, err) == -1 ||
	    parse_bias(body, lim->n_vocab, g, err) == -1 || parse_logprobs(body, g, err) == -1)
		return -1;
	if (lim->structured && parse_structured(body, lim, g, err) == -1)
		return -1;
	return l32_json_get_bool(body, "ignore_eos", &g->p.ignore_eos, err);
}
