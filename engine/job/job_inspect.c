/*
 * Inspect: what the journal holds for the server (a request an earlier run
 * left open, a denial to remember), then what each usage on the server
 * holds now and whether the server is due (the decision is inspect.c's).
 * Also the two questions job_step asks when inspect is back: would plan's
 * CA deny it, does a denial still stand.
 */
#include "engine/job/job.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct read_ctx {
	struct job *j;
	int u;
};

/* Every usage read is back: the decision, and the row's view of what the
 * server holds. */
static void decide(struct job *j)
{
	const struct engine_config *cfg = j->cfg;
	struct report_row *row = j->row;
	struct inspect_result *r = &j->insp;
	struct renew_policy days;

	renew_policy_init(&days);
	days.days = cfg->renew_before_days;
	inspect_decide(j->tg->utab, (const char *const *)j->current,
	    j->tg->usages,
	    j->tg->spec, j->tg->renew ? j->tg->renew : &days, cfg->now,
	    cfg->force, r);
	memcpy(row->thumbprint, r->thumbprint, sizeof row->thumbprint);
	memcpy(row->sha256, r->sha256, sizeof row->sha256);
	row->not_after = r->not_after;
	report_row_set(&row->reason, r->reason);
	if (!r->due)
		row->usages = j->tg->usages;
	job_back(j);
}

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

/* Starts the read of usage u; false when it could not start (noted). */
static bool read_usage(struct job *j, int u)
{
	struct read_ctx *rc = malloc(sizeof(*rc));
	int st;

	if (rc == NULL) {
		job_read_failed(j, u, "out of memory");
		return false;
	}
	rc->j = j;
	rc->u = u;
	j->reads++;
	st = assign_read_current(j->t, j->tg->store->certs,
	    &j->tg->bindings[u], usage_name(j->tg->utab, (unsigned)u),
	    JOB_FILE_MAX, on_current, rc);
	if (st != 0) {
		j->reads--;
		free(rc);
		job_read_failed(j, u, "cannot inspect '%s': %s", j->tg->name,
		    cf_strerror(st));
		return false;
	}
	return true;
}

/*
 * An open request the CA never saw: a run was killed while making its key.
 * Nothing was asked, so there is nothing to continue: the row is closed
 * (failed, saying so) and the key it may have left removed, and the server
 * is inspected afresh. A key made on the server goes when its next key is
 * made. Returns 0, or an error (in j->error).
 */
static int abandon(struct job *j)
{
	struct journal *jr = j->cfg->journal;
	char msg[256];

	if (j->rq.key_path == NULL && !j->tg->keygen_remote)
		j->rq.key_path = job_local_key_path(j, j->rq.id);
	j->rq.run_id = j->cfg->run_id;
	j->rq.final = 1;
	if (journal_strset(&j->rq.state, job_state_name(JOB_FAILED)) != 0 ||
	    journal_strset(&j->rq.error, "abandoned: the run making its key "
	    "stopped before the request reached the CA") != 0 ||
	    journal_request_save(jr, &j->rq, j->rq.error, msg,
	    sizeof msg) != 0) {
		snprintf(j->error, sizeof j->error, "cannot close the "
		    "abandoned request of '%s' in the journal: %s",
		    j->tg->name, msg);
		return CF_EDB;
	}
	if (j->rq.key_path)
		remove((const char *)j->rq.key_path);
	journal_request_release(&j->rq);
	return 0;
}

/*
 * Keeps the server's last denial, if its newest request was denied: a run
 * does not ask the CA the same again (the request unchanged, no --force).
 */
static int last_denial(struct job *j)
{
	struct journal_request last;
	char msg[512];
	int rc;

	journal_request_init(&last);
	rc = journal_request_latest(j->cfg->journal, j->tg->name, &last, msg,
	    sizeof msg);
	if (rc == 0 && strcmp(last.state, job_state_name(JOB_DENIED)) == 0) {
		j->denied_hash = last.request_hash;
		j->denied_error = last.error;
		last.request_hash = NULL;
		last.error = NULL;
		j->denied_at = last.updated_at;
	}
	journal_request_release(&last);
	if (rc != 0 && rc != CF_ENOENT) {
		snprintf(j->error, sizeof j->error, "cannot read the journal "
		    "for '%s': %s", j->tg->name, msg);
		return rc;
	}
	return 0;
}

