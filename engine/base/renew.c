/*
 * Renewal policy values and the due time. Pure: unit tested with a fixed
 * clock (tests/unit/test_renew.c).
 */
#include "engine/base/renew.h"
#include "engine/base/err.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void renew_policy_init(struct renew_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->days = 30;
	p->legacy = true;
	snprintf(p->text, sizeof p->text, "30");
}

/* A decimal number of at most 9 digits at *s, advancing s; -1 if none. */
static long number(const char **s)
{
	long v = 0;
	int n = 0;

	while (isdigit((unsigned char)**s) && n < 9) {
		v = v * 10 + (**s - '0');
		(*s)++;
		n++;
	}
	return n == 0 || isdigit((unsigned char)**s) ? -1 : v;
}

/* The denominator of a fraction's rest after its numerator: "%" 100,
 * "/N" N; 0 when it is neither. */
static long denominator(const char *q)
{
	long b;

	if (strcmp(q, "%") == 0)
		return 100;
	if (*q++ != '/')
		return 0;
	b = number(&q);
	return b > 0 && *q == '\0' ? b : 0;
}

int renew_parse_before(struct renew_policy *p, const char *s, char *msg,
    size_t msgsz)
{
	const char *q = s;
	long a = number(&q), b = a >= 0 ? denominator(q) : 0;

	if (a >= 0 && strcmp(q, "d") == 0) {
		if (a > 3650)
			return cf_error(msg, msgsz, CF_EINVAL, "renew_before "
			    "'%s' must be at most 3650 days", s);
		p->days = (int)a;
		p->num = p->den = 0;
	} else if (b > 0) {
		if (a <= 0 || a >= b)
			return cf_error(msg, msgsz, CF_EINVAL, "renew_before "
			    "'%s' must be a fraction between 0 and 1 "
			    "(exclusive)", s);
		p->days = -1;
		p->num = (int)a;
		p->den = (int)b;
	} else {
		return cf_error(msg, msgsz, CF_EINVAL, "renew_before '%s' "
		    "must be days (\"30d\") or a fraction of the lifetime "
		    "(\"1/3\", \"33%%\")", s);
	}
	p->legacy = false;
	snprintf(p->text, sizeof p->text, "%s", s);
	return 0;
}

int renew_parse_jitter(const char *s, long *secs, char *msg, size_t msgsz)
{
	const char *q = s;
	long v = number(&q), unit = strcmp(q, "d") == 0 ? RENEW_DAY :
	    strcmp(q, "h") == 0 ? 3600 : 0;

	if (v < 0 || unit == 0)
		return cf_error(msg, msgsz, CF_EINVAL, "renew_jitter '%s' "
		    "must be days (\"5d\") or hours (\"12h\")", s);
	if (v == 0 || v * unit > 365 * RENEW_DAY)
		return cf_error(msg, msgsz, CF_EINVAL, "renew_jitter '%s' "
		    "must be more than 0 and at most 365 days", s);
	*secs = v * unit;
	return 0;
}

/* FNV-1a, 64 bits: the same on every host, unlike a seeded hash. */
static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (h ^ 0) * 1099511628211ULL;  /* the '\0' separates names */
}

long renew_jitter_offset(const char *fleet, const char *server,
    long jitter_s)
{
	uint64_t h = 14695981039346656037ULL;

	if (jitter_s <= 0)
		return 0;
	h = fnv1a(fnv1a(h, fleet ? fleet : ""), server ? server : "");
	return (long)(h % (uint64_t)jitter_s);
}

time_t renew_due_at(const struct renew_policy *p, time_t not_before,
    time_t not_after)
{
	long long window;

	if (p->days >= 0)
		window = (long long)p->days * RENEW_DAY;
	else
		window = not_after > not_before ? (long long)(not_after -
		    not_before) * p->num / p->den : 0;
	return not_after - (time_t)window - (time_t)p->offset_s;
}

const char *renew_before_text(const struct renew_policy *p, char *buf,
    size_t bufsz)
{
	if (p->legacy)
		snprintf(buf, bufsz, "%dd", p->days);
	else
		snprintf(buf, bufsz, "%s", p->text);
	return buf;
}

const char *renew_jitter_text(const struct renew_policy *p, char *buf,
    size_t bufsz)
{
	if (p->jitter_s <= 0)
		return NULL;
	if (p->jitter_s % RENEW_DAY == 0)
		snprintf(buf, bufsz, "%ldd", p->jitter_s / RENEW_DAY);
	else
		snprintf(buf, bufsz, "%ldh", p->jitter_s / 3600);
	return buf;
}

const char *renew_describe(const struct renew_policy *p, char *buf,
    size_t bufsz)
{
	if (p->legacy)
		snprintf(buf, bufsz, "renew_before_days (%d)", p->days);
	else if (p->days >= 0)
		snprintf(buf, bufsz, "renew_before (%s)", p->text);
	else
		snprintf(buf, bufsz, "renew_before (%s of the lifetime)",
		    p->text);
	return buf;
}
