/*
 * model.c - opening a model: a GGUF file or a Hugging Face directory
 * becomes a struct l32_model whose tensors point into the file mappings.
 * What both formats share lives here: hyperparameter checks, mapping each
 * weight by role with its shape checked, norms as f32, RoPE frequencies and
 * the description.
 */
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/gguf.h"
#include "base/mapfile.h"
#include "model/model_load.h"
#include "formats/safetensors.h"

/* ------------------------------------------------------------ public API */

static struct l32_model *
model_new(const char *path, struct l32_err *err)
{
	struct l32_model *m;

	if ((m = calloc(1, sizeof(*m))) == NULL || (m->path = strdup(path)) == NULL) {
		free(m);
		l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", path);
		return NULL;
	}
	m->hp.bos = -1;
	m->gen_temperature = m->gen_top_p = -1;
	m->gen_top_k = -1;
	return m;
}

struct l32_model *
l32_model_open(const char *path, struct l32_err *err)
{
	return l32_model_open_with(path, 0, err);
}

struct l32_model *
l32_model_open_with(const char *path, unsigned flags, struct l32_err *err)
{
	struct l32_model *m;
	struct stat st;
	int rc;

	if (stat(path, &st) == -1) {
		l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((m = model_new(path, err)) == NULL)
		return NULL;
	if (S_ISDIR(st.st_mode)) {
		/* the shards are mapped as the index names them: fetch them after */
		if ((rc = l32_model_load_hf(m, err)) == 0 && (flags & L32_MODEL_PREFETCH))
			for (int i = 0; i < m->n_maps; i++)
				l32_mapfile_prefetch(&m->maps[i]);
	} else {
		rc = l32_mapfile_open(path, &m->maps[0], err);
		if (rc == 0) {
			m->n_maps = 1;
			/* the weights come in beside the header's parse and the
			 * tokenizer's build, on another core */
			if (flags & L32_MODEL_PREFETCH)
				l32_mapfile_prefetch(&m->maps[0]);
			rc = l32_model_load_gguf(m, m->maps[0].addr, m->maps[0].len, path, err);
		}
	}
	if (rc == -1) {
		l32_model_free(m);
		return NULL;
	}
	return m;
}

struct l32_model *
l32_model_from_gguf(const void *buf, size_t len, const char *source, struct l32_err *err)
{
	struct l32_model *m;

	if ((m = model_new(source, err)) == NULL)
		return NULL;
	if (l32_model_load_gguf(m, buf, len, source, err) == -1) {
		l32_model_free(m);
		return NULL;
	}
	return m;
}

void
l32_model_free(struct l32_model *m)
{
	int i;

	if (m == NULL)
		return;
	if (m->tok != NULL)
		l32_tokenizer_free(m->tok);
	for (i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->norm_store);
	free(m->w.layers);
	l32_gguf_free(m->gguf);
	for (i = 0; i < m->n_shards; i++)
		l32_safetensors_free(m->shards[i]);
	for (i = 0; i < m->n_maps; i++)
		l32_mapfile_close(&m->maps[i]);
	free(m->path);
	free(m);
}

const struct l32_hparams *
l32_model_hparams(const struct l32_model *m)
{
	return &m->hp;
}

struct l32_tokenizer *
l32_model_tokenizer(const struct l32_model *m)
{
	return m->tok;
}

const char *
l32_model_desc(const struct l32_model *m)
{
	return m->desc;
}

uint64_t
l32_model_weight_bytes(const struct l32_model *m)
{
	return m->weight_bytes;
}

int
l32_model_own(struct l32_model *m, void *p, struct l32_err *err)
{
	if (m->n_owned == (int)(sizeof(m->owned) / sizeof(m->owned[0]))) {
		free(p);
		return l32_err_set(err, L32_ERR_NOMEM, "%s: too many owned buffers", m->path);
	}
	m->owned[m->n_owned++] = p;
	return 0;
}

/* -------------------------------------------------------- hyperparameters */

int
l32_hparams_check(const char *source, const struct l32_hparams *hp, struct l32_err *err)
{
	int i;

	if (hp->n_heads % hp->n_kv_heads != 0)
		return l32_err_set(err, L32_ERR_FORMAT,
		    "%s: %d attention heads are not a multiple of %d key/value heads",
		    source, hp->n_heads, hp->n_kv_heads);
	if (hp->head_dim % 2 != 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: head dimension %d is odd; RoPE needs pairs",
		    source, hp->head_dim);
	if (!(hp->norm_eps > 0) || !isfinite(hp->norm_eps))
		return l32_err_set(err, L32_ERR_FORMAT, "%s: RMSNorm epsilon %g is not a positive number",
		    source, hp->norm_eps);
	if (!(hp->rope_theta > 0) || !isfinite(hp->rope_theta))
		return l32_err_set(err, L32_ERR_FORMAT, "%s: RoPE theta %g is not a positive number",
		    source, hp->rope_theta);
	if (hp->bos < -1 || hp->bos >= hp->vocab)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: BOS id %d is outside the vocabulary of %d",
		    source, hp->bos, hp->vocab);
	for (i = 0; i < hp->n_stop_ids; i++)
		if (hp->stop_ids[i] < 0 || hp->stop_ids[i] >= hp->vocab)
			return l32_err_set(err, L32_ERR_FORMAT,
			    "%s: stop id %d is outside the vocabulary of %d",
			    source, hp->stop_ids[i], hp->vocab);
	return 0;
}

