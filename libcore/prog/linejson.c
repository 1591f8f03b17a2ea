/*
 * linejson.c - a walk over a request line that jansson refused, member by
 * member, each scalar parsed by jansson itself: it keeps the id,
 * custom_id and metadata met before the fault, so that the error line
 * still carries them, and it tells a line that is valid JSON but for a
 * number jansson cannot hold (an integer past 64 bits, a real past double)
 * from a broken one, so that the number's field can be named.
 */
#include <stdio.h>
#include <string.h>

#include "prog/linejson.h"

/* Containers nested deeper are parsed whole, as one value. */
#define MAX_DEPTH 32

struct walk {
	const char *s;
	size_t n, i;
	int overflow;      /* numbers out of range seen */
	struct l32_line_salvage *out;
};

static void
skip_ws(struct walk *w)
{
	while (w->i < w->n && (w->s[w->i] == ' ' || w->s[w->i] == '\t' ||
	    w->s[w->i] == '\r' || w->s[w->i] == '\n'))
		w->i++;
}

static int
number_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* One value at w->i parsed by jansson (a new reference in *keep, when
 * keep is not NULL).  A number out of range is skipped and noted. */
static int
scalar(struct walk *w, const char *path, json_t **keep)
{
	json_error_t jerr;
	json_t *v;
	size_t start = w->i;

	v = json_loadb(w->s + w->i, w->n - w->i,
	    JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &jerr);
	if (v != NULL) {
		w->i += (size_t)jerr.position;
		if (keep != NULL)
			*keep = v;
		else
			json_decref(v);
		return 0;
	}
	if (json_error_code(&jerr) != json_error_numeric_overflow)
		return -1;
	while (w->i < w->n && number_char(w->s[w->i]))
		w->i++;
	if (w->i == start)  /* the number is inside a container */
		return -1;
	if (w->overflow++ == 0) {
		snprintf(w->out->path, sizeof(w->out->path), "%s", path);
		snprintf(w->out->number, sizeof(w->out->number), "%.*s%s",
		    (int)(w->i - start < 40 ? w->i - start : 40), w->s + start,
		    w->i - start > 40 ? "..." : "");
	}
	return 0;
}

static int value(struct walk *w, const char *path, int depth);

/* A member's path: "key" at the top, "parent.key" below. */
static void
child_path(char *buf, size_t size, const char *parent, const char *key)
{
	if (*parent == '\0')
		snprintf(buf, size, "%.100s", key);
	else
		snprintf(buf, size, "%s.%.100s", parent, key);
}

/* A top-level member that comes back on the error line. */
static json_t **
echo_slot(struct walk *w, int depth, const char *key)
{
	if (depth != 0)
		return NULL;
	if (strcmp(key, "id") == 0)
		return &w->out->id;
	if (strcmp(key, "custom_id") == 0)
		return &w->out->custom_id;
	if (strcmp(key, "metadata") == 0)
		return &w->out->metadata;
	return NULL;
}

static int
member(struct walk *w, const char *path, int depth)
{
	char sub[sizeof(w->out->path)];
	json_t *key = NULL, *v = NULL, **slot;
	size_t at;
	int rc = -1;

	if (w->i >= w->n || w->s[w->i] != '"' || scalar(w, path, &key) == -1)
		goto out;
	skip_ws(w);
	if (w->i >= w->n || w->s[w->i] != ':')
		goto out;
	w->i++;
	skip_ws(w);
	child_path(sub, sizeof(sub), path, json_string_value(key));
	if (depth == 0 && strcmp(json_string_value(key), "body") == 0)
		w->out->has_body = 1;
	if ((slot = echo_slot(w, depth, json_string_value(key))) != NULL) {
		at = w->i;
		if (scalar(w, sub, &v) == 0) {
			if (*slot == NULL)
				*slot = v;
			else
				json_decref(v);
			rc = 0;
			goto out;
		}
		w->i = at;
	}
	rc = value(w, sub, depth + 1);
out:
	json_decref(key);
	return rc;
}

static int
object(struct walk *w, const char *path, int depth)
{
	w->i++;
	skip_ws(w);
	if (w->i < w->n && w->s[w->i] == '}') {
		w->i++;
		return 0;
	}
	for (;;) {
		skip_ws(w);
		if (member(w, path, depth) == -1)
			return -1;
		skip_ws(w);
		if (w->i >= w->n)
			return -1;
		if (w->s[w->i++] == '}')
			return 0;
		if (w->s[w->i - 1] != ',')
			return -1;
	}
}

static int
array(struct walk *w, const char *path, int depth)
{
	char sub[sizeof(w->out->path)];
	size_t k;

	w->i++;
	skip_ws(w);
	if (w->i < w->n && w->s[w->i] == ']') {
		w->i++;
		return 0;
	}
	for (k = 0;; k++) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, k);
		if (value(w, sub, depth + 1) == -1)
			return -1;
		skip_ws(w);
		if (w->i >= w->n)
			return -1;
		if (w->s[w->i++] == ']')
			return 0;
		if (w->s[w->i - 1] != ',')
			return -1;
	}
}

static int
value(struct walk *w, const char *path, int depth)
{
	skip_ws(w);
	if (w->i >= w->n)
		return -1;
	if (w->s[w->i] == '{' && depth < MAX_DEPTH)
		return object(w, path, depth);
	if (w->s[w->i] == '[' && depth < MAX_DEPTH)
		return array(w, path, depth);
	return scalar(w, path, NULL);
}

void
l32_line_salvage(const char *s, size_t n, struct l32_line_salvage *out)
{
	struct walk w = { s, n, 0, 0, out };

	memset(out, 0, sizeof(*out));
	skip_ws(&w);
	out->is_object = w.i < n && s[w.i] == '{';
	if (value(&w, "", 0) == -1)
		return;
	skip_ws(&w);
	out->valid = w.i == n && w.overflow > 0;
}

void
l32_line_salvage_free(struct l32_line_salvage *out)
{
	json_decref(out->id);
	json_decref(out->custom_id);
	json_decref(out->metadata);
	memset(out, 0, sizeof(*out));
}
