/*
 * --metrics FILE on run, plan, assign and status: the command's report as
 * Prometheus metrics (engine/report/metrics.c), with what each server
 * holds and the last success read from the journal. The file is replaced
 * atomically, as node_exporter's textfile collector requires: it may read
 * the file at any moment and must never see half of it.
 */
#include "cmd/cmd.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/journal/journal.h"
#include "engine/journal/status_row.h"
#include "engine/report/metrics.h"
#include "inventory/fleet.h"

#include <stdio.h>
#include <stdlib.h>

/* Readable by the collector, which seldom runs as the user who runs us. */
#define METRICS_MODE 0644

/* The text for rep, into *buf (the caller frees it). 0 or a CF_E* code
 * with msg. */
static int render(struct journal *jr, const struct report *rep,
    int exit_code, char **buf, size_t *len, char *msg, size_t msgsz)
{
	struct metrics_run run = { .exit_code = exit_code };
	struct metrics_cert *certs;
	FILE *fp = NULL;
	size_t i;
	int rc = 0;

	*buf = NULL;
	*len = 0;
	if ((certs = calloc(rep->n + 1, sizeof(*certs))) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	for (i = 0; rc == 0 && i < rep->n; i++)
		rc = status_row_installed(jr, &rep->rows[i], &certs[i].usages,
		    &certs[i].not_after, msg, msgsz);
	if (rc == 0 && jr != NULL)
		rc = journal_last_success(jr, &run.last_success, msg, msgsz);
	if (rc == 0 && (fp = open_memstream(buf, len)) == NULL)
		rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	if (rc == 0) {
		rc = metrics_write(rep, certs, &run, fp);
		if (fclose(fp) != 0 || rc != 0)
			rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	free(certs);
	return rc;
}

int cmd_write_metrics(const struct cmd_opts *o, const struct fleet *f,
    struct journal *jr, const struct report *rep, int exit_code)
{
	struct journal own;
	char msg[1024], *buf = NULL;
	bool found = false;
	size_t len = 0;
	int rc;

	if (o->metrics == NULL)
		return exit_code;
	/* plan keeps no journal open; what it knows is read here. */
	if (jr == NULL && cmd_journal_of(f, &own, &found) != CMD_EXIT_OK)
		return exit_code == CMD_EXIT_OK ? CMD_EXIT_FAILED : exit_code;
	rc = render(jr ? jr : found ? &own : NULL, rep, exit_code, &buf, &len,
	    msg, sizeof msg);
	if (rc == 0)
		rc = fsio_write_atomic(o->metrics, buf, len, METRICS_MODE, msg,
		    sizeof msg);
	if (found)
		journal_close(&own);
	free(buf);
	if (rc == 0)
		return exit_code;
	fprintf(stderr, "certfleet: %s\n", msg);
	return exit_code == CMD_EXIT_OK ? CMD_EXIT_FAILED : exit_code;
}
