/*
 * recipe.c - the golden checkpoints' weights, regenerated bit-exactly, and
 * in-memory models made of them (see recipe.h and the golden README).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/quant.h"
#include "recipe.h"

/* ----------------------------------------------------------------- configs */

static const struct l32_recipe_config configs[] = {
	/* name   dim  layers heads kv  hd   ffn   vocab   e: embd attn w2 */
	{ "tiny",   64,  2,  4, 2,  16,  192, 128256,  9, 10, 11 },
	{ "mini",  256,  4,  8, 2,  32,  768, 128256, 10, 11, 12 },
	{ "1B",   2048, 16, 32, 8,  64, 8192, 128256, 12, 13, 14 },
	{ "3B",   3072, 28, 24, 8, 128, 8192, 128256, 12, 13, 14 },
};

const struct l32_recipe_config *
l32_recipe_config(const char *name)
{
	for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++)
		if (strcmp(configs[i].name, name) == 0)
			return &configs[i];
	return NULL;
}

/* ----------------------------------------------------------------- streams */

uint64_t
l32_recipe_fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

uint64_t
l32_recipe_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t
l32_recipe_state(const char *name, uint64_t seed)
{
	return l32_recipe_mix64(seed ^ l32_recipe_fnv1a64(name));
}

uint64_t
l32_recipe_r(uint64_t state, uint64_t i)
{
	return l32_recipe_mix64(state + (i + 1) * 0x9e3779b97f4a7c15ull);
}

float
l32_recipe_matrix_value(uint64_t r, int e)
{
	int u = (int)(r >> 56);

	/* 2^-e is exact in f32 for the exponents in use (9..14), so the
	 * product is exact too */
	return (float)(2 * u - 255) * (1.0f / (float)(1u << e));
}

float
l32_recipe_norm_value(uint64_t r)
{
	int k = (int)(r >> 59);

	return 1.0f + (float)(k - 16) / 128.0f;
}

void
l32_recipe_fill(const char *name, uint64_t seed, enum l32_recipe_kind kind,
    int e, uint64_t first, float *out, size_t n)
{
	uint64_t state = l32_recipe_state(name, seed);

	for (size_t i = 0; i < n; i++) {
		uint64_t r = l32_recipe_r(state, first + i);

		out[i] = kind == L32_RECIPE_NORM ? l32_recipe_norm_value(r) :
		    l32_recipe_matrix_value(r, e);
	}
}

int
l32_recipe_tensor_kind(const struct l32_recipe_config *cfg, const char *name,
    enum l32_recipe_kind *kind, int *e)
{
	char part[32], w[8];
	int layer, used = 0;

	*kind = L32_RECIPE_MATRIX;
	*e = 0;
	if (strcmp(name, "tok_embeddings.weight") == 0) {
		*e = cfg->e_embd;
		return 0;
	}
	if (strcmp(name, "norm.weight") == 0) {
		*kind = L32_RECIPE_NORM;
		return 0;
	}
	if (sscanf(name, "layers.%d.%31[a-z_].%n", &layer, part, &used) != 2 ||
	    used == 0 || layer < 0 || layer >= cfg->n_layers)
		return -1;
	name += used;
	if ((strcmp(part, "attention_norm") == 0 || strcmp(part, "ffn_norm") == 0) &&
	    strcmp(name, "weight") == 0) {
		*kind = L32_RECIPE_NORM;
		return 0;
	}
	if (sscanf(name, "%7[a-z0-9].weight%n", w, &used) != 1 ||
	    name[used] != '\0')
		return -1;
	if (strcmp(part, "attention") == 0 && (strcmp(w, "wq") == 0 ||
	    strcmp(w, "wk") == 0 || strcmp(w, "wv") == 0 || strcmp(w, "wo") == 0)) {
		*e = cfg->e_attn;
		return 0;
	}
	if (strcmp(part, "feed_forward") == 0) {
		if (strcmp(w, "w1") == 0 || strcmp(w, "w3") == 0) {
			*e = cfg->e_attn;
			return 0;
		}
		if (strcmp(w, "w2") == 0) {
			*e = cfg->e_w2;
			return 0;
		}
	}
	return -1;
}

/* ------------------------------------------------------------ quantizers */

