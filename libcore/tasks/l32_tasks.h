/*
 * l32_tasks.h - the tasks built on generation: the prompts of rewriting and
 * summarizing, cutting text into chunks that fit a token budget, and the
 * map-reduce summarizer.
 */
#ifndef L32_TASKS_API_H
#define L32_TASKS_API_H

#include <jansson.h>
#include "chat/l32_chat.h"
#include "gen/l32_gen.h"

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
	int32_t cached_tokens;  /* prompt tokens the prefix cache held */
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
	int64_t cached_tokens;  /* prompt tokens the prefix cache held, over every call */
	int truncated;          /* the final call ran out of room */
};

/* Summarizes text[0..len) with the engine (whose context sets the size of
 * the parts); s must be zeroed; free it with l32_summary_free. */
int l32_summarize(struct l32_engine *e, const struct l32_tokenizer *tok, const char *text,
    size_t len, const struct l32_summary_opts *o, struct l32_summary *s, struct l32_err *err);
void l32_summary_free(struct l32_summary *s);

#endif /* L32_TASKS_API_H */
