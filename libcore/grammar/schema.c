/*
 * schema.c - JSON Schema to GBNF: each schema becomes a rule, so the
 * answer the grammar allows is valid under the schema by construction.
 *
 * The JSON written is compact: no whitespace except at most one space
 * after a ":" or ",", so the model cannot pad until max_tokens.  Object
 * properties come in the order the schema lists them; properties it does
 * not list appear only when additionalProperties allows them (true or a
 * schema), or when it lists none and says nothing of others.  A keyword outside the supported set is an error naming it by
 * JSON pointer: a schema is never enforced in part.
 *
 * Number bounds are compiled digit by digit (numrange.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_int.h"

#define MAX_LEN_BOUND 4096   /* minLength, maxLength, minItems, maxItems */
#define MAX_DEPTH 64         /* nested schemas (not counting $ref) */
#define MAX_REF_DEPTH 256    /* $refs compiled inside each other */
#define NUM_LIMIT 1e15       /* bounds of numbers must lie within +-NUM_LIMIT */

struct ref_ent {
	char *ptr;     /* JSON pointer of the target */
	char *rule;
};

struct sc {
	const json_t *root;
	const char *prefix;   /* for err->param */
	struct l32_buf out;   /* the grammar */
	struct ref_ent *refs;
	size_t n_refs;
	unsigned n_rule;
	int depth;
	int ref_depth;        /* $refs being compiled inside each other */
	int python;           /* values as Python literals (True, False, None) */
	int kwargs;           /* the next object is keyword arguments: (a=1, b=2) */
	struct l32_err *err;
};

/* The rules that differ between JSON and Python literals. */
static const char prelude_json[] =
    "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n"
    "boolean ::= \"true\" | \"false\"\n"
    "null ::= \"null\"\n"
    "char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" ( [0-9a-cA-CeEfF] hex{3} | [dD] [0-7] hex{2} ) )\n";
/* (Python reads \/ as two characters: it is left out) */
static const char prelude_python[] =
    "value ::= object | array | string | number | \"True\" | \"False\" | \"None\"\n"
    "boolean ::= \"True\" | \"False\"\n"
    "null ::= \"None\"\n"
    "char ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ( [\"\\\\bfnrt] | \"u\" ( [0-9a-cA-CeEfF] hex{3} | [dD] [0-7] hex{2} ) )\n";

static const char prelude[] =
    "ws ::= \" \"?\n"
    "object ::= \"{\" ( string \":\" ws value ( \",\" ws string \":\" ws value )* )? \"}\"\n"
    "array ::= \"[\" ( value ( \",\" ws value )* )? \"]\"\n"
    "string ::= \"\\\"\" char* \"\\\"\"\n"
    "hex ::= [0-9a-fA-F]\n"
    "int ::= \"-\"? ( \"0\" | [1-9] [0-9]{0,17} )\n"
    /* exponents of two digits: every number fits a double */
    "number ::= int ( \".\" [0-9]{1,15} )? ( [eE] [-+]? [0-9]{1,2} )?\n"
    /* real calendar dates, years 0001-9999, February 29th in leap years */
    "date ::= year \"-\" ( ( \"0\" [13578] | \"1\" [02] ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"3\" [01] ) | "
    "( \"0\" [469] | \"11\" ) \"-\" ( \"0\" [1-9] | [12] [0-9] | \"30\" ) | \"02-\" ( \"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8] ) ) | "
    "leap \"-02-29\"\n"
    "year ::= [0-9]{3} [1-9] | [0-9]{2} [1-9] \"0\" | [0-9] [1-9] \"00\" | [1-9] \"000\"\n"
    "leap ::= [0-9]{2} ( [02468] [48] | [13579] [26] | [2468] \"0\" ) | ( \"0\" [48] | [2468] [048] | [13579] [26] ) \"00\"\n"
    "time ::= ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{1,6} )? "
    "( \"Z\" | [+-] ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )\n"
    "uuid ::= hex{8} \"-\" hex{4} \"-\" hex{4} \"-\" hex{4} \"-\" hex{12}\n"
    "email ::= [a-zA-Z0-9_+-]+ ( \".\" [a-zA-Z0-9_+-]+ )* \"@\" [a-zA-Z0-9] ( [a-zA-Z0-9-]* [a-zA-Z0-9] )? "
    "( \".\" [a-zA-Z0-9] ( [a-zA-Z0-9-]* [a-zA-Z0-9] )? )+\n";

/* ------------------------------------------------------------- helpers */

static int
nomem(struct sc *c)
{
	return l32_err_set(c->err, L32_ERR_NOMEM, "response_format: out of memory");
}

/* The JSON pointer ptr/key, with ~ and / escaped; ptr itself when key is
 * NULL. */
static char *
ptr_join(const char *ptr, const char *key)
{
	struct l32_buf b = { 0 };
	const char *k;

	if (key == NULL)
		return strdup(ptr);
	l32_buf_puts(&b, ptr);
	l32_buf_puts(&b, "/");
	for (k = key; *k; k++) {
		if (*k == '~')
			l32_buf_puts(&b, "~0");
		else if (*k == '/')
			l32_buf_puts(&b, "~1");
		else
			l32_buf_append(&b, k, 1);
	}
	if (b.data == NULL)
		return strdup("");
	return b.data;
}

static int
unsupported(struct sc *c, const char *ptr, const char *key, const char *why)
{
	char *p = ptr_join(ptr, key), param[256];

	snprintf(param, sizeof(param), "%s%s", c->prefix, p ? p : "");
	l32_err_param(c->err, L32_ERR_UNSUPPORTED, param, "%s: %s", param, why);
	c->err->code = "unsupported_value";
	free(p);
	return -1;
}

static int
invalid(struct sc *c, const char *ptr, const char *key, const char *why)
{
	char *p = ptr_join(ptr, key), param[256];

	snprintf(param, sizeof(param), "%s%s", c->prefix, p ? p : "");
	l32_err_param(c->err, L32_ERR_INVALID, param, "%s: %s", param, why);
	free(p);
	return -1;
}

/* A new rule name into name[32]. */
static void
new_name(struct sc *c, char *name)
{
	snprintf(name, 32, "s%u", c->n_rule++);
}

/* Appends bytes as a GBNF literal "...". */
static int
lit(struct l32_buf *b, const char *s, size_t n)
{
	size_t i;
	unsigned char ch;

	l32_buf_puts(b, "\"");
	for (i = 0; i < n; i++) {
		ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			l32_buf_printf(b, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7F)
			l32_buf_printf(b, "\\x%02X", ch);
		else
			l32_buf_append(b, &ch, 1);
	}
	return l32_buf_puts(b, "\"");
}

