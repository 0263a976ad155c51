/*
 * The keys of a server entry, one parser each, and the table that says
 * which a group may set and how layers combine (server_parse_settings).
 * The fleet-wide defaults are read here by the same parsers.
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

/* A server's or group's usages: the list form only. */
static void parse_usages_list(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	parse_usages(s, c, g, what, false);
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

/* One parser per key, each reading only its key of group g: the layer
 * that sets it, be it the server, a group or the fleet's defaults. */
typedef void (*key_parse_fn)(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what);

static void ssh_user(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	const char *user;

	if (!cfg_string(c, g, "user", false, &user, what))
		return;
	if (user_valid(user)) {
		free(s->ssh.user);
		s->ssh.user = strdup(user);
	} else {
		cfg_error(c, config_setting_get_member(g, "user"),
		    "invalid user '%s' in %s: use a login name "
		    "([a-z_][a-z0-9_.-]*)", user, what);
	}
}

static void ssh_port(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	cfg_int(c, g, "port", false, 1, 65535, &s->ssh.port, what);
}

static void ssh_timeout(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	cfg_int(c, g, "connect_timeout", false, 1, 600, &s->ssh.connect_timeout,
	    what);
}

static void ssh_identity(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	ssh_file(c, g, "identity_file", &s->ssh.identity_file, what);
}

static void ssh_config(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	ssh_file(c, g, "ssh_config", &s->ssh.ssh_config, what);
}

static void ssh_known_hosts(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	ssh_file(c, g, "known_hosts", &s->ssh.known_hosts, what);
}

static void ssh_policy(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	static const char *const policies[] = { "strict", "accept-new", NULL };
	int policy = cfg_enum(c, g, "host_key_policy", policies, what);

	if (policy >= 0)
		s->ssh.accept_new = policy == 1;
}

static void parse_keygen(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	static const char *const names[] = { "controller", "server", NULL };
	int k = cfg_enum(c, g, "keygen", names, what);

	if (k >= 0)
		s->keygen_server = k == 1;
}

/* The renewal keys, one parser each (inventory/renew_cfg.c). */
static void parse_renew_before(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	renew_cfg_before(&s->renew, &s->renew_at, c, g, what);
}

static void parse_renew_jitter(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	renew_cfg_jitter(&s->renew, &s->renew_at, c, g, what);
}

static void parse_reuse_key(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	renew_cfg_reuse(&s->renew, &s->renew_at, c, g, what);
}


void server_parse_address(const struct cfg *c, config_setting_t *g,
    const char *key, bool required, char **out, const char *what)
{
	const char *address;

	if (!cfg_string(c, g, key, required, &address, what))
		return;
	if (host_is_valid(address, false) || ip_parse(address, NULL, NULL))
		*out = strdup(address);
	else
		cfg_error(c, config_setting_get_member(g, key), "invalid %s "
		    "'%s' in %s: not a host name (RFC 1123) or an IP address",
		    key, address, what);
}

static void parse_verify_address(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	server_parse_address(c, g, "verify_address", false, &s->verify_address,
	    what);
}

static void parse_verify(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	s->verify_set = rollout_verify_parse(c, g, s->utab, what, &s->verify,
	    &s->nverify);
}

static void parse_transport(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	int t = cfg_enum(c, g, "transport", transport_type_names, what);

	if (t >= 0)
		s->transport = (enum transport_type)t;
}

/* After the transport: on an ssh server, root is a directory on the server
 * itself; on a local one, a directory here. */
static void parse_root(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	const char *root;

	if (!cfg_string(c, g, "root", false, &root, what))
		return;
	if (s->transport == TRANSPORT_SSH) {
		if (root[0] != '/' || !path_is_confined(root))
			cfg_error(c, config_setting_get_member(g, "root"),
			    "'root' of ssh %s must be an absolute path on the "
			    "server without '..' or control characters", what);
		else
			s->root = strdup(root);
	} else if (root[0] == '\0' || str_has_control(root)) {
		cfg_error(c, config_setting_get_member(g, "root"), "'root' in "
		    "%s must be a path without control characters", what);
	} else {
		s->root = cfg_path(c, config_setting_get_member(g, "root"),
		    root);
	}
}

static void parse_webroot(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	server_path(c, g, "webroot", &s->webroot, what);
}

/* The template's name; fleet.c resolves it against `requests`. */
static void parse_request(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	const char *name;

	if (!cfg_string(c, g, "request", false, &name, what))
		return;
	free(s->request);
	s->request = strdup(name);
}

static void parse_approval(struct server *s, const struct cfg *c,
    config_setting_t *g, const char *what)
{
	static const char *const names[] = { "auto", "manual", NULL };
	int a = cfg_enum(c, g, "approval", names, what);

	if (a >= 0)
		s->approval = a;
}

/*
 * Every setting a server or a group may carry, in the order they are read
 * (transport before root). A merged key (vars, store, usage_bindings) is
 * read from every layer, lowest first, so each member's highest setting
 * wins, as fleet and server values always have; any other key from its
 * highest layer only.
 */
static const struct {
	const char *key;
	key_parse_fn parse;
	bool merge;
	bool ssh;                   /* also in the fleet's `ssh` group */
} setting_keys[] = {
	{ "verify_address", parse_verify_address, false, false },
	{ "verify", parse_verify, false, false },
	{ "transport", parse_transport, false, false },
	{ "root", parse_root, false, false },
	{ "user", ssh_user, false, true },
	{ "port", ssh_port, false, true },
	{ "connect_timeout", ssh_timeout, false, true },
	{ "identity_file", ssh_identity, false, true },
	{ "ssh_config", ssh_config, false, true },
	{ "known_hosts", ssh_known_hosts, false, true },
	{ "host_key_policy", ssh_policy, false, true },
	{ "keygen", parse_keygen, false, false },
	{ "vars", parse_vars, true, false },
	{ "usages", parse_usages_list, false, false },
	{ "store", parse_store, true, false },
	{ "webroot", parse_webroot, false, false },
	{ "usage_bindings", parse_bindings, true, false },
	{ "request", parse_request, false, false },
	{ "approval", parse_approval, false, false },
	/* renew_before_days is renew_before's old name: layers_get finds
	 * either under both, so the one parser reads the higher layer's. */
	{ "renew_before", parse_renew_before, false, false },
	{ "renew_before_days", parse_renew_before, false, false },
	{ "renew_jitter", parse_renew_jitter, false, false },
	{ "reuse_key", parse_reuse_key, false, false },
};
#define NSETTINGS (sizeof setting_keys / sizeof setting_keys[0])

const char *const *server_keys(void)
{
	static const char *keys[NSETTINGS + 4] = { "name", "address",
	    "groups" };
	size_t i;

	if (keys[3] == NULL)
		for (i = 0; i < NSETTINGS; i++)
			keys[3 + i] = setting_keys[i].key;
	return keys;
}

bool server_is_merged(const char *key)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++)
		if (strcmp(setting_keys[i].key, key) == 0)
			return setting_keys[i].merge;
	return false;
}

