/*
 * l32.h - the public interface of libcore, shared by every l32 program.
 *
 * Conventions: functions are named l32_<thing>_<action>; objects are opaque
 * and come in _open/_new and _free pairs; a function that can fail returns
 * NULL or -1 and fills a caller-provided struct l32_err with one message that
 * names the file, the field and the value.  libcore never exits: only the
 * programs decide to.
 */
#ifndef L32_H
#define L32_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ errors */

enum l32_err_kind {
	L32_ERR_NONE = 0,
	L32_ERR_IO,          /* open/read/map of a file failed */
	L32_ERR_FORMAT,      /* a file is damaged or not what it claims */
	L32_ERR_UNSUPPORTED, /* valid, but a feature l32 does not implement */
	L32_ERR_NOMEM,       /* allocation failed or a limit was hit */
	L32_ERR_INVALID,     /* a bad argument or request value */
	L32_ERR_CONTEXT,     /* a sequence does not fit the context window */
};

struct l32_err {
	enum l32_err_kind kind;
	char msg[1024];
	char param[128]; /* the request field at fault ("messages[2].role"), or "" */
	const char *code; /* OpenAI-style error code ("context_length_exceeded"), or NULL */
};

/* Sets err (when not NULL) and returns -1, so callers can write
 * `return l32_err_set(err, L32_ERR_FORMAT, "%s: ...", path);`. */
int l32_err_set(struct l32_err *err, enum l32_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int l32_err_vset(struct l32_err *err, enum l32_err_kind kind, const char *fmt, va_list ap);
/* Like l32_err_set, and records the request field at fault. */
int l32_err_param(struct l32_err *err, enum l32_err_kind kind, const char *param,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void l32_err_clear(struct l32_err *err);

/* ----------------------------------------------------------------- buffers */

/* A growable byte string; data is always NUL-terminated for convenience but
 * may hold NUL bytes, so len is authoritative. */
struct l32_buf {
	char *data;
	size_t len, cap;
};

int l32_buf_reserve(struct l32_buf *b, size_t extra);
int l32_buf_append(struct l32_buf *b, const void *p, size_t n);
int l32_buf_puts(struct l32_buf *b, const char *s);
int l32_buf_printf(struct l32_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void l32_buf_reset(struct l32_buf *b);
void l32_buf_free(struct l32_buf *b);

/* A growable list of token ids. */
struct l32_tokens {
	int32_t *ids;
	size_t n, cap;
};

int l32_tokens_push(struct l32_tokens *t, int32_t id);
int l32_tokens_append(struct l32_tokens *t, const int32_t *ids, size_t n);
void l32_tokens_free(struct l32_tokens *t);

/* ----------------------------------------------------------------- unicode */

/* Decodes one UTF-8 scalar at s[0..n); returns its length (1..4) and stores
 * the code point, or returns 0 for an ill-formed sequence (n == 0 too). */
int l32_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Length of the maximal ill-formed subpart at s (>= 1), for replacement. */
size_t l32_utf8_bad_len(const unsigned char *s, size_t n);
/* 1 when s[0..n) is well-formed UTF-8. */
int l32_utf8_valid(const void *s, size_t n);
/* Appends s[0..n) to out, each maximal ill-formed subpart replaced by U+FFFD. */
int l32_utf8_sanitize(struct l32_buf *out, const void *s, size_t n);

/* --------------------------------------------------------------- tokenizer */

struct l32_tokenizer;

/* Reads a tiktoken ranks file (Meta's tokenizer.model). */
struct l32_tokenizer *l32_tokenizer_load_tiktoken(const char *path, struct l32_err *err);
/* Reads a Hugging Face tokenizer.json (byte-level BPE). */
struct l32_tokenizer *l32_tokenizer_load_hf(const char *path, struct l32_err *err);
/* Builds a tokenizer from GGUF vocabulary arrays: token strings in GPT-2
 * byte-level text, their types (1 normal, 3 control, ...) and the merges
 * ("left right").  source names the file for messages. */
struct l32_tokenizer *l32_tokenizer_from_gguf(const char *source,
    const char *const *tokens, const size_t *token_lens, size_t n_tokens,
    const int32_t *token_types, const char *const *merges,
    const size_t *merge_lens, size_t n_merges, struct l32_err *err);
/* Opens a tokenizer.json, a tokenizer.model, or a directory holding one. */
struct l32_tokenizer *l32_tokenizer_open(const char *path, struct l32_err *err);
void l32_tokenizer_free(struct l32_tokenizer *tok);

int32_t l32_tokenizer_n_vocab(const struct l32_tokenizer *tok);
int32_t l32_tokenizer_bos(const struct l32_tokenizer *tok);   /* <|begin_of_text|> */
int32_t l32_tokenizer_eos(const struct l32_tokenizer *tok);   /* <|end_of_text|> */
int32_t l32_tokenizer_eot(const struct l32_tokenizer *tok);   /* <|eot_id|> */
int32_t l32_tokenizer_eom(const struct l32_tokenizer *tok);   /* <|eom_id|> */
/* 1 for ids that end generation: end_of_text, eot, eom. */
int l32_tokenizer_is_stop(const struct l32_tokenizer *tok, int32_t id);
/* 1 for special (control) tokens, ids 128000.. in Llama 3. */
int l32_tokenizer_is_special(const struct l32_tokenizer *tok, int32_t id);
/* Finds a special token by its exact string; -1 when none. */
int32_t l32_tokenizer_special_id(const struct l32_tokenizer *tok, const char *s, size_t n);

/* The raw bytes of a token (a special token's bytes are its name). */
const char *l32_token_bytes(const struct l32_tokenizer *tok, int32_t id, size_t *len);

enum {
	L32_TOKENIZE_SPECIAL = 1 << 0, /* special-token strings become their ids */
	L32_TOKENIZE_BOS     = 1 << 1, /* prepend BOS (never doubled) */
	L32_TOKENIZE_CHUNK   = 1 << 2, /* Meta's 400k/25k code-point chunking */
};

/* Appends the ids of text[0..len) to out.  text should be UTF-8; invalid
 * bytes are tokenized as bytes. */
int l32_tokenize(const struct l32_tokenizer *tok, const char *text, size_t len,
    unsigned flags, struct l32_tokens *out, struct l32_err *err);

/* Appends the bytes of ids to out, as-is (may be invalid UTF-8). Fails on an
 * id out of range, naming it. */
int l32_detokenize_bytes(const struct l32_tokenizer *tok, const int32_t *ids,
    size_t n, struct l32_buf *out, struct l32_err *err);
/* Same, then UTF-8 with replacement (the text a user sees). */
int l32_detokenize(const struct l32_tokenizer *tok, const int32_t *ids,
    size_t n, struct l32_buf *out, struct l32_err *err);

/* Streaming decode: never emits a broken UTF-8 sequence; holds back the bytes
 * of an incomplete one until it completes or proves ill-formed. */
struct l32_decoder {
	unsigned char pend[8];
	size_t npend;
};
void l32_decoder_init(struct l32_decoder *d);
int l32_decoder_push(struct l32_decoder *d, const struct l32_tokenizer *tok,
    int32_t id, struct l32_buf *out, struct l32_err *err);
/* Emits what is held back (as U+FFFD replacements) at the end of a stream. */
int l32_decoder_flush(struct l32_decoder *d, struct l32_buf *out);

/* ------------------------------------------------------------ chat format */

#include <jansson.h>

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

#include "l32_model.h"
#include "l32_filter.h"
#include "l32_gen.h"
#include "l32_tasks.h"
#include "prog/l32_api.h"

#endif /* L32_H */