/* A value as a Python literal: JSON's text but for True, False, None. */
static int
py_text(struct l32_buf *b, const json_t *v)
{
	const char *k;
	json_t *x;
	size_t i;
	char *s;

	switch (json_typeof(v)) {
	case JSON_TRUE: return l32_buf_puts(b, "True");
	case JSON_FALSE: return l32_buf_puts(b, "False");
	case JSON_NULL: return l32_buf_puts(b, "None");
	case JSON_ARRAY:
		l32_buf_puts(b, "[");
		json_array_foreach(v, i, x) {
			if (i > 0)
				l32_buf_puts(b, ",");
			py_text(b, x);
		}
		return l32_buf_puts(b, "]");
	case JSON_OBJECT:
		l32_buf_puts(b, "{");
		i = 0;
		json_object_foreach((json_t *)v, k, x) {
			json_t *key = json_string(k);

			if (i++ > 0)
				l32_buf_puts(b, ",");
			s = json_dumps(key, JSON_ENCODE_ANY);
			l32_buf_puts(b, s ? s : "\"\"");
			free(s);
			json_decref(key);
			l32_buf_puts(b, ":");
			py_text(b, x);
		}
		return l32_buf_puts(b, "}");
	default:
		if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
			return -1;
		l32_buf_puts(b, s);
		free(s);
		return 0;
	}
}

/* A value's compact text (JSON, or Python literals), as a GBNF literal. */
static int
lit_json(struct sc *c, struct l32_buf *b, const json_t *v)
{
	struct l32_buf t = { 0 };

	if (c->python)
		py_text(&t, v);
	else {
		t.data = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		t.len = t.data ? strlen(t.data) : 0;
	}
	if (t.data == NULL)
		return nomem(c);
	lit(b, t.data, t.len);
	l32_buf_free(&t);
	return 0;
}

static int
emit_rule(struct sc *c, const char *name, const char *body)
{
	l32_buf_printf(&c->out, "%s ::= %s\n", name, body);
	return c->out.data == NULL ? nomem(c) : 0;
}

/* --------------------------------------------------------------- checks */

static const char *const annotations[] = {
	"title", "description", "$comment", "examples", "default", "$schema", "$id",
	"deprecated", "readOnly", "writeOnly", "$defs", "definitions", "strict", NULL
};

static const char *const supported[] = {
	"type", "properties", "required", "additionalProperties", "enum", "const",
	"items", "prefixItems", "minItems", "maxItems", "minLength", "maxLength",
	"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "pattern",
	"format", "anyOf", "oneOf", "allOf", "$ref", "nullable", NULL
};

static int
in_list(const char *const *l, const char *k)
{
	for (; *l != NULL; l++)
		if (strcmp(*l, k) == 0)
			return 1;
	return 0;
}

static int
check_keywords(struct sc *c, const json_t *s, const char *ptr)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)s, k, v)
		if (!in_list(annotations, k) && !in_list(supported, k))
			return unsupported(c, ptr, k, "this JSON Schema keyword is not supported");
	return 0;
}

/* A non-negative integer keyword (minLength, ...) into *out; -1 absent. */
static int
count_kw(struct sc *c, const json_t *s, const char *ptr, const char *k, long *out)
{
	json_t *v = json_object_get(s, k);

	*out = -1;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return invalid(c, ptr, k, "must be a non-negative integer");
	if (json_integer_value(v) > MAX_LEN_BOUND)
		return unsupported(c, ptr, k, "values above 4096 are not supported");
	*out = (long)json_integer_value(v);
	return 0;
}

/* ---------------------------------------------------------------- types */

enum {
	T_NULL = 1, T_BOOL = 2, T_OBJECT = 4, T_ARRAY = 8, T_NUMBER = 16,
	T_STRING = 32, T_INTEGER = 64, T_ANY = 127
};

static int
type_bit(const char *t)
{
	static const char *const names[] = { "null", "boolean", "object", "array", "number",
		"string", "integer" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(t, names[i]) == 0)
			return 1 << i;
	return 0;
}

/* The types a schema allows by its "type" (or implies by its keywords). */
static int
schema_types(struct sc *c, const json_t *s, const char *ptr, int *types)
{
	json_t *t = json_object_get(s, "type"), *e;
	size_t i;
	int b;

	*types = 0;
	if (json_is_string(t)) {
		if ((*types = type_bit(json_string_value(t))) == 0)
			return invalid(c, ptr, "type", "unknown type");
	} else if (json_is_array(t)) {
		json_array_foreach(t, i, e) {
			if (!json_is_string(e) || (b = type_bit(json_string_value(e))) == 0)
				return invalid(c, ptr, "type", "unknown type");
			*types |= b;
		}
		if (*types == 0)
			return invalid(c, ptr, "type", "an empty list of types allows nothing");
	} else if (t != NULL)
		return invalid(c, ptr, "type", "must be a string or an array of strings");
	else {
		if (json_object_get(s, "properties") || json_object_get(s, "required") ||
		    json_object_get(s, "additionalProperties"))
			*types |= T_OBJECT;
		if (json_object_get(s, "items") || json_object_get(s, "prefixItems") ||
		    json_object_get(s, "minItems") || json_object_get(s, "maxItems"))
			*types |= T_ARRAY;
		if (json_object_get(s, "minLength") || json_object_get(s, "maxLength") ||
		    json_object_get(s, "pattern") || json_object_get(s, "format"))
			*types |= T_STRING;
		if (json_object_get(s, "minimum") || json_object_get(s, "maximum") ||
		    json_object_get(s, "exclusiveMinimum") || json_object_get(s, "exclusiveMaximum"))
			*types |= T_NUMBER;
		if (*types == 0)
			*types = T_ANY;
	}
	if (json_is_true(json_object_get(s, "nullable")))
		*types |= T_NULL;
	if ((*types & T_INTEGER) && (*types & T_NUMBER))
		*types &= ~T_INTEGER;  /* number already holds the integers */
	return 0;
}

static int visit(struct sc *c, const json_t *s, const char *ptr, char *name);

/* ---------------------------------------------------------------- $ref */

static const json_t *
resolve(const json_t *root, const char *ref)
{
	const json_t *v = root;
	char key[512];
	const char *p;
	size_t n;

	if (ref[0] != '#')
		return NULL;
	p = ref + 1;
	while (*p == '/') {
		p++;
		for (n = 0; *p && *p != '/' && n + 1 < sizeof(key); p++) {
			if (*p == '~' && p[1] == '0')
				key[n++] = '~', p++;
			else if (*p == '~' && p[1] == '1')
				key[n++] = '/', p++;
			else
				key[n++] = *p;
		}
		key[n] = '\0';
		if (json_is_object(v))
			v = json_object_get(v, key);
		else if (json_is_array(v)) {
			char *end;
			long i = strtol(key, &end, 10);

			v = *end == '\0' && i >= 0 ? json_array_get(v, (size_t)i) : NULL;
		} else
			v = NULL;
		if (v == NULL)
			return NULL;
	}
	return *p == '\0' ? v : NULL;
}

/* The rule of a $ref target: compiled once, named before its body so a
 * recursive reference finds it. */
