/*
 * Text into HTML: every value that came from an inventory, a CA or an
 * error goes through here, so that a server name or an error holding
 * "<script>" is shown as text and never becomes markup.
 */
#ifndef CF_HTML_ESCAPE_H
#define CF_HTML_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Writes s to out with &, <, >, " and ' as character references, safe in
 * element text and in a quoted attribute value alike; control characters
 * other than tab, newline and carriage return (which HTML does not allow)
 * become U+FFFD. At most max bytes of s (SIZE_MAX: all), cut back to a
 * whole UTF-8 character, followed by "..." when it was cut.
 */
void html_escape(FILE *out, const char *s, size_t max);

#endif
