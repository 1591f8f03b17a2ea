/*
 * summarize.c - summaries of texts of any length.
 *
 * A text that fits the context with room for the answer is summarized in
 * one call.  A longer one is cut (chunk.c) into parts that fit with room
 * for a part's summary, each part is summarized, and the summaries, joined
 * by blank lines, are summarized together in a final call; when they are
 * still too long they are cut and merged again, round after round, until
 * they fit.  Every round shrinks the text (a part's summary gets at most
 * half the part's tokens), and a round that does not is an error rather
 * than a loop.  The parts of a round are summarized together, one sequence
 * of the engine each (continuous batching); a part's summary does not
 * depend on what runs beside it.
 *
 *   n_ctx = prompt (template + text) + answer room
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tasks/l32_tasks.h"

/* Tokens kept spare where the text meets the template (tokens may merge
 * or split at the seam). */
#define MARGIN 8
/* Room for the summary of a part: at most this, and at most half the part. */
#define PART_ROOM_MAX 1024
#define PART_ROOM_MIN 16
/* Rounds of merging before giving up. */
#define MAX_LEVELS 32

struct summ {
	struct l32_engine *e;
	const struct l32_tokenizer *tok;
	const struct l32_summary_opts *o;
	struct l32_chat_opts chat;
	struct l32_summary *s;
	int32_t n_ctx;
	unsigned flags;          /* how the rendered prompt is tokenized */
	int32_t part_room;       /* answer room of a part or merge call */
	int32_t part_limit;      /* text tokens of a part or merge call */
	struct l32_err *err;
};

/* The prompt of a stage around text, as ids. */
static int
render(struct summ *m, enum l32_summary_stage stage, const char *text, size_t len,
    struct l32_tokens *ids)
{
	json_t *msgs = l32_summary_messages(&m->o->req, stage, text, len, m->err);
	int rc;

	if (msgs == NULL)
		return -1;
	ids->n = 0;
	rc = l32_chat_render(m->tok, msgs, NULL, &m->chat, NULL, ids, m->err);
	json_decref(msgs);
	return rc;
}

/* Tokens a stage's prompt takes besides the text. */
static int
overhead(struct summ *m, enum l32_summary_stage stage, int32_t *n)
{
	struct l32_tokens ids = { 0 };
	int rc = render(m, stage, "", 0, &ids);

	*n = (int32_t)ids.n;
	l32_tokens_free(&ids);
	return rc;
}

static int32_t
count(struct summ *m, const char *text, size_t len)
{
	struct l32_tokens ids = { 0 };
	int32_t n = -1;

	if (l32_tokenize(m->tok, text, len, m->flags, &ids, m->err) == 0)
		n = (int32_t)ids.n;
	l32_tokens_free(&ids);
	return n;
}

/* A call under way: its prompt, its answer and its job on the engine. */
struct pending {
	struct l32_summary_call c;
	struct l32_tokens prompt;
	struct l32_gen_choice ch;
	struct l32_job *job;
	int32_t room;
};

static void
pending_free(struct pending *p)
{
	l32_job_free(p->job);
	p->job = NULL;
	l32_tokens_free(&p->prompt);
	l32_gen_choice_free(&p->ch);
}

/* Starts a call on the engine: its prompt (rendered unless the caller has
 * it in p->prompt), at most p->room tokens of answer. */
static int
start(struct summ *m, struct pending *p, const char *text, size_t len)
{
	struct l32_gen_params gp = *m->o->gen;

	if (p->prompt.n == 0 && render(m, p->c.stage, text, len, &p->prompt) == -1)
		return -1;
	gp.n = 1;
	gp.max_tokens = p->room;
	p->job = l32_job_start(m->e, p->prompt.ids, p->prompt.n, &gp, &p->ch, NULL, NULL, m->err);
	return p->job == NULL ? -1 : 0;
}

/* Counts a finished call and appends its answer, trimmed, to out. */
static int
finish(struct summ *m, struct pending *p, struct l32_buf *out)
{
	const char *t = p->ch.text.data ? p->ch.text.data : "";
	size_t n = p->ch.text.len;

	p->c.prompt_tokens = (int32_t)p->prompt.n;
	p->c.completion_tokens = (int32_t)p->ch.ids.n;
	p->c.cached_tokens = p->ch.cached_tokens;
	m->s->calls++;
	m->s->prompt_tokens += p->c.prompt_tokens;
	m->s->completion_tokens += p->c.completion_tokens;
	m->s->cached_tokens += p->c.cached_tokens;
	if (p->c.stage == L32_SUMMARY_WHOLE || p->c.stage == L32_SUMMARY_FINAL)
		m->s->truncated = p->ch.finish == L32_FINISH_LENGTH;
	for (; n > 0 && strchr(" \t\r\n", *t); t++, n--)
		;
	while (n > 0 && strchr(" \t\r\n", t[n - 1]) != NULL)
		n--;
	if (l32_buf_append(out, t, n) == -1)
		return l32_err_set(m->err, L32_ERR_NOMEM, "out of memory");
	if (m->o->on_call != NULL)
		m->o->on_call(m->o->arg, &p->c);
	return 0;
}

