/*
 * `status`: each server's last state from the journals, as the last run
 * reported it (status_row.c); the journals are only read. Without --shard
 * that is every journal under the state directory, each server taken from
 * the one that wrote to it last, so the whole fleet shows however it was
 * split (journal_set.h).
 */
#include "cmd/cmd.h"
#include "engine/journal/status_row.h"
#include "engine/journal/journal_set.h"
#include "engine/report/report.h"
#include "inventory/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_status_rows(const struct cmd_opts *o, const struct fleet *f,
    struct journal_set *js, struct report *r)
{
	const struct server **sel = NULL;
	struct report_row *row;
	struct journal *jr;
	char msg[512];
	size_t i, nsel;
	int rc;

	journal_set_init(js);
	memset(r, 0, sizeof *r);
	if ((rc = cmd_select(f, o, &sel, &nsel)) != CMD_EXIT_OK ||
	    (rc = cmd_journals_of(f, o, js)) != CMD_EXIT_OK)
		goto out;
	if (report_init(r, f->name, "status", time(NULL)) != 0) {
		fprintf(stderr, "certfleet: out of memory\n");
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	for (i = 0; i < nsel; i++) {
		if ((row = report_add(r, sel[i]->name)) == NULL) {
			fprintf(stderr, "certfleet: out of memory\n");
			rc = CMD_EXIT_FAILED;
			goto out;
		}
		row->status = REPORT_NOT_RUN;
		if (journal_set_pick(js, sel[i]->name, &jr, msg,
		    sizeof msg) != 0 || (jr != NULL && status_row_fill(jr,
		    sel[i]->name, row, NULL, msg, sizeof msg) != 0)) {
			fprintf(stderr, "certfleet: %s\n", msg);
			rc = CMD_EXIT_FAILED;
			goto out;
		}
	}
out:
	free(sel);
	return rc;
}

int cmd_status(const struct cmd_opts *o)
{
	struct fleet f;
	struct journal_set js;
	struct report r;
	int64_t start = cmd_now_ms();
	int rc;

	journal_set_init(&js);
	memset(&r, 0, sizeof r);
	if ((rc = cmd_fleet_load(&f, o->fleet)) != CMD_EXIT_OK ||
	    (rc = cmd_status_rows(o, &f, &js, &r)) != CMD_EXIT_OK)
		goto out;
	r.duration_ms = cmd_now_ms() - start;
	cmd_print_report(o, &r);
	rc = cmd_write_metrics(o, &f, &js, &r, report_exit_status(&r));
out:
	journal_set_release(&js);
	report_release(&r);
	fleet_release(&f);
	return rc;
}
