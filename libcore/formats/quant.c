/*
 * quant.c - f16/bf16 conversions, and the scalar reference dequantization
 * and dot product of each weight type.  The arithmetic follows ggml's
 * dequantize_row_* so a dequantized value is bit-identical to ggml's: in
 * every formula below the products are exact in f32, leaving one rounding.
 */
#include <math.h>
#include <string.h>

#include "formats/quant.h"

/* ------------------------------------------------------------ conversions */

static uint32_t
f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

static float
bits_f32(uint32_t u)
{
	float f;

	memcpy(&f, &u, sizeof(f));
	return f;
}

float
l32_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t mant = h & 0x3ff;
	float v;

	if (exp == 0x1f) /* infinity or NaN: keep the payload */
		return bits_f32(sign | 0x7f800000u | (mant << 13));
	if (exp != 0)
		return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
	/* zero or subnormal: mant * 2^-24, exact in f32 */
	v = (float)mant * 0x1p-24f;
	return sign ? -v : v;
}

uint16_t
l32_f32_to_f16(float f)
{
	uint32_t x = f32_bits(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	uint32_t ax = x & 0x7fffffffu;
	uint32_t e = ax >> 23, m, rest, half, shift;
	uint32_t h;

	if (ax > 0x7f800000u)
		return sign | 0x7e00;   /* NaN stays NaN (quiet) */
	if (ax >= 0x47800000u)
		return sign | 0x7c00;   /* >= 65536, or infinity */
	if (e >= 113) {
		/* normal in f16: drop 13 mantissa bits, round half to even;
		 * a carry may roll into the exponent, up to infinity */
		h = ((e - 112) << 10) | ((ax >> 13) & 0x3ff);
		rest = ax & 0x1fff;
		if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
			h++;
		return sign | (uint16_t)h;
	}
	/* f16 subnormal: round(|f| * 2^24); |f| = M * 2^(e - 150) */
	shift = 126 - e;
	if (shift >= 25)
		return sign;            /* below half the smallest subnormal */
	m = (ax & 0x7fffff) | 0x800000;
	h = m >> shift;
	rest = m & ((1u << shift) - 1);
	half = 1u << (shift - 1);
	if (rest > half || (rest == half && (h & 1)))
		h++;
	return sign | (uint16_t)h;
}

float
l32_bf16_to_f32(uint16_t h)
{
	return bits_f32((uint32_t)h << 16);
}

uint16_t
l32_f32_to_bf16(float f)
{
	uint32_t x = f32_bits(f);

	if ((x & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
	x += 0x7fff + ((x >> 16) & 1);
	return (uint16_t)(x >> 16);
}

static float
load_f16(const uint8_t *p)
{
	uint16_t h;

	memcpy(&h, p, sizeof(h));
	return l32_f16_to_f32(h);
}

/* --------------------------------------------------------- plain types */

void
l32_dequant_row_f32(const void *src, float *dst, int64_t n)
{
	memcpy(dst, src, (size_t)n * sizeof(float));
}

void
l32_dequant_row_f16(const void *src, float *dst, int64_t n)
{
	const uint8_t *p = src;

	for (int64_t i = 0; i < n; i++)
		dst[i] = load_f16(p + 2 * i);
}

void
l32_dequant_row_bf16(const void *src, float *dst, int64_t n)
{
	const uint8_t *p = src;
	uint16_t h;

	for (int64_t i = 0; i < n; i++) {
		memcpy(&h, p + 2 * i, sizeof(h));
		dst[i] = l32_bf16_to_f32(h);
	}
}

/* ------------------------------------------------------- 32-value blocks */

void
l32_dequant_row_q8_0(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += L32_QK, b += L32_Q8_0_BYTES, dst += L32_QK) {
		float d = load_f16(b + L32_Q8_0_D);
		const int8_t *qs = (const int8_t *)(b + L32_Q8_0_QS);

		for (int j = 0; j < 32; j++)
			dst[j] = (float)qs[j] * d;
	}
}

void
l32_dequant_row_q4_0(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += L32_QK, b += L32_Q4_0_BYTES, dst += L32_QK) {
		float d = load_f16(b + L32_Q4_0_D);
		const uint8_t *qs = b + L32_Q4_0_QS;

		/* element j in the low nibble of qs[j], j + 16 in the high one */
		for (int j = 0; j < 16; j++) {
			dst[j] = (float)((qs[j] & 0xf) - 8) * d;
			dst[j + 16] = (float)((qs[j] >> 4) - 8) * d;
		}
	}
}

/* Unpacks the 5-bit values of a Q5_0/Q5_1 block: 4 low bits from qs, the
 * fifth from bit j of qh. */
static void
unpack_q5(const uint8_t *qhp, const uint8_t *qs, int q[32])
{
	uint32_t qh;

	memcpy(&qh, qhp, sizeof(qh));
	for (int j = 0; j < 16; j++) {
		q[j] = (qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
		q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
	}
}

void
l32_dequant_row_q5_0(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;
	int q[32];

	for (int64_t i = 0; i < n; i += L32_QK, b += L32_Q5_0_BYTES, dst += L32_QK) {
		float d = load_f16(b + L32_Q5_0_D);

		unpack_q5(b + L32_Q5_0_QH, b + L32_Q5_0_QS, q);
		for (int j = 0; j < 32; j++)
			dst[j] = (float)(q[j] - 16) * d;
	}
}

void
l32_dequant_row_q5_1(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;
	int q[32];

	for (int64_t i = 0; i < n; i += L32_QK, b += L32_Q5_1_BYTES, dst += L32_QK) {
		float d = load_f16(b + L32_Q5_1_D), m = load_f16(b + L32_Q5_1_M);

		unpack_q5(b + L32_Q5_1_QH, b + L32_Q5_1_QS, q);
		for (int j = 0; j < 32; j++)
			dst[j] = (float)q[j] * d + m;
	}
}

/* ------------------------------------------------------ 256-value blocks */

/* The 6-bit scale and min of sub-block s (0..7) of a Q4_K/Q5_K block:
 * scales[0..3] and [4..7] hold the low 6 bits of sub-blocks 0..3, their top
 * 2 bits hold the high bits of sub-blocks 4..7, whose low 4 bits are the
 * nibbles of scales[8..11]. */
static void
kq_scale_min(const uint8_t *scales, int s, int *sc, int *m)
{
	if (s < 4) {
		*sc = scales[s] & 63;
		*m = scales[s + 4] & 63;
	} else {
		*sc = (scales[s + 4] & 15) | (scales[s - 4] >> 6) << 4;
		*m = (scales[s + 4] >> 4) | (scales[s] >> 6) << 4;
	}
}

/* Q4_K and Q5_K share everything but the fifth bit (qh NULL for Q4_K):
 * sub-block 2g takes the low nibbles of qs[32g..32g+31], 2g+1 the high
 * ones; value l of sub-block s gains 16 when bit s of qh[l] is set. */
static void
dequant_kq45(const uint8_t *b, const uint8_t *qh, const uint8_t *qs, float *dst)
{
	float d = load_f16(b + L32_Q4_K_D), dmin = load_f16(b + L32_Q4_K_DMIN);
	const uint8_t *scales = b + L32_Q4_K_SCALES;
	int sc, m;

	for (int s = 0; s < 8; s++) {
		const uint8_t *q = qs + 32 * (s / 2);
		int shift = (s & 1) ? 4 : 0;
		float ds, ms;

		kq_scale_min(scales, s, &sc, &m);
		ds = d * (float)sc;
		ms = dmin * (float)m;
		for (int l = 0; l < 32; l++) {
			int v = (q[l] >> shift) & 0xf;

			if (qh != NULL && (qh[l] >> s) & 1)
				v += 16;
			dst[32 * s + l] = ds * (float)v - ms;
		}
	}
}

void
l32_dequant_row_q4_k(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += L32_QK_K, b += L32_Q4_K_BYTES, dst += L32_QK_K)
		dequant_kq45(b, NULL, b + L32_Q4_K_QS, dst);
}

void
l32_dequant_row_q5_k(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += L32_QK_K, b += L32_Q5_K_BYTES, dst += L32_QK_K)
		dequant_kq45(b, b + L32_Q5_K_QH, b + L32_Q5_K_QS, dst);
}

