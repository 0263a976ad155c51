/*
 * HTML escaping (see html_escape.h). Both quotes are escaped so that one
 * function serves element text and attribute values: a caller never has
 * to know which context it writes into.
 */
#include "engine/report/html_escape.h"

#include <string.h>

/* The length of s to show when at most max bytes may be: max, moved back
 * so as not to split a UTF-8 sequence (continuation bytes are 10xxxxxx). */
static size_t cut_at(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return len;
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return max;
}

void html_escape(FILE *out, const char *s, size_t max)
{
	size_t len = strlen(s), n = cut_at(s, len, max), i;
	unsigned char c;

	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		switch (c) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default:
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') ||
			    c == 0x7F)
				fputs("\xEF\xBF\xBD", out);
			else
				fputc(c, out);
		}
	}
	if (n < len)
		fputs("...", out);
}
