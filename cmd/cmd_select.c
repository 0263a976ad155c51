/*
 * The servers a command works on, chosen by --limit, --exclude and
 * --shard (see inventory/select.h), with the message and exit code for a
 * pattern that matches nothing.
 */
#include "cmd/cmd.h"
#include "engine/base/err.h"
#include "inventory/select.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_select(const struct fleet *f, const struct cmd_opts *o,
    const struct server ***out, size_t *n)
{
	struct fleet_selection fs = { o->limit, o->nlimit, o->exclude,
	    o->nexclude, o->shard };
	char msg[512];
	int rc;

	*n = 0;
	if ((*out = calloc(f->nservers + 1, sizeof(**out))) == NULL) {
		fprintf(stderr, "certfleet: out of memory\n");
		return CMD_EXIT_FAILED;
	}
	rc = fleet_select(f, &fs, *out, n, msg, sizeof msg);
	if (rc == 0)
		return CMD_EXIT_OK;
	fprintf(stderr, "certfleet: %s\n", msg);
	return rc == CF_ENOMEM ? CMD_EXIT_FAILED : CMD_EXIT_USAGE;
}
