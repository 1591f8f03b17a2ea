/*
 * l32_filter.h - the NDJSON request loop every l32 program runs: read lines
 * (files or stdin, gzip or plain), parse and check them, unwrap OpenAI Batch
 * lines, hand each request body to the program, write its answers in input
 * order with the request's id / custom_id / metadata, and an error line in
 * place of every bad request.  Included by l32.h.
 */
#ifndef L32_FILTER_H
#define L32_FILTER_H

#include <stddef.h>
#include <jansson.h>

struct l32_err;
struct l32_filter;

/* Exit statuses (l32(7)). */
enum {
	L32_EXIT_OK = 0,       /* every request answered */
	L32_EXIT_SOME = 1,     /* some requests answered with an error */
	L32_EXIT_USAGE = 2,    /* bad command line */
	L32_EXIT_FATAL = 3,    /* no model, corrupt model, I/O error */
	L32_EXIT_SIGNAL = 4,   /* stopped by SIGINT / SIGTERM; every line written is whole */
};

#define L32_DEFAULT_MAX_LINE (16u << 20) /* bytes per input line */

struct l32_filter_opts {
	size_t max_line;   /* longest input line, bytes */
	int text;          /* --text: each line is plain text, not JSON */
	int raw;           /* --raw: print only the text of each answer */
	int progress;      /* 1 always, 0 never, -1 when stderr is a terminal */
	int sse;           /* --sse: frame every record as "data: ...", blank line */
	int max_inflight;  /* held requests running at once (ops->step); 0 = 1 */
	/* whole-file input (l32_docs_feed): line N of stdin is the file
	 * doc_names[N-1], which messages name instead of the line */
	char *const *doc_names;
	int n_doc_names;
};

struct l32_filter_ops {
	/* --text: builds a request body from a plain line (required for --text). */
	json_t *(*from_text)(void *arg, const char *line, size_t len, struct l32_err *err);
	/* Answers one request body: calls l32_filter_emit once per response
	 * object (several when streaming).  On failure returns -1 with err set;
	 * nothing must have been emitted then. */
	int (*handle)(void *arg, struct l32_filter *f, json_t *body, struct l32_err *err);
	/* --raw: the text to print for a response object (NULL prints nothing). */
	const char *(*raw_text)(void *arg, json_t *resp, size_t *len);
	/* Batch API urls this program answers ("/v1/chat/completions"), NULL-ended. */
	const char *const *batch_urls;
	/* Programs that answer several requests together: handle() calls
	 * l32_filter_hold() and returns; step() then advances every held
	 * request (called while input is not ready, or max_inflight requests
	 * are held), and each is ended with l32_ticket_finish or _fail. */
	int (*step)(void *arg, struct l32_err *err);
	/* 1: raw_text returns the line as it goes out, its parts escaped with
	 * l32_raw_escape and joined by tabs; 0: the filter escapes it whole. */
	int raw_escaped;
};

/* Appends s[0..n) to out with backslash, newline, carriage return and tab
 * written as \\, \n, \r and \t (the --raw rules). */
int l32_raw_escape(struct l32_buf *out, const char *s, size_t n);

/* A request being answered; answers leave in input order whatever order
 * requests finish in. */
struct l32_ticket;

/* Inside handle(): the request will be answered later. */
struct l32_ticket *l32_filter_hold(struct l32_filter *f);
/* Writes one response object of a held request (see l32_filter_emit). */
int l32_ticket_emit(struct l32_ticket *t, json_t *resp);
int l32_ticket_emit_done(struct l32_ticket *t);
/* Ends a held request: answered, or answered with an error line. */
void l32_ticket_finish(struct l32_ticket *t);
void l32_ticket_fail(struct l32_ticket *t, const struct l32_err *err);
uint64_t l32_ticket_hash(const struct l32_ticket *t);
void l32_ticket_count_tokens(struct l32_ticket *t, long n);
int l32_ticket_is_batch(const struct l32_ticket *t);

void l32_filter_opts_init(struct l32_filter_opts *o);

/* Runs the loop over files (nfiles == 0: stdin); returns an exit status. */
int l32_filter_run(const struct l32_filter_ops *ops, void *arg,
    const struct l32_filter_opts *o, char *const *files, int nfiles);

/* Writes one response object (the reference is stolen), adding the
 * request's id / custom_id / metadata, or wrapping it as a Batch output
 * line; flushes.  Returns -1 when stdout failed (the loop then stops). */
int l32_filter_emit(struct l32_filter *f, json_t *resp);
/* Ends a stream: "data: [DONE]" with --sse, nothing otherwise. */
int l32_filter_emit_done(struct l32_filter *f);
/* 1 when the current request came in an OpenAI Batch line. */
int l32_filter_is_batch(const struct l32_filter *f);
/* The request line's number in its file (1-based). */
long l32_filter_lineno(const struct l32_filter *f);
/* Counts generated or processed tokens for the progress line. */
void l32_filter_count_tokens(struct l32_filter *f, long n);
/* A deterministic 64-bit hash of the current request (FNV-1a of its line),
 * for response ids that do not change from run to run. */
uint64_t l32_filter_request_hash(const struct l32_filter *f);
/* Seconds since the epoch for `created`: SOURCE_DATE_EPOCH when set. */
long long l32_filter_created(void);
/* 1 once SIGINT or SIGTERM arrived: stop at the next step.  A request
 * whose work fails with L32_ERR_STOPPED (handle's err, l32_ticket_fail)
 * gets no line, nor do the requests after it; a second signal ends the
 * program at once (after the line being written, when it is not stuck). */
int l32_filter_stopping(void);

/* JSON helpers for request checking: each returns -1 with err naming the
 * param when the field has the wrong type or range; absent fields keep
 * *out unchanged and return 0. */
int l32_json_get_int(json_t *obj, const char *key, long long lo, long long hi,
    long long *out, struct l32_err *err);
int l32_json_get_num(json_t *obj, const char *key, double lo, double hi,
    double *out, struct l32_err *err);
int l32_json_get_bool(json_t *obj, const char *key, int *out, struct l32_err *err);
int l32_json_get_str(json_t *obj, const char *key, const char **out,
    size_t *len, struct l32_err *err);

/* -------------------------------------------------- shared program helpers */

#define L32_VERSION "0.1.0"

/* The model path: arg (-m), else $L32_MODEL, else
 * $XDG_DATA_HOME/l32/model.gguf (~/.local/share/l32/model.gguf). */
const char *l32_model_path(const char *arg, char *buf, size_t size);
/* The chat date: arg (--date), else $L32_DATE, else L32_DEFAULT_DATE;
 * "today" is the current date as the template writes it ("26 Jul 2024"). */
int l32_chat_date(const char *arg, char *buf, size_t size, struct l32_err *err);
/* Parses a numeric option (-t, -c, --max-line ...); -1 after a warning
 * naming the option when it is not a number in lo..hi. */
int l32_opt_num(const char *opt, const char *s, long long lo, long long hi, long long *out);

/* Checks a text option (--language, --focus): -1 after a warning naming
 * opt (when not NULL) when s is empty or white space only. */
int l32_opt_text(const char *opt, const char *s);

/* Reads a request's chat_format, tool_prompt_format, add_generation_prompt
 * and chat_template_kwargs {date_string, tools_in_user_message} into o
 * (whose defaults the caller has set). */
struct l32_chat_opts;
int l32_chat_opts_from_request(json_t *body, struct l32_chat_opts *o, struct l32_err *err);

#endif
