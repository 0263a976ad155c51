/*
 * The fleet file and its journals, as every command opens them: the fleet
 * with every problem printed as FILE:LINE, the journals only where runs
 * have made them (status, show and approve never create a state
 * directory); and the JSON and report output the commands share.
 */
#include "cmd/cmd.h"
#include "engine/base/path.h"
#include "engine/journal/journal_set.h"
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

int cmd_journals_of(const struct fleet *f, const struct cmd_opts *o,
    struct journal_set *js)
{
	char msg[512];

	if (journal_set_open(js, f->state_dir, o->shard.n ? &o->shard : NULL,
	    msg, sizeof msg) == 0)
		return CMD_EXIT_OK;
	fprintf(stderr, "certfleet: %s\n", msg);
	return CMD_EXIT_FAILED;
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
