/*
 * chat.h - the checked form of an OpenAI messages array, shared by the two
 * prompt renderers (chat.c: the Hugging Face template; chat_meta.c: Meta's
 * chat_format.py).  Internal to libcore.
 */
#ifndef L32_CHAT_H
#define L32_CHAT_H

#include <stddef.h>
#include <jansson.h>

#include "chat/l32_chat.h"

enum chat_role {
	CHAT_SYSTEM,
	CHAT_USER,
	CHAT_ASSISTANT,
	CHAT_TOOL,    /* "tool" */
	CHAT_IPYTHON, /* "ipython", Meta's name for the same */
};

/* One text piece of a message: the content string, or one text part of an
 * OpenAI content array.  Points into the request's JSON. */
struct chat_part {
	const char *s;
	size_t n;
};

struct chat_call {
	const char *name; /* function.name, NUL-terminated, not empty */
	size_t name_len;
	json_t *args;     /* function.arguments as an object (own reference) */
};

struct chat_msg {
	enum chat_role role;
	const char *role_name;    /* as the request spells it */
	struct chat_part *parts;  /* content pieces, in order */
	size_t nparts;
	int has_context;          /* user "context" (Meta RAG field) */
	struct chat_part context;
	struct chat_call *calls;  /* assistant tool_calls */
	size_t ncalls;
	int eom;                  /* stop_reason "end_of_message" */
};

struct chat_dialog {
	struct chat_msg *msgs; /* (n) */
	size_t n;
};

/* Checks messages and fills d; on failure returns -1 with an
 * L32_ERR_INVALID (or L32_ERR_UNSUPPORTED) naming the param. */
int chat_dialog_read(const json_t *messages, struct chat_dialog *d, struct l32_err *err);
void chat_dialog_free(struct chat_dialog *d);

/* Appends the concatenated content pieces of m to out. */
int chat_msg_text(const struct chat_msg *m, struct l32_buf *out);

/* Meta's chat_format.py renderer (chat_meta.c): fills prompt and/or ids
 * (either may be NULL; both start empty). */
int chat_render_meta(const struct l32_tokenizer *tok, const struct chat_dialog *d,
    const struct l32_chat_opts *o, struct l32_buf *prompt, struct l32_tokens *ids,
    struct l32_err *err);

#endif /* L32_CHAT_H */
