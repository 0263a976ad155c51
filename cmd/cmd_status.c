/*
 * `status`: each server's last state from the journal, as the last run
 * reported it (status_row.c); the journal is only read. cmd_status_load
 * builds those rows for `report` (cmd_report.c) too.
 */
#include "cmd/cmd_status.h"
#include "engine/journal/status_row.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_status_load(struct cmd_status *st, const struct cmd_opts *o,
    const char *command)
{
	struct report_row *row;
	const struct server **sel = NULL;
	char msg[512];
	int64_t start = cmd_now_ms();
	size_t i, nsel;
	int rc;

	memset(st, 0, sizeof(*st));
	if ((rc = cmd_fleet_load(&st->f, o->fleet)) != CMD_EXIT_OK ||
	    (rc = cmd_select(&st->f, o, &sel, &nsel)) != CMD_EXIT_OK)
		goto out;
	if ((rc = cmd_journal_of(&st->f, &st->jr, &st->found)) != CMD_EXIT_OK)
		goto out;
	if (report_init(&st->r, st->f.name, command, time(NULL)) != 0) {
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	for (i = 0; i < nsel; i++) {
		const struct server *s = sel[i];

		if ((row = report_add(&st->r, s->name)) == NULL)
			break;
		if (!st->found) {
			row->status = REPORT_NOT_RUN;
			continue;
		}
		if (status_row_fill(&st->jr, s->name, row, NULL, msg,
		    sizeof msg) != 0) {
			fprintf(stderr, "certfleet: %s\n", msg);
			rc = CMD_EXIT_FAILED;
			goto out;
		}
	}
	st->r.duration_ms = cmd_now_ms() - start;
out:
	free(sel);
	return rc;
}

void cmd_status_release(struct cmd_status *st)
{
	if (st->found)
		journal_close(&st->jr);
	report_release(&st->r);
	fleet_release(&st->f);
}

int cmd_status(const struct cmd_opts *o)
{
	struct cmd_status st;
	int rc;

	if ((rc = cmd_status_load(&st, o, "status")) == CMD_EXIT_OK) {
		cmd_print_report(o, &st.r);
		rc = cmd_write_outputs(o, &st.f, st.found ? &st.jr : NULL,
		    &st.r, report_exit_status(&st.r));
	}
	cmd_status_release(&st);
	return rc;
}
