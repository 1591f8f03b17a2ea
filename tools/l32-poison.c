/*
 * l32-poison - copies a GGUF model and writes NaN or infinity over the
 * first values of one of its F32 tensors: the damaged model the tests of
 * non-finite activations need (a bad disk, a broken conversion).
 *
 *   l32-poison [-i] [-n count] [-r row] in.gguf tensor out.gguf
 *   l32-poison -l in.gguf          lists the tensors: name, type, offset
 *
 * -i writes +infinity instead of NaN; -n how many values (default 64);
 * -r the row they start at (default 0).
 */
#include <err.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/gguf.h"
#include "l32.h"
#include "prog/l32_prog.h"
#include "base/mapfile.h"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: %s [-i] [-n count] [-r row] in.gguf tensor out.gguf\n"
	    "       %s -l in.gguf\n", getprogname(), getprogname());
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct l32_mapping mf;
	struct l32_err e;
	struct l32_gguf *g;
	const struct l32_gguf_tensor *t;
	const char *errstr;
	long long count = 64, row = 0;
	int ch, list = 0, inf = 0, fd;
	float v;
	size_t off, i;
	char *copy;

	while ((ch = getopt(argc, argv, "iln:r:")) != -1) {
		switch (ch) {
		case 'i': inf = 1; break;
		case 'l': list = 1; break;
		case 'n':
			count = strtonum(optarg, 1, 1 << 30, &errstr);
			if (errstr != NULL)
				errx(2, "-n %s: %s", optarg, errstr);
			break;
		case 'r':
			row = strtonum(optarg, 0, 1LL << 40, &errstr);
			if (errstr != NULL)
				errx(2, "-r %s: %s", optarg, errstr);
			break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != (list ? 1 : 3))
		usage();
	l32_err_clear(&e);
	if (l32_mapfile_open(argv[0], &mf, &e) == -1 ||
	    (g = l32_gguf_parse(mf.addr, mf.len, argv[0], &e)) == NULL)
		errx(1, "%s", e.msg);
	if (list) {
		for (i = 0; i < g->n_tensors; i++)
			printf("%s\t%d\t%zu\n", g->tensors[i].name, (int)g->tensors[i].type,
			    (size_t)((const char *)g->tensors[i].data - (const char *)mf.addr));
		return 0;
	}
	if ((t = l32_gguf_find_tensor(g, argv[1])) == NULL)
		errx(1, "%s: no tensor %s", argv[0], argv[1]);
	if (t->type != L32_TYPE_F32)
		errx(1, "%s: tensor %s is not F32", argv[0], argv[1]);
	off = (size_t)row * (size_t)t->ne[0] * sizeof(float);
	if (off + (size_t)count * sizeof(float) > t->nbytes)
		errx(1, "%s: tensor %s holds %zu bytes, fewer than row %lld and %lld values",
		    argv[0], argv[1], t->nbytes, row, count);
	if ((copy = malloc(mf.len)) == NULL)
		err(1, "malloc");
	memcpy(copy, mf.addr, mf.len);
	v = inf ? INFINITY : NAN;
	for (i = 0; i < (size_t)count; i++)
		memcpy(copy + ((const char *)t->data - (const char *)mf.addr) + off + i * sizeof(float),
		    &v, sizeof(v));
	if ((fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
		err(1, "%s", argv[2]);
	for (off = 0; off < mf.len; ) {
		ssize_t w = write(fd, copy + off, mf.len - off);

		if (w <= 0)
			err(1, "%s", argv[2]);
		off += (size_t)w;
	}
	if (close(fd) == -1)
		err(1, "%s", argv[2]);
	free(copy);
	l32_gguf_free(g);
	l32_mapfile_close(&mf);
	return 0;
}
