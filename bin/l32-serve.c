/*
 * l32-serve - the OpenAI API over HTTP, from the same request code and
 * engine as the filters:
 *
 *   POST /v1/chat/completions, /v1/completions, /v1/embeddings
 *   GET  /v1/models, /health                      (also without /v1)
 *
 * so that changing a client's base URL to http://127.0.0.1:8080/v1 is
 * the only change it needs.
 */
#include <err.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "l32.h"
#include "prog/l32_prog.h"
#include "prog/l32_serve.h"

/* SIGINT or SIGTERM while the model loads: nothing is in flight yet. */
static void
quit_loading(int sig)
{
	_exit(L32_EXIT_OK);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-hV] [-b batch] [-c ctx] [-m model] [-t threads] [--api-key-file file]\n"
	    "       [--cache-mem bytes] [--chat-format hf|meta] [--check-weights]\n"
	    "       [--date date] [--grace seconds] [--host addr]\n"
	    "       [--kv-f16] [--max-body bytes] [--max-conns n] [--max-header bytes]\n"
	    "       [--max-tokens n] [--no-embeddings] [--port n] [--prefix-cache file]\n"
	    "       [--queue n] [--seed n] [--temperature t] [--timeout seconds]\n",
	    getprogname());
	exit(L32_EXIT_USAGE);
}

enum {
	OPT_API_KEY_FILE = L32_OPT_OWN, OPT_GRACE, OPT_HOST, OPT_MAX_BODY, OPT_MAX_CONNS,
	OPT_MAX_HEADER, OPT_NO_EMBED, OPT_PORT, OPT_QUEUE, OPT_TIMEOUT,
};

struct serve {
	struct l32_program p;       /* options, model, engine (libcore/prog) */
	struct l32_serve_opts so;
	const char *key_file;
	double grace;
	int embeddings;
};

static int
serve_opt(struct serve *s, int ch, const char *arg)
{
	long long v;

	switch (ch) {
	case OPT_API_KEY_FILE: s->key_file = arg; return 0;
	case OPT_GRACE: return l32_opt_real("--grace", arg, 0, 86400, &s->grace);
	case OPT_HOST: s->so.host = arg; return 0;
	case OPT_NO_EMBED: s->embeddings = 0; return 0;
	case OPT_MAX_BODY:
		if (l32_opt_num("--max-body", arg, 1024, 1LL << 32, &v) == -1)
			return -1;
		s->so.max_body = (size_t)v;
		return 0;
	case OPT_MAX_HEADER:
		if (l32_opt_num("--max-header", arg, 4096, 1 << 24, &v) == -1)
			return -1;
		s->so.max_header = (size_t)v;
		return 0;
	case OPT_MAX_CONNS:
		if (l32_opt_num("--max-conns", arg, 1, 65536, &v) == -1)
			return -1;
		s->so.max_conns = (unsigned)v;
		return 0;
	case OPT_PORT:
		if (l32_opt_num("--port", arg, 0, 65535, &v) == -1)
			return -1;
		s->so.port = (int)v;
		return 0;
	case OPT_QUEUE:
		if (l32_opt_num("--queue", arg, 0, 1 << 20, &v) == -1)
			return -1;
		s->so.queue = (int)v;
		return 0;
	case OPT_TIMEOUT:
		if (l32_opt_num("--timeout", arg, 1, 86400, &v) == -1)
			return -1;
		s->so.timeout = (unsigned)v;
		return 0;
	default:
		return -1;
	}
}

int
main(int argc, char *argv[])
{
	static const struct option own[] = {
		{ "api-key-file", required_argument, NULL, OPT_API_KEY_FILE },
		{ "grace", required_argument, NULL, OPT_GRACE },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "max-body", required_argument, NULL, OPT_MAX_BODY },
		{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
		{ "max-header", required_argument, NULL, OPT_MAX_HEADER },
		{ "no-embeddings", no_argument, NULL, OPT_NO_EMBED },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "queue", required_argument, NULL, OPT_QUEUE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ NULL, 0, NULL, 0 }
	};
	struct serve s;
	struct l32_keys *keys = NULL;
	struct l32_serve *sv;
	struct l32_api_chat chat;
	struct l32_api_embed embed;
	struct l32_err err;
	sigset_t sigs;
	int ch, sig, status;

	memset(&s, 0, sizeof(s));
	s.grace = 30;
	s.embeddings = 1;
	l32_serve_opts_init(&s.so);
	if (l32_program_init(&s.p, L32_TAKES_MODEL | L32_TAKES_ENGINE | L32_TAKES_CHAT |
	    L32_TAKES_GEN, L32_BATCH_AUTO, "", own) == -1)
		usage();
	while ((ch = l32_program_getopt(&s.p, argc, argv)) != -1) {
		if (ch == 'V') {
			printf("%s %s\n", getprogname(), L32_VERSION);
			return 0;
		}
		if (ch == 'h' || ch == '?' || serve_opt(&s, ch, optarg) == -1)
			usage();
	}
	if (optind != argc)
		usage();
	l32_err_clear(&err);
	if (s.key_file != NULL) {
		if ((keys = l32_keys_load(s.key_file, &err)) == NULL)
			errx(L32_EXIT_USAGE, "--api-key-file: %s", err.msg);
		s.so.keys = keys;
	}

	/* SIGINT and SIGTERM are blocked in every thread started from here
	 * on; this one takes them: at once while the model loads, through
	 * sigwait once requests are answered */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, quit_loading);
	signal(SIGTERM, quit_loading);

	/* listen first, so /health can say the model is loading */
	if ((sv = l32_serve_start(&s.so, &err)) == NULL)
		errx(L32_EXIT_FATAL, "%s", err.msg);
	fprintf(stderr, "%s: listening on http://%s%s%s:%d/v1\n", getprogname(),
	    strchr(s.so.host, ':') ? "[" : "", s.so.host, strchr(s.so.host, ':') ? "]" : "",
	    l32_serve_port(sv));

	pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
	if ((status = l32_program_open(&s.p, &err)) != 0)
		errx(status, "%s", err.msg);
	l32_api_chat_init(&chat, &s.p);
	if (l32_api_chat_start(&chat, &err) == -1)
		errx(L32_EXIT_FATAL, "%s", err.msg);
	if (s.embeddings && l32_api_embed_init(&embed, &s.p, &err) == -1)
		errx(L32_EXIT_FATAL, "%s", err.msg);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (l32_serve_ready(sv, &chat, s.embeddings ? &embed : NULL, chat.model_name, &err) == -1)
		errx(L32_EXIT_FATAL, "%s", err.msg);
	fprintf(stderr, "%s: %s loaded, %lld slots\n", getprogname(), chat.model_name, s.p.opt.batch);

	while (sigwait(&sigs, &sig) != 0)
		;
	fprintf(stderr, "%s: %s: finishing what is in flight (at most %g s)\n", getprogname(),
	    strsignal(sig), s.grace);
	l32_serve_stop(sv, s.grace);
	l32_api_chat_stop(&chat);
	if (s.embeddings) {
		l32_api_embed_drop(&embed);
		l32_embedder_free(embed.em);
	}
	status = l32_program_save(&s.p, L32_EXIT_OK);
	l32_program_close(&s.p);
	l32_keys_free(keys);
	return status;
}
