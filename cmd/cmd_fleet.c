/*
 * The fleet file and its journal, as every command opens them: the fleet
 * with every problem printed as FILE:LINE, the journal only when a run has
 * made one (status, show and approve never create a state directory); and
 * the JSON and report output the commands share.
 */
#include "cmd/cmd.h"
#include "engine/base/path.h"
#include "engine/journal/journal.h"
#include "engine/report/report.h"
#include "inventory/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <unistd.h>

/* Prints the fleet file's problems; returns the exit code for them. */
int cmd_fleet_load(struct fleet *f, const char *path)
{
	struct diags d;
	char line[1400];
	size_t i;
	int rc = CMD_EXIT_OK;

	diags_init(&d);
	if (fleet_load(f, path, &d) != 0) {
		for (i = 0; i < d.n; i++)
			fprintf(stderr, "%s\n", diag_format(&d.v[i], line,
			    sizeof line));
		fprintf(stderr, "%zu problem%s in '%s'; see certfleet check\n",
		    d.n, d.n == 1 ? "" : "s", path);
		rc = CMD_EXIT_USAGE;
	}
	diags_release(&d);
	return rc;
}

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

int64_t cmd_now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void cmd_print_json(json_t *j)
{
	if (j == NULL) {
		fprintf(stderr, "certfleet: out of memory\n");
		return;
	}
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(j);
}

void cmd_print_report(const struct cmd_opts *o, struct report *rep)
{
	if (o->json)
		cmd_print_json(report_to_json(rep));
	else
		report_write_table(rep, stdout, o->quiet);
}
