/*
 * jobq.c - requests of the request loop run on one engine together
 * (continuous batching): each waits, in input order, for as many free
 * sequence slots as it has choices, runs as a job that every step advances
 * with the others, and is answered through its sink when it is done.
 */
#include <stdlib.h>
#include <string.h>

#include "prog/l32_prog.h"

struct entry {
	void *req;
	struct l32_sink *sink;
	const int32_t *prompt;        /* (n_prompt), the caller's */
	size_t n_prompt;
	struct l32_gen_params p;
	struct l32_gen_choice *choices;
	l32_gen_stream_fn stream;     /* may be NULL */
	void *stream_arg;
	struct l32_job *job;
	struct entry *next;
};

struct l32_jobq {
	struct l32_engine *e;
	l32_jobq_answer_fn answer;
	l32_jobq_free_fn release;
	struct entry *waiting, *running;   /* both in input order */
	l32_jobq_step_fn step_fn;          /* chooses step, or NULL */
	void *step_arg;
	int32_t step;                      /* most sequences running together; 0: all slots */
};

struct l32_jobq *
l32_jobq_new(struct l32_engine *e, l32_jobq_answer_fn answer, l32_jobq_free_fn release)
{
	struct l32_jobq *q = calloc(1, sizeof(*q));

	if (q != NULL) {
		q->e = e;
		q->answer = answer;
		q->release = release;
	}
	return q;
}

static void
entry_free(struct l32_jobq *q, struct entry *x)
{
	l32_job_free(x->job);
	q->release(x->req);
	free(x);
}

void
l32_jobq_free(struct l32_jobq *q)
{
	struct entry *x;

	if (q == NULL)
		return;
	while ((x = q->waiting) != NULL) {
		q->waiting = x->next;
		entry_free(q, x);
	}
	while ((x = q->running) != NULL) {
		q->running = x->next;
		entry_free(q, x);
	}
	free(q);
}

static void
append(struct entry **list, struct entry *x)
{
	while (*list != NULL)
		list = &(*list)->next;
	x->next = NULL;
	*list = x;
}

int
l32_jobq_add(struct l32_jobq *q, void *req, struct l32_sink *s, const int32_t *prompt,
    size_t n_prompt, const struct l32_gen_params *p, struct l32_gen_choice *choices,
    l32_gen_stream_fn stream, void *stream_arg, struct l32_err *err)
{
	struct entry *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	*x = (struct entry){ req, s, prompt, n_prompt, *p, choices, stream, stream_arg, NULL, NULL };
	append(&q->waiting, x);
	return 0;
}

void
l32_jobq_set_step(struct l32_jobq *q, l32_jobq_step_fn fn, void *arg)
{
	q->step_fn = fn;
	q->step_arg = arg;
}

/* Whether x may start now: its choices take free slots, and beside
 * running requests no more than the step size run together (chosen the
 * first time that question comes up).  Alone, a request takes all the
 * slots it asks for. */
static int
may_start(struct l32_jobq *q, const struct entry *x)
{
	int32_t free_slots = l32_engine_free_slots(q->e);

	if (free_slots < x->p.n)
		return 0;
	if (q->running == NULL)
		return 1;
	if (q->step_fn != NULL) {
		q->step = q->step_fn(q->step_arg);
		q->step_fn = NULL;
	}
	return q->step <= 0 || l32_engine_n_seq(q->e) - free_slots + x->p.n <= q->step;
}

/* Starts the waiting requests, in order, while there are slots for them;
 * one that cannot start is answered with its error. */
static void
start_waiting(struct l32_jobq *q)
{
	struct entry *x;
	struct l32_err err;

	while ((x = q->waiting) != NULL && may_start(q, x)) {
		q->waiting = x->next;
		l32_err_clear(&err);
		x->job = l32_job_start(q->e, x->prompt, x->n_prompt, &x->p, x->choices,
		    x->stream, x->stream_arg, &err);
		if (x->job == NULL) {
			l32_sink_fail(x->sink, &err);
			entry_free(q, x);
			continue;
		}
		append(&q->running, x);
	}
}

/* Answers the requests whose jobs are done. */
static int
finish_done(struct l32_jobq *q)
{
	struct entry **pp = &q->running, *x;
	struct l32_err err;
	int rc = 0, failed, answered;

	while ((x = *pp) != NULL) {
		if (!l32_job_done(x->job)) {
			pp = &x->next;
			continue;
		}
		*pp = x->next;
		l32_err_clear(&err);
		failed = l32_job_error(x->job, &err) == -1;
		l32_job_free(x->job);   /* slots back before the next start */
		x->job = NULL;
		if (failed)  /* its error line in place of the answer */
			l32_sink_fail(x->sink, &err);
		else if ((answered = q->answer(x->req, x->sink)) == -1)
			rc = -1;
		else if (answered == 0)  /* 1: answer() failed the sink itself */
			l32_sink_finish(x->sink);
		entry_free(q, x);
	}
	return rc;
}

/* Drops the requests of list whose sinks were cancelled: their slots are
 * free for the next start. */
static void
drop_cancelled(struct l32_jobq *q, struct entry **pp)
{
	struct entry *x;
	struct l32_err err;

	while ((x = *pp) != NULL) {
		if (!l32_sink_cancelled(x->sink)) {
			pp = &x->next;
			continue;
		}
		*pp = x->next;
		l32_err_set(&err, L32_ERR_IO, "the client went away");
		l32_sink_fail(x->sink, &err);
		entry_free(q, x);
	}
}

int
l32_jobq_step(struct l32_jobq *q, struct l32_err *err)
{
	drop_cancelled(q, &q->waiting);
	drop_cancelled(q, &q->running);
	start_waiting(q);
	if (l32_engine_busy(q->e) && l32_engine_step(q->e, err) == -1)
		return -1;
	if (finish_done(q) == -1)
		return l32_err_set(err, L32_ERR_IO, "output failed");
	start_waiting(q);
	return 0;
}

int
l32_jobq_busy(const struct l32_jobq *q)
{
	return q->waiting != NULL || q->running != NULL;
}
