/*
 * Server entries: their life, what they inherit, and the checks that need
 * the whole entry (transport, PKCS#12, key reuse). Each key is read by
 * server_keys.c. Everything that can reach a path or a command later is
 * checked at load.
 */
#include "inventory/server.h"
#include "inventory/renew_cfg.h"
#include "engine/base/path.h"
#include "engine/base/san.h"
#include "engine/base/strv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void server_init(struct server *s)
{
	memset(s, 0, sizeof(*s));
	vars_init(&s->vars);
	s->approval = -1;
	s->split_of = -1;
	renew_policy_init(&s->renew);
}

static void binding_release(struct usage_binding *b)
{
	free(b->cert);
	free(b->key);
	free(b->chain);
	free(b->fullchain);
	free(b->pkcs12);
	free(b->pkcs12_passphrase_file);
	strv_free(b->reload);
	memset(b, 0, sizeof(*b));
}

void server_release(struct server *s)
{
	int u;

	free(s->name);
	free(s->address);
	free(s->verify_address);
	free(s->verify);
	free(s->root);
	free(s->ssh.user);
	free(s->ssh.identity_file);
	free(s->ssh.ssh_config);
	free(s->ssh.known_hosts);
	strv_free(s->groups);
	vars_release(&s->vars);
	free(s->store.roots);
	free(s->store.intermediates);
	free(s->store.certs);
	free(s->webroot);
	for (u = 0; s->bindings && u < (int)s->nbindings; u++)
		binding_release(&s->bindings[u]);
	free(s->bindings);
	free(s->file);
	free(s->request);
	server_init(s);
}

bool server_name_valid(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n > 64 || !isalnum((unsigned char)name[0]))
		return false;
	for (i = 1; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '.' &&
		    name[i] != '_' && name[i] != '-')
			return false;
	return true;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

bool server_bindings_alloc(struct server *s, unsigned n)
{
	s->bindings = calloc(n, sizeof *s->bindings);
	s->nbindings = s->bindings ? n : 0;
	return s->bindings != NULL;
}

/* Copies what a server inherits from the fleet-wide defaults. */
static bool inherit(struct server *s, const struct server *def)
{
	size_t i;
	int u;

	s->utab = def->utab;
	s->usages = def->usages;
	s->keygen_server = def->keygen_server;
	s->renew = def->renew;
	s->ssh.user = dup_or_null(def->ssh.user);
	s->ssh.port = def->ssh.port;
	s->ssh.identity_file = dup_or_null(def->ssh.identity_file);
	s->ssh.ssh_config = dup_or_null(def->ssh.ssh_config);
	s->ssh.known_hosts = dup_or_null(def->ssh.known_hosts);
	s->ssh.accept_new = def->ssh.accept_new;
	s->ssh.connect_timeout = def->ssh.connect_timeout;
	s->store.roots = dup_or_null(def->store.roots);
	s->store.intermediates = dup_or_null(def->store.intermediates);
	s->store.certs = dup_or_null(def->store.certs);
	s->webroot = dup_or_null(def->webroot);
	/* One binding per usage the table has: not the cap, for fleets of
	 * 100,000 servers. */
	if (!server_bindings_alloc(s, def->utab->n))
		return false;
	for (u = 0; u < (int)s->nbindings; u++) {
		const struct usage_binding *d = &def->bindings[u];
		struct usage_binding *b = &s->bindings[u];

		b->cert = dup_or_null(d->cert);
		b->key = dup_or_null(d->key);
		b->chain = dup_or_null(d->chain);
		b->fullchain = dup_or_null(d->fullchain);
		b->pkcs12 = dup_or_null(d->pkcs12);
		b->pkcs12_passphrase_file = dup_or_null(
		    d->pkcs12_passphrase_file);
		b->reload = strv_dup(d->reload);
		b->reload_timeout = d->reload_timeout;
	}
	for (i = 0; i < def->vars.n; i++)
		if (vars_set(&s->vars, def->vars.v[i].key,
		    def->vars.v[i].value) != 0)
			return false;
	return true;
}



/*
 * The remote helper makes a new key every time (ssh_remote.sh), so keys
 * made on the server cannot be reused yet: refused at reuse_key, or at
 * keygen when reuse_key is the fleet's (the fleet's own pair is fleet.c's
 * to report, in server_parse_defaults).
 */
static void check_reuse(const struct server *s, const struct cfg *c,
    const struct layers *L)
{
	config_setting_t *k;
	size_t at;

	if (!s->renew.reuse_key || !s->keygen_server)
		return;
	if ((k = layers_get(L, "reuse_key", &at)) == NULL ||
	    L->v[at].kind == LAYER_FLEET)
		k = layers_get(L, "keygen", &at);
	if (k != NULL && L->v[at].kind != LAYER_FLEET)
		cfg_error(c, k, "reuse_key = true in %s needs keygen = "
		    "\"controller\": a key made on the server is not reused "
		    "(this version makes a new one at every renewal)",
		    L->v[at].what);
}

