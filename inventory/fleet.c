/*
 * The fleet file: libconfig to validated structs. Every problem is recorded
 * with its file and line and parsing goes on, so `check` shows them all.
 * Relative paths are taken from the directory of the file that names them;
 * @include files are looked up next to the fleet file.
 */
#include "inventory/fleet.h"
#include "engine/base/err.h"
#include "engine/acme/jws.h"
#include "engine/base/path.h"
#include "inventory/cfg.h"
#include "inventory/cfg_read.h"
#include "inventory/fleet_request.h"
#include "inventory/groups.h"
#include "inventory/overlap.h"
#include "inventory/renew_cfg.h"
#include "inventory/requests.h"
#include "inventory/server.h"
#include "inventory/usages.h"

#include <ctype.h>
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const top_keys[] = {
	"fleet", "ca", "request", "usages", "store", "usage_bindings", "vars",
	"ssh", "servers", "webroot", "rollout", "hooks", "groups", "requests",
	NULL
};
static const char *const fleet_keys[] = {
	"name", "state_dir", "concurrency", "renew_before_days", "assign",
	"keygen", "renew_before", "renew_jitter", "reuse_key", NULL
};
static const char *const ca_keys[] = {
	"type", "root_cert", "root_key", "issuing_cert", "issuing_key",
	"allowed_domains", "allowed_ips", "approval", "trusted_roots",
	"max_wait", "directory", "contact", "tls_ca_file", "account_key", "eab",
	"challenge", "preferred_chain", "helper", "profile", "timeout",
	"nickname", NULL
};
static const char *const local_only_keys[] = {
	"root_cert", "root_key", "issuing_cert", "issuing_key",
	"allowed_domains", "allowed_ips", "approval", NULL
};
static const char *const acme_only_keys[] = {
	"directory", "contact", "tls_ca_file", "account_key", "eab",
	"challenge", "preferred_chain", NULL
};
static const char *const command_only_keys[] = {
	"helper", "profile", "timeout", "nickname", NULL
};
static const char *const eab_keys[] = { "kid", "hmac_key", NULL };

static void fleet_init(struct fleet *f)
{
	memset(f, 0, sizeof(*f));
	template_init(&f->tmpl);
	fleet_rollout_init(&f->rollout);
	fleet_hooks_init(&f->hooks);
	f->concurrency = 64;
	f->renew_before_days = 30;
	renew_policy_init(&f->renew);
	f->assign = true;
	f->ca.command.timeout = 60;
	usage_table_init(&f->utab);
	f->usages = USAGE_ALL_PREDEFINED;
}

void fleet_release(struct fleet *f)
{
	size_t i;

	free(f->path);
	free(f->name);
	free(f->state_dir);
	free(f->ca.root_cert);
	free(f->ca.root_key);
	free(f->ca.issuing_cert);
	free(f->ca.issuing_key);
	free(f->ca.acme.directory);
	strv_free(f->ca.acme.contact);
	free(f->ca.acme.tls_ca_file);
	free(f->ca.acme.account_key);
	free(f->ca.acme.eab_kid);
	free(f->ca.acme.eab_hmac_key);
	free(f->ca.acme.preferred_chain);
	strv_free(f->ca.command.helper);
	free(f->ca.command.profile);
	free(f->ca.command.nickname);
	strv_free(f->ca.allowed_domains);
	free(f->ca.allowed_ips);
	strv_free(f->ca.trusted_roots);
	template_release(&f->tmpl);
	requests_release(f);
	for (i = 0; i < USAGE_CAP; i++)
		free(f->uinfo[i].file);
	fleet_rollout_release(&f->rollout);
	fleet_hooks_release(&f->hooks);
	for (i = 0; i < f->nservers; i++)
		server_release(&f->servers[i]);
	free(f->servers);
	fleet_init(f);
}

