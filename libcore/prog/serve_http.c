/*
 * serve_http.c - l32-serve's HTTP side on GNU libmicrohttpd: routes, keys
 * and limits are checked as the headers arrive, the body is gathered, the
 * request goes to the engine thread through a bounded queue, and the
 * connection is parked (suspended) until the answer is there; a streamed
 * answer leaves chunk by chunk, the connection parked again whenever the
 * engine has nothing new for it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "prog/serve_impl.h"

void
l32_serve_opts_init(struct l32_serve_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = 8080;
	o->max_body = 4u << 20;
	o->max_header = 64u << 10;
	o->max_conns = 256;
	o->timeout = 30;
	o->queue = 64;
}

/* ------------------------------------------------------------ responses */

/* Queues body (stolen) as the response; h is answered. */
static enum MHD_Result
respond(struct hreq *h, int status, const char *type, char *body, size_t len,
    const char *allow, int retry_after)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	if (retry_after)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	ret = MHD_queue_response(h->conn, (unsigned)status, r);
	MHD_destroy_response(r);
	h->responded = 1;
	h->sent_status = status;
	pthread_mutex_lock(&h->sv->mu);
	if (h->hc != NULL)
		h->hc->receiving = 0;
	pthread_mutex_unlock(&h->sv->mu);
	return ret;
}

static enum MHD_Result
respond_json(struct hreq *h, int status, json_t *obj, const char *allow, int retry_after)
{
	char *s = obj != NULL ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	json_decref(obj);
	if (s == NULL)
		return MHD_NO;
	return respond(h, status, "application/json", s, strlen(s), allow, retry_after);
}

static enum MHD_Result
respond_error(struct hreq *h, int status, struct l32_err *err, const char *allow)
{
	return respond_json(h, status, l32_serve_error_body(status, err), allow, status == 429);
}

static enum MHD_Result
fail_with(struct hreq *h, int status, const char *code, const char *msg)
{
	struct l32_err err;

	l32_err_set(&err, status == 503 ? L32_ERR_IO : L32_ERR_INVALID, "%s", msg);
	err.code = code;
	return respond_error(h, status, &err, NULL);
}

/* GET /models and /models/{id}: the loaded model, under its own name. */
static enum MHD_Result
models(struct hreq *h, const char *id)
{
	struct l32_serve *sv = h->sv;
	json_t *m, *list;
	const char *name;
	struct l32_err err;

	l32_err_clear(&err);
	if (id != NULL) {
		list = json_pack("{s:s}", "model", id);
		if (list == NULL || l32_request_model(list, sv->model_name, &name, &err) == -1) {
			json_decref(list);
			return respond_error(h, 404, &err, NULL);
		}
		json_decref(list);
	}
	m = json_pack("{s:s, s:s, s:I, s:s}", "id", id != NULL ? id : sv->model_name,
	    "object", "model", "created", (json_int_t)sv->created, "owned_by", "l32");
	if (id != NULL)
		return respond_json(h, 200, m, NULL, 0);
	list = json_pack("{s:s, s:[o]}", "object", "list", "data", m);
	return respond_json(h, 200, list, NULL, 0);
}

static enum MHD_Result
health(struct hreq *h)
{
	int ready = atomic_load(&h->sv->ready) && !atomic_load(&h->sv->stopping);

	return respond_json(h, ready ? 200 : 503, json_pack("{s:s}", "status",
	    ready ? "ok" : atomic_load(&h->sv->stopping) ? "stopping" : "loading"), NULL, 0);
}

/* ------------------------------------------------------------- requests */

static void
printable(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < size && src[i] != '\0'; i++)
		dst[i] = src[i] > ' ' && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

static void
client_name(struct hreq *h)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	strlcpy(h->client, "-", sizeof(h->client));
	ci = MHD_get_connection_info(h->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    h->client, sizeof(h->client));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    h->client, sizeof(h->client));
}

