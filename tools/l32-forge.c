/*
 * l32-forge - writes a Llama 3.2 model from the golden weight recipe
 * ($L32_SHARED/golden/README.md): the tiny, mini, 1B or 3B shape, as a GGUF
 * file (F32, F16, BF16, Q8_0, Q4_0, or a Q4_K_M-style mix of Q4_K and Q6_K)
 * or as a Hugging Face directory (F32, F16 or BF16 safetensors).
 *
 * Tensors are generated a few rows at a time and streamed to the file, so
 * memory stays small whatever the size (the 3B F32 file is 12.9 GB).  The
 * file is written under a temporary name and renamed when complete, so an
 * interrupted run never leaves a file that looks finished.
 *
 * The tokenizer comes from another model: the GGUF metadata arrays (tokens,
 * token types, merges) and chat template of --vocab (default: the golden
 * tiny GGUF), or for a directory the tokenizer.json of --tokenizer (with
 * tokenizer_config.json and special_tokens_map.json beside it, when present).
 *
 * With the defaults, `-c tiny -t F32` gives a file byte-identical to the
 * golden llama32-tiny-s0-F32.gguf, and `-c tiny -t BF16 -f hf` a
 * model.safetensors byte-identical to the golden hf-bf16 one.
 */
#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "ggufw.h"
#include "l32.h"
#include "prog/l32_prog.h"
#include "base/mapfile.h"
#include "formats/quant.h"
#include "recipe.h"

/* Bumped whenever the bytes written for some option change, so caches of
 * forged files (tests/bench/run.sh) know to rebuild. */
#define FORGE_VERSION 1

#define MAX_TENSORS (2 + 9 * 64 + 1)
#define NAME_MAX_LEN 64

enum layout { LAYOUT_GGUF, LAYOUT_HF };

/* What to write. */
enum wtype {
	W_F32, W_F16, W_BF16, W_Q8_0, W_Q4_0, W_Q4_K_M,
};

static const struct {
	const char *name;
	enum wtype w;
	enum l32_type type;   /* of the matrices (Q4_K_M: the usual one) */
	uint32_t file_type;   /* general.file_type */
} wtypes[] = {
	{ "F32", W_F32, L32_TYPE_F32, 0 },
	{ "F16", W_F16, L32_TYPE_F16, 1 },
	{ "BF16", W_BF16, L32_TYPE_BF16, 32 },
	{ "Q8_0", W_Q8_0, L32_TYPE_Q8_0, 7 },
	{ "Q4_0", W_Q4_0, L32_TYPE_Q4_0, 2 },
	{ "Q4_K_M", W_Q4_K_M, L32_TYPE_Q4_K, 15 },
};

/* One tensor of the output, in file order. */
struct ftensor {
	char name[NAME_MAX_LEN];   /* in the output file */
	char meta[NAME_MAX_LEN];   /* Meta name: the recipe stream */
	enum l32_recipe_kind kind;
	int e;                     /* exponent of a matrix */
	int rope;                  /* rope_freqs: computed, not drawn */
	int64_t rows, cols;        /* [rows, cols]; vectors have rows 1 */
	enum l32_type type;        /* storage */
	int32_t permute_hd;        /* HF q/k: head_dim of the rotate-half order, else 0 */
	size_t nbytes;
};

struct forge {
	const struct l32_recipe_config *cfg;
	int wi;                    /* index into wtypes */
	enum layout layout;
	uint64_t seed;
	const char *out;
	const char *vocab;         /* GGUF with the tokenizer metadata */
	const char *tokenizer;     /* tokenizer.json for a directory */
	int quiet;
	struct ftensor *t;         /* (n_t) */
	int n_t;
	float rope_freqs[128];     /* (head_dim/2) the GGUF divisors */
	/* streaming */
	FILE *f;
	char *tmp;                 /* the path being written */
	uint64_t done, total;      /* data bytes */
	int progress;              /* 0 none, 1 a terminal (\r), 2 lines */
	int last_step;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: %s [-qV] -c tiny|mini|1b|3b -t F32|F16|BF16|Q8_0|Q4_0|Q4_K_M\n"
	    "       [-f gguf|hf] [-s seed] [--tokenizer FILE] [--vocab FILE] -o PATH\n",
	    getprogname());
	exit(2);
}

static const char *
shared_dir(void)
{
	const char *s = getenv("L32_SHARED");

	return s != NULL && *s != '\0' ? s : "../shared";
}

/* ------------------------------------------------------------ the plan */

/* llama.cpp's Q4_K_M gives these layers' attn_v and ffn_down 6 bits:
 * the first and last eighth, and every third layer between. */
static int
use_more_bits(int layer, int n_layers)
{
	return layer < n_layers / 8 || layer >= 7 * n_layers / 8 ||
	    (layer - n_layers / 8) % 3 == 2;
}

