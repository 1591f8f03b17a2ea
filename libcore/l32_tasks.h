/*
 * l32_tasks.h - what l32-embed, l32-rewrite and l32-summarize share: the
 * set-up every model program does, embeddings over batched forward passes,
 * the task prompts of rewriting and summarizing, cutting text into chunks
 * that fit a token budget, the map-reduce summarizer, and whole-file input.
 * Included by l32.h.
 */
#ifndef L32_TASKS_H
#define L32_TASKS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct l32_err;
struct l32_buf;
struct l32_tokens;
struct l32_model;
struct l32_hparams;
struct l32_tokenizer;
struct l32_engine;
struct l32_ctx_params;
struct l32_chat_opts;
struct l32_gen_params;

/* ------------------------------------------------------- program set-up */

/* The name responses give the model: the base name of its file or
 * directory (a trailing slash ignored).  Points into path. */
const char *l32_model_name(const char *path);
/* "fp_l32_" and 12 hex digits identifying the build, the model file and
 * the thread count (outputs are reproducible for one fingerprint). */
void l32_fingerprint(const struct l32_model *m, int threads, char *buf, size_t size);
/* Opens the model of -m (arg; NULL: $L32_MODEL or the default path),
 * which must hold a tokenizer; *name is what responses call it. */
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

/* getopt_long values of the options every program reads the same way. */
enum {
	L32_OPT_BATCH = 'b',        /* -b, --batch N */
	L32_OPT_CTX = 'c',          /* -c, --ctx N (L32_CTX) */
	L32_OPT_MODEL = 'm',        /* -m, --model PATH */
	L32_OPT_RAW = 'r',          /* -r, --raw */
	L32_OPT_TEXT = 'T',         /* -T, --text */
	L32_OPT_THREADS = 't',      /* -t, --threads N (L32_THREADS) */
	L32_OPT_CHAT_FORMAT = 'F',  /* --chat-format hf|meta */
	L32_OPT_DATE = 'D',         /* --date DATE */
	L32_OPT_KV_F16 = 'K',       /* --kv-f16 */
	L32_OPT_MAX_LINE = 'L',     /* --max-line BYTES */
	L32_OPT_MAX_TOKENS = 'M',   /* --max-tokens N */
	L32_OPT_PROGRESS = 'p',     /* --progress */
	L32_OPT_SEED = 'S',         /* --seed N */
	L32_OPT_TEMPERATURE = 'P',  /* --temperature T */
};

