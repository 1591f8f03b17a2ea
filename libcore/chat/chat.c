/*
 * chat.c - chat prompts: checks an OpenAI messages array, renders it with
 * the Llama 3.2 instruct template as transformers renders it (the default),
 * or hands it to Meta's chat_format.py renderer (chat_meta.c).
 *
 * The Hugging Face template is reproduced by hand, statement by statement
 * (see chat_template.jinja in the reference data): an always-present system
 * block with the knowledge cutoff and date, the tools either in that block
 * or in the first user message, contents trimmed with Python's str.strip(),
 * tool results through tojson, exactly one tool call per assistant message.
 * Its ids are the rendered text tokenized with special-token parsing on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat.h"
#include "chat/pyjson.h"

void
l32_chat_opts_init(struct l32_chat_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->format = L32_CHAT_HF;
	o->date_string = L32_DEFAULT_DATE;
	o->tools_in_user_message = 1;
	o->add_generation_prompt = 1;
	o->tool_format = L32_TOOL_JSON;
	o->python_tag_for_all_tool_calls = 0;
}

/* ------------------------------------------------------- reading messages */

static const char *
type_name(const json_t *v)
{
	if (v == NULL)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: case JSON_REAL: return "a number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "?";
}

/* Fails with kind, naming param; fmt continues "<param>: ". */
static int __attribute__((format(printf, 4, 5)))
bad(struct l32_err *err, enum l32_err_kind kind, const char *param, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return l32_err_param(err, kind, param, "%s: %s", param, msg);
}

static int
read_role(const json_t *jm, struct chat_msg *m, const char *at, struct l32_err *err)
{
	static const struct {
		const char *name;
		enum chat_role role;
	} roles[] = {
		{ "system", CHAT_SYSTEM }, { "user", CHAT_USER },
		{ "assistant", CHAT_ASSISTANT }, { "tool", CHAT_TOOL },
		{ "ipython", CHAT_IPYTHON },
		/* OpenAI's newer name for system instructions */
		{ "developer", CHAT_SYSTEM },
	};
	char param[128];
	const json_t *r = json_object_get(jm, "role");
	size_t i;

	snprintf(param, sizeof(param), "%s.role", at);
	if (r == NULL)
		return bad(err, L32_ERR_INVALID, param, "missing");
	if (!json_is_string(r))
		return bad(err, L32_ERR_INVALID, param, "expected a string, got %s", type_name(r));
	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		if (strcmp(json_string_value(r), roles[i].name) == 0) {
			m->role = roles[i].role;
			m->role_name = m->role == CHAT_SYSTEM ? "system" : roles[i].name;
			return 0;
		}
	}
	return bad(err, L32_ERR_INVALID, param, "unknown role \"%.40s\" "
	    "(expected system, developer, user, assistant, tool or ipython)", json_string_value(r));
}

static int
read_parts(const json_t *c, struct chat_msg *m, const char *at, struct l32_err *err)
{
	char param[128];
	const json_t *p, *t, *text;
	size_t j, n = json_array_size(c);

	if (n > 0 && (m->parts = calloc(n, sizeof(*m->parts))) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "chat: out of memory");
	for (j = 0; j < n; j++) {
		p = json_array_get(c, j);
		snprintf(param, sizeof(param), "%s.content[%zu]", at, j);
		if (!json_is_object(p))
			return bad(err, L32_ERR_INVALID, param,
			    "expected a content part object, got %s", type_name(p));
		snprintf(param, sizeof(param), "%s.content[%zu].type", at, j);
		if (!json_is_string(t = json_object_get(p, "type")))
			return bad(err, L32_ERR_INVALID, param, "expected a string, got %s",
			    type_name(t));
		if (strcmp(json_string_value(t), "text") != 0)
			return bad(err, L32_ERR_UNSUPPORTED, param, "content part type \"%.40s\" "
			    "is not supported: the model reads text only", json_string_value(t));
		snprintf(param, sizeof(param), "%s.content[%zu].text", at, j);
		if (!json_is_string(text = json_object_get(p, "text")))
			return bad(err, L32_ERR_INVALID, param, "expected a string, got %s",
			    type_name(text));
		m->parts[m->nparts].s = json_string_value(text);
		m->parts[m->nparts++].n = json_string_length(text);
	}
	return 0;
}

