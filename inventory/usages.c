/* Usage definitions of the fleet file (see usages.h). */
#include "inventory/usages.h"
#include "engine/base/reqspec.h"
#include "engine/base/strv.h"
#include "inventory/requests.h"
#include "inventory/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const usage_keys[] = {
	"cert", "key", "chain", "fullchain", "pkcs12", "pkcs12_passphrase_file",
	"eku", "reload", "reload_timeout", "verify", "request", NULL
};

/* The `eku` list of usage group g: enum eku_flags, or keep when absent. */
static unsigned parse_eku(const struct cfg *c, config_setting_t *g,
    const char *what, unsigned keep)
{
	char **names = NULL;
	int *lines = NULL;
	size_t n = 0, i;
	unsigned eku = 0, f;

	if (!cfg_strings(c, g, "eku", false, &names, &n, &lines, what))
		return keep;
	for (i = 0; i < n; i++) {
		if ((f = eku_from_name(names[i])) == 0)
			diags_add(c->diags, cfg_file(c, g), lines[i],
			    "unknown EKU '%s' in %s (use serverAuth, "
			    "clientAuth, codeSigning, emailProtection or "
			    "timeStamping)", names[i], what);
		eku |= f;
	}
	strv_free(names);
	free(lines);
	return eku;
}

/*
 * request = "NAME": the usage's certificate comes from that template of
 * `requests`, so a server whose other usages use another template gets a
 * second certificate (fleet.c makes it an entry of its own).
 */
static void parse_request(struct fleet *f, const struct cfg *c,
    config_setting_t *g, unsigned u, const char *what)
{
	const char *name;
	char known[256] = "";
	size_t i, k = 0;

	if (!cfg_string(c, g, "request", false, &name, what))
		return;
	if ((f->uinfo[u].request = requests_find(f, name)) != NULL)
		return;
	for (i = 0; i < f->nrequests && k + 40 < sizeof known; i++)
		k += (size_t)snprintf(known + k, sizeof known - k, "%s%s",
		    i ? ", " : "requests has: ", f->requests[i].name);
	cfg_error(c, config_setting_get_member(g, "request"), "unknown "
	    "request template '%s' in %s (%s)", name, what, f->nrequests ?
	    known : "the fleet file has no 'requests'");
}

/* One `NAME = { ... }` of the group: its table entry and binding. */
static void parse_one(struct fleet *f, struct server *def,
    const struct cfg *c, config_setting_t *g)
{
	struct usage_table *t = &f->utab;
	const char *name = config_setting_name(g);
	char what[64];
	int u, port = 0;

	snprintf(what, sizeof what, "usage '%s'", name);
	if (!usage_name_valid(name)) {
		cfg_error(c, g, "usage name '%s' must match [a-z0-9_]{1,32} (it "
		    "becomes a file name)", name);
		return;
	}
	if (!config_setting_is_group(g)) {
		cfg_error(c, g, "%s in usages must be a group { cert = ...; }",
		    what);
		return;
	}
	u = usage_from_name(t, name);
	if ((u = usage_table_add(t, name, u >= 0 ? t->def[u].eku :
	    EKU_SERVER_AUTH)) < 0) {
		cfg_error(c, g, "too many usages: at most %d, the %d "
		    "predefined ones included", USAGE_CAP, USAGE_PREDEFINED);
		return;
	}
	cfg_check_keys(c, g, what, usage_keys);
	free(f->uinfo[u].file);
	f->uinfo[u].file = strdup(cfg_file(c, g));
	f->uinfo[u].line = cfg_line(g);
	t->def[u].eku = parse_eku(c, g, what, t->def[u].eku);
	if (cfg_int(c, g, "verify", false, 1, 65535, &port, what))
		f->uinfo[u].port = port;
	parse_request(f, c, g, u, what);
	server_parse_binding(&def->bindings[u], c, g, what);
	def->usages |= 1u << u;
}

void fleet_usages_parse(struct fleet *f, struct server *def,
    const struct cfg *c, config_setting_t *root)
{
	config_setting_t *g = config_setting_get_member(root, "usages");
	int i, n;

	if (g == NULL || !config_setting_is_group(g))
		return;
	def->usages = 0;
	n = config_setting_length(g);
	for (i = 0; i < n; i++)
		parse_one(f, def, c, config_setting_get_elem(g, (unsigned)i));
	if (n == 0)
		cfg_error(c, g, "'usages' in the fleet file must define at "
		    "least one usage");
}

bool fleet_usages_verify(struct fleet *f)
{
	struct fleet_rollout *r = &f->rollout;
	struct rollout_verify *v;
	unsigned u;
	size_t k;

	for (u = 0; u < f->utab.n; u++) {
		if (f->uinfo[u].port == 0)
			continue;
		for (k = 0; k < r->nverify && r->verify[k].usage != u; k++)
			;
		if (k < r->nverify)
			continue;
		v = realloc(r->verify, (r->nverify + 2) * sizeof *v);
		if (v == NULL)
			return false;
		r->verify = v;
		r->verify[r->nverify++] = (struct rollout_verify){ u,
		    f->uinfo[u].port };
	}
	return true;
}