/* The storage type of a matrix under the chosen weights. */
static enum l32_type
matrix_type(const struct forge *fg, const char *gguf_name, int layer)
{
	if (wtypes[fg->wi].w != W_Q4_K_M)
		return wtypes[fg->wi].type;
	if (strcmp(gguf_name, "token_embd.weight") == 0)
		return L32_TYPE_Q6_K;
	if ((strstr(gguf_name, "attn_v") != NULL || strstr(gguf_name, "ffn_down") != NULL) &&
	    use_more_bits(layer, fg->cfg->n_layers))
		return L32_TYPE_Q6_K;
	return L32_TYPE_Q4_K;
}

static struct ftensor *
plan_add(struct forge *fg, const char *name, const char *meta, int64_t rows,
    int64_t cols, enum l32_type type)
{
	struct ftensor *t = &fg->t[fg->n_t++];

	memset(t, 0, sizeof(*t));
	strlcpy(t->name, name, sizeof(t->name));
	strlcpy(t->meta, meta, sizeof(t->meta));
	t->rows = rows;
	t->cols = cols;
	t->type = type;
	if (meta[0] != '\0' &&
	    l32_recipe_tensor_kind(fg->cfg, meta, &t->kind, &t->e) == -1)
		errx(3, "internal: %s is not a recipe tensor", meta);
	t->nbytes = l32_type_row_bytes(type, cols) * (size_t)rows;
	if (t->nbytes == 0)
		errx(2, "%s: rows of %lld values cannot be stored as %s (K-quant "
		    "blocks span 256 values; %s has %d-value rows)", name,
		    (long long)cols, l32_type_traits(type)->name, fg->cfg->name,
		    fg->cfg->dim);
	return t;
}

/* GGUF: the order and names of llama.cpp's converter. */
static void
plan_gguf(struct forge *fg)
{
	const struct l32_recipe_config *c = fg->cfg;
	int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
	char g[NAME_MAX_LEN], m[NAME_MAX_LEN];
	static const struct {
		const char *gguf, *meta;
		int norm, rows, cols;   /* 0 dim, 1 q, 2 kv, 3 ffn */
	} blk[] = {
		{ "attn_norm", "attention_norm", 1, 0, 0 },
		{ "ffn_down", "feed_forward.w2", 0, 0, 3 },
		{ "ffn_gate", "feed_forward.w1", 0, 3, 0 },
		{ "ffn_up", "feed_forward.w3", 0, 3, 0 },
		{ "ffn_norm", "ffn_norm", 1, 0, 0 },
		{ "attn_k", "attention.wk", 0, 2, 0 },
		{ "attn_output", "attention.wo", 0, 0, 1 },
		{ "attn_q", "attention.wq", 0, 1, 0 },
		{ "attn_v", "attention.wv", 0, 2, 0 },
	};
	int64_t size[4] = { c->dim, q, kv, c->ffn_dim };
	struct ftensor *t;

	t = plan_add(fg, "rope_freqs.weight", "", 1, c->head_dim / 2, L32_TYPE_F32);
	t->rope = 1;
	plan_add(fg, "token_embd.weight", "tok_embeddings.weight", c->vocab, c->dim,
	    matrix_type(fg, "token_embd.weight", 0));
	for (int l = 0; l < c->n_layers; l++)
		for (size_t k = 0; k < sizeof(blk) / sizeof(blk[0]); k++) {
			snprintf(g, sizeof(g), "blk.%d.%s.weight", l, blk[k].gguf);
			snprintf(m, sizeof(m), "layers.%d.%s.weight", l, blk[k].meta);
			if (blk[k].norm)
				plan_add(fg, g, m, 1, c->dim, L32_TYPE_F32);
			else
				plan_add(fg, g, m, size[blk[k].rows], size[blk[k].cols],
				    matrix_type(fg, g, l));
		}
	plan_add(fg, "output_norm.weight", "norm.weight", 1, c->dim, L32_TYPE_F32);
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct ftensor *)a)->name, ((const struct ftensor *)b)->name);
}

/* Hugging Face: transformers' names, sorted as save_file writes them;
 * everything in the one dtype, q/k rows permuted to rotate-half order. */
