/*
 * tokenizer.c - the tokenizer's vocabulary: building and checking the
 * tables the loaders fill (token bytes, the hash map of ordinary tokens,
 * the trie of special-token names), the queries on them, and opening a
 * tokenizer file or directory by its content.  Encoding is in tok_encode.c,
 * decoding in tok_decode.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tokenizer/l32_tokenizer.h"
#include "tokenizer/tokenizer.h"

/* -------------------------------------------------------------- building */

struct l32_tokenizer *
tok_new(const char *source, size_t n_vocab, struct l32_err *err)
{
	struct l32_tokenizer *t;

	if (n_vocab == 0 || n_vocab > INT32_MAX / 2) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: vocabulary of %zu tokens", source, n_vocab);
		return NULL;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto nomem;
	t->n_vocab = (int32_t)n_vocab;
	t->bos = t->eos = t->eot = t->eom = -1;
	t->source = strdup(source);
	t->ent = calloc(n_vocab, sizeof(*t->ent));
	t->special = calloc(n_vocab, 1);
	if (t->source == NULL || t->ent == NULL || t->special == NULL)
		goto nomem;
	return t;
nomem:
	l32_tokenizer_free(t);
	l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory for %zu tokens", source, n_vocab);
	return NULL;
}

void
l32_tokenizer_free(struct l32_tokenizer *t)
{
	if (t == NULL)
		return;
	free(t->source);
	free(t->ent);
	free(t->special);
	free(t->blob);
	free(t->slots);
	free(t->trie);
	free(t);
}

