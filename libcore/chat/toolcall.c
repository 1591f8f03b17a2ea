/*
 * toolcall.c - reads the tool calls a Llama 3.x instruct model writes into
 * an OpenAI tool_calls array.
 *
 * The model answers a tool-using prompt in one of these shapes, optionally
 * after <|python_tag|>:
 *
 *   [get_weather(city="Paris", days=3), other(x=True)]     pythonic list
 *   {"name": "get_weather", "parameters": {"city": "Paris"}}   JSON (the HF
 *       template asks for this; "arguments" for "parameters" and a leading
 *       "type": "function" are accepted), several separated by ";" or
 *       newlines, or a JSON list of them
 *   <function=get_weather>{"city": "Paris"}</function>      function_tag
 *   brave_search.call(query="...")                          built-in tools
 *   <|python_tag|>print(2 + 2)                              code_interpreter
 *
 * The whole text (trimmed) must be calls: anything else around them makes
 * it ordinary text.  Python literals are read as ast.literal_eval reads
 * them (strings with either quote and their escapes, ints, floats, True,
 * False, None, lists, tuples, dicts), then written as JSON.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/l32_chat.h"
#include "chat/pyjson.h"

#define PY_MAX_DEPTH 64

static const char python_tag[] = "<|python_tag|>";

struct py {
	const char *s;
	size_t n, i;
	int depth;
	int nomem; /* set when an allocation failed, so 0 means "not a call" */
};

/* A jansson constructor's result, noting an allocation failure. */
static json_t *
chk(struct py *p, json_t *v)
{
	if (v == NULL)
		p->nomem = 1;
	return v;
}

/* Notes an allocation failure; returns 0 ("no value here"). */
static int
oom(struct py *p)
{
	p->nomem = 1;
	return 0;
}

static int
peek(const struct py *p, size_t k)
{
	return p->i + k < p->n ? (unsigned char)p->s[p->i + k] : -1;
}

static void
skip_ws(struct py *p)
{
	while (p->i < p->n && strchr(" \t\r\n\f\v", p->s[p->i]) != NULL && p->s[p->i] != '\0')
		p->i++;
}

