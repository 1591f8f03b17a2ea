/*
 * wcheck.c - looks at every weight of a model for NaN and infinity
 * (--check-weights): a damaged file (a bad disk, a broken conversion) is
 * then one message at start-up naming the tensor, the row and the column,
 * instead of requests that fail one by one as the forward pass meets the
 * damage.  Every row is widened to f32 by its type's kernel, so the scales
 * of quantized blocks are checked through the values they make.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "compute/matmul.h"
#include "model/model.h"

/* -1 with err naming what when v[0..n) holds a non-finite value. */
static int
check_values(const struct l32_model *m, const char *what, int64_t row, const float *v,
    int64_t n, struct l32_err *err)
{
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return l32_err_set(err, L32_ERR_FORMAT,
			    "%s: %s holds %s at row %lld, column %lld: the file is damaged",
			    m->path != NULL ? m->path : "model", what, isnan(v[i]) ? "NaN" : "infinity",
			    (long long)row, (long long)i);
	return 0;
}

static int
check_tensor(const struct l32_model *m, const struct l32_tensor *t, float *row,
    struct l32_err *err)
{
	char what[160];

	snprintf(what, sizeof(what), "tensor %s", t->name != NULL ? t->name : "(unnamed)");
	for (int64_t r = 0; r < t->rows; r++) {
		if (l32_tensor_row_f32(t, r, row) < 0)
			return l32_err_set(err, L32_ERR_FORMAT, "%s: %s: row %lld cannot be read",
			    m->path != NULL ? m->path : "model", what, (long long)r);
		if (check_values(m, what, r, row, t->cols, err) == -1)
			return -1;
	}
	return 0;
}

static int
check_norm(const struct l32_model *m, const char *what, int layer, const float *v, int64_t n,
    struct l32_err *err)
{
	char buf[64];

	if (layer >= 0)
		snprintf(buf, sizeof(buf), "the %s of layer %d", what, layer);
	else
		snprintf(buf, sizeof(buf), "the %s", what);
	return v != NULL ? check_values(m, buf, 0, v, n, err) : 0;
}

int
l32_model_check_weights(const struct l32_model *m, struct l32_err *err)
{
	const struct l32_hparams *hp = &m->hp;
	const struct l32_weights *w = &m->w;
	int64_t cols = hp->dim > hp->ffn_dim ? hp->dim : hp->ffn_dim;
	float *row;
	int rc = -1;

	if (w->layers == NULL)
		return l32_err_set(err, L32_ERR_FORMAT, "model: no layers to check");
	if ((int64_t)hp->n_heads * hp->head_dim > cols)
		cols = (int64_t)hp->n_heads * hp->head_dim;
	if ((row = malloc((size_t)cols * sizeof(float))) == NULL)
		return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
	if (check_tensor(m, &w->tok_embd, row, err) == -1 ||
	    (w->output.data != w->tok_embd.data && check_tensor(m, &w->output, row, err) == -1) ||
	    check_norm(m, "output norm", -1, w->output_norm, hp->dim, err) == -1 ||
	    check_norm(m, "RoPE frequencies", -1, w->rope_freq, hp->head_dim / 2, err) == -1)
		goto out;
	for (int l = 0; l < hp->n_layers; l++) {
		const struct l32_layer *L = &w->layers[l];
		const struct l32_tensor *t[] = { &L->wq, &L->wk, &L->wv, &L->wo, &L->w1, &L->w2, &L->w3 };

		if (check_norm(m, "attention norm", l, L->attn_norm, hp->dim, err) == -1 ||
		    check_norm(m, "feed-forward norm", l, L->ffn_norm, hp->dim, err) == -1)
			goto out;
		for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
			if (check_tensor(m, t[i], row, err) == -1)
				goto out;
	}
	rc = 0;
out:
	free(row);
	return rc;
}
