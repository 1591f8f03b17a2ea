/*
 * tok_hf.c - reads a Hugging Face tokenizer.json of the Llama 3 kind:
 * byte-level BPE, "model.vocab" (token -> id, tokens in GPT-2 byte-level
 * text), "model.merges" ("left right" strings or [left, right] pairs), and
 * "added_tokens" (the special tokens, with their own names, as raw text).
 *
 * Only the Llama 3 pipeline is implemented, so the file must say so: no
 * normalizer and the Llama 3 split regex; anything else is refused rather
 * than tokenized differently from the model's reference.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tokenizer/tokenizer.h"

static const char llama3_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static const char *
json_kind(const json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static int
wrong_type(const char *source, const char *field, const json_t *j, const char *want,
    struct l32_err *err)
{
	return l32_err_set(err, L32_ERR_FORMAT, "%s: field %s: %s, expected %s", source, field,
	    j == NULL ? "missing" : json_kind(j), want);
}

/* Finds the Split regex in pre_tokenizer (alone or in a Sequence). */
static const json_t *
find_split_regex(const json_t *pre)
{
	const json_t *seq, *p, *r;
	size_t i;

	if (!json_is_object(pre))
		return NULL;
	if ((seq = json_object_get(pre, "pretokenizers")) != NULL && json_is_array(seq)) {
		json_array_foreach(seq, i, p)
			if ((r = find_split_regex(p)) != NULL)
				return r;
		return NULL;
	}
	if (!json_is_string(json_object_get(pre, "type")) ||
	    strcmp(json_string_value(json_object_get(pre, "type")), "Split") != 0)
		return NULL;
	p = json_object_get(pre, "pattern");
	return json_is_object(p) ? json_object_get(p, "Regex") : NULL;
}

/* Refuses pipelines other than Llama 3's. */
static int
check_pipeline(const char *source, const json_t *root, const json_t *model, struct l32_err *err)
{
	const json_t *j, *re;
	char q[80];

	j = json_object_get(model, "type");
	if (j != NULL && (!json_is_string(j) || strcmp(json_string_value(j), "BPE") != 0))
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: field model.type: \"%s\": only byte-level BPE is supported", source,
		    json_is_string(j) ? tok_quote(q, sizeof(q), json_string_value(j),
		    json_string_length(j)) : json_kind(j));
	if (json_is_true(json_object_get(model, "byte_fallback")))
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: field model.byte_fallback: true: only byte-level BPE is supported", source);
	j = json_object_get(root, "normalizer");
	if (j != NULL && !json_is_null(j))
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: field normalizer: %s: the Llama 3 tokenizer has none", source, json_kind(j));
	re = find_split_regex(json_object_get(root, "pre_tokenizer"));
	if (!json_is_string(re) || strcmp(json_string_value(re), llama3_regex) != 0)
		return l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "%s: field pre_tokenizer: split regex \"%s\" is not Llama 3's", source,
		    json_is_string(re) ? tok_quote(q, sizeof(q), json_string_value(re),
		    json_string_length(re)) : "(none)");
	return 0;
}

static int
load_vocab(struct l32_tokenizer *t, const json_t *vocab, struct l32_err *err)
{
	const char *key;
	json_t *v;
	unsigned char *buf = NULL;
	size_t cap = 0, klen;
	long nb;
	uint32_t bad;
	char q[80], field[128];

	json_object_foreach((json_t *)vocab, key, v) {
		klen = strlen(key);
		tok_quote(q, sizeof(q), key, klen);
		snprintf(field, sizeof(field), "model.vocab[\"%s\"]", q);
		if (!json_is_integer(v)) {
			wrong_type(t->source, field, v, "an integer id", err);
			goto fail;
		}
		if (klen > cap) {
			unsigned char *b = realloc(buf, klen);

			if (b == NULL) {
				l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", t->source);
				goto fail;
			}
			buf = b;
			cap = klen;
		}
		if ((nb = tok_bytelevel_decode(key, klen, buf, &bad)) < 0) {
			l32_err_set(err, L32_ERR_FORMAT,
			    "%s: field %s: not GPT-2 byte-level text (code point U+%04X)",
			    t->source, field, (unsigned)bad);
			goto fail;
		}
		if (json_integer_value(v) < 0 || json_integer_value(v) >= t->n_vocab) {
			l32_err_set(err, L32_ERR_FORMAT, "%s: field %s: id %lld out of range 0..%d",
			    t->source, field, (long long)json_integer_value(v), t->n_vocab - 1);
			goto fail;
		}
		if (tok_set(t, (int32_t)json_integer_value(v), buf, (size_t)nb, 0, field, err))
			goto fail;
	}
	free(buf);
	return 0;
fail:
	free(buf);
	return -1;
}

