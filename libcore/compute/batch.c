/*
 * batch.c - the plan of a batch before the forward pass: every token
 * checked against its sequence's cache, the tokens grouped by sequence (a
 * prompt's run of queries takes the GEMM attention path), and the rows
 * that get logits or embeddings.
 */
#include "compute/ctx.h"

/* Every token must be a known id in a known sequence, continuing that
 * sequence where its cache ends, inside the context window. */
static int
check_batch(struct l32_ctx *c, const struct l32_batch *b, struct l32_err *err)
{
	if (b->n < 1 || b->n > c->p.n_batch)
		return l32_err_set(err, L32_ERR_INVALID,
		    "batch: %d tokens, but a batch takes 1..%d", b->n, c->p.n_batch);
	if (b->token == NULL || b->pos == NULL || b->seq == NULL)
		return l32_err_set(err, L32_ERR_INVALID,
		    "batch: token, pos and seq must all be given");
	for (int32_t s = 0; s < c->p.n_seq; s++)
		c->next_pos[s] = c->kv.len[s];
	for (int32_t i = 0; i < b->n; i++) {
		int32_t s = b->seq[i], pos = b->pos[i];

		if (b->token[i] < 0 || b->token[i] >= c->vocab)
			return l32_err_set(err, L32_ERR_INVALID,
			    "batch token %d: id %d is outside the vocabulary 0..%d",
			    i, b->token[i], c->vocab - 1);
		if (s < 0 || s >= c->p.n_seq)
			return l32_err_set(err, L32_ERR_INVALID,
			    "batch token %d: seq %d is outside 0..%d", i, s,
			    c->p.n_seq - 1);
		if (pos != c->next_pos[s])
			return l32_err_set(err, L32_ERR_INVALID,
			    "batch token %d: seq %d pos %d does not continue the "
			    "sequence, which holds %d positions", i, s, pos,
			    c->next_pos[s]);
		if (pos >= c->p.n_ctx)
			return l32_err_set(err, L32_ERR_CONTEXT,
			    "batch token %d: seq %d pos %d is past the context "
			    "window of %d positions", i, s, pos, c->p.n_ctx);
		c->next_pos[s]++;
	}
	return 0;
}

/* Groups the batch by sequence, stably, so each group's tokens are in
 * position order (check_batch made batch order position order).  After
 * check_batch, next_pos - len is each sequence's token count in the batch;
 * it becomes the sequence's first slot.  Returns the number of groups. */
static int32_t
group_batch(struct l32_ctx *c, const struct l32_batch *b)
{
	int32_t ng = 0, at = 0;

	for (int32_t s = 0; s < c->p.n_seq; s++) {
		int32_t count = c->next_pos[s] - c->kv.len[s];

		if (count > 0)
			c->groups[ng++] = (struct group){ s, at, count };
		c->next_pos[s] = at;
		at += count;
	}
	for (int32_t i = 0; i < b->n; i++)
		c->slots[c->next_pos[b->seq[i]]++] =
		    (struct slot){ b->seq[i], b->pos[i], i };
	return ng;
}

/* Which tokens want logits or embeddings: rows in c->logits / c->xo. */
static void
plan_outputs(struct l32_ctx *c, const struct l32_batch *b, int32_t *n_out)
{
	int32_t nl = 0, no = 0;

	for (int32_t i = 0; i < b->n; i++) {
		unsigned want = b->out != NULL ? b->out[i] :
		    (i == b->n - 1 ? L32_OUT_LOGITS : 0);

		c->logit_row[i] = -1;
		c->embd_row[i] = -1;
		if (want & (L32_OUT_LOGITS | L32_OUT_EMBD)) {
			if (want & L32_OUT_EMBD)
				c->embd_row[i] = no;
			if (want & L32_OUT_LOGITS)
				c->logit_row[i] = nl++;
			no++;
		}
	}
	*n_out = no;
}


int
l32_batch_plan(struct l32_ctx *c, const struct l32_batch *b, int32_t *n_groups,
    int32_t *n_out, struct l32_err *err)
{
	if (check_batch(c, b, err) < 0)
		return -1;
	*n_groups = group_batch(c, b);
	plan_outputs(c, b, n_out);
	return 0;
}
