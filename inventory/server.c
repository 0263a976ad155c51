/*
 * Server entries. Everything here that can reach a path or a command later
 * is checked now: names, addresses, groups, store paths, reload commands.
 */
#include "inventory/server.h"
#include "engine/base/path.h"
#include "engine/base/san.h"
#include "engine/base/strv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const server_keys[] = {
	"name", "address", "transport", "root", "groups", "vars", "usages",
	"store", "usage_bindings", "keygen", "user", "port", "identity_file",
	"ssh_config", "known_hosts", "host_key_policy", "connect_timeout",
	"webroot", "verify_address", "verify", NULL
};
static const char *const ssh_keys[] = {
	"user", "port", "identity_file", "ssh_config", "known_hosts",
	"host_key_policy", "connect_timeout", NULL
};
static const char *const store_keys[] = {
	"roots", "intermediates", "certs", NULL
};
static const char *const binding_keys[] = {
	"cert", "key", "chain", "fullchain", "pkcs12", "pkcs12_passphrase_file",
	"reload", "reload_timeout", NULL
};

void server_init(struct server *s)
{
	memset(s, 0, sizeof(*s));
	vars_init(&s->vars);
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

/* A server path: where a file lives on the server, below its root. */
static void server_path(const struct cfg *c, config_setting_t *g,
    const char *key, char **out, const char *what)
{
	const char *p;

	if (!cfg_string(c, g, key, false, &p, what))
		return;
	if (!path_is_confined(p)) {
		cfg_error(c, config_setting_get_member(g, key), "'%s' in %s "
		    "must be a path without '..' or control characters, not "
		    "'%s'", key, what, p);
		return;
	}
	free(*out);
	*out = strdup(p);
}

static void parse_store(struct server *s, const struct cfg *c,
    config_setting_t *parent, const char *what)
{
	config_setting_t *g = cfg_group(c, parent, "store", what);
	char w[160];

	if (g == NULL)
		return;
	snprintf(w, sizeof w, "store of %s", what);
	cfg_check_keys(c, g, w, store_keys);
	server_path(c, g, "roots", &s->store.roots, w);
	server_path(c, g, "intermediates", &s->store.intermediates, w);
	server_path(c, g, "certs", &s->store.certs, w);
}

/* The list form of `usages`; top is the fleet file's level, where the
 * group form (usages.c) may stand instead. */
static void parse_usages(struct server *s, const struct cfg *c,
    config_setting_t *parent, const char *what, bool top)
{
	char **names = NULL, known[USAGE_CAP * (USAGE_NAME_MAX + 4)];
	int *lines = NULL, u;
	size_t n = 0, i;
	config_setting_t *m = config_setting_get_member(parent, "usages");

	/* The fleet file's group form defines usages (usages.c). */
	if (top && m != NULL && config_setting_is_group(m))
		return;
	if (!cfg_strings(c, parent, "usages", false, &names, &n, &lines,
	    what))
		return;
	s->usages = 0;
	for (i = 0; i < n; i++) {
		if ((u = usage_from_name(s->utab, names[i])) < 0) {
			usage_names_text(s->utab, known, sizeof known);
			diags_add(c->diags, cfg_file(c, parent), lines[i],
			    "unknown usage '%s' (use %s)", names[i], known);
		} else
			s->usages |= 1u << u;
	}
	if (n == 0)
		cfg_error(c, config_setting_get_member(parent, "usages"),
		    "'usages' in %s must name at least one usage", what);
	strv_free(names);
	free(lines);
}

static void parse_reload(struct usage_binding *b, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	char **argv = NULL;
	size_t n = 0, i;
	int *lines = NULL;

	if (!cfg_strings(c, g, "reload", false, &argv, &n, &lines, what))
		return;
	if (n == 0) {
		cfg_error(c, config_setting_get_member(g, "reload"), "'reload' "
		    "in %s must hold a command and its arguments", what);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (argv[i][0] == '\0' || str_has_control(argv[i])) {
			diags_add(c->diags, cfg_file(c, g), lines[i], "argument "
			    "%zu of 'reload' in %s must be non-empty, without "
			    "control characters", i + 1, what);
			goto out;
		}
	}
	strv_free(b->reload);
	b->reload = argv;
	argv = NULL;
out:
	strv_free(argv);
	free(lines);
}

void server_parse_binding(struct usage_binding *ub, const struct cfg *c,
    config_setting_t *b, const char *what)
{
	const char *p;

	server_path(c, b, "cert", &ub->cert, what);
	server_path(c, b, "key", &ub->key, what);
	server_path(c, b, "chain", &ub->chain, what);
	server_path(c, b, "fullchain", &ub->fullchain, what);
	server_path(c, b, "pkcs12", &ub->pkcs12, what);
	if (cfg_string(c, b, "pkcs12_passphrase_file", false, &p, what)) {
		free(ub->pkcs12_passphrase_file);
		ub->pkcs12_passphrase_file = cfg_path(c,
		    config_setting_get_member(b, "pkcs12_passphrase_file"), p);
		if (ub->pkcs12_passphrase_file != NULL &&
		    access(ub->pkcs12_passphrase_file, R_OK) != 0)
			cfg_error(c, config_setting_get_member(b,
			    "pkcs12_passphrase_file"), "pkcs12_passphrase_file "
			    "'%s' in %s cannot be read: %s", p, what,
			    strerror(errno));
	}
	parse_reload(ub, c, b, what);
	cfg_int(c, b, "reload_timeout", false, 1, 3600, &ub->reload_timeout,
	    what);
	if ((ub->pkcs12 == NULL) != (ub->pkcs12_passphrase_file == NULL))
		cfg_error(c, b, "%s needs both 'pkcs12' and "
		    "'pkcs12_passphrase_file', or neither", what);
}

static void parse_bindings(struct server *s, const struct cfg *c,
    config_setting_t *parent, const char *what)
{
	config_setting_t *g = cfg_group(c, parent, "usage_bindings", what);
	char w[160];
	int i, n, u;

	if (g == NULL)
		return;
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		config_setting_t *b = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(b);
		struct usage_binding *ub;

		if ((u = usage_from_name(s->utab, name)) < 0) {
			cfg_error(c, b, "unknown usage '%s' in usage_bindings "
			    "of %s", name, what);
			continue;
		}
		if (!config_setting_is_group(b)) {
			cfg_error(c, b, "'%s' in usage_bindings of %s must be a "
			    "group { ... }", name, what);
			continue;
		}
		ub = &s->bindings[u];
		snprintf(w, sizeof w, "usage_bindings.%s of %s", name, what);
		cfg_check_keys(c, b, w, binding_keys);
		server_parse_binding(ub, c, b, w);
	}
}

