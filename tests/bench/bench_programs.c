/*
 * bench_programs.c - the programs as a user runs them: whole processes of
 * l32-generate and l32-embed, timed from exec to their answers.
 *
 *   start-up: from exec to the first answer line of one request for one
 *     token (l32-generate, max_tokens 1) and of one short input
 *     (l32-embed), the best of 5 on a warm page cache (one untimed run
 *     first), with the time to exit beside it
 *   start-up with a prefix cache file: one request for one token behind
 *     a system message of about 100 words, with --prefix-cache FILE
 *     (written by an untimed run of the same system message and another
 *     user message, so it holds the whole blocks the two share), and the
 *     same request without it
 *   embedding throughput: l32-embed on 64 short inputs (about 15 tokens
 *     each), as 64 requests of one input each and as one request of 64
 *     inputs, inputs per second of the whole process (start-up included;
 *     one run each, after the start-up runs have warmed the page cache)
 *
 * The programs run with their defaults (all cores) on the model given;
 * their output is checked to be one answer per request, not an error.
 *
 * Environment: L32_BIN, the directory of the built programs.
 * usage: bench_programs model.gguf
 */
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "l32.h"
#include "prog/l32_prog.h"

#define STARTUP_RUNS 5
#define EMBED_INPUTS 64

extern char **environ;

static const char *label;
static char bin[4096];

/* How long a run of a program took. */
struct run {
	double first;  /* seconds from exec to the end of the first answer line */
	double exit;   /* to its exit */
	int lines;     /* answer lines */
	int errors;    /* of which error lines */
	long cached;   /* the first answer's usage.prompt_tokens_details.cached_tokens, or -1 */
	long prompt;   /* and its usage.prompt_tokens, or -1 */
};

/* A system message of about 100 words: with the chat header, 130 of the
 * prompt's positions, of which the first two blocks of 64 are the same
 * whatever the user message. */
static const char system_msg[] = "You are a careful assistant for a small public library. "
    "Answer questions about opening hours, borrowing rules, late fees, room bookings and the "
    "catalogue. Keep answers short and friendly, say when you do not know, and never invent "
    "a book that is not in the catalogue. Opening hours are nine to six on weekdays and ten "
    "to four on Saturdays; the library is closed on Sundays and public holidays. Members may "
    "borrow up to ten items for three weeks and renew them twice, online or at the desk.";

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The number after key in line (compact JSON), or -1. */
static long
usage_field(const char *line, const char *key)
{
	const char *p = strstr(line, key);

	return p != NULL ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* Reads the answers of a run from fd to its end: the time of the first
 * line's end into r->first, the count of lines and of error lines into
 * r->lines and r->errors. */
static void
read_answers(int fd, double t0, struct run *r, const char *prog)
{
	static char line[65536];   /* the first answer line, cut at its size */
	char buf[65536];
	size_t len = 0;
	int at_start = 1;
	ssize_t n;

	r->first = 0;
	r->lines = r->errors = 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++) {
			/* an error line starts {"error": (DESIGN.md, I/O rules) */
			if (at_start && n - i >= 9 && memcmp(buf + i, "{\"error\":", 9) == 0)
				r->errors++;
			at_start = buf[i] == '\n';
			if (r->lines == 0 && len < sizeof(line) - 1)
				line[len++] = buf[i];
			if (buf[i] == '\n' && r->lines++ == 0)
				r->first = now() - t0;
		}
	if (n < 0)
		err(3, "reading the output of %s", prog);
	line[len] = '\0';
	r->cached = usage_field(line, "\"cached_tokens\":");
	r->prompt = usage_field(line, "\"prompt_tokens\":");
}

/* Runs bin/prog -m model [opt arg] with input (a temporary file) as its
 * standard input; checks it exits 0 with lines answers. */
static struct run
run_prog(const char *prog, const char *model, const char *opt, const char *arg,
    FILE *input, int lines)
{
	char path[4200];
	char *argv[] = { path, "-m", (char *)model, (char *)opt, (char *)arg, NULL };
	posix_spawn_file_actions_t fa;
	struct run r;
	int out[2], status;
	double t0;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", bin, prog);
	if (fseek(input, 0, SEEK_SET) == -1 || pipe(out) == -1)
		err(3, "%s", prog);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fileno(input), 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_addclose(&fa, out[0]);
	t0 = now();
	if ((errno = posix_spawn(&pid, path, &fa, NULL, argv, environ)) != 0)
		err(3, "%s", path);
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	read_answers(out[0], t0, &r, prog);
	close(out[0]);
	if (waitpid(pid, &status, 0) == -1)
		err(3, "waitpid");
	r.exit = now() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		errx(3, "%s exited with status %d", prog, WIFEXITED(status) ?
		    WEXITSTATUS(status) : 128 + WTERMSIG(status));
	if (r.lines != lines || r.errors > 0)
		errx(3, "%s: %d answer lines, %d of them errors, for %d request%s", prog,
		    r.lines, r.errors, lines, lines > 1 ? "s" : "");
	return r;
}

/* A temporary file holding text. */
static FILE *
input_of(const char *text)
{
	FILE *f = tmpfile();

	if (f == NULL || fputs(text, f) == EOF || fflush(f) == EOF)
		err(3, "temporary file");
	return f;
}

/* The best of runs runs by time to the first answer, after one untimed
 * run that warms the page cache. */
static struct run
best_of(const char *prog, const char *model, const char *opt, const char *arg,
    const char *text, int runs)
{
	FILE *in = input_of(text);
	struct run best = run_prog(prog, model, opt, arg, in, 1);

	for (int i = 0; i < runs; i++) {
		struct run r = run_prog(prog, model, opt, arg, in, 1);

		if (i == 0 || r.first < best.first)
			best = r;
	}
	fclose(in);
	return best;
}

