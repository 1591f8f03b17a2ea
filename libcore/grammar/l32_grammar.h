/*
 * l32_grammar.h - constrained decoding: a grammar (GBNF as llama.cpp writes
 * it, or a JSON Schema compiled to the same form) run as a pushdown
 * automaton over bytes, and the set of vocabulary tokens it allows next.
 *
 * A compiled grammar is immutable rules plus a cache that grows as it is
 * used: the stacks and sets of stacks the automaton reaches are interned
 * and numbered, so an automaton state is one int32_t, a byte step is a
 * table lookup once it has been taken, and the mask of allowed tokens of a
 * state is computed once (a walk of the live paths of the vocabulary's
 * byte trie) and then reused.  Several sequences may share one grammar,
 * each keeping its own state number; a grammar is not safe to use from two
 * threads at once.
 */
#ifndef L32_GRAMMAR_H
#define L32_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

struct l32_err;
struct l32_tokenizer;

struct l32_grammar;

/* The state no input leads out of: the bytes so far are not a prefix of
 * any string of the grammar. */
#define L32_GRAMMAR_DEAD 0

/* Parses a GBNF grammar (llama.cpp's format: rules `name ::= ...`,
 * alternation |, grouping ( ), * + ? {m} {m,} {m,n}, "literals" and
 * [character classes] with ranges, negation and \x \u \U \n \t \r \\
 * escapes, `.` any character, # comments).  The start symbol is the rule
 * `root`.  Errors name the rule and the line and column. */
struct l32_grammar *l32_grammar_parse_gbnf(const char *text, size_t len,
    struct l32_err *err);
/* Reads a GBNF file and checks that it compiles: its text (malloc'd,
 * NUL-terminated), or NULL with err naming the file. */
char *l32_grammar_read_gbnf(const char *path, struct l32_err *err);
/* Compiles a JSON Schema; an unsupported keyword is an error of code
 * "unsupported_value" whose param is "<param_prefix><JSON pointer>". */
struct l32_grammar *l32_grammar_from_schema(const json_t *schema,
    const char *param_prefix, struct l32_err *err);
/* Tool calls in Llama 3.2's pythonic format, "[f(a=1), g(b=\"x\")]": one
 * or more calls of the tools (OpenAI's tools array), or with only set one
 * call of that tool, each with keyword arguments valid under the tool's
 * parameters schema (values as Python literals).  Errors name their param
 * ("tools/0/function/parameters/...", "tool_choice"). */
struct l32_grammar *l32_grammar_tool_calls(const json_t *tools, const char *only,
    struct l32_err *err);
/* Any one JSON object. */
struct l32_grammar *l32_grammar_json_object(struct l32_err *err);
/* The GBNF text a schema compiles to (for the curious and for tests);
 * returns a malloc'd NUL-terminated string or NULL with err set. */
char *l32_grammar_schema_gbnf(const json_t *schema, const char *param_prefix,
    struct l32_err *err);
/* Lets go of g (freed with its last holder). */
void l32_grammar_free(struct l32_grammar *g);
/* One more holder of g; returns g. */
struct l32_grammar *l32_grammar_ref(struct l32_grammar *g);
/* 1 when a and b were compiled from the same GBNF text (so one may stand
 * for the other, with the cache it has built). */
int l32_grammar_same(const struct l32_grammar *a, const struct l32_grammar *b);
/* Bytes the automaton and its masks hold, roughly. */
size_t l32_grammar_cache_bytes(const struct l32_grammar *g);

/* The state before any input. */
int32_t l32_grammar_start(struct l32_grammar *g);
/* The state after bytes s[0..n) from state st; L32_GRAMMAR_DEAD when they
 * leave the grammar, -1 (err set) when memory runs out. */
int32_t l32_grammar_advance(struct l32_grammar *g, int32_t st, const void *s,
    size_t n, struct l32_err *err);
/* 1 when the input so far is a whole string of the grammar. */
int l32_grammar_accepting(struct l32_grammar *g, int32_t st);
/* 1 when the input is a whole string and nothing may follow it. */
int l32_grammar_complete(struct l32_grammar *g, int32_t st);
/* 1 when s[0..n) is a string of the grammar (the recognizer). */
int l32_grammar_match(struct l32_grammar *g, const void *s, size_t n);

/* The vocabulary as a byte trie, built once per tokenizer. */
struct l32_vocab_trie;

struct l32_vocab_trie *l32_vocab_trie_new(const struct l32_tokenizer *tok,
    struct l32_err *err);
void l32_vocab_trie_free(struct l32_vocab_trie *t);
int32_t l32_vocab_trie_n_vocab(const struct l32_vocab_trie *t);

/* The tokens allowed in state st: a bitmap of n_vocab bits (bit i of word
 * i / 64), owned by the grammar and valid until its next call.  Ordinary
 * tokens are allowed when their bytes keep the input inside the grammar;
 * the tokenizer's stop tokens when the state is accepting; other control
 * tokens never.  NULL with err set when memory runs out. */
const uint64_t *l32_grammar_mask(struct l32_grammar *g, const struct l32_vocab_trie *t,
    int32_t st, struct l32_err *err);
/* Sets the logits of the tokens mask leaves out to -INFINITY. */
void l32_grammar_apply_mask(const uint64_t *mask, float *logits, int32_t n_vocab);

#endif /* L32_GRAMMAR_H */
