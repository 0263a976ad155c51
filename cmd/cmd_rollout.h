/*
 * The staged rollout as the command line and the fleet file ask for it.
 */
#ifndef CF_CMD_ROLLOUT_H
#define CF_CMD_ROLLOUT_H

#include "cmd/cmd.h"
#include "engine/base/err.h"
#include "engine/job/engine.h"
#include "inventory/fleet.h"

struct cmd_rollout {
	bool on;                    /* a rollout was asked for */
	struct engine_rollout engine;
	bool *canary;               /* per target */
};

/*
 * Fills cr for the n targets tg (of servers): the policy, the canary and
 * each target's verify checks. Returns 0, or an error with msg (a bad
 * --batch, --max-failures or --canary). cmd_rollout_release either way.
 */
int cmd_rollout_make(struct cmd_rollout *cr, const struct fleet *f,
    const struct cmd_opts *o, const struct server *const *servers,
    struct engine_target *tg, size_t n, char *msg, size_t msgsz);

void cmd_rollout_release(struct cmd_rollout *cr);

/* plan: the batch a run would give each server that would issue, and a
 * line naming the batches and the checks. */
int cmd_rollout_plan(const struct cmd_rollout *cr,
    const struct engine_target *tg, struct report *rep);

#endif