static void parse_vars(struct server *s, const struct cfg *c,
    config_setting_t *parent, const char *what)
{
	config_setting_t *g = cfg_group(c, parent, "vars", what);
	char num[32];
	int i, n;

	if (g == NULL)
		return;
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		config_setting_t *v = config_setting_get_elem(g, (unsigned)i);
		const char *key = config_setting_name(v), *val;

		if (!vars_key_valid(key)) {
			cfg_error(c, v, "variable name '%s' in %s must match "
			    "[A-Za-z_][A-Za-z0-9_]*", key, what);
			continue;
		}
		switch (config_setting_type(v)) {
		case CONFIG_TYPE_STRING:
			val = config_setting_get_string(v);
			break;
		case CONFIG_TYPE_INT:
		case CONFIG_TYPE_INT64:
			snprintf(num, sizeof num, "%lld",
			    config_setting_get_int64(v));
			val = num;
			break;
		default:
			cfg_error(c, v, "variable '%s' in %s must be a string "
			    "or an integer", key, what);
			continue;
		}
		if (str_has_control(val)) {
			cfg_error(c, v, "variable '%s' in %s holds a control "
			    "character", key, what);
			continue;
		}
		if (vars_set(&s->vars, key, val) != 0)
			cfg_error(c, v, "out of memory");
	}
}

/* A login name as useradd(8) accepts it. */
static bool user_valid(const char *u)
{
	size_t n = strlen(u), i;

	if (n == 0 || n > 32 || !(islower((unsigned char)u[0]) || u[0] == '_'))
		return false;
	for (i = 1; i < n; i++)
		if (!islower((unsigned char)u[i]) && !isdigit((unsigned char)u[i]) &&
		    u[i] != '_' && u[i] != '-' && u[i] != '.')
			return false;
	return true;
}

/* A local file handed to ssh: ssh expands '%' tokens and splits some
 * options on white space, so neither may appear. */
static void ssh_file(const struct cfg *c, config_setting_t *g,
    const char *key, char **out, const char *what)
{
	const char *p;

	if (!cfg_string(c, g, key, false, &p, what))
		return;
	if (*p == '\0' || str_has_control(p) || strpbrk(p, "% \t") != NULL) {
		cfg_error(c, config_setting_get_member(g, key), "'%s' in %s "
		    "must be a path without spaces, '%%' or control "
		    "characters", key, what);
		return;
	}
	free(*out);
	*out = cfg_path(c, config_setting_get_member(g, key), p);
}

