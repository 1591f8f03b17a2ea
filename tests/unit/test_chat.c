/*
 * test_chat.c - chat prompts and tool calls: every case of
 * $L32_SHARED/llama3/chat-cases.jsonl (prompt bytes and ids), the chat
 * lines of $L32_SHARED/golden/tokenizer.jsonl, the error for each malformed
 * message shape, Python's json.dumps / float repr / str.strip reproduced
 * byte for byte, and the parsing of tool calls a model writes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"
#include "chat/pyjson.h"

static json_t *chat_cases;  /* chat-cases.jsonl, one object per case */
static json_t *golden_chat; /* the "kind": "chat" lines of tokenizer.jsonl */
static struct l32_tokenizer *tok;
static char data_msg[1200]; /* why reference data could not be read */
static char tok_msg[2400];  /* why the tokenizer could not be loaded */

/* ------------------------------------------------------ reference data */

static const char *
shared_dir(void)
{
	const char *d = getenv("L32_SHARED");

	return d != NULL && *d != '\0' ? d : "../shared";
}

/* Reads a JSONL file (lines split on \n only: texts hold U+2028) into an
 * array; with kind, keeps only the lines whose "kind" is that. */
static json_t *
read_jsonl(const char *rel, const char *kind, char *msg, size_t msgsize)
{
	char path[1024];
	struct l32_buf b = { NULL, 0, 0 };
	char chunk[65536];
	json_t *arr, *v;
	json_error_t je;
	size_t got, at, end, line = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", shared_dir(), rel);
	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(msg, msgsize, "reference data missing: cannot open %s "
		    "(set L32_SHARED to the shared reference directory)", path);
		return NULL;
	}
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		l32_buf_append(&b, chunk, got);
	fclose(f);
	arr = json_array();
	for (at = 0; at < b.len; at = end + 1) {
		line++;
		for (end = at; end < b.len && b.data[end] != '\n'; end++)
			;
		if (end == at)
			continue;
		if ((v = json_loadb(b.data + at, end - at, JSON_ALLOW_NUL, &je)) == NULL) {
			snprintf(msg, msgsize, "%s:%zu: %s", path, line, je.text);
			json_decref(arr);
			l32_buf_free(&b);
			return NULL;
		}
		if (kind == NULL || (json_is_string(json_object_get(v, "kind")) &&
		    strcmp(json_string_value(json_object_get(v, "kind")), kind) == 0))
			json_array_append(arr, v);
		json_decref(v);
	}
	l32_buf_free(&b);
	return arr;
}

static void
load_reference(void)
{
	char path[1024];
	struct l32_err err;

	chat_cases = read_jsonl("llama3/chat-cases.jsonl", NULL, data_msg, sizeof(data_msg));
	golden_chat = read_jsonl("golden/tokenizer.jsonl", "chat", tok_msg, sizeof(tok_msg));
	if (golden_chat == NULL)
		golden_chat = json_array(); /* optional */
	snprintf(path, sizeof(path), "%s/llama3/tokenizer.model", shared_dir());
	l32_err_clear(&err);
	if ((tok = l32_tokenizer_load_tiktoken(path, &err)) == NULL)
		snprintf(tok_msg, sizeof(tok_msg), "reference data missing or unreadable: "
		    "tokenizer %s: %s", path, err.msg);
}

/* -------------------------------------------------------------- helpers */

static const char *
str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

/* Options of a chat case; returns its tools (HF only). */
static const json_t *
case_opts(const json_t *c, struct l32_chat_opts *o)
{
	const json_t *v;
	const char *tpf;

	l32_chat_opts_init(o);
	if (strcmp(str(c, "template"), "hf") == 0 || json_object_get(c, "kind") != NULL) {
		o->format = L32_CHAT_HF;
		if (json_is_string(v = json_object_get(c, "date_string")))
			o->date_string = json_string_value(v);
		if ((v = json_object_get(c, "tools_in_user_message")) != NULL)
			o->tools_in_user_message = json_is_true(v);
		if ((v = json_object_get(c, "add_generation_prompt")) != NULL)
			o->add_generation_prompt = json_is_true(v);
		return json_object_get(c, "tools");
	}
	o->format = L32_CHAT_META;
	tpf = str(c, "tool_prompt_format");
	o->tool_format = strcmp(tpf, "python_list") == 0 ? L32_TOOL_PYTHON_LIST :
	    strcmp(tpf, "function_tag") == 0 ? L32_TOOL_FUNCTION_TAG : L32_TOOL_JSON;
	o->python_tag_for_all_tool_calls = json_is_true(json_object_get(c, "python_tag_for_all_tool_calls"));
	return NULL;
}

/* NULL when equal, else a description of the first difference. */
static const char *
bytes_diff(const char *got, size_t glen, const char *want, size_t wlen)
{
	static char msg[600];
	size_t i;

	for (i = 0; i < glen && i < wlen && got[i] == want[i]; i++)
		;
	if (i == glen && i == wlen)
		return NULL;
	snprintf(msg, sizeof(msg), "differ at byte %zu (lengths %zu, want %zu): got \"%.60s\" want \"%.60s\"",
	    i, glen, wlen, got + (i > 20 ? i - 20 : 0), want + (i > 20 ? i - 20 : 0));
	return msg;
}

static const char *
ids_diff(const struct l32_tokens *got, const json_t *want)
{
	static char msg[200];
	size_t i, n = json_array_size(want);

	for (i = 0; i < got->n && i < n; i++)
		if (got->ids[i] != json_integer_value(json_array_get(want, i)))
			break;
	if (i == got->n && i == n)
		return NULL;
	snprintf(msg, sizeof(msg), "ids differ at %zu of %zu (want %zu): got %d want %d", i,
	    got->n, n, i < got->n ? got->ids[i] : -1,
	    i < n ? (int)json_integer_value(json_array_get(want, i)) : -1);
	return msg;
}

