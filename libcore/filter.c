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

#include "l32.h"
#include "linereader.h"

struct l32_filter {
	const struct l32_filter_ops *ops;
	void *arg;
	const struct l32_filter_opts *opts;
	struct l32_linereader *in;
	long lineno;
	/* the request being answered */
	json_t *req_id, *custom_id, *metadata;
	int batch;
	uint64_t hash;
	/* counts */
	long n_ok, n_err, n_tokens;
	int out_failed;
	int progress;
	double t_start, t_last_progress;
	struct l32_buf line;   /* output scratch */
};

static volatile sig_atomic_t stop_signal;

static void
on_signal(int sig)
{
	stop_signal = sig;
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
	return f->lineno;
}

void
l32_filter_count_tokens(struct l32_filter *f, long n)
{
	f->n_tokens += n;
}

uint64_t
l32_filter_request_hash(const struct l32_filter *f)
{
	return f->hash;
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

/* Writes one finished JSON object as a line; the whole record or nothing
 * reaches the pipe before the flush, so a reader never sees half a line. */
static int
write_line(struct l32_filter *f, const char *s, size_t n)
{
	if (f->out_failed)
		return -1;
	if (fwrite(s, 1, n, stdout) != n || putchar('\n') == EOF || fflush(stdout) == EOF) {
		warn("stdout: write error");
		f->out_failed = 1;
		return -1;
	}
	return 0;
}

static int
write_json(struct l32_filter *f, json_t *obj)
{
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
		rc = write_line(f, f->line.data, f->line.len);
	} else
		rc = write_line(f, s, strlen(s));
	free(s);
	return rc;
}

int
l32_filter_emit_done(struct l32_filter *f)
{
	if (!f->opts->sse || f->opts->raw)
		return 0;
	return write_line(f, "data: [DONE]\n", 13);
}

/* --raw: text on one line; backslash, newline and carriage return escaped
 * as \\, \n and \r so every answer stays one line. */
static int
write_raw(struct l32_filter *f, const char *s, size_t n)
{
	size_t i;

	l32_buf_reset(&f->line);
	for (i = 0; i < n; i++) {
		const char *e = NULL;

		switch (s[i]) {
		case '\\': e = "\\\\"; break;
		case '\n': e = "\\n"; break;
		case '\r': e = "\\r"; break;
		}
		if (e != NULL ? l32_buf_puts(&f->line, e) : l32_buf_append(&f->line, s + i, 1))
			return -1;
	}
	return write_line(f, f->line.data ? f->line.data : "", f->line.len);
}

static void
add_echo(struct l32_filter *f, json_t *obj)
{
	if (f->req_id != NULL)
		json_object_set(obj, "id", f->req_id);
	if (f->custom_id != NULL)
		json_object_set(obj, "custom_id", f->custom_id);
	if (f->metadata != NULL)
		json_object_set(obj, "metadata", f->metadata);
}

int
l32_filter_emit(struct l32_filter *f, json_t *resp)
{
	json_t *line;
	char id[40];
	int rc;

	if (f->opts->raw) {
		const char *s = NULL;
		size_t n = 0;

		if (f->ops->raw_text != NULL)
			s = f->ops->raw_text(f->arg, resp, &n);
		rc = s != NULL ? write_raw(f, s, n) : 0;
		json_decref(resp);
		return rc;
	}
	if (!f->batch) {
		add_echo(f, resp);
		rc = write_json(f, resp);
		json_decref(resp);
		return rc;
	}
	/* OpenAI Batch output line */
	snprintf(id, sizeof(id), "batch_req_%016llx", (unsigned long long)f->hash);
	line = json_pack("{s:s, s:O, s:{s:i, s:s+, s:o}, s:n}",
	    "id", id, "custom_id", f->custom_id,
	    "response", "status_code", 200, "request_id", "req_", id + 10, "body", resp,
	    "error");
	if (line == NULL)
		return -1;
	if (f->metadata != NULL)
		json_object_set(line, "metadata", f->metadata);
	rc = write_json(f, line);
	json_decref(line);
	return rc;
}

static const char *
default_code(const struct l32_err *err)
{
	if (err->code != NULL)
		return err->code;
	switch (err->kind) {
	case L32_ERR_CONTEXT: return "context_length_exceeded";
	case L32_ERR_UNSUPPORTED: return "unsupported_value";
	case L32_ERR_NOMEM: return "resource_exhausted";
	default: return "invalid_value";
	}
}

