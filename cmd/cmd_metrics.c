/*
 * --metrics FILE on run, plan, assign and status: the command's report as
 * Prometheus metrics (engine/report/metrics.c), with what each server
 * holds and the last success read from the journal. cmd_output.c replaces
 * the file atomically, as node_exporter's textfile collector requires: it
 * may read the file at any moment and must never see half of it.
 */
#include "cmd/cmd.h"
#include "engine/base/err.h"
#include "engine/journal/journal.h"
#include "engine/journal/status_row.h"
#include "engine/report/metrics.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_render_metrics(const struct fleet *f, struct journal *jr,
    const struct report *rep, int exit_code, char **buf, size_t *len,
    char *msg, size_t msgsz)
{
	struct metrics_run run = { .exit_code = exit_code };
	struct metrics_cert *certs;
	FILE *fp = NULL;
	size_t i;
	int rc = 0;

	(void)f;
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
