/*
 * The fleet's journal as status, show and approve open it: only when a
 * run has made one (they never create a state directory).
 */
#include "cmd/cmd.h"
#include "engine/journal/journal.h"
#include "engine/base/path.h"
#include "inventory/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int cmd_journal_of(const struct fleet *f, struct journal *jr, bool *found)
{
	char *db = path_join(f->state_dir, "journal.db"), msg[512];
	int rc = CMD_EXIT_OK;

	*found = false;
	if (db == NULL)
		return CMD_EXIT_FAILED;
	if (access(db, F_OK) == 0) {
		if (journal_open(jr, db, msg, sizeof msg) != 0) {
			fprintf(stderr, "certfleet: %s\n", msg);
			rc = CMD_EXIT_FAILED;
		} else {
			*found = true;
		}
	}
	free(db);
	return rc;
}

