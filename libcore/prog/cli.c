/* cli.c - what every program's command line shares: model path, chat
 * date, numeric options. */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "prog/l32_prog.h"

const char *
l32_model_path(const char *arg, char *buf, size_t size)
{
	const char *s;

	if (arg != NULL)
		return arg;
	if ((s = getenv("L32_MODEL")) != NULL && *s != '\0')
		return s;
	if ((s = getenv("XDG_DATA_HOME")) != NULL && *s != '\0')
		snprintf(buf, size, "%s/l32/model.gguf", s);
	else if ((s = getenv("HOME")) != NULL && *s != '\0')
		snprintf(buf, size, "%s/.local/share/l32/model.gguf", s);
	else
		snprintf(buf, size, "l32/model.gguf");
	return buf;
}

int
l32_chat_date(const char *arg, char *buf, size_t size, struct l32_err *err)
{
	static const char *const mon[12] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	const char *s = arg;
	struct tm tm;
	time_t t;

	if (s == NULL && ((s = getenv("L32_DATE")) == NULL || *s == '\0'))
		s = L32_DEFAULT_DATE;
	if (l32_opt_text(NULL, s) == -1)
		return l32_err_set(err, L32_ERR_INVALID, "the date is empty");
	if (strcmp(s, "today") != 0) {
		if (strlen(s) >= size)
			return l32_err_set(err, L32_ERR_INVALID, "date \"%s\" is too long", s);
		strlcpy(buf, s, size);
		return 0;
	}
	/* strftime("%d %b %Y") in the C locale, whatever the user's locale. */
	t = time(NULL);
	if (localtime_r(&t, &tm) == NULL)
		return l32_err_set(err, L32_ERR_INVALID, "cannot read the current date");
	snprintf(buf, size, "%02d %s %04d", tm.tm_mday, mon[tm.tm_mon], tm.tm_year + 1900);
	return 0;
}

int
l32_opt_num(const char *opt, const char *s, long long lo, long long hi, long long *out)
{
	const char *errstr;
	long long v;

	v = strtonum(s, lo, hi, &errstr);
	if (errstr != NULL) {
		warnx("%s %s: value is %s (%lld..%lld)", opt, s, errstr, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

int
l32_opt_text(const char *opt, const char *s)
{
	const char *p;

	for (p = s; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	if (*p != '\0')
		return 0;
	if (opt != NULL)
		warnx("%s: the text is empty", opt);
	return -1;
}
