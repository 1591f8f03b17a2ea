/*
 * kernels_simd.h - the x86 kernels, written once on 256-bit vectors and
 * compiled twice: by kernels-avx2.c (AVX2 + FMA + F16C) and by
 * kernels-avx512.c (the same, with AVX-512 VNNI's vpdpbusd for the 8-bit
 * products).  Decode streams each weight once from memory; 256-bit vectors
 * already keep up with memory, so the wider registers would add nothing
 * there.  The includer defines, before including this file:
 *
 *   KS_DOT_ACC(a, u, s)  a plus the __m256i whose 32-bit lane i is
 *                        Σ_{j<4} u[4i+j] * s[4i+j], u unsigned bytes, s signed
 *   KS_TABLE             the name of the exported table
 *
 * The byte products here never reach the 16-bit saturation of
 * vpmaddubsw (|u| <= 128, |s| <= 127, or smaller), so both builds give
 * bit-identical results.
 *
 * Every result is one (row, token) pair's own chain of vector operations:
 * a tile of R rows by T tokens shares loads and unpacking, never sums, so
 * a token's result is the same alone or in a batch.
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "model.h"
#include "quant.h"

#define KS_INLINE static inline __attribute__((always_inline))
/* Values quantized at a time by the dot kernels. */
#define KS_CHUNK 1024

/* ---------------------------------------------------------------- helpers */

KS_INLINE float
ks_hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Bytes ahead of its use that a weight row is prefetched (the best of
 * 256..2048 measured on a Zen 4 VM). */
#define KS_PREFETCH 512

/* Asks for a block's bytes KS_PREFETCH ahead: rows are read as several
 * interleaved streams with much compute between the loads, which the
 * out-of-order window alone does not cover with enough misses in flight. */
KS_INLINE void
ks_prefetch(const uint8_t *blk, size_t n)
{
	for (size_t o = 0; o < n; o += 64)
		_mm_prefetch((const char *)blk + KS_PREFETCH + o, _MM_HINT_T0);
}

KS_INLINE __m256i
ks_load(const void *p)
{
	return _mm256_loadu_si256((const __m256i *)p);
}

/* 16 bytes of nibbles to 32 values: value j is the low nibble of byte j,
 * value j + 16 the high one. */
KS_INLINE __m256i
ks_nibbles(const uint8_t *qs)
{
	/* the 16 bytes in both halves (a load, no shuffle), the upper half
	 * shifted down a nibble */
	__m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));

	return _mm256_and_si256(_mm256_srlv_epi32(v, _mm256_setr_epi32(0, 0, 0, 0, 4, 4, 4, 4)),
	    _mm256_set1_epi8(0x0f));
}

/* Bit j of the 32-bit word at p as 0x10 in byte j. */
KS_INLINE __m256i
ks_bits32(const uint8_t *p)
{
	const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0,
	    1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
	const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
	float f;
	__m256i v;

	/* every dword holds the word (a broadcast load), so the in-lane
	 * shuffle reaches all 4 bytes */
	memcpy(&f, p, sizeof(f));
	v = _mm256_shuffle_epi8(_mm256_castps_si256(_mm256_set1_ps(f)), spread);
	v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
	return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
}

/* ------------------------------------------------- activation quantizing */

/* As kernels.c's quantizer, value for value: the same max, the same
 * divisions, round half to even. */
