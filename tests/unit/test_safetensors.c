/*
 * test_safetensors.c - the safetensors reader: the golden BF16 file, files
 * written by tests/lib/ggufw.c, and damaged headers (truncated, bad length,
 * bad JSON, wrong types, offsets out of range or overlapping, unsupported
 * dtypes).  Each damaged file must give NULL and a message naming the
 * source and the fault.
 *
 * With L32_WRITE_CORPUS=dir, also writes the fuzz seeds of
 * fuzz_safetensors there.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggufw.h"
#include "base/mapfile.h"
#include "formats/safetensors.h"

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

static float
bf16(const void *p, size_t i)
{
	const unsigned char *b = p;
	uint32_t bits = (uint32_t)(b[2 * i] | b[2 * i + 1] << 8) << 16;
	float f;

	memcpy(&f, &bits, 4);
	return f;
}

static void
expect_fail(const void *buf, size_t len, const char *want, enum l32_err_kind kind)
{
	struct l32_err err = { 0 };
	struct l32_safetensors *st = l32_safetensors_parse(buf, len, "bad.safetensors", &err);

	ck_assert_msg(st == NULL, "parsed a damaged file (want \"%s\")", want);
	ck_assert_msg(strncmp(err.msg, "bad.safetensors: ", 17) == 0,
	    "message does not name the file: %s", err.msg);
	ck_assert_msg(want == NULL || strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"",
	    err.msg, want);
	if (kind != L32_ERR_NONE)
		ck_assert_msg(err.kind == kind, "kind %d, want %d: %s", err.kind, kind, err.msg);
}

/* A file of header JSON (padded to 8) followed by data_len zero bytes. */
static void
mkfile(struct l32_buf *b, const char *json, size_t data_len)
{
	size_t n = strlen(json), pad = (8 - n % 8) % 8, i;

	l32_buf_reset(b);
	ggufw_put_u64(b, n + pad);
	l32_buf_puts(b, json);
	for (i = 0; i < pad; i++)
		l32_buf_puts(b, " ");
	for (i = 0; i < data_len; i++)
		l32_buf_append(b, "", 1);
}

static void
fail_json(const char *json, size_t data_len, const char *want, enum l32_err_kind kind)
{
	struct l32_buf b = { 0 };

	mkfile(&b, json, data_len);
	expect_fail(b.data, b.len, want, kind);
	l32_buf_free(&b);
}

/* ---------------------------------------------------------------- golden */

START_TEST(golden_bf16)
{
	static const float embd[4] = { -0.267578125f, 0.412109375f, 0.048828125f, -0.173828125f };
	static const float wq[4] = { 0.0283203125f, -0.0498046875f, 0.1943359375f, -0.1376953125f };
	static const float norm[4] = { 1.1171875f, 0.890625f, 0.953125f, 0.9921875f };
	struct l32_mapping m = map_golden("tiny/hf-bf16/model.safetensors");
	const struct l32_st_tensor *t;
	struct l32_err err = { 0 };
	struct l32_safetensors *st = l32_safetensors_parse(m.addr, m.len, "model.safetensors", &err);
	int i;

	ck_assert_msg(st != NULL, "%s", err.msg);
	ck_assert_uint_eq(st->n, 20); /* __metadata__ is not a tensor */
	ck_assert_uint_eq(st->data_offset, 8 + 2160);
	t = l32_safetensors_find(st, "model.embed_tokens.weight");
	ck_assert(t != NULL && t->type == L32_TYPE_BF16 && t->n_dims == 2);
	ck_assert(t->shape[0] == 128256 && t->shape[1] == 64);
	ck_assert_uint_eq(t->nbytes, (size_t)128256 * 64 * 2);
	for (i = 0; i < 4; i++)
		ck_assert(bf16(t->data, (size_t)i) == embd[i]);
	/* q_proj row 0 is Meta's row 0 (the permutation keeps it in place) */
	t = l32_safetensors_find(st, "model.layers.0.self_attn.q_proj.weight");
	ck_assert(t != NULL && t->shape[0] == 64 && t->shape[1] == 64);
	for (i = 0; i < 4; i++)
		ck_assert(bf16(t->data, (size_t)i) == wq[i]);
	t = l32_safetensors_find(st, "model.norm.weight");
	ck_assert(t != NULL && t->n_dims == 1 && t->shape[0] == 64);
	for (i = 0; i < 4; i++)
		ck_assert(bf16(t->data, (size_t)i) == norm[i]);
	ck_assert_ptr_null(l32_safetensors_find(st, "lm_head.weight"));
	ck_assert_ptr_null(l32_safetensors_find(st, "__metadata__"));
	l32_safetensors_free(st);
	l32_mapfile_close(&m);
}
END_TEST

