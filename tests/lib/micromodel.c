/*
 * micromodel.c - very small llama models as GGUF images and Hugging Face
 * directories (see micromodel.h).
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ggufw.h"
#include "micromodel.h"

void
micro_defaults(struct micro_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->dim = 8;
	o->n_layers = 1;
	o->n_heads = 2;
	o->n_kv_heads = 1;
	o->head_dim = 4;
	o->ffn_dim = 16;
	o->vocab = 16;
	o->type = L32_TYPE_F32;
	o->version = 3;
}

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

float
micro_value(const char *name, int64_t i, int norm)
{
	uint64_t h = fnv1a(name) + (uint64_t)i * 0x9E3779B97F4A7C15ULL;

	h ^= h >> 29;
	if (norm)
		return 1 + (float)((int)(h % 9) - 4) / 64;
	return (float)((int)(h % 97) - 48) / 64;
}

int
micro_bytelevel(unsigned char b, char out[3])
{
	unsigned cp;
	int k, i;

	if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE) {
		cp = b;
	} else {
		/* the other 68 bytes, in increasing order, from U+0100 */
		for (k = 0, i = 0; i < b; i++)
			if (!((i >= 0x21 && i <= 0x7E) || (i >= 0xA1 && i <= 0xAC) || i >= 0xAE))
				k++;
		cp = 0x100 + (unsigned)k;
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	out[0] = (char)(0xC0 | cp >> 6);
	out[1] = (char)(0x80 | (cp & 0x3F));
	return 2;
}

/* ---------------------------------------------------------------- tensors */

enum { T_MATRIX, T_NORM, T_ROPE };

struct spec {
	const char *gguf, *hf;   /* name formats (%d: layer) */
	int kind;
};

static const struct spec globals_pre[] = {
	{ "token_embd.weight", "model.embed_tokens.weight", T_MATRIX },
};
static const struct spec layer_specs[] = {
	{ "blk.%d.attn_norm.weight", "model.layers.%d.input_layernorm.weight", T_NORM },
	{ "blk.%d.attn_q.weight", "model.layers.%d.self_attn.q_proj.weight", T_MATRIX },
	{ "blk.%d.attn_k.weight", "model.layers.%d.self_attn.k_proj.weight", T_MATRIX },
	{ "blk.%d.attn_v.weight", "model.layers.%d.self_attn.v_proj.weight", T_MATRIX },
	{ "blk.%d.attn_output.weight", "model.layers.%d.self_attn.o_proj.weight", T_MATRIX },
	{ "blk.%d.ffn_norm.weight", "model.layers.%d.post_attention_layernorm.weight", T_NORM },
	{ "blk.%d.ffn_gate.weight", "model.layers.%d.mlp.gate_proj.weight", T_MATRIX },
	{ "blk.%d.ffn_up.weight", "model.layers.%d.mlp.up_proj.weight", T_MATRIX },
	{ "blk.%d.ffn_down.weight", "model.layers.%d.mlp.down_proj.weight", T_MATRIX },
};

/* One tensor to write: [rows, cols] (rows 0 for a vector). */
struct mt {
	char name[96];
	int kind;
	int64_t rows, cols;
	enum l32_type type;
	void *data;
	size_t nbytes;
};

struct mlist {
	struct mt t[128];
	int n;
};

static void
shape_of(const struct micro_opts *o, const char *gguf_fmt, int64_t *rows, int64_t *cols)
{
	int64_t q = (int64_t)o->n_heads * o->head_dim, kv = (int64_t)o->n_kv_heads * o->head_dim;

	*rows = 0;
	*cols = o->dim;
	if (strstr(gguf_fmt, "token_embd") || strstr(gguf_fmt, "output.weight") == gguf_fmt)
		*rows = o->vocab;
	else if (strstr(gguf_fmt, "attn_q"))
		*rows = q;
	else if (strstr(gguf_fmt, "attn_k") || strstr(gguf_fmt, "attn_v"))
		*rows = kv;
	else if (strstr(gguf_fmt, "attn_output"))
		*rows = o->dim, *cols = q;
	else if (strstr(gguf_fmt, "ffn_gate") || strstr(gguf_fmt, "ffn_up"))
		*rows = o->ffn_dim;
	else if (strstr(gguf_fmt, "ffn_down"))
		*rows = o->dim, *cols = o->ffn_dim;
	else if (strstr(gguf_fmt, "rope_freqs"))
		*cols = o->head_dim / 2;
}

