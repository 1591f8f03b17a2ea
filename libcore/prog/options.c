/*
 * options.c - the command-line options the programs share (-m, -t, -c,
 * -b, --kv-f16, --cache-mem, --prefix-cache, --chat-format, --date, --max-line, --progress, -r, -T,
 * --max-tokens, --seed, --temperature), read the same way everywhere,
 * and the getopt_long tables that join them to a program's own.
 */
#include <err.h>
#include <getopt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prog/l32_prog.h"

int
l32_common_init(struct l32_common *c, long long batch)
{
	memset(c, 0, sizeof(*c));
	l32_filter_opts_init(&c->fo);
	c->batch = batch;
	c->temperature = -1;
	c->cache_mem = -1;
	if (l32_env_num("L32_CTX", 16, 1 << 20, &c->ctx) == -1 ||
	    l32_env_num("L32_THREADS", 1, 1024, &c->threads) == -1)
		return -1;
	return 0;
}

/* --cache-mem BYTES: a count of bytes, or of KiB, MiB, GiB with a k, M
 * or G after it. */
static int
cache_mem(struct l32_common *c, const char *arg)
{
	char num[32];
	size_t n = strlen(arg);
	int shift = 0;
	long long v;

	if (n > 0 && n < sizeof(num)) {
		switch (arg[n - 1]) {
		case 'k': case 'K': shift = 10; break;
		case 'm': case 'M': shift = 20; break;
		case 'g': case 'G': shift = 30; break;
		}
	}
	if (shift == 0)
		return l32_opt_num("--cache-mem", arg, 0, 1LL << 50, &c->cache_mem) == -1 ? -1 : 1;
	memcpy(num, arg, n - 1);
	num[n - 1] = '\0';
	if (l32_opt_num("--cache-mem", num, 0, (1LL << 50) >> shift, &v) == -1)
		return -1;
	c->cache_mem = v << shift;
	return 1;
}

static int
chat_format(struct l32_common *c, const char *arg)
{
	if (strcmp(arg, "meta") == 0)
		c->chat_format = L32_CHAT_META;
	else if (strcmp(arg, "hf") == 0)
		c->chat_format = L32_CHAT_HF;
	else {
		warnx("--chat-format %s: expected hf or meta", arg);
		return -1;
	}
	return 1;
}

int
l32_common_opt(struct l32_common *c, int ch, const char *arg)
{
	long long v;

	switch (ch) {
	case L32_OPT_BATCH:
		if (strcmp(arg, "auto") == 0) {
			c->batch = L32_BATCH_AUTO;
			return 1;
		}
		return l32_opt_num("--batch", arg, 1, 256, &c->batch) == -1 ? -1 : 1;
	case L32_OPT_CTX:
		return l32_opt_num("--ctx", arg, 16, 1 << 20, &c->ctx) == -1 ? -1 : 1;
	case L32_OPT_THREADS:
		return l32_opt_num("--threads", arg, 1, 1024, &c->threads) == -1 ? -1 : 1;
	case L32_OPT_MODEL: c->model = arg; return 1;
	case L32_OPT_RAW: c->fo.raw = 1; return 1;
	case L32_OPT_TEXT: c->fo.text = 1; return 1;
	case L32_OPT_PROGRESS: c->fo.progress = 1; return 1;
	case L32_OPT_KV_F16: c->kv_f16 = 1; return 1;
	case L32_OPT_CHECK_WEIGHTS: c->check_weights = 1; return 1;
	case L32_OPT_DATE: c->date = arg; return 1;
	case L32_OPT_CHAT_FORMAT: return chat_format(c, arg);
	case L32_OPT_CACHE_MEM: return cache_mem(c, arg);
	case L32_OPT_PREFIX_CACHE:
		if (*arg == '\0') {
			warnx("--prefix-cache: expected a file name");
			return -1;
		}
		c->prefix_cache = arg;
		return 1;
	case L32_OPT_MAX_LINE:
		if (l32_opt_num("--max-line", arg, 1, 1LL << 40, &v) == -1)
			return -1;
		c->fo.max_line = (size_t)v;
		return 1;
	case L32_OPT_MAX_TOKENS:
		return l32_opt_num("--max-tokens", arg, 1, INT32_MAX, &c->max_tokens) == -1 ? -1 : 1;
	case L32_OPT_SEED:
		if (l32_opt_num("--seed", arg, INT64_MIN, INT64_MAX, &v) == -1)
			return -1;
		c->seed = (uint64_t)v;
		c->has_seed = 1;
		return 1;
	case L32_OPT_TEMPERATURE:
		return l32_opt_real("--temperature", arg, 0, 2, &c->temperature) == -1 ? -1 : 1;
	default:
		return 0;
	}
}

void
l32_common_gen_defaults(const struct l32_common *c, const struct l32_model *m,
    struct l32_gen_params *p)
{
	l32_gen_params_init(p);
	l32_gen_params_from_model(p, m);  /* the command line wins over the model */
	if (c->temperature >= 0)
		p->sampling.temperature = (float)c->temperature;
	if (c->max_tokens > 0) {
		p->max_tokens = (int32_t)c->max_tokens;
		p->has_max_tokens = 1;
	}
	if (c->has_seed)
		p->seed = c->seed;
}

