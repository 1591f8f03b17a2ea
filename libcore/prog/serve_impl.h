/*
 * serve_impl.h - what l32-serve's HTTP side (serve_http.c) and its engine
 * thread (serve_engine.c) share.  One mutex (sv->mu) guards every field
 * both sides touch; the HTTP side runs in libmicrohttpd's thread, the
 * requests in the engine thread.
 */
#ifndef L32_SERVE_IMPL_H
#define L32_SERVE_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <microhttpd.h>

#include "prog/l32_prog.h"
#include "prog/l32_serve.h"

/* One connection (libmicrohttpd's socket context): a request must arrive
 * whole within the timeout of the connection being ready for it, so a
 * client trickling bytes cannot hold it (libmicrohttpd's own timeout
 * counts idle time only). */
struct hconn {
	int fd;
	double t_ready;              /* when it began waiting for a request */
	int receiving;               /* a request is (or may be) on its way */
	int cut;                     /* shut down for taking too long */
	struct hconn *next;
};

/* One HTTP request, from its headers until both sides are done with it. */
struct hreq {
	struct l32_sink sink;        /* the engine's view (first) */
	struct l32_serve *sv;
	struct MHD_Connection *conn;
	struct hconn *hc;
	enum l32_route route;
	char method[12];
	char path[160];              /* for the access log, made printable */
	char client[64];
	double t0;
	struct l32_buf body;         /* the upload */
	int too_big;
	int stream;                  /* text/event-stream */
	int queued;                  /* handed to the engine */
	int responded;               /* a response was queued on the connection */
	int sent_status;             /* the status that response has */
	json_t *req;                 /* the body, on its way to the engine */
	/* guarded by sv->mu */
	struct l32_buf out;          /* answer bytes not yet sent */
	size_t out_off;
	int status;                  /* 0 until the engine knows it */
	int ended;                   /* nothing more will come */
	int gone;                    /* the connection ended (client away or answered) */
	int suspended;
	int engine_ref, conn_ref;    /* freed when both are 0 */
	long tokens;
	struct hreq *next;           /* inbox */
	struct hreq *anext;          /* the engine's list of requests it answers */
};

struct l32_serve {
	struct l32_serve_opts o;
	struct MHD_Daemon *d;
	int port;
	pthread_mutex_t mu;
	pthread_cond_t cv;           /* the engine thread waits on it */
	pthread_cond_t idle;         /* l32_serve_stop waits on it */
	pthread_t engine;
	int engine_running;
	atomic_int ready;            /* the model is loaded */
	atomic_int stopping;         /* no new requests */
	int quit;                    /* the engine thread ends */
	struct hreq *inbox, **inbox_tail;
	int inflight;                /* queued and not yet answered */
	int limit;                   /* inflight at most */
	int alive;                   /* hreqs not freed */
	struct hconn *conns;
	struct hreq *active;         /* the engine thread's own */
	struct l32_api_chat *chat;
	struct l32_api_embed *embed;
	const char *model_name;
	long long created;
};

double l32_serve_now(void);

/* serve_engine.c */
extern const struct l32_sink_ops l32_serve_sink_ops;
void *l32_serve_engine_main(void *arg);
/* Under sv->mu: lets the connection go on (the engine has news for it). */
void l32_serve_wake(struct hreq *h);
/* Under sv->mu: drops one reference; frees h when none is left. */
void l32_serve_unref(struct hreq *h, int engine_side);

#endif
