/*
 * `status`: each server's last state from the journals, as the last run
 * reported it (status_row.c); the journals are only read. Without --shard
 * that is every journal under the state directory, each server taken from
 * the one that wrote to it last, so the whole fleet shows however it was
 * split (journal_set.h). cmd_status_load builds those rows for `report`
 * (cmd_report.c) too.
 */
#include "cmd/cmd_status.h"
#include "engine/journal/status_row.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_status_load(struct cmd_status *st, const struct cmd_opts *o,
    const char *command)
{
	const struct server **sel = NULL;
	struct report_row *row;
	struct journal *jr;
	char msg[512];
	int64_t start = cmd_now_ms();
	size_t i, nsel;
	int rc;

	memset(st, 0, sizeof(*st));
	journal_set_init(&st->js);
	if ((rc = cmd_fleet_load(&st->f, o->fleet)) != CMD_EXIT_OK ||
	    (rc = cmd_select(&st->f, o, &sel, &nsel)) != CMD_EXIT_OK ||
	    (rc = cmd_journals_of(&st->f, o, &st->js)) != CMD_EXIT_OK)
		goto out;
	if (report_init(&st->r, st->f.name, command, time(NULL)) != 0) {
		fprintf(stderr, "certfleet: out of memory\n");
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	st->r.utab = &st->f.utab;
	for (i = 0; i < nsel; i++) {
		if ((row = report_add(&st->r, sel[i]->name)) == NULL) {
			fprintf(stderr, "certfleet: out of memory\n");
			rc = CMD_EXIT_FAILED;
			goto out;
		}
		row->status = REPORT_NOT_RUN;
		if (journal_set_pick(&st->js, sel[i]->name, &jr, msg,
		    sizeof msg) != 0 || (jr != NULL && status_row_fill(
		    &st->f.utab, jr, sel[i]->name, row, NULL, msg, sizeof msg) != 0)) {
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
	journal_set_release(&st->js);
	report_release(&st->r);
	fleet_release(&st->f);
}

int cmd_status(const struct cmd_opts *o)
{
	struct cmd_status st;
	int rc;

	if ((rc = cmd_status_load(&st, o, "status")) == CMD_EXIT_OK) {
		cmd_print_report(o, &st.r);
		rc = cmd_write_outputs(o, &st.f, &st.js, &st.r,
		    report_exit_status(&st.r));
	}
	cmd_status_release(&st);
	return rc;
}
