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
#include "engine/journal/journal_set.h"
#include "engine/journal/status_row.h"
#include "engine/report/metrics.h"
#include "inventory/fleet.h"

#include <stdio.h>
#include <stdlib.h>

/* Readable by the collector, which seldom runs as the user who runs us. */
#define METRICS_MODE 0644

/* What each server holds, from the journal that wrote to it last. */
static int installed(struct journal_set *js, const struct report_row *row,
    struct metrics_cert *cert, char *msg, size_t msgsz)
{
	struct journal *jr = NULL;
	int rc = 0;

	if (js != NULL)
		rc = journal_set_pick(js, row->name, &jr, msg, msgsz);
	return rc ? rc : status_row_installed(jr, row, &cert->usages,
	    &cert->not_after, msg, msgsz);
}

/* The text for rep, into *buf (the caller frees it). 0 or a CF_E* code
 * with msg. */
static int render(struct journal_set *js, const struct report *rep,
    const char *shard, int exit_code, char **buf, size_t *len, char *msg,
    size_t msgsz)
{
	struct metrics_run run = { .exit_code = exit_code, .shard = shard };
	struct metrics_cert *certs;
	FILE *fp = NULL;
	size_t i;
	int rc = 0;

	*buf = NULL;
	*len = 0;
	if ((certs = calloc(rep->n + 1, sizeof(*certs))) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	for (i = 0; rc == 0 && i < rep->n; i++)
		rc = installed(js, &rep->rows[i], &certs[i], msg, msgsz);
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

int cmd_write_metrics(const struct cmd_opts *o, const struct fleet *f,
    struct journal_set *js, const struct report *rep, int exit_code)
{
	struct journal_set own;
	char msg[1024], shard[32], *buf = NULL;
	size_t len = 0;
	int rc;

	if (o->metrics == NULL)
		return exit_code;
	journal_set_init(&own);
	/* plan keeps no journal open; what it knows is read here. */
	if (js == NULL && cmd_journals_of(f, o, &own) != CMD_EXIT_OK)
		return exit_code == CMD_EXIT_OK ? CMD_EXIT_FAILED : exit_code;
	snprintf(shard, sizeof shard, "%u/%u", o->shard.k, o->shard.n);
	rc = render(js ? js : &own, rep, o->shard.n ? shard : NULL, exit_code,
	    &buf, &len, msg, sizeof msg);
	if (rc == 0)
		rc = fsio_write_atomic(o->metrics, buf, len, METRICS_MODE, msg,
		    sizeof msg);
	journal_set_release(&own);
	free(buf);
	if (rc == 0)
		return exit_code;
	fprintf(stderr, "certfleet: %s\n", msg);
	return exit_code == CMD_EXIT_OK ? CMD_EXIT_FAILED : exit_code;
}