KS_INLINE void
ks_quantize_blocks(enum l32_xq_kind kind, const float *x, int64_t n, int8_t *qs,
    float *d, int16_t *sum)
{
	const int block = kind == L32_XQ_Q8K ? 256 : 32;
	const int span = kind == L32_XQ_Q8K ? 16 : 32;
	const __m256 sign = _mm256_set1_ps(-0.0f);
	const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);

	for (int64_t b = 0; b < n / block; b++, x += block, qs += block) {
		__m256 mx = _mm256_setzero_ps(), vid;
		__m128 m;
		float amax, id;

		for (int j = 0; j < block; j += 8)
			mx = _mm256_max_ps(mx, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
		m = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
		m = _mm_max_ps(m, _mm_movehl_ps(m, m));
		m = _mm_max_ss(m, _mm_movehdup_ps(m));
		amax = _mm_cvtss_f32(m);
		d[b] = amax / 127.0f;
		id = d[b] != 0.0f ? 1.0f / d[b] : 0.0f;
		vid = _mm256_set1_ps(id);
		for (int j = 0; j < block; j += 32) {
			__m256i v[4], p;

			for (int k = 0; k < 4; k++)
				v[k] = _mm256_cvtps_epi32(_mm256_round_ps(
				    _mm256_mul_ps(_mm256_loadu_ps(x + j + 8 * k), vid),
				    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
			/* the packs work per 128-bit lane: dwords come out in
			 * the order 0 4 1 5 2 6 3 7 */
			p = _mm256_packs_epi16(_mm256_packs_epi32(v[0], v[1]),
			    _mm256_packs_epi32(v[2], v[3]));
			_mm256_storeu_si256((__m256i *)(qs + j),
			    _mm256_permutevar8x32_epi32(p, order));
		}
		for (int s = 0; s < block / span; s++) {
			int acc = 0;

			for (int j = 0; j < span; j++)
				acc += qs[s * span + j];
			sum[b * (block / span) + s] = (int16_t)acc;
		}
	}
}

KS_INLINE void
ks_quantize(enum l32_xq_kind kind, const float *x, int64_t cols, void *xp)
{
	struct l32_xq v;

	l32_xq_view(kind, xp, cols, &v);
	ks_quantize_blocks(kind, x, cols, (int8_t *)v.qs, (float *)v.d, (int16_t *)v.sum);
}

static void
quantize_q8(const float *x, int64_t cols, void *xp)
{
	ks_quantize(L32_XQ_Q8, x, cols, xp);
}

static void
quantize_q8k(const float *x, int64_t cols, void *xp)
{
	ks_quantize(L32_XQ_Q8K, x, cols, xp);
}

/* ------------------------------------------------------ block-type tiles */

static const int ks_block_bytes[L32_TYPE_COUNT] = {
	[L32_TYPE_Q8_0] = 34, [L32_TYPE_Q4_0] = 18, [L32_TYPE_Q5_0] = 22,
	[L32_TYPE_Q5_1] = 24, [L32_TYPE_Q4_K] = 144, [L32_TYPE_Q5_K] = 176,
	[L32_TYPE_Q6_K] = 210,
};

/* The scale of a block from its f16 bits, through the table. */
KS_INLINE float
ks_lut(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, sizeof(h));
	return l32_f16_lut[h];
}

/* The same, in every lane: a broadcast load. */
KS_INLINE __m256
ks_lut8(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, sizeof(h));
	return _mm256_broadcast_ss(&l32_f16_lut[h]);
}

/* The 32 values of a block as bytes: signed for Q8_0, unsigned (before
 * the offset of ks_offset32) for the others. */
KS_INLINE __m256i
ks_unpack32(int type, const uint8_t *blk)
{
	switch (type) {
	case L32_TYPE_Q4_0:
		return ks_nibbles(blk + 2);
	case L32_TYPE_Q5_0:
		return _mm256_or_si256(ks_nibbles(blk + 6), ks_bits32(blk + 2));
	case L32_TYPE_Q5_1:
		return _mm256_or_si256(ks_nibbles(blk + 8), ks_bits32(blk + 4));
	default: /* Q8_0 */
		return ks_load(blk + 2);
	}
}

/* o of the types whose value is u - o. */
KS_INLINE int
ks_offset32(int type)
{
	return type == L32_TYPE_Q4_0 ? 8 : type == L32_TYPE_Q5_0 ? 16 : 0;
}

/* The 32-value block types without prompt kernels (Q8_0 and Q4_0 decode
 * in rows8_simd.h).  Q5_0: Σ (u - o) x = Σ u x - o Σ x, the second term
 * from the activations' block sum.  Q5_1: d dx Σ u x in the vector, and
 * m dx Σ x in a scalar beside it (macc). */
KS_INLINE void
ks_tile32(int type, const int R, const int T, const uint8_t *const *wr,
    const struct l32_xq *xv, int64_t b0, int64_t b1, __m256 acc[4][4],
    float macc[4][4])
{
	const size_t bb = (size_t)ks_block_bytes[type];
	const int off = ks_offset32(type);

	for (int64_t b = b0; b < b1; b++) {
		__m256i x[4], base[4];
		__m256 dx[4];
		float dsx[4];

#pragma GCC unroll 4
		for (int t = 0; t < T; t++) {
			x[t] = ks_load(xv[t].qs + 32 * b);
			dx[t] = _mm256_set1_ps(xv[t].d[b]);
			/* - o Σ x in lane 0: the same vector whatever the tile */
			base[t] = _mm256_setr_epi32(-off * xv[t].sum[b], 0, 0, 0, 0, 0, 0, 0);
			dsx[t] = xv[t].d[b] * (float)xv[t].sum[b];
		}
#pragma GCC unroll 4
		for (int i = 0; i < R; i++) {
			const uint8_t *blk = wr[i] + (size_t)b * bb;
			__m256 dw = ks_lut8(blk);

			ks_prefetch(blk, bb);
			__m256i u = ks_unpack32(type, blk);

#pragma GCC unroll 4
			for (int t = 0; t < T; t++) {
				__m256i p = KS_DOT_ACC(base[t], u, x[t]);

				acc[i][t] = _mm256_fmadd_ps(_mm256_mul_ps(dw, dx[t]),
				    _mm256_cvtepi32_ps(p), acc[i][t]);
				if (type == L32_TYPE_Q5_1)
					macc[i][t] += ks_lut(blk + 2) * dsx[t];
			}
		}
	}
}

