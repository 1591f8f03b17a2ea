/*
 * prefix.c - the prefix cache.  A block holds B = L32_CTX_ALIGN prompt
 * tokens and their K/V at every layer; it is found by a key that chains
 * its parent block's key with its own tokens (a block stands for the whole
 * prefix up to its end), and taken only when its parent is the block
 * matched just before and its tokens are the prompt's, so a hash collision
 * costs a comparison, never a wrong answer.  Blocks start at multiples of
 * B, so a prompt that takes them computes the rest exactly as it would
 * have computed the whole (L32_CTX_ALIGN).
 *
 * Eviction: each request's chain of blocks is stamped with one tick of a
 * clock; the block with the oldest stamp goes first, the deepest of a
 * chain before its parents (a child without its parent cannot be found),
 * and never one of the chain being stored.
 */
#include <stdlib.h>
#include <string.h>

#include "gen/prefix.h"
#include "compute/kvcache.h"

#define B L32_CTX_ALIGN

struct block {
	uint64_t key;       /* hash of the parent's key and the tokens */
	uint64_t id;        /* unique, never reused */
	uint64_t parent;    /* the parent's id; 0 for a first block */
	uint64_t stamp;     /* the clock when a request last used it */
	int32_t depth;      /* blocks before it in its prompt */
	int32_t tokens[B];
	void *kv;           /* (B * pos_bytes) as l32_ctx_seq_save lays it out */
};

struct l32_prefix {
	size_t pos_bytes, max_blocks;
	struct block **blocks;  /* (max_blocks) the first n in use */
	size_t n;
	uint64_t clock, next_id;
};

/* FNV-1a over the parent's key and the block's tokens. */
static uint64_t
block_key(uint64_t parent_key, const int32_t *tok)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ parent_key;

	for (int i = 0; i < B; i++)
		for (int k = 0; k < 4; k++) {
			h ^= (uint64_t)(((uint32_t)tok[i] >> (8 * k)) & 0xff);
			h *= 0x100000001b3ULL;
		}
	return h;
}

size_t
l32_prefix_default_mem(const struct l32_ctx *c, int32_t n_ctx, int32_t n_seq)
{
	size_t kv = l32_ctx_pos_bytes(c) * (size_t)n_ctx * (size_t)n_seq;
	uint64_t avail = l32_mem_available() / 4;

	return avail > 0 && avail < kv ? (size_t)avail : kv;
}

struct l32_prefix *
l32_prefix_new(const struct l32_ctx *c, size_t mem)
{
	struct l32_prefix *pc;
	size_t pos = l32_ctx_pos_bytes(c);
	size_t per = sizeof(struct block) + (size_t)B * pos;

	if (mem / per == 0 || (pc = calloc(1, sizeof(*pc))) == NULL)
		return NULL;
	pc->pos_bytes = pos;
	pc->max_blocks = mem / per;
	pc->next_id = 1;
	if ((pc->blocks = calloc(pc->max_blocks, sizeof(*pc->blocks))) == NULL) {
		free(pc);
		return NULL;
	}
	return pc;
}

static void
block_free(struct block *b)
{
	if (b != NULL)
		free(b->kv);
	free(b);
}

void
l32_prefix_free(struct l32_prefix *pc)
{
	if (pc == NULL)
		return;
	for (size_t i = 0; i < pc->n; i++)
		block_free(pc->blocks[i]);
	free(pc->blocks);
	free(pc);
}

/* The block that follows parent (id, key) with these tokens, or NULL. */
static struct block *
find(const struct l32_prefix *pc, uint64_t parent, uint64_t key, const int32_t *tok)
{
	for (size_t i = 0; i < pc->n; i++) {
		struct block *b = pc->blocks[i];

		if (b->key == key && b->parent == parent &&
		    memcmp(b->tokens, tok, sizeof(b->tokens)) == 0)
			return b;
	}
	return NULL;
}

int32_t
l32_prefix_load(struct l32_prefix *pc, struct l32_ctx *c, int32_t seq,
    const int32_t *prompt, size_t n, struct l32_err *err)
{
	size_t nb = n > 0 ? (n - 1) / B : 0;   /* the last token is always computed */
	size_t align = (size_t)l32_ctx_align(c), m;
	/* blocks per aligned step; none when n_batch is not whole blocks */
	size_t per = align % B == 0 ? align / B : 0;
	uint64_t parent = 0, key = 0;
	struct block **chain;

	pc->clock++;
	if ((chain = malloc((nb > 0 ? nb : 1) * sizeof(*chain))) == NULL)
		return 0;   /* the cache is best effort */
	for (m = 0; m < nb; m++) {
		const int32_t *tok = prompt + m * B;

		key = block_key(key, tok);
		if ((chain[m] = find(pc, parent, key, tok)) == NULL)
			break;
		parent = chain[m]->id;
	}
	m = per > 0 ? m - m % per : 0;   /* an aligned prefix only */
	for (size_t i = 0; i < m; i++) {
		if (l32_ctx_seq_load(c, seq, B, chain[i]->kv, err) == -1) {
			free(chain);
			return -1;
		}
		chain[i]->stamp = pc->clock;
	}
	free(chain);
	return (int32_t)(m * B);
}

/* Makes room for one block: evicts the oldest, deepest block not stamped
 * now.  0 when there is room, -1 when only the chain being stored is left. */
static int
make_room(struct l32_prefix *pc)
{
	size_t best = SIZE_MAX;

	if (pc->n < pc->max_blocks)
		return 0;
	for (size_t i = 0; i < pc->n; i++) {
		const struct block *b = pc->blocks[i];

		if (b->stamp == pc->clock)
			continue;
		if (best == SIZE_MAX || b->stamp < pc->blocks[best]->stamp ||
		    (b->stamp == pc->blocks[best]->stamp && b->depth > pc->blocks[best]->depth))
			best = i;
	}
	if (best == SIZE_MAX)
		return -1;
	block_free(pc->blocks[best]);
	pc->blocks[best] = pc->blocks[--pc->n];
	return 0;
}

void
l32_prefix_store(struct l32_prefix *pc, const struct l32_ctx *c, int32_t seq,
    const int32_t *prompt, size_t n)
{
	uint64_t parent = 0, key = 0;

	for (size_t i = 0; i < n / B; i++) {
		const int32_t *tok = prompt + i * B;
		struct block *b;

		key = block_key(key, tok);
		if ((b = find(pc, parent, key, tok)) == NULL) {
			/* the cache is best effort: no room or no memory stores no more */
			if (make_room(pc) == -1 || (b = calloc(1, sizeof(*b))) == NULL)
				return;
			if ((b->kv = malloc((size_t)B * pc->pos_bytes)) == NULL) {
				free(b);
				return;
			}
			b->key = key;
			b->id = pc->next_id++;
			b->parent = parent;
			b->depth = (int32_t)i;
			memcpy(b->tokens, tok, sizeof(b->tokens));
			l32_ctx_seq_save(c, seq, (int32_t)(i * B), B, b->kv);
			pc->blocks[pc->n++] = b;
		}
		b->stamp = pc->clock;
		parent = b->id;
	}
}
