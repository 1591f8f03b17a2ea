/*
 * mapfile.h - read-only file mappings for model files.
 */
#ifndef L32_MAPFILE_H
#define L32_MAPFILE_H

#include <stddef.h>

#include "base/l32_base.h"

struct l32_prefetch;

/* A mapped file. */
struct l32_mapping {
	void *addr;
	size_t len;
	struct l32_prefetch *prefetch;  /* the thread mapping its pages in, or NULL */
};

/* Maps path whole, read-only and private.  A directory, a non-regular file
 * or an empty file is an error naming the file. */
int l32_mapfile_open(const char *path, struct l32_mapping *m, struct l32_err *err);
/* Starts a thread that maps m's pages into the page tables (reading them
 * from the file when they are not cached), front to back, while the
 * caller goes on: the first pass over the weights then takes no page
 * faults.  When no thread can start the pages come in on first use, as
 * they do without it; the bytes are the same either way. */
void l32_mapfile_prefetch(struct l32_mapping *m);
/* Stops a prefetch, unmaps m (a zeroed mapping is a no-op) and zeroes it. */
void l32_mapfile_close(struct l32_mapping *m);

#endif
