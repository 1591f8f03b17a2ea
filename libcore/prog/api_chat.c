/*
 * api_chat.c - the OpenAI chat-completions and completions requests:
 * checks a request body, renders its prompt, runs it on the engine through
 * the job queue and builds its chat.completion, chunk or text_completion
 * objects.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prog/l32_prog.h"
/* One request, parsed. */
struct request {
	json_t *body;
	int chat;                   /* messages (chat.completion) or prompt (text_completion) */
	int stream, include_usage;
	int tools;                  /* tools given and tool_choice is not "none" */
	const char *model;          /* name to answer with */
	struct l32_genreq g;
	struct l32_tokens prompt;
	struct l32_gen_choice *choices;
	char id[48];
	long long created;
	unsigned char *started;     /* (n) role chunk sent */
	struct l32_sink *sink;      /* where its answers go */
	struct l32_api_chat *gen;
};

/* ------------------------------------------------------------ validation */

/* Fields a request may carry besides the sampling ones; anything else
 * would be silently ignored, so it is an error naming it, as the hosted
 * endpoint answers. */
static const char *const known_fields[] = {
	"model", "messages", "prompt", "logprobs", "top_logprobs", "stream",
	"stream_options", "tools", "tool_choice", "parallel_tool_calls", "user",
	"metadata", "store", "id", "custom_id", "chat_template_kwargs",
	"chat_format", "tool_prompt_format", "add_generation_prompt",
	"response_format", "grammar", "service_tier", "echo", "best_of", "suffix",
	"modalities", NULL
};

static int
unsupported(const char *param, const char *what, struct l32_err *err)
{
	l32_err_param(err, L32_ERR_UNSUPPORTED, param, "%s is not supported by %s", what, getprogname());
	err->code = "unsupported_parameter";
	return -1;
}

/* Fields whose non-default values would change the answer in ways l32 does
 * not implement. */
static int
check_unsupported(json_t *body, struct l32_err *err)
{
	json_t *v;
	const char *s;

	if ((v = json_object_get(body, "tool_choice")) != NULL && !json_is_null(v)) {
		s = json_string_value(v);
		if (s == NULL ? !json_is_object(v) :
		    strcmp(s, "auto") != 0 && strcmp(s, "none") != 0 && strcmp(s, "required") != 0)
			return unsupported("tool_choice", "tool_choice other than \"auto\", \"none\", \"required\" or a function", err);
	}
	if (json_is_true(json_object_get(body, "echo")))
		return unsupported("echo", "echo", err);
	if ((v = json_object_get(body, "best_of")) != NULL && !json_is_null(v) &&
	    !(json_is_integer(v) && json_integer_value(v) == 1))
		return unsupported("best_of", "best_of other than 1", err);
	if ((v = json_object_get(body, "suffix")) != NULL && !json_is_null(v))
		return unsupported("suffix", "suffix", err);
	if ((v = json_object_get(body, "modalities")) != NULL && !json_is_null(v)) {
		if (!json_is_array(v) || json_array_size(v) != 1 ||
		    strcmp(json_string_value(json_array_get(v, 0)) ? json_string_value(json_array_get(v, 0)) : "", "text") != 0)
			return unsupported("modalities", "modalities other than [\"text\"]", err);
	}
	return 0;
}

/* ---------------------------------------------------------------- prompts */

static int
chat_prompt(struct l32_api_chat *g, struct request *r, struct l32_err *err)
{
	struct l32_chat_opts o;
	json_t *tools = json_object_get(r->body, "tools");
	const char *choice = json_string_value(json_object_get(r->body, "tool_choice"));

	if (tools != NULL && json_is_null(tools))
		tools = NULL;
	if (tools != NULL && (!json_is_array(tools) || json_array_size(tools) == 0))
		return l32_err_param(err, L32_ERR_INVALID, "tools", "tools must be a non-empty array");
	/* tool_choice "none": the model is not offered the tools at all. */
	if (choice != NULL && strcmp(choice, "none") == 0)
		tools = NULL;
	r->tools = tools != NULL;
	l32_chat_opts_init(&o);
	o.format = g->chat_format;
	o.date_string = g->date;
	if (l32_chat_opts_from_request(r->body, &o, err) == -1)
		return -1;
	return l32_chat_render(g->tok, json_object_get(r->body, "messages"), tools, &o,
	    NULL, &r->prompt, err);
}

/* prompt: a string (BOS added, special tokens parsed, as llama.cpp's and
 * vLLM's servers do) or an array of token ids. */