static int
read_content(const json_t *jm, struct chat_msg *m, const char *at, struct l32_err *err)
{
	char param[128];
	const json_t *c = json_object_get(jm, "content");

	snprintf(param, sizeof(param), "%s.content", at);
	if (c == NULL || json_is_null(c)) {
		/* Only a tool-calling assistant turn may come without text. */
		if (m->role == CHAT_ASSISTANT && m->ncalls > 0)
			return 0;
		return bad(err, L32_ERR_INVALID, param, "missing");
	}
	if (json_is_string(c)) {
		if ((m->parts = calloc(1, sizeof(*m->parts))) == NULL)
			return l32_err_set(err, L32_ERR_NOMEM, "chat: out of memory");
		m->parts[0].s = json_string_value(c);
		m->parts[0].n = json_string_length(c);
		m->nparts = 1;
		return 0;
	}
	if (json_is_array(c))
		return read_parts(c, m, at, err);
	return bad(err, L32_ERR_INVALID, param,
	    "expected a string or an array of text parts, got %s", type_name(c));
}

/* function.arguments: an object, or (as OpenAI clients send it) a string
 * holding one. */
static int
read_args(const json_t *a, struct chat_call *call, const char *param, struct l32_err *err)
{
	json_error_t je;

	if (json_is_object(a)) {
		call->args = json_incref((json_t *)a);
		return 0;
	}
	if (!json_is_string(a))
		return bad(err, L32_ERR_INVALID, param,
		    "expected a JSON object or a string holding one, got %s", type_name(a));
	call->args = json_loadb(json_string_value(a), json_string_length(a), JSON_ALLOW_NUL, &je);
	if (call->args == NULL)
		return bad(err, L32_ERR_INVALID, param, "not valid JSON: %s (at byte %d)",
		    je.text, je.position);
	if (!json_is_object(call->args))
		return bad(err, L32_ERR_INVALID, param,
		    "expected a JSON object, got %s", type_name(call->args));
	return 0;
}

static int
read_call(const json_t *jc, struct chat_call *call, const char *at, struct l32_err *err)
{
	char param[256];
	const json_t *t, *f, *name;

	if (!json_is_object(jc))
		return bad(err, L32_ERR_INVALID, at, "expected an object, got %s", type_name(jc));
	t = json_object_get(jc, "type");
	snprintf(param, sizeof(param), "%s.type", at);
	if (t != NULL && !json_is_string(t))
		return bad(err, L32_ERR_INVALID, param, "expected a string, got %s", type_name(t));
	if (t != NULL && strcmp(json_string_value(t), "function") != 0)
		return bad(err, L32_ERR_UNSUPPORTED, param,
		    "tool call type \"%.40s\" is not supported (only \"function\")",
		    json_string_value(t));
	snprintf(param, sizeof(param), "%s.function", at);
	if (!json_is_object(f = json_object_get(jc, "function")))
		return bad(err, L32_ERR_INVALID, param, "expected an object, got %s", type_name(f));
	snprintf(param, sizeof(param), "%s.function.name", at);
	name = json_object_get(f, "name");
	if (!json_is_string(name) || json_string_length(name) == 0)
		return bad(err, L32_ERR_INVALID, param, "expected a non-empty string, got %s",
		    json_is_string(name) ? "an empty string" : type_name(name));
	call->name = json_string_value(name);
	call->name_len = json_string_length(name);
	snprintf(param, sizeof(param), "%s.function.arguments", at);
	return read_args(json_object_get(f, "arguments"), call, param, err);
}

static int
read_calls(const json_t *jm, struct chat_msg *m, const char *at, struct l32_err *err)
{
	char param[96], cat[128];
	const json_t *tc = json_object_get(jm, "tool_calls");
	size_t j, n;

	snprintf(param, sizeof(param), "%s.tool_calls", at);
	if (tc == NULL || json_is_null(tc))
		return 0;
	if (!json_is_array(tc))
		return bad(err, L32_ERR_INVALID, param, "expected an array, got %s", type_name(tc));
	if ((n = json_array_size(tc)) == 0)
		return 0;
	if (m->role != CHAT_ASSISTANT)
		return bad(err, L32_ERR_INVALID, param, "only assistant messages carry tool calls");
	if ((m->calls = calloc(n, sizeof(*m->calls))) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "chat: out of memory");
	for (j = 0; j < n; j++) {
		snprintf(cat, sizeof(cat), "%s[%zu]", param, j);
		m->ncalls++;
		if (read_call(json_array_get(tc, j), &m->calls[j], cat, err) == -1)
			return -1;
	}
	return 0;
}

