/*
 * generate.c - the generation loop: prefill a prompt, then sample token
 * after token for each choice, stopping on stop tokens, stop strings,
 * max_tokens or the context limit; text is decoded as it comes, whole
 * UTF-8 characters only, and held back while it could still turn into a
 * stop string.
 *
 * Batch invariance: prefill batches and decode batches are never mixed, and
 * each choice's prompt is evaluated on its own, so a choice's logits do not
 * depend on what else runs beside it.
 *
 * Prefix reuse: a prompt first takes what the engine's prefix cache holds
 * of it (gen/prefix.c), then computes the rest in the batches the whole
 * prompt would have had; the other choices of the request copy the first
 * one's K/V and logits.  Either way the bits are those of the prompt
 * computed alone (l32_ctx_align).
 *
 * Constrained decoding: with a grammar, each choice keeps its own
 * automaton state; before each draw the logits of the tokens the state
 * does not allow are set to -infinity (the sampler and the logprobs then
 * see only the allowed ones), and the choice ends with "stop" as soon as
 * the text is complete under the grammar.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen/l32_gen.h"
#include "gen/prefix.h"
#include "grammar/l32_grammar.h"
#include "model/model.h"

/* Compiled grammars kept across requests: a batch job repeats one schema
 * thousands of times, and a kept grammar has its token masks ready.  One
 * that has grown past GRAMMAR_CACHE_BYTES is dropped when no job uses it. */
#define GRAMMAR_CACHE 8
#define GRAMMAR_CACHE_BYTES ((size_t)32 << 20)

struct l32_engine {
	struct l32_model *m;
	struct l32_ctx *ctx;
	const struct l32_tokenizer *tok;
	struct l32_ctx_params cp;
	int32_t n_vocab;
	struct l32_sampler *sm;
	int32_t *b_tok, *b_pos, *b_seq;  /* (n_batch) batch being built */
	uint8_t *b_out;                  /* (n_batch) */
	struct run **dest;               /* (n_batch) run each batch row belongs to */
	unsigned char *slot_used;        /* (n_seq) sequence slots taken by a job */
	struct l32_job *jobs;            /* jobs with choices still running */
	int (*stop)(void);               /* non-zero: stop before the next pass */
	struct l32_vocab_trie *trie;     /* the vocabulary for grammars, built on first use */
	struct l32_grammar *grammars[GRAMMAR_CACHE]; /* recently used, most recent first */
	struct l32_prefix *prefix;       /* the prefix cache, or NULL when off */
};

/* One choice while it is being generated. */
struct run {
	struct l32_gen_choice *c;
	int32_t seq;               /* KV cache sequence */
	int32_t pos;               /* next position */
	int active;
	float *logits;             /* (n_vocab) logits of the next token */
	uint32_t *counts;          /* (n_vocab) occurrences in the completion */
	struct l32_rng rng;
	struct l32_decoder dec;
	size_t match_from;         /* stop strings are matched after this byte */
	size_t lp_streamed;        /* logprobs entries already streamed */
	int32_t index;             /* choice index in its job */
	struct l32_job *job;
	int32_t gstate;            /* grammar state (with a grammar) */
};

/* One request: its choices, generated together with other jobs' choices. */
struct l32_job {
	struct l32_engine *e;
	struct l32_gen_params p;   /* the caller keeps stop / bias storage alive */
	struct run *runs;          /* (p.n) */
	l32_gen_stream_fn stream;
	void *stream_arg;
	struct l32_grammar *grammar; /* held while the job runs: p.grammar or a kept equal one */
	int done;
	int failed;                /* ended by err (the model computed NaN) */
	struct l32_err err;
	struct l32_job *next;      /* in e->jobs */
};

const char *
l32_finish_name(enum l32_finish f)
{
	switch (f) {
	case L32_FINISH_STOP: return "stop";
	case L32_FINISH_LENGTH: return "length";
	case L32_FINISH_TOOL_CALLS: return "tool_calls";
	default: return NULL;
	}
}

void
l32_gen_params_init(struct l32_gen_params *p)
{
	memset(p, 0, sizeof(*p));
	p->max_tokens = INT32_MAX;
	p->n = 1;
	l32_sampling_init(&p->sampling);
}