/* Q6_K: two halves h of 128 values; value 32k + l of a half (k = 0..3)
 * takes 4 low bits from ql[64h + l] (k = 0 low nibble, k = 2 high) or
 * ql[64h + 32 + l] (k = 1 low, k = 3 high) and 2 high bits from
 * qh[32h + l] >> 2k; its scale is scales[8h + 2k + l/16]. */
void
l32_dequant_row_q6_k(const void *src, float *dst, int64_t n)
{
	const uint8_t *b = src;

	for (int64_t i = 0; i < n; i += L32_QK_K, b += L32_Q6_K_BYTES, dst += L32_QK_K) {
		const uint8_t *ql = b + L32_Q6_K_QL, *qh = b + L32_Q6_K_QH;
		const int8_t *scales = (const int8_t *)(b + L32_Q6_K_SCALES);
		float d = load_f16(b + L32_Q6_K_D);

		for (int h = 0; h < 2; h++)
			for (int k = 0; k < 4; k++)
				for (int l = 0; l < 32; l++) {
					uint8_t lo = ql[64 * h + 32 * (k & 1) + l];
					int lo4 = (k < 2) ? (lo & 0xf) : (lo >> 4);
					int hi2 = (qh[32 * h + l] >> (2 * k)) & 3;
					int q = (lo4 | hi2 << 4) - 32;
					float ds = d * (float)scales[8 * h + 2 * k + l / 16];

					dst[128 * h + 32 * k + l] = ds * (float)q;
				}
	}
}