/* Control bytes that pick int16 lane s of a 128-bit half into every lane. */
KS_INLINE __m256i
ks_pick16(int s)
{
	return _mm256_set1_epi16((short)((2 * s) | (2 * s + 1) << 8));
}

/* Q4_K and Q5_K: per sub-block s, sc_s Σ q xq through vpmaddwd with the
 * scale; the mins against the activation sums of 16. */
KS_INLINE void
ks_tile_kq45(int type, const int R, const int T, const uint8_t *const *wr,
    const struct l32_xq *xv, int64_t b0, int64_t b1, __m256 acc[4][4])
{
	const int q5 = type == L32_TYPE_Q5_K;
	const size_t bb = q5 ? 176 : 144;
	const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);

	for (int64_t b = b0; b < b1; b++) {
		__m256 dx[4];

#pragma GCC unroll 4
		for (int t = 0; t < T; t++)
			dx[t] = _mm256_set1_ps(xv[t].d[b]);
#pragma GCC unroll 4
		for (int i = 0; i < R; i++) {
			const uint8_t *blk = wr[i] + (size_t)b * bb;
			const uint8_t *qs = blk + (q5 ? 48 : 16);
			__m256 d = ks_lut8(blk), dmin = ks_lut8(blk + 2);

			ks_prefetch(blk, bb);
			uint64_t sc, mn;
			__m128i m8;
			__m256i scales, mins, hb, isum[4];

			l32_kq_scales(blk + 4, &sc, &mn);
			/* the 8 scales as int16, in both halves, for vpshufb */
			scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(
			    _mm_cvtsi64_si128((long long)sc)));
			m8 = _mm_cvtsi64_si128((long long)mn);
			/* m_s in int16 lanes 2s, 2s + 1, beside the sums of 16 */
			mins = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
			hb = q5 ? ks_load(blk + 16) : _mm256_setzero_si256();
#pragma GCC unroll 4
			for (int t = 0; t < T; t++)
				isum[t] = _mm256_setzero_si256();
#pragma GCC unroll 4
			for (int g = 0; g < 4; g++) {
				__m256i q = ks_load(qs + 32 * g);
				__m256i lo = _mm256_and_si256(q, m4);
				__m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
				__m256i slo = _mm256_shuffle_epi8(scales, ks_pick16(2 * g));
				__m256i shi = _mm256_shuffle_epi8(scales, ks_pick16(2 * g + 1));

				if (q5) {
					/* bits 2g and 2g+1 of qh, the fifth bits of
					 * sub-blocks 2g and 2g+1, to bit 4 */
					lo = _mm256_or_si256(lo, _mm256_and_si256(
					    _mm256_slli_epi16(hb, 4), b4));
					hi = _mm256_or_si256(hi, _mm256_and_si256(
					    _mm256_slli_epi16(hb, 3), b4));
					hb = _mm256_srli_epi16(hb, 2);
				}
#pragma GCC unroll 4
				for (int t = 0; t < T; t++) {
					const int8_t *x = xv[t].qs + 256 * b + 64 * g;
					__m256i pl = _mm256_madd_epi16(_mm256_maddubs_epi16(lo,
					    ks_load(x)), slo);
					__m256i ph = _mm256_madd_epi16(_mm256_maddubs_epi16(hi,
					    ks_load(x + 32)), shi);

					isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(pl, ph));
				}
			}
#pragma GCC unroll 4
			for (int t = 0; t < T; t++) {
				__m256i ms = _mm256_madd_epi16(ks_load(xv[t].sum + 16 * b), mins);

				acc[i][t] = _mm256_fmadd_ps(_mm256_mul_ps(d, dx[t]),
				    _mm256_cvtepi32_ps(isum[t]), acc[i][t]);
				acc[i][t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, dx[t]),
				    _mm256_cvtepi32_ps(ms), acc[i][t]);
			}
		}
	}
}

