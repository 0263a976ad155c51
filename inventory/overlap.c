/*
 * The paths each server writes (its certificate store, its bound usage
 * files), made comparable: one host key per server (this machine for
 * local servers; address and port for ssh, whatever the login, since the
 * files are the host's) and one absolute path. Sorted with '/' first, a
 * directory is followed at once by everything inside it, so one pass finds
 * every equal or nested pair: O(n log n) for fleets of 100,000 servers.
 * Trust stores are shared on purpose (only --import-ca writes there, the
 * same file for the same CA), and so are webroots (http-01 token names are
 * unique); neither is compared.
 */
#include "inventory/overlap.h"
#include "engine/base/path.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* One path a server writes. */
struct spot {
	char *path;                 /* absolute, normalised */
	char *shown;                /* as the fleet file has it: local paths
	                               from the root as written */
	const struct server *s;
	size_t server;              /* its index, for inventory order */
	int usage;                  /* -1: the certificate store */
	const char *kind;           /* the binding's file: "cert", "key",
	                               "chain", "fullchain", "pkcs12" */
};

/* The first clash found for a server, reported at that server. */
struct clash {
	const struct spot *mine;
	const struct spot *theirs;
};

/* Appends the components of rel to buf (an absolute path without a
 * trailing '/'), dropping empty and "." ones and folding "..". */
static void append_norm(char *buf, size_t bufsz, const char *rel)
{
	const char *p = rel, *e;
	size_t n, o = strlen(buf);

	while (*p != '\0') {
		e = p + strcspn(p, "/");
		n = (size_t)(e - p);
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && buf[o - 1] != '/')
				o--;
			if (o > 1)
				o--;
			buf[o] = '\0';
		} else if (n > 0 && !(n == 1 && p[0] == '.') &&
		    o + n + 2 < bufsz) {
			if (o == 0 || buf[o - 1] != '/')
				buf[o++] = '/';
			memcpy(buf + o, p, n);
			o += n;
			buf[o] = '\0';
		}
		p = *e ? e + 1 : e;
	}
	if (o == 0)
		strcpy(buf, "/");
}

/*
 * An absolute path with symlinks resolved as far as it exists (a root that
 * run has not created yet still compares): realpath(3) on the longest
 * existing prefix, the rest taken lexically. out may be path.
 */
static void canon_dir(const char *path, char *out, size_t outsz)
{
	char lex[PATH_MAX], rest[PATH_MAX], *real;
	size_t n;

	if ((real = realpath(path, NULL)) != NULL) {
		snprintf(out, outsz, "%s", real);
		free(real);
		return;
	}
	lex[0] = '\0';
	append_norm(lex, sizeof lex, path);
	for (n = strlen(lex); n > 0; ) {
		/* Up one component: to the '/' before the last one. */
		while (n > 0 && lex[--n] != '/')
			;
		lex[n] = '\0';
		real = realpath(n == 0 ? "/" : lex, NULL);
		lex[n] = '/';
		if (real != NULL) {
			snprintf(rest, sizeof rest, "%s", lex + n);
			out[0] = '\0';
			append_norm(out, outsz, real);
			append_norm(out, outsz, rest);
			free(real);
			return;
		}
	}
	snprintf(out, outsz, "%s", lex);
}

/* The last parent directory resolved: roots are mostly siblings, and one
 * realpath(3) per server costs seconds for 100,000 servers. */
struct parent_cache {
	char lex[PATH_MAX];
	char real[PATH_MAX];
};

/* A local root, absolute and resolved (see canon_dir). */
static bool canon_local(const char *path, const char *cwd,
    struct parent_cache *pc, char *out, size_t outsz)
{
	char lex[PATH_MAX], *slash;
	struct stat st;

	lex[0] = '\0';
	if (path[0] != '/')
		append_norm(lex, sizeof lex, cwd);
	/* ".." after a symlink is not lexical: let realpath(3) walk it. */
	if (strcmp(path, "..") == 0 || strncmp(path, "../", 3) == 0 ||
	    strstr(path, "/../") != NULL || (strlen(path) >= 3 &&
	    strcmp(path + strlen(path) - 3, "/..") == 0)) {
		snprintf(out, outsz, "%s%s%s", lex, path[0] == '/' ? "" : "/",
		    path);
		canon_dir(out, out, outsz);
		return true;
	}
	append_norm(lex, sizeof lex, path);
	if ((slash = strrchr(lex, '/')) == NULL || slash == lex) {
		canon_dir(lex, out, outsz);
		return true;
	}
	*slash = '\0';
	if (strcmp(pc->lex, lex) != 0) {
		snprintf(pc->lex, sizeof pc->lex, "%s", lex);
		canon_dir(lex, pc->real, sizeof pc->real);
	}
	snprintf(out, outsz, "%s", pc->real);
	append_norm(out, outsz, slash + 1);
	/* The root itself may be a symlink to another server's root. */
	if (lstat(out, &st) == 0 && S_ISLNK(st.st_mode))
		canon_dir(out, out, outsz);
	return true;
}

