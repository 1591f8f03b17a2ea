/*
 * linejson.h - what can be read of a request line that jansson refuses:
 * the fields that come back on its error line (id, custom_id, metadata)
 * when they stand before the fault, and whether the line is valid JSON
 * but for a number too large for a C integer or double.
 */
#ifndef L32_LINEJSON_H
#define L32_LINEJSON_H

#include <stddef.h>
#include <jansson.h>

struct l32_line_salvage {
	/* the line's top-level members read before the first fault (new
	 * references), or NULL */
	json_t *id, *custom_id, *metadata;
	int has_body;          /* a top-level "body" member was seen */
	int is_object;         /* the line is (or starts as) an object */
	int valid;             /* valid JSON, but a number in it is out of range */
	char path[128];        /* the first such number's member: "seed", "body.seed", "prompt[3]" */
	char number[48];       /* its text, cut to fit */
};

/* Walks s[0..n); fills out (zeroed first).  Free with
 * l32_line_salvage_free. */
void l32_line_salvage(const char *s, size_t n, struct l32_line_salvage *out);
void l32_line_salvage_free(struct l32_line_salvage *out);

#endif
