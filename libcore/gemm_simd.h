/*
 * gemm_simd.h - the prompt kernels of kernels_simd.h: products of weight
 * rows with many tokens at once, 8 tokens in the lanes of a vector.
 *
 * A prompt has enough tokens that each 4-byte group of a weight row can be
 * broadcast and met by the same 4 values of 8 tokens in one vpmaddubsw:
 * the products stay in 8-bit/16-bit integers for a whole block (or
 * sub-block) before one widening, and the float work is once per block
 * for 8 tokens instead of once per block and token.  The tokens come from
 * a panel (kernels.h, l32_xq_group) built from the same quantized
 * activations the per-row kernels use.
 *
 * Sums in int16 never overflow: a vpmaddubsw lane is at most
 * 2 * 127 * |w|, so 8 of them fit for 4-bit weights (|w| <= 15), 2 for
 * 6-bit ones; 8-bit weights widen every group.
 *
 * Each (row, token) result is the chain of float operations rows8_simd.h
 * describes, block after block on exact integer block sums, so these
 * kernels give the per-row kernels' results bit for bit: l32_matmul takes
 * them for every product of two tokens or more, prompts and decode steps
 * of several sequences alike.
 */

#define KG_Q8_GROUP 320  /* panel bytes of one Q8 block: qs, d, sum */
#define KG_Q8K_GROUP 2336 /* of one Q8K block: qs, d, sums of 16 */
/* The most blocks of a row one pass takes: at least the KG_KCHUNK_BYTES /
 * 320 = 51 that one group of Q8 tokens allows, the most of any case. */
#define KG_KMAX 64

/* The 4 bytes at p in every 32-bit lane.  Always a broadcast load, a
 * load-port operation: left to itself the compiler turns broadcasts of
 * bytes it has just unpacked into shuffles of registers, and the shuffle
 * ports then bound the whole kernel. */
KS_INLINE __m256i
kg_bcast(const uint8_t *p)
{
	__m256i v;

	__asm__("vpbroadcastd %1, %0" : "=x"(v) : "m"(*(const int32_t *)(const void *)p));
	return v;
}

/* Keeps a running sum a running sum: without it the compiler regroups a
 * block's additions into a tree, which needs more registers than there
 * are once two groups of tokens are in flight, and spills. */
#define KG_KEEP(v) __asm__("" : "+x"(v))

/* Stores lane j of v as the result of token t0 + j, for the n - t0 that
 * exist. */
KS_INLINE void
kg_store(__m256 v, int64_t r, int64_t t0, int64_t n, float *y, int64_t ldy)
{
	float out[8];
	int m = n - t0 < 8 ? (int)(n - t0) : 8;

	_mm256_storeu_ps(out, v);
	for (int j = 0; j < m; j++)
		y[(t0 + j) * ldy + r] = out[j];
}

/* Q8_0: |w| by x with the sign of w, widened every group (through
 * vpdpbusd where the CPU has VNNI). */
KS_INLINE void
kg_q8_0(const int TG, const uint8_t *row, const uint8_t *grp, size_t gb,
    int64_t b0, int64_t b1, __m256 *acc)
{
	for (int64_t b = b0; b < b1; b++) {
		const uint8_t *blk = row + 34 * b, *xb = grp + KG_Q8_GROUP * b;
		__m256i s[4];
		__m256 dw = ks_lut8(blk);

#pragma GCC unroll 4
		for (int k = 0; k < TG; k++)
			s[k] = _mm256_setzero_si256();
#pragma GCC unroll 8
		for (int g = 0; g < 8; g++) {
			__m256i w = kg_bcast(blk + 2 + 4 * g), a = _mm256_abs_epi8(w);

#pragma GCC unroll 4
			for (int k = 0; k < TG; k++) {
				s[k] = KS_DOT_ACC(s[k], a, _mm256_sign_epi8(
				    ks_load(xb + k * gb + 32 * g), w));
				KG_KEEP(s[k]);
			}
		}
#pragma GCC unroll 4
		for (int k = 0; k < TG; k++)
			acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_loadu_ps(
			    (const float *)(const void *)(xb + k * gb + 256))),
			    _mm256_cvtepi32_ps(s[k]), acc[k]);
	}
}

/* Q4_0: the nibbles u (0..15) unsigned against x; Σ (u - 8) x =
 * Σ u x - 8 Σ x, the block sums of x from the panel. */
