/*
 * l32-embed - the OpenAI embeddings endpoint as an NDJSON filter.
 *
 *   {"input": "..." | ["...", ...] | [ids] | [[ids], ...],
 *    "encoding_format"?, "dimensions"?}  -> {"object": "list", "data": [...]}
 *
 * Llama 3.2 is not an embedding model: an embedding is the mean (or the
 * last) of its final normalized hidden states, L2-normalized.  Requests
 * are held while their inputs wait for a forward pass, so the inputs of
 * many requests (many --text lines) share passes.
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"

#define MAX_HELD 64       /* requests read ahead while their inputs wait */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-hrTV] [-b batch] [-c ctx] [-m model] [-t threads] [--check-weights]\n"
	    "       [--dimensions n] [--encoding-format float|base64] [--kv-f16] [--max-line bytes]\n"
	    "       [--no-normalize] [--pooling mean|last] [--progress] [--truncate] [file ...]\n",
	    getprogname());
	exit(L32_EXIT_USAGE);
}


/* The request loop's ops over the API code. */
static int
handle(void *arg, struct l32_filter *f, json_t *body, struct l32_err *err)
{
	return l32_api_embed_submit(arg, body, l32_filter_sink(f), err);
}

static int
step(void *arg, struct l32_err *err)
{
	return l32_api_embed_step(arg, err);
}

static json_t *
from_text(void *arg, const char *line, size_t len, struct l32_err *err)
{
	return json_pack("{s:s%}", "input", line, len);
}

/* --raw: each embedding's numbers (or base64) separated by spaces, the
 * embeddings of a request by tabs. */
static const char *
raw_text(void *arg, json_t *resp, size_t *len)
{
	static struct l32_buf b;
	json_t *item, *x;
	size_t i, k;

	l32_buf_reset(&b);
	json_array_foreach(json_object_get(resp, "data"), i, item) {
		json_t *emb = json_object_get(item, "embedding");

		if (i > 0)
			l32_buf_puts(&b, "\t");
		if (json_is_string(emb))
			l32_buf_puts(&b, json_string_value(emb));
		json_array_foreach(emb, k, x)
			l32_buf_printf(&b, k > 0 ? " %.9g" : "%.9g", json_real_value(x));
	}
	*len = b.len;
	return b.data ? b.data : "";
}

/* ------------------------------------------------------------------- main */

int
main(int argc, char *argv[])
{
	static const struct option own[] = {
		{ "dimensions", required_argument, NULL, 'D' },
		{ "encoding-format", required_argument, NULL, 'E' },
		{ "no-normalize", no_argument, NULL, 'N' },
		{ "normalize", no_argument, NULL, 'n' },
		{ "pooling", required_argument, NULL, 'P' },
		{ "truncate", no_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const urls[] = { "/v1/embeddings", "/embeddings", NULL };
	struct l32_filter_ops ops = { from_text, handle, raw_text, urls, step, 0 };
	struct l32_program p;
	struct l32_api_embed e;
	struct l32_err err;
	long long dims = 0;
	int ch, status, normalize = 1, base64 = 0, truncate = 0;
	enum l32_pooling pooling = L32_POOLING_MEAN;

	if (l32_program_init(&p, L32_TAKES_FILTER | L32_TAKES_MODEL | L32_TAKES_ENGINE, 4,
	    "", own) == -1)
		usage();
	while ((ch = l32_program_getopt(&p, argc, argv)) != -1) {
		switch (ch) {
		case 'D':  /* --dimensions */
			if (l32_opt_num("--dimensions", optarg, 1, 1 << 20, &dims) == -1)
				usage();
			break;
		case 'E':
			if (strcmp(optarg, "base64") != 0 && strcmp(optarg, "float") != 0) {
				warnx("--encoding-format %s: expected float or base64", optarg);
				usage();
			}
			base64 = strcmp(optarg, "base64") == 0;
			break;
		case 'N': normalize = 0; break;
		case 'n': normalize = 1; break;
		case 'P':  /* --pooling */
			if (strcmp(optarg, "mean") == 0)
				pooling = L32_POOLING_MEAN;
			else if (strcmp(optarg, "last") == 0)
				pooling = L32_POOLING_LAST;
			else {
				warnx("--pooling %s: expected mean or last", optarg);
				usage();
			}
			break;
		case 'U': truncate = 1; break;
		case 'V': printf("%s %s\n", getprogname(), L32_VERSION); return 0;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if ((status = l32_program_open(&p, &err)) != 0 || l32_api_embed_init(&e, &p, &err) == -1)
		errx(status != 0 ? status : L32_EXIT_FATAL, "%s", err.msg);
	if (dims > e.dim)
		errx(L32_EXIT_USAGE, "--dimensions %lld: the model's embeddings have %d", dims, e.dim);
	e.dimensions = (int32_t)dims;
	e.normalize = normalize;
	e.base64 = base64;
	e.truncate = truncate;
	e.pooling = pooling;
	p.opt.fo.max_inflight = MAX_HELD;
	status = l32_filter_run(&ops, &e, &p.opt.fo, argv, argc);
	l32_api_embed_drop(&e);
	l32_embedder_free(e.em);
	l32_program_close(&p);
	return status;
}