/* Meta's two extra fields: stop_reason (assistant) and context (user). */
static int
read_meta_fields(const json_t *jm, struct chat_msg *m, const char *at, struct l32_err *err)
{
	char param[128];
	const json_t *sr = json_object_get(jm, "stop_reason");
	const json_t *cx = json_object_get(jm, "context");
	const char *s;

	snprintf(param, sizeof(param), "%s.stop_reason", at);
	if (sr != NULL && !json_is_null(sr)) {
		if (!json_is_string(sr))
			return bad(err, L32_ERR_INVALID, param, "expected a string, got %s",
			    type_name(sr));
		s = json_string_value(sr);
		if (strcmp(s, "end_of_message") == 0)
			m->eom = m->role == CHAT_ASSISTANT;
		else if (strcmp(s, "end_of_turn") != 0 && strcmp(s, "out_of_tokens") != 0)
			return bad(err, L32_ERR_INVALID, param, "unknown stop reason \"%.40s\" "
			    "(expected end_of_turn, end_of_message or out_of_tokens)", s);
	}
	snprintf(param, sizeof(param), "%s.context", at);
	if (cx != NULL && !json_is_null(cx)) {
		if (!json_is_string(cx))
			return bad(err, L32_ERR_INVALID, param, "expected a string, got %s",
			    type_name(cx));
		if (m->role == CHAT_USER) {
			m->has_context = 1;
			m->context.s = json_string_value(cx);
			m->context.n = json_string_length(cx);
		}
	}
	return 0;
}

int
chat_dialog_read(const json_t *messages, struct chat_dialog *d, struct l32_err *err)
{
	char at[64];
	const json_t *jm;
	struct chat_msg *m;
	size_t i, n;

	memset(d, 0, sizeof(*d));
	if (!json_is_array(messages))
		return bad(err, L32_ERR_INVALID, "messages",
		    "expected an array of message objects, got %s", type_name(messages));
	if ((n = json_array_size(messages)) == 0)
		return bad(err, L32_ERR_INVALID, "messages",
		    "the array is empty; a prompt needs at least one message");
	if ((d->msgs = calloc(n, sizeof(*d->msgs))) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "chat: out of memory");
	for (i = 0; i < n; i++) {
		jm = json_array_get(messages, i);
		m = &d->msgs[d->n++];
		snprintf(at, sizeof(at), "messages[%zu]", i);
		if (!json_is_object(jm)) {
			bad(err, L32_ERR_INVALID, at, "expected an object, got %s", type_name(jm));
			goto fail;
		}
		if (read_role(jm, m, at, err) == -1 || read_calls(jm, m, at, err) == -1 ||
		    read_content(jm, m, at, err) == -1 || read_meta_fields(jm, m, at, err) == -1)
			goto fail;
	}
	return 0;
fail:
	chat_dialog_free(d);
	return -1;
}

void
chat_dialog_free(struct chat_dialog *d)
{
	size_t i, j;

	for (i = 0; i < d->n; i++) {
		for (j = 0; j < d->msgs[i].ncalls; j++)
			json_decref(d->msgs[i].calls[j].args);
		free(d->msgs[i].calls);
		free(d->msgs[i].parts);
	}
	free(d->msgs);
	memset(d, 0, sizeof(*d));
}

int
chat_msg_text(const struct chat_msg *m, struct l32_buf *out)
{
	size_t i;

	for (i = 0; i < m->nparts; i++)
		if (l32_buf_append(out, m->parts[i].s, m->parts[i].n) == -1)
			return -1;
	return 0;
}

/* ------------------------------------------------ Hugging Face template */

static const char hf_tools_in_system[] =
    "You have access to the following functions. To call a function, please "
    "respond with JSON for a function call."
    "Respond in the format {\"name\": function name, \"parameters\": dictionary "
    "of argument name and its value}."
    "Do not use variables.\n\n";

static const char hf_tools_in_user[] =
    "Given the following functions, please respond with a JSON for a function call "
    "with its proper arguments that best answers the given prompt.\n\n"
    "Respond in the format {\"name\": function name, \"parameters\": dictionary "
    "of argument name and its value}."
    "Do not use variables.\n\n";

/* Output with a sticky failure flag, so the template reads as a sequence of
 * writes checked once at the end. */
struct hf_out {
	struct l32_buf *b;
	struct l32_buf scratch;
	int failed;
};

static void
put(struct hf_out *h, const char *s)
{
	if (!h->failed && l32_buf_puts(h->b, s) == -1)
		h->failed = 1;
}

/* {{ content | trim }} */
static void
put_trimmed(struct hf_out *h, const struct chat_msg *m)
{
	const char *s;
	size_t n;

	l32_buf_reset(&h->scratch);
	if (h->failed || chat_msg_text(m, &h->scratch) == -1) {
		h->failed = 1;
		return;
	}
	n = h->scratch.len;
	s = l32_pyjson_strip(h->scratch.data != NULL ? h->scratch.data : "", &n);
	if (l32_buf_append(h->b, s, n) == -1)
		h->failed = 1;
}

