/*
 * test_model_open.c - l32_model_open on the golden files (F32 GGUF, HF BF16
 * directory, the llama.cpp Q4_K_M files): hyperparameters, tensor types and
 * shapes, first values against $L32_SHARED/golden/README.md, the HF q/k
 * permutation against the GGUF file, RoPE frequencies, tied output, stop
 * ids and the tokenizer.  Then micro models (tests/lib/micromodel.c) in
 * every float type and format, and damaged ones: each must give NULL and a
 * message naming the file and what is wrong.
 */
#include <sys/stat.h>

#include <check.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "base/mapfile.h"
#include "micromodel.h"
#include "model/model.h"

/* ---------------------------------------------------------------- helpers */

static const char *
golden(const char *rel)
{
	const char *s = getenv("L32_SHARED");
	static char path[8][4096];
	static int k;
	char *p = path[k++ % 8];

	snprintf(p, sizeof(path[0]), "%s/golden/%s", s != NULL && *s ? s : "../shared", rel);
	if (access(p, R_OK) != 0)
		ck_abort_msg("reference data missing: %s (set L32_SHARED)", p);
	return p;
}

static struct l32_model *
open_ok(const char *path)
{
	struct l32_err err = { 0 };
	struct l32_model *m = l32_model_open(path, &err);

	ck_assert_msg(m != NULL, "%s", err.msg);
	return m;
}

