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

#define MAX_HELD 64       /* requests read ahead while their inputs wait */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-hrTV] [-b batch] [-c ctx] [-m model] [-t threads] [--dimensions n]\n"
	    "       [--encoding-format float|base64] [--kv-f16] [--max-line bytes]\n"
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
	static const struct option longopts[] = {
		{ "batch", required_argument, NULL, 'b' },
		{ "ctx", required_argument, NULL, 'c' },
		{ "dimensions", required_argument, NULL, 'D' },
		{ "encoding-format", required_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ "kv-f16", no_argument, NULL, 'K' },
		{ "max-line", required_argument, NULL, 'L' },
		{ "model", required_argument, NULL, 'm' },
		{ "no-normalize", no_argument, NULL, 'N' },
		{ "normalize", no_argument, NULL, 'n' },
		{ "pooling", required_argument, NULL, 'P' },
		{ "progress", no_argument, NULL, 'p' },
		{ "raw", no_argument, NULL, 'r' },
		{ "text", no_argument, NULL, 'T' },
		{ "threads", required_argument, NULL, 't' },
		{ "truncate", no_argument, NULL, 'U' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const urls[] = { "/v1/embeddings", "/embeddings", NULL };
	struct l32_filter_ops ops = { from_text, handle, raw_text, urls, step };
	struct l32_common c;
	struct l32_ctx_params cp;
	struct l32_api_embed e;
	struct l32_model *model;
	struct l32_err err;
	long long dims = 0;
	int ch, status;

	memset(&e, 0, sizeof(e));
	e.normalize = 1;
	if (l32_common_init(&c, 4) == -1)
		usage();
	while ((ch = getopt_long(argc, argv, "b:c:hm:rt:TV", longopts, NULL)) != -1) {
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
			e.base64 = strcmp(optarg, "base64") == 0;
			break;
		case 'N': e.normalize = 0; break;
		case 'n': e.normalize = 1; break;
		case 'P':  /* --pooling */
			if (strcmp(optarg, "mean") == 0)
				e.pooling = L32_POOLING_MEAN;
			else if (strcmp(optarg, "last") == 0)
				e.pooling = L32_POOLING_LAST;
			else {
				warnx("--pooling %s: expected mean or last", optarg);
				usage();
			}
			break;
		case 'U': e.truncate = 1; break;
		case 'V': printf("%s %s\n", getprogname(), L32_VERSION); return 0;
		default:
			if (l32_common_opt(&c, ch, optarg) != 1)
				usage();
		}
	}
	argc -= optind;
	argv += optind;

	l32_err_clear(&err);
	if ((model = l32_program_model(c.model, &e.model_name, &err)) == NULL)
		errx(L32_EXIT_FATAL, "%s", err.msg);
	e.tok = l32_model_tokenizer(model);
	e.dim = l32_model_hparams(model)->dim;
	if (dims > e.dim)
		errx(L32_EXIT_USAGE, "--dimensions %lld: the model's embeddings have %d", dims, e.dim);
	e.dimensions = (int32_t)dims;
	l32_ctx_params_init(&cp);
	cp.n_ctx = c.ctx > 0 ? (int32_t)c.ctx : l32_default_ctx(l32_model_hparams(model));
	cp.n_seq = (int32_t)c.batch;
	cp.n_threads = (int)c.threads;
	cp.kv_f16 = c.kv_f16 || cp.n_ctx > L32_KV_F32_MAX_CTX;
	if ((e.em = l32_embedder_new(model, &cp, &err)) == NULL)
		errx(L32_EXIT_FATAL, "%s", err.msg);
	e.n_ctx = l32_embedder_n_ctx(e.em);
	c.fo.max_inflight = MAX_HELD;
	status = l32_filter_run(&ops, &e, &c.fo, argv, argc);
	l32_api_embed_drop(&e);
	l32_embedder_free(e.em);
	l32_model_free(model);
	return status;
}