START_TEST(golden_truncated)
{
	struct l32_mapping m = map_golden("tiny/hf-bf16/model.safetensors");
	size_t n, k;

	/* every cut through the length and the header, 50 through the data */
	for (n = 0; n < 8 + 2160; n++)
		expect_fail(m.addr, n, NULL, L32_ERR_FORMAT);
	for (k = 0; k < 50; k++) {
		n = 8 + 2160 + (m.len - 2168) / 50 * k + 1;
		expect_fail(m.addr, n, "outside the", L32_ERR_FORMAT);
	}
	expect_fail(m.addr, m.len - 1, "outside the", L32_ERR_FORMAT);
	l32_mapfile_close(&m);
}
END_TEST

/* --------------------------------------------------------------- written */

START_TEST(written)
{
	static const float f[6] = { 1, 2, 3, 4, 5, 6 };
	static const uint16_t h[3] = { 0x3c00, 0x4000, 0x4200 };
	struct stw *w = stw_new();
	struct l32_buf b = { 0 };
	const struct l32_st_tensor *t;
	struct l32_err err = { 0 };
	struct l32_safetensors *st;
	int64_t s23[2] = { 2, 3 }, s3[1] = { 3 };

	ck_assert(w != NULL);
	ck_assert(stw_meta(w, "format", "pt") == 0);
	ck_assert(stw_tensor(w, "f", "F32", 2, s23, f, sizeof(f)) == 0);
	ck_assert(stw_tensor(w, "h", "F16", 1, s3, h, sizeof(h)) == 0);
	ck_assert(stw_tensor(w, "s", "BF16", 0, NULL, h, 2) == 0);  /* a scalar */
	ck_assert(stw_tensor(w, "e", "F32", 1, (int64_t[]){ 0 }, NULL, 0) == 0); /* empty */
	ck_assert(stw_write_buf(w, &b) == 0);
	st = l32_safetensors_parse(b.data, b.len, "w.safetensors", &err);
	ck_assert_msg(st != NULL, "%s", err.msg);
	ck_assert_uint_eq(st->n, 4);
	ck_assert_uint_eq(st->data_offset % 8, 0);
	t = l32_safetensors_find(st, "f");
	ck_assert(t->type == L32_TYPE_F32 && t->n_dims == 2 && t->shape[1] == 3);
	ck_assert(memcmp(t->data, f, sizeof(f)) == 0);
	t = l32_safetensors_find(st, "h");
	ck_assert(t->type == L32_TYPE_F16 && t->nbytes == 6 && memcmp(t->data, h, 6) == 0);
	t = l32_safetensors_find(st, "s");
	ck_assert(t->type == L32_TYPE_BF16 && t->n_dims == 0 && t->nbytes == 2);
	t = l32_safetensors_find(st, "e");
	ck_assert(t->nbytes == 0);
	l32_safetensors_free(st);
	stw_free(w);
	l32_buf_free(&b);
}
END_TEST

START_TEST(minimal)
{
	struct l32_buf b = { 0 };
	struct l32_err err = { 0 };
	struct l32_safetensors *st;

	mkfile(&b, "{}", 0);
	st = l32_safetensors_parse(b.data, b.len, "empty.safetensors", &err);
	ck_assert_msg(st != NULL, "%s", err.msg);
	ck_assert_uint_eq(st->n, 0);
	ck_assert_ptr_null(l32_safetensors_find(st, "x"));
	l32_safetensors_free(st);
	mkfile(&b, "{\"__metadata__\": {\"format\": \"pt\"}, \"x\": {\"dtype\": \"F32\", \"shape\": [2], "
	    "\"data_offsets\": [0, 8], \"extra\": 1}}", 8);
	st = l32_safetensors_parse(b.data, b.len, "x.safetensors", &err);
	ck_assert_msg(st != NULL, "%s", err.msg);
	l32_safetensors_free(st);
	l32_buf_free(&b);
}
END_TEST

/* ---------------------------------------------------------------- damage */

START_TEST(bad_length)
{
	struct l32_buf b = { 0 };

	mkfile(&b, "{}", 0);
	b.data[0] = 100; /* longer than the file */
	expect_fail(b.data, b.len, "header length 100 is not in 2..", L32_ERR_FORMAT);
	memset(b.data, 0xff, 8);
	expect_fail(b.data, b.len, "header length 18446744073709551615", L32_ERR_FORMAT);
	memset(b.data, 0, 8);
	expect_fail(b.data, b.len, "header length 0", L32_ERR_FORMAT);
	b.data[0] = 1;
	expect_fail(b.data, b.len, "header length 1", L32_ERR_FORMAT);
	expect_fail("\x02\0\0\0\0\0\0", 7, "too short for the header length", L32_ERR_FORMAT);
	expect_fail("", 0, "too short for the header length", L32_ERR_FORMAT);
	l32_buf_free(&b);
}
END_TEST

START_TEST(big_header_limit)
{
	/* a header length over 100 MiB is refused before anything is read */
	size_t len = ((size_t)100 << 20) + 64;
	char *p = calloc(1, len);

	ck_assert_ptr_nonnull(p);
	p[0] = 0x08, p[2] = 0x40, p[3] = 0x06; /* 100 MiB + 8, inside the file */
	p[8] = '{';
	expect_fail(p, len, "header length 104857608 is not in 2..104857600", L32_ERR_FORMAT);
	free(p);
}
END_TEST

