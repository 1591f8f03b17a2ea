/*
 * l32-summarize - summaries as an NDJSON filter, of texts of any length.
 *
 *   {"input": "...", "format"?: "paragraph" | "bullets" | "tldr",
 *    "max_words"?, "language"?, "focus"?}  -> {"object": "summary", ...}
 *
 * A text longer than the context is summarized part by part (-b parts at
 * once), then the summaries together (libcore/summarize.c).  --file reads
 * each file whole.
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "l32.h"
#include "prog/l32_prog.h"

struct summarize {
	struct l32_program p;         /* options, model, engine (libcore/prog) */
	struct l32_summary_req req;   /* request defaults from the command line */
	int progress;
	struct l32_filter *f;         /* the request being answered, for progress */
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-fhrTV] [-b batch] [-c ctx] [-m model] [-t threads]\n"
	    "       [--cache-mem bytes] [--chat-format hf|meta]\n"
	    "       [--check-weights] [--date date] [--focus text] [--format paragraph|bullets|tldr]\n"
	    "       [--kv-f16] [--language language] [--max-line bytes] [--max-tokens n]\n"
	    "       [--max-words n] [--prefix-cache file] [--progress] [--seed n]\n"
	    "       [--temperature t] [file ...]\n",
	    getprogname());
	exit(L32_EXIT_USAGE);
}

/* --------------------------------------------------------------- requests */

static const char *const known_fields[] = {
	"input", "format", "max_words", "language", "focus", "model", "user", "id",
	"custom_id", "metadata", "chat_template_kwargs", "chat_format", NULL
};

/* format, max_words, language and focus, over the command line's. */
static int
parse_form(struct summarize *s, json_t *body, struct l32_summary_req *rq, struct l32_err *err)
{
	const char *fmt = NULL;
	long long words = s->req.max_words, n = 1;

	*rq = s->req;
	if (l32_json_get_str(body, "format", &fmt, NULL, err) == -1 ||
	    l32_json_get_int(body, "max_words", 1, 100000, &words, err) == -1 ||
	    l32_json_get_str(body, "language", &rq->language, NULL, err) == -1 ||
	    l32_json_get_str(body, "focus", &rq->focus, NULL, err) == -1 ||
	    l32_json_get_int(body, "n", 1, 1, &n, err) == -1)
		return -1;
	if (fmt != NULL && l32_summary_format_parse(fmt, &rq->format) == -1)
		return l32_err_param(err, L32_ERR_INVALID, "format",
		    "format \"%.40s\" is not paragraph, bullets or tldr", fmt);
	rq->max_words = (int32_t)words;
	return 0;
}

/* Progress of a long text: a line per call. */
static void
on_call(void *arg, const struct l32_summary_call *c)
{
	struct summarize *s = arg;
	static const char *const what[] = { "text", "part", "merge", "final" };

	l32_filter_count_tokens(s->f, c->completion_tokens);
	if (!s->progress || c->stage == L32_SUMMARY_WHOLE)
		return;
	fprintf(stderr, "%s: line %ld: level %d %s %d of %d: %d text tokens (at most %d), "
	    "%d prompt (%d cached) and %d completion tokens\n", getprogname(),
	    l32_filter_lineno(s->f), c->level, what[c->stage], c->index + 1, c->count,
	    c->text_tokens, c->limit, c->prompt_tokens, c->cached_tokens, c->completion_tokens);
}

static json_t *
response(const struct summarize *s, const char *model, const struct l32_summary *sum)
{
	return json_pack("{s:s, s:s%, s:s, s:i, s:s, s:s, s:{s:I, s:I, s:I, s:{s:I}}}",
	    "object", "summary", "summary", sum->text.data ? sum->text.data : "", sum->text.len,
	    "finish_reason", sum->truncated ? "length" : "stop", "chunks", (int)sum->chunks,
	    "model", model, "system_fingerprint", s->p.fingerprint, "usage",
	    "prompt_tokens", (json_int_t)sum->prompt_tokens,
	    "completion_tokens", (json_int_t)sum->completion_tokens,
	    "total_tokens", (json_int_t)(sum->prompt_tokens + sum->completion_tokens),
	    "prompt_tokens_details", "cached_tokens", (json_int_t)sum->cached_tokens);
}

