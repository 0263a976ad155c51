/*
 * Where a server's settings come from: its own entry, then its groups (the
 * last one it lists first), then the fleet-wide defaults. One lookup says,
 * for any key, which layer sets it; server_parse reads every key through
 * it, so whatever a server may set, a group may set too.
 */
#ifndef CF_LAYERS_H
#define CF_LAYERS_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>

enum layer_kind { LAYER_FLEET, LAYER_GROUP, LAYER_SERVER };

struct layer {
	enum layer_kind kind;
	config_setting_t *g;        /* the group holding the keys (the fleet:
	                               the file's root) */
	const char *name;           /* the server's or group's; NULL: fleet */
	char what[96];              /* for messages: "server 'web01'",
	                               "group 'edge'", "the fleet file" */
};

/* Lowest priority first: v[0] is the fleet, v[n - 1] the entry itself. */
struct layers {
	struct layer *v;
	size_t n;
};

void layers_init(struct layers *L);
void layers_release(struct layers *L);

/*
 * The layers of server entry g (whose name may be NULL while unknown) of
 * the fleet file whose root is root: the fleet, each group g lists that has
 * settings in root's `groups`, in the order listed, then g. Groups without
 * settings are labels only. Returns 0 or CF_ENOMEM.
 */
int layers_of_server(struct layers *L, config_setting_t *root,
    config_setting_t *g, const char *name);

/* The layers of group definition g called name: the fleet, then g. */
int layers_of_group(struct layers *L, config_setting_t *root,
    config_setting_t *g, const char *name);

/*
 * The setting at path (a server key, or a dotted path below one:
 * "store.certs", "vars.zone") in the highest layer that sets it, with that
 * layer's index in *at; NULL when none does. At the fleet's layer a key is
 * looked up where the fleet file keeps its default (user in ssh, keygen in
 * fleet, approval in ca); keys without a fleet-wide default are not.
 * renew_before and renew_before_days are one setting: either name finds
 * the highest layer that sets either.
 */
config_setting_t *layers_get(const struct layers *L, const char *path,
    size_t *at);

/* Where the fleet file keeps the default of server key key, or NULL. */
const char *layers_fleet_key(const char *key);

/* "group 'edge'" style label of layer l for origins: "server web01",
 * "group edge", "fleet default". */
const char *layers_label(const struct layer *l, char *buf, size_t bufsz);

#endif
