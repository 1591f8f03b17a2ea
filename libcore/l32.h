/*
 * l32.h - the public interface of libcore's inference library, one header
 * for the programs: each layer's own header, lowest first.  The program
 * framework (request loop, options, job queue) is prog/l32_prog.h.
 *
 * Layers, each a folder that includes only the folders before it:
 *   base/       errors, buffers, UTF-8, file mappings, thread pool, CPU features
 *   formats/    GGUF, safetensors, config.json; tensor types and block layouts
 *   tokenizer/  the Llama 3 tokenizer
 *   chat/       chat templates and tool calls
 *   grammar/    constrained decoding
 *   model/      models opened from files, their hyperparameters
 *   compute/    the forward pass, K/V cache, matrix products, kernels/
 *   gen/        sampling, generation, embeddings
 *   tasks/      rewriting and summarizing
 *   prog/       the program framework (not part of this header)
 */
#ifndef L32_H
#define L32_H

#include "base/l32_base.h"
#include "tokenizer/l32_tokenizer.h"
#include "chat/l32_chat.h"
#include "grammar/l32_grammar.h"
#include "model/l32_model.h"
#include "compute/l32_compute.h"
#include "gen/l32_gen.h"
#include "tasks/l32_tasks.h"

#endif /* L32_H */