static void
plan_hf(struct forge *fg)
{
	const struct l32_recipe_config *c = fg->cfg;
	int64_t q = (int64_t)c->n_heads * c->head_dim, kv = (int64_t)c->n_kv_heads * c->head_dim;
	enum l32_type type = wtypes[fg->wi].type;
	char h[NAME_MAX_LEN], m[NAME_MAX_LEN];
	static const struct {
		const char *hf, *meta;
		int rows, cols, permute;
	} blk[] = {
		{ "input_layernorm", "attention_norm", -1, 0, 0 },
		{ "post_attention_layernorm", "ffn_norm", -1, 0, 0 },
		{ "self_attn.q_proj", "attention.wq", 1, 0, 1 },
		{ "self_attn.k_proj", "attention.wk", 2, 0, 1 },
		{ "self_attn.v_proj", "attention.wv", 2, 0, 0 },
		{ "self_attn.o_proj", "attention.wo", 0, 1, 0 },
		{ "mlp.gate_proj", "feed_forward.w1", 3, 0, 0 },
		{ "mlp.up_proj", "feed_forward.w3", 3, 0, 0 },
		{ "mlp.down_proj", "feed_forward.w2", 0, 3, 0 },
	};
	int64_t size[4] = { c->dim, q, kv, c->ffn_dim };

	plan_add(fg, "model.embed_tokens.weight", "tok_embeddings.weight", c->vocab,
	    c->dim, type);
	for (int l = 0; l < c->n_layers; l++)
		for (size_t k = 0; k < sizeof(blk) / sizeof(blk[0]); k++) {
			struct ftensor *t;

			snprintf(h, sizeof(h), "model.layers.%d.%s.weight", l, blk[k].hf);
			snprintf(m, sizeof(m), "layers.%d.%s.weight", l, blk[k].meta);
			if (blk[k].rows < 0) {
				plan_add(fg, h, m, 1, c->dim, type);
				continue;
			}
			t = plan_add(fg, h, m, size[blk[k].rows], size[blk[k].cols], type);
			if (blk[k].permute)
				t->permute_hd = c->head_dim;
		}
	plan_add(fg, "model.norm.weight", "norm.weight", 1, c->dim, type);
	qsort(fg->t, (size_t)fg->n_t, sizeof(fg->t[0]), cmp_name);
}

/* rope_freqs: the divisor that turns theta^(-2i/hd) into the llama3-scaled
 * frequency.  The base frequency is computed in f32 (as torch does), the
 * smoothing in double, then rounded once to f32: that reproduces the value
 * of the golden files (3.2922626 at i = hd/4 for tiny and mini); an all-f32
 * computation gives one ulp more. */
static void
rope_divisors(int head_dim, float *out)
{
	const double factor = 32.0, low = 1.0, high = 4.0, orig = 8192.0;

	for (int i = 0; i < head_dim / 2; i++) {
		float f = 1.0f / powf(500000.0f, (float)(2 * i) / (float)head_dim);
		double wavelen = 2.0 * M_PI / (double)f;

		if (wavelen < orig / high) {
			out[i] = 1.0f;
		} else if (wavelen > orig / low) {
			out[i] = (float)factor;
		} else {
			double smooth = (orig / wavelen - low) / (high - low);

			out[i] = (float)(1.0 / ((1.0 - smooth) / factor + smooth));
		}
	}
}

/* ---------------------------------------------------- K-quant encoders */

/* These are simple encoders (min/max per sub-block), enough for files that
 * load and run like llama.cpp's Q4_K_M; they do not reproduce llama.cpp's
 * quantizer search, so their values differ from its files'. */

static uint8_t
clamp_u(float v, int hi)
{
	int q = (int)lroundf(v);

	return (uint8_t)(q < 0 ? 0 : q > hi ? hi : q);
}

/* Q4_K: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of
 * nibbles; x = d * sc * q - dmin * m over sub-blocks of 32. */
static void
quantize_q4_k(const float *x, uint8_t *b, int64_t n)
{
	for (int64_t i = 0; i < n; i += 256, x += 256, b += 144) {
		float scale[8], mins[8], max_scale = 0.0f, max_min = 0.0f, d, dmin;
		uint8_t sc[8], mn[8];
		uint16_t h;

		for (int s = 0; s < 8; s++) {
			float lo = 0.0f, hi = x[32 * s];

			for (int j = 0; j < 32; j++) {
				lo = x[32 * s + j] < lo ? x[32 * s + j] : lo;
				hi = x[32 * s + j] > hi ? x[32 * s + j] : hi;
			}
			scale[s] = (hi - lo) / 15.0f;
			mins[s] = -lo;
			max_scale = scale[s] > max_scale ? scale[s] : max_scale;
			max_min = mins[s] > max_min ? mins[s] : max_min;
		}
		d = l32_f16_to_f32(l32_f32_to_f16(max_scale / 63.0f));
		dmin = l32_f16_to_f32(l32_f32_to_f16(max_min / 63.0f));
		memset(b, 0, 144);
		h = l32_f32_to_f16(d);
		memcpy(b, &h, 2);
		h = l32_f32_to_f16(dmin);
		memcpy(b + 2, &h, 2);
		for (int s = 0; s < 8; s++) {
			sc[s] = d > 0.0f ? clamp_u(scale[s] / d, 63) : 0;
			mn[s] = dmin > 0.0f ? clamp_u(mins[s] / dmin, 63) : 0;
			if (s < 4) {
				b[4 + s] = sc[s];
				b[4 + s + 4] = mn[s];
			} else {
				b[4 + s + 4] = (uint8_t)((sc[s] & 15) | (mn[s] & 15) << 4);
				b[4 + s - 4] |= (uint8_t)((sc[s] >> 4) << 6);
				b[4 + s] |= (uint8_t)((mn[s] >> 4) << 6);
			}
		}
		for (int s = 0; s < 8; s++) {
			float step = d * (float)sc[s], off = dmin * (float)mn[s];

			for (int j = 0; j < 32; j++) {
				uint8_t q = step > 0.0f ? clamp_u((x[32 * s + j] + off) / step, 15) : 0;

				b[16 + 32 * (s / 2) + j] |= (uint8_t)(s % 2 ? q << 4 : q);
			}
		}
	}
}