static int
load_added(struct l32_tokenizer *t, const json_t *added, struct l32_err *err)
{
	const json_t *a, *id, *content, *special;
	size_t i;
	char field[64];

	json_array_foreach(added, i, a) {
		snprintf(field, sizeof(field), "added_tokens[%zu]", i);
		if (!json_is_object(a))
			return wrong_type(t->source, field, a, "an object", err);
		id = json_object_get(a, "id");
		content = json_object_get(a, "content");
		special = json_object_get(a, "special");
		snprintf(field, sizeof(field), "added_tokens[%zu].id", i);
		if (!json_is_integer(id))
			return wrong_type(t->source, field, id, "an integer", err);
		if (json_integer_value(id) < 0 || json_integer_value(id) >= t->n_vocab)
			return l32_err_set(err, L32_ERR_FORMAT, "%s: field %s: id %lld out of range 0..%d",
			    t->source, field, (long long)json_integer_value(id), t->n_vocab - 1);
		snprintf(field, sizeof(field), "added_tokens[%zu].content", i);
		if (!json_is_string(content))
			return wrong_type(t->source, field, content, "a string", err);
		snprintf(field, sizeof(field), "added_tokens[%zu].special", i);
		if (special != NULL && !json_is_boolean(special))
			return wrong_type(t->source, field, special, "a boolean", err);
		/* Added tokens are matched as whole strings, never merged into. */
		snprintf(field, sizeof(field), "added_tokens[%zu]", i);
		if (tok_set(t, (int32_t)json_integer_value(id), json_string_value(content),
		    json_string_length(content), 1, field, err))
			return -1;
	}
	return 0;
}

static int
check_merges(struct l32_tokenizer *t, const json_t *merges, struct l32_err *err)
{
	const json_t *m, *l, *r;
	const char *s, *sp;
	int32_t prev = -1;
	size_t i, n;
	char field[64], q[80];

	json_array_foreach(merges, i, m) {
		if (json_is_string(m)) {
			s = json_string_value(m);
			n = json_string_length(m);
			sp = memchr(s, ' ', n);
			if (sp == NULL || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - s)) != NULL)
				return l32_err_set(err, L32_ERR_FORMAT,
				    "%s: field model.merges[%zu]: \"%s\" is not \"left right\"", t->source,
				    i, tok_quote(q, sizeof(q), s, n));
			if (tok_check_merge(t, "model.merges", i, s, (size_t)(sp - s), sp + 1,
			    n - (size_t)(sp + 1 - s), &prev, err))
				return -1;
		} else if (json_is_array(m) && json_array_size(m) == 2 &&
		    json_is_string(l = json_array_get(m, 0)) && json_is_string(r = json_array_get(m, 1))) {
			if (tok_check_merge(t, "model.merges", i, json_string_value(l),
			    json_string_length(l), json_string_value(r), json_string_length(r), &prev, err))
				return -1;
		} else {
			snprintf(field, sizeof(field), "model.merges[%zu]", i);
			return wrong_type(t->source, field, m, "\"left right\" or [left, right]", err);
		}
	}
	return 0;
}

static struct l32_tokenizer *
from_json(const char *source, const json_t *root, struct l32_err *err)
{
	const json_t *model, *vocab, *merges, *added;
	struct l32_tokenizer *t;
	size_t n;

	if (!json_is_object(root)) {
		wrong_type(source, "(top level)", root, "an object", err);
		return NULL;
	}
	model = json_object_get(root, "model");
	if (!json_is_object(model)) {
		wrong_type(source, "model", model, "an object", err);
		return NULL;
	}
	vocab = json_object_get(model, "vocab");
	merges = json_object_get(model, "merges");
	added = json_object_get(root, "added_tokens");
	if (!json_is_object(vocab)) {
		wrong_type(source, "model.vocab", vocab, "an object", err);
		return NULL;
	}
	if (!json_is_array(merges)) {
		wrong_type(source, "model.merges", merges, "an array", err);
		return NULL;
	}
	if (!json_is_array(added)) {
		wrong_type(source, "added_tokens", added, "an array", err);
		return NULL;
	}
	if (check_pipeline(source, root, model, err) == -1)
		return NULL;
	/* Ids must be dense: 0 .. (vocab + added tokens) - 1. */
	n = json_object_size(vocab) + json_array_size(added);
	if ((t = tok_new(source, n, err)) == NULL)
		return NULL;
	if (load_vocab(t, vocab, err) == -1 || load_added(t, added, err) == -1 ||
	    tok_finish(t, -1, err) == -1 || check_merges(t, merges, err) == -1) {
		l32_tokenizer_free(t);
		return NULL;
	}
	return t;
}

struct l32_tokenizer *
tok_parse_hf(const char *source, const char *data, size_t len, struct l32_err *err)
{
	struct l32_tokenizer *t;
	json_error_t jerr;
	json_t *root;

	root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (root == NULL) {
		l32_err_set(err, L32_ERR_FORMAT, "%s: line %d, column %d: not valid JSON: %s",
		    source, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	t = from_json(source, root, err);
	json_decref(root);
	return t;
}

struct l32_tokenizer *
l32_tokenizer_load_hf(const char *path, struct l32_err *err)
{
	struct l32_tokenizer *t;
	char *data;
	size_t len;

	if (tok_read_file(path, &data, &len, err) == -1)
		return NULL;
	t = tok_parse_hf(path, data, len, err);
	free(data);
	return t;
}
