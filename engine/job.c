/*
 * The job state machine: one job per server, every step ending by starting
 * I/O whose callback moves the job on. This file holds the transitions
 * (job_set_state, the one place a state changes: it checks the table and
 * writes the journal before the next step starts, so a killed run resumes
 * without asking the CA twice), and a job's start, resumption and end. The
 * steps live beside it: job_inspect.c, job_issue.c, job_chain.c,
 * job_assign.c.
 */
#include "engine/job.h"
#include "engine/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The one place a job changes state: refuses what the table forbids, then
 * records the new state (and detail) in the journal. A request stays open
 * for the next run (final = 0) exactly while job_state_holds_request.
 */
static int job_set_state(struct job *j, enum job_state next,
    const char *detail)
{
	struct journal *jr = job_cfg(j)->journal;
	char msg[256];

	if (!job_transition_allowed(j->state, next)) {
		snprintf(j->error, sizeof j->error, "internal error: no "
		    "transition from %s to %s", job_state_name(j->state),
		    job_state_name(next));
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
	return 0;
}

/* Ends the job as failed with a message an operator can act on. */
void job_fail(struct job *j, const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vsnprintf(j->error, sizeof j->error, fmt, ap);
		va_end(ap);
	}
	if (job_transition_allowed(j->state, JOB_FAILED)) {
		journal_strset(&j->rq.error, j->error);
		job_set_state(j, JOB_FAILED, j->error);
	}
	job_finish(j, REPORT_FAILED);
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

/* Moves to next, or ends the job failed when the journal refused it. */
bool job_advance(struct job *j, enum job_state next, const char *detail)
{
	if (job_set_state(j, next, detail) == 0)
		return true;
	job_finish(j, REPORT_FAILED);
	return false;
}


static void resume(struct job *j, enum job_state st)
{
	const struct engine_config *cfg = job_cfg(j);
	struct report_row *row = &j->e->report->rows[j->i];

	report_row_set(&row->ca_status, j->rq.ca_status);
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
			job_fail(j, NULL);
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
	/* Memory is freed only once every handle has closed. */
	j->closing = 1;
	uv_close((uv_handle_t *)&j->timer, on_timer_closed);
	if (j->t != NULL) {
		j->closing++;
		j->t->ops->close(j->t, on_transport_closed, j);
		j->t = NULL;
	}
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
		if (rc == 0 && (st = job_state_from_name(j->rq.state)) >= 0 &&
		    job_state_holds_request((enum job_state)st)) {
			resume(j, (enum job_state)st);
			return;
		}
		if (rc != 0 && rc != CF_ENOENT) {
			job_fail(j, "cannot read the journal for '%s': %s",
			    j->tg->name, msg);
			return;
		}
		journal_request_release(&j->rq);
	}
	if (cfg->mode == ENGINE_ASSIGN) {
		/* Nothing issued waits here: nothing to assign. */
		job_finish(j, REPORT_UP_TO_DATE);
		return;
	}
	job_inspect(j);
}
