/*
 * quant.h - half-precision conversions and the scalar reference code for
 * every weight type: dequantization of a row (as ggml's dequantize_row_*)
 * and the dot product of a stored row with an f32 vector.
 *
 * The reference code is the correctness oracle: vectorised kernels are
 * tested against it, and it is the portable fallback of matmul.c.
 *
 * Block layouts (little-endian; f16 = IEEE half):
 *   Q8_0  32 values, 34 bytes: f16 d, i8 qs[32];                  x = q * d
 *   Q4_0  32 values, 18 bytes: f16 d, u8 qs[16];                  x = (q - 8) * d
 *   Q5_0  32 values, 22 bytes: f16 d, u32 qh, u8 qs[16];          x = (q - 16) * d
 *   Q5_1  32 values, 24 bytes: f16 d, f16 m, u32 qh, u8 qs[16];   x = q * d + m
 *   Q4_K 256 values,144 bytes: f16 d, f16 dmin, u8 scales[12], u8 qs[128]
 *   Q5_K 256 values,176 bytes: f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
 *   Q6_K 256 values,210 bytes: u8 ql[128], u8 qh[64], i8 scales[16], f16 d
 * Blocks sit at any even offset in a mapping, so fields are read with
 * memcpy, never through a cast struct pointer.  The offsets of the fields
 * and the sizes are named below, and every kernel reads them by name.
 */
#ifndef L32_QUANT_H
#define L32_QUANT_H

#include <stdint.h>
#include <string.h>

#include "formats/l32_types.h"

/* Values per block: the 32-value types and the K-quants. */
#define L32_QK 32
#define L32_QK_K 256

enum { L32_Q8_0_D = 0, L32_Q8_0_QS = 2, L32_Q8_0_BYTES = 34 };
enum { L32_Q4_0_D = 0, L32_Q4_0_QS = 2, L32_Q4_0_BYTES = 18 };
enum { L32_Q5_0_D = 0, L32_Q5_0_QH = 2, L32_Q5_0_QS = 6, L32_Q5_0_BYTES = 22 };
enum { L32_Q5_1_D = 0, L32_Q5_1_M = 2, L32_Q5_1_QH = 4, L32_Q5_1_QS = 8,
	L32_Q5_1_BYTES = 24 };
enum { L32_Q4_K_D = 0, L32_Q4_K_DMIN = 2, L32_Q4_K_SCALES = 4, L32_Q4_K_QS = 16,
	L32_Q4_K_BYTES = 144 };
enum { L32_Q5_K_D = 0, L32_Q5_K_DMIN = 2, L32_Q5_K_SCALES = 4, L32_Q5_K_QH = 16,
	L32_Q5_K_QS = 48, L32_Q5_K_BYTES = 176 };
enum { L32_Q6_K_QL = 0, L32_Q6_K_QH = 128, L32_Q6_K_SCALES = 192, L32_Q6_K_D = 208,
	L32_Q6_K_BYTES = 210 };

/* Each field ends where the next begins, the last at the block's end. */
_Static_assert(L32_Q8_0_QS == L32_Q8_0_D + 2 && L32_Q8_0_BYTES == L32_Q8_0_QS + L32_QK,
    "Q8_0: f16 d, i8 qs[32]");
_Static_assert(L32_Q4_0_QS == L32_Q4_0_D + 2 && L32_Q4_0_BYTES == L32_Q4_0_QS + L32_QK / 2,
    "Q4_0: f16 d, u8 qs[16]");
_Static_assert(L32_Q5_0_QH == L32_Q5_0_D + 2 && L32_Q5_0_QS == L32_Q5_0_QH + 4 &&
    L32_Q5_0_BYTES == L32_Q5_0_QS + L32_QK / 2, "Q5_0: f16 d, u32 qh, u8 qs[16]");
_Static_assert(L32_Q5_1_M == L32_Q5_1_D + 2 && L32_Q5_1_QH == L32_Q5_1_M + 2 &&
    L32_Q5_1_QS == L32_Q5_1_QH + 4 && L32_Q5_1_BYTES == L32_Q5_1_QS + L32_QK / 2,
    "Q5_1: f16 d, f16 m, u32 qh, u8 qs[16]");
_Static_assert(L32_Q4_K_DMIN == L32_Q4_K_D + 2 && L32_Q4_K_SCALES == L32_Q4_K_DMIN + 2 &&
    L32_Q4_K_QS == L32_Q4_K_SCALES + 12 && L32_Q4_K_BYTES == L32_Q4_K_QS + L32_QK_K / 2,
    "Q4_K: f16 d, f16 dmin, u8 scales[12], u8 qs[128]");
_Static_assert(L32_Q5_K_DMIN == L32_Q5_K_D + 2 && L32_Q5_K_SCALES == L32_Q5_K_DMIN + 2 &&
    L32_Q5_K_QH == L32_Q5_K_SCALES + 12 && L32_Q5_K_QS == L32_Q5_K_QH + L32_QK_K / 8 &&
    L32_Q5_K_BYTES == L32_Q5_K_QS + L32_QK_K / 2,
    "Q5_K: f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]");
