/* test_grammar.c - the grammar engine on its own: GBNF parsing and its
 * errors, the strings each JSON Schema keyword lets through and those it
 * stops, and token masks checked against token-by-token advancing on the
 * real Llama 3 vocabulary (characters split across tokens included). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"

static struct l32_grammar *
gbnf(const char *text)
{
	struct l32_err err;
	struct l32_grammar *g = l32_grammar_parse_gbnf(text, strlen(text), &err);

	ck_assert_msg(g != NULL, "%s: %s", text, err.msg);
	return g;
}

static struct l32_grammar *
schema(const char *text)
{
	struct l32_err err;
	json_error_t je;
	json_t *s = json_loads(text, JSON_DECODE_ANY, &je);
	struct l32_grammar *g;

	ck_assert_msg(s != NULL, "bad test JSON %s", text);
	g = l32_grammar_from_schema(s, "schema", &err);
	ck_assert_msg(g != NULL, "%s: %s", text, err.msg);
	json_decref(s);
	return g;
}

static void
match(struct l32_grammar *g, const char *s, int want)
{
	ck_assert_msg(l32_grammar_match(g, s, strlen(s)) == want, "%s should %sbe accepted", s,
	    want ? "" : "not ");
}

/* Each string of ok matches, each of bad does not (NULL-terminated). */
static void
check_strings(struct l32_grammar *g, const char *const *ok, const char *const *bad)
{
	for (; ok != NULL && *ok != NULL; ok++)
		match(g, *ok, 1);
	for (; bad != NULL && *bad != NULL; bad++)
		match(g, *bad, 0);
}

static char *
read_file(const char *path)
{
	struct l32_err err;
	char *t = l32_grammar_read_gbnf(path, &err);

	ck_assert_msg(t != NULL, "%s", err.msg);
	return t;
}

/* ------------------------------------------------------------------ GBNF */

START_TEST(gbnf_basics)
{
	struct l32_grammar *g = gbnf(
	    "# a comment line\n"
	    "root ::= greeting (\",\" ws name)? \"!\"{1,3}  # trailing comment\n"
	    "greeting ::= \"hello\" | \"h\\x69\" | \"\\u00e9t\\u00E9\"\n"
	    "name ::= [A-Z] [a-z]*\n"
	    "ws ::= [ \\t]*\n");
	static const char *const ok[] = { "hello!", "hi!!!", "\xc3\xa9t\xc3\xa9!", "hello, Bob!",
		"hi,\t Al!!", NULL };
	static const char *const bad[] = { "hello", "hi!!!!", "hello,bob!", "Hello!", "", NULL };

	check_strings(g, ok, bad);
	l32_grammar_free(g);
}
END_TEST

START_TEST(gbnf_classes_and_repeats)
{
	struct l32_grammar *g = gbnf(
	    "root ::= neg any dig{2,} alt? \"-\" opt{0,2} end\n"
	    "neg ::= [^a-z\\n]\n"
	    "any ::= .\n"
	    "dig ::= [0-9]\n"
	    "alt ::= (\"x\" | \"yz\")+\n"
	    "opt ::= [\\u0100-\\U0001F600]\n"
	    "end ::= [\\]\\\\\\-]\n");
	static const char *const ok[] = { "A\xe2\x82\xac" "12-]", "\xf0\x9f\x98\x80" "b123xyzx-\xc4\x80\\",
		"!!00-\xf0\x9f\x98\x80\xc4\x81-", NULL };
	static const char *const bad[] = { "a!12-]", "A!1-]", "A!12-\xf0\x9f\x98\x81]", "\n!12-]",
		"A!12-\xc4\x80\xc4\x80\xc4\x80]", "A!12-a", "A\xed\xa0\x80" "12-]", NULL };

	check_strings(g, ok, bad);
	l32_grammar_free(g);
}
END_TEST