static void parse_fleet_group(struct fleet *f, const struct cfg *c,
    config_setting_t *root)
{
	config_setting_t *g = cfg_group(c, root, "fleet", "the fleet file"), *at;
	const char *name, *state = "state";
	struct stat st;

	if (g == NULL) {
		if (config_setting_get_member(root, "fleet") == NULL)
			cfg_error(c, root, "missing group 'fleet = { name = "
			    "\"...\"; };'");
		f->state_dir = cfg_path(c, root, state);
		return;
	}
	cfg_check_keys(c, g, "fleet", fleet_keys);
	if (cfg_string(c, g, "name", true, &name, "fleet")) {
		if (server_name_valid(name))
			f->name = strdup(name);
		else
			cfg_error(c, config_setting_get_member(g, "name"),
			    "invalid fleet name '%s': use letters, digits, "
			    "'.', '_' and '-', starting with a letter or digit",
			    name);
	}
	if (cfg_string(c, g, "state_dir", false, &state, "fleet") &&
	    (state[0] == '\0' || str_has_control(state))) {
		cfg_error(c, config_setting_get_member(g, "state_dir"),
		    "'state_dir' in fleet must be a path without control "
		    "characters");
		state = "state";
	}
	at = config_setting_get_member(g, "state_dir") ?
	    config_setting_get_member(g, "state_dir") : g;
	f->state_dir = cfg_path(c, at, state);
	/* A file in its way is a configuration error for every command, not
	 * a failure the first run finds (stat only: check writes nothing). */
	if (f->state_dir && (stat(f->state_dir, &st) == 0 ?
	    !S_ISDIR(st.st_mode) : errno == ENOTDIR))
		cfg_error(c, at, "state_dir '%s' in fleet: not a directory",
		    f->state_dir);
	cfg_int(c, g, "concurrency", false, 1, 10000, &f->concurrency,
	    "fleet");
	cfg_bool(c, g, "assign", &f->assign, "fleet");
}

/*
 * A string of ca that must be non-empty and without control characters
 * ("'KEY' in ca must be MUST_BE" otherwise): a copy, or with path a path
 * taken from the file's directory. NULL when absent or refused.
 */
static char *ca_value(const struct cfg *c, config_setting_t *ca,
    const char *key, bool path, const char *must_be)
{
	config_setting_t *m = config_setting_get_member(ca, key);
	const char *v;

	if (!cfg_string(c, ca, key, false, &v, "ca"))
		return NULL;
	if (v[0] == '\0' || str_has_control(v)) {
		cfg_error(c, m, "'%s' in ca must be %s", key, must_be);
		return NULL;
	}
	return path ? cfg_path(c, m, v) : strdup(v);
}

/* A CA file path: given, or def under state_dir. */
static char *ca_path(const struct cfg *c, config_setting_t *ca,
    const char *key, const char *state_dir, const char *def)
{
	if (ca != NULL && config_setting_get_member(ca, key) != NULL)
		return ca_value(c, ca, key, true,
		    "a path without control characters");
	return path_join(state_dir ? state_dir : "state", def);
}

/* Normalises a SHA-256 pin ("ab:cd..." or "ABCD...") to upper-case hex. */
static bool sha256_pin(char *s)
{
	size_t i, o = 0;

	for (i = 0; s[i]; i++) {
		if (s[i] == ':')
			continue;
		if (!isxdigit((unsigned char)s[i]))
			return false;
		s[o++] = (char)toupper((unsigned char)s[i]);
	}
	s[o] = '\0';
	return o == 64;
}

/* Keys that belong to the other CA type are a mistake worth naming. */
static void refuse_keys(const struct cfg *c, config_setting_t *ca,
    const char *const *keys, const char *type)
{
	size_t i;

	for (i = 0; keys[i]; i++)
		if (config_setting_get_member(ca, keys[i]))
			cfg_error(c, config_setting_get_member(ca, keys[i]),
			    "'%s' in ca is not used with type = \"%s\"",
			    keys[i], type);
}

