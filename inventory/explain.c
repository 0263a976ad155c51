/*
 * Explaining re-reads the fleet file: fleet_load keeps no settings, only
 * their results, and 100,000 servers' origins are not worth the memory
 * for a question asked about one.
 */
#include "inventory/explain.h"
#include "engine/base/strv.h"
#include "engine/base/err.h"
#include "inventory/fleet_json.h"
#include "inventory/layers.h"
#include "inventory/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void explain_init(struct explain *e)
{
	memset(e, 0, sizeof(*e));
}

void explain_release(struct explain *e)
{
	json_decref(e->value);
	strv_free(e->from);
	explain_init(e);
}

static bool known_key(const char *key)
{
	const char *const *k = server_keys();
	size_t len = strcspn(key, ".");

	for (; *k; k++)
		if (strlen(*k) == len && strncmp(*k, key, len) == 0)
			return true;
	return false;
}

/* The value at the dotted path key of the server's resolved settings. */
static json_t *value_at(json_t *settings, const char *key)
{
	char part[128];
	json_t *v = settings;
	size_t len;

	while (v != NULL && *key) {
		len = strcspn(key, ".");
		if (len >= sizeof part)
			return NULL;
		memcpy(part, key, len);
		part[len] = '\0';
		v = json_object_get(v, part);
		key += len + (key[len] == '.');
	}
	return v;
}

static int add_from(struct explain *e, const struct cfg *c,
    config_setting_t *s, const struct layer *l)
{
	char label[128], buf[1200];

	if (s == NULL)
		snprintf(buf, sizeof buf, "built-in default");
	else
		snprintf(buf, sizeof buf, "%s:%d (%s)", cfg_file(c, s),
		    cfg_line(s), layers_label(l, label, sizeof label));
	return strv_append(&e->from, &e->nfrom, buf);
}

/* The server entry called name in root's `servers`, or NULL. */
static config_setting_t *entry_of(config_setting_t *root, const char *name)
{
	config_setting_t *list = config_setting_get_member(root, "servers");
	const char *n;
	int i, len = list ? config_setting_length(list) : 0;

	for (i = 0; i < len; i++) {
		config_setting_t *g = config_setting_get_elem(list, (unsigned)i);

		if (config_setting_lookup_string(g, "name", &n) &&
		    strcmp(n, name) == 0)
			return g;
	}
	return NULL;
}

/* Every layer that sets key, highest first: all of them for a merged key
 * named whole (vars), else the one that wins. */
static int origins(struct explain *e, const struct cfg *c,
    const struct layers *L, const char *key)
{
	struct layers one = { NULL, 0 };
	config_setting_t *s;
	size_t at, i;
	int rc = 0;

	if (!server_is_merged(key)) {
		s = layers_get(L, key, &at);
		return add_from(e, c, s, s ? &L->v[at] : NULL);
	}
	for (i = L->n; rc == 0 && i-- > 0;) {
		one.v = &L->v[i];
		one.n = 1;
		if ((s = layers_get(&one, key, NULL)) != NULL)
			rc = add_from(e, c, s, &L->v[i]);
	}
	return rc == 0 && e->nfrom == 0 ? add_from(e, c, NULL, NULL) : rc;
}

/* A second certificate's template: where its usage names it. */
static int usage_origin(struct explain *e, const struct cfg *c,
    const struct fleet *f, const struct server *s, config_t *cfg)
{
	char path[96], buf[1200];
	config_setting_t *r;
	unsigned u;

	for (u = 0; u < f->utab.n && !(s->usages & (1u << u)); u++)
		;
	snprintf(path, sizeof path, "usages.%s.request", usage_name(&f->utab,
	    u));
	if ((r = config_lookup(cfg, path)) == NULL)
		return CF_ENOENT;
	snprintf(buf, sizeof buf, "%s:%d (usage %s)", cfg_file(c, r),
	    cfg_line(r), usage_name(&f->utab, u));
	return strv_append(&e->from, &e->nfrom, buf);
}

int fleet_explain(const struct fleet *f, const char *server, const char *key,
    struct explain *e, char *msg, size_t msgsz)
{
	const struct server *s = fleet_server_find(f, server);
	struct layers L;
	struct diags d;
	struct cfg c;
	config_t cfg;
	config_setting_t *g;
	json_t *settings;
	int rc;

	if (s == NULL)
		return cf_error(msg, msgsz, CF_ENOENT, "no server '%s' in '%s'",
		    server, f->path);
	if (!known_key(key))
		return cf_error(msg, msgsz, CF_ENOENT, "unknown key '%s': a "
		    "server key (see certfleet.cfg(5)), or a path below one "
		    "such as vars.NAME or store.certs", key);
	if ((settings = server_settings_json(s)) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	e->value = json_incref(value_at(settings, key));
	json_decref(settings);
	if (e->value == NULL)
		return cf_error(msg, msgsz, CF_ENOENT, "server '%s' has no "
		    "'%s'", server, key);
	diags_init(&d);
	layers_init(&L);
	if ((rc = fleet_cfg_open(&cfg, &c, f->path, &d)) != 0) {
		diags_release(&d);
		return cf_error(msg, msgsz, rc, "cannot read '%s' again",
		    f->path);
	}
	/* A second certificate ("mx01.web") has its server's entry. */
	if (s->split_of >= 0)
		server = f->servers[s->split_of].name;
	g = entry_of(config_root_setting(&cfg), server);
	rc = g ? layers_of_server(&L, config_root_setting(&cfg), g, server) :
	    CF_ENOENT;
	if (rc == 0 && s->split_of >= 0 && strcmp(key, "request") == 0)
		rc = usage_origin(e, &c, f, s, &cfg);
	else if (rc == 0)
		rc = origins(e, &c, &L, key);
	layers_release(&L);
	cfg_release(&c);
	config_destroy(&cfg);
	diags_release(&d);
	return rc != 0 ? cf_error(msg, msgsz, rc, "cannot explain '%s' of "
	    "'%s'", key, s->name) : 0;
}
