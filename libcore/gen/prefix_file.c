/*
 * prefix_file.c - the prefix cache file: its layout, its checks, and the
 * writer.
 *
 * Every field is little-endian and fixed-width; offsets are in bytes.
 *
 *   header (HDR = 256 bytes)
 *      0  magic         8   "L32PCACH"
 *      8  version       u32 VERSION; another is refused
 *     12  header bytes  u32 HDR
 *     16  build         u64 libcore's build identity (L32_BUILD_ID: a hash
 *                           of its sources and flags, from the Makefile)
 *     24  model bytes   u64 the model's l32_model_id
 *     32  model hash    u64
 *     40  kv elem       u32 bytes of a K/V element: 4 (f32), 2 (f16)
 *     44  n layer       u32
 *     48  n kv heads    u32
 *     52  head dim      u32
 *     56  block         u32 tokens per block (64)
 *     60  n batch       u32 the writer's prefill batch
 *     64  isa           u32 the kernels (enum l32_isa)
 *     68  cpu           u32 the CPU's features (l32_cpu_features)
 *     72  n blocks      u64
 *     80  dir hash      u64 l32_hash64 of the directory
 *     88  model desc    64  the model's description, NUL-padded
 *    152  reserved      96  zero
 *    248  header hash   u64 l32_hash64 of bytes 0..247
 *
 *   directory: n blocks entries of ENTRY = 288 bytes from offset HDR
 *      0  key           u64 l32_pfile_key(parent's key, tokens)
 *      8  parent        u64 the parent's index + 1 (0: a first block);
 *                           parents come before their children
 *     16  depth         u32 blocks before it in its prompt
 *     20  zero          u32
 *     24  kv hash       u64 l32_hash64 of its K/V bytes
 *     32  tokens        i32 x 64
 *
 *   zero bytes up to the first multiple of 4096 after the directory
 *
 *   K/V: from there, block i at
 *   i * (block * n layer * 2 * n kv heads * head dim * kv elem), laid out
 *   (layer, K then V, position, kv dim) as l32_ctx_seq_save writes it;
 *   the file ends with the last block.
 *
 * Every check runs when the file is opened (the checksums run at memory
 * speed, a fraction of a second per GB), so a file is used whole or
 * refused at start with one message.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cpu.h"
#include "base/hash.h"
#include "gen/prefix_file.h"

#define MAGIC "L32PCACH"
#define VERSION 1u
#define HDR 256
#define ENTRY 288
#define DATA_ALIGN 4096
#define SEED 0x6c3332706669ULL  /* for every checksum of the file */

struct slot {
	uint64_t key;
	size_t i;
};

struct l32_pfile {
	const unsigned char *base;  /* the file's bytes */
	size_t len;
	int mapped;                 /* base is our mapping */
	size_t n;                   /* blocks */
	size_t block_bytes;
	const unsigned char *dir;   /* (n, ENTRY) */
	const unsigned char *data;  /* (n, block_bytes) */
	struct slot *by_key;        /* (n) sorted by key, then index */
};

/* ------------------------------------------------------------ the bytes */

static uint32_t
rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
rd64(const unsigned char *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static void
put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static int
little_endian(void)
{
	const uint16_t one = 1;

	return *(const unsigned char *)&one == 1;
}

uint64_t
l32_pfile_key(uint64_t parent_key, const int32_t *tok)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ parent_key;  /* FNV-1a */

	for (int i = 0; i < L32_PFILE_BLOCK; i++)
		for (int k = 0; k < 4; k++) {
			h ^= (uint64_t)(((uint32_t)tok[i] >> (8 * k)) & 0xff);
			h *= 0x100000001b3ULL;
		}
	return h;
}

size_t
l32_pfile_block_bytes(const struct l32_pfile_id *id)
{
	uint64_t b = (uint64_t)id->block * id->n_layer * 2 * id->n_kv_heads * id->head_dim *
	    id->kv_elem;

	/* each factor is below 2^32: check the product by dividing back */
	if (id->block == 0 || id->n_layer == 0 || id->n_kv_heads == 0 || id->head_dim == 0 ||
	    id->kv_elem == 0 || b > SIZE_MAX / 2 ||
	    b / id->block / id->n_layer / 2 / id->n_kv_heads / id->head_dim != id->kv_elem)
		return 0;
	return (size_t)b;
}