/* The headers are in: route, key, readiness, type and announced size. */
static enum MHD_Result
begin(struct l32_serve *sv, struct MHD_Connection *c, const char *url, const char *method,
    void **con_cls)
{
	const union MHD_ConnectionInfo *ci;
	struct hreq *h = calloc(1, sizeof(*h));
	const char *id, *allow, *len;
	struct l32_err err;
	int status;

	if (h == NULL)
		return MHD_NO;
	h->sv = sv;
	h->conn = c;
	h->conn_ref = 1;
	h->t0 = l32_serve_now();
	printable(h->method, sizeof(h->method), method);
	printable(h->path, sizeof(h->path), url);
	client_name(h);
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	pthread_mutex_lock(&sv->mu);
	h->hc = ci != NULL ? ci->socket_context : NULL;
	sv->alive++;
	pthread_mutex_unlock(&sv->mu);
	*con_cls = h;

	l32_err_clear(&err);
	if ((status = l32_serve_route(method, url, &h->route, &id, &allow, &err)) != 0)
		return respond_error(h, status, &err, allow);
	if (h->route == L32_ROUTE_HEALTH)
		return health(h);
	if (!l32_keys_check(sv->o.keys, MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION)))
		return fail_with(h, 401, "invalid_api_key",
		    "Incorrect API key provided: send it as \"Authorization: Bearer <key>\".");
	if (atomic_load(&sv->stopping) || !atomic_load(&sv->ready))
		return fail_with(h, 503, "unavailable", "");
	if (h->route == L32_ROUTE_MODELS || h->route == L32_ROUTE_MODEL)
		return models(h, id);
	if (!l32_serve_is_json(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE)))
		return fail_with(h, 415, "unsupported_media_type",
		    "The body must be JSON: send \"Content-Type: application/json\".");
	len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (len != NULL && strtoull(len, NULL, 10) > sv->o.max_body) {
		l32_err_set(&err, L32_ERR_INVALID, "The body is %.20s bytes, over the limit of %zu "
		    "bytes (--max-body)", len, sv->o.max_body);
		err.code = "request_too_large";
		return respond_error(h, 413, &err, NULL);
	}
	return MHD_YES;
}

/* The body is in: to the engine, or 400 / 413 / 429 / 503. */
static enum MHD_Result
submit(struct l32_serve *sv, struct hreq *h)
{
	struct l32_err err;
	json_t *req;

	l32_err_clear(&err);
	if (h->too_big) {
		l32_err_set(&err, L32_ERR_INVALID, "The body is over the limit of %zu bytes (--max-body)",
		    sv->o.max_body);
		err.code = "request_too_large";
		return respond_error(h, 413, &err, NULL);
	}
	req = l32_api_parse_body(h->body.data ? h->body.data : "", h->body.len, "body", NULL, &err);
	l32_buf_free(&h->body);
	if (req == NULL)
		return respond_error(h, 400, &err, NULL);
	h->stream = h->route != L32_ROUTE_EMBEDDINGS && json_is_true(json_object_get(req, "stream"));
	pthread_mutex_lock(&sv->mu);
	if (atomic_load(&sv->stopping) || sv->inflight >= sv->limit) {
		int busy = !atomic_load(&sv->stopping);

		pthread_mutex_unlock(&sv->mu);
		json_decref(req);
		if (!busy)
			return fail_with(h, 503, "unavailable", "");
		return fail_with(h, 429, "rate_limit_exceeded", "Every slot and the wait queue are "
		    "full (--batch, --queue): retry after a moment.");
	}
	sv->inflight++;
	h->req = req;
	h->queued = 1;
	h->engine_ref = 1;
	h->sink.ops = &l32_serve_sink_ops;
	h->sink.id = ((uint64_t)arc4random() << 32) | arc4random();
	if (h->hc != NULL)
		h->hc->receiving = 0;
	*sv->inbox_tail = h;
	sv->inbox_tail = &h->next;
	h->suspended = 1;
	MHD_suspend_connection(h->conn);
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
	return MHD_YES;
}

/* A streamed answer: the bytes the engine has made, else the connection
 * is parked until it makes more. */
static ssize_t
read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct hreq *h = cls;
	ssize_t n;

	pthread_mutex_lock(&h->sv->mu);
	if (h->out.len > h->out_off) {
		n = (ssize_t)(h->out.len - h->out_off < max ? h->out.len - h->out_off : max);
		memcpy(buf, h->out.data + h->out_off, (size_t)n);
		h->out_off += (size_t)n;
		if (h->out_off == h->out.len) {
			l32_buf_reset(&h->out);
			h->out_off = 0;
		}
	} else if (h->ended)
		n = MHD_CONTENT_READER_END_OF_STREAM;
	else if (h->gone)
		n = MHD_CONTENT_READER_END_WITH_ERROR;
	else {
		h->suspended = 1;
		MHD_suspend_connection(h->conn);
		n = 0;
	}
	pthread_mutex_unlock(&h->sv->mu);
	return n;
}