static uint16_t
to_f16(float f)
{
	uint32_t b;
	int e;

	memcpy(&b, &f, 4);
	if ((b & 0x7fffffff) == 0)
		return (uint16_t)(b >> 16);
	e = (int)(b >> 23 & 0xff) - 127 + 15; /* the values are normal in f16 */
	return (uint16_t)((b >> 16 & 0x8000) | (uint32_t)e << 10 | (b & 0x7fffff) >> 13);
}

/* Fills t->data with the tensor's values in its type. */
static int
fill(struct mt *t, const char *value_name)
{
	int64_t i, n = (t->rows ? t->rows : 1) * t->cols;
	size_t size = t->type == L32_TYPE_F32 ? 4 : 2;
	unsigned char *p;
	uint32_t bits;
	float v;

	t->nbytes = (size_t)n * size;
	if ((p = t->data = malloc(t->nbytes)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (t->kind == T_ROPE)
			v = i < t->cols / 2 ? 1.0f : 8.0f; /* divisors like llama3's */
		else
			v = micro_value(value_name, i, t->kind == T_NORM);
		memcpy(&bits, &v, 4);
		if (t->type == L32_TYPE_F32)
			memcpy(p + 4 * i, &bits, 4);
		else if (t->type == L32_TYPE_BF16)
			bits >>= 16, memcpy(p + 2 * i, &bits, 2);
		else
			bits = to_f16(v), memcpy(p + 2 * i, &bits, 2);
	}
	return 0;
}

static int
add(struct mlist *l, const struct micro_opts *o, const struct spec *s, int layer, int hf)
{
	struct mt *t;

	if (l->n == (int)(sizeof(l->t) / sizeof(l->t[0])))
		return -1;
	t = &l->t[l->n];
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), hf ? s->hf : s->gguf, layer);
	if (o->skip != NULL && strcmp(o->skip, t->name) == 0)
		return 0;
	t->kind = s->kind;
	shape_of(o, s->gguf, &t->rows, &t->cols);
	/* GGUF keeps norms and rope_freqs in F32, as llama.cpp writes them. */
	t->type = s->kind == T_MATRIX || hf ? o->type : L32_TYPE_F32;
	if (fill(t, t->name) == -1)
		return -1;
	if (o->reshape != NULL && strcmp(o->reshape, t->name) == 0) {
		if (t->rows)
			t->rows++;
		else
			t->cols++;
		free(t->data);
		if (fill(t, t->name) == -1)
			return -1;
	}
	l->n++;
	return 0;
}

static int
build(struct mlist *l, const struct micro_opts *o, int hf)
{
	static const struct spec out_norm = { "output_norm.weight", "model.norm.weight", T_NORM };
	static const struct spec output = { "output.weight", "lm_head.weight", T_MATRIX };
	static const struct spec rope = { "rope_freqs.weight", "", T_ROPE };
	size_t k;
	int i;

	l->n = 0;
	if (add(l, o, &globals_pre[0], 0, hf) == -1)
		return -1;
	for (i = 0; i < o->n_layers; i++)
		for (k = 0; k < sizeof(layer_specs) / sizeof(layer_specs[0]); k++)
			if (add(l, o, &layer_specs[k], i, hf) == -1)
				return -1;
	if (add(l, o, &out_norm, 0, hf) == -1 ||
	    (o->untied && add(l, o, &output, 0, hf) == -1) ||
	    (o->rope_freqs && !hf && add(l, o, &rope, 0, hf) == -1))
		return -1;
	return 0;
}

static void
mlist_free(struct mlist *l)
{
	int i;

	for (i = 0; i < l->n; i++)
		free(l->t[i].data);
	l->n = 0;
}

/* ------------------------------------------------------------------ GGUF */

static int
skip_key(const struct micro_opts *o, const char *key)
{
	return o->drop_key != NULL && strcmp(o->drop_key, key) == 0;
}

