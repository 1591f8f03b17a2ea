/*
 * prefix_file.h - the prefix cache file (--prefix-cache FILE): blocks of
 * the prefix cache written by one process when it ends, mapped read-only
 * by the processes after it, so they share one copy in the page cache.
 * The layout is described at the top of prefix_file.c.  Internal to gen/.
 */
#ifndef L32_PREFIX_FILE_H
#define L32_PREFIX_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "base/l32_base.h"

/* Tokens in a block (L32_CTX_ALIGN: a block is where a prompt may resume). */
#define L32_PFILE_BLOCK 64

/* What a file must have been made with to be used: the same bits would
 * come out of the forward pass. */
struct l32_pfile_id {
	uint64_t build;          /* libcore's build identity */
	uint64_t model_bytes;    /* l32_model_id */
	uint64_t model_hash;
	uint32_t kv_elem;        /* bytes of a K/V element: 4 (f32) or 2 (f16) */
	uint32_t n_layer, n_kv_heads, head_dim;
	uint32_t block;          /* L32_PFILE_BLOCK */
	uint32_t n_batch;        /* prefill batch: float weights round by its shape */
	uint32_t isa;            /* enum l32_isa of the kernels */
	uint32_t cpu;            /* l32_cpu_features */
	char model_desc[64];     /* for messages: "llama 1.2B Q8_0" */
};

/* The chained key of a block: a hash of its parent's key (0 for a first
 * block) and its L32_PFILE_BLOCK tokens, so it stands for the whole
 * prefix up to its end. */
uint64_t l32_pfile_key(uint64_t parent_key, const int32_t *tokens);

/* Bytes of one block's K/V for the layout of id; 0 when it overflows. */
size_t l32_pfile_block_bytes(const struct l32_pfile_id *id);

struct l32_pfile;

/* Maps path read-only and shared and checks it whole against want (the
 * format, the layout, the model, the build, and every checksum); NULL
 * with err naming the file, the field and both values when it is refused.
 * ENOENT is reported as L32_ERR_IO with *missing set when missing is not
 * NULL. */
struct l32_pfile *l32_pfile_open(const char *path, const struct l32_pfile_id *want,
    int *missing, struct l32_err *err);
/* The same checks on a file's bytes in memory (buf outlives the result);
 * source names it in messages. */
struct l32_pfile *l32_pfile_parse(const void *buf, size_t len, const char *source,
    const struct l32_pfile_id *want, struct l32_err *err);
void l32_pfile_close(struct l32_pfile *f);

size_t l32_pfile_count(const struct l32_pfile *f);
/* The block that follows parent (the parent's index + 1, 0 for none) with
 * this key and these tokens: its index, or -1. */
int64_t l32_pfile_find(const struct l32_pfile *f, uint64_t parent, uint64_t key,
    const int32_t *tokens);
/* Block i's K/V, laid out as l32_ctx_seq_save writes it. */
const void *l32_pfile_kv(const struct l32_pfile *f, size_t i);

/* One block to write: parent is the index + 1 of a block written before
 * it, or 0. */
struct l32_pfile_block {
	uint64_t key;
	uint64_t parent;
	uint32_t depth;
	const int32_t *tokens;   /* (L32_PFILE_BLOCK) */
	const void *kv;          /* (l32_pfile_block_bytes) */
};

/* Writes the blocks to path atomically: path.tmp.<pid> in the same
 * directory, fsync, then a rename that never replaces a file.  0 when
 * written; 1 when path appeared meanwhile (that file is kept, ours
 * dropped); -1 with err set. */
int l32_pfile_write(const char *path, const struct l32_pfile_id *id,
    const struct l32_pfile_block *blocks, size_t n, struct l32_err *err);

#endif