bool server_parse_defaults(struct server *d, const struct cfg *c,
    config_setting_t *g)
{
	config_setting_t *ssh = cfg_group(c, g, "ssh", "the fleet file");
	/* fleet.c reports a `fleet` that is not a group. */
	config_setting_t *fl = config_setting_get_member(g, "fleet");
	size_t before = c->diags->n, i;

	if (ssh != NULL) {
		cfg_check_keys(c, ssh, "ssh", ssh_keys);
		for (i = 0; i < NSETTINGS; i++)
			if (setting_keys[i].ssh)
				setting_keys[i].parse(d, c, ssh, "ssh");
	}
	if (fl != NULL && config_setting_is_group(fl)) {
		parse_keygen(d, c, fl, "fleet");
		renew_cfg_parse(&d->renew, &d->renew_at, c, fl, "fleet");
		if (d->renew.reuse_key && d->keygen_server)
			cfg_error(c, config_setting_get_member(fl,
			    "reuse_key") ? config_setting_get_member(fl,
			    "reuse_key") : fl, "reuse_key = true in fleet needs "
			    "keygen = \"controller\": a key made on the server "
			    "is not reused (this version makes a new one at "
			    "every renewal)");
	}
	parse_store(d, c, g, "the fleet file");
	parse_webroot(d, c, g, "the fleet file");
	parse_usages(d, c, g, "the fleet file", true);
	parse_bindings(d, c, g, "the fleet file");
	parse_vars(d, c, g, "the fleet file");
	return c->diags->n == before;
}

void server_parse_settings(struct server *s, const struct cfg *c,
    const struct layers *L)
{
	size_t i, k, at;

	for (i = 0; i < NSETTINGS; i++) {
		/* The fleet's layer is read once, into the defaults. */
		if (layers_get(L, setting_keys[i].key, &at) == NULL ||
		    L->v[at].kind == LAYER_FLEET)
			continue;
		if (!setting_keys[i].merge) {
			setting_keys[i].parse(s, c, L->v[at].g, L->v[at].what);
			continue;
		}
		for (k = 1; k < L->n; k++)
			if (config_setting_get_member(L->v[k].g,
			    setting_keys[i].key) != NULL)
				setting_keys[i].parse(s, c, L->v[k].g,
				    L->v[k].what);
	}
}