/* Q6_K: 128 bytes of low nibbles, 64 of high bit pairs, 16 int8 scales
 * (one per 16 values), f16 d; x = d * scale * (q - 32). */
static void
quantize_q6_k(const float *x, uint8_t *b, int64_t n)
{
	for (int64_t i = 0; i < n; i += 256, x += 256, b += 210) {
		float scale[16], max_scale = 0.0f, d;
		int8_t sc[16];
		uint16_t h;

		for (int g = 0; g < 16; g++) {
			float amax = 0.0f;

			for (int j = 0; j < 16; j++)
				amax = fabsf(x[16 * g + j]) > amax ? fabsf(x[16 * g + j]) : amax;
			scale[g] = amax / 31.0f;
			max_scale = scale[g] > max_scale ? scale[g] : max_scale;
		}
		d = l32_f16_to_f32(l32_f32_to_f16(max_scale / 127.0f));
		memset(b, 0, 210);
		for (int g = 0; g < 16; g++)
			sc[g] = d > 0.0f ? (int8_t)clamp_u(scale[g] / d, 127) : 0;
		memcpy(b + 192, sc, 16);
		h = l32_f32_to_f16(d);
		memcpy(b + 208, &h, 2);
		for (int v = 0; v < 256; v++) {
			float step = d * (float)sc[v / 16];
			int q = step > 0.0f ? (int)lroundf(x[v] / step) : 0;
			int half = v / 128, k = (v % 128) / 32, l = v % 32;
			uint8_t u;

			q = (q < -32 ? -32 : q > 31 ? 31 : q) + 32;
			u = (uint8_t)q;
			b[64 * half + l + (k & 1) * 32] |= (uint8_t)((u & 15) << (k >= 2 ? 4 : 0));
			b[128 + 32 * half + l] |= (uint8_t)((u >> 4) << (2 * k));
		}
	}
}

/* ---------------------------------------------------------- generation */

/* Row r of a tensor in f32 (cols values). */
static void
gen_row(const struct forge *fg, const struct ftensor *t, int64_t r, float *row)
{
	int64_t src = r;

	if (t->rope) {
		memcpy(row, fg->rope_freqs, (size_t)t->cols * sizeof(float));
		return;
	}
	if (t->permute_hd > 0) {
		/* HF row h*hd + j*hd/2 + i holds Meta row h*hd + 2i + j */
		int64_t hd = t->permute_hd, h = r / hd, rem = r % hd;
		int64_t j = rem / (hd / 2), i = rem % (hd / 2);

		src = h * hd + 2 * i + j;
	}
	l32_recipe_fill(t->meta, fg->seed, t->kind, t->e, (uint64_t)(src * t->cols), row,
	    (size_t)t->cols);
}

static void
encode_row(enum l32_type type, const float *x, int64_t n, uint8_t *out)
{
	uint16_t h;

	switch (type) {
	case L32_TYPE_F32:
		memcpy(out, x, (size_t)n * sizeof(float));
		break;
	case L32_TYPE_F16:
	case L32_TYPE_BF16:
		for (int64_t i = 0; i < n; i++) {
			h = type == L32_TYPE_F16 ? l32_f32_to_f16(x[i]) : l32_f32_to_bf16(x[i]);
			memcpy(out + 2 * i, &h, 2);
		}
		break;
	case L32_TYPE_Q8_0:
		l32_recipe_quantize_q8_0(x, out, n);
		break;
	case L32_TYPE_Q4_0:
		l32_recipe_quantize_q4_0(x, out, n);
		break;
	case L32_TYPE_Q4_K:
		quantize_q4_k(x, out, n);
		break;
	case L32_TYPE_Q6_K:
		quantize_q6_k(x, out, n);
		break;
	default:
		errx(3, "internal: no encoder for type %d", (int)type);
	}
}

/* ------------------------------------------------------------- output */

/* The file being written, removed if the program exits before it is
 * complete. */
static char *partial;

static void
remove_partial(void)
{
	if (partial != NULL)
		unlink(partial);
}

static void
put(struct forge *fg, const void *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, fg->f) != n)
		err(3, "%s", fg->tmp);
}

static void
show_progress(struct forge *fg)
{
	int step;

	if (fg->progress == 0 || fg->total == 0)
		return;
	step = (int)(fg->done * 100 / fg->total);
	if (fg->progress == 2)
		step -= step % 10;
	if (step == fg->last_step)
		return;
	fg->last_step = step;
	fprintf(stderr, "%s: %s %s: %3d%% of %.2f GB%s", getprogname(), fg->cfg->name,
	    wtypes[fg->wi].name, step, (double)fg->total / 1e9,
	    fg->progress == 1 ? "\r" : "\n");
}

