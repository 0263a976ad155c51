/*
 * The fleet file's staged rollout: the `rollout` group (canary, batch,
 * max_failures, pause, verify, verify_timeout) and each server's
 * verify_address and verify. Every key is checked with FILE:LINE.
 */
#ifndef CF_INVENTORY_ROLLOUT_H
#define CF_INVENTORY_ROLLOUT_H

#include "engine/rollout/rollout.h"
#include "inventory/cfg.h"

#define ROLLOUT_VERIFY_TIMEOUT 10

struct fleet_rollout {
	bool set;                   /* the fleet file has a rollout group */
	char **canary;              /* server or group names, NULL-ended */
	size_t ncanary;
	int *canary_lines;
	struct rollout_policy policy;
	struct rollout_verify *verify;
	size_t nverify;
	int verify_timeout;         /* seconds */
	char *file;                 /* where the group is */
};

void fleet_rollout_init(struct fleet_rollout *r);
void fleet_rollout_release(struct fleet_rollout *r);

/* Parses root's `rollout` group into r, when there is one. */
void fleet_rollout_parse(struct fleet_rollout *r, const struct cfg *c,
    config_setting_t *root, const struct usage_table *t);

/*
 * Parses a `verify` list ({ usage = "..."; port = N; }, ...) at key of g
 * into a new array *out of *n checks. False when absent (nothing set);
 * mistakes are reported and the entry left out.
 */
bool rollout_verify_parse(const struct cfg *c, config_setting_t *g,
    const struct usage_table *t, const char *what,
    struct rollout_verify **out, size_t *n);

struct fleet;

/* Canary names that name no server or group, reported at their line. */
void fleet_rollout_check(const struct fleet *f, struct diags *d);

#endif