/* The 6-bit values 32k + l (k = 0..3) of half h of a Q6_K block. */
KS_INLINE void
ks_q6_unpack(const uint8_t *blk, int h, __m256i q[4])
{
	const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
	__m256i qh = ks_load(blk + 128 + 32 * h);
	__m256i l0 = ks_load(blk + 64 * h), l1 = ks_load(blk + 64 * h + 32);

	q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4),
	    _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4));
	q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4),
	    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4));
	q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
	    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4));
	q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
	    _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4));
}

/* Scales j and j + 1 (of the 16 int8 in sc8) in int16 lanes 0..7, 8..15. */
KS_INLINE __m256i
ks_q6_scale_pair(__m128i sc8, int j)
{
	const unsigned long long ones = 0x0101010101010101ULL;

	return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8,
	    _mm_set_epi64x((long long)(ones * (unsigned)(j + 1)), (long long)(ones * (unsigned)j))));
}

KS_INLINE void
ks_tile(int type, const int R, const int T, const uint8_t *const *wr,
    const struct l32_xq *xv, int64_t b0, int64_t b1, __m256 acc[4][4],
    float macc[4][4])
{
	switch (type) {
	case L32_TYPE_Q5_K:
		ks_tile_kq45(type, R, T, wr, xv, b0, b1, acc);
		break;
	default:
		ks_tile32(type, R, T, wr, xv, b0, b1, acc, macc);
		break;
	}
}

KS_INLINE int
ks_qk(int type)
{
	return type == L32_TYPE_Q4_K || type == L32_TYPE_Q5_K || type == L32_TYPE_Q6_K ?
	    256 : 32;
}

/* Rows r, r + rs, .. r + (R-1) rs with tokens t0 .. t0+T-1, whole rows. */
KS_INLINE void
ks_pass(int type, const int R, const int T, const struct l32_tensor *w, int64_t r,
    int64_t rs, const struct l32_xq *xv, int64_t t0, float *y, int64_t ldy)
{
	const uint8_t *wr[4];
	__m256 acc[4][4];
	float macc[4][4];

#pragma GCC unroll 4
	for (int i = 0; i < R; i++) {
		wr[i] = (const uint8_t *)w->data + (size_t)(r + i * rs) * w->row_bytes;
#pragma GCC unroll 4
		for (int t = 0; t < T; t++) {
			acc[i][t] = _mm256_setzero_ps();
			macc[i][t] = 0.0f;
		}
	}
	ks_tile(type, R, T, wr, xv, 0, w->cols / ks_qk(type), acc, macc);
#pragma GCC unroll 4
	for (int i = 0; i < R; i++)
#pragma GCC unroll 4
		for (int t = 0; t < T; t++)
			y[(t0 + t) * ldy + r + i * rs] = ks_hsum(acc[i][t]) + macc[i][t];
}

/* One token: 4 rows a pass, so each activation load serves 4 rows.  More:
 * one row a pass for up to 4 tokens, so a row is unpacked once for them,
 * each row taking all the tokens while it is in L1 (the weights are read
 * from memory once whatever the number of tokens). */
KS_INLINE void
ks_rows_xq(int type, enum l32_xq_kind kind, const struct l32_tensor *w,
    int64_t r0, int64_t r1, const void *xp, int64_t n, float *y, int64_t ldy)
{
	size_t xs = l32_xq_bytes(kind, w->cols);
	struct l32_xq xv[4];
	int64_t r = r0;

	if (n == 1) {
		/* the 4 rows of a pass from the 4 quarters of the range: 4
		 * long sequential streams for the prefetchers */
		int64_t q = (r1 - r0) / 4;

		l32_xq_view(kind, xp, w->cols, &xv[0]);
		for (int64_t k = 0; k < q; k++)
			ks_pass(type, 4, 1, w, r0 + k, q, xv, 0, y, ldy);
		for (r = r0 + 4 * q; r < r1; r++)
			ks_pass(type, 1, 1, w, r, 1, xv, 0, y, ldy);
		return;
	}
	for (; r < r1; r++)
		for (int64_t t0 = 0; t0 < n; t0 += 4) {
			int nt = n - t0 < 4 ? (int)(n - t0) : 4;

			for (int t = 0; t < nt; t++)
				l32_xq_view(kind, (const char *)xp + (size_t)(t0 + t) * xs,
				    w->cols, &xv[t]);
			switch (nt) {
			case 1: ks_pass(type, 1, 1, w, r, 1, xv, t0, y, ldy); break;
			case 2: ks_pass(type, 1, 2, w, r, 1, xv, t0, y, ldy); break;
			case 3: ks_pass(type, 1, 3, w, r, 1, xv, t0, y, ldy); break;
			default: ks_pass(type, 1, 4, w, r, 1, xv, t0, y, ldy); break;
			}
		}
}