static int
visit_ref(struct sc *c, const json_t *s, const char *ptr, char *name)
{
	const char *ref = json_string_value(json_object_get(s, "$ref"));
	const json_t *target;
	struct ref_ent *r;
	char *tptr;
	size_t i;

	if (ref == NULL)
		return invalid(c, ptr, "$ref", "must be a string");
	if (json_object_size(s) > 1) {
		const char *k;
		json_t *v;

		json_object_foreach((json_t *)s, k, v)
			if (strcmp(k, "$ref") != 0 && !in_list(annotations, k))
				return unsupported(c, ptr, k, "keywords beside $ref are not supported");
	}
	for (i = 0; i < c->n_refs; i++)
		if (strcmp(c->refs[i].ptr, ref + 1) == 0) {
			snprintf(name, 32, "%s", c->refs[i].rule);
			return 0;
		}
	if ((target = resolve(c->root, ref)) == NULL || !(json_is_object(target) || json_is_boolean(target)))
		return unsupported(c, ptr, "$ref", "only references to a schema in this document (#/...) are supported");
	if ((r = reallocarray(c->refs, c->n_refs + 1, sizeof(*r))) == NULL)
		return nomem(c);
	c->refs = r;
	new_name(c, name);
	r[c->n_refs].ptr = strdup(ref + 1);
	r[c->n_refs].rule = strdup(name);
	if (r[c->n_refs].ptr == NULL || r[c->n_refs].rule == NULL)
		return nomem(c);
	c->n_refs++;
	tptr = strdup(ref + 1);
	if (tptr == NULL)
		return nomem(c);
	{
		char inner[32];
		struct l32_buf b = { 0 };
		int saved = c->depth, rc;

		/* a reference starts a fresh nesting count; references inside
		 * references are counted on their own */
		if (++c->ref_depth > MAX_REF_DEPTH) {
			free(tptr);
			return unsupported(c, ptr, "$ref", "references nested more than 256 deep are not supported");
		}
		c->depth = 0;
		rc = visit(c, target, tptr, inner);
		c->depth = saved;
		c->ref_depth--;
		free(tptr);
		if (rc == -1)
			return -1;
		l32_buf_puts(&b, inner);
		rc = emit_rule(c, name, b.data);
		l32_buf_free(&b);
		return rc;
	}
}

/* --------------------------------------------------------------- scalars */

/* A numeric keyword: 1 and its value when present as a number. */
static int
num_kw(struct sc *c, const json_t *s, const char *ptr, const char *k, double *v)
{
	json_t *x = json_object_get(s, k);

	if (x == NULL || json_is_boolean(x))
		return 0;
	if (!json_is_number(x))
		return invalid(c, ptr, k, "must be a number");
	if (fabs(json_number_value(x)) >= NUM_LIMIT)
		return unsupported(c, ptr, k, "bounds beyond 1e15 in magnitude are not supported");
	*v = json_number_value(x);
	return 1;
}

/* The tighter of an inclusive and an exclusive bound (up: an upper one);
 * kind 0 none, 1 inclusive, 2 exclusive. */
static int
one_bound(struct sc *c, const json_t *s, const char *ptr, const char *inc, const char *exc,
    int up, int *kind, double *v)
{
	double a = 0, b = 0;
	int ha, hb;

	if ((ha = num_kw(c, s, ptr, inc, &a)) == -1 || (hb = num_kw(c, s, ptr, exc, &b)) == -1)
		return -1;
	*kind = 0;
	if (ha) {
		*kind = json_is_true(json_object_get(s, exc)) ? 2 : 1;  /* draft 4's boolean form */
		*v = a;
	}
	if (hb && (!ha || (up ? b <= a : b >= a))) {
		*kind = 2;
		*v = b;
	}
	return 0;
}

static int
bounds(struct sc *c, const json_t *s, const char *ptr, int *lk, double *lo, int *hk, double *hi)
{
	*lo = *hi = 0;
	if (one_bound(c, s, ptr, "minimum", "exclusiveMinimum", 0, lk, lo) == -1 ||
	    one_bound(c, s, ptr, "maximum", "exclusiveMaximum", 1, hk, hi) == -1)
		return -1;
	return 0;
}

static int
integer_body(struct sc *c, const json_t *s, const char *ptr, struct l32_buf *b)
{
	int lk, hk;
	double lo, hi;
	long long a = 0, z = 0;

	if (bounds(c, s, ptr, &lk, &lo, &hk, &hi) == -1)
		return -1;
	if (!lk && !hk) {
		l32_buf_puts(b, "int");
		return 0;
	}
	if (lk)
		a = (long long)(lk == 2 ? floor(lo) + 1 : ceil(lo));
	if (hk)
		z = (long long)(hk == 2 ? ceil(hi) - 1 : floor(hi));
	if (!g_int_range(b, lk != 0, a, hk != 0, z))
		return invalid(c, ptr, lk ? "minimum" : "maximum", "the bounds allow no integer");
	return 0;
}

static int
number_body(struct sc *c, const json_t *s, const char *ptr, struct l32_buf *b)
{
	int lk, hk;
	double lo, hi;

	if (bounds(c, s, ptr, &lk, &lo, &hk, &hi) == -1)
		return -1;
	if (!lk && !hk) {
		l32_buf_puts(b, "number");
		return 0;
	}
	if (!g_num_range(b, lk, lo, hk, hi))
		return invalid(c, ptr, lk ? "minimum" : "maximum", "the bounds allow no number");
	return 0;
}

static int
string_body(struct sc *c, const json_t *s, const char *ptr, struct l32_buf *b)
{
	static const char *const formats[] = { "date", "time", "uuid", "email", NULL };
	json_t *fmt = json_object_get(s, "format"), *pat = json_object_get(s, "pattern");
	long min, max;
	const char *why;

	if (count_kw(c, s, ptr, "minLength", &min) == -1 || count_kw(c, s, ptr, "maxLength", &max) == -1)
		return -1;
	if (fmt != NULL) {
		const char *f = json_string_value(fmt);

		if (f == NULL)
			return invalid(c, ptr, "format", "must be a string");
		if (pat != NULL || min >= 0 || max >= 0)
			return unsupported(c, ptr, pat ? "pattern" : min >= 0 ? "minLength" : "maxLength",
			    "format together with pattern or a length is not supported");
		if (strcmp(f, "date-time") == 0)
			l32_buf_puts(b, "\"\\\"\" date \"T\" time \"\\\"\"");
		else if (in_list(formats, f))
			l32_buf_printf(b, "\"\\\"\" %s \"\\\"\"", f);
		else
			return unsupported(c, ptr, "format", "formats other than date, date-time, time, uuid and email are not supported");
		return 0;
	}
	if (pat != NULL) {
		if (!json_is_string(pat))
			return invalid(c, ptr, "pattern", "must be a string");
		if (min >= 0 || max >= 0)
			return unsupported(c, ptr, min >= 0 ? "minLength" : "maxLength",
			    "pattern together with a length is not supported");
		l32_buf_puts(b, "\"\\\"\" ");
		if (g_regex_gbnf(json_string_value(pat), json_string_length(pat), "char", b, &why) == -1)
			return unsupported(c, ptr, "pattern", why);
		l32_buf_puts(b, " \"\\\"\"");
		return 0;
	}
	if (max >= 0 && min > max)
		return invalid(c, ptr, "minLength", "minLength is above maxLength");
	if (min <= 0 && max < 0)
		l32_buf_puts(b, "string");
	else if (max < 0)
		l32_buf_printf(b, "\"\\\"\" char{%ld,} \"\\\"\"", min);
	else
		l32_buf_printf(b, "\"\\\"\" char{%ld,%ld} \"\\\"\"", min < 0 ? 0 : min, max);
	return 0;
}