START_TEST(gbnf_recursion)
{
	struct l32_grammar *g = gbnf(
	    "root ::= list\n"
	    "list ::= \"[\" ( item ( \",\" item )* )? \"]\"\n"
	    "item ::= [0-9]+ | list\n");
	static const char *const ok[] = { "[]", "[1,[2,[3,[]]],45]", "[[[[[[[[[[]]]]]]]]]]", NULL };
	static const char *const bad[] = { "[", "[1,]", "[[]", "[]]", NULL };

	check_strings(g, ok, bad);
	l32_grammar_free(g);
}
END_TEST

static void
gbnf_error(const char *text, const char *want)
{
	struct l32_err err;

	l32_err_clear(&err);
	ck_assert_msg(l32_grammar_parse_gbnf(text, strlen(text), &err) == NULL, "%s parsed", text);
	ck_assert_msg(strstr(err.msg, want) != NULL, "%s: got \"%s\", want \"%s\"", text, err.msg, want);
}

START_TEST(gbnf_errors)
{
	gbnf_error("root ::= \"a\"\nitem ::= \"b\" [a-", "rule 'item', line 2 column 14");
	gbnf_error("root ::= x\n", "rule 'x' is used but not defined");
	gbnf_error("item ::= \"a\"\n", "no rule named 'root'");
	gbnf_error("root ::= root \"a\" | \"b\"\n", "rule 'root' is left-recursive");
	gbnf_error("root ::= (\"a\"? )*\n", "left-recursive");
	gbnf_error("root ::= \"a\"\nroot ::= \"b\"\n", "rule 'root', line 2 column 1: rule defined twice");
	gbnf_error("root ::= \"abc\n", "unterminated string literal");
	gbnf_error("root ::= ( \"a\" \n", "unclosed parenthesis");
	gbnf_error("root ::= \"a\"{3,2}\n", "n < m");
	gbnf_error("root ::= \"\\q\"\n", "unknown escape");
	gbnf_error("root ::= \"\\uD800\"\n", "not a Unicode scalar value");
	gbnf_error("root ::= [z-a]\n", "out of order");
	gbnf_error("root = \"a\"\n", "expected ::=");
}
END_TEST

START_TEST(gbnf_example_files)
{
	static const struct {
		const char *file;
		const char *ok[4], *bad[4];
	} t[] = {
		{ "tests/data/grammars/json.gbnf",
		  { "{\"a\": [1, -2.5e3, \"x\\u00e9\"], \"b\": {\"c\": null}}", "{}", NULL },
		  { "[1]", "{\"a\" 1}", "{\"a\": 01}", NULL } },
		{ "tests/data/grammars/arithmetic.gbnf",
		  { "1+2=3\n", "(a*b)/7 = x_1\n2=2\n", NULL },
		  { "1+=3\n", "1+2\n", NULL } },
		{ "tests/data/grammars/list.gbnf",
		  { "- milk\n- eggs\n", "- \xc3\xa9t\xc3\xa9\n", NULL },
		  { "- milk", "* milk\n", "- a\xe2\x80\xa8" "b\n", NULL } },
		{ "tests/data/grammars/chess.gbnf",
		  { "1. e4 e5\n2. Nf3 Nc6\n", "1. d4 d5\n2. c4 dxc4\n3. O-O-O Qxd8#\n", NULL },
		  { "1. e4 e5\n", "1. e9 e5\n2. a3 a6\n", NULL } },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *text = read_file(t[i].file);
		struct l32_grammar *g = gbnf(text);

		check_strings(g, t[i].ok, t[i].bad);
		l32_grammar_free(g);
		free(text);
	}
}
END_TEST

START_TEST(states_accept_and_complete)
{
	struct l32_grammar *g = gbnf("root ::= \"ab\" \"c\"?\n");
	int32_t st = l32_grammar_start(g);

	ck_assert_int_gt(st, 0);
	ck_assert(!l32_grammar_accepting(g, st));
	st = l32_grammar_advance(g, st, "ab", 2, NULL);
	ck_assert(l32_grammar_accepting(g, st));
	ck_assert(!l32_grammar_complete(g, st));
	ck_assert_int_eq(l32_grammar_advance(g, st, "x", 1, NULL), L32_GRAMMAR_DEAD);
	st = l32_grammar_advance(g, st, "c", 1, NULL);
	ck_assert(l32_grammar_complete(g, st));
	/* the same input reaches the same state: states are interned */
	ck_assert_int_eq(l32_grammar_advance(g, l32_grammar_start(g), "abc", 3, NULL), st);
	l32_grammar_free(g);
}
END_TEST

