/*
 * filter.c - the NDJSON request loop shared by every program (see
 * l32_filter.h): one answer per request, in input order; an error line in
 * place of a bad one; the stream always goes on.
 */
#include <err.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "prog/l32_prog.h"
#include "prog/linejson.h"
#include "prog/linereader.h"

/* Answers kept behind an unfinished request before the loop stops reading
 * and works on the held requests instead: without a bound, a long request
 * followed by many quick answers (bad lines) would keep the whole input's
 * answers in memory. */
#define MAX_QUEUED 1024
#define MAX_PENDING_BYTES (64u << 20)

/* One request from the moment its line is read until its last answer is
 * written.  Answers leave in input order: a ticket behind an unfinished one
 * keeps its output until it reaches the head of the queue. */
struct l32_ticket {
	struct l32_sink sink;      /* the API code's view of it (first) */
	struct l32_filter *f;
	const char *file;          /* input name (owned by the filter) */
	const char *doc;           /* the whole file this line holds (opts->doc_names), or NULL */
	long lineno;
	json_t *req_id, *custom_id, *metadata;  /* echoed on every answer */
	int batch;                 /* came in an OpenAI Batch line */
	uint64_t hash;             /* of the line, for deterministic ids */
	int held;                  /* answered later, by l32_ticket_finish/fail */
	int done;
	struct l32_buf pending;    /* output waiting for the tickets before it */
	struct l32_ticket *next;
};

struct l32_filter {
	const struct l32_filter_ops *ops;
	void *arg;
	const struct l32_filter_opts *opts;
	struct l32_linereader *in;
	char **names;              /* (n_names) input names, for messages */
	int n_names;
	struct l32_ticket *head, *tail;  /* requests in input order */
	struct l32_ticket *cur;    /* the one being handled */
	int n_held;                /* held tickets not yet finished */
	int n_queued;              /* tickets in the queue */
	size_t pending_bytes;      /* output kept in the queue */
	/* counts */
	long n_ok, n_err, n_tokens;
	long n_cached;             /* prompt tokens the prefix cache held */
	int out_failed;
	int progress;
	double t_start, t_last_progress;
	long shown[4];             /* the counts on the last progress line */
	struct l32_buf line;   /* output scratch */
	struct l32_buf out;    /* a line being written */
};

/* SIGINT and SIGTERM: the first asks the work to stop at the next step
 * (stop_signal); a second ends the program at once: right away, or, when
 * it comes while a line is being written, as soon as that line is whole
 * (at once all the same when the write is stuck on a reader that does not
 * read). */
static volatile sig_atomic_t stop_signal, writing, exit_pending;

static void
on_signal(int sig)
{
	if (stop_signal == 0) {
		stop_signal = sig;
		return;
	}
	if (writing && !exit_pending) {
		exit_pending = 1;
		return;
	}
	_exit(L32_EXIT_SIGNAL);
}

