/*
 * test_tokenizer.c - the Llama 3 tokenizer against Meta's reference ids:
 * every case of $L32_SHARED/llama3/tokenizer-cases.jsonl and
 * decode-cases.jsonl, the golden tokenizer.jsonl lines, through all three
 * loaders (tiktoken tokenizer.model, tokenizer.json, GGUF arrays derived
 * from tokenizer.json), plus the Unicode tables, the pre-tokenizer rules,
 * the streaming decoder and damaged files.
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "l32.h"
#include "prog/l32_prog.h"
#include "tokenizer/pretok.h"
#include "base/unicode.h"

enum { TIKTOKEN, HF, GGUF, N_LOADERS };
static const char *const loader_name[N_LOADERS] = { "tiktoken", "tokenizer.json", "gguf" };

static const char *shared;
static struct l32_tokenizer *tk[N_LOADERS];
static char load_msg[N_LOADERS][1200];
static json_t *tok_cases, *dec_cases, *golden;
static char data_msg[1200];

/* ------------------------------------------------------------- fixtures */

static char *
shared_path(const char *rel)
{
	char *p;

	if (asprintf(&p, "%s/%s", shared, rel) == -1)
		abort();
	return p;
}

/* Reads a JSONL file into an array (lines split on \n only). */
static json_t *
read_jsonl(const char *rel)
{
	char *path = shared_path(rel), *data = NULL;
	size_t cap = 0, len = 0, i, start;
	json_t *arr;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(data_msg, sizeof(data_msg), "reference data missing: %s (set L32_SHARED)", path);
		free(path);
		return NULL;
	}
	for (;;) {
		if (len + 65536 > cap) {
			cap = cap ? cap * 2 : 1 << 20;
			if ((data = realloc(data, cap)) == NULL)
				abort();
		}
		size_t got = fread(data + len, 1, cap - len, f);
		if (got == 0)
			break;
		len += got;
	}
	fclose(f);
	arr = json_array();
	for (i = start = 0; i <= len; i++) {
		if (i < len && data[i] != '\n')
			continue;
		if (i > start) {
			json_error_t jerr;
			json_t *j = json_loadb(data + start, i - start, JSON_ALLOW_NUL, &jerr);

			if (j == NULL) {
				snprintf(data_msg, sizeof(data_msg), "%s: bad line: %s", path, jerr.text);
				free(data);
				free(path);
				json_decref(arr);
				return NULL;
			}
			json_array_append_new(arr, j);
		}
		start = i + 1;
	}
	free(data);
	free(path);
	return arr;
}

/* The GGUF arrays of the real vocabulary, made from tokenizer.json as
 * llama.cpp's converter makes them: vocab strings as they are (byte-level
 * text), added tokens as control tokens, the merge strings. */
static struct l32_tokenizer *
load_gguf_from_json(const char *path, struct l32_err *err)
{
	json_error_t jerr;
	json_t *root, *vocab, *added, *merges, *v, *a;
	const char **toks, **mer;
	size_t *tlen, *mlen, n, i, nm;
	int32_t *types;
	const char *key;
	struct l32_tokenizer *t;

	if ((root = json_load_file(path, 0, &jerr)) == NULL) {
		l32_err_set(err, L32_ERR_IO, "%s: %s", path, jerr.text);
		return NULL;
	}
	vocab = json_object_get(json_object_get(root, "model"), "vocab");
	merges = json_object_get(json_object_get(root, "model"), "merges");
	added = json_object_get(root, "added_tokens");
	n = json_object_size(vocab) + json_array_size(added);
	nm = json_array_size(merges);
	toks = calloc(n, sizeof(*toks));
	tlen = calloc(n, sizeof(*tlen));
	types = calloc(n, sizeof(*types));
	mer = calloc(nm, sizeof(*mer));
	mlen = calloc(nm, sizeof(*mlen));
	json_object_foreach(vocab, key, v) {
		i = (size_t)json_integer_value(v);
		toks[i] = key;
		tlen[i] = strlen(key);
		types[i] = 1;
	}
	json_array_foreach(added, i, a) {
		size_t id = (size_t)json_integer_value(json_object_get(a, "id"));

		toks[id] = json_string_value(json_object_get(a, "content"));
		tlen[id] = strlen(toks[id]);
		types[id] = 3;
	}
	json_array_foreach(merges, i, a) {
		mer[i] = json_string_value(a);
		mlen[i] = strlen(mer[i]);
	}
	t = l32_tokenizer_from_gguf(path, toks, tlen, n, types, mer, mlen, nm, err);
	free(toks);
	free(tlen);
	free(types);
	free(mer);
	free(mlen);
	json_decref(root);
	return t;
}

static void
load_all(void)
{
	struct l32_err err = { 0 };
	char *p;
	int k;

	p = shared_path("llama3/tokenizer.model");
	tk[TIKTOKEN] = l32_tokenizer_load_tiktoken(p, &err);
	if (tk[TIKTOKEN] == NULL)
		snprintf(load_msg[TIKTOKEN], sizeof(load_msg[0]), "reference data missing or bad: %s", err.msg);
	free(p);
	p = shared_path("golden/tiny/hf-bf16/tokenizer.json");
	tk[HF] = l32_tokenizer_load_hf(p, &err);
	if (tk[HF] == NULL)
		snprintf(load_msg[HF], sizeof(load_msg[0]), "reference data missing or bad: %s", err.msg);
	tk[GGUF] = load_gguf_from_json(p, &err);
	if (tk[GGUF] == NULL)
		snprintf(load_msg[GGUF], sizeof(load_msg[0]), "reference data missing or bad: %s", err.msg);
	free(p);
	for (k = 0; k < N_LOADERS; k++)
		if (tk[k] != NULL)
			snprintf(load_msg[k], sizeof(load_msg[0]), "ok");
	tok_cases = read_jsonl("llama3/tokenizer-cases.jsonl");
	if (tok_cases != NULL)
		dec_cases = read_jsonl("llama3/decode-cases.jsonl");
	if (dec_cases != NULL)
		golden = read_jsonl("golden/tokenizer.jsonl");
}

static struct l32_tokenizer *
need(int k)
{
	ck_assert_msg(tk[k] != NULL, "%s: %s", loader_name[k], load_msg[k]);
	return tk[k];
}

static void
need_data(void)
{
	ck_assert_msg(tok_cases != NULL && dec_cases != NULL && golden != NULL, "%s", data_msg);
}

/* ------------------------------------------------------------- helpers */

static int
ids_equal(const struct l32_tokens *got, const json_t *want)
{
	size_t i;

	if (got->n != json_array_size(want))
		return 0;
	for (i = 0; i < got->n; i++)
		if (got->ids[i] != json_integer_value(json_array_get(want, i)))
			return 0;
	return 1;
}