static int
text_prompt(struct l32_api_chat *g, struct request *r, struct l32_err *err)
{
	json_t *p = json_object_get(r->body, "prompt"), *v;
	size_t i;
	char param[32];

	if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
		p = json_array_get(p, 0);
	if (json_is_string(p))
		return l32_tokenize(g->tok, json_string_value(p), json_string_length(p),
		    L32_TOKENIZE_BOS | L32_TOKENIZE_SPECIAL, &r->prompt, err);
	if (!json_is_array(p))
		return l32_err_param(err, L32_ERR_INVALID, "prompt", "prompt must be a string or an array of token ids");
	json_array_foreach(p, i, v) {
		snprintf(param, sizeof(param), "prompt[%zu]", i);
		if (json_is_string(v))
			return unsupported(param, "a list of several prompts (send one request per prompt)", err);
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= l32_tokenizer_n_vocab(g->tok))
			return l32_err_param(err, L32_ERR_INVALID, param, "%s is not a token id (0..%d)",
			    param, l32_tokenizer_n_vocab(g->tok) - 1);
		if (l32_tokens_push(&r->prompt, (int32_t)json_integer_value(v)) == -1)
			return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* -------------------------------------------------------------- responses */

static json_t *
usage_json(const struct request *r)
{
	json_int_t completion = 0;
	int32_t i;

	for (i = 0; i < r->g.p.n; i++)
		completion += (json_int_t)r->choices[i].ids.n;
	/* cached_tokens: the prompt tokens the prefix cache held, as the
	 * hosted endpoint reports its own cache's */
	return json_pack("{s:I, s:I, s:I, s:{s:I}}", "prompt_tokens", (json_int_t)r->prompt.n,
	    "completion_tokens", completion, "total_tokens", (json_int_t)r->prompt.n + completion,
	    "prompt_tokens_details", "cached_tokens",
	    (json_int_t)(r->g.p.n > 0 ? r->choices[0].cached_tokens : 0));
}

static json_t *
envelope(const struct request *r, const char *object)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", r->id, "object", object,
	    "created", (json_int_t)r->created, "model", r->model,
	    "system_fingerprint", r->gen->fingerprint);
}

/* A finished choice: content or tool_calls, and its finish_reason. */
static json_t *
choice_json(const struct request *r, int32_t i)
{
	struct l32_gen_choice *c = &r->choices[i];
	json_t *calls = NULL, *msg, *o, *lp;
	const char *finish = l32_finish_name(c->finish);

	if (r->tools && l32_toolcalls_parse(c->text.data ? c->text.data : "", c->text.len, &calls, NULL) == 1)
		finish = "tool_calls";
	lp = c->logprobs != NULL ? json_pack("{s:O, s:n}", "content", c->logprobs, "refusal") : json_null();
	if (!r->chat)
		return json_pack("{s:i, s:s%, s:o, s:s}", "index", i, "text",
		    c->text.data ? c->text.data : "", c->text.len, "logprobs", lp, "finish_reason", finish);
	if (calls != NULL)
		msg = json_pack("{s:s, s:n, s:o, s:n}", "role", "assistant", "content", "tool_calls", calls, "refusal");
	else
		msg = json_pack("{s:s, s:s%, s:n}", "role", "assistant", "content",
		    c->text.data ? c->text.data : "", c->text.len, "refusal");
	o = json_pack("{s:i, s:o, s:o, s:s}", "index", i, "message", msg, "logprobs", lp,
	    "finish_reason", finish);
	return o;
}

static int
emit_completion(struct request *r)
{
	json_t *resp = envelope(r, r->chat ? "chat.completion" : "text_completion"), *arr = json_array();
	int32_t i;

	for (i = 0; i < r->g.p.n; i++)
		json_array_append_new(arr, choice_json(r, i));
	json_object_set_new(resp, "choices", arr);
	json_object_set_new(resp, "usage", usage_json(r));
	return l32_sink_emit(r->sink, resp);
}

/* One chat.completion.chunk (or text_completion chunk) with one choice. */
static int
emit_chunk(struct request *r, json_t *choice)
{
	json_t *resp = envelope(r, r->chat ? "chat.completion.chunk" : "text_completion");

	json_object_set_new(resp, "choices", json_pack("[o]", choice));
	if (r->include_usage)
		json_object_set_new(resp, "usage", json_null());
	return l32_sink_emit(r->sink, resp);
}