/* One row with f32 x, quantized KS_CHUNK values at a time into the same
 * blocks rows_xq sees, the accumulator carried over: the same result. */
KS_INLINE float
ks_dot_blocks(int type, enum l32_xq_kind kind, const void *row, const float *x,
    int64_t n)
{
	_Alignas(32) int8_t qs[KS_CHUNK];
	float d[KS_CHUNK / 32];
	_Alignas(32) int16_t sum[KS_CHUNK / 16];
	struct l32_xq v = { qs, d, sum };
	const uint8_t *wr[1];
	__m256 acc[4][4];
	float macc[4][4];
	int qk = ks_qk(type);

	acc[0][0] = _mm256_setzero_ps();
	macc[0][0] = 0.0f;
	for (int64_t i = 0; i < n; i += KS_CHUNK) {
		int64_t m = n - i < KS_CHUNK ? n - i : KS_CHUNK;

		ks_quantize_blocks(kind, x + i, m, qs, d, sum);
		wr[0] = (const uint8_t *)row + (size_t)(i / qk) * (size_t)ks_block_bytes[type];
		ks_tile(type, 1, 1, wr, &v, 0, m / qk, acc, macc);
	}
	return ks_hsum(acc[0][0]) + macc[0][0];
}

/* The kernels of a block type from its dot and rows_xq bodies (ks_* here,
 * kr_* in rows8_simd.h). */
#define KS_BLOCK_KERNELS(t, TYPE, KIND, quantize, DOT, ROWS_XQ)		\
static float								\
dot_##t(const void *row, const float *x, int64_t n)			\
{									\
	return DOT(TYPE, KIND, row, x, n);				\
}									\
									\
static void								\
rows_xq_##t(const struct l32_tensor *w, int64_t r0, int64_t r1,		\
    const void *xp, int64_t n, float *y, int64_t ldy)			\
{									\
	ROWS_XQ(TYPE, KIND, w, r0, r1, xp, n, y, ldy);			\
}									\
									\
static void								\
rows_##t(const struct l32_tensor *w, int64_t r0, int64_t r1,		\
    const float *x, int64_t n, float *y, int64_t ldy)			\
{									\
	l32_rows_with_xq(w, r0, r1, x, n, y, ldy, KIND, quantize,	\
	    rows_xq_##t, dot_##t);					\
}

KS_BLOCK_KERNELS(q5_0, L32_TYPE_Q5_0, L32_XQ_Q8, quantize_q8, ks_dot_blocks, ks_rows_xq)
KS_BLOCK_KERNELS(q5_1, L32_TYPE_Q5_1, L32_XQ_Q8, quantize_q8, ks_dot_blocks, ks_rows_xq)
KS_BLOCK_KERNELS(q5_k, L32_TYPE_Q5_K, L32_XQ_Q8K, quantize_q8k, ks_dot_blocks, ks_rows_xq)

/* The types with prompt kernels decode 8 rows at a time instead, in the
 * prompt kernels' arithmetic. */
#include "rows8_simd.h"

KS_BLOCK_KERNELS(q8_0, L32_TYPE_Q8_0, L32_XQ_Q8, quantize_q8, kr_dot, kr_rows_xq)
KS_BLOCK_KERNELS(q4_0, L32_TYPE_Q4_0, L32_XQ_Q8, quantize_q8, kr_dot, kr_rows_xq)
KS_BLOCK_KERNELS(q4_k, L32_TYPE_Q4_K, L32_XQ_Q8K, quantize_q8k, kr_dot, kr_rows_xq)
KS_BLOCK_KERNELS(q6_k, L32_TYPE_Q6_K, L32_XQ_Q8K, quantize_q8k, kr_dot, kr_rows_xq)

/* ------------------------------------------------------- f32, f16, bf16 */

/* 8 stored values from value i, widened exactly. */
KS_INLINE __m256
ks_load8(int type, const uint8_t *w, int64_t i)
{
	switch (type) {
	case L32_TYPE_F16:
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i)));
	case L32_TYPE_BF16:
		return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(
		    _mm_loadu_si128((const __m128i *)(w + 2 * i))), 16));
	default:
		return _mm256_loadu_ps((const float *)(const void *)(w + 4 * i));
	}
}