/* One call on its own: the summary of text appended to out. */
static int
call(struct summ *m, struct pending *p, const char *text, size_t len, struct l32_buf *out)
{
	int rc = start(m, p, text, len);

	while (rc == 0 && !l32_job_done(p->job))
		rc = l32_engine_step(m->e, m->err);
	if (rc == 0)
		rc = l32_job_error(p->job, m->err);
	if (rc == 0)
		rc = finish(m, p, out);
	pending_free(p);
	return rc;
}

/* The room for the final summary: max_tokens (at most half the context),
 * else what the form asks for (at most a quarter). */
static int32_t
final_room(const struct summ *m)
{
	const struct l32_summary_req *r = &m->o->req;
	int32_t room, cap;

	if (m->o->max_tokens > 0) {
		room = m->o->max_tokens;
		cap = m->n_ctx / 2;
	} else {
		room = r->max_words > 0 ? 2 * r->max_words + 16 :
		    r->format == L32_SUMMARY_TLDR ? 96 : 512;
		cap = m->n_ctx / 4;
	}
	return room < cap ? room : cap;
}

/* Sizes the part and merge calls so that a round always shrinks and its
 * summaries can end in a final call. */
static int
plan_parts(struct summ *m, int32_t room)
{
	int32_t o_part, o_merge, o_final, o, final_limit;

	if (overhead(m, L32_SUMMARY_PART, &o_part) == -1 ||
	    overhead(m, L32_SUMMARY_MERGE, &o_merge) == -1 ||
	    overhead(m, L32_SUMMARY_FINAL, &o_final) == -1)
		return -1;
	o = o_part > o_merge ? o_part : o_merge;
	final_limit = m->n_ctx - o_final - room - MARGIN;
	m->part_room = (m->n_ctx - o - MARGIN) / 3;
	if (m->part_room > final_limit / 2)
		m->part_room = final_limit / 2;
	if (m->part_room > PART_ROOM_MAX)
		m->part_room = PART_ROOM_MAX;
	m->part_limit = m->n_ctx - o - m->part_room - MARGIN;
	if (m->part_room < PART_ROOM_MIN) {
		l32_err_param(m->err, L32_ERR_CONTEXT, "input",
		    "the text does not fit the context window of %d tokens, which is too small "
		    "to summarize it in parts (the prompts take %d tokens and the summary %d; -c)",
		    m->n_ctx, o > o_final ? o : o_final, room);
		m->err->code = "context_length_exceeded";
		return -1;
	}
	return 0;
}

/* Runs the calls of a round together on the engine, as many at once as it
 * has sequence slots; reports them in order as they finish. */
static int
run_round(struct summ *m, struct pending *p, size_t n, const char *text,
    const struct l32_span *parts, struct l32_buf *out)
{
	size_t next = 0, reported = 0, i;

	while (reported < n) {
		for (; next < n && l32_engine_free_slots(m->e) > 0; next++)
			if (start(m, &p[next], text + parts[next].off, parts[next].len) == -1)
				return -1;
		if (l32_engine_busy(m->e) && l32_engine_step(m->e, m->err) == -1)
			return -1;
		for (i = reported; i < next && l32_job_done(p[i].job); i++, reported++) {
			if (l32_job_error(p[i].job, m->err) == -1)
				return -1;
			if (out->len > 0 && l32_buf_puts(out, "\n\n") == -1)
				return l32_err_set(m->err, L32_ERR_NOMEM, "out of memory");
			if (finish(m, &p[i], out) == -1)
				return -1;
			pending_free(&p[i]);
		}
	}
	return 0;
}

/* One round: cuts text into parts, appends their summaries to out. */
static int
round_of(struct summ *m, int level, const char *text, size_t len, struct l32_buf *out)
{
	struct l32_span *parts;
	struct pending *p;
	size_t n, i;
	int32_t room;
	int rc;

	if (l32_chunk_text(m->tok, text, len, m->part_limit, m->flags, &parts, &n, m->err) == -1)
		return -1;
	if ((p = calloc(n ? n : 1, sizeof(*p))) == NULL) {
		free(parts);
		return l32_err_set(m->err, L32_ERR_NOMEM, "out of memory");
	}
	if (level == 0)
		m->s->chunks = (int32_t)n;
	for (i = 0; i < n; i++) {
		p[i].c.stage = level == 0 ? L32_SUMMARY_PART : L32_SUMMARY_MERGE;
		p[i].c.level = level;
		p[i].c.index = (int32_t)i;
		p[i].c.count = (int32_t)n;
		p[i].c.text_tokens = parts[i].n_tokens;
		p[i].c.limit = m->part_limit;
		room = parts[i].n_tokens / 2;
		p[i].room = room < PART_ROOM_MIN ? PART_ROOM_MIN : room > m->part_room ? m->part_room : room;
	}
	rc = run_round(m, p, n, text, parts, out);
	for (i = 0; i < n; i++)
		pending_free(&p[i]);
	free(p);
	free(parts);
	return rc;
}