static int
retyped(const struct micro_opts *o, const char *key)
{
	return o->retype_key != NULL && strcmp(o->retype_key, key) == 0;
}

static int
kv_u32(struct ggufw *w, const struct micro_opts *o, const char *key, uint32_t v)
{
	if (skip_key(o, key))
		return 0;
	return retyped(o, key) ? ggufw_kv_str(w, key, "7") : ggufw_kv_u32(w, key, v);
}

static int
kv_f32(struct ggufw *w, const struct micro_opts *o, const char *key, float v)
{
	if (skip_key(o, key))
		return 0;
	return retyped(o, key) ? ggufw_kv_str(w, key, "1") : ggufw_kv_f32(w, key, v);
}

static int
kv_str(struct ggufw *w, const struct micro_opts *o, const char *key, const char *v)
{
	if (skip_key(o, key))
		return 0;
	return retyped(o, key) ? ggufw_kv_u32(w, key, 1) : ggufw_kv_str(w, key, v);
}

static int
gguf_vocab(struct ggufw *w, const struct micro_opts *o)
{
	static const char *const specials[] = { "<|begin_of_text|>", "<|end_of_text|>",
	    "<|eom_id|>", "<|eot_id|>" };
	static const char *const merges[] = { "\xc4\xa0 t", "h e" }; /* "Ġ t" */
	char bytes[256][3];
	const char *tok[MICRO_TOK_VOCAB];
	size_t lens[MICRO_TOK_VOCAB];
	int32_t types[MICRO_TOK_VOCAB];
	int i, rc = 0;

	for (i = 0; i < 256; i++) {
		lens[i] = (size_t)micro_bytelevel((unsigned char)i, bytes[i]);
		tok[i] = bytes[i];
		types[i] = 1;
	}
	tok[256] = "\xc4\xa0t", lens[256] = 3, types[256] = 1;
	tok[257] = "he", lens[257] = 2, types[257] = 1;
	for (i = 0; i < 4; i++) {
		tok[258 + i] = specials[i];
		lens[258 + i] = strlen(specials[i]);
		types[258 + i] = 3;
	}
	rc |= kv_str(w, o, "tokenizer.ggml.model", "gpt2");
	rc |= kv_str(w, o, "tokenizer.ggml.pre", "llama-bpe");
	if (!skip_key(o, "tokenizer.ggml.tokens"))
		rc |= retyped(o, "tokenizer.ggml.tokens") ?
		    ggufw_kv_arr(w, "tokenizer.ggml.tokens", L32_GGUF_I32, types, MICRO_TOK_VOCAB) :
		    ggufw_kv_arr_str(w, "tokenizer.ggml.tokens", tok, lens, MICRO_TOK_VOCAB);
	if (!skip_key(o, "tokenizer.ggml.token_type"))
		rc |= ggufw_kv_arr(w, "tokenizer.ggml.token_type", L32_GGUF_I32, types, MICRO_TOK_VOCAB);
	if (!skip_key(o, "tokenizer.ggml.merges"))
		rc |= ggufw_kv_arr_str(w, "tokenizer.ggml.merges", merges, NULL, 2);
	rc |= kv_u32(w, o, "tokenizer.ggml.bos_token_id", 258);
	rc |= kv_u32(w, o, "tokenizer.ggml.eos_token_id", 261);
	rc |= ggufw_kv_bool(w, "tokenizer.ggml.add_bos_token", 1);
	return rc ? -1 : 0;
}

