/* mapfile.c - mapping model files read-only, so processes share the pages. */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mapfile.h"

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22   /* Linux 5.14 */
#endif

/* Bytes a prefetch maps at a time: a few milliseconds, so a close waits
 * no longer than that for it to stop. */
#define PREFETCH_STEP ((size_t)32 << 20)

struct l32_prefetch {
	pthread_t thread;
	const unsigned char *addr;
	size_t len;
	atomic_int stop;
};

int
l32_mapfile_open(const char *path, struct l32_mapping *m, struct l32_err *err)
{
	struct stat st;
	void *addr;
	int fd, e;

	m->addr = NULL;
	m->len = 0;
	m->prefetch = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1) {
		e = errno;
		close(fd);
		return l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(e));
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return l32_err_set(err, L32_ERR_IO, "%s: is a directory", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return l32_err_set(err, L32_ERR_IO, "%s: not a regular file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return l32_err_set(err, L32_ERR_FORMAT, "%s: empty file", path);
	}
	if ((uintmax_t)st.st_size > SIZE_MAX) {
		close(fd);
		return l32_err_set(err, L32_ERR_NOMEM, "%s: %jd bytes do not fit the address space",
		    path, (intmax_t)st.st_size);
	}
	addr = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	e = errno;
	close(fd); /* the mapping keeps the file open */
	if (addr == MAP_FAILED)
		return l32_err_set(err, L32_ERR_IO, "%s: mmap of %jd bytes: %s", path,
		    (intmax_t)st.st_size, strerror(e));
	m->addr = addr;
	m->len = (size_t)st.st_size;
	return 0;
}

/* Maps [p, p + n) into the page tables: MADV_POPULATE_READ, or a read
 * of every page where the kernel has no such advice. */
static void
populate(const unsigned char *p, size_t n)
{
	long page = sysconf(_SC_PAGESIZE);
	volatile unsigned char sink;

	if (madvise((void *)p, n, MADV_POPULATE_READ) == 0 || errno != EINVAL || page <= 0)
		return;
	for (size_t i = 0; i < n; i += (size_t)page)
		sink = p[i];
	(void)sink;
}

static void *
prefetch_main(void *arg)
{
	struct l32_prefetch *f = arg;
	size_t off = 0, n;

	while (off < f->len && !atomic_load_explicit(&f->stop, memory_order_relaxed)) {
		n = f->len - off < PREFETCH_STEP ? f->len - off : PREFETCH_STEP;
		populate(f->addr + off, n);
		off += n;
	}
	return NULL;
}

void
l32_mapfile_prefetch(struct l32_mapping *m)
{
	struct l32_prefetch *f;
	sigset_t all, old;
	int rc;

	if (m->addr == NULL || m->prefetch != NULL || (f = calloc(1, sizeof(*f))) == NULL)
		return;
	f->addr = m->addr;
	f->len = m->len;
	atomic_init(&f->stop, 0);
	/* signals stay with the threads that read and write */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&f->thread, NULL, prefetch_main, f);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		free(f);
		return;
	}
	m->prefetch = f;
}

void
l32_mapfile_close(struct l32_mapping *m)
{
	if (m->prefetch != NULL) {
		atomic_store(&m->prefetch->stop, 1);
		pthread_join(m->prefetch->thread, NULL);
		free(m->prefetch);
		m->prefetch = NULL;
	}
	if (m->addr != NULL)
		munmap(m->addr, m->len);
	m->addr = NULL;
	m->len = 0;
}