/* Renders a case; NULL on success, else what went wrong. */
static const char *
render_case(const json_t *c, int with_ids, struct l32_buf *prompt, struct l32_tokens *ids)
{
	static char msg[1200];
	struct l32_chat_opts o;
	const json_t *tools = case_opts(c, &o);
	struct l32_err err;

	l32_err_clear(&err);
	if (l32_chat_render(with_ids ? tok : NULL, json_object_get(c, "messages"), tools, &o,
	    prompt, with_ids ? ids : NULL, &err) == -1) {
		snprintf(msg, sizeof(msg), "render failed: %s", err.msg);
		return msg;
	}
	return NULL;
}

static const char *
check_case_prompt(const json_t *c)
{
	struct l32_buf p = { NULL, 0, 0 };
	const json_t *want = json_object_get(c, json_object_get(c, "kind") ? "text" : "prompt");
	const char *d;

	if ((d = render_case(c, 0, &p, NULL)) == NULL)
		d = bytes_diff(p.data, p.len, json_string_value(want), json_string_length(want));
	l32_buf_free(&p);
	return d;
}

static const char *
check_case_ids(const json_t *c)
{
	struct l32_buf p = { NULL, 0, 0 };
	struct l32_tokens ids = { NULL, 0, 0 };
	const char *d;

	if (tok == NULL)
		return tok_msg;
	if ((d = render_case(c, 1, &p, &ids)) == NULL)
		d = ids_diff(&ids, json_object_get(c, json_object_get(c, "kind") ? "tokens" : "ids"));
	l32_buf_free(&p);
	l32_tokens_free(&ids);
	return d;
}

/* ------------------------------------------------------ reference cases */

START_TEST(reference_data_present)
{
	ck_assert_msg(chat_cases != NULL, "%s", data_msg);
	ck_assert_msg(json_array_size(chat_cases) >= 38, "chat-cases.jsonl: %zu cases, want 38",
	    json_array_size(chat_cases));
	ck_assert_msg(tok != NULL, "%s", tok_msg);
}
END_TEST

START_TEST(chat_case_prompt)
{
	const json_t *c = json_array_get(chat_cases, (size_t)_i);
	const char *d = check_case_prompt(c);

	ck_assert_msg(d == NULL, "%s (%s): prompt %s", str(c, "id"), str(c, "name"), d);
}
END_TEST

START_TEST(chat_case_ids)
{
	const json_t *c = json_array_get(chat_cases, (size_t)_i);
	const char *d = check_case_ids(c);

	ck_assert_msg(d == NULL, "%s (%s): %s", str(c, "id"), str(c, "name"), d);
}
END_TEST

/* The rendered Meta prompt tokenized in one go with special parsing: what
 * the cases record as ids_prompt_special (or ids where it is the same). */
START_TEST(chat_case_prompt_special)
{
	const json_t *c = json_array_get(chat_cases, (size_t)_i);
	const json_t *want = json_object_get(c, "ids_prompt_special");
	const json_t *prompt = json_object_get(c, "prompt");
	struct l32_tokens ids = { NULL, 0, 0 };
	struct l32_err err;
	const char *d;

	ck_assert_msg(tok != NULL, "%s", tok_msg);
	if (want == NULL)
		want = json_object_get(c, "ids");
	ck_assert(l32_tokenize(tok, json_string_value(prompt), json_string_length(prompt),
	    L32_TOKENIZE_SPECIAL, &ids, &err) == 0);
	d = ids_diff(&ids, want);
	ck_assert_msg(d == NULL, "%s: %s", str(c, "id"), d);
	l32_tokens_free(&ids);
}
END_TEST

START_TEST(golden_chat_line)
{
	const json_t *c = json_array_get(golden_chat, (size_t)_i);
	const char *d = check_case_prompt(c);

	ck_assert_msg(d == NULL, "golden %s: text %s", str(c, "name"), d);
	d = check_case_ids(c);
	ck_assert_msg(d == NULL, "golden %s: %s", str(c, "name"), d);
}
END_TEST

/* Pass counts per category, printed before the checks run. */
static void
print_summary(void)
{
	static const char *const cats[] = { "doc", "meta", "hf" };
	size_t i, k, n[3] = { 0 }, okp[3] = { 0 }, oki[3] = { 0 }, gp = 0, gi = 0;
	const json_t *c;

	if (chat_cases == NULL)
		return;
	for (i = 0; i < json_array_size(chat_cases); i++) {
		c = json_array_get(chat_cases, i);
		for (k = 0; k < 3 && strcmp(str(c, "template"), cats[k]) != 0; k++)
			;
		if (k == 3)
			continue;
		n[k]++;
		okp[k] += check_case_prompt(c) == NULL;
		oki[k] += tok != NULL && check_case_ids(c) == NULL;
	}
	for (i = 0; i < json_array_size(golden_chat); i++) {
		gp += check_case_prompt(json_array_get(golden_chat, i)) == NULL;
		gi += tok != NULL && check_case_ids(json_array_get(golden_chat, i)) == NULL;
	}
	for (k = 0; k < 3; k++)
		printf("chat-cases %-4s: prompt %zu/%zu, ids %zu/%zu\n", cats[k], okp[k], n[k],
		    oki[k], n[k]);
	printf("golden chat   : text %zu/%zu, tokens %zu/%zu\n", gp,
	    json_array_size(golden_chat), gi, json_array_size(golden_chat));
}

/* ------------------------------------------------------ malformed shapes */

#define U1 "{\"role\": \"user\", \"content\": \"hi\"}"
#define CALL(fn) "{\"role\": \"assistant\", \"tool_calls\": [" fn "]}"
#define FN(name, args) "{\"type\": \"function\", \"function\": {\"name\": " name ", \"arguments\": " args "}}"