void
l32_gen_params_from_model(struct l32_gen_params *p, const struct l32_model *m)
{
	if (m->gen_temperature >= 0)
		p->sampling.temperature = m->gen_temperature;
	if (m->gen_top_p >= 0)
		p->sampling.top_p = m->gen_top_p;
	if (m->gen_top_k >= 0)
		p->sampling.top_k = m->gen_top_k;
}

void
l32_gen_choice_free(struct l32_gen_choice *c)
{
	l32_buf_free(&c->text);
	l32_tokens_free(&c->ids);
	json_decref(c->logprobs);
	c->logprobs = NULL;
}

/* ----------------------------------------------------------------- engine */

struct l32_engine *
l32_engine_new(struct l32_model *m, const struct l32_ctx_params *cp, struct l32_err *err)
{
	struct l32_engine *e;
	struct l32_ctx_params p = *cp;

	/* a decode step holds one token per sequence */
	if (p.n_batch < p.n_seq)
		p.n_batch = p.n_seq;
	/* The slots are measured (--batch auto) or chosen: prompts take the
	 * same kernels either way, up to the most the measurement may choose
	 * (l32_ctx_gemm_tokens). */
	if (p.n_step < L32_STEP_MAX)
		p.n_step = L32_STEP_MAX;
	cp = &p;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	e->m = m;
	e->cp = *cp;
	e->tok = l32_model_tokenizer(m);
	e->n_vocab = l32_model_hparams(m)->vocab;
	if ((e->ctx = l32_ctx_new(m, cp, err)) == NULL) {
		free(e);
		return NULL;
	}
	e->sm = l32_sampler_new(e->n_vocab);
	e->b_tok = calloc((size_t)cp->n_batch, sizeof(int32_t));
	e->b_pos = calloc((size_t)cp->n_batch, sizeof(int32_t));
	e->b_seq = calloc((size_t)cp->n_batch, sizeof(int32_t));
	e->b_out = calloc((size_t)cp->n_batch, 1);
	e->dest = calloc((size_t)cp->n_batch, sizeof(*e->dest));
	e->slot_used = calloc((size_t)cp->n_seq, 1);
	if (l32_prefix_open(&e->prefix, e->ctx, m, cp, err) == -1) {
		l32_engine_free(e);
		return NULL;
	}
	if (e->sm == NULL || !e->b_tok || !e->b_pos || !e->b_seq || !e->b_out || !e->dest ||
	    !e->slot_used) {
		l32_engine_free(e);
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	return e;
}

void
l32_engine_free(struct l32_engine *e)
{
	int i;

	if (e == NULL)
		return;
	while (e->jobs != NULL)
		l32_job_free(e->jobs);
	l32_ctx_free(e->ctx);
	l32_sampler_free(e->sm);
	l32_vocab_trie_free(e->trie);
	l32_prefix_free(e->prefix);
	for (i = 0; i < GRAMMAR_CACHE; i++)
		l32_grammar_free(e->grammars[i]);
	free(e->b_tok);
	free(e->b_pos);
	free(e->b_seq);
	free(e->b_out);
	free(e->dest);
	free(e->slot_used);
	free(e);
}

int
l32_engine_save_prefix(struct l32_engine *e, struct l32_err *err)
{
	return l32_prefix_save(e->prefix, err);
}

void
l32_engine_set_stop(struct l32_engine *e, int (*stop)(void))
{
	e->stop = stop;
}

/* Fails with L32_ERR_STOPPED once the engine is asked to stop. */
static int
stopping(const struct l32_engine *e, struct l32_err *err)
{
	if (e->stop == NULL || !e->stop())
		return 0;
	return l32_err_set(err, L32_ERR_STOPPED, "stopped by a signal");
}

struct l32_ctx *
l32_engine_ctx(struct l32_engine *e)
{
	return e->ctx;
}

int32_t
l32_engine_n_ctx(const struct l32_engine *e)
{
	return e->cp.n_ctx;
}

int32_t
l32_engine_n_seq(const struct l32_engine *e)
{
	return e->cp.n_seq;
}

/* Ends a job whose logits the model spoiled with NaN or infinity, naming
 * the earliest place among the batch tokens of the run's sequence (in a
 * prompt, a damaged token may spoil the last one through attention).  The
 * other jobs go on. */
static void
fail_job(struct l32_engine *e, struct run *r, int32_t n, int32_t code)
{
	struct l32_job *j = r->job;
	int32_t i, k;

	for (i = 0; i < n; i++)
		if (e->b_seq[i] == r->seq && (k = l32_ctx_fault(e->ctx, i)) != 0 && k < code)
			code = k;
	if (j->failed)
		return;
	j->failed = 1;
	j->done = 1;
	l32_err_nonfinite(&j->err, e->ctx, code);
	for (i = 0; i < j->p.n; i++)
		j->runs[i].active = 0;
}

/* Runs the batch built in e->b_*; copies each asked-for row of logits to
 * its run, or fails the run's job when they are not finite. */
static int
run_batch(struct l32_engine *e, int32_t n, struct l32_err *err)
{
	struct run **dest = e->dest;
	struct l32_batch b = { n, e->b_tok, e->b_pos, e->b_seq, e->b_out };
	int32_t i, code;

	if (l32_ctx_decode(e->ctx, &b, err) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (!e->b_out[i] || dest[i] == NULL)
			continue;
		if ((code = l32_ctx_fault(e->ctx, i)) != 0)
			fail_job(e, dest[i], n, code);
		else
			memcpy(dest[i]->logits, l32_ctx_logits(e->ctx, i), (size_t)e->n_vocab * sizeof(float));
	}
	return 0;
}

/* Evaluates the prompt for one run from position done (its cache holds
 * the positions before), in batches that end at multiples of n_batch, so
 * a prompt is split the same way whatever came from the prefix cache. */
static int
prefill(struct l32_engine *e, struct run *r, const int32_t *prompt, size_t n_prompt,
    size_t done, struct l32_err *err)
{
	struct run **dest = e->dest;
	size_t nb = (size_t)e->cp.n_batch;
	int32_t n, i;

	while (done < n_prompt) {
		if (stopping(e, err) == -1)  /* a long prompt takes many passes */
			return -1;
		n = (int32_t)(n_prompt - done < nb - done % nb ? n_prompt - done : nb - done % nb);
		for (i = 0; i < n; i++) {
			e->b_tok[i] = prompt[done + (size_t)i];
			e->b_pos[i] = (int32_t)(done + (size_t)i);
			e->b_seq[i] = r->seq;
			e->b_out[i] = done + (size_t)i + 1 == n_prompt;
			dest[i] = e->b_out[i] ? r : NULL;
		}
		if (run_batch(e, n, err) == -1)
			return -1;
		done += (size_t)n;
	}
	r->pos = (int32_t)n_prompt;
	return 0;
}

/* ---------------------------------------------------------------- choices */

static json_t *
token_json(const struct l32_tokenizer *tok, int32_t id, double logprob)
{
	struct l32_buf text = { 0 };
	const char *b;
	size_t n, i;
	json_t *bytes, *o;

	b = l32_token_bytes(tok, id, &n);
	l32_utf8_sanitize(&text, b, n);
	bytes = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(bytes, json_integer((unsigned char)b[i]));
	o = json_pack("{s:s%, s:f, s:o}", "token", text.data ? text.data : "", text.len,
	    "logprob", logprob, "bytes", bytes);
	l32_buf_free(&text);
	return o;
}

/* The OpenAI logprobs entry of a sampled token, from the raw logits. */
static int
record_logprobs(const struct l32_engine *e, const struct l32_gen_params *p,
    struct run *r, int32_t id)
{
	double lse = l32_logsumexp(r->logits, e->n_vocab);
	int32_t top[20], k = p->top_logprobs > 20 ? 20 : p->top_logprobs, i;
	json_t *entry, *alts;

	if (r->c->logprobs == NULL && (r->c->logprobs = json_array()) == NULL)
		return -1;
	if ((entry = token_json(e->tok, id, r->logits[id] - lse)) == NULL)
		return -1;
	alts = json_array();
	l32_top_ids(r->logits, e->n_vocab, k, top);
	for (i = 0; i < k; i++)
		if (isfinite(r->logits[top[i]]))  /* not a token the grammar ruled out */
			json_array_append_new(alts, token_json(e->tok, top[i], r->logits[top[i]] - lse));
	json_object_set_new(entry, "top_logprobs", alts);
	return json_array_append_new(r->c->logprobs, entry);
}

/* Looks for a stop string in the text after match_from; cuts it off. */
static int
find_stop(const struct l32_gen_params *p, struct run *r, size_t old_len)
{
	struct l32_buf *t = &r->c->text;
	size_t s, from, i, best = SIZE_MAX;

	for (s = 0; s < p->n_stop; s++) {
		if (p->stop_len[s] == 0 || p->stop_len[s] > t->len)
			continue;
		from = old_len >= p->stop_len[s] - 1 ? old_len - (p->stop_len[s] - 1) : 0;
		if (from < r->match_from)
			from = r->match_from;
		for (i = from; i + p->stop_len[s] <= t->len; i++)
			if (memcmp(t->data + i, p->stop[s], p->stop_len[s]) == 0) {
				if (i < best)
					best = i;
				break;
			}
	}
	if (best == SIZE_MAX)
		return 0;
	t->len = best;
	t->data[best] = '\0';
	return 1;
}

/* Bytes at the end of the text that could still grow into a stop string. */
static size_t
holdback(const struct l32_gen_params *p, const struct run *r)
{
	const struct l32_buf *t = &r->c->text;
	size_t s, l, most = 0;

	for (s = 0; s < p->n_stop; s++)
		for (l = p->stop_len[s] - 1; l > most && p->stop_len[s] > 0; l--)
			if (l <= t->len - r->match_from &&
			    memcmp(t->data + t->len - l, p->stop[s], l) == 0) {
				most = l;
				break;
			}
	return most;
}

/* Moves a choice's grammar state over the bytes of token id; the text is
 * finished when nothing more may follow. */
static int
grammar_step(struct l32_engine *e, const struct l32_gen_params *p, struct run *r, int32_t id,
    struct l32_err *err)
{
	const char *b;
	size_t n;
	int32_t st;

	b = l32_token_bytes(e->tok, id, &n);
	if ((st = l32_grammar_advance(p->grammar, r->gstate, b, n, err)) < 0)
		return -1;
	if (st == L32_GRAMMAR_DEAD)  /* the mask allowed only live tokens */
		return l32_err_set(err, L32_ERR_INVALID, "grammar: token %d leaves the grammar", id);
	r->gstate = st;
	if (l32_grammar_complete(p->grammar, st))
		r->c->finish = L32_FINISH_STOP;
	return 0;
}

/* Sets the logits of the tokens the choice's grammar state rules out to
 * -infinity; stop tokens too when the request ignores them. */
static int
grammar_mask(struct l32_engine *e, const struct l32_gen_params *p, struct run *r,
    struct l32_err *err)
{
	const uint64_t *m = l32_grammar_mask(p->grammar, e->trie, r->gstate, err);

	if (m == NULL)
		return -1;
	l32_grammar_apply_mask(m, r->logits, e->n_vocab);
	if (p->ignore_eos) {
		int32_t s[3] = { l32_tokenizer_eos(e->tok), l32_tokenizer_eot(e->tok), l32_tokenizer_eom(e->tok) };
		int i;

		for (i = 0; i < 3; i++)
			if (s[i] >= 0 && s[i] < e->n_vocab)
				r->logits[s[i]] = -INFINITY;
	}
	return 0;
}

/* Adds a sampled token to a choice; sets finish when it ends. */
static int
accept(struct l32_engine *e, const struct l32_gen_params *p, struct run *r,
    int32_t id, struct l32_err *err)
{
	struct l32_gen_choice *c = r->c;
	size_t old_len = c->text.len;

	if (!p->ignore_eos && l32_tokenizer_is_stop(e->tok, id)) {
		c->finish = L32_FINISH_STOP;
		return 0;
	}
	if (p->logprobs && record_logprobs(e, p, r, id) == -1)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	if (l32_tokens_push(&c->ids, id) == -1)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	r->counts[id]++;
	if (l32_tokenizer_is_special(e->tok, id)) {
		/* Control tokens are not content; stop strings never span one. */
		if (l32_decoder_flush(&r->dec, &c->text) == -1)
			return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		r->match_from = c->text.len;
	} else if (l32_decoder_push(&r->dec, e->tok, id, &c->text, err) == -1)
		return -1;
	if (p->grammar != NULL && !l32_tokenizer_is_special(e->tok, id) && grammar_step(e, p, r, id, err) == -1)
		return -1;
	if (c->finish)
		return 0;
	if (p->n_stop > 0 && find_stop(p, r, old_len)) {
		c->finish = L32_FINISH_STOP;
		return 0;
	}
	if ((int32_t)c->ids.n >= p->max_tokens || r->pos + 1 >= e->cp.n_ctx)
		c->finish = L32_FINISH_LENGTH;
	return 0;
}

/* Hands the text that is safe to show to the stream callback, with the
 * logprobs of the tokens since the last call (tokens whose text is held
 * back go out with the next piece of text). */
static int
stream_out(const struct l32_gen_params *p, struct run *r, int32_t index,
    l32_gen_stream_fn stream, void *arg)
{
	struct l32_gen_choice *c = r->c;
	size_t safe = c->finish ? c->text.len : c->text.len - holdback(p, r);
	size_t nlp = c->logprobs ? json_array_size(c->logprobs) : 0;
	int rc;

	if (stream == NULL || (safe <= c->streamed && !c->finish))
		return 0;
	rc = stream(arg, index, c->text.data + c->streamed,
	    safe > c->streamed ? safe - c->streamed : 0, r->lp_streamed, c->finish);
	c->streamed = safe > c->streamed ? safe : c->streamed;
	r->lp_streamed = nlp;
	return rc;
}

/* ------------------------------------------------------------- the jobs */

/* Drops kept grammars that grew too big and that no job holds. */
static void
grammars_trim(struct l32_engine *e)
{
	int i;

	for (i = 0; i < GRAMMAR_CACHE; i++)
		if (e->grammars[i] != NULL && l32_grammar_cache_bytes(e->grammars[i]) > GRAMMAR_CACHE_BYTES) {
			l32_grammar_free(e->grammars[i]);
			memmove(&e->grammars[i], &e->grammars[i + 1], (size_t)(GRAMMAR_CACHE - 1 - i) * sizeof(e->grammars[0]));
			e->grammars[GRAMMAR_CACHE - 1] = NULL;
			i--;
		}
}

/* The grammar a job runs on: a kept one compiled from the same text, or g
 * itself, kept from now on.  The caller holds the result. */
static struct l32_grammar *
grammar_kept(struct l32_engine *e, struct l32_grammar *g)
{
	struct l32_grammar *k;
	int i;

	grammars_trim(e);
	for (i = 0; i < GRAMMAR_CACHE && e->grammars[i] != NULL; i++)
		if (l32_grammar_same(e->grammars[i], g))
			break;
	if (i == GRAMMAR_CACHE || e->grammars[i] == NULL) {  /* new: the oldest goes */
		i = GRAMMAR_CACHE - 1;
		l32_grammar_free(e->grammars[i]);
		e->grammars[i] = l32_grammar_ref(g);
	}
	k = e->grammars[i];
	memmove(&e->grammars[1], &e->grammars[0], (size_t)i * sizeof(e->grammars[0]));
	e->grammars[0] = k;
	return l32_grammar_ref(k);
}

static void
free_runs(struct run *runs, int32_t n)
{
	int32_t i;

	for (i = 0; i < n; i++) {
		free(runs[i].logits);
		free(runs[i].counts);
	}
	free(runs);
}

int
l32_engine_check_prompt(const struct l32_engine *e, size_t n_prompt, const char *param,
    struct l32_err *err)
{
	if (n_prompt == 0)
		return l32_err_param(err, L32_ERR_INVALID, param, "the prompt is empty");
	if (n_prompt >= (size_t)e->cp.n_ctx) {
		l32_err_param(err, L32_ERR_CONTEXT, param,
		    "the prompt is %zu tokens; the context window is %d tokens and must also "
		    "hold at least one completion token", n_prompt, e->cp.n_ctx);
		err->code = "context_length_exceeded";
		return -1;
	}
	return 0;
}

static int
check_request(const struct l32_engine *e, size_t n_prompt, const struct l32_gen_params *p,
    struct l32_err *err)
{
	if (p->n < 1 || p->n > e->cp.n_seq)
		return l32_err_param(err, L32_ERR_INVALID, "n",
		    "n is %d; this engine runs at most %d sequences at once",
		    p->n, e->cp.n_seq);
	/* the programs check first, naming their own field */
	return l32_engine_check_prompt(e, n_prompt, "", err);
}

int32_t
l32_engine_free_slots(const struct l32_engine *e)
{
	int32_t i, n = 0;

	for (i = 0; i < e->cp.n_seq; i++)
		n += !e->slot_used[i];
	return n;
}

int
l32_engine_busy(const struct l32_engine *e)
{
	return e->jobs != NULL;
}

/* Takes free sequence slots and per-choice state for a job. */
static int
new_runs(struct l32_job *j, struct l32_gen_choice *choices, struct l32_err *err)
{
	struct l32_engine *e = j->e;
	int32_t i, slot = 0;

	if ((j->runs = calloc((size_t)j->p.n, sizeof(*j->runs))) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	for (i = 0; i < j->p.n; i++) {
		struct run *r = &j->runs[i];

		while (e->slot_used[slot])
			slot++;
		e->slot_used[slot] = 1;
		r->seq = slot;
		r->job = j;
		r->c = &choices[i];
		r->index = i;
		r->active = 1;
		r->logits = malloc((size_t)e->n_vocab * sizeof(float));
		r->counts = calloc((size_t)e->n_vocab, sizeof(uint32_t));
		if (r->logits == NULL || r->counts == NULL)
			return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		/* Each choice its own stream, reproducible from the seed. */
		l32_rng_seed(&r->rng, j->p.seed + (uint64_t)i * 0x9e3779b97f4a7c15ULL);
		l32_decoder_init(&r->dec);
		if (j->p.grammar != NULL && (r->gstate = l32_grammar_start(j->p.grammar)) < 0)
			return l32_err_set(err, L32_ERR_NOMEM,
			    "grammar: too large to run (rules nested too deep), or out of memory");
	}
	return 0;
}

void
l32_job_free(struct l32_job *j)
{
	struct l32_job **pp;
	int32_t i;

	if (j == NULL)
		return;
	for (pp = &j->e->jobs; *pp != NULL; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	for (i = 0; j->runs != NULL && i < j->p.n; i++)
		if (j->runs[i].c != NULL) {  /* slots given back */
			l32_ctx_seq_clear(j->e->ctx, j->runs[i].seq);
			j->e->slot_used[j->runs[i].seq] = 0;
		}
	if (j->runs != NULL)
		free_runs(j->runs, j->p.n);
	l32_grammar_free(j->grammar);
	free(j);
}

int
l32_job_done(const struct l32_job *j)
{
	return j->done;
}

int
l32_job_error(const struct l32_job *j, struct l32_err *err)
{
	if (!j->failed)
		return 0;
	*err = j->err;
	return -1;
}

/* Ends a choice that cannot go on. */
static int
end_choice(struct l32_job *j, struct run *r)
{
	if (l32_decoder_flush(&r->dec, &r->c->text) == -1)
		return -1;
	r->active = 0;
	return stream_out(&j->p, r, r->index, j->stream, j->stream_arg);
}

/* Evaluates the prompt: the first choice's from what the prefix cache
 * holds of it on, alone, never in a batch with other sequences' decode
 * steps (batch invariance); the other choices take its K/V and logits. */
static int
prompt_runs(struct l32_engine *e, struct l32_job *j, const int32_t *prompt, size_t n_prompt,
    struct l32_err *err)
{
	struct run *r0 = &j->runs[0];
	int32_t got = 0, i;

	l32_ctx_seq_clear(e->ctx, r0->seq);
	if (e->prefix != NULL &&
	    (got = l32_prefix_load(e->prefix, e->ctx, r0->seq, prompt, n_prompt, err)) == -1)
		return -1;
	if (prefill(e, r0, prompt, n_prompt, (size_t)got, err) == -1 || l32_job_error(j, err) == -1)
		return -1;
	if (e->prefix != NULL)
		l32_prefix_store(e->prefix, e->ctx, r0->seq, prompt, n_prompt);
	for (i = 0; i < j->p.n; i++) {
		struct run *r = &j->runs[i];

		if (i > 0) {
			l32_ctx_seq_copy(e->ctx, r0->seq, r->seq, (int32_t)n_prompt);
			memcpy(r->logits, r0->logits, (size_t)e->n_vocab * sizeof(float));
			r->pos = r0->pos;
		}
		r->c->cached_tokens = got;
	}
	return 0;
}

struct l32_job *
l32_job_start(struct l32_engine *e, const int32_t *prompt, size_t n_prompt,
    const struct l32_gen_params *p, struct l32_gen_choice *choices,
    l32_gen_stream_fn stream, void *stream_arg, struct l32_err *err)
{
	struct l32_job *j;
	int32_t i;

	if (check_request(e, n_prompt, p, err) == -1)
		return NULL;
	if (l32_engine_free_slots(e) < p->n) {
		l32_err_set(err, L32_ERR_NOMEM, "all %d sequence slots are busy", e->cp.n_seq);
		return NULL;
	}
	/* the vocabulary trie of grammars: built once, on the first request with one */
	if (p->grammar != NULL && e->trie == NULL && (e->trie = l32_vocab_trie_new(e->tok, err)) == NULL)
		return NULL;
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	j->e = e;
	j->p = *p;
	if (p->grammar != NULL)
		j->p.grammar = j->grammar = grammar_kept(e, p->grammar);
	j->stream = stream;
	j->stream_arg = stream_arg;
	j->next = e->jobs;
	e->jobs = j;
	if (new_runs(j, choices, err) == -1)
		goto fail;
	if (prompt_runs(e, j, prompt, n_prompt, err) == -1)
		goto fail;
	for (i = 0; i < p->n; i++)
		if (p->max_tokens <= 0) {
			j->runs[i].c->finish = L32_FINISH_LENGTH;
			if (end_choice(j, &j->runs[i]) == -1) {
				l32_err_set(err, L32_ERR_IO, "output failed");
				goto fail;
			}
		}
	return j;
fail:
	l32_job_free(j);
	return NULL;
}

/* Samples the next token of an active run and adds it to the batch. */
static int
advance(struct l32_job *j, struct run *r, int32_t *n, struct l32_err *err)
{
	struct l32_engine *e = j->e;
	int32_t id;

	if (j->p.grammar != NULL && grammar_mask(e, &j->p, r, err) == -1)
		return -1;
	id = l32_sampler_pick(e->sm, &j->p.sampling, r->logits, r->counts, &r->rng);
	if (accept(e, &j->p, r, id, err) == -1)
		return -1;
	if (r->c->finish) {
		if (end_choice(j, r) == -1)
			return l32_err_set(err, L32_ERR_IO, "output failed");
		return 0;
	}
	if (stream_out(&j->p, r, r->index, j->stream, j->stream_arg) == -1)
		return l32_err_set(err, L32_ERR_IO, "output failed");
	e->b_tok[*n] = id;
	e->b_pos[*n] = r->pos++;
	e->b_seq[*n] = r->seq;
	e->b_out[*n] = 1;
	e->dest[(*n)++] = r;
	return 0;
}

int
l32_engine_step(struct l32_engine *e, struct l32_err *err)
{
	struct l32_job *j;
	int32_t i, n = 0, live;

	if (stopping(e, err) == -1)
		return -1;
	for (j = e->jobs; j != NULL; j = j->next) {
		if (j->done)
			continue;
		for (live = 0, i = 0; i < j->p.n; i++) {
			if (j->runs[i].active && advance(j, &j->runs[i], &n, err) == -1)
				return -1;
			live += j->runs[i].active;
		}
		if (live == 0)
			j->done = 1;
	}
	return n > 0 ? run_batch(e, n, err) : 0;
}

int
l32_generate(struct l32_engine *e, const int32_t *prompt, size_t n_prompt,
    const struct l32_gen_params *p, struct l32_gen_choice *choices,
    l32_gen_stream_fn stream, void *stream_arg, struct l32_err *err)
{
	struct l32_job *j;
	int rc = 0;

	if ((j = l32_job_start(e, prompt, n_prompt, p, choices, stream, stream_arg, err)) == NULL)
		return -1;
	while (!j->done && rc == 0)
		rc = l32_engine_step(e, err);
	if (rc == 0)
		rc = l32_job_error(j, err);
	l32_job_free(j);
	return rc;
}