/* The error line for a failed request (or a Batch output line carrying it). */
static int
emit_error(struct l32_filter *f, const struct l32_err *err)
{
	json_t *e, *line;
	char id[40];
	int rc;

	f->n_err++;
	warnx("%s:%ld: %s", l32_linereader_name(f->in), f->lineno, err->msg);
	if (f->opts->raw)  /* keep one line per request */
		return write_line(f, "", 0);
	e = json_pack("{s:s, s:s, s:o, s:s}", "message", err->msg,
	    "type", err->kind == L32_ERR_NOMEM ? "server_error" : "invalid_request_error",
	    "param", err->param[0] ? json_string(err->param) : json_null(),
	    "code", default_code(err));
	if (e == NULL)
		return -1;
	if (f->batch) {
		snprintf(id, sizeof(id), "batch_req_%016llx", (unsigned long long)f->hash);
		line = json_pack("{s:s, s:O, s:n, s:o, s:I}", "id", id,
		    "custom_id", f->custom_id, "response", "error", e, "line", (json_int_t)f->lineno);
		if (line != NULL && f->metadata != NULL)
			json_object_set(line, "metadata", f->metadata);
	} else {
		line = json_pack("{s:o, s:I}", "error", e, "line", (json_int_t)f->lineno);
		if (line != NULL)
			add_echo(f, line);
	}
	if (line == NULL)
		return -1;
	rc = write_json(f, line);
	json_decref(line);
	return rc;
}

/* ---------------------------------------------------------------- progress */

static void
progress(struct l32_filter *f, int final)
{
	double t = now(), el = t - f->t_start;

	if (!f->progress || (!final && t - f->t_last_progress < 0.5))
		return;
	f->t_last_progress = t;
	fprintf(stderr, "\r%s: %ld requests, %ld errors, %ld tokens, %.1f tok/s%s",
	    getprogname(), f->n_ok + f->n_err, f->n_err, f->n_tokens,
	    el > 0 ? f->n_tokens / el : 0.0, final || isatty(STDERR_FILENO) == 0 ? "\n" : "");
}

/* ------------------------------------------------------------ request loop */

static void
clear_request(struct l32_filter *f)
{
	json_decref(f->req_id);
	json_decref(f->custom_id);
	json_decref(f->metadata);
	f->req_id = f->custom_id = f->metadata = NULL;
	f->batch = 0;
}

/* Takes the id / custom_id / metadata that come back on the answer. */
static void
note_echo(struct l32_filter *f, json_t *obj)
{
	json_t *v;

	if ((v = json_object_get(obj, "id")) != NULL && !json_is_null(v))
		f->req_id = json_incref(v);
	if ((v = json_object_get(obj, "custom_id")) != NULL && !json_is_null(v))
		f->custom_id = json_incref(v);
	if ((v = json_object_get(obj, "metadata")) != NULL && !json_is_null(v))
		f->metadata = json_incref(v);
}

/* An OpenAI Batch line: {"custom_id", "method", "url", "body"}. */
static json_t *
unwrap_batch(struct l32_filter *f, json_t *obj, struct l32_err *err)
{
	json_t *body = json_object_get(obj, "body");
	json_t *url = json_object_get(obj, "url");
	json_t *method = json_object_get(obj, "method");
	const char *const *u;

	f->batch = 1;
	if (f->custom_id != NULL && !json_is_string(f->custom_id)) {
		l32_err_param(err, L32_ERR_INVALID, "custom_id", "custom_id must be a string");
		return NULL;
	}
	if (method != NULL && (!json_is_string(method) || strcmp(json_string_value(method), "POST") != 0)) {
		l32_err_param(err, L32_ERR_INVALID, "method", "method must be \"POST\"");
		return NULL;
	}
	if (url != NULL && f->ops->batch_urls != NULL) {
		if (!json_is_string(url)) {
			l32_err_param(err, L32_ERR_INVALID, "url", "url must be a string");
			return NULL;
		}
		for (u = f->ops->batch_urls; *u != NULL; u++)
			if (strcmp(*u, json_string_value(url)) == 0)
				break;
		if (*u == NULL) {
			l32_err_param(err, L32_ERR_INVALID, "url", "url \"%s\" is not served by %s (it serves %s)",
			    json_string_value(url), getprogname(), f->ops->batch_urls[0]);
			return NULL;
		}
	}
	if (!json_is_object(body)) {
		l32_err_param(err, L32_ERR_INVALID, "body", "body must be a JSON object");
		return NULL;
	}
	if (json_object_get(body, "metadata") != NULL && f->metadata == NULL)
		f->metadata = json_incref(json_object_get(body, "metadata"));
	return json_incref(body);
}