static void parse_groups(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	int *lines = NULL;
	size_t i;

	if (!cfg_strings(c, g, "groups", false, &s->groups, &s->ngroups,
	    &lines, what))
		return;
	for (i = 0; i < s->ngroups; i++)
		if (!server_name_valid(s->groups[i]))
			diags_add(c->diags, cfg_file(c, g), lines[i], "group "
			    "name '%s' in %s must match "
			    "[A-Za-z0-9][A-Za-z0-9._-]*", s->groups[i], what);
	free(lines);
}

/* True when every path b binds is absolute (or unset). */
static bool binding_absolute(const struct usage_binding *b)
{
	const char *p[5] = { b->cert, b->key, b->chain, b->fullchain,
	    b->pkcs12 };
	int i;

	for (i = 0; i < 5; i++)
		if (p[i] != NULL && p[i][0] != '/')
			return false;
	return true;
}

/* A PKCS#12 file holds the key: it is made where the key is. */
static void check_pkcs12(const struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	unsigned u;

	for (u = 0; s->keygen_server && u < USAGE_CAP; u++)
		if ((s->usages & (1u << u)) && s->bindings[u].pkcs12) {
			cfg_error(c, g, "usage '%s' of %s has a pkcs12 file, "
			    "which keygen = \"server\" cannot make (the key "
			    "never leaves the server)",
			    usage_name(s->utab, u), what);
			return;
		}
}

/* What only makes sense for one transport. */
static void check_transport(const struct server *s, const struct cfg *c,
    const struct layers *L, const char *what)
{
	const char *paths[4] = { s->store.roots, s->store.intermediates,
	    s->store.certs, s->webroot };
	config_setting_t *g = L->v[L->n - 1].g, *k;
	size_t at;
	int i, u;

	if (s->transport == TRANSPORT_LOCAL) {
		/* One inherited from the fleet is fleet.c's to report. */
		k = layers_get(L, "keygen", &at);
		if (s->keygen_server && k && L->v[at].kind != LAYER_FLEET)
			cfg_error(c, k, "keygen = \"server\" in %s needs "
			    "transport = \"ssh\"", L->v[at].what);
		return;
	}
	/* Without a root, server paths are taken from "/": they must say
	 * so, rather than land in "/trust/roots" by accident. */
	if (s->root != NULL)
		return;
	for (i = 0; i < 4; i++)
		if (paths[i] && paths[i][0] != '/') {
			cfg_error(c, g, "ssh %s needs absolute store and webroot "
			    "paths (store = { roots = \"/...\"; ... }) or a "
			    "'root' directory on the server; '%s' is relative",
			    what, paths[i]);
			return;
		}
	for (u = 0; u < (int)s->nbindings; u++)
		if (!binding_absolute(&s->bindings[u])) {
			cfg_error(c, g, "ssh %s needs absolute usage_bindings "
			    "paths, or a 'root' directory on the server", what);
			return;
		}
}

bool server_parse(struct server *s, const struct cfg *c,
    const struct layers *L, const struct server *def)
{
	config_setting_t *g = L->v[L->n - 1].g;
	const char *name = NULL;
	size_t before = c->diags->n;
	char what[128];

	s->file = strdup(cfg_file(c, g));
	s->line = cfg_line(g);
	if (!inherit(s, def)) {
		cfg_error(c, g, "out of memory");
		return false;
	}
	if (cfg_string(c, g, "name", true, &name, "server")) {
		if (server_name_valid(name))
			s->name = strdup(name);
		else
			cfg_error(c, config_setting_get_member(g, "name"),
			    "invalid server name '%s': use letters, digits, "
			    "'.', '_' and '-', starting with a letter or digit "
			    "(at most 64)", name);
	}
	if (s->name)
		snprintf(what, sizeof what, "server '%s'", s->name);
	else
		snprintf(what, sizeof what, "server");
	cfg_check_keys(c, g, what, server_keys());
	server_parse_address(c, g, "address", true, &s->address, what);
	parse_groups(s, c, g, what);
	server_parse_settings(s, c, L);
	check_reuse(s, c, L);
	if (s->transport == TRANSPORT_LOCAL && s->root == NULL &&
	    layers_get(L, "root", NULL) == NULL)
		cfg_error(c, g, "missing 'root' in %s", what);
	check_transport(s, c, L, what);
	check_pkcs12(s, c, g, what);
	return c->diags->n == before;
}
