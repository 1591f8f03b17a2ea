/*
 * linereader.c - newline-delimited input from a file descriptor, plain or
 * gzip-compressed (detected by its magic bytes), with a line-length limit.
 *
 * zlib's gzread() fills its whole buffer before returning, which would stall
 * an interactive pipeline waiting for the answer to its first line, so input
 * is read with read(2) as it arrives and inflated here.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "prog/l32_prog.h"
#include "prog/linereader.h"

#define RAW_CHUNK (64 * 1024)

struct l32_linereader {
	int fd;
	int own_fd;
	char *name;
	size_t max_line;
	int eof;          /* no more raw input */
	int gzip;         /* -1 undecided, 0 plain, 1 gzip */
	int z_live;       /* inflate stream initialised */
	z_stream z;
	unsigned char *raw;  /* (RAW_CHUNK) bytes read, not yet inflated */
	size_t raw_off, raw_len;
	char *buf;        /* decoded bytes: [off, len) not yet returned */
	size_t off, len, cap;
	long lineno;
};

struct l32_linereader *
l32_linereader_open(const char *path, size_t max_line, struct l32_err *err)
{
	struct l32_linereader *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		return NULL;
	}
	r->gzip = -1;
	r->max_line = max_line;
	if (path == NULL || strcmp(path, "-") == 0) {
		r->fd = STDIN_FILENO;
		r->name = strdup("<stdin>");
	} else {
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
		r->own_fd = 1;
		r->name = strdup(path);
		if (r->fd == -1) {
			l32_err_set(err, L32_ERR_IO, "%s: %s", path, strerror(errno));
			free(r->name);
			free(r);
			return NULL;
		}
	}
	r->raw = malloc(RAW_CHUNK);
	if (r->name == NULL || r->raw == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		l32_linereader_close(r);
		return NULL;
	}
	return r;
}

void
l32_linereader_close(struct l32_linereader *r)
{
	if (r == NULL)
		return;
	if (r->z_live)
		inflateEnd(&r->z);
	if (r->own_fd && r->fd != -1)
		close(r->fd);
	free(r->raw);
	free(r->buf);
	free(r->name);
	free(r);
}

const char *
l32_linereader_name(const struct l32_linereader *r)
{
	return r->name;
}

/* Reads more raw bytes; 0 at end of input. */
static ssize_t
read_raw(struct l32_linereader *r, struct l32_err *err)
{
	ssize_t n;

	do
		n = read(r->fd, r->raw, RAW_CHUNK);
	while (n == -1 && errno == EINTR && !l32_filter_stopping());
	if (n == -1 && errno == EINTR)
		n = 0;  /* stopping: treat as the end of input */
	if (n == -1)
		return l32_err_set(err, L32_ERR_IO, "%s: %s", r->name, strerror(errno));
	r->raw_off = 0;
	r->raw_len = (size_t)n;
	return n;
}

static int
grow(struct l32_linereader *r, size_t need)
{
	size_t cap;
	char *p;

	if (r->off > 0) {  /* drop what was already returned */
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->len + need <= r->cap)
		return 0;
	cap = r->cap ? r->cap : RAW_CHUNK;
	while (cap < r->len + need)
		cap *= 2;
	if ((p = realloc(r->buf, cap)) == NULL)
		return -1;
	r->buf = p;
	r->cap = cap;
	return 0;
}

