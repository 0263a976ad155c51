/*
 * The job state machine: one job per server. job_step is the one place
 * that says what a job does next, in the manner of curl's
 * multi_runsingle: in each state it starts that state's work (a step file's
 * *_enter), and once the work is back (job_back, job_failed) it chooses the
 * next state in one switch. job_set_state is the one place a state
 * changes: it checks the table, writes the journal, and the next step
 * starts only once the group commit carrying that write is done (so a
 * killed run resumes without asking the CA twice), and tells the observer
 * (trace and progress). The job's start and end live here too.
 */
#include "engine/job/job.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/journal/status_row.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* job_step's choice when the job ends in the state it is in. */
#define JOB_END (-1)

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

static void observe(struct job *j, enum job_state from, enum job_state to,
    const char *why, bool end)
{
	if (j->cfg->observe != NULL)
		j->cfg->observe(j->cfg->ctx, j->i, from, to, why, end);
}

/*
 * The one place a job changes state: refuses what the table forbids, then
 * records the new state (and why) in the journal and tells the observer.
 * A request stays open for the next run (final = 0) exactly while
 * job_state_holds_request; once it closes (and that is durable), the key
 * it waited with goes.
 */
static int job_set_state(struct job *j, enum job_state next, const char *why)
{
	struct journal *jr = j->cfg->journal;
	enum job_state from = j->state;
	char msg[256];

	if (!job_transition_allowed(from, next)) {
		snprintf(j->error, sizeof j->error, "internal error: the job "
		    "of '%s' may not go from %s to %s", j->tg->name,
		    job_state_name(from), job_state_name(next));
		return CF_EINTERNAL;
	}
	j->state = next;
	if (jr != NULL && j->rq.id != 0) {
		j->rq.final = !job_state_holds_request(next);
		if (journal_strset(&j->rq.state, job_state_name(next)) != 0 ||
		    journal_request_save(jr, &j->rq, why, msg,
		    sizeof msg) != 0) {
			snprintf(j->error, sizeof j->error, "cannot record "
			    "state '%s' of '%s' in the journal: %s",
			    job_state_name(next), j->tg->name, msg);
			return CF_EDB;
		}
	}
	observe(j, from, next, why, false);
	return 0;
}

static void on_durable(struct gc_waiter *w, int status, const char *msg)
{
	struct job *j = container_of(w, struct job, durable);
	void (*then)(struct job *, int, const char *) = j->then_durable;

	j->then_durable = NULL;
	then(j, status, msg);
}

bool job_wait_durable(struct job *j,
    void (*then)(struct job *j, int status, const char *msg))
{
	struct group_commit *g = engine_group_commit(j->eng);

	/* Conservative: anything uncommitted, this job's or another's. */
	if (g == NULL || !journal_uncommitted(j->cfg->journal))
		return false;
	j->then_durable = then;
	group_commit_wait(g, &j->durable, on_durable);
	return true;
}

/* The new state is durable: its side effects may start. */
static void state_durable(struct job *j)
{
	if (j->rq.final)
		remove_waiting_key(j);
	j->phase = JOB_ENTER;
}

static void job_end(struct job *j, enum report_status outcome);

static void on_state_durable(struct job *j, int status, const char *msg)
{
	if (status != 0) {
		snprintf(j->error, sizeof j->error, "cannot record state '%s' "
		    "of '%s' in the journal: %s", job_state_name(j->state),
		    j->tg->name, msg);
		job_end(j, REPORT_FAILED);
		return;
	}
	state_durable(j);
	job_step(j);
}

int job_note(struct job *j, const char *detail)
{
	struct journal *jr = j->cfg->journal;
	char msg[256];

	if (jr == NULL || j->rq.id == 0)
		return 0;
	return journal_request_save(jr, &j->rq, detail, msg, sizeof msg);
}

bool job_queue(struct job *j, uv_work_t *w, uv_work_cb run,
    uv_after_work_cb after, const char *what)
{
	if (uv_queue_work(j->loop, w, run, after) == 0)
		return true;
	job_failed(j, false, "cannot queue %s", what);
	return false;
}

/* Inside job_step (work that came back at once) the loop goes on by
 * itself; from a callback, it starts again. */
void job_back(struct job *j)
{
	j->phase = JOB_BACK;
	if (!j->stepping)
		job_step(j);
}

void job_failed(struct job *j, bool close, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (fmt != NULL)
		vsnprintf(j->error, sizeof j->error, fmt, ap);
	va_end(ap);
	j->failed = true;
	j->fail_close = close;
	job_back(j);
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
		job_failed(j, false, "%s", j->read_error);
		return false;
	}
	return true;
}

/* ---- the end of a job ---- */

