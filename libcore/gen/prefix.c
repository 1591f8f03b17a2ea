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
 *
 * The prefix cache file (prefix_file.c): when it exists, its blocks are
 * found the same way, before the ones in memory, and loaded from the
 * mapping; they take the ids 1..n of the file's order (a parent's index
 * + 1), memory blocks the ids after, so a chain may go on in memory
 * from a file block.  When it does not exist, the memory blocks are
 * written to it at the end, parents before children.
 */
#include <stdlib.h>
#include <string.h>

#include "gen/prefix.h"
#include "gen/prefix_file.h"
#include "compute/kvcache.h"
#include "compute/kernels/kernels.h"

#ifndef L32_BUILD_ID
#error "L32_BUILD_ID, libcore's build identity, comes from the Makefile"
#endif

_Static_assert(L32_PFILE_BLOCK == L32_CTX_ALIGN, "a file block is a resume point");

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
	struct l32_pfile *file;  /* the blocks of --prefix-cache, ids 1..n_file; or NULL */
	uint64_t n_file;
	char *save_path;         /* the file to write at the end (it did not exist) */
	struct l32_pfile_id id;  /* what the file is made with */
};

size_t
l32_prefix_default_mem(const struct l32_ctx *c, int32_t n_ctx, int32_t n_seq)
{
	size_t kv = l32_ctx_pos_bytes(c) * (size_t)n_ctx * (size_t)n_seq;
	uint64_t avail = l32_mem_available() / 4;

	return avail > 0 && avail < kv ? (size_t)avail : kv;
}

/* A cache of at most mem bytes of blocks; NULL when out of memory. */
static struct l32_prefix *
cache_new(const struct l32_ctx *c, size_t mem)
{
	struct l32_prefix *pc;
	size_t pos = l32_ctx_pos_bytes(c);
	size_t per = sizeof(struct block) + (size_t)B * pos;

	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return NULL;
	pc->pos_bytes = pos;
	pc->max_blocks = mem / per;
	pc->next_id = 1;
	if ((pc->blocks = calloc(pc->max_blocks > 0 ? pc->max_blocks : 1,
	    sizeof(*pc->blocks))) == NULL) {
		free(pc);
		return NULL;
	}
	return pc;
}

/* What a file for this engine is made with.  The K/V bits depend on the
 * model, the build, the kernels and, for weights without batch-invariant
 * kernels, the prefill batch; not on the thread count (kernels.h). */
static void
file_id(const struct l32_ctx *c, const struct l32_model *m, const struct l32_ctx_params *cp,
    struct l32_pfile_id *id)
{
	const struct l32_hparams *hp = l32_model_hparams(m);
	struct l32_model_id mid;
	size_t row = (size_t)hp->n_layers * 2 * (size_t)hp->n_kv_heads * (size_t)hp->head_dim;

	memset(id, 0, sizeof(*id));
	l32_model_identity(m, &mid);
	id->build = L32_BUILD_ID;
	id->model_bytes = mid.file_bytes;
	id->model_hash = mid.hash;
	id->kv_elem = (uint32_t)(row > 0 ? l32_ctx_pos_bytes(c) / row : 0);
	id->n_layer = (uint32_t)hp->n_layers;
	id->n_kv_heads = (uint32_t)hp->n_kv_heads;
	id->head_dim = (uint32_t)hp->head_dim;
	id->block = L32_PFILE_BLOCK;
	id->n_batch = (uint32_t)cp->n_batch;
	id->isa = (uint32_t)l32_kernels_isa();
	id->cpu = l32_cpu_features();
	strlcpy(id->model_desc, l32_model_desc(m), sizeof(id->model_desc));
}

