/*
 * options.c - the command-line options the programs share (-m, -t, -c,
 * -b, --kv-f16, --chat-format, --date, --max-line, --progress, -r, -T,
 * --max-tokens, --seed, --temperature), read the same way everywhere.
 */
#include <err.h>
#include <stdint.h>
#include <string.h>

#include "l32.h"

int
l32_common_init(struct l32_common *c, long long batch)
{
	memset(c, 0, sizeof(*c));
	l32_filter_opts_init(&c->fo);
	c->batch = batch;
	c->temperature = -1;
	if (l32_env_num("L32_CTX", 16, 1 << 20, &c->ctx) == -1 ||
	    l32_env_num("L32_THREADS", 1, 1024, &c->threads) == -1)
		return -1;
	return 0;
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
