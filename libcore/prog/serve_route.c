/*
 * serve_route.c - the parts of an HTTP request l32-serve reads itself:
 * the route of a method and path, the API key of an Authorization header,
 * the content type, the JSON body, and the status and body of an error.
 * libmicrohttpd has parsed the HTTP; nothing here touches a socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "prog/l32_prog.h"
#include "prog/l32_serve.h"

static const struct {
	const char *path;
	const char *method;
	enum l32_route route;
} routes[] = {
	{ "/chat/completions", "POST", L32_ROUTE_CHAT },
	{ "/completions", "POST", L32_ROUTE_COMPLETIONS },
	{ "/embeddings", "POST", L32_ROUTE_EMBEDDINGS },
	{ "/models", "GET", L32_ROUTE_MODELS },
	{ "/health", "GET", L32_ROUTE_HEALTH },
};

/* path[0..n) is name, or name and one slash. */
static int
same_path(const char *path, size_t n, const char *name)
{
	size_t k = strlen(name);

	return strncmp(path, name, k) == 0 && (n == k || (n == k + 1 && path[k] == '/'));
}

static int
route_method(const char *method, const char *want, enum l32_route r, enum l32_route *route,
    const char **allow, struct l32_err *err)
{
	/* HEAD is GET without the body: libmicrohttpd leaves the body out */
	if (strcmp(method, want) == 0 || (strcmp(want, "GET") == 0 && strcmp(method, "HEAD") == 0)) {
		*route = r;
		return 0;
	}
	*allow = want;
	l32_err_set(err, L32_ERR_INVALID, "Method %.16s is not allowed here: use %s", method, want);
	err->code = "method_not_allowed";
	return 405;
}

int
l32_serve_route(const char *method, const char *path, enum l32_route *route,
    const char **id, const char **allow, struct l32_err *err)
{
	size_t i, n;

	*route = L32_ROUTE_NONE;
	*id = NULL;
	*allow = NULL;
	if (strncmp(path, "/v1/", 4) == 0)
		path += 3;
	n = strlen(path);
	for (i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (same_path(path, n, routes[i].path))
			return route_method(method, routes[i].method, routes[i].route, route, allow, err);
	if (strncmp(path, "/models/", 8) == 0 && path[8] != '\0' && strchr(path + 8, '/') == NULL) {
		*id = path + 8;
		return route_method(method, "GET", L32_ROUTE_MODEL, route, allow, err);
	}
	l32_err_set(err, L32_ERR_INVALID, "Unknown request URL: %.16s %.200s", method, path);
	err->code = "unknown_url";
	return 404;
}

/* ------------------------------------------------------------------ keys */

struct l32_keys {
	char **key;
	size_t *len;
	size_t n;
};

void
l32_keys_free(struct l32_keys *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < k->n; i++) {
		explicit_bzero(k->key[i], k->len[i]);
		free(k->key[i]);
	}
	free(k->key);
	free(k->len);
	free(k);
}

static int
keys_add(struct l32_keys *k, const char *s, size_t n)
{
	char **key = reallocarray(k->key, k->n + 1, sizeof(*key));
	size_t *len;

	if (key == NULL)
		return -1;
	k->key = key;
	if ((len = reallocarray(k->len, k->n + 1, sizeof(*len))) == NULL)
		return -1;
	k->len = len;
	if ((k->key[k->n] = malloc(n + 1)) == NULL)
		return -1;
	memcpy(k->key[k->n], s, n);
	k->key[k->n][n] = '\0';
	k->len[k->n++] = n;
	return 0;
}

