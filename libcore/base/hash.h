/*
 * hash.h - a fast 64-bit hash of bytes, for checksums of data written to
 * files (the prefix cache file) and identities of files too large to hash
 * whole (the model).  Not a cryptographic hash: it finds damage, not
 * forgery.
 */
#ifndef L32_HASH_H
#define L32_HASH_H

#include <stddef.h>
#include <stdint.h>

/* The hash of p[0..n) under seed.  A change of any one aligned 8-byte word
 * of p always changes it; other damage goes unseen with odds of 2^-64. */
uint64_t l32_hash64(const void *p, size_t n, uint64_t seed);

#endif
