/* Named request templates, and which one each server gets. */
#include "inventory/requests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool request_setting_parse(struct template *t, const struct cfg *c,
    config_setting_t *r, const char *what)
{
	char *path;
	bool ok;

	if (config_setting_is_group(r))
		return template_parse(t, c, r);
	if (config_setting_type(r) != CONFIG_TYPE_STRING) {
		cfg_error(c, r, "%s must be a template file name or a group "
		    "{ ... }", what);
		return false;
	}
	if ((path = cfg_path(c, r, config_setting_get_string(r))) == NULL)
		return false;
	ok = template_load(t, path, c->diags, cfg_file(c, r), cfg_line(r));
	free(path);
	return ok;
}

void requests_parse(struct fleet *f, const struct cfg *c,
    config_setting_t *root)
{
	config_setting_t *g = cfg_group(c, root, "requests", "the fleet file");
	char what[128];
	int i, n;

	if (g == NULL)
		return;
	n = config_setting_length(g);
	if ((f->requests = calloc((size_t)n + 1, sizeof(*f->requests))) ==
	    NULL) {
		cfg_error(c, g, "out of memory");
		return;
	}
	for (i = 0; i < n; i++) {
		config_setting_t *r = config_setting_get_elem(g, (unsigned)i);
		struct named_request *nr = &f->requests[f->nrequests++];

		template_init(&nr->tmpl);
		nr->name = strdup(config_setting_name(r));
		snprintf(what, sizeof what, "'%s' in requests", nr->name);
		nr->ok = nr->name && request_setting_parse(&nr->tmpl, c, r,
		    what);
	}
	if (n == 0)
		cfg_error(c, g, "'requests' names no template: add NAME = "
		    "\"file\"; or remove it");
}

void requests_release(struct fleet *f)
{
	size_t i;

	for (i = 0; i < f->nrequests; i++) {
		free(f->requests[i].name);
		template_release(&f->requests[i].tmpl);
	}
	free(f->requests);
	f->requests = NULL;
	f->nrequests = 0;
}

const struct named_request *requests_find(const struct fleet *f,
    const char *name)
{
	size_t i;

	for (i = 0; i < f->nrequests; i++)
		if (strcmp(f->requests[i].name, name) == 0)
			return &f->requests[i];
	return NULL;
}

/* "web, mail" or "none: there is no 'requests'". */
static const char *names(const struct fleet *f, char *buf, size_t bufsz)
{
	size_t i, o = 0;

	snprintf(buf, bufsz, "there is no 'requests'");
	for (i = 0; i < f->nrequests && o < bufsz; i++)
		o += (size_t)snprintf(buf + o, bufsz - o, "%s%s", i == 0 ?
		    "requests has: " : ", ", f->requests[i].name);
	return buf;
}

void requests_resolve(const struct fleet *f, const struct cfg *c,
    const struct layers *L, struct server *s, bool have_default)
{
	const struct named_request *nr;
	config_setting_t *at;
	char list[512];
	size_t i;

	if (s->request == NULL) {
		s->tmpl = have_default ? &f->tmpl : NULL;
		return;
	}
	if ((nr = requests_find(f, s->request)) != NULL) {
		s->tmpl = nr->ok ? &nr->tmpl : NULL;
		return;
	}
	at = layers_get(L, "request", &i);
	cfg_error(c, at, "unknown request template '%s' in %s (%s)",
	    s->request, at ? L->v[i].what : "server", names(f, list,
	    sizeof list));
}
