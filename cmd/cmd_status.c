/*
 * `status`: each server's last state from the journal, as the last run
 * reported it (status_row.c); the journal is only read.
 */
#include "cmd/cmd.h"
#include "engine/journal/status_row.h"
#include "engine/journal/journal.h"
#include "engine/report/report.h"
#include "inventory/fleet.h"

#include <stdio.h>

int cmd_status(const struct cmd_opts *o)
{
	struct fleet f;
	struct journal jr = { 0 };
	struct report r = { 0 };
	struct report_row *row;
	const struct server **sel = NULL;
	char msg[512];
	int64_t start = cmd_now_ms();
	bool found = false;
	size_t i, nsel;
	int rc;

	if ((rc = cmd_fleet_load(&f, o->fleet)) != CMD_EXIT_OK ||
	    (rc = cmd_select(&f, o, &sel, &nsel)) != CMD_EXIT_OK)
		goto out;
	if ((rc = cmd_journal_of(&f, &jr, &found)) != CMD_EXIT_OK)
		goto out;
	if (report_init(&r, f.name, "status", time(NULL)) != 0) {
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	for (i = 0; i < nsel; i++) {
		const struct server *s = sel[i];

		if ((row = report_add(&r, s->name)) == NULL)
			break;
		if (!found) {
			row->status = REPORT_NOT_RUN;
			continue;
		}
		if (status_row_fill(&jr, s->name, row, NULL, msg,
		    sizeof msg) != 0) {
			fprintf(stderr, "certfleet: %s\n", msg);
			rc = CMD_EXIT_FAILED;
			goto out;
		}
	}
	r.duration_ms = cmd_now_ms() - start;
	cmd_print_report(o, &r);
	rc = cmd_write_metrics(o, &f, found ? &jr : NULL, &r,
	    report_exit_status(&r));
out:
	if (found)
		journal_close(&jr);
	report_release(&r);
	free(sel);
	fleet_release(&f);
	return rc;
}

