/*
 * The job state machine: one job per server, every step ending by starting
 * I/O whose callback moves the job on. This file holds the transitions
 * (job_set_state, the one place a state changes: it checks the table and
 * writes the journal before the next step starts, so a killed run resumes
 * without asking the CA twice), and a job's start, resumption and end. The
 * steps live beside it: job_inspect.c, job_issue.c, job_chain.c,
 * job_assign.c.
 */
#include "engine/job/job.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ignore_status(void *arg, int status, const char *msg)
{
	(void)arg;
	(void)status;
	(void)msg;
}

/* Removes the key a closed request waited with: it will never be
 * assigned (denied, failed) or has been (assigned). */
static void remove_waiting_key(struct job *j)
{
	const char *k = j->rq.key_path;
	char msg[256];

	if (k == NULL)
		return;
	if (strncmp(k, JOB_REMOTE_KEY_PREFIX,
	    strlen(JOB_REMOTE_KEY_PREFIX)) == 0) {
		if (j->t != NULL)
			j->t->ops->remove(j->t, k + strlen(JOB_REMOTE_KEY_PREFIX),
			    ignore_status, NULL);
	} else {
		fsio_remove(k, msg, sizeof msg);
	}
}

/*
 * The one place a job changes state: refuses what the table forbids, then
 * records the new state (and detail) in the journal. A request stays open
 * for the next run (final = 0) exactly while job_state_holds_request; once
 * it closes, the key it waited with goes.
 */
static int job_set_state(struct job *j, enum job_state next,
    const char *detail)
{
	struct journal *jr = job_cfg(j)->journal;
	enum job_state from = j->state;
	char msg[256];

	if (!job_transition_allowed(from, next)) {
		snprintf(j->error, sizeof j->error, "internal error: the job "
		    "of '%s' may not go from %s to %s", j->tg->name,
		    job_state_name(from), job_state_name(next));
		return CF_EINTERNAL;
	}
	j->state = next;
	if (jr == NULL || j->rq.id == 0)
		return 0;
	j->rq.final = !job_state_holds_request(next);
	if (journal_strset(&j->rq.state, job_state_name(next)) != 0 ||
	    journal_request_save(jr, &j->rq, detail, msg, sizeof msg) != 0) {
		snprintf(j->error, sizeof j->error, "cannot record state '%s' "
		    "of '%s' in the journal: %s", job_state_name(next),
		    j->tg->name, msg);
		return CF_EDB;
	}
	if (j->rq.final)
		remove_waiting_key(j);
	return 0;
}

/*
 * Ends the job failed with j->error. close: the request goes to failed
 * (the next run asks anew); otherwise a request holding an issued
 * certificate stays as it is, open, and the next run takes it up again.
 * Where the table allows no way to failed, the failure is still journaled
 * (an event and the error, the state unchanged): never silently skipped.
 */
static void fail_with_error(struct job *j, bool close)
{
	struct journal *jr = job_cfg(j)->journal;
	char msg[256];
	bool keep = !close && (j->state == JOB_ISSUED ||
	    j->state == JOB_CHAIN_CHECK || j->state == JOB_ASSIGN);

	journal_strset(&j->rq.error, j->error);
	if (!keep && job_transition_allowed(j->state, JOB_FAILED)) {
		if (job_set_state(j, JOB_FAILED, j->error) == CF_EDB)
			journal_strset(&j->rq.error, j->error);
	} else if (jr != NULL && j->rq.id != 0 &&
	    journal_request_save(jr, &j->rq, j->error, msg, sizeof msg) != 0) {
		size_t n = strlen(j->error);

		snprintf(j->error + n, sizeof j->error - n, "; and it cannot "
		    "be journaled: %s", msg);
	}
	job_finish(j, REPORT_FAILED);
}

void job_fail(struct job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (fmt != NULL)
		vsnprintf(j->error, sizeof j->error, fmt, ap);
	va_end(ap);
	fail_with_error(j, false);
}

void job_drop(struct job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (fmt != NULL)
		vsnprintf(j->error, sizeof j->error, fmt, ap);
	va_end(ap);
	fail_with_error(j, true);
}

void job_read_failed(struct job *j, int at, const char *fmt, ...)
{
	va_list ap;

	if (j->read_failed != 0 && j->read_failed <= at + 1)
		return;
	j->read_failed = at + 1;
	va_start(ap, fmt);
	vsnprintf(j->read_error, sizeof j->read_error, fmt, ap);
	va_end(ap);
}