/* --------------------------------------------------------------- objects */

/* String contents (JSON text) other than the given names: a trie of the
 * names walked byte by byte; a name with bytes a key cannot start a plain
 * run with (", \, controls) only narrows what is offered. */
static void
key_other(struct l32_buf *b, const char **names, size_t n, size_t depth)
{
	unsigned char seen[256] = { 0 }, ch;
	int ends = 0, non_ascii = 0, alts = 0;
	size_t i, j;
	unsigned k;

	for (i = 0; i < n; i++) {
		if (strlen(names[i]) == depth)
			ends = 1;
		else {
			ch = (unsigned char)names[i][depth];
			seen[ch] = 1;
			non_ascii |= ch >= 0x80;
		}
	}
	l32_buf_puts(b, "(");
	if (!ends) {
		l32_buf_puts(b, " \"\"");
		alts++;
	}
	/* a first byte no name has here: anything may follow */
	l32_buf_puts(b, alts++ ? " | ( [" : " ( [");
	for (k = 0x20; k < 0x7F; k++)
		if (!seen[k] && k != '"' && k != '\\')
			l32_buf_printf(b, "\\x%02X", k);
	l32_buf_puts(b, "]");
	if (!non_ascii)
		l32_buf_puts(b, " | [\\u0080-\\U0010FFFF]");
	l32_buf_puts(b, " ) char*");
	/* the names' own next bytes, then what differs further on */
	for (k = 0x20; k < 0x7F; k++) {
		const char *sub[256];
		size_t m = 0;

		if (!seen[k] || k == '"' || k == '\\')
			continue;
		for (j = 0; j < n && m < 256; j++)
			if (strlen(names[j]) > depth && (unsigned char)names[j][depth] == k)
				sub[m++] = names[j];
		l32_buf_printf(b, " | \"\\x%02X\" ", k);
		key_other(b, sub, m, depth + 1);
	}
	l32_buf_puts(b, " )");
}

/* A Python identifier (ASCII): a keyword argument or a tool name (which
 * may also hold "." and "-", as the tool-call reader allows). */
static int
py_name(const char *s, int tool)
{
	const char *p;

	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
		return 0;
	for (p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    *p == '_' || (tool && (*p == '.' || *p == '-'))))
			return 0;
	return 1;
}

static int
py_ident(const char *s)
{
	return py_name(s, 0);
}

static int
key_lit(struct sc *c, struct l32_buf *b, const char *key)
{
	json_t *k = json_string(key);
	int rc;

	if (k == NULL)
		return invalid(c, "", key, "a property name must be UTF-8");
	rc = lit_json(c, b, k);
	json_decref(k);
	return rc;
}

static int
object_body(struct sc *c, const json_t *s, const char *ptr, struct l32_buf *b)
{
	json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
	json_t *add = json_object_get(s, "additionalProperties"), *v, *r;
	struct l32_buf kv = { 0 }, xkv = { 0 }, body = { 0 };
	const char *k, **names = NULL;
	char name[32], first[32], rest[32], *pp = NULL, *pprops = ptr_join(ptr, "properties");
	size_t n = 0, i, j;
	int rc = -1, has_extra;
	char (*rules)[2][32] = NULL;
	int kw = c->kwargs;  /* keyword arguments: only this object, not those inside */

	c->kwargs = 0;
	if (props != NULL && !json_is_object(props)) {
		invalid(c, ptr, "properties", "must be an object");
		goto out;
	}
	if (req != NULL && !json_is_array(req)) {
		invalid(c, ptr, "required", "must be an array of strings");
		goto out;
	}
	if (add != NULL && !json_is_boolean(add) && !json_is_object(add)) {
		invalid(c, ptr, "additionalProperties", "must be a boolean or a schema");
		goto out;
	}
	/* unlisted properties only when allowed outright; an object schema
	 * that lists none stands for any object */
	has_extra = add != NULL ? !json_is_false(add) : props == NULL;
	if (add == NULL && props == NULL)
		add = json_true();
	if (kw)  /* a call names its arguments: none beyond those listed */
		has_extra = 0;
	n = props ? json_object_size(props) : 0;
	names = calloc(n + 1, sizeof(*names));
	rules = calloc(n + 1, sizeof(*rules));
	if (names == NULL || rules == NULL || pprops == NULL) {
		nomem(c);
		goto out;
	}
	json_array_foreach(req, i, r) {
		if (!json_is_string(r)) {
			invalid(c, ptr, "required", "must be an array of strings");
			goto out;
		}
		if ((props == NULL || json_object_get(props, json_string_value(r)) == NULL) && !has_extra) {
			invalid(c, ptr, "required", "names a property that properties does not define "
			    "and additionalProperties does not allow");
			goto out;
		}
		if (props == NULL || json_object_get(props, json_string_value(r)) == NULL) {
			unsupported(c, ptr, "required", "a required property that properties does not define is not supported");
			goto out;
		}
	}
	/* the extra properties' key: value */
	if (has_extra) {
		char vr[32];

		if (json_is_true(add))
			snprintf(vr, sizeof(vr), "value");
		else {
			char *pa = ptr_join(ptr, "additionalProperties");

			c->depth++;
			rc = pa ? visit(c, add, pa, vr) : nomem(c);
			c->depth--;
			free(pa);
			if (rc == -1)
				goto out;
			rc = -1;
		}
		i = 0;
		json_object_foreach(props, k, v)
			names[i++] = k;
		l32_buf_puts(&xkv, "\"\\\"\" ");
		key_other(&xkv, names, n, 0);
		l32_buf_printf(&xkv, " \"\\\"\" \":\" ws %s", vr);
	}
	/* rest_n and first_n: after the listed properties */
	new_name(c, rules[n][0]);
	new_name(c, rules[n][1]);
	if (has_extra) {
		l32_buf_printf(&body, "( \",\" ws %s )*", xkv.data);
		emit_rule(c, rules[n][1], body.data);
		l32_buf_reset(&body);
		l32_buf_printf(&body, "( %s ( \",\" ws %s )* )?", xkv.data, xkv.data);
		emit_rule(c, rules[n][0], body.data);
	} else {
		emit_rule(c, rules[n][1], "\"\"");
		emit_rule(c, rules[n][0], "\"\"");
	}
	/* each listed property, last first: first_k and rest_k */
	for (j = n; j-- > 0;) {
		const char *key = NULL;
		int required = 0;

		v = NULL;
		i = 0;
		json_object_foreach(props, k, v)
			if (i++ == j) {
				key = k;
				break;
			}
		json_array_foreach(req, i, r)
			required |= strcmp(json_string_value(r), key) == 0;
		free(pp);
		if ((pp = ptr_join(pprops, key)) == NULL) {
			nomem(c);
			goto out;
		}
		c->depth++;
		rc = visit(c, v, pp, name);
		c->depth--;
		if (rc == -1)
			goto out;
		rc = -1;
		l32_buf_reset(&kv);
		if (kw) {
			if (!py_ident(key)) {
				unsupported(c, pprops, key, "a tool argument name must be a Python identifier");
				goto out;
			}
			l32_buf_printf(&kv, "\"%s=\" %s", key, name);
		} else {
			if (key_lit(c, &kv, key) == -1)
				goto out;
			l32_buf_printf(&kv, " \":\" ws %s", name);
		}
		snprintf(first, sizeof(first), "%s", rules[j + 1][0]);
		snprintf(rest, sizeof(rest), "%s", rules[j + 1][1]);
		new_name(c, rules[j][0]);
		new_name(c, rules[j][1]);
		l32_buf_reset(&body);
		if (required)
			l32_buf_printf(&body, "\",\" ws %s %s", kv.data, rest);
		else
			l32_buf_printf(&body, "( \",\" ws %s )? %s", kv.data, rest);
		emit_rule(c, rules[j][1], body.data);
		l32_buf_reset(&body);
		if (required)
			l32_buf_printf(&body, "%s %s", kv.data, rest);
		else
			l32_buf_printf(&body, "%s %s | %s", kv.data, rest, first);
		emit_rule(c, rules[j][0], body.data);
	}
	l32_buf_printf(b, kw ? "\"(\" %s \")\"" : "\"{\" %s \"}\"", rules[0][0]);
	rc = c->out.data == NULL ? nomem(c) : 0;
out:
	free(pp);
	free(pprops);
	free(names);
	free(rules);
	l32_buf_free(&kv);
	l32_buf_free(&xkv);
	l32_buf_free(&body);
	return rc;
}

