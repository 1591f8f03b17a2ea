/*
 * l32-rewrite - rewriting a text as an NDJSON filter: search queries for
 * retrieval, or the same text made concise, formal, casual, simpler,
 * corrected or translated, or rewritten as instructions say.
 *
 *   {"input": "...", "task": "query", "n": 3}  -> {"object": "rewrite", "rewrites": [...]}
 *
 * The prompts are the table in libcore/tasks.c; --show-prompt prints them.
 * Up to -b requests decode together on one engine (libcore/jobq.c).
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"

#define MAX_QUERIES 20   /* query variants one request may ask for */

struct rewrite {
	struct l32_program p;         /* options, model, engine (libcore/prog) */
	/* request defaults from the command line */
	const char *task, *language, *instructions;
	int show_prompt;
	struct l32_jobq *jobs;        /* requests running on the engine */
	struct l32_filter *f;
};

/* One request, parsed. */
struct request {
	struct rewrite *w;
	json_t *body;
	const char *model;
	const char *input;
	size_t input_len;
	struct l32_rewrite_req rq;
	struct l32_genreq g;
	json_t *messages;
	struct l32_buf text;       /* the rendered prompt */
	struct l32_tokens prompt;
	struct l32_gen_choice *choices;
	int32_t n_choices;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-hrTV] [-b batch] [-c ctx] [-m model] [-t threads]\n"
	    "       [--cache-mem bytes] [--chat-format hf|meta] [--check-weights]\n"
	    "       [--date date] [--instructions text]\n"
	    "       [--kv-f16] [--language language] [--max-line bytes] [--max-tokens n]\n"
	    "       [--prefix-cache file] [--progress] [--seed n] [--show-prompt] [--task task]\n"
	    "       [--temperature t] [file ...]\n",
	    getprogname());
	exit(L32_EXIT_USAGE);
}

/* --------------------------------------------------------------- requests */

static const char *const known_fields[] = {
	"input", "task", "language", "instructions", "model", "user", "id", "custom_id",
	"metadata", "chat_template_kwargs", "chat_format", NULL
};

static int
task_names(char *buf, size_t size)
{
	const struct l32_rewrite_task *t;

	buf[0] = '\0';
	for (t = l32_rewrite_tasks; t->name != NULL; t++)
		snprintf(buf + strlen(buf), size - strlen(buf), "%s%s", t == l32_rewrite_tasks ? "" :
		    t[1].name == NULL ? " or " : ", ", t->name);
	return 0;
}

/* input, task, language and instructions, over the command line's. */
static int
parse_task(struct rewrite *w, struct request *r, struct l32_err *err)
{
	const char *task = w->task;
	char names[160];

	r->rq.language = w->language;
	r->rq.instructions = w->instructions;
	if (l32_json_get_str(r->body, "input", &r->input, &r->input_len, err) == -1 ||
	    l32_json_get_str(r->body, "task", &task, NULL, err) == -1 ||
	    l32_json_get_str(r->body, "language", &r->rq.language, NULL, err) == -1 ||
	    l32_json_get_str(r->body, "instructions", &r->rq.instructions, NULL, err) == -1)
		return -1;
	if (r->input == NULL || r->input_len == 0)
		return l32_err_param(err, L32_ERR_INVALID, "input", "a request needs a non-empty input");
	if (task != NULL && (r->rq.task = l32_rewrite_task_find(task)) == NULL) {
		task_names(names, sizeof(names));
		return l32_err_param(err, L32_ERR_INVALID, "task", "task \"%.40s\" is not %s", task, names);
	}
	return 0;
}

/* Without max_tokens: room for n short queries, or twice the input. */
static int32_t
default_max_tokens(const struct rewrite *w, const struct request *r)
{
	struct l32_tokens t = { 0 };
	int32_t n;

	if (r->rq.task != NULL && strcmp(r->rq.task->name, "query") == 0)
		return 32 * r->rq.n + 32;
	l32_tokenize(w->p.tok, r->input, r->input_len, 0, &t, NULL);
	n = (int32_t)t.n * 2 + 64;
	l32_tokens_free(&t);
	return n;
}

/* query: the answer is exactly n lines, each starting with a character
 * that is not a space or a quote, so the variants the program reads are
 * all there. */
static int
query_grammar(struct request *r, struct l32_err *err)
{
	char text[160];

	snprintf(text, sizeof(text), "root ::= q ( \"\\n\" q ){%d}\nq ::= [^ \\t\\r\\n\"'] [^\\r\\n]{0,199}\n",
	    r->rq.n - 1);
	if ((r->g.grammar = l32_grammar_parse_gbnf(text, strlen(text), err)) == NULL)
		return -1;
	r->g.p.grammar = r->g.grammar;
	return 0;
}

