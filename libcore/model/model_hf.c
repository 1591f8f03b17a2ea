/*
 * model_hf.c - a model from a Hugging Face directory: config.json,
 * generation_config.json, model.safetensors or its shards with
 * model.safetensors.index.json, and tokenizer.json.  q/k rows stay in the
 * "rotate-half" order the checkpoint uses (rope_halves = 1).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/hfconfig.h"
#include "base/mapfile.h"
#include "model/model_load.h"
#include "formats/safetensors.h"

struct hf {
	struct l32_hfindex ix;
	int has_ix;
	char *index_path;
};

static char *
join(const char *dir, const char *name, struct l32_err *err)
{
	char *p;

	size_t n = strlen(dir);

	if (asprintf(&p, "%s%s%s", dir, n > 0 && dir[n - 1] == '/' ? "" : "/", name) == -1) {
		l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", dir);
		return NULL;
	}
	return p;
}

/* 1 when dir/name exists, 0 when not, -1 when it cannot be told. */
static int
exists(const char *path, struct l32_err *err)
{
	if (access(path, F_OK) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
}

/* ---------------------------------------------------------- JSON files */

static int
load_config(struct l32_loader *L)
{
	struct l32_mapping map;
	char *path;
	int rc;

	if ((path = join(L->source, "config.json", L->err)) == NULL)
		return -1;
	if ((rc = exists(path, L->err)) == 0) {
		rc = l32_err_set(L->err, L32_ERR_IO,
		    "%s: no config.json: not a Hugging Face model directory", L->source);
	} else if (rc == 1 && (rc = l32_mapfile_open(path, &map, L->err)) == 0) {
		rc = l32_hfconfig_parse(map.addr, map.len, path, &L->m->hp, &L->tie, L->err);
		l32_mapfile_close(&map);
	}
	free(path);
	return rc;
}

static int
load_genconfig(struct l32_loader *L)
{
	struct l32_model *m = L->m;
	struct l32_mapping map;
	struct l32_hfgen gen;
	char *path;
	int i, rc;

	if ((path = join(L->source, "generation_config.json", L->err)) == NULL)
		return -1;
	if ((rc = exists(path, L->err)) == 1 && (rc = l32_mapfile_open(path, &map, L->err)) == 0) {
		rc = l32_hfgen_parse(map.addr, map.len, path, &gen, L->err);
		l32_mapfile_close(&map);
		for (i = 0; rc == 0 && i < gen.n_eos; i++)
			rc = l32_hparams_add_stop(path, &m->hp, gen.eos[i], L->err);
		if (rc == 0) {
			m->gen_temperature = gen.temperature;
			m->gen_top_p = gen.top_p;
			m->gen_top_k = gen.top_k;
		}
	}
	free(path);
	return rc;
}

/* ------------------------------------------------------------- shards */

static int
map_shard(struct l32_loader *L, const char *file)
{
	struct l32_model *m = L->m;
	struct l32_safetensors *st;
	char *path;
	int rc = -1;

	if (m->n_maps == (int)(sizeof(m->maps) / sizeof(m->maps[0])))
		return l32_err_set(L->err, L32_ERR_UNSUPPORTED, "%s: more than %d files to map",
		    L->source, m->n_maps);
	if ((path = join(L->source, file, L->err)) == NULL)
		return -1;
	if (l32_mapfile_open(path, &m->maps[m->n_maps], L->err) == 0) {
		m->n_maps++;
		st = l32_safetensors_parse(m->maps[m->n_maps - 1].addr, m->maps[m->n_maps - 1].len,
		    path, L->err);
		if (st != NULL) {
			m->shards[m->n_shards++] = st;
			rc = 0;
		}
	}
	free(path);
	return rc;
}

static int
load_index(struct l32_loader *L, struct hf *hf)
{
	struct l32_mapping map;
	int i;

	if (l32_mapfile_open(hf->index_path, &map, L->err) == -1)
		return -1;
	if (l32_hfindex_parse(map.addr, map.len, hf->index_path, &hf->ix, L->err) == -1) {
		l32_mapfile_close(&map);
		return -1;
	}
	l32_mapfile_close(&map);
	hf->has_ix = 1;
	/* Shard k of the index is m->shards[k]. */
	for (i = 0; i < hf->ix.n_shards; i++)
		if (map_shard(L, hf->ix.shards[i]) == -1)
			return -1;
	return 0;
}

static int
load_shards(struct l32_loader *L, struct hf *hf)
{
	char *single;
	int rc;

	if ((hf->index_path = join(L->source, "model.safetensors.index.json", L->err)) == NULL)
		return -1;
	if ((rc = exists(hf->index_path, L->err)) != 0)
		return rc == 1 ? load_index(L, hf) : -1;
	if ((single = join(L->source, "model.safetensors", L->err)) == NULL)
		return -1;
	rc = exists(single, L->err);
	free(single);
	if (rc == 0)
		return l32_err_set(L->err, L32_ERR_IO,
		    "%s: no model.safetensors or model.safetensors.index.json in the directory",
		    L->source);
	return rc == 1 ? map_shard(L, "model.safetensors") : -1;
}

static int
hf_find(struct l32_loader *L, const char *name, struct l32_src *s)
{
	struct hf *hf = L->fmt;
	const struct l32_safetensors *st = L->m->shards[0];
	const struct l32_st_tensor *t;
	int k, d;

	if (hf->has_ix) {
		if ((k = l32_hfindex_shard(&hf->ix, name)) < 0)
			return 0;
		st = L->m->shards[k];
	}
	if ((t = l32_safetensors_find(st, name)) == NULL) {
		if (!hf->has_ix)
			return 0;
		return l32_err_set(L->err, L32_ERR_FORMAT,
		    "%s: tensor %s: the index places it in %s, which does not hold it",
		    hf->index_path, name, st->source);
	}
	s->name = t->name;
	s->file = st->source;
	s->type = t->type;
	s->n_dims = t->n_dims;
	for (d = 0; d < t->n_dims; d++)
		s->dims[d] = t->shape[d];
	s->data = t->data;
	s->nbytes = t->nbytes;
	return 1;
}

/* ------------------------------------------------------------------ rest */

static int
setup_rope(struct l32_loader *L)
{
	float *freq;

	if ((freq = calloc((size_t)L->m->hp.head_dim / 2, sizeof(*freq))) == NULL)
		return l32_err_set(L->err, L32_ERR_NOMEM, "%s: out of memory", L->source);
	if (l32_model_own(L->m, freq, L->err) == -1)
		return -1;
	l32_rope_freq_from_hparams(&L->m->hp, freq);
	L->m->w.rope_freq = freq;
	L->m->w.rope_halves = 1;
	return 0;
}

/* tokenizer.json, when the directory has one. */
static int
load_tokenizer(struct l32_loader *L)
{
	char *path;
	int rc;

	if ((path = join(L->source, "tokenizer.json", L->err)) == NULL)
		return -1;
	if ((rc = exists(path, L->err)) == 1) {
		L->m->tok = l32_tokenizer_load_hf(path, L->err);
		rc = L->m->tok != NULL ? 0 : -1;
	}
	/* Every id the tokenizer can produce must have an embedding row. */
	if (rc == 0 && L->m->tok != NULL && l32_tokenizer_n_vocab(L->m->tok) > L->m->hp.vocab)
		rc = l32_err_set(L->err, L32_ERR_FORMAT,
		    "%s: %d tokens, more than the vocab_size %d of config.json", path,
		    l32_tokenizer_n_vocab(L->m->tok), L->m->hp.vocab);
	free(path);
	return rc;
}

int
l32_model_load_hf(struct l32_model *m, struct l32_err *err)
{
	struct hf hf = { 0 };
	struct l32_loader L = { .m = m, .source = m->path, .err = err, .hf = 1,
	    .find = hf_find, .fmt = &hf };
	int rc = -1;

	if (load_config(&L) == -1 || load_genconfig(&L) == -1 ||
	    l32_hparams_check(m->path, &m->hp, err) == -1 || load_shards(&L, &hf) == -1 ||
	    l32_model_map_weights(&L) == -1 || setup_rope(&L) == -1 || load_tokenizer(&L) == -1)
		goto out;
	rc = 0;
out:
	if (hf.has_ix)
		l32_hfindex_free(&hf.ix);
	free(hf.index_path);
	return rc;
}
