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

struct generate {
	struct l32_api_chat api;    /* the requests (first: ops get it as arg) */
	struct l32_model *model;
	const char *system;         /* -s: system message for --text */
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-hrTV] [-b batch] [-c ctx] [-m model] [-s system] [-t threads]\n"
	    "       [--chat-format hf|meta] [--date date] [--kv-f16] [--max-line bytes]\n"
	    "       [--max-tokens n] [--progress] [--seed n] [--sse] [--temperature t] [file ...]\n",
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
	static const struct option longopts[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "chat-format", required_argument, NULL, 'F' },
		{ "ctx", required_argument, NULL, 'c' },
		{ "date", required_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ "kv-f16", no_argument, NULL, 'K' },
		{ "max-line", required_argument, NULL, 'L' },
		{ "max-tokens", required_argument, NULL, 'M' },
		{ "model", required_argument, NULL, 'm' },
		{ "progress", no_argument, NULL, 'p' },
		{ "raw", no_argument, NULL, 'r' },
		{ "seed", required_argument, NULL, 'S' },
		{ "sse", no_argument, NULL, 'E' },
		{ "system", required_argument, NULL, 's' },
		{ "temperature", required_argument, NULL, 'P' },
		{ "text", no_argument, NULL, 'T' },
		{ "threads", required_argument, NULL, 't' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const urls[] = { "/v1/chat/completions", "/v1/completions",
	    "/chat/completions", "/completions", NULL };
	struct l32_filter_ops ops = { from_text, handle, raw_text, urls, step };
	struct l32_common c;
	struct generate g;
	struct l32_err err;
	int ch, status;

	memset(&g, 0, sizeof(g));
	if (l32_common_init(&c, 4) == -1)
		usage();
	while ((ch = getopt_long(argc, argv, "b:c:hm:rs:t:TV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'E': c.fo.sse = 1; break;
		case 's': g.system = optarg; break;
		case 'V': printf("%s %s\n", getprogname(), L32_VERSION); return 0;
		default:
			if (l32_common_opt(&c, ch, optarg) != 1)
				usage();
		}
	}
	argc -= optind;
	argv += optind;
	l32_err_clear(&err);
	g.api.chat_format = c.chat_format;
	g.api.has_default_seed = c.has_seed;
	if (l32_chat_date(c.date, g.api.date, sizeof(g.api.date), &err) == -1)
		errx(L32_EXIT_USAGE, "--date: %s", err.msg);

	if ((g.model = l32_program_model(c.model, &g.api.model_name, &err)) == NULL)
		errx(L32_EXIT_FATAL, "%s", err.msg);
	g.api.tok = l32_model_tokenizer(g.model);
	l32_common_gen_defaults(&c, g.model, &g.api.defaults);
	g.api.engine = l32_program_engine(g.model, (int32_t)c.ctx, (int32_t)c.batch, (int)c.threads,
	    c.kv_f16, &err);
	if (g.api.engine == NULL || l32_api_chat_start(&g.api, &err) == -1)
		errx(L32_EXIT_FATAL, "%s", err.msg);
	l32_fingerprint(g.model, (int)c.threads, g.api.fingerprint, sizeof(g.api.fingerprint));
	c.fo.max_inflight = (int)c.batch;
	status = l32_filter_run(&ops, &g, &c.fo, argv, argc);
	l32_api_chat_stop(&g.api);  /* what a signal left unanswered */
	l32_engine_free(g.api.engine);
	l32_model_free(g.model);
	return status;
}