/* ----------------------------------------------------------- JSON Schema */

struct case_ {
	const char *schema;
	const char *ok[8];
	const char *bad[8];
};

static const struct case_ cases[] = {
	/* type, each and as a list */
	{ "{\"type\":\"string\"}", { "\"\"", "\"a\\\"b\\\\\\n\\u00e9\"", "\"\xc3\xa9\"" }, { "1", "\"a\nb\"", "\"\\x\"", "\"\\ud800\"" } },
	{ "{\"type\":\"integer\"}", { "0", "-12", "123456789012345678" }, { "1.5", "01", "-0.0", "1e3", "+1" } },
	{ "{\"type\":\"number\"}", { "0", "-1.25", "3e10", "1E-3" }, { ".5", "1.", "NaN", "--1" } },
	{ "{\"type\":\"boolean\"}", { "true", "false" }, { "True", "1", "null" } },
	{ "{\"type\":\"null\"}", { "null" }, { "nul", "\"null\"" } },
	{ "{\"type\":[\"string\",\"null\"]}", { "\"x\"", "null" }, { "1", "[]" } },
	{ "{\"type\":\"string\",\"nullable\":true}", { "\"x\"", "null" }, { "false" } },
	{ "{\"type\":\"array\"}", { "[]", "[1,\"a\",{\"b\":[null]}]", "[1, 2]" }, { "[1,]", "{}" } },
	{ "{\"type\":\"object\"}", { "{}", "{\"a\":1}", "{\"a\": [true], \"b\":{}}" }, { "{a:1}", "[]" } },
	/* properties, required, order, additionalProperties */
	{ "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"},\"b\":{\"type\":\"string\"}},\"required\":[\"b\"]}",
	  { "{\"b\":\"x\"}", "{\"a\":1,\"b\":\"x\"}", "{\"a\": 1, \"b\": \"x\"}" },
	  { "{}", "{\"a\":1}", "{\"b\":\"x\",\"a\":1}", "{\"b\":\"x\",\"c\":1}", "{\"a\":1,  \"b\":\"x\"}" } },
	{ "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":false}",
	  { "{}", "{\"a\":1}" }, { "{\"b\":1}", "{\"a\":1,\"b\":2}" } },
	{ "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"additionalProperties\":{\"type\":\"boolean\"}}",
	  { "{\"a\":1,\"b\":true}", "{\"x\":false,\"ab\":true}", "{\"\":true}" },
	  { "{\"b\":1}", "{\"a\":true}", "{\"a\":1,\"a\":true}" } },
	{ "{\"type\":\"object\",\"additionalProperties\":true}", { "{\"z\":[1]}", "{}" }, { "{\"z\"}" } },
	/* enum, const */
	{ "{\"enum\":[\"red\",\"green\",1,null,{\"k\":[1]}]}", { "\"red\"", "1", "null", "{\"k\":[1]}" },
	  { "\"blue\"", "\"Red\"", "2", "{\"k\":[2]}" } },
	{ "{\"type\":\"string\",\"enum\":[\"a\",1]}", { "\"a\"" }, { "1" } },
	{ "{\"const\":\"fixed\"}", { "\"fixed\"" }, { "\"fixe\"", "\"fixed \"" } },
	/* items, prefixItems, minItems, maxItems */
	{ "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"minItems\":2,\"maxItems\":3}",
	  { "[1,2]", "[1, 2, 3]" }, { "[1]", "[1,2,3,4]", "[1,\"a\"]", "[]" } },
	{ "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"maxItems\":0}", { "[]" }, { "[1]" } },
	{ "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"string\"},{\"type\":\"integer\"}],\"items\":false}",
	  { "[]", "[\"a\"]", "[\"a\",1]" }, { "[1]", "[\"a\",1,2]", "[\"a\",\"b\"]" } },
	{ "{\"type\":\"array\",\"prefixItems\":[{\"const\":1}],\"items\":{\"type\":\"boolean\"},\"minItems\":2}",
	  { "[1,true]", "[1,false,true]" }, { "[1]", "[true,true]", "[1,2]" } },
	/* minLength, maxLength: characters, not bytes */
	{ "{\"type\":\"string\",\"minLength\":2,\"maxLength\":3}", { "\"ab\"", "\"\xc3\xa9\xc3\xa9\xc3\xa9\"", "\"a\\n\"" },
	  { "\"a\"", "\"abcd\"", "\"\"" } },
	/* numeric bounds */
	{ "{\"type\":\"integer\",\"minimum\":-5,\"maximum\":250}", { "-5", "0", "250", "99", "-1" },
	  { "-6", "251", "1000", "-10" } },
	{ "{\"type\":\"integer\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":10}", { "1", "9" }, { "0", "10", "-1" } },
	{ "{\"type\":\"integer\",\"minimum\":1000}", { "1000", "123456789" }, { "999", "-1000", "0" } },
	{ "{\"type\":\"number\",\"minimum\":-2.5,\"maximum\":10.25}", { "-2.5", "-2", "0", "10.25", "10.2", "3.14159" },
	  { "-2.51", "10.251", "11", "-3", "1e1" } },
	{ "{\"type\":\"number\",\"exclusiveMinimum\":0,\"exclusiveMaximum\":1}", { "0.5", "0.001", "0.999" },
	  { "0", "1", "0.0", "1.0", "-0.5" } },
	{ "{\"type\":\"number\",\"minimum\":0.1}", { "0.1", "0.10", "5", "12.75" }, { "0.09", "0", "-1" } },
	/* pattern: a search, anchored where it says */
	{ "{\"type\":\"string\",\"pattern\":\"^[A-Z]{2}-\\\\d{3}$\"}", { "\"AB-123\"" }, { "\"AB-12\"", "\"xAB-123\"", "\"ab-123\"" } },
	{ "{\"type\":\"string\",\"pattern\":\"(cat|dog)s?\"}", { "\"cats\"", "\"a dog\"", "\"hotdogs!\"" }, { "\"cow\"" } },
	{ "{\"type\":\"string\",\"pattern\":\"^a\\\"b[^x]\\\\.$\"}", { "\"a\\\"bc.\"", "\"a\\\"b\\\\.\"" }, { "\"a\\\"bx.\"", "\"a\\\"bcd\"" } },
	{ "{\"type\":\"string\",\"pattern\":\"^(?:ab)+c?$\"}", { "\"abab\"", "\"abc\"" }, { "\"aba\"", "\"c\"" } },
	/* formats */
	{ "{\"type\":\"string\",\"format\":\"date\"}", { "\"2024-02-29\"", "\"1999-12-31\"" }, { "\"2024-13-01\"", "\"24-01-01\"" } },
	{ "{\"type\":\"string\",\"format\":\"time\"}", { "\"23:59:59Z\"", "\"08:00:00.5+02:00\"" }, { "\"24:00:00Z\"", "\"08:00\"" } },
	{ "{\"type\":\"string\",\"format\":\"date-time\"}", { "\"2024-01-02T03:04:05Z\"" }, { "\"2024-01-02 03:04:05Z\"" } },
	{ "{\"type\":\"string\",\"format\":\"uuid\"}", { "\"123e4567-e89b-12d3-a456-426614174000\"" }, { "\"123e4567e89b12d3a456426614174000\"" } },
	{ "{\"type\":\"string\",\"format\":\"email\"}", { "\"a.b+c@example.co.uk\"" }, { "\"a@b\"", "\"@example.com\"", "\"a b@c.d\"" } },
	/* anyOf, oneOf, allOf */
	{ "{\"anyOf\":[{\"type\":\"integer\"},{\"type\":\"string\",\"maxLength\":1}]}", { "1", "\"a\"" }, { "\"ab\"", "true" } },
	{ "{\"oneOf\":[{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"a\"},\"x\":{\"type\":\"integer\"}},\"required\":[\"k\",\"x\"]},"
	  "{\"type\":\"object\",\"properties\":{\"k\":{\"const\":\"b\"},\"y\":{\"type\":\"string\"}},\"required\":[\"k\",\"y\"]}]}",
	  { "{\"k\":\"a\",\"x\":1}", "{\"k\":\"b\",\"y\":\"s\"}" }, { "{\"k\":\"a\",\"y\":\"s\"}" } },
	{ "{\"allOf\":[{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}},\"required\":[\"a\"]},"
	  "{\"properties\":{\"b\":{\"type\":\"boolean\"}},\"required\":[\"b\"]}]}",
	  { "{\"a\":1,\"b\":true}" }, { "{\"a\":1}", "{\"b\":true}" } },
	/* $ref with $defs and definitions, recursive */
	{ "{\"$defs\":{\"node\":{\"type\":\"object\",\"properties\":{\"v\":{\"type\":\"integer\"},"
	  "\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/node\"}}},\"required\":[\"v\"],\"additionalProperties\":false}},"
	  "\"$ref\":\"#/$defs/node\"}",
	  { "{\"v\":1}", "{\"v\":1,\"kids\":[{\"v\":2},{\"v\":3,\"kids\":[{\"v\":4}]}]}" }, { "{\"kids\":[]}", "{\"v\":1,\"kids\":[{}]}" } },
	{ "{\"definitions\":{\"s\":{\"type\":\"string\",\"maxLength\":2}},\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/definitions/s\"}},\"required\":[\"a\"]}",
	  { "{\"a\":\"xy\"}" }, { "{\"a\":\"xyz\"}" } },
	{ "{\"type\":\"object\",\"properties\":{\"next\":{\"anyOf\":[{\"$ref\":\"#\"},{\"type\":\"null\"}]}},\"required\":[\"next\"]}",
	  { "{\"next\":null}", "{\"next\":{\"next\":{\"next\":null}}}" }, { "{\"next\":{}}" } },
};

