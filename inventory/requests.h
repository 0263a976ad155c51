/*
 * Request templates by name: `requests = { web = "templates/web.cfg";
 * mail = { subject = ...; }; }`, chosen by `request = "web"` in a server
 * or one of its groups; the top-level `request` is the default template.
 */
#ifndef CF_REQUESTS_H
#define CF_REQUESTS_H

#include "inventory/cfg.h"
#include "inventory/fleet.h"
#include "inventory/layers.h"

/*
 * Reads a template given as setting r: a file name (taken from the
 * directory of the file naming it) or an inline group. what names r in
 * messages ("'request'"). Returns true when the template is usable.
 */
bool request_setting_parse(struct template *t, const struct cfg *c,
    config_setting_t *r, const char *what);

/* Reads the fleet file's `requests` into f->requests. */
void requests_parse(struct fleet *f, const struct cfg *c,
    config_setting_t *root);

void requests_release(struct fleet *f);

/* The template called name, or NULL. */
const struct named_request *requests_find(const struct fleet *f,
    const char *name);

/*
 * Points s->tmpl at the template s->request names (the one L's layers
 * choose), or at the default when none is named and have_default. An
 * unknown name is reported where it is set, naming the templates there
 * are. s->tmpl stays NULL when the template is unusable.
 */
void requests_resolve(const struct fleet *f, const struct cfg *c,
    const struct layers *L, struct server *s, bool have_default);

#endif