bool job_reads_done(struct job *j)
{
	if (j->reads > 0)
		return false;
	if (j->read_failed != 0) {
		job_fail(j, "%s", j->read_error);
		return false;
	}
	return true;
}

/*
 * Moves to next, or ends the job failed: a transition the table refuses
 * is an internal error that fails the server, named and journaled, and a
 * journal that cannot record the state fails it too.
 */
bool job_advance(struct job *j, enum job_state next, const char *detail)
{
	int rc = job_set_state(j, next, detail);

	if (rc == 0)
		return true;
	if (rc == CF_EINTERNAL)
		fail_with_error(j, false);
	else
		job_finish(j, REPORT_FAILED);
	return false;
}

static void resume(struct job *j, enum job_state st)
{
	const struct engine_config *cfg = job_cfg(j);
	struct report_row *row = &j->e->report->rows[j->i];

	/* The request's run is the last one that moved it: status tells a
	 * request a killed run left in flight from one a run finished. */
	j->rq.run_id = cfg->run_id;
	report_row_set(&row->ca_status, j->rq.ca_status);
	snprintf(j->error, sizeof j->error, "continues request %lld, left at "
	    "'%s' by an earlier run", (long long)j->rq.id,
	    job_state_name(st));
	report_row_set(&row->reason, j->error);
	j->error[0] = '\0';
	switch (st) {
	case JOB_SUBMIT:
	case JOB_PENDING:
	case JOB_POLL:
		if (cfg->mode == ENGINE_ASSIGN) {
			job_finish(j, REPORT_PENDING);
			return;
		}
		if (job_advance(j, JOB_POLL, "resumed"))
			job_submit(j);
		return;
	default:
		if (job_load_issued(j) != 0) {
			job_drop(j, NULL);
			return;
		}
		if (job_advance(j, JOB_CHAIN_CHECK, "resumed"))
			job_chain_read(j);
		return;
	}
}

static void on_closed(struct job *j)
{
	struct engine *e = j->e;
	int u;

	if (--j->closing > 0)
		return;
	for (u = 0; u < USAGE_MAX; u++)
		free(j->current[u]);
	free(j->denied_hash);
	free(j->denied_error);
	journal_request_release(&j->rq);
	cert_store_release(&j->roots);
	cert_store_release(&j->inters);
	free(j->bundle[0]);
	free(j->bundle[1]);
	sk_X509_pop_free(j->certs, X509_free);
	chain_verdict_release(&j->verdict);
	free(j);
	engine_job_done(e);
}

static void on_timer_closed(uv_handle_t *h)
{
	on_closed(container_of((uv_timer_t *)h, struct job, timer));
}

static void on_transport_closed(void *arg)
{
	on_closed(arg);
}

/*
 * What this run found on the server, for status: its report row, in the
 * journal (run and assign; plan writes nothing). A row the journal will
 * not take says so, and the server counts as failed.
 */
static void record_outcome(struct job *j, struct report_row *row)
{
	const struct engine_config *cfg = job_cfg(j);
	struct journal_server s;
	char msg[256];
	json_t *o;
	int rc;

	if (cfg->journal == NULL || cfg->mode == ENGINE_PLAN)
		return;
	journal_server_init(&s);
	s.name = (char *)j->tg->name;
	s.run_id = cfg->run_id;
	s.command = cfg->mode == ENGINE_ASSIGN ? "assign" : "run";
	s.status = (char *)report_status_name(row->status);
	s.request_id = j->rq.id;
	o = report_row_to_json(row);
	s.report = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	rc = s.report ? journal_server_save(cfg->journal, &s, msg, sizeof msg) :
	    cf_error(msg, sizeof msg, CF_ENOMEM, "out of memory");
	free(s.report);
	if (rc != 0) {
		row->status = REPORT_FAILED;
		report_row_set(&row->error, msg);
	}
}