static const struct {
	const char *messages, *tools;
	enum l32_chat_format format;
	enum l32_err_kind kind;
	const char *param;
} error_cases[] = {
	{ "{\"role\": \"user\"}", NULL, L32_CHAT_HF, L32_ERR_INVALID, "messages" },
	{ "\"hello\"", NULL, L32_CHAT_META, L32_ERR_INVALID, "messages" },
	{ "[]", NULL, L32_CHAT_HF, L32_ERR_INVALID, "messages" },
	{ "[" U1 ", 3]", NULL, L32_CHAT_HF, L32_ERR_INVALID, "messages[1]" },
	{ "[" U1 ", " U1 ", [\"x\"]]", NULL, L32_CHAT_META, L32_ERR_INVALID, "messages[2]" },
	{ "[{\"content\": \"a\"}]", NULL, L32_CHAT_HF, L32_ERR_INVALID, "messages[0].role" },
	{ "[" U1 ", " U1 ", {\"role\": \"robot\", \"content\": \"a\"}]", NULL, L32_CHAT_HF,
	  L32_ERR_INVALID, "messages[2].role" },
	{ "[{\"role\": 5, \"content\": \"a\"}]", NULL, L32_CHAT_META, L32_ERR_INVALID, "messages[0].role" },
	{ "[{\"role\": \"user\"}]", NULL, L32_CHAT_HF, L32_ERR_INVALID, "messages[0].content" },
	{ "[{\"role\": \"user\", \"content\": null}]", NULL, L32_CHAT_HF, L32_ERR_INVALID,
	  "messages[0].content" },
	{ "[{\"role\": \"assistant\", \"content\": null}]", NULL, L32_CHAT_META, L32_ERR_INVALID,
	  "messages[0].content" },
	{ "[{\"role\": \"user\", \"content\": 42}]", NULL, L32_CHAT_HF, L32_ERR_INVALID,
	  "messages[0].content" },
	{ "[{\"role\": \"user\", \"content\": {\"text\": \"a\"}}]", NULL, L32_CHAT_META,
	  L32_ERR_INVALID, "messages[0].content" },
	{ "[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"a\"}, "
	  "{\"type\": \"image_url\", \"image_url\": {\"url\": \"http://x/y.png\"}}]}]", NULL,
	  L32_CHAT_HF, L32_ERR_UNSUPPORTED, "messages[0].content[1].type" },
	{ "[{\"role\": \"user\", \"content\": [\"a\"]}]", NULL, L32_CHAT_HF, L32_ERR_INVALID,
	  "messages[0].content[0]" },
	{ "[{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]", NULL, L32_CHAT_META,
	  L32_ERR_INVALID, "messages[0].content[0].text" },
	{ "[{\"role\": \"user\", \"content\": [{\"text\": \"a\"}]}]", NULL, L32_CHAT_HF,
	  L32_ERR_INVALID, "messages[0].content[0].type" },
	{ "[" U1 ", " CALL(FN("\"a\"", "{}") ", " FN("\"b\"", "{}")) "]", NULL, L32_CHAT_HF,
	  L32_ERR_INVALID, "messages[1].tool_calls" },
	{ "[" U1 ", {\"role\": \"assistant\", \"tool_calls\": {}}]", NULL, L32_CHAT_META,
	  L32_ERR_INVALID, "messages[1].tool_calls" },
	{ "[" U1 ", " CALL("{\"type\": \"function\"}") "]", NULL, L32_CHAT_HF, L32_ERR_INVALID,
	  "messages[1].tool_calls[0].function" },
	{ "[" U1 ", " CALL(FN("\"a\"", "{}") ", {\"function\": {\"arguments\": {}}}") "]", NULL,
	  L32_CHAT_META, L32_ERR_INVALID, "messages[1].tool_calls[1].function.name" },
	{ "[" U1 ", " CALL(FN("\"a\"", "\"{not json\"")) "]", NULL, L32_CHAT_HF,
	  L32_ERR_INVALID, "messages[1].tool_calls[0].function.arguments" },
	{ "[" U1 ", " CALL(FN("\"a\"", "\"[1, 2]\"")) "]", NULL, L32_CHAT_HF,
	  L32_ERR_INVALID, "messages[1].tool_calls[0].function.arguments" },
	{ "[" U1 ", " CALL(FN("\"a\"", "5")) "]", NULL, L32_CHAT_META,
	  L32_ERR_INVALID, "messages[1].tool_calls[0].function.arguments" },
	{ "[" U1 ", " CALL("{\"type\": \"retrieval\", \"function\": {\"name\": \"a\", \"arguments\": {}}}")
	  "]", NULL, L32_CHAT_HF, L32_ERR_UNSUPPORTED, "messages[1].tool_calls[0].type" },
	{ "[{\"role\": \"user\", \"content\": \"a\", \"tool_calls\": [" FN("\"a\"", "{}") "]}]", NULL,
	  L32_CHAT_HF, L32_ERR_INVALID, "messages[0].tool_calls" },
	{ "[" U1 ", {\"role\": \"assistant\", \"content\": \"x\", \"stop_reason\": 3}]", NULL,
	  L32_CHAT_META, L32_ERR_INVALID, "messages[1].stop_reason" },
	{ "[" U1 ", {\"role\": \"assistant\", \"content\": \"x\", \"stop_reason\": \"later\"}]", NULL,
	  L32_CHAT_META, L32_ERR_INVALID, "messages[1].stop_reason" },
	{ "[{\"role\": \"user\", \"content\": \"a\", \"context\": [1]}]", NULL, L32_CHAT_META,
	  L32_ERR_INVALID, "messages[0].context" },
	{ "[" U1 ", " CALL(FN("\"brave_search\"", "{\"q\": \"x\"}")) "]", NULL, L32_CHAT_META,
	  L32_ERR_INVALID, "messages[1].tool_calls[0].function.arguments" },
	{ "[" U1 ", " CALL(FN("\"code_interpreter\"", "{\"code\": 1}")) "]", NULL, L32_CHAT_META,
	  L32_ERR_INVALID, "messages[1].tool_calls[0].function.arguments" },
	{ "[{\"role\": \"system\", \"content\": \"s\"}]", "[]", L32_CHAT_HF, L32_ERR_INVALID,
	  "messages" },
	{ "[" U1 "]", "{\"type\": \"function\"}", L32_CHAT_HF, L32_ERR_INVALID, "tools" },
	{ "[" U1 "]", "[{\"type\": \"function\", \"function\": {\"name\": \"f\"}}, 7]", L32_CHAT_HF,
	  L32_ERR_INVALID, "tools[1]" },
	/* a tool is a named function, in either format */
	{ "[" U1 "]", "[{\"type\": \"function\"}]", L32_CHAT_HF, L32_ERR_INVALID, "tools[0].function" },
	{ "[" U1 "]", "[{\"type\": \"retrieval\"}]", L32_CHAT_META, L32_ERR_INVALID, "tools[0].type" },
	{ "[" U1 "]", "[{\"type\": \"function\", \"function\": {}}]", L32_CHAT_HF, L32_ERR_INVALID,
	  "tools[0].function.name" },
};

