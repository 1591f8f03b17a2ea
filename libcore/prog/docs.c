/*
 * docs.c - whole-file input: each file becomes one request line,
 *
 *   {"input": "<the file's text>", "metadata": {"file": "<name>"}}
 *
 * written by a thread into a pipe that replaces standard input, so the
 * request loop (filter.c) reads documents as it reads lines: the same
 * checks, error lines, Batch rules, --raw output and exit statuses.  The
 * file name comes back on the answer through metadata.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "prog/l32_prog.h"

static struct {
	pthread_t thread;
	int running;
	char *const *files;
	int nfiles;
	int stdin_fd;        /* the standard input the program was given */
	int out_fd;          /* the pipe's write end */
	int failed;
	struct l32_err err;
} feed;

/* Reads a file whole, inflating it when it is gzip (zlib passes plain
 * files through).  Takes fd. */
static int
read_whole(const char *name, int fd, struct l32_buf *out, struct l32_err *err)
{
	char buf[65536];
	gzFile gz;
	int n, errnum;

	if ((gz = gzdopen(fd, "rb")) == NULL) {
		close(fd);
		return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", name);
	}
	while ((n = gzread(gz, buf, sizeof(buf))) > 0)
		if (l32_buf_append(out, buf, (size_t)n) == -1) {
			gzclose(gz);
			return l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", name);
		}
	if (n < 0) {
		const char *msg = gzerror(gz, &errnum);

		l32_err_set(err, L32_ERR_IO, "%s: %s", name,
		    errnum == Z_ERRNO ? strerror(errno) : msg);
		gzclose(gz);
		return -1;
	}
	gzclose(gz);
	return 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One file as a request line on the pipe. */
static int
send_file(const char *name, struct l32_err *err)
{
	struct l32_buf raw = { 0 }, text = { 0 }, fname = { 0 };
	json_t *line = NULL;
	char *s = NULL;
	size_t bom;
	int fd, rc = -1;

	if (strcmp(name, "-") == 0)
		fd = dup(feed.stdin_fd);
	else
		fd = open(name, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		l32_err_set(err, L32_ERR_IO, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (read_whole(name, fd, &raw, err) == -1)
		goto out;
	/* a UTF-8 byte-order mark is not part of the text */
	bom = raw.len >= 3 && memcmp(raw.data, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
	/* JSON strings are UTF-8: ill-formed bytes become U+FFFD */
	if (l32_utf8_sanitize(&text, raw.data ? raw.data + bom : "", raw.len - bom) == -1 ||
	    l32_utf8_sanitize(&fname, name, strlen(name)) == -1 ||
	    (line = json_pack("{s:s%, s:{s:s%}}", "input", text.data ? text.data : "", text.len,
	    "metadata", "file", fname.data, fname.len)) == NULL ||
	    (s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
		l32_err_set(err, L32_ERR_NOMEM, "%s: out of memory", name);
		goto out;
	}
	if (write_all(feed.out_fd, s, strlen(s)) == -1 || write_all(feed.out_fd, "\n", 1) == -1) {
		/* the reader stopped: nothing more to send */
		rc = 0;
		goto out;
	}
	rc = 0;
out:
	free(s);
	json_decref(line);
	l32_buf_free(&raw);
	l32_buf_free(&text);
	l32_buf_free(&fname);
	return rc;
}

static void *
run(void *arg)
{
	static char *const dash[] = { "-" };
	char *const *files = feed.nfiles > 0 ? feed.files : dash;
	int i, n = feed.nfiles > 0 ? feed.nfiles : 1;
	sigset_t set;

	/* a reader that stops early makes write fail with EPIPE, not kill */
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	/* SIGINT and SIGTERM go to the request loop's thread, whose reads
	 * they interrupt */
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (i = 0; i < n; i++)
		if (send_file(files[i], &feed.err) == -1) {
			feed.failed = 1;
			break;
		}
	close(feed.out_fd);
	return arg;
}

int
l32_docs_feed(char *const *files, int nfiles, struct l32_err *err)
{
	int p[2];

	memset(&feed, 0, sizeof(feed));
	feed.files = files;
	feed.nfiles = nfiles;
	if ((feed.stdin_fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3)) == -1 && nfiles == 0)
		return l32_err_set(err, L32_ERR_IO, "standard input: %s", strerror(errno));
	if (pipe(p) == -1)
		return l32_err_set(err, L32_ERR_IO, "pipe: %s", strerror(errno));
	fcntl(p[1], F_SETFD, FD_CLOEXEC);
	if (dup2(p[0], STDIN_FILENO) == -1) {
		close(p[0]);
		close(p[1]);
		return l32_err_set(err, L32_ERR_IO, "standard input: %s", strerror(errno));
	}
	close(p[0]);
	feed.out_fd = p[1];
	if (pthread_create(&feed.thread, NULL, run, NULL) != 0) {
		close(p[1]);
		return l32_err_set(err, L32_ERR_NOMEM, "cannot start a thread to read the files");
	}
	feed.running = 1;
	return 0;
}

int
l32_docs_wait(struct l32_err *err)
{
	if (!feed.running)
		return 0;
	/* the reader may have stopped early; unblock the writer */
	close(STDIN_FILENO);
	pthread_join(feed.thread, NULL);
	feed.running = 0;
	if (feed.stdin_fd >= 0)
		close(feed.stdin_fd);
	if (feed.failed) {
		*err = feed.err;
		return -1;
	}
	return 0;
}