/* Turns one input line into a request body, or fails with err. */
static json_t *
parse_line(struct l32_filter *f, const char *s, size_t n, struct l32_err *err)
{
	json_error_t jerr;
	json_t *obj, *body;
	size_t i;

	if (!l32_utf8_valid(s, n)) {
		uint32_t cp;
		int k;

		for (i = 0; i < n; i += (size_t)k)
			if ((k = l32_utf8_decode((const unsigned char *)s + i, n - i, &cp)) == 0)
				break;
		l32_err_set(err, L32_ERR_INVALID, "line is not valid UTF-8 (near byte %zu)", i + 1);
		err->code = "invalid_encoding";
		return NULL;
	}
	if (f->opts->text) {
		if (f->ops->from_text == NULL) {
			l32_err_set(err, L32_ERR_UNSUPPORTED, "--text is not supported by %s", getprogname());
			return NULL;
		}
		return f->ops->from_text(f->arg, s, n, err);
	}
	obj = json_loadb(s, n, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
	if (obj == NULL) {
		l32_err_set(err, L32_ERR_INVALID, "invalid JSON at column %d: %s", jerr.column, jerr.text);
		err->code = "invalid_json";
		return NULL;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		l32_err_set(err, L32_ERR_INVALID, "a request must be a JSON object");
		err->code = "invalid_type";
		return NULL;
	}
	note_echo(f, obj);
	if (f->custom_id != NULL && json_object_get(obj, "body") != NULL) {
		body = unwrap_batch(f, obj, err);
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

/* Answers one line; returns -1 when output failed. */
static int
answer_line(struct l32_filter *f, const char *s, size_t n, int too_long)
{
	struct l32_err err;
	json_t *body;
	int rc;

	l32_err_clear(&err);
	f->hash = fnv1a(s, n < 65536 ? n : 65536);
	if (too_long) {
		l32_err_set(&err, L32_ERR_INVALID,
		    "line is %zu bytes, over the limit of %zu bytes (--max-line)", n, f->opts->max_line);
		err.code = "line_too_long";
		return emit_error(f, &err);
	}
	if ((body = parse_line(f, s, n, &err)) == NULL)
		return emit_error(f, &err);
	rc = f->ops->handle(f->arg, f, body, &err);
	json_decref(body);
	if (f->out_failed)
		return -1;
	if (rc == -1)
		return emit_error(f, &err);
	f->n_ok++;
	return 0;
}

static int
run_file(struct l32_filter *f, const char *path)
{
	struct l32_err err;
	const char *s;
	size_t n;
	int too_long, rc = 0;

	l32_err_clear(&err);
	if ((f->in = l32_linereader_open(path, f->opts->max_line, &err)) == NULL) {
		warnx("%s", err.msg);
		return L32_EXIT_FATAL;
	}
	while (!stop_signal && (rc = l32_linereader_next(f->in, &s, &n, &too_long, &err)) == 1) {
		f->lineno = l32_linereader_lineno(f->in);
		if (!f->opts->text && !too_long && blank(s, n))
			continue;
		rc = answer_line(f, s, n, too_long);
		clear_request(f);
		progress(f, 0);
		if (rc == -1)
			break;
	}
	if (rc == -1 && !f->out_failed && !stop_signal)
		warnx("%s", err.msg);
	l32_linereader_close(f->in);
	f->in = NULL;
	if (f->out_failed || (rc == -1 && !stop_signal))
		return L32_EXIT_FATAL;
	return 0;
}

int
l32_filter_run(const struct l32_filter_ops *ops, void *arg,
    const struct l32_filter_opts *o, char *const *files, int nfiles)
{
	struct l32_filter f;
	struct sigaction sa;
	int i, status = 0;

	memset(&f, 0, sizeof(f));
	f.ops = ops;
	f.arg = arg;
	f.opts = o;
	f.progress = o->progress == -1 ? isatty(STDERR_FILENO) : o->progress;
	f.t_start = f.t_last_progress = now();
	/* No SA_RESTART: a blocked read returns, and the loop stops after the
	 * record being written. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (i = 0; i < (nfiles > 0 ? nfiles : 1) && status == 0 && !stop_signal; i++)
		status = run_file(&f, nfiles > 0 ? files[i] : NULL);
	progress(&f, 1);
	if (status == 0 && fflush(stdout) == EOF) {
		warn("stdout");
		status = L32_EXIT_FATAL;
	}
	l32_buf_free(&f.line);
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
	double d;

	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v))
		d = (double)json_integer_value(v);
	else if (json_is_real(v) && floor(json_real_value(v)) == json_real_value(v))
		d = json_real_value(v);
	else
		return type_error(err, key, "an integer");
	if (d < (double)lo || d > (double)hi)
		return l32_err_param(err, L32_ERR_INVALID, key,
		    "%s is %.0f; it must be between %lld and %lld", key, d, lo, hi);
	*out = (long long)d;
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
	return f->batch;
}