START_TEST(malformed_message)
{
	struct l32_chat_opts o;
	struct l32_buf p = { NULL, 0, 0 };
	struct l32_err err;
	json_t *msgs, *tools = NULL;
	int rc;

	l32_chat_opts_init(&o);
	o.format = error_cases[_i].format;
	msgs = json_loads(error_cases[_i].messages, JSON_DECODE_ANY, NULL);
	ck_assert_msg(msgs != NULL, "case %d: bad test JSON", _i);
	if (error_cases[_i].tools != NULL)
		ck_assert((tools = json_loads(error_cases[_i].tools, JSON_DECODE_ANY, NULL)) != NULL);
	l32_buf_puts(&p, "kept");
	l32_err_clear(&err);
	rc = l32_chat_render(NULL, msgs, tools, &o, &p, NULL, &err);
	ck_assert_msg(rc == -1, "case %d (%s): accepted", _i, error_cases[_i].param);
	ck_assert_msg(err.kind == error_cases[_i].kind, "case %d: kind %d, want %d (%s)", _i,
	    (int)err.kind, (int)error_cases[_i].kind, err.msg);
	ck_assert_msg(strcmp(err.param, error_cases[_i].param) == 0,
	    "case %d: param \"%s\", want \"%s\" (%s)", _i, err.param, error_cases[_i].param, err.msg);
	ck_assert_msg(strncmp(err.msg, error_cases[_i].param, strlen(error_cases[_i].param)) == 0,
	    "case %d: message does not name the field: %s", _i, err.msg);
	ck_assert_str_eq(p.data, "kept"); /* the caller's buffer is untouched */
	json_decref(msgs);
	json_decref(tools);
	l32_buf_free(&p);
}
END_TEST

/* ---------------------------------------------------------------- pyjson */

/* Expected outputs written by Python 3's json.dumps: default separators with
 * ensure_ascii on, the same with it off, and indent=4 with it off. */
static const struct {
	const char *in, *ascii, *utf8, *indent4;
} dumps_cases[] = {
	{ "{\"a\": 1, \"b\": [1, 2.5, -0.0, 1e16, 1e-05, 0.1, 123456789012345678], \"c\": {\"d\": null, \"e\": true, \"f\": false}}",
	    "{\"a\": 1, \"b\": [1, 2.5, -0.0, 1e+16, 1e-05, 0.1, 123456789012345678], \"c\": {\"d\": null, \"e\": true, \"f\": false}}",
	    "{\"a\": 1, \"b\": [1, 2.5, -0.0, 1e+16, 1e-05, 0.1, 123456789012345678], \"c\": {\"d\": null, \"e\": true, \"f\": false}}",
	    "{\n    \"a\": 1,\n    \"b\": [\n        1,\n        2.5,\n        -0.0,\n        1e+16,\n        1e-05,\n        0.1,\n        123456789012345678\n    ],\n    \"c\": {\n        \"d\": null,\n        \"e\": true,\n        \"f\": false\n    }\n}" },
	{ "{\"empty_obj\": {}, \"empty_arr\": [], \"nested\": [[], {}, [[]]]}",
	    "{\"empty_obj\": {}, \"empty_arr\": [], \"nested\": [[], {}, [[]]]}",
	    "{\"empty_obj\": {}, \"empty_arr\": [], \"nested\": [[], {}, [[]]]}",
	    "{\n    \"empty_obj\": {},\n    \"empty_arr\": [],\n    \"nested\": [\n        [],\n        {},\n        [\n            []\n        ]\n    ]\n}" },
	{ "\"M\u00fcnchen \U0001f600 \\u0000 \\u007f \\u001f \\\" \\\\ / \\b\\f\\n\\r\\t \u2028\"",
	    "\"M\\u00fcnchen \\ud83d\\ude00 \\u0000 \\u007f \\u001f \\\" \\\\ / \\b\\f\\n\\r\\t \\u2028\"",
	    "\"M\u00fcnchen \U0001f600 \\u0000 \x7f \\u001f \\\" \\\\ / \\b\\f\\n\\r\\t \u2028\"",
	    "\"M\u00fcnchen \U0001f600 \\u0000 \x7f \\u001f \\\" \\\\ / \\b\\f\\n\\r\\t \u2028\"" },
	{ "[1.0, 100.0, 1e22, 5e-324, 1.7976931348623157e308, 0.30000000000000004, 2.5e-05, 1000000000000000.0, 1e15, 12345.678, -1.5e-10]",
	    "[1.0, 100.0, 1e+22, 5e-324, 1.7976931348623157e+308, 0.30000000000000004, 2.5e-05, 1000000000000000.0, 1000000000000000.0, 12345.678, -1.5e-10]",
	    "[1.0, 100.0, 1e+22, 5e-324, 1.7976931348623157e+308, 0.30000000000000004, 2.5e-05, 1000000000000000.0, 1000000000000000.0, 12345.678, -1.5e-10]",
	    "[\n    1.0,\n    100.0,\n    1e+22,\n    5e-324,\n    1.7976931348623157e+308,\n    0.30000000000000004,\n    2.5e-05,\n    1000000000000000.0,\n    1000000000000000.0,\n    12345.678,\n    -1.5e-10\n]" },
	{ "{\"zebra\": 1, \"apple\": 2, \"Mango\": {\"z\": [1, {\"y\": \"\u00e9\"}]}}",
	    "{\"zebra\": 1, \"apple\": 2, \"Mango\": {\"z\": [1, {\"y\": \"\\u00e9\"}]}}",
	    "{\"zebra\": 1, \"apple\": 2, \"Mango\": {\"z\": [1, {\"y\": \"\u00e9\"}]}}",
	    "{\n    \"zebra\": 1,\n    \"apple\": 2,\n    \"Mango\": {\n        \"z\": [\n            1,\n            {\n                \"y\": \"\u00e9\"\n            }\n        ]\n    }\n}" },
	{ "[]",
	    "[]",
	    "[]",
	    "[]" },
	{ "{}",
	    "{}",
	    "{}",
	    "{}" },
	{ "\"x\"",
	    "\"x\"",
	    "\"x\"",
	    "\"x\"" },
	{ "-5",
	    "-5",
	    "-5",
	    "-5" },
	{ "null",
	    "null",
	    "null",
	    "null" },
};

