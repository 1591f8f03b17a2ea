/* mapfile.c - mapping model files read-only, so processes share the pages. */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "base/mapfile.h"

int
l32_mapfile_open(const char *path, struct l32_mapping *m, struct l32_err *err)
{
	struct stat st;
	void *addr;
	int fd, e;

	m->addr = NULL;
	m->len = 0;
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

void
l32_mapfile_close(struct l32_mapping *m)
{
	if (m->addr != NULL)
		munmap(m->addr, m->len);
	m->addr = NULL;
	m->len = 0;
}
