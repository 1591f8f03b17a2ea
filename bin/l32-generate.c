/*
 * l32-generate - the OpenAI chat-completions endpoint as an NDJSON filter.
 *
 *   {"messages": [...], "max_tokens": N, ...}  -> chat.completion
 *   {"prompt": "..." | [ids], ...}              -> text_completion
 *   "stream": true                              -> chat.completion.chunk lines
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "l32.h"
#include "prog/l32_prog.h"

struct generate {
	struct l32_api_chat api;    /* the requests (first: ops get it as arg) */
	struct l32_program p;       /* options, model, engine (libcore/prog) */
	const char *system;         /* -s: system message for --text */
	char *grammar;              /* --grammar: GBNF for every request, or NULL */
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-hrTV] [-b batch] [-c ctx] [-m model] [-s system] [-t threads]\n"
	    "       [--cache-mem bytes] [--chat-format hf|meta] [--check-weights]\n"
	    "       [--date date] [--grammar file] [--kv-f16]\n"
	    "       [--max-line bytes] [--max-tokens n] [--prefix-cache file] [--progress]\n"
	    "       [--seed n] [--sse] [--temperature t] [file ...]\n",
	    getprogname());
	exit(L32_EXIT_USAGE);
}

/* The request loop's ops over the API code. */
static int
handle(void *arg, struct l32_filter *f, json_t *body, struct l32_err *err)
{
	return l32_api_chat_submit(arg, body, l32_filter_sink(f), err);
}

static int
step(void *arg, struct l32_err *err)
{
	return l32_api_chat_step(arg, err);
}

/* --text: the line is the user message (after -s's system message). */
static json_t *
from_text(void *arg, const char *line, size_t len, struct l32_err *err)
{
	struct generate *g = arg;
	json_t *msgs = json_array();

	if (g->system != NULL)
		json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "system", "content", g->system));
	json_array_append_new(msgs, json_pack("{s:s, s:s%}", "role", "user", "content", line, len));
	return json_pack("{s:o}", "messages", msgs);
}

/* --raw: the first choice's text (or its tool calls as JSON). */
static const char *
raw_text(void *arg, json_t *resp, size_t *len)
{
	json_t *c = json_array_get(json_object_get(resp, "choices"), 0);
	json_t *msg = json_object_get(c, "message"), *v;
	static char *calls;

	if ((v = json_object_get(msg, "tool_calls")) != NULL) {
		free(calls);
		calls = json_dumps(v, JSON_COMPACT);
		*len = calls ? strlen(calls) : 0;
		return calls;
	}
	v = msg != NULL ? json_object_get(msg, "content") : json_object_get(c, "text");
	if (!json_is_string(v))
		return NULL;
	*len = json_string_length(v);
	return json_string_value(v);
}

/* ------------------------------------------------------------------- main */

int
main(int argc, char *argv[])
{
	static const struct option own[] = {
		{ "grammar", required_argument, NULL, 'G' },
		{ "sse", no_argument, NULL, 'E' },
		{ "system", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const urls[] = { "/v1/chat/completions", "/v1/completions",
	    "/chat/completions", "/completions", NULL };
	struct l32_filter_ops ops = { from_text, handle, raw_text, urls, step, 0 };
	struct generate g;
	struct l32_err err;
	int ch, status;

	memset(&g, 0, sizeof(g));
	if (l32_program_init(&g.p, L32_TAKES_FILTER | L32_TAKES_MODEL | L32_TAKES_ENGINE |
	    L32_TAKES_CHAT | L32_TAKES_GEN, L32_BATCH_AUTO, "s:", own) == -1)
		usage();
	while ((ch = l32_program_getopt(&g.p, argc, argv)) != -1) {
		switch (ch) {
		case 'E': g.p.opt.fo.sse = 1; break;
		case 'G':
			if ((g.grammar = l32_grammar_read_gbnf(optarg, &err)) == NULL)
				errx(L32_EXIT_USAGE, "--grammar: %s", err.msg);
			break;
		case 's': g.system = optarg; break;
		case 'V': printf("%s %s\n", getprogname(), L32_VERSION); return 0;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	g.p.step_lazy = 1;   /* -b auto: measured when a second request would batch */
	if ((status = l32_program_open(&g.p, &err)) != 0)
		errx(status, "%s", err.msg);
	l32_api_chat_init(&g.api, &g.p);
	g.api.grammar = g.grammar;
	if (l32_api_chat_start(&g.api, &err) == -1)
		errx(L32_EXIT_FATAL, "%s", err.msg);
	l32_program_step_on(&g.p, g.api.jobs);
	g.p.opt.fo.max_inflight = (int)g.p.opt.batch;
	status = l32_filter_run(&ops, &g, &g.p.opt.fo, argv, argc);
	l32_api_chat_stop(&g.api);  /* what a signal left unanswered */
	status = l32_program_save(&g.p, status);
	l32_program_close(&g.p);
	free(g.grammar);
	return status;
}