/* Generates and writes a tensor, a chunk of rows at a time; then pad
 * zero bytes. */
static void
stream_tensor(struct forge *fg, const struct ftensor *t, size_t pad)
{
	static const char zeros[64];
	size_t rb = l32_type_row_bytes(t->type, t->cols);
	int64_t chunk = (1 << 18) / t->cols > 0 ? (1 << 18) / t->cols : 1;
	float *row = malloc((size_t)t->cols * sizeof(float));
	uint8_t *buf = malloc(rb * (size_t)chunk);

	if (row == NULL || buf == NULL)
		err(3, NULL);
	for (int64_t r0 = 0; r0 < t->rows; r0 += chunk) {
		int64_t n = t->rows - r0 < chunk ? t->rows - r0 : chunk;

		for (int64_t r = 0; r < n; r++) {
			gen_row(fg, t, r0 + r, row);
			encode_row(t->type, row, t->cols, buf + (size_t)r * rb);
		}
		put(fg, buf, rb * (size_t)n);
		fg->done += rb * (size_t)n;
		show_progress(fg);
	}
	put(fg, zeros, pad);
	fg->done += pad;
	free(row);
	free(buf);
}

static void
open_out(struct forge *fg, const char *path)
{
	if (asprintf(&fg->tmp, "%s.forge-%ld", path, (long)getpid()) == -1)
		err(3, NULL);
	if ((fg->f = fopen(fg->tmp, "wb")) == NULL)
		err(3, "%s", fg->tmp);
	partial = fg->tmp;
	setvbuf(fg->f, NULL, _IOFBF, 1 << 20);
	fg->done = 0;
	fg->last_step = -1;
}

static void
close_out(struct forge *fg, const char *path)
{
	if (fflush(fg->f) != 0 || ferror(fg->f) || fclose(fg->f) != 0)
		err(3, "%s", fg->tmp);
	if (rename(fg->tmp, path) == -1)
		err(3, "rename %s to %s", fg->tmp, path);
	partial = NULL;
	if (fg->progress == 1 && fg->total > 0)
		fputc('\n', stderr);
	free(fg->tmp);
	fg->tmp = NULL;
	fg->f = NULL;
}

/* ---------------------------------------------------------------- GGUF */

static uint64_t
param_count(const struct l32_recipe_config *c)
{
	uint64_t q = (uint64_t)c->n_heads * c->head_dim, kv = (uint64_t)c->n_kv_heads * c->head_dim;
	uint64_t layer = 2 * q * c->dim + 2 * kv * c->dim + 3 * (uint64_t)c->ffn_dim * c->dim +
	    2 * (uint64_t)c->dim;

	return (uint64_t)c->vocab * c->dim + layer * c->n_layers + c->dim;
}

/* llama.cpp's size label: "8.3M", "36M", "1.2B" (two digits at least). */
static void
size_label(uint64_t n, char *buf, size_t len)
{
	const char *suffix = "K";
	double s = (double)n * 1e-3;
	int digits, fix;

	if (n > 1000000000000ull) {
		s = (double)n * 1e-12;
		suffix = "T";
	} else if (n > 1000000000ull) {
		s = (double)n * 1e-9;
		suffix = "B";
	} else if (n > 1000000ull) {
		s = (double)n * 1e-6;
		suffix = "M";
	}
	digits = snprintf(NULL, 0, "%.0f", s);
	fix = digits < 2 ? 2 - digits : 0;
	snprintf(buf, len, "%.*f%s", fix, s, suffix);
}

/* Copies a metadata value of the vocabulary file. */
static void
copy_kv(struct ggufw *w, const struct l32_gguf *g, const char *key, const char *src,
    int elem, uint64_t n)
{
	const struct l32_gguf_value *v = l32_gguf_find(g, key);
	unsigned char *raw;

	if (v == NULL)
		errx(3, "%s: no %s", src, key);
	if (elem < 0) {
		if (v->type != L32_GGUF_STR)
			errx(3, "%s: %s: not a string", src, key);
		if (ggufw_kv_strn(w, key, v->str, v->len) == -1)
			err(3, NULL);
		return;
	}
	if (v->type != L32_GGUF_ARR || (int)v->elem != elem || (n > 0 && v->n != n))
		errx(3, "%s: %s: not an array of %llu %s", src, key,
		    (unsigned long long)n, l32_gguf_vtype_name(elem));
	/* the encoded value: element type, count, elements */
	if ((raw = malloc(12 + v->bytes)) == NULL)
		err(3, NULL);
	memcpy(raw, &(uint32_t){ v->elem }, 4);
	memcpy(raw + 4, &v->n, 8);
	memcpy(raw + 12, v->data, v->bytes);
	if (ggufw_kv_raw(w, key, L32_GGUF_ARR, raw, 12 + v->bytes) == -1)
		err(3, NULL);
	free(raw);
}

