/*
 * l32_base.h - what every layer of libcore shares: errors (a kind, one message
 * naming the file, the field and the value), growable buffers and token
 * lists, UTF-8 checks.
 *
 * Conventions of the whole library: functions are named l32_<thing>_<action>;
 * objects are opaque and come in _open/_new and _free pairs; a function that
 * can fail returns NULL or -1 and fills a caller-provided struct l32_err.
 * libcore never exits: only the programs decide to.
 */
#ifndef L32_BASE_API_H
#define L32_BASE_API_H

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
	L32_ERR_MODEL,       /* the model computed NaN or infinity (damaged weights) */
	L32_ERR_STOPPED,     /* work stopped on request (SIGINT, SIGTERM): no answer */
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

#endif /* L32_BASE_API_H */
