/*
 * test_gguf.c - the GGUF reader: the golden files' headers, every
 * metadata type (written by tests/lib/ggufw.c and read back), and damaged
 * images: truncated at many offsets, bad magic and versions, huge counts and
 * lengths, tensors out of range or overlapping, unknown types.  Each damaged
 * image must give NULL and a message naming the source and the fault.
 *
 * With L32_WRITE_CORPUS=dir, also writes the fuzz seeds of fuzz_gguf there.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "ggufw.h"
#include "base/mapfile.h"
#include "micromodel.h"

/* ------------------------------------------------------------- helpers */

static char *
golden(const char *rel)
{
	const char *s = getenv("L32_SHARED");
	static char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/golden/%s", s != NULL && *s ? s : "../shared", rel);
	if ((f = fopen(path, "rb")) == NULL)
		ck_abort_msg("reference data missing: %s (set L32_SHARED)", path);
	fclose(f);
	return path;
}

static struct l32_mapping
map_golden(const char *rel)
{
	struct l32_mapping m;
	struct l32_err err = { 0 };
	const char *path = golden(rel);

	ck_assert_msg(l32_mapfile_open(path, &m, &err) == 0, "%s", err.msg);
	return m;
}

/* The parse must fail with a message naming the source and holding want. */
static void
expect_fail(const void *buf, size_t len, const char *want, enum l32_err_kind kind)
{
	struct l32_err err = { 0 };
	struct l32_gguf *g = l32_gguf_parse(buf, len, "bad.gguf", &err);

	ck_assert_msg(g == NULL, "parsed a damaged image (want \"%s\")", want);
	ck_assert_msg(strncmp(err.msg, "bad.gguf: ", 10) == 0, "message does not name the file: %s",
	    err.msg);
	ck_assert_msg(want == NULL || strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"",
	    err.msg, want);
	if (kind != L32_ERR_NONE)
		ck_assert_msg(err.kind == kind, "kind %d, want %d: %s", err.kind, kind, err.msg);
}

static struct l32_gguf *
parse_ok(const void *buf, size_t len)
{
	struct l32_err err = { 0 };
	struct l32_gguf *g = l32_gguf_parse(buf, len, "ok.gguf", &err);

	ck_assert_msg(g != NULL, "%s", err.msg);
	return g;
}

