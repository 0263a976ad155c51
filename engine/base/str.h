/*
 * Strings: formatting into new ones, the one place a string is sized for what
 * is printed into it. Never malloc(strlen(a) + N) then sprintf or strcat:
 * the N is a guess that a longer name outgrows (issue 9, defect 1).
 */
#ifndef CF_STR_H
#define CF_STR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * A new string holding fmt formatted with its arguments, sized by a first
 * vsnprintf pass. NULL when memory runs out or the result cannot be
 * formatted (vsnprintf fails, or it would not fit an int); the caller
 * frees the string.
 */
char *cf_asprintf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* cf_asprintf with a va_list; ap is left for the caller to va_end. */
char *cf_vasprintf(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));

/* True when the n bytes at hay (not NUL-ended) hold needle. */
bool cf_contains(const char *hay, size_t n, const char *needle);

/* The first non-empty line of s (len bytes) into buf, cut to 200 bytes,
 * control characters made '?' and trailing blanks dropped: a command's
 * output as one line of a message. */
void str_first_line(const char *s, size_t len, char *buf, size_t bufsz);

#endif
