/*
 * Inspect: what each usage on the server holds now, and whether the server
 * is due. Reads go through the transport; the decision is inspect.c's.
 */
#include "engine/job/job.h"
#include "engine/base/err.h"
#include "engine/base/crypto.h"
#include "engine/job/inspect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void decide(struct job *j);

struct read_ctx {
	struct job *j;
	int u;
};

/* All of a server's usage reads are in flight at once (a transport may
 * serve them in one round trip); the decision waits for the last one. */
static void inspect_read_back(struct job *j)
{
	if (job_reads_done(j))
		decide(j);
}

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
			job_read_failed(j, u, "out of memory");
		} else {
			memcpy(j->current[u], data, len);
			j->current[u][len] = '\0';
		}
	} else if (status != CF_ENOENT) {
		job_read_failed(j, u, "%s", msg);
	}
	inspect_read_back(j);
}

/* A denial is remembered while the request is unchanged (and in assign,
 * which never asks); --force asks again. */
static bool denial_stands(struct job *j)
{
	const struct engine_config *cfg = job_cfg(j);
	char hash[65];

	if (j->denied_error == NULL && j->denied_hash == NULL)
		return false;
	if (cfg->mode == ENGINE_ASSIGN)
		return true;
	return !cfg->force && j->denied_hash != NULL &&
	    job_request_hash(j, hash) == 0 &&
	    strcmp(hash, j->denied_hash) == 0;
}

/* Due, and not to be asked for: the last denial, told again. */
static void deny_again(struct job *j)
{
	struct report_row *row = &j->e->report->rows[j->i];
	char when[32];
	time_t t = (time_t)j->denied_at;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d", &tm);
	snprintf(j->error, sizeof j->error, "%s (on %s; not asked again "
	    "until the request changes, or with --force)",
	    j->denied_error ? j->denied_error : "denied by the CA", when);
	report_row_set(&row->ca_status, "denied");
	if (job_advance(j, JOB_DENIED, j->error))
		job_finish(j, REPORT_DENIED);
}

/* plan: what the CA's policy would say, then whether the CA's chain
 * would verify on the server. */
static void plan_due(struct job *j)
{
	const struct engine_config *cfg = job_cfg(j);
	char msg[512];

	if (cfg->ca && cfg->ca->ops->precheck && cfg->ca->ops->precheck(cfg->ca,
	    j->tg->spec, msg, sizeof msg) != 0) {
		snprintf(j->error, sizeof j->error, "the CA would deny it: %s",
		    msg);
		job_finish(j, REPORT_WOULD_DENY);
		return;
	}
	job_chain_read(j);
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
	report_row_set(&row->reason, r.reason);
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
	if (cfg->mode == ENGINE_PLAN) {
		plan_due(j);
		return;
	}
	if (denial_stands(j)) {
		deny_again(j);
		return;
	}
	if (cfg->mode == ENGINE_ASSIGN) {
		job_fail(j, "nothing to assign to '%s': no certificate was "
		    "issued for it (%s); 'certfleet run' requests one",
		    j->tg->name, r.reason);
		return;
	}
	report_row_set(&row->ca_status, NULL);
	if (job_advance(j, JOB_KEYGEN, r.reason))
		job_keygen(j);
}

/* Starts the read of usage u; false when it could not start (noted). */
static bool inspect_start(struct job *j, int u)
{
	struct read_ctx *rc;
	char *path;
	int st;

	if ((rc = malloc(sizeof(*rc))) == NULL ||
	    (path = assign_cert_path(j->tg->store->certs,
	    &j->tg->bindings[u], (enum usage)u)) == NULL) {
		free(rc);
		job_read_failed(j, u, "out of memory");
		return false;
	}
	rc->j = j;
	rc->u = u;
	j->reads++;
	st = j->t->ops->read_file(j->t, path, JOB_FILE_MAX, on_current, rc);
	free(path);
	if (st != 0) {
		j->reads--;
		free(rc);
		job_read_failed(j, u, "cannot inspect '%s': %s", j->tg->name,
		    cf_strerror(st));
		return false;
	}
	return true;
}

void job_inspect(struct job *j)
{
	int u;

	j->read_failed = 0;
	/* A usage after one that could not start cannot come first in
	 * usage order, so there is no point reading it. Callbacks never run
	 * from inside read_file, so the count cannot reach 0 early. */
	for (u = 0; u < USAGE_MAX; u++)
		if ((j->tg->usages & (1u << u)) && !inspect_start(j, u))
			break;
	inspect_read_back(j);
}