START_TEST(pyjson_dumps)
{
	struct l32_buf b = { NULL, 0, 0 };
	json_error_t je;
	json_t *v = json_loads(dumps_cases[_i].in, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	const char *d;

	ck_assert_msg(v != NULL, "case %d: %s", _i, je.text);
	ck_assert(l32_pyjson_dump(&b, v, -1, 1) == 0);
	d = bytes_diff(b.data, b.len, dumps_cases[_i].ascii, strlen(dumps_cases[_i].ascii));
	ck_assert_msg(d == NULL, "case %d ensure_ascii: %s", _i, d);
	l32_buf_reset(&b);
	ck_assert(l32_pyjson_dump(&b, v, -1, 0) == 0);
	d = bytes_diff(b.data, b.len, dumps_cases[_i].utf8, strlen(dumps_cases[_i].utf8));
	ck_assert_msg(d == NULL, "case %d utf-8: %s", _i, d);
	l32_buf_reset(&b);
	ck_assert(l32_pyjson_dump(&b, v, 4, 0) == 0);
	d = bytes_diff(b.data, b.len, dumps_cases[_i].indent4, strlen(dumps_cases[_i].indent4));
	ck_assert_msg(d == NULL, "case %d indent=4: %s", _i, d);
	json_decref(v);
	l32_buf_free(&b);
}
END_TEST

/* repr(float) in Python 3. */
static const struct {
	double d;
	const char *repr;
} repr_cases[] = {
	{ 0.1, "0.1" },
	{ 0.3333333333333333, "0.3333333333333333" },
	{ 0.6666666666666666, "0.6666666666666666" },
	{ 1e-07, "1e-07" },
	{ 1.23e-18, "1.23e-18" },
	{ 9007199254740992.0, "9007199254740992.0" },
	{ 1e+16, "1e+16" },
	{ 1.2345678901234567e+19, "1.2345678901234567e+19" },
	{ 0.5, "0.5" },
	{ 1e+100, "1e+100" },
	{ 4.35, "4.35" },
	{ 2.675, "2.675" },
	{ -2.5, "-2.5" },
	{ 0.0001, "0.0001" },
	{ 1e+23, "1e+23" },
	{ 5e-324, "5e-324" },
	{ 2.2250738585072014e-308, "2.2250738585072014e-308" },
	{ 1000000000000000.0, "1000000000000000.0" },
	{ 123456789.0, "123456789.0" },
	{ -0.0, "-0.0" },
	{ 0.0, "0.0" },
};

START_TEST(pyjson_float_repr)
{
	struct l32_buf b = { NULL, 0, 0 };

	ck_assert(l32_pyjson_float_repr(&b, repr_cases[_i].d) == 0);
	ck_assert_str_eq(b.data, repr_cases[_i].repr);
	l32_buf_free(&b);
}
END_TEST

START_TEST(pyjson_python_values)
{
	struct l32_buf b = { NULL, 0, 0 };
	json_t *v = json_loads("{\"city\": \"Seattle\", \"days\": 3, \"alerts\": true, "
	    "\"off\": false, \"hours\": [6, 12], \"extra\": null, \"ratio\": 0.5, \"big\": 1e20, "
	    "\"opts\": {\"a\": 1, \"b\": \"x\"}, \"q\": \"say \\\"hi\\\"\", \"e\": []}", 0, NULL);
	const char *key;
	json_t *val;
	int first = 1;

	/* Meta's format_value: raw text in double quotes, str() for the rest,
	 * dicts as {k=v}. */
	json_object_foreach(v, key, val) {
		l32_buf_printf(&b, "%s%s=", first ? "" : ", ", key);
		ck_assert(l32_pyjson_pyvalue(&b, val) == 0);
		first = 0;
	}
	ck_assert_str_eq(b.data, "city=\"Seattle\", days=3, alerts=True, off=False, "
	    "hours=[6, 12], extra=None, ratio=0.5, big=1e+20, opts={a=1, b=\"x\"}, "
	    "q=\"say \"hi\"\", e=[]");
	json_decref(v);
	l32_buf_free(&b);
}
END_TEST

START_TEST(pyjson_strip)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "  a b \t\n", "a b" },
		{ "\u3000x\u3000", "x" },            /* ideographic space */
		{ "\x1c" "x\x1f\x0b", "x" },         /* isspace(), not regex \s */
		{ "\u200bx\u200b", "\u200bx\u200b" }, /* ZWSP is not a space */
		{ "\xc2\x85x\xc2\xa0", "x" },          /* NEL, NBSP */
		{ "\u2028\u2029x\u202f\u205f", "x" },
		{ "x\xe3", "x\xe3" },                  /* a broken tail stays */
		{ "", "" },
		{ " \r\n ", "" },
	};
	size_t k, n;
	const char *s;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		n = strlen(cases[k].in);
		s = l32_pyjson_strip(cases[k].in, &n);
		ck_assert_msg(n == strlen(cases[k].out) && memcmp(s, cases[k].out, n) == 0,
		    "strip case %zu", k);
	}
}
END_TEST

/* ------------------------------------------------------------ tool calls */