static int
handle(void *arg, struct l32_filter *f, json_t *body, struct l32_err *err)
{
	struct summarize *s = arg;
	struct l32_genreq_limits lim = { l32_tokenizer_n_vocab(s->p.tok), 1, 0, NULL };
	struct l32_summary_opts o;
	struct l32_summary sum;
	struct l32_chat_opts chat;
	struct l32_genreq g;
	const char *model, *input = NULL;
	size_t len = 0;
	json_t *resp;
	int rc = -1;

	memset(&o, 0, sizeof(o));
	memset(&sum, 0, sizeof(sum));
	memset(&g, 0, sizeof(g));
	s->f = f;
	g.p = s->p.defaults;
	l32_chat_opts_init(&chat);
	chat.format = s->p.opt.chat_format;
	chat.date_string = s->p.date;
	if (l32_request_fields(body, known_fields, l32_sampling_fields, err) == -1 ||
	    l32_request_model(body, s->p.model_name, &model, err) == -1 ||
	    l32_json_get_str(body, "input", &input, &len, err) == -1 ||
	    parse_form(s, body, &o.req, err) == -1 ||
	    l32_genreq_parse(body, &lim, &g, err) == -1 ||
	    l32_chat_opts_from_request(body, &chat, err) == -1)
		goto out;
	if (input == NULL) {
		l32_err_param(err, L32_ERR_INVALID, "input", "a request needs input");
		goto out;
	}
	if (!g.has_seed && !s->p.opt.has_seed)
		g.p.seed = ((uint64_t)arc4random() << 32) | arc4random();
	o.gen = &g.p;
	o.chat = &chat;
	o.max_tokens = g.p.has_max_tokens ? g.p.max_tokens : 0;
	o.on_call = on_call;
	o.arg = s;
	if (l32_summarize(s->p.engine, s->p.tok, input, len, &o, &sum, err) == -1)
		goto out;
	if ((resp = response(s, model, &sum)) == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = l32_filter_emit(f, resp)) == -1)
		l32_err_set(err, L32_ERR_IO, "output failed");
out:
	l32_summary_free(&sum);
	l32_genreq_free(&g);
	return rc;
}

static json_t *
from_text(void *arg, const char *line, size_t len, struct l32_err *err)
{
	return json_pack("{s:s%}", "input", line, len);
}

static const char *
raw_text(void *arg, json_t *resp, size_t *len)
{
	json_t *v = json_object_get(resp, "summary");

	*len = json_string_length(v);
	return json_string_value(v);
}

/* ------------------------------------------------------------------- main */

int
main(int argc, char *argv[])
{
	static const struct option own[] = {
		{ "file", no_argument, NULL, 'f' },
		{ "focus", required_argument, NULL, 'O' },
		{ "format", required_argument, NULL, 'R' },
		{ "language", required_argument, NULL, 'G' },
		{ "max-words", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const urls[] = { "/v1/summarize", "/summarize", NULL };
	static char *stdin_name[] = { "<stdin>" };
	struct l32_filter_ops ops = { from_text, handle, raw_text, urls, NULL, 0 };
	struct summarize s;
	struct l32_err err;
	long long v;
	int ch, status, whole = 0;

	memset(&s, 0, sizeof(s));
	if (l32_program_init(&s.p, L32_TAKES_FILTER | L32_TAKES_MODEL | L32_TAKES_ENGINE |
	    L32_TAKES_CHAT | L32_TAKES_GEN, L32_BATCH_AUTO, "f", own) == -1)
		usage();
	while ((ch = l32_program_getopt(&s.p, argc, argv)) != -1) {
		switch (ch) {
		case 'f': whole = 1; break;
		case 'G':
			if (l32_opt_text("--language", optarg) == -1)
				usage();
			s.req.language = optarg;
			break;
		case 'O':
			if (l32_opt_text("--focus", optarg) == -1)
				usage();
			s.req.focus = optarg;
			break;
		case 'R':
			if (l32_summary_format_parse(optarg, &s.req.format) == -1) {
				warnx("--format %s: expected paragraph, bullets or tldr", optarg);
				usage();
			}
			break;
		case 'V': printf("%s %s\n", getprogname(), L32_VERSION); return 0;
		case 'w':
			if (l32_opt_num("--max-words", optarg, 1, 100000, &v) == -1)
				usage();
			s.req.max_words = (int32_t)v;
			break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (whole && s.p.opt.fo.text) {
		warnx("--file and --text do not go together");
		usage();
	}
	s.progress = s.p.opt.fo.progress == 1 ||
	    (s.p.opt.fo.progress == -1 && isatty(STDERR_FILENO));
	if ((status = l32_program_open(&s.p, &err)) != 0)
		errx(status, "%s", err.msg);
	if (whole && l32_docs_feed(argv, argc, &err) == -1)
		errx(L32_EXIT_FATAL, "%s", err.msg);
	if (whole) {  /* messages name the file, not a line of the feed */
		s.p.opt.fo.doc_names = argc > 0 ? argv : stdin_name;
		s.p.opt.fo.n_doc_names = argc > 0 ? argc : 1;
	}
	status = l32_filter_run(&ops, &s, &s.p.opt.fo, whole ? NULL : argv, whole ? 0 : argc);
	if (whole && l32_docs_wait(&err) == -1) {
		warnx("%s", err.msg);
		status = L32_EXIT_FATAL;
	}
	status = l32_program_save(&s.p, status);
	l32_program_close(&s.p);
	return status;
}