/* Called again after the engine woke the connection. */
static enum MHD_Result
resumed(struct hreq *h)
{
	struct l32_serve *sv = h->sv;
	struct MHD_Response *r;
	enum MHD_Result ret;
	int status;
	char *body;

	pthread_mutex_lock(&sv->mu);
	if (h->status == 0 || (!h->stream && !h->ended)) {
		if (h->gone) {   /* cut off at shutdown */
			pthread_mutex_unlock(&sv->mu);
			return MHD_NO;
		}
		h->suspended = 1;
		MHD_suspend_connection(h->conn);
		pthread_mutex_unlock(&sv->mu);
		return MHD_YES;
	}
	status = h->status;
	if (!h->stream) {
		body = malloc(h->out.len + 1);
		if (body != NULL)
			memcpy(body, h->out.data ? h->out.data : "", h->out.len);
		pthread_mutex_unlock(&sv->mu);
		if (body == NULL)
			return MHD_NO;
		return respond(h, status, "application/json", body, h->out.len, NULL, 0);
	}
	pthread_mutex_unlock(&sv->mu);
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, read_stream, h, NULL);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	MHD_add_response_header(r, "X-Accel-Buffering", "no");
	ret = MHD_queue_response(h->conn, (unsigned)status, r);
	MHD_destroy_response(r);
	h->responded = 1;
	h->sent_status = status;
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
    const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct l32_serve *sv = cls;
	struct hreq *h = *con_cls;

	if (h == NULL)
		return begin(sv, c, url, method, con_cls);
	if (*upload_size > 0) {
		/* a chunked body past the limit: the connection is closed,
		 * since a response cannot be queued in the middle of a body */
		if (h->body.len + *upload_size > sv->o.max_body)
			return MHD_NO;
		if (!h->responded && l32_buf_append(&h->body, upload, *upload_size) == -1)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (h->responded)
		return MHD_YES;
	if (!h->queued)
		return submit(sv, h);
	return resumed(h);
}

/* The request is over (answered, or the connection failed): one access
 * log line, and the connection's reference to h is dropped. */
static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct l32_serve *sv = cls;
	struct hreq *h = *con_cls;

	if (h == NULL)
		return;
	*con_cls = NULL;
	pthread_mutex_lock(&sv->mu);
	h->gone = 1;
	fprintf(stderr, "%s: %s \"%s %s\" %d %ld tokens %.0f ms%s\n", getprogname(), h->client,
	    h->method, h->path, h->sent_status, h->tokens, (l32_serve_now() - h->t0) * 1e3,
	    toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
	if (h->hc != NULL) {   /* ready for the next request on the connection */
		h->hc->receiving = 1;
		h->hc->t_ready = l32_serve_now();
	}
	l32_serve_unref(h, 0);
	pthread_mutex_unlock(&sv->mu);
}

static void
on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
    enum MHD_ConnectionNotificationCode what)
{
	struct l32_serve *sv = cls;
	const union MHD_ConnectionInfo *ci;
	struct hconn *hc, **pp;

	pthread_mutex_lock(&sv->mu);
	if (what == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((hc = calloc(1, sizeof(*hc))) != NULL) {
			ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
			hc->fd = ci != NULL ? ci->connect_fd : -1;
			hc->receiving = 1;
			hc->t_ready = l32_serve_now();
			hc->next = sv->conns;
			sv->conns = hc;
		}
		*socket_context = hc;
	} else if ((hc = *socket_context) != NULL) {
		for (pp = &sv->conns; *pp != NULL; pp = &(*pp)->next)
			if (*pp == hc) {
				*pp = hc->next;
				break;
			}
		free(hc);
		*socket_context = NULL;
	}
	pthread_mutex_unlock(&sv->mu);
}

/* libmicrohttpd's messages (a malformed request, a refused connection). */
static void
on_log(void *cls, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: http: ", getprogname());
	vfprintf(stderr, fmt, ap);
}

/* ------------------------------------------------------------- set-up */