/* ---------------------------------------------------------------- arrays */

static int
array_body(struct sc *c, const json_t *s, const char *ptr, struct l32_buf *b)
{
	json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems"), *e;
	char item[32] = "value", (*pre)[32] = NULL, *p = NULL;
	long min, max;
	size_t k, j;
	int rc = -1, no_items = json_is_false(items);
	struct l32_buf body = { 0 };
	char next[32], cur[32];

	if (count_kw(c, s, ptr, "minItems", &min) == -1 || count_kw(c, s, ptr, "maxItems", &max) == -1)
		return -1;
	if (min < 0)
		min = 0;
	if (max >= 0 && min > max)
		return invalid(c, ptr, "minItems", "minItems is above maxItems");
	if (prefix != NULL && !json_is_array(prefix))
		return invalid(c, ptr, "prefixItems", "must be an array of schemas");
	if (items != NULL && !json_is_object(items) && !json_is_boolean(items))
		return unsupported(c, ptr, "items", "items must be a schema (the array form is prefixItems)");
	if (json_is_object(items)) {
		if ((p = ptr_join(ptr, "items")) == NULL)
			return nomem(c);
		c->depth++;
		rc = visit(c, items, p, item);
		c->depth--;
		free(p);
		if (rc == -1)
			return -1;
		rc = -1;
	}
	k = prefix ? json_array_size(prefix) : 0;
	if (no_items && (size_t)min > k)
		return invalid(c, ptr, "minItems", "minItems asks for more items than prefixItems allows");
	if (k == 0) {
		char top[24] = "";

		if (max > 0)
			snprintf(top, sizeof(top), "%ld", max - 1);
		if (no_items || max == 0)
			l32_buf_puts(b, "\"[\" \"]\"");
		else if (min == 0)
			l32_buf_printf(b, "\"[\" ( %s ( \",\" ws %s ){0,%s} )? \"]\"", item, item, top);
		else
			l32_buf_printf(b, "\"[\" %s ( \",\" ws %s ){%ld,%s} \"]\"", item, item, min - 1, top);
		return c->out.data == NULL ? nomem(c) : 0;
	}
	if ((pre = calloc(k, sizeof(*pre))) == NULL)
		return nomem(c);
	json_array_foreach(prefix, j, e) {
		char idx[24], *pp2 = NULL;

		snprintf(idx, sizeof(idx), "%zu", j);
		if ((p = ptr_join(ptr, "prefixItems")) == NULL || (pp2 = ptr_join(p, idx)) == NULL) {
			free(p);
			nomem(c);
			goto out;
		}
		free(p);
		c->depth++;
		rc = visit(c, e, pp2, pre[j]);
		c->depth--;
		free(pp2);
		if (rc == -1)
			goto out;
		rc = -1;
	}
	/* A_j, j items written: A_k the tail of extra items, then back to A_0 */
	new_name(c, next);
	l32_buf_reset(&body);
	if (no_items || (max >= 0 && (size_t)max <= k))
		l32_buf_puts(&body, "\"\"");
	else {
		l32_buf_printf(&body, "( \",\" ws %s ){%ld,", item, (size_t)min > k ? min - (long)k : 0);
		if (max >= 0)
			l32_buf_printf(&body, "%ld", max - (long)k);
		l32_buf_puts(&body, "}");
	}
	emit_rule(c, next, body.data);
	for (j = k; j-- > 0;) {
		new_name(c, cur);
		l32_buf_reset(&body);
		if (max >= 0 && (size_t)max <= j)
			l32_buf_puts(&body, "\"\"");
		else {
			l32_buf_printf(&body, "%s%s %s", j > 0 ? "\",\" ws " : "", pre[j], next);
			if ((size_t)min <= j)
				l32_buf_puts(&body, " | \"\"");
		}
		emit_rule(c, cur, body.data);
		snprintf(next, sizeof(next), "%s", cur);
	}
	l32_buf_printf(b, "\"[\" %s \"]\"", next);
	rc = c->out.data == NULL ? nomem(c) : 0;
out:
	free(pre);
	l32_buf_free(&body);
	return rc;
}

/* ----------------------------------------------------------- combinators */

/* Follows $ref until a schema without one (a few steps at most). */
static const json_t *
deref(struct sc *c, const json_t *s)
{
	const char *ref;
	int i;

	for (i = 0; i < 32 && json_is_object(s) && (ref = json_string_value(json_object_get(s, "$ref"))) != NULL; i++)
		s = resolve(c->root, ref);
	return s;
}