START_TEST(schema_keywords)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct l32_grammar *g = schema(cases[i].schema);

		check_strings(g, cases[i].ok, cases[i].bad);
		l32_grammar_free(g);
	}
}
END_TEST

static void
schema_error(const char *text, const char *param, const char *code)
{
	struct l32_err err;
	json_error_t je;
	json_t *s = json_loads(text, 0, &je);

	ck_assert(s != NULL);
	l32_err_clear(&err);
	ck_assert_msg(l32_grammar_from_schema(s, "schema", &err) == NULL, "%s compiled", text);
	ck_assert_msg(strcmp(err.param, param) == 0, "%s: param %s, want %s (%s)", text, err.param, param, err.msg);
	if (code != NULL)
		ck_assert_msg(err.code != NULL && strcmp(err.code, code) == 0, "%s: code %s", text, err.code);
	json_decref(s);
}

START_TEST(schema_errors)
{
	schema_error("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\",\"multipleOf\":3}}}",
	    "schema/properties/a/multipleOf", "unsupported_value");
	schema_error("{\"type\":\"object\",\"minProperties\":1}", "schema/minProperties", "unsupported_value");
	schema_error("{\"type\":\"array\",\"uniqueItems\":true}", "schema/uniqueItems", "unsupported_value");
	schema_error("{\"type\":\"string\",\"format\":\"ipv4\"}", "schema/format", "unsupported_value");
	schema_error("{\"type\":\"string\",\"pattern\":\"(?=a)\"}", "schema/pattern", "unsupported_value");
	schema_error("{\"type\":\"string\",\"pattern\":\"(a)\\\\1\"}", "schema/pattern", "unsupported_value");
	schema_error("{\"oneOf\":[{\"type\":\"integer\"},{\"type\":\"number\"}]}", "schema/oneOf", "unsupported_value");
	schema_error("{\"allOf\":[{\"type\":\"string\"}]}", "schema/allOf/0/type", "unsupported_value");
	schema_error("{\"$ref\":\"http://example.com/s.json\"}", "schema/$ref", "unsupported_value");
	schema_error("{\"a~b/c\":1}", "schema/a~0b~1c", "unsupported_value");
	schema_error("{\"type\":\"integer\",\"minimum\":5,\"maximum\":4}", "schema/minimum", NULL);
	schema_error("{\"type\":\"bogus\"}", "schema/type", NULL);
	schema_error("{\"$ref\":\"#\"}", "schema", "unsupported_value");
}
END_TEST