static void on_closed(struct job *j)
{
	struct engine *eng = j->eng;
	size_t i = j->i;
	int u;

	if (--j->closing > 0)
		return;
	for (u = 0; u < USAGE_CAP; u++)
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
	assign_release(&j->assign);
	free(j);
	engine_job_ended(eng, i);
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
	const struct engine_config *cfg = j->cfg;
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
	o = report_row_to_json(j->tg->utab, row);
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

/* The outcome is journaled: tell the observer, close the handles; the
 * job is freed once every one has closed. */
static void job_close(struct job *j)
{
	observe(j, j->state, j->state, report_status_name(j->row->status),
	    true);
	j->closing = 1;
	uv_close((uv_handle_t *)&j->timer, on_timer_closed);
	if (j->t != NULL) {
		j->closing++;
		j->t->ops->close(j->t, on_transport_closed, j);
		j->t = NULL;
	}
}

static void on_outcome_durable(struct job *j, int status, const char *msg)
{
	if (status != 0) {
		j->row->status = REPORT_FAILED;
		report_row_set(&j->row->error, msg);
	}
	job_close(j);
}

/* Ends the job with outcome in its report row and, once that is
 * journaled, closes it. */
static void job_end(struct job *j, enum report_status outcome)
{
	struct report_row *row = j->row;
	struct chain_verdict tmp;

	j->ending = true;
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
	if (!job_wait_durable(j, on_outcome_durable))
		job_close(j);
}

/* ---- what a job does next ---- */

/*
 * A failed step: the request goes to failed, unless it holds an issued
 * certificate that is still good (the next run checks and assigns that
 * same one) or the table allows no way to failed. Either way the failure
 * is journaled: an event with the error, never silently skipped.
 */
static int choose_after_failure(struct job *j)
{
	bool keep = !j->fail_close && (j->state == JOB_ISSUED ||
	    j->state == JOB_CHAIN_CHECK || j->state == JOB_ASSIGN);
	size_t n;

	journal_strset(&j->rq.error, j->error);
	if (!keep && job_transition_allowed(j->state, JOB_FAILED))
		return JOB_FAILED;
	if (job_note(j, j->error) != 0) {
		n = strlen(j->error);
		snprintf(j->error + n, sizeof j->error - n, "; and it cannot "
		    "be journaled");
	}
	j->outcome = REPORT_FAILED;
	return JOB_END;
}

/* Inspect is back: what the server holds decides. */
static int choose_after_inspect(struct job *j, const char **why)
{
	const struct engine_config *cfg = j->cfg;

	if (j->resumed >= 0) {
		*why = "resumed";
		switch (j->resumed) {
		case JOB_SUBMIT:
		case JOB_PENDING:
		case JOB_POLL:
			/* assign asks no CA: the request waits there. */
			if (cfg->mode == ENGINE_ASSIGN) {
				j->outcome = REPORT_PENDING;
				return JOB_END;
			}
			return JOB_POLL;
		default:
			return JOB_CHAIN_CHECK;
		}
	}
	*why = j->insp.reason;
	if (!j->insp.due)
		return JOB_CHECK_CURRENT;
	if (cfg->mode == ENGINE_PLAN)
		return job_plan_denied(j) ? JOB_WOULD_DENY : JOB_PREFLIGHT;
	if (job_denial_stands(j))
		return JOB_DENIED;
	if (cfg->mode == ENGINE_ASSIGN) {
		snprintf(j->error, sizeof j->error, "nothing to assign to '%s': "
		    "no certificate was issued for it (%s); 'certfleet run' "
		    "requests one", j->tg->name, j->insp.reason);
		return JOB_FAILED;
	}
	return JOB_KEYGEN;
}

/* The next state once j->state's work is back, with why; or JOB_END
 * (the job ends where it is; j->outcome says how it is reported). */
static int choose(struct job *j, const char **why)
{
	const struct engine_config *cfg = j->cfg;

	*why = NULL;
	if (j->failed) {
		*why = j->error;
		return choose_after_failure(j);
	}
	switch (j->state) {
	case JOB_INSPECT:
		return choose_after_inspect(j, why);
	case JOB_CHECK_CURRENT:
		return JOB_UP_TO_DATE;
	case JOB_PREFLIGHT:
		return JOB_WOULD_ISSUE;
	case JOB_KEYGEN:
		return JOB_SUBMIT;
	case JOB_SUBMIT:
	case JOB_POLL:
		*why = j->row->ca_status;
		switch (j->answer) {
		case CA_ISSUED: return JOB_ISSUED;
		case CA_PENDING: return JOB_PENDING;
		default: *why = j->error; return JOB_DENIED;
		}
	case JOB_PENDING:
		if (j->waited)
			return JOB_POLL;
		/* Not within this run: the next run asks again. */
		j->outcome = REPORT_PENDING;
		return JOB_END;
	case JOB_ISSUED:
		return JOB_CHAIN_CHECK;
	case JOB_CHAIN_CHECK:
		if (j->verdict.status != CHAIN_OK) {
			chain_verdict_describe(&j->verdict, j->why,
			    sizeof j->why);
			*why = j->why;
			return JOB_CHAIN_FAILED;
		}
		if (cfg->mode != ENGINE_ASSIGN && !cfg->assign) {
			*why = "assignment is off";
			return JOB_HELD;
		}
		/* plan parks nothing: it never gets here (no journal, no
		 * resumed request), and would not wait for batches. */
		if (cfg->rollout != NULL && cfg->mode != ENGINE_PLAN) {
			*why = "waiting for its batch";
			return JOB_READY;
		}
		return JOB_ASSIGN;
	case JOB_READY:
		*why = j->why;
		if (j->release == RELEASE_ASSIGN)
			return JOB_ASSIGN;
		/* Held: the request stays ready for the next run. */
		job_note(j, j->why);
		snprintf(j->error, sizeof j->error, "%s", j->why);
		j->outcome = REPORT_HELD;
		return JOB_END;
	case JOB_ASSIGN:
		*why = j->assigned ? j->rq.usages : j->error;
		if (j->assigned && job_verify_applies(j))
			return JOB_VERIFY;
		return j->assigned ? JOB_ASSIGNED : JOB_ASSIGN_FAILED;
	case JOB_VERIFY:
		*why = j->verified ? j->row->served : j->error;
		if (!j->verified)
			journal_strset(&j->rq.error, j->error);
		return j->verified ? JOB_ASSIGNED : JOB_VERIFY_FAILED;
	default:
		snprintf(j->error, sizeof j->error, "internal error: nothing "
		    "follows state %s", job_state_name(j->state));
		j->outcome = REPORT_FAILED;
		return JOB_END;
	}
}

/* Starts the work of j->state; its callback calls job_back or
 * job_failed (never from inside this call). */
static void enter(struct job *j)
{
	switch (j->state) {
	case JOB_INSPECT:
		job_inspect_enter(j);
		return;
	case JOB_CHECK_CURRENT:
	case JOB_PREFLIGHT:
	case JOB_CHAIN_CHECK:
		job_chain_enter(j);
		return;
	case JOB_KEYGEN:
		job_keygen_enter(j);
		return;
	case JOB_SUBMIT:
	case JOB_POLL:
		job_ask_enter(j);
		return;
	case JOB_PENDING:
		job_wait_enter(j);
		return;
	case JOB_READY:
		j->release = RELEASE_NONE;
		engine_job_parked(j->eng, j);
		return;
	case JOB_ASSIGN:
		job_assign_enter(j);
		return;
	case JOB_VERIFY:
		job_verify_enter(j);
		return;
	default:
		/* issued: nothing to do but go on to the chain check. */
		j->phase = JOB_BACK;
		return;
	}
}

void job_step(struct job *j)
{
	const char *why;
	int next, rc;

	j->stepping = true;
	while (!j->ending) {
		switch (j->phase) {
		case JOB_ENTER:
			if (job_state_final(j->state)) {
				job_end(j, status_row_of_state(j->state));
				break;
			}
			j->phase = JOB_WORKING;
			enter(j);
			break;
		case JOB_WORKING:
		case JOB_DURABLE:
			j->stepping = false;
			return;
		case JOB_BACK:
			next = choose(j, &why);
			if (next == JOB_END) {
				job_end(j, j->outcome);
				break;
			}
			if (next == JOB_FAILED)
				journal_strset(&j->rq.error, j->error);
			rc = job_set_state(j, (enum job_state)next, why);
			if (rc == CF_EINTERNAL && !j->failed) {
				/* A refused transition fails the server,
				 * naming both states. */
				j->failed = true;
				break;
			}
			if (rc != 0) {
				job_end(j, REPORT_FAILED);
				break;
			}
			j->failed = false;
			if (job_wait_durable(j, on_state_durable))
				j->phase = JOB_DURABLE;
			else
				state_durable(j);
			break;
		}
	}
	j->stepping = false;
}

/* ---- the start of a job ---- */

void job_release(struct job *j, bool assign, const char *why)
{
	j->release = assign ? RELEASE_ASSIGN : RELEASE_HOLD;
	snprintf(j->why, sizeof j->why, "%s", why);
	job_back(j);
}

void job_start(uv_loop_t *loop, const struct engine_config *cfg, size_t i,
    struct report_row *row, struct engine *eng)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		row->status = REPORT_FAILED;
		report_row_set(&row->error, "out of memory");
		engine_job_ended(eng, i);
		return;
	}
	j->loop = loop;
	j->cfg = cfg;
	j->i = i;
	j->tg = &cfg->targets[i];
	j->row = row;
	j->eng = eng;
	j->state = JOB_INSPECT;
	j->phase = JOB_ENTER;
	j->resumed = -1;
	journal_request_init(&j->rq);
	cert_store_init(&j->roots);
	cert_store_init(&j->inters);
	chain_verdict_init(&j->verdict);
	uv_timer_init(loop, &j->timer);
	job_step(j);
}