/* Short input i: a few words, different for each. */
static void
short_input(int i, char *buf, size_t size)
{
	static const char *const words[] = { "river", "stone", "cloud", "apple", "lamp",
	    "orbit", "paper", "violet", "copper", "ember", "quiet", "north" };

	snprintf(buf, size, "The %s near the %s is %s, said report %d.", words[i % 12],
	    words[(i * 5 + 3) % 12], words[(i * 7 + 1) % 12], i + 1);
}

static void
startup_lines(const char *model)
{
	struct run g, e;

	g = best_of("l32-generate", model, NULL, NULL,
	    "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"max_tokens\":1}\n",
	    STARTUP_RUNS);
	printf("%s: start-up, l32-generate, one request for one token, exec to the answer "
	    "(best of %d, warm page cache): %.3f s (exit %.3f s)\n", label, STARTUP_RUNS,
	    g.first, g.exit);
	e = best_of("l32-embed", model, NULL, NULL, "{\"input\":\"The food was delicious.\"}\n",
	    STARTUP_RUNS);
	printf("%s: start-up, l32-embed, one short input, exec to the answer (best of %d, "
	    "warm page cache): %.3f s (exit %.3f s)\n", label, STARTUP_RUNS, e.first, e.exit);
	fflush(stdout);
}

/* A request for one token: system_msg, then user message user. */
static void
system_request(const char *user, char *buf, size_t size)
{
	snprintf(buf, size, "{\"messages\":[{\"role\":\"system\",\"content\":\"%s\"},"
	    "{\"role\":\"user\",\"content\":\"%s\"}],\"max_tokens\":1}\n", system_msg, user);
}

static void
prefix_lines(const char *model)
{
	char dir[] = "/tmp/l32-bench-XXXXXX", file[64], req[1024];
	struct run r, c;
	FILE *in;

	if (mkdtemp(dir) == NULL)
		err(3, "mkdtemp");
	snprintf(file, sizeof(file), "%s/prefix", dir);
	/* the file: the blocks this request shares with the timed one */
	system_request("Hello there, are you open today?", req, sizeof(req));
	in = input_of(req);
	run_prog("l32-generate", model, "--prefix-cache", file, in, 1);
	fclose(in);
	system_request("Hi", req, sizeof(req));
	c = best_of("l32-generate", model, "--prefix-cache", file, req, STARTUP_RUNS);
	r = best_of("l32-generate", model, NULL, NULL, req, STARTUP_RUNS);
	unlink(file);
	rmdir(dir);
	if (c.cached <= 0 || r.cached != 0)
		errx(3, "l32-generate --prefix-cache: %ld cached prompt tokens from the file, %ld "
		    "without it", c.cached, r.cached);
	printf("%s: start-up, l32-generate --prefix-cache, one request for one token behind "
	    "a system message, %ld of its %ld prompt tokens from the file, exec to the answer "
	    "(best of %d, warm page cache): %.3f s (exit %.3f s)\n", label, c.cached, c.prompt,
	    STARTUP_RUNS, c.first, c.exit);
	printf("%s: start-up, l32-generate, the same request without the file (%ld prompt "
	    "tokens), exec to the answer (best of %d, warm page cache): %.3f s (exit %.3f s)\n",
	    label, r.prompt, STARTUP_RUNS, r.first, r.exit);
	fflush(stdout);
}

static void
embed_lines(const char *model)
{
	static char each[EMBED_INPUTS * 96], one[EMBED_INPUTS * 96];
	size_t ne = 0, no = 0;
	char text[80];
	struct run r;
	FILE *in;

	no += (size_t)snprintf(one, sizeof(one), "{\"input\":[");
	for (int i = 0; i < EMBED_INPUTS; i++) {
		short_input(i, text, sizeof(text));
		ne += (size_t)snprintf(each + ne, sizeof(each) - ne, "{\"input\":\"%s\"}\n", text);
		no += (size_t)snprintf(one + no, sizeof(one) - no, "%s\"%s\"", i ? "," : "", text);
	}
	snprintf(one + no, sizeof(one) - no, "]}\n");
	in = input_of(each);
	r = run_prog("l32-embed", model, NULL, NULL, in, EMBED_INPUTS);
	fclose(in);
	printf("%s: l32-embed, %d short inputs, one request each: %.1f inputs/s "
	    "(%.3f s, whole process)\n", label, EMBED_INPUTS, EMBED_INPUTS / r.exit, r.exit);
	in = input_of(one);
	r = run_prog("l32-embed", model, NULL, NULL, in, 1);
	fclose(in);
	printf("%s: l32-embed, %d short inputs in one request: %.1f inputs/s "
	    "(%.3f s, whole process)\n", label, EMBED_INPUTS, EMBED_INPUTS / r.exit, r.exit);
}

int
main(int argc, char **argv)
{
	const char *dir = getenv("L32_BIN");

	if (argc != 2) {
		fprintf(stderr, "usage: %s model\n", getprogname());
		return 2;
	}
	if (dir == NULL || *dir == '\0')
		errx(2, "L32_BIN is not set: the directory of l32-generate and l32-embed");
	strlcpy(bin, dir, sizeof(bin));
	label = strrchr(argv[1], '/') != NULL ? strrchr(argv[1], '/') + 1 : argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	startup_lines(argv[1]);
	prefix_lines(argv[1]);
	embed_lines(argv[1]);
	return ferror(stdout) ? 3 : 0;
}