int
l32_filter_stopping(void)
{
	return stop_signal != 0;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void
l32_filter_opts_init(struct l32_filter_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_line = L32_DEFAULT_MAX_LINE;
	o->progress = -1;
}

long
l32_filter_lineno(const struct l32_filter *f)
{
	return f->cur != NULL ? f->cur->lineno : 0;
}

void
l32_filter_count_tokens(struct l32_filter *f, long n)
{
	f->n_tokens += n;
}

uint64_t
l32_filter_request_hash(const struct l32_filter *f)
{
	return f->cur != NULL ? f->cur->hash : 0;
}

long long
l32_filter_created(void)
{
	const char *s = getenv("SOURCE_DATE_EPOCH");
	const char *errstr;
	long long t;

	if (s != NULL && *s != '\0') {
		t = strtonum(s, 0, 253402300799LL, &errstr);
		if (errstr == NULL)
			return t;
	}
	return (long long)time(NULL);
}

static uint64_t
fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;

	while (n-- > 0) {
		h ^= *s++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* ----------------------------------------------------------------- output */

/* Writes s[0..n) to stdout whole: straight to the descriptor (no stdio
 * buffer a signal could leave half written), carrying on after a signal
 * interrupts the write.  -1 after a message when the write fails. */
static int
write_all(struct l32_filter *f, const char *s, size_t n)
{
	ssize_t w;

	if (f->out_failed)
		return -1;
	writing = 1;
	while (n > 0) {
		if ((w = write(STDOUT_FILENO, s, n)) == -1) {
			if (errno == EINTR && exit_pending)
				_exit(L32_EXIT_SIGNAL);
			if (errno == EINTR)
				continue;
			writing = 0;
			warn("stdout: write error");
			f->out_failed = 1;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	writing = 0;
	if (exit_pending)  /* a second signal came while the line went out */
		_exit(L32_EXIT_SIGNAL);
	return 0;
}

/* Writes one finished JSON object as a line, in one write when it fits
 * the scratch, so a reader never sees half a line. */
static int
write_line(struct l32_filter *f, const char *s, size_t n)
{
	if (s == f->line.data) {  /* the scratch itself: room for the newline */
		if (l32_buf_append(&f->line, "\n", 1) == -1)
			return write_all(f, s, n) == -1 ? -1 : write_all(f, "\n", 1);
		return write_all(f, f->line.data, n + 1);
	}
	l32_buf_reset(&f->out);
	if (l32_buf_append(&f->out, s, n) == -1 || l32_buf_append(&f->out, "\n", 1) == -1)
		return write_all(f, s, n) == -1 ? -1 : write_all(f, "\n", 1);
	return write_all(f, f->out.data, f->out.len);
}

/* A ticket's output line: straight out at the head of the queue, kept
 * for later behind it. */
static int
ticket_line(struct l32_ticket *t, const char *s, size_t n)
{
	size_t old = t->pending.len;
	int rc = 0;

	if (t == t->f->head)
		return write_line(t->f, s, n);
	if (l32_buf_append(&t->pending, s, n) == -1 || l32_buf_append(&t->pending, "\n", 1) == -1) {
		warnx("out of memory keeping an answer");
		t->f->out_failed = 1;
		rc = -1;
	}
	t->f->pending_bytes += t->pending.len - old;
	return rc;
}

static int
write_json(struct l32_ticket *t, json_t *obj)
{
	struct l32_filter *f = t->f;
	char *s;
	int rc;

	s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9) | JSON_PRESERVE_ORDER);
	if (s == NULL) {
		warnx("out of memory writing a response");
		f->out_failed = 1;
		return -1;
	}
	if (f->opts->sse) {
		/* Server-sent events, as the hosted endpoint frames them:
		 * "data: {...}" and a blank line. */
		l32_buf_reset(&f->line);
		if (l32_buf_printf(&f->line, "data: %s\n", s) == -1) {
			free(s);
			f->out_failed = 1;
			return -1;
		}
		rc = ticket_line(t, f->line.data, f->line.len);
	} else
		rc = ticket_line(t, s, strlen(s));
	free(s);
	return rc;
}

int
l32_ticket_emit_done(struct l32_ticket *t)
{
	if (!t->f->opts->sse || t->f->opts->raw)
		return 0;
	return ticket_line(t, "data: [DONE]\n", 13);
}

int
l32_filter_emit_done(struct l32_filter *f)
{
	return l32_ticket_emit_done(f->cur);
}

/* --raw: text on one line; backslash, newline, carriage return and tab
 * escaped as \\, \n, \r and \t, so every answer stays one line and a tab
 * can separate the parts of one (rewrites, embeddings). */
int
l32_raw_escape(struct l32_buf *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *e = NULL;

		switch (s[i]) {
		case '\\': e = "\\\\"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		case '\t': e = "\\t"; break;
		}
		if (e != NULL ? l32_buf_puts(out, e) : l32_buf_append(out, s + i, 1))
			return -1;
	}
	return 0;
}

static int
write_raw(struct l32_ticket *t, const char *s, size_t n)
{
	struct l32_filter *f = t->f;

	l32_buf_reset(&f->line);
	if (f->ops->raw_escaped) {  /* the program escaped its parts */
		if (l32_buf_append(&f->line, s, n) == -1)
			return -1;
	} else if (l32_raw_escape(&f->line, s, n) == -1)
		return -1;
	return ticket_line(t, f->line.data ? f->line.data : "", f->line.len);
}

static void
add_echo(struct l32_ticket *t, json_t *obj)
{
	if (t->req_id != NULL)
		json_object_set(obj, "id", t->req_id);
	if (t->custom_id != NULL)
		json_object_set(obj, "custom_id", t->custom_id);
	if (t->metadata != NULL)
		json_object_set(obj, "metadata", t->metadata);
}

int
l32_ticket_emit(struct l32_ticket *t, json_t *resp)
{
	struct l32_filter *f = t->f;
	json_t *line;
	char id[40];
	int rc;

	if (resp == NULL) {
		warnx("out of memory building an answer");
		f->out_failed = 1;
		return -1;
	}
	if (f->opts->raw) {
		const char *s = NULL;
		size_t n = 0;

		if (f->ops->raw_text != NULL)
			s = f->ops->raw_text(f->arg, resp, &n);
		rc = s != NULL ? write_raw(t, s, n) : 0;
		json_decref(resp);
		return rc;
	}
	if (!t->batch) {
		add_echo(t, resp);
		rc = write_json(t, resp);
		json_decref(resp);
		return rc;
	}
	/* OpenAI Batch output line */
	snprintf(id, sizeof(id), "batch_req_%016llx", (unsigned long long)t->hash);
	line = json_pack("{s:s, s:O, s:{s:i, s:s+, s:o}, s:n}",
	    "id", id, "custom_id", t->custom_id,
	    "response", "status_code", 200, "request_id", "req_", id + 10, "body", resp,
	    "error");
	if (line == NULL) {
		f->out_failed = 1;
		return -1;
	}
	if (t->metadata != NULL)
		json_object_set(line, "metadata", t->metadata);
	rc = write_json(t, line);
	json_decref(line);
	return rc;
}

int
l32_filter_emit(struct l32_filter *f, json_t *resp)
{
	return l32_ticket_emit(f->cur, resp);
}

/* The error line for a failed request (or a Batch output line carrying it). */
static int
emit_error(struct l32_ticket *t, const struct l32_err *err)
{
	struct l32_filter *f = t->f;
	json_t *e, *line;
	char id[40];
	int rc;

	f->n_err++;
	if (t->doc != NULL)  /* a whole file is one request: its name says where */
		warnx("%s: %s", t->doc, err->msg);
	else
		warnx("%s:%ld: %s", t->file, t->lineno, err->msg);
	if (f->opts->raw)  /* keep one line per request */
		return ticket_line(t, "", 0);
	if ((e = l32_api_error_json(err)) == NULL) {
		warnx("out of memory writing an error line");
		f->out_failed = 1;
		return -1;
	}
	if (t->batch) {
		snprintf(id, sizeof(id), "batch_req_%016llx", (unsigned long long)t->hash);
		line = json_pack("{s:s, s:O, s:n, s:o, s:I}", "id", id,
		    "custom_id", t->custom_id, "response", "error", e, "line", (json_int_t)t->lineno);
		if (line != NULL && t->metadata != NULL)
			json_object_set(line, "metadata", t->metadata);
	} else {
		line = json_pack("{s:o, s:I}", "error", e, "line", (json_int_t)t->lineno);
		if (line != NULL)
			add_echo(t, line);
	}
	if (line == NULL) {
		warnx("out of memory writing an error line");
		f->out_failed = 1;
		return -1;
	}
	rc = write_json(t, line);
	json_decref(line);
	return rc;
}

/* ---------------------------------------------------------------- progress */

static void
progress(struct l32_filter *f, int final)
{
	double t = now(), el = t - f->t_start;
	long counts[4] = { f->n_ok, f->n_err, f->n_tokens, f->n_cached };
	char cached[64];
	int tty;

	if (!f->progress || (!final && t - f->t_last_progress < 0.5))
		return;
	tty = isatty(STDERR_FILENO);
	/* Off a terminal each line stays: the summary at the end is left
	 * out when the last line already said the same. */
	if (final && !tty && f->t_last_progress > f->t_start &&
	    memcmp(counts, f->shown, sizeof(counts)) == 0)
		return;
	f->t_last_progress = t;
	memcpy(f->shown, counts, sizeof(counts));
	/* the prefix cache's share, once it has one (programs that do not
	 * generate never count any) */
	snprintf(cached, sizeof(cached), ", %ld prompt tokens cached", f->n_cached);
	fprintf(stderr, "%s%s: %ld requests, %ld errors, %ld tokens, %.1f tok/s%s%s",
	    tty ? "\r" : "", getprogname(), f->n_ok + f->n_err, f->n_err, f->n_tokens,
	    el > 0 ? f->n_tokens / el : 0.0, f->n_cached > 0 ? cached : "",
	    final || !tty ? "\n" : "");
}

/* ------------------------------------------------------------ request loop */

static void
ticket_free(struct l32_ticket *t)
{
	json_decref(t->req_id);
	json_decref(t->custom_id);
	json_decref(t->metadata);
	l32_buf_free(&t->pending);
	free(t);
}

/* Writes out and drops the finished tickets at the head of the queue. */
static void
flush_done(struct l32_filter *f)
{
	struct l32_ticket *t;

	while ((t = f->head) != NULL && t->done) {
		f->head = t->next;
		if (f->head == NULL)
			f->tail = NULL;
		f->pending_bytes -= t->pending.len;
		f->n_queued--;
		ticket_free(t);
		t = f->head;
		/* the new head's kept output goes out now */
		if (t != NULL && t->pending.len > 0 && !f->out_failed) {
			write_all(f, t->pending.data, t->pending.len);
			f->pending_bytes -= t->pending.len;
			l32_buf_reset(&t->pending);
		}
	}
}

static struct l32_ticket *
ticket_new(struct l32_filter *f, long lineno, const char *s, size_t n)
{
	struct l32_ticket *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->f = f;
	t->file = f->names[f->n_names - 1];
	if (f->opts->doc_names != NULL && lineno >= 1 && lineno <= f->opts->n_doc_names)
		t->doc = f->opts->doc_names[lineno - 1];
	t->lineno = lineno;
	t->hash = fnv1a(s, n < 65536 ? n : 65536);
	if (f->tail != NULL)
		f->tail->next = t;
	else
		f->head = t;
	f->tail = t;
	f->n_queued++;
	return t;
}

struct l32_ticket *
l32_filter_hold(struct l32_filter *f)
{
	f->cur->held = 1;
	f->n_held++;
	return f->cur;
}

void
l32_ticket_finish(struct l32_ticket *t)
{
	t->f->n_ok++;
	t->done = 1;
	t->f->n_held--;
}

void
l32_ticket_fail(struct l32_ticket *t, const struct l32_err *err)
{
	/* stopped by a signal: no line, and none after it (input order) */
	if (err->kind != L32_ERR_STOPPED) {
		emit_error(t, err);
		t->done = 1;
	}
	t->f->n_held--;
}

void
l32_ticket_count_tokens(struct l32_ticket *t, long n)
{
	t->f->n_tokens += n;
}

/* ------------------------------------------------------------------- sink */

static struct l32_ticket *
of_sink(struct l32_sink *s)
{
	return (struct l32_ticket *)s;
}

static int
sink_emit(struct l32_sink *s, json_t *resp)
{
	return l32_ticket_emit(of_sink(s), resp);
}

static int
sink_emit_done(struct l32_sink *s)
{
	return l32_ticket_emit_done(of_sink(s));
}

static void
sink_finish(struct l32_sink *s)
{
	l32_ticket_finish(of_sink(s));
}

static void
sink_fail(struct l32_sink *s, const struct l32_err *err)
{
	l32_ticket_fail(of_sink(s), err);
}

static void
sink_count_tokens(struct l32_sink *s, long n)
{
	l32_ticket_count_tokens(of_sink(s), n);
}

static void
sink_count_cached(struct l32_sink *s, long n)
{
	of_sink(s)->f->n_cached += n;
}

static const struct l32_sink_ops ticket_sink_ops = {
	sink_emit, sink_emit_done, sink_finish, sink_fail, sink_count_tokens, NULL,
	sink_count_cached
};

struct l32_sink *
l32_filter_sink(struct l32_filter *f)
{
	struct l32_ticket *t = l32_filter_hold(f);

	t->sink.ops = &ticket_sink_ops;
	t->sink.id = t->hash;
	t->sink.batch = t->batch;
	t->sink.raw = f->opts->raw;
	return &t->sink;
}

uint64_t
l32_ticket_hash(const struct l32_ticket *t)
{
	return t->hash;
}

int
l32_ticket_is_batch(const struct l32_ticket *t)
{
	return t->batch;
}

/* Takes the id / custom_id / metadata that come back on the answer. */
static void
note_echo(struct l32_ticket *t, json_t *obj)
{
	json_t *v;

	if ((v = json_object_get(obj, "id")) != NULL && !json_is_null(v))
		t->req_id = json_incref(v);
	if ((v = json_object_get(obj, "custom_id")) != NULL && !json_is_null(v))
		t->custom_id = json_incref(v);
	if ((v = json_object_get(obj, "metadata")) != NULL && !json_is_null(v))
		t->metadata = json_incref(v);
}

/* An OpenAI Batch line: {"custom_id", "method", "url", "body"}. */
static json_t *
unwrap_batch(struct l32_ticket *t, json_t *obj, struct l32_err *err)
{
	const struct l32_filter_ops *ops = t->f->ops;
	json_t *body = json_object_get(obj, "body");
	json_t *url = json_object_get(obj, "url");
	json_t *method = json_object_get(obj, "method");
	const char *const *u;

	t->batch = 1;
	if (!json_is_string(t->custom_id)) {
		l32_err_param(err, L32_ERR_INVALID, "custom_id", "custom_id must be a string");
		return NULL;
	}
	if (method != NULL && (!json_is_string(method) || strcmp(json_string_value(method), "POST") != 0)) {
		l32_err_param(err, L32_ERR_INVALID, "method", "method must be \"POST\"");
		return NULL;
	}
	if (url != NULL && ops->batch_urls != NULL) {
		if (!json_is_string(url)) {
			l32_err_param(err, L32_ERR_INVALID, "url", "url must be a string");
			return NULL;
		}
		for (u = ops->batch_urls; *u != NULL; u++)
			if (strcmp(*u, json_string_value(url)) == 0)
				break;
		if (*u == NULL) {
			l32_err_param(err, L32_ERR_INVALID, "url", "url \"%s\" is not served by %s (it serves %s)",
			    json_string_value(url), getprogname(), ops->batch_urls[0]);
			return NULL;
		}
	}
	if (!json_is_object(body)) {
		l32_err_param(err, L32_ERR_INVALID, "body", "body must be a JSON object");
		return NULL;
	}
	if (json_object_get(body, "metadata") != NULL && t->metadata == NULL)
		t->metadata = json_incref(json_object_get(body, "metadata"));
	return json_incref(body);
}

/* A line l32_api_parse_body refused: the id, custom_id and metadata that
 * precede the fault come back on its error line. */
static void
refused_line(struct l32_ticket *t, struct l32_line_salvage *sv, struct l32_err *err)
{
	if (sv->id != NULL && !json_is_null(sv->id))
		t->req_id = json_incref(sv->id);
	if (sv->custom_id != NULL && !json_is_null(sv->custom_id))
		t->custom_id = json_incref(sv->custom_id);
	if (sv->metadata != NULL && !json_is_null(sv->metadata))
		t->metadata = json_incref(sv->metadata);
	/* an error line of a Batch line is a Batch output line */
	t->batch = json_is_string(t->custom_id) && sv->has_body;
	if (t->batch && strncmp(err->param, "body.", 5) == 0)  /* a Batch body's fields are named as the request's */
		memmove(err->param, err->param + 5, strlen(err->param + 5) + 1);
	l32_line_salvage_free(sv);
}

/* Turns one input line into a request body, or fails with err. */
static json_t *
parse_line(struct l32_ticket *t, const char *s, size_t n, struct l32_err *err)
{
	struct l32_filter *f = t->f;
	struct l32_line_salvage sv;
	json_t *obj, *body;

	if (f->opts->text && l32_utf8_valid(s, n)) {
		if (f->ops->from_text == NULL) {
			l32_err_set(err, L32_ERR_UNSUPPORTED, "--text is not supported by %s", getprogname());
			return NULL;
		}
		return f->ops->from_text(f->arg, s, n, err);
	}
	if ((obj = l32_api_parse_body(s, n, "line", &sv, err)) == NULL) {
		refused_line(t, &sv, err);
		return NULL;
	}
	note_echo(t, obj);
	if (t->custom_id != NULL && json_object_get(obj, "body") != NULL) {
		body = unwrap_batch(t, obj, err);
		json_decref(obj);
		return body;
	}
	return obj;
}

static int
blank(const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r'))
		s++, n--;
	return n == 0;
}

/* Answers one line (or starts answering it); -1 when output failed. */
static int
answer_line(struct l32_filter *f, long lineno, const char *s, size_t n, int too_long)
{
	struct l32_ticket *t;
	struct l32_err err;
	json_t *body;
	int rc;

	l32_err_clear(&err);
	if ((t = f->cur = ticket_new(f, lineno, s, n)) == NULL) {
		warnx("out of memory");
		return -1;
	}
	if (too_long) {
		l32_err_set(&err, L32_ERR_INVALID,
		    "line is %zu bytes, over the limit of %zu bytes (--max-line)", n, f->opts->max_line);
		err.code = "line_too_long";
		rc = emit_error(t, &err);
	} else if ((body = parse_line(t, s, n, &err)) == NULL)
		rc = emit_error(t, &err);
	else {
		rc = f->ops->handle(f->arg, f, body, &err);
		json_decref(body);
		if (f->out_failed)
			return -1;
		if (rc == -1) {
			if (t->held) {  /* a held request that failed at once */
				t->held = 0;
				f->n_held--;
			}
			if (err.kind == L32_ERR_STOPPED) {
				/* unanswered: it holds back what comes after it */
				f->cur = NULL;
				return -1;
			}
			rc = emit_error(t, &err);
		} else if (!t->held)
			f->n_ok++;
	}
	if (!t->held)
		t->done = 1;
	f->cur = NULL;
	flush_done(f);
	return f->out_failed ? -1 : rc;
}

/* Advances held requests one step; -1 on a fatal error. */
static int
step(struct l32_filter *f)
{
	struct l32_err err;

	l32_err_clear(&err);
	if (f->ops->step(f->arg, &err) == -1) {
		if (!f->out_failed && err.kind != L32_ERR_STOPPED)
			warnx("%s", err.msg);
		return -1;
	}
	flush_done(f);
	progress(f, 0);
	return f->out_failed ? -1 : 0;
}

static int
run_file(struct l32_filter *f, const char *path)
{
	struct l32_err err;
	const char *s;
	size_t n;
	int too_long, rc = 0, max_held = f->opts->max_inflight > 0 ? f->opts->max_inflight : 1;
	char **names;

	l32_err_clear(&err);
	if ((f->in = l32_linereader_open(path, f->opts->max_line, &err)) == NULL) {
		warnx("%s", err.msg);
		return L32_EXIT_FATAL;
	}
	names = reallocarray(f->names, (size_t)f->n_names + 1, sizeof(*names));
	if (names == NULL || (names[f->n_names] = strdup(l32_linereader_name(f->in))) == NULL) {
		warnx("out of memory");
		l32_linereader_close(f->in);
		return L32_EXIT_FATAL;
	}
	f->names = names;
	f->n_names++;
	while (!stop_signal) {
		/* Work on what is held rather than wait for input that is not
		 * there yet, or when as many requests as allowed are running,
		 * or as many answers as allowed wait behind them. */
		if (f->n_held > 0 && (f->n_held >= max_held || f->n_queued >= MAX_QUEUED ||
		    f->pending_bytes >= MAX_PENDING_BYTES || !l32_linereader_ready(f->in))) {
			if ((rc = step(f)) == -1)
				break;
			continue;
		}
		if ((rc = l32_linereader_next(f->in, &s, &n, &too_long, &err)) != 1)
			break;
		if (!f->opts->text && !too_long && blank(s, n))
			continue;
		rc = answer_line(f, l32_linereader_lineno(f->in), s, n, too_long);
		progress(f, 0);
		if (rc == -1)
			break;
	}
	if (rc == -1 && !f->out_failed && !stop_signal && err.msg[0] != '\0')
		warnx("%s", err.msg);
	l32_linereader_close(f->in);
	f->in = NULL;
	if (f->out_failed || (rc == -1 && !stop_signal))
		return L32_EXIT_FATAL;
	return 0;
}

void
l32_filter_catch_signals(void)
{
	struct sigaction sa;

	/* No SA_RESTART: a blocked read returns, and the loop stops after the
	 * record being written. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int
l32_filter_run(const struct l32_filter_ops *ops, void *arg,
    const struct l32_filter_opts *o, char *const *files, int nfiles)
{
	struct l32_filter f;
	int i, status = 0;

	memset(&f, 0, sizeof(f));
	f.ops = ops;
	f.arg = arg;
	f.opts = o;
	f.progress = o->progress == -1 ? isatty(STDERR_FILENO) : o->progress;
	f.t_start = f.t_last_progress = now();
	l32_filter_catch_signals();

	for (i = 0; i < (nfiles > 0 ? nfiles : 1) && status == 0 && !stop_signal; i++)
		status = run_file(&f, nfiles > 0 ? files[i] : NULL);
	/* the requests still running when the input ended */
	while (status == 0 && !stop_signal && f.n_held > 0)
		if (step(&f) == -1)
			status = L32_EXIT_FATAL;
	progress(&f, 1);
	if (status == 0 && fflush(stdout) == EOF) {
		warn("stdout");
		status = L32_EXIT_FATAL;
	}
	while (f.head != NULL) {  /* stopped early: what could not be answered */
		struct l32_ticket *t = f.head;

		f.head = t->next;
		ticket_free(t);
	}
	for (i = 0; i < f.n_names; i++)
		free(f.names[i]);
	free(f.names);
	l32_buf_free(&f.line);
	l32_buf_free(&f.out);
	if (status != 0)
		return status;
	if (stop_signal)
		return L32_EXIT_SIGNAL;
	return f.n_err > 0 ? L32_EXIT_SOME : L32_EXIT_OK;
}

/* ------------------------------------------------------------ JSON helpers */

static int
type_error(struct l32_err *err, const char *key, const char *what)
{
	l32_err_param(err, L32_ERR_INVALID, key, "%s must be %s", key, what);
	err->code = "invalid_type";
	return -1;
}

int
l32_json_get_int(json_t *obj, const char *key, long long lo, long long hi,
    long long *out, struct l32_err *err)
{
	json_t *v = json_object_get(obj, key);
	long long i;
	double d;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v))  /* compared as an integer: a seed keeps all its digits */
		i = json_integer_value(v);
	else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v)) {
		/* 1e3 is an integer; one outside long long cannot be converted */
		d = json_real_value(v);
		if (!(d >= -0x1p63 && d < 0x1p63))
			return l32_err_param(err, L32_ERR_INVALID, key,
			    "%s is %g; it must be between %lld and %lld", key, d, lo, hi);
		i = (long long)d;
	} else
		return type_error(err, key, "an integer");
	if (i < lo || i > hi)
		return l32_err_param(err, L32_ERR_INVALID, key,
		    "%s is %lld; it must be between %lld and %lld", key, i, lo, hi);
	*out = i;
	return 0;
}

int
l32_json_get_num(json_t *obj, const char *key, double lo, double hi,
    double *out, struct l32_err *err)
{
	json_t *v = json_object_get(obj, key);
	double d;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_number(v))
		return type_error(err, key, "a number");
	d = json_number_value(v);
	if (!(d >= lo && d <= hi))
		return l32_err_param(err, L32_ERR_INVALID, key,
		    "%s is %g; it must be between %g and %g", key, d, lo, hi);
	*out = d;
	return 0;
}

int
l32_json_get_bool(json_t *obj, const char *key, int *out, struct l32_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return type_error(err, key, "true or false");
	*out = json_is_true(v);
	return 0;
}

int
l32_json_get_str(json_t *obj, const char *key, const char **out,
    size_t *len, struct l32_err *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return type_error(err, key, "a string");
	*out = json_string_value(v);
	if (len != NULL)
		*len = json_string_length(v);
	return 0;
}

int
l32_filter_is_batch(const struct l32_filter *f)
{
	return f->cur != NULL && f->cur->batch;
}