int
l32_prefix_open(struct l32_prefix **out, const struct l32_ctx *c, const struct l32_model *m,
    const struct l32_ctx_params *cp, struct l32_err *err)
{
	size_t per = sizeof(struct block) + (size_t)B * l32_ctx_pos_bytes(c), mem;
	struct l32_prefix *pc;
	struct l32_pfile_id id;
	struct l32_pfile *f = NULL;
	int missing = 0;

	*out = NULL;
	mem = cp->cache_mem > 0 ? (size_t)cp->cache_mem : cp->cache_mem == 0 ? 0 :
	    l32_prefix_default_mem(c, cp->n_ctx, cp->n_seq);
	if (cp->prefix_cache == NULL) {
		/* the cache is best effort: off when no block fits or no memory */
		if (mem / per > 0)
			*out = cache_new(c, mem);
		return 0;
	}
	file_id(c, m, cp, &id);
	if ((f = l32_pfile_open(cp->prefix_cache, &id, &missing, err)) == NULL && !missing)
		return -1;
	l32_err_clear(err);
	if ((pc = cache_new(c, mem)) == NULL ||
	    (f == NULL && (pc->save_path = strdup(cp->prefix_cache)) == NULL)) {
		l32_prefix_free(pc);
		l32_pfile_close(f);
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	}
	pc->file = f;
	pc->n_file = f != NULL ? l32_pfile_count(f) : 0;
	pc->next_id = pc->n_file + 1;
	pc->id = id;
	*out = pc;
	return 0;
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
	l32_pfile_close(pc->file);
	free(pc->save_path);
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

/* The block that follows parent with these tokens, in the file or in
 * memory: its id (0: none), its K/V, and its memory block (NULL for a
 * file block). */
static uint64_t
lookup(const struct l32_prefix *pc, uint64_t parent, uint64_t key, const int32_t *tok,
    const void **kv, struct block **mb)
{
	int64_t i;

	*mb = NULL;
	/* a file block's parent is a file block (or none) */
	if (pc->file != NULL && parent <= pc->n_file &&
	    (i = l32_pfile_find(pc->file, parent, key, tok)) >= 0) {
		*kv = l32_pfile_kv(pc->file, (size_t)i);
		return (uint64_t)i + 1;
	}
	if ((*mb = find(pc, parent, key, tok)) == NULL)
		return 0;
	*kv = (*mb)->kv;
	return (*mb)->id;
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
	const void **kv;
	struct block **chain;

	pc->clock++;
	chain = malloc((nb > 0 ? nb : 1) * sizeof(*chain));
	kv = malloc((nb > 0 ? nb : 1) * sizeof(*kv));
	if (chain == NULL || kv == NULL) {
		free(chain);
		free(kv);
		return 0;   /* the cache is best effort */
	}
	for (m = 0; m < nb; m++) {
		const int32_t *tok = prompt + m * B;

		key = l32_pfile_key(key, tok);
		if ((parent = lookup(pc, parent, key, tok, &kv[m], &chain[m])) == 0)
			break;
	}
	m = per > 0 ? m - m % per : 0;   /* an aligned prefix only */
	for (size_t i = 0; i < m; i++) {
		if (l32_ctx_seq_load(c, seq, B, kv[i], err) == -1) {
			free(chain);
			free(kv);
			return -1;
		}
		if (chain[i] != NULL)
			chain[i]->stamp = pc->clock;
	}
	free(chain);
	free(kv);
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
	uint64_t parent = 0, key = 0, id;

	for (size_t i = 0; i < n / B; i++) {
		const int32_t *tok = prompt + i * B;
		const void *kv;
		struct block *b;

		key = l32_pfile_key(key, tok);
		if ((id = lookup(pc, parent, key, tok, &kv, &b)) == 0) {
			/* the cache is best effort: no room or no memory stores no more */
			if (make_room(pc) == -1 || (b = calloc(1, sizeof(*b))) == NULL)
				return;
			if ((b->kv = malloc((size_t)B * pc->pos_bytes)) == NULL) {
				free(b);
				return;
			}
			b->key = key;
			b->id = id = pc->next_id++;
			b->parent = parent;
			b->depth = (int32_t)i;
			memcpy(b->tokens, tok, sizeof(b->tokens));
			l32_ctx_seq_save(c, seq, (int32_t)(i * B), B, b->kv);
			pc->blocks[pc->n++] = b;
		}
		if (b != NULL)
			b->stamp = pc->clock;
		parent = id;
	}
}

/* ------------------------------------------------------------ saving */

static int
by_depth(const void *a, const void *b)
{
	const struct block *x = *(struct block *const *)a, *y = *(struct block *const *)b;

	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

struct id_ix {
	uint64_t id, ix;   /* a block's id, its index + 1 in the file */
};

static int
by_id(const void *a, const void *b)
{
	const struct id_ix *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

int
l32_prefix_save(struct l32_prefix *pc, struct l32_err *err)
{
	struct block **order;
	struct l32_pfile_block *out;
	struct id_ix *ix;
	size_t n = 0, sorted = 0;
	int rc;

	if (pc == NULL || pc->save_path == NULL)
		return 0;
	if (pc->n == 0) {
		l32_err_set(err, L32_ERR_NONE, "%s: no block was kept (no prompt held a whole "
		    "block of %d tokens%s): nothing written", pc->save_path, B,
		    pc->max_blocks == 0 ? ", or --cache-mem is under one block" : "");
		return 1;
	}
	order = malloc(pc->n * sizeof(*order));
	out = malloc(pc->n * sizeof(*out));
	ix = malloc(pc->n * sizeof(*ix));
	if (order == NULL || out == NULL || ix == NULL) {
		free(order);
		free(out);
		free(ix);
		return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", pc->save_path);
	}
	/* parents first: a parent is one block shallower than its children */
	memcpy(order, pc->blocks, pc->n * sizeof(*order));
	qsort(order, pc->n, sizeof(*order), by_depth);
	for (size_t i = 0; i < pc->n; i++) {
		const struct block *b = order[i];
		struct id_ix want = { b->parent, 0 }, *p = NULL;

		/* ix[0..sorted) holds the shallower blocks, sorted by id */
		if (b->parent != 0 && (p = bsearch(&want, ix, sorted, sizeof(*ix), by_id)) == NULL)
			continue;   /* its parent was evicted: it could never be found */
		out[n] = (struct l32_pfile_block){ b->key, p != NULL ? p->ix : 0,
		    (uint32_t)b->depth, b->tokens, b->kv };
		ix[n] = (struct id_ix){ b->id, n + 1 };
		n++;
		if (i + 1 < pc->n && order[i + 1]->depth != b->depth) {
			qsort(ix, n, sizeof(*ix), by_id);
			sorted = n;
		}
	}
	rc = l32_pfile_write(pc->save_path, &pc->id, out, n, err);
	if (rc == 1)
		l32_err_set(err, L32_ERR_NONE, "%s: written by another process meanwhile: kept, "
		    "ours dropped", pc->save_path);
	free(order);
	free(out);
	free(ix);
	return rc;
}
