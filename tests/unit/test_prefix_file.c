/*
 * test_prefix_file.c - the prefix cache file on its own: blocks written
 * are found again by parent, key and tokens with their K/V bytes; a file
 * made with any other identity field is refused naming the field; every
 * single flipped byte and every truncation of a file is refused; a writer
 * never replaces a file that is there, and leaves no temporary file.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen/prefix_file.h"

#define NB 3
#define BYTES 512   /* 64 positions x 1 layer x K and V x 1 head x 2 dims x f16 */

static char dir[64], path[128];
static int32_t tok[NB][L32_PFILE_BLOCK];
static unsigned char kv[NB][BYTES];
static struct l32_pfile_block blocks[NB];

static const struct l32_pfile_id ID = {
	.build = 0x1122334455667788ULL, .model_bytes = 123456, .model_hash = 0xfeedULL,
	.kv_elem = 2, .n_layer = 1, .n_kv_heads = 1, .head_dim = 2,
	.block = L32_PFILE_BLOCK, .n_batch = 512, .isa = 1, .cpu = 7, .model_desc = "test model",
};

/* Two chained blocks and a second first block. */
static void
setup(void)
{
	uint64_t k0;

	strcpy(dir, "/tmp/l32-pfile.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/p.l32c", dir);
	for (int i = 0; i < NB; i++) {
		for (int k = 0; k < L32_PFILE_BLOCK; k++)
			tok[i][k] = i * 1000 + k;
		for (int k = 0; k < BYTES; k++)
			kv[i][k] = (unsigned char)(i * 31 + k * 7);
	}
	k0 = l32_pfile_key(0, tok[0]);
	blocks[0] = (struct l32_pfile_block){ k0, 0, 0, tok[0], kv[0] };
	blocks[1] = (struct l32_pfile_block){ l32_pfile_key(k0, tok[1]), 1, 1, tok[1], kv[1] };
	blocks[2] = (struct l32_pfile_block){ l32_pfile_key(0, tok[2]), 0, 0, tok[2], kv[2] };
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static unsigned char *
slurp(const char *p, size_t *len)
{
	FILE *fp = fopen(p, "rb");
	unsigned char *buf;
	long n;

	ck_assert_ptr_nonnull(fp);
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

START_TEST(test_round_trip)
{
	struct l32_err err;
	struct l32_pfile *f;
	int missing = 1;
	int32_t other[L32_PFILE_BLOCK];

	ck_assert_uint_eq(l32_pfile_block_bytes(&ID), BYTES);
	ck_assert_int_eq(l32_pfile_write(path, &ID, blocks, NB, &err), 0);
	f = l32_pfile_open(path, &ID, &missing, &err);
	ck_assert_msg(f != NULL, "%s", err.msg);
	ck_assert_int_eq(missing, 0);
	ck_assert_uint_eq(l32_pfile_count(f), NB);
	for (int i = 0; i < NB; i++) {
		int64_t j = l32_pfile_find(f, blocks[i].parent, blocks[i].key, tok[i]);

		ck_assert_int_eq(j, i);
		ck_assert_mem_eq(l32_pfile_kv(f, (size_t)j), kv[i], BYTES);
	}
	/* the second block only after the first, with its own tokens */
	ck_assert_int_eq(l32_pfile_find(f, 0, blocks[1].key, tok[1]), -1);
	memcpy(other, tok[1], sizeof(other));
	other[63]++;
	ck_assert_int_eq(l32_pfile_find(f, 1, blocks[1].key, other), -1);
	l32_pfile_close(f);
}
END_TEST

START_TEST(test_missing)
{
	struct l32_err err;
	int missing = 0;

	ck_assert_ptr_null(l32_pfile_open(path, &ID, &missing, &err));
	ck_assert_int_eq(missing, 1);
}
END_TEST

/* One identity field changed in what the reader wants: refused, naming
 * the file and the field. */
static const struct {
	const char *what;
	size_t off;       /* of a uint32_t or uint64_t field in struct l32_pfile_id */
	int wide;
} fields[] = {
	{ "another build", offsetof(struct l32_pfile_id, build), 1 },
	{ "another model", offsetof(struct l32_pfile_id, model_bytes), 1 },
	{ "another model", offsetof(struct l32_pfile_id, model_hash), 1 },
	{ "K/V in f16", offsetof(struct l32_pfile_id, kv_elem), 0 },
	{ "1 layers", offsetof(struct l32_pfile_id, n_layer), 0 },
	{ "1 K/V heads", offsetof(struct l32_pfile_id, n_kv_heads), 0 },
	{ "2 dims", offsetof(struct l32_pfile_id, head_dim), 0 },
	{ "blocks of 64 tokens", offsetof(struct l32_pfile_id, block), 0 },
	{ "prefill batch of 512", offsetof(struct l32_pfile_id, n_batch), 0 },
	{ "kernels", offsetof(struct l32_pfile_id, isa), 0 },
	{ "CPU with features", offsetof(struct l32_pfile_id, cpu), 0 },
};

START_TEST(test_identity)
{
	struct l32_pfile_id want = ID;
	struct l32_err err;
	char *p = (char *)&want + fields[_i].off;

	ck_assert_int_eq(l32_pfile_write(path, &ID, blocks, NB, &err), 0);
	if (fields[_i].wide)
		*(uint64_t *)p += 1;
	else
		*(uint32_t *)p += 1;
	ck_assert_ptr_null(l32_pfile_open(path, &want, NULL, &err));
	ck_assert_int_eq(err.kind, L32_ERR_FORMAT);
	ck_assert_msg(strstr(err.msg, path) != NULL && strstr(err.msg, fields[_i].what) != NULL,
	    "%s: %s", fields[_i].what, err.msg);
}
END_TEST

START_TEST(test_every_byte)
{
	struct l32_err err;
	struct l32_pfile *f;
	unsigned char *buf;
	size_t len;

	ck_assert_int_eq(l32_pfile_write(path, &ID, blocks, NB, &err), 0);
	buf = slurp(path, &len);
	ck_assert_uint_eq(len, 4096 + NB * BYTES);
	for (size_t i = 0; i < len; i++) {
		buf[i] ^= 0x10;
		f = l32_pfile_parse(buf, len, "flip", &ID, &err);
		ck_assert_msg(f == NULL, "byte %zu flipped is taken", i);
		ck_assert_int_eq(err.kind, L32_ERR_FORMAT);
		buf[i] ^= 0x10;
	}
	for (size_t n = 0; n < len; n++) {
		ck_assert_msg((f = l32_pfile_parse(buf, n, "cut", &ID, &err)) == NULL,
		    "cut to %zu bytes is taken", n);
	}
	f = l32_pfile_parse(buf, len, "whole", &ID, &err);
	ck_assert_msg(f != NULL, "%s", err.msg);
	l32_pfile_close(f);
	free(buf);
}
END_TEST

START_TEST(test_no_replace)
{
	struct l32_err err;
	unsigned char *a, *b;
	size_t la, lb;
	struct dirent *d;
	DIR *dp;
	int files = 0;

	ck_assert_int_eq(l32_pfile_write(path, &ID, blocks, 1, &err), 0);
	a = slurp(path, &la);
	ck_assert_int_eq(l32_pfile_write(path, &ID, blocks, NB, &err), 1);
	b = slurp(path, &lb);
	ck_assert_uint_eq(la, lb);
	ck_assert_mem_eq(a, b, la);
	ck_assert_ptr_nonnull(dp = opendir(dir));
	while ((d = readdir(dp)) != NULL)
		if (d->d_name[0] != '.')
			files++;
	closedir(dp);
	ck_assert_int_eq(files, 1);   /* no temporary file left */
	free(a);
	free(b);
}
END_TEST

START_TEST(test_empty_and_foreign)
{
	static const unsigned char gguf[16] = "GGUF\3\0\0\0";
	struct l32_err err;

	ck_assert_ptr_null(l32_pfile_parse(gguf, 0, "e", &ID, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "empty file"));
	ck_assert_ptr_null(l32_pfile_parse(gguf, sizeof(gguf), "g", &ID, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "not a prefix cache file"));
}
END_TEST

static Suite *
pfile_suite(void)
{
	Suite *s = suite_create("prefix_file");
	TCase *tc = tcase_create("file");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_missing);
	tcase_add_loop_test(tc, test_identity, 0, (int)(sizeof(fields) / sizeof(fields[0])));
	tcase_add_test(tc, test_every_byte);
	tcase_add_test(tc, test_no_replace);
	tcase_add_test(tc, test_empty_and_foreign);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pfile_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