static int
ident_start(int c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
ident_char(int c)
{
	return ident_start(c) || (c >= '0' && c <= '9');
}

/* A Python identifier; with names set, also the "." and "-" that tool
 * names ("brave_search.call", "get-weather") may hold. */
static int
ident(struct py *p, int names, const char **s, size_t *n)
{
	size_t start = p->i;

	if (!ident_start(peek(p, 0)))
		return 0;
	while (ident_char(peek(p, 0)) || (names && (peek(p, 0) == '.' || peek(p, 0) == '-')))
		p->i++;
	*s = p->s + start;
	*n = p->i - start;
	return 1;
}

/* --------------------------------------------------------------- strings */

static int
put_utf8(struct l32_buf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return l32_buf_append(b, u, n);
}

/* Reads exactly ndig hex digits (ndig 0: 1..3 octal digits). */
static int
escape_number(struct py *p, int ndig, uint32_t *cp)
{
	int k, c, d;

	*cp = 0;
	for (k = 0; ndig == 0 ? k < 3 : k < ndig; k++) {
		c = peek(p, 0);
		if (ndig == 0 && (c < '0' || c > '7'))
			break;
		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return 0;
		*cp = *cp * (ndig == 0 ? 8 : 16) + (uint32_t)d;
		p->i++;
	}
	return k > 0;
}

/* One backslash escape (the backslash already read); 0 when Python would
 * reject it or the result cannot be UTF-8. */
static int
escape(struct py *p, struct l32_buf *b)
{
	static const char from[] = "\n\\'\"abfnrtv", to[] = "\0\\'\"\a\b\f\n\r\t\v";
	const char *e;
	uint32_t cp;
	int c = peek(p, 0), ok;

	if (c < 0)
		return 0;
	if (c != 0 && (e = strchr(from, c)) != NULL) {
		p->i++;
		if (c == '\n')
			return 1; /* line continuation */
		return l32_buf_append(b, &to[e - from], 1) == -1 ? oom(p) : 1;
	}
	if (c >= '0' && c <= '7')
		ok = escape_number(p, 0, &cp);
	else if (c == 'x' || c == 'u' || c == 'U') {
		p->i++;
		ok = escape_number(p, c == 'x' ? 2 : c == 'u' ? 4 : 8, &cp);
	} else {
		/* \N{...} needs the Unicode name table: not a literal we read.
		 * Any other escape keeps its backslash, as in Python. */
		if (c == 'N')
			return 0;
		return l32_buf_append(b, "\\", 1) == -1 ? oom(p) : 1;
	}
	if (!ok || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (put_utf8(b, cp) == -1)
		return oom(p);
	return 1;
}

/* One string literal ('...', "...", triple-quoted, u or r prefix). */
static int
string_one(struct py *p, struct l32_buf *b)
{
	int raw = 0, q, triple, c;

	if ((peek(p, 0) | 0x20) == 'r' && (peek(p, 1) == '\'' || peek(p, 1) == '"'))
		raw = 1, p->i++;
	else if ((peek(p, 0) | 0x20) == 'u' && (peek(p, 1) == '\'' || peek(p, 1) == '"'))
		p->i++;
	q = peek(p, 0);
	if (q != '\'' && q != '"')
		return 0;
	triple = peek(p, 1) == q && peek(p, 2) == q;
	p->i += triple ? 3 : 1;
	for (;;) {
		if ((c = peek(p, 0)) < 0)
			return 0;
		if (c == q && (!triple || (peek(p, 1) == q && peek(p, 2) == q))) {
			p->i += triple ? 3 : 1;
			return 1;
		}
		if (c == '\n' && !triple)
			return 0;
		p->i++;
		if (c == '\\' && !raw) {
			if (!escape(p, b))
				return 0;
			continue;
		}
		if (l32_buf_append(b, &p->s[p->i - 1], 1) == -1)
			return oom(p);
		/* In a raw string a backslash still protects the next quote. */
		if (c == '\\' && peek(p, 0) >= 0) {
			if (l32_buf_append(b, &p->s[p->i++], 1) == -1)
				return oom(p);
		}
	}
}

static int
string_start(const struct py *p)
{
	int c = peek(p, 0), d = peek(p, 1);

	return c == '\'' || c == '"' || (((c | 0x20) == 'r' || (c | 0x20) == 'u') &&
	    (d == '\'' || d == '"'));
}

/* Adjacent literals concatenate, as in Python. */
static json_t *
string_value(struct py *p)
{
	struct l32_buf b = { NULL, 0, 0 };
	json_t *v = NULL;

	do {
		if (!string_one(p, &b))
			goto out;
		skip_ws(p);
	} while (string_start(p));
	if (l32_pyjson_utf8_valid(b.data, b.len))
		v = chk(p, json_stringn(b.len > 0 ? b.data : "", b.len));
out:
	l32_buf_free(&b);
	return v;
}

/* --------------------------------------------------------------- numbers */

static json_t *
number_value(struct py *p)
{
	char buf[128];
	size_t n = 0;
	int neg = 0, isfloat = 0, c, base = 10;
	unsigned long long u;
	double d;
	char *end;

	while (peek(p, 0) == '-' || peek(p, 0) == '+') {
		neg ^= peek(p, 0) == '-';
		p->i++;
		skip_ws(p);
	}
	if (peek(p, 0) == '0' && strchr("xXoObB", peek(p, 1) > 0 ? peek(p, 1) : ' ') != NULL) {
		c = peek(p, 1) | 0x20;
		base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
		p->i += 2;
	}
	for (;;) {
		c = peek(p, 0);
		if (c == '_' && n > 0 && isxdigit(peek(p, 1))) {
			p->i++;
			continue;
		}
		if (base == 10 && (c == '.' || (c | 0x20) == 'e')) {
			isfloat = 1;
			if ((c | 0x20) == 'e' && (peek(p, 1) == '+' || peek(p, 1) == '-')) {
				if (n + 1 >= sizeof(buf))
					return NULL;
				buf[n++] = (char)c;
				p->i++;
				c = peek(p, 0);
			}
		} else if (!(base == 16 ? isxdigit(c) : c >= '0' && c < '0' + (base < 10 ? base : 10)))
			break;
		if (n + 1 >= sizeof(buf))
			return NULL;
		buf[n++] = (char)c;
		p->i++;
	}
	buf[n] = '\0';
	if (n == 0 || ident_char(peek(p, 0)) || peek(p, 0) == '.')
		return NULL;
	if (isfloat) {
		errno = 0;
		d = strtod(buf, &end);
		if (*end != '\0' || !isfinite(d))
			return NULL;
		return chk(p, json_real(neg ? -d : d));
	}
	/* Python rejects "007" (but not "000"). */
	if (base == 10 && buf[0] == '0' && strspn(buf, "0") != n)
		return NULL;
	errno = 0;
	u = strtoull(buf, &end, base);
	if (*end != '\0' || errno == ERANGE || u > (unsigned long long)INT64_MAX + (unsigned)neg)
		return NULL;
	return chk(p, json_integer(neg ? (json_int_t)(0 - u) : (json_int_t)u));
}

/* ------------------------------------------------------------ containers */

static json_t *value(struct py *p);

/* [a, b], (a, b) and (a,); (a) is just a. */
static json_t *
sequence_value(struct py *p, int close)
{
	json_t *arr, *v;
	int tuple = close == ']';

	p->i++;
	if ((arr = chk(p, json_array())) == NULL)
		return NULL;
	for (;;) {
		skip_ws(p);
		if (peek(p, 0) == close) {
			p->i++;
			break;
		}
		if ((v = value(p)) == NULL || json_array_append_new(arr, v) == -1)
			goto fail;
		skip_ws(p);
		if (peek(p, 0) == ',') {
			p->i++;
			tuple = 1;
		} else if (peek(p, 0) != close)
			goto fail;
	}
	if (!tuple && json_array_size(arr) == 1) {
		v = json_incref(json_array_get(arr, 0));
		json_decref(arr);
		return v;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

/* {k: v, ...}; keys are strings, or integers that json.dumps would write as
 * strings. */
static json_t *
dict_value(struct py *p)
{
	json_t *obj, *k, *v;
	char num[32];
	const char *key;

	p->i++;
	if ((obj = chk(p, json_object())) == NULL)
		return NULL;
	for (;;) {
		skip_ws(p);
		if (peek(p, 0) == '}') {
			p->i++;
			return obj;
		}
		if ((k = value(p)) == NULL)
			goto fail;
		if (json_is_integer(k)) {
			snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, json_integer_value(k));
			key = num;
		} else if (json_is_string(k) && strlen(json_string_value(k)) == json_string_length(k))
			key = json_string_value(k);
		else {
			json_decref(k);
			goto fail;
		}
		skip_ws(p);
		if (peek(p, 0) != ':') {
			json_decref(k);
			goto fail;
		}
		p->i++;
		skip_ws(p);
		if ((v = value(p)) == NULL || json_object_set_new(obj, key, v) == -1) {
			json_decref(k);
			goto fail;
		}
		json_decref(k);
		skip_ws(p);
		if (peek(p, 0) == ',')
			p->i++;
		else if (peek(p, 0) != '}')
			goto fail;
	}
fail:
	json_decref(obj);
	return NULL;
}

static json_t *
keyword_value(struct py *p)
{
	const char *s;
	size_t n;

	if (!ident(p, 0, &s, &n))
		return NULL;
	if (n == 4 && memcmp(s, "True", 4) == 0)
		return chk(p, json_true());
	if (n == 5 && memcmp(s, "False", 5) == 0)
		return chk(p, json_false());
	if (n == 4 && memcmp(s, "None", 4) == 0)
		return chk(p, json_null());
	return NULL; /* a variable: not a literal */
}

static json_t *
value(struct py *p)
{
	json_t *v;
	int c;

	if (++p->depth > PY_MAX_DEPTH) {
		p->depth--;
		return NULL;
	}
	skip_ws(p);
	c = peek(p, 0);
	if (string_start(p))
		v = string_value(p);
	else if (c == '[' || c == '(')
		v = sequence_value(p, c == '[' ? ']' : ')');
	else if (c == '{')
		v = dict_value(p);
	else if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.')
		v = number_value(p);
	else
		v = keyword_value(p);
	p->depth--;
	return v;
}

/* ----------------------------------------------------------------- calls */

/* Appends {"name": ..., "args": {...}} to found. */
static int
add_call(struct py *p, json_t *found, const char *name, size_t n, json_t *args)
{
	json_t *c;

	if (!l32_pyjson_utf8_valid(name, n))
		return 0;
	c = json_pack("{s:s%,s:O}", "name", name, n, "args", args);
	if (c == NULL || json_array_append_new(found, c) == -1)
		return oom(p);
	return 1;
}

/* name(k=v, ...); with suffix, the name must end in it and loses it. */
static int
call(struct py *p, json_t *found, const char *suffix)
{
	const char *name, *key;
	size_t nlen, klen, slen = suffix != NULL ? strlen(suffix) : 0;
	char kbuf[256];
	json_t *args, *v;
	int ok = 0;

	skip_ws(p);
	if (!ident(p, 1, &name, &nlen) || peek(p, 0) != '(')
		return 0;
	if (suffix != NULL && (nlen <= slen || memcmp(name + nlen - slen, suffix, slen) != 0))
		return 0;
	p->i++;
	if ((args = chk(p, json_object())) == NULL)
		return 0;
	for (;;) {
		skip_ws(p);
		if (peek(p, 0) == ')') {
			p->i++;
			ok = add_call(p, found, name, nlen - slen, args);
			break;
		}
		if (!ident(p, 0, &key, &klen) || klen >= sizeof(kbuf))
			break;
		skip_ws(p);
		if (peek(p, 0) != '=' || peek(p, 1) == '=')
			break;
		p->i++;
		memcpy(kbuf, key, klen);
		kbuf[klen] = '\0';
		/* A repeated keyword is a SyntaxError in Python. */
		if (json_object_get(args, kbuf) != NULL || (v = value(p)) == NULL)
			break;
		if (json_object_set_new(args, kbuf, v) == -1) {
			p->nomem = 1;
			break;
		}
		skip_ws(p);
		if (peek(p, 0) == ',')
			p->i++;
		else if (peek(p, 0) != ')')
			break;
	}
	json_decref(args);
	return ok;
}

/* [f(a=1), g(b=2)] */
static int
pythonic_list(struct py *p, json_t *found)
{
	if (peek(p, 0) != '[')
		return 0;
	p->i++;
	for (;;) {
		if (!call(p, found, NULL))
			return 0;
		skip_ws(p);
		if (peek(p, 0) == ',') {
			p->i++;
			skip_ws(p);
		} else if (peek(p, 0) != ']')
			return 0;
		if (peek(p, 0) == ']') {
			p->i++;
			break;
		}
	}
	skip_ws(p);
	return p->i == p->n;
}

/* brave_search.call(query="..."): the built-in tools' syntax. */
static int
builtin_calls(struct py *p, json_t *found)
{
	do {
		if (!call(p, found, ".call"))
			return 0;
		skip_ws(p);
		while (peek(p, 0) == ';') {
			p->i++;
			skip_ws(p);
		}
	} while (p->i < p->n);
	return 1;
}

/* A parsed JSON call object {"name": ..., "parameters" | "arguments": ...}. */
static int
json_call(struct py *p, json_t *found, const json_t *o)
{
	const json_t *name = json_object_get(o, "name");
	json_t *args = json_object_get(o, "parameters"), *parsed = NULL;
	int ok;

	if (args == NULL)
		args = json_object_get(o, "arguments");
	if (!json_is_object(o) || !json_is_string(name) || json_string_length(name) == 0)
		return 0;
	if (json_is_string(args))
		args = parsed = json_loadb(json_string_value(args), json_string_length(args), 0, NULL);
	ok = json_is_object(args) &&
	    add_call(p, found, json_string_value(name), json_string_length(name), args);
	json_decref(parsed);
	return ok;
}

/* One JSON value at the cursor (jansson stops after its last bracket). */
static json_t *
json_at(struct py *p)
{
	json_error_t je;
	json_t *v;

	v = json_loadb(p->s + p->i, p->n - p->i, JSON_DISABLE_EOF_CHECK | JSON_ALLOW_NUL, &je);
	if (v != NULL)
		p->i += (size_t)je.position;
	return v;
}

/* JSON calls, separated by ";" or whitespace, or in JSON lists. */
static int
json_calls(struct py *p, json_t *found)
{
	json_t *v;
	size_t k;
	int ok;

	while (p->i < p->n) {
		if (peek(p, 0) != '{' && peek(p, 0) != '[')
			return 0;
		if ((v = json_at(p)) == NULL)
			return 0;
		if (json_is_array(v)) {
			ok = json_array_size(v) > 0;
			for (k = 0; ok && k < json_array_size(v); k++)
				ok = json_call(p, found, json_array_get(v, k));
		} else
			ok = json_call(p, found, v);
		json_decref(v);
		if (!ok)
			return 0;
		skip_ws(p);
		while (peek(p, 0) == ';') {
			p->i++;
			skip_ws(p);
		}
	}
	return 1;
}

/* <function=NAME>{...}</function>, repeated. */
static int
function_tags(struct py *p, json_t *found)
{
	static const char open[] = "<function=", close[] = "</function>";
	const char *name, *gt;
	json_t *args;
	int ok;

	while (p->i < p->n) {
		if (p->n - p->i < sizeof(open) - 1 || memcmp(p->s + p->i, open, sizeof(open) - 1) != 0)
			return 0;
		name = p->s + p->i + sizeof(open) - 1;
		for (gt = name; gt < p->s + p->n && (ident_char((unsigned char)*gt) ||
		    *gt == '.' || *gt == '-'); gt++)
			;
		if (gt == name || gt == p->s + p->n || *gt != '>')
			return 0;
		p->i = (size_t)(gt + 1 - p->s);
		skip_ws(p);
		if (peek(p, 0) != '{' || (args = json_at(p)) == NULL)
			return 0;
		ok = json_is_object(args) && add_call(p, found, name, (size_t)(gt - name), args);
		json_decref(args);
		skip_ws(p);
		if (!ok || p->n - p->i < sizeof(close) - 1 ||
		    memcmp(p->s + p->i, close, sizeof(close) - 1) != 0)
			return 0;
		p->i += sizeof(close) - 1;
		skip_ws(p);
	}
	return 1;
}

/* ------------------------------------------------------------ the result */

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Deterministic ids: a hash of the model's text and the call's index, so
 * the same output always gives the same ids. */
static uint64_t
text_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* found [{"name", "args"}] -> OpenAI tool_calls with arguments as a string. */
static json_t *
openai_calls(const json_t *found, uint64_t hash)
{
	struct l32_buf args = { NULL, 0, 0 };
	json_t *out = json_array(), *c, *f;
	char id[32];
	size_t i;

	for (i = 0; out != NULL && i < json_array_size(found); i++) {
		f = json_array_get(found, i);
		l32_buf_reset(&args);
		snprintf(id, sizeof(id), "call_%016" PRIx64, mix64(hash + (i + 1) * 0x9e3779b97f4a7c15ULL));
		c = NULL;
		if (l32_pyjson_dump(&args, json_object_get(f, "args"), -1, 0) == 0)
			c = json_pack("{s:s,s:s,s:{s:O,s:s%}}", "id", id, "type", "function",
			    "function", "name", json_object_get(f, "name"), "arguments",
			    args.data, args.len);
		if (c == NULL || json_array_append_new(out, c) == -1) {
			json_decref(out);
			out = NULL;
		}
	}
	l32_buf_free(&args);
	return out;
}

static int
starts_with(const char *s, size_t n, const char *pre)
{
	return n >= strlen(pre) && memcmp(s, pre, strlen(pre)) == 0;
}

static int
ends_with(const char *s, size_t n, const char *suf)
{
	return n >= strlen(suf) && memcmp(s + n - strlen(suf), suf, strlen(suf)) == 0;
}

/* Tries each shape on s[0..n); fills found.  1, 0, or -1 (no memory). */
static int
parse_calls(const char *s, size_t n, int ipython, json_t *found)
{
	int (*const shapes[])(struct py *, json_t *) = {
		pythonic_list, json_calls, function_tags, builtin_calls,
	};
	struct py p;
	json_t *code;
	size_t k;

	for (k = 0; k < sizeof(shapes) / sizeof(shapes[0]); k++) {
		memset(&p, 0, sizeof(p));
		p.s = s;
		p.n = n;
		if (shapes[k](&p, found) && p.i == p.n)
			return 1;
		if (p.nomem)
			return -1;
		json_array_clear(found);
	}
	/* After <|python_tag|>, anything else is code for the interpreter
	 * (Meta's chat_format.py reads it so). */
	if (!ipython)
		return 0;
	if ((code = json_pack("{s:s%}", "code", s, n)) == NULL)
		return l32_pyjson_utf8_valid(s, n) ? -1 : 0;
	memset(&p, 0, sizeof(p));
	k = (size_t)add_call(&p, found, "code_interpreter", strlen("code_interpreter"), code);
	json_decref(code);
	return p.nomem ? -1 : (int)k;
}

int
l32_toolcalls_parse(const char *text, size_t len, json_t **calls, struct l32_err *err)
{
	const char *s;
	size_t n = len;
	int ipython = 0, rc;
	json_t *found;

	*calls = NULL;
	s = l32_pyjson_strip(text, &n);
	if (starts_with(s, n, python_tag)) {
		ipython = 1;
		s += strlen(python_tag);
		n -= strlen(python_tag);
	}
	if (ends_with(s, n, "<|eom_id|>") || ends_with(s, n, "<|eot_id|>"))
		n -= strlen("<|eom_id|>");
	s = l32_pyjson_strip(s, &n);
	if (n == 0)
		return 0;
	if ((found = json_array()) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "tool calls: out of memory");
	rc = parse_calls(s, n, ipython, found);
	if (rc == 1 && (*calls = openai_calls(found, text_hash(text, len))) == NULL)
		rc = -1;
	json_decref(found);
	if (rc == -1)
		return l32_err_set(err, L32_ERR_NOMEM, "tool calls: out of memory");
	return rc;
}