int
l32_hparams_add_stop(const char *source, struct l32_hparams *hp, int32_t id,
    struct l32_err *err)
{
	int i, max = (int)(sizeof(hp->stop_ids) / sizeof(hp->stop_ids[0]));

	for (i = 0; i < hp->n_stop_ids; i++)
		if (hp->stop_ids[i] == id)
			return 0;
	if (hp->n_stop_ids == max)
		return l32_err_set(err, L32_ERR_UNSUPPORTED, "%s: more than %d stop ids (adding %d)",
		    source, max, id);
	hp->stop_ids[hp->n_stop_ids++] = id;
	return 0;
}

/* ------------------------------------------------------------------- RoPE */

/*
 * llama3 scaling: wavelengths shorter than orig_ctx / high_freq_factor keep
 * their frequency, longer than orig_ctx / low_freq_factor are divided by
 * factor, and those between blend the two linearly in orig_ctx / wavelen.
 */
void
l32_rope_freq_from_hparams(const struct l32_hparams *hp, float *freq)
{
	double f, wavelen, smooth, lo_wl, hi_wl;
	int i, half = hp->head_dim / 2;

	lo_wl = hp->rope_scaled ? hp->rope_orig_ctx / (double)hp->rope_low_freq_factor : 0;
	hi_wl = hp->rope_scaled ? hp->rope_orig_ctx / (double)hp->rope_high_freq_factor : 0;
	for (i = 0; i < half; i++) {
		f = pow(hp->rope_theta, -2.0 * i / hp->head_dim);
		if (hp->rope_scaled) {
			wavelen = 2 * M_PI / f;
			if (wavelen > lo_wl) {
				f /= hp->rope_factor;
			} else if (wavelen >= hi_wl) {
				smooth = (hp->rope_orig_ctx / wavelen - hp->rope_low_freq_factor) /
				    (hp->rope_high_freq_factor - hp->rope_low_freq_factor);
				f = (1 - smooth) * f / hp->rope_factor + smooth * f;
			}
		}
		freq[i] = (float)f;
	}
}

/* --------------------------------------------------------- tensor mapping */

