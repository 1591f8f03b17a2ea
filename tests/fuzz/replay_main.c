/*
 * replay_main.c - runs a libFuzzer target over files named on the command
 * line (its seed corpus), so `make check` exercises every seed with the
 * normal compiler and `make check-asan` under the sanitizers.
 */
#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
main(int argc, char **argv)
{
	int i, n = 0;

	for (i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t *buf = NULL;
		size_t len = 0, cap = 0, got;

		if (f == NULL)
			err(1, "%s", argv[i]);
		do {
			if (len == cap) {
				cap = cap ? cap * 2 : 4096;
				if ((buf = realloc(buf, cap)) == NULL)
					err(1, NULL);
			}
			got = fread(buf + len, 1, cap - len, f);
			len += got;
		} while (got > 0);
		if (ferror(f))
			err(1, "%s", argv[i]);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
		n++;
	}
	printf("%d inputs replayed\n", n);
	return 0;
}
