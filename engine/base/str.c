/*
 * cf_asprintf: format once to measure, allocate exactly, format again and
 * check that both passes agree. It never prints and never truncates.
 */
#include "engine/base/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *cf_vasprintf(const char *fmt, va_list ap)
{
	va_list aq;
	char *s;
	int n;

	/* The first pass consumes a copy: ap is needed again below. */
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return NULL;
	if ((s = malloc((size_t)n + 1)) == NULL)
		return NULL;
	if (vsnprintf(s, (size_t)n + 1, fmt, ap) != n) {
		free(s);
		return NULL;
	}
	return s;
}

char *cf_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cf_vasprintf(fmt, ap);
	va_end(ap);
	return s;
}

bool cf_contains(const char *hay, size_t n, const char *needle)
{
	size_t nl = strlen(needle), i;

	for (i = 0; i + nl <= n; i++)
		if (memcmp(hay + i, needle, nl) == 0)
			return true;
	return false;
}

void str_first_line(const char *s, size_t len, char *buf, size_t bufsz)
{
	size_t i = 0, n = 0;

	while (i < len && (s[i] == '\n' || s[i] == '\r' || s[i] == ' ' ||
	    s[i] == '\t'))
		i++;
	for (; i < len && s[i] != '\n' && s[i] != '\r' && n + 1 < bufsz &&
	    n < 200; i++)
		buf[n++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ?
		    '?' : s[i];
	while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		n--;
	buf[n] = '\0';
}