static size_t
data_offset(size_t n)
{
	size_t end = HDR + n * ENTRY;

	return (end + DATA_ALIGN - 1) / DATA_ALIGN * DATA_ALIGN;
}

static void
header_put(unsigned char *h, const struct l32_pfile_id *id, uint64_t n, uint64_t dir_hash)
{
	memset(h, 0, HDR);
	memcpy(h, MAGIC, 8);
	put32(h + 8, VERSION);
	put32(h + 12, HDR);
	put64(h + 16, id->build);
	put64(h + 24, id->model_bytes);
	put64(h + 32, id->model_hash);
	put32(h + 40, id->kv_elem);
	put32(h + 44, id->n_layer);
	put32(h + 48, id->n_kv_heads);
	put32(h + 52, id->head_dim);
	put32(h + 56, id->block);
	put32(h + 60, id->n_batch);
	put32(h + 64, id->isa);
	put32(h + 68, id->cpu);
	put64(h + 72, n);
	put64(h + 80, dir_hash);
	memcpy(h + 88, id->model_desc, strnlen(id->model_desc, 63));
	put64(h + 248, l32_hash64(h, 248, SEED));
}

static void
header_get(const unsigned char *h, struct l32_pfile_id *id)
{
	memset(id, 0, sizeof(*id));
	id->build = rd64(h + 16);
	id->model_bytes = rd64(h + 24);
	id->model_hash = rd64(h + 32);
	id->kv_elem = rd32(h + 40);
	id->n_layer = rd32(h + 44);
	id->n_kv_heads = rd32(h + 48);
	id->head_dim = rd32(h + 52);
	id->block = rd32(h + 56);
	id->n_batch = rd32(h + 60);
	id->isa = rd32(h + 64);
	id->cpu = rd32(h + 68);
	memcpy(id->model_desc, h + 88, 63);
	id->model_desc[63] = '\0';
}

/* ------------------------------------------------------------ the checks */

static const char *
elem_name(uint32_t e)
{
	return e == 4 ? "f32" : e == 2 ? "f16" : "an unknown type";
}

static const char *
isa_name(uint32_t isa)
{
	return isa < L32_ISA_COUNT ? l32_isa_name((enum l32_isa)isa) : "unknown";
}

/* The file's identity against the one wanted: layout, model, build,
 * kernels, batch; each mismatch a message with both values. */
static int
check_id(const char *src, const struct l32_pfile_id *f, const struct l32_pfile_id *w,
    struct l32_err *err)
{
	char a[128], b[128];

	if (f->n_layer != w->n_layer || f->n_kv_heads != w->n_kv_heads ||
	    f->head_dim != w->head_dim)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: made for a model with %u layers x "
		    "%u K/V heads x %u dims, this one has %u x %u x %u", src, f->n_layer,
		    f->n_kv_heads, f->head_dim, w->n_layer, w->n_kv_heads, w->head_dim);
	if (f->kv_elem != w->kv_elem)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: holds K/V in %s, this process keeps "
		    "them in %s (--kv-f16, or a context over the f32 limit)", src,
		    elem_name(f->kv_elem), elem_name(w->kv_elem));
	if (f->block != w->block)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: blocks of %u tokens, this build "
		    "uses %u", src, f->block, w->block);
	if (f->model_bytes != w->model_bytes || f->model_hash != w->model_hash)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: made for another model (%s, %llu "
		    "bytes, identity %016llx), this one is %s, %llu bytes, identity %016llx",
		    src, f->model_desc, (unsigned long long)f->model_bytes,
		    (unsigned long long)f->model_hash, w->model_desc,
		    (unsigned long long)w->model_bytes, (unsigned long long)w->model_hash);
	if (f->build != w->build)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: made by another build of l32 "
		    "(build %016llx, this one is %016llx)", src, (unsigned long long)f->build,
		    (unsigned long long)w->build);
	if (f->isa != w->isa)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: made with the %s kernels, this "
		    "process uses %s (L32_ISA)", src, isa_name(f->isa), isa_name(w->isa));
	if (f->cpu != w->cpu) {
		l32_cpu_feature_names(f->cpu, a, sizeof(a));
		l32_cpu_feature_names(w->cpu, b, sizeof(b));
		return l32_err_set(err, L32_ERR_FORMAT, "%s: made on a CPU with features \"%s\", "
		    "this one has \"%s\"", src, a, b);
	}
	if (f->n_batch != w->n_batch)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: made with a prefill batch of %u "
		    "tokens, this process has %u (-b over 512 raises it)", src, f->n_batch,
		    w->n_batch);
	return 0;
}