/* The ssh settings of group g (a server, or the fleet's `ssh` group). */
static void parse_ssh(struct ssh_settings *ss, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	static const char *const policies[] = { "strict", "accept-new", NULL };
	const char *user;
	int policy;

	if (cfg_string(c, g, "user", false, &user, what)) {
		if (user_valid(user)) {
			free(ss->user);
			ss->user = strdup(user);
		} else {
			cfg_error(c, config_setting_get_member(g, "user"),
			    "invalid user '%s' in %s: use a login name "
			    "([a-z_][a-z0-9_.-]*)", user, what);
		}
	}
	cfg_int(c, g, "port", false, 1, 65535, &ss->port, what);
	cfg_int(c, g, "connect_timeout", false, 1, 600, &ss->connect_timeout,
	    what);
	ssh_file(c, g, "identity_file", &ss->identity_file, what);
	ssh_file(c, g, "ssh_config", &ss->ssh_config, what);
	ssh_file(c, g, "known_hosts", &ss->known_hosts, what);
	if ((policy = cfg_enum(c, g, "host_key_policy", policies, what)) >= 0)
		ss->accept_new = policy == 1;
}

static void parse_keygen(bool *server, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	static const char *const names[] = { "controller", "server", NULL };
	int k = cfg_enum(c, g, "keygen", names, what);

	if (k >= 0)
		*server = k == 1;
}

bool server_parse_defaults(struct server *d, const struct cfg *c,
    config_setting_t *g)
{
	config_setting_t *ssh = cfg_group(c, g, "ssh", "the fleet file");
	/* fleet.c reports a `fleet` that is not a group. */
	config_setting_t *fl = config_setting_get_member(g, "fleet");
	size_t before = c->diags->n;

	if (ssh != NULL) {
		cfg_check_keys(c, ssh, "ssh", ssh_keys);
		parse_ssh(&d->ssh, c, ssh, "ssh");
	}
	if (fl != NULL && config_setting_is_group(fl))
		parse_keygen(&d->keygen_server, c, fl, "fleet");
	parse_store(d, c, g, "the fleet file");
	server_path(c, g, "webroot", &d->webroot, "the fleet file");
	parse_usages(d, c, g, "the fleet file", true);
	parse_bindings(d, c, g, "the fleet file");
	parse_vars(d, c, g, "the fleet file");
	return c->diags->n == before;
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
    config_setting_t *g, const char *what)
{
	const char *paths[4] = { s->store.roots, s->store.intermediates,
	    s->store.certs, s->webroot };
	int i, u;

	if (s->transport == TRANSPORT_LOCAL) {
		if (s->keygen_server && config_setting_get_member(g, "keygen"))
			cfg_error(c, config_setting_get_member(g, "keygen"),
			    "keygen = \"server\" in %s needs transport = "
			    "\"ssh\"", what);
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
    config_setting_t *g, const struct server *def)
{
	const char *name = NULL, *address, *root;
	size_t before = c->diags->n;
	char what[128];
	int t;

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
	cfg_check_keys(c, g, what, server_keys);
	if (cfg_string(c, g, "address", true, &address, what)) {
		if (host_is_valid(address, false) ||
		    ip_parse(address, NULL, NULL))
			s->address = strdup(address);
		else
			cfg_error(c, config_setting_get_member(g, "address"),
			    "invalid address '%s' in %s: not a host name "
			    "(RFC 1123) or an IP address", address, what);
	}
	if (cfg_string(c, g, "verify_address", false, &address, what)) {
		if (host_is_valid(address, false) ||
		    ip_parse(address, NULL, NULL))
			s->verify_address = strdup(address);
		else
			cfg_error(c, config_setting_get_member(g,
			    "verify_address"), "invalid verify_address '%s' in "
			    "%s: not a host name (RFC 1123) or an IP address",
			    address, what);
	}
	s->verify_set = rollout_verify_parse(c, g, s->utab, what, &s->verify,
	    &s->nverify);
	t = cfg_enum(c, g, "transport", transport_type_names, what);
	s->transport = t >= 0 ? (enum transport_type)t : TRANSPORT_LOCAL;
	if (s->transport == TRANSPORT_LOCAL &&
	    cfg_string(c, g, "root", true, &root, what)) {
		if (root[0] == '\0' || str_has_control(root))
			cfg_error(c, config_setting_get_member(g, "root"),
			    "'root' in %s must be a path without control "
			    "characters", what);
		else
			s->root = cfg_path(c, config_setting_get_member(g,
			    "root"), root);
	}
	/* On an ssh server, root is a directory on the server itself. */
	if (s->transport == TRANSPORT_SSH &&
	    cfg_string(c, g, "root", false, &root, what)) {
		if (root[0] != '/' || !path_is_confined(root))
			cfg_error(c, config_setting_get_member(g, "root"),
			    "'root' of ssh %s must be an absolute path on the "
			    "server without '..' or control characters", what);
		else
			s->root = strdup(root);
	}
	parse_ssh(&s->ssh, c, g, what);
	parse_keygen(&s->keygen_server, c, g, what);
	parse_groups(s, c, g, what);
	parse_vars(s, c, g, what);
	parse_usages(s, c, g, what, false);
	parse_store(s, c, g, what);
	server_path(c, g, "webroot", &s->webroot, what);
	parse_bindings(s, c, g, what);
	check_transport(s, c, g, what);
	check_pkcs12(s, c, g, what);
	return c->diags->n == before;
}