static int
prepare(struct rewrite *w, struct request *r, struct l32_err *err)
{
	struct l32_genreq_limits lim = { l32_tokenizer_n_vocab(w->p.tok), MAX_QUERIES, 0, NULL };
	struct l32_chat_opts o;
	int query;

	if (l32_request_fields(r->body, known_fields, l32_sampling_fields, err) == -1 ||
	    l32_request_model(r->body, w->p.model_name, &r->model, err) == -1 ||
	    parse_task(w, r, err) == -1)
		return -1;
	r->g.p = w->p.defaults;
	if (l32_genreq_parse(r->body, &lim, &r->g, err) == -1)
		return -1;
	if (!r->g.has_seed && !w->p.opt.has_seed)
		r->g.p.seed = ((uint64_t)arc4random() << 32) | arc4random();
	r->rq.n = r->g.p.n;
	query = r->rq.task != NULL && strcmp(r->rq.task->name, "query") == 0;
	/* query: the n variants come in one answer; otherwise n answers */
	r->n_choices = query ? 1 : r->g.p.n;
	if (r->n_choices > l32_engine_n_seq(w->p.engine))
		return l32_err_param(err, L32_ERR_INVALID, "n", "n is %d; this process writes at most "
		    "%d rewrites of a request at once (-b)", r->n_choices, l32_engine_n_seq(w->p.engine));
	r->g.p.n = r->n_choices;
	if (!r->g.p.has_max_tokens)
		r->g.p.max_tokens = default_max_tokens(w, r);
	if (query && query_grammar(r, err) == -1)
		return -1;
	if ((r->messages = l32_rewrite_messages(&r->rq, r->input, r->input_len, err)) == NULL)
		return -1;
	l32_chat_opts_init(&o);
	o.format = w->p.opt.chat_format;
	o.date_string = w->p.date;
	if (l32_chat_opts_from_request(r->body, &o, err) == -1)
		return -1;
	if (l32_chat_render(w->p.tok, r->messages, NULL, &o, &r->text, &r->prompt, err) == -1)
		return -1;
	/* --show-prompt shows a prompt whatever its length */
	return w->show_prompt ? 0 : l32_engine_check_prompt(w->p.engine, r->prompt.n, "input", err);
}

/* -------------------------------------------------------------- responses */

static json_t *
rewrites_json(const struct request *r)
{
	json_t *arr = json_array();
	const struct l32_gen_choice *c;
	int32_t i;

	for (i = 0; i < r->n_choices; i++) {
		c = &r->choices[i];
		if (r->rq.task != NULL && strcmp(r->rq.task->name, "query") == 0)
			l32_split_queries(c->text.data ? c->text.data : "", c->text.len, (size_t)r->rq.n, arr);
		else
			l32_add_distinct(arr, c->text.data ? c->text.data : "", c->text.len);
	}
	return arr;
}

static json_t *
response(const struct rewrite *w, const struct request *r)
{
	json_int_t completion = 0;
	int32_t i;

	for (i = 0; i < r->n_choices; i++)
		completion += (json_int_t)r->choices[i].ids.n;
	/* cached_tokens: the prompt tokens the prefix cache held (the n
	 * rewrites share one prompt) */
	return json_pack("{s:s, s:o, s:s, s:s, s:{s:I, s:I, s:I, s:{s:I}}}", "object", "rewrite",
	    "rewrites", rewrites_json(r), "model", r->model, "system_fingerprint", w->p.fingerprint,
	    "usage", "prompt_tokens", (json_int_t)r->prompt.n, "completion_tokens", completion,
	    "total_tokens", (json_int_t)r->prompt.n + completion, "prompt_tokens_details",
	    "cached_tokens", (json_int_t)(r->n_choices > 0 ? r->choices[0].cached_tokens : 0));
}

/* --show-prompt: what the model would be given. */
static json_t *
prompt_json(const struct request *r)
{
	return json_pack("{s:s, s:O, s:s%, s:I}", "object", "rewrite.prompt", "messages",
	    r->messages, "prompt", r->text.data ? r->text.data : "", r->text.len,
	    "prompt_tokens", (json_int_t)r->prompt.n);
}

static void
request_free(void *arg)
{
	struct request *r = arg;
	int32_t i;

	for (i = 0; r->choices != NULL && i < r->n_choices; i++)
		l32_gen_choice_free(&r->choices[i]);
	free(r->choices);
	json_decref(r->messages);
	l32_buf_free(&r->text);
	l32_tokens_free(&r->prompt);
	l32_genreq_free(&r->g);
	json_decref(r->body);
	free(r);
}

/* A request whose answers are all there (l32_jobq_answer_fn). */
static int
answer(void *arg, struct l32_sink *t)
{
	struct request *r = arg;
	json_t *resp;
	int32_t i;

	for (i = 0; i < r->n_choices; i++)
		l32_filter_count_tokens(r->w->f, (long)r->choices[i].ids.n);
	if ((resp = response(r->w, r)) == NULL) {
		struct l32_err err;

		l32_err_set(&err, L32_ERR_NOMEM, "out of memory");
		l32_sink_fail(t, &err);
		return 1;  /* ended here: the job queue must not finish it too */
	}
	return l32_sink_emit(t, resp);
}

