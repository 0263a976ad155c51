/*
 * `report --html FILE`: the rows `status` shows (cmd_status_load), from
 * the journal alone, written as one HTML page; nothing is printed. It
 * exits as status does, so a scheduled report fails the way status would.
 */
#include "cmd/cmd_status.h"

#include <stdio.h>

int cmd_report(const struct cmd_opts *o)
{
	struct cmd_status st;
	int rc;

	/* The page is the command's only output: without it there is
	 * nothing to do, and status already prints the table. */
	if (o->html == NULL) {
		fprintf(stderr, "certfleet: 'report' needs --html FILE (usage: "
		    "certfleet report --html FILE FLEET.cfg; 'certfleet status' "
		    "prints the table)\n");
		return CMD_EXIT_USAGE;
	}
	if ((rc = cmd_status_load(&st, o, "report")) == CMD_EXIT_OK)
		rc = cmd_write_outputs(o, &st.f, &st.js, &st.r,
		    report_exit_status(&st.r));
	cmd_status_release(&st);
	return rc;
}