const char *
tok_quote(char *dst, size_t cap, const void *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = p;
	size_t i, o = 0;
	uint32_t cp;
	int k;

	if (cap < 8)
		return "";
	for (i = 0; i < n; i++) {
		unsigned c = s[i];

		if (o + 8 > cap) {
			memcpy(dst + o, "...", 3);
			o += 3;
			break;
		}
		/* Well-formed UTF-8 stays readable; other bytes become \xNN. */
		if (c >= 0x80 && (k = l32_utf8_decode(s + i, n - i, &cp)) > 0) {
			memcpy(dst + o, s + i, (size_t)k);
			o += (size_t)k;
			i += (size_t)k - 1;
		} else if (c >= 0x20 && c < 0x7F && c != '\\' && c != '"') {
			dst[o++] = (char)c;
		} else if (c == '\\' || c == '"') {
			dst[o++] = '\\';
			dst[o++] = (char)c;
		} else {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return dst;
}

int
tok_set(struct l32_tokenizer *t, int32_t id, const void *p, size_t n, int special,
    const char *field, struct l32_err *err)
{
	char q[80];

	if (id < 0 || id >= t->n_vocab)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: %s: token id %d out of range 0..%d",
		    t->source, field, id, t->n_vocab - 1);
	if (n == 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: %s: token %d is empty",
		    t->source, field, id);
	if (t->ent[id].len != 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: %s: token id %d given twice (\"%s\")",
		    t->source, field, id, tok_quote(q, sizeof(q), p, n));
	if (n > UINT32_MAX - t->blob_len || t->blob_len + n > UINT32_MAX)
		return l32_err_set(err, L32_ERR_NOMEM, "%s: token bytes over 4 GiB", t->source);
	if (t->blob_len + n > t->blob_cap) {
		size_t cap = t->blob_cap ? t->blob_cap : 1 << 20;
		char *b;

		while (cap < t->blob_len + n)
			cap *= 2;
		if ((b = realloc(t->blob, cap)) == NULL)
			return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", t->source);
		t->blob = b;
		t->blob_cap = cap;
	}
	memcpy(t->blob + t->blob_len, p, n);
	t->ent[id].off = (uint32_t)t->blob_len;
	t->ent[id].len = (uint32_t)n;
	t->special[id] = special != 0;
	t->blob_len += n;
	return 0;
}

static const char *
tok_name(char *buf, size_t cap, int32_t id, int line_base)
{
	if (line_base >= 0)
		snprintf(buf, cap, "line %lld", (long long)id + line_base);
	else
		snprintf(buf, cap, "token id %d", id);
	return buf;
}

/* Adds ordinary token id to the hash map; fails on a duplicate. */
static int
index_add(struct l32_tokenizer *t, int32_t id, int line_base, struct l32_err *err)
{
	const unsigned char *p = (const unsigned char *)t->blob + t->ent[id].off;
	size_t n = t->ent[id].len;
	int32_t old;
	uint64_t h;
	size_t i;
	char q[80], a[32], b[32];

	if ((old = tok_find(t, p, n)) >= 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: %s: token \"%s\" duplicates %s",
		    t->source, tok_name(a, sizeof(a), id, line_base), tok_quote(q, sizeof(q), p, n),
		    tok_name(b, sizeof(b), old, line_base));
	h = tok_hash(p, n);
	for (i = (size_t)h & t->mask; t->slots[i] != 0; i = (i + 1) & t->mask)
		;
	t->slots[i] = (h >> 32) << 32 | (uint64_t)(uint32_t)(id + 1);
	return 0;
}

/* Adds special token id to the trie of names; fails on a duplicate. */
static int
trie_add(struct l32_tokenizer *t, int32_t id, struct l32_err *err)
{
	const unsigned char *p = (const unsigned char *)t->blob + t->ent[id].off;
	size_t n = t->ent[id].len, k;
	int32_t node = 0, c;
	char q[80];

	for (k = 0; k < n; k++) {
		for (c = t->trie[node].child; c >= 0; c = t->trie[c].sibling)
			if (t->trie[c].byte == p[k])
				break;
		if (c < 0) {
			if (t->n_trie == t->trie_cap) {
				size_t cap = t->trie_cap * 2;
				struct tok_trie_node *nt = reallocarray(t->trie, cap, sizeof(*nt));

				if (nt == NULL)
					return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", t->source);
				t->trie = nt;
				t->trie_cap = cap;
			}
			c = (int32_t)t->n_trie++;
			t->trie[c].child = -1;
			t->trie[c].id = -1;
			t->trie[c].byte = p[k];
			t->trie[c].sibling = t->trie[node].child;
			t->trie[node].child = c;
		}
		node = c;
	}
	if (t->trie[node].id >= 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: special token \"%s\" given twice (ids %d and %d)", t->source,
		    tok_quote(q, sizeof(q), p, n), t->trie[node].id, id);
	t->trie[node].id = id;
	if (!t->special_first[p[0]]) {
		t->special_first[p[0]] = 1;
		t->n_special_first++;
		t->only_first = p[0];
	}
	return 0;
}

/* Longest special token that s[0..n) starts with: its id, length in *len. */
int32_t
tok_special_match(const struct l32_tokenizer *t, const unsigned char *s, size_t n, size_t *len)
{
	int32_t node = 0, c, best = -1;
	size_t k;

	for (k = 0; k < n; k++) {
		for (c = t->trie[node].child; c >= 0; c = t->trie[c].sibling)
			if (t->trie[c].byte == s[k])
				break;
		if (c < 0)
			break;
		node = c;
		if (t->trie[node].id >= 0) {
			best = t->trie[node].id;
			*len = k + 1;
		}
	}
	return best;
}

int32_t
l32_tokenizer_special_id(const struct l32_tokenizer *t, const char *s, size_t n)
{
	size_t len = 0;
	int32_t id;

	if (n == 0 || t->trie == NULL)
		return -1;
	id = tok_special_match(t, (const unsigned char *)s, n, &len);
	return id >= 0 && len == n ? id : -1;
}

static int
find_named(struct l32_tokenizer *t, const char *name, int32_t *id, int required,
    struct l32_err *err)
{
	*id = l32_tokenizer_special_id(t, name, strlen(name));
	if (*id < 0 && required)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: missing special token %s",
		    t->source, name);
	return 0;
}

int
tok_finish(struct l32_tokenizer *t, int line_base, struct l32_err *err)
{
	size_t n_ord = 0, cap;
	int32_t id;
	int b;
	char name[32];

	for (id = 0; id < t->n_vocab; id++) {
		if (t->ent[id].len == 0)
			return l32_err_set(err, L32_ERR_FORMAT, "%s: no token with id %d (ids must run 0..%d)",
			    t->source, id, t->n_vocab - 1);
		if (!t->special[id])
			n_ord++;
	}
	for (cap = 1024; cap < 2 * n_ord; cap *= 2)
		;
	t->mask = cap - 1;
	t->trie_cap = 256;
	t->n_trie = 1;
	t->slots = calloc(cap, sizeof(*t->slots));
	t->trie = calloc(t->trie_cap, sizeof(*t->trie));
	if (t->slots == NULL || t->trie == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", t->source);
	t->trie[0].child = t->trie[0].sibling = t->trie[0].id = -1;
	for (id = 0; id < t->n_vocab; id++) {
		if (t->special[id] ? trie_add(t, id, err) : index_add(t, id, line_base, err))
			return -1;
		if (!t->special[id] && t->ent[id].len > t->max_len)
			t->max_len = t->ent[id].len;
	}
	for (b = 0; b < 256; b++) {
		unsigned char c = (unsigned char)b;

		if ((t->byte_tok[b] = tok_find(t, &c, 1)) < 0) {
			snprintf(name, sizeof(name), "0x%02x", b);
			return l32_err_set(err, L32_ERR_FORMAT,
			    "%s: no token for the single byte %s (every byte must be a token)",
			    t->source, name);
		}
	}
	if (find_named(t, "<|begin_of_text|>", &t->bos, 1, err) ||
	    find_named(t, "<|end_of_text|>", &t->eos, 1, err) ||
	    find_named(t, "<|eot_id|>", &t->eot, 1, err) ||
	    find_named(t, "<|eom_id|>", &t->eom, 0, err))
		return -1;
	return 0;
}

/* GPT-2's byte-level alphabet: printable bytes stand for themselves, the
 * other 68 (00..20, 7F..A0, AD) map in order to U+0100..U+0143.  Inverse:
 * code point -> byte, or -1. */
static int
bytelevel_byte(uint32_t cp)
{
	uint32_t k;

	if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
		return (int)cp;
	if (cp < 0x100 || cp > 0x143)
		return -1;
	k = cp - 0x100;
	if (k < 33)
		return (int)k;
	if (k < 67)
		return (int)(0x7F + k - 33);
	return 0xAD;
}

long
tok_bytelevel_decode(const char *s, size_t n, unsigned char *out, uint32_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0;
	uint32_t cp;
	int k, b;

	while (i < n) {
		/* printable ASCII stands for itself: most of every vocabulary */
		if (p[i] >= 0x21 && p[i] <= 0x7E) {
			out[o++] = p[i++];
			continue;
		}
		/* two-byte UTF-8 (U+0080..U+07FF, no overlong form): the rest of
		 * the byte-level alphabet, Ġ for a space most often */
		if (p[i] >= 0xC2 && p[i] <= 0xDF && i + 1 < n && (p[i + 1] & 0xC0) == 0x80) {
			cp = (uint32_t)(p[i] & 0x1F) << 6 | (uint32_t)(p[i + 1] & 0x3F);
			if ((b = bytelevel_byte(cp)) < 0) {
				*bad = cp;
				return -1;
			}
			out[o++] = (unsigned char)b;
			i += 2;
			continue;
		}
		if ((k = l32_utf8_decode(p + i, n - i, &cp)) == 0) {
			*bad = 0x110000;
			return -1;
		}
		if ((b = bytelevel_byte(cp)) < 0) {
			*bad = cp;
			return -1;
		}
		out[o++] = (unsigned char)b;
		i += (size_t)k;
	}
	return (long)o;
}

int
tok_check_merge(const struct l32_tokenizer *t, const char *field, size_t index,
    const char *left, size_t llen, const char *right, size_t rlen, int32_t *prev,
    struct l32_err *err)
{
	unsigned char buf[512];
	long a, b;
	int32_t il, ir, im;
	uint32_t bad;
	char q[80], q2[80];

	if (llen + rlen > sizeof(buf))
		return l32_err_set(err, L32_ERR_FORMAT, "%s: %s[%zu]: merge of %zu bytes is too long",
		    t->source, field, index, llen + rlen);
	if ((a = tok_bytelevel_decode(left, llen, buf, &bad)) < 0 ||
	    (b = tok_bytelevel_decode(right, rlen, buf + a, &bad)) < 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: %s[%zu]: \"%s %s\" is not GPT-2 byte-level text (code point U+%04X)",
		    t->source, field, index, tok_quote(q, sizeof(q), left, llen),
		    tok_quote(q2, sizeof(q2), right, rlen), (unsigned)bad);
	if (a == 0 || b == 0 || (il = tok_find(t, buf, (size_t)a)) < 0 ||
	    (ir = tok_find(t, buf + a, (size_t)b)) < 0 ||
	    (im = tok_find(t, buf, (size_t)(a + b))) < 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: %s[%zu]: \"%s %s\": a part or the merged token is not in the vocabulary",
		    t->source, field, index, tok_quote(q, sizeof(q), left, llen),
		    tok_quote(q2, sizeof(q2), right, rlen));
	if (im < *prev)
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: %s[%zu]: \"%s %s\" makes token %d after a merge made token %d: "
		    "merges out of token-id order are not supported",
		    t->source, field, index, tok_quote(q, sizeof(q), left, llen),
		    tok_quote(q2, sizeof(q2), right, rlen), im, *prev);
	*prev = im;
	return 0;
}

/* ---------------------------------------------------------------- queries */

int32_t l32_tokenizer_n_vocab(const struct l32_tokenizer *t) { return t->n_vocab; }
int32_t l32_tokenizer_bos(const struct l32_tokenizer *t) { return t->bos; }
int32_t l32_tokenizer_eos(const struct l32_tokenizer *t) { return t->eos; }
int32_t l32_tokenizer_eot(const struct l32_tokenizer *t) { return t->eot; }
int32_t l32_tokenizer_eom(const struct l32_tokenizer *t) { return t->eom; }

int
l32_tokenizer_is_stop(const struct l32_tokenizer *t, int32_t id)
{
	return id >= 0 && (id == t->eos || id == t->eot || id == t->eom);
}

int
l32_tokenizer_is_special(const struct l32_tokenizer *t, int32_t id)
{
	return id >= 0 && id < t->n_vocab && t->special[id];
}

const char *
l32_token_bytes(const struct l32_tokenizer *t, int32_t id, size_t *len)
{
	if (id < 0 || id >= t->n_vocab) {
		*len = 0;
		return NULL;
	}
	*len = t->ent[id].len;
	return t->blob + t->ent[id].off;
}

/* ---------------------------------------------------------------- opening */

int
tok_read_file(const char *path, char **data, size_t *len, struct l32_err *err)
{
	struct stat st;
	size_t got = 0;
	ssize_t r;
	char *buf;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (1 << 30)) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: %s", path,
		    S_ISREG(st.st_mode) ? "file over 1 GiB" : "not a regular file");
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			l32_err_set(err, L32_ERR_IO, "%s: %s", path,
			    r == 0 ? "file shrank while reading" : strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*data = buf;
	*len = got;
	return 0;
}

