/*
 * ggufw.h - writers of GGUF and safetensors files, for tests, fuzz seeds
 * and tools that make model files.
 *
 * A writer collects metadata and tensor descriptions, then writes the
 * whole file to a buffer or a path.  Tensor data is referenced, not
 * copied: it must stay valid until the write (NULL writes zeros).
 */
#ifndef L32_GGUFW_H
#define L32_GGUFW_H

#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"
#include "l32.h"

/* ------------------------------------------------------------------ GGUF */

struct ggufw;

struct ggufw *ggufw_new(void);
void ggufw_free(struct ggufw *w);
/* The version written in the header (3 by default; 2 has the same layout). */
void ggufw_set_version(struct ggufw *w, uint32_t version);
/* Writes general.alignment and pads the data section to it. */
int ggufw_alignment(struct ggufw *w, uint32_t alignment);

/* Metadata, written in the order added. */
int ggufw_kv_u8(struct ggufw *w, const char *key, uint8_t v);
int ggufw_kv_i8(struct ggufw *w, const char *key, int8_t v);
int ggufw_kv_u16(struct ggufw *w, const char *key, uint16_t v);
int ggufw_kv_i16(struct ggufw *w, const char *key, int16_t v);
int ggufw_kv_u32(struct ggufw *w, const char *key, uint32_t v);
int ggufw_kv_i32(struct ggufw *w, const char *key, int32_t v);
int ggufw_kv_u64(struct ggufw *w, const char *key, uint64_t v);
int ggufw_kv_i64(struct ggufw *w, const char *key, int64_t v);
int ggufw_kv_f32(struct ggufw *w, const char *key, float v);
int ggufw_kv_f64(struct ggufw *w, const char *key, double v);
int ggufw_kv_bool(struct ggufw *w, const char *key, int v);
int ggufw_kv_str(struct ggufw *w, const char *key, const char *s);
int ggufw_kv_strn(struct ggufw *w, const char *key, const char *s, size_t n);
/* An array of n fixed-size elements of type elem (host values: u8 .. f64,
 * bool as uint8_t). */
int ggufw_kv_arr(struct ggufw *w, const char *key, enum l32_gguf_vtype elem,
    const void *vals, size_t n);
/* An array of strings; lens NULL means NUL-terminated. */
int ggufw_kv_arr_str(struct ggufw *w, const char *key, const char *const *s,
    const size_t *lens, size_t n);
/* A value given as its encoded bytes (arrays of arrays, damaged values). */
int ggufw_kv_raw(struct ggufw *w, const char *key, enum l32_gguf_vtype type,
    const void *bytes, size_t n);

/* Encoders for raw values. */
int ggufw_put_u32(struct l32_buf *b, uint32_t v);
int ggufw_put_u64(struct l32_buf *b, uint64_t v);
int ggufw_put_str(struct l32_buf *b, const char *s, size_t n);

/* A tensor of type with dims ne[0..n_dims) (innermost first), its bytes at
 * data (l32_type_row_bytes(type, ne[0]) per row).  Offsets are assigned in
 * the order added, each padded to the alignment. */
int ggufw_tensor(struct ggufw *w, const char *name, enum l32_type type, int n_dims,
    const int64_t *ne, const void *data);

int ggufw_write_buf(struct ggufw *w, struct l32_buf *out);
/* Only what precedes the data section (header, metadata, tensor infos,
 * padding), for writers that stream the tensors themselves: each tensor's
 * bytes then follow in the order added, padded to the alignment. */
int ggufw_write_header_buf(struct ggufw *w, struct l32_buf *out);
int ggufw_write_file(struct ggufw *w, const char *path, struct l32_err *err);

/* ----------------------------------------------------------- safetensors */

struct stw;

struct stw *stw_new(void);
void stw_free(struct stw *w);
/* A __metadata__ entry. */
int stw_meta(struct stw *w, const char *key, const char *value);
/* A tensor of dtype ("F32", "BF16", ...; any string is written) and shape
 * (outermost first); nbytes of data, laid out in the order added. */
int stw_tensor(struct stw *w, const char *name, const char *dtype, int n_dims,
    const int64_t *shape, const void *data, size_t nbytes);
int stw_write_buf(struct stw *w, struct l32_buf *out);
/* Only the header (length and JSON); the tensors' bytes then follow in the
 * order added, with no padding. */
int stw_write_header_buf(struct stw *w, struct l32_buf *out);
int stw_write_file(struct stw *w, const char *path, struct l32_err *err);

#endif
