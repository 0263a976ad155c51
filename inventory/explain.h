/*
 * `check --explain SERVER KEY`: a server's resolved value of one key and
 * where it comes from: FILE:LINE of the server, the group or the fleet-wide
 * default that sets it, or the built-in default.
 */
#ifndef CF_EXPLAIN_H
#define CF_EXPLAIN_H

#include "inventory/fleet.h"

#include <jansson.h>

struct explain {
	json_t *value;              /* the resolved value (owned) */
	char **from;                /* "FILE:LINE (group edge)", highest layer
	                               first (a merged key lists every layer
	                               that sets a part), or "built-in
	                               default"; NULL-ended */
	size_t nfrom;
};

void explain_init(struct explain *e);
void explain_release(struct explain *e);

/*
 * Explains key (a server key, or a dotted path below one: "vars.zone",
 * "store.certs") of the server called server in f, loaded cleanly by
 * fleet_load. Returns 0; CF_ENOENT with the reason in msg for an unknown
 * server or key; CF_ENOMEM.
 */
int fleet_explain(const struct fleet *f, const char *server, const char *key,
    struct explain *e, char *msg, size_t msgsz);

#endif