static void
gguf_metadata(struct forge *fg, struct ggufw *w, const struct l32_gguf *voc)
{
	const struct l32_recipe_config *c = fg->cfg;
	char label[32], name[96];
	int ok = 0;

	size_label(param_count(c), label, sizeof(label));
	snprintf(name, sizeof(name), "Llama 3.2 %s Instruct", label);
	ok |= ggufw_kv_str(w, "general.architecture", "llama");
	ok |= ggufw_kv_str(w, "general.type", "model");
	ok |= ggufw_kv_str(w, "general.name", name);
	ok |= ggufw_kv_str(w, "general.finetune", "Instruct");
	ok |= ggufw_kv_str(w, "general.basename", "Llama-3.2");
	ok |= ggufw_kv_str(w, "general.size_label", label);
	ok |= ggufw_kv_str(w, "general.license", "llama3.2");
	ok |= ggufw_kv_u32(w, "llama.block_count", (uint32_t)c->n_layers);
	ok |= ggufw_kv_u32(w, "llama.context_length", 131072);
	ok |= ggufw_kv_u32(w, "llama.embedding_length", (uint32_t)c->dim);
	ok |= ggufw_kv_u32(w, "llama.feed_forward_length", (uint32_t)c->ffn_dim);
	ok |= ggufw_kv_u32(w, "llama.attention.head_count", (uint32_t)c->n_heads);
	ok |= ggufw_kv_u32(w, "llama.attention.head_count_kv", (uint32_t)c->n_kv_heads);
	ok |= ggufw_kv_f32(w, "llama.rope.freq_base", 500000.0f);
	ok |= ggufw_kv_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
	ok |= ggufw_kv_u32(w, "llama.attention.key_length", (uint32_t)c->head_dim);
	ok |= ggufw_kv_u32(w, "llama.attention.value_length", (uint32_t)c->head_dim);
	ok |= ggufw_kv_u32(w, "general.file_type", wtypes[fg->wi].file_type);
	ok |= ggufw_kv_u32(w, "llama.vocab_size", (uint32_t)c->vocab);
	ok |= ggufw_kv_u32(w, "llama.rope.dimension_count", (uint32_t)c->head_dim);
	ok |= ggufw_kv_str(w, "tokenizer.ggml.model", "gpt2");
	ok |= ggufw_kv_str(w, "tokenizer.ggml.pre", "llama-bpe");
	if (ok != 0)
		err(3, NULL);
	copy_kv(w, voc, "tokenizer.ggml.tokens", fg->vocab, L32_GGUF_STR, (uint64_t)c->vocab);
	copy_kv(w, voc, "tokenizer.ggml.token_type", fg->vocab, L32_GGUF_I32,
	    (uint64_t)c->vocab);
	copy_kv(w, voc, "tokenizer.ggml.merges", fg->vocab, L32_GGUF_STR, 0);
	ok |= ggufw_kv_u32(w, "tokenizer.ggml.bos_token_id", 128000);
	ok |= ggufw_kv_u32(w, "tokenizer.ggml.eos_token_id", 128009);
	ok |= ggufw_kv_bool(w, "tokenizer.ggml.add_bos_token", 1);
	ok |= ggufw_kv_bool(w, "tokenizer.ggml.add_sep_token", 0);
	if (ok != 0)
		err(3, NULL);
	copy_kv(w, voc, "tokenizer.chat_template", fg->vocab, -1, 0);
	if (ggufw_kv_u32(w, "general.quantization_version", 2) == -1)
		err(3, NULL);
}

static void
write_gguf(struct forge *fg)
{
	struct l32_mapping map = { 0 };
	struct l32_buf hdr = { 0 };
	struct l32_gguf *voc;
	struct l32_err e;
	struct ggufw *w;

	if (l32_mapfile_open(fg->vocab, &map, &e) == -1 ||
	    (voc = l32_gguf_parse(map.addr, map.len, fg->vocab, &e)) == NULL)
		errx(3, "the tokenizer metadata (--vocab, default from $L32_SHARED): %s",
		    e.msg);
	if ((w = ggufw_new()) == NULL)
		err(3, NULL);
	gguf_metadata(fg, w, voc);
	fg->total = 0;
	for (int i = 0; i < fg->n_t; i++) {
		const struct ftensor *t = &fg->t[i];
		int64_t ne[2] = { t->cols, t->rows };

		if (ggufw_tensor(w, t->name, t->type, t->rows > 1 ? 2 : 1, ne, NULL) == -1)
			err(3, NULL);
		fg->total += t->nbytes + (32 - t->nbytes % 32) % 32;
	}
	if (ggufw_write_header_buf(w, &hdr) == -1)
		err(3, NULL);
	l32_gguf_free(voc);
	l32_mapfile_close(&map);
	ggufw_free(w);

	open_out(fg, fg->out);
	put(fg, hdr.data, hdr.len);
	l32_buf_free(&hdr);
	for (int i = 0; i < fg->n_t; i++)
		stream_tensor(fg, &fg->t[i], (32 - fg->t[i].nbytes % 32) % 32);
	close_out(fg, fg->out);
}