static const struct {
	const char *text;
	const char *name[3], *args[3];
} call_cases[] = {
	{ "[get_weather(city=\"San Francisco\", metric=\"celsius\")]",
	  { "get_weather" }, { "{\"city\": \"San Francisco\", \"metric\": \"celsius\"}" } },
	{ "[get_weather(city='Paris', days=3), get_time(tz=\"Europe/Paris\")]",
	  { "get_weather", "get_time" }, { "{\"city\": \"Paris\", \"days\": 3}", "{\"tz\": \"Europe/Paris\"}" } },
	{ "<|python_tag|>[f(x=True, y=None, z=[1, 2.5, -3, 1e3], w={'a': 'b', 2: (1, 2)}, "
	  "s='it\\'s \\n \"q\" \\u00e9 \\x41')]",
	  { "f" }, { "{\"x\": true, \"y\": null, \"z\": [1, 2.5, -3, 1000.0], \"w\": {\"a\": \"b\", "
	  "\"2\": [1, 2]}, \"s\": \"it's \\n \\\"q\\\" \u00e9 A\"}" } },
	{ "  \n{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}\n",
	  { "get_weather" }, { "{\"city\": \"Paris\"}" } },
	{ "{\"type\": \"function\", \"name\": \"get_weather\", \"parameters\": "
	  "{\"city\": \"M\\u00fcnchen\", \"n\": 1.0}}",
	  { "get_weather" }, { "{\"city\": \"M\u00fcnchen\", \"n\": 1.0}" } },
	{ "{\"name\": \"a\", \"arguments\": {\"x\": 1}}; {\"name\": \"b\", \"parameters\": {}}",
	  { "a", "b" }, { "{\"x\": 1}", "{}" } },
	{ "{\"name\": \"a\", \"parameters\": {\"x\": 1}}\n{\"name\": \"b\", \"parameters\": {\"y\": [true, null]}}",
	  { "a", "b" }, { "{\"x\": 1}", "{\"y\": [true, null]}" } },
	{ "[{\"name\": \"a\", \"parameters\": {\"x\": 1}}, {\"name\": \"b\", \"parameters\": {\"y\": 2}}]",
	  { "a", "b" }, { "{\"x\": 1}", "{\"y\": 2}" } },
	{ "<|python_tag|>{\"name\": \"a\", \"parameters\": \"{\\\"x\\\": 1}\"}<|eom_id|>",
	  { "a" }, { "{\"x\": 1}" } },
	{ "<function=get_stock_price>{\"ticker\": \"META\"}</function>",
	  { "get_stock_price" }, { "{\"ticker\": \"META\"}" } },
	{ "<function=a>{\"x\": 1}</function>\n<function=b>{}</function>",
	  { "a", "b" }, { "{\"x\": 1}", "{}" } },
	{ "<|python_tag|>brave_search.call(query=\"Nobel 2023\")",
	  { "brave_search" }, { "{\"query\": \"Nobel 2023\"}" } },
	{ "<|python_tag|>print(2 + 2)", { "code_interpreter" }, { "{\"code\": \"print(2 + 2)\"}" } },
	{ "[get_time()]", { "get_time" }, { "{}" } },
	{ "[f(a=\"\"\"multi\nline\"\"\", b=r'\\d+', c=0x1F, d=-0.5, e=1_000, g=.5, h=5.)]",
	  { "f" }, { "{\"a\": \"multi\\nline\", \"b\": \"\\\\d+\", \"c\": 31, \"d\": -0.5, "
	  "\"e\": 1000, \"g\": 0.5, \"h\": 5.0}" } },
	{ "[f(a=\"x\" 'y', )]", { "f" }, { "{\"a\": \"xy\"}" } },
	{ "[get-weather(city=\"Oslo\")]", { "get-weather" }, { "{\"city\": \"Oslo\"}" } },
	{ "[f(\n    a=1,\n    b=[],\n)]", { "f" }, { "{\"a\": 1, \"b\": []}" } },
};

/* Text that is not (only) tool calls. */
static const char *const not_calls[] = {
	"Hello! How can I help?",
	"[1, 2, 3]",
	"[get_weather(city=\"Paris\")] and then more",
	"Call [get_weather(city=\"Paris\")]",
	"[get_weather(\"Paris\")]",
	"[get_weather(city=paris)]",
	"{\"name\": \"Bob\", \"age\": 3}",
	"{\"name\": \"x\", \"parameters\": [1]}",
	"{\"name\": 5, \"parameters\": {}}",
	"[]",
	"",
	"   \n",
	"[get_weather(city=\"Paris\"]",
	"[f(a=1, a=2)]",
	"{\"name\": \"a\", \"parameters\": {}} trailing words",
	"<|python_tag|>",
	"<function=x>not json</function>",
	"The answer is {\"name\": \"a\", \"parameters\": {}}",
	"[f(a=1) g(b=2)]",
	"[f(a=007)]",
	"[f(a='unterminated)]",
	"[f(a=\"\\ud800\")]",
	"[f(a=1e999)]",
	"{\"name\": \"a\", \"parameters\": {}",
	"[f(a=[1, 2)]",
	"[f(a={1, 2})]",
	"[f(a=g(b=1))]",
	"print(2 + 2)",
	"<|eot_id|>",
};

START_TEST(toolcall_parse)
{
	struct l32_err err;
	json_t *calls, *c;
	size_t k, n = 0;
	const char *text = call_cases[_i].text;

	while (n < 3 && call_cases[_i].name[n] != NULL)
		n++;
	ck_assert_msg(l32_toolcalls_parse(text, strlen(text), &calls, &err) == 1,
	    "case %d not read as tool calls: %s", _i, text);
	ck_assert_msg(json_array_size(calls) == n, "case %d: %zu calls, want %zu", _i,
	    json_array_size(calls), n);
	for (k = 0; k < n; k++) {
		c = json_array_get(calls, k);
		ck_assert_str_eq(str(c, "type"), "function");
		ck_assert_msg(strncmp(str(c, "id"), "call_", 5) == 0, "id %s", str(c, "id"));
		ck_assert_str_eq(str(json_object_get(c, "function"), "name"), call_cases[_i].name[k]);
		ck_assert_str_eq(str(json_object_get(c, "function"), "arguments"), call_cases[_i].args[k]);
	}
	json_decref(calls);
}
END_TEST

