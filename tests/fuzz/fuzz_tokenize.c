/*
 * fuzz_tokenize.c - encodes arbitrary bytes with the real Llama 3
 * vocabulary and decodes them again: the bytes must come back exactly, and
 * the streaming decoder must give the replacement-decoded text without ever
 * emitting a broken UTF-8 sequence.  The first input byte picks the flags
 * (bit 0 special parsing, bit 1 BOS, bit 2 Meta's chunking).
 *
 * The vocabulary is loaded once from $L32_SHARED/llama3/tokenizer.model
 * (default ../shared).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "l32.h"
#include "prog/l32_prog.h"

static struct l32_tokenizer *tok;

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
		fprintf(stderr, "fuzz_tokenize: reference data missing: %s\n", err.msg);
		abort();
	}
}

static void
check_stream(const struct l32_tokens *ids, const struct l32_buf *bytes)
{
	struct l32_buf want = { 0 }, got = { 0 }, piece = { 0 };
	struct l32_decoder d;
	struct l32_err err = { 0 };
	size_t i;

	if (l32_utf8_sanitize(&want, bytes->data, bytes->len) == -1)
		abort();
	l32_decoder_init(&d);
	for (i = 0; i < ids->n; i++) {
		l32_buf_reset(&piece);
		if (l32_decoder_push(&d, tok, ids->ids[i], &piece, &err) == -1)
			abort();
		if (!l32_utf8_valid(piece.data, piece.len))
			abort();
		if (l32_buf_append(&got, piece.data, piece.len) == -1)
			abort();
	}
	if (l32_decoder_flush(&d, &got) == -1)
		abort();
	if (got.len != want.len || (got.len > 0 && memcmp(got.data, want.data, got.len) != 0))
		abort();
	l32_buf_free(&want);
	l32_buf_free(&got);
	l32_buf_free(&piece);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char bos[] = "<|begin_of_text|>";
	struct l32_tokens ids = { 0 };
	struct l32_buf out = { 0 };
	struct l32_err err = { 0 };
	const char *text;
	size_t len, skip = 0;
	unsigned flags = 0;

	if (tok == NULL)
		load();
	if (size == 0)
		return 0;
	if (data[0] & 1)
		flags |= L32_TOKENIZE_SPECIAL;
	if (data[0] & 2)
		flags |= L32_TOKENIZE_BOS;
	if (data[0] & 4)
		flags |= L32_TOKENIZE_CHUNK;
	text = (const char *)data + 1;
	len = size - 1;
	if (l32_tokenize(tok, text, len, flags, &ids, &err) == -1)
		abort();
	if (l32_detokenize_bytes(tok, ids.ids, ids.n, &out, &err) == -1)
		abort();
	/* BOS: one in front, unless the text already began with it. */
	if (flags & L32_TOKENIZE_BOS) {
		if (ids.n == 0 || ids.ids[0] != l32_tokenizer_bos(tok))
			abort();
		if (!((flags & L32_TOKENIZE_SPECIAL) && len >= sizeof(bos) - 1 &&
		    memcmp(text, bos, sizeof(bos) - 1) == 0))
			skip = sizeof(bos) - 1;
	}
	if (out.len != len + skip || (len > 0 && memcmp(out.data + skip, text, len) != 0))
		abort();
	check_stream(&ids, &out);
	l32_tokens_free(&ids);
	l32_buf_free(&out);
	return 0;
}
