/*
 * One inventory entry, and the pieces a server shares with the fleet-wide
 * defaults (store paths, usages, usage bindings): parsed by the same code
 * at both levels, so an override means exactly what the default means.
 */
#ifndef CF_SERVER_H
#define CF_SERVER_H

#include "inventory/cfg.h"
#include "inventory/fleet.h"
#include "inventory/layers.h"

void server_init(struct server *s);
void server_release(struct server *s);

/* True when name fits [A-Za-z0-9][A-Za-z0-9._-]* and 64 characters. */
bool server_name_valid(const char *name);

/*
 * Reads the server entry on top of L (layers_of_server) into s, starting
 * from a copy of the defaults in def (store, usages, bindings, vars), each
 * setting from the layer that sets it. Records every problem in c->diags
 * and returns true when the entry is clean.
 */
bool server_parse(struct server *s, const struct cfg *c,
    const struct layers *L, const struct server *def);

/* Reads every setting but name, address and groups from the layers of L
 * above the fleet's into s (a group is checked this way on its own). */
void server_parse_settings(struct server *s, const struct cfg *c,
    const struct layers *L);

/* Every key a server entry may hold, NULL-ended; a group may hold them all
 * but name, address and groups. */
const char *const *server_keys(void);

/* True for the keys merged member by member across layers (vars, store,
 * usage_bindings) rather than replaced. */
bool server_is_merged(const char *key);

/* Reads `store`, `usages`, `usage_bindings` and `vars` of group g into
 * defaults d: the fleet-wide level. Returns true when clean. */
bool server_parse_defaults(struct server *d, const struct cfg *c,
    config_setting_t *g);

/* Gives s n empty usage bindings (it has none yet); false when out of
 * memory. */
bool server_bindings_alloc(struct server *s, unsigned n);

/* Reads an address key (address, verify_address) of g into *out: a host
 * name (RFC 1123) or an IP address; required: it must be there. */
void server_parse_address(const struct cfg *c, config_setting_t *g,
    const char *key, bool required, char **out, const char *what);

/* Reads the files and reload of one usage binding (or usage definition)
 * group b into ub; what names it in messages. */
void server_parse_binding(struct usage_binding *ub, const struct cfg *c,
    config_setting_t *b, const char *what);

#endif
