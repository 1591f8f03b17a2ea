/*
 * l32_prog.h - the program framework every l32 program runs on, above the
 * inference library (l32.h): the NDJSON request loop (files or stdin, gzip or
 * plain; OpenAI Batch lines; answers in input order; an error line in place
 * of every bad request), request parsing, the options the programs share,
 * the job queue of continuous batching and whole-file input.
 */
#ifndef L32_PROG_API_H
#define L32_PROG_API_H

#include <getopt.h>
#include <stddef.h>
#include <jansson.h>
#include "tasks/l32_tasks.h"

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
/* Installs the filter's SIGINT and SIGTERM handlers (l32_filter_run does
 * too): called before a long start-up, so that a signal during it stops
 * the program before its first line instead of being lost. */
void l32_filter_catch_signals(void);

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

/* The sampling fields of an OpenAI request, parsed and checked. */
struct l32_genreq_limits {
	int32_t n_vocab;   /* logit_bias keys must be below it */
	int32_t max_n;     /* most choices per request */
	int structured;    /* read response_format and grammar */
	const char *grammar; /* GBNF for requests that set neither, or NULL */
};

struct l32_genreq {
	struct l32_gen_params p;   /* set defaults before parsing */
	int has_seed;              /* the request carried a seed */
	const char **stop;         /* storage behind p.stop (points into the request) */
	size_t *stop_len;
	struct l32_bias *bias;     /* storage behind p.sampling.bias */
	struct l32_grammar *grammar; /* behind p.grammar */
};

/* Reads temperature, top_p, top_k, min_p, presence/frequency_penalty,
 * logit_bias, seed, n, stop, max_tokens / max_completion_tokens, logprobs,
 * top_logprobs and ignore_eos from body into g->p, over the defaults it
 * holds; with lim->structured also response_format (json_object,
 * json_schema) and grammar (GBNF), compiled into g->grammar.  The stop
 * strings point into body: keep it alive. */
int l32_genreq_parse(json_t *body, const struct l32_genreq_limits *lim,
    struct l32_genreq *g, struct l32_err *err);
void l32_genreq_free(struct l32_genreq *g);

/* ------------------------------------------------------- program set-up */

/* The name responses give the model: the base name of its file or
 * directory (a trailing slash ignored).  Points into path. */
const char *l32_model_name(const char *path);
/* "fp_l32_" and 12 hex digits identifying the build, the model file and
 * the thread count (outputs are reproducible for one fingerprint). */
void l32_fingerprint(const struct l32_model *m, int threads, char *buf, size_t size);
/* Opens the model of -m (arg; NULL: $L32_MODEL or the default path),
 * which must hold a tokenizer, its weights prefetched for computing
 * (L32_MODEL_PREFETCH); *name is what responses call it. */
struct l32_model *l32_program_model(const char *arg, const char **name, struct l32_err *err);
/* Parses a real-valued option (--temperature); -1 after a warning naming
 * the option when it is not a number in lo..hi. */
int l32_opt_real(const char *opt, const char *s, double lo, double hi, double *out);
/* The default context window: the model's own length, capped at 8192
 * positions so the KV cache fits in memory. */
int32_t l32_default_ctx(const struct l32_hparams *hp);
/* Contexts longer than this keep their K/V cache in f16 whatever --kv-f16 says. */
#define L32_KV_F32_MAX_CTX 8192

/* A generation engine for m: n_ctx positions (0: the default), n_seq
 * sequences, threads (0: all cores); K/V in f16 when kv_f16 is set or
 * n_ctx > L32_KV_F32_MAX_CTX. */
struct l32_engine *l32_program_engine(struct l32_model *m, int32_t n_ctx, int32_t n_seq,
    int threads, int kv_f16, struct l32_err *err);
/* A numeric environment variable (L32_CTX ...): 0 when unset or empty, 1
 * with *out set, -1 after a warning naming it when it is not a number in
 * lo..hi. */
int l32_env_num(const char *name, long long lo, long long hi, long long *out);

/* A request's "model": absent (answered as served), the served name, or
 * any Llama 3.2 name (so files written for a hosted endpoint run as they
 * are); anything else is a model_not_found error.  *name is what to answer
 * with. */
int l32_request_model(json_t *body, const char *served, const char **name,
    struct l32_err *err);
/* Fails with unknown_parameter naming the first field of body that is in
 * neither NULL-ended list (also may be NULL). */
int l32_request_fields(json_t *body, const char *const *known,
    const char *const *also, struct l32_err *err);
/* The sampling fields l32_genreq_parse reads, for l32_request_fields
 * (logprobs excepted: only l32-generate reports them). */
extern const char *const l32_sampling_fields[];

/* -------------------------------------------------------- shared options */

/* Which of the shared options a program takes (besides -h and -V, which
 * every program takes). */
