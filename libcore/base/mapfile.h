/*
 * mapfile.h - read-only file mappings for model files.
 */
#ifndef L32_MAPFILE_H
#define L32_MAPFILE_H

#include <stddef.h>

#include "base/l32_base.h"

/* A mapped file. */
struct l32_mapping {
	void *addr;
	size_t len;
};

/* Maps path whole, read-only and private.  A directory, a non-regular file
 * or an empty file is an error naming the file. */
int l32_mapfile_open(const char *path, struct l32_mapping *m, struct l32_err *err);
/* Unmaps m (a zeroed mapping is a no-op) and zeroes it. */
void l32_mapfile_close(struct l32_mapping *m);

#endif
