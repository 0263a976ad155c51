/*
 * The fleet file's top-level `usages`: a list selects predefined usages
 * (server.c reads it like a server's), a group defines usages of the
 * operator's own, each with its files, EKUs, reload and verify port.
 */
#ifndef CF_INVENTORY_USAGES_H
#define CF_INVENTORY_USAGES_H

#include "inventory/cfg.h"
#include "inventory/fleet.h"

/*
 * When root's `usages` is a group: adds each usage it names to f->utab
 * (its line and verify port to f->uinfo; the
 * predefined ones are overridden), its files and reload to def's bindings,
 * and selects exactly those in def->usages. Mistakes go to c->diags.
 */
void fleet_usages_parse(struct fleet *f, struct server *def,
    const struct cfg *c, config_setting_t *root);

/* Appends a rollout verify check for every usage with a verify port that
 * the rollout's own list does not name. False when out of memory. */
bool fleet_usages_verify(struct fleet *f);

#endif