KS_INLINE void
kg_q4_0(const int TG, const uint8_t *row, const uint8_t *grp, size_t gb,
    int64_t b0, int64_t b1, __m256 *acc)
{
	const __m256i ones = _mm256_set1_epi16(1);
	const __m128i m4 = _mm_set1_epi8(0x0f);
	_Alignas(32) uint8_t u[KG_KMAX * 32];

	/* unpacked first, in a pass of their own: the broadcasts below then
	 * read memory already written */
	for (int64_t b = b0; b < b1; b++) {
		__m128i q = _mm_loadu_si128((const __m128i *)(row + 18 * b + 2));

		_mm_store_si128((__m128i *)(u + 32 * (b - b0)), _mm_and_si128(q, m4));
		_mm_store_si128((__m128i *)(u + 32 * (b - b0) + 16),
		    _mm_and_si128(_mm_srli_epi16(q, 4), m4));
	}
	for (int64_t b = b0; b < b1; b++) {
		const uint8_t *blk = row + 18 * b, *xb = grp + KG_Q8_GROUP * b;
		const uint8_t *ub = u + 32 * (b - b0);
		__m256i s16[4];
		__m256 dw = ks_lut8(blk);

#pragma GCC unroll 4
		for (int k = 0; k < TG; k++)
			s16[k] = _mm256_setzero_si256();
#pragma GCC unroll 8
		for (int g = 0; g < 8; g++) {
			__m256i w = kg_bcast(ub + 4 * g);

#pragma GCC unroll 4
			for (int k = 0; k < TG; k++)
			{
				s16[k] = _mm256_add_epi16(s16[k], _mm256_maddubs_epi16(w,
				    ks_load(xb + k * gb + 32 * g)));
				KG_KEEP(s16[k]);
			}
		}
#pragma GCC unroll 4
		for (int k = 0; k < TG; k++) {
			const uint8_t *xk = xb + k * gb;
			__m256i s = _mm256_sub_epi32(_mm256_madd_epi16(s16[k], ones),
			    _mm256_slli_epi32(ks_load(xk + 288), 3));

			acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(dw,
			    _mm256_loadu_ps((const float *)(const void *)(xk + 256))),
			    _mm256_cvtepi32_ps(s), acc[k]);
		}
	}
}

/* The 16-bit lanes of a vector all k (a scale or min of 6 bits). */
KS_INLINE __m256i
kg_set16(unsigned k)
{
	return _mm256_set1_epi16((short)k);
}

/* Q4_K: per sub-block s of 32, sc_s Σ u x through vpmaddwd with the
 * scale; the mins m_s against the sums of 16 (two per sub-block). */
KS_INLINE void
kg_q4_k(const int TG, const uint8_t *row, const uint8_t *grp, size_t gb,
    int64_t b0, int64_t b1, __m256 *acc)
{
	const __m256i m4 = _mm256_set1_epi8(0x0f);
	_Alignas(32) uint8_t u[256];

	for (int64_t b = b0; b < b1; b++) {
		const uint8_t *blk = row + 144 * b, *xb = grp + KG_Q8K_GROUP * b;
		__m256i isum[4], msum[4];
		__m256 d = ks_lut8(blk), dmin = ks_lut8(blk + 2);
		uint64_t sc, mn;

		ks_prefetch(blk, 144);
		for (int g = 0; g < 4; g++) {
			__m256i q = ks_load(blk + 16 + 32 * g);

			_mm256_store_si256((__m256i *)(u + 64 * g), _mm256_and_si256(q, m4));
			_mm256_store_si256((__m256i *)(u + 64 * g + 32),
			    _mm256_and_si256(_mm256_srli_epi16(q, 4), m4));
		}
		l32_kq_scales(blk + 4, &sc, &mn);
		#pragma GCC unroll 4
		for (int k = 0; k < TG; k++)
			isum[k] = msum[k] = _mm256_setzero_si256();
		for (int s = 0; s < 8; s++) {
			__m256i s16[4], scale = kg_set16((unsigned)(sc >> (8 * s)) & 0xff);
			__m256i mins = kg_set16((unsigned)(mn >> (8 * s)) & 0xff);

			#pragma GCC unroll 4
		for (int k = 0; k < TG; k++)
			s16[k] = _mm256_setzero_si256();
#pragma GCC unroll 8
			for (int g = 0; g < 8; g++) {
				__m256i w = kg_bcast(u + 32 * s + 4 * g);

#pragma GCC unroll 4
				for (int k = 0; k < TG; k++)
				{
					s16[k] = _mm256_add_epi16(s16[k], _mm256_maddubs_epi16(w,
					    ks_load(xb + k * gb + 256 * s + 32 * g)));
					KG_KEEP(s16[k]);
				}
			}
#pragma GCC unroll 4
			for (int k = 0; k < TG; k++) {
				isum[k] = _mm256_add_epi32(isum[k], _mm256_madd_epi16(s16[k], scale));
				msum[k] = _mm256_add_epi32(msum[k], _mm256_madd_epi16(
				    ks_load(xb + k * gb + 2080 + 32 * s), mins));
			}
		}
#pragma GCC unroll 4
		for (int k = 0; k < TG; k++) {
			__m256 dx = _mm256_loadu_ps((const float *)(const void *)(xb + k * gb + 2048));

			acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(d, dx),
			    _mm256_cvtepi32_ps(isum[k]), acc[k]);
			acc[k] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, dx),
			    _mm256_cvtepi32_ps(msum[k]), acc[k]);
		}
	}
}