/* The server's root: where every server path of it is taken from. */
static bool root_of(const struct server *s, const char *cwd,
    struct parent_cache *pc, char *out, size_t outsz)
{
	if (s->transport == TRANSPORT_LOCAL)
		return canon_local(s->root, cwd, pc, out, outsz);
	out[0] = '\0';
	append_norm(out, outsz, s->root ? s->root : "/");
	return true;
}

static bool add(struct spot *v, size_t *n, const char *root,
    const char *path, const struct server *s, size_t server, int usage,
    const char *kind)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof buf, "%s", root);
	/* Server paths are below the root, "/etc/x" and "etc/x" alike. */
	append_norm(buf, sizeof buf, path);
	v[*n].path = strdup(buf);
	v[*n].shown = s->transport == TRANSPORT_LOCAL ? path_join(s->root,
	    path[0] == '/' ? path + 1 : path) : strdup(buf);
	v[*n].s = s;
	v[*n].server = server;
	v[*n].usage = usage;
	v[*n].kind = kind;
	(*n)++;
	return v[*n - 1].path != NULL && v[*n - 1].shown != NULL;
}

/* Adds the files usage u of server s binds to paths of their own. */
static bool add_binding(struct spot *v, size_t *n, const char *root,
    const struct server *s, size_t server, unsigned u)
{
	const struct usage_binding *b = &s->bindings[u];
	const char *path[5] = { b->cert, b->key, b->chain, b->fullchain,
	    b->pkcs12 };
	static const char *const kind[5] = { "cert", "key", "chain",
	    "fullchain", "pkcs12" };
	int k;

	for (k = 0; k < 5; k++)
		if (path[k] != NULL && !add(v, n, root, path[k], s, server,
		    (int)u, kind[k]))
			return false;
	return true;
}

/* Compares hosts: every local server is on this machine. */
static int host_cmp(const struct server *a, const struct server *b)
{
	int d, pa, pb;

	if (a->transport != b->transport)
		return a->transport == TRANSPORT_LOCAL ? -1 : 1;
	if (a->transport == TRANSPORT_LOCAL)
		return 0;
	if ((d = strcasecmp(a->address, b->address)) != 0)
		return d;
	pa = a->ssh.port ? a->ssh.port : 22;
	pb = b->ssh.port ? b->ssh.port : 22;
	return (pa > pb) - (pa < pb);
}

/* strcmp with '/' below every other character. */
static int path_cmp(const char *a, const char *b)
{
	unsigned char x, y;

	for (;; a++, b++) {
		x = *a == '/' ? 1 : (unsigned char)*a;
		y = *b == '/' ? 1 : (unsigned char)*b;
		if (x != y || x == '\0')
			return (x > y) - (x < y);
	}
}

static int by_host_path(const void *pa, const void *pb)
{
	const struct spot *a = pa, *b = pb;
	int d = host_cmp(a->s, b->s);

	if (d == 0)
		d = path_cmp(a->path, b->path);
	if (d == 0)
		d = (a->server > b->server) - (a->server < b->server);
	return d;
}

/* True when b is dir a itself or lies inside it, on the same host. */
static bool within(const struct spot *a, const struct spot *b)
{
	size_t n = strlen(a->path);

	if (host_cmp(a->s, b->s) != 0 ||
	    strncmp(a->path, b->path, n) != 0)
		return false;
	return b->path[n] == '\0' || b->path[n] == '/' ||
	    strcmp(a->path, "/") == 0;
}

static void what(const struct spot *p, char *buf, size_t bufsz)
{
	if (p->usage < 0)
		snprintf(buf, bufsz, "certificate store");
	else
		snprintf(buf, bufsz, "usage_bindings.%s.%s",
		    usage_name(p->s->utab, (unsigned)p->usage), p->kind);
}