START_TEST(bad_json)
{
	fail_json("[1, 2]", 0, "header does not start with '{'", L32_ERR_FORMAT);
	fail_json("{\"a\": ", 0, "header JSON:", L32_ERR_FORMAT);
	fail_json("{\"a\": 1} x", 0, "header JSON:", L32_ERR_FORMAT);
	fail_json("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
	    "\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8,
	    "duplicate", L32_ERR_FORMAT);
	fail_json("{\"a\": 5}", 0, "tensor a: entry is not an object", L32_ERR_FORMAT);
}
END_TEST

START_TEST(bad_fields)
{
	fail_json("{\"t\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
	    "tensor t: dtype is missing or not a string", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": 3, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
	    "tensor t: dtype is missing or not a string", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8,
	    "tensor t: dtype I64 is not supported (BF16, F16 and F32 are)", L32_ERR_UNSUPPORTED);
	fail_json("{\"t\": {\"dtype\": \"F8_E4M3\", \"shape\": [1], \"data_offsets\": [0, 1]}}", 1,
	    "tensor t: dtype F8_E4M3 is not supported", L32_ERR_UNSUPPORTED);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4,
	    "tensor t: shape is not an array", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": \"1\", \"data_offsets\": [0, 4]}}", 4,
	    "tensor t: shape is not an array", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4,
	    "tensor t: shape[0] is not a non-negative integer", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [1, 2.5], \"data_offsets\": [0, 4]}}", 4,
	    "tensor t: shape[1] is not a non-negative integer", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,1,1,1,1,1], \"data_offsets\": [0, 4]}}",
	    4, "tensor t: 9 dimensions (at most 8)", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 4]}}",
	    4, "tensor t: shape is too large", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4,
	    "tensor t: data_offsets is not an array of two non-negative integers", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, -4]}}", 4,
	    "tensor t: data_offsets is not an array", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4,
	    "tensor t: data_offsets is not an array", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [\"0\", 4]}}", 4,
	    "tensor t: data_offsets is not an array", L32_ERR_FORMAT);
}
END_TEST

START_TEST(bad_offsets)
{
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", 8,
	    "tensor t: data_offsets [4, 0] outside the 8 data bytes", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}", 8,
	    "tensor t: data_offsets [8, 12] outside the 8 data bytes", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 9223372036854775807]}}",
	    8, "outside the 8 data bytes", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 8,
	    "tensor t: data_offsets span 4 bytes, the shape needs 2 elements of 4 bytes", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
	    "tensor t: data_offsets span 8 bytes, the shape needs 2 elements of 2 bytes", L32_ERR_FORMAT);
	fail_json("{\"t\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}, "
	    "\"u\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]}}", 16,
	    "tensors t [0, 12] and u [8, 16] overlap", L32_ERR_FORMAT);
	/* empty tensors overlap nothing */
	{
		struct l32_buf b = { 0 };
		struct l32_err err = { 0 };
		struct l32_safetensors *st;

		mkfile(&b, "{\"t\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}, "
		    "\"u\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [4, 4]}}", 12);
		st = l32_safetensors_parse(b.data, b.len, "e.safetensors", &err);
		ck_assert_msg(st != NULL, "%s", err.msg);
		l32_safetensors_free(st);
		l32_buf_free(&b);
	}
}
END_TEST

/* ----------------------------------------------------------- fuzz seeds */

static void
write_seed(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_msg((f = fopen(path, "wb")) != NULL, "%s", path);
	ck_assert(fwrite(p, 1, n, f) == n);
	ck_assert(fclose(f) == 0);
}

START_TEST(corpus)
{
	const char *dir = getenv("L32_WRITE_CORPUS");
	struct l32_mapping m;
	struct l32_buf b = { 0 };
	size_t hdr;

	if (dir == NULL)
		return;
	/* the golden header alone (its offsets then point past the end), and
	 * small well-formed files */
	m = map_golden("tiny/hf-bf16/model.safetensors");
	hdr = 8 + 2160;
	write_seed(dir, "golden-header-only.safetensors", m.addr, hdr);
	l32_mapfile_close(&m);
	mkfile(&b, "{\"__metadata__\": {\"format\": \"pt\"}, "
	    "\"a\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]}, "
	    "\"b\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [16, 24]}, "
	    "\"c\": {\"dtype\": \"F16\", \"shape\": [], \"data_offsets\": [24, 26]}}", 26);
	write_seed(dir, "small.safetensors", b.data, b.len);
	mkfile(&b, "{}", 0);
	write_seed(dir, "empty.safetensors", b.data, b.len);
	l32_buf_free(&b);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("safetensors");
	TCase *tc = tcase_create("safetensors");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, golden_bf16);
	tcase_add_test(tc, golden_truncated);
	tcase_add_test(tc, written);
	tcase_add_test(tc, minimal);
	tcase_add_test(tc, bad_length);
	tcase_add_test(tc, big_header_limit);
	tcase_add_test(tc, bad_json);
	tcase_add_test(tc, bad_fields);
	tcase_add_test(tc, bad_offsets);
	tcase_add_test(tc, corpus);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
