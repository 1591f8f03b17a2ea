/*
 * l32-grammar - the grammar engine from the shell, for tests and for
 * writing grammars:
 *
 *   l32-grammar -c FILE.gbnf    each stdin line is a JSON string; prints
 *                               "ok" or "reject" per line, exit 1 when
 *                               any is rejected (the engine's recognizer)
 *   l32-grammar -p FILE.gbnf    the same for prefixes: "ok" when the text
 *                               can still be continued into the grammar
 *   l32-grammar -s SCHEMA.json  prints the GBNF a JSON Schema compiles to
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "l32.h"
#include "prog/l32_prog.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: %s -c grammar.gbnf | -p grammar.gbnf | -s schema.json\n", getprogname());
	exit(2);
}

static int
check(const char *path, int prefix)
{
	struct l32_err err;
	char *text = l32_grammar_read_gbnf(path, &err), *line = NULL;
	struct l32_grammar *g;
	size_t cap = 0;
	ssize_t n;
	json_t *s;
	int rc = 0;

	if (text == NULL || (g = l32_grammar_parse_gbnf(text, strlen(text), &err)) == NULL)
		errx(3, "%s", err.msg);
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if ((s = json_loadb(line, (size_t)n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL)) == NULL ||
		    !json_is_string(s))
			errx(2, "stdin: each line must be a JSON string");
		if (prefix ? l32_grammar_advance(g, l32_grammar_start(g), json_string_value(s),
		    json_string_length(s), &err) > 0 :
		    l32_grammar_match(g, json_string_value(s), json_string_length(s)))
			puts("ok");
		else {
			puts("reject");
			rc = 1;
		}
		json_decref(s);
	}
	free(line);
	free(text);
	l32_grammar_free(g);
	return rc;
}

static int
schema(const char *path)
{
	struct l32_err err;
	json_error_t je;
	json_t *s = json_load_file(path, JSON_DECODE_ANY, &je);
	char *text;

	if (s == NULL)
		errx(3, "%s:%d: %s", path, je.line, je.text);
	if ((text = l32_grammar_schema_gbnf(s, "", &err)) == NULL)
		errx(1, "%s: %s", path, err.msg);
	fputs(text, stdout);
	free(text);
	json_decref(s);
	return 0;
}

int
main(int argc, char **argv)
{
	int ch;

	while ((ch = getopt(argc, argv, "c:p:s:")) != -1) {
		switch (ch) {
		case 'c': return check(optarg, 0);
		case 'p': return check(optarg, 1);
		case 's': return schema(optarg);
		default: usage();
		}
	}
	usage();
}
