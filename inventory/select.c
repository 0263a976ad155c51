/*
 * --limit and --exclude: comma lists split into patterns, each pattern
 * matched against every server's name and groups. A pattern that matches
 * nothing is a mistake worth stopping for: a typo in --exclude would
 * otherwise touch the very server it meant to keep out.
 */
#include "inventory/select.h"
#include "engine/base/err.h"

#include <fnmatch.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One pattern of one option value, and whether any server matched it. */
struct pattern {
	char *text;
	const char *option;         /* "--limit" or "--exclude" */
	bool used;
};

struct patterns {
	struct pattern *v;
	size_t n;
};

static void patterns_release(struct patterns *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->v[i].text);
	free(p->v);
	p->v = NULL;
	p->n = 0;
}

/* Splits every value on ',' and trims blanks around each pattern. */
static int patterns_split(struct patterns *p, const char *option,
    const char *const *values, size_t nvalues, char *msg, size_t msgsz)
{
	size_t i, count = 0, len;
	const char *s, *e;

	for (i = 0; i < nvalues; i++)
		for (s = values[i], count++; (s = strchr(s, ',')) != NULL; s++)
			count++;
	p->n = 0;
	if ((p->v = calloc(count + 1, sizeof(*p->v))) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	for (i = 0; i < nvalues; i++) {
		for (s = values[i];; s = e + 1) {
			e = s + strcspn(s, ",");
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			len = (size_t)(e - s);
			while (len > 0 && (s[len - 1] == ' ' ||
			    s[len - 1] == '\t'))
				len--;
			if (len == 0)
				return cf_error(msg, msgsz, CF_EINVAL, "%s '%s' "
				    "holds an empty name", option, values[i]);
			if ((p->v[p->n].text = strndup(s, len)) == NULL)
				return cf_error(msg, msgsz, CF_ENOMEM,
				    "out of memory");
			p->v[p->n++].option = option;
			if (*e == '\0')
				break;
		}
	}
	return 0;
}

/* True when any pattern matches s; marks every pattern that does. */
static bool match_any(struct patterns *p, const struct server *s)
{
	size_t i;
	bool hit = false;

	for (i = 0; i < p->n; i++)
		if (server_matches(s, p->v[i].text)) {
			p->v[i].used = true;
			hit = true;
		}
	return hit;
}

/* The first pattern nothing matched, named as the user wrote it. */
static int unused(const struct patterns *p, const struct fleet *f,
    char *msg, size_t msgsz)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (p->v[i].used)
			continue;
		if (strpbrk(p->v[i].text, "*?[") == NULL)
			return cf_error(msg, msgsz, CF_ENOENT, "%s '%s' names no "
			    "server or group in '%s'", p->v[i].option,
			    p->v[i].text, f->path);
		return cf_error(msg, msgsz, CF_ENOENT, "%s '%s' matches no "
		    "server or group name in '%s'", p->v[i].option,
		    p->v[i].text, f->path);
	}
	return 0;
}

int fleet_select(const struct fleet *f, const struct fleet_selection *sel,
    const struct server **out, size_t *n, char *msg, size_t msgsz)
{
	struct patterns lim = { NULL, 0 }, exc = { NULL, 0 };
	size_t i, chosen = 0;
	bool in, skip;
	int rc;

	*n = 0;
	if ((rc = patterns_split(&lim, "--limit", sel->limit, sel->nlimit, msg,
	    msgsz)) != 0 || (rc = patterns_split(&exc, "--exclude",
	    sel->exclude, sel->nexclude, msg, msgsz)) != 0)
		goto done;
	for (i = 0; i < f->nservers; i++) {
		/* Both sides are matched in full so that every pattern's use
		 * is known, whichever side decides. */
		in = sel->nlimit == 0 || match_any(&lim, &f->servers[i]);
		skip = match_any(&exc, &f->servers[i]);
		if (!in || skip)
			continue;
		chosen++;
		if (shard_has(&sel->shard, f->servers[i].name))
			out[(*n)++] = &f->servers[i];
	}
	if ((rc = unused(&lim, f, msg, msgsz)) != 0 ||
	    (rc = unused(&exc, f, msg, msgsz)) != 0)
		goto done;
	if (chosen == 0)
		rc = cf_error(msg, msgsz, CF_ENOENT, "--exclude leaves no server "
		    "of '%s'", f->path);
done:
	patterns_release(&lim);
	patterns_release(&exc);
	return rc;
}