/* Moves decoded bytes into buf; 0 at end of input, -1 on error. */
static int
fill(struct l32_linereader *r, struct l32_err *err)
{
	ssize_t n;
	int zr;

	for (;;) {
		if (r->raw_off == r->raw_len) {
			if (r->eof)
				return 0;
			if ((n = read_raw(r, err)) == -1)
				return -1;
			if (n == 0) {
				r->eof = 1;
				if (r->gzip == 1 && r->z_live)
					return l32_err_set(err, L32_ERR_IO,
					    "%s: gzip stream is truncated", r->name);
				return 0;
			}
		}
		if (r->gzip == -1) {
			/* Two bytes decide; a one-byte file is plain. */
			if (r->raw_len - r->raw_off >= 2 || r->eof)
				r->gzip = r->raw_len - r->raw_off >= 2 &&
				    r->raw[r->raw_off] == 0x1f && r->raw[r->raw_off + 1] == 0x8b;
			else if (r->raw_len - r->raw_off == 1) {
				unsigned char first = r->raw[r->raw_off];

				if (first != 0x1f)
					r->gzip = 0;
				else {  /* wait for the second byte */
					do
						n = read(r->fd, r->raw + 1, RAW_CHUNK - 1);
					while (n == -1 && errno == EINTR && !l32_filter_stopping());
					if (n == -1 && errno == EINTR)
						n = 0;
					if (n == -1)
						return l32_err_set(err, L32_ERR_IO, "%s: %s", r->name, strerror(errno));
					r->raw[0] = first;
					r->raw_off = 0;
					r->raw_len = 1 + (size_t)n;
					if (n == 0)
						r->eof = 1;
					continue;
				}
			}
		}
		if (r->gzip == 0) {
			size_t k = r->raw_len - r->raw_off;

			if (grow(r, k) == -1)
				return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
			memcpy(r->buf + r->len, r->raw + r->raw_off, k);
			r->len += k;
			r->raw_off = r->raw_len;
			return 1;
		}
		if (!r->z_live) {
			memset(&r->z, 0, sizeof(r->z));
			if (inflateInit2(&r->z, 15 + 16) != Z_OK)
				return l32_err_set(err, L32_ERR_NOMEM, "%s: cannot start gzip decoder", r->name);
			r->z_live = 1;
		}
		if (grow(r, RAW_CHUNK) == -1)
			return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
		r->z.next_in = r->raw + r->raw_off;
		r->z.avail_in = (uInt)(r->raw_len - r->raw_off);
		r->z.next_out = (Bytef *)r->buf + r->len;
		r->z.avail_out = RAW_CHUNK;
		zr = inflate(&r->z, Z_NO_FLUSH);
		r->raw_off = r->raw_len - r->z.avail_in;
		r->len += RAW_CHUNK - r->z.avail_out;
		if (zr == Z_STREAM_END) {
			/* Concatenated members (as `cat a.gz b.gz`) continue. */
			inflateEnd(&r->z);
			r->z_live = 0;
		} else if (zr != Z_OK && zr != Z_BUF_ERROR)
			return l32_err_set(err, L32_ERR_IO, "%s: corrupt gzip data: %s",
			    r->name, r->z.msg ? r->z.msg : "inflate failed");
		if (RAW_CHUNK - r->z.avail_out > 0)
			return 1;
	}
}

/*
 * Returns the next line (without its newline) in *line / *len: 1 a line,
 * 0 end of input, -1 an I/O error.  A line longer than max_line is skipped
 * to its end and returned with *too_long set and *len = bytes seen, so the
 * caller can answer it with an error and go on.
 */
int
l32_linereader_next(struct l32_linereader *r, const char **line, size_t *len,
    int *too_long, struct l32_err *err)
{
	size_t seen = 0, skipped = 0; /* seen: bytes after off already searched */
	char *nl = NULL;
	int rc;

	*too_long = 0;
	for (;;) {
		if (r->len > r->off + seen)
			nl = memchr(r->buf + r->off + seen, '\n', r->len - r->off - seen);
		if (nl != NULL)
			break;
		seen = r->len - r->off;
		if (seen > r->max_line) {
			/* Over the limit: forget the bytes, keep counting. */
			skipped += seen;
			r->off = r->len = 0;
			seen = 0;
			*too_long = 1;
		}
		if ((rc = fill(r, err)) == -1)
			return -1;
		if (rc == 0) {
			/* A line cut short by SIGINT/SIGTERM is not answered. */
			if ((r->len == r->off && !*too_long) || l32_filter_stopping())
				return 0;
			/* A last line without its newline. */
			if (grow(r, 1) == -1)
				return l32_err_set(err, L32_ERR_NOMEM, "out of memory");
			nl = r->buf + r->len;
			break;
		}
	}
	r->lineno++;
	*line = r->buf + r->off;
	*len = (size_t)(nl - (r->buf + r->off));
	/* a UTF-8 byte-order mark before the first line is not part of it
	 * (editors on Windows write one); jq skips it the same way */
	if (r->lineno == 1 && !*too_long && *len >= 3 && memcmp(*line, "\xef\xbb\xbf", 3) == 0) {
		*line += 3;
		*len -= 3;
	}
	if (*len > r->max_line)
		*too_long = 1;
	if (*too_long)
		*len += skipped;
	r->off = (size_t)(nl - r->buf) + (nl < r->buf + r->len ? 1 : 0);
	return 1;
}

long
l32_linereader_lineno(const struct l32_linereader *r)
{
	return r->lineno;
}

int
l32_linereader_ready(struct l32_linereader *r)
{
	struct pollfd pfd = { r->fd, POLLIN, 0 };

	if (r->eof || r->raw_off < r->raw_len)
		return 1;
	if (r->len > r->off && memchr(r->buf + r->off, '\n', r->len - r->off) != NULL)
		return 1;
	return poll(&pfd, 1, 0) > 0;
}
