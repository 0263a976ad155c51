/*
 * Diagnostics: every problem found in a fleet file, kept with its file and
 * line so that `check` can report them all at once, never just the first.
 */
#ifndef CF_DIAG_H
#define CF_DIAG_H

#include <stddef.h>

struct diag {
	char *file;
	int line;                   /* 0 when the problem has no line */
	char *text;
};

struct diags {
	struct diag *v;
	size_t n;
	size_t cap;
};

void diags_init(struct diags *d);
void diags_release(struct diags *d);

/* Records a problem at file:line. Out of memory is remembered, not lost:
 * diags_add never fails visibly, the count still grows. */
void diags_add(struct diags *d, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Drops every diagnostic from index from on that repeats an earlier one
 * (same file, line and text), keeping the order of the rest. */
void diags_unique(struct diags *d, size_t from);

/* Formats diagnostic i as "FILE:LINE: text" into buf. Returns buf. */
const char *diag_format(const struct diag *g, char *buf, size_t bufsz);

#endif