static void
expect_open_fail(const char *path, const char *name, const char *want)
{
	struct l32_err err = { 0 };
	struct l32_model *m = l32_model_open(path, &err);

	ck_assert_msg(m == NULL, "%s opened (want \"%s\")", path, want);
	ck_assert_msg(strstr(err.msg, name) != NULL, "message does not name %s: %s", name, err.msg);
	ck_assert_msg(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
}

static struct l32_model *
micro_open(const struct micro_opts *o, struct l32_buf *b, struct l32_err *err)
{
	l32_buf_reset(b);
	ck_assert(micro_gguf(o, b) == 0);
	return l32_model_from_gguf(b->data, b->len, "micro.gguf", err);
}

static void
expect_micro_fail(const struct micro_opts *o, const char *want, enum l32_err_kind kind)
{
	struct l32_buf b = { 0 };
	struct l32_err err = { 0 };
	struct l32_model *m = micro_open(o, &b, &err);

	ck_assert_msg(m == NULL, "opened (want \"%s\")", want);
	ck_assert_msg(strncmp(err.msg, "micro.gguf: ", 12) == 0, "message does not name the file: %s",
	    err.msg);
	ck_assert_msg(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
	if (kind != L32_ERR_NONE)
		ck_assert_msg(err.kind == kind, "kind %d, want %d: %s", err.kind, kind, err.msg);
	l32_buf_free(&b);
}

static float
f32_at(const void *p, size_t i)
{
	float f;

	memcpy(&f, (const char *)p + 4 * i, 4);
	return f;
}

static float
f16_to_f32(uint16_t h)
{
	int e = h >> 10 & 0x1f, mant = h & 0x3ff;
	float f = e == 0 ? ldexpf((float)mant, -24) : ldexpf((float)(mant | 0x400), e - 25);

	return h & 0x8000 ? -f : f;
}

/* Element i of a float tensor (F32, F16, BF16). */
static float
value_at(const struct l32_tensor *t, int64_t row, int64_t col)
{
	const unsigned char *p = (const unsigned char *)t->data + (size_t)row * t->row_bytes;
	uint32_t bits;
	float f;

	switch (t->type) {
	case L32_TYPE_F32:
		return f32_at(p, (size_t)col);
	case L32_TYPE_BF16:
		bits = (uint32_t)(p[2 * col] | p[2 * col + 1] << 8) << 16;
		memcpy(&f, &bits, 4);
		return f;
	case L32_TYPE_F16:
		return f16_to_f32((uint16_t)(p[2 * col] | p[2 * col + 1] << 8));
	default:
		ck_abort_msg("%s: not a float type", t->name);
		return 0;
	}
}

static int
has_stop(const struct l32_hparams *hp, int32_t id)
{
	int i;

	for (i = 0; i < hp->n_stop_ids; i++)
		if (hp->stop_ids[i] == id)
			return 1;
	return 0;
}

static void
check_tiny_hparams(const struct l32_hparams *hp)
{
	ck_assert_int_eq(hp->dim, 64);
	ck_assert_int_eq(hp->n_layers, 2);
	ck_assert_int_eq(hp->n_heads, 4);
	ck_assert_int_eq(hp->n_kv_heads, 2);
	ck_assert_int_eq(hp->head_dim, 16);
	ck_assert_int_eq(hp->ffn_dim, 192);
	ck_assert_int_eq(hp->vocab, 128256);
	ck_assert_int_eq(hp->ctx_train, 131072);
	ck_assert(fabsf(hp->norm_eps - 1e-5f) < 1e-12f);
	ck_assert(hp->rope_theta == 500000.0f);
	ck_assert_int_eq(hp->rope_scaled, 1);
	ck_assert(hp->rope_factor == 32.0f);
	ck_assert_int_eq(hp->tied_output, 1);
	ck_assert_int_eq(hp->bos, 128000);
	ck_assert_int_eq(hp->n_stop_ids, 3);
	ck_assert(has_stop(hp, 128001) && has_stop(hp, 128008) && has_stop(hp, 128009));
}

static void
check_shape(const struct l32_tensor *t, enum l32_type type, int64_t rows, int64_t cols)
{
	ck_assert_msg(t->type == type && t->rows == rows && t->cols == cols,
	    "%s: type %d [%lld, %lld], want type %d [%lld, %lld]", t->name, t->type,
	    (long long)t->rows, (long long)t->cols, type, (long long)rows, (long long)cols);
	ck_assert_uint_eq(t->row_bytes, l32_type_row_bytes(type, cols));
}

/* |a - b| within rel of |b|. */
static void
near(double a, double b, double rel, const char *what, int i)
{
	ck_assert_msg(fabs(a - b) <= rel * fabs(b), "%s[%d]: %.9g, want %.9g", what, i, a, b);
}

/* --------------------------------------------------------------- temp dirs */

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void
rm_rf(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char tmp[256];

static void
tmp_setup(void)
{
	snprintf(tmp, sizeof(tmp), "%s/l32-model-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static void
tmp_teardown(void)
{
	rm_rf(tmp);
}

static const char *
tpath(const char *name)
{
	static char p[4][512];
	static int k;
	char *s = p[k++ % 4];

	snprintf(s, sizeof(p[0]), "%s/%s", tmp, name);
	return s;
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s", path);
	fputs(text, f);
	ck_assert(fclose(f) == 0);
}

static void
write_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_msg(f != NULL, "%s", path);
	ck_assert(fwrite(p, 1, n, f) == n);
	ck_assert(fclose(f) == 0);
}

/* ------------------------------------------------------------- golden GGUF */

static const double tiny_rope_freqs[8] = { 1, 1, 1, 1, 3.2922626, 32, 32, 32 };

START_TEST(golden_f32_gguf)
{
	static const float embd[4] = { -0.267578125f, 0.412109375f, 0.048828125f, -0.173828125f };
	static const float wq[4] = { 0.0283203125f, -0.0498046875f, 0.1943359375f, -0.1376953125f };
	static const float w2[4] = { -0.04052734375f, 0.02294921875f, -0.08251953125f, -0.00732421875f };
	static const float anorm[4] = { 0.96875f, 0.953125f, 1.0f, 0.90625f };
	static const float onorm[4] = { 1.1171875f, 0.890625f, 0.953125f, 0.9921875f };
	struct l32_model *m = open_ok(golden("tiny/llama32-tiny-s0-F32.gguf"));
	const struct l32_weights *w = &m->w;
	struct l32_hparams hp = *l32_model_hparams(m);
	float ref[8];
	int i, l;

	check_tiny_hparams(&hp);
	check_shape(&w->tok_embd, L32_TYPE_F32, 128256, 64);
	ck_assert_str_eq(w->tok_embd.name, "token_embd.weight");
	for (l = 0; l < 2; l++) {
		check_shape(&w->layers[l].wq, L32_TYPE_F32, 64, 64);
		check_shape(&w->layers[l].wk, L32_TYPE_F32, 32, 64);
		check_shape(&w->layers[l].wv, L32_TYPE_F32, 32, 64);
		check_shape(&w->layers[l].wo, L32_TYPE_F32, 64, 64);
		check_shape(&w->layers[l].w1, L32_TYPE_F32, 192, 64);
		check_shape(&w->layers[l].w2, L32_TYPE_F32, 64, 192);
		check_shape(&w->layers[l].w3, L32_TYPE_F32, 192, 64);
	}
	ck_assert_str_eq(w->layers[1].w2.name, "blk.1.ffn_down.weight");
	for (i = 0; i < 4; i++) {
		ck_assert(value_at(&w->tok_embd, 0, i) == embd[i]);
		ck_assert(value_at(&w->layers[0].wq, 0, i) == wq[i]);
		ck_assert(value_at(&w->layers[1].w2, 0, i) == w2[i]);
		ck_assert(w->layers[0].attn_norm[i] == anorm[i]);
		ck_assert(w->output_norm[i] == onorm[i]);
	}
	/* tied: the output is the embedding's view */
	ck_assert_ptr_eq(w->output.data, w->tok_embd.data);
	ck_assert(w->output.rows == 128256 && w->output.cols == 64);
	/* RoPE: the rope_freqs divisors, which are the llama3 formula's */
	ck_assert_int_eq(w->rope_halves, 0);
	hp.rope_low_freq_factor = 1;
	hp.rope_high_freq_factor = 4;
	hp.rope_orig_ctx = 8192;
	l32_rope_freq_from_hparams(&hp, ref);
	for (i = 0; i < 8; i++) {
		near(w->rope_freq[i], pow(500000.0, -2.0 * i / 16) / tiny_rope_freqs[i], 1e-6, "rope_freq", i);
		near(w->rope_freq[i], ref[i], 1e-6, "llama3 formula", i);
	}
	ck_assert_ptr_nonnull(l32_model_tokenizer(m));
	ck_assert_int_eq(l32_tokenizer_n_vocab(l32_model_tokenizer(m)), 128256);
	ck_assert_int_eq(l32_tokenizer_eot(l32_model_tokenizer(m)), 128009);
	ck_assert_str_eq(l32_model_desc(m), "llama 8.3M F32");
	ck_assert_uint_eq(l32_model_weight_bytes(m), 4 * 8307008ULL);
	l32_model_free(m);
}
END_TEST

/* Meta/GGUF row of HF q/k row r: HF h*hd + j*hd/2 + i = Meta h*hd + 2i + j. */
static int64_t
meta_row(int64_t r, int hd)
{
	int64_t h = r / hd, k = r % hd, j = k / (hd / 2), i = k % (hd / 2);

	return h * hd + 2 * i + j;
}

static void
same_matrix(const struct l32_tensor *hf, const struct l32_tensor *gg, int permuted, int hd)
{
	int64_t r, c;

	ck_assert(hf->rows == gg->rows && hf->cols == gg->cols);
	for (r = 0; r < hf->rows; r++)
		for (c = 0; c < hf->cols; c++)
			if (value_at(hf, r, c) != value_at(gg, permuted ? meta_row(r, hd) : r, c))
				ck_abort_msg("%s [%lld, %lld] differs from %s", hf->name, (long long)r,
				    (long long)c, gg->name);
}

START_TEST(golden_hf_bf16)
{
	struct l32_model *m = open_ok(golden("tiny/hf-bf16"));
	struct l32_model *g = open_ok(golden("tiny/llama32-tiny-s0-F32.gguf"));
	const struct l32_weights *w = &m->w;
	const struct l32_hparams *hp = l32_model_hparams(m);
	int i, l;

	check_tiny_hparams(hp);
	ck_assert(hp->rope_low_freq_factor == 1 && hp->rope_high_freq_factor == 4);
	ck_assert_int_eq(hp->rope_orig_ctx, 8192);
	ck_assert(m->gen_temperature == 0.6f && m->gen_top_p == 0.9f && m->gen_top_k == -1);
	ck_assert_int_eq(w->rope_halves, 1);
	for (i = 0; i < 8; i++)
		near(w->rope_freq[i], g->w.rope_freq[i], 1e-6, "rope_freq", i);
	check_shape(&w->tok_embd, L32_TYPE_BF16, 128256, 64);
	ck_assert_str_eq(w->tok_embd.name, "model.embed_tokens.weight");
	ck_assert_ptr_eq(w->output.data, w->tok_embd.data);
	/* every weight equals the F32 file's (values have 8 significant bits);
	 * q and k rows through the rotate-half permutation */
	same_matrix(&w->tok_embd, &g->w.tok_embd, 0, 16);
	for (l = 0; l < 2; l++) {
		const struct l32_layer *a = &w->layers[l], *b = &g->w.layers[l];

		check_shape(&a->wk, L32_TYPE_BF16, 32, 64);
		same_matrix(&a->wq, &b->wq, 1, 16);
		same_matrix(&a->wk, &b->wk, 1, 16);
		same_matrix(&a->wv, &b->wv, 0, 16);
		same_matrix(&a->wo, &b->wo, 0, 16);
		same_matrix(&a->w1, &b->w1, 0, 16);
		same_matrix(&a->w2, &b->w2, 0, 16);
		same_matrix(&a->w3, &b->w3, 0, 16);
		for (i = 0; i < 64; i++)
			ck_assert(a->attn_norm[i] == b->attn_norm[i] && a->ffn_norm[i] == b->ffn_norm[i]);
	}
	for (i = 0; i < 64; i++)
		ck_assert(w->output_norm[i] == g->w.output_norm[i]);
	/* and the permutation is not the identity: row 1 of HF q is Meta row 2 */
	ck_assert(value_at(&w->layers[0].wq, 1, 0) != value_at(&g->w.layers[0].wq, 1, 0));
	ck_assert_ptr_nonnull(l32_model_tokenizer(m));
	ck_assert_str_eq(l32_model_desc(m), "llama 8.3M BF16");
	ck_assert_uint_eq(l32_model_weight_bytes(m), 2 * 8307008ULL);
	l32_model_free(m);
	l32_model_free(g);
}
END_TEST

static float
q8_0_first(const struct l32_tensor *t)
{
	const unsigned char *p = t->data;

	return f16_to_f32((uint16_t)(p[0] | p[1] << 8)) * (float)(int8_t)p[2];
}

static float
q5_0_first(const struct l32_tensor *t, float *d)
{
	const unsigned char *p = t->data;
	int q = (p[6] & 0xf) | (p[2] & 1) << 4;

	*d = f16_to_f32((uint16_t)(p[0] | p[1] << 8));
	return (float)(q - 16) * *d;
}

START_TEST(golden_q4_k_m_tiny)
{
	struct l32_model *m = open_ok(golden("tiny/llama32-tiny-s0-Q4_K_M.gguf"));
	const struct l32_weights *w = &m->w;
	float d;
	int i;

	check_tiny_hparams(l32_model_hparams(m));
	check_shape(&w->tok_embd, L32_TYPE_Q8_0, 128256, 64);
	ck_assert_uint_eq(w->tok_embd.row_bytes, 68);
	check_shape(&w->layers[0].wq, L32_TYPE_Q5_0, 64, 64);
	ck_assert_uint_eq(w->layers[0].wq.row_bytes, 44);
	check_shape(&w->layers[0].wv, L32_TYPE_Q5_0, 32, 64);
	check_shape(&w->layers[0].w2, L32_TYPE_Q5_0, 64, 192);
	check_shape(&w->layers[1].wv, L32_TYPE_Q8_0, 32, 64);
	check_shape(&w->layers[1].w2, L32_TYPE_Q8_0, 64, 192);
	check_shape(&w->layers[1].w1, L32_TYPE_Q5_0, 192, 64);
	/* found by name although stored in another order: first values agree
	 * with the recipe within a quantization step */
	ck_assert(fabsf(q8_0_first(&w->tok_embd) - -0.267578125f) < 0.005f);
	ck_assert(fabsf(q5_0_first(&w->layers[0].wq, &d) - 0.0283203125f) <= d);
	ck_assert(w->layers[0].attn_norm[0] == 0.96875f && w->output_norm[0] == 1.1171875f);
	ck_assert_ptr_eq(w->output.data, w->tok_embd.data);
	for (i = 0; i < 8; i++)
		near(w->rope_freq[i], pow(500000.0, -2.0 * i / 16) / tiny_rope_freqs[i], 1e-6, "rope_freq", i);
	ck_assert_ptr_nonnull(l32_model_tokenizer(m));
	ck_assert_str_eq(l32_model_desc(m), "llama 8.3M Q5_0");
	l32_model_free(m);
}
END_TEST

START_TEST(golden_q4_k_m_mini)
{
	struct l32_model *m = open_ok(golden("mini/llama32-mini-s0-Q4_K_M.gguf"));
	const struct l32_weights *w = &m->w;
	struct l32_hparams hp = *l32_model_hparams(m);
	float ref[16];
	int i, l;

	ck_assert(hp.dim == 256 && hp.n_layers == 4 && hp.n_heads == 8 && hp.n_kv_heads == 2);
	ck_assert(hp.head_dim == 32 && hp.ffn_dim == 768 && hp.vocab == 128256);
	ck_assert(hp.tied_output == 1 && hp.bos == 128000 && has_stop(&hp, 128009));
	check_shape(&w->tok_embd, L32_TYPE_Q6_K, 128256, 256);
	ck_assert_uint_eq(w->tok_embd.row_bytes, 210);
	for (l = 0; l < 4; l++) {
		check_shape(&w->layers[l].wq, L32_TYPE_Q4_K, 256, 256);
		check_shape(&w->layers[l].wk, L32_TYPE_Q4_K, 64, 256);
		check_shape(&w->layers[l].wv, l >= 2 ? L32_TYPE_Q6_K : L32_TYPE_Q4_K, 64, 256);
		check_shape(&w->layers[l].w2, l >= 2 ? L32_TYPE_Q6_K : L32_TYPE_Q4_K, 256, 768);
		check_shape(&w->layers[l].w1, L32_TYPE_Q4_K, 768, 256);
	}
	ck_assert_uint_eq(w->layers[3].w2.row_bytes, 3 * 210);
	hp.rope_low_freq_factor = 1;
	hp.rope_high_freq_factor = 4;
	hp.rope_orig_ctx = 8192;
	l32_rope_freq_from_hparams(&hp, ref);
	for (i = 0; i < 16; i++)
		near(w->rope_freq[i], ref[i], 2e-6, "rope_freq", i);
	ck_assert_str_eq(l32_model_desc(m), "llama 35.9M Q4_K");
	l32_model_free(m);
}
END_TEST

START_TEST(rope_formula)
{
	struct l32_hparams hp = { 0 };
	float f[64];
	int i;

	/* unscaled: theta^(-2i/hd) */
	hp.head_dim = 128;
	hp.rope_theta = 10000;
	l32_rope_freq_from_hparams(&hp, f);
	for (i = 0; i < 64; i++)
		near(f[i], pow(10000.0, -2.0 * i / 128), 1e-6, "plain", i);
	/* llama3, 3B shape: high frequencies kept, low ones / 32, a blend between */
	hp.rope_theta = 500000;
	hp.rope_scaled = 1;
	hp.rope_factor = 32;
	hp.rope_low_freq_factor = 1;
	hp.rope_high_freq_factor = 4;
	hp.rope_orig_ctx = 8192;
	l32_rope_freq_from_hparams(&hp, f);
	for (i = 0; i < 64; i++) {
		double b = pow(500000.0, -2.0 * i / 128), wl = 2 * M_PI / b, s, want;

		if (wl < 8192 / 4.0)
			want = b;
		else if (wl > 8192)
			want = b / 32;
		else
			s = (8192 / wl - 1) / 3, want = (1 - s) * b / 32 + s * b;
		near(f[i], want, 1e-6, "llama3", i);
	}
	ck_assert(f[0] == 1.0f);
}
END_TEST

/* ----------------------------------------------------------- micro models */

/* Every tensor of a micro model holds micro_value of its name. */
static void
check_micro_values(const struct l32_model *m, int hf)
{
	const struct l32_hparams *hp = &m->hp;
	const struct l32_tensor *mats[7];
	const float *norms[2];
	char name[128];
	int64_t r, c;
	int l, k, i;

	for (r = 0; r < m->w.tok_embd.rows; r++)
		for (c = 0; c < hp->dim; c++)
			ck_assert(value_at(&m->w.tok_embd, r, c) ==
			    micro_value(m->w.tok_embd.name, r * hp->dim + c, 0));
	for (l = 0; l < hp->n_layers; l++) {
		const struct l32_layer *L = &m->w.layers[l];

		mats[0] = &L->wq, mats[1] = &L->wk, mats[2] = &L->wv, mats[3] = &L->wo;
		mats[4] = &L->w1, mats[5] = &L->w2, mats[6] = &L->w3;
		for (k = 0; k < 7; k++)
			for (r = 0; r < mats[k]->rows; r++)
				for (c = 0; c < mats[k]->cols; c++)
					ck_assert_msg(value_at(mats[k], r, c) ==
					    micro_value(mats[k]->name, r * mats[k]->cols + c, 0),
					    "%s [%lld, %lld]", mats[k]->name, (long long)r, (long long)c);
		norms[0] = L->attn_norm, norms[1] = L->ffn_norm;
		for (k = 0; k < 2; k++) {
			snprintf(name, sizeof(name), hf ? (k ? "model.layers.%d.post_attention_layernorm.weight" :
			    "model.layers.%d.input_layernorm.weight") : (k ? "blk.%d.ffn_norm.weight" :
			    "blk.%d.attn_norm.weight"), l);
			for (i = 0; i < hp->dim; i++)
				ck_assert_msg(norms[k][i] == micro_value(name, i, 1), "%s[%d]", name, i);
		}
	}
	for (i = 0; i < hp->dim; i++)
		ck_assert(m->w.output_norm[i] == micro_value(hf ? "model.norm.weight" : "output_norm.weight", i, 1));
}

START_TEST(micro_gguf_types)
{
	static const enum l32_type types[3] = { L32_TYPE_F32, L32_TYPE_F16, L32_TYPE_BF16 };
	static const char *const descs[3] = { "llama 856 F32", "llama 856 F16", "llama 856 BF16" };
	struct micro_opts o;
	struct l32_buf b = { 0 };
	struct l32_err err = { 0 };
	struct l32_model *m;
	int t, i;

	for (t = 0; t < 3; t++) {
		micro_defaults(&o);
		o.type = types[t];
		o.untied = 1;
		o.rope_freqs = 1;
		m = micro_open(&o, &b, &err);
		ck_assert_msg(m != NULL, "%s", err.msg);
		check_micro_values(m, 0);
		ck_assert_int_eq(m->hp.tied_output, 0);
		ck_assert_str_eq(m->w.output.name, "output.weight");
		ck_assert(m->w.output.type == types[t] && m->w.output.rows == 16);
		ck_assert(value_at(&m->w.output, 3, 1) == micro_value("output.weight", 3 * 8 + 1, 0));
		/* rope_freqs: divisors 1 then 8 */
		near(m->w.rope_freq[0], 1.0, 1e-7, "rope_freq", 0);
		near(m->w.rope_freq[1], pow(500000.0, -0.5) / 8, 1e-6, "rope_freq", 1);
		ck_assert(m->hp.rope_scaled == 1 && m->hp.rope_factor == 8);
		ck_assert_ptr_null(l32_model_tokenizer(m));
		ck_assert_int_eq(m->hp.n_stop_ids, 0);
		ck_assert_int_eq(m->hp.bos, -1);
		ck_assert_str_eq(l32_model_desc(m), descs[t]);
		l32_model_free(m);
	}
	/* tied and no rope_freqs: frequencies from theta alone */
	micro_defaults(&o);
	m = micro_open(&o, &b, &err);
	ck_assert_msg(m != NULL, "%s", err.msg);
	ck_assert(m->hp.tied_output == 1 && m->w.output.data == m->w.tok_embd.data);
	ck_assert_int_eq(m->hp.rope_scaled, 0);
	for (i = 0; i < 2; i++)
		near(m->w.rope_freq[i], pow(500000.0, -2.0 * i / 4), 1e-6, "rope_freq", i);
	l32_model_free(m);
	/* GGUF v2 reads the same */
	o.version = 2;
	m = micro_open(&o, &b, &err);
	ck_assert_msg(m != NULL, "%s", err.msg);
	l32_model_free(m);
	l32_buf_free(&b);
}
END_TEST

START_TEST(micro_gguf_tokenizer)
{
	struct micro_opts o;
	struct l32_buf b = { 0 };
	struct l32_err err = { 0 };
	struct l32_model *m;

	micro_defaults(&o);
	o.tokenizer = 1;
	o.vocab = MICRO_TOK_VOCAB;
	m = micro_open(&o, &b, &err);
	ck_assert_msg(m != NULL, "%s", err.msg);
	ck_assert_ptr_nonnull(l32_model_tokenizer(m));
	ck_assert_int_eq(l32_tokenizer_n_vocab(l32_model_tokenizer(m)), MICRO_TOK_VOCAB);
	ck_assert_int_eq(m->hp.bos, 258);
	/* eos 261 (<|eot_id|>), then eom and end_of_text found by name */
	ck_assert_int_eq(m->hp.n_stop_ids, 3);
	ck_assert(has_stop(&m->hp, 261) && has_stop(&m->hp, 260) && has_stop(&m->hp, 259));
	l32_model_free(m);
	/* the vocabulary size may come from the token list */
	o.drop_key = "llama.vocab_size";
	m = micro_open(&o, &b, &err);
	ck_assert_msg(m != NULL, "%s", err.msg);
	ck_assert_int_eq(m->hp.vocab, MICRO_TOK_VOCAB);
	l32_model_free(m);
	l32_buf_free(&b);

	o.drop_key = "tokenizer.ggml.merges";
	expect_micro_fail(&o, "metadata key tokenizer.ggml.merges is missing", L32_ERR_FORMAT);
	o.drop_key = "tokenizer.ggml.model";
	expect_micro_fail(&o, "metadata key tokenizer.ggml.model is missing", L32_ERR_FORMAT);
	o.drop_key = "tokenizer.ggml.token_type";
	expect_micro_fail(&o, "token_type", L32_ERR_NONE);
	o.drop_key = NULL;
	o.retype_key = "tokenizer.ggml.tokens";
	expect_micro_fail(&o, "metadata key tokenizer.ggml.tokens: type array of i32, expected array of string",
	    L32_ERR_FORMAT);
	o.retype_key = "tokenizer.ggml.model";
	expect_micro_fail(&o, "metadata key tokenizer.ggml.model: type u32, expected string", L32_ERR_FORMAT);
	o.retype_key = "tokenizer.ggml.bos_token_id";
	expect_micro_fail(&o, "metadata key tokenizer.ggml.bos_token_id: type string, expected an integer",
	    L32_ERR_FORMAT);
	o.retype_key = NULL;
	o.vocab = 200;
	expect_micro_fail(&o, "metadata key tokenizer.ggml.bos_token_id: value 258 out of range 0..199",
	    L32_ERR_FORMAT);
}
END_TEST

START_TEST(micro_gguf_tokenizer_model)
{
	struct micro_opts o;
	struct l32_buf b = { 0 };
	struct l32_err err = { 0 };
	char *p;

	micro_defaults(&o);
	o.tokenizer = 1;
	o.vocab = MICRO_TOK_VOCAB;
	ck_assert(micro_gguf(&o, &b) == 0);
	p = memmem(b.data, b.len, "gpt2", 4);
	ck_assert_ptr_nonnull(p);
	memcpy(p, "bert", 4);
	ck_assert_ptr_null(l32_model_from_gguf(b.data, b.len, "micro.gguf", &err));
	ck_assert_str_eq(err.msg,
	    "micro.gguf: metadata key tokenizer.ggml.model: value \"bert\" is not supported (gpt2 is)");
	ck_assert_int_eq(err.kind, L32_ERR_UNSUPPORTED);
	l32_buf_free(&b);
}
END_TEST

START_TEST(micro_hf_dirs)
{
	static const enum l32_type types[3] = { L32_TYPE_F32, L32_TYPE_F16, L32_TYPE_BF16 };
	struct micro_opts o;
	struct l32_model *m;
	char dir[512];
	int t, shards;

	for (t = 0; t < 3; t++)
		for (shards = 1; shards <= 3; shards += 2) {
			micro_defaults(&o);
			o.type = types[t];
			o.untied = t == 1;
			snprintf(dir, sizeof(dir), "%s/hf-%d-%d", tmp, t, shards);
			ck_assert(micro_hf_dir(&o, dir, shards) == 0);
			m = open_ok(dir);
			check_micro_values(m, 1);
			ck_assert_int_eq(m->w.rope_halves, 1);
			ck_assert_int_eq(m->hp.tied_output, t != 1);
			if (t == 1)
				ck_assert_str_eq(m->w.output.name, "lm_head.weight");
			ck_assert_int_eq(m->n_shards, shards);
			ck_assert(m->hp.bos == 1 && m->hp.n_stop_ids == 2 && has_stop(&m->hp, 3));
			ck_assert(m->gen_temperature == 0.6f && m->gen_top_p == 0.9f);
			ck_assert(m->hp.rope_scaled == 1 && m->hp.rope_factor == 32);
			ck_assert_ptr_null(l32_model_tokenizer(m));
			/* F16/BF16 norms are converted copies */
			ck_assert((m->norm_store != NULL) == (t != 0));
			l32_model_free(m);
		}
	/* with a tokenizer.json */
	micro_defaults(&o);
	o.vocab = MICRO_TOK_VOCAB;
	snprintf(dir, sizeof(dir), "%s/hf-tok", tmp);
	ck_assert(micro_hf_dir(&o, dir, 1) == 0);
	ck_assert(micro_hf_tokenizer(dir) == 0);
	m = open_ok(dir);
	ck_assert_ptr_nonnull(l32_model_tokenizer(m));
	ck_assert_int_eq(l32_tokenizer_n_vocab(l32_model_tokenizer(m)), MICRO_TOK_VOCAB);
	ck_assert_int_eq(l32_tokenizer_eot(l32_model_tokenizer(m)), 261);
	l32_model_free(m);
}
END_TEST

/* -------------------------------------------------------- damaged GGUF */

START_TEST(micro_gguf_keys)
{
	static const char *const required[] = {
		"general.architecture", "llama.block_count", "llama.embedding_length",
		"llama.feed_forward_length", "llama.attention.head_count", "llama.context_length",
		"llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base",
	};
	static const char *const optional[] = {
		"llama.attention.head_count_kv", "llama.attention.key_length",
		"llama.attention.value_length", "llama.vocab_size", "llama.rope.dimension_count",
	};
	struct micro_opts o;
	char want[160];
	size_t k;

	for (k = 0; k < sizeof(required) / sizeof(required[0]); k++) {
		micro_defaults(&o);
		o.drop_key = required[k];
		snprintf(want, sizeof(want), "metadata key %s is missing", required[k]);
		expect_micro_fail(&o, want, L32_ERR_FORMAT);
		micro_defaults(&o);
		o.retype_key = required[k];
		snprintf(want, sizeof(want), "metadata key %s: type ", required[k]);
		expect_micro_fail(&o, want, L32_ERR_FORMAT);
	}
	for (k = 0; k < sizeof(optional) / sizeof(optional[0]); k++) {
		micro_defaults(&o);
		o.retype_key = optional[k];
		snprintf(want, sizeof(want), "metadata key %s: type string, expected an integer", optional[k]);
		expect_micro_fail(&o, want, L32_ERR_FORMAT);
	}
	/* absent head_count_kv means as many as the heads: then attn_k is too small */
	micro_defaults(&o);
	o.drop_key = "llama.attention.head_count_kv";
	expect_micro_fail(&o, "micro.gguf: tensor blk.0.attn_k.weight: shape [8, 4], expected [8, 8]",
	    L32_ERR_FORMAT);
	micro_defaults(&o);
	o.drop_key = "llama.vocab_size";
	expect_micro_fail(&o, "no vocabulary size", L32_ERR_FORMAT);
	micro_defaults(&o);
	o.retype_key = "general.architecture";
	expect_micro_fail(&o, "micro.gguf: metadata key general.architecture: type u32, expected string",
	    L32_ERR_FORMAT);
	/* shapes that cannot work */
	micro_defaults(&o);
	o.n_heads = 3;
	o.n_kv_heads = 2;
	expect_micro_fail(&o, "3 attention heads are not a multiple of 2 key/value heads", L32_ERR_FORMAT);
	micro_defaults(&o);
	o.head_dim = 3;
	expect_micro_fail(&o, "head dimension 3 is odd", L32_ERR_FORMAT);
}
END_TEST

START_TEST(micro_gguf_arch)
{
	struct micro_opts o;
	char *p;
	struct l32_buf b = { 0 };
	struct l32_err err = { 0 };

	micro_defaults(&o);
	ck_assert(micro_gguf(&o, &b) == 0);
	/* the value: after the key, its type and the string's length */
	p = memmem(b.data, b.len, "general.architecture", 20);
	ck_assert_ptr_nonnull(p);
	ck_assert(memcmp(p + 20 + 4 + 8, "llama", 5) == 0);
	memcpy(p + 20 + 4 + 8, "qwen2", 5);
	ck_assert_ptr_null(l32_model_from_gguf(b.data, b.len, "micro.gguf", &err));
	ck_assert_str_eq(err.msg,
	    "micro.gguf: metadata key general.architecture: value \"qwen2\" is not supported (llama is)");
	ck_assert_int_eq(err.kind, L32_ERR_UNSUPPORTED);
	l32_buf_free(&b);
}
END_TEST

START_TEST(micro_gguf_tensors)
{
	static const char *const names[] = {
		"token_embd.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight",
		"blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.0.attn_output.weight",
		"blk.0.ffn_norm.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight",
		"blk.0.ffn_down.weight", "output_norm.weight", "output.weight",
	};
	struct micro_opts o;
	struct l32_buf b = { 0 };
	struct l32_err err = { 0 };
	struct l32_model *m;
	char want[160];
	size_t k;

	for (k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		micro_defaults(&o);
		o.untied = 1;
		o.reshape = names[k];
		snprintf(want, sizeof(want), "micro.gguf: tensor %s: shape [", names[k]);
		expect_micro_fail(&o, want, L32_ERR_FORMAT);
		if (strcmp(names[k], "output.weight") == 0)
			continue;
		micro_defaults(&o);
		o.skip = names[k];
		snprintf(want, sizeof(want), "micro.gguf: tensor %s is missing", names[k]);
		expect_micro_fail(&o, want, L32_ERR_FORMAT);
	}
	micro_defaults(&o);
	o.reshape = "blk.0.attn_q.weight";
	expect_micro_fail(&o, "micro.gguf: tensor blk.0.attn_q.weight: shape [8, 9], expected [8, 8]",
	    L32_ERR_FORMAT);
	o.reshape = "blk.0.ffn_norm.weight";
	expect_micro_fail(&o, "micro.gguf: tensor blk.0.ffn_norm.weight: shape [9], expected [8]",
	    L32_ERR_FORMAT);
	o.reshape = NULL;
	o.rope_freqs = 1;
	o.reshape = "rope_freqs.weight";
	expect_micro_fail(&o, "micro.gguf: tensor rope_freqs.weight: type F32 shape [3, ...], expected F32 [2]",
	    L32_ERR_FORMAT);
	/* a rope_freqs divisor of 0 */
	o.reshape = NULL;
	m = micro_open(&o, &b, &err);
	ck_assert_msg(m != NULL, "%s", err.msg);
	memset((void *)l32_gguf_find_tensor(m->gguf, "rope_freqs.weight")->data, 0, 4);
	l32_model_free(m);
	ck_assert_ptr_null(l32_model_from_gguf(b.data, b.len, "micro.gguf", &err));
	ck_assert_str_eq(err.msg, "micro.gguf: tensor rope_freqs.weight: value 0 at 0 is not a positive number");
	l32_buf_free(&b);
}
END_TEST

START_TEST(micro_gguf_truncated)
{
	struct micro_opts o;
	struct l32_buf b = { 0 };
	struct l32_err err = { 0 };
	struct l32_model *m;
	size_t n;

	micro_defaults(&o);
	o.tokenizer = 1;
	o.vocab = MICRO_TOK_VOCAB;
	o.untied = 1;
	ck_assert(micro_gguf(&o, &b) == 0);
	for (n = 0; n < b.len; n += 7) {
		m = l32_model_from_gguf(b.data, n, "cut.gguf", &err);
		ck_assert_msg(m == NULL, "a prefix of %zu bytes opened", n);
		ck_assert_msg(strncmp(err.msg, "cut.gguf: ", 10) == 0, "%s", err.msg);
	}
	l32_buf_free(&b);
}
END_TEST

/* ------------------------------------------------------- damaged files */

START_TEST(bad_files)
{
	struct l32_mapping g;
	struct l32_err err = { 0 };
	const char *src = golden("tiny/llama32-tiny-s0-F32.gguf");
	static const size_t cuts[3] = { 16, 1000000, 20000000 };
	static const char *const wants[3] = { "truncated at offset 16: metadata count needs 8 bytes",
	    "metadata key tokenizer.ggml.tokens: array of 128256 string exceeds the",
	    "lie outside the data section" };
	char name[64];
	int k;

	expect_open_fail(tpath("none.gguf"), tpath("none.gguf"), "No such file or directory");
	write_text(tpath("empty.gguf"), "");
	expect_open_fail(tpath("empty.gguf"), tpath("empty.gguf"), "empty file");
	write_text(tpath("text.gguf"), "hello, world\n");
	expect_open_fail(tpath("text.gguf"), tpath("text.gguf"), "not a GGUF file: magic 68 65 6c 6c");
	ck_assert(mkdir(tpath("dir"), 0755) == 0);
	expect_open_fail(tpath("dir"), tpath("dir"), "no config.json: not a Hugging Face model directory");
	ck_assert(l32_mapfile_open(src, &g, &err) == 0);
	for (k = 0; k < 3; k++) {
		snprintf(name, sizeof(name), "cut-%zu.gguf", cuts[k]);
		write_bytes(tpath(name), g.addr, cuts[k]);
		expect_open_fail(tpath(name), tpath(name), wants[k]);
	}
	l32_mapfile_close(&g);
}
END_TEST

/* A copy of the golden HF directory whose big files are symlinks. */
static void
hf_copy(const char *dir, const char *config)
{
	static const char *const links[] = { "model.safetensors", "tokenizer.json",
	    "generation_config.json" };
	char src[4096], dst[4096];
	size_t k;

	ck_assert(mkdir(dir, 0755) == 0);
	for (k = 0; k < sizeof(links) / sizeof(links[0]); k++) {
		snprintf(src, sizeof(src), "%s/%s", golden("tiny/hf-bf16"), links[k]);
		snprintf(dst, sizeof(dst), "%s/%s", dir, links[k]);
		ck_assert(symlink(src, dst) == 0);
	}
	snprintf(dst, sizeof(dst), "%s/config.json", dir);
	write_text(dst, config);
}

#define TINY_CONFIG(hidden, extra) "{\"architectures\": [\"LlamaForCausalLM\"], " \
	"\"model_type\": \"llama\", \"hidden_size\": " hidden ", \"intermediate_size\": 192, " \
	"\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, " \
	"\"head_dim\": 16, \"max_position_embeddings\": 131072, \"rms_norm_eps\": 1e-05, " \
	"\"rope_theta\": 500000.0, \"tie_word_embeddings\": true, \"vocab_size\": 128256, " \
	"\"bos_token_id\": 128000, \"eos_token_id\": [128001, 128008, 128009]" extra "}"

START_TEST(bad_hf_config)
{
	static const struct { const char *config, *want; } cases[] = {
		{ TINY_CONFIG("65", ""),
		  "model.safetensors: tensor model.embed_tokens.weight: shape [128256, 64], expected [128256, 65]" },
		{ TINY_CONFIG("\"64\"", ""),
		  "config.json: key hidden_size: value \"64\" (a string), expected an integer in 1..1048576" },
		{ TINY_CONFIG("0", ""), "config.json: key hidden_size: value 0 (an integer), expected" },
		{ TINY_CONFIG("64", ", \"rms_norm_eps\": null"), "duplicate" },
		{ "{\"model_type\": \"llama\"", "config.json: line 1 column" },
		{ "", "config.json: empty file" },
		{ "[1]", "config.json: not a JSON object" },
		{ "{\"model_type\": \"mistral\"}", "config.json: key model_type: value \"mistral\" is not supported" },
		{ "{\"hidden_size\": 64}", "config.json: key model_type is missing" },
		{ "{\"model_type\": \"llama\", \"architectures\": [\"LlamaForSequenceClassification\"]}",
		  "key architectures: value [\"LlamaForSequenceClassification\"] is not supported" },
		{ "{\"model_type\": \"llama\", \"architectures\": \"LlamaForCausalLM\"}",
		  "key architectures: value \"LlamaForCausalLM\" (a string), expected a list of strings" },
		{ "{\"model_type\": \"llama\", \"hidden_size\": 64}", "config.json: key intermediate_size is missing" },
		{ TINY_CONFIG("64", ", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}"),
		  "key rope_scaling.rope_type: value \"yarn\" is not supported (llama3 is)" },
		{ TINY_CONFIG("64", ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"low_freq_factor\": 1.0, "
		  "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}"),
		  "config.json: key rope_scaling.factor is missing" },
		{ TINY_CONFIG("64", ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 32, "
		  "\"low_freq_factor\": 4.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}"),
		  "key rope_scaling.high_freq_factor: value 4 is not above low_freq_factor 4" },
		{ TINY_CONFIG("64", ", \"rope_scaling\": {\"factor\": 32}"),
		  "config.json: key rope_scaling.rope_type is missing" },
		{ TINY_CONFIG("64", ", \"rope_scaling\": 3"),
		  "key rope_scaling: value 3 (an integer), expected an object or null" },
	};
	char dir[512];
	size_t k;

	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		snprintf(dir, sizeof(dir), "%s/hf-%zu", tmp, k);
		hf_copy(dir, cases[k].config);
		expect_open_fail(dir, dir, cases[k].want);
	}
}
END_TEST

START_TEST(hf_config_variants)
{
	struct l32_model *m;
	char dir[512];

	/* no rope_scaling, eos as one id, no tie_word_embeddings (tied as no
	 * lm_head exists); generation_config adds its stop ids */
	snprintf(dir, sizeof(dir), "%s/hf-v", tmp);
	hf_copy(dir, "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
	    "\"hidden_size\": 64, \"intermediate_size\": 192, \"num_hidden_layers\": 2, "
	    "\"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"max_position_embeddings\": 4096, "
	    "\"rms_norm_eps\": 1e-06, \"rope_theta\": 10000, \"vocab_size\": 128256, "
	    "\"eos_token_id\": 128009, \"rope_scaling\": null}");
	m = open_ok(dir);
	ck_assert_int_eq(m->hp.head_dim, 16);
	ck_assert_int_eq(m->hp.rope_scaled, 0);
	ck_assert(m->hp.rope_theta == 10000.0f && m->hp.norm_eps == 1e-6f && m->hp.ctx_train == 4096);
	ck_assert_int_eq(m->hp.bos, -1);
	ck_assert_int_eq(m->hp.tied_output, 1);
	ck_assert_int_eq(m->hp.n_stop_ids, 3);
	ck_assert_int_eq(m->hp.stop_ids[0], 128009);
	near(m->w.rope_freq[1], pow(10000.0, -2.0 / 16), 1e-6, "rope_freq", 1);
	l32_model_free(m);
}
END_TEST

/* A micro HF directory with one change; expects the open to fail. */
static void
micro_hf_fail(const struct micro_opts *o, int shards, const char *want)
{
	static int n;
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/m%d", tmp, n++);
	ck_assert(micro_hf_dir(o, dir, shards) == 0);
	expect_open_fail(dir, dir, want);
}

START_TEST(bad_hf_tensors)
{
	struct micro_opts o;
	char dir[512];

	micro_defaults(&o);
	o.skip = "model.layers.0.mlp.up_proj.weight";
	micro_hf_fail(&o, 1, "tensor model.layers.0.mlp.up_proj.weight is missing");
	micro_defaults(&o);
	o.reshape = "model.layers.0.self_attn.k_proj.weight";
	micro_hf_fail(&o, 1, "model.safetensors: tensor model.layers.0.self_attn.k_proj.weight: shape [5, 8], expected [4, 8]");
	micro_defaults(&o);
	o.type = L32_TYPE_BF16;
	o.reshape = "model.norm.weight";
	micro_hf_fail(&o, 2, "-of-00002.safetensors: tensor model.norm.weight: shape [9], expected [8]");
	micro_defaults(&o);
	o.untied = 1;
	o.skip = "lm_head.weight";
	micro_hf_fail(&o, 1, "tensor lm_head.weight is missing");
	/* a tokenizer with ids past the embedding rows */
	micro_defaults(&o);
	snprintf(dir, sizeof(dir), "%s/tok16", tmp);
	ck_assert(micro_hf_dir(&o, dir, 1) == 0);
	ck_assert(micro_hf_tokenizer(dir) == 0);
	expect_open_fail(dir, "tokenizer.json", ": 262 tokens, more than the vocab_size 16 of config.json");
	micro_defaults(&o);
	o.n_heads = 3;
	o.n_kv_heads = 2;
	micro_hf_fail(&o, 1, ": 3 attention heads are not a multiple of 2 key/value heads");
	micro_defaults(&o);
	o.drop_key = "num_key_value_heads";
	micro_hf_fail(&o, 1, "tensor model.layers.0.self_attn.k_proj.weight: shape [4, 8], expected [8, 8]");
}
END_TEST

START_TEST(bad_hf_keys)
{
	static const char *const required[] = { "model_type", "hidden_size", "intermediate_size",
	    "num_hidden_layers", "num_attention_heads", "vocab_size", "max_position_embeddings",
	    "rms_norm_eps", "rope_theta" };
	static const char *const typed[] = { "architectures", "model_type", "hidden_size",
	    "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
	    "head_dim", "vocab_size", "max_position_embeddings", "rms_norm_eps", "rope_theta",
	    "rope_scaling", "tie_word_embeddings", "bos_token_id", "eos_token_id" };
	static const char *const optional[] = { "architectures", "head_dim", "rope_scaling",
	    "tie_word_embeddings", "bos_token_id", "eos_token_id" };
	struct micro_opts o;
	struct l32_model *m;
	char want[160], dir[512];
	size_t k;

	for (k = 0; k < sizeof(required) / sizeof(required[0]); k++) {
		micro_defaults(&o);
		o.drop_key = required[k];
		snprintf(want, sizeof(want), "config.json: key %s is missing", required[k]);
		micro_hf_fail(&o, 1, want);
	}
	for (k = 0; k < sizeof(typed) / sizeof(typed[0]); k++) {
		micro_defaults(&o);
		o.retype_key = typed[k];
		snprintf(want, sizeof(want), "config.json: key %s: value ", typed[k]);
		micro_hf_fail(&o, 1, want);
	}
	for (k = 0; k < sizeof(optional) / sizeof(optional[0]); k++) {
		micro_defaults(&o);
		o.drop_key = optional[k];
		snprintf(dir, sizeof(dir), "%s/opt%zu", tmp, k);
		ck_assert(micro_hf_dir(&o, dir, 1) == 0);
		m = open_ok(dir);
		l32_model_free(m);
	}
}
END_TEST

START_TEST(bad_hf_genconfig)
{
	static const struct { const char *text, *want; } cases[] = {
		{ "{\"top_k\": \"40\"}", "generation_config.json: key top_k: value \"40\" (a string), expected an integer" },
		{ "{\"temperature\": -1}", "generation_config.json: key temperature: value -1 (an integer), expected a number in 0..1e+06" },
		{ "{\"top_p\": 1.5}", "key top_p: value 1.5 (a number), expected a number in 0..1" },
		{ "{\"eos_token_id\": [\"a\"]}", "key eos_token_id: value [\"a\"] (an array), expected a token id" },
		{ "{\"eos_token_id\": [1,2,3,4,5,6,7,8,9]}", "expected a token id or a list of at most 8" },
		{ "{\"eos_token_id\": 99}", "stop id 99 is outside the vocabulary of 16" },
		{ "{\"do_sample\": \"no\"}", "key do_sample: value \"no\" (a string), expected true or false" },
		{ "{", "generation_config.json: line 1" },
	};
	struct micro_opts o;
	struct l32_model *m;
	char dir[512], path[600];
	size_t k;

	micro_defaults(&o);
	for (k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		snprintf(dir, sizeof(dir), "%s/g%zu", tmp, k);
		ck_assert(micro_hf_dir(&o, dir, 1) == 0);
		snprintf(path, sizeof(path), "%s/generation_config.json", dir);
		write_text(path, cases[k].text);
		expect_open_fail(dir, dir, cases[k].want);
	}
	/* greedy when do_sample is false; the file is optional */
	write_text(path, "{\"temperature\": 0.7, \"top_k\": 40, \"do_sample\": false}");
	m = open_ok(dir);
	ck_assert(m->gen_temperature == 0 && m->gen_top_k == 40 && m->gen_top_p < 0);
	l32_model_free(m);
	ck_assert(unlink(path) == 0);
	m = open_ok(dir);
	ck_assert(m->gen_temperature < 0 && m->gen_top_k < 0 && m->hp.n_stop_ids == 2);
	l32_model_free(m);
}
END_TEST

/* Rewrites dir's index with weight_map[tensor] = file (NULL: the whole
 * weight_map replaced by value). */
static void
edit_index(const char *dir, const char *tensor, json_t *value)
{
	char path[600];
	json_t *root;

	snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
	root = json_load_file(path, 0, NULL);
	ck_assert_ptr_nonnull(root);
	if (tensor != NULL)
		json_object_set_new(json_object_get(root, "weight_map"), tensor, value);
	else
		json_object_set_new(root, "weight_map", value);
	ck_assert(json_dump_file(root, path, 0) == 0);
	json_decref(root);
}

START_TEST(bad_hf_shards)
{
	struct micro_opts o;
	struct l32_mapping map;
	struct l32_err err = { 0 };
	char dir[512], path[600];
	int k;

	micro_defaults(&o);
	for (k = 0; k < 8; k++) {
		snprintf(dir, sizeof(dir), "%s/s%d", tmp, k);
		ck_assert(micro_hf_dir(&o, dir, 2) == 0);
		switch (k) {
		case 0:
			snprintf(path, sizeof(path), "%s/model-00002-of-00002.safetensors", dir);
			ck_assert(unlink(path) == 0);
			expect_open_fail(dir, "model-00002-of-00002.safetensors", "No such file or directory");
			break;
		case 1:
			edit_index(dir, "model.norm.weight", json_string("../model.safetensors"));
			expect_open_fail(dir, "model.safetensors.index.json",
			    "key weight_map.model.norm.weight: value \"../model.safetensors\" is not a file name in the directory");
			break;
		case 2: /* token_embd is in shard 1: claim shard 2 */
			edit_index(dir, "model.embed_tokens.weight", json_string("model-00002-of-00002.safetensors"));
			expect_open_fail(dir, "model.safetensors.index.json",
			    "tensor model.embed_tokens.weight: the index places it in ");
			break;
		case 3:
			edit_index(dir, NULL, json_integer(1));
			expect_open_fail(dir, "model.safetensors.index.json",
			    "key weight_map: value 1 (an integer), expected an object");
			break;
		case 4:
			edit_index(dir, "model.norm.weight", json_integer(2));
			expect_open_fail(dir, "model.safetensors.index.json", "expected file names (strings)");
			break;
		case 5:
			edit_index(dir, NULL, json_object());
			expect_open_fail(dir, "model.safetensors.index.json", "key weight_map: no tensors listed");
			break;
		case 6: /* a shard cut short */
			snprintf(path, sizeof(path), "%s/model-00001-of-00002.safetensors", dir);
			ck_assert(l32_mapfile_open(path, &map, &err) == 0);
			{
				char *copy = malloc(map.len);

				memcpy(copy, map.addr, map.len);
				l32_mapfile_close(&map);
				write_bytes(path, copy, 100);
				free(copy);
			}
			expect_open_fail(dir, "model-00001-of-00002.safetensors", "header length");
			break;
		case 7: /* a tensor the index does not list is missing */
			edit_index(dir, "model.layers.0.mlp.up_proj.weight", json_null());
			snprintf(path, sizeof(path), "%s/model.safetensors.index.json", dir);
			{
				json_t *root = json_load_file(path, 0, NULL);

				json_object_del(json_object_get(root, "weight_map"), "model.layers.0.mlp.up_proj.weight");
				json_dump_file(root, path, 0);
				json_decref(root);
			}
			expect_open_fail(dir, dir, "tensor model.layers.0.mlp.up_proj.weight is missing");
			break;
		}
	}
	/* no weights at all */
	snprintf(dir, sizeof(dir), "%s/s-none", tmp);
	ck_assert(micro_hf_dir(&o, dir, 1) == 0);
	snprintf(path, sizeof(path), "%s/model.safetensors", dir);
	ck_assert(unlink(path) == 0);
	expect_open_fail(dir, dir, "no model.safetensors or model.safetensors.index.json");
}
END_TEST

/* L32_MODEL_PREFETCH: the same model and bytes as a plain open (a GGUF
 * file and an HF directory of shards), and a free at once, with the
 * thread still mapping pages, stops it. */
START_TEST(prefetch_same_model)
{
	static const char *const rel[] = { "mini/llama32-mini-s0-Q4_K_M.gguf", "tiny/hf-bf16" };
	struct l32_err err = { 0 };

	for (int i = 0; i < 2; i++) {
		const char *path = golden(rel[i]);
		struct l32_model *a = open_ok(path);
		struct l32_model *b = l32_model_open_with(path, L32_MODEL_PREFETCH, &err);
		const struct l32_tensor *ta = &a->w.layers[0].w2, *tb;

		ck_assert_msg(b != NULL, "%s", err.msg);
		tb = &b->w.layers[0].w2;
		ck_assert_str_eq(l32_model_desc(a), l32_model_desc(b));
		ck_assert_int_eq(a->n_maps, b->n_maps);
		ck_assert_ptr_nonnull(b->maps[0].prefetch);
		ck_assert_int_eq(ta->rows, tb->rows);
		ck_assert_int_eq(memcmp(ta->data, tb->data, (size_t)ta->rows * ta->row_bytes), 0);
		ck_assert_int_eq(memcmp(a->w.output.data, b->w.output.data,
		    (size_t)a->w.output.rows * a->w.output.row_bytes), 0);
		l32_model_free(a);
		l32_model_free(b);
		b = l32_model_open_with(path, L32_MODEL_PREFETCH, &err);
		ck_assert_msg(b != NULL, "%s", err.msg);
		l32_model_free(b);
	}
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("model_open");
	TCase *golden_tc = tcase_create("golden"), *micro = tcase_create("micro");
	SRunner *sr;
	int failed;

	tcase_set_timeout(golden_tc, 60);
	tcase_add_test(golden_tc, golden_f32_gguf);
	tcase_add_test(golden_tc, golden_hf_bf16);
	tcase_add_test(golden_tc, golden_q4_k_m_tiny);
	tcase_add_test(golden_tc, golden_q4_k_m_mini);
	tcase_add_test(golden_tc, rope_formula);
	tcase_add_test(golden_tc, prefetch_same_model);
	suite_add_tcase(s, golden_tc);

	tcase_set_timeout(micro, 60);
	tcase_add_checked_fixture(micro, tmp_setup, tmp_teardown);
	tcase_add_test(micro, micro_gguf_types);
	tcase_add_test(micro, micro_gguf_tokenizer);
	tcase_add_test(micro, micro_gguf_tokenizer_model);
	tcase_add_test(micro, micro_hf_dirs);
	tcase_add_test(micro, micro_gguf_keys);
	tcase_add_test(micro, micro_gguf_arch);
	tcase_add_test(micro, micro_gguf_tensors);
	tcase_add_test(micro, micro_gguf_truncated);
	tcase_add_test(micro, bad_files);
	tcase_add_test(micro, bad_hf_config);
	tcase_add_test(micro, hf_config_variants);
	tcase_add_test(micro, bad_hf_tensors);
	tcase_add_test(micro, bad_hf_keys);
	tcase_add_test(micro, bad_hf_genconfig);
	tcase_add_test(micro, bad_hf_shards);
	suite_add_tcase(s, micro);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
