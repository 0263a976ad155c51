/*
 * --metrics FILE on run, plan, assign and status: the command's report as
 * Prometheus metrics (engine/report/metrics.c), with what each server
 * holds and the last success read from the journals. cmd_output.c replaces
 * the file atomically, as node_exporter's textfile collector requires: it
 * may read the file at any moment and must never see half of it.
 */
#include "cmd/cmd.h"
#include "engine/base/err.h"
#include "engine/journal/journal_set.h"
#include "engine/report/metrics.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_render_metrics(const struct cmd_opts *o, const struct fleet *f,
    struct journal_set *js, const struct report *rep, int exit_code,
    char **buf, size_t *len, char *msg, size_t msgsz)
{
	struct metrics_run run = { .exit_code = exit_code };
	struct metrics_cert *certs;
	FILE *fp = NULL;
	char shard[32];
	size_t i;
	int rc = 0;

	(void)f;
	*buf = NULL;
	*len = 0;
	if (o->shard.n) {
		snprintf(shard, sizeof shard, "%u/%u", o->shard.k, o->shard.n);
		run.shard = shard;
	}
	if ((certs = calloc(rep->n + 1, sizeof(*certs))) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	for (i = 0; rc == 0 && i < rep->n; i++)
		rc = cmd_row_installed(js, rep, &rep->rows[i],
		    &certs[i].usages,
		    &certs[i].not_after, msg, msgsz);
	if (rc == 0 && js != NULL)
		rc = journal_set_last_success(js, &run.last_success, msg,
		    msgsz);
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