/* Q8_0: d = max|x| / 127 (f16), q = roundf(x * (1/d)), 1/d in f32 */
void
l32_recipe_quantize_q8_0(const float *x, void *out, int64_t n)
{
	uint8_t *b = out;

	for (int64_t i = 0; i < n; i += 32, x += 32, b += 34) {
		float amax = 0.0f, d, id;
		uint16_t h;

		for (int j = 0; j < 32; j++)
			if (fabsf(x[j]) > amax)
				amax = fabsf(x[j]);
		d = amax / 127.0f;
		id = d != 0.0f ? 1.0f / d : 0.0f;
		h = l32_f32_to_f16(d);
		memcpy(b, &h, sizeof(h));
		for (int j = 0; j < 32; j++)
			b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
	}
}

/* Q4_0: max = the element of largest magnitude (first on ties),
 * d = max / -8 (f16), q = min(15, trunc(x * (1/d) + 8.5)) in double; element
 * j in the low nibble of byte j, j + 16 in the high one. */
void
l32_recipe_quantize_q4_0(const float *x, void *out, int64_t n)
{
	uint8_t *b = out;

	for (int64_t i = 0; i < n; i += 32, x += 32, b += 18) {
		float amax = 0.0f, max = 0.0f, d, id;
		int q[32];
		uint16_t h;

		for (int j = 0; j < 32; j++)
			if (fabsf(x[j]) > amax) {
				amax = fabsf(x[j]);
				max = x[j];
			}
		d = max / -8.0f;
		id = d != 0.0f ? 1.0f / d : 0.0f;
		h = l32_f32_to_f16(d);
		memcpy(b, &h, sizeof(h));
		for (int j = 0; j < 32; j++) {
			double v = (double)x[j] * (double)id + 8.5;

			q[j] = (int)v;  /* truncation; v >= 0.5 */
			if (q[j] > 15)
				q[j] = 15;
		}
		for (int j = 0; j < 16; j++)
			b[2 + j] = (uint8_t)(q[j] | q[j + 16] << 4);
	}
}

/* ------------------------------------------------------------------- RoPE */

/* Meta's reference computes these in f32: f_i = 1 / theta^(2i/hd), then the
 * llama3 smoothing between the low and high frequency wavelengths. */
void
l32_recipe_rope_freq(int head_dim, double theta, double factor, double low,
    double high, double orig_ctx, float *freq)
{
	float low_wavelen = (float)(orig_ctx / low);
	float high_wavelen = (float)(orig_ctx / high);

	for (int i = 0; i < head_dim / 2; i++) {
		float f = 1.0f / (float)pow(theta, (double)(2 * i) / head_dim);
		float wavelen = (float)(2.0 * M_PI) / f;

		if (wavelen < high_wavelen) {
			freq[i] = f;
		} else if (wavelen > low_wavelen) {
			freq[i] = f / (float)factor;
		} else {
			float smooth = ((float)orig_ctx / wavelen - (float)low) /
			    (float)(high - low);

			freq[i] = (1.0f - smooth) * f / (float)factor + smooth * f;
		}
	}
}

/* ------------------------------------------------------------------- model */

/* The allocations of a recipe model, kept in m->owned[]. */
enum {
	OWN_DATA,    /* all tensor bytes */
	OWN_NORMS,   /* all norm vectors, f32 */
	OWN_LAYERS,  /* (n_layers) struct l32_layer */
	OWN_ROPE,    /* (head_dim/2) */
	OWN_NAMES,   /* tensor names */
	OWN_COUNT,
};

#define NAME_LEN 48

struct builder {
	const struct l32_recipe_config *cfg;
	enum l32_type type;
	uint64_t seed;
	char *data;       /* tensor bytes */
	size_t used;      /* bytes of data handed out */
	char *names;      /* NAME_LEN per tensor */
	int n_names;
	float *row;       /* (max cols) one row in f32 */
};

static size_t
align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

static const char *
builder_name(struct builder *b, const char *fmt, int layer)
{
	char *s = b->names + (size_t)b->n_names++ * NAME_LEN;

	snprintf(s, NAME_LEN, fmt, layer);
	return s;
}

/* Generates a [rows, cols] matrix row by row into the next bytes of data,
 * quantizing each row when the model type asks for it. */
