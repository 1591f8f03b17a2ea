/*
 * fuzz_serve.c - libFuzzer target for what l32-serve reads of an HTTP
 * request itself (libmicrohttpd parses the HTTP): the route of a method
 * and path, the Authorization header against API keys, the Content-Type,
 * the JSON body, the error status and body, and an API key file.
 *
 * The input is lines: method, path, Authorization ("-": absent),
 * Content-Type ("-": absent), then the body (the rest).  The whole input
 * is also read as a key file.  What is checked: statuses are the ones
 * documented, a key is accepted exactly when a plain comparison says so,
 * and every error has a JSON error body.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "l32.h"
#include "prog/l32_prog.h"
#include "prog/l32_serve.h"

static const char KEYS[] = "# test keys\nsk-test-1\n\n  sk-test-2  \n";

/* Takes the next line of data[*off..n) as a NUL-ended string (malloc'd). */
static char *
next_line(const uint8_t *data, size_t n, size_t *off)
{
	size_t i = *off, k;
	char *s;

	while (i < n && data[i] != '\n')
		i++;
	k = i - *off;
	if ((s = malloc(k + 1)) == NULL)
		abort();
	memcpy(s, data + *off, k);
	s[k] = '\0';
	*off = i < n ? i + 1 : n;
	return s;
}

/* The comparison l32_keys_check must agree with. */
static int
plain_check(const char *auth)
{
	const char *t;
	size_t n;

	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return 0;
	for (t = auth + 7; *t == ' '; t++)
		;
	n = strlen(t);
	while (n > 0 && t[n - 1] == ' ')
		n--;
	return (n == 9 && (strncmp(t, "sk-test-1", 9) == 0 || strncmp(t, "sk-test-2", 9) == 0));
}

static void
check_error_body(int status, const struct l32_err *err)
{
	json_t *b = l32_serve_error_body(status, err);
	char *s;

	if (b == NULL || !json_is_object(json_object_get(b, "error")))
		abort();
	if ((s = json_dumps(b, JSON_COMPACT)) == NULL)
		abort();
	free(s);
	json_decref(b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct l32_keys *keys;
	const char *id, *allow, *auth, *ct;
	char *method, *path, *authl, *ctl;
	enum l32_route route;
	struct l32_keys *k;
	struct l32_err err;
	size_t off = 0;
	json_t *body;
	int status;

	if (keys == NULL && (keys = l32_keys_parse(KEYS, sizeof(KEYS) - 1, "keys", &err)) == NULL)
		abort();
	method = next_line(data, size, &off);
	path = next_line(data, size, &off);
	authl = next_line(data, size, &off);
	ctl = next_line(data, size, &off);
	auth = strcmp(authl, "-") == 0 ? NULL : authl;
	ct = strcmp(ctl, "-") == 0 ? NULL : ctl;

	l32_err_clear(&err);
	status = l32_serve_route(method, path, &route, &id, &allow, &err);
	if (status != 0 && status != 404 && status != 405)
		abort();
	if ((status == 0) != (route != L32_ROUTE_NONE) || (status == 405 && allow == NULL))
		abort();
	if ((route == L32_ROUTE_MODEL) != (id != NULL))
		abort();
	if (id != NULL && (id < path || id >= path + strlen(path) || *id == '\0'))
		abort();
	if (status != 0)
		check_error_body(status, &err);

	if (l32_keys_check(keys, auth) != plain_check(auth))
		abort();
	if (l32_keys_check(NULL, auth) != 1)
		abort();
	(void)l32_serve_is_json(ct);

	l32_err_clear(&err);
	body = l32_api_parse_body((const char *)data + off, size - off, "body", NULL, &err);
	if (body != NULL) {
		if (!json_is_object(body))
			abort();
		json_decref(body);
	} else {
		if (err.code == NULL || l32_serve_status(&err) != 400)
			abort();
		check_error_body(400, &err);
	}

	l32_err_clear(&err);
	if ((k = l32_keys_parse((const char *)data, size, "input", &err)) != NULL) {
		if (l32_keys_count(k) == 0)
			abort();
		l32_keys_free(k);
	} else if (err.msg[0] == '\0')
		abort();
	free(method);
	free(path);
	free(authl);
	free(ctl);
	return 0;
}
