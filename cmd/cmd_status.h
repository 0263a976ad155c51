/*
 * What `status` and `report` show, built once for both: the fleet, its
 * journals (every shard's without --shard), and a report row per server
 * --limit, --exclude and --shard choose, as the journal that wrote to it
 * last has it (status_row.c).
 */
#ifndef CF_CMD_STATUS_H
#define CF_CMD_STATUS_H

#include "cmd/cmd.h"
#include "engine/journal/journal_set.h"
#include "engine/report/report.h"
#include "inventory/fleet.h"

struct cmd_status {
	struct fleet f;
	struct journal_set js;      /* none open before any run */
	struct report r;
};

/* Loads o's fleet into st and fills st->r (named command) from the
 * journals alone; they are only read. Returns CMD_EXIT_OK, or the exit
 * code with the problem printed; cmd_status_release either way. */
int cmd_status_load(struct cmd_status *st, const struct cmd_opts *o,
    const char *command);

void cmd_status_release(struct cmd_status *st);

#endif
