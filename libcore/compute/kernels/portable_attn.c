/*
 * portable_attn.c - decode attention over one chunk of a KV head's cache
 * in plain C (kernels.h, struct l32_attn_chunk): the kernel of the
 * portable table, and the reference the ISA kernels are tested against.
 */
#include <math.h>
#include <string.h>

#include "compute/kernels/kernels.h"
#include "formats/quant.h"

/* Rows [t0, t0 + nr) of a K or V chunk as f32 rows of hd values, nr <=
 * L32_ATTN_ROWS: in place for an f32 cache (*ld the cache's), widened
 * into w for an f16 one (*ld = hd). */
static const float *
rows_at(const struct l32_attn_chunk *a, const void *base, int f16, int32_t t0,
    int32_t nr, float *w, int64_t *ld)
{
	size_t at = (size_t)t0 * (size_t)a->ld;

	if (!f16) {
		*ld = a->ld;
		return (const float *)base + at;
	}
	for (int32_t t = 0; t < nr; t++)
		l32_dequant_row_f16((const uint16_t *)base + at + (size_t)t * (size_t)a->ld,
		    w + (size_t)t * (size_t)a->hd, a->hd);
	*ld = a->hd;
	return w;
}

/* s[i * L32_ATTN_CHUNK + t] := e^(scale q_i . k_t - m_i); m and l out. */
static void
scores(const struct l32_attn_chunk *a, int f16, float *s, float *w)
{
	int32_t g = a->g, hd = a->hd, n = a->n;

	for (int32_t t0 = 0; t0 < n; t0 += L32_ATTN_ROWS) {
		int32_t nr = n - t0 < L32_ATTN_ROWS ? n - t0 : L32_ATTN_ROWS;
		int64_t ld;
		const float *k = rows_at(a, a->k, f16, t0, nr, w, &ld);

		for (int32_t i = 0; i < g; i++)
			for (int32_t t = 0; t < nr; t++) {
				const float *q = a->q + (size_t)i * (size_t)hd;
				const float *kt = k + (size_t)t * (size_t)ld;
				float d = 0.0f;

				for (int32_t j = 0; j < hd; j++)
					d += q[j] * kt[j];
				s[(size_t)i * L32_ATTN_CHUNK + (size_t)(t0 + t)] = d * a->scale;
			}
	}
	for (int32_t i = 0; i < g; i++) {
		float *si = s + (size_t)i * L32_ATTN_CHUNK, m = si[0], l = 0.0f;

		for (int32_t t = 1; t < n; t++)
			m = si[t] > m ? si[t] : m;
		for (int32_t t = 0; t < n; t++) {
			si[t] = expf(si[t] - m);
			l += si[t];
		}
		a->out[i] = m;
		a->out[g + i] = l;
	}
}

static void
attn_chunk(const struct l32_attn_chunk *a, int f16)
{
	int32_t g = a->g, hd = a->hd, n = a->n;
	float *s = a->tmp, *w = a->tmp + (size_t)g * L32_ATTN_CHUNK;
	float *o = a->out + 2 * g;

	scores(a, f16, s, w);
	memset(o, 0, (size_t)g * (size_t)hd * sizeof(float));
	for (int32_t t0 = 0; t0 < n; t0 += L32_ATTN_ROWS) {
		int32_t nr = n - t0 < L32_ATTN_ROWS ? n - t0 : L32_ATTN_ROWS;
		int64_t ld;
		const float *v = rows_at(a, a->v, f16, t0, nr, w, &ld);

		for (int32_t i = 0; i < g; i++)
			for (int32_t t = 0; t < nr; t++) {
				float p = s[(size_t)i * L32_ATTN_CHUNK + (size_t)(t0 + t)];
				const float *vt = v + (size_t)t * (size_t)ld;
				float *oi = o + (size_t)i * (size_t)hd;

				for (int32_t j = 0; j < hd; j++)
					oi[j] += p * vt[j];
			}
	}
}

void
l32_attn_portable_f32(const struct l32_attn_chunk *a)
{
	attn_chunk(a, 0);
}

void
l32_attn_portable_f16(const struct l32_attn_chunk *a)
{
	attn_chunk(a, 1);
}