static const char *const gguf_names[L32_R_COUNT] = {
	[L32_R_TOK_EMBD] = "token_embd.weight",
	[L32_R_OUTPUT_NORM] = "output_norm.weight",
	[L32_R_OUTPUT] = "output.weight",
	[L32_R_ATTN_NORM] = "blk.%d.attn_norm.weight",
	[L32_R_WQ] = "blk.%d.attn_q.weight",
	[L32_R_WK] = "blk.%d.attn_k.weight",
	[L32_R_WV] = "blk.%d.attn_v.weight",
	[L32_R_WO] = "blk.%d.attn_output.weight",
	[L32_R_FFN_NORM] = "blk.%d.ffn_norm.weight",
	[L32_R_W1] = "blk.%d.ffn_gate.weight",
	[L32_R_W2] = "blk.%d.ffn_down.weight",
	[L32_R_W3] = "blk.%d.ffn_up.weight",
};

static const char *const hf_names[L32_R_COUNT] = {
	[L32_R_TOK_EMBD] = "model.embed_tokens.weight",
	[L32_R_OUTPUT_NORM] = "model.norm.weight",
	[L32_R_OUTPUT] = "lm_head.weight",
	[L32_R_ATTN_NORM] = "model.layers.%d.input_layernorm.weight",
	[L32_R_WQ] = "model.layers.%d.self_attn.q_proj.weight",
	[L32_R_WK] = "model.layers.%d.self_attn.k_proj.weight",
	[L32_R_WV] = "model.layers.%d.self_attn.v_proj.weight",
	[L32_R_WO] = "model.layers.%d.self_attn.o_proj.weight",
	[L32_R_FFN_NORM] = "model.layers.%d.post_attention_layernorm.weight",
	[L32_R_W1] = "model.layers.%d.mlp.gate_proj.weight",
	[L32_R_W2] = "model.layers.%d.mlp.down_proj.weight",
	[L32_R_W3] = "model.layers.%d.mlp.up_proj.weight",
};

const char *
l32_role_name(const struct l32_loader *L, enum l32_role r, int layer, char *buf, size_t n)
{
	snprintf(buf, n, L->hf ? hf_names[r] : gguf_names[r], layer);
	return buf;
}

static void
fmt_dims(char *buf, size_t n, const int64_t *d, int nd)
{
	size_t at = 0;
	int i;

	at += (size_t)snprintf(buf, n, "[");
	for (i = 0; i < nd && at < n; i++)
		at += (size_t)snprintf(buf + at, n - at, "%s%" PRId64, i ? ", " : "", d[i]);
	if (at < n)
		snprintf(buf + at, n - at, "]");
}

/* The shape must be [rows, cols] (a vector when rows is 0), written in the
 * file's order; GGUF may add trailing dimensions of 1. */
static int
check_shape(struct l32_loader *L, const struct l32_src *s, int64_t rows, int64_t cols)
{
	char found[160], expected[64];
	int64_t want[2];
	int nw, i, ok;

	if (rows == 0) {
		want[0] = cols;
		nw = 1;
	} else {
		want[0] = L->hf ? rows : cols;
		want[1] = L->hf ? cols : rows;
		nw = 2;
	}
	ok = s->n_dims >= nw && (L->hf ? s->n_dims == nw : 1);
	for (i = 0; ok && i < s->n_dims; i++)
		ok = s->dims[i] == (i < nw ? want[i] : 1);
	if (ok)
		return 0;
	fmt_dims(found, sizeof(found), s->dims, s->n_dims);
	fmt_dims(expected, sizeof(expected), want, nw);
	return l32_err_set(L->err, L32_ERR_FORMAT, "%s: tensor %s: shape %s, expected %s",
	    s->file, s->name, found, expected);
}

static int
find_required(struct l32_loader *L, enum l32_role r, int layer, struct l32_src *s)
{
	char name[128];
	int rc;

	l32_role_name(L, r, layer, name, sizeof(name));
	if ((rc = L->find(L, name, s)) == 0)
		return l32_err_set(L->err, L32_ERR_FORMAT, "%s: tensor %s is missing", L->source, name);
	return rc == 1 ? 0 : -1;
}

static size_t
elem_align(enum l32_type t)
{
	return t == L32_TYPE_F32 ? 4 : 2; /* every block type starts with or holds f16s */
}

