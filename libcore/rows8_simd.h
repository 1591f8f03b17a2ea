/*
 * rows8_simd.h - decode kernels of kernels_simd.h for the types that also
 * have prompt kernels (gemm_simd.h: Q8_0, Q4_0, Q4_K, Q6_K): 8 rows in
 * the lanes of a vector, one token.
 *
 * Every (row, token) result of these types is one chain of float
 * operations per block on exact integer sums over the whole block:
 *   Q8_0, Q4_0, Q6_K:  y = fma(dw * dx, (float)S, y)
 *   Q4_K:              y = fma(d * dx, (float)I, y), then
 *                      y = fnmadd(dmin * dx, (float)M, y)
 * (S the block's Σ w x in integers, I Σ_s sc_s Σ u x, M Σ_s m_s Σ x), y
 * starting at 0.  The prompt kernels run the same chain with 8 tokens in
 * the lanes, these with 8 rows: a token's logits are the same bits alone,
 * in a decode step beside other sequences, or within a prompt, whatever
 * kernel served it.
 *
 * Per block, each row's integer products come as a vector of 8 partial
 * sums; 8 rows' vectors are summed across their lanes together (a
 * transposing tree of vphaddd), so the float work is one vector per block
 * for 8 rows.
 */

/* Lane i: the sum of the 8 lanes of p[i]. */
KS_INLINE __m256i
kr_sum8(const __m256i *p)
{
	__m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]),
	    _mm256_hadd_epi32(p[2], p[3]));
	__m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]),
	    _mm256_hadd_epi32(p[6], p[7]));

	/* a: rows 0..3 over lanes 0..3 of each in its low half, 4..7 in
	 * its high half; b the same for rows 4..7 */
	return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20),
	    _mm256_permute2x128_si256(a, b, 0x31));
}

/* The same for 8 rows' vpmaddubsw products of 4-bit weights (each int16
 * lane at most 2 * 15 * 127, so sums of 8 lanes stay within int16): the
 * tree runs on int16 and widens once. */
KS_INLINE __m256i
kr_sum8_16(const __m256i *p)
{
	__m256i a = _mm256_hadd_epi16(_mm256_hadd_epi16(p[0], p[1]),
	    _mm256_hadd_epi16(p[2], p[3]));
	__m256i b = _mm256_hadd_epi16(_mm256_hadd_epi16(p[4], p[5]),
	    _mm256_hadd_epi16(p[6], p[7]));
	/* int16 lane i of each half: row i over that half's 16 bytes */
	__m256i c = _mm256_hadd_epi16(a, b);

	return _mm256_add_epi32(_mm256_cvtepi16_epi32(_mm256_castsi256_si128(c)),
	    _mm256_cvtepi16_epi32(_mm256_extracti128_si256(c, 1)));
}

KS_INLINE int
kr_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The f16 scales at offset off of block b of the 8 rows, as f32 (exactly,
 * as the table gives them). */
KS_INLINE __m256
kr_scales(const uint8_t *const *wr, size_t off)
{
	__m128i h = _mm_cvtsi32_si128(kr_u16(wr[0] + off));

	/* the lane of an insert must be a constant at every optimization
	 * level, hence no loop */
	h = _mm_insert_epi16(h, kr_u16(wr[1] + off), 1);
	h = _mm_insert_epi16(h, kr_u16(wr[2] + off), 2);
	h = _mm_insert_epi16(h, kr_u16(wr[3] + off), 3);
	h = _mm_insert_epi16(h, kr_u16(wr[4] + off), 4);
	h = _mm_insert_epi16(h, kr_u16(wr[5] + off), 5);
	h = _mm_insert_epi16(h, kr_u16(wr[6] + off), 6);
	h = _mm_insert_epi16(h, kr_u16(wr[7] + off), 7);
	return _mm256_cvtph_ps(h);
}

