/*
 * The run's scheduler: one libuv loop, one job per target, at most
 * `concurrency` active. A job that ends starts the next, so the loop holds
 * only as many jobs as may run at once, whatever the fleet's size. SIGINT
 * or SIGTERM stops it starting servers; those in flight finish (each is
 * journaled at every step anyway), and the report says which never began.
 *
 * In a staged rollout a job whose certificate is ready to assign parks
 * (state ready) and gives up its slot. Once every job has ended or parked,
 * the parked ones are assigned batch by batch (engine/rollout): a batch
 * starts when the one before has ended, after the pause, unless the brake
 * has tripped; then every job still parked ends held.
 */
#include "engine/job/engine.h"
#include "engine/base/err.h"
#include "engine/job/job.h"
#include "engine/job/keys.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct engine {
	uv_loop_t *loop;
	const struct engine_config *cfg;
	struct report *report;
	size_t next;                /* the next target to start */
	size_t active;
	size_t done;
	uv_signal_t sig[2];         /* SIGINT, SIGTERM: start nothing new */
	bool stopping;              /* a signal came */

	/* The staged rollout. */
	struct job **parked;        /* per target: waiting for its batch */
	size_t nparked;
	bool rolling;               /* batches have been planned */
	struct rollout_plan plan;
	size_t batch;               /* the batch under way */
	size_t released;            /* of its servers, started */
	size_t ended;               /* of its servers, ended */
	size_t failures;            /* rollout failures so far */
	size_t due;                 /* servers the batches hold */
	uv_timer_t pause;
	bool pause_open;
	struct verify_pool *verify;

	struct group_commit gc;     /* the journal's writes, per loop turn */
	bool grouped;
};

static void rollout_next(struct engine *e);

static void signals_close(struct engine *e)
{
	int i;

	for (i = 0; i < 2; i++)
		if (!uv_is_closing((uv_handle_t *)&e->sig[i]))
			uv_close((uv_handle_t *)&e->sig[i], NULL);
	if (e->pause_open) {
		e->pause_open = false;
		uv_close((uv_handle_t *)&e->pause, NULL);
	}
}

static void start_next(struct engine *e)
{
	size_t i = e->next++;

	e->active++;
	job_start(e->loop, e->cfg, i, &e->report->rows[i], e);
}

/* Every parked job ends held, with why (a tripped brake, a signal). */
static void hold_parked(struct engine *e, const char *why)
{
	size_t i;
	struct job *j;

	for (i = 0; i < e->cfg->ntargets; i++) {
		if ((j = e->parked[i]) == NULL)
			continue;
		e->parked[i] = NULL;
		e->nparked--;
		e->active++;
		job_release(j, false, why);
	}
}

/* Marks every server not started yet; a second signal then ends the
 * process the usual way, since the handlers are gone. */
static void on_signal(uv_signal_t *h, int signo)
{
	struct engine *e = h->data;
	struct report_row *row;

	(void)signo;
	e->stopping = true;
	signals_close(e);
	for (; e->next < e->cfg->ntargets; e->next++) {
		row = &e->report->rows[e->next];
		row->status = REPORT_FAILED;
		report_row_set(&row->error, "not started: the run was "
		    "interrupted");
		e->done++;
	}
	if (e->parked != NULL)
		hold_parked(e, "not assigned: the run was interrupted");
}

/* The brake's verdict on the batch just ended; true when it tripped. */
static bool brake(struct engine *e)
{
	const struct rollout_policy *pol = &e->cfg->rollout->policy;
	char max[16], why[512];
	bool canary = e->plan.canary && e->batch == 0;

	if (!rollout_brake_tripped(pol->max_failures, e->due, e->failures,
	    canary))
		return false;
	rollout_amount_format(pol->max_failures, max, sizeof max);
	if (canary)
		snprintf(why, sizeof why, "rollout stopped after the canary "
		    "batch (1 of %zu): %zu failure%s", e->plan.nbatches,
		    e->failures, e->failures == 1 ? "" : "s");
	else
		snprintf(why, sizeof why, "rollout stopped after batch %zu of "
		    "%zu: %zu failure%s, more than max_failures %s",
		    e->batch + 1, e->plan.nbatches, e->failures,
		    e->failures == 1 ? "" : "s", max);
	report_row_set(&e->report->rollout, why);
	hold_parked(e, why);
	return true;
}

