/*
 * l32_chat.h - the Llama 3.2 chat formats: OpenAI-style messages and tools to
 * the prompt text and its ids, and the tool calls a model writes back.
 */
#ifndef L32_CHAT_API_H
#define L32_CHAT_API_H

#include <jansson.h>
#include "tokenizer/l32_tokenizer.h"

/* ------------------------------------------------------------ chat format */

enum l32_chat_format {
	L32_CHAT_HF = 0, /* the Llama 3.2 instruct template, as transformers renders it */
	L32_CHAT_META,   /* Meta's chat_format.py (tokenized piecewise) */
};

enum l32_tool_format { /* how Meta's format writes assistant tool calls */
	L32_TOOL_JSON = 0,
	L32_TOOL_FUNCTION_TAG,
	L32_TOOL_PYTHON_LIST,
};

struct l32_chat_opts {
	enum l32_chat_format format;
	const char *date_string;        /* HF "Today Date"; default "26 Jul 2024" */
	int tools_in_user_message;      /* HF; default 1 */
	int add_generation_prompt;      /* HF; default 1 (Meta always adds it) */
	enum l32_tool_format tool_format;            /* Meta */
	int python_tag_for_all_tool_calls;           /* Meta, older chat_format.py */
};

#define L32_DEFAULT_DATE "26 Jul 2024"

void l32_chat_opts_init(struct l32_chat_opts *o);
/* Renders OpenAI-style messages (a JSON array) and tools (a JSON array or
 * NULL) to the prompt text (when prompt is not NULL) and its ids (when ids is
 * not NULL; BOS included; tok may be NULL when ids is), appending to both
 * only on success.  o NULL means the defaults.  Meta's format takes no tool
 * list (describe tools in the system message).  A malformed message is an
 * L32_ERR_INVALID naming its param ("messages[1].content"); a non-text
 * content part an L32_ERR_UNSUPPORTED. */
int l32_chat_render(const struct l32_tokenizer *tok, const json_t *messages,
    const json_t *tools, const struct l32_chat_opts *o, struct l32_buf *prompt,
    struct l32_tokens *ids, struct l32_err *err);

/* Reads the tool calls a Llama 3.x model wrote (text[0..len)): the pythonic
 * list "[f(a=1), g(b="x")]", JSON {"name": ..., "parameters": {...}} (one,
 * several separated by ";" or newlines, or a JSON list), function tags, or
 * built-in "brave_search.call(query=...)", optionally after <|python_tag|>
 * (after which other text is a code_interpreter call).  Returns 1 and sets
 * *calls to an OpenAI tool_calls array ({"id": "call_...", "type":
 * "function", "function": {"name", "arguments": "<JSON text>"}}, ids
 * derived from the text) when the whole text is calls; 0 and NULL when it is
 * ordinary text; -1 when memory runs out. */
int l32_toolcalls_parse(const char *text, size_t len, json_t **calls, struct l32_err *err);

#endif /* L32_CHAT_API_H */
