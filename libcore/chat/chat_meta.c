/*
 * chat_meta.c - Meta's chat format (llama-models models/llama3/chat_format.py
 * and tool_utils.py), tokenized the way Meta tokenizes it: piece by piece.
 *
 * Every text piece (a role name, "\n\n", a content string, one encoded tool
 * call) is tokenized on its own with special-token parsing off, so
 * "<|eot_id|>" typed in a message stays text and no BPE merge crosses a
 * piece boundary.  Special tokens are appended by id.  Content is written as
 * given, untrimmed; the generation prompt is always added.
 */
#include <stdio.h>
#include <string.h>

#include "chat/chat.h"
#include "chat/pyjson.h"

struct meta_out {
	const struct l32_tokenizer *tok;
	struct l32_buf *text;
	struct l32_tokens *ids; /* NULL: text only */
	struct l32_err *err;
	int failed;
};

static void
special(struct meta_out *m, const char *name)
{
	int32_t id;

	if (m->failed)
		return;
	if (l32_buf_puts(m->text, name) == -1) {
		m->failed = l32_err_set(m->err, L32_ERR_NOMEM, "chat: out of memory");
		return;
	}
	if (m->ids == NULL)
		return;
	if ((id = l32_tokenizer_special_id(m->tok, name, strlen(name))) < 0) {
		m->failed = l32_err_set(m->err, L32_ERR_FORMAT,
		    "chat: the tokenizer has no special token %s", name);
		return;
	}
	if (l32_tokens_push(m->ids, id) == -1)
		m->failed = l32_err_set(m->err, L32_ERR_NOMEM, "chat: out of memory");
}

/* One piece of text, tokenized alone as Meta's Tokenizer.encode does it
 * (special parsing off, with its 400k / 25k chunking). */
static void
piece(struct meta_out *m, const char *s, size_t n)
{
	if (m->failed || n == 0)
		return;
	if (l32_buf_append(m->text, s, n) == -1) {
		m->failed = l32_err_set(m->err, L32_ERR_NOMEM, "chat: out of memory");
		return;
	}
	if (m->ids != NULL && l32_tokenize(m->tok, s, n, L32_TOKENIZE_CHUNK, m->ids, m->err) == -1)
		m->failed = -1;
}

static void
header(struct meta_out *m, const char *role)
{
	special(m, "<|start_header_id|>");
	piece(m, role, strlen(role));
	special(m, "<|end_header_id|>");
	piece(m, "\n\n", 2);
}

static int
is_named(const struct chat_call *c, const char *name)
{
	return c->name_len == strlen(name) && memcmp(c->name, name, c->name_len) == 0;
}

/* The string argument key of a built-in tool call. */
static const json_t *
builtin_arg(const struct chat_call *c, const char *key, size_t mi, size_t ci,
    struct l32_err *err)
{
	char param[96];
	const json_t *v = json_object_get(c->args, key);

	if (json_is_string(v))
		return v;
	snprintf(param, sizeof(param), "messages[%zu].tool_calls[%zu].function.arguments", mi, ci);
	l32_err_param(err, L32_ERR_INVALID, param, "%s: the built-in tool %s takes a \"%s\" "
	    "string argument", param, c->name, key);
	return NULL;
}

/* ToolUtils.encode_tool_call: built-in tools in their own syntax, other
 * tools in the requested tool_prompt_format. */
