/*
 * Each server's request: the template expanded with its variables. The
 * check collects every (template line, text, server) it finds, then sorts
 * them so that one mistake shared by many servers becomes one message:
 * O(n log n) for fleets of 100,000 servers.
 */
#include "inventory/fleet_request.h"
#include "engine/base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lookup_ctx {
	const struct fleet *f;
	const struct server *s;
};

static const char *lookup(void *ctx, const char *name)
{
	const struct lookup_ctx *l = ctx;

	if (strcmp(name, "name") == 0)
		return l->s->name;
	if (strcmp(name, "address") == 0)
		return l->s->address;
	if (strcmp(name, "fleet") == 0)
		return l->f->name;
	if (strncmp(name, "vars.", 5) == 0)
		return vars_get(&l->s->vars, name + 5);
	return NULL;
}

int fleet_server_request(const struct fleet *f, const struct server *s,
    struct req_spec *out, char *msg, size_t msgsz)
{
	struct lookup_ctx l = { f, s };
	int line;

	if (s->tmpl == NULL) {
		snprintf(msg, msgsz, "server '%s' has no usable request "
		    "template", s->name);
		return CF_EINVAL;
	}
	return template_expand(s->tmpl, lookup, &l, out, &line, msg, msgsz);
}

/* One mistake one server hit, at a template line. */
struct issue {
	const char *file;           /* the template's */
	int line;
	char *text;
	size_t server;
};

struct issues {
	struct issue *v;
	size_t n, cap;
	bool oom;
};