static void
build_matrix(struct builder *b, struct l32_tensor *t, const char *name,
    int64_t rows, int64_t cols, int e)
{
	size_t rb = l32_type_row_bytes(b->type, cols);
	char *dst = b->data + b->used;

	t->name = name;
	t->type = b->type;
	t->rows = rows;
	t->cols = cols;
	t->row_bytes = rb;
	t->data = dst;
	for (int64_t r = 0; r < rows; r++, dst += rb) {
		float *row = b->type == L32_TYPE_F32 ? (float *)dst : b->row;

		l32_recipe_fill(name, b->seed, L32_RECIPE_MATRIX, e,
		    (uint64_t)(r * cols), row, (size_t)cols);
		if (b->type == L32_TYPE_Q8_0)
			l32_recipe_quantize_q8_0(row, dst, cols);
		else if (b->type == L32_TYPE_Q4_0)
			l32_recipe_quantize_q4_0(row, dst, cols);
	}
	b->used += align64(rb * (size_t)rows);
}

static size_t
model_bytes(const struct l32_recipe_config *c, enum l32_type type)
{
	int32_t q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
	size_t per_layer =
	    align64(l32_type_row_bytes(type, c->dim) * (size_t)q) +
	    2 * align64(l32_type_row_bytes(type, c->dim) * (size_t)kv) +
	    align64(l32_type_row_bytes(type, q) * (size_t)c->dim) +
	    2 * align64(l32_type_row_bytes(type, c->dim) * (size_t)c->ffn_dim) +
	    align64(l32_type_row_bytes(type, c->ffn_dim) * (size_t)c->dim);

	return align64(l32_type_row_bytes(type, c->dim) * (size_t)c->vocab) +
	    per_layer * (size_t)c->n_layers;
}

static void
fill_hparams(struct l32_hparams *hp, const struct l32_recipe_config *c)
{
	memset(hp, 0, sizeof(*hp));
	hp->dim = c->dim;
	hp->n_layers = c->n_layers;
	hp->n_heads = c->n_heads;
	hp->n_kv_heads = c->n_kv_heads;
	hp->head_dim = c->head_dim;
	hp->ffn_dim = c->ffn_dim;
	hp->vocab = c->vocab;
	hp->ctx_train = 131072;
	hp->norm_eps = 1e-5f;
	hp->rope_theta = 500000.0f;
	hp->rope_scaled = 1;
	hp->rope_factor = 32.0f;
	hp->rope_low_freq_factor = 1.0f;
	hp->rope_high_freq_factor = 4.0f;
	hp->rope_orig_ctx = 8192;
	hp->tied_output = 1;
	hp->bos = 128000;
	hp->stop_ids[0] = 128001;
	hp->stop_ids[1] = 128008;
	hp->stop_ids[2] = 128009;
	hp->n_stop_ids = 3;
}

static void
build_layers(struct builder *b, struct l32_model *m, float *norms)
{
	const struct l32_recipe_config *c = b->cfg;
	int32_t q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;

	for (int l = 0; l < c->n_layers; l++) {
		struct l32_layer *L = &m->w.layers[l];
		float *an = norms + (size_t)(2 * l) * c->dim;
		float *fn = norms + (size_t)(2 * l + 1) * c->dim;

		l32_recipe_fill(builder_name(b, "layers.%d.attention_norm.weight", l),
		    b->seed, L32_RECIPE_NORM, 0, 0, an, (size_t)c->dim);
		L->attn_norm = an;
		build_matrix(b, &L->wq, builder_name(b, "layers.%d.attention.wq.weight", l),
		    q, c->dim, c->e_attn);
		build_matrix(b, &L->wk, builder_name(b, "layers.%d.attention.wk.weight", l),
		    kv, c->dim, c->e_attn);
		build_matrix(b, &L->wv, builder_name(b, "layers.%d.attention.wv.weight", l),
		    kv, c->dim, c->e_attn);
		build_matrix(b, &L->wo, builder_name(b, "layers.%d.attention.wo.weight", l),
		    c->dim, q, c->e_attn);
		l32_recipe_fill(builder_name(b, "layers.%d.ffn_norm.weight", l),
		    b->seed, L32_RECIPE_NORM, 0, 0, fn, (size_t)c->dim);
		L->ffn_norm = fn;
		build_matrix(b, &L->w1, builder_name(b, "layers.%d.feed_forward.w1.weight", l),
		    c->ffn_dim, c->dim, c->e_attn);
		build_matrix(b, &L->w2, builder_name(b, "layers.%d.feed_forward.w2.weight", l),
		    c->dim, c->ffn_dim, c->e_w2);
		build_matrix(b, &L->w3, builder_name(b, "layers.%d.feed_forward.w3.weight", l),
		    c->ffn_dim, c->dim, c->e_attn);
	}
}

