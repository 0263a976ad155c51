/*
 * Inspect: what each usage on the server holds now, and whether the server
 * is due. Reads go through the transport; the decision is inspect.c's.
 */
#include "engine/job.h"
#include "engine/err.h"
#include "engine/crypto.h"
#include "engine/inspect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void inspect_next(struct job *j, int u);

struct read_ctx {
	struct job *j;
	int u;
};

static void on_current(void *arg, int status, const char *data, size_t len,
    const char *msg)
{
	struct read_ctx *rc = arg;
	struct job *j = rc->j;
	int u = rc->u;

	free(rc);
	j->reads--;
	if (status == 0) {
		if ((j->current[u] = malloc(len + 1)) == NULL) {
			job_fail(j, "out of memory");
			return;
		}
		memcpy(j->current[u], data, len);
		j->current[u][len] = '\0';
	} else if (status != CF_ENOENT) {
		job_fail(j, "%s", msg);
		return;
	}
	inspect_next(j, u + 1);
}

static void decide(struct job *j)
{
	const struct engine_config *cfg = job_cfg(j);
	struct report_row *row = &j->e->report->rows[j->i];
	struct inspect_result r;

	inspect_decide((const char *const *)j->current, j->tg->usages,
	    j->tg->spec, cfg->renew_before_days, cfg->now, cfg->force, &r);
	memcpy(row->thumbprint, r.thumbprint, sizeof row->thumbprint);
	memcpy(row->sha256, r.sha256, sizeof row->sha256);
	row->not_after = r.not_after;
	if (!r.due) {
		char msg[256];
		int u;

		/* Up to date; still check that the server's stores hold the
		 * CAs of what it serves, since stores change under us. */
		row->usages = j->tg->usages;
		for (u = 0; j->current[u] == NULL; u++)
			;
		j->current_only = true;
		if (crypto_certs_from_pem(j->current[u], "the assigned "
		    "certificate", &j->certs, msg, sizeof msg) != 0) {
			if (job_advance(j, JOB_UP_TO_DATE, NULL))
				job_finish(j, REPORT_UP_TO_DATE);
			return;
		}
		job_chain_read(j);
		return;
	}
	report_row_set(&row->ca_status, r.reason);
	if (cfg->mode == ENGINE_PLAN) {
		job_chain_read(j);
		return;
	}
	if (job_advance(j, JOB_KEYGEN, r.reason))
		job_keygen(j);
}

static void inspect_next(struct job *j, int u)
{
	struct read_ctx *rc;
	char *path;
	int st;

	while (u < USAGE_MAX && !(j->tg->usages & (1u << u)))
		u++;
	if (u == USAGE_MAX) {
		decide(j);
		return;
	}
	if ((rc = malloc(sizeof(*rc))) == NULL ||
	    (path = assign_cert_path(j->tg->store->certs,
	    &j->tg->bindings[u], (enum usage)u)) == NULL) {
		free(rc);
		job_fail(j, "out of memory");
		return;
	}
	rc->j = j;
	rc->u = u;
	j->reads++;
	st = j->t->ops->read_file(j->t, path, JOB_FILE_MAX, on_current, rc);
	free(path);
	if (st != 0) {
		j->reads--;
		free(rc);
		job_fail(j, "cannot inspect '%s': %s", j->tg->name,
		    cf_strerror(st));
	}
}


void job_inspect(struct job *j)
{
	inspect_next(j, 0);
}