/* {{ x | tojson }} / {{ x | tojson(indent=4) }}: transformers' tojson is
 * json.dumps with ensure_ascii=False. */
static void
put_json(struct hf_out *h, const json_t *v, int indent)
{
	if (!h->failed && l32_pyjson_dump(h->b, v, indent, 0) == -1)
		h->failed = 1;
}

static void
put_tools(struct hf_out *h, const json_t *tools, const char *intro)
{
	size_t i;

	put(h, intro);
	for (i = 0; i < json_array_size(tools); i++) {
		put_json(h, json_array_get(tools, i), 4);
		put(h, "\n\n");
	}
}

/* A tool is a function with a name, as OpenAI's API takes it:
 * {"type": "function", "function": {"name", "description"?, "parameters"?}};
 * anything else would be pasted into the prompt as it is. */
static int
check_tool(const json_t *t, size_t i, struct l32_err *err)
{
	const json_t *type = json_object_get(t, "type"), *f = json_object_get(t, "function"), *v;
	char param[96];

	snprintf(param, sizeof(param), "tools[%zu]", i);
	if (!json_is_object(t))
		return bad(err, L32_ERR_INVALID, param, "expected an object, got %s", type_name(t));
	snprintf(param, sizeof(param), "tools[%zu].type", i);
	if (!json_is_string(type) || strcmp(json_string_value(type), "function") != 0)
		return bad(err, L32_ERR_INVALID, param, "expected \"function\", got %s%.40s%s",
		    json_is_string(type) ? "\"" : type_name(type),
		    json_is_string(type) ? json_string_value(type) : "", json_is_string(type) ? "\"" : "");
	snprintf(param, sizeof(param), "tools[%zu].function", i);
	if (!json_is_object(f))
		return bad(err, L32_ERR_INVALID, param, "expected an object, got %s", type_name(f));
	snprintf(param, sizeof(param), "tools[%zu].function.name", i);
	v = json_object_get(f, "name");
	if (!json_is_string(v) || json_string_length(v) == 0)
		return bad(err, L32_ERR_INVALID, param, "expected a non-empty string, got %s",
		    json_is_string(v) ? "an empty string" : type_name(v));
	snprintf(param, sizeof(param), "tools[%zu].function.description", i);
	if ((v = json_object_get(f, "description")) != NULL && !json_is_string(v) && !json_is_null(v))
		return bad(err, L32_ERR_INVALID, param, "expected a string, got %s", type_name(v));
	snprintf(param, sizeof(param), "tools[%zu].function.parameters", i);
	if ((v = json_object_get(f, "parameters")) != NULL && !json_is_object(v) && !json_is_null(v))
		return bad(err, L32_ERR_INVALID, param, "expected an object, got %s", type_name(v));
	return 0;
}

static int
check_tools(const json_t *tools, struct l32_err *err)
{
	size_t i;

	if (!json_is_array(tools))
		return bad(err, L32_ERR_INVALID, "tools", "expected an array of tool objects, got %s",
		    type_name(tools));
	for (i = 0; i < json_array_size(tools); i++)
		if (check_tool(json_array_get(tools, i), i, err) == -1)
			return -1;
	return 0;
}

static void
hf_message(struct hf_out *h, const struct chat_msg *m)
{
	l32_buf_reset(&h->scratch);
	if (m->role == CHAT_TOOL || m->role == CHAT_IPYTHON) {
		/* A string is iterable to Jinja, so it goes through tojson and
		 * arrives quoted. */
		put(h, "<|start_header_id|>ipython<|end_header_id|>\n\n");
		if (!h->failed && (chat_msg_text(m, &h->scratch) == -1 ||
		    l32_pyjson_dump_string(h->b, h->scratch.data != NULL ? h->scratch.data : "",
		    h->scratch.len, 0) == -1))
			h->failed = 1;
		put(h, "<|eot_id|>");
	} else if (m->ncalls > 0) {
		/* The call's name is pasted in unescaped, its arguments go
		 * through tojson; the message text is not written. */
		put(h, "<|start_header_id|>assistant<|end_header_id|>\n\n{\"name\": \"");
		put(h, m->calls[0].name);
		put(h, "\", \"parameters\": ");
		put_json(h, m->calls[0].args, -1);
		put(h, "}<|eot_id|>");
	} else {
		put(h, "<|start_header_id|>");
		put(h, m->role_name);
		put(h, "<|end_header_id|>\n\n");
		put_trimmed(h, m);
		put(h, "<|eot_id|>");
	}
}