static int
value_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_NULL: return T_NULL;
	case JSON_TRUE: case JSON_FALSE: return T_BOOL;
	case JSON_OBJECT: return T_OBJECT;
	case JSON_ARRAY: return T_ARRAY;
	case JSON_INTEGER: return T_INTEGER | T_NUMBER;
	case JSON_REAL: return json_real_value(v) == floor(json_real_value(v)) ? T_INTEGER | T_NUMBER : T_NUMBER;
	default: return T_STRING;
	}
}

/* The values a schema is limited to by const or enum (an array), or NULL. */
static const json_t *
values_of(const json_t *s, json_t **tmp)
{
	const json_t *v;

	*tmp = NULL;
	if ((v = json_object_get(s, "const")) != NULL)
		return *tmp = json_pack("[O]", v);
	v = json_object_get(s, "enum");
	return json_is_array(v) ? v : NULL;
}

/* The JSON types a schema can produce, integers counted as numbers. */
static int
branch_types(struct sc *c, const json_t *s, int depth)
{
	const json_t *vals, *e;
	json_t *tmp, *sub;
	int t = 0, err_types;
	size_t i;
	struct l32_err quiet, *saved = c->err;

	s = deref(c, s);
	if (!json_is_object(s) || depth > 8)
		return T_ANY | T_INTEGER;
	if ((vals = values_of(s, &tmp)) != NULL) {
		json_array_foreach(vals, i, e)
			t |= value_type(e);
		json_decref(tmp);
		return t;
	}
	if ((sub = json_object_get(s, "anyOf")) != NULL || (sub = json_object_get(s, "oneOf")) != NULL) {
		json_array_foreach(sub, i, e)
			t |= branch_types(c, e, depth + 1);
		return t;
	}
	c->err = &quiet;
	if (schema_types(c, s, "", &err_types) == -1)
		err_types = T_ANY;
	c->err = saved;
	if (err_types & (T_NUMBER | T_INTEGER))
		err_types |= T_NUMBER | T_INTEGER;
	return err_types;
}

static int
values_disjoint(const json_t *a, const json_t *b)
{
	const json_t *x, *y;
	size_t i, j;

	json_array_foreach(a, i, x)
		json_array_foreach(b, j, y)
			if (json_equal((json_t *)x, (json_t *)y))
				return 0;
	return 1;
}

/* 1 when no instance can be valid under both a and b, as far as a cheap
 * look tells: different types, different constants, or objects that
 * require a property with different constants. */
static int
disjoint(struct sc *c, const json_t *a, const json_t *b)
{
	const json_t *va, *vb, *r, *pa, *pb;
	json_t *ta, *tb;
	size_t i;
	int d = 0;

	if ((branch_types(c, a, 0) & branch_types(c, b, 0)) == 0)
		return 1;
	a = deref(c, a);
	b = deref(c, b);
	if (!json_is_object(a) || !json_is_object(b))
		return 0;
	va = values_of(a, &ta);
	vb = values_of(b, &tb);
	if (va != NULL && vb != NULL)
		d = values_disjoint(va, vb);
	json_decref(ta);
	json_decref(tb);
	if (d)
		return 1;
	json_array_foreach(json_object_get(a, "required"), i, r) {
		const char *k = json_string_value(r);
		const json_t *rb, *e;
		size_t j;
		int both = 0;

		json_array_foreach(json_object_get(b, "required"), j, e)
			both |= k != NULL && json_string_value(e) != NULL && strcmp(k, json_string_value(e)) == 0;
		if (!both)
			continue;
		pa = deref(c, json_object_get(json_object_get(a, "properties"), k));
		rb = json_object_get(b, "properties");
		pb = deref(c, json_object_get(rb, k));
		if (!json_is_object(pa) || !json_is_object(pb))
			continue;
		va = values_of(pa, &ta);
		vb = values_of(pb, &tb);
		d = va != NULL && vb != NULL && values_disjoint(va, vb);
		json_decref(ta);
		json_decref(tb);
		if (d)
			return 1;
	}
	return 0;
}

static int
only_keywords(struct sc *c, const json_t *s, const char *ptr, const char *const *allowed,
    const char *why)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)s, k, v)
		if (!in_list(allowed, k) && !in_list(annotations, k))
			return unsupported(c, ptr, k, why);
	return 0;
}

static int
any_of_body(struct sc *c, const json_t *s, const char *ptr, const char *kw, struct l32_buf *b)
{
	const char *const allowed[] = { kw, NULL };
	json_t *l = json_object_get(s, kw), *e;
	char *p, *pp, idx[24], name[32];
	size_t i, j;
	int rc;

	if (only_keywords(c, s, ptr, allowed, "keywords beside anyOf or oneOf are not supported") == -1)
		return -1;
	if (!json_is_array(l) || json_array_size(l) == 0)
		return invalid(c, ptr, kw, "must be a non-empty array of schemas");
	if (strcmp(kw, "oneOf") == 0)
		for (i = 0; i < json_array_size(l); i++)
			for (j = i + 1; j < json_array_size(l); j++)
				if (!disjoint(c, json_array_get(l, i), json_array_get(l, j)))
					return unsupported(c, ptr, kw, "oneOf is supported where its branches "
					    "cannot both match (different types or constants); use anyOf");
	if ((p = ptr_join(ptr, kw)) == NULL)
		return nomem(c);
	l32_buf_puts(b, "(");
	json_array_foreach(l, i, e) {
		snprintf(idx, sizeof(idx), "%zu", i);
		if ((pp = ptr_join(p, idx)) == NULL) {
			free(p);
			return nomem(c);
		}
		c->depth++;
		rc = visit(c, e, pp, name);
		c->depth--;
		free(pp);
		if (rc == -1) {
			free(p);
			return -1;
		}
		l32_buf_printf(b, "%s%s", i ? " | " : " ", name);
	}
	l32_buf_puts(b, " )");
	free(p);
	return 0;
}

static const char *const object_kw[] = {
	"type", "properties", "required", "additionalProperties", "allOf", NULL
};