struct l32_common {
	const char *model;          /* -m; NULL: $L32_MODEL or the default path */
	long long ctx;              /* 0: the default context */
	long long threads;          /* 0: all cores */
	long long batch;
	int kv_f16;
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

/* ------------------------------------------------------------- job queue */

/* Requests of the request loop run on one engine together (continuous
 * batching): each waits, in input order, for as many free sequence slots
 * as it has choices, then runs as a job that every step advances with the
 * others.  When its job is done, answer() writes its response through its
 * sink (-1: output failed) and the sink is finished; then, or when it
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
/* Starts what can start, decodes one token of every running choice,
 * answers what finished: the request loop's step. */
int l32_jobq_step(struct l32_jobq *q, struct l32_err *err);
/* 1 while requests wait or run. */
int l32_jobq_busy(const struct l32_jobq *q);

/* ------------------------------------------------------------ embeddings */

enum l32_pooling {
	L32_POOLING_MEAN = 0,   /* mean of the final normalized hidden states of every token */
	L32_POOLING_LAST,       /* the final normalized hidden state of the last token */
};

/* Tokens one forward pass of the embedder takes at most.  Kept below the
 * row count at which BLIS leaves its small-matrix code for its large one
 * (201 rows in its Haswell configuration, 512 in its Zen one), since the
 * two round differently and a text's embedding must not depend on what
 * else shares its pass. */
#define L32_EMBED_PASS_TOKENS 192

struct l32_embedder;

/* cp->n_seq inputs share a forward pass, each of up to cp->n_ctx tokens;
 * cp->n_batch is not used (a pass holds at most L32_EMBED_PASS_TOKENS). */
struct l32_embedder *l32_embedder_new(struct l32_model *m, const struct l32_ctx_params *cp,
    struct l32_err *err);
void l32_embedder_free(struct l32_embedder *e);
int32_t l32_embedder_dim(const struct l32_embedder *e);
int32_t l32_embedder_n_ctx(const struct l32_embedder *e);
/* Forward passes run so far. */
long l32_embedder_passes(const struct l32_embedder *e);

/* Queues n inputs (each 1..n_ctx ids; they must stay put until done), all
 * or none: the pooled final hidden states of input i (dim floats, not
 * normalized) go to out + i * dim, and done[i] becomes 1, during later
 * calls of l32_embedder_step. */
int l32_embedder_add(struct l32_embedder *e, const struct l32_tokens *in, size_t n,
    enum l32_pooling pool, float *out, int *done, struct l32_err *err);
/* Inputs waiting or under way. */
size_t l32_embedder_pending(const struct l32_embedder *e);
/* One forward pass: the inputs under way, then waiting ones in the order
 * they came, as many as fit.  An input's result is bitwise the same
 * whatever shares its passes.  On failure every input is dropped. */
int l32_embedder_step(struct l32_embedder *e, struct l32_err *err);
/* The n inputs at once: out (n, dim).  Nothing else may be queued. */
int l32_embed(struct l32_embedder *e, const struct l32_tokens *in, size_t n,
    enum l32_pooling pool, float *out, struct l32_err *err);

/* v := v / |v| (L2); a zero vector stays zero. */
void l32_vec_normalize(float *v, size_t n);
/* Appends the base64 of v's values as little-endian IEEE f32 (OpenAI's
 * encoding_format "base64"). */
int l32_base64_f32(struct l32_buf *out, const float *v, size_t n);

/* ------------------------------------------------------------ task prompts */

/* A rewrite task: its name and the system message that asks for it.
 * Templates name what a request adds in braces: {n} (queries asked for),
 * {language}, {instructions}; l32_rewrite_system expands them. */
struct l32_rewrite_task {
	const char *name;
	const char *prompt;
	int needs_language;   /* translate */
};

/* The tasks, ended by an entry whose name is NULL. */
extern const struct l32_rewrite_task l32_rewrite_tasks[];
const struct l32_rewrite_task *l32_rewrite_task_find(const char *name);

struct l32_rewrite_req {
	const struct l32_rewrite_task *task;  /* NULL: instructions alone */
	const char *language;                 /* NULL: the input's */
	const char *instructions;             /* NULL: none */
	int32_t n;                            /* query: how many to ask for */
};

/* Appends the system message for r to out. */
int l32_rewrite_system(const struct l32_rewrite_req *r, struct l32_buf *out,
    struct l32_err *err);
/* The chat messages [system, user: input] (a new reference), or NULL. */
json_t *l32_rewrite_messages(const struct l32_rewrite_req *r, const char *input,
    size_t len, struct l32_err *err);

/* Appends text (trimmed) to the array of strings arr unless it is empty or
 * arr already holds the same text up to case, spacing and final
 * punctuation; returns 1 when added, 0 when not, -1 out of memory. */
int l32_add_distinct(json_t *arr, const char *text, size_t len);
/* A query answer: each line (list markers, numbering and quotes taken off;
 * lines ending in a colon skipped as headings) added with
 * l32_add_distinct until arr holds max. */
int l32_split_queries(const char *text, size_t len, size_t max, json_t *arr);

enum l32_summary_format {
	L32_SUMMARY_PARAGRAPH = 0,
	L32_SUMMARY_BULLETS,
	L32_SUMMARY_TLDR,
};

/* The calls of a summary: the whole text at once; else each part of it,
 * then groups of part summaries (merge) until they fit one final call. */
enum l32_summary_stage {
	L32_SUMMARY_WHOLE = 0,
	L32_SUMMARY_PART,
	L32_SUMMARY_MERGE,
	L32_SUMMARY_FINAL,
};

struct l32_summary_req {
	enum l32_summary_format format;
	int32_t max_words;      /* 0: no limit */
	const char *language;   /* NULL: the text's */
	const char *focus;      /* NULL: none */
};

/* Parses "paragraph", "bullets" or "tldr"; -1 for anything else. */
int l32_summary_format_parse(const char *s, enum l32_summary_format *f);
/* Appends the system message of a stage to out. */
int l32_summary_system(const struct l32_summary_req *r, enum l32_summary_stage stage,
    struct l32_buf *out, struct l32_err *err);
/* The chat messages [system, user: text] of a stage (a new reference). */
json_t *l32_summary_messages(const struct l32_summary_req *r, enum l32_summary_stage stage,
    const char *text, size_t len, struct l32_err *err);

/* ------------------------------------------------------------- chunking */

/* A piece of a text: bytes [off, off + len), n_tokens long. */
struct l32_span {
	size_t off, len;
	int32_t n_tokens;
};

/* Cuts text[0..len) into consecutive chunks of at most max_tokens tokens
 * each (tokenized with flags, no BOS): at blank lines where it can, else at
 * line ends, else after sentences, else between words, else between tokens
 * (never inside a UTF-8 character).  Each chunk is trimmed of surrounding
 * white space; chunks holding nothing else are left out.  *out (freed by
 * the caller) gets *n spans in text order. */
int l32_chunk_text(const struct l32_tokenizer *tok, const char *text, size_t len,
    int32_t max_tokens, unsigned flags, struct l32_span **out, size_t *n,
    struct l32_err *err);

/* ------------------------------------------------------------ summarizer */

/* One generation call of a summary, for progress reports and tests. */
struct l32_summary_call {
	enum l32_summary_stage stage;
	int level;              /* 0: the text's parts; 1..: rounds of merging */
	int32_t index, count;   /* this call's text among the level's */
	int32_t text_tokens;    /* tokens of the text summarized */
	int32_t prompt_tokens, completion_tokens;
	int32_t limit;          /* most text tokens a call of this stage takes */
};

struct l32_summary_opts {
	struct l32_summary_req req;
	const struct l32_gen_params *gen;   /* sampling and seed; n is 1 */
	const struct l32_chat_opts *chat;   /* NULL: the defaults */
	int32_t max_tokens;     /* room for the final summary; 0: derived */
	void (*on_call)(void *arg, const struct l32_summary_call *c);
	void *arg;
};

struct l32_summary {
	struct l32_buf text;    /* the summary, trimmed */
	int32_t chunks;         /* parts the text was cut into (1: it fit) */
	int32_t calls, levels;
	int64_t prompt_tokens, completion_tokens;  /* over every call */
	int truncated;          /* the final call ran out of room */
};

/* Summarizes text[0..len) with the engine (whose context sets the size of
 * the parts); s must be zeroed; free it with l32_summary_free. */
int l32_summarize(struct l32_engine *e, const struct l32_tokenizer *tok, const char *text,
    size_t len, const struct l32_summary_opts *o, struct l32_summary *s, struct l32_err *err);
void l32_summary_free(struct l32_summary *s);

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

#endif /* L32_TASKS_H */