static void on_pause(uv_timer_t *t)
{
	struct engine *e = t->data;

	rollout_next(e);
}

/* Starts as many of the current batch's servers as concurrency allows;
 * once the batch has ended, decides on the next. */
static void rollout_next(struct engine *e)
{
	const struct engine_config *cfg = e->cfg;
	size_t n = rollout_batch_size(&e->plan, e->batch), i;
	char note[64];
	struct job *j;

	if (e->stopping)
		return;
	while (e->released < n && e->active < (size_t)cfg->concurrency) {
		i = e->plan.order[e->plan.start[e->batch] + e->released++];
		j = e->parked[i];
		e->parked[i] = NULL;
		e->nparked--;
		e->active++;
		e->report->rows[i].batch = (int)e->batch + 1;
		snprintf(note, sizeof note, "batch %zu of %zu%s", e->batch + 1,
		    e->plan.nbatches, e->plan.canary && e->batch == 0 ?
		    " (canary)" : "");
		job_release(j, true, note);
	}
}

/* The batch's last server has ended: the brake, then the next batch. */
static void batch_ended(struct engine *e)
{
	int pause = e->cfg->rollout->policy.pause_s;

	if (brake(e))
		return;
	if (++e->batch >= e->plan.nbatches)
		return;
	e->released = e->ended = 0;
	if (pause > 0 && e->pause_open) {
		uv_timer_start(&e->pause, on_pause, (uint64_t)pause * 1000, 0);
		return;
	}
	rollout_next(e);
}

/* Every job has ended or parked: plan the batches of the parked ones. */
static void rollout_begin(struct engine *e)
{
	size_t *due, i, n = 0;

	e->rolling = true;
	if (e->nparked == 0)
		return;
	if ((due = calloc(e->nparked, sizeof *due)) == NULL) {
		hold_parked(e, "not assigned: out of memory");
		return;
	}
	for (i = 0; i < e->cfg->ntargets; i++)
		if (e->parked[i] != NULL)
			due[n++] = i;
	e->due = n;
	if (rollout_plan_make(&e->cfg->rollout->policy, due, n,
	    e->cfg->rollout->canary, &e->plan) != 0) {
		free(due);
		hold_parked(e, "not assigned: out of memory");
		return;
	}
	free(due);
	rollout_next(e);
}

/* After any job ended or parked: what the rollout does next. */
static void rollout_step(struct engine *e)
{
	if (e->parked == NULL || e->stopping)
		return;
	if (!e->rolling) {
		if (e->next >= e->cfg->ntargets && e->active == 0)
			rollout_begin(e);
		return;
	}
	if (e->nparked > 0 || e->released > 0)
		rollout_next(e);
}

void engine_job_parked(struct engine *e, struct job *j)
{
	e->parked[j->i] = j;
	e->nparked++;
	e->active--;
	if (e->stopping) {
		hold_parked(e, "not assigned: the run was interrupted");
		return;
	}
	if (e->next < e->cfg->ntargets)
		start_next(e);
	rollout_step(e);
}

struct verify_pool *engine_verify_pool(struct engine *e)
{
	return e->verify;
}

struct group_commit *engine_group_commit(struct engine *e)
{
	return e->grouped ? &e->gc : NULL;
}