static int
render_hf(const struct chat_dialog *d, const json_t *tools, const struct l32_chat_opts *o,
    struct l32_buf *out, struct l32_err *err)
{
	struct hf_out h = { out, { NULL, 0, 0 }, 0 };
	const char *date = o->date_string != NULL ? o->date_string : L32_DEFAULT_DATE;
	size_t i = 0, j;
	char param[64];

	for (j = 0; j < d->n; j++) {
		snprintf(param, sizeof(param), "messages[%zu].tool_calls", j);
		if (d->msgs[j].ncalls > 1)
			return bad(err, L32_ERR_INVALID, param, "%zu tool calls in one message: the "
			    "Llama 3.2 template takes one tool call per assistant message",
			    d->msgs[j].ncalls);
	}
	if (tools != NULL && o->tools_in_user_message && d->n == (d->msgs[0].role == CHAT_SYSTEM))
		return bad(err, L32_ERR_INVALID, "messages", "tools go into the first user "
		    "message, and there is none");

	put(&h, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n");
	if (tools != NULL)
		put(&h, "Environment: ipython\n");
	put(&h, "Cutting Knowledge Date: December 2023\nToday Date: ");
	put(&h, date);
	put(&h, "\n\n");
	if (tools != NULL && !o->tools_in_user_message)
		put_tools(&h, tools, hf_tools_in_system);
	if (d->msgs[0].role == CHAT_SYSTEM)
		put_trimmed(&h, &d->msgs[i++]);
	put(&h, "<|eot_id|>");

	if (tools != NULL && o->tools_in_user_message) {
		/* The template takes the next message as "the first user
		 * message" whatever its role. */
		put(&h, "<|start_header_id|>user<|end_header_id|>\n\n");
		put_tools(&h, tools, hf_tools_in_user);
		put_trimmed(&h, &d->msgs[i++]);
		put(&h, "<|eot_id|>");
	}
	for (; i < d->n; i++)
		hf_message(&h, &d->msgs[i]);
	if (o->add_generation_prompt)
		put(&h, "<|start_header_id|>assistant<|end_header_id|>\n\n");
	l32_buf_free(&h.scratch);
	if (h.failed)
		return l32_err_set(err, L32_ERR_NOMEM,
		    "chat: out of memory (or JSON nested too deep) rendering the prompt");
	return 0;
}

/* ----------------------------------------------------------------- render */

int
l32_chat_render(const struct l32_tokenizer *tok, const json_t *messages,
    const json_t *tools, const struct l32_chat_opts *o, struct l32_buf *prompt,
    struct l32_tokens *ids, struct l32_err *err)
{
	struct l32_chat_opts defaults;
	struct chat_dialog d;
	struct l32_buf text = { NULL, 0, 0 };
	struct l32_tokens toks = { NULL, 0, 0 };
	int rc;

	if (o == NULL) {
		l32_chat_opts_init(&defaults);
		o = &defaults;
	}
	if (ids != NULL && tok == NULL)
		return l32_err_set(err, L32_ERR_INVALID, "chat: token ids asked for without a tokenizer");
	if (json_is_null(tools))
		tools = NULL;
	/* checked in every format, though Meta's writes no tool list */
	if (tools != NULL && check_tools(tools, err) == -1)
		return -1;
	if (chat_dialog_read(messages, &d, err) == -1)
		return -1;
	switch (o->format) {
	case L32_CHAT_HF:
		rc = render_hf(&d, tools, o, &text, err);
		if (rc == 0 && ids != NULL)
			rc = l32_tokenize(tok, text.data, text.len, L32_TOKENIZE_SPECIAL, &toks, err);
		break;
	case L32_CHAT_META:
		/* Meta's format takes no tool list: tools are described in the
		 * system message by the caller. */
		rc = chat_render_meta(tok, &d, o, &text, ids != NULL ? &toks : NULL, err);
		break;
	default:
		rc = l32_err_set(err, L32_ERR_INVALID, "chat: unknown prompt format %d", (int)o->format);
		break;
	}
	/* Append only a complete result, so a failure leaves the caller's
	 * buffers as they were. */
	if (rc == 0 && prompt != NULL && l32_buf_append(prompt, text.data, text.len) == -1)
		rc = l32_err_set(err, L32_ERR_NOMEM, "chat: out of memory");
	if (rc == 0 && ids != NULL && toks.n > 0 && l32_tokens_append(ids, toks.ids, toks.n) == -1)
		rc = l32_err_set(err, L32_ERR_NOMEM, "chat: out of memory");
	l32_buf_free(&text);
	l32_tokens_free(&toks);
	chat_dialog_free(&d);
	return rc;
}
