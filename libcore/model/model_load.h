/*
 * model_load.h - internal to the model loaders (model.c, model_gguf.c,
 * model_hf.c): what a file format provides (its hyperparameters and a way
 * to find a tensor by name), and the checks and mapping they share.
 */
#ifndef L32_MODEL_LOAD_H
#define L32_MODEL_LOAD_H

#include "model/model.h"

/* A tensor as a file lists it. */
struct l32_src {
	const char *name;       /* lives as long as the model (in its file index) */
	const char *file;       /* the file holding it, for messages */
	enum l32_type type;
	int n_dims;
	int64_t dims[8];        /* in the file's order: GGUF innermost first,
	                         * safetensors outermost first */
	const void *data;
	size_t nbytes;
};

/* Tensor roles, and their names in each format. */
enum l32_role {
	L32_R_TOK_EMBD, L32_R_OUTPUT_NORM, L32_R_OUTPUT,
	L32_R_ATTN_NORM, L32_R_WQ, L32_R_WK, L32_R_WV, L32_R_WO,
	L32_R_FFN_NORM, L32_R_W1, L32_R_W2, L32_R_W3,
	L32_R_COUNT
};

struct l32_loader {
	struct l32_model *m;
	const char *source;     /* the model's path, for messages */
	struct l32_err *err;
	int hf;                 /* Hugging Face names, shapes outermost first */
	int tie;                /* output = tok_embd: 1 yes, 0 no (the output
	                         * tensor must exist), -1 when it is absent */
	/* 1 found, 0 absent, -1 error (err set). */
	int (*find)(struct l32_loader *L, const char *name, struct l32_src *s);
	void *fmt;              /* the format's own state */
	/* filled while mapping, for desc */
	uint64_t params;
	int type_count[L32_TYPE_COUNT];
	uint64_t type_bytes[L32_TYPE_COUNT];
	int n_norms;            /* norm_store slots used */
};

/* Loads a GGUF image / a Hugging Face directory into m (m->path set). */
int l32_model_load_gguf(struct l32_model *m, const void *buf, size_t len,
    const char *source, struct l32_err *err);
int l32_model_load_hf(struct l32_model *m, struct l32_err *err);

/* Checks hyperparameters for consistency and range. */
int l32_hparams_check(const char *source, const struct l32_hparams *hp, struct l32_err *err);
/* Adds id to hp's stop ids unless already there. */
int l32_hparams_add_stop(const char *source, struct l32_hparams *hp, int32_t id,
    struct l32_err *err);
/* Maps every weight by role, checking types and shapes, then fills desc
 * and weight_bytes. */
int l32_model_map_weights(struct l32_loader *L);
/* Name of a role's tensor in L's format (layer ignored for global ones). */
const char *l32_role_name(const struct l32_loader *L, enum l32_role r, int layer,
    char *buf, size_t n);
/* Keeps p until the model is freed. */
int l32_model_own(struct l32_model *m, void *p, struct l32_err *err);

#endif