static void
ids_from_json(const json_t *arr, struct l32_tokens *t)
{
	size_t i;
	json_t *v;

	t->n = 0;
	json_array_foreach(arr, i, v)
		if (l32_tokens_push(t, (int32_t)json_integer_value(v)) == -1)
			abort();
}

static void
report_ids(const char *what, const char *id, const struct l32_tokens *got, const json_t *want)
{
	size_t i;

	for (i = 0; i < got->n && i < json_array_size(want); i++)
		if (got->ids[i] != json_integer_value(json_array_get(want, i)))
			break;
	fprintf(stderr, "%s %s: %zu ids, want %zu; first difference at %zu: got %d want %lld\n",
	    what, id, got->n, json_array_size(want), i, i < got->n ? got->ids[i] : -1,
	    i < json_array_size(want) ? (long long)json_integer_value(json_array_get(want, i)) : -1LL);
}

/* Encodes text and compares with want; 1 on a match. */
static int
encode_matches(const struct l32_tokenizer *t, const char *what, const char *id,
    const char *text, size_t len, unsigned flags, const json_t *want)
{
	struct l32_tokens got = { 0 };
	struct l32_err err = { 0 };
	int ok;

	ck_assert_msg(l32_tokenize(t, text, len, flags, &got, &err) == 0, "%s", err.msg);
	ok = ids_equal(&got, want);
	if (!ok)
		report_ids(what, id, &got, want);
	l32_tokens_free(&got);
	return ok;
}

/* Names that Meta's tokenizer.py and the HF tokenizer.json give to
 * different ids; special parsing of them is tested with tiktoken only. */
static int
has_unshared_name(const char *text, size_t len)
{
	return memmem(text, len, "<|reserved_special_token_", 25) != NULL ||
	    memmem(text, len, "<|step_id|>", 11) != NULL ||
	    memmem(text, len, "<|image|>", 9) != NULL;
}

/* Streams ids through the decoder one at a time: no push may emit a broken
 * sequence, and everything together must equal want. */
static int
stream_matches(const struct l32_tokenizer *t, const struct l32_tokens *ids, const char *want,
    size_t wlen)
{
	struct l32_decoder d;
	struct l32_buf all = { 0 }, piece = { 0 };
	struct l32_err err = { 0 };
	size_t i;
	int ok = 1;

	l32_decoder_init(&d);
	/* (Check's assertions are slow in loops: plain tests here.) */
	for (i = 0; i < ids->n; i++) {
		l32_buf_reset(&piece);
		if (l32_decoder_push(&d, t, ids->ids[i], &piece, &err) == -1) {
			fprintf(stderr, "decoder: %s\n", err.msg);
			ok = 0;
		}
		if (!l32_utf8_valid(piece.data, piece.len))
			ok = 0;
		if (l32_buf_append(&all, piece.data, piece.len) == -1)
			abort();
	}
	if (l32_decoder_flush(&d, &all) == -1)
		abort();
	if (all.len != wlen || (wlen > 0 && memcmp(all.data, want, wlen) != 0))
		ok = 0;
	l32_buf_free(&all);
	l32_buf_free(&piece);
	return ok;
}

/* ------------------------------------------------- tokenizer-cases.jsonl */

START_TEST(test_cases)
{
	struct l32_tokenizer *t = need(_i);
	struct l32_tokens ids = { 0 };
	struct l32_buf out = { 0 };
	struct l32_err err = { 0 };
	size_t i, n_pass = 0, n_fail = 0, n_special = 0, n_nochunk = 0;
	json_t *c;

	need_data();
	json_array_foreach(tok_cases, i, c) {
		const char *id = json_string_value(json_object_get(c, "id"));
		const json_t *jt = json_object_get(c, "text");
		const char *text = json_string_value(jt);
		size_t len = json_string_length(jt);
		const json_t *want = json_object_get(c, "ids");
		const json_t *nochunk = json_object_get(c, "ids_no_chunking");
		const json_t *special = json_object_get(c, "ids_special");
		const json_t *bos_eos = json_object_get(c, "ids_bos_eos");
		int ok = 1;

		ok &= encode_matches(t, "ids", id, text, len, L32_TOKENIZE_CHUNK, want);
		ok &= encode_matches(t, "ids_no_chunking", id, text, len, 0,
		    nochunk != NULL ? nochunk : want);
		n_nochunk += nochunk != NULL;
		if (special != NULL && (_i == TIKTOKEN || !has_unshared_name(text, len))) {
			ok &= encode_matches(t, "ids_special", id, text, len,
			    L32_TOKENIZE_CHUNK | L32_TOKENIZE_SPECIAL, special);
			n_special++;
		}
		if (bos_eos != NULL) {
			ids.n = 0;
			ck_assert_int_eq(l32_tokenize(t, text, len, L32_TOKENIZE_BOS | L32_TOKENIZE_CHUNK,
			    &ids, &err), 0);
			ck_assert_int_eq(l32_tokens_push(&ids, l32_tokenizer_eos(t)), 0);
			if (!ids_equal(&ids, bos_eos)) {
				report_ids("ids_bos_eos", id, &ids, bos_eos);
				ok = 0;
			}
		}
		/* decode(ids) == text, byte for byte, whole and streamed. */
		ids_from_json(want, &ids);
		l32_buf_reset(&out);
		ck_assert_msg(l32_detokenize(t, ids.ids, ids.n, &out, &err) == 0, "%s", err.msg);
		if (out.len != len || memcmp(out.data, text, len) != 0) {
			fprintf(stderr, "decode %s: text differs\n", id);
			ok = 0;
		}
		if (!stream_matches(t, &ids, text, len)) {
			fprintf(stderr, "streaming decode %s: text differs or a push broke UTF-8\n", id);
			ok = 0;
		}
		if (ok)
			n_pass++;
		else
			n_fail++;
	}
	printf("%s: tokenizer-cases %zu/%zu pass (ids chunked and unchunked, %zu ids_no_chunking, "
	    "%zu ids_special, decode, streaming)\n", loader_name[_i], n_pass,
	    json_array_size(tok_cases), n_nochunk, n_special);
	fflush(stdout);
	l32_tokens_free(&ids);
	l32_buf_free(&out);
	ck_assert_msg(n_fail == 0, "%s: %zu of %zu tokenizer cases failed", loader_name[_i], n_fail,
	    json_array_size(tok_cases));
}
END_TEST

/* ---------------------------------------------------- decode-cases.jsonl */

static size_t
unhex(const char *h, unsigned char *out)
{
	size_t n = 0;
	unsigned v;

	while (h[0] && h[1] && sscanf(h, "%2x", &v) == 1) {
		out[n++] = (unsigned char)v;
		h += 2;
	}
	return n;
}

