/*
 * l32_serve.h - l32-serve's HTTP front end: the OpenAI API over GNU
 * libmicrohttpd, answered by the same request code as the filters
 * (l32_api.h) on one engine thread that runs every connection's requests
 * in one continuous batch.
 */
#ifndef L32_SERVE_H
#define L32_SERVE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct l32_err;
struct l32_api_chat;
struct l32_api_embed;

/* --------------------------------------------------- requests, as bytes */

/* What a request line asks for. */
enum l32_route {
	L32_ROUTE_NONE = 0,
	L32_ROUTE_CHAT,          /* POST /chat/completions */
	L32_ROUTE_COMPLETIONS,   /* POST /completions */
	L32_ROUTE_EMBEDDINGS,    /* POST /embeddings */
	L32_ROUTE_MODELS,        /* GET /models */
	L32_ROUTE_MODEL,         /* GET /models/{id} */
	L32_ROUTE_HEALTH,        /* GET /health */
};

/* Finds the route of method and path (with or without the /v1 prefix, a
 * trailing slash ignored): 0 and *route set, or the HTTP status with err
 * set: 404 (no such path), 405 (the path takes another method; *allow is
 * the one it takes).  For /models/{id}, *id points at the id in path. */
int l32_serve_route(const char *method, const char *path, enum l32_route *route,
    const char **id, const char **allow, struct l32_err *err);

/* The API keys of --api-key-file: one a line (blank lines and lines
 * starting with # left out). */
struct l32_keys;
struct l32_keys *l32_keys_load(const char *path, struct l32_err *err);
/* The same from text[0..len) (source names it for messages). */
struct l32_keys *l32_keys_parse(const char *text, size_t len, const char *source,
    struct l32_err *err);
void l32_keys_free(struct l32_keys *k);
size_t l32_keys_count(const struct l32_keys *k);
/* 1 when the Authorization header (NULL: absent) is "Bearer <key>" for one
 * of the keys.  The comparison takes the same time whichever key, and
 * whichever byte of it, differs. */
int l32_keys_check(const struct l32_keys *k, const char *authorization);

/* 1 when a Content-Type header is JSON (application/json, any case,
 * parameters allowed) or absent (the body is then taken for what it
 * must be). */
int l32_serve_is_json(const char *content_type);

/* The HTTP status OpenAI answers err with: 404 for model_not_found, 503
 * for unavailable, 400 for a bad request, 500 for anything else (whose message is then not
 * shown: it may name files). */
int l32_serve_status(const struct l32_err *err);

/* {"error": {...}} for status (a new reference): err's object for 4xx,
 * a generic server_error for 5xx. */
json_t *l32_serve_error_body(int status, const struct l32_err *err);

/* ------------------------------------------------------------ the server */

struct l32_serve_opts {
	const char *host;          /* address to bind (default 127.0.0.1) */
	int port;                  /* 0: any free port */
	size_t max_body;           /* request bytes at most (413 past it) */
	size_t max_header;         /* request line and headers, bytes at most */
	unsigned max_conns;        /* connections at once */
	unsigned timeout;          /* seconds a connection may be idle */
	int queue;                 /* requests that may wait for a slot (429 past it) */
	const struct l32_keys *keys;  /* NULL: no key needed */
};

void l32_serve_opts_init(struct l32_serve_opts *o);

struct l32_serve;

/* Listens (the model not loaded yet: /health answers 503 until
 * l32_serve_ready). */
struct l32_serve *l32_serve_start(const struct l32_serve_opts *o, struct l32_err *err);
/* The port it listens on. */
int l32_serve_port(const struct l32_serve *sv);
/* The model is loaded: starts the engine thread over chat (and embed,
 * which may be NULL: /embeddings then answers 404 model_not_found). */
int l32_serve_ready(struct l32_serve *sv, struct l32_api_chat *chat,
    struct l32_api_embed *embed, const char *model_name, struct l32_err *err);
/* Stops accepting connections, lets what is in flight finish for at most
 * grace seconds (then cuts it off), stops the engine thread and frees sv. */
void l32_serve_stop(struct l32_serve *sv, double grace);

#endif
