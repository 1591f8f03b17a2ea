/*
 * api_io.c - what every transport does alike with a request body and
 * with the error object it answers a failed request with.
 */
#include <string.h>

#include "l32.h"

const char *
l32_api_error_code(const struct l32_err *err)
{
	if (err->code != NULL)
		return err->code;
	switch (err->kind) {
	case L32_ERR_CONTEXT: return "context_length_exceeded";
	case L32_ERR_UNSUPPORTED: return "unsupported_value";
	case L32_ERR_NOMEM: return "resource_exhausted";
	default: return "invalid_value";
	}
}

/* Message and param are made valid UTF-8 first: they may quote part of
 * the request cut in the middle of a character (jansson's "near '...'",
 * a "%.40s"), and jansson refuses such strings. */
json_t *
l32_api_error_json(const struct l32_err *err)
{
	struct l32_buf msg = { 0 }, param = { 0 };
	json_t *e = NULL;

	if (l32_utf8_sanitize(&msg, err->msg, strnlen(err->msg, sizeof(err->msg))) == 0 &&
	    l32_utf8_sanitize(&param, err->param, strnlen(err->param, sizeof(err->param))) == 0)
		e = json_pack("{s:s%, s:s, s:o, s:s}", "message", msg.data ? msg.data : "", msg.len,
		    "type", err->kind == L32_ERR_NOMEM ? "server_error" : "invalid_request_error",
		    "param", param.len > 0 ? json_stringn(param.data, param.len) : json_null(),
		    "code", l32_api_error_code(err));
	l32_buf_free(&msg);
	l32_buf_free(&param);
	return e;
}

json_t *
l32_api_parse_body(const char *s, size_t n, const char *what, struct l32_err *err)
{
	json_error_t jerr;
	json_t *obj;
	uint32_t cp;
	size_t i;
	int k;

	if (!l32_utf8_valid(s, n)) {
		for (i = 0; i < n; i += (size_t)k)
			if ((k = l32_utf8_decode((const unsigned char *)s + i, n - i, &cp)) == 0)
				break;
		l32_err_set(err, L32_ERR_INVALID, "%s is not valid UTF-8 (near byte %zu)", what, i + 1);
		err->code = "invalid_encoding";
		return NULL;
	}
	if ((obj = json_loadb(s, n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		l32_err_set(err, L32_ERR_INVALID, "invalid JSON at column %d: %s", jerr.column, jerr.text);
		err->code = "invalid_json";
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		l32_err_set(err, L32_ERR_INVALID, "a request must be a JSON object");
		err->code = "invalid_type";
		return NULL;
	}
	return obj;
}
