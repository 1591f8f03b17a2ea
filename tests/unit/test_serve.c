/*
 * test_serve.c - what l32-serve reads of a request itself: every route
 * with and without /v1 (404 and 405 with Allow otherwise), API key files
 * and the Bearer check, content types, request bodies (the filters' error
 * codes), and the statuses and bodies of errors.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"
#include "prog/l32_serve.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *method, *path;
	int status;
	enum l32_route route;
	const char *allow;
} routes[] = {
	{ "POST", "/v1/chat/completions", 0, L32_ROUTE_CHAT, NULL },
	{ "POST", "/chat/completions", 0, L32_ROUTE_CHAT, NULL },
	{ "POST", "/chat/completions/", 0, L32_ROUTE_CHAT, NULL },
	{ "POST", "/v1/completions", 0, L32_ROUTE_COMPLETIONS, NULL },
	{ "POST", "/embeddings", 0, L32_ROUTE_EMBEDDINGS, NULL },
	{ "GET", "/v1/models", 0, L32_ROUTE_MODELS, NULL },
	{ "GET", "/v1/models/llama-3.2-1b", 0, L32_ROUTE_MODEL, NULL },
	{ "GET", "/health", 0, L32_ROUTE_HEALTH, NULL },
	{ "HEAD", "/health", 0, L32_ROUTE_HEALTH, NULL },
	{ "GET", "/v1/health", 0, L32_ROUTE_HEALTH, NULL },
	{ "GET", "/v1/chat/completions", 405, L32_ROUTE_NONE, "POST" },
	{ "POST", "/v1/models", 405, L32_ROUTE_NONE, "GET" },
	{ "PUT", "/health", 405, L32_ROUTE_NONE, "GET" },
	{ "POST", "/v1/chat/completionsx", 404, L32_ROUTE_NONE, NULL },
	{ "POST", "/v1", 404, L32_ROUTE_NONE, NULL },
	{ "POST", "/v1//chat/completions", 404, L32_ROUTE_NONE, NULL },
	{ "POST", "/v2/chat/completions", 404, L32_ROUTE_NONE, NULL },
	{ "GET", "/v1/models/", 0, L32_ROUTE_MODELS, NULL },
	{ "GET", "/v1/models/a/b", 404, L32_ROUTE_NONE, NULL },
	{ "GET", "/", 404, L32_ROUTE_NONE, NULL },
};

START_TEST(route)
{
	const char *id, *allow;
	enum l32_route r;
	struct l32_err err;
	int status;

	l32_err_clear(&err);
	status = l32_serve_route(routes[_i].method, routes[_i].path, &r, &id, &allow, &err);
	ck_assert_msg(status == routes[_i].status, "%s %s: %d", routes[_i].method, routes[_i].path, status);
	ck_assert_int_eq(r, routes[_i].route);
	if (routes[_i].allow != NULL)
		ck_assert_str_eq(allow, routes[_i].allow);
	if (status != 0)
		ck_assert_str_eq(err.code, status == 404 ? "unknown_url" : "method_not_allowed");
	if (r == L32_ROUTE_MODEL)
		ck_assert_str_eq(id, "llama-3.2-1b");
}
END_TEST

START_TEST(keys)
{
	static const char text[] = "# the keys\r\n  sk-one  \r\n\n\tsk-two\nsk-three";
	struct l32_keys *k;
	struct l32_err err;

	k = l32_keys_parse(text, sizeof(text) - 1, "keys", &err);
	ck_assert_ptr_nonnull(k);
	ck_assert_uint_eq(l32_keys_count(k), 3);
	ck_assert_int_eq(l32_keys_check(k, "Bearer sk-one"), 1);
	ck_assert_int_eq(l32_keys_check(k, "bearer  sk-two "), 1);
	ck_assert_int_eq(l32_keys_check(k, "Bearer sk-three"), 1);
	ck_assert_int_eq(l32_keys_check(k, "Bearer sk-thre"), 0);
	ck_assert_int_eq(l32_keys_check(k, "Bearer sk-threee"), 0);
	ck_assert_int_eq(l32_keys_check(k, "Bearer sk-onf"), 0);
	ck_assert_int_eq(l32_keys_check(k, "sk-one"), 0);
	ck_assert_int_eq(l32_keys_check(k, "Basic sk-one"), 0);
	ck_assert_int_eq(l32_keys_check(k, "Bearer "), 0);
	ck_assert_int_eq(l32_keys_check(k, NULL), 0);
	ck_assert_int_eq(l32_keys_check(NULL, NULL), 1);
	l32_keys_free(k);

	ck_assert_ptr_null(l32_keys_parse("# none\n\n", 8, "empty", &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "no API key"));
	ck_assert_ptr_null(l32_keys_parse("sk one\n", 7, "spaced", &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "spaced:1"));
	ck_assert_ptr_null(l32_keys_load("/nonexistent/keys", &err));
	ck_assert_int_eq(err.kind, L32_ERR_IO);
}
END_TEST

START_TEST(content_type)
{
	ck_assert_int_eq(l32_serve_is_json(NULL), 1);
	ck_assert_int_eq(l32_serve_is_json("application/json"), 1);
	ck_assert_int_eq(l32_serve_is_json("Application/JSON; charset=utf-8"), 1);
	ck_assert_int_eq(l32_serve_is_json("application/jsonl"), 0);
	ck_assert_int_eq(l32_serve_is_json("application/x-www-form-urlencoded"), 0);
	ck_assert_int_eq(l32_serve_is_json("text/plain"), 0);
	ck_assert_int_eq(l32_serve_is_json(""), 0);
}
END_TEST

static const struct {
	const char *body, *code;
} bodies[] = {
	{ "{\"messages\": [", "invalid_json" },
	{ "[1, 2]", "invalid_type" },
	{ "{\"a\": 1, \"a\": 2}", "invalid_json" },
	{ "{\"a\": \"\xc3\"}", "invalid_encoding" },
	{ "", "invalid_json" },
};

START_TEST(body)
{
	struct l32_err err;
	json_t *b;

	l32_err_clear(&err);
	b = l32_api_parse_body(bodies[_i].body, strlen(bodies[_i].body), "body", NULL, &err);
	ck_assert_ptr_null(b);
	ck_assert_str_eq(err.code, bodies[_i].code);
	ck_assert_int_eq(l32_serve_status(&err), 400);
	b = l32_serve_error_body(400, &err);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "error"), "code")),
	    bodies[_i].code);
	json_decref(b);
}
END_TEST

START_TEST(statuses)
{
	struct l32_err err;
	json_t *b, *e;

	l32_err_set(&err, L32_ERR_INVALID, "no such model");
	err.code = "model_not_found";
	ck_assert_int_eq(l32_serve_status(&err), 404);
	l32_err_set(&err, L32_ERR_CONTEXT, "too long");
	ck_assert_int_eq(l32_serve_status(&err), 400);
	l32_err_set(&err, L32_ERR_UNSUPPORTED, "no");
	ck_assert_int_eq(l32_serve_status(&err), 400);
	l32_err_set(&err, L32_ERR_IO, "shutting down");
	err.code = "unavailable";
	ck_assert_int_eq(l32_serve_status(&err), 503);
	/* a server error says nothing of what went wrong inside */
	l32_err_set(&err, L32_ERR_IO, "/secret/path/model.gguf: read error");
	ck_assert_int_eq(l32_serve_status(&err), 500);
	b = l32_serve_error_body(500, &err);
	e = json_object_get(b, "error");
	ck_assert_str_eq(json_string_value(json_object_get(e, "type")), "server_error");
	ck_assert_ptr_null(strstr(json_string_value(json_object_get(e, "message")), "secret"));
	json_decref(b);
	b = l32_api_parse_body("{\"a\": 1}", 8, "body", NULL, &err);
	ck_assert(json_is_object(b));
	json_decref(b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("serve");
	TCase *tc = tcase_create("requests");
	SRunner *sr;
	int failed;

	tcase_add_loop_test(tc, route, 0, NELEM(routes));
	tcase_add_test(tc, keys);
	tcase_add_test(tc, content_type);
	tcase_add_loop_test(tc, body, 0, NELEM(bodies));
	tcase_add_test(tc, statuses);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