struct l32_model *
l32_recipe_model(const char *config, enum l32_type type, uint64_t seed,
    struct l32_err *err)
{
	const struct l32_recipe_config *c = l32_recipe_config(config);
	struct builder b;
	struct l32_model *m;
	size_t bytes;
	float *norms;

	if (c == NULL) {
		l32_err_set(err, L32_ERR_INVALID, "recipe: unknown config %s", config);
		return NULL;
	}
	if (type != L32_TYPE_F32 && type != L32_TYPE_Q8_0 && type != L32_TYPE_Q4_0) {
		l32_err_set(err, L32_ERR_UNSUPPORTED,
		    "recipe: weights of type %d (F32, Q8_0 or Q4_0 only)", (int)type);
		return NULL;
	}
	memset(&b, 0, sizeof(b));
	b.cfg = c;
	b.type = type;
	b.seed = seed;
	bytes = model_bytes(c, type);
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		goto nomem;
	m->n_owned = OWN_COUNT;
	m->owned[OWN_DATA] = b.data = aligned_alloc(64, bytes);
	m->owned[OWN_NORMS] = norms = calloc((size_t)(2 * c->n_layers + 1) *
	    (size_t)c->dim, sizeof(float));
	m->owned[OWN_LAYERS] = m->w.layers = calloc((size_t)c->n_layers,
	    sizeof(struct l32_layer));
	m->owned[OWN_ROPE] = m->w.rope_freq = calloc((size_t)c->head_dim / 2,
	    sizeof(float));
	m->owned[OWN_NAMES] = b.names = calloc((size_t)(9 * c->n_layers + 2),
	    NAME_LEN);
	b.row = malloc((size_t)(c->ffn_dim > c->dim ? c->ffn_dim : c->dim) *
	    sizeof(float) * 2);
	m->path = malloc(64);
	if (b.data == NULL || norms == NULL || m->w.layers == NULL ||
	    m->w.rope_freq == NULL || b.names == NULL || b.row == NULL ||
	    m->path == NULL)
		goto nomem;
	snprintf(m->path, 64, "recipe:%s", c->name);

	fill_hparams(&m->hp, c);
	snprintf(m->desc, sizeof(m->desc), "llama %s %s (recipe, seed %llu)",
	    c->name, l32_type_traits(type)->name, (unsigned long long)seed);
	/* tensors in Meta order: embeddings, layers, final norm */
	build_matrix(&b, &m->w.tok_embd, builder_name(&b, "tok_embeddings.weight", 0),
	    c->vocab, c->dim, c->e_embd);
	build_layers(&b, m, norms);
	m->w.output_norm = norms + (size_t)(2 * c->n_layers) * c->dim;
	l32_recipe_fill(builder_name(&b, "norm.weight", 0), seed, L32_RECIPE_NORM,
	    0, 0, norms + (size_t)(2 * c->n_layers) * c->dim, (size_t)c->dim);
	m->w.output = m->w.tok_embd;
	m->w.rope_halves = 0;
	l32_recipe_rope_freq(c->head_dim, m->hp.rope_theta, m->hp.rope_factor,
	    m->hp.rope_low_freq_factor, m->hp.rope_high_freq_factor,
	    m->hp.rope_orig_ctx, m->w.rope_freq);
	m->gen_temperature = m->gen_top_p = -1.0f;
	m->gen_top_k = -1;
	m->weight_bytes = b.used;
	free(b.row);
	return m;

nomem:
	free(b.row);
	l32_recipe_model_free(m);
	l32_err_set(err, L32_ERR_NOMEM, "recipe: cannot allocate the %s model (%zu bytes)",
	    c->name, bytes);
	return NULL;
}

void
l32_recipe_model_free(struct l32_model *m)
{
	if (m == NULL)
		return;
	for (int i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->path);
	free(m);
}