START_TEST(json_object_mode)
{
	struct l32_err err;
	struct l32_grammar *g = l32_grammar_json_object(&err);
	static const char *const ok[] = { "{}", "{\"a\":[1,{\"b\":null}]}", "{\"a\": 1, \"b\": \"\xe2\x82\xac\"}", NULL };
	static const char *const bad[] = { "[]", "\"x\"", "{\"a\":1} ", "{ \"a\":1}", "{\"a\":  1}", NULL };

	ck_assert(g != NULL);
	check_strings(g, ok, bad);
	l32_grammar_free(g);
}
END_TEST

START_TEST(tool_calls)
{
	static const char tools_text[] =
	    "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":{\"type\":\"object\","
	    "\"properties\":{\"city\":{\"type\":\"string\"},\"days\":{\"type\":\"integer\",\"minimum\":1},"
	    "\"metric\":{\"type\":\"boolean\"},\"tags\":{\"type\":\"array\",\"items\":{\"type\":\"null\"}}},"
	    "\"required\":[\"city\"]}}},"
	    "{\"type\":\"function\",\"function\":{\"name\":\"ping\"}}]";
	static const char *const ok[] = { "[get_weather(city=\"Paris\")]", "[ping()]",
		"[get_weather(city=\"Oslo\", days=3, metric=True), ping()]", "[get_weather(city=\"x\",tags=[None])]", NULL };
	static const char *const bad[] = { "get_weather(city=\"Paris\")", "[get_weather(days=3)]",
		"[get_weather(city=\"a\", days=0)]", "[get_weather(city=\"a\", metric=true)]",
		"[get_weather(days=3, city=\"a\")]", "[pong()]", "[]", NULL };
	static const char *const only_ok[] = { "[ping()]", NULL };
	static const char *const only_bad[] = { "[get_weather(city=\"Paris\")]", "[ping(), ping()]", NULL };
	json_error_t je;
	json_t *tools = json_loads(tools_text, 0, &je);
	struct l32_err err;
	struct l32_grammar *g;

	ck_assert(tools != NULL);
	g = l32_grammar_tool_calls(tools, NULL, &err);
	ck_assert_msg(g != NULL, "%s", err.msg);
	check_strings(g, ok, bad);
	l32_grammar_free(g);
	g = l32_grammar_tool_calls(tools, "ping", &err);
	ck_assert_msg(g != NULL, "%s", err.msg);
	check_strings(g, only_ok, only_bad);
	l32_grammar_free(g);
	ck_assert(l32_grammar_tool_calls(tools, "pong", &err) == NULL);
	ck_assert_str_eq(err.param, "tool_choice");
	json_decref(tools);
}
END_TEST

/* ------------------------------------------------------------------ masks */

static struct l32_tokenizer *
llama3(void)
{
	const char *shared = getenv("L32_SHARED");
	char path[4096];
	struct l32_err err;
	struct l32_tokenizer *tok;

	snprintf(path, sizeof(path), "%s/llama3/tokenizer.model", shared ? shared : "../shared");
	tok = l32_tokenizer_open(path, &err);
	ck_assert_msg(tok != NULL, "%s", err.msg);
	return tok;
}

/* The mask of each state along text equals, token by token, whether the
 * token's bytes keep the automaton alive (stop tokens: whether the state
 * accepts; other control tokens: never). */
static void
check_masks(struct l32_grammar *g, const struct l32_tokenizer *tok, const struct l32_vocab_trie *t,
    const char *text)
{
	struct l32_err err;
	int32_t st = l32_grammar_start(g), id, nv = l32_tokenizer_n_vocab(tok);
	size_t i, n, len = strlen(text);
	const uint64_t *m;
	const char *b;
	int want, got, bad_id;

	/* (one assertion per position: Check records each one it runs) */
	for (i = 0; i <= len; i++) {
		m = l32_grammar_mask(g, t, st, &err);
		ck_assert_msg(m != NULL, "%s", err.msg);
		for (bad_id = -1, want = got = 0, id = 0; id < nv && bad_id < 0; id++) {
			b = l32_token_bytes(tok, id, &n);
			if (l32_tokenizer_is_special(tok, id))
				want = l32_tokenizer_is_stop(tok, id) && l32_grammar_accepting(g, st);
			else
				want = l32_grammar_advance(g, st, b, n, NULL) > 0;
			got = (int)(m[id >> 6] >> (id & 63) & 1);
			if (want != got)
				bad_id = id;
		}
		ck_assert_msg(bad_id < 0, "after %zu bytes of %s: token %d allowed %d, want %d",
		    i, text, bad_id, got, want);
		if (i < len)
			st = l32_grammar_advance(g, st, text + i, 1, NULL);
		ck_assert_int_gt(st, 0);
	}
	ck_assert(l32_grammar_accepting(g, st));
}

START_TEST(masks_match_token_walks)
{
	struct l32_tokenizer *tok = llama3();
	struct l32_err err;
	struct l32_vocab_trie *t = l32_vocab_trie_new(tok, &err);
	struct l32_grammar *g;

	ck_assert_msg(t != NULL, "%s", err.msg);
	ck_assert_int_eq(l32_vocab_trie_n_vocab(t), l32_tokenizer_n_vocab(tok));
	/* a free string: whole subtrees taken at once, and characters of two,
	 * three and four bytes met one byte at a time (split across tokens) */
	g = l32_grammar_json_object(&err);
	check_masks(g, tok, t, "{\"k\\u00e9y\": [\"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\", -1.5e3, {\"b\": null}]}");
	l32_grammar_free(g);
	/* a string limited in characters and a class without some letters */
	g = schema("{\"type\":\"object\",\"properties\":{\"s\":{\"type\":\"string\",\"maxLength\":4},"
	    "\"p\":{\"type\":\"string\",\"pattern\":\"^[^e]+$\"}},\"required\":[\"s\",\"p\"]}");
	check_masks(g, tok, t, "{\"s\":\"\xe4\xb8\xad\xe6\x96\x87" "ab\",\"p\":\"xyz\\n\"}");
	l32_grammar_free(g);
	/* a class of one multi-byte character: only tokens that start it, or
	 * finish it after its first byte */
	g = gbnf("root ::= \"\xc3\xa9\"+ \" \" [\\u4e00-\\u9fff]\n");
	check_masks(g, tok, t, "\xc3\xa9\xc3\xa9 \xe4\xb8\xad");
	l32_grammar_free(g);
	l32_vocab_trie_free(t);
	l32_tokenizer_free(tok);
}
END_TEST

START_TEST(apply_mask_sets_minus_infinity)
{
	uint64_t m[2] = { 0x5ull, 1ull << 3 };
	float v[70];
	int i;

	for (i = 0; i < 70; i++)
		v[i] = 1.0f;
	l32_grammar_apply_mask(m, v, 70);
	for (i = 0; i < 70; i++)
		ck_assert_msg((i == 0 || i == 2 || i == 67) ? v[i] == 1.0f : v[i] < -1e30f, "logit %d", i);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("grammar");
	TCase *tc = tcase_create("grammar");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, gbnf_basics);
	tcase_add_test(tc, gbnf_classes_and_repeats);
	tcase_add_test(tc, gbnf_recursion);
	tcase_add_test(tc, gbnf_errors);
	tcase_add_test(tc, gbnf_example_files);
	tcase_add_test(tc, states_accept_and_complete);
	tcase_add_test(tc, schema_keywords);
	tcase_add_test(tc, schema_errors);
	tcase_add_test(tc, json_object_mode);
	tcase_add_test(tc, tool_calls);
	tcase_add_test(tc, masks_match_token_walks);
	tcase_add_test(tc, apply_mask_sets_minus_infinity);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