static void parse_acme(struct fleet *f, const struct cfg *c,
    config_setting_t *ca)
{
	struct fleet_acme *a = &f->ca.acme;
	config_setting_t *eab, *m;
	const char *v;
	int *lines = NULL;
	size_t i;

	refuse_keys(c, ca, local_only_keys, "acme");
	if (cfg_string(c, ca, "directory", true, &v, "ca")) {
		m = config_setting_get_member(ca, "directory");
		/* TLS verification is always on: no plain http. */
		if (strncmp(v, "https://", 8) != 0 || strlen(v) < 9 ||
		    str_has_control(v) || strchr(v, ' '))
			cfg_error(c, m, "'directory' in ca must be an https:// "
			    "URL, not '%s'", v);
		else
			a->directory = strdup(v);
	}
	if (cfg_strings(c, ca, "contact", false, &a->contact, &a->ncontact,
	    &lines, "ca")) {
		for (i = 0; i < a->ncontact; i++)
			if (strncmp(a->contact[i], "mailto:", 7) != 0 ||
			    strlen(a->contact[i]) < 8 ||
			    str_has_control(a->contact[i]) ||
			    strchr(a->contact[i], ','))
				diags_add(c->diags, cfg_file(c, ca), lines[i],
				    "contact '%s' in ca must be one "
				    "\"mailto:address\"", a->contact[i]);
		free(lines);
	}
	a->tls_ca_file = ca_value(c, ca, "tls_ca_file", true, "a path");
	a->account_key = config_setting_get_member(ca, "account_key") ?
	    ca_value(c, ca, "account_key", true, "a path") : path_join(
	    f->state_dir ? f->state_dir : "state", "acme/account.key");
	if (cfg_string(c, ca, "challenge", false, &v, "ca") &&
	    strcmp(v, "http-01") != 0)
		cfg_error(c, config_setting_get_member(ca, "challenge"),
		    "unknown challenge '%s' in ca (this version supports: "
		    "http-01)", v);
	a->preferred_chain = ca_value(c, ca, "preferred_chain", false,
	    "an issuer common name");
	if ((eab = cfg_group(c, ca, "eab", "ca")) != NULL) {
		cfg_check_keys(c, eab, "eab", eab_keys);
		if (cfg_string(c, eab, "kid", true, &v, "eab")) {
			if (v[0] == '\0' || str_has_control(v))
				cfg_error(c, config_setting_get_member(eab,
				    "kid"), "'kid' in eab must not be empty");
			else
				a->eab_kid = strdup(v);
		}
		if (cfg_string(c, eab, "hmac_key", true, &v, "eab")) {
			/* Never echoed: it is a secret. */
			if (!jws_b64url_valid(v))
				cfg_error(c, config_setting_get_member(eab,
				    "hmac_key"), "'hmac_key' in eab must be "
				    "base64url, as the CA hands it out");
			else
				a->eab_hmac_key = strdup(v);
		}
	}
}

static void parse_command(struct fleet *f, const struct cfg *c,
    config_setting_t *ca)
{
	struct fleet_command *cm = &f->ca.command;

	refuse_keys(c, ca, local_only_keys, "command");
	refuse_keys(c, ca, acme_only_keys, "command");
	cfg_command(c, ca, "helper", true, "ca", &cm->helper, &cm->nhelper);
	/* Optional names passed to the helper in its environment. */
	cm->profile = ca_value(c, ca, "profile", false,
	    "a name without control characters");
	cm->nickname = ca_value(c, ca, "nickname", false,
	    "a name without control characters");
	cfg_int(c, ca, "timeout", false, 1, 3600, &cm->timeout, "ca");
}

