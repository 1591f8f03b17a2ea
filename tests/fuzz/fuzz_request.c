/*
 * fuzz_request.c - libFuzzer target for request lines.  The input is an
 * NDJSON stream (usually one line) run through the real request loop
 * (l32_filter_run: line reader, UTF-8 check, JSON parse, Batch unwrapping,
 * id / custom_id / metadata echo, error lines) into a handler that does what
 * l32-generate does before it needs a model: unknown fields, "model", the
 * sampling fields and response_format / grammar (l32_genreq_parse), the chat options and the chat prompt
 * rendered and tokenized with the Llama 3 tokenizer, or a prompt's tokens.
 *
 * Answers are held and finished later, newest first, as continuous
 * batching finishes requests out of order, so the in-order queue is
 * exercised too.  What is checked: the loop returns 0 or 1, every request
 * line gets its answer (one line, or several for a "stream" request), and
 * the answers come in input order.
 *
 * The tokenizer is loaded once from $L32_SHARED/llama3/tokenizer.model
 * (default ../shared).  Run the fuzzer with -close_fd_mask=2: every bad line
 * is also reported on stderr.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "l32.h"
#include "prog/l32_prog.h"

#define MAX_LINE 512   /* --max-line, small so long lines occur */
#define MAX_HELD 4     /* --batch */
#define N_CTX 96       /* -c: longer prompts fail after being held */

static struct l32_tokenizer *tok;
static int in_fd = -1, out_fd = -1;
static char in_path[64];

/* A held request: its answer, or the error it ends with. */
struct held {
	struct l32_ticket *t;
	json_t *resp;
	struct l32_err err;
};

static struct held held[MAX_HELD + 1];
static int n_held;

/* l32-generate's fields besides the sampling ones. */
static const char *const other_fields[] = {
	"model", "messages", "prompt", "logprobs", "top_logprobs", "stream",
	"stream_options", "tools", "tool_choice", "parallel_tool_calls", "user",
	"metadata", "store", "id", "custom_id", "chat_template_kwargs",
	"chat_format", "tool_prompt_format", "add_generation_prompt",
	"response_format", "grammar", "service_tier", NULL
};

static void
load(void)
{
	struct l32_err err = { 0 };
	const char *shared = getenv("L32_SHARED");
	char path[4096];

	if (shared == NULL || *shared == '\0')
		shared = "../shared";
	snprintf(path, sizeof(path), "%s/llama3/tokenizer.model", shared);
	if ((tok = l32_tokenizer_load_tiktoken(path, &err)) == NULL) {
		fprintf(stderr, "fuzz_request: reference data missing: %s\n", err.msg);
		abort();
	}
	in_fd = memfd_create("request-in", 0);
	out_fd = memfd_create("request-out", 0);
	if (in_fd == -1 || out_fd == -1)
		abort();
	snprintf(in_path, sizeof(in_path), "/proc/self/fd/%d", in_fd);
}

/* prompt: a string, or an array of token ids, as l32-generate takes it. */
static int
text_prompt(json_t *p, struct l32_tokens *ids, struct l32_err *err)
{
	json_t *v;
	size_t i;

	if (json_is_string(p))
		return l32_tokenize(tok, json_string_value(p), json_string_length(p),
		    L32_TOKENIZE_BOS | L32_TOKENIZE_SPECIAL, ids, err);
	if (!json_is_array(p))
		return l32_err_param(err, L32_ERR_INVALID, "prompt", "prompt must be a string or ids");
	json_array_foreach(p, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= l32_tokenizer_n_vocab(tok))
			return l32_err_param(err, L32_ERR_INVALID, "prompt", "not a token id");
		if (l32_tokens_push(ids, (int32_t)json_integer_value(v)) == -1)
			return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	}
	return 0;
}

/* The checks l32-generate makes before a request reaches the model. */
static int
prepare(json_t *body, struct l32_tokens *ids, struct l32_err *err)
{
	struct l32_genreq_limits lim = { l32_tokenizer_n_vocab(tok), MAX_HELD, 1, NULL };
	struct l32_genreq g;
	struct l32_chat_opts o;
	json_t *m = json_object_get(body, "messages"), *tools = json_object_get(body, "tools");
	const char *name;
	int rc;

	if (l32_request_fields(body, l32_sampling_fields, other_fields, err) == -1 ||
	    l32_request_model(body, "tiny.gguf", &name, err) == -1)
		return -1;
	memset(&g, 0, sizeof(g));
	l32_gen_params_init(&g.p);
	rc = l32_genreq_parse(body, &lim, &g, err);
	l32_genreq_free(&g);
	if (rc == -1)
		return -1;
	if (m == NULL)
		return text_prompt(json_object_get(body, "prompt"), ids, err);
	if (json_is_null(tools))
		tools = NULL;
	l32_chat_opts_init(&o);
	if (l32_chat_opts_from_request(body, &o, err) == -1)
		return -1;
	return l32_chat_render(tok, m, tools, &o, NULL, ids, err);
}

static json_t *
answer(struct l32_filter *f, const struct l32_tokens *ids)
{
	return json_pack("{s:s, s:I, s:I}", "object", "fuzz", "count", (json_int_t)ids->n,
	    "line", (json_int_t)l32_filter_lineno(f));
}