static json_t *
logprobs_slice(const struct l32_gen_choice *c, size_t from)
{
	json_t *arr;
	size_t i;

	if (c->logprobs == NULL || from >= json_array_size(c->logprobs))
		return json_null();
	arr = json_array();
	for (i = from; i < json_array_size(c->logprobs); i++)
		json_array_append(arr, json_array_get(c->logprobs, i));
	return json_pack("{s:o, s:n}", "content", arr, "refusal");
}

static int
fin_tools(const char *fin)
{
	return fin != NULL && strcmp(fin, "tool_calls") == 0;
}

/* Streaming: the first chunk of a choice carries the role; then content
 * deltas; the last one the finish_reason.  With tools, the answer is held
 * until it is complete, since it may turn out to be tool calls. */
static int
on_stream(void *arg, int32_t index, const char *text, size_t len, size_t first_lp,
    enum l32_finish finish)
{
	struct request *r = arg;
	struct l32_gen_choice *c = &r->choices[index];
	json_t *delta, *calls = NULL;
	const char *fin = l32_finish_name(finish);

	if (r->tools && !finish)
		return 0;
	if (r->chat && !r->started[index]) {
		r->started[index] = 1;
		if (emit_chunk(r, json_pack("{s:i, s:{s:s, s:s, s:n}, s:n, s:n}", "index", index,
		    "delta", "role", "assistant", "content", "", "refusal", "logprobs", "finish_reason")) == -1)
			return -1;
	}
	if (r->tools && finish) {
		text = c->text.data ? c->text.data : "";
		len = c->text.len;
		first_lp = 0;
		if (l32_toolcalls_parse(text, len, &calls, NULL) == 1) {
			size_t i;
			json_t *call;

			json_array_foreach(calls, i, call)
				json_object_set_new(call, "index", json_integer((json_int_t)i));
			fin = "tool_calls";
			if (emit_chunk(r, json_pack("{s:i, s:{s:o}, s:o, s:n}", "index", index, "delta",
			    "tool_calls", calls, "logprobs", logprobs_slice(c, 0), "finish_reason")) == -1)
				return -1;
			len = 0;
		}
	}
	/* text, or logprobs still to send at the end */
	if (len > 0 || (c->logprobs != NULL && first_lp < json_array_size(c->logprobs) && !fin_tools(fin))) {
		if (r->chat)
			delta = json_pack("{s:i, s:{s:s%}, s:o, s:n}", "index", index, "delta", "content",
			    text, len, "logprobs", logprobs_slice(c, first_lp), "finish_reason");
		else
			delta = json_pack("{s:i, s:s%, s:o, s:n}", "index", index, "text", text, len,
			    "logprobs", logprobs_slice(c, first_lp), "finish_reason");
		if (emit_chunk(r, delta) == -1)
			return -1;
	}
	if (!finish)
		return 0;
	if (r->chat)
		delta = json_pack("{s:i, s:{}, s:n, s:s}", "index", index, "delta", "logprobs",
		    "finish_reason", fin);
	else
		delta = json_pack("{s:i, s:s, s:n, s:s}", "index", index, "text", "", "logprobs",
		    "finish_reason", fin);
	return emit_chunk(r, delta);
}

static int
finish_stream(struct request *r)
{
	json_t *resp;

	if (r->include_usage) {
		resp = envelope(r, r->chat ? "chat.completion.chunk" : "text_completion");
		json_object_set_new(resp, "choices", json_array());
		json_object_set_new(resp, "usage", usage_json(r));
		if (l32_sink_emit(r->sink, resp) == -1)
			return -1;
	}
	return l32_sink_emit_done(r->sink);
}

/* --------------------------------------------------------------- requests */

static int
parse_stream(struct request *r, struct l32_err *err)
{
	json_t *so = json_object_get(r->body, "stream_options");

	if (l32_json_get_bool(r->body, "stream", &r->stream, err) == -1)
		return -1;
	if (so != NULL && !json_is_null(so)) {
		if (!json_is_object(so))
			return l32_err_param(err, L32_ERR_INVALID, "stream_options", "stream_options must be an object");
		if (l32_json_get_bool(so, "include_usage", &r->include_usage, err) == -1) {
			strlcpy(err->param, "stream_options.include_usage", sizeof(err->param));
			return -1;
		}
	}
	if (r->sink->raw)
		r->stream = 0;
	if (r->stream && r->sink->batch)
		return l32_err_param(err, L32_ERR_INVALID, "stream", "stream is not available in Batch requests");
	return 0;
}

