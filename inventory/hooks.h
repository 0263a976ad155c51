/*
 * The fleet file's hooks: the `hooks` group, commands certfleet runs on
 * this machine around a run (after_run, after_run_timeout). Every key is
 * checked with FILE:LINE; a hook's program must be an executable file.
 */
#ifndef CF_INVENTORY_HOOKS_H
#define CF_INVENTORY_HOOKS_H

#include "inventory/cfg.h"

/* Seconds an after_run hook may take when the fleet file says nothing. */
#define HOOKS_AFTER_RUN_TIMEOUT 60

struct fleet_hooks {
	char **after_run;           /* argv, NULL-ended, argv[0] a resolved
	                               path; NULL: none */
	size_t nafter_run;
	int after_run_timeout;      /* seconds */
};

void fleet_hooks_init(struct fleet_hooks *h);
void fleet_hooks_release(struct fleet_hooks *h);

/* Parses root's `hooks` group into h, when there is one. */
void fleet_hooks_parse(struct fleet_hooks *h, const struct cfg *c,
    config_setting_t *root);

#endif