/* ------------------------------------------------------- dot products */

float
l32_dot_ref_f32(const void *row, const float *x, int64_t n)
{
	const float *w = row;
	float sum = 0.0f;

	for (int64_t i = 0; i < n; i++)
		sum += w[i] * x[i];
	return sum;
}

float
l32_dot_ref_f16(const void *row, const float *x, int64_t n)
{
	const uint8_t *p = row;
	float sum = 0.0f;

	for (int64_t i = 0; i < n; i++)
		sum += load_f16(p + 2 * i) * x[i];
	return sum;
}

float
l32_dot_ref_bf16(const void *row, const float *x, int64_t n)
{
	const uint8_t *p = row;
	float sum = 0.0f;
	uint16_t h;

	for (int64_t i = 0; i < n; i++) {
		memcpy(&h, p + 2 * i, sizeof(h));
		sum += l32_bf16_to_f32(h) * x[i];
	}
	return sum;
}

/* Block types: dequantize one block at a time, then multiply. */
static float
dot_blocks(l32_dequant_fn dequant, int64_t block, size_t block_bytes,
    const void *row, const float *x, int64_t n)
{
	const uint8_t *b = row;
	float v[256];
	float sum = 0.0f;

	for (int64_t i = 0; i < n; i += block, b += block_bytes) {
		dequant(b, v, block);
		for (int64_t j = 0; j < block; j++)
			sum += v[j] * x[i + j];
	}
	return sum;
}

#define DOT_REF(t, QK, BYTES)						\
float									\
l32_dot_ref_##t(const void *row, const float *x, int64_t n)		\
{									\
	return dot_blocks(l32_dequant_row_##t, (QK), (BYTES), row, x, n); \
}

DOT_REF(q8_0, L32_QK, L32_Q8_0_BYTES)
DOT_REF(q4_0, L32_QK, L32_Q4_0_BYTES)
DOT_REF(q5_0, L32_QK, L32_Q5_0_BYTES)
DOT_REF(q5_1, L32_QK, L32_Q5_1_BYTES)
DOT_REF(q4_k, L32_QK_K, L32_Q4_K_BYTES)
DOT_REF(q5_k, L32_QK_K, L32_Q5_K_BYTES)
DOT_REF(q6_k, L32_QK_K, L32_Q6_K_BYTES)

/* ------------------------------------------------------------- lookup */

#define REF(T, t) [L32_TYPE_##T] = { l32_dequant_row_##t, l32_dot_ref_##t },

static const struct {
	l32_dequant_fn dequant;
	l32_dot_fn dot;
} ref[L32_TYPE_COUNT] = { L32_COMPUTE_TYPES(REF) };

l32_dequant_fn
l32_dequant_ref(enum l32_type type)
{
	return (int)type >= 0 && type < L32_TYPE_COUNT ? ref[type].dequant : NULL;
}

l32_dot_fn
l32_dot_ref(enum l32_type type)
{
	return (int)type >= 0 && type < L32_TYPE_COUNT ? ref[type].dot : NULL;
}
