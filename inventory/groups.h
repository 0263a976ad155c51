/*
 * Groups with settings: `groups = { edge = { request = "web"; ... }; }`.
 * A server inherits from each group it lists that has an entry here, in
 * the order listed (layers.h); a group name without one stays a label.
 */
#ifndef CF_GROUPS_H
#define CF_GROUPS_H

#include "inventory/cfg.h"
#include "inventory/fleet.h"
#include "inventory/layers.h"

/*
 * Checks every entry of root's `groups` on its own, once: its keys (any
 * server key but name, address and groups) and their values, so that a
 * group no server lists yet is checked too.
 */
void groups_check(const struct fleet *f, const struct cfg *c,
    config_setting_t *root);

/*
 * What s's settings mean for the whole fleet: its template (an unknown
 * name is reported) and its approval (manual needs the embedded CA).
 * have_default: the top-level `request` is usable.
 */
void groups_resolve(const struct fleet *f, const struct cfg *c,
    const struct layers *L, struct server *s, bool have_default);

#endif