/* Merges rounds of summaries until they fit one final call. */
static int
reduce(struct summ *m, struct l32_buf *sums, int32_t room, int32_t prev)
{
	struct l32_tokens ids = { 0 };
	struct pending p;
	struct l32_buf next = { 0 };
	int32_t total;
	int level, rc = -1;

	for (level = 1; level <= MAX_LEVELS; level++) {
		if (sums->len == 0) {
			l32_err_set(m->err, L32_ERR_INVALID, "the summaries of the parts are empty");
			m->err->code = "summary_empty";
			goto out;
		}
		if (render(m, L32_SUMMARY_FINAL, sums->data, sums->len, &ids) == -1)
			goto out;
		if ((int64_t)ids.n + room <= m->n_ctx) {
			memset(&p, 0, sizeof(p));
			p.c.stage = L32_SUMMARY_FINAL;
			p.c.level = level;
			p.c.count = 1;
			p.c.text_tokens = count(m, sums->data, sums->len);
			p.c.limit = m->n_ctx - room - ((int32_t)ids.n - p.c.text_tokens);
			p.prompt = ids;
			p.room = room;
			memset(&ids, 0, sizeof(ids));
			m->s->levels = level + 1;
			rc = call(m, &p, sums->data, sums->len, &m->s->text);
			goto out;
		}
		if ((total = count(m, sums->data, sums->len)) == -1)
			goto out;
		if (total >= prev) {
			l32_err_set(m->err, L32_ERR_INVALID, "the summaries of the parts (%d tokens) "
			    "are no shorter than what they summarize (%d tokens)", total, prev);
			m->err->code = "summary_not_shorter";
			goto out;
		}
		prev = total;
		l32_buf_reset(&next);
		if (round_of(m, level, sums->data, sums->len, &next) == -1)
			goto out;
		l32_buf_reset(sums);
		if (l32_buf_append(sums, next.data ? next.data : "", next.len) == -1) {
			l32_err_set(m->err, L32_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	l32_err_set(m->err, L32_ERR_INVALID, "the summary took more than %d rounds", MAX_LEVELS);
out:
	l32_tokens_free(&ids);
	l32_buf_free(&next);
	return rc;
}

int
l32_summarize(struct l32_engine *e, const struct l32_tokenizer *tok, const char *text,
    size_t len, const struct l32_summary_opts *o, struct l32_summary *s, struct l32_err *err)
{
	struct summ m = { e, tok, o, { 0 }, s, l32_engine_n_ctx(e), 0, 0, 0, err };
	struct l32_tokens ids = { 0 };
	struct l32_buf sums = { 0 };
	struct pending p;
	int32_t room, total;
	int rc = -1;

	if (o->chat != NULL)
		m.chat = *o->chat;
	else
		l32_chat_opts_init(&m.chat);
	m.flags = m.chat.format == L32_CHAT_HF ? L32_TOKENIZE_SPECIAL : 0;
	while (len > 0 && strchr(" \t\r\n", *text) != NULL)
		text++, len--;
	if (len == 0)
		return l32_err_param(err, L32_ERR_INVALID, "input", "input is empty");
	room = final_room(&m);
	if (render(&m, L32_SUMMARY_WHOLE, text, len, &ids) == -1)
		goto out;
	if ((int64_t)ids.n + room <= m.n_ctx) {
		memset(&p, 0, sizeof(p));
		p.c.stage = L32_SUMMARY_WHOLE;
		p.c.count = 1;
		p.c.text_tokens = count(&m, text, len);
		p.c.limit = m.n_ctx - room - ((int32_t)ids.n - p.c.text_tokens);
		p.prompt = ids;
		p.room = room;
		memset(&ids, 0, sizeof(ids));
		s->chunks = 1;
		s->levels = 1;
		rc = call(&m, &p, text, len, &s->text);
		goto out;
	}
	if (plan_parts(&m, room) == -1 || (total = count(&m, text, len)) == -1 ||
	    round_of(&m, 0, text, len, &sums) == -1)
		goto out;
	rc = reduce(&m, &sums, room, total);
out:
	l32_tokens_free(&ids);
	l32_buf_free(&sums);
	return rc;
}

void
l32_summary_free(struct l32_summary *s)
{
	l32_buf_free(&s->text);
	memset(s, 0, sizeof(*s));
}