void engine_job_ended(struct engine *e, size_t i)
{
	const struct report_row *row = &e->report->rows[i];
	size_t n;

	e->active--;
	e->done++;
	if (e->rolling && row->batch == (int)e->batch + 1 &&
	    e->plan.nbatches > 0) {
		/* Denied, pending and missing CAs are not the rollout's
		 * failures: a released job only assigns and verifies. */
		if (row->status != REPORT_ASSIGNED &&
		    row->status != REPORT_HELD)
			e->failures++;
		n = rollout_batch_size(&e->plan, e->batch);
		if (++e->ended == n) {
			batch_ended(e);
		} else {
			rollout_next(e);
		}
	} else if (e->next < e->cfg->ntargets && !e->stopping) {
		start_next(e);
	}
	rollout_step(e);
	if (e->done == e->cfg->ntargets)
		signals_close(e);
}

int engine_run(uv_loop_t *loop, const struct engine_config *cfg,
    struct report *report, char *msg, size_t msgsz)
{
	struct engine e;
	size_t i, first;
	int rc = 0;

	if (cfg->concurrency < 1 || cfg->open == NULL ||
	    (cfg->mode != ENGINE_PLAN && cfg->ca == NULL))
		return cf_error(msg, msgsz, CF_EINVAL, "engine: invalid "
		    "configuration");
	for (i = 0; i < cfg->ntargets; i++)
		if (report_add(report, cfg->targets[i].name) == NULL)
			return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	/* Keys no open request waits for (a run killed between closing a
	 * request and removing its key) go before any job starts. */
	if (cfg->journal != NULL && cfg->keys_dir != NULL &&
	    cfg->mode != ENGINE_PLAN)
		keys_sweep(cfg->keys_dir, cfg->journal, msg, msgsz);
	memset(&e, 0, sizeof e);
	e.loop = loop;
	e.cfg = cfg;
	e.report = report;
	rollout_plan_init(&e.plan);
	/* Plan writes nothing; everything else groups its commits. */
	if (cfg->journal != NULL && cfg->mode != ENGINE_PLAN) {
		if (group_commit_init(&e.gc, loop, cfg->journal) != 0)
			return cf_error(msg, msgsz, CF_EINTERNAL, "engine: "
			    "cannot start the journal's group commit");
		e.grouped = true;
	}
	if (cfg->rollout != NULL && cfg->mode != ENGINE_PLAN) {
		e.parked = calloc(cfg->ntargets + 1, sizeof *e.parked);
		e.verify = verify_pool_new(loop, 0);
		if (e.parked == NULL || e.verify == NULL) {
			free(e.parked);
			verify_pool_free(e.verify);
			if (e.grouped) {
				group_commit_close(&e.gc, NULL, 0);
				uv_run(loop, UV_RUN_DEFAULT);
			}
			return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
		}
		uv_timer_init(loop, &e.pause);
		e.pause.data = &e;
		e.pause_open = true;
	}
	first = (size_t)cfg->concurrency < cfg->ntargets ?
	    (size_t)cfg->concurrency : cfg->ntargets;
	for (i = 0; i < 2; i++) {
		uv_signal_init(loop, &e.sig[i]);
		e.sig[i].data = &e;
		uv_signal_start(&e.sig[i], on_signal, i ? SIGTERM : SIGINT);
		/* Not counted as work: the loop may end with them still open. */
		uv_unref((uv_handle_t *)&e.sig[i]);
	}
	while (e.next < first)
		start_next(&e);
	if (cfg->ntargets == 0)
		signals_close(&e);
	uv_run(loop, UV_RUN_DEFAULT);
	/* Let the handles' close finish before e goes out of scope. */
	signals_close(&e);
	if (e.grouped)
		rc = group_commit_close(&e.gc, msg, msgsz);
	uv_run(loop, UV_RUN_DEFAULT);
	rollout_plan_release(&e.plan);
	verify_pool_free(e.verify);
	free(e.parked);
	if (e.done != cfg->ntargets)
		return cf_error(msg, msgsz, CF_EINTERNAL, "engine: the loop "
		    "ended with %zu of %zu servers done", e.done,
		    cfg->ntargets);
	return rc;
}