/* Q8_0 and Q4_0 over blocks b0..b1-1 of 8 rows, onto acc (lane i: row i). */
KS_INLINE __m256
kr_tile32(int type, const uint8_t *const *wr, const struct l32_xq *xv,
    int64_t b0, int64_t b1, __m256 acc)
{
	const size_t bb = (size_t)ks_block_bytes[type];

	for (int64_t b = b0; b < b1; b++) {
		__m256i x = ks_load(xv->qs + 32 * b), p[8], s;
		__m256 dx = _mm256_set1_ps(xv->d[b]);

#pragma GCC unroll 8
		for (int i = 0; i < 8; i++) {
			const uint8_t *blk = wr[i] + b * bb;

			ks_prefetch(blk, bb);
			if (type == L32_TYPE_Q8_0) {
				__m256i q = ks_load(blk + 2);

				p[i] = KS_DOT_ACC(_mm256_setzero_si256(), _mm256_abs_epi8(q),
				    _mm256_sign_epi8(x, q));
			} else {
				p[i] = _mm256_maddubs_epi16(ks_nibbles(blk + 2), x);
			}
		}
		s = type == L32_TYPE_Q8_0 ? kr_sum8(p) : kr_sum8_16(p);
		if (type == L32_TYPE_Q4_0)
			s = _mm256_sub_epi32(s, _mm256_set1_epi32(8 * (int32_t)xv->sum[b]));
		acc = _mm256_fmadd_ps(_mm256_mul_ps(kr_scales(wr, b * bb), dx),
		    _mm256_cvtepi32_ps(s), acc);
	}
	return acc;
}

/* Q4_K over blocks b0..b1-1 of 8 rows. */
KS_INLINE __m256
kr_tile_q4_k(const uint8_t *const *wr, const struct l32_xq *xv, int64_t b0,
    int64_t b1, __m256 acc)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);

	for (int64_t b = b0; b < b1; b++) {
		__m256i isum[8], msum[8];
		__m256 dx = _mm256_set1_ps(xv->d[b]);
		__m256i xs = ks_load(xv->sum + 16 * b);

		for (int i = 0; i < 8; i++) {
			const uint8_t *blk = wr[i] + b * 144;
			uint64_t sc, mn;
			__m128i m8;
			__m256i scales;

			ks_prefetch(blk, 144);
			l32_kq_scales(blk + 4, &sc, &mn);
			scales = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(
			    _mm_cvtsi64_si128((long long)sc)));
			m8 = _mm_cvtsi64_si128((long long)mn);
			msum[i] = _mm256_madd_epi16(xs, _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8)));
			isum[i] = _mm256_setzero_si256();
#pragma GCC unroll 4
			for (int g = 0; g < 4; g++) {
				__m256i q = ks_load(blk + 16 + 32 * g);
				const int8_t *x = xv->qs + 256 * b + 64 * g;

				isum[i] = _mm256_add_epi32(isum[i], _mm256_add_epi32(
				    _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(q, m4),
				    ks_load(x)), _mm256_shuffle_epi8(scales, ks_pick16(2 * g))),
				    _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_and_si256(
				    _mm256_srli_epi16(q, 4), m4), ks_load(x + 32)),
				    _mm256_shuffle_epi8(scales, ks_pick16(2 * g + 1)))));
			}
		}
		acc = _mm256_fmadd_ps(_mm256_mul_ps(kr_scales(wr, b * 144), dx),
		    _mm256_cvtepi32_ps(kr_sum8(isum)), acc);
		acc = _mm256_fnmadd_ps(_mm256_mul_ps(kr_scales(wr, b * 144 + 2), dx),
		    _mm256_cvtepi32_ps(kr_sum8(msum)), acc);
	}
	return acc;
}

/* Q6_K over blocks b0..b1-1 of 8 rows. */
KS_INLINE __m256
kr_tile_q6_k(const uint8_t *const *wr, const struct l32_xq *xv, int64_t b0,
    int64_t b1, __m256 acc)
{
	for (int64_t b = b0; b < b1; b++) {
		__m256i isum[8];
		__m256 dx = _mm256_set1_ps(xv->d[b]);
		__m256i xs = ks_load(xv->sum + 16 * b);

		for (int i = 0; i < 8; i++) {
			const uint8_t *blk = wr[i] + b * 210;
			__m128i sc8 = _mm_loadu_si128((const __m128i *)(blk + 192));
			__m256i cor = _mm256_madd_epi16(xs, _mm256_cvtepi8_epi16(sc8));

			ks_prefetch(blk, 210);
			isum[i] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(cor, 5));
#pragma GCC unroll 2
			for (int h = 0; h < 2; h++) {
				__m256i q[4];
				const int8_t *x = xv->qs + 256 * b + 128 * h;

				ks_q6_unpack(blk, h, q);
#pragma GCC unroll 4
				for (int k = 0; k < 4; k++)
					isum[i] = _mm256_add_epi32(isum[i], _mm256_madd_epi16(
					    _mm256_maddubs_epi16(q[k], ks_load(x + 32 * k)),
					    ks_q6_scale_pair(sc8, 8 * h + 2 * k)));
			}
		}
		acc = _mm256_fmadd_ps(_mm256_mul_ps(kr_scales(wr, b * 210 + 208), dx),
		    _mm256_cvtepi32_ps(kr_sum8(isum)), acc);
	}
	return acc;
}