struct l32_keys *
l32_keys_parse(const char *text, size_t len, const char *source, struct l32_err *err)
{
	struct l32_keys *k = calloc(1, sizeof(*k));
	const char *s = text, *end = text + len, *nl;
	size_t n, i;
	long line = 0;

	if (k == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	for (; s < end; s = nl + 1) {
		line++;
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		n = (size_t)(nl - s);
		while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		while (n > 0 && (*s == ' ' || *s == '\t'))
			s++, n--;
		if (n == 0 || *s == '#')
			continue;
		/* a key is sent in a header: printable ASCII without spaces */
		for (i = 0; i < n; i++)
			if (s[i] <= ' ' || s[i] > '~') {
				l32_err_set(err, L32_ERR_FORMAT, "%s:%ld: a key is printable ASCII "
				    "without spaces (byte %zu is not)", source, line, i + 1);
				l32_keys_free(k);
				return NULL;
			}
		if (keys_add(k, s, n) == -1) {
			l32_err_set(err, L32_ERR_NOMEM, "out of memory");
			l32_keys_free(k);
			return NULL;
		}
	}
	if (k->n == 0) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: no API key in it", source);
		l32_keys_free(k);
		return NULL;
	}
	return k;
}

struct l32_keys *
l32_keys_load(const char *path, struct l32_err *err)
{
	struct l32_buf b = { 0 };
	struct l32_keys *k = NULL;
	char chunk[4096];
	size_t n;
	FILE *fp;

	if ((fp = fopen(path, "r")) == NULL) {
		l32_err_set(err, L32_ERR_IO, "%s: cannot open: %m", path);
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0 && b.len < (1u << 20))
		if (l32_buf_append(&b, chunk, n) == -1)
			break;
	if (ferror(fp))
		l32_err_set(err, L32_ERR_IO, "%s: read error", path);
	else
		k = l32_keys_parse(b.data ? b.data : "", b.len, path, err);
	fclose(fp);
	explicit_bzero(b.data, b.cap);
	l32_buf_free(&b);
	return k;
}

size_t
l32_keys_count(const struct l32_keys *k)
{
	return k != NULL ? k->n : 0;
}

/* 0 when a[0..n) equals key[0..klen), in time that depends on n only. */
static unsigned
differ(const char *a, size_t n, const char *key, size_t klen)
{
	unsigned d = (unsigned)(n != klen);
	size_t i;

	for (i = 0; i < n; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)(klen > 0 ? key[i % klen] : 0);
	return d;
}

int
l32_keys_check(const struct l32_keys *k, const char *authorization)
{
	const char *tok;
	size_t i, n;
	unsigned ok = 0;

	if (k == NULL)
		return 1;
	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return 0;
	for (tok = authorization + 7; *tok == ' '; tok++)
		;
	n = strlen(tok);
	while (n > 0 && tok[n - 1] == ' ')
		n--;
	if (n == 0)
		return 0;
	/* every key is compared, so the time says nothing of which matched */
	for (i = 0; i < k->n; i++)
		ok |= differ(tok, n, k->key[i], k->len[i]) == 0;
	return ok != 0;
}

/* ------------------------------------------------------------------ body */

int
l32_serve_is_json(const char *ct)
{
	size_t n;

	if (ct == NULL)
		return 1;
	while (*ct == ' ')
		ct++;
	n = strcspn(ct, "; \t");
	return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/* ---------------------------------------------------------------- errors */

int
l32_serve_status(const struct l32_err *err)
{
	const char *code = l32_api_error_code(err);

	if (strcmp(code, "model_not_found") == 0)
		return 404;
	if (strcmp(code, "unavailable") == 0)
		return 503;
	switch (err->kind) {
	case L32_ERR_INVALID:
	case L32_ERR_CONTEXT:
	case L32_ERR_UNSUPPORTED:
		return 400;
	default:
		return 500;
	}
}

json_t *
l32_serve_error_body(int status, const struct l32_err *err)
{
	json_t *e;

	if (status >= 500)
		e = json_pack("{s:s, s:s, s:n, s:s}", "message", status == 503 ?
		    "The server is not ready or is shutting down; retry later." :
		    "The server had an error while processing your request.",
		    "type", "server_error", "param", "code", status == 503 ? "unavailable" : "server_error");
	else if ((e = l32_api_error_json(err)) != NULL && status == 429)
		json_object_set_new(e, "type", json_string("rate_limit_error"));
	return e != NULL ? json_pack("{s:o}", "error", e) : NULL;
}
