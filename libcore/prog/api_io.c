/*
 * api_io.c - what every transport does alike with a request body and
 * with the error object it answers a failed request with.
 */
#include <string.h>

#include "prog/l32_prog.h"
#include "prog/linejson.h"

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
		    "type", err->kind == L32_ERR_NOMEM || err->kind == L32_ERR_MODEL ?
		    "server_error" : "invalid_request_error",
		    "param", param.len > 0 ? json_stringn(param.data, param.len) : json_null(),
		    "code", l32_api_error_code(err));
	l32_buf_free(&msg);
	l32_buf_free(&param);
	return e;
}

/* Why jansson refused s: valid JSON but for a number out of range
 * (invalid_value on that member), or broken JSON.  sv (when not NULL)
 * keeps what was read of it. */
static void
refused(const char *s, size_t n, const json_error_t *jerr, struct l32_line_salvage *out,
    struct l32_err *err)
{
	struct l32_line_salvage sv;

	l32_line_salvage(s, n, &sv);
	if (sv.valid && !sv.is_object) {
		l32_err_set(err, L32_ERR_INVALID, "a request must be a JSON object");
		err->code = "invalid_type";
	} else if (sv.valid)
		l32_err_param(err, L32_ERR_INVALID, sv.path,
		    "%s is %s, which is out of range", sv.path, sv.number);
	else {
		l32_err_set(err, L32_ERR_INVALID, "invalid JSON at column %d: %s", jerr->column, jerr->text);
		err->code = "invalid_json";
	}
	if (out != NULL)
		*out = sv;
	else
		l32_line_salvage_free(&sv);
}

json_t *
l32_api_parse_body(const char *s, size_t n, const char *what, struct l32_line_salvage *sv,
    struct l32_err *err)
{
	json_error_t jerr;
	json_t *obj;
	uint32_t cp;
	size_t i;
	int k;

	if (sv != NULL)
		memset(sv, 0, sizeof(*sv));
	if (!l32_utf8_valid(s, n)) {
		for (i = 0; i < n; i += (size_t)k)
			if ((k = l32_utf8_decode((const unsigned char *)s + i, n - i, &cp)) == 0)
				break;
		l32_err_set(err, L32_ERR_INVALID, "%s is not valid UTF-8 (near byte %zu)", what, i + 1);
		err->code = "invalid_encoding";
		return NULL;
	}
	/* any JSON value: a scalar is the wrong type, not broken JSON */
	obj = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		refused(s, n, &jerr, sv, err);
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