KS_INLINE float
ks_load1(int type, const uint8_t *w, int64_t i)
{
	uint16_t h;
	float f;

	switch (type) {
	case L32_TYPE_F16:
		memcpy(&h, w + 2 * i, sizeof(h));
		return _cvtsh_ss(h);
	case L32_TYPE_BF16:
		memcpy(&h, w + 2 * i, sizeof(h));
		return l32_bf16_to_f32(h);
	default:
		memcpy(&f, w + 4 * i, sizeof(f));
		return f;
	}
}

/* R rows by T tokens over n values: two vector chains per pair (values
 * 16k..16k+7 and 16k+8..16k+15, so the adds do not wait on each other),
 * then their sum plus the pair's scalar tail. */
KS_INLINE void
ks_tile_plain(int type, const int R, const int T, const uint8_t *const *wr,
    const float *const *x, int64_t n, float out[4][4])
{
	__m256 a0[4][4], a1[4][4];
	float tail[4][4];
	int64_t i;

#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
#pragma GCC unroll 4
		for (int t = 0; t < T; t++) {
			a0[r][t] = a1[r][t] = _mm256_setzero_ps();
			tail[r][t] = 0.0f;
		}
	for (i = 0; i + 16 <= n; i += 16) {
		/* one token: its values serve all R rows from registers */
		__m256 x0 = _mm256_loadu_ps(x[0] + i), x1 = _mm256_loadu_ps(x[0] + i + 8);

#pragma GCC unroll 4
		for (int r = 0; r < R; r++) {
			__m256 w0 = ks_load8(type, wr[r], i), w1 = ks_load8(type, wr[r], i + 8);

			_mm_prefetch((const char *)wr[r] + (type == L32_TYPE_F32 ? 4 : 2) * i +
			    KS_PREFETCH, _MM_HINT_T0);

#pragma GCC unroll 4
			for (int t = 0; t < T; t++) {
				a0[r][t] = _mm256_fmadd_ps(w0, T == 1 ? x0 :
				    _mm256_loadu_ps(x[t] + i), a0[r][t]);
				a1[r][t] = _mm256_fmadd_ps(w1, T == 1 ? x1 :
				    _mm256_loadu_ps(x[t] + i + 8), a1[r][t]);
			}
		}
	}
	if (i + 8 <= n) {
#pragma GCC unroll 4
		for (int r = 0; r < R; r++) {
			__m256 w0 = ks_load8(type, wr[r], i);

#pragma GCC unroll 4
			for (int t = 0; t < T; t++)
				a0[r][t] = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x[t] + i), a0[r][t]);
		}
		i += 8;
	}
	for (; i < n; i++)
		for (int r = 0; r < R; r++)
			for (int t = 0; t < T; t++)
				tail[r][t] += ks_load1(type, wr[r], i) * x[t][i];
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
#pragma GCC unroll 4
		for (int t = 0; t < T; t++)
			out[r][t] = ks_hsum(_mm256_add_ps(a0[r][t], a1[r][t])) + tail[r][t];
}

/* Rows r, r + rs, .. r + (R-1) rs by tokens t0 .. t0+T-1. */
KS_INLINE void
ks_pass_plain(int type, const int R, const int T, const struct l32_tensor *w,
    int64_t r, int64_t rs, const float *x, int64_t t0, float *y, int64_t ldy)
{
	const uint8_t *wr[4];
	const float *xt[4];
	float out[4][4];

#pragma GCC unroll 4
	for (int i = 0; i < R; i++)
		wr[i] = (const uint8_t *)w->data + (size_t)(r + i * rs) * w->row_bytes;
#pragma GCC unroll 4
	for (int t = 0; t < T; t++)
		xt[t] = x + (t0 + t) * w->cols;
	ks_tile_plain(type, R, T, wr, xt, w->cols, out);
#pragma GCC unroll 4
	for (int i = 0; i < R; i++)
#pragma GCC unroll 4
		for (int t = 0; t < T; t++)
			y[(t0 + t) * ldy + r + i * rs] = out[i][t];
}

/* As ks_rows_xq: 4 rows a pass for one token (from the 4 quarters of the
 * range, 4 long streams), one row for up to 4 tokens otherwise, each row
 * taking all the tokens in turn. */