/* The header: what the file is, and whether its sizes hold together. */
static int
check_header(struct l32_pfile *f, const char *src, const struct l32_pfile_id *want,
    struct l32_err *err)
{
	const unsigned char *h = f->base;
	struct l32_pfile_id id;
	uint64_t n, sum;

	if (f->len == 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: empty file: not a prefix cache file",
		    src);
	if (f->len < 8 || memcmp(h, MAGIC, 8) != 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: not a prefix cache file (it does "
		    "not start with \"%s\")", src, MAGIC);
	if (f->len < 16)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: truncated: %zu bytes, the header "
		    "takes %d", src, f->len, HDR);
	if (rd32(h + 8) != VERSION || rd32(h + 12) != HDR)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: format version %u (header of %u "
		    "bytes), this build reads version %u (%d)", src, rd32(h + 8), rd32(h + 12),
		    VERSION, HDR);
	if (f->len < HDR)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: truncated: %zu bytes, the header "
		    "takes %d", src, f->len, HDR);
	if ((sum = l32_hash64(h, 248, SEED)) != rd64(h + 248))
		return l32_err_set(err, L32_ERR_FORMAT, "%s: the header is damaged (checksum "
		    "%016llx, computed %016llx)", src, (unsigned long long)rd64(h + 248),
		    (unsigned long long)sum);
	header_get(h, &id);
	if (check_id(src, &id, want, err) == -1)
		return -1;
	n = rd64(h + 72);
	if ((f->block_bytes = l32_pfile_block_bytes(&id)) == 0)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: blocks of %u x %u x %u x %u "
		    "elements do not fit in memory", src, id.block, id.n_layer, id.n_kv_heads,
		    id.head_dim);
	if (n > (f->len - HDR) / ENTRY || data_offset((size_t)n) > f->len ||
	    (f->len - data_offset((size_t)n)) / f->block_bytes < n)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: truncated: %zu bytes are too few for "
		    "its %llu blocks of %zu bytes", src, f->len, (unsigned long long)n,
		    f->block_bytes);
	f->n = (size_t)n;
	if (data_offset(f->n) + f->n * f->block_bytes != f->len)
		return l32_err_set(err, L32_ERR_FORMAT, "%s: %zu bytes, but its %zu blocks end at "
		    "%zu: the file is damaged", src, f->len, f->n,
		    data_offset(f->n) + f->n * f->block_bytes);
	f->dir = h + HDR;
	f->data = h + data_offset(f->n);
	for (const unsigned char *z = f->dir + f->n * ENTRY; z < f->data; z++)
		if (*z != 0)  /* so that every byte of the file is checked */
			return l32_err_set(err, L32_ERR_FORMAT, "%s: byte %zu, padding before the "
			    "blocks, is not zero: the file is damaged", src, (size_t)(z - h));
	if ((sum = l32_hash64(f->dir, f->n * ENTRY, SEED)) != rd64(h + 80))
		return l32_err_set(err, L32_ERR_FORMAT, "%s: the block directory is damaged "
		    "(checksum %016llx, computed %016llx)", src, (unsigned long long)rd64(h + 80),
		    (unsigned long long)sum);
	return 0;
}

static void
entry_tokens(const unsigned char *e, int32_t *tok)
{
	for (int i = 0; i < L32_PFILE_BLOCK; i++)
		tok[i] = (int32_t)rd32(e + 32 + 4 * i);
}

/* Each block: its parent before it, its depth one more, its key its
 * tokens', its K/V its checksum's. */