/* Adds one allOf member (an object schema) to the merged schema m. */
static int
merge_member(struct sc *c, json_t *m, const json_t *s, const char *ptr)
{
	json_t *props = json_object_get(m, "properties"), *req = json_object_get(m, "required");
	json_t *v, *old, *r;
	const char *k, *t;
	size_t i;

	if (!json_is_object(s))
		return unsupported(c, ptr, NULL, "allOf is supported for object schemas only");
	if (only_keywords(c, s, ptr, object_kw, "allOf is supported for object schemas only") == -1)
		return -1;
	if (json_object_get(s, "allOf") != NULL && json_object_size(s) > 0 && s != c->root &&
	    ptr[0] != '\0' && strstr(ptr, "/allOf/") != NULL)
		return unsupported(c, ptr, "allOf", "nested allOf is not supported");
	if ((v = json_object_get(s, "type")) != NULL &&
	    ((t = json_string_value(v)) == NULL || strcmp(t, "object") != 0))
		return unsupported(c, ptr, "type", "allOf is supported for object schemas only");
	json_object_foreach(json_object_get(s, "properties"), k, v) {
		if ((old = json_object_get(props, k)) != NULL && !json_equal(old, v))
			return unsupported(c, ptr, "properties", "allOf members that define one property differently are not supported");
		json_object_set(props, k, v);
	}
	json_array_foreach(json_object_get(s, "required"), i, r)
		json_array_append(req, r);
	v = json_object_get(s, "additionalProperties");
	if (json_is_object(v))
		return unsupported(c, ptr, "additionalProperties", "additionalProperties schemas inside allOf are not supported");
	if (!json_is_true(v))
		json_object_set_new(m, "additionalProperties", json_false());
	else if (json_object_get(m, "additionalProperties") == NULL)
		json_object_set_new(m, "additionalProperties", json_true());
	return 0;
}

/* allOf of object schemas (and the schema's own object keywords) merged
 * into one object schema.  A member that forbids other properties must
 * list every property the others add. */
static int
all_of_body(struct sc *c, const json_t *s, const char *ptr, struct l32_buf *b)
{
	json_t *l = json_object_get(s, "allOf"), *m, *e, *own;
	char *p, *pp, idx[24], name[32];
	size_t i;
	int rc = -1, closed = 0;
	const char *k;
	json_t *v;

	if (!json_is_array(l) || json_array_size(l) == 0)
		return invalid(c, ptr, "allOf", "must be a non-empty array of schemas");
	if ((p = ptr_join(ptr, "allOf")) == NULL)
		return nomem(c);
	m = json_pack("{s:s, s:{}, s:[]}", "type", "object", "properties", "required");
	own = json_deep_copy(s);
	json_object_del(own, "allOf");
	json_array_foreach(l, i, e) {
		snprintf(idx, sizeof(idx), "%zu", i);
		pp = ptr_join(p, idx);
		rc = pp ? merge_member(c, m, deref(c, e), pp) : nomem(c);
		free(pp);
		if (rc == -1)
			goto out;
		rc = -1;
	}
	if (merge_member(c, m, own, ptr) == -1)
		goto out;
	/* a closed member must list all the merged properties */
	json_array_foreach(l, i, e) {
		const json_t *d = deref(c, e);

		if (!json_is_false(json_object_get(d, "additionalProperties")))
			continue;
		closed = 1;
		json_object_foreach(json_object_get(m, "properties"), k, v)
			if (json_object_get(json_object_get(d, "properties"), k) == NULL) {
				snprintf(idx, sizeof(idx), "%zu", i);
				pp = ptr_join(p, idx);
				unsupported(c, pp ? pp : ptr, "additionalProperties",
				    "this allOf member forbids properties the others define");
				free(pp);
				goto out;
			}
	}
	(void)closed;
	c->depth++;
	rc = visit(c, m, p, name);
	c->depth--;
	if (rc == 0)
		l32_buf_puts(b, name);
out:
	json_decref(m);
	json_decref(own);
	free(p);
	return rc;
}

/* ------------------------------------------------------------------ visit */

static int
enum_body(struct sc *c, const json_t *s, const char *ptr, int types, struct l32_buf *b)
{
	const json_t *vals, *e;
	json_t *tmp;
	size_t i;
	int n = 0, has_type = json_object_get(s, "type") != NULL || json_object_get(s, "nullable") != NULL;

	vals = values_of(s, &tmp);
	if (json_object_get(s, "enum") != NULL && !json_is_array(json_object_get(s, "enum")))
		return invalid(c, ptr, "enum", "must be an array");
	if (types & T_NUMBER)
		types |= T_INTEGER;
	l32_buf_puts(b, "(");
	json_array_foreach(vals, i, e) {
		/* values the schema's type rules out would not validate */
		if (has_type && (value_type(e) & types) == 0)
			continue;
		l32_buf_puts(b, n++ ? " | " : " ");
		lit_json(c, b, e);
	}
	l32_buf_puts(b, " )");
	json_decref(tmp);
	if (n == 0)
		return invalid(c, ptr, json_object_get(s, "const") ? "const" : "enum",
		    "no value is allowed (the list is empty or none has the schema's type)");
	return 0;
}

static int
typed_body(struct sc *c, const json_t *s, const char *ptr, int types, struct l32_buf *b)
{
	int n = 0;

	l32_buf_puts(b, "(");
	if (types == T_ANY) {
		l32_buf_puts(b, " value )");
		return 0;
	}
	if (types & T_NULL)
		l32_buf_puts(b, n++ ? " | null" : " null");
	if (types & T_BOOL)
		l32_buf_puts(b, n++ ? " | boolean" : " boolean");
	if (types & T_INTEGER) {
		l32_buf_puts(b, n++ ? " | " : " ");
		if (integer_body(c, s, ptr, b) == -1)
			return -1;
	}
	if (types & T_NUMBER) {
		l32_buf_puts(b, n++ ? " | " : " ");
		if (number_body(c, s, ptr, b) == -1)
			return -1;
	}
	if (types & T_STRING) {
		l32_buf_puts(b, n++ ? " | " : " ");
		if (string_body(c, s, ptr, b) == -1)
			return -1;
	}
	if (types & T_ARRAY) {
		l32_buf_puts(b, n++ ? " | " : " ");
		if (array_body(c, s, ptr, b) == -1)
			return -1;
	}
	if (types & T_OBJECT) {
		l32_buf_puts(b, n++ ? " | " : " ");
		if (object_body(c, s, ptr, b) == -1)
			return -1;
	}
	l32_buf_puts(b, " )");
	return 0;
}

static int
visit(struct sc *c, const json_t *s, const char *ptr, char *name)
{
	struct l32_buf body = { 0 };
	int types, rc;

	if (c->depth > MAX_DEPTH)
		return unsupported(c, ptr, NULL, "schemas nested deeper than 64 levels are not supported");
	if (json_is_true(s) || (json_is_object(s) && json_object_size(s) == 0)) {
		snprintf(name, 32, "value");
		return 0;
	}
	if (json_is_false(s))
		return invalid(c, ptr, NULL, "the schema false allows no value");
	if (!json_is_object(s))
		return invalid(c, ptr, NULL, "a schema must be an object or a boolean");
	if (check_keywords(c, s, ptr) == -1)
		return -1;
	if (json_object_get(s, "$ref") != NULL)
		return visit_ref(c, s, ptr, name);
	if (schema_types(c, s, ptr, &types) == -1)
		return -1;
	if (json_object_get(s, "const") != NULL || json_object_get(s, "enum") != NULL)
		rc = enum_body(c, s, ptr, types, &body);
	else if (json_object_get(s, "anyOf") != NULL)
		rc = any_of_body(c, s, ptr, "anyOf", &body);
	else if (json_object_get(s, "oneOf") != NULL)
		rc = any_of_body(c, s, ptr, "oneOf", &body);
	else if (json_object_get(s, "allOf") != NULL)
		rc = all_of_body(c, s, ptr, &body);
	else
		rc = typed_body(c, s, ptr, types, &body);
	if (rc == 0) {
		new_name(c, name);
		rc = emit_rule(c, name, body.data);
	}
	l32_buf_free(&body);
	return rc;
}

