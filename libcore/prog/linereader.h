/* linereader.h - NDJSON input lines from a file or stdin, gzip or plain. */
#ifndef L32_LINEREADER_H
#define L32_LINEREADER_H

#include <stddef.h>

struct l32_err;
struct l32_linereader;

/* path NULL or "-" reads stdin. */
struct l32_linereader *l32_linereader_open(const char *path, size_t max_line, struct l32_err *err);
void l32_linereader_close(struct l32_linereader *r);
const char *l32_linereader_name(const struct l32_linereader *r);
int l32_linereader_next(struct l32_linereader *r, const char **line, size_t *len,
    int *too_long, struct l32_err *err);
long l32_linereader_lineno(const struct l32_linereader *r);
/* 1 when next() would not wait: a whole line is buffered, input ended, or
 * the descriptor has bytes to read. */
int l32_linereader_ready(struct l32_linereader *r);

#endif