KS_INLINE __m256
kr_tile(int type, const uint8_t *const *wr, const struct l32_xq *xv, int64_t b0,
    int64_t b1, __m256 acc)
{
	switch (type) {
	case L32_TYPE_Q4_K: return kr_tile_q4_k(wr, xv, b0, b1, acc);
	case L32_TYPE_Q6_K: return kr_tile_q6_k(wr, xv, b0, b1, acc);
	default:            return kr_tile32(type, wr, xv, b0, b1, acc);
	}
}

/* Rows r, r + rs, .. r + 7 rs (only the first m stored; the spare lanes
 * repeat the last row) by one token. */
KS_INLINE void
kr_pass(int type, const struct l32_tensor *w, int64_t r, int64_t rs, int m,
    const struct l32_xq *xv, int64_t nb, float *y)
{
	const uint8_t *wr[8];
	float out[8];

	for (int i = 0; i < 8; i++)
		wr[i] = (const uint8_t *)w->data +
		    (size_t)(r + (i < m ? i : m - 1) * rs) * w->row_bytes;
	_mm256_storeu_ps(out, kr_tile(type, wr, xv, 0, nb, _mm256_setzero_ps()));
	for (int i = 0; i < m; i++)
		y[r + i * rs] = out[i];
}

/* Rows r0..r1-1 by each of n tokens.  The 8 rows of a pass come from the
 * 8 eighths of the range: 8 long sequential streams for the prefetchers
 * (8 neighbouring rows would be 8 short ones).  The tokens take each pass
 * in turn, while its rows are in cache. */
KS_INLINE void
kr_rows_xq(int type, enum l32_xq_kind kind, const struct l32_tensor *w,
    int64_t r0, int64_t r1, const void *xp, int64_t n, float *y, int64_t ldy)
{
	size_t xs = l32_xq_bytes(kind, w->cols);
	int64_t nb = w->cols / ks_qk(type), e = (r1 - r0) / 8;
	int tail = (int)(r1 - r0 - 8 * e);

	for (int64_t k = 0; k < e + (tail > 0); k++)
		for (int64_t t = 0; t < n; t++) {
			struct l32_xq xv;

			l32_xq_view(kind, (const char *)xp + (size_t)t * xs, w->cols, &xv);
			if (k < e)
				kr_pass(type, w, r0 + k, e, 8, &xv, nb, y + t * ldy);
			else
				kr_pass(type, w, r0 + 8 * e, 1, tail, &xv, nb, y + t * ldy);
		}
}

/* One row with f32 x, quantized KS_CHUNK values at a time into the same
 * blocks, the chain carried over: rows_xq's result. */
KS_INLINE float
kr_dot(int type, enum l32_xq_kind kind, const void *row, const float *x, int64_t n)
{
	_Alignas(32) int8_t qs[KS_CHUNK];
	float d[KS_CHUNK / 32];
	_Alignas(32) int16_t sum[KS_CHUNK / 16];
	struct l32_xq v = { qs, d, sum };
	const uint8_t *wr[8];
	__m256 acc = _mm256_setzero_ps();
	int qk = ks_qk(type);

	for (int64_t i = 0; i < n; i += KS_CHUNK) {
		int64_t m = n - i < KS_CHUNK ? n - i : KS_CHUNK;

		ks_quantize_blocks(kind, x + i, m, qs, d, sum);
		for (int k = 0; k < 8; k++)
			wr[k] = (const uint8_t *)row + (size_t)(i / qk) * (size_t)ks_block_bytes[type];
		acc = kr_tile(type, wr, &v, 0, m / qk, acc);
	}
	return _mm256_cvtss_f32(acc);
}