_Static_assert(L32_Q6_K_QH == L32_Q6_K_QL + L32_QK_K / 2 &&
    L32_Q6_K_SCALES == L32_Q6_K_QH + L32_QK_K / 4 && L32_Q6_K_D == L32_Q6_K_SCALES + 16 &&
    L32_Q6_K_BYTES == L32_Q6_K_D + 2, "Q6_K: u8 ql[128], u8 qh[64], i8 scales[16], f16 d");
/* Q5_K begins as Q4_K: code reading d, dmin and scales serves both. */
_Static_assert((int)L32_Q5_K_D == L32_Q4_K_D && (int)L32_Q5_K_DMIN == L32_Q4_K_DMIN &&
    (int)L32_Q5_K_SCALES == L32_Q4_K_SCALES, "Q5_K's d, dmin, scales at Q4_K's offsets");

/* The 6-bit scales and mins of the 8 sub-blocks of a Q4_K/Q5_K block, from
 * its 12 scale bytes a|b|c (4 each): sub-blocks 0..3 keep the low 6 bits
 * of a (scales) and b (mins); 4..7 take their low 4 bits from the nibbles
 * of c and their top 2 from the top bits of a and b.  Byte s of *sc, *mn
 * is sub-block s. */
static inline void
l32_kq_scales(const uint8_t *s12, uint64_t *sc, uint64_t *mn)
{
	uint32_t a, b, c;

	memcpy(&a, s12, 4);
	memcpy(&b, s12 + 4, 4);
	memcpy(&c, s12 + 8, 4);
	*sc = (a & 0x3f3f3f3fu) | (uint64_t)((c & 0x0f0f0f0fu) |
	    ((a >> 2) & 0x30303030u)) << 32;
	*mn = (b & 0x3f3f3f3fu) | (uint64_t)(((c >> 4) & 0x0f0f0f0fu) |
	    ((b >> 2) & 0x30303030u)) << 32;
}

float l32_f16_to_f32(uint16_t h);
/* Round to nearest, ties to even; overflow gives infinity. */
uint16_t l32_f32_to_f16(float f);
float l32_bf16_to_f32(uint16_t h);
/* Round to nearest, ties to even (as torch's .bfloat16()). */
uint16_t l32_f32_to_bf16(float f);

/* Dequantizes n values (a multiple of the type's block) from src to dst. */
typedef void (*l32_dequant_fn)(const void *src, float *dst, int64_t n);
/* Returns the dot product of n stored values with x[0..n). */
typedef float (*l32_dot_fn)(const void *row, const float *x, int64_t n);

void l32_dequant_row_f32(const void *src, float *dst, int64_t n);
void l32_dequant_row_f16(const void *src, float *dst, int64_t n);
void l32_dequant_row_bf16(const void *src, float *dst, int64_t n);
void l32_dequant_row_q8_0(const void *src, float *dst, int64_t n);
void l32_dequant_row_q4_0(const void *src, float *dst, int64_t n);
void l32_dequant_row_q5_0(const void *src, float *dst, int64_t n);
void l32_dequant_row_q5_1(const void *src, float *dst, int64_t n);
void l32_dequant_row_q4_k(const void *src, float *dst, int64_t n);
void l32_dequant_row_q5_k(const void *src, float *dst, int64_t n);
void l32_dequant_row_q6_k(const void *src, float *dst, int64_t n);

float l32_dot_ref_f32(const void *row, const float *x, int64_t n);
float l32_dot_ref_f16(const void *row, const float *x, int64_t n);
float l32_dot_ref_bf16(const void *row, const float *x, int64_t n);
float l32_dot_ref_q8_0(const void *row, const float *x, int64_t n);
float l32_dot_ref_q4_0(const void *row, const float *x, int64_t n);
float l32_dot_ref_q5_0(const void *row, const float *x, int64_t n);
float l32_dot_ref_q5_1(const void *row, const float *x, int64_t n);
float l32_dot_ref_q4_k(const void *row, const float *x, int64_t n);
float l32_dot_ref_q5_k(const void *row, const float *x, int64_t n);
float l32_dot_ref_q6_k(const void *row, const float *x, int64_t n);

/* Every type l32 computes with, as X(TYPE, name) (L32_TYPE_TYPE, and the
 * name in the functions above): the lists of per-type functions are made
 * from it. */
#define L32_COMPUTE_TYPES(X)						\
	X(F32, f32) X(F16, f16) X(BF16, bf16) X(Q8_0, q8_0) X(Q4_0, q4_0) \
	X(Q5_0, q5_0) X(Q5_1, q5_1) X(Q4_K, q4_k) X(Q5_K, q5_k) X(Q6_K, q6_k)

/* The reference functions of a type; NULL for a type without them. */
l32_dequant_fn l32_dequant_ref(enum l32_type type);
l32_dot_fn l32_dot_ref(enum l32_type type);

#endif