static void
put_le(void *p, uint64_t v, int n)
{
	unsigned char *b = p;
	int i;

	for (i = 0; i < n; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

/* Offset of the tensor info of name in a GGUF image: its u64 length. */
static size_t
info_at(const struct l32_buf *b, const char *name)
{
	size_t n = strlen(name);
	const char *p = memmem(b->data, b->len, name, n);

	ck_assert_msg(p != NULL, "no %s in the image", name);
	return (size_t)(p - b->data) - 8;
}

/* Field offsets inside a tensor info (n_dims dims). */
static size_t
info_type_at(const struct l32_buf *b, const char *name, int n_dims)
{
	return info_at(b, name) + 8 + strlen(name) + 4 + 8 * (size_t)n_dims;
}

/* A small image: two metadata pairs and two F32 tensors [4] and [4, 2]. */
static void
small_image(struct l32_buf *out)
{
	static const float a[4] = { 1, 2, 3, 4 }, b[8] = { 5, 6, 7, 8, 9, 10, 11, 12 };
	struct ggufw *w = ggufw_new();
	int64_t ne_a[1] = { 4 }, ne_b[2] = { 4, 2 };

	ck_assert(w != NULL);
	ck_assert(ggufw_kv_str(w, "general.architecture", "llama") == 0);
	ck_assert(ggufw_kv_u32(w, "test.count", 7) == 0);
	ck_assert(ggufw_tensor(w, "a", L32_TYPE_F32, 1, ne_a, a) == 0);
	ck_assert(ggufw_tensor(w, "bb", L32_TYPE_F32, 2, ne_b, b) == 0);
	ck_assert(ggufw_write_buf(w, out) == 0);
	ggufw_free(w);
}

/* --------------------------------------------------------- golden files */

START_TEST(golden_f32_header)
{
	struct l32_mapping m = map_golden("tiny/llama32-tiny-s0-F32.gguf");
	const struct l32_gguf_value *v;
	const struct l32_gguf_tensor *t;
	struct l32_gguf_value e;
	struct l32_err err = { 0 };
	struct l32_gguf *g = parse_ok(m.addr, m.len);
	const char *s;
	double f;
	int64_t i;
	size_t pos = 0, n, k;
	int b;

	ck_assert_uint_eq(g->version, 3);
	ck_assert_uint_eq(g->n_tensors, 21);
	ck_assert_uint_eq(g->n_kv, 31);
	ck_assert_uint_eq(g->alignment, 32);
	ck_assert_uint_eq(g->data_offset % 32, 0);
	ck_assert_int_eq(l32_gguf_get_str(g, "general.architecture", &s, &n, &err), 1);
	ck_assert(n == 5 && memcmp(s, "llama", 5) == 0);
	ck_assert_int_eq(l32_gguf_get_int(g, "llama.block_count", 0, 100, &i, &err), 1);
	ck_assert_int_eq(i, 2);
	ck_assert_int_eq(l32_gguf_get_int(g, "llama.vocab_size", 0, INT32_MAX, &i, &err), 1);
	ck_assert_int_eq(i, 128256);
	ck_assert_int_eq(l32_gguf_get_float(g, "llama.rope.freq_base", &f, &err), 1);
	ck_assert(f == 500000.0);
	ck_assert_int_eq(l32_gguf_get_float(g, "llama.attention.layer_norm_rms_epsilon", &f, &err), 1);
	ck_assert(fabs(f - 1e-5) < 1e-12);
	ck_assert_int_eq(l32_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, &err), 1);
	ck_assert_int_eq(b, 1);
	ck_assert_int_eq(l32_gguf_get_int(g, "no.such.key", 0, 1, &i, &err), 0);
	ck_assert_ptr_null(l32_gguf_find(g, "no.such.key"));

	ck_assert_int_eq(l32_gguf_get_arr(g, "tokenizer.ggml.tokens", L32_GGUF_STR, &v, &err), 1);
	ck_assert_uint_eq(v->n, 128256);
	ck_assert_int_eq(l32_gguf_arr_next(v, &pos, &e), 0);
	ck_assert(e.type == L32_GGUF_STR && e.len == 1 && e.str[0] == '!');
	for (k = 1; k < 128256; k++)
		ck_assert_int_eq(l32_gguf_arr_next(v, &pos, &e), 0);
	ck_assert(e.len == strlen("<|reserved_special_token_247|>") &&
	    memcmp(e.str, "<|reserved_special_token_247|>", e.len) == 0);
	ck_assert_int_eq(l32_gguf_arr_next(v, &pos, &e), -1);
	ck_assert_int_eq(l32_gguf_get_arr(g, "tokenizer.ggml.merges", L32_GGUF_STR, &v, &err), 1);
	ck_assert_uint_eq(v->n, 280147);
	ck_assert_int_eq(l32_gguf_get_arr(g, "tokenizer.ggml.token_type", L32_GGUF_I32, &v, &err), 1);
	ck_assert_uint_eq(v->bytes, 4 * 128256);

	t = l32_gguf_find_tensor(g, "token_embd.weight");
	ck_assert_ptr_nonnull(t);
	ck_assert(t->type == L32_TYPE_F32 && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 128256);
	ck_assert_uint_eq(t->nbytes, (size_t)64 * 128256 * 4);
	ck_assert_ptr_eq(t->data, (const char *)m.addr + g->data_offset + t->offset);
	t = l32_gguf_find_tensor(g, "rope_freqs.weight");
	ck_assert(t != NULL && t->n_dims == 1 && t->ne[0] == 8);
	ck_assert_ptr_nonnull(l32_gguf_find_tensor(g, "blk.1.ffn_down.weight"));
	ck_assert_ptr_null(l32_gguf_find_tensor(g, "output.weight"));
	l32_gguf_free(g);
	l32_mapfile_close(&m);
}
END_TEST

START_TEST(golden_type_errors)
{
	struct l32_mapping m = map_golden("tiny/llama32-tiny-s0-F32.gguf");
	struct l32_gguf *g = parse_ok(m.addr, m.len);
	const struct l32_gguf_value *v;
	struct l32_err err = { 0 };
	const char *s;
	double f;
	int64_t i;
	size_t n;
	int b;

	ck_assert_int_eq(l32_gguf_get_int(g, "general.architecture", 0, 9, &i, &err), -1);
	ck_assert_str_eq(err.msg, "ok.gguf: metadata key general.architecture: type string, expected an integer");
	ck_assert_int_eq(l32_gguf_get_str(g, "llama.block_count", &s, &n, &err), -1);
	ck_assert_str_eq(err.msg, "ok.gguf: metadata key llama.block_count: type u32, expected string");
	ck_assert_int_eq(l32_gguf_get_float(g, "llama.block_count", &f, &err), -1);
	ck_assert_int_eq(l32_gguf_get_bool(g, "llama.rope.freq_base", &b, &err), -1);
	ck_assert(strstr(err.msg, "type f32, expected bool") != NULL);
	ck_assert_int_eq(l32_gguf_get_arr(g, "tokenizer.ggml.tokens", L32_GGUF_I32, &v, &err), -1);
	ck_assert_str_eq(err.msg,
	    "ok.gguf: metadata key tokenizer.ggml.tokens: type array of string, expected array of i32");
	ck_assert_int_eq(l32_gguf_get_int(g, "llama.block_count", 3, 9, &i, &err), -1);
	ck_assert_str_eq(err.msg, "ok.gguf: metadata key llama.block_count: value 2 out of range 3..9");
	l32_gguf_free(g);
	l32_mapfile_close(&m);
}
END_TEST

START_TEST(golden_q4_k_m_types)
{
	static const struct { const char *name; enum l32_type type; } tiny[] = {
		{ "token_embd.weight", L32_TYPE_Q8_0 }, { "blk.1.attn_v.weight", L32_TYPE_Q8_0 },
		{ "blk.1.ffn_down.weight", L32_TYPE_Q8_0 }, { "blk.0.attn_v.weight", L32_TYPE_Q5_0 },
		{ "blk.0.ffn_down.weight", L32_TYPE_Q5_0 }, { "blk.1.attn_q.weight", L32_TYPE_Q5_0 },
		{ "blk.0.attn_norm.weight", L32_TYPE_F32 }, { "rope_freqs.weight", L32_TYPE_F32 },
	}, mini[] = {
		{ "token_embd.weight", L32_TYPE_Q6_K }, { "blk.0.attn_q.weight", L32_TYPE_Q4_K },
		{ "blk.2.attn_v.weight", L32_TYPE_Q6_K }, { "blk.3.ffn_down.weight", L32_TYPE_Q6_K },
		{ "blk.0.ffn_down.weight", L32_TYPE_Q4_K }, { "output_norm.weight", L32_TYPE_F32 },
	};
	struct l32_mapping m = map_golden("tiny/llama32-tiny-s0-Q4_K_M.gguf");
	const struct l32_gguf_tensor *t;
	struct l32_gguf *g = parse_ok(m.addr, m.len);
	size_t k;

	/* llama.cpp's order: output_norm first, not token_embd. */
	ck_assert_str_eq(g->tensors[0].name, "output_norm.weight");
	for (k = 0; k < sizeof(tiny) / sizeof(tiny[0]); k++) {
		t = l32_gguf_find_tensor(g, tiny[k].name);
		ck_assert_msg(t != NULL && t->type == tiny[k].type, "%s", tiny[k].name);
	}
	t = l32_gguf_find_tensor(g, "blk.0.attn_q.weight");
	ck_assert_uint_eq(t->nbytes, 64 * 2 * 22); /* 64 rows of 2 Q5_0 blocks */
	l32_gguf_free(g);
	l32_mapfile_close(&m);

	m = map_golden("mini/llama32-mini-s0-Q4_K_M.gguf");
	g = parse_ok(m.addr, m.len);
	for (k = 0; k < sizeof(mini) / sizeof(mini[0]); k++) {
		t = l32_gguf_find_tensor(g, mini[k].name);
		ck_assert_msg(t != NULL && t->type == mini[k].type, "%s", mini[k].name);
	}
	t = l32_gguf_find_tensor(g, "token_embd.weight");
	ck_assert_uint_eq(t->nbytes, (size_t)128256 * 210); /* one Q6_K block a row */
	l32_gguf_free(g);
	l32_mapfile_close(&m);
}
END_TEST

/* ------------------------------------------------------- every value type */

/* Metadata of every type, arrays of arrays, alignment 64, version 2. */
static void
all_types_image(struct l32_buf *out)
{
	static const int32_t ints[3] = { -1, 0, 7 };
	static const uint8_t bools[3] = { 1, 0, 1 };
	static const double f64s[2] = { 0.5, -2.25 };
	static const char *const strs[2] = { "x", "" };
	static const float data[64] = { 1.5f };
	struct l32_buf nested = { 0 }, inner = { 0 };
	struct ggufw *w = ggufw_new();
	int64_t ne[2] = { 32, 2 };
	int k;

	ck_assert(w != NULL);
	ggufw_set_version(w, 2);
	ck_assert(ggufw_alignment(w, 64) == 0);
	ck_assert(ggufw_kv_u8(w, "t.u8", 200) == 0);
	ck_assert(ggufw_kv_i8(w, "t.i8", -100) == 0);
	ck_assert(ggufw_kv_u16(w, "t.u16", 65000) == 0);
	ck_assert(ggufw_kv_i16(w, "t.i16", -30000) == 0);
	ck_assert(ggufw_kv_u32(w, "t.u32", 4000000000u) == 0);
	ck_assert(ggufw_kv_i32(w, "t.i32", -2000000000) == 0);
	ck_assert(ggufw_kv_u64(w, "t.u64", UINT64_MAX) == 0);
	ck_assert(ggufw_kv_i64(w, "t.i64", INT64_MIN) == 0);
	ck_assert(ggufw_kv_f32(w, "t.f32", 0.25f) == 0);
	ck_assert(ggufw_kv_f64(w, "t.f64", 1e300) == 0);
	ck_assert(ggufw_kv_bool(w, "t.bool", 1) == 0);
	ck_assert(ggufw_kv_str(w, "t.str", "h\xc3\xa9llo") == 0);
	ck_assert(ggufw_kv_strn(w, "t.empty", "", 0) == 0);
	ck_assert(ggufw_kv_arr(w, "t.arr.i32", L32_GGUF_I32, ints, 3) == 0);
	ck_assert(ggufw_kv_arr(w, "t.arr.bool", L32_GGUF_BOOL, bools, 3) == 0);
	ck_assert(ggufw_kv_arr(w, "t.arr.f64", L32_GGUF_F64, f64s, 2) == 0);
	ck_assert(ggufw_kv_arr(w, "t.arr.empty", L32_GGUF_U8, NULL, 0) == 0);
	ck_assert(ggufw_kv_arr_str(w, "t.arr.str", strs, NULL, 2) == 0);
	/* [[x, ""], [x, ""], [x, ""]]: an array of 3 arrays of strings */
	ggufw_put_u32(&nested, L32_GGUF_ARR);
	ggufw_put_u64(&nested, 3);
	ggufw_put_u32(&inner, L32_GGUF_STR);
	ggufw_put_u64(&inner, 2);
	ggufw_put_str(&inner, "x", 1);
	ggufw_put_str(&inner, "", 0);
	for (k = 0; k < 3; k++)
		l32_buf_append(&nested, inner.data, inner.len);
	ck_assert(ggufw_kv_raw(w, "t.arr.nested", L32_GGUF_ARR, nested.data, nested.len) == 0);
	ck_assert(ggufw_tensor(w, "w", L32_TYPE_F32, 2, ne, data) == 0);
	ck_assert(ggufw_tensor(w, "q", L32_TYPE_Q8_0, 2, ne, NULL) == 0);
	ck_assert(ggufw_write_buf(w, out) == 0);
	ggufw_free(w);
	l32_buf_free(&nested);
	l32_buf_free(&inner);
}

START_TEST(all_value_types)
{
	static const int ints[3] = { -1, 0, 7 };
	struct l32_buf b = { 0 };
	const struct l32_gguf_value *v;
	const struct l32_gguf_tensor *t, *q;
	struct l32_gguf_value e, s;
	struct l32_err err = { 0 };
	struct l32_gguf *g;
	size_t pos = 0, spos;
	int64_t i;
	float f;
	int k;

	all_types_image(&b);
	g = parse_ok(b.data, b.len);
	ck_assert_uint_eq(g->version, 2);
	ck_assert_uint_eq(g->alignment, 64);
	ck_assert_uint_eq(g->data_offset % 64, 0);
	ck_assert(l32_gguf_find(g, "t.u8")->u == 200);
	ck_assert(l32_gguf_find(g, "t.i8")->i == -100);
	ck_assert(l32_gguf_find(g, "t.u16")->u == 65000);
	ck_assert(l32_gguf_find(g, "t.i16")->i == -30000);
	ck_assert(l32_gguf_find(g, "t.u32")->u == 4000000000u);
	ck_assert(l32_gguf_find(g, "t.i32")->i == -2000000000);
	ck_assert(l32_gguf_find(g, "t.u64")->u == UINT64_MAX);
	ck_assert(l32_gguf_find(g, "t.i64")->i == INT64_MIN);
	ck_assert(l32_gguf_find(g, "t.f32")->f == 0.25);
	ck_assert(l32_gguf_find(g, "t.f64")->f == 1e300);
	ck_assert(l32_gguf_find(g, "t.bool")->u == 1);
	ck_assert(l32_gguf_str_is(l32_gguf_find(g, "t.str"), "h\xc3\xa9llo"));
	ck_assert(l32_gguf_str_is(l32_gguf_find(g, "t.empty"), ""));
	/* u64 beyond int64 is out of any int64 range */
	ck_assert_int_eq(l32_gguf_get_int(g, "t.u64", 0, INT64_MAX, &i, &err), -1);
	ck_assert_int_eq(l32_gguf_get_int(g, "t.i8", -128, 127, &i, &err), 1);
	ck_assert_int_eq(i, -100);

	v = l32_gguf_find(g, "t.arr.i32");
	ck_assert(v->type == L32_GGUF_ARR && v->elem == L32_GGUF_I32 && v->n == 3);
	for (k = 0; k < 3; k++) {
		ck_assert_int_eq(l32_gguf_arr_next(v, &pos, &e), 0);
		ck_assert_int_eq(e.i, ints[k]);
	}
	v = l32_gguf_find(g, "t.arr.f64");
	pos = 0;
	ck_assert(l32_gguf_arr_next(v, &pos, &e) == 0 && e.f == 0.5);
	ck_assert(l32_gguf_arr_next(v, &pos, &e) == 0 && e.f == -2.25);
	v = l32_gguf_find(g, "t.arr.empty");
	pos = 0;
	ck_assert(v->n == 0 && l32_gguf_arr_next(v, &pos, &e) == -1);

	ck_assert_int_eq(l32_gguf_get_arr(g, "t.arr.nested", L32_GGUF_ARR, &v, &err), 1);
	ck_assert_uint_eq(v->n, 3);
	pos = 0;
	for (k = 0; k < 3; k++) {
		ck_assert_int_eq(l32_gguf_arr_next(v, &pos, &e), 0);
		ck_assert(e.type == L32_GGUF_ARR && e.elem == L32_GGUF_STR && e.n == 2);
		spos = 0;
		ck_assert(l32_gguf_arr_next(&e, &spos, &s) == 0 && s.len == 1 && s.str[0] == 'x');
		ck_assert(l32_gguf_arr_next(&e, &spos, &s) == 0 && s.len == 0);
		ck_assert(l32_gguf_arr_next(&e, &spos, &s) == -1);
	}
	ck_assert_int_eq(l32_gguf_arr_next(v, &pos, &e), -1);

	t = l32_gguf_find_tensor(g, "w");
	q = l32_gguf_find_tensor(g, "q");
	ck_assert(t != NULL && q != NULL);
	ck_assert_uint_eq(t->offset % 64, 0);
	ck_assert_uint_eq(q->offset % 64, 0);
	ck_assert_uint_eq(q->nbytes, 2 * 34);
	memcpy(&f, t->data, 4);
	ck_assert(f == 1.5f);
	l32_gguf_free(g);
	l32_buf_free(&b);
}
END_TEST

/* --------------------------------------------------------------- damage */

START_TEST(truncated_small)
{
	struct l32_buf b = { 0 };
	struct l32_gguf *g;
	size_t n, end;

	small_image(&b);
	for (n = 0; n < b.len; n++)
		expect_fail(b.data, n, NULL, L32_ERR_FORMAT);
	l32_gguf_free(parse_ok(b.data, b.len));
	l32_buf_free(&b);

	/* every cut before the end of the last tensor's bytes (the padding
	 * after it is not needed) */
	all_types_image(&b);
	g = parse_ok(b.data, b.len);
	end = g->data_offset + g->tensors[1].offset + g->tensors[1].nbytes;
	l32_gguf_free(g);
	for (n = 0; n < end; n++)
		expect_fail(b.data, n, NULL, L32_ERR_FORMAT);
	l32_gguf_free(parse_ok(b.data, end));
	l32_buf_free(&b);
}
END_TEST

START_TEST(truncated_golden)
{
	struct l32_mapping m = map_golden("tiny/llama32-tiny-s0-F32.gguf");
	struct l32_err err = { 0 };
	struct l32_gguf *g = parse_ok(m.addr, m.len);
	size_t data = g->data_offset, n, k;

	l32_gguf_free(g);
	for (n = 0; n < 64; n++)
		expect_fail(m.addr, n, NULL, L32_ERR_FORMAT);
	/* 300 cuts through the metadata and infos (at odd offsets), 40 through the data */
	for (k = 0; k < 300; k++) {
		n = 64 + (data - 64) / 300 * k + k % 7;
		g = l32_gguf_parse(m.addr, n, "cut.gguf", &err);
		ck_assert_msg(g == NULL, "parsed a prefix of %zu bytes", n);
		ck_assert_msg(strncmp(err.msg, "cut.gguf: ", 10) == 0 && (strstr(err.msg, "truncated") ||
		    strstr(err.msg, "exceeds") || strstr(err.msg, "outside")), "%zu: %s", n, err.msg);
	}
	for (k = 0; k < 40; k++) {
		n = data + (m.len - data) / 40 * k + 3;
		expect_fail(m.addr, n, "outside the data section", L32_ERR_FORMAT);
	}
	expect_fail(m.addr, m.len - 1, "tensor output_norm.weight", L32_ERR_FORMAT);
	l32_mapfile_close(&m);
}
END_TEST

START_TEST(bad_header)
{
	struct l32_buf b = { 0 };

	small_image(&b);
	b.data[0] = 'g';
	expect_fail(b.data, b.len, "not a GGUF file: magic 67 47 55 46", L32_ERR_FORMAT);
	b.data[0] = 'G';
	put_le(b.data + 4, 0, 4);
	expect_fail(b.data, b.len, "version 0", L32_ERR_FORMAT);
	put_le(b.data + 4, 1, 4);
	expect_fail(b.data, b.len, "version 1 is not supported", L32_ERR_UNSUPPORTED);
	put_le(b.data + 4, 4, 4);
	expect_fail(b.data, b.len, "version 4 is not supported", L32_ERR_UNSUPPORTED);
	put_le(b.data + 4, 0x03000000, 4);
	expect_fail(b.data, b.len, "big-endian", L32_ERR_UNSUPPORTED);
	put_le(b.data + 4, 3, 4);
	l32_gguf_free(parse_ok(b.data, b.len));
	expect_fail("GGU", 3, "too short for the magic", L32_ERR_FORMAT);
	l32_buf_free(&b);
}
END_TEST

START_TEST(huge_counts)
{
	struct l32_buf b = { 0 };
	size_t key0 = 24, val1;

	small_image(&b);
	/* counts: tensors at 8, metadata at 16 */
	put_le(b.data + 8, UINT64_MAX, 8);
	expect_fail(b.data, b.len, "tensor count 18446744073709551615 exceeds", L32_ERR_FORMAT);
	put_le(b.data + 8, 2, 8);
	put_le(b.data + 16, (uint64_t)1 << 62, 8);
	expect_fail(b.data, b.len, "metadata count 4611686018427387904 exceeds", L32_ERR_FORMAT);
	put_le(b.data + 16, 2, 8);
	/* the first key's length */
	put_le(b.data + key0, (uint64_t)1 << 60, 8);
	expect_fail(b.data, b.len, "metadata key of 1152921504606846976 bytes exceeds", L32_ERR_FORMAT);
	put_le(b.data + key0, 20, 8);
	/* the first value's string length (after key, type) */
	val1 = key0 + 8 + 20 + 4;
	put_le(b.data + val1, UINT64_MAX - 3, 8);
	expect_fail(b.data, b.len, "string value of 18446744073709551612 bytes", L32_ERR_FORMAT);
	put_le(b.data + val1, 5, 8);
	l32_gguf_free(parse_ok(b.data, b.len));
	l32_buf_free(&b);
}
END_TEST

START_TEST(huge_array)
{
	struct l32_mapping m = map_golden("tiny/llama32-tiny-s0-F32.gguf");
	struct l32_buf b = { 0 };
	const char *key = "tokenizer.ggml.merges";
	char *p;
	size_t at;

	/* a private copy of the metadata: patch the merges' count */
	l32_buf_append(&b, m.addr, 8000000);
	p = memmem(b.data, b.len, key, strlen(key));
	ck_assert_ptr_nonnull(p);
	at = (size_t)(p - b.data) + strlen(key) + 4 + 4; /* type ARR, element type STR */
	put_le(b.data + at, (uint64_t)1 << 61, 8);
	expect_fail(b.data, b.len, "metadata key tokenizer.ggml.merges: array of 2305843009213693952 string exceeds",
	    L32_ERR_FORMAT);
	put_le(b.data + at - 4, 99, 4);
	expect_fail(b.data, b.len, "unknown array element type 99", L32_ERR_FORMAT);
	l32_buf_free(&b);
	l32_mapfile_close(&m);
}
END_TEST

START_TEST(bad_values)
{
	struct ggufw *w;
	struct l32_buf b = { 0 }, raw = { 0 };
	int k;

	/* bool 2 */
	w = ggufw_new();
	ggufw_kv_raw(w, "flag", L32_GGUF_BOOL, "\x02", 1);
	ggufw_write_buf(w, &b);
	expect_fail(b.data, b.len, "metadata key flag: bool value 2", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_reset(&b);
	/* unknown value type */
	w = ggufw_new();
	ggufw_kv_raw(w, "odd", 13, "\0\0\0\0", 4);
	ggufw_write_buf(w, &b);
	expect_fail(b.data, b.len, "metadata key odd: unknown value type 13", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_reset(&b);
	/* arrays nested 9 deep */
	for (k = 0; k < 8; k++) {
		ggufw_put_u32(&raw, L32_GGUF_ARR);
		ggufw_put_u64(&raw, 1);
	}
	ggufw_put_u32(&raw, L32_GGUF_U8);
	ggufw_put_u64(&raw, 0);
	w = ggufw_new();
	ggufw_kv_raw(w, "deep", L32_GGUF_ARR, raw.data, raw.len);
	ggufw_write_buf(w, &b);
	expect_fail(b.data, b.len, "metadata key deep: arrays nested deeper than 8", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_reset(&b);
	/* a key twice */
	w = ggufw_new();
	ggufw_kv_u32(w, "k", 1);
	ggufw_kv_u32(w, "k", 2);
	ggufw_write_buf(w, &b);
	expect_fail(b.data, b.len, "metadata key k appears twice", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_reset(&b);
	/* an empty key, a NUL in a key */
	w = ggufw_new();
	ggufw_kv_u32(w, "", 1);
	ggufw_write_buf(w, &b);
	expect_fail(b.data, b.len, "metadata key of 0 bytes", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_reset(&b);
	w = ggufw_new();
	ggufw_kv_u32(w, "a", 1);
	ggufw_write_buf(w, &b);
	b.data[24 + 8] = '\0';
	expect_fail(b.data, b.len, "metadata key holds a NUL byte", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_reset(&b);
	/* alignment: not a power of two; zero; wrong type */
	w = ggufw_new();
	ggufw_kv_u32(w, "general.alignment", 48);
	ggufw_write_buf(w, &b);
	expect_fail(b.data, b.len, "general.alignment: value 48 is not a power of two", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_reset(&b);
	w = ggufw_new();
	ggufw_kv_u32(w, "general.alignment", 0);
	ggufw_write_buf(w, &b);
	expect_fail(b.data, b.len, "general.alignment: value 0 out of range", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_reset(&b);
	w = ggufw_new();
	ggufw_kv_str(w, "general.alignment", "32");
	ggufw_write_buf(w, &b);
	expect_fail(b.data, b.len, "general.alignment: type string, expected an integer", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_free(&b);
	l32_buf_free(&raw);
}
END_TEST

START_TEST(bad_tensors)
{
	struct l32_buf b = { 0 };
	size_t at;

	small_image(&b);
	/* type ids: unknown (4, 99), known but unsupported (Q2_K, Q8_K) */
	at = info_type_at(&b, "bb", 2);
	put_le(b.data + at, 99, 4);
	expect_fail(b.data, b.len, "tensor bb: unknown type id 99", L32_ERR_FORMAT);
	put_le(b.data + at, 4, 4);
	expect_fail(b.data, b.len, "tensor bb: unknown type id 4", L32_ERR_FORMAT);
	put_le(b.data + at, L32_TYPE_Q2_K, 4);
	expect_fail(b.data, b.len, "tensor bb: type Q2_K is not supported", L32_ERR_UNSUPPORTED);
	put_le(b.data + at, L32_TYPE_Q8_0, 4); /* rows of 4 values, Q8_0 blocks of 32 */
	expect_fail(b.data, b.len, "tensor bb: row of 4 values is not a whole number of Q8_0 blocks",
	    L32_ERR_FORMAT);
	put_le(b.data + at, L32_TYPE_F32, 4);
	/* offsets: beyond the data, misaligned, overlapping */
	put_le(b.data + at + 4, 1 << 20, 8);
	expect_fail(b.data, b.len, "tensor bb: 32 bytes at offset 1048576 lie outside the data section",
	    L32_ERR_FORMAT);
	put_le(b.data + at + 4, UINT64_MAX - 31, 8);
	expect_fail(b.data, b.len, "tensor bb: 32 bytes at offset 18446744073709551584 lie outside",
	    L32_ERR_FORMAT);
	put_le(b.data + at + 4, 8, 8);
	expect_fail(b.data, b.len, "tensor bb: offset 8 is not a multiple of the alignment 32",
	    L32_ERR_FORMAT);
	put_le(b.data + at + 4, 0, 8);
	expect_fail(b.data, b.len, "offset 0) overlap", L32_ERR_FORMAT);
	put_le(b.data + at + 4, 32, 8);
	l32_gguf_free(parse_ok(b.data, b.len));
	/* dimensions: count, zero, huge, product overflow */
	at = info_at(&b, "bb") + 8 + 2;
	put_le(b.data + at, 5, 4);
	expect_fail(b.data, b.len, "tensor bb: 5 dimensions (1..4 allowed)", L32_ERR_FORMAT);
	put_le(b.data + at, 0, 4);
	expect_fail(b.data, b.len, "tensor bb: 0 dimensions", L32_ERR_FORMAT);
	put_le(b.data + at, 2, 4);
	put_le(b.data + at + 4, 0, 8);
	expect_fail(b.data, b.len, "tensor bb: dimension 0 is 0", L32_ERR_FORMAT);
	put_le(b.data + at + 4, UINT64_MAX, 8);
	expect_fail(b.data, b.len, "tensor bb: dimension 0 is 18446744073709551615", L32_ERR_FORMAT);
	put_le(b.data + at + 4, (uint64_t)1 << 62, 8);
	expect_fail(b.data, b.len, "tensor bb: shape [4611686018427387904, 2, 1, 1] is too large",
	    L32_ERR_FORMAT);
	put_le(b.data + at + 12, (uint64_t)1 << 40, 8);
	put_le(b.data + at + 4, (uint64_t)1 << 40, 8);
	expect_fail(b.data, b.len, "is too large", L32_ERR_FORMAT);
	put_le(b.data + at + 4, 4, 8);
	put_le(b.data + at + 12, 2, 8);
	l32_gguf_free(parse_ok(b.data, b.len));
	l32_buf_free(&b);
}
END_TEST

START_TEST(bad_tensor_names)
{
	struct ggufw *w = ggufw_new();
	struct l32_buf b = { 0 };
	int64_t ne[1] = { 4 };
	char longname[300];

	ggufw_tensor(w, "same", L32_TYPE_F32, 1, ne, NULL);
	ggufw_tensor(w, "same", L32_TYPE_F32, 1, ne, NULL);
	ggufw_write_buf(w, &b);
	expect_fail(b.data, b.len, "tensor same appears twice", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_reset(&b);

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	w = ggufw_new();
	ggufw_tensor(w, longname, L32_TYPE_F32, 1, ne, NULL);
	ggufw_write_buf(w, &b);
	expect_fail(b.data, b.len, "tensor 0: name of 299 bytes", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_reset(&b);

	w = ggufw_new();
	ggufw_tensor(w, "ab", L32_TYPE_F32, 1, ne, NULL);
	ggufw_write_buf(w, &b);
	b.data[info_at(&b, "ab") + 8] = '\0';
	expect_fail(b.data, b.len, "tensor name holds a NUL byte", L32_ERR_FORMAT);
	ggufw_free(w);
	l32_buf_free(&b);
}
END_TEST

START_TEST(no_tensors)
{
	struct ggufw *w = ggufw_new();
	struct l32_buf b = { 0 };
	struct l32_gguf *g;

	ggufw_kv_u32(w, "k", 1);
	ggufw_write_buf(w, &b);
	g = parse_ok(b.data, b.len);
	ck_assert_uint_eq(g->n_tensors, 0);
	ck_assert_ptr_null(l32_gguf_find_tensor(g, "x"));
	l32_gguf_free(g);
	/* without the padding to the data section */
	g = parse_ok(b.data, 24 + 8 + 1 + 4 + 4);
	l32_gguf_free(g);
	ggufw_free(w);
	l32_buf_free(&b);
}
END_TEST

START_TEST(written_file)
{
	static const float a[4] = { 1, 2, 3, 4 };
	struct ggufw *w = ggufw_new();
	struct l32_mapping m;
	struct l32_buf b = { 0 };
	struct l32_err err = { 0 };
	struct l32_gguf *g;
	int64_t ne[1] = { 4 };
	char path[] = "/tmp/l32-ggufw-XXXXXX";
	int fd = mkstemp(path);

	ck_assert(fd != -1 && w != NULL);
	close(fd);
	ck_assert(ggufw_kv_str(w, "general.architecture", "llama") == 0);
	ck_assert(ggufw_tensor(w, "a", L32_TYPE_F32, 1, ne, a) == 0);
	ck_assert_msg(ggufw_write_file(w, path, &err) == 0, "%s", err.msg);
	ck_assert(ggufw_write_buf(w, &b) == 0);
	ck_assert_msg(l32_mapfile_open(path, &m, &err) == 0, "%s", err.msg);
	ck_assert(m.len == b.len && memcmp(m.addr, b.data, b.len) == 0);
	g = parse_ok(m.addr, m.len);
	ck_assert(memcmp(l32_gguf_find_tensor(g, "a")->data, a, sizeof(a)) == 0);
	l32_gguf_free(g);
	l32_mapfile_close(&m);
	unlink(path);
	ck_assert(ggufw_write_file(w, "/nonexistent/dir/x.gguf", &err) == -1);
	ck_assert(strstr(err.msg, "/nonexistent/dir/x.gguf") != NULL);
	ggufw_free(w);
	l32_buf_free(&b);
}
END_TEST

/* ----------------------------------------------------------- fuzz seeds */

static void
write_seed(const char *dir, const char *name, const struct l32_buf *b)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_msg((f = fopen(path, "wb")) != NULL, "%s", path);
	ck_assert(fwrite(b->data, 1, b->len, f) == b->len);
	ck_assert(fclose(f) == 0);
}

START_TEST(corpus)
{
	const char *dir = getenv("L32_WRITE_CORPUS");
	struct micro_opts o;
	struct l32_buf b = { 0 };

	if (dir == NULL)
		return;
	small_image(&b);
	write_seed(dir, "small.gguf", &b);
	l32_buf_reset(&b);
	all_types_image(&b);
	write_seed(dir, "all-types-v2.gguf", &b);
	l32_buf_reset(&b);
	micro_defaults(&o);
	ck_assert(micro_gguf(&o, &b) == 0);
	write_seed(dir, "micro-f32.gguf", &b);
	l32_buf_reset(&b);
	o.type = L32_TYPE_F16;
	o.untied = 1;
	o.rope_freqs = 1;
	ck_assert(micro_gguf(&o, &b) == 0);
	write_seed(dir, "micro-f16-untied-rope.gguf", &b);
	l32_buf_reset(&b);
	micro_defaults(&o);
	o.type = L32_TYPE_BF16;
	o.tokenizer = 1;
	o.vocab = MICRO_TOK_VOCAB;
	ck_assert(micro_gguf(&o, &b) == 0);
	write_seed(dir, "micro-bf16-tokenizer.gguf", &b);
	l32_buf_free(&b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("gguf");
	TCase *tc = tcase_create("gguf");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, golden_f32_header);
	tcase_add_test(tc, golden_type_errors);
	tcase_add_test(tc, golden_q4_k_m_types);
	tcase_add_test(tc, all_value_types);
	tcase_add_test(tc, truncated_small);
	tcase_add_test(tc, truncated_golden);
	tcase_add_test(tc, bad_header);
	tcase_add_test(tc, huge_counts);
	tcase_add_test(tc, huge_array);
	tcase_add_test(tc, bad_values);
	tcase_add_test(tc, bad_tensors);
	tcase_add_test(tc, bad_tensor_names);
	tcase_add_test(tc, no_tensors);
	tcase_add_test(tc, written_file);
	tcase_add_test(tc, corpus);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