START_TEST(toolcall_not_calls)
{
	struct l32_err err;
	json_t *calls = (json_t *)1;
	const char *text = not_calls[_i];

	ck_assert_msg(l32_toolcalls_parse(text, strlen(text), &calls, &err) == 0,
	    "read as tool calls: %s", text);
	ck_assert(calls == NULL);
}
END_TEST

START_TEST(toolcall_ids_deterministic)
{
	const char *t1 = call_cases[1].text, *t2 = call_cases[0].text;
	json_t *a, *b, *c;
	struct l32_err err;

	ck_assert(l32_toolcalls_parse(t1, strlen(t1), &a, &err) == 1);
	ck_assert(l32_toolcalls_parse(t1, strlen(t1), &b, &err) == 1);
	ck_assert(l32_toolcalls_parse(t2, strlen(t2), &c, &err) == 1);
	ck_assert(json_equal(a, b));
	ck_assert_str_ne(str(json_array_get(a, 0), "id"), str(json_array_get(a, 1), "id"));
	ck_assert_str_ne(str(json_array_get(a, 0), "id"), str(json_array_get(c, 0), "id"));
	json_decref(a);
	json_decref(b);
	json_decref(c);
}
END_TEST

/* A parsed call, rendered back into a prompt, reads the same. */
START_TEST(toolcall_round_trip)
{
	const char *out = "[get_weather(city=\"Seattle\", days=3, alerts=True, hours=[6, 12], extra=None)]";
	struct l32_chat_opts o;
	struct l32_buf p = { NULL, 0, 0 };
	struct l32_err err;
	json_t *calls, *msgs;
	const char *tail;

	ck_assert(l32_toolcalls_parse(out, strlen(out), &calls, &err) == 1);
	msgs = json_pack("[{s:s,s:s},{s:s,s:s,s:O}]", "role", "user", "content", "q",
	    "role", "assistant", "content", "", "tool_calls", calls);
	l32_chat_opts_init(&o);
	o.format = L32_CHAT_META;
	o.tool_format = L32_TOOL_PYTHON_LIST;
	ck_assert(l32_chat_render(NULL, msgs, NULL, &o, &p, NULL, &err) == 0);
	tail = strstr(p.data, "<|end_header_id|>\n\n[");
	ck_assert(tail != NULL);
	ck_assert(strncmp(tail + strlen("<|end_header_id|>\n\n"), out, strlen(out)) == 0);
	json_decref(calls);
	json_decref(msgs);
	l32_buf_free(&p);
}
END_TEST

/* ------------------------------------------------------ render behaviour */

static char *
render_str(const char *messages, const char *tools, const struct l32_chat_opts *o)
{
	struct l32_buf p = { NULL, 0, 0 };
	struct l32_err err;
	json_t *m = json_loads(messages, 0, NULL), *t = NULL;

	ck_assert_msg(m != NULL, "bad test JSON");
	if (tools != NULL)
		t = json_loads(tools, 0, NULL);
	l32_err_clear(&err);
	ck_assert_msg(l32_chat_render(NULL, m, t, o, &p, NULL, &err) == 0, "render: %s", err.msg);
	json_decref(m);
	json_decref(t);
	return p.data;
}

START_TEST(content_parts_concatenate)
{
	struct l32_chat_opts o;
	char *a, *b;
	int f;

	for (f = 0; f < 2; f++) {
		l32_chat_opts_init(&o);
		o.format = f ? L32_CHAT_META : L32_CHAT_HF;
		a = render_str("[{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \" Hello, \"}, "
		    "{\"type\": \"text\", \"text\": \"world \"}]}]", NULL, &o);
		b = render_str("[{\"role\": \"user\", \"content\": \" Hello, world \"}]", NULL, &o);
		ck_assert_str_eq(a, b);
		free(a);
		free(b);
	}
}
END_TEST

START_TEST(arguments_as_string)
{
	struct l32_chat_opts o;
	char *a, *b;
	int f;

	for (f = 0; f < 4; f++) {
		l32_chat_opts_init(&o);
		o.format = f ? L32_CHAT_META : L32_CHAT_HF;
		o.tool_format = f == 1 ? L32_TOOL_JSON : f == 2 ? L32_TOOL_FUNCTION_TAG : L32_TOOL_PYTHON_LIST;
		a = render_str("[" U1 ", " CALL(FN("\"f\"", "\"{\\\"x\\\": 1.5, \\\"y\\\": \\\"\u00e9\\\"}\"")) "]", NULL, &o);
		b = render_str("[" U1 ", " CALL(FN("\"f\"", "{\"x\": 1.5, \"y\": \"\u00e9\"}")) "]", NULL, &o);
		ck_assert_str_eq(a, b);
		free(a);
		free(b);
	}
}
END_TEST

START_TEST(meta_tool_formats)
{
	static const struct {
		enum l32_tool_format f;
		const char *call;
	} want[] = {
		{ L32_TOOL_JSON, "{\"type\": \"function\", \"name\": \"f\", \"parameters\": "
		  "{\"q\": \"\\u00e9\\ud83d\\ude00\", \"n\": [1, 2.0], \"o\": {}}}" },
		{ L32_TOOL_FUNCTION_TAG, "<function=f>{\"q\": \"\\u00e9\\ud83d\\ude00\", \"n\": [1, 2.0], \"o\": {}}</function>" },
		{ L32_TOOL_PYTHON_LIST, "[f(q=\"\u00e9\U0001f600\", n=[1, 2.0], o={})]" },
	};
	struct l32_chat_opts o;
	char *p, expect[512];
	size_t k;

	for (k = 0; k < 3; k++) {
		l32_chat_opts_init(&o);
		o.format = L32_CHAT_META;
		o.tool_format = want[k].f;
		p = render_str("[" U1 ", {\"role\": \"assistant\", \"content\": \"\", \"stop_reason\": \"end_of_message\", "
		    "\"tool_calls\": [" FN("\"f\"", "{\"q\": \"\u00e9\U0001f600\", \"n\": [1, 2.0], \"o\": {}}") "]}]", NULL, &o);
		snprintf(expect, sizeof(expect), "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi"
		    "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n%s<|eom_id|>"
		    "<|start_header_id|>assistant<|end_header_id|>\n\n", want[k].call);
		ck_assert_str_eq(p, expect);
		free(p);
	}
}
END_TEST

