/* util.c - errors, growable buffers and token lists. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/l32_base.h"

int
l32_err_vset(struct l32_err *err, enum l32_err_kind kind, const char *fmt, va_list ap)
{
	if (err != NULL) {
		err->kind = kind;
		err->code = NULL;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	}
	return -1;
}

int
l32_err_set(struct l32_err *err, enum l32_err_kind kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	l32_err_vset(err, kind, fmt, ap);
	va_end(ap);
	if (err != NULL)
		err->param[0] = '\0';
	return -1;
}

int
l32_err_param(struct l32_err *err, enum l32_err_kind kind, const char *param,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	l32_err_vset(err, kind, fmt, ap);
	va_end(ap);
	if (err != NULL)
		strlcpy(err->param, param != NULL ? param : "", sizeof(err->param));
	return -1;
}

void
l32_err_clear(struct l32_err *err)
{
	err->kind = L32_ERR_NONE;
	err->code = NULL;
	err->msg[0] = '\0';
	err->param[0] = '\0';
}

int
l32_buf_reserve(struct l32_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (extra > SIZE_MAX - b->len - 1)
		return -1;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if ((p = realloc(b->data, cap)) == NULL)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

int
l32_buf_append(struct l32_buf *b, const void *p, size_t n)
{
	if (l32_buf_reserve(b, n) == -1)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
l32_buf_puts(struct l32_buf *b, const char *s)
{
	return l32_buf_append(b, s, strlen(s));
}

int
l32_buf_printf(struct l32_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || l32_buf_reserve(b, (size_t)n) == -1)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void
l32_buf_reset(struct l32_buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

void
l32_buf_free(struct l32_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int
l32_tokens_append(struct l32_tokens *t, const int32_t *ids, size_t n)
{
	size_t cap;
	int32_t *p;

	if (n > SIZE_MAX / sizeof(int32_t) - t->n)
		return -1;
	if (t->n + n > t->cap) {
		cap = t->cap ? t->cap : 16;
		while (cap < t->n + n)
			cap *= 2;
		if ((p = reallocarray(t->ids, cap, sizeof(*p))) == NULL)
			return -1;
		t->ids = p;
		t->cap = cap;
	}
	memcpy(t->ids + t->n, ids, n * sizeof(*ids));
	t->n += n;
	return 0;
}

int
l32_tokens_push(struct l32_tokens *t, int32_t id)
{
	return l32_tokens_append(t, &id, 1);
}

void
l32_tokens_free(struct l32_tokens *t)
{
	free(t->ids);
	t->ids = NULL;
	t->n = t->cap = 0;
}