static int
gguf_meta(struct ggufw *w, const struct micro_opts *o)
{
	int rc = 0;

	rc |= kv_str(w, o, "general.architecture", "llama");
	rc |= kv_str(w, o, "general.name", "micro");
	rc |= kv_u32(w, o, "llama.block_count", (uint32_t)o->n_layers);
	rc |= kv_u32(w, o, "llama.context_length", 4096);
	rc |= kv_u32(w, o, "llama.embedding_length", (uint32_t)o->dim);
	rc |= kv_u32(w, o, "llama.feed_forward_length", (uint32_t)o->ffn_dim);
	rc |= kv_u32(w, o, "llama.attention.head_count", (uint32_t)o->n_heads);
	rc |= kv_u32(w, o, "llama.attention.head_count_kv", (uint32_t)o->n_kv_heads);
	rc |= kv_f32(w, o, "llama.rope.freq_base", 500000.0f);
	rc |= kv_f32(w, o, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
	rc |= kv_u32(w, o, "llama.attention.key_length", (uint32_t)o->head_dim);
	rc |= kv_u32(w, o, "llama.attention.value_length", (uint32_t)o->head_dim);
	rc |= kv_u32(w, o, "general.file_type", o->type == L32_TYPE_F32 ? 0 : o->type == L32_TYPE_F16 ? 1 : 32);
	rc |= kv_u32(w, o, "llama.vocab_size", (uint32_t)o->vocab);
	rc |= kv_u32(w, o, "llama.rope.dimension_count", (uint32_t)o->head_dim);
	if (rc == 0 && o->tokenizer)
		rc = gguf_vocab(w, o);
	return rc ? -1 : 0;
}

int
micro_gguf(const struct micro_opts *o, struct l32_buf *out)
{
	struct mlist *l = calloc(1, sizeof(*l));
	struct ggufw *w = ggufw_new();
	int64_t ne[2];
	int i, rc = -1;

	if (l == NULL || w == NULL || build(l, o, 0) == -1)
		goto out;
	ggufw_set_version(w, (uint32_t)o->version);
	if (gguf_meta(w, o) == -1)
		goto out;
	for (i = 0; i < l->n; i++) {
		ne[0] = l->t[i].cols;
		ne[1] = l->t[i].rows;
		if (ggufw_tensor(w, l->t[i].name, l->t[i].type, l->t[i].rows ? 2 : 1, ne,
		    l->t[i].data) == -1)
			goto out;
	}
	rc = ggufw_write_buf(w, out);
out:
	if (l != NULL)
		mlist_free(l);
	free(l);
	ggufw_free(w);
	return rc;
}

/* ----------------------------------------------------------- Hugging Face */

static int
write_json(const char *dir, const char *name, json_t *j)
{
	char path[1024];
	int rc;

	if (j == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	rc = json_dump_file(j, path, JSON_INDENT(2));
	json_decref(j);
	return rc;
}

static void
set_key(json_t *cfg, const struct micro_opts *o, const char *key, json_t *v)
{
	if (skip_key(o, key)) {
		json_decref(v);
		return;
	}
	if (retyped(o, key)) {
		json_t *w = json_is_string(v) ? json_integer(1) : json_string("7");

		json_decref(v);
		v = w;
	}
	json_object_set_new(cfg, key, v);
}

static json_t *
hf_config(const struct micro_opts *o)
{
	json_t *c = json_object();

	set_key(c, o, "architectures", json_pack("[s]", "LlamaForCausalLM"));
	set_key(c, o, "model_type", json_string("llama"));
	set_key(c, o, "hidden_size", json_integer(o->dim));
	set_key(c, o, "intermediate_size", json_integer(o->ffn_dim));
	set_key(c, o, "num_hidden_layers", json_integer(o->n_layers));
	set_key(c, o, "num_attention_heads", json_integer(o->n_heads));
	set_key(c, o, "num_key_value_heads", json_integer(o->n_kv_heads));
	set_key(c, o, "head_dim", json_integer(o->head_dim));
	set_key(c, o, "max_position_embeddings", json_integer(4096));
	set_key(c, o, "rms_norm_eps", json_real(1e-5));
	set_key(c, o, "rope_theta", json_real(500000.0));
	set_key(c, o, "rope_scaling", json_pack("{s:f, s:f, s:f, s:i, s:s}", "factor", 32.0,
	    "high_freq_factor", 4.0, "low_freq_factor", 1.0,
	    "original_max_position_embeddings", 8192, "rope_type", "llama3"));
	set_key(c, o, "tie_word_embeddings", json_boolean(!o->untied));
	set_key(c, o, "vocab_size", json_integer(o->vocab));
	set_key(c, o, "bos_token_id", json_integer(1));
	set_key(c, o, "eos_token_id", json_pack("[i, i]", 2, 3));
	set_key(c, o, "torch_dtype", json_string("bfloat16"));
	return c;
}

static const char *
dtype_name(enum l32_type t)
{
	return t == L32_TYPE_F32 ? "F32" : t == L32_TYPE_F16 ? "F16" : "BF16";
}

static int
write_shard(const struct mlist *l, const char *dir, const char *file, int shard, int shards)
{
	struct stw *w = stw_new();
	struct l32_err err;
	int64_t shape[2];
	char path[1024];
	int i, rc = -1;

	if (w == NULL)
		return -1;
	stw_meta(w, "format", "pt");
	for (i = 0; i < l->n; i++) {
		if (i % shards != shard)
			continue;
		shape[0] = l->t[i].rows ? l->t[i].rows : l->t[i].cols;
		shape[1] = l->t[i].cols;
		if (stw_tensor(w, l->t[i].name, dtype_name(l->t[i].type), l->t[i].rows ? 2 : 1,
		    shape, l->t[i].data, l->t[i].nbytes) == -1)
			goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	rc = stw_write_file(w, path, &err);
out:
	stw_free(w);
	return rc;
}

int
micro_hf_dir(const struct micro_opts *o, const char *dir, int shards)
{
	struct mlist *l = calloc(1, sizeof(*l));
	json_t *wm = NULL;
	char file[64];
	int s, i, rc = -1;

	if (l == NULL || (mkdir(dir, 0755) == -1 && errno != EEXIST) || build(l, o, 1) == -1)
		goto out;
	if (write_json(dir, "config.json", hf_config(o)) == -1 ||
	    write_json(dir, "generation_config.json", json_pack("{s:f, s:f, s:[i, i], s:b}",
	    "temperature", 0.6, "top_p", 0.9, "eos_token_id", 2, 3, "do_sample", 1)) == -1)
		goto out;
	if (shards <= 1) {
		rc = write_shard(l, dir, "model.safetensors", 0, 1);
		goto out;
	}
	wm = json_object();
	for (s = 0; s < shards; s++) {
		snprintf(file, sizeof(file), "model-%05d-of-%05d.safetensors", s + 1, shards);
		if (write_shard(l, dir, file, s, shards) == -1)
			goto out;
		for (i = s; i < l->n; i += shards)
			json_object_set_new(wm, l->t[i].name, json_string(file));
	}
	rc = write_json(dir, "model.safetensors.index.json",
	    json_pack("{s:{s:i}, s:O}", "metadata", "total_size", 0, "weight_map", wm));
out:
	json_decref(wm);
	if (l != NULL)
		mlist_free(l);
	free(l);
	return rc;
}

int
micro_hf_tokenizer(const char *dir)
{
	static const char *const specials[] = { "<|begin_of_text|>", "<|end_of_text|>",
	    "<|eom_id|>", "<|eot_id|>" };
	static const char regex[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"
	    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
	json_t *vocab = json_object(), *added = json_array();
	char s[3], key[4];
	int i, n;

	for (i = 0; i < 256; i++) {
		n = micro_bytelevel((unsigned char)i, s);
		memcpy(key, s, (size_t)n);
		key[n] = '\0';
		json_object_set_new(vocab, key, json_integer(i));
	}
	json_object_set_new(vocab, "\xc4\xa0t", json_integer(256));
	json_object_set_new(vocab, "he", json_integer(257));
	for (i = 0; i < 4; i++)
		json_array_append_new(added, json_pack("{s:i, s:s, s:b}", "id", 258 + i,
		    "content", specials[i], "special", 1));
	return write_json(dir, "tokenizer.json", json_pack(
	    "{s:o, s:n, s:{s:s, s:[{s:s, s:{s:s}, s:s}, {s:s, s:b}]}, s:{s:s, s:o, s:[s, s]}}",
	    "added_tokens", added, "normalizer",
	    "pre_tokenizer", "type", "Sequence", "pretokenizers",
	    "type", "Split", "pattern", "Regex", regex, "behavior", "Isolated",
	    "type", "ByteLevel", "add_prefix_space", 0,
	    "model", "type", "BPE", "vocab", vocab, "merges", "\xc4\xa0 t", "h e"));
}
