/*
 * l32-tokenize - Llama 3 tokenizer as an NDJSON filter.
 *
 *   {"text": "..."}                 -> {"tokens": [...], "count": N}
 *   {"messages": [...], "tools"?}   -> {"tokens": [...], "count": N, "prompt": "..."}
 *   --decode: {"tokens": [...]}     -> {"text": "..."}
 */
#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"

struct tokenize {
	struct l32_tokenizer *tok;
	struct l32_model *model;
	unsigned flags;         /* L32_TOKENIZE_* */
	int decode;             /* --decode */
	int pieces;             /* --pieces */
	int count_only;         /* --count */
	enum l32_chat_format chat_format;
	char date[64];
	struct l32_tokens ids;
	struct l32_buf text;
	char *raw;              /* --raw output scratch */
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-BcdhnPrsSTV] [--chat-format hf|meta] [--chunk] [--date DATE]\n"
	    "       [--max-line BYTES] [--progress] [-m MODEL | --tokenizer FILE] [file ...]\n",
	    getprogname());
	exit(L32_EXIT_USAGE);
}

/* ------------------------------------------------------------- responses */

/* A token's text: a string when its bytes are valid UTF-8, else the
 * array of its byte values. */
static json_t *
piece(const struct tokenize *t, int32_t id)
{
	const char *b;
	size_t n, i;
	json_t *a;

	b = l32_token_bytes(t->tok, id, &n);
	if (l32_utf8_valid(b, n))
		return json_stringn(b, n);
	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		json_array_append_new(a, json_integer((unsigned char)b[i]));
	return a;
}

static json_t *
ids_response(const struct tokenize *t)
{
	json_t *resp, *arr, *pcs = NULL;
	size_t i;

	if ((resp = json_object()) == NULL)
		return NULL;
	if (!t->count_only) {
		arr = json_array();
		for (i = 0; i < t->ids.n; i++)
			json_array_append_new(arr, json_integer(t->ids.ids[i]));
		json_object_set_new(resp, "tokens", arr);
		if (t->pieces) {
			pcs = json_array();
			for (i = 0; i < t->ids.n; i++)
				json_array_append_new(pcs, piece(t, t->ids.ids[i]));
		}
	}
	json_object_set_new(resp, "count", json_integer((json_int_t)t->ids.n));
	if (pcs != NULL)
		json_object_set_new(resp, "pieces", pcs);
	return resp;
}

/* -------------------------------------------------------------- requests */

static int
encode_text(struct tokenize *t, json_t *body, struct l32_err *err)
{
	const char *key = json_object_get(body, "text") != NULL ? "text" : "input";
	json_t *v = json_object_get(body, key);
	int special = (t->flags & L32_TOKENIZE_SPECIAL) != 0;
	unsigned flags;

	if (!json_is_string(v)) {
		l32_err_param(err, L32_ERR_INVALID, key, "%s must be a string", key);
		err->code = "invalid_type";
		return -1;
	}
	if (l32_json_get_bool(body, "special", &special, err) == -1)
		return -1;
	flags = (t->flags & ~(unsigned)L32_TOKENIZE_SPECIAL) | (special ? L32_TOKENIZE_SPECIAL : 0);
	return l32_tokenize(t->tok, json_string_value(v), json_string_length(v),
	    flags, &t->ids, err);
}

static int
encode_messages(struct tokenize *t, json_t *body, struct l32_err *err)
{
	struct l32_chat_opts o;
	json_t *tools = json_object_get(body, "tools");

	l32_chat_opts_init(&o);
	o.format = t->chat_format;
	o.date_string = t->date;
	if (l32_chat_opts_from_request(body, &o, err) == -1)
		return -1;
	if (tools != NULL && json_is_null(tools))
		tools = NULL;
	return l32_chat_render(t->tok, json_object_get(body, "messages"), tools, &o,
	    &t->text, &t->ids, err);
}

