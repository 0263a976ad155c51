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

static int same_place_and_text(const struct diag *x, const struct diag *y)
{
	int c = strcmp(x->file ? x->file : "", y->file ? y->file : "");

	if (c == 0 && x->line != y->line)
		c = x->line < y->line ? -1 : 1;
	if (c == 0)
		c = strcmp(x->text ? x->text : "", y->text ? y->text : "");
	return c;
}

/* Pointers into one array: their order is the diagnostics' order. */
static int by_text_then_order(const void *a, const void *b)
{
	const struct diag *x = *(const struct diag *const *)a;
	const struct diag *y = *(const struct diag *const *)b;
	int c = same_place_and_text(x, y);

	return c != 0 ? c : (x > y) - (x < y);
}

/* Sorting keeps this O(n log n) for a group inherited by 100,000 servers. */
void diags_unique(struct diags *d, size_t from)
{
	struct diag **p, *kept;
	size_t n = d->n > from ? d->n - from : 0, i, o;

	if (n < 2 || (p = malloc(n * sizeof(*p))) == NULL)
		return;
	for (i = 0; i < n; i++)
		p[i] = &d->v[from + i];
	qsort(p, n, sizeof(*p), by_text_then_order);
	for (i = 1, kept = p[0]; i < n; i++) {
		if (same_place_and_text(kept, p[i]) != 0) {
			kept = p[i];
			continue;
		}
		/* A repeat of the earlier one kept: line -1 marks it. */
		free(p[i]->file);
		free(p[i]->text);
		p[i]->line = -1;
	}
	free(p);
	for (i = o = from; i < d->n; i++)
		if (d->v[i].line != -1)
			d->v[o++] = d->v[i];
	d->n = o;
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
