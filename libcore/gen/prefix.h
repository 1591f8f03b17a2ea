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

/* A cache of at most mem bytes of blocks for the K/V layout of c; NULL
 * when not even one block fits (the cache is then off) or out of
 * memory. */
struct l32_prefix *l32_prefix_new(const struct l32_ctx *c, size_t mem);
void l32_prefix_free(struct l32_prefix *pc);
/* The default bound: the engine's own K/V cache (every sequence's whole
 * window), at most a quarter of the memory available. */
size_t l32_prefix_default_mem(const struct l32_ctx *c, int32_t n_ctx, int32_t n_seq);

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
