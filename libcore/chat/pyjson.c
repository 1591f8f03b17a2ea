/*
 * pyjson.c - Python's json.dumps, float repr, Meta's python_list value
 * writer and str.strip(), byte for byte.
 *
 * The Llama 3 prompt formats were defined by Python code (Meta's
 * chat_format.py, the Hugging Face Jinja template rendered by transformers),
 * so a prompt that tokenizes the same must spell JSON exactly as Python
 * does: ", " and ": " separators, "\u00e9" escapes with surrogate pairs,
 * "1e-05" and "100.0" for reals.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/pyjson.h"

/* ------------------------------------------------------------- unicode */

size_t
l32_pyjson_utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c, min;
	size_t len, i;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		c &= 0x1f;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		c &= 0x0f;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		c &= 0x07;
		min = 0x10000;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

int
l32_pyjson_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k;
	uint32_t cp;

	while (i < n) {
		if ((k = l32_pyjson_utf8_next(p + i, n - i, &cp)) == 0)
			return 0;
		i += k;
	}
	return 1;
}

int
l32_pyjson_isspace(uint32_t cp)
{
	/* Python's isspace(): bidirectional class WS, B or S, or category Zs.
	 * Unlike regex \s it includes the separators U+001C..U+001F. */
	if ((cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20))
		return 1;
	switch (cp) {
	case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202f: case 0x205f: case 0x3000:
		return 1;
	}
	return cp >= 0x2000 && cp <= 0x200a;
}

/* Length of the isspace() code point ending at s[n - 1], or 0. */
static size_t
space_before(const unsigned char *s, size_t n)
{
	size_t k = 1;
	uint32_t cp;

	if (n == 0)
		return 0;
	while (k < 4 && k < n && (s[n - k] & 0xc0) == 0x80)
		k++;
	if (l32_pyjson_utf8_next(s + n - k, k, &cp) != k)
		return 0;
	return l32_pyjson_isspace(cp) ? k : 0;
}

const char *
l32_pyjson_strip(const char *s, size_t *n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = *n, k;
	uint32_t cp;

	while ((k = l32_pyjson_utf8_next(p, len, &cp)) > 0 && l32_pyjson_isspace(cp)) {
		p += k;
		len -= k;
	}
	while ((k = space_before(p, len)) > 0)
		len -= k;
	*n = len;
	return (const char *)p;
}

/* ------------------------------------------------------------- strings */

static int
put_u16(struct l32_buf *out, uint32_t u)
{
	return l32_buf_printf(out, "\\u%04x", (unsigned)u);
}

/* Python escapes ", \, \n, \r, \t, \b, \f by name and other controls as
 * \u00XX; ensure_ascii also escapes everything above '~' (DEL included),
 * astral code points as a surrogate pair. */
int
l32_pyjson_dump_string(struct l32_buf *out, const char *s, size_t n, int ensure_ascii)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, k, run;
	uint32_t cp;
	const char *esc;

	if (l32_buf_append(out, "\"", 1) == -1)
		return -1;
	while (i < n) {
		/* Copy the longest run that needs no escape in one go. */
		for (run = i; run < n; run++) {
			unsigned char c = p[run];
			if (c < 0x20 || c == '"' || c == '\\' || (ensure_ascii && c > 0x7e))
				break;
		}
		if (run > i && l32_buf_append(out, p + i, run - i) == -1)
			return -1;
		if ((i = run) >= n)
			break;
		esc = NULL;
		switch (p[i]) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		}
		if (esc != NULL) {
			if (l32_buf_puts(out, esc) == -1)
				return -1;
			i++;
			continue;
		}
		if ((k = l32_pyjson_utf8_next(p + i, n - i, &cp)) == 0) {
			/* Not reachable from jansson strings (it checks UTF-8);
			 * keep a stray byte as U+FFFD rather than emit it. */
			cp = 0xfffd;
			k = 1;
		}
		if (cp >= 0x10000) {
			cp -= 0x10000;
			if (put_u16(out, 0xd800 + (cp >> 10)) == -1 ||
			    put_u16(out, 0xdc00 + (cp & 0x3ff)) == -1)
				return -1;
		} else if (put_u16(out, cp) == -1)
			return -1;
		i += k;
	}
	return l32_buf_append(out, "\"", 1);
}