START_TEST(test_decode_cases)
{
	struct l32_tokenizer *t = need(TIKTOKEN);
	struct l32_tokens ids = { 0 };
	struct l32_buf out = { 0 };
	struct l32_err err = { 0 };
	unsigned char bytes[4096];
	size_t i, nb, n_pass = 0;
	json_t *c;

	need_data();
	json_array_foreach(dec_cases, i, c) {
		const char *id = json_string_value(json_object_get(c, "id"));
		const json_t *jt = json_object_get(c, "text");
		int ok = 1;

		ids_from_json(json_object_get(c, "ids"), &ids);
		nb = unhex(json_string_value(json_object_get(c, "bytes_hex")), bytes);
		l32_buf_reset(&out);
		ck_assert_msg(l32_detokenize_bytes(t, ids.ids, ids.n, &out, &err) == 0, "%s", err.msg);
		if (out.len != nb || memcmp(out.data, bytes, nb) != 0) {
			fprintf(stderr, "decode %s: bytes differ\n", id);
			ok = 0;
		}
		l32_buf_reset(&out);
		ck_assert_msg(l32_detokenize(t, ids.ids, ids.n, &out, &err) == 0, "%s", err.msg);
		if (out.len != json_string_length(jt) || memcmp(out.data, json_string_value(jt), out.len)) {
			fprintf(stderr, "decode %s: text differs\n", id);
			ok = 0;
		}
		l32_buf_reset(&out);
		ck_assert_int_eq(l32_utf8_sanitize(&out, bytes, nb), 0);
		if (out.len != json_string_length(jt) || memcmp(out.data, json_string_value(jt), out.len)) {
			fprintf(stderr, "sanitize %s: text differs\n", id);
			ok = 0;
		}
		if (!stream_matches(t, &ids, json_string_value(jt), json_string_length(jt))) {
			fprintf(stderr, "streaming decode %s: text differs or a push broke UTF-8\n", id);
			ok = 0;
		}
		n_pass += ok;
	}
	printf("decode-cases %zu/%zu pass (bytes, text, sanitize, streaming)\n", n_pass,
	    json_array_size(dec_cases));
	fflush(stdout);
	l32_tokens_free(&ids);
	l32_buf_free(&out);
	ck_assert_uint_eq(n_pass, json_array_size(dec_cases));
}
END_TEST

/* ------------------------------------------------ golden/tokenizer.jsonl */

/* These lines come from the HF tokenizer (its names for reserved ids), so
 * they run through tokenizer.json and GGUF, and through tiktoken when the
 * text has no name the two disagree on. */
START_TEST(test_golden)
{
	struct l32_tokenizer *t = need(_i);
	struct l32_tokens ids = { 0 };
	struct l32_buf out = { 0 };
	struct l32_err err = { 0 };
	unsigned char bytes[8192];
	size_t i, nb, n_run = 0, n_pass = 0;
	json_t *c;

	need_data();
	json_array_foreach(golden, i, c) {
		const char *kind = json_string_value(json_object_get(c, "kind"));
		const json_t *jt = json_object_get(c, "text");
		const json_t *want = json_object_get(c, "tokens");
		unsigned flags = L32_TOKENIZE_CHUNK;
		char label[32];
		int ok = 1;

		snprintf(label, sizeof(label), "line %zu", i + 1);
		if (strcmp(kind, "decode") == 0) {
			ids_from_json(want, &ids);
			nb = unhex(json_string_value(json_object_get(c, "bytes_hex")), bytes);
			l32_buf_reset(&out);
			ck_assert_int_eq(l32_detokenize_bytes(t, ids.ids, ids.n, &out, &err), 0);
			ok = out.len == nb && memcmp(out.data, bytes, nb) == 0;
			l32_buf_reset(&out);
			ck_assert_int_eq(l32_detokenize(t, ids.ids, ids.n, &out, &err), 0);
			ok &= out.len == json_string_length(jt) &&
			    memcmp(out.data, json_string_value(jt), out.len) == 0;
			if (!ok)
				fprintf(stderr, "golden %s: decode differs\n", label);
		} else {
			if (_i == TIKTOKEN && has_unshared_name(json_string_value(jt), json_string_length(jt)))
				continue;
			/* chat lines: the rendered prompt with special parsing on. */
			if (strcmp(kind, "chat") == 0 || json_is_true(json_object_get(c, "special")))
				flags |= L32_TOKENIZE_SPECIAL;
			if (json_is_true(json_object_get(c, "bos")))
				flags |= L32_TOKENIZE_BOS;
			ids.n = 0;
			ck_assert_int_eq(l32_tokenize(t, json_string_value(jt), json_string_length(jt), flags,
			    &ids, &err), 0);
			if (json_is_true(json_object_get(c, "eos")))
				ck_assert_int_eq(l32_tokens_push(&ids, l32_tokenizer_eos(t)), 0);
			if (!(ok = ids_equal(&ids, want)))
				report_ids("golden", label, &ids, want);
		}
		n_run++;
		n_pass += ok;
	}
	printf("%s: golden/tokenizer.jsonl %zu/%zu pass\n", loader_name[_i], n_pass, n_run);
	fflush(stdout);
	l32_tokens_free(&ids);
	l32_buf_free(&out);
	ck_assert_uint_eq(n_pass, n_run);
	fflush(stdout);
}
END_TEST

/* ------------------------------------------------------- API behaviour */

