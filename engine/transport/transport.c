/*
 * What every transport shares (see transport.h): server paths in one
 * normal form, and the checks that refuse a bad set or undo record before
 * anything starts, so that each transport refuses exactly the same
 * arguments. Strings only: nothing here touches a file or the loop.
 */
#include "engine/transport/transport.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
#include "engine/base/str.h"
#include "engine/base/strv.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The length of the next component of *p that is not "" or ".", with *p
 * moved to its start; 0 at the end of the path. */
static size_t next_part(const char **p)
{
	size_t n;

	for (;;) {
		*p += strspn(*p, "/");
		n = strcspn(*p, "/");
		if (n != 1 || **p != '.')
			return n;
		*p += n;
	}
}

char *transport_path_norm(const char *path)
{
	size_t o = 0, n;
	char *out;

	if (path == NULL || !path_is_confined(path) ||
	    (out = malloc(strlen(path) + 1)) == NULL)
		return NULL;
	while ((n = next_part(&path)) > 0) {
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, path, n);
		o += n;
		path += n;
	}
	out[o] = '\0';
	return out;
}

bool transport_path_below_root(const char *p)
{
	return p != NULL && path_is_confined(p) && next_part(&p) > 0;
}

/* a and b name the same server path ("/certs//x" and "certs/./x"). */
static bool same_path(const char *a, const char *b)
{
	size_t na, nb;

	do {
		na = next_part(&a);
		nb = next_part(&b);
		if (na != nb || strncmp(a, b, na) != 0)
			return false;
		a += na;
		b += nb;
	} while (na > 0);
	return true;
}

/* A member name is one plain component that does not start with '.'. */
static bool member_name_ok(const char *name)
{
	return name != NULL && name[0] != '\0' && name[0] != '.' &&
	    strchr(name, '/') == NULL && !str_has_control(name);
}

int transport_set_check(const struct transport_set *set, bool with_from)
{
	const struct transport_member *m;
	size_t i, j;

	if (set == NULL || set->members == NULL || set->nmembers == 0 ||
	    !transport_path_below_root(set->store) ||
	    !transport_path_below_root(set->pointer))
		return CF_EINVAL;
	for (i = 0; i < set->nmembers; i++) {
		m = &set->members[i];
		if (!member_name_ok(m->name) ||
		    !transport_path_below_root(m->link) ||
		    same_path(m->link, set->pointer) ||
		    (m->data == NULL && m->len > 0) || (m->from != NULL &&
		    (!with_from || !transport_path_below_root(m->from))))
			return CF_EINVAL;
		for (j = 0; j < i; j++)
			if (same_path(set->members[j].link, m->link) ||
			    strcmp(set->members[j].name, m->name) == 0)
				return CF_EINVAL;
	}
	return 0;
}

void transport_undo_free(struct transport_undo *u)
{
	if (u == NULL)
		return;
	free(u->store);
	free(u->pointer);
	free(u->previous);
	free(u->current);
	strv_free(u->links);
	free(u);
}

static bool confined(const char *p)
{
	return p != NULL && path_is_confined(p);
}

int transport_undo_norm(const struct transport_undo *u,
    struct transport_undo **out)
{
	struct transport_undo *c;
	size_t n = 0, i;

	*out = NULL;
	if (u == NULL || !confined(u->store) || !confined(u->pointer) ||
	    !confined(u->current) ||
	    (u->previous != NULL && !confined(u->previous)))
		return CF_EINVAL;
	for (; u->links != NULL && u->links[n] != NULL; n++)
		if (!confined(u->links[n]))
			return CF_EINVAL;
	if ((c = calloc(1, sizeof *c)) == NULL ||
	    (c->links = calloc(n + 1, sizeof *c->links)) == NULL)
		goto fail;
	c->store = transport_path_norm(u->store);
	c->pointer = transport_path_norm(u->pointer);
	c->current = transport_path_norm(u->current);
	if (c->store == NULL || c->pointer == NULL || c->current == NULL ||
	    (u->previous != NULL &&
	    (c->previous = transport_path_norm(u->previous)) == NULL))
		goto fail;
	for (i = 0; i < n; i++)
		if ((c->links[i] = transport_path_norm(u->links[i])) == NULL)
			goto fail;
	*out = c;
	return 0;
fail:
	transport_undo_free(c);
	return CF_ENOMEM;
}

void transport_run_describe(int status, const struct transport_run_result *r,
    unsigned timeout_s, const char *msg, char *buf, size_t bufsz)
{
	char line[256] = "";
	int n;

	if (status == CF_ETIMEDOUT)
		n = snprintf(buf, bufsz, "did not finish within %u s and was "
		    "killed", timeout_s);
	else if (status != 0)
		n = snprintf(buf, bufsz, "could not be run: %s", msg);
	else if (r->term_signal != 0)
		n = snprintf(buf, bufsz, "was killed by signal %d",
		    r->term_signal);
	else
		n = snprintf(buf, bufsz, "exited %d", r->exit_status);
	/* Why it could not be run is msg's to say, not its output's. */
	if (status != CF_ETRANSPORT) {
		str_first_line(r->err, r->errlen, line, sizeof line);
		if (line[0] == '\0')
			str_first_line(r->out, r->outlen, line, sizeof line);
	}
	if (line[0] != '\0' && n >= 0 && (size_t)n < bufsz)
		snprintf(buf + n, bufsz - (size_t)n, ": %s", line);
}

char *transport_path_real(const struct transport *t, const char *path)
{
	const char *root = t->root != NULL ? t->root : "/";
	size_t n = strlen(root);
	char *norm, *out;

	/* "/srv/x/" and "/" lose their last '/': one joins them. */
	while (n > 0 && root[n - 1] == '/')
		n--;
	if ((norm = transport_path_norm(path)) == NULL)
		return NULL;
	out = cf_asprintf("%.*s/%s", (int)n, root, norm);
	free(norm);
	return out;
}

/* The local transport makes its versions with this, the ssh transport
 * sends it to the helper (a 'date' fewer there). */
void transport_version_name(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;
	size_t l;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	l = strftime(buf, n, "%Y%m%dT%H%M%S", &tm);
	snprintf(buf + l, n - l, ".%09ldZ-%08" PRIx32, (long)ts.tv_nsec,
	    (uint32_t)fsio_random64());
}