/* --------------------------------------------------------------- reals */

int
l32_pyjson_float_repr(struct l32_buf *out, double d)
{
	char buf[64], digits[32];
	int prec, exp10, decpt, nd, i;
	char *e;

	if (!isfinite(d))
		return -1;
	if (d == 0)
		return l32_buf_puts(out, signbit(d) ? "-0.0" : "0.0");
	/* The shortest correctly rounded decimal that reads back as d is
	 * what Python's repr() prints. */
	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	/* buf is "-d.ddde+XX": split into digits and decimal exponent. */
	nd = 0;
	for (i = buf[0] == '-'; buf[i] != 'e' && buf[i] != '\0'; i++)
		if (buf[i] >= '0' && buf[i] <= '9')
			digits[nd++] = buf[i];
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	exp10 = (int)strtol(strchr(buf, 'e') + 1, &e, 10);
	decpt = exp10 + 1; /* value = 0.DIGITS x 10^decpt */
	if (d < 0 && l32_buf_puts(out, "-") == -1)
		return -1;
	if (decpt <= -4 || decpt > 16) {
		/* Exponent form: "1e-05", "1.5e+300". */
		if (l32_buf_append(out, digits, 1) == -1 ||
		    (nd > 1 && (l32_buf_puts(out, ".") == -1 ||
		    l32_buf_append(out, digits + 1, (size_t)nd - 1) == -1)))
			return -1;
		return l32_buf_printf(out, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
	}
	if (decpt <= 0) {
		if (l32_buf_puts(out, "0.") == -1)
			return -1;
		for (i = 0; i < -decpt; i++)
			if (l32_buf_puts(out, "0") == -1)
				return -1;
		return l32_buf_append(out, digits, (size_t)nd);
	}
	if (decpt < nd)
		return l32_buf_printf(out, "%.*s.%s", decpt, digits, digits + decpt);
	if (l32_buf_append(out, digits, (size_t)nd) == -1)
		return -1;
	for (i = nd; i < decpt; i++)
		if (l32_buf_puts(out, "0") == -1)
			return -1;
	return l32_buf_puts(out, ".0");
}

/* --------------------------------------------------------------- dumps */

static int
newline_indent(struct l32_buf *out, int indent, int level)
{
	if (l32_buf_puts(out, "\n") == -1 || l32_buf_reserve(out, (size_t)indent * level) == -1)
		return -1;
	memset(out->data + out->len, ' ', (size_t)indent * level);
	out->len += (size_t)indent * level;
	out->data[out->len] = '\0';
	return 0;
}

static int dump_value(struct l32_buf *out, const json_t *v, int indent, int ascii, int level);

/* The separator before item i: ", " inline, ",\n<indent>" indented. */
static int
item_sep(struct l32_buf *out, size_t i, int indent, int level)
{
	if (i > 0 && l32_buf_puts(out, indent < 0 ? ", " : ",") == -1)
		return -1;
	return indent < 0 ? 0 : newline_indent(out, indent, level);
}

static int
dump_array(struct l32_buf *out, const json_t *v, int indent, int ascii, int level)
{
	size_t i, n = json_array_size(v);

	if (n == 0)
		return l32_buf_puts(out, "[]");
	if (l32_buf_puts(out, "[") == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (item_sep(out, i, indent, level + 1) == -1 ||
		    dump_value(out, json_array_get(v, i), indent, ascii, level + 1) == -1)
			return -1;
	if (indent >= 0 && newline_indent(out, indent, level) == -1)
		return -1;
	return l32_buf_puts(out, "]");
}

static int
dump_object(struct l32_buf *out, const json_t *v, int indent, int ascii, int level)
{
	const char *key;
	json_t *val;
	size_t i = 0;

	if (json_object_size(v) == 0)
		return l32_buf_puts(out, "{}");
	if (l32_buf_puts(out, "{") == -1)
		return -1;
	json_object_foreach((json_t *)v, key, val) {
		if (item_sep(out, i++, indent, level + 1) == -1 ||
		    l32_pyjson_dump_string(out, key, strlen(key), ascii) == -1 ||
		    l32_buf_puts(out, ": ") == -1 ||
		    dump_value(out, val, indent, ascii, level + 1) == -1)
			return -1;
	}
	if (indent >= 0 && newline_indent(out, indent, level) == -1)
		return -1;
	return l32_buf_puts(out, "}");
}

static int
dump_value(struct l32_buf *out, const json_t *v, int indent, int ascii, int level)
{
	if (level > L32_PYJSON_MAX_DEPTH)
		return -1;
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return dump_object(out, v, indent, ascii, level);
	case JSON_ARRAY:
		return dump_array(out, v, indent, ascii, level);
	case JSON_STRING:
		return l32_pyjson_dump_string(out, json_string_value(v), json_string_length(v), ascii);
	case JSON_INTEGER:
		return l32_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return l32_pyjson_float_repr(out, json_real_value(v));
	case JSON_TRUE:
		return l32_buf_puts(out, "true");
	case JSON_FALSE:
		return l32_buf_puts(out, "false");
	case JSON_NULL:
		return l32_buf_puts(out, "null");
	}
	return -1;
}

int
l32_pyjson_dump(struct l32_buf *out, const json_t *v, int indent, int ensure_ascii)
{
	return dump_value(out, v, indent, ensure_ascii, 0);
}

/* ----------------------------------------------------- python_list values */

static int
pyvalue(struct l32_buf *out, const json_t *v, int level)
{
	const char *key;
	json_t *val;
	size_t i, n;

	if (level > L32_PYJSON_MAX_DEPTH)
		return -1;
	switch (json_typeof(v)) {
	case JSON_STRING:
		/* Meta writes f'"{value}"': quotes around the raw text. */
		return l32_buf_puts(out, "\"") == -1 ||
		    l32_buf_append(out, json_string_value(v), json_string_length(v)) == -1 ||
		    l32_buf_puts(out, "\"") == -1 ? -1 : 0;
	case JSON_INTEGER:
		return l32_buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	case JSON_REAL:
		return l32_pyjson_float_repr(out, json_real_value(v));
	case JSON_TRUE:
		return l32_buf_puts(out, "True");
	case JSON_FALSE:
		return l32_buf_puts(out, "False");
	case JSON_NULL:
		return l32_buf_puts(out, "None");
	case JSON_ARRAY:
		if (l32_buf_puts(out, "[") == -1)
			return -1;
		n = json_array_size(v);
		for (i = 0; i < n; i++)
			if ((i > 0 && l32_buf_puts(out, ", ") == -1) ||
			    pyvalue(out, json_array_get(v, i), level + 1) == -1)
				return -1;
		return l32_buf_puts(out, "]");
	case JSON_OBJECT:
		/* Meta's format_value writes dicts as {k=v, ...}. */
		if (l32_buf_puts(out, "{") == -1)
			return -1;
		i = 0;
		json_object_foreach((json_t *)v, key, val) {
			if ((i++ > 0 && l32_buf_puts(out, ", ") == -1) ||
			    l32_buf_printf(out, "%s=", key) == -1 ||
			    pyvalue(out, val, level + 1) == -1)
				return -1;
		}
		return l32_buf_puts(out, "}");
	}
	return -1;
}

int
l32_pyjson_pyvalue(struct l32_buf *out, const json_t *v)
{
	return pyvalue(out, v, 0);
}