static void
tally(struct l32_loader *L, const struct l32_src *s, int64_t n)
{
	L->params += (uint64_t)n;
	L->m->weight_bytes += s->nbytes;
}

/* A matrix [rows, cols]; *found is 0 when optional and absent. */
static int
map_matrix(struct l32_loader *L, enum l32_role r, int layer, int64_t rows, int64_t cols,
    struct l32_tensor *t, int optional, int *found)
{
	struct l32_src s;
	char name[128];
	int rc;

	if (optional) {
		l32_role_name(L, r, layer, name, sizeof(name));
		if ((rc = L->find(L, name, &s)) != 1) {
			*found = 0;
			return rc;
		}
		*found = 1;
	} else if (find_required(L, r, layer, &s) == -1) {
		return -1;
	}
	if (check_shape(L, &s, rows, cols) == -1)
		return -1;
	if ((uintptr_t)s.data % elem_align(s.type) != 0)
		return l32_err_set(L->err, L32_ERR_UNSUPPORTED,
		    "%s: tensor %s: %s data is not aligned to %zu bytes", s.file, s.name,
		    l32_type_traits(s.type)->name, elem_align(s.type));
	t->name = s.name;
	t->type = s.type;
	t->cols = cols;
	t->rows = rows;
	t->data = s.data;
	t->row_bytes = l32_type_row_bytes(s.type, cols);
	tally(L, &s, rows * cols);
	L->type_count[s.type]++;
	L->type_bytes[s.type] += s.nbytes;
	return 0;
}

static float
f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31, e = h >> 10 & 0x1f, mant = h & 0x3ff, bits;
	float f;

	if (e == 0x1f) {
		bits = sign | 0x7f800000 | mant << 13;
	} else if (e != 0) {
		bits = sign | (e + 112) << 23 | mant << 13;
	} else {
		/* zero or subnormal: mant * 2^-24 */
		f = ldexpf((float)mant, -24);
		return sign ? -f : f;
	}
	memcpy(&f, &bits, 4);
	return f;
}

/* The next (dim) slot of norm_store, for norms that need converting. */
static float *
norm_slot(struct l32_loader *L)
{
	struct l32_model *m = L->m;
	size_t slots = 2 * (size_t)m->hp.n_layers + 1;

	if (m->norm_store == NULL &&
	    (m->norm_store = calloc(slots * (size_t)m->hp.dim, sizeof(float))) == NULL) {
		l32_err_set(L->err, L32_ERR_NOMEM, "%s: out of memory", L->source);
		return NULL;
	}
	return m->norm_store + (size_t)L->n_norms++ * (size_t)m->hp.dim;
}

/* A norm vector (dim) as f32: in place when the file holds aligned F32,
 * else converted into norm_store. */
static int
map_norm(struct l32_loader *L, enum l32_role r, int layer, const float **out)
{
	const uint8_t *p;
	struct l32_src s;
	float *dst;
	uint32_t bits;
	int64_t i, n = L->m->hp.dim;

	if (find_required(L, r, layer, &s) == -1 || check_shape(L, &s, 0, n) == -1)
		return -1;
	if (s.type != L32_TYPE_F32 && s.type != L32_TYPE_F16 && s.type != L32_TYPE_BF16)
		return l32_err_set(L->err, L32_ERR_UNSUPPORTED,
		    "%s: tensor %s: type %s for a norm (F32, F16 or BF16 expected)", s.file, s.name,
		    l32_type_traits(s.type)->name);
	tally(L, &s, n);
	if (s.type == L32_TYPE_F32 && (uintptr_t)s.data % sizeof(float) == 0) {
		*out = s.data;
		return 0;
	}
	if ((dst = norm_slot(L)) == NULL)
		return -1;
	p = s.data;
	for (i = 0; i < n; i++) {
		if (s.type == L32_TYPE_F32) {
			memcpy(&dst[i], p + 4 * i, 4);
			continue;
		}
		bits = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
		if (s.type == L32_TYPE_BF16) {
			bits <<= 16; /* bf16 is the high half of an f32 */
			memcpy(&dst[i], &bits, 4);
		} else {
			dst[i] = f16_to_f32((uint16_t)bits);
		}
	}
	*out = dst;
	return 0;
}