/*
 * A request an earlier run left open is continued, not asked again: the
 * CA may hold it, or has issued it. Returns 0 with j->resumed set, or an
 * error (in j->error) once nothing can be continued.
 */
static int resume(struct job *j, enum job_state st)
{
	char why[200];

	/* The request's run is the last one that moved it: status tells a
	 * request a killed run left in flight from one a run finished. */
	j->rq.run_id = j->cfg->run_id;
	j->resumed = st;
	report_row_set(&j->row->ca_status, j->rq.ca_status);
	snprintf(why, sizeof why, "continues request %lld, left at '%s' by "
	    "an earlier run", (long long)j->rq.id, job_state_name(st));
	report_row_set(&j->row->reason, why);
	if (st == JOB_SUBMIT || st == JOB_PENDING || st == JOB_POLL)
		return 0;
	return job_load_issued(j);
}

/* The journal's part of inspect. Returns 1 when a request is resumed, 0
 * to read the server, or an error with j->error (the job fails; close
 * says whether the request is unusable). */
static int from_journal(struct job *j, bool *close)
{
	int rc, st;
	char msg[512];

	rc = journal_request_open(j->cfg->journal, j->tg->name, &j->rq, msg,
	    sizeof msg);
	if (rc != 0 && rc != CF_ENOENT) {
		snprintf(j->error, sizeof j->error, "cannot read the journal "
		    "for '%s': %s", j->tg->name, msg);
		return rc;
	}
	st = rc == 0 ? job_state_from_name(j->rq.state) : -1;
	if (rc == 0 && st >= 0 && job_state_holds_request((enum job_state)st)) {
		*close = true;
		return (rc = resume(j, (enum job_state)st)) == 0 ? 1 : rc;
	}
	if (rc == 0 && (rc = abandon(j)) != 0)
		return rc;
	return last_denial(j);
}

void job_inspect_enter(struct job *j)
{
	const struct engine_config *cfg = j->cfg;
	bool close = false;
	char msg[512];
	int u, rc;

	if ((rc = cfg->open(cfg->ctx, j->i, j->loop, &j->t, msg,
	    sizeof msg)) != 0) {
		j->t = NULL;
		job_failed(j, false, "%s", msg);
		return;
	}
	if (cfg->journal != NULL && (rc = from_journal(j, &close)) != 0) {
		if (rc == 1)
			job_back(j);
		else
			job_failed(j, close, NULL);
		return;
	}
	j->read_failed = 0;
	/* A usage after one that could not start cannot come first in
	 * usage order, so there is no point reading it. Callbacks never run
	 * from inside read_file, so the count cannot reach 0 early. */
	for (u = 0; u < USAGE_CAP; u++)
		if ((j->tg->usages & (1u << u)) && !read_usage(j, u))
			break;
	inspect_read_back(j);
}

bool job_plan_denied(struct job *j)
{
	const struct engine_config *cfg = j->cfg;
	char msg[512];

	if (cfg->ca == NULL || cfg->ca->ops->precheck == NULL ||
	    cfg->ca->ops->precheck(cfg->ca, j->tg->spec, msg,
	    sizeof msg) == 0)
		return false;
	snprintf(j->error, sizeof j->error, "the CA would deny it: %s", msg);
	return true;
}

/* A denial is remembered while the request is unchanged (and in assign,
 * which never asks); --force asks again. When it stands, j->error says
 * so and when it was given. */
bool job_denial_stands(struct job *j)
{
	const struct engine_config *cfg = j->cfg;
	char hash[65], when[32];
	time_t t = (time_t)j->denied_at;
	struct tm tm;

	if (j->denied_error == NULL && j->denied_hash == NULL)
		return false;
	if (cfg->mode != ENGINE_ASSIGN && (cfg->force ||
	    j->denied_hash == NULL || job_request_hash(j, hash) != 0 ||
	    strcmp(hash, j->denied_hash) != 0))
		return false;
	gmtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d", &tm);
	snprintf(j->error, sizeof j->error, "%s (on %s; not asked again "
	    "until the request changes, or with --force)",
	    j->denied_error ? j->denied_error : "denied by the CA", when);
	report_row_set(&j->row->ca_status, "denied");
	return true;
}