static int
check_blocks(const struct l32_pfile *f, const char *src, struct l32_err *err)
{
	int32_t tok[L32_PFILE_BLOCK];

	for (size_t i = 0; i < f->n; i++) {
		const unsigned char *e = f->dir + i * ENTRY;
		uint64_t parent = rd64(e + 8), pkey = 0, key, sum;
		uint32_t depth = rd32(e + 16), pdepth = 0;

		if (parent > i)
			return l32_err_set(err, L32_ERR_FORMAT, "%s: block %zu: parent %llu is not "
			    "an earlier block", src, i, (unsigned long long)parent);
		if (parent > 0) {
			pkey = rd64(f->dir + (parent - 1) * ENTRY);
			pdepth = rd32(f->dir + (parent - 1) * ENTRY + 16) + 1;
		}
		if (depth != pdepth || rd32(e + 20) != 0)
			return l32_err_set(err, L32_ERR_FORMAT, "%s: block %zu: depth %u, its parent "
			    "says %u", src, i, depth, pdepth);
		entry_tokens(e, tok);
		if ((key = l32_pfile_key(pkey, tok)) != rd64(e))
			return l32_err_set(err, L32_ERR_FORMAT, "%s: block %zu: key %016llx, its "
			    "tokens give %016llx", src, i, (unsigned long long)rd64(e),
			    (unsigned long long)key);
		sum = l32_hash64(f->data + i * f->block_bytes, f->block_bytes, SEED);
		if (sum != rd64(e + 24))
			return l32_err_set(err, L32_ERR_FORMAT, "%s: block %zu (prompt tokens "
			    "%llu..%llu): K/V checksum %016llx, computed %016llx: the file is damaged",
			    src, i, (unsigned long long)depth * L32_PFILE_BLOCK,
			    (unsigned long long)(depth + 1) * L32_PFILE_BLOCK - 1,
			    (unsigned long long)rd64(e + 24), (unsigned long long)sum);
	}
	return 0;
}

static int
slot_cmp(const void *a, const void *b)
{
	const struct slot *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

struct l32_pfile *
l32_pfile_parse(const void *buf, size_t len, const char *source,
    const struct l32_pfile_id *want, struct l32_err *err)
{
	struct l32_pfile *f;

	if (!little_endian()) {
		l32_err_set(err, L32_ERR_UNSUPPORTED, "%s: prefix cache files need a "
		    "little-endian host", source);
		return NULL;
	}
	if ((f = calloc(1, sizeof(*f))) == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	f->base = buf;
	f->len = len;
	if (check_header(f, source, want, err) == -1 || check_blocks(f, source, err) == -1) {
		free(f);
		return NULL;
	}
	if ((f->by_key = malloc((f->n > 0 ? f->n : 1) * sizeof(*f->by_key))) == NULL) {
		free(f);
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < f->n; i++)
		f->by_key[i] = (struct slot){ rd64(f->dir + i * ENTRY), i };
	qsort(f->by_key, f->n, sizeof(*f->by_key), slot_cmp);
	return f;
}

struct l32_pfile *
l32_pfile_open(const char *path, const struct l32_pfile_id *want, int *missing,
    struct l32_err *err)
{
	struct l32_pfile *f;
	struct stat st;
	void *addr = NULL;
	int fd, e;

	if (missing != NULL)
		*missing = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT && missing != NULL)
			*missing = 1;
		l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		e = errno;
		close(fd);
		l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(e));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		l32_err_set(err, L32_ERR_IO, "%s: %s", path, S_ISDIR(st.st_mode) ?
		    "is a directory" : "not a regular file");
		return NULL;
	}
	if ((uintmax_t)st.st_size > SIZE_MAX / 2) {
		close(fd);
		l32_err_set(err, L32_ERR_NOMEM, "%s: %jd bytes do not fit the address space",
		    path, (intmax_t)st.st_size);
		return NULL;
	}
	/* shared: every process that maps the file reads one copy of its pages */
	if (st.st_size > 0 &&
	    (addr = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0)) == MAP_FAILED) {
		e = errno;
		close(fd);
		l32_err_set(err, L32_ERR_IO, "%s: mmap of %jd bytes: %s", path,
		    (intmax_t)st.st_size, strerror(e));
		return NULL;
	}
	close(fd);  /* the mapping keeps the file */
	if ((f = l32_pfile_parse(addr, (size_t)st.st_size, path, want, err)) == NULL) {
		if (addr != NULL)
			munmap(addr, (size_t)st.st_size);
		return NULL;
	}
	f->mapped = 1;
	return f;
}

void
l32_pfile_close(struct l32_pfile *f)
{
	if (f == NULL)
		return;
	if (f->mapped && f->len > 0)
		munmap((void *)f->base, f->len);
	free(f->by_key);
	free(f);
}

