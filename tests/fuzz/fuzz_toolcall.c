/*
 * fuzz_toolcall.c - libFuzzer target for the text a model writes and the
 * JSON a request carries: l32_toolcalls_parse must return a well-formed
 * OpenAI tool_calls array or nothing; Python-style json.dumps of any JSON
 * value must read back equal; any messages array renders or fails cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"
#include "chat/pyjson.h"

/* Every call has an id, type "function", a name, and arguments that are
 * the JSON text of an object. */
static void
check_calls(const json_t *calls)
{
	const json_t *c, *f, *args;
	json_t *parsed;
	size_t i;

	if (!json_is_array(calls) || json_array_size(calls) == 0)
		abort();
	json_array_foreach(calls, i, c) {
		f = json_object_get(c, "function");
		args = json_object_get(f, "arguments");
		if (!json_is_string(json_object_get(c, "id")) ||
		    strncmp(json_string_value(json_object_get(c, "id")), "call_", 5) != 0 ||
		    !json_is_string(json_object_get(f, "name")) || !json_is_string(args))
			abort();
		parsed = json_loadb(json_string_value(args), json_string_length(args), JSON_ALLOW_NUL, NULL);
		if (!json_is_object(parsed))
			abort();
		json_decref(parsed);
	}
}

static void
check_dumps(const json_t *v)
{
	struct l32_buf b = { NULL, 0, 0 };
	json_t *back;
	int indent, ascii;

	for (indent = -1; indent <= 4; indent += 5) {
		for (ascii = 0; ascii <= 1; ascii++) {
			l32_buf_reset(&b);
			if (l32_pyjson_dump(&b, v, indent, ascii) == -1)
				continue; /* nested deeper than the writer goes */
			back = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
			if (back == NULL || !json_equal(back, (json_t *)v))
				abort();
			json_decref(back);
		}
	}
	l32_buf_free(&b);
}

static void
check_render(const json_t *v)
{
	struct l32_chat_opts o;
	struct l32_buf p = { NULL, 0, 0 };
	struct l32_err err;
	int f;

	for (f = 0; f < 2; f++) {
		l32_chat_opts_init(&o);
		o.format = f ? L32_CHAT_META : L32_CHAT_HF;
		o.tool_format = (enum l32_tool_format)(json_array_size(v) % 3);
		l32_buf_reset(&p);
		if (l32_chat_render(NULL, v, NULL, &o, &p, NULL, &err) == -1 && err.msg[0] == '\0')
			abort(); /* a failure always says why */
	}
	l32_buf_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct l32_err err;
	json_t *calls, *v;
	int rc;

	rc = l32_toolcalls_parse((const char *)data, size, &calls, &err);
	if (rc == 1)
		check_calls(calls);
	else if (calls != NULL)
		abort();
	json_decref(calls);
	if ((v = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)) != NULL) {
		check_dumps(v);
		check_render(v);
		json_decref(v);
	}
	return 0;
}
