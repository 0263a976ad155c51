/*
 * The renewal keys of a fleet or server group (renew_before,
 * renew_before_days, renew_jitter, reuse_key): parsed by the same code at
 * both levels, every mistake at its FILE:LINE.
 */
#ifndef CF_RENEW_CFG_H
#define CF_RENEW_CFG_H

#include "engine/base/renew.h"
#include "inventory/cfg.h"
#include "inventory/fleet.h"
#include "inventory/template.h"

/* struct renew_at (fleet.h, with struct server): where the keys a group
 * sets itself are, lines 0 when inherited; before is renew_before or
 * renew_before_days. */

/*
 * Each reads one key of g over p (an inherited value stays where g is
 * silent) and records where it is in at; what names g in messages. before
 * reads renew_before or renew_before_days, refusing both in one group.
 * The fleet's group and each layer of a server (server.c) use them.
 */
void renew_cfg_before(struct renew_policy *p, struct renew_at *at,
    const struct cfg *c, config_setting_t *g, const char *what);
void renew_cfg_jitter(struct renew_policy *p, struct renew_at *at,
    const struct cfg *c, config_setting_t *g, const char *what);
void renew_cfg_reuse(struct renew_policy *p, struct renew_at *at,
    const struct cfg *c, config_setting_t *g, const char *what);

/* All three: the fleet's `fleet` group. */
void renew_cfg_parse(struct renew_policy *p, struct renew_at *at,
    const struct cfg *c, config_setting_t *g, const char *what);

/*
 * The window against the template's lifetime: days less than its days,
 * jitter plus window less than its lifetime, or every run would renew.
 * Reported at the places in at; true when fine. A policy nobody set (at
 * all 0) is not checked here (fleet.c names the days line then). of, when
 * not empty, names the template in the message (" of request template 'x'").
 */
bool renew_cfg_check(const struct renew_policy *p, const struct renew_at *at,
    const struct template *t, struct diags *d, const char *of);

#endif
