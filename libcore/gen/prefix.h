/*
 * prefix.h - the engine's prefix cache: the K/V of prompt prefixes, kept
 * in blocks of L32_CTX_ALIGN positions so that every sequence whose prompt
 * starts with the same tokens takes them instead of computing them again.
 * Internal to gen/.
 */
#ifndef L32_PREFIX_H
#define L32_PREFIX_H

#include <stddef.h>
#include <stdint.h>

#include "compute/l32_compute.h"

struct l32_prefix;
struct l32_model;

/* The engine's prefix cache for context c of model m: at most
 * cp->cache_mem bytes of blocks in memory (-1: l32_prefix_default_mem),
 * over the blocks of the file cp->prefix_cache when it names one that
 * exists (mapped read-only and checked against the model, the K/V layout
 * and the build: a file made otherwise is refused, -1 with err naming the
 * file, the field and both values).  When the file does not exist, the
 * blocks held at the end are written to it by l32_prefix_save.  *pc is
 * NULL when the cache is off (no file, and not one block fits). */
int l32_prefix_open(struct l32_prefix **pc, const struct l32_ctx *c,
    const struct l32_model *m, const struct l32_ctx_params *cp, struct l32_err *err);
void l32_prefix_free(struct l32_prefix *pc);
/* The default bound: the engine's own K/V cache (every sequence's whole
 * window), at most a quarter of the memory available. */
size_t l32_prefix_default_mem(const struct l32_ctx *c, int32_t n_ctx, int32_t n_seq);
/* Writes the blocks the cache holds to the file it was opened with when
 * that did not exist then: 0 when written or there is no file to write;
 * 1 when nothing was written, with the reason in err->msg (no prompt held
 * a whole block, or another process wrote the file first); -1 with err
 * set when writing failed. */
int l32_prefix_save(struct l32_prefix *pc, struct l32_err *err);

/* Fills an empty sequence with the longest cached prefix of prompt that
 * leaves at least its last token to compute and ends at a multiple of
 * l32_ctx_align; returns the positions loaded, or -1 with err set. */
int32_t l32_prefix_load(struct l32_prefix *pc, struct l32_ctx *c, int32_t seq,
    const int32_t *prompt, size_t n, struct l32_err *err);
/* Keeps the whole blocks of prompt (n tokens, all in sequence seq's
 * cache) that are not kept yet, evicting the least recently used blocks
 * of other prompts; stops where the bound leaves no room. */
void l32_prefix_store(struct l32_prefix *pc, const struct l32_ctx *c, int32_t seq,
    const int32_t *prompt, size_t n);

#endif