static int
step(void *arg, struct l32_err *err)
{
	struct rewrite *w = arg;

	return l32_jobq_step(w->jobs, err);
}

/* Prepares the request and queues it on the engine (or, with
 * --show-prompt, answers it at once). */
static int
handle(void *arg, struct l32_filter *f, json_t *body, struct l32_err *err)
{
	struct rewrite *w = arg;
	struct request *r;
	int rc;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	r->body = json_incref(body);  /* the input and stop strings point into it */
	r->w = w;
	w->f = f;
	if (prepare(w, r, err) == -1) {
		request_free(r);
		return -1;
	}
	if (w->show_prompt) {
		json_t *resp = prompt_json(r);

		rc = resp == NULL ? l32_err_set(err, L32_ERR_NOMEM, "out of memory") :
		    l32_filter_emit(f, resp) == -1 ? l32_err_set(err, L32_ERR_IO, "output failed") : 0;
		request_free(r);
		return rc;
	}
	if ((r->choices = calloc((size_t)r->n_choices, sizeof(*r->choices))) == NULL) {
		request_free(r);
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	}
	if (l32_jobq_add(w->jobs, r, l32_filter_sink(f), r->prompt.ids, r->prompt.n, &r->g.p,
	    r->choices, NULL, NULL, err) == -1) {
		request_free(r);
		return -1;
	}
	return 0;
}

static json_t *
from_text(void *arg, const char *line, size_t len, struct l32_err *err)
{
	return json_pack("{s:s%}", "input", line, len);
}

/* --raw: the rewrites, each escaped, separated by tabs (or the prompt):
 * a tab inside a rewrite is written \t, so the separators stay apart. */
static const char *
raw_text(void *arg, json_t *resp, size_t *len)
{
	static struct l32_buf b;
	json_t *v;
	size_t i;
	int rc = 0;

	l32_buf_reset(&b);
	if ((v = json_object_get(resp, "prompt")) != NULL)
		rc |= l32_raw_escape(&b, json_string_value(v), json_string_length(v));
	json_array_foreach(json_object_get(resp, "rewrites"), i, v) {
		if (i > 0)
			rc |= l32_buf_puts(&b, "\t");
		rc |= l32_raw_escape(&b, json_string_value(v), json_string_length(v));
	}
	if (rc != 0)
		return NULL;
	*len = b.len;
	return b.data ? b.data : "";
}

/* ------------------------------------------------------------------- main */

int
main(int argc, char *argv[])
{
	static const struct option own[] = {
		{ "instructions", required_argument, NULL, 'I' },
		{ "language", required_argument, NULL, 'G' },
		{ "show-prompt", no_argument, NULL, 'W' },
		{ "task", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const urls[] = { "/v1/rewrite", "/rewrite", NULL };
	struct l32_filter_ops ops = { from_text, handle, raw_text, urls, step, 1 };
	struct rewrite w;
	struct l32_err err;
	char names[160];
	int ch, status;

	memset(&w, 0, sizeof(w));
	if (l32_program_init(&w.p, L32_TAKES_FILTER | L32_TAKES_MODEL | L32_TAKES_ENGINE |
	    L32_TAKES_CHAT | L32_TAKES_GEN, L32_BATCH_AUTO, "", own) == -1)
		usage();
	while ((ch = l32_program_getopt(&w.p, argc, argv)) != -1) {
		switch (ch) {
		case 'G':
			if (l32_opt_text("--language", optarg) == -1)
				usage();
			w.language = optarg;
			break;
		case 'I':
			if (l32_opt_text("--instructions", optarg) == -1)
				usage();
			w.instructions = optarg;
			break;
		case 'k':
			if (l32_rewrite_task_find(optarg) == NULL) {
				task_names(names, sizeof(names));
				warnx("--task %s: expected %s", optarg, names);
				usage();
			}
			w.task = optarg;
			break;
		case 'V': printf("%s %s\n", getprogname(), L32_VERSION); return 0;
		case 'W': w.show_prompt = 1; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (w.p.opt.fo.text && w.task == NULL && w.instructions == NULL) {
		warnx("--text needs --task or --instructions");
		usage();
	}
	w.p.step_lazy = 1;   /* -b auto: measured when a second request would batch */
	if ((status = l32_program_open(&w.p, &err)) != 0)
		errx(status, "%s", err.msg);
	if ((w.jobs = l32_jobq_new(w.p.engine, answer, request_free)) == NULL)
		errx(L32_EXIT_FATAL, "out of memory");
	l32_program_step_on(&w.p, w.jobs);
	w.p.opt.fo.max_inflight = (int)w.p.opt.batch;
	status = l32_filter_run(&ops, &w, &w.p.opt.fo, argv, argc);
	l32_jobq_free(w.jobs);
	status = l32_program_save(&w.p, status);
	l32_program_close(&w.p);
	return status;
}