static int
decode(struct tokenize *t, json_t *body, struct l32_filter *f, struct l32_err *err)
{
	json_t *arr = json_object_get(body, "tokens"), *v, *resp;
	size_t i;

	if (!json_is_array(arr))
		return l32_err_param(err, L32_ERR_INVALID, "tokens", "tokens must be an array of token ids");
	json_array_foreach(arr, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= l32_tokenizer_n_vocab(t->tok)) {
			char param[32];

			snprintf(param, sizeof(param), "tokens[%zu]", i);
			return l32_err_param(err, L32_ERR_INVALID, param,
			    "tokens[%zu] is not a token id (0..%d)", i, l32_tokenizer_n_vocab(t->tok) - 1);
		}
		if (l32_tokens_push(&t->ids, (int32_t)json_integer_value(v)) == -1)
			return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	}
	if (l32_detokenize(t->tok, t->ids.ids, t->ids.n, &t->text, err) == -1)
		return -1;
	resp = json_pack("{s:s%}", "text", t->text.data ? t->text.data : "", t->text.len);
	return l32_filter_emit(f, resp) == -1 ? -1 : 0;
}

static int
handle(void *arg, struct l32_filter *f, json_t *body, struct l32_err *err)
{
	struct tokenize *t = arg;
	json_t *resp;
	int rc;

	t->ids.n = 0;
	l32_buf_reset(&t->text);
	if (t->decode)
		return decode(t, body, f, err);
	if (json_object_get(body, "messages") != NULL)
		rc = encode_messages(t, body, err);
	else if (json_object_get(body, "text") != NULL || json_object_get(body, "input") != NULL)
		rc = encode_text(t, body, err);
	else
		return l32_err_param(err, L32_ERR_INVALID, "text",
		    "a request needs \"text\" or \"messages\"");
	if (rc == -1)
		return -1;
	l32_filter_count_tokens(f, (long)t->ids.n);
	if ((resp = ids_response(t)) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	if (json_object_get(body, "messages") != NULL && !t->count_only)
		json_object_set_new(resp, "prompt", json_stringn(t->text.data ? t->text.data : "", t->text.len));
	return l32_filter_emit(f, resp) == -1 ? -1 : 0;
}

/* --text: the line is the text; with --decode, ids separated by blanks or commas. */
static json_t *
from_text(void *arg, const char *line, size_t len, struct l32_err *err)
{
	struct tokenize *t = arg;
	json_t *arr;
	char *s, *p, *end;
	long long v;

	if (!t->decode)
		return json_pack("{s:s%}", "text", line, len);
	if ((s = strndup(line, len)) == NULL || (arr = json_array()) == NULL) {
		free(s);
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	for (p = s; *p != '\0'; p = end) {
		while (*p == ' ' || *p == '\t' || *p == ',' || *p == '\r')
			p++;
		if (*p == '\0')
			break;
		v = strtoll(p, &end, 10);
		if (end == p) {
			l32_err_param(err, L32_ERR_INVALID, "tokens", "\"%.20s\" is not a token id", p);
			free(s);
			json_decref(arr);
			return NULL;
		}
		json_array_append_new(arr, json_integer(v));
	}
	free(s);
	return json_pack("{s:o}", "tokens", arr);
}

/* --raw: ids separated by spaces, the count, or the decoded text. */
static const char *
raw_text(void *arg, json_t *resp, size_t *len)
{
	struct tokenize *t = arg;
	struct l32_buf b = { 0 };
	json_t *v;
	size_t i;

	if ((v = json_object_get(resp, "text")) != NULL) {
		*len = json_string_length(v);
		free(t->raw);
		t->raw = malloc(*len + 1);
		if (t->raw == NULL)
			return NULL;
		memcpy(t->raw, json_string_value(v), *len);
		return t->raw;
	}
	if (t->count_only)
		l32_buf_printf(&b, "%lld", (long long)json_integer_value(json_object_get(resp, "count")));
	else
		json_array_foreach(json_object_get(resp, "tokens"), i, v)
			l32_buf_printf(&b, "%s%lld", i ? " " : "", (long long)json_integer_value(v));
	free(t->raw);
	t->raw = b.data ? b.data : strdup("");
	*len = b.len;
	return t->raw;
}

/* ------------------------------------------------------------------ main */

static struct l32_tokenizer *
open_tokenizer(struct tokenize *t, const char *tok_path, const char *model_arg)
{
	struct l32_err err;
	char buf[4096];
	const char *path;

	l32_err_clear(&err);
	if (tok_path == NULL && model_arg == NULL)
		tok_path = getenv("L32_TOKENIZER");
	if (tok_path != NULL && *tok_path != '\0') {
		if ((t->tok = l32_tokenizer_open(tok_path, &err)) == NULL)
			errx(L32_EXIT_FATAL, "%s", err.msg);
		return t->tok;
	}
	path = l32_model_path(model_arg, buf, sizeof(buf));
	if ((t->model = l32_model_open(path, &err)) == NULL)
		errx(L32_EXIT_FATAL, "%s", err.msg);
	if ((t->tok = l32_model_tokenizer(t->model)) == NULL)
		errx(L32_EXIT_FATAL, "%s: the model file holds no tokenizer (use --tokenizer)", path);
	return t->tok;
}

int
main(int argc, char *argv[])
{
	/* -n and -S are --count and --special; -c and -s, their older
	 * spellings, stay (l32-tokenize has no --ctx or --system). */
	static const struct option own[] = {
		{ "bos", no_argument, NULL, 'B' },
		{ "chunk", no_argument, NULL, 'C' },
		{ "count", no_argument, NULL, 'n' },
		{ "decode", no_argument, NULL, 'd' },
		{ "pieces", no_argument, NULL, 'P' },
		{ "special", no_argument, NULL, 'S' },
		{ "tokenizer", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 }
	};
	static const char *const urls[] = { "/v1/tokenize", "/tokenize", NULL };
	struct l32_filter_ops ops = { from_text, handle, raw_text, urls, NULL, 0 };
	struct l32_program p;
	struct tokenize t;
	struct l32_err err;
	const char *tok_path = NULL;
	int ch, status;

	memset(&t, 0, sizeof(t));
	if (l32_program_init(&p, L32_TAKES_FILTER | L32_TAKES_MODEL | L32_TAKES_CHAT, 1, "BcdnPsS", own) == -1)
		usage();
	while ((ch = l32_program_getopt(&p, argc, argv)) != -1) {
		switch (ch) {
		case 'B': t.flags |= L32_TOKENIZE_BOS; break;
		case 'C': t.flags |= L32_TOKENIZE_CHUNK; break;
		case 'c': /* FALLTHROUGH */
		case 'n': t.count_only = 1; break;
		case 'd': t.decode = 1; break;
		case 'k': tok_path = optarg; break;
		case 'P': t.pieces = 1; break;
		case 's': /* FALLTHROUGH */
		case 'S': t.flags |= L32_TOKENIZE_SPECIAL; break;
		case 'V': printf("%s %s\n", getprogname(), L32_VERSION); return 0;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	l32_err_clear(&err);
	t.chat_format = p.opt.chat_format;
	if (l32_chat_date(p.opt.date, t.date, sizeof(t.date), &err) == -1)
		errx(L32_EXIT_USAGE, "--date: %s", err.msg);
	open_tokenizer(&t, tok_path, p.opt.model);
	status = l32_filter_run(&ops, &t, &p.opt.fo, argv, argc);
	l32_tokens_free(&t.ids);
	l32_buf_free(&t.text);
	free(t.raw);
	if (t.model != NULL)
		l32_model_free(t.model);
	else
		l32_tokenizer_free(t.tok);
	l32_program_close(&p);
	return status;
}