START_TEST(test_specials)
{
	struct l32_tokenizer *t = need(_i);
	struct l32_tokens ids = { 0 };
	struct l32_err err = { 0 };
	const char *s;
	size_t len;

	ck_assert_int_eq(l32_tokenizer_n_vocab(t), 128256);
	ck_assert_int_eq(l32_tokenizer_bos(t), 128000);
	ck_assert_int_eq(l32_tokenizer_eos(t), 128001);
	ck_assert_int_eq(l32_tokenizer_eom(t), 128008);
	ck_assert_int_eq(l32_tokenizer_eot(t), 128009);
	ck_assert(l32_tokenizer_is_stop(t, 128001));
	ck_assert(l32_tokenizer_is_stop(t, 128008));
	ck_assert(l32_tokenizer_is_stop(t, 128009));
	ck_assert(!l32_tokenizer_is_stop(t, 128000));
	ck_assert(!l32_tokenizer_is_stop(t, 13));
	ck_assert(!l32_tokenizer_is_stop(t, -1));
	ck_assert(l32_tokenizer_is_special(t, 128000));
	ck_assert(l32_tokenizer_is_special(t, 128255));
	ck_assert(!l32_tokenizer_is_special(t, 127999));
	ck_assert(!l32_tokenizer_is_special(t, 128256));
	ck_assert_int_eq(l32_tokenizer_special_id(t, "<|eot_id|>", 10), 128009);
	ck_assert_int_eq(l32_tokenizer_special_id(t, "<|python_tag|>", 14), 128010);
	ck_assert_int_eq(l32_tokenizer_special_id(t, "<|eot_id|", 9), -1);
	ck_assert_int_eq(l32_tokenizer_special_id(t, "<|eot_id|>x", 11), -1);
	ck_assert_int_eq(l32_tokenizer_special_id(t, "Hello", 5), -1);
	ck_assert_int_eq(l32_tokenizer_special_id(t, "", 0), -1);
	s = l32_token_bytes(t, 128009, &len);
	ck_assert(len == 10 && memcmp(s, "<|eot_id|>", 10) == 0);
	s = l32_token_bytes(t, 0, &len);
	ck_assert(len == 1 && s[0] == '!');
	ck_assert(l32_token_bytes(t, 128256, &len) == NULL && len == 0);
	ck_assert(l32_token_bytes(t, -5, &len) == NULL);
	/* Which names differ between the loaders. */
	ck_assert_int_eq(l32_tokenizer_special_id(t, "<|reserved_special_token_2|>", 28),
	    _i == TIKTOKEN ? 128012 : 128005);

	/* BOS is added once, never doubled. */
	ck_assert_int_eq(l32_tokenize(t, "<|begin_of_text|>Hi", 19,
	    L32_TOKENIZE_BOS | L32_TOKENIZE_SPECIAL, &ids, &err), 0);
	ck_assert_uint_eq(ids.n, 2);
	ck_assert_int_eq(ids.ids[0], 128000);
	ck_assert_int_ne(ids.ids[1], 128000);
	ids.n = 0;
	ck_assert_int_eq(l32_tokenize(t, "<|begin_of_text|>Hi", 19, L32_TOKENIZE_BOS, &ids, &err), 0);
	ck_assert_int_eq(ids.ids[0], 128000);
	ck_assert_int_ne(ids.ids[1], 128000);
	ck_assert_uint_gt(ids.n, 3);
	ids.n = 0;
	ck_assert_int_eq(l32_tokenize(t, "", 0, L32_TOKENIZE_BOS, &ids, &err), 0);
	ck_assert_uint_eq(ids.n, 1);
	ids.n = 0;
	ck_assert_int_eq(l32_tokenize(t, "", 0, L32_TOKENIZE_CHUNK, &ids, &err), 0);
	ck_assert_uint_eq(ids.n, 0);
	/* Appends: ids already in the list stay. */
	ids.n = 0;
	ck_assert_int_eq(l32_tokens_push(&ids, 7), 0);
	ck_assert_int_eq(l32_tokenize(t, "<|begin_of_text|><|begin_of_text|>", 34,
	    L32_TOKENIZE_BOS | L32_TOKENIZE_SPECIAL, &ids, &err), 0);
	ck_assert_uint_eq(ids.n, 3);
	ck_assert_int_eq(ids.ids[0], 7);
	ck_assert_int_eq(ids.ids[1], 128000);
	ck_assert_int_eq(ids.ids[2], 128000);
	l32_tokens_free(&ids);
}
END_TEST

START_TEST(test_decode_errors)
{
	struct l32_tokenizer *t = need(TIKTOKEN);
	struct l32_buf out = { 0 };
	struct l32_err err = { 0 };
	struct l32_decoder d;
	int32_t bad[] = { 9906, 128256 };
	int32_t neg[] = { -1 };

	ck_assert_int_eq(l32_detokenize(t, bad, 2, &out, &err), -1);
	ck_assert_int_eq(err.kind, L32_ERR_INVALID);
	ck_assert_msg(strstr(err.msg, "128256") != NULL, "%s", err.msg);
	ck_assert_int_eq(l32_detokenize_bytes(t, neg, 1, &out, &err), -1);
	ck_assert_msg(strstr(err.msg, "-1") != NULL, "%s", err.msg);
	l32_decoder_init(&d);
	ck_assert_int_eq(l32_decoder_push(&d, t, 128256, &out, &err), -1);
	/* Held-back bytes come out as one U+FFFD at the end. */
	l32_buf_reset(&out);
	ck_assert_int_eq(l32_decoder_push(&d, t, 11410, &out, &err), 0); /* " \xf0\x9f" */
	ck_assert_uint_eq(out.len, 1);
	ck_assert_int_eq(l32_decoder_flush(&d, &out), 0);
	ck_assert_uint_eq(out.len, 4);
	ck_assert(memcmp(out.data, " \xef\xbf\xbd", 4) == 0);
	l32_buf_free(&out);
}
END_TEST

/* ------------------------------------------------------- Unicode, UTF-8 */

static int
in_list(uint32_t cp, const uint32_t *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i += 2)
		if (cp >= list[i] && cp <= list[i + 1])
			return 1;
	return 0;
}

START_TEST(test_unicode_tables)
{
	/* The README's lists, as inclusive ranges. */
	static const uint32_t ws[] = { 0x9, 0xD, 0x20, 0x20, 0x85, 0x85, 0xA0, 0xA0, 0x1680, 0x1680,
	    0x2000, 0x200A, 0x2028, 0x2029, 0x202F, 0x202F, 0x205F, 0x205F, 0x3000, 0x3000 };
	static const uint32_t py[] = { 0x9, 0xD, 0x1C, 0x1F, 0x20, 0x20, 0x85, 0x85, 0xA0, 0xA0,
	    0x1680, 0x1680, 0x2000, 0x200A, 0x2028, 0x2029, 0x202F, 0x202F, 0x205F, 0x205F,
	    0x3000, 0x3000 };
	uint32_t cp, first_bad = 0;
	unsigned c, want;
	size_t nbad = 0;

	for (cp = 0; cp < 0x110000; cp++) {
		c = l32_uclass(cp);
		want = (l32_urange_has(l32_uni_letter, l32_uni_letter_n, cp) ? L32_UC_L : 0) |
		    (l32_urange_has(l32_uni_number, l32_uni_number_n, cp) ? L32_UC_N : 0) |
		    (in_list(cp, ws, sizeof(ws) / sizeof(ws[0])) ? L32_UC_WS : 0) |
		    (in_list(cp, py, sizeof(py) / sizeof(py[0])) ? L32_UC_PYSPACE : 0);
		if (c != want && nbad++ == 0)
			first_bad = cp;
	}
	ck_assert_msg(nbad == 0, "%zu code points in the wrong class, first U+%04X", nbad,
	    (unsigned)first_bad);
	/* A few known letters and numbers outside ASCII. */
	ck_assert(l32_uclass(0x00E9) & L32_UC_L);  /* é */
	ck_assert(l32_uclass(0x4E2D) & L32_UC_L);  /* 中 (a First/Last range) */
	ck_assert(l32_uclass(0xAC00) & L32_UC_L);  /* 가 (Hangul range) */
	ck_assert(l32_uclass(0x00BD) & L32_UC_N);  /* ½ */
	ck_assert(l32_uclass(0x216B) & L32_UC_N);  /* Ⅻ */
	ck_assert(l32_uclass(0x0967) & L32_UC_N);  /* Devanagari 1 */
	ck_assert(l32_uclass(0x0301) == 0);        /* combining acute: M */
	ck_assert(l32_uclass(0xFEFF) == 0);
	ck_assert(l32_uclass(0x200B) == 0);
	ck_assert(l32_uclass(0x110000) == 0);
	ck_assert_str_eq(l32_unicode_version, "15.0.0");
}
END_TEST