static void add(struct issues *is, const struct template *t, int line,
    size_t server, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void add(struct issues *is, const struct template *t, int line,
    size_t server, const char *fmt, ...)
{
	char buf[1024];
	struct issue *v;
	va_list ap;

	if (is->n == is->cap) {
		size_t cap = is->cap ? is->cap * 2 : 16;

		if ((v = realloc(is->v, cap * sizeof(*v))) == NULL) {
			is->oom = true;
			return;
		}
		is->v = v;
		is->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if ((is->v[is->n].text = strdup(buf)) == NULL) {
		is->oom = true;
		return;
	}
	is->v[is->n].file = t->file;
	is->v[is->n].line = line;
	is->v[is->n++].server = server;
}

/* What an ACME order can name and http-01 can prove. The template's own
 * text is named when the mistake is in it (one message for the fleet); the
 * expanded value when a server's variable brought it in. */
static void check_acme(const struct template *t, const struct req_spec *rs,
    size_t server, struct issues *is)
{
	const char *san, *tmpl;
	size_t i;

	for (i = 0; i < rs->nsan && i < t->nsan; i++) {
		san = rs->san[i];
		tmpl = t->san[i];
		if (strncmp(san, "DNS:*.", 6) == 0)
			add(is, t, t->san_line[i], server, "the wildcard name '%s' "
			    "needs the dns-01 challenge; this version answers "
			    "http-01 only", strncmp(tmpl, "DNS:*.", 6) == 0 ?
			    tmpl + 4 : san + 4);
		else if (strncmp(san, "DNS:", 4) != 0 &&
		    strncmp(san, "IP:", 3) != 0)
			add(is, t, t->san_line[i], server, "an ACME CA certifies "
			    "DNS names and IP addresses only, not '%s'",
			    strncmp(tmpl, "{{", 2) != 0 ? tmpl : san);
	}
}

static void check_server(const struct fleet *f, size_t server,
    struct issues *is)
{
	const struct server *s = &f->servers[server];
	const struct template *t = s->tmpl;
	struct lookup_ctx l = { f, s };
	struct req_spec rs;
	char msg[512], at[300];
	unsigned u, lack, bit;
	int line;

	req_spec_init(&rs);
	if (template_expand(t, lookup, &l, &rs, &line, msg, sizeof msg) != 0)
		add(is, t, line, server, "%s", msg);
	else if (f->ca.type == CA_ACME)
		check_acme(t, &rs, server, is);
	req_spec_release(&rs);
	for (u = 0; u < f->utab.n; u++) {
		lack = usage_eku_needed(&f->utab, u) & ~t->eku;
		if (!(s->usages & (1u << u)) || lack == 0)
			continue;
		for (bit = 1; !(lack & bit); bit <<= 1)
			;
		/* A usage of the file's own names where it asks for it. */
		at[0] = '\0';
		if (f->uinfo[u].file != NULL)
			snprintf(at, sizeof at, " (defined at %s:%d)",
			    f->uinfo[u].file, f->uinfo[u].line);
		add(is, t, t->eku_line ? t->eku_line : t->line, server, "usage "
		    "'%s'%s needs EKU '%s', which the request template lacks",
		    usage_name(&f->utab, u), at, eku_name(bit));
	}
}

static int by_mistake(const void *a, const void *b)
{
	const struct issue *x = a, *y = b;
	int d = strcmp(x->file, y->file);

	if (d != 0)
		return d;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if ((d = strcmp(x->text, y->text)) != 0)
		return d;
	return (x->server > y->server) - (x->server < y->server);
}

/* The same mistake: template file, line and text. */
static bool same_mistake(const struct issue *x, const struct issue *y)
{
	return x->line == y->line && strcmp(x->file, y->file) == 0 &&
	    strcmp(x->text, y->text) == 0;
}

/* Groups, after sorting: the first issue of each, in server order. */
static int by_first_server(const void *a, const void *b)
{
	const struct issue *x = *(const struct issue *const *)a;
	const struct issue *y = *(const struct issue *const *)b;

	if (x->server != y->server)
		return x->server < y->server ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* "server 'a' at F:L" or "servers 'a' at F:L, 'b' at F:L and 9 more". */
static void who(const struct fleet *f, const struct issue *g, size_t n,
    char *buf, size_t bufsz)
{
	size_t i, o, shown = n > 3 ? 2 : n;

	o = (size_t)snprintf(buf, bufsz, "server%s", n > 1 ? "s" : "");
	for (i = 0; i < shown && o < bufsz; i++) {
		const struct server *s = &f->servers[g[i].server];

		o += (size_t)snprintf(buf + o, bufsz - o, "%s '%s' at %s:%d",
		    i == 0 ? "" : i + 1 == n ? " and" : ",", s->name, s->file,
		    s->line);
	}
	if (shown < n && o < bufsz)
		snprintf(buf + o, bufsz - o, " and %zu more", n - shown);
}

void fleet_check_requests(const struct fleet *f, struct diags *d)
{
	struct issues is = { NULL, 0, 0, false };
	const struct issue **first = NULL;
	size_t i, k, ngroups = 0;
	char servers[600];

	for (i = 0; i < f->nservers; i++) {
		const struct server *s = &f->servers[i];

		/* Servers whose own entry is broken were reported already,
		 * and so were templates that cannot be used. */
		if (s->name && s->address && s->tmpl &&
		    (s->root || s->transport == TRANSPORT_SSH))
			check_server(f, i, &is);
	}
	if (is.oom)
		diags_add(d, f->path, 0, "out of memory");
	if (is.n > 0) {
		qsort(is.v, is.n, sizeof(*is.v), by_mistake);
		if ((first = calloc(is.n, sizeof(*first))) == NULL)
			diags_add(d, f->path, 0, "out of memory");
	}
	for (i = 0; first && i < is.n; i = k) {
		for (k = i + 1; k < is.n && same_mistake(&is.v[k],
		    &is.v[i]); k++)
			;
		first[ngroups++] = &is.v[i];
	}
	if (ngroups > 0)
		qsort(first, ngroups, sizeof(*first), by_first_server);
	for (i = 0; i < ngroups; i++) {
		const struct issue *g = first[i], *end = is.v + is.n;

		for (k = 1; g + k < end && same_mistake(&g[k], g); k++)
			;
		who(f, g, k, servers, sizeof servers);
		diags_add(d, g->file, g->line, "%s (%s)", g->text,
		    servers);
	}
	for (i = 0; i < is.n; i++)
		free(is.v[i].text);
	free(is.v);
	free(first);
}
