/*
 * pretok.h - internal: the Llama 3 pre-tokenizer and Meta's chunking.
 *
 * Text is walked in units: a well-formed UTF-8 character, or a maximal
 * ill-formed subpart (which counts as one code point that is neither a
 * letter, a number nor a space), so any byte string splits cleanly.
 */
#ifndef L32_PRETOK_H
#define L32_PRETOK_H

#include <stddef.h>

/*
 * End of the piece that starts at s[i] (i < n) under the regex
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 *    ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * with first-match-wins alternation; s[n] is the end of the text.
 */
size_t l32_pretok_next(const unsigned char *s, size_t n, size_t i);

/* Meta's Tokenizer.encode chunking: 400,000-code-point chunks, each cut so
 * that no run of isspace() or of non-isspace() code points exceeds 25,000. */
#define L32_CHUNK_CHARS 400000
#define L32_CHUNK_RUN   25000

struct l32_chunker {
	const unsigned char *s;
	size_t n;
	size_t pos;       /* start of the next piece */
	size_t scan;      /* where the run scan resumes (units before it are counted) */
	size_t chunk_end; /* end of the current 400k chunk */
	int space;        /* class of the current run */
	size_t run;       /* its length in code points */
};

void l32_chunker_init(struct l32_chunker *c, const void *s, size_t n);
/* Stores the next piece [*start, *end) and returns 1; 0 when done. */
int l32_chunker_next(struct l32_chunker *c, size_t *start, size_t *end);

#endif /* L32_PRETOK_H */
