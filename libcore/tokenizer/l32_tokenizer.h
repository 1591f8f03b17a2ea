/*
 * l32_tokenizer.h - the Llama 3 tokenizer: loading (tiktoken, tokenizer.json,
 * GGUF vocabularies), text to ids, ids to bytes and text, streaming decode.
 */
#ifndef L32_TOKENIZER_API_H
#define L32_TOKENIZER_API_H

#include "base/l32_base.h"

/* --------------------------------------------------------------- tokenizer */

struct l32_tokenizer;

/* Reads a tiktoken ranks file (Meta's tokenizer.model). */
struct l32_tokenizer *l32_tokenizer_load_tiktoken(const char *path, struct l32_err *err);
/* Reads a Hugging Face tokenizer.json (byte-level BPE). */
struct l32_tokenizer *l32_tokenizer_load_hf(const char *path, struct l32_err *err);
/* Builds a tokenizer from GGUF vocabulary arrays: token strings in GPT-2
 * byte-level text, their types (1 normal, 3 control, ...) and the merges
 * ("left right").  source names the file for messages. */
struct l32_tokenizer *l32_tokenizer_from_gguf(const char *source,
    const char *const *tokens, const size_t *token_lens, size_t n_tokens,
    const int32_t *token_types, const char *const *merges,
    const size_t *merge_lens, size_t n_merges, struct l32_err *err);
/* Opens a tokenizer.json, a tokenizer.model, or a directory holding one. */
struct l32_tokenizer *l32_tokenizer_open(const char *path, struct l32_err *err);
void l32_tokenizer_free(struct l32_tokenizer *tok);

int32_t l32_tokenizer_n_vocab(const struct l32_tokenizer *tok);
int32_t l32_tokenizer_bos(const struct l32_tokenizer *tok);   /* <|begin_of_text|> */
int32_t l32_tokenizer_eos(const struct l32_tokenizer *tok);   /* <|end_of_text|> */
int32_t l32_tokenizer_eot(const struct l32_tokenizer *tok);   /* <|eot_id|> */
int32_t l32_tokenizer_eom(const struct l32_tokenizer *tok);   /* <|eom_id|> */
/* 1 for ids that end generation: end_of_text, eot, eom. */
int l32_tokenizer_is_stop(const struct l32_tokenizer *tok, int32_t id);
/* 1 for special (control) tokens, ids 128000.. in Llama 3. */
int l32_tokenizer_is_special(const struct l32_tokenizer *tok, int32_t id);
/* Finds a special token by its exact string; -1 when none. */
int32_t l32_tokenizer_special_id(const struct l32_tokenizer *tok, const char *s, size_t n);

/* The raw bytes of a token (a special token's bytes are its name). */
const char *l32_token_bytes(const struct l32_tokenizer *tok, int32_t id, size_t *len);

enum {
	L32_TOKENIZE_SPECIAL = 1 << 0, /* special-token strings become their ids */
	L32_TOKENIZE_BOS     = 1 << 1, /* prepend BOS (never doubled) */
	L32_TOKENIZE_CHUNK   = 1 << 2, /* Meta's 400k/25k code-point chunking */
};

/* Appends the ids of text[0..len) to out.  text should be UTF-8; invalid
 * bytes are tokenized as bytes. */
int l32_tokenize(const struct l32_tokenizer *tok, const char *text, size_t len,
    unsigned flags, struct l32_tokens *out, struct l32_err *err);

/* Appends the bytes of ids to out, as-is (may be invalid UTF-8). Fails on an
 * id out of range, naming it. */
int l32_detokenize_bytes(const struct l32_tokenizer *tok, const int32_t *ids,
    size_t n, struct l32_buf *out, struct l32_err *err);
/* Same, then UTF-8 with replacement (the text a user sees). */
int l32_detokenize(const struct l32_tokenizer *tok, const int32_t *ids,
    size_t n, struct l32_buf *out, struct l32_err *err);

/* Streaming decode: never emits a broken UTF-8 sequence; holds back the bytes
 * of an incomplete one until it completes or proves ill-formed. */
struct l32_decoder {
	unsigned char pend[8];
	size_t npend;
};
void l32_decoder_init(struct l32_decoder *d);
int l32_decoder_push(struct l32_decoder *d, const struct l32_tokenizer *tok,
    int32_t id, struct l32_buf *out, struct l32_err *err);
/* Emits what is held back (as U+FFFD replacements) at the end of a stream. */
int l32_decoder_flush(struct l32_decoder *d, struct l32_buf *out);

#endif /* L32_TOKENIZER_API_H */