/* ------------------------------------------------------------ the tables */

struct shared_opt {
	unsigned takes;     /* 0: every program */
	const char *name;
	int has_arg;
	int val;
	const char *shortopt;   /* its letter in getopt's syntax, or NULL */
};

static const struct shared_opt shared_opts[] = {
	{ 0, "help", no_argument, 'h', "h" },
	{ 0, "version", no_argument, 'V', "V" },
	{ L32_TAKES_FILTER, "raw", no_argument, L32_OPT_RAW, "r" },
	{ L32_TAKES_FILTER, "text", no_argument, L32_OPT_TEXT, "T" },
	{ L32_TAKES_FILTER, "max-line", required_argument, L32_OPT_MAX_LINE, NULL },
	{ L32_TAKES_FILTER, "progress", no_argument, L32_OPT_PROGRESS, NULL },
	{ L32_TAKES_MODEL, "model", required_argument, L32_OPT_MODEL, "m:" },
	{ L32_TAKES_ENGINE, "check-weights", no_argument, L32_OPT_CHECK_WEIGHTS, NULL },
	{ L32_TAKES_ENGINE, "batch", required_argument, L32_OPT_BATCH, "b:" },
	{ L32_TAKES_ENGINE, "ctx", required_argument, L32_OPT_CTX, "c:" },
	{ L32_TAKES_ENGINE, "threads", required_argument, L32_OPT_THREADS, "t:" },
	{ L32_TAKES_ENGINE, "kv-f16", no_argument, L32_OPT_KV_F16, NULL },
	{ L32_TAKES_CHAT, "chat-format", required_argument, L32_OPT_CHAT_FORMAT, NULL },
	{ L32_TAKES_CHAT, "date", required_argument, L32_OPT_DATE, NULL },
	{ L32_TAKES_GEN, "cache-mem", required_argument, L32_OPT_CACHE_MEM, NULL },
	{ L32_TAKES_GEN, "prefix-cache", required_argument, L32_OPT_PREFIX_CACHE, NULL },
	{ L32_TAKES_GEN, "max-tokens", required_argument, L32_OPT_MAX_TOKENS, NULL },
	{ L32_TAKES_GEN, "seed", required_argument, L32_OPT_SEED, NULL },
	{ L32_TAKES_GEN, "temperature", required_argument, L32_OPT_TEMPERATURE, NULL },
};
#define N_SHARED (sizeof(shared_opts) / sizeof(shared_opts[0]))

static int
takes(unsigned mask, const struct shared_opt *o)
{
	return o->takes == 0 || (mask & o->takes) != 0;
}

/* 1 when ch is a shared option the program takes (a program's own option
 * may use the letter of a shared one it does not take: l32-tokenize -c). */
static int
shared(unsigned mask, int ch)
{
	for (size_t i = 0; i < N_SHARED; i++)
		if (shared_opts[i].val == ch)
			return takes(mask, &shared_opts[i]);
	return 0;
}

int
l32_program_init(struct l32_program *p, unsigned mask, long long batch,
    const char *own_short, const struct option *own_long)
{
	size_t n_own = 0, n = 0;

	memset(p, 0, sizeof(*p));
	p->takes = mask;
	p->batch_default = batch;
	if (l32_common_init(&p->opt, batch) == -1)
		return -1;
	while (own_long != NULL && own_long[n_own].name != NULL)
		n_own++;
	/* held in the struct: a program may return at -V without closing it */
	if (N_SHARED + n_own > L32_PROG_MAX_OPTS) {
		warnx("%zu options do not fit the option table", N_SHARED + n_own);
		return -1;
	}
	for (size_t i = 0; i < N_SHARED; i++) {
		const struct shared_opt *o = &shared_opts[i];

		if (!takes(mask, o))
			continue;
		p->longopts[n++] = (struct option){ o->name, o->has_arg, NULL, o->val };
		if (o->shortopt != NULL)
			strlcat(p->shortopts, o->shortopt, sizeof(p->shortopts));
	}
	for (size_t i = 0; i < n_own; i++) {
		/* a program's own value must not be a shared option's: getopt
		 * would hand it to the wrong one */
		for (size_t j = 0; j < N_SHARED; j++)
			if (own_long[i].val == shared_opts[j].val) {
				warnx("--%s: its getopt value is --%s's", own_long[i].name,
				    shared_opts[j].name);
				return -1;
			}
		p->longopts[n++] = own_long[i];
	}
	if (own_short != NULL &&
	    strlcat(p->shortopts, own_short, sizeof(p->shortopts)) >= sizeof(p->shortopts)) {
		warnx("the option letters do not fit the option table");
		return -1;
	}
	return 0;
}

int
l32_program_getopt(struct l32_program *p, int argc, char *const argv[])
{
	int ch, r;

	while ((ch = getopt_long(argc, argv, p->shortopts, p->longopts, NULL)) != -1) {
		if (ch == 'h' || ch == 'V' || ch == '?' || !shared(p->takes, ch))
			return ch;
		if ((r = l32_common_opt(&p->opt, ch, optarg)) == 0)
			return ch;
		if (r == -1)
			return '?';
	}
	return -1;
}
