/*
 * tok_tiktoken.c - reads Meta's tokenizer.model: one line per token,
 * "<base64 of the token bytes> <rank>", ranks counting up from 0 (rank =
 * id).  The file holds no special tokens: as Meta's tokenizer.py does, the
 * 256 of Llama 3 are made here by rule and numbered after the last rank.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer/tokenizer.h"

#define N_SPECIAL 256

/* Meta's names of the first special tokens; the rest are reserved ones. */
static const char *const named_special[] = {
	"<|begin_of_text|>",
	"<|end_of_text|>",
	"<|reserved_special_token_0|>",
	"<|reserved_special_token_1|>",
	"<|finetune_right_pad_id|>",
	"<|step_id|>",
	"<|start_header_id|>",
	"<|end_header_id|>",
	"<|eom_id|>",
	"<|eot_id|>",
	"<|python_tag|>",
	"<|image|>",
};
#define N_NAMED (sizeof(named_special) / sizeof(named_special[0]))

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict base64 (with padding) of s[0..n) into out; byte count or -1. */
static long
b64_decode(const unsigned char *s, size_t n, unsigned char *out)
{
	size_t i, o = 0, pad = 0;
	int v[4], k;

	if (n == 0 || n % 4 != 0)
		return -1;
	if (s[n - 1] == '=')
		pad = s[n - 2] == '=' ? 2 : 1;
	for (i = 0; i < n; i += 4) {
		for (k = 0; k < 4; k++) {
			if (i + k >= n - pad)
				v[k] = 0;
			else if ((v[k] = b64_value(s[i + k])) < 0)
				return -1;
		}
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		out[o++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		out[o++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	/* Padding hides only zero bits; anything else is not canonical. */
	if ((pad == 1 && (v[2] & 3) != 0) || (pad == 2 && (v[1] & 15) != 0))
		return -1;
	return (long)(o - pad);
}

/* Parses "<rank>" (decimal, no sign) of s[0..n); -1 when malformed. */
static long long
parse_rank(const char *s, size_t n)
{
	long long v = 0;
	size_t i;

	if (n == 0 || n > 12 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Number of lines; a final newline does not start another line. */
static size_t
count_lines(const char *data, size_t len)
{
	size_t n = 0, i;

	for (i = 0; i < len; i++)
		if (data[i] == '\n')
			n++;
	if (len > 0 && data[len - 1] != '\n')
		n++;
	return n;
}

static int
parse_line(struct l32_tokenizer *t, const char *line, size_t n, size_t lineno,
    unsigned char *buf, struct l32_err *err)
{
	const char *sp;
	long long rank;
	long nb;
	char q[80], field[40];

	if (n > 0 && line[n - 1] == '\r')
		n--;
	sp = memchr(line, ' ', n);
	if (sp == NULL || sp == line)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: line %zu: expected \"<base64> <rank>\", got \"%s\"",
		    t->source, lineno, tok_quote(q, sizeof(q), line, n));
	rank = parse_rank(sp + 1, n - (size_t)(sp + 1 - line));
	if (rank < 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: line %zu: rank \"%s\" is not a number",
		    t->source, lineno, tok_quote(q, sizeof(q), sp + 1, n - (size_t)(sp + 1 - line)));
	if (rank != (long long)lineno - 1)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: line %zu: rank %lld out of order (expected %zu: ranks count up from 0)",
		    t->source, lineno, rank, lineno - 1);
	if ((nb = b64_decode((const unsigned char *)line, (size_t)(sp - line), buf)) <= 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: line %zu: bad base64 \"%s\"",
		    t->source, lineno, tok_quote(q, sizeof(q), line, (size_t)(sp - line)));
	snprintf(field, sizeof(field), "line %zu", lineno);
	return tok_set(t, (int32_t)rank, buf, (size_t)nb, 0, field, err);
}

static int
add_specials(struct l32_tokenizer *t, int32_t n_base, struct l32_err *err)
{
	char name[64];
	size_t k;

	for (k = 0; k < N_SPECIAL; k++) {
		if (k < N_NAMED)
			snprintf(name, sizeof(name), "%s", named_special[k]);
		else
			snprintf(name, sizeof(name), "<|reserved_special_token_%zu|>", 2 + k - N_NAMED);
		if (tok_set(t, n_base + (int32_t)k, name, strlen(name), 1, "special tokens", err))
			return -1;
	}
	return 0;
}

struct l32_tokenizer *
tok_parse_tiktoken(const char *source, const char *data, size_t len, struct l32_err *err)
{
	struct l32_tokenizer *t;
	unsigned char *buf = NULL;
	size_t n_lines, lineno = 0, i = 0, maxline = 0;

	n_lines = count_lines(data, len);
	if (n_lines == 0) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: empty file: no tokens", source);
		return NULL;
	}
	if ((t = tok_new(source, n_lines + N_SPECIAL, err)) == NULL)
		return NULL;
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t n = nl != NULL ? (size_t)(nl - (data + i)) : len - i;

		lineno++;
		if (n > maxline) {
			unsigned char *nb = realloc(buf, n + 4);

			if (nb == NULL) {
				l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", source);
				goto fail;
			}
			buf = nb;
			maxline = n;
		}
		if (parse_line(t, data + i, n, lineno, buf, err) == -1)
			goto fail;
		i += n + 1;
	}
	if (add_specials(t, (int32_t)n_lines, err) == -1 || tok_finish(t, 1, err) == -1)
		goto fail;
	free(buf);
	return t;
fail:
	free(buf);
	l32_tokenizer_free(t);
	return NULL;
}

struct l32_tokenizer *
l32_tokenizer_load_tiktoken(const char *path, struct l32_err *err)
{
	struct l32_tokenizer *t;
	char *data;
	size_t len;

	if (tok_read_file(path, &data, &len, err) == -1)
		return NULL;
	t = tok_parse_tiktoken(path, data, len, err);
	free(data);
	return t;
}