static void parse_ca(struct fleet *f, const struct cfg *c,
    config_setting_t *root)
{
	static const char *const approvals[] = { "auto", "manual", NULL };
	config_setting_t *ca = cfg_group(c, root, "ca", "the fleet file");
	const char *type;
	char **ips = NULL, names[64];
	int *lines = NULL, t;
	size_t i, n = 0;

	f->ca.type = CA_LOCAL;
	f->ca.max_wait = 60;
	if (ca) {
		cfg_check_keys(c, ca, "ca", ca_keys);
		if (cfg_string(c, ca, "type", false, &type, "ca")) {
			for (t = 0; ca_type_names[t] &&
			    strcmp(ca_type_names[t], type) != 0; t++)
				;
			if (ca_type_names[t] != NULL)
				f->ca.type = (enum ca_type)t;
			else
				cfg_error(c, config_setting_get_member(ca,
				    "type"), "unknown CA type '%s' (use %s)",
				    type, cfg_names(ca_type_names, names,
				    sizeof names));
		}
		cfg_int(c, ca, "max_wait", false, 0, 86400, &f->ca.max_wait,
		    "ca");
		if (f->ca.type == CA_ACME) {
			parse_acme(f, c, ca);
			refuse_keys(c, ca, command_only_keys, "acme");
		} else if (f->ca.type == CA_COMMAND) {
			parse_command(f, c, ca);
		} else {
			refuse_keys(c, ca, acme_only_keys, "local");
			refuse_keys(c, ca, command_only_keys, "local");
		}
	}
	f->ca.root_cert = ca_path(c, ca, "root_cert", f->state_dir,
	    "ca/root.pem");
	f->ca.root_key = ca_path(c, ca, "root_key", f->state_dir,
	    "ca/root.key");
	f->ca.issuing_cert = ca_path(c, ca, "issuing_cert", f->state_dir,
	    "ca/issuing.pem");
	f->ca.issuing_key = ca_path(c, ca, "issuing_key", f->state_dir,
	    "ca/issuing.key");
	if (ca == NULL)
		return;
	f->ca.manual_approval = cfg_enum(c, ca, "approval", approvals,
	    "ca") == 1;
	if (cfg_strings(c, ca, "allowed_domains", false, &f->ca.allowed_domains,
	    &f->ca.ndomains, &lines, "ca")) {
		for (i = 0; i < f->ca.ndomains; i++)
			if (!host_is_valid(f->ca.allowed_domains[i], false))
				diags_add(c->diags, cfg_file(c, ca), lines[i],
				    "invalid domain '%s' in allowed_domains",
				    f->ca.allowed_domains[i]);
		free(lines);
		lines = NULL;
	}
	if (cfg_strings(c, ca, "allowed_ips", false, &ips, &n, &lines, "ca")) {
		f->ca.allowed_ips = calloc(n + 1, sizeof(struct cidr));
		for (i = 0; f->ca.allowed_ips && i < n; i++) {
			if (!cidr_parse(ips[i], &f->ca.allowed_ips[f->ca.nips]))
				diags_add(c->diags, cfg_file(c, ca), lines[i],
				    "invalid address block '%s' in allowed_ips "
				    "(use CIDR notation such as 10.0.0.0/8)",
				    ips[i]);
			else
				f->ca.nips++;
		}
		strv_free(ips);
		free(lines);
		lines = NULL;
	}
	if (cfg_strings(c, ca, "trusted_roots", false, &f->ca.trusted_roots,
	    &f->ca.ntrusted, &lines, "ca")) {
		for (i = 0; i < f->ca.ntrusted; i++)
			if (!sha256_pin(f->ca.trusted_roots[i]))
				diags_add(c->diags, cfg_file(c, ca), lines[i],
				    "trusted_roots entry %zu is not a SHA-256 "
				    "fingerprint (64 hex digits)", i + 1);
		free(lines);
	}
}

/* Returns true when the template is usable for per-server checks. With
 * named `requests`, the default may be left out (each server names one). */
static bool parse_request(struct fleet *f, const struct cfg *c,
    config_setting_t *root)
{
	config_setting_t *r = config_setting_get_member(root, "request");

	if (r == NULL && config_setting_get_member(root, "requests") == NULL)
		cfg_error(c, root, "missing 'request': a template file name "
		    "or a group { subject = ...; san = [...]; }");
	if (r == NULL)
		return false;
	return request_setting_parse(&f->tmpl, c, r, "'request'");
}