START_TEST(test_utf8)
{
	uint32_t cp;
	struct l32_buf b = { 0 };

	ck_assert_int_eq(l32_utf8_decode((const unsigned char *)"A", 1, &cp), 1);
	ck_assert_uint_eq(cp, 'A');
	ck_assert_int_eq(l32_utf8_decode((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
	ck_assert_uint_eq(cp, 0xE9);
	ck_assert_int_eq(l32_utf8_decode((const unsigned char *)"\xe2\x82\xac", 3, &cp), 3);
	ck_assert_uint_eq(cp, 0x20AC);
	ck_assert_int_eq(l32_utf8_decode((const unsigned char *)"\xf4\x8f\xbf\xbf", 4, &cp), 4);
	ck_assert_uint_eq(cp, 0x10FFFF);
	ck_assert_int_eq(l32_utf8_decode((const unsigned char *)"\xf0\x9f\xa6", 3, &cp), 0);
	ck_assert_int_eq(l32_utf8_decode((const unsigned char *)"\xed\xa0\x80", 3, &cp), 0);
	ck_assert_int_eq(l32_utf8_decode((const unsigned char *)"\xc0\x80", 2, &cp), 0);
	ck_assert_int_eq(l32_utf8_decode((const unsigned char *)"\xe0\x80\x80", 3, &cp), 0);
	ck_assert_int_eq(l32_utf8_decode((const unsigned char *)"\xf4\x90\x80\x80", 4, &cp), 0);
	ck_assert_int_eq(l32_utf8_decode((const unsigned char *)"", 0, &cp), 0);
	ck_assert_uint_eq(l32_utf8_bad_len((const unsigned char *)"\xf0\x9f\xa6" "A", 4), 3);
	ck_assert_uint_eq(l32_utf8_bad_len((const unsigned char *)"\xe0\x80\x80", 3), 1);
	ck_assert_uint_eq(l32_utf8_bad_len((const unsigned char *)"\xed\xa0\x80", 3), 1);
	ck_assert_uint_eq(l32_utf8_bad_len((const unsigned char *)"\x80", 1), 1);
	ck_assert_uint_eq(l32_utf8_bad_len((const unsigned char *)"\xff", 1), 1);
	ck_assert_uint_eq(l32_utf8_bad_len((const unsigned char *)"\xe2\x82" "A", 3), 2);
	ck_assert(l32_utf8_valid("plain ascii text, long enough for words", 39));
	ck_assert(l32_utf8_valid("Gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\xa6\x99", 12));
	ck_assert(!l32_utf8_valid("abcdefghij\x80", 11));
	ck_assert(!l32_utf8_valid("abc\xf0\x9f", 5));
	ck_assert(l32_utf8_valid("", 0));
	ck_assert_int_eq(l32_utf8_sanitize(&b, "a\xf0\x9f\xa6" "b\xc0\x80", 7), 0);
	ck_assert_uint_eq(b.len, 11);
	ck_assert(memcmp(b.data, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd", 11) == 0);
	l32_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------ pre-tokenizer */

/* Splits text with the pre-tokenizer and compares with the pieces listed
 * in want, separated by '|'. */
static void
check_split(const char *text, const char *want)
{
	char got[512];
	size_t n = strlen(text), i = 0, j, o = 0;

	while (i < n) {
		j = l32_pretok_next((const unsigned char *)text, n, i);
		ck_assert_msg(j > i && j <= n, "no progress at %zu in \"%s\"", i, text);
		if (o > 0)
			got[o++] = '|';
		memcpy(got + o, text + i, j - i);
		o += j - i;
		i = j;
	}
	got[o] = '\0';
	ck_assert_msg(strcmp(got, want) == 0, "\"%s\": got \"%s\", want \"%s\"", text, got, want);
}

START_TEST(test_pretok)
{
	check_split("   Hello", "  | Hello");
	check_split("   1", "  | |1");
	check_split("'llama", "'ll|ama");
	check_split("'Sa", "'S|a");
	check_split("I'M DON'T we'Ll", "I|'M| DON|'T| we|'Ll");
	check_split("1234567", "123|456|7");
	check_split(" 42", " |42");
	check_split("  \n  x", "  \n| | x");
	check_split("\n\n\nHi", "\n\n\n|Hi");
	check_split("\tHello$hello", "\tHello|$hello");
	check_split(" $hello", " $|hello");
	check_split(" ...", " ...");
	check_split("!!!\n\nx", "!!!\n\n|x");
	check_split("?\r\n", "?\r\n");
	check_split("a  ", "a|  ");
	check_split("x \xe2\x80\x99s", "x| \xe2\x80\x99|s");          /* U+2019 is not ' */
	check_split("'\xc5\xbf", "'\xc5\xbf");                         /* 'ſ folds to 's */
	check_split("\xc2\xbd\xe2\x85\xab" "5", "\xc2\xbd\xe2\x85\xab" "5"); /* ½Ⅻ5: three N */
	check_split("e\xcc\x81t\xc3\xa9", "e|\xcc\x81t\xc3\xa9");      /* combining mark prefixes letters */
	check_split("\x1c\x1c a", "\x1c\x1c| a");                      /* U+001C is not \s */
	check_split("a\xff\xfe" "b", "a|\xff\xfe|b");                  /* invalid bytes: units of their own */
	check_split("a\xff" "b", "a|\xff" "b");
	check_split("\xf0\x9f\xa6", "\xf0\x9f\xa6");
}
END_TEST

START_TEST(test_chunker)
{
	size_t n = 60000, a, b, k = 0;
	size_t want[3][2] = { { 0, 25000 }, { 25000, 50000 }, { 50000, 60000 } };
	char *s = malloc(n);
	struct l32_chunker c;

	memset(s, 'x', n);
	l32_chunker_init(&c, s, n);
	while (l32_chunker_next(&c, &a, &b)) {
		ck_assert_uint_lt(k, 3);
		ck_assert_uint_eq(a, want[k][0]);
		ck_assert_uint_eq(b, want[k][1]);
		k++;
	}
	ck_assert_uint_eq(k, 3);
	l32_chunker_init(&c, s, 0);
	ck_assert_int_eq(l32_chunker_next(&c, &a, &b), 0);
	free(s);
}
END_TEST

/* ------------------------------------------------------- damaged files */

static char tmpdir[] = "/tmp/l32-test-tok-XXXXXX";

static char *
write_tmp(const char *name, const void *data, size_t n)
{
	char *p;
	FILE *f;

	if (asprintf(&p, "%s/%s", tmpdir, name) == -1)
		abort();
	ck_assert((f = fopen(p, "wb")) != NULL);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	fclose(f);
	return p;
}

/* Loads data written to a temp file; expects failure with a message that
 * contains each of the given words. */
static void
expect_fail(struct l32_tokenizer *(*load)(const char *, struct l32_err *), const char *name,
    const char *data, size_t n, enum l32_err_kind kind, const char *w1, const char *w2)
{
	struct l32_err err = { 0 };
	char *p = write_tmp(name, data, n);
	struct l32_tokenizer *t = load(p, &err);

	ck_assert_msg(t == NULL, "%s: loaded a damaged file", name);
	ck_assert_msg(err.kind == kind, "%s: kind %d, want %d: %s", name, err.kind, kind, err.msg);
	ck_assert_msg(strstr(err.msg, p) != NULL, "%s: message lacks the file: %s", name, err.msg);
	ck_assert_msg(w1 == NULL || strstr(err.msg, w1) != NULL, "%s: message lacks \"%s\": %s",
	    name, w1, err.msg);
	ck_assert_msg(w2 == NULL || strstr(err.msg, w2) != NULL, "%s: message lacks \"%s\": %s",
	    name, w2, err.msg);
	unlink(p);
	free(p);
}

/* A small valid tiktoken file: the 256 bytes (in byte order), then extra
 * lines (base64 tokens) from rank 256. */
static char *
small_tiktoken(const char *extra)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct l32_buf b = { 0 };
	int i;

	for (i = 0; i < 256; i++)
		l32_buf_printf(&b, "%c%c== %d\n", b64[i >> 2], b64[(i & 3) << 4], i);
	l32_buf_puts(&b, extra);
	return b.data;
}

START_TEST(test_damaged_tiktoken)
{
	struct l32_err err = { 0 };
	struct l32_tokenizer *t;
	struct l32_tokens ids = { 0 };
	char *s, *p;

	ck_assert(mkdtemp(tmpdir) != NULL);
	/* The small file is valid: "ab" (YWI=) and "abc" (YWJj). */
	s = small_tiktoken("YWI= 256\nYWJj 257\n");
	p = write_tmp("ok.model", s, strlen(s));
	t = l32_tokenizer_load_tiktoken(p, &err);
	ck_assert_msg(t != NULL, "%s", err.msg);
	ck_assert_int_eq(l32_tokenizer_n_vocab(t), 258 + 256);
	ck_assert_int_eq(l32_tokenizer_bos(t), 258);
	ck_assert_int_eq(l32_tokenizer_eot(t), 258 + 9);
	ck_assert_int_eq(l32_tokenize(t, "abc ab", 6, 0, &ids, &err), 0);
	ck_assert_uint_eq(ids.n, 3);
	ck_assert_int_eq(ids.ids[0], 257);
	ck_assert_int_eq(ids.ids[1], ' ');
	ck_assert_int_eq(ids.ids[2], 256);
	l32_tokens_free(&ids);
	l32_tokenizer_free(t);
	/* Opened by content too, and from a directory. */
	t = l32_tokenizer_open(p, &err);
	ck_assert_msg(t != NULL, "%s", err.msg);
	l32_tokenizer_free(t);
	unlink(p);
	free(p);
	p = write_tmp("tokenizer.model", s, strlen(s));
	t = l32_tokenizer_open(tmpdir, &err);
	ck_assert_msg(t != NULL, "%s", err.msg);
	l32_tokenizer_free(t);
	unlink(p);
	free(p);
	free(s);

	expect_fail(l32_tokenizer_load_tiktoken, "empty.model", "", 0, L32_ERR_FORMAT, "empty", NULL);
	s = small_tiktoken("YW!= 256\n");
	expect_fail(l32_tokenizer_load_tiktoken, "b64.model", s, strlen(s), L32_ERR_FORMAT,
	    "line 257", "YW!=");
	free(s);
	s = small_tiktoken("YWI 256\n");
	expect_fail(l32_tokenizer_load_tiktoken, "b64len.model", s, strlen(s), L32_ERR_FORMAT,
	    "line 257", "base64");
	free(s);
	s = small_tiktoken("YWI= 300\n");
	expect_fail(l32_tokenizer_load_tiktoken, "rank.model", s, strlen(s), L32_ERR_FORMAT,
	    "line 257", "300");
	free(s);
	s = small_tiktoken("YWI= x1\n");
	expect_fail(l32_tokenizer_load_tiktoken, "ranknum.model", s, strlen(s), L32_ERR_FORMAT,
	    "line 257", "x1");
	free(s);
	s = small_tiktoken("YWI= 256\nYWI= 257\n");
	expect_fail(l32_tokenizer_load_tiktoken, "dup.model", s, strlen(s), L32_ERR_FORMAT,
	    "line 258", "line 257");
	free(s);
	s = small_tiktoken("YWI=256\n");
	expect_fail(l32_tokenizer_load_tiktoken, "nospace.model", s, strlen(s), L32_ERR_FORMAT,
	    "line 257", "YWI=256");
	free(s);
	s = small_tiktoken("\nYWI= 257\n");
	expect_fail(l32_tokenizer_load_tiktoken, "blank.model", s, strlen(s), L32_ERR_FORMAT,
	    "line 257", NULL);
	free(s);
	/* Only "a" and "b": other bytes cannot be encoded. */
	expect_fail(l32_tokenizer_load_tiktoken, "bytes.model", "YQ== 0\nYg== 1\n", 14,
	    L32_ERR_FORMAT, "single byte", "0x00");
	expect_fail(l32_tokenizer_load_tiktoken, "binary.model", "\x00\x01\x02\xff", 4,
	    L32_ERR_FORMAT, "line 1", NULL);
	err.kind = L32_ERR_NONE;
	ck_assert(l32_tokenizer_load_tiktoken("/nonexistent/tokenizer.model", &err) == NULL);
	ck_assert_int_eq(err.kind, L32_ERR_IO);
	ck_assert(strstr(err.msg, "/nonexistent/tokenizer.model") != NULL);
	rmdir(tmpdir);
	memcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX", 6);
}
END_TEST

/* GPT-2 byte-level text of byte b, appended to buf (as UTF-8). */
static void
bytelevel(struct l32_buf *buf, unsigned b)
{
	unsigned cp, k = 0, c;

	if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) {
		cp = b;
	} else {
		for (c = 0; c < b; c++)
			if (!((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE))
				k++;
		cp = 256 + k;
	}
	if (cp < 0x80) {
		if (cp == '"' || cp == '\\')
			l32_buf_printf(buf, "\\%c", cp);
		else
			l32_buf_printf(buf, "%c", cp);
	} else {
		l32_buf_printf(buf, "%c%c", 0xC0 | cp >> 6, 0x80 | (cp & 63));
	}
}

/* A small tokenizer.json: 256 byte tokens, "ab"=256, "abc"=257, three
 * specials; parts of it replaced through the arguments. */
static char *
small_json(const char *extra_vocab, const char *merges, const char *added, const char *regex)
{
	struct l32_buf b = { 0 };
	unsigned i;

	l32_buf_puts(&b, "{\"version\":\"1.0\",\"normalizer\":null,");
	l32_buf_printf(&b, "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
	    "\"pattern\":{\"Regex\":\"%s\"},\"behavior\":\"Isolated\",\"invert\":false},"
	    "{\"type\":\"ByteLevel\",\"add_prefix_space\":false}]},", regex);
	l32_buf_puts(&b, "\"added_tokens\":");
	l32_buf_puts(&b, added != NULL ? added :
	    "[{\"id\":258,\"content\":\"<|begin_of_text|>\",\"special\":true},"
	    "{\"id\":259,\"content\":\"<|end_of_text|>\",\"special\":true},"
	    "{\"id\":260,\"content\":\"<|eot_id|>\",\"special\":true}]");
	l32_buf_puts(&b, ",\"model\":{\"type\":\"BPE\",\"vocab\":{");
	for (i = 0; i < 256; i++) {
		l32_buf_puts(&b, "\"");
		bytelevel(&b, i);
		l32_buf_printf(&b, "\":%u,", i);
	}
	l32_buf_puts(&b, extra_vocab != NULL ? extra_vocab : "\"ab\":256,\"abc\":257");
	l32_buf_puts(&b, "},\"merges\":");
	l32_buf_puts(&b, merges != NULL ? merges : "[\"a b\",[\"ab\",\"c\"]]");
	l32_buf_puts(&b, "}}");
	return b.data;
}

#define RE "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| " \
    "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+"

static void
json_fail(const char *name, char *s, enum l32_err_kind kind, const char *w1, const char *w2)
{
	expect_fail(l32_tokenizer_load_hf, name, s, strlen(s), kind, w1, w2);
	free(s);
}

START_TEST(test_damaged_json)
{
	struct l32_err err = { 0 };
	struct l32_tokenizer *t;
	struct l32_tokens ids = { 0 };
	char *s, *p;

	ck_assert(mkdtemp(tmpdir) != NULL);
	s = small_json(NULL, NULL, NULL, RE);
	p = write_tmp("ok.json", s, strlen(s));
	t = l32_tokenizer_load_hf(p, &err);
	ck_assert_msg(t != NULL, "%s", err.msg);
	ck_assert_int_eq(l32_tokenizer_eom(t), -1);
	ck_assert_int_eq(l32_tokenize(t, "abc<|eot_id|>", 13, L32_TOKENIZE_SPECIAL, &ids, &err), 0);
	ck_assert_uint_eq(ids.n, 2);
	ck_assert_int_eq(ids.ids[0], 257);
	ck_assert_int_eq(ids.ids[1], 260);
	l32_tokens_free(&ids);
	l32_tokenizer_free(t);
	t = l32_tokenizer_open(p, &err);
	ck_assert_msg(t != NULL, "%s", err.msg);
	l32_tokenizer_free(t);
	unlink(p);
	free(p);
	p = write_tmp("tokenizer.json", s, strlen(s));
	t = l32_tokenizer_open(tmpdir, &err);
	ck_assert_msg(t != NULL, "%s", err.msg);
	l32_tokenizer_free(t);
	unlink(p);
	free(p);
	free(s);

	json_fail("notjson.json", strdup("{\"model\": [1, 2,"), L32_ERR_FORMAT, "JSON", "line 1");
	json_fail("array.json", strdup("[1, 2]"), L32_ERR_FORMAT, "top level", "an array");
	json_fail("nomodel.json", strdup("{\"version\": \"1.0\"}"), L32_ERR_FORMAT, "model", "missing");
	json_fail("vocabarr.json", strdup("{\"model\": {\"vocab\": [], \"merges\": []}, \"added_tokens\": []}"),
	    L32_ERR_FORMAT, "model.vocab", "an array");
	json_fail("idtype.json", small_json("\"ab\":\"256\",\"abc\":257", NULL, NULL, RE),
	    L32_ERR_FORMAT, "model.vocab[\"ab\"]", "a string");
	json_fail("idrange.json", small_json("\"ab\":9999,\"abc\":257", NULL, NULL, RE),
	    L32_ERR_FORMAT, "model.vocab[\"ab\"]", "9999");
	json_fail("dupid.json", small_json("\"ab\":257,\"abc\":257", NULL, NULL, RE),
	    L32_ERR_FORMAT, "257", "given twice");
	/* Ids must be dense: 262 tokens have ids 0..261. */
	json_fail("hole.json", small_json("\"ab\":256,\"abc\":257", NULL,
	    "[{\"id\":258,\"content\":\"<|begin_of_text|>\"},{\"id\":259,\"content\":\"<|end_of_text|>\"},"
	    "{\"id\":261,\"content\":\"<|eot_id|>\"},{\"id\":262,\"content\":\"<|x|>\"}]", RE),
	    L32_ERR_FORMAT, "added_tokens[3].id", "262 out of range");
	json_fail("dupkey.json", small_json("\"ab\":256,\"ab\":257", NULL, NULL, RE),
	    L32_ERR_FORMAT, "JSON", "ab");
	json_fail("dupbytes.json", small_json("\"ab\":256,\"a\\u0062\":257", NULL, NULL, RE),
	    L32_ERR_FORMAT, "JSON", NULL);
	json_fail("bytelevel.json", small_json("\"ab\":256,\"a b\":257", NULL, NULL, RE),
	    L32_ERR_FORMAT, "model.vocab[\"a b\"]", "U+0020");
	json_fail("nospecial.json", small_json(NULL, NULL,
	    "[{\"id\":258,\"content\":\"<|begin_of_text|>\"},{\"id\":259,\"content\":\"<|end_of_text|>\"},"
	    "{\"id\":260,\"content\":\"<|other|>\"}]", RE),
	    L32_ERR_FORMAT, "missing special token", "<|eot_id|>");
	json_fail("addedtype.json", small_json(NULL, NULL, "[{\"id\":\"258\",\"content\":\"x\"}]", RE),
	    L32_ERR_FORMAT, "added_tokens[0].id", "a string");
	json_fail("addedcontent.json", small_json(NULL, NULL, "[{\"id\":258,\"content\":5}]", RE),
	    L32_ERR_FORMAT, "added_tokens[0].content", "an integer");
	json_fail("mergepart.json", small_json(NULL, "[\"a b\",\"ab d\"]", NULL, RE),
	    L32_ERR_FORMAT, "model.merges[1]", "ab d");
	json_fail("mergeform.json", small_json(NULL, "[\"ab\"]", NULL, RE),
	    L32_ERR_FORMAT, "model.merges[0]", "left right");
	json_fail("mergetype.json", small_json(NULL, "[3]", NULL, RE),
	    L32_ERR_FORMAT, "model.merges[0]", "an integer");
	json_fail("mergeorder.json", small_json(NULL, "[[\"ab\",\"c\"],\"a b\"]", NULL, RE),
	    L32_ERR_UNSUPPORTED, "model.merges[1]", "order");
	json_fail("regex.json", small_json(NULL, NULL, NULL, "\\\\s+"),
	    L32_ERR_UNSUPPORTED, "pre_tokenizer", "not Llama 3's");
	json_fail("empty.json", strdup(""), L32_ERR_FORMAT, "JSON", NULL);
	rmdir(tmpdir);
	memcpy(tmpdir + strlen(tmpdir) - 6, "XXXXXX", 6);
}
END_TEST

/* The GGUF builder on a hand-made vocabulary: 256 byte tokens in
 * byte-level text, "ab" and "abc", three control tokens. */
START_TEST(test_gguf_small)
{
	struct l32_buf text[262];
	const char *toks[262], *merges[2] = { "a b", "ab c" };
	size_t lens[262], mlens[2] = { 3, 4 }, i;
	int32_t types[262];
	struct l32_err err = { 0 };
	struct l32_tokenizer *t;
	struct l32_tokens ids = { 0 };

	memset(text, 0, sizeof(text));
	for (i = 0; i < 256; i++) {
		bytelevel(&text[i], (unsigned)i);
		if (i == '"' || i == '\\') /* bytelevel() escapes these for JSON */
			text[i].data[0] = text[i].data[1], text[i].len = 1;
	}
	l32_buf_puts(&text[256], "ab");
	l32_buf_puts(&text[257], "abc");
	l32_buf_puts(&text[258], "<|begin_of_text|>");
	l32_buf_puts(&text[259], "<|end_of_text|>");
	l32_buf_puts(&text[260], "<|eot_id|>");
	l32_buf_puts(&text[261], "<|eom_id|>");
	for (i = 0; i < 262; i++) {
		toks[i] = text[i].data;
		lens[i] = text[i].len;
		types[i] = i < 258 ? 1 : 3;
	}
	t = l32_tokenizer_from_gguf("small.gguf", toks, lens, 262, types, merges, mlens, 2, &err);
	ck_assert_msg(t != NULL, "%s", err.msg);
	ck_assert_int_eq(l32_tokenizer_eom(t), 261);
	ck_assert(l32_tokenizer_is_stop(t, 261));
	ck_assert_int_eq(l32_tokenize(t, " abcab\n", 7, 0, &ids, &err), 0);
	ck_assert_uint_eq(ids.n, 4); /* " ", "abc", "ab", "\n" */
	ck_assert_int_eq(ids.ids[1], 257);
	ck_assert_int_eq(ids.ids[2], 256);
	l32_tokens_free(&ids);
	l32_tokenizer_free(t);

	/* Damaged: each names the source and the array element. */
	types[100] = 6;
	ck_assert(l32_tokenizer_from_gguf("s.gguf", toks, lens, 262, types, merges, mlens, 2, &err) == NULL);
	ck_assert_msg(strstr(err.msg, "s.gguf") && strstr(err.msg, "token_type[100]") &&
	    strstr(err.msg, "type 6"), "%s", err.msg);
	types[100] = 1;
	toks[257] = "a c";
	lens[257] = 3;
	ck_assert(l32_tokenizer_from_gguf("s.gguf", toks, lens, 262, types, merges, mlens, 2, &err) == NULL);
	ck_assert_msg(strstr(err.msg, "tokens[257]") && strstr(err.msg, "U+0020"), "%s", err.msg);
	toks[257] = "abc";
	toks[260] = "<|other|>";
	lens[260] = 9;
	ck_assert(l32_tokenizer_from_gguf("s.gguf", toks, lens, 262, types, merges, mlens, 2, &err) == NULL);
	ck_assert_msg(strstr(err.msg, "missing special token <|eot_id|>"), "%s", err.msg);
	toks[260] = "<|eot_id|>";
	lens[260] = 10;
	merges[1] = "abc";
	mlens[1] = 3;
	ck_assert(l32_tokenizer_from_gguf("s.gguf", toks, lens, 262, types, merges, mlens, 2, &err) == NULL);
	ck_assert_msg(strstr(err.msg, "merges[1]") && strstr(err.msg, "abc"), "%s", err.msg);
	merges[0] = "ab c";
	mlens[0] = 4;
	merges[1] = "a b";
	mlens[1] = 3;
	ck_assert(l32_tokenizer_from_gguf("s.gguf", toks, lens, 262, types, merges, mlens, 2, &err) == NULL);
	ck_assert_int_eq(err.kind, L32_ERR_UNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "merges[1]"), "%s", err.msg);
	ck_assert(l32_tokenizer_from_gguf("s.gguf", toks, lens, 0, types, merges, mlens, 2, &err) == NULL);
	ck_assert(l32_tokenizer_from_gguf("s.gguf", toks, lens, 262, NULL, merges, mlens, 2, &err) == NULL);
	ck_assert_msg(strstr(err.msg, "token_type"), "%s", err.msg);
	for (i = 0; i < 262; i++)
		l32_buf_free(&text[i]);
}
END_TEST

/* ------------------------------------------------------------- main */

static Suite *
tokenizer_suite(void)
{
	Suite *s = suite_create("tokenizer");
	TCase *tc;

	tc = tcase_create("reference");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_cases, 0, N_LOADERS);
	tcase_add_test(tc, test_decode_cases);
	tcase_add_loop_test(tc, test_golden, 0, N_LOADERS);
	tcase_add_loop_test(tc, test_specials, 0, N_LOADERS);
	tcase_add_test(tc, test_decode_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("parts");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_unicode_tables);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_pretok);
	tcase_add_test(tc, test_chunker);
	tcase_add_test(tc, test_damaged_tiktoken);
	tcase_add_test(tc, test_damaged_json);
	tcase_add_test(tc, test_gguf_small);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int nfail;

	if ((shared = getenv("L32_SHARED")) == NULL || *shared == '\0')
		shared = "../shared";
	/* Loaded once here; the forked tests share the tables. */
	load_all();
	sr = srunner_create(tokenizer_suite());
	srunner_run_all(sr, CK_NORMAL);
	nfail = srunner_ntests_failed(sr);
	srunner_free(sr);
	return nfail == 0 ? 0 : 1;
}
