/*
 * pyjson.h - Python's text conventions reproduced byte for byte, for the
 * prompt formats that were written in Python: json.dumps (compact or with
 * indent=4, ensure_ascii on or off), float repr, the str()-like value writer
 * of Meta's python_list tool calls, and str.strip().  Internal to libcore.
 */
#ifndef L32_PYJSON_H
#define L32_PYJSON_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "chat/l32_chat.h"

/*
 * Appends json.dumps(v, indent=..., ensure_ascii=...) to out.  indent < 0 is
 * Python's default layout (separators ", " and ": "); indent >= 0 puts every
 * item on its own line, indented by that many spaces per level, with ","
 * at line ends.  Keys keep the order of the object.  Returns 0, or -1 when
 * memory runs out or the nesting is deeper than L32_PYJSON_MAX_DEPTH.
 */
#define L32_PYJSON_MAX_DEPTH 2048 /* jansson's own parse limit */
int l32_pyjson_dump(struct l32_buf *out, const json_t *v, int indent, int ensure_ascii);

/* Appends one string as a JSON string literal, quotes included. */
int l32_pyjson_dump_string(struct l32_buf *out, const char *s, size_t n, int ensure_ascii);

/* Appends repr(d): the shortest decimal that reads back as d ("0.1",
 * "1e-05", "1e+16", "100.0").  d must be finite. */
int l32_pyjson_float_repr(struct l32_buf *out, double d);

/*
 * Appends a value the way Meta's python_list tool format writes it: strings
 * in double quotes with nothing escaped, str() for numbers, True / False /
 * None, lists as "[a, b]" and objects as "{k=v, k2=v2}".
 */
int l32_pyjson_pyvalue(struct l32_buf *out, const json_t *v);

/* Decodes one UTF-8 scalar at s[0..n): its length (1..4) and code point, or
 * 0 for an ill-formed sequence or n == 0. */
size_t l32_pyjson_utf8_next(const unsigned char *s, size_t n, uint32_t *cp);

/* 1 when s[0..n) is well-formed UTF-8. */
int l32_pyjson_utf8_valid(const char *s, size_t n);

/* Python str.isspace() for one code point. */
int l32_pyjson_isspace(uint32_t cp);

/* Python str.strip(): narrows s[0..*n) to drop isspace() code points at
 * both ends; returns the new start.  Ill-formed bytes are kept. */
const char *l32_pyjson_strip(const char *s, size_t *n);

#endif /* L32_PYJSON_H */
