/*
 * The resolved fleet as JSON (for `check --json`): each server with its
 * expanded subject and SANs, so a template can be tried without a CA.
 */
#ifndef CF_FLEET_JSON_H
#define CF_FLEET_JSON_H

#include "inventory/diag.h"
#include "inventory/fleet.h"

#include <jansson.h>

/* A new JSON object the caller owns (json_decref), or NULL when out of
 * memory. */
json_t *fleet_to_json(const struct fleet *f);

/* v (n strings) as a JSON array; the caller owns it. */
json_t *strv_json(char *const *v, size_t n);

/* Server s's resolved settings, one member per key a server may set, as
 * the fleet file names them; the caller owns it. */
json_t *server_settings_json(const struct server *s);

/* {"schema_version", "errors": [{"file", "line", "message"}...]}; the
 * caller owns it. */
json_t *diags_to_json(const struct diags *d);

#endif
