/* The diagnostics list. It formats; printing is cmd/'s business. */
#include "inventory/diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void diags_init(struct diags *d)
{
	memset(d, 0, sizeof(*d));
}

void diags_release(struct diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].text);
	}
	free(d->v);
	diags_init(d);
}

void diags_add(struct diags *d, const char *file, int line,
    const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 16;
		struct diag *v = realloc(d->v, cap * sizeof(*v));

		if (v == NULL)
			return;
		d->v = v;
		d->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	d->v[d->n].file = strdup(file ? file : "");
	d->v[d->n].line = line;
	d->v[d->n].text = strdup(buf);
	d->n++;
}

const char *diag_format(const struct diag *g, char *buf, size_t bufsz)
{
	const char *text = g->text ? g->text : "out of memory";
	const char *file = g->file ? g->file : "";

	if (g->line > 0)
		snprintf(buf, bufsz, "%s:%d: %s", file, g->line, text);
	else
		snprintf(buf, bufsz, "%s: %s", file, text);
	return buf;
}