static int
bind_addr(const char *host, int port, struct sockaddr_storage *ss, struct l32_err *err)
{
	struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		return AF_INET6;
	}
	return l32_err_set(err, L32_ERR_INVALID, "--host %s: not an IPv4 or IPv6 address", host);
}

struct l32_serve *
l32_serve_start(const struct l32_serve_opts *o, struct l32_err *err)
{
	struct l32_serve *sv = calloc(1, sizeof(*sv));
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	int family;

	if (sv == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if ((family = bind_addr(o->host, o->port, &ss, err)) == -1) {
		free(sv);
		return NULL;
	}
	sv->o = *o;
	sv->inbox_tail = &sv->inbox;
	sv->created = l32_filter_created();
	pthread_mutex_init(&sv->mu, NULL);
	pthread_cond_init(&sv->cv, NULL);
	pthread_cond_init(&sv->idle, NULL);
	if (family == AF_INET6)
		flags |= MHD_USE_IPv6;
	sv->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, sv,
	    MHD_OPTION_EXTERNAL_LOGGER, on_log, sv,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_CONNECTION_LIMIT, o->max_conns,
	    MHD_OPTION_CONNECTION_TIMEOUT, o->timeout,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->max_header,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, sv,
	    MHD_OPTION_NOTIFY_CONNECTION, on_connection, sv,
	    MHD_OPTION_END);
	if (sv->d == NULL) {
		l32_err_set(err, L32_ERR_IO, "cannot listen on %s port %d: %m", o->host, o->port);
		free(sv);
		return NULL;
	}
	di = MHD_get_daemon_info(sv->d, MHD_DAEMON_INFO_BIND_PORT);
	sv->port = di != NULL ? di->port : o->port;
	return sv;
}

int
l32_serve_port(const struct l32_serve *sv)
{
	return sv->port;
}

int
l32_serve_ready(struct l32_serve *sv, struct l32_api_chat *chat, struct l32_api_embed *embed,
    const char *model_name, struct l32_err *err)
{
	sv->chat = chat;
	sv->embed = embed;
	sv->model_name = model_name;
	sv->limit = l32_engine_n_seq(chat->engine) + sv->o.queue;
	if (pthread_create(&sv->engine, NULL, l32_serve_engine_main, sv) != 0)
		return l32_err_set(err, L32_ERR_NOMEM, "cannot start the engine thread");
	sv->engine_running = 1;
	atomic_store(&sv->ready, 1);
	return 0;
}

/* Waits on sv->idle (sv->mu held) until done() or the deadline. */
static void
wait_until(struct l32_serve *sv, int (*done)(struct l32_serve *), double deadline)
{
	struct timespec ts;
	double t;

	while (!done(sv) && (t = l32_serve_now()) < deadline) {
		clock_gettime(CLOCK_REALTIME, &ts);
		t = deadline - t < 0.2 ? deadline - t : 0.2;
		ts.tv_nsec += (long)(t * 1e9);
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&sv->idle, &sv->mu, &ts);
	}
}

static int
nothing_inflight(struct l32_serve *sv)
{
	return sv->inflight == 0;
}

static int
nothing_alive(struct l32_serve *sv)
{
	return sv->alive == 0;
}

void
l32_serve_stop(struct l32_serve *sv, double grace)
{
	double deadline = l32_serve_now() + grace;
	MHD_socket fd;
	struct hconn *c;

	atomic_store(&sv->stopping, 1);
	if ((fd = MHD_quiesce_daemon(sv->d)) != MHD_INVALID_SOCKET)
		close(fd);
	pthread_mutex_lock(&sv->mu);
	wait_until(sv, nothing_inflight, deadline);
	sv->quit = 1;
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
	if (sv->engine_running)
		pthread_join(sv->engine, NULL);
	/* the answers the engine made leave; then whatever still hangs on is
	 * cut off, so no connection stays parked when the daemon stops */
	pthread_mutex_lock(&sv->mu);
	wait_until(sv, nothing_alive, deadline > l32_serve_now() + 1 ? deadline : l32_serve_now() + 1);
	for (c = sv->conns; c != NULL; c = c->next)
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&sv->mu);
	MHD_stop_daemon(sv->d);
	pthread_mutex_destroy(&sv->mu);
	pthread_cond_destroy(&sv->cv);
	pthread_cond_destroy(&sv->idle);
	free(sv);
}
