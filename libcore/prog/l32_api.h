/*
 * l32_api.h - the OpenAI API's requests, one implementation for every
 * transport.  A request body goes in with a sink; its answers come out of
 * the sink: the NDJSON request loop's tickets (l32-generate, l32-embed)
 * and l32-serve's HTTP connections are two kinds of sink over the same
 * code.  Included by l32.h.
 */
#ifndef L32_API_H
#define L32_API_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct l32_err;
struct l32_engine;
struct l32_embedder;
struct l32_tokenizer;
struct l32_filter;
struct l32_ticket;

/* ------------------------------------------------------------------ sinks */

/* Where one request's answers go.  Every request that was accepted ends
 * with exactly one finish() or fail(). */
struct l32_sink;

struct l32_sink_ops {
	/* One response object or stream chunk (the reference is stolen);
	 * -1 when output failed for good (the filter then stops). */
	int (*emit)(struct l32_sink *s, json_t *resp);
	/* The end of a stream (after the last chunk). */
	int (*emit_done)(struct l32_sink *s);
	/* The request is answered. */
	void (*finish)(struct l32_sink *s);
	/* The request is answered with err instead (or after the chunks
	 * already emitted). */
	void (*error)(struct l32_sink *s, const struct l32_err *err);
	/* Tokens generated or embedded, for progress and logs. */
	void (*count_tokens)(struct l32_sink *s, long n);
	/* 1 once nobody waits for the answer (an HTTP client went away): the
	 * request is dropped at the next step.  NULL: never. */
	int (*cancelled)(struct l32_sink *s);
	/* Prompt tokens the prefix cache held, for progress.  NULL: not
	 * counted. */
	void (*count_cached)(struct l32_sink *s, long n);
};

struct l32_sink {
	const struct l32_sink_ops *ops;
	uint64_t id;       /* response ids are made from it */
	int batch;         /* came in an OpenAI Batch line: no streaming */
	int raw;           /* only the text is shown: no streaming */
};

static inline int l32_sink_emit(struct l32_sink *s, json_t *resp) { return s->ops->emit(s, resp); }
static inline int l32_sink_emit_done(struct l32_sink *s) { return s->ops->emit_done(s); }
static inline void l32_sink_finish(struct l32_sink *s) { s->ops->finish(s); }
static inline void l32_sink_fail(struct l32_sink *s, const struct l32_err *err) { s->ops->error(s, err); }
static inline void l32_sink_count_tokens(struct l32_sink *s, long n) { s->ops->count_tokens(s, n); }
static inline void
l32_sink_count_cached(struct l32_sink *s, long n)
{
	if (s->ops->count_cached != NULL)
		s->ops->count_cached(s, n);
}
static inline int
l32_sink_cancelled(struct l32_sink *s)
{
	return s->ops->cancelled != NULL && s->ops->cancelled(s);
}

/* The request loop's sink for its current request (held: it is answered
 * later, through the sink). */
struct l32_sink *l32_filter_sink(struct l32_filter *f);

/* The OpenAI error object {"message", "type", "param", "code"} for err
 * (a new reference, or NULL out of memory); the message and param made
 * valid UTF-8. */
json_t *l32_api_error_json(const struct l32_err *err);
/* The error's "code": err->code, else one derived from its kind. */
const char *l32_api_error_code(const struct l32_err *err);
/* A request (what names it in messages: "line", "body"): valid UTF-8
 * holding one JSON object, or NULL with err set (invalid_encoding,
 * invalid_json, invalid_type; invalid_value naming the member for a number
 * too large to read).  sv, when not NULL, gets what could be read of a
 * refused request (its id, custom_id, metadata: free it with
 * l32_line_salvage_free). */
struct l32_line_salvage;
json_t *l32_api_parse_body(const char *s, size_t n, const char *what,
    struct l32_line_salvage *sv, struct l32_err *err);

/* ------------------------------------------------- chat and completions */

/* One engine's chat.completion / text_completion requests.  Set the
 * fields above the line, then l32_api_chat_start. */
struct l32_api_chat {
	const struct l32_tokenizer *tok;
	struct l32_engine *engine;
	const char *model_name;     /* what responses call the model */
	char fingerprint[32];
	enum l32_chat_format chat_format;
	char date[64];
	struct l32_gen_params defaults;
	int has_default_seed;
	const char *grammar;        /* GBNF for requests that set none, or NULL */
	/* ---- */
	struct l32_jobq *jobs;      /* requests waiting for slots or running */
};

int l32_api_chat_start(struct l32_api_chat *g, struct l32_err *err);
/* Frees what is still queued (without answering it). */
void l32_api_chat_stop(struct l32_api_chat *g);
/* Checks a request body ({"messages"} or {"prompt"}) and queues it, to be
 * answered through s at later steps; -1 with err (nothing emitted) when it
 * is not a valid request. */
/* Fills the fields above the line from an opened program (its engine,
 * tokenizer, names, chat settings and generation defaults). */
struct l32_program;
void l32_api_chat_init(struct l32_api_chat *a, const struct l32_program *p);
int l32_api_chat_submit(struct l32_api_chat *g, json_t *body, struct l32_sink *s,
    struct l32_err *err);
/* Starts what can start, decodes one token of every running request,
 * answers what finished, drops what was cancelled. */
int l32_api_chat_step(struct l32_api_chat *g, struct l32_err *err);
/* 1 while requests wait or run. */
int l32_api_chat_busy(const struct l32_api_chat *g);

/* ----------------------------------------------------------- embeddings */

struct l32_api_embed_req;

/* One embedder's embeddings requests.  Set the fields above the line. */
struct l32_api_embed {
	struct l32_embedder *em;
	const struct l32_tokenizer *tok;
	const char *model_name;
	enum l32_pooling pooling;
	int normalize;
	int truncate;          /* default of "truncate": cut over-long inputs */
	int base64;            /* default encoding_format base64 */
	int32_t dimensions;    /* default dimensions, 0: all */
	int32_t dim, n_ctx;
	/* ---- */
	struct l32_api_embed_req *held;  /* requests waiting for their inputs, in order */
};

/* Fills the fields above the line from an opened program, with an
 * embedder of its own on the program's model (-c, -b, -t, --kv-f16);
 * pooling mean, normalized, the full dimension. */
int l32_api_embed_init(struct l32_api_embed *e, const struct l32_program *p,
    struct l32_err *err);
int l32_api_embed_submit(struct l32_api_embed *e, json_t *body, struct l32_sink *s,
    struct l32_err *err);
/* One forward pass, then the answers it completes; drops what was cancelled. */
int l32_api_embed_step(struct l32_api_embed *e, struct l32_err *err);
int l32_api_embed_busy(const struct l32_api_embed *e);
/* Frees the requests still held (without answering them). */
void l32_api_embed_drop(struct l32_api_embed *e);

#endif
