/*
 * numrange.c - numbers between bounds as GBNF, digit by digit: the
 * decimal strings of an interval are a regular language, written as
 * alternatives over the leading digits (the way a range of integers is
 * split into [lo, 99..9], full decades and [10..0, hi]); fractions are
 * compared digit by digit with the bounds' own.  Exact, but over bounded
 * lengths: integers have at most 18 digits, fractions at most 15, and a
 * bounded number has no exponent.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar_int.h"

#define MAX_INT_DIGITS 18
#define MAX_FRAC_DIGITS 15

/* Digit strings (of at most rem digits) whose value as 0.<digits> lies
 * above lo (lk: 0 none, 1 >=, 2 >) and below hi (hk: 0 none, 1 <=, 2 <);
 * lo and hi are digit strings without trailing zeros.  Appends the
 * alternatives as a GBNF group and returns 1, or 0 when there are none.
 * At the top (top set) the empty string is left out and *eps says whether
 * it qualifies; below, it is one of the alternatives. */
static int
frac_set(struct l32_buf *b, const char *lo, int lk, const char *hi, int hk, int rem,
    int top, int *eps)
{
	struct l32_buf t = { 0 }, sub = { 0 };
	const char *lo1 = *lo ? lo + 1 : lo, *hi1 = *hi ? hi + 1 : hi;
	int a, z, n = 0, end_ok, e;

	if (lk == 1 && *lo == '\0')
		lk = 0;  /* >= 0.000...: anything */
	end_ok = lk == 0 && (hk == 0 || hk == 1 || *hi != '\0');
	if (top)
		*eps = end_ok;
	if (lk == 0 && hk == 0) {
		if (top && rem == 0)
			return 0;
		l32_buf_printf(b, "[0-9]{%d,%d}", top ? 1 : 0, rem);
		return 1;
	}
	a = lk ? (*lo ? *lo - '0' : 0) : -1;  /* the bounds' digits here */
	z = hk ? (*hi ? *hi - '0' : 0) : 10;
	l32_buf_puts(&t, "(");
	if (end_ok && !top) {
		l32_buf_puts(&t, " \"\"");
		n++;
	}
	if (rem > 0) {
		if (a + 1 <= z - 1)  /* both bounds met by this digit */
			l32_buf_printf(&t, "%s[%d-%d] [0-9]{0,%d}", n++ ? " | " : " ", a + 1, z - 1, rem - 1);
		if (lk && hk && a == z) {
			if (frac_set(&sub, lo1, lk, hi1, hk, rem - 1, 0, &e))
				l32_buf_printf(&t, "%s\"%d\" %s", n++ ? " | " : " ", a, sub.data);
		} else {
			if (lk && a < z && frac_set(&sub, lo1, lk, "", 0, rem - 1, 0, &e))
				l32_buf_printf(&t, "%s\"%d\" %s", n++ ? " | " : " ", a, sub.data);
			l32_buf_reset(&sub);
			if (hk && z > a && frac_set(&sub, "", 0, hi1, hk, rem - 1, 0, &e))
				l32_buf_printf(&t, "%s\"%d\" %s", n++ ? " | " : " ", z, sub.data);
		}
	}
	l32_buf_puts(&t, " )");
	if (n > 0)
		l32_buf_puts(b, t.data);
	l32_buf_free(&t);
	l32_buf_free(&sub);
	return n > 0;
}

/* Appends the optional fraction part: "." then digits in the set above. */
static int
frac_part(struct l32_buf *b, const char *lo, int lk, const char *hi, int hk)
{
	struct l32_buf f = { 0 };
	int eps = 0, some;

	some = frac_set(&f, lo, lk, hi, hk, MAX_FRAC_DIGITS, 1, &eps);
	if (some && eps)
		l32_buf_printf(b, "( \"\" | \".\" %s )", f.data);
	else if (some)
		l32_buf_printf(b, "\".\" %s", f.data);
	else if (eps)
		l32_buf_puts(b, "\"\"");
	l32_buf_free(&f);
	return some || eps;
}

/* Digit strings of exactly len(lo) == len(hi) digits between lo and hi
 * inclusive (leading zeros allowed). */
static void
digits_between(struct l32_buf *b, const char *lo, const char *hi)
{
	size_t n = strlen(lo);

	if (n == 0) {
		l32_buf_puts(b, "\"\"");
		return;
	}
	if (strspn(lo, "0") == n && strspn(hi, "9") == n) {
		l32_buf_printf(b, "[0-9]{%zu}", n);
		return;
	}
	if (lo[0] == hi[0]) {
		l32_buf_printf(b, "\"%c\" ", lo[0]);
		digits_between(b, lo + 1, hi + 1);
		return;
	}
	{
		char nines[32], zeros[32];

		memset(nines, '9', n - 1);
		nines[n - 1] = '\0';
		memset(zeros, '0', n - 1);
		zeros[n - 1] = '\0';
		l32_buf_printf(b, "( \"%c\" ", lo[0]);
		digits_between(b, lo + 1, nines);
		if (lo[0] + 1 <= hi[0] - 1)
			l32_buf_printf(b, " | [%c-%c] [0-9]{%zu}", lo[0] + 1, hi[0] - 1, n - 1);
		l32_buf_printf(b, " | \"%c\" ", hi[0]);
		digits_between(b, zeros, hi + 1);
		l32_buf_puts(b, " )");
	}
}

/* Decimal integers (no sign, no leading zeros) in [lo, hi]; hi < 0 means
 * no upper bound (up to maxd digits).  Appends alternatives to b. */
