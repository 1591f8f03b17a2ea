/*
 * unicode.c - UTF-8 decoding with maximal-subpart replacement, and the code
 * point classes (letter, number, white space) the pre-tokenizer needs.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/l32_base.h"
#include "base/unicode.h"

/* ------------------------------------------------------------------ UTF-8 */

/*
 * Well-formed UTF-8 (Unicode table 3-7): the lead byte fixes the length and
 * the range of the second byte; later bytes are 80..BF.
 */
static int
utf8_lead(unsigned b, unsigned *lo, unsigned *hi)
{
	*lo = 0x80;
	*hi = 0xBF;
	if (b >= 0xC2 && b <= 0xDF)
		return 2;
	if (b >= 0xE0 && b <= 0xEF) {
		if (b == 0xE0)
			*lo = 0xA0;
		else if (b == 0xED)
			*hi = 0x9F; /* no surrogates */
		return 3;
	}
	if (b >= 0xF0 && b <= 0xF4) {
		if (b == 0xF0)
			*lo = 0x90;
		else if (b == 0xF4)
			*hi = 0x8F; /* nothing past U+10FFFF */
		return 4;
	}
	return 0;
}

int
l32_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned lo, hi;
	uint32_t c;
	int len, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((len = utf8_lead(s[0], &lo, &hi)) == 0 || (size_t)len > n)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	c = s[0] & (0x7F >> len);
	for (i = 1; i < len; i++) {
		if (i > 1 && (s[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3F);
	}
	*cp = c;
	return len;
}

/*
 * The maximal subpart at s: the longest prefix of a well-formed sequence
 * that s starts with (a truncated character), or 1 byte when s[0] cannot
 * start one.  A well-formed character gives its own length.
 */
size_t
l32_utf8_bad_len(const unsigned char *s, size_t n)
{
	unsigned lo, hi;
	size_t len, i;

	if (n == 0)
		return 0;
	if (s[0] < 0x80 || (len = (size_t)utf8_lead(s[0], &lo, &hi)) == 0)
		return 1;
	for (i = 1; i < len && i < n; i++) {
		if (s[i] < lo || s[i] > hi)
			break;
		lo = 0x80;
		hi = 0xBF;
	}
	return i;
}

/* Length of the leading run of ASCII bytes, eight at a time. */
static size_t
ascii_run(const unsigned char *s, size_t n)
{
	size_t i = 0;
	uint64_t w;

	while (i + 8 <= n) {
		memcpy(&w, s + i, 8);
		if (w & 0x8080808080808080ull)
			break;
		i += 8;
	}
	while (i < n && s[i] < 0x80)
		i++;
	return i;
}

/* Length of the leading well-formed part of s. */
static size_t
valid_prefix(const unsigned char *s, size_t n)
{
	size_t i = 0;
	uint32_t cp;
	int k;

	for (;;) {
		i += ascii_run(s + i, n - i);
		if (i == n)
			return n;
		if ((k = l32_utf8_decode(s + i, n - i, &cp)) == 0)
			return i;
		i += (size_t)k;
	}
}

int
l32_utf8_valid(const void *s, size_t n)
{
	return valid_prefix(s, n) == n;
}

int
l32_utf8_sanitize(struct l32_buf *out, const void *s, size_t n)
{
	static const char fffd[3] = { (char)0xEF, (char)0xBF, (char)0xBD };
	const unsigned char *p = s;
	size_t ok;

	while (n > 0) {
		ok = valid_prefix(p, n);
		if (l32_buf_append(out, p, ok) == -1)
			return -1;
		p += ok;
		n -= ok;
		if (n == 0)
			break;
		if (l32_buf_append(out, fffd, sizeof(fffd)) == -1)
			return -1;
		ok = l32_utf8_bad_len(p, n);
		p += ok;
		n -= ok;
	}
	return 0;
}

/* --------------------------------------------------------- code point classes */

#define WSPY (L32_UC_WS | L32_UC_PYSPACE)

const uint8_t l32_uclass_ascii[128] = {
	['\t'] = WSPY, ['\n'] = WSPY, ['\v'] = WSPY, ['\f'] = WSPY, ['\r'] = WSPY,
	/* U+001C..U+001F are isspace() in Python but not White_Space. */
	[0x1C] = L32_UC_PYSPACE, [0x1D] = L32_UC_PYSPACE,
	[0x1E] = L32_UC_PYSPACE, [0x1F] = L32_UC_PYSPACE,
	[' '] = WSPY,
	['0'] = L32_UC_N, ['1'] = L32_UC_N, ['2'] = L32_UC_N, ['3'] = L32_UC_N,
	['4'] = L32_UC_N, ['5'] = L32_UC_N, ['6'] = L32_UC_N, ['7'] = L32_UC_N,
	['8'] = L32_UC_N, ['9'] = L32_UC_N,
	['A'] = L32_UC_L, ['B'] = L32_UC_L, ['C'] = L32_UC_L, ['D'] = L32_UC_L,
	['E'] = L32_UC_L, ['F'] = L32_UC_L, ['G'] = L32_UC_L, ['H'] = L32_UC_L,
	['I'] = L32_UC_L, ['J'] = L32_UC_L, ['K'] = L32_UC_L, ['L'] = L32_UC_L,
	['M'] = L32_UC_L, ['N'] = L32_UC_L, ['O'] = L32_UC_L, ['P'] = L32_UC_L,
	['Q'] = L32_UC_L, ['R'] = L32_UC_L, ['S'] = L32_UC_L, ['T'] = L32_UC_L,
	['U'] = L32_UC_L, ['V'] = L32_UC_L, ['W'] = L32_UC_L, ['X'] = L32_UC_L,
	['Y'] = L32_UC_L, ['Z'] = L32_UC_L,
	['a'] = L32_UC_L, ['b'] = L32_UC_L, ['c'] = L32_UC_L, ['d'] = L32_UC_L,
	['e'] = L32_UC_L, ['f'] = L32_UC_L, ['g'] = L32_UC_L, ['h'] = L32_UC_L,
	['i'] = L32_UC_L, ['j'] = L32_UC_L, ['k'] = L32_UC_L, ['l'] = L32_UC_L,
	['m'] = L32_UC_L, ['n'] = L32_UC_L, ['o'] = L32_UC_L, ['p'] = L32_UC_L,
	['q'] = L32_UC_L, ['r'] = L32_UC_L, ['s'] = L32_UC_L, ['t'] = L32_UC_L,
	['u'] = L32_UC_L, ['v'] = L32_UC_L, ['w'] = L32_UC_L, ['x'] = L32_UC_L,
	['y'] = L32_UC_L, ['z'] = L32_UC_L,
};

int
l32_urange_has(const struct l32_urange *r, size_t n, uint32_t cp)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp < r[mid].lo)
			hi = mid;
		else if (cp > r[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/*
 * Two-stage table: stage1[cp >> 8] picks a 256-entry block of class bytes in
 * stage2; identical blocks (most of the code space) are stored once.
 */
#define NBLOCKS (0x110000 >> 8)

static uint16_t stage1[NBLOCKS];
static uint8_t *stage2;
static pthread_once_t stage_once = PTHREAD_ONCE_INIT;

static void
fill(uint8_t *cls, const struct l32_urange *r, size_t n, uint8_t bit)
{
	size_t i;
	uint32_t cp;

	for (i = 0; i < n; i++)
		for (cp = r[i].lo; cp <= r[i].hi && cp < 0x110000; cp++)
			cls[cp] |= bit;
}

/* Builds stage1/stage2; on allocation failure stage2 stays NULL and the
 * lookup falls back to binary search. */
static void
stage_build(void)
{
	uint8_t *cls, *blocks;
	uint64_t *hashes;
	size_t nuniq = 0, b, u, i;

	cls = calloc(0x110000, 1);
	blocks = malloc((size_t)NBLOCKS * 256);
	hashes = malloc(NBLOCKS * sizeof(*hashes));
	if (cls == NULL || blocks == NULL || hashes == NULL)
		goto out;
	fill(cls, l32_uni_letter, l32_uni_letter_n, L32_UC_L);
	fill(cls, l32_uni_number, l32_uni_number_n, L32_UC_N);
	fill(cls, l32_uni_white_space, l32_uni_white_space_n, L32_UC_WS);
	fill(cls, l32_uni_py_space, l32_uni_py_space_n, L32_UC_PYSPACE);
	for (b = 0; b < NBLOCKS; b++) {
		const uint8_t *blk = cls + b * 256;
		uint64_t h = 0xcbf29ce484222325ull;

		for (i = 0; i < 256; i++)
			h = (h ^ blk[i]) * 0x100000001b3ull;
		for (u = 0; u < nuniq; u++)
			if (hashes[u] == h && memcmp(blocks + u * 256, blk, 256) == 0)
				break;
		if (u == nuniq) {
			memcpy(blocks + u * 256, blk, 256);
			hashes[u] = h;
			nuniq++;
		}
		stage1[b] = (uint16_t)u;
	}
	stage2 = realloc(blocks, nuniq * 256);
	if (stage2 == NULL)
		stage2 = blocks;
	blocks = NULL;
out:
	free(cls);
	free(blocks);
	free(hashes);
}

static unsigned
uclass_search(uint32_t cp)
{
	unsigned c = 0;

	if (l32_urange_has(l32_uni_letter, l32_uni_letter_n, cp))
		c |= L32_UC_L;
	if (l32_urange_has(l32_uni_number, l32_uni_number_n, cp))
		c |= L32_UC_N;
	if (l32_urange_has(l32_uni_white_space, l32_uni_white_space_n, cp))
		c |= L32_UC_WS;
	if (l32_urange_has(l32_uni_py_space, l32_uni_py_space_n, cp))
		c |= L32_UC_PYSPACE;
	return c;
}

unsigned
l32_uclass_slow(uint32_t cp)
{
	if (cp >= 0x110000)
		return 0;
	pthread_once(&stage_once, stage_build);
	if (stage2 == NULL)
		return uclass_search(cp);
	return stage2[(size_t)stage1[cp >> 8] * 256 + (cp & 0xFF)];
}