enum l32_takes {
	L32_TAKES_FILTER = 1 << 4,  /* -r, -T, --max-line, --progress: an NDJSON filter */
	L32_TAKES_MODEL = 1 << 0,   /* -m, --model */
	L32_TAKES_ENGINE = 1 << 1,  /* -b, -c, -t, --kv-f16, --check-weights: computes */
	L32_TAKES_CHAT = 1 << 2,    /* --chat-format, --date */
	L32_TAKES_GEN = 1 << 3,     /* --max-tokens, --seed, --temperature; opens an engine */
};

/* getopt_long values of the shared options: the letter where the option
 * has one, else a value above every letter, so a program's own options may
 * use any letter the shared ones do not; a program's own long-only options
 * take values from L32_OPT_OWN on. */
enum {
	L32_OPT_BATCH = 'b',        /* -b, --batch N */
	L32_OPT_CTX = 'c',          /* -c, --ctx N (L32_CTX) */
	L32_OPT_MODEL = 'm',        /* -m, --model PATH */
	L32_OPT_RAW = 'r',          /* -r, --raw */
	L32_OPT_TEXT = 'T',         /* -T, --text */
	L32_OPT_THREADS = 't',      /* -t, --threads N (L32_THREADS) */
	L32_OPT_CHAT_FORMAT = 256,  /* --chat-format hf|meta */
	L32_OPT_DATE,               /* --date DATE */
	L32_OPT_KV_F16,             /* --kv-f16 */
	L32_OPT_MAX_LINE,           /* --max-line BYTES */
	L32_OPT_MAX_TOKENS,         /* --max-tokens N */
	L32_OPT_PROGRESS,           /* --progress */
	L32_OPT_SEED,               /* --seed N */
	L32_OPT_TEMPERATURE,        /* --temperature T */
	L32_OPT_CHECK_WEIGHTS,      /* --check-weights */
	L32_OPT_CACHE_MEM,          /* --cache-mem BYTES */
	L32_OPT_PREFIX_CACHE,       /* --prefix-cache FILE */
	L32_OPT_OWN = 512,          /* the first value for a program's own options */
};

/* -b auto: as many sequences as a decode step takes before its arithmetic,
 * not the reading of the weights, bounds it (l32_step_size); programs that
 * do not generate take their own default. */
#define L32_BATCH_AUTO 0

struct l32_common {
	const char *model;          /* -m; NULL: $L32_MODEL or the default path */
	long long ctx;              /* 0: the default context */
	long long threads;          /* 0: all cores */
	long long batch;            /* -b; L32_BATCH_AUTO: chosen at start-up */
	int kv_f16;
	long long cache_mem;        /* --cache-mem: prefix cache bytes, 0 off, -1 the default */
	const char *prefix_cache;   /* --prefix-cache: the prefix cache file, or NULL */
	int check_weights;          /* --check-weights: look at every weight at start-up */
	enum l32_chat_format chat_format;
	const char *date;           /* --date; NULL: $L32_DATE or the default */
	double temperature;         /* < 0: the model's */
	long long max_tokens;       /* 0: none given */
	int has_seed;
	uint64_t seed;
	struct l32_filter_opts fo;  /* --max-line, --progress, -r, -T */
};

/* Defaults, then L32_CTX and L32_THREADS; -1 after a warning when one of
 * them is not a number in range. */
int l32_common_init(struct l32_common *c, long long batch);
/* Takes option ch: 1 when it is a shared one, 0 when not, -1 after a
 * warning naming it when its value is bad. */
int l32_common_opt(struct l32_common *c, int ch, const char *arg);
/* The generation defaults: the model's, then --temperature, --max-tokens
 * and --seed over them. */
void l32_common_gen_defaults(const struct l32_common *c, const struct l32_model *m,
    struct l32_gen_params *p);

/* ---------------------------------------------------------------- program */

#define L32_PROG_MAX_OPTS 48   /* shared and own long options of one program */

/* What every program over a model holds: its shared options, the model and
 * its tokenizer, the engine of the generating programs, and what their
 * responses carry. */
struct l32_program {
	unsigned takes;                  /* L32_TAKES_* */
	struct l32_common opt;           /* the shared options as given */
	struct l32_model *model;
	const struct l32_tokenizer *tok; /* the model's */
	struct l32_engine *engine;       /* L32_TAKES_GEN only */
	const char *model_name;          /* what responses call the model */
	char fingerprint[32];            /* system_fingerprint */
	long long batch_default;         /* -b when not given: a number or L32_BATCH_AUTO */
	int step_lazy;                   /* set before l32_program_open: -b auto is measured
	                                  * when a second request would batch (l32_program_step_on) */
	int step_pending;                /* -b auto and not measured yet */
	char date[64];                   /* the chat template's date (L32_TAKES_CHAT) */
	struct l32_gen_params defaults;  /* L32_TAKES_GEN: the model's, then the options' */
	/* getopt_long's tables: the shared options taken, then the program's own */
	struct option longopts[L32_PROG_MAX_OPTS + 1];
	char shortopts[96];
};