static int
uint_range(struct l32_buf *b, long long lo, long long hi, int maxd)
{
	char a[32], z[32];
	int len, n = 0;
	long long p, first, last;

	l32_buf_puts(b, "(");
	for (len = 1, p = 1; len <= maxd; len++, p *= 10) {
		first = len == 1 ? 0 : p;
		last = len >= 19 ? INT64_MAX : p * 10 - 1;
		if (first < lo)
			first = lo;
		if (hi >= 0 && last > hi)
			last = hi;
		if (first > last)
			continue;
		snprintf(a, sizeof(a), "%lld", first);
		snprintf(z, sizeof(z), "%lld", last);
		l32_buf_puts(b, n++ ? " | " : " ");
		digits_between(b, a, z);
		if (hi >= 0 && last >= hi)
			break;
	}
	l32_buf_puts(b, " )");
	return n;
}

/* Integers in [lo, hi]; has_lo / has_hi say which bounds exist.  0 when
 * none qualify. */
int
g_int_range(struct l32_buf *b, int has_lo, long long lo, int has_hi, long long hi)
{
	int n = 0;

	if (has_lo && has_hi && lo > hi)
		return 0;
	l32_buf_puts(b, "(");
	if (!has_lo || lo < 0) {  /* "-" then magnitudes in [max(1, -hi), -lo] */
		l32_buf_puts(b, " \"-\" ");
		uint_range(b, has_hi && hi < 0 ? -hi : 1, has_lo ? -lo : -1, MAX_INT_DIGITS);
		n++;
	}
	if (!has_hi || hi >= 0) {
		l32_buf_puts(b, n++ ? " | " : " ");
		uint_range(b, has_lo && lo > 0 ? lo : 0, has_hi ? hi : -1, MAX_INT_DIGITS);
	}
	l32_buf_puts(b, " )");
	return 1;
}

/* A bound as a decimal: sign, integer part, fraction digits without
 * trailing zeros. */
struct dec {
	int neg;
	long long ip;
	char frac[24];
};

static void
to_dec(double x, struct dec *d)
{
	char buf[64], *dot;
	int p;
	size_t n;

	/* the shortest text that reads back as x */
	for (p = 1; p <= 17; p++) {
		snprintf(buf, sizeof(buf), "%.*f", p, fabs(x));
		if (strtod(buf, NULL) == fabs(x))
			break;
	}
	d->neg = x < 0;
	d->ip = strtoll(buf, &dot, 10);
	d->frac[0] = '\0';
	if (*dot == '.')
		snprintf(d->frac, sizeof(d->frac), "%s", dot + 1);
	n = strlen(d->frac);
	while (n > 0 && d->frac[n - 1] == '0')
		d->frac[--n] = '\0';
	if (n > MAX_FRAC_DIGITS)
		d->frac[MAX_FRAC_DIGITS] = '\0';
	if (d->ip == 0 && n == 0)
		d->neg = 0;
}

/* Non-negative decimals m with lo <(=) m <(=) hi (hi NULL: unbounded);
 * lk, hk: 1 inclusive, 2 exclusive; the caller has checked lo <= hi.
 * Appends alternatives; returns how many. */
static int
unum_range(struct l32_buf *b, const struct dec *lo, int lk, const struct dec *hi, int hk)
{
	struct l32_buf f = { 0 };
	long long a = lo->ip, z = hi ? hi->ip : -1;
	int n = 0;

	if (hi != NULL && a == z) {
		if (frac_part(&f, lo->frac, lk, hi->frac, hk))
			l32_buf_printf(b, "\"%lld\" %s", a, f.data), n++;
		l32_buf_free(&f);
		return n;
	}
	if (frac_part(&f, lo->frac, lk, "", 0))
		l32_buf_printf(b, "\"%lld\" %s", a, f.data), n++;
	l32_buf_reset(&f);
	if (hi == NULL || z - a >= 2) {
		l32_buf_puts(b, n++ ? " | " : "");
		uint_range(b, a + 1, hi ? z - 1 : -1, MAX_INT_DIGITS - 3);
		l32_buf_printf(b, " ( \"\" | \".\" [0-9]{1,%d} )", MAX_FRAC_DIGITS);
	}
	if (hi != NULL && frac_part(&f, "", 0, hi->frac, hk))
		l32_buf_printf(b, "%s\"%lld\" %s", n++ ? " | " : "", z, f.data);
	l32_buf_free(&f);
	return n;
}

/* Numbers (no exponent) in the bounds: lk/hk 0 none, 1 inclusive, 2
 * exclusive.  0 when none qualify. */
int
g_num_range(struct l32_buf *b, int lk, double lo, int hk, double hi)
{
	struct dec l, h, zero = { 0, 0, "" };
	struct l32_buf t = { 0 };
	int n = 0;

	if (lk && hk && (lo > hi || (lo == hi && (lk == 2 || hk == 2))))
		return 0;
	to_dec(lo, &l);
	to_dec(hi, &h);
	l32_buf_puts(b, "(");
	if (!lk || lo < 0) {  /* x < 0: "-" and a magnitude above 0 */
		struct dec mlo = hk && hi < 0 ? h : zero;
		int mlk = hk && hi < 0 ? hk : 2;

		if (unum_range(&t, &mlo, mlk, lk ? &l : NULL, lk) > 0)
			l32_buf_printf(b, " \"-\" ( %s )", t.data), n++;
	}
	l32_buf_reset(&t);
	if (!hk || hi > 0 || (hi == 0 && hk == 1)) {
		struct dec mlo = lk && lo >= 0 ? l : zero;
		int mlk = lk && lo >= 0 ? lk : 1;

		if (unum_range(&t, &mlo, mlk, hk ? &h : NULL, hk) > 0)
			l32_buf_printf(b, "%s( %s )", n++ ? " | " : " ", t.data);
	}
	l32_buf_puts(b, " )");
	l32_buf_free(&t);
	return n > 0;
}