/* Q6_K: u (0..63) against x, two groups at a time in int16, times the
 * signed scale of each 16; less 32 Σ_j sc_j Σ x over the same 16. */
KS_INLINE void
kg_q6_k(const int TG, const uint8_t *row, const uint8_t *grp, size_t gb,
    int64_t b0, int64_t b1, __m256 *acc)
{
	_Alignas(32) uint8_t u[256];

	for (int64_t b = b0; b < b1; b++) {
		const uint8_t *blk = row + 210 * b, *xb = grp + KG_Q8K_GROUP * b;
		const int8_t *sc = (const int8_t *)(blk + 192);
		__m256i isum[4], cor[4];
		__m256 d = ks_lut8(blk + 208);

		ks_prefetch(blk, 210);
		for (int h = 0; h < 2; h++) {
			__m256i q[4];

			ks_q6_unpack(blk, h, q);
			for (int k = 0; k < 4; k++)
				_mm256_store_si256((__m256i *)(u + 128 * h + 32 * k), q[k]);
		}
		#pragma GCC unroll 4
		for (int k = 0; k < TG; k++)
			isum[k] = cor[k] = _mm256_setzero_si256();
		for (int j = 0; j < 16; j++) {
			__m256i scale = _mm256_set1_epi16(sc[j]);

#pragma GCC unroll 4
			for (int p = 0; p < 2; p++) {
				__m256i w0 = kg_bcast(u + 16 * j + 8 * p);
				__m256i w1 = kg_bcast(u + 16 * j + 8 * p + 4);

#pragma GCC unroll 4
				for (int k = 0; k < TG; k++) {
					const uint8_t *xs = xb + k * gb + 128 * j + 64 * p;
					__m256i s16 = _mm256_add_epi16(
					    _mm256_maddubs_epi16(w0, ks_load(xs)),
					    _mm256_maddubs_epi16(w1, ks_load(xs + 32)));

				{
					isum[k] = _mm256_add_epi32(isum[k], _mm256_madd_epi16(s16, scale));
					KG_KEEP(isum[k]);
				}
				}
			}
		}
		for (int p = 0; p < 8; p++) {
			__m256i pair = _mm256_set1_epi32((int)((uint16_t)sc[2 * p] |
			    (uint32_t)(uint16_t)sc[2 * p + 1] << 16));

#pragma GCC unroll 4
			for (int k = 0; k < TG; k++)
				cor[k] = _mm256_add_epi32(cor[k], _mm256_madd_epi16(
				    ks_load(xb + k * gb + 2080 + 32 * p), pair));
		}
#pragma GCC unroll 4
		for (int k = 0; k < TG; k++) {
			__m256i s = _mm256_sub_epi32(isum[k], _mm256_slli_epi32(cor[k], 5));

			acc[k] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_loadu_ps(
			    (const float *)(const void *)(xb + k * gb + 2048))),
			    _mm256_cvtepi32_ps(s), acc[k]);
		}
	}
}

/* Values of a weight row whose tokens' panel fills about half of L1 for
 * KG_TG groups: the rows meet the tokens that many values at a time, so
 * the panel stays in L1 while the rows stream from L2. */
#define KG_TG 4
#define KG_KCHUNK_BYTES (16 * 1024)
/* Rows a pass over the tokens keeps partial sums of (on the stack). */
#define KG_ROWS 64

