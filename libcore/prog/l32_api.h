/*
 * l32_api.h - the OpenAI API's requests, one implementation for every
 * transport: l32-generate and l32-embed answer them as NDJSON filters.
 */
#ifndef L32_API_H
#define L32_API_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "l32.h"

/* ------------------------------------------------- chat and completions */

struct l32_api_chat {
	struct l32_model *model;
	struct l32_engine *engine;
	const struct l32_tokenizer *tok;
	const char *model_name;     /* what responses call the model */
	char fingerprint[32];
	enum l32_chat_format chat_format;
	char date[64];
	const char *system;         /* -s: system message for --text */
	int raw;                    /* --raw: one line of text per request, never streamed */
	struct l32_gen_params defaults;
	int has_default_seed;
	struct l32_jobq *jobs;      /* requests waiting for slots or running */
};

/* The request loop's handle() and step() (l32_filter_ops), and the job
 * queue's answer() and release(), with a struct l32_api_chat as arg. */
int l32_api_chat_handle(void *arg, struct l32_filter *f, json_t *body, struct l32_err *err);
int l32_api_chat_step(void *arg, struct l32_err *err);
int l32_api_chat_answer(void *arg, struct l32_ticket *t);
void l32_api_chat_release(void *arg);

/* ----------------------------------------------------------- embeddings */

struct request;

struct l32_api_embed {
	struct l32_model *model;
	struct l32_embedder *em;
	const struct l32_tokenizer *tok;
	const char *model_name;
	enum l32_pooling pooling;
	int normalize;
	int truncate;          /* --truncate: cut over-long inputs */
	int base64;            /* --encoding-format base64 */
	int32_t dimensions;    /* --dimensions, 0: all */
	int32_t dim, n_ctx;
	struct request *held;  /* requests waiting for their inputs, in input order */
};


int l32_api_embed_handle(void *arg, struct l32_filter *f, json_t *body, struct l32_err *err);
int l32_api_embed_step(void *arg, struct l32_err *err);
/* Frees the requests still held. */
void l32_api_embed_drop(struct l32_api_embed *e);

#endif