static void check_names(struct fleet *f, const struct cfg *c);

/*
 * keygen = "server" set fleet-wide makes the key on each server over ssh; a
 * local server has no ssh to make it with, so run would fail it. One
 * message at the fleet's line, naming the first such server and the count.
 */
static void check_keygen(const struct cfg *c, config_setting_t *root,
    const struct server *local, size_t nlocal)
{
	config_setting_t *k = config_setting_get_member(
	    config_setting_get_member(root, "fleet"), "keygen");
	char more[64] = "";

	if (nlocal > 1)
		snprintf(more, sizeof more, " and %zu more", nlocal - 1);
	cfg_error(c, k ? k : root, "keygen = \"server\" in fleet needs "
	    "transport = \"ssh\", but local server '%s' (%s:%d)%s inherits "
	    "it; set keygen = \"controller\" on local servers", local->name ?
	    local->name : "?", local->file, local->line, more);
}

/* The server entry g through its layers, and what they resolve to. */
/* True when t, the default template or a named one, parsed cleanly. */
static bool template_usable(const struct fleet *f, const struct template *t,
    bool tmpl_ok)
{
	size_t i;

	if (t == &f->tmpl)
		return tmpl_ok;
	for (i = 0; i < f->nrequests; i++)
		if (t == &f->requests[i].tmpl)
			return f->requests[i].ok;
	return false;
}

static void parse_server(struct fleet *f, const struct cfg *c,
    config_setting_t *root, config_setting_t *g, struct server *s,
    const struct server *def, bool tmpl_ok, struct layers *L)
{
	const char *name = NULL;

	/* An invalid name is reported once, by server_parse. */
	if (!config_setting_lookup_string(g, "name", &name) ||
	    !server_name_valid(name))
		name = NULL;
	if (layers_of_server(L, root, g, name) != 0) {
		cfg_error(c, g, "out of memory");
		return;
	}
	server_parse(s, c, L, def);
	groups_resolve(f, c, L, s, tmpl_ok);
	s->renew.offset_s = renew_jitter_offset(f->name, s->name,
	    s->renew.jitter_s);
	/* The window it sets itself (or a group does) against its own
	 * template; the fleet's is checked once, in check_renew. */
	if (s->tmpl != NULL && template_usable(f, s->tmpl, tmpl_ok))
		renew_cfg_check(&s->renew, &s->renew_at, s->tmpl, c->diags, "");
	if (s->request == NULL && config_setting_get_member(root,
	    "request") == NULL)
		cfg_error(c, g, "%s has no request template: name one with "
		    "request = \"NAME\" in it or in one of its groups, or add "
		    "a top-level 'request'", L->v[L->n - 1].what);
}

/*
 * The usages of server i whose usage names a template of its own
 * (usages = { x = { request = "NAME"; }; }) other than the server's: one
 * more entry per such template, "SERVER.NAME", parsed again from entry g
 * and given those usages and that template (--limit 'SERVER*' selects
 * both). The server keeps the rest; when no usage is left to it, the first
 * such template becomes its own instead.
 */