/* 1 when the file starts with GGUF's magic (checked before reading a
 * model-sized file whole). */
static int
is_gguf(const char *path)
{
	char magic[4];
	FILE *f;
	int yes;

	if ((f = fopen(path, "rb")) == NULL)
		return 0;
	yes = fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
	fclose(f);
	return yes;
}

/* A JSON file starts with '{' after white space; a tiktoken file with base64. */
static struct l32_tokenizer *
open_file(const char *path, struct l32_err *err)
{
	struct l32_tokenizer *t;
	char *data;
	size_t len, i = 0;

	if (is_gguf(path)) {
		l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: a GGUF model file: its tokenizer is read with the model, not on its own", path);
		return NULL;
	}
	if (tok_read_file(path, &data, &len, err) == -1)
		return NULL;
	while (i < len && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r'))
		i++;
	if (i < len && data[i] == '{')
		t = tok_parse_hf(path, data, len, err);
	else
		t = tok_parse_tiktoken(path, data, len, err);
	free(data);
	return t;
}

struct l32_tokenizer *
l32_tokenizer_open(const char *path, struct l32_err *err)
{
	static const char *const names[] = { "tokenizer.json", "tokenizer.model" };
	struct l32_tokenizer *t;
	struct stat st;
	char *p;
	size_t k;

	if (stat(path, &st) == -1) {
		l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode))
		return open_file(path, err);
	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		if (asprintf(&p, "%s/%s", path, names[k]) == -1) {
			l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", path);
			return NULL;
		}
		if (access(p, F_OK) == 0) {
			t = open_file(p, err);
			free(p);
			return t;
		}
		free(p);
	}
	l32_err_set(err, L32_ERR_IO, "%s: directory holds neither tokenizer.json nor tokenizer.model",
	    path);
	return NULL;
}