/*
 * A "stream" request is held before its checks (a failure then is a held
 * request that failed at once) and answered in three chunks; the others
 * are answered at once when their prompt has an even number of tokens,
 * else held; a held prompt over N_CTX tokens ends with an error.
 */
static int
handle(void *arg, struct l32_filter *f, json_t *body, struct l32_err *err)
{
	struct l32_tokens ids = { 0 };
	struct l32_ticket *t = NULL;
	int stream = json_is_true(json_object_get(body, "stream")), i;

	if (stream)
		t = l32_filter_hold(f);
	if (prepare(body, &ids, err) == -1) {
		l32_tokens_free(&ids);
		return -1;
	}
	if (stream) {
		for (i = 0; i < 3; i++)
			if (l32_ticket_emit(t, answer(f, &ids)) == -1)
				abort();
		l32_ticket_finish(t);
	} else if (ids.n % 2 == 0) {
		if (l32_filter_emit(f, answer(f, &ids)) == -1)
			abort();
	} else {
		struct held *h = &held[n_held++];

		if (n_held > MAX_HELD)
			abort();  /* the loop steps before more are held */
		h->t = l32_filter_hold(f);
		l32_err_clear(&h->err);
		h->resp = NULL;
		if (ids.n > N_CTX) {
			l32_err_param(&h->err, L32_ERR_CONTEXT, "messages", "the prompt is %zu tokens", ids.n);
			h->err.code = "context_length_exceeded";
		} else
			h->resp = answer(f, &ids);
	}
	l32_tokens_free(&ids);
	return 0;
}

/* Finishes the newest held request. */
static int
step(void *arg, struct l32_err *err)
{
	struct held *h;

	if (n_held == 0)
		abort();  /* stepped with nothing held */
	h = &held[--n_held];
	if (h->resp == NULL)
		l32_ticket_fail(h->t, &h->err);
	else {
		if (l32_ticket_emit(h->t, h->resp) == -1)
			abort();
		l32_ticket_finish(h->t);
	}
	return 0;
}

static int
blank(const uint8_t *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r'))
		s++, n--;
	return n == 0;
}

/* The request lines of the input: those the loop must answer. */
static long
count_requests(const uint8_t *data, size_t size)
{
	size_t i, start = 0;
	long n = 0;

	for (i = 0; i <= size; i++) {
		if (i < size && data[i] != '\n')
			continue;
		if (i > start || i < size) {  /* a last line without newline counts */
			if (i - start > MAX_LINE || !blank(data + start, i - start))
				n++;
		}
		start = i + 1;
	}
	return n;
}

/* The line number an answer line carries. */
static long
answer_line(const char *s, size_t n)
{
	json_t *o = json_loadb(s, n, JSON_ALLOW_NUL, NULL), *v;
	long line;

	if (!json_is_object(o))
		abort();
	v = json_object_get(o, "line");
	if (v == NULL)  /* a Batch output line */
		v = json_object_get(json_object_get(json_object_get(o, "response"), "body"), "line");
	if (!json_is_integer(v))
		abort();
	line = (long)json_integer_value(v);
	json_decref(o);
	return line;
}

/* Every request line answered, in order; a stream's chunks together. */
static void
check_output(long want)
{
	off_t size = lseek(out_fd, 0, SEEK_END);
	char *out, *p, *nl;
	long got = 0, last = 0, line;

	if (size <= 0) {
		if (want != 0)
			abort();
		return;
	}
	out = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, out_fd, 0);
	if (out == MAP_FAILED)
		abort();
	for (p = out; p < out + size; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(out + size - p))) == NULL)
			abort();  /* a half line */
		line = answer_line(p, (size_t)(nl - p));
		if (line < last)
			abort();  /* out of order */
		got += line != last;
		last = line;
	}
	munmap(out, (size_t)size);
	if (got != want)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const urls[] = { "/v1/chat/completions", NULL };
	struct l32_filter_ops ops = { NULL, handle, NULL, urls, step, 0 };
	struct l32_filter_opts fo;
	char *files[1] = { in_path };
	int saved, rc;

	if (tok == NULL)
		load();
	if (ftruncate(in_fd, 0) == -1 || pwrite(in_fd, data, size, 0) != (ssize_t)size ||
	    ftruncate(out_fd, 0) == -1 || lseek(out_fd, 0, SEEK_SET) == -1)
		abort();
	l32_filter_opts_init(&fo);
	fo.max_line = MAX_LINE;
	fo.progress = 0;
	fo.max_inflight = MAX_HELD;
	/* answers go to out_fd, then are checked */
	fflush(stdout);
	if ((saved = dup(STDOUT_FILENO)) == -1 || dup2(out_fd, STDOUT_FILENO) == -1)
		abort();
	rc = l32_filter_run(&ops, NULL, &fo, files, 1);
	fflush(stdout);
	if (dup2(saved, STDOUT_FILENO) == -1)
		abort();
	close(saved);
	if (n_held != 0)
		abort();  /* every held request finished */
	/* gzip input is inflated first: its lines are not the bytes here */
	if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b)
		return 0;
	if (rc != L32_EXIT_OK && rc != L32_EXIT_SOME)
		abort();
	check_output(count_requests(data, size));
	return 0;
}
