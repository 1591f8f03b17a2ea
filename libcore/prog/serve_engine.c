/*
 * serve_engine.c - l32-serve's engine thread: takes the requests the
 * connections hand it, runs them all in one continuous batch through the
 * same API code as the filters (l32_api.h), and passes each answer back to
 * its connection as it is made, through the HTTP sink below.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "prog/serve_impl.h"

#define SWEEP_SECONDS 0.25   /* how often connections are checked for their deadline */

double
l32_serve_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void
l32_serve_wake(struct hreq *h)
{
	if (h->suspended && h->conn_ref) {
		h->suspended = 0;
		MHD_resume_connection(h->conn);
	}
}

void
l32_serve_unref(struct hreq *h, int engine_side)
{
	struct l32_serve *sv = h->sv;

	if (engine_side)
		h->engine_ref = 0;
	else
		h->conn_ref = 0;
	if (h->engine_ref || h->conn_ref)
		return;
	l32_buf_free(&h->body);
	l32_buf_free(&h->out);
	json_decref(h->req);
	free(h);
	sv->alive--;
	pthread_cond_broadcast(&sv->idle);
}

/* ------------------------------------------------------------ the sink */

static struct hreq *
of_sink(struct l32_sink *s)
{
	return (struct hreq *)s;
}

/* Under sv->mu: the answer bytes of a response object or chunk. */
static void
put_json(struct hreq *h, json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9) | JSON_PRESERVE_ORDER);
	int rc;

	if (s == NULL)
		return;
	/* server-sent events as the hosted endpoint frames them */
	rc = h->stream ? l32_buf_printf(&h->out, "data: %s\n\n", s) : l32_buf_puts(&h->out, s);
	if (rc == -1)
		h->ended = 1;
	free(s);
}

static int
sink_emit(struct l32_sink *s, json_t *resp)
{
	struct hreq *h = of_sink(s);

	pthread_mutex_lock(&h->sv->mu);
	if (!h->gone && resp != NULL) {
		if (h->status == 0)
			h->status = 200;
		put_json(h, resp);
		l32_serve_wake(h);
	}
	pthread_mutex_unlock(&h->sv->mu);
	json_decref(resp);
	return 0;  /* a client that went away is noticed by cancelled() */
}

static int
sink_emit_done(struct l32_sink *s)
{
	struct hreq *h = of_sink(s);

	pthread_mutex_lock(&h->sv->mu);
	if (h->stream && !h->gone)
		l32_buf_puts(&h->out, "data: [DONE]\n\n");
	pthread_mutex_unlock(&h->sv->mu);
	return 0;
}

/* Under sv->mu: the engine is done with h. */
static void
engine_done(struct hreq *h)
{
	struct l32_serve *sv = h->sv;
	struct hreq **pp;

	for (pp = &sv->active; *pp != NULL; pp = &(*pp)->anext)
		if (*pp == h) {
			*pp = h->anext;
			break;
		}
	h->ended = 1;
	sv->inflight--;
	l32_serve_wake(h);
	l32_serve_unref(h, 1);
	pthread_cond_broadcast(&sv->idle);
}

static void
sink_finish(struct l32_sink *s)
{
	struct hreq *h = of_sink(s);

	pthread_mutex_lock(&h->sv->mu);
	if (h->engine_ref) {
		if (h->status == 0)
			h->status = 200;
		engine_done(h);
	}
	pthread_mutex_unlock(&h->sv->mu);
}

static void
sink_error(struct l32_sink *s, const struct l32_err *err)
{
	struct hreq *h = of_sink(s);
	int status = l32_serve_status(err);
	json_t *body;

	if (status >= 500 && err->kind != L32_ERR_NONE)
		fprintf(stderr, "%s: %s %s: %s\n", getprogname(), h->method, h->path, err->msg);
	body = l32_serve_error_body(status, err);
	pthread_mutex_lock(&h->sv->mu);
	if (h->engine_ref) {
		if (h->status == 0) {
			/* nothing sent yet: the error is the response */
			h->status = status;
			h->stream = 0;
			l32_buf_reset(&h->out);
			h->out_off = 0;
		}
		if (body != NULL && !h->gone)
			put_json(h, body);
		engine_done(h);
	}
	pthread_mutex_unlock(&h->sv->mu);
	json_decref(body);
}

static void
sink_count_tokens(struct l32_sink *s, long n)
{
	struct hreq *h = of_sink(s);

	pthread_mutex_lock(&h->sv->mu);
	h->tokens += n;
	pthread_mutex_unlock(&h->sv->mu);
}

/* Under sv->mu: a connection parked while its answer is made is not
 * watched by libmicrohttpd, so its socket is asked whether the client
 * hung up. */
