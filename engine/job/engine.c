/*
 * The run's scheduler: one libuv loop, one job per target, at most
 * `concurrency` active. A job that ends starts the next, so the loop holds
 * only as many jobs as may run at once, whatever the fleet's size. SIGINT
 * or SIGTERM stops it starting servers; those in flight finish (each is
 * journaled at every step anyway), and the report says which never began.
 */
#include "engine/job/engine.h"
#include "engine/base/err.h"
#include "engine/job/job.h"
#include "engine/job/keys.h"

#include <signal.h>
#include <string.h>

struct engine {
	uv_loop_t *loop;
	const struct engine_config *cfg;
	struct report *report;
	size_t next;                /* the next target to start */
	size_t active;
	size_t done;
	uv_signal_t sig[2];         /* SIGINT, SIGTERM: start nothing new */
};

static void job_done(void *ctx);

static void signals_close(struct engine *e)
{
	int i;

	for (i = 0; i < 2; i++)
		if (!uv_is_closing((uv_handle_t *)&e->sig[i]))
			uv_close((uv_handle_t *)&e->sig[i], NULL);
}

static void start_next(struct engine *e)
{
	size_t i = e->next++;

	e->active++;
	job_start(e->loop, e->cfg, i, &e->report->rows[i], job_done, e);
}

/* Marks every server not started yet; a second signal then ends the
 * process the usual way, since the handlers are gone. */
static void on_signal(uv_signal_t *h, int signo)
{
	struct engine *e = h->data;
	struct report_row *row;

	(void)signo;
	signals_close(e);
	for (; e->next < e->cfg->ntargets; e->next++) {
		row = &e->report->rows[e->next];
		row->status = REPORT_FAILED;
		report_row_set(&row->error, "not started: the run was "
		    "interrupted");
		e->done++;
	}
}

static void job_done(void *ctx)
{
	struct engine *e = ctx;

	e->active--;
	e->done++;
	if (e->next < e->cfg->ntargets)
		start_next(e);
	else if (e->active == 0)
		signals_close(e);
}

int engine_run(uv_loop_t *loop, const struct engine_config *cfg,
    struct report *report, char *msg, size_t msgsz)
{
	struct engine e;
	size_t i, first;

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
	/* Let the signal handles' close finish before e goes out of scope. */
	signals_close(&e);
	uv_run(loop, UV_RUN_DEFAULT);
	if (e.done != cfg->ntargets)
		return cf_error(msg, msgsz, CF_EINTERNAL, "engine: the loop "
		    "ended with %zu of %zu servers done", e.done,
		    cfg->ntargets);
	return 0;
}