/* Keeps the first clash of the later server of the two. */
static void note(struct clash *c, const struct spot *a, const struct spot *b)
{
	const struct spot *later = a->server > b->server ? a : b;
	const struct spot *earlier = later == a ? b : a;

	if (a->server != b->server && c[later->server].mine == NULL) {
		c[later->server].mine = later;
		c[later->server].theirs = earlier;
	}
}

static void report(struct diags *d, const struct clash *c)
{
	const struct server *s = c->mine->s, *o = c->theirs->s;
	const char *how;
	char mine[96], theirs[96], host[300] = "", path[PATH_MAX + 4] = "";

	what(c->mine, mine, sizeof mine);
	what(c->theirs, theirs, sizeof theirs);
	if (s->transport == TRANSPORT_SSH)
		snprintf(host, sizeof host, " on '%s:%d'", s->address,
		    s->ssh.port ? s->ssh.port : 22);
	if (strcmp(c->mine->path, c->theirs->path) == 0)
		how = "is also";
	else if (strlen(c->mine->path) > strlen(c->theirs->path))
		how = "lies inside";
	else
		how = "holds";
	/* The same place under another name (a symlinked root): say it. */
	if (strcmp(c->mine->shown, c->theirs->shown) != 0)
		snprintf(path, sizeof path, " '%s'", c->theirs->shown);
	diags_add(d, s->file, s->line, "server '%s': its %s '%s'%s %s the %s%s "
	    "of server '%s' (%s:%d); give each server its own root, "
	    "store.certs and usage_bindings paths", s->name, mine,
	    c->mine->shown, host, how, theirs, path, o->name, o->file,
	    o->line);
}

void overlap_check(const struct fleet *f, struct diags *d)
{
	struct spot *v, **dirs;
	struct clash *c;
	struct parent_cache *pc;
	char root[PATH_MAX], cwd[PATH_MAX];
	size_t n = 0, ndirs = 0, i, k, max = 1, own;
	int u;

	/* A store and a usage's five files per usage a server selects. */
	for (i = 0; i < f->nservers; i++)
		max += 1 + 5 * (size_t)__builtin_popcount(f->servers[i].usages);
	v = calloc(max, sizeof(*v));
	dirs = calloc(max, sizeof(*dirs));
	c = calloc(f->nservers + 1, sizeof(*c));
	pc = calloc(1, sizeof(*pc));
	if (v == NULL || dirs == NULL || c == NULL || pc == NULL ||
	    getcwd(cwd, sizeof cwd) == NULL)
		goto out;
	for (i = 0; i < f->nservers; i++) {
		const struct server *s = &f->servers[i];

		/* Servers whose own entry is broken were reported already. */
		if (s->name == NULL || s->address == NULL || s->store.certs ==
		    NULL || (s->transport == TRANSPORT_LOCAL && s->root ==
		    NULL) || !root_of(s, cwd, pc, root, sizeof root))
			continue;
		/* A second certificate of one entry shares its store and
		 * counts as that entry (its usages' files differ). */
		own = s->split_of >= 0 ? (size_t)s->split_of : i;
		if (s->split_of < 0 &&
		    !add(v, &n, root, s->store.certs, s, i, -1, NULL))
			goto out;
		for (u = 0; u < USAGE_CAP; u++) {
			if (!(s->usages & (1u << u)))
				continue;
			if (!add_binding(v, &n, root, s, own, (unsigned)u))
				goto out;
		}
	}
	qsort(v, n, sizeof(*v), by_host_path);
	for (i = 0; i < n; i++) {
		/* dirs: the certificate stores that hold v[i], outermost
		 * first; the innermost is enough. */
		while (ndirs > 0 && !within(dirs[ndirs - 1], &v[i]))
			ndirs--;
		if (ndirs > 0)
			note(c, dirs[ndirs - 1], &v[i]);
		if (i > 0 && host_cmp(v[i - 1].s, v[i].s) == 0 &&
		    strcmp(v[i - 1].path, v[i].path) == 0)
			note(c, &v[i - 1], &v[i]);
		if (v[i].usage < 0)
			dirs[ndirs++] = &v[i];
	}
	for (k = 0; k < f->nservers; k++)
		if (c[k].mine != NULL)
			report(d, &c[k]);
out:
	for (i = 0; v && i < n; i++) {
		free(v[i].path);
		free(v[i].shown);
	}
	free(v);
	free(dirs);
	free(c);
	free(pc);
}