/* TG groups of tokens by one row over blocks b0..b1-1, onto acc. */
KS_INLINE void
kg_pass(int type, const int TG, const uint8_t *row, const uint8_t *grp, size_t gb,
    int64_t b0, int64_t b1, __m256 *acc)
{
	switch (type) {
	case L32_TYPE_Q4_0: kg_q4_0(TG, row, grp, gb, b0, b1, acc); break;
	case L32_TYPE_Q4_K: kg_q4_k(TG, row, grp, gb, b0, b1, acc); break;
	case L32_TYPE_Q6_K: kg_q6_k(TG, row, grp, gb, b0, b1, acc); break;
	default:            kg_q8_0(TG, row, grp, gb, b0, b1, acc); break;
	}
}

/* Rows r0..r1-1 (at most KG_ROWS) by groups g0..g0+TG-1. */
KS_INLINE void
kg_tile(int type, const int TG, const struct l32_tensor *w, int64_t r0, int64_t r1,
    const uint8_t *grp, size_t gb, int64_t t0, int64_t n, float *y, int64_t ldy)
{
	int64_t nb = w->cols / ks_qk(type);
	/* the panel bytes of one block for TG groups */
	int64_t kc = KG_KCHUNK_BYTES / (int64_t)(TG * (gb / (size_t)nb));
	__m256 acc[KG_ROWS][4];

	if (kc < 1)
		kc = 1;
	if (kc > KG_KMAX)
		kc = KG_KMAX;
	for (int64_t r = r0; r < r1; r++)
#pragma GCC unroll 4
		for (int k = 0; k < TG; k++)
			acc[r - r0][k] = _mm256_setzero_ps();
	for (int64_t b0 = 0; b0 < nb; b0 += kc) {
		int64_t b1 = nb - b0 < kc ? nb : b0 + kc;

		for (int64_t r = r0; r < r1; r++)
			kg_pass(type, TG, (const uint8_t *)w->data + (size_t)r * w->row_bytes,
			    grp, gb, b0, b1, acc[r - r0]);
	}
	for (int64_t r = r0; r < r1; r++)
#pragma GCC unroll 4
		for (int k = 0; k < TG; k++)
			kg_store(acc[r - r0][k], r, t0 + 8 * k, n, y, ldy);
}

/* Rows r0..r1-1 by all n tokens of the panel: KG_ROWS rows at a time meet
 * KG_TG groups of 8 tokens at a time, each weight unpacked and broadcast
 * once for all of them. */
KS_INLINE void
kg_gemm(int type, const struct l32_tensor *w, int64_t r0, int64_t r1,
    const void *panel, int64_t n, float *y, int64_t ldy)
{
	enum l32_xq_kind kind = ks_qk(type) == 256 ? L32_XQ_Q8K : L32_XQ_Q8;
	size_t gb = l32_xq_group_bytes(kind, w->cols);
	int64_t ngroups = (n + 7) / 8;

	for (int64_t ra = r0; ra < r1; ra += KG_ROWS) {
		int64_t rb = r1 - ra < KG_ROWS ? r1 : ra + KG_ROWS;

		for (int64_t g = 0, tg; g < ngroups; g += tg) {
			const uint8_t *grp = (const uint8_t *)panel + (size_t)g * gb;

			tg = ngroups - g < KG_TG ? ngroups - g : KG_TG;
			switch (tg) {
			case 1: kg_tile(type, 1, w, ra, rb, grp, gb, 8 * g, n, y, ldy); break;
			case 2: kg_tile(type, 2, w, ra, rb, grp, gb, 8 * g, n, y, ldy); break;
			case 3: kg_tile(type, 3, w, ra, rb, grp, gb, 8 * g, n, y, ldy); break;
			default: kg_tile(type, 4, w, ra, rb, grp, gb, 8 * g, n, y, ldy); break;
			}
		}
	}
}

#define KG_KERNEL(t, TYPE)						\
static void								\
gemm_##t(const struct l32_tensor *w, int64_t r0, int64_t r1,		\
    const void *panel, int64_t n, float *y, int64_t ldy)		\
{									\
	kg_gemm(TYPE, w, r0, r1, panel, n, y, ldy);			\
}

KG_KERNEL(q8_0, L32_TYPE_Q8_0)
KG_KERNEL(q4_0, L32_TYPE_Q4_0)
KG_KERNEL(q4_k, L32_TYPE_Q4_K)
KG_KERNEL(q6_k, L32_TYPE_Q6_K)