/* ---------------------------------------------------- Hugging Face dir */

static char *
join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) == -1)
		err(3, NULL);
	return p;
}

static void
copy_file(const char *from, const char *to)
{
	char buf[1 << 16];
	FILE *in, *out;
	size_t n;

	if ((in = fopen(from, "rb")) == NULL)
		err(3, "%s", from);
	if ((out = fopen(to, "wb")) == NULL)
		err(3, "%s", to);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			err(3, "%s", to);
	if (ferror(in))
		err(3, "%s", from);
	fclose(in);
	if (fclose(out) != 0)
		err(3, "%s", to);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0)
		err(3, "%s", path);
}

/* config.json and generation_config.json as transformers writes them for
 * Llama 3.2 Instruct. */
static void
write_configs(const struct forge *fg, const char *dir)
{
	const struct l32_recipe_config *c = fg->cfg;
	const char *dtype = wtypes[fg->wi].w == W_F32 ? "float32" :
	    wtypes[fg->wi].w == W_F16 ? "float16" : "bfloat16";
	char *text, *path;

	if (asprintf(&text,
	    "{\n"
	    "  \"architectures\": [\n    \"LlamaForCausalLM\"\n  ],\n"
	    "  \"attention_bias\": false,\n  \"attention_dropout\": 0.0,\n"
	    "  \"bos_token_id\": 128000,\n"
	    "  \"eos_token_id\": [\n    128001,\n    128008,\n    128009\n  ],\n"
	    "  \"head_dim\": %d,\n  \"hidden_act\": \"silu\",\n  \"hidden_size\": %d,\n"
	    "  \"initializer_range\": 0.02,\n  \"intermediate_size\": %d,\n"
	    "  \"max_position_embeddings\": 131072,\n  \"mlp_bias\": false,\n"
	    "  \"model_type\": \"llama\",\n  \"num_attention_heads\": %d,\n"
	    "  \"num_hidden_layers\": %d,\n  \"num_key_value_heads\": %d,\n"
	    "  \"pretraining_tp\": 1,\n  \"rms_norm_eps\": 1e-05,\n"
	    "  \"rope_scaling\": {\n    \"factor\": 32.0,\n    \"high_freq_factor\": 4.0,\n"
	    "    \"low_freq_factor\": 1.0,\n    \"original_max_position_embeddings\": 8192,\n"
	    "    \"rope_type\": \"llama3\"\n  },\n"
	    "  \"rope_theta\": 500000.0,\n  \"tie_word_embeddings\": true,\n"
	    "  \"torch_dtype\": \"%s\",\n  \"transformers_version\": \"4.45.0.dev0\",\n"
	    "  \"use_cache\": true,\n  \"vocab_size\": %d\n}\n",
	    c->head_dim, c->dim, c->ffn_dim, c->n_heads, c->n_layers, c->n_kv_heads,
	    dtype, c->vocab) == -1)
		err(3, NULL);
	path = join(dir, "config.json");
	write_text(path, text);
	free(path);
	free(text);
	path = join(dir, "generation_config.json");
	write_text(path,
	    "{\n  \"bos_token_id\": 128000,\n  \"do_sample\": true,\n"
	    "  \"eos_token_id\": [\n    128001,\n    128008,\n    128009\n  ],\n"
	    "  \"temperature\": 0.6,\n  \"top_p\": 0.9,\n"
	    "  \"transformers_version\": \"4.45.0.dev0\"\n}\n");
	free(path);
}

/* tokenizer.json, and the tokenizer files beside it when present. */
static void
copy_tokenizer(const struct forge *fg, const char *dir)
{
	static const char *const extra[] = { "tokenizer_config.json",
	    "special_tokens_map.json" };
	char *src_dir = strdup(fg->tokenizer), *slash, *from, *to;

	if (src_dir == NULL)
		err(3, NULL);
	to = join(dir, "tokenizer.json");
	copy_file(fg->tokenizer, to);
	free(to);
	if ((slash = strrchr(src_dir, '/')) != NULL)
		*slash = '\0';
	else
		strlcpy(src_dir, ".", 2);
	for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		from = join(src_dir, extra[i]);
		if (access(from, R_OK) == 0) {
			to = join(dir, extra[i]);
			copy_file(from, to);
			free(to);
		}
		free(from);
	}
	free(src_dir);
}

