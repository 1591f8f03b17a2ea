/*
 * hash.c - l32_hash64: four independent lanes over 32-byte stripes, so
 * the multiplies overlap and the hash runs at memory speed.  Each step
 * (lane := rotl((lane ^ word) * P1, 29)) is a bijection of the lane for a
 * given word and of the word for a given lane, so a lane that differs
 * stays different, and so does the result (the lanes are folded in by
 * bijective steps too).
 */
#include "base/hash.h"

#define P1 0x9e3779b97f4a7c15ULL
#define P2 0xc2b2ae3d27d4eb4fULL
#define P3 0x165667b19e3779f9ULL

static inline uint64_t
rotl(uint64_t x, int r)
{
	return (x << r) | (x >> (64 - r));
}

/* Little-endian whatever the host (compilers make this one load). */
static inline uint64_t
le64(const unsigned char *s)
{
	return (uint64_t)s[0] | (uint64_t)s[1] << 8 | (uint64_t)s[2] << 16 |
	    (uint64_t)s[3] << 24 | (uint64_t)s[4] << 32 | (uint64_t)s[5] << 40 |
	    (uint64_t)s[6] << 48 | (uint64_t)s[7] << 56;
}

static inline uint64_t
step(uint64_t lane, uint64_t w)
{
	return rotl((lane ^ w) * P1, 29);
}

/* A bijective finalizer: every bit of x reaches every bit of the result. */
static inline uint64_t
fmix(uint64_t x)
{
	x ^= x >> 33;
	x *= P2;
	x ^= x >> 29;
	x *= P3;
	x ^= x >> 32;
	return x;
}

uint64_t
l32_hash64(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t a0 = seed ^ P1, a1 = seed ^ P2, a2 = seed + P3, a3 = seed - P1;
	uint64_t h, tail = 0;
	size_t i = 0;

	for (; n - i >= 32; i += 32) {
		a0 = step(a0, le64(s + i));
		a1 = step(a1, le64(s + i + 8));
		a2 = step(a2, le64(s + i + 16));
		a3 = step(a3, le64(s + i + 24));
	}
	for (; n - i >= 8; i += 8)
		a0 = step(a0, le64(s + i));
	for (int k = 0; i < n; i++, k += 8)
		tail |= (uint64_t)s[i] << k;
	a1 = step(a1, tail);
	h = step(seed ^ (uint64_t)n, fmix(a0));
	h = step(h, fmix(a1));
	h = step(h, fmix(a2));
	h = step(h, fmix(a3));
	return fmix(h);
}