/* Sets the defaults (batch: -b's), reads L32_CTX and L32_THREADS, and
 * builds the option tables from the shared options takes names and the
 * program's own (own_short in getopt's syntax; own_long ended by a zeroed
 * entry; either may be NULL).  -1 after a warning naming what is wrong. */
int l32_program_init(struct l32_program *p, unsigned takes, long long batch,
    const char *own_short, const struct option *own_long);
/* getopt_long over both tables: takes in the shared options and returns
 * the program's own ones, 'h' and 'V' for the program to act on, '?' for a
 * usage error (a warning already printed), -1 after the last option. */
int l32_program_getopt(struct l32_program *p, int argc, char *const argv[]);
/* After the options: the chat date, the model and its tokenizer, the
 * generation defaults and engine (L32_TAKES_GEN) and the fingerprint.
 * Returns 0, or the exit status to end with (L32_EXIT_USAGE for a bad
 * --date, L32_EXIT_FATAL for the model) with err set. */
int l32_program_open(struct l32_program *p, struct l32_err *err);
/* With -b auto and step_lazy: q measures the step size (shown with
 * --progress) the first time a request could start beside a running one,
 * and runs no more sequences together than it; the engine has the most
 * slots the measurement may choose (l32_step_bound), so a single request
 * never waits for it. */
struct l32_jobq;
void l32_program_step_on(struct l32_program *p, struct l32_jobq *q);
/* Context parameters from -c, -b, -t and --kv-f16 for the model. */
void l32_program_ctx_params(const struct l32_program *p, struct l32_ctx_params *cp);
/* At the end of a run that ended with status: writes the prefix cache
 * file (--prefix-cache, when it did not exist at the start) unless a
 * signal stopped the run; warns when it writes nothing or fails.  Returns
 * status, or L32_EXIT_FATAL when writing failed and status was lower. */
int l32_program_save(struct l32_program *p, int status);
void l32_program_close(struct l32_program *p);

/* ------------------------------------------------------------- job queue */

/* Requests of the request loop run on one engine together (continuous
 * batching): each waits, in input order, for as many free sequence slots
 * as it has choices, then runs as a job that every step advances with the
 * others.  When its job is done, answer() writes its response through its
 * sink and the sink is finished (answer() returns 0), or answer() fails the
 * sink with an error line itself (returns 1), or output failed (-1); then,
 * or when it
 * could not start (its sink failed with the error), or its sink was
 * cancelled (failed, its slots given back at the next step), release()
 * frees it. */
struct l32_sink;
struct l32_gen_choice;
typedef int (*l32_jobq_answer_fn)(void *req, struct l32_sink *s);
typedef void (*l32_jobq_free_fn)(void *req);
struct l32_jobq;

struct l32_jobq *l32_jobq_new(struct l32_engine *e, l32_jobq_answer_fn answer,
    l32_jobq_free_fn release);
void l32_jobq_free(struct l32_jobq *q);
/* Queues req: prompt (n_prompt ids) and choices (p->n, zeroed) are the
 * caller's and must stay until release().  stream (may be NULL) gets the
 * text of each step as l32_generate's does. */
int l32_jobq_add(struct l32_jobq *q, void *req, struct l32_sink *s, const int32_t *prompt,
    size_t n_prompt, const struct l32_gen_params *p, struct l32_gen_choice *choices,
    l32_gen_stream_fn stream, void *stream_arg, struct l32_err *err);
/* Beside running requests, no more than fn(arg) sequences run together;
 * fn is called once, the first time a request could start beside others
 * (--batch auto measures then: l32_program_step_on).  Without it every
 * slot of the engine may be taken. */
typedef int32_t (*l32_jobq_step_fn)(void *arg);
void l32_jobq_set_step(struct l32_jobq *q, l32_jobq_step_fn fn, void *arg);
/* Starts what can start, decodes one token of every running choice,
 * answers what finished: the request loop's step. */
int l32_jobq_step(struct l32_jobq *q, struct l32_err *err);
/* 1 while requests wait or run. */
int l32_jobq_busy(const struct l32_jobq *q);

/* ------------------------------------------------------ whole-file input */

/* Makes standard input a stream of one JSON line per file:
 * {"input": <the file's text>, "metadata": {"file": <name>}}, each file
 * read whole (gzip or plain; invalid UTF-8 replaced by U+FFFD) by a thread
 * while the request loop reads the lines.  nfiles 0 reads the old standard
 * input as one file, named "-". */
int l32_docs_feed(char *const *files, int nfiles, struct l32_err *err);
/* Waits for the reader; -1 with err when a file could not be read (the
 * files after it were not sent). */
int l32_docs_wait(struct l32_err *err);

#include "prog/l32_api.h"

#endif /* L32_PROG_API_H */