static void split_certificates(struct fleet *f, const struct cfg *c,
    config_setting_t *root, config_setting_t *g, size_t i, size_t spare,
    const struct server *def, bool tmpl_ok, struct layers *L)
{
	const struct named_request *r, *mine = NULL;
	struct server *s = &f->servers[i], *x, *v;
	unsigned u, k, mask;
	char name[160];

	for (u = 0; u < f->utab.n; u++) {
		r = f->uinfo[u].request;
		if (!(s->usages & (1u << u)) || r == NULL || &r->tmpl == s->tmpl)
			continue;
		/* The server's other usages: its own template's. */
		for (mask = 0, k = 0; k < f->utab.n; k++)
			if ((s->usages & (1u << k)) &&
			    (f->uinfo[k].request == NULL ||
			    &f->uinfo[k].request->tmpl == s->tmpl))
				mask |= 1u << k;
		if (mask == 0 && mine == NULL) {
			/* All of them have templates of their own: the
			 * server takes the first's. */
			mine = r;
			s->tmpl = &r->tmpl;
			free(s->request);
			if ((s->request = strdup(r->name)) == NULL)
				cfg_error(c, g, "out of memory");
			renew_cfg_check(&s->renew, &s->renew_at, s->tmpl,
			    c->diags, "");
			continue;
		}
		if (&r->tmpl == s->tmpl)
			continue;
		/* Every usage of this template, to one new entry. */
		for (mask = 0, k = u; k < f->utab.n; k++)
			if ((s->usages & (1u << k)) && f->uinfo[k].request == r)
				mask |= 1u << k;
		snprintf(name, sizeof name, "%s.%s", s->name, r->name);
		if (!server_name_valid(name)) {
			cfg_error(c, g, "server '%s' with usages of template "
			    "'%s' gets a certificate named '%s', which is not "
			    "a valid server name (at most 64 characters of "
			    "[A-Za-z0-9._-])", s->name, r->name, name);
			return;
		}
		/* Room for it, the entries still to parse, and the end. */
		v = realloc(f->servers, (f->nservers + spare + 2) * sizeof *v);
		if (v == NULL) {
			cfg_error(c, g, "out of memory");
			return;
		}
		f->servers = v;
		s = &f->servers[i];
		x = &f->servers[f->nservers++];
		server_init(x);
		parse_server(f, c, root, g, x, def, tmpl_ok, L);
		free(x->name);
		free(x->request);
		x->name = strdup(name);
		x->request = strdup(r->name);
		x->tmpl = &r->tmpl;
		x->usages = mask;
		x->renew.offset_s = renew_jitter_offset(f->name, x->name,
		    x->renew.jitter_s);
		renew_cfg_check(&x->renew, &x->renew_at, x->tmpl, c->diags, "");
		x->split_of = (long)i;
		if (x->name == NULL || x->request == NULL) {
			cfg_error(c, g, "out of memory");
			return;
		}
		s->usages &= ~mask;
	}
}

static void parse_servers(struct fleet *f, const struct cfg *c,
    config_setting_t *root, const struct server *def, bool tmpl_ok)
{
	struct layers L;
	size_t at;

	config_setting_t *list = config_setting_get_member(root, "servers");
	size_t local = SIZE_MAX, nlocal = 0, before;
	int i, n;

	if (list == NULL) {
		cfg_error(c, root, "missing 'servers = ( { name = ...; }, ... );'");
		return;
	}
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		cfg_error(c, list, "'servers' must be a list ( { ... }, ... )");
		return;
	}
	n = config_setting_length(list);
	if ((f->servers = calloc((size_t)n + 1, sizeof(*f->servers))) == NULL)
		return;
	layers_init(&L);
	for (i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct server *s = &f->servers[f->nservers];

		if (!config_setting_is_group(g)) {
			cfg_error(c, g, "server %d must be a group { name = "
			    "...; address = ...; }", i + 1);
			continue;
		}
		server_init(s);
		f->nservers++;
		before = c->diags->n;
		parse_server(f, c, root, g, s, def, tmpl_ok, &L);
		/* A local server's own keygen = "server" (or its group's) is
		 * refused by server.c; one from the fleet is counted here. */
		if (s->transport == TRANSPORT_LOCAL && s->keygen_server &&
		    (layers_get(&L, "keygen", &at) == NULL ||
		    L.v[at].kind == LAYER_FLEET) && nlocal++ == 0)
			local = f->nservers - 1;
		if (c->diags->n == before && s->name != NULL)
			split_certificates(f, c, root, g, f->nservers - 1,
			    (size_t)(n - i - 1), def, tmpl_ok, &L);
	}
	layers_release(&L);
	if (n == 0)
		cfg_error(c, list, "'servers' lists no server");
	if (local != SIZE_MAX)
		check_keygen(c, root, &f->servers[local], nlocal);
	check_names(f, c);
}