static int
map_layer(struct l32_loader *L, int i, struct l32_layer *l)
{
	const struct l32_hparams *hp = &L->m->hp;
	int64_t dim = hp->dim, q = (int64_t)hp->n_heads * hp->head_dim;
	int64_t kv = (int64_t)hp->n_kv_heads * hp->head_dim, ffn = hp->ffn_dim;

	return map_norm(L, L32_R_ATTN_NORM, i, &l->attn_norm) == -1 ||
	    map_matrix(L, L32_R_WQ, i, q, dim, &l->wq, 0, NULL) == -1 ||
	    map_matrix(L, L32_R_WK, i, kv, dim, &l->wk, 0, NULL) == -1 ||
	    map_matrix(L, L32_R_WV, i, kv, dim, &l->wv, 0, NULL) == -1 ||
	    map_matrix(L, L32_R_WO, i, dim, q, &l->wo, 0, NULL) == -1 ||
	    map_norm(L, L32_R_FFN_NORM, i, &l->ffn_norm) == -1 ||
	    map_matrix(L, L32_R_W1, i, ffn, dim, &l->w1, 0, NULL) == -1 ||
	    map_matrix(L, L32_R_W2, i, dim, ffn, &l->w2, 0, NULL) == -1 ||
	    map_matrix(L, L32_R_W3, i, ffn, dim, &l->w3, 0, NULL) == -1 ? -1 : 0;
}

/* "8.3M": the parameter count, shortened. */
static void
fmt_params(char *buf, size_t n, uint64_t p)
{
	if (p >= 1000000000)
		snprintf(buf, n, "%.1fB", p / 1e9);
	else if (p >= 1000000)
		snprintf(buf, n, "%.1fM", p / 1e6);
	else if (p >= 1000)
		snprintf(buf, n, "%.1fK", p / 1e3);
	else
		snprintf(buf, n, "%" PRIu64, p);
}

/* "llama 8.3M Q8_0": the type most matrices have (ties: most bytes). */
static void
describe(struct l32_loader *L)
{
	char params[32];
	int t, best = -1;

	for (t = 0; t < L32_TYPE_COUNT; t++)
		if (L->type_count[t] > 0 && (best < 0 || L->type_count[t] > L->type_count[best] ||
		    (L->type_count[t] == L->type_count[best] && L->type_bytes[t] > L->type_bytes[best])))
			best = t;
	fmt_params(params, sizeof(params), L->params);
	snprintf(L->m->desc, sizeof(L->m->desc), "llama %s %s", params,
	    best >= 0 ? l32_type_traits(best)->name : "?");
}

int
l32_model_map_weights(struct l32_loader *L)
{
	struct l32_model *m = L->m;
	struct l32_hparams *hp = &m->hp;
	int i, found;

	if ((m->w.layers = calloc((size_t)hp->n_layers, sizeof(*m->w.layers))) == NULL)
		return l32_err_set(L->err, L32_ERR_NOMEM, "%s: out of memory", L->source);
	if (map_matrix(L, L32_R_TOK_EMBD, 0, hp->vocab, hp->dim, &m->w.tok_embd, 0, NULL) == -1 ||
	    map_norm(L, L32_R_OUTPUT_NORM, 0, &m->w.output_norm) == -1)
		return -1;
	for (i = 0; i < hp->n_layers; i++)
		if (map_layer(L, i, &m->w.layers[i]) == -1)
			return -1;
	found = L->tie == 0; /* a required output tensor fails when absent */
	if (L->tie != 1 && map_matrix(L, L32_R_OUTPUT, 0, hp->vocab, hp->dim, &m->w.output,
	    L->tie == -1, &found) == -1)
		return -1;
	hp->tied_output = !found;
	if (!found)
		m->w.output = m->w.tok_embd;
	describe(L);
	return 0;
}