static void
write_hf(struct forge *fg)
{
	const char *dtype = l32_type_traits(wtypes[fg->wi].type)->name;
	struct l32_buf hdr = { 0 };
	struct stw *w;
	char *path;

	if (access(fg->tokenizer, R_OK) == -1)
		err(3, "the tokenizer (--tokenizer, default from $L32_SHARED): %s",
		    fg->tokenizer);
	if (mkdir(fg->out, 0777) == -1 && errno != EEXIST)
		err(3, "%s", fg->out);
	if ((w = stw_new()) == NULL || stw_meta(w, "format", "pt") == -1)
		err(3, NULL);
	fg->total = 0;
	for (int i = 0; i < fg->n_t; i++) {
		const struct ftensor *t = &fg->t[i];
		int64_t shape[2] = { t->rows, t->cols };
		int vec = t->rows == 1;

		if (stw_tensor(w, t->name, dtype, vec ? 1 : 2, vec ? shape + 1 : shape,
		    NULL, t->nbytes) == -1)
			err(3, NULL);
		fg->total += t->nbytes;
	}
	if (stw_write_header_buf(w, &hdr) == -1)
		err(3, NULL);
	stw_free(w);

	write_configs(fg, fg->out);
	copy_tokenizer(fg, fg->out);
	path = join(fg->out, "model.safetensors");
	open_out(fg, path);
	put(fg, hdr.data, hdr.len);
	l32_buf_free(&hdr);
	for (int i = 0; i < fg->n_t; i++)
		stream_tensor(fg, &fg->t[i], 0);
	close_out(fg, path);
	free(path);
}

/* ---------------------------------------------------------------- main */

static const struct l32_recipe_config *
find_config(const char *name)
{
	static const char *const names[][2] = {
		{ "tiny", "tiny" }, { "mini", "mini" }, { "1b", "1B" }, { "1B", "1B" },
		{ "3b", "3B" }, { "3B", "3B" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i][0]) == 0)
			return l32_recipe_config(names[i][1]);
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tokenizer", required_argument, NULL, 'T' },
		{ "vocab", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct forge fg;
	char *vocab_default = NULL, *tok_default = NULL;
	const char *type = NULL, *errstr;
	int ch;

	memset(&fg, 0, sizeof(fg));
	fg.wi = -1;
	while ((ch = getopt_long(argc, argv, "c:f:o:qs:t:V", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			if ((fg.cfg = find_config(optarg)) == NULL)
				errx(2, "-c %s: not one of tiny, mini, 1b, 3b", optarg);
			break;
		case 'f':
			if (strcmp(optarg, "gguf") == 0)
				fg.layout = LAYOUT_GGUF;
			else if (strcmp(optarg, "hf") == 0)
				fg.layout = LAYOUT_HF;
			else
				errx(2, "-f %s: not gguf or hf", optarg);
			break;
		case 'o':
			fg.out = optarg;
			break;
		case 'q':
			fg.quiet = 1;
			break;
		case 's':
			fg.seed = (uint64_t)strtonum(optarg, 0, LLONG_MAX, &errstr);
			if (errstr != NULL)
				errx(2, "-s %s: %s", optarg, errstr);
			break;
		case 't':
			type = optarg;
			break;
		case 'T':
			fg.tokenizer = optarg;
			break;
		case 'v':
			fg.vocab = optarg;
			break;
		case 'V':
			printf("l32-forge %d\n", FORGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc || fg.cfg == NULL || type == NULL || fg.out == NULL)
		usage();
	for (size_t i = 0; i < sizeof(wtypes) / sizeof(wtypes[0]); i++)
		if (strcasecmp(type, wtypes[i].name) == 0)
			fg.wi = (int)i;
	if (fg.wi < 0)
		errx(2, "-t %s: not one of F32, F16, BF16, Q8_0, Q4_0, Q4_K_M", type);
	if (fg.layout == LAYOUT_HF && wtypes[fg.wi].w > W_BF16)
		errx(2, "-t %s: a Hugging Face directory holds F32, F16 or BF16", type);
	if (asprintf(&vocab_default, "%s/golden/tiny/llama32-tiny-s0-F32.gguf",
	    shared_dir()) == -1 || asprintf(&tok_default,
	    "%s/golden/tiny/hf-bf16/tokenizer.json", shared_dir()) == -1)
		err(3, NULL);
	if (fg.vocab == NULL)
		fg.vocab = vocab_default;
	if (fg.tokenizer == NULL)
		fg.tokenizer = tok_default;

	if ((fg.t = calloc(MAX_TENSORS, sizeof(*fg.t))) == NULL)
		err(3, NULL);
	atexit(remove_partial);
	rope_divisors(fg.cfg->head_dim, fg.rope_freqs);
	if (fg.layout == LAYOUT_GGUF)
		plan_gguf(&fg);
	else
		plan_hf(&fg);
	/* progress for files that take more than a moment */
	if (!fg.quiet && param_count(fg.cfg) > 100000000)
		fg.progress = isatty(STDERR_FILENO) ? 1 : 2;
	if (fg.layout == LAYOUT_GGUF)
		write_gguf(&fg);
	else
		write_hf(&fg);
	free(fg.t);
	free(vocab_default);
	free(tok_default);
	return 0;
}