/* A name and where it was first seen, for sorting. */
struct name_at {
	const char *name;
	size_t server;
};

static int by_name_then_server(const void *a, const void *b)
{
	const struct name_at *x = a, *y = b;
	int d = strcmp(x->name, y->name);

	if (d != 0)
		return d;
	return x->server < y->server ? -1 : x->server > y->server;
}

static const struct name_at *find_name(const struct name_at *v, size_t n,
    const char *name)
{
	size_t lo = 0, hi = n;

	/* The first entry with that name: the earliest server. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid].name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strcmp(v[lo].name, name) == 0 ? &v[lo] : NULL;
}

/*
 * Duplicate server names, and server names that are also group names.
 * Sorted lists keep this O(n log n): fleets of 100,000 servers are meant.
 * Problems are reported in server order.
 */
static void check_names(struct fleet *f, const struct cfg *c)
{
	struct name_at *names, *groups;
	const struct name_at *hit;
	size_t nn = 0, ng = 0, i, k;

	names = calloc(f->nservers + 1, sizeof(*names));
	for (i = 0; i < f->nservers; i++)
		ng += f->servers[i].ngroups;
	groups = calloc(ng + 1, sizeof(*groups));
	if (names == NULL || groups == NULL) {
		free(names);
		free(groups);
		diags_add(c->diags, c->file, 0, "out of memory");
		return;
	}
	ng = 0;
	for (i = 0; i < f->nservers; i++) {
		if (f->servers[i].name)
			names[nn++] = (struct name_at){ f->servers[i].name, i };
		for (k = 0; k < f->servers[i].ngroups; k++)
			groups[ng++] = (struct name_at){
			    f->servers[i].groups[k], i };
	}
	qsort(names, nn, sizeof(*names), by_name_then_server);
	qsort(groups, ng, sizeof(*groups), by_name_then_server);
	for (i = 0; i < f->nservers; i++) {
		const struct server *s = &f->servers[i];

		if (s->name == NULL)
			continue;
		hit = find_name(names, nn, s->name);
		if (hit && hit->server != i)
			diags_add(c->diags, s->file, s->line, "duplicate "
			    "server name '%s' (first defined at %s:%d)",
			    s->name, f->servers[hit->server].file,
			    f->servers[hit->server].line);
		if ((hit = find_name(groups, ng, s->name)) != NULL)
			diags_add(c->diags, s->file, s->line, "server name "
			    "'%s' is also a group name (%s:%d); --limit could "
			    "not tell them apart", s->name,
			    f->servers[hit->server].file,
			    f->servers[hit->server].line);
	}
	free(names);
	free(groups);
}

/*
 * The fleet's renewal window against template t (named name in
 * `requests`, or NULL for the default). The default window is reported at
 * the template's days line: a line the user can edit.
 */
static void check_renew(const struct fleet *f, const struct cfg *c,
    const struct renew_at *at, const struct template *t, const char *name)
{
	char of[128] = "";

	if (name != NULL)
		snprintf(of, sizeof of, " of request template '%s'", name);
	if (at->before == 0 && f->renew.days >= t->days)
		diags_add(c->diags, t->file, t->days_line, "days "
		    "(%d) must be more than renew_before_days (%d, the default "
		    "in fleet)%s, or every run renews", t->days, f->renew.days,
		    of);
	else
		renew_cfg_check(&f->renew, at, t, c->diags, of);
}

/* Let's Encrypt and Pebble refuse CSRs with Ed25519 keys (RFC 8555 CAs
 * sign with the WebPKI's algorithms only); the embedded CA signs them. */
static void check_key_ca(const struct fleet *f, const struct template *t,
    struct diags *d)
{
	if (f->ca.type == CA_ACME && t->key.type == KEY_ED25519)
		diags_add(d, t->file, t->key_line ? t->key_line : t->line,
		    "ed25519 keys are not issued by ACME CAs (Let's Encrypt, "
		    "Pebble): use key = { type = \"ec\"; } or \"rsa\" with "
		    "ca.type = \"acme\"");
}

int fleet_cfg_open(config_t *cfg, struct cfg *c, const char *path,
    struct diags *d)
{
	char *dir;

	*c = (struct cfg){ d, path, NULL, NULL };
	config_init(cfg);
	if ((dir = path_dirname(path)) == NULL) {
		config_destroy(cfg);
		return CF_ENOMEM;
	}
	config_set_include_dir(cfg, dir);
	c->include_dir = config_get_include_dir(cfg);
	free(dir);
	if (!cfg_read(cfg, path, "fleet file", NULL, 0, d)) {
		config_destroy(cfg);
		return CF_ECONFIG;
	}
	return 0;
}

int fleet_load(struct fleet *f, const char *path, struct diags *d)
{
	struct cfg c;
	struct server def;
	struct renew_at at;
	config_setting_t *root;
	config_t cfg;
	size_t before = d->n, i;
	bool tmpl_ok;
	int u, rc;

	fleet_init(f);
	f->path = strdup(path);
	if ((rc = fleet_cfg_open(&cfg, &c, path, d)) != 0)
		return rc;
	root = config_root_setting(&cfg);
	cfg_check_keys(&c, root, "the fleet file", top_keys);
	parse_fleet_group(f, &c, root);
	parse_ca(f, &c, root);
	tmpl_ok = parse_request(f, &c, root);
	requests_parse(f, &c, root);

	server_init(&def);
	def.utab = &f->utab;
	def.usages = USAGE_ALL_PREDEFINED;
	/* The defaults hold every usage the file may define. */
	if (!server_bindings_alloc(&def, USAGE_CAP)) {
		server_release(&def);
		cfg_release(&c);
		config_destroy(&cfg);
		return CF_ENOMEM;
	}
	def.store.roots = strdup("trust/roots");
	def.store.intermediates = strdup("trust/intermediates");
	def.store.certs = strdup("certs");
	for (u = 0; u < USAGE_CAP; u++)
		def.bindings[u].reload_timeout = 30;
	fleet_usages_parse(f, &def, &c, root);
	server_parse_defaults(&def, &c, root);
	f->usages = def.usages;
	f->renew = def.renew;
	f->renew_before_days = def.renew.days;
	at = def.renew_at;
	groups_check(f, &c, root);
	parse_servers(f, &c, root, &def, tmpl_ok);
	server_release(&def);
	fleet_rollout_parse(&f->rollout, &c, root, &f->utab);
	if (!fleet_usages_verify(f))
		diags_add(d, path, 0, "out of memory");
	fleet_rollout_check(f, d);
	fleet_hooks_parse(&f->hooks, &c, root);

	if (tmpl_ok) {
		check_renew(f, &c, &at, &f->tmpl, NULL);
		check_key_ca(f, &f->tmpl, d);
	}
	for (i = 0; i < f->nrequests; i++)
		if (f->requests[i].ok) {
			check_renew(f, &c, &at, &f->requests[i].tmpl,
			    f->requests[i].name);
			check_key_ca(f, &f->requests[i].tmpl, d);
		}
	overlap_check(f, d);
	fleet_check_requests(f, d);
	/* A group's mistake is met once per server that inherits it. */
	diags_unique(d, before);
	cfg_release(&c);
	config_destroy(&cfg);
	return d->n == before ? 0 : CF_ECONFIG;
}

const struct server *fleet_server_find(const struct fleet *f,
    const char *name)
{
	size_t i;

	for (i = 0; i < f->nservers; i++)
		if (strcmp(f->servers[i].name, name) == 0)
			return &f->servers[i];
	return NULL;
}

bool server_matches(const struct server *s, const char *pattern)
{
	size_t i;

	if (fnmatch(pattern, s->name, 0) == 0)
		return true;
	for (i = 0; i < s->ngroups; i++)
		if (fnmatch(pattern, s->groups[i], 0) == 0)
			return true;
	return false;
}