KS_INLINE void
ks_rows_plain(int type, const struct l32_tensor *w, int64_t r0, int64_t r1,
    const float *x, int64_t n, float *y, int64_t ldy)
{
	int64_t r = r0;

	if (n == 1) {
		int64_t q = (r1 - r0) / 4;

		for (int64_t k = 0; k < q; k++)
			ks_pass_plain(type, 4, 1, w, r0 + k, q, x, 0, y, ldy);
		for (r = r0 + 4 * q; r < r1; r++)
			ks_pass_plain(type, 1, 1, w, r, 1, x, 0, y, ldy);
		return;
	}
	for (; r < r1; r++)
		for (int64_t t0 = 0; t0 < n; t0 += 4)
			switch (n - t0 < 4 ? n - t0 : 4) {
			case 1: ks_pass_plain(type, 1, 1, w, r, 1, x, t0, y, ldy); break;
			case 2: ks_pass_plain(type, 1, 2, w, r, 1, x, t0, y, ldy); break;
			case 3: ks_pass_plain(type, 1, 3, w, r, 1, x, t0, y, ldy); break;
			default: ks_pass_plain(type, 1, 4, w, r, 1, x, t0, y, ldy); break;
			}
}

#define KS_PLAIN_KERNELS(t, TYPE)					\
static float								\
dot_##t(const void *row, const float *x, int64_t n)			\
{									\
	const uint8_t *wr[1] = { row };					\
	const float *xt[1] = { x };					\
	float out[4][4];						\
									\
	ks_tile_plain(TYPE, 1, 1, wr, xt, n, out);			\
	return out[0][0];						\
}									\
									\
static void								\
rows_##t(const struct l32_tensor *w, int64_t r0, int64_t r1,		\
    const float *x, int64_t n, float *y, int64_t ldy)			\
{									\
	ks_rows_plain(TYPE, w, r0, r1, x, n, y, ldy);			\
}

KS_PLAIN_KERNELS(f32, L32_TYPE_F32)
KS_PLAIN_KERNELS(f16, L32_TYPE_F16)
KS_PLAIN_KERNELS(bf16, L32_TYPE_BF16)

/* ---------------------------------------------------------- dequantizing */

/* Each writes what quant.c's reference writes, bit for bit: the same
 * products and sums, one rounding each, no fused multiply-add. */

static void
dequant_f16(const void *src, float *dst, int64_t n)
{
	const uint8_t *p = src;
	int64_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dst + i, ks_load8(L32_TYPE_F16, p, i));
	for (; i < n; i++)
		dst[i] = ks_load1(L32_TYPE_F16, p, i);
}

static void
dequant_bf16(const void *src, float *dst, int64_t n)
{
	const uint8_t *p = src;
	int64_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(dst + i, ks_load8(L32_TYPE_BF16, p, i));
	for (; i < n; i++)
		dst[i] = ks_load1(L32_TYPE_BF16, p, i);
}

/* 32 signed bytes times d. */
KS_INLINE void
ks_store_scaled(__m256i q, __m256 d, float *dst)
{
	__m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
	__m128i part[4] = { lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8) };

	for (int k = 0; k < 4; k++)
		_mm256_storeu_ps(dst + 8 * k, _mm256_mul_ps(
		    _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(part[k])), d));
}

#define KS_DEQUANT_SIGNED(t, TYPE)					\
static void								\
dequant_##t(const void *src, float *dst, int64_t n)			\
{									\
	const uint8_t *b = src;						\
									\
	for (int64_t i = 0; i < n; i += 32, b += ks_block_bytes[TYPE]) {\
		__m256i q = ks_unpack32(TYPE, b);			\
									\
		if (ks_offset32(TYPE) != 0)				\
			q = _mm256_sub_epi8(q, _mm256_set1_epi8((char)ks_offset32(TYPE))); \
		ks_store_scaled(q, _mm256_set1_ps(ks_lut(b)), dst + i);	\
	}								\
}

KS_DEQUANT_SIGNED(q8_0, L32_TYPE_Q8_0)
KS_DEQUANT_SIGNED(q4_0, L32_TYPE_Q4_0)
KS_DEQUANT_SIGNED(q5_0, L32_TYPE_Q5_0)

static void
dequant_q5_1(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += 32, b += 24) {
		__m256 m = _mm256_set1_ps(ks_lut(b + 2));
		float tmp[32];

		ks_store_scaled(ks_unpack32(L32_TYPE_Q5_1, b), _mm256_set1_ps(ks_lut(b)), tmp);
		for (int k = 0; k < 32; k += 8)
			_mm256_storeu_ps(dst + i + k, _mm256_add_ps(_mm256_loadu_ps(tmp + k), m));
	}
}