static int
prepare(struct l32_api_chat *g, struct request *r, struct l32_err *err)
{
	struct l32_genreq_limits lim = { l32_tokenizer_n_vocab(g->tok), l32_engine_n_seq(g->engine),
	    1, g->grammar };
	json_t *m = json_object_get(r->body, "messages"), *p = json_object_get(r->body, "prompt");

	if (l32_request_fields(r->body, known_fields, l32_sampling_fields, err) == -1 ||
	    check_unsupported(r->body, err) == -1 ||
	    l32_request_model(r->body, g->model_name, &r->model, err) == -1 ||
	    parse_stream(r, err) == -1)
		return -1;
	r->g.p = g->defaults;
	if (l32_genreq_parse(r->body, &lim, &r->g, err) == -1)
		return -1;
	if (!r->g.has_seed && !g->has_default_seed)
		r->g.p.seed = ((uint64_t)arc4random() << 32) | arc4random();
	if (m != NULL && p != NULL)
		return l32_err_param(err, L32_ERR_INVALID, "prompt", "a request has messages or prompt, not both");
	r->chat = m != NULL;
	if (m == NULL && p == NULL)
		return l32_err_param(err, L32_ERR_INVALID, "messages", "a request needs messages (or prompt)");
	if ((r->chat ? chat_prompt(g, r, err) : text_prompt(g, r, err)) == -1 ||
	    l32_engine_check_prompt(g->engine, r->prompt.n, r->chat ? "messages" : "prompt", err) == -1)
		return -1;
	snprintf(r->id, sizeof(r->id), "%s-%016llx", r->chat ? "chatcmpl" : "cmpl",
	    (unsigned long long)r->sink->id);
	r->created = l32_filter_created();
	return 0;
}

static void
request_free(struct request *r)
{
	int32_t i;

	for (i = 0; r->choices != NULL && i < r->g.p.n; i++)
		l32_gen_choice_free(&r->choices[i]);
	free(r->choices);
	free(r->started);
	l32_tokens_free(&r->prompt);
	l32_genreq_free(&r->g);
	json_decref(r->body);
	free(r);
}

/* The job queue's answer: the whole response, or the end of the stream. */
static int
answer(void *arg, struct l32_sink *s)
{
	struct request *r = arg;
	int32_t i;

	for (i = 0; i < r->g.p.n; i++)
		l32_sink_count_tokens(s, (long)r->choices[i].ids.n);
	if (r->g.p.n > 0)
		l32_sink_count_cached(s, (long)r->choices[0].cached_tokens);
	return r->stream ? finish_stream(r) : emit_completion(r);
}

static void
release(void *arg)
{
	request_free(arg);
}

int
l32_api_chat_start(struct l32_api_chat *g, struct l32_err *err)
{
	if ((g->jobs = l32_jobq_new(g->engine, answer, release)) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	return 0;
}

void
l32_api_chat_stop(struct l32_api_chat *g)
{
	l32_jobq_free(g->jobs);
	g->jobs = NULL;
}

/* Every running request advances one token. */
int
l32_api_chat_step(struct l32_api_chat *g, struct l32_err *err)
{
	return l32_jobq_step(g->jobs, err);
}

int
l32_api_chat_busy(const struct l32_api_chat *g)
{
	return l32_jobq_busy(g->jobs);
}

int
l32_api_chat_submit(struct l32_api_chat *g, json_t *body, struct l32_sink *s,
    struct l32_err *err)
{
	struct request *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	r->body = json_incref(body);  /* stop strings point into it */
	r->gen = g;
	r->sink = s;
	if (prepare(g, r, err) == -1)
		goto fail;
	r->choices = calloc((size_t)r->g.p.n, sizeof(*r->choices));
	r->started = calloc((size_t)r->g.p.n, 1);
	if (r->choices == NULL || r->started == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (l32_jobq_add(g->jobs, r, s, r->prompt.ids, r->prompt.n, &r->g.p, r->choices,
	    r->stream ? on_stream : NULL, r, err) == -1)
		goto fail;
	return 0;
fail:
	request_free(r);
	return -1;
}

void
l32_api_chat_init(struct l32_api_chat *a, const struct l32_program *p)
{
	memset(a, 0, sizeof(*a));
	a->tok = p->tok;
	a->engine = p->engine;
	a->model_name = p->model_name;
	strlcpy(a->fingerprint, p->fingerprint, sizeof(a->fingerprint));
	a->chat_format = p->opt.chat_format;
	strlcpy(a->date, p->date, sizeof(a->date));
	a->defaults = p->defaults;
	a->has_default_seed = p->opt.has_seed;
}