/* ------------------------------------------------------------------- API */

char *
l32_grammar_schema_gbnf(const json_t *schema, const char *param_prefix, struct l32_err *err)
{
	struct sc c;
	char name[32];
	size_t i;
	int rc;

	memset(&c, 0, sizeof(c));
	c.root = schema;
	c.prefix = param_prefix ? param_prefix : "";
	c.err = err;
	l32_buf_puts(&c.out, prelude);
	l32_buf_puts(&c.out, prelude_json);
	rc = visit(&c, schema, "", name);
	if (rc == 0) {
		l32_buf_printf(&c.out, "root ::= %s\n", name);
		if (c.out.data == NULL)
			rc = nomem(&c);
	}
	for (i = 0; i < c.n_refs; i++) {
		free(c.refs[i].ptr);
		free(c.refs[i].rule);
	}
	free(c.refs);
	if (rc == -1) {
		l32_buf_free(&c.out);
		return NULL;
	}
	return c.out.data;
}

struct l32_grammar *
l32_grammar_from_schema(const json_t *schema, const char *param_prefix, struct l32_err *err)
{
	struct l32_grammar *g;
	char *text = l32_grammar_schema_gbnf(schema, param_prefix, err);

	if (text == NULL)
		return NULL;
	if ((g = l32_grammar_parse_gbnf(text, strlen(text), err)) == NULL && err != NULL &&
	    err->kind != L32_ERR_NOMEM) {
		/* the only way a compiled schema fails: a $ref cycle that reads nothing */
		l32_err_param(err, L32_ERR_UNSUPPORTED, param_prefix ? param_prefix : "",
		    "%s: the schema refers to itself without any JSON text in between",
		    param_prefix ? param_prefix : "schema");
		err->code = "unsupported_value";
	}
	free(text);
	return g;
}

struct l32_grammar *
l32_grammar_json_object(struct l32_err *err)
{
	struct l32_buf b = { 0 };
	struct l32_grammar *g;

	l32_buf_puts(&b, prelude);
	l32_buf_puts(&b, prelude_json);
	l32_buf_puts(&b, "root ::= object\n");
	if (b.data == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	g = l32_grammar_parse_gbnf(b.data, b.len, err);
	l32_buf_free(&b);
	return g;
}

/* ---------------------------------------------------------------- tools */

/* One tool as a call rule: its name, then its parameters as keyword
 * arguments in the order the schema lists them. */
static int
tool_call_rule(struct sc *c, const json_t *tool, size_t i, char *name)
{
	const json_t *f = json_object_get(tool, "function"), *params;
	const char *fname = json_string_value(json_object_get(f, "name")), *t;
	char ptr[64], args[32];
	struct l32_buf body = { 0 };
	int rc;

	snprintf(ptr, sizeof(ptr), "/%zu/function", i);
	if (!json_is_object(tool) || !json_is_object(f) || fname == NULL)
		return invalid(c, ptr, "name", "each tool needs a function with a name");
	if (!py_name(fname, 1))
		return unsupported(c, ptr, "name", "a tool name the model calls must be a Python identifier");
	params = json_object_get(f, "parameters");
	if (params != NULL && !json_is_object(params))
		return invalid(c, ptr, "parameters", "must be a JSON Schema object");
	snprintf(ptr, sizeof(ptr), "/%zu/function/parameters", i);
	if (params == NULL || json_object_get(params, "properties") == NULL ||
	    json_object_size(json_object_get(params, "properties")) == 0) {
		snprintf(args, sizeof(args), "\"()\"");
	} else {
		if ((t = json_string_value(json_object_get(params, "type"))) != NULL && strcmp(t, "object") != 0)
			return unsupported(c, ptr, "type", "tool parameters must be an object schema");
		if (json_object_get(params, "anyOf") || json_object_get(params, "oneOf") ||
		    json_object_get(params, "allOf") || json_object_get(params, "$ref"))
			return unsupported(c, ptr, NULL, "tool parameters must be one object schema");
		c->root = params;  /* its $refs point inside it */
		c->kwargs = 1;
		rc = visit(c, params, ptr, args);
		c->kwargs = 0;
		if (rc == -1)
			return -1;
	}
	l32_buf_puts(&body, "\"");
	l32_buf_puts(&body, fname);
	l32_buf_printf(&body, "\" %s", args);
	new_name(c, name);
	rc = emit_rule(c, name, body.data);
	l32_buf_free(&body);
	return rc;
}

struct l32_grammar *
l32_grammar_tool_calls(const json_t *tools, const char *only, struct l32_err *err)
{
	struct sc c;
	struct l32_buf calls = { 0 };
	struct l32_grammar *g = NULL;
	const json_t *t;
	char name[32];
	size_t i;
	int n = 0;

	memset(&c, 0, sizeof(c));
	c.root = tools;
	c.prefix = "tools";
	c.err = err;
	c.python = 1;
	if (!json_is_array(tools) || json_array_size(tools) == 0) {
		l32_err_param(err, L32_ERR_INVALID, "tools", "tool_choice needs a non-empty tools array");
		return NULL;
	}
	l32_buf_puts(&c.out, prelude);
	l32_buf_puts(&c.out, prelude_python);
	l32_buf_puts(&calls, "call ::=");
	json_array_foreach(tools, i, t) {
		const char *fname = json_string_value(json_object_get(json_object_get(t, "function"), "name"));

		if (only != NULL && (fname == NULL || strcmp(fname, only) != 0))
			continue;
		if (tool_call_rule(&c, t, i, name) == -1)
			goto out;
		l32_buf_printf(&calls, "%s %s", n++ ? " |" : "", name);
	}
	if (n == 0) {
		l32_err_param(err, L32_ERR_INVALID, "tool_choice", "tool_choice names %s, which is not among the tools",
		    only ? only : "nothing");
		goto out;
	}
	/* Llama 3.2's pythonic list: [f(a=1), g(b="x")] */
	l32_buf_printf(&c.out, "%s\nroot ::= \"[\" call %s\"]\"\n", calls.data,
	    only != NULL ? "" : "( \",\" ws call )* ");
	if (c.out.data == NULL) {
		nomem(&c);
		goto out;
	}
	g = l32_grammar_parse_gbnf(c.out.data, c.out.len, err);
out:
	for (i = 0; i < c.n_refs; i++) {
		free(c.refs[i].ptr);
		free(c.refs[i].rule);
	}
	free(c.refs);
	l32_buf_free(&c.out);
	l32_buf_free(&calls);
	return g;
}