void job_finish(struct job *j, enum report_status outcome)
{
	struct report_row *row = &j->e->report->rows[j->i];
	struct chain_verdict tmp;

	row->status = outcome;
	if (j->rq.thumbprint) {
		snprintf(row->thumbprint, sizeof row->thumbprint, "%s",
		    j->rq.thumbprint);
		snprintf(row->sha256, sizeof row->sha256, "%s",
		    j->rq.sha256 ? j->rq.sha256 : "");
		row->not_after = (time_t)j->rq.not_after;
	}
	if (j->error[0] && outcome != REPORT_UP_TO_DATE)
		report_row_set(&row->error, j->error);
	else if (j->import_note[0])
		report_row_set(&row->error, j->import_note);
	/* The verdict moves to the report; the job keeps an empty one. */
	tmp = row->chain;
	row->chain = j->verdict;
	j->verdict = tmp;
	record_outcome(j, row);
	/* Memory is freed only once every handle has closed. */
	j->closing = 1;
	uv_close((uv_handle_t *)&j->timer, on_timer_closed);
	if (j->t != NULL) {
		j->closing++;
		j->t->ops->close(j->t, on_transport_closed, j);
		j->t = NULL;
	}
}

/*
 * An open request the CA never saw: a run was killed while making its key.
 * Nothing was asked, so there is nothing to continue; the row is closed
 * (failed, saying so) and the key it may have left removed, and the server
 * is inspected afresh. Returns 0, or an error once the job has failed.
 */
static int abandon(struct job *j)
{
	/* Removed with the closed request. One made on the server goes
	 * when the server's next key is made. */
	if (j->rq.key_path == NULL && !j->tg->keygen_remote)
		j->rq.key_path = job_local_key_path(j, j->rq.id);
	j->state = JOB_KEYGEN;
	j->rq.run_id = job_cfg(j)->run_id;
	journal_strset(&j->rq.error, "abandoned: the run making its key "
	    "stopped before the request reached the CA");
	if (job_set_state(j, JOB_FAILED, j->rq.error) != 0) {
		job_finish(j, REPORT_FAILED);
		return CF_EDB;
	}
	journal_request_release(&j->rq);
	j->state = JOB_INSPECT;
	return 0;
}

/*
 * Keeps the server's last denial, if its newest request was denied: a run
 * does not ask the CA the same again (the request unchanged, no --force).
 * Returns 0, or an error once the job has failed.
 */
static int last_denial(struct job *j)
{
	struct journal_request last;
	char msg[512];
	int rc;

	journal_request_init(&last);
	rc = journal_request_latest(job_cfg(j)->journal, j->tg->name, &last,
	    msg, sizeof msg);
	if (rc == 0 && strcmp(last.state, job_state_name(JOB_DENIED)) == 0) {
		j->denied_hash = last.request_hash;
		j->denied_error = last.error;
		last.request_hash = NULL;
		last.error = NULL;
		j->denied_at = last.updated_at;
	}
	journal_request_release(&last);
	if (rc != 0 && rc != CF_ENOENT) {
		job_fail(j, "cannot read the journal for '%s': %s",
		    j->tg->name, msg);
		return rc;
	}
	return 0;
}

void job_start(struct engine *e, size_t i)
{
	const struct engine_config *cfg = e->cfg;
	struct job *j = calloc(1, sizeof(*j));
	char msg[512];
	int rc, st;

	if (j == NULL) {
		e->report->rows[i].status = REPORT_FAILED;
		report_row_set(&e->report->rows[i].error, "out of memory");
		e->active++;
		engine_job_done(e);
		return;
	}
	j->e = e;
	j->i = i;
	j->tg = &cfg->targets[i];
	j->state = JOB_INSPECT;
	journal_request_init(&j->rq);
	cert_store_init(&j->roots);
	cert_store_init(&j->inters);
	chain_verdict_init(&j->verdict);
	uv_timer_init(e->loop, &j->timer);
	e->active++;

	if ((rc = cfg->open(cfg->ctx, i, e->loop, &j->t, msg,
	    sizeof msg)) != 0) {
		j->t = NULL;
		job_fail(j, "%s", msg);
		return;
	}
	if (cfg->journal) {
		rc = journal_request_open(cfg->journal, j->tg->name, &j->rq,
		    msg, sizeof msg);
		if (rc != 0 && rc != CF_ENOENT) {
			job_fail(j, "cannot read the journal for '%s': %s",
			    j->tg->name, msg);
			return;
		}
		st = rc == 0 ? job_state_from_name(j->rq.state) : -1;
		if (rc == 0 && st >= 0 &&
		    job_state_holds_request((enum job_state)st)) {
			resume(j, (enum job_state)st);
			return;
		}
		if ((rc == 0 && abandon(j) != 0) || last_denial(j) != 0)
			return;
	}
	job_inspect(j);
}