START_TEST(hf_defaults_and_empty_tools)
{
	char *p;

	/* NULL options: the HF template with the fixed default date. */
	p = render_str("[" U1 "]", NULL, NULL);
	ck_assert_str_eq(p, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
	    "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
	    "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
	    "<|start_header_id|>assistant<|end_header_id|>\n\n");
	free(p);
	/* An empty tools array is still "tools given" to the template. */
	p = render_str("[" U1 "]", "[]", NULL);
	ck_assert_str_eq(p, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
	    "Environment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
	    "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, "
	    "please respond with a JSON for a function call with its proper arguments that best "
	    "answers the given prompt.\n\nRespond in the format {\"name\": function name, "
	    "\"parameters\": dictionary of argument name and its value}.Do not use variables.\n\n"
	    "hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
	free(p);
	/* null tools and empty tool_calls are absent ones. */
	p = render_str("[" U1 ", {\"role\": \"assistant\", \"content\": \" ok \", \"tool_calls\": []}]",
	    NULL, NULL);
	ck_assert(strstr(p, "<|start_header_id|>assistant<|end_header_id|>\n\nok<|eot_id|>") != NULL);
	free(p);
}
END_TEST

START_TEST(appends_and_needs_tokenizer_for_ids)
{
	struct l32_buf p = { NULL, 0, 0 };
	struct l32_tokens ids = { NULL, 0, 0 };
	struct l32_err err;
	json_t *m = json_loads("[" U1 "]", 0, NULL);

	l32_buf_puts(&p, "X");
	ck_assert(l32_chat_render(NULL, m, NULL, NULL, &p, NULL, &err) == 0);
	ck_assert(strncmp(p.data, "X<|begin_of_text|>", 18) == 0);
	ck_assert(l32_chat_render(NULL, m, NULL, NULL, NULL, &ids, &err) == -1);
	ck_assert_int_eq(err.kind, L32_ERR_INVALID);
	if (tok != NULL) {
		ck_assert(l32_tokens_push(&ids, 7) == 0);
		ck_assert(l32_chat_render(tok, m, NULL, NULL, NULL, &ids, &err) == 0);
		ck_assert_int_eq(ids.ids[0], 7);
		ck_assert_int_eq(ids.ids[1], 128000);
	}
	json_decref(m);
	l32_buf_free(&p);
	l32_tokens_free(&ids);
}
END_TEST

/* Meta: pieces never merge across boundaries, special strings in content
 * stay text; HF: they become special tokens. */
START_TEST(meta_piecewise_ids)
{
	struct l32_chat_opts o;
	struct l32_tokens ids = { NULL, 0, 0 };
	struct l32_err err;
	json_t *m = json_loads("[{\"role\": \"user\", \"content\": \"<|eot_id|>\"}]", 0, NULL);
	size_t k, n_eot = 0;

	ck_assert_msg(tok != NULL, "%s", tok_msg);
	l32_chat_opts_init(&o);
	o.format = L32_CHAT_META;
	ck_assert(l32_chat_render(tok, m, NULL, &o, NULL, &ids, &err) == 0);
	for (k = 0; k < ids.n; k++)
		n_eot += ids.ids[k] == 128009;
	ck_assert_int_eq(n_eot, 1);
	ids.n = 0;
	o.format = L32_CHAT_HF;
	ck_assert(l32_chat_render(tok, m, NULL, &o, NULL, &ids, &err) == 0);
	for (n_eot = 0, k = 0; k < ids.n; k++)
		n_eot += ids.ids[k] == 128009;
	ck_assert_int_eq(n_eot, 3);
	json_decref(m);
	l32_tokens_free(&ids);
}
END_TEST

/* ------------------------------------------------------------------ main */

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

int
main(void)
{
	Suite *s = suite_create("chat");
	TCase *ref = tcase_create("reference"), *shapes = tcase_create("shapes");
	TCase *py = tcase_create("pyjson"), *calls = tcase_create("toolcalls");
	TCase *beh = tcase_create("render");
	SRunner *sr;
	int failed, ncases;

	load_reference();
	print_summary();
	ncases = chat_cases != NULL ? (int)json_array_size(chat_cases) : 0;
	tcase_set_timeout(ref, 30);
	tcase_add_test(ref, reference_data_present);
	tcase_add_loop_test(ref, chat_case_prompt, 0, ncases);
	tcase_add_loop_test(ref, chat_case_ids, 0, ncases);
	tcase_add_loop_test(ref, chat_case_prompt_special, 0, ncases);
	tcase_add_loop_test(ref, golden_chat_line, 0, (int)json_array_size(golden_chat));
	tcase_add_loop_test(shapes, malformed_message, 0, NELEM(error_cases));
	tcase_add_loop_test(py, pyjson_dumps, 0, NELEM(dumps_cases));
	tcase_add_loop_test(py, pyjson_float_repr, 0, NELEM(repr_cases));
	tcase_add_test(py, pyjson_python_values);
	tcase_add_test(py, pyjson_strip);
	tcase_add_loop_test(calls, toolcall_parse, 0, NELEM(call_cases));
	tcase_add_loop_test(calls, toolcall_not_calls, 0, NELEM(not_calls));
	tcase_add_test(calls, toolcall_ids_deterministic);
	tcase_add_test(calls, toolcall_round_trip);
	tcase_add_test(beh, content_parts_concatenate);
	tcase_add_test(beh, arguments_as_string);
	tcase_add_test(beh, meta_tool_formats);
	tcase_add_test(beh, hf_defaults_and_empty_tools);
	tcase_add_test(beh, appends_and_needs_tokenizer_for_ids);
	tcase_add_test(beh, meta_piecewise_ids);
	suite_add_tcase(s, ref);
	suite_add_tcase(s, shapes);
	suite_add_tcase(s, py);
	suite_add_tcase(s, calls);
	suite_add_tcase(s, beh);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	json_decref(chat_cases);
	json_decref(golden_chat);
	l32_tokenizer_free(tok);
	return failed == 0 ? 0 : 1;
}