static int
encode_call(struct l32_buf *out, const struct chat_call *c, enum l32_tool_format fmt,
    size_t mi, size_t ci, struct l32_err *err)
{
	static const char *const query_tools[] = { "brave_search", "wolfram_alpha", "photogen" };
	const json_t *v, *val;
	const char *key;
	size_t i;
	int rc = 0;

	for (i = 0; i < sizeof(query_tools) / sizeof(query_tools[0]); i++) {
		if (!is_named(c, query_tools[i]))
			continue;
		if ((v = builtin_arg(c, "query", mi, ci, err)) == NULL)
			return -1;
		rc = l32_buf_printf(out, "%s.call(query=\"", c->name) == -1 ||
		    l32_buf_append(out, json_string_value(v), json_string_length(v)) == -1 ||
		    l32_buf_puts(out, "\")") == -1 ? -1 : 0;
		goto done;
	}
	if (is_named(c, "code_interpreter")) {
		if ((v = builtin_arg(c, "code", mi, ci, err)) == NULL)
			return -1;
		rc = l32_buf_append(out, json_string_value(v), json_string_length(v));
		goto done;
	}
	switch (fmt) {
	case L32_TOOL_JSON:
		/* json.dumps({"type": "function", "name": ..., "parameters": ...}) */
		rc = l32_buf_puts(out, "{\"type\": \"function\", \"name\": ") == -1 ||
		    l32_pyjson_dump_string(out, c->name, c->name_len, 1) == -1 ||
		    l32_buf_puts(out, ", \"parameters\": ") == -1 ||
		    l32_pyjson_dump(out, c->args, -1, 1) == -1 ||
		    l32_buf_puts(out, "}") == -1 ? -1 : 0;
		break;
	case L32_TOOL_FUNCTION_TAG:
		rc = l32_buf_printf(out, "<function=%s>", c->name) == -1 ||
		    l32_pyjson_dump(out, c->args, -1, 1) == -1 ||
		    l32_buf_puts(out, "</function>") == -1 ? -1 : 0;
		break;
	case L32_TOOL_PYTHON_LIST:
		rc = l32_buf_printf(out, "[%s(", c->name);
		i = 0;
		json_object_foreach(c->args, key, val) {
			if (rc == 0)
				rc = l32_buf_printf(out, "%s%s=", i++ > 0 ? ", " : "", key) == -1 ||
				    l32_pyjson_pyvalue(out, val) == -1 ? -1 : 0;
		}
		if (rc == 0)
			rc = l32_buf_puts(out, ")]");
		break;
	default:
		return l32_err_set(err, L32_ERR_INVALID, "chat: unknown tool prompt format %d",
		    (int)fmt);
	}
done:
	if (rc == -1)
		return l32_err_set(err, L32_ERR_NOMEM,
		    "chat: out of memory (or nesting too deep) writing messages[%zu].tool_calls[%zu]",
		    mi, ci);
	return 0;
}

static void
message(struct meta_out *m, const struct chat_msg *msg, size_t mi,
    const struct l32_chat_opts *o, struct l32_buf *scratch)
{
	size_t i;

	header(m, msg->role == CHAT_TOOL || msg->role == CHAT_IPYTHON ? "ipython" : msg->role_name);
	/* Today's chat_format.py tags only a code_interpreter call; the one
	 * that wrote the 3.2 prompt-format doc tagged every call. */
	if (msg->ncalls > 0 && (o->python_tag_for_all_tool_calls ||
	    is_named(&msg->calls[0], "code_interpreter")))
		special(m, "<|python_tag|>");
	for (i = 0; i < msg->nparts; i++)
		piece(m, msg->parts[i].s, msg->parts[i].n);
	if (msg->has_context) {
		piece(m, "\n\n", 2);
		piece(m, msg->context.s, msg->context.n);
	}
	for (i = 0; i < msg->ncalls && !m->failed; i++) {
		l32_buf_reset(scratch);
		if (encode_call(scratch, &msg->calls[i], o->tool_format, mi, i, m->err) == -1)
			m->failed = -1;
		else
			piece(m, scratch->data, scratch->len);
	}
	special(m, msg->eom ? "<|eom_id|>" : "<|eot_id|>");
}

int
chat_render_meta(const struct l32_tokenizer *tok, const struct chat_dialog *d,
    const struct l32_chat_opts *o, struct l32_buf *prompt, struct l32_tokens *ids,
    struct l32_err *err)
{
	struct meta_out m = { tok, prompt, ids, err, 0 };
	struct l32_buf scratch = { NULL, 0, 0 };
	size_t i;

	special(&m, "<|begin_of_text|>");
	for (i = 0; i < d->n && !m.failed; i++)
		message(&m, &d->msgs[i], i, o, &scratch);
	header(&m, "assistant");
	l32_buf_free(&scratch);
	return m.failed ? -1 : 0;
}
