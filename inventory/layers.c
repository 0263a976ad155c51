/*
 * Settings in layers. A lookup walks from the server's own entry down to
 * the fleet's defaults and stops at the first layer that sets the key.
 */
#include "inventory/layers.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Server keys whose fleet-wide default lives elsewhere in the file. */
static const struct {
	const char *key, *fleet;
} fleet_keys[] = {
	{ "user", "ssh.user" }, { "port", "ssh.port" },
	{ "identity_file", "ssh.identity_file" },
	{ "ssh_config", "ssh.ssh_config" },
	{ "known_hosts", "ssh.known_hosts" },
	{ "host_key_policy", "ssh.host_key_policy" },
	{ "connect_timeout", "ssh.connect_timeout" },
	{ "keygen", "fleet.keygen" }, { "approval", "ca.approval" },
	{ "request", "request" }, { "store", "store" },
	{ "webroot", "webroot" }, { "usages", "usages" },
	{ "usage_bindings", "usage_bindings" }, { "vars", "vars" },
	{ "renew_before", "fleet.renew_before" },
	{ "renew_before_days", "fleet.renew_before_days" },
	{ "renew_jitter", "fleet.renew_jitter" },
	{ "reuse_key", "fleet.reuse_key" },
	{ NULL, NULL }
};

/* Two names of one setting: a layer that sets either sets both. */
static const char *const aliases[][2] = {
	{ "renew_before", "renew_before_days" },
};

/* The other name of key, or NULL. */
static const char *alias_of(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
		if (strcmp(aliases[i][0], key) == 0)
			return aliases[i][1];
		if (strcmp(aliases[i][1], key) == 0)
			return aliases[i][0];
	}
	return NULL;
}

/* The setting at path in layer l (path's first part is head), or NULL. */
static config_setting_t *layer_lookup(const struct layer *l,
    const char *head, const char *path)
{
	const char *rest = strchr(path, '.'), *def;
	char fleet[160];

	if (l->kind != LAYER_FLEET)
		return config_setting_lookup(l->g, path);
	if ((def = layers_fleet_key(head)) == NULL)
		return NULL;
	snprintf(fleet, sizeof fleet, "%s%s", def, rest ? rest : "");
	return config_setting_lookup(l->g, fleet);
}

void layers_init(struct layers *L)
{
	memset(L, 0, sizeof(*L));
}

void layers_release(struct layers *L)
{
	free(L->v);
	layers_init(L);
}

static int push(struct layers *L, enum layer_kind kind, config_setting_t *g,
    const char *name)
{
	struct layer *v = realloc(L->v, (L->n + 1) * sizeof(*v));
	struct layer *l;

	if (v == NULL)
		return CF_ENOMEM;
	L->v = v;
	l = &v[L->n++];
	l->kind = kind;
	l->g = g;
	l->name = name;
	if (kind == LAYER_FLEET)
		snprintf(l->what, sizeof l->what, "the fleet file");
	else
		snprintf(l->what, sizeof l->what, "%s '%s'", kind ==
		    LAYER_GROUP ? "group" : "server", name ? name : "?");
	if (kind == LAYER_SERVER && name == NULL)
		snprintf(l->what, sizeof l->what, "server");
	return 0;
}

int layers_of_server(struct layers *L, config_setting_t *root,
    config_setting_t *g, const char *name)
{
	config_setting_t *defs = config_setting_get_member(root, "groups");
	config_setting_t *list = config_setting_get_member(g, "groups");
	config_setting_t *e, *def;
	int i, n, rc;

	layers_release(L);
	if ((rc = push(L, LAYER_FLEET, root, NULL)) != 0)
		return rc;
	if (defs == NULL || !config_setting_is_group(defs) || list == NULL ||
	    !(config_setting_is_array(list) || config_setting_is_list(list)))
		return push(L, LAYER_SERVER, g, name);
	n = config_setting_length(list);
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(list, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			continue;
		def = config_setting_get_member(defs,
		    config_setting_get_string(e));
		if (def != NULL && config_setting_is_group(def) &&
		    (rc = push(L, LAYER_GROUP, def,
		    config_setting_name(def))) != 0)
			return rc;
	}
	return push(L, LAYER_SERVER, g, name);
}

int layers_of_group(struct layers *L, config_setting_t *root,
    config_setting_t *g, const char *name)
{
	int rc;

	layers_release(L);
	if ((rc = push(L, LAYER_FLEET, root, NULL)) != 0)
		return rc;
	return push(L, LAYER_GROUP, g, name);
}

const char *layers_fleet_key(const char *key)
{
	size_t i;

	for (i = 0; fleet_keys[i].key; i++)
		if (strcmp(fleet_keys[i].key, key) == 0)
			return fleet_keys[i].fleet;
	return NULL;
}

config_setting_t *layers_get(const struct layers *L, const char *path,
    size_t *at)
{
	char head[64];
	const char *rest = strchr(path, '.'), *other;
	config_setting_t *s;
	size_t i, len = rest ? (size_t)(rest - path) : strlen(path);

	if (len >= sizeof head)
		return NULL;
	memcpy(head, path, len);
	head[len] = '\0';
	other = rest ? NULL : alias_of(head);
	for (i = L->n; i-- > 0;) {
		s = layer_lookup(&L->v[i], head, path);
		if (s == NULL && other != NULL)
			s = layer_lookup(&L->v[i], other, other);
		if (s != NULL) {
			if (at)
				*at = i;
			return s;
		}
	}
	return NULL;
}

const char *layers_label(const struct layer *l, char *buf, size_t bufsz)
{
	if (l->kind == LAYER_FLEET)
		snprintf(buf, bufsz, "fleet default");
	else
		snprintf(buf, bufsz, "%s %s", l->kind == LAYER_GROUP ?
		    "group" : "server", l->name ? l->name : "?");
	return buf;
}
