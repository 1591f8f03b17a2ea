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
 * memcpy, never through a cast struct pointer.
 */
#ifndef L32_QUANT_H
#define L32_QUANT_H

#include <stdint.h>

#include "compute/l32_compute.h"

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

/* The reference functions of a type; NULL for a type without them. */
l32_dequant_fn l32_dequant_ref(enum l32_type type);
l32_dot_fn l32_dot_ref(enum l32_type type);

#endif