size_t
l32_pfile_count(const struct l32_pfile *f)
{
	return f->n;
}

int64_t
l32_pfile_find(const struct l32_pfile *f, uint64_t parent, uint64_t key,
    const int32_t *tokens)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {  /* the first slot with this key */
		size_t mid = lo + (hi - lo) / 2;

		if (f->by_key[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < f->n && f->by_key[lo].key == key; lo++) {
		const unsigned char *e = f->dir + f->by_key[lo].i * ENTRY;
		int i;

		if (rd64(e + 8) != parent)
			continue;
		for (i = 0; i < L32_PFILE_BLOCK; i++)
			if ((int32_t)rd32(e + 32 + 4 * i) != tokens[i])
				break;
		if (i == L32_PFILE_BLOCK)
			return (int64_t)f->by_key[lo].i;
	}
	return -1;
}

const void *
l32_pfile_kv(const struct l32_pfile *f, size_t i)
{
	return f->data + i * f->block_bytes;
}

/* ------------------------------------------------------------ the writer */

static int
write_all(FILE *fp, const void *p, size_t n)
{
	return fwrite(p, 1, n, fp) == n ? 0 : -1;
}

/* The header, directory, padding and blocks to fp. */
static int
write_blocks(FILE *fp, const struct l32_pfile_id *id, const struct l32_pfile_block *b,
    size_t n, size_t block_bytes)
{
	unsigned char h[HDR], *dir;
	static const unsigned char zero[DATA_ALIGN];
	size_t pad = data_offset(n) - HDR - n * ENTRY;
	int rc;

	if ((dir = calloc(n > 0 ? n : 1, ENTRY)) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char *e = dir + i * ENTRY;

		put64(e, b[i].key);
		put64(e + 8, b[i].parent);
		put32(e + 16, b[i].depth);
		put64(e + 24, l32_hash64(b[i].kv, block_bytes, SEED));
		for (int k = 0; k < L32_PFILE_BLOCK; k++)
			put32(e + 32 + 4 * k, (uint32_t)b[i].tokens[k]);
	}
	header_put(h, id, n, l32_hash64(dir, n * ENTRY, SEED));
	rc = write_all(fp, h, HDR) == -1 || write_all(fp, dir, n * ENTRY) == -1 ||
	    write_all(fp, zero, pad) == -1 ? -1 : 0;
	free(dir);
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = write_all(fp, b[i].kv, block_bytes);
	return rc;
}

/* Renames tmp to path unless path exists: 0 done, 1 path was there. */
static int
rename_new(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return 1;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* a file system without the flag: a hard link never replaces either */
	if (link(tmp, path) == -1)
		return errno == EEXIST ? 1 : -1;
	unlink(tmp);
	return 0;
}

int
l32_pfile_write(const char *path, const struct l32_pfile_id *id,
    const struct l32_pfile_block *blocks, size_t n, struct l32_err *err)
{
	size_t block_bytes = l32_pfile_block_bytes(id);
	char tmp[4096];
	FILE *fp;
	int rc, e;

	if (!little_endian())
		return l32_err_set(err, L32_ERR_UNSUPPORTED, "%s: prefix cache files need a "
		    "little-endian host", path);
	if (block_bytes == 0 || n > (SIZE_MAX - DATA_ALIGN - HDR) / ENTRY)
		return l32_err_set(err, L32_ERR_INVALID, "%s: blocks of this layout do not fit "
		    "a file", path);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return l32_err_set(err, L32_ERR_INVALID, "%s: the name is too long", path);
	unlink(tmp);   /* one a crashed process of the same pid left */
	if ((fp = fopen(tmp, "wbx")) == NULL)
		return l32_err_set(err, L32_ERR_IO, "%s: %s", tmp, strerror(errno));
	rc = write_blocks(fp, id, blocks, n, block_bytes);
	if (rc == 0 && (fflush(fp) == EOF || fsync(fileno(fp)) == -1))
		rc = -1;
	e = errno;
	if (fclose(fp) == EOF && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc == 0 && (rc = rename_new(tmp, path)) == -1)
		e = errno;
	if (rc != 0)
		unlink(tmp);
	if (rc == -1)
		return l32_err_set(err, L32_ERR_IO, "%s: %s", tmp, strerror(e));
	return rc;
}
