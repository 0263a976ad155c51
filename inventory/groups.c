/* Group entries, checked once each, and what a server's layers resolve to. */
#include "inventory/groups.h"
#include "inventory/requests.h"
#include "inventory/server.h"

#include <stdio.h>
#include <string.h>

/* Keys that identify one server: a group setting them is a mistake. */
static const char *const own_keys[] = { "name", "address", "groups", NULL };

static void check_one(const struct fleet *f, const struct cfg *c,
    config_setting_t *root, config_setting_t *g)
{
	const char *name = config_setting_name(g);
	struct layers L;
	struct server s;
	char what[96];
	size_t i;

	snprintf(what, sizeof what, "group '%s'", name);
	if (!config_setting_is_group(g)) {
		cfg_error(c, g, "'%s' in groups must be a group { settings }",
		    name);
		return;
	}
	for (i = 0; own_keys[i]; i++)
		if (config_setting_get_member(g, own_keys[i]) != NULL)
			cfg_error(c, config_setting_get_member(g, own_keys[i]),
			    "'%s' cannot be set in %s: it belongs to each "
			    "server entry", own_keys[i], what);
	cfg_check_keys(c, g, what, server_keys());
	layers_init(&L);
	server_init(&s);
	/* The fleet's usages, so that a group may name and bind its own. */
	s.utab = &f->utab;
	if (layers_of_group(&L, root, g, name) != 0 ||
	    !server_bindings_alloc(&s, f->utab.n)) {
		cfg_error(c, g, "out of memory");
	} else {
		server_parse_settings(&s, c, &L);
		groups_resolve(f, c, &L, &s, true);
	}
	server_release(&s);
	layers_release(&L);
}

void groups_check(const struct fleet *f, const struct cfg *c,
    config_setting_t *root)
{
	config_setting_t *g = cfg_group(c, root, "groups", "the fleet file");
	int i, n;

	if (g == NULL)
		return;
	n = config_setting_length(g);
	for (i = 0; i < n; i++)
		check_one(f, c, root, config_setting_get_elem(g, (unsigned)i));
}

void groups_resolve(const struct fleet *f, const struct cfg *c,
    const struct layers *L, struct server *s, bool have_default)
{
	config_setting_t *m;
	size_t at;

	requests_resolve(f, c, L, s, have_default);
	s->manual_approval = s->approval < 0 ? f->ca.manual_approval :
	    s->approval == 1;
	if (s->approval != 1 || f->ca.type == CA_LOCAL)
		return;
	m = layers_get(L, "approval", &at);
	cfg_error(c, m, "approval = \"manual\" in %s needs the embedded CA "
	    "(ca.type = \"local\"): only its requests wait for 'certfleet "
	    "approve'; a%s %s CA decides on its own", m ? L->v[at].what :
	    "server", f->ca.type == CA_ACME ? "n" : "",
	    ca_type_names[f->ca.type]);
}