static void
dequant_kq45(int q5, const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;
	const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);

	for (int64_t i = 0; i < n; i += 256, b += q5 ? 176 : 144, dst += 256) {
		const uint8_t *qs = b + (q5 ? 48 : 16);
		float d = ks_lut(b), dmin = ks_lut(b + 2);
		__m256i hb = q5 ? ks_load(b + 16) : _mm256_setzero_si256();
		uint64_t sc, mn;

		l32_kq_scales(b + 4, &sc, &mn);
		for (int g = 0; g < 4; g++) {
			__m256i q = ks_load(qs + 32 * g);
			__m256i v[2] = { _mm256_and_si256(q, m4),
			    _mm256_and_si256(_mm256_srli_epi16(q, 4), m4) };

			if (q5) {
				v[0] = _mm256_or_si256(v[0], _mm256_and_si256(_mm256_slli_epi16(hb, 4), b4));
				v[1] = _mm256_or_si256(v[1], _mm256_and_si256(_mm256_slli_epi16(hb, 3), b4));
				hb = _mm256_srli_epi16(hb, 2);
			}
			for (int h = 0; h < 2; h++) {
				int s = 2 * g + h;
				__m256 ds = _mm256_set1_ps(d * (float)((sc >> (8 * s)) & 0xff));
				__m256 ms = _mm256_set1_ps(dmin * (float)((mn >> (8 * s)) & 0xff));
				float tmp[32];

				ks_store_scaled(v[h], ds, tmp);
				for (int k = 0; k < 32; k += 8)
					_mm256_storeu_ps(dst + 32 * s + k,
					    _mm256_sub_ps(_mm256_loadu_ps(tmp + k), ms));
			}
		}
	}
}

static void
dequant_q4_k(const void *src, float *dst, int64_t n)
{
	dequant_kq45(0, src, dst, n);
}

static void
dequant_q5_k(const void *src, float *dst, int64_t n)
{
	dequant_kq45(1, src, dst, n);
}

static void
dequant_q6_k(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += 256, b += 210, dst += 256) {
		const int8_t *sc = (const int8_t *)(b + 192);
		float d = ks_lut(b + 208);

		for (int h = 0; h < 2; h++) {
			__m256i q[4];

			ks_q6_unpack(b, h, q);
			for (int k = 0; k < 4; k++) {
				__m256i v = _mm256_sub_epi8(q[k], _mm256_set1_epi8(32));
				float tmp[32];
				int j = 8 * h + 2 * k;

				/* scale j for values 0..15, j + 1 for 16..31 */
				ks_store_scaled(v, _mm256_set1_ps(d * (float)sc[j]), tmp);
				memcpy(dst + 128 * h + 32 * k, tmp, 16 * sizeof(float));
				ks_store_scaled(v, _mm256_set1_ps(d * (float)sc[j + 1]), tmp);
				memcpy(dst + 128 * h + 32 * k + 16, tmp + 16, 16 * sizeof(float));
			}
		}
	}
}

#include "gemm_simd.h"

/* ---------------------------------------------------------------- table */

#define KS_PLAIN(T, t) [L32_TYPE_##T] = { dequant_##t, dot_##t, rows_##t }
#define KS_BLOCK(T, t, K, q) [L32_TYPE_##T] = { dequant_##t, dot_##t, rows_##t, \
	K, q, rows_xq_##t }
#define KS_GEMM(T, t, K, q) [L32_TYPE_##T] = { dequant_##t, dot_##t, rows_##t, \
	K, q, rows_xq_##t, gemm_##t }

const struct l32_kernels KS_TABLE[L32_TYPE_COUNT] = {
	[L32_TYPE_F32] = { l32_dequant_row_f32, dot_f32, rows_f32 },
	KS_PLAIN(F16, f16),
	KS_PLAIN(BF16, bf16),
	KS_GEMM(Q8_0, q8_0, L32_XQ_Q8, quantize_q8),
	KS_GEMM(Q4_0, q4_0, L32_XQ_Q8, quantize_q8),
	KS_BLOCK(Q5_0, q5_0, L32_XQ_Q8, quantize_q8),
	KS_BLOCK(Q5_1, q5_1, L32_XQ_Q8, quantize_q8),
	KS_GEMM(Q4_K, q4_k, L32_XQ_Q8K, quantize_q8k),
	KS_BLOCK(Q5_K, q5_k, L32_XQ_Q8K, quantize_q8k),
	KS_GEMM(Q6_K, q6_k, L32_XQ_Q8K, quantize_q8k),
};