static int
hung_up(struct hreq *h)
{
	struct pollfd p;

	if (!h->suspended || h->hc == NULL || h->hc->fd < 0)
		return 0;
	p.fd = h->hc->fd;
	p.events = POLLRDHUP;
	p.revents = 0;
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static int
sink_cancelled(struct l32_sink *s)
{
	struct hreq *h = of_sink(s);
	int gone;

	pthread_mutex_lock(&h->sv->mu);
	if (!h->gone && hung_up(h))
		h->gone = 1;
	gone = h->gone;
	pthread_mutex_unlock(&h->sv->mu);
	return gone;
}

const struct l32_sink_ops l32_serve_sink_ops = {
	sink_emit, sink_emit_done, sink_finish, sink_error, sink_count_tokens, sink_cancelled, NULL
};

/* ------------------------------------------------------------ the loop */

static int
busy(const struct l32_serve *sv)
{
	return l32_api_chat_busy(sv->chat) || (sv->embed != NULL && l32_api_embed_busy(sv->embed));
}

/* The endpoint and the body must agree: prompt is for /completions. */
static int
check_endpoint(const struct hreq *h, struct l32_err *err)
{
	int has_messages = json_object_get(h->req, "messages") != NULL;
	int has_prompt = json_object_get(h->req, "prompt") != NULL;

	if (h->route == L32_ROUTE_CHAT && has_prompt && !has_messages)
		return l32_err_param(err, L32_ERR_INVALID, "prompt",
		    "/chat/completions takes messages; a prompt goes to /completions");
	if (h->route == L32_ROUTE_COMPLETIONS && has_messages)
		return l32_err_param(err, L32_ERR_INVALID, "messages",
		    "/completions takes a prompt; messages go to /chat/completions");
	return 0;
}

static void
submit(struct l32_serve *sv, struct hreq *h)
{
	struct l32_err err;
	int rc;

	l32_err_clear(&err);
	pthread_mutex_lock(&sv->mu);
	h->anext = sv->active;
	sv->active = h;
	pthread_mutex_unlock(&sv->mu);
	if (h->route == L32_ROUTE_EMBEDDINGS) {
		if (sv->embed == NULL) {
			rc = l32_err_param(&err, L32_ERR_INVALID, "model", "this server has no embeddings model");
			err.code = "model_not_found";
		} else
			rc = l32_api_embed_submit(sv->embed, h->req, &h->sink, &err);
	} else if ((rc = check_endpoint(h, &err)) == 0)
		rc = l32_api_chat_submit(sv->chat, h->req, &h->sink, &err);
	if (rc == -1)
		l32_sink_fail(&h->sink, &err);
}

/* Every request the engine still answers is failed with err (after a
 * failed step, or when the server stops); what the API code holds is
 * freed. */
static void
fail_active(struct l32_serve *sv, const struct l32_err *err)
{
	struct hreq *h;

	l32_api_chat_stop(sv->chat);
	if (sv->embed != NULL)
		l32_api_embed_drop(sv->embed);
	for (;;) {
		pthread_mutex_lock(&sv->mu);
		h = sv->active;
		pthread_mutex_unlock(&sv->mu);
		if (h == NULL)
			break;
		l32_sink_fail(&h->sink, err);
	}
}

static void
step(struct l32_serve *sv)
{
	struct l32_err err;
	int rc = 0;

	l32_err_clear(&err);
	if (l32_api_chat_busy(sv->chat))
		rc = l32_api_chat_step(sv->chat, &err);
	if (rc == 0 && sv->embed != NULL && l32_api_embed_busy(sv->embed))
		rc = l32_api_embed_step(sv->embed, &err);
	if (rc == 0)
		return;
	fprintf(stderr, "%s: engine: %s\n", getprogname(), err.msg);
	fail_active(sv, &err);
	if (l32_api_chat_start(sv->chat, &err) == -1) {
		fprintf(stderr, "%s: engine: %s\n", getprogname(), err.msg);
		abort();
	}
}

/* Under sv->mu: connections whose request has not arrived whole in time
 * are shut down; libmicrohttpd then sees the end of the stream and closes
 * them. */
static void
sweep(struct l32_serve *sv)
{
	double t = l32_serve_now();
	struct hconn *c;

	for (c = sv->conns; c != NULL; c = c->next)
		if (c->receiving && !c->cut && c->fd >= 0 && t - c->t_ready > sv->o.timeout) {
			shutdown(c->fd, SHUT_RDWR);
			c->cut = 1;
		}
}

static void
wait_work(struct l32_serve *sv)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)(SWEEP_SECONDS * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&sv->cv, &sv->mu, &ts);
}

void *
l32_serve_engine_main(void *arg)
{
	struct l32_serve *sv = arg;
	struct hreq *in, *h;
	struct l32_err err;
	double last_sweep = 0;

	pthread_mutex_lock(&sv->mu);
	while (!sv->quit) {
		if (l32_serve_now() - last_sweep >= SWEEP_SECONDS) {
			sweep(sv);
			last_sweep = l32_serve_now();
		}
		if (sv->inbox == NULL && !busy(sv)) {
			wait_work(sv);
			continue;
		}
		in = sv->inbox;
		sv->inbox = NULL;
		sv->inbox_tail = &sv->inbox;
		pthread_mutex_unlock(&sv->mu);
		while ((h = in) != NULL) {
			in = h->next;
			submit(sv, h);
		}
		step(sv);
		pthread_mutex_lock(&sv->mu);
	}
	/* stopping: what was not done in the grace period */
	in = sv->inbox;
	sv->inbox = NULL;
	pthread_mutex_unlock(&sv->mu);
	while ((h = in) != NULL) {
		in = h->next;
		h->anext = NULL;
		pthread_mutex_lock(&sv->mu);
		h->anext = sv->active;
		sv->active = h;
		pthread_mutex_unlock(&sv->mu);
	}
	l32_err_set(&err, L32_ERR_IO, "the server is shutting down");
	err.code = "unavailable";
	fail_active(sv, &err);
	return NULL;
}
