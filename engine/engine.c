/*
 * The run's scheduler: one libuv loop, one job per target, at most
 * `concurrency` active. A job that ends starts the next, so the loop holds
 * only as many jobs as may run at once, whatever the fleet's size.
 */
#include "engine/engine.h"
#include "engine/err.h"
#include "engine/job.h"

#include <string.h>

void engine_job_done(struct engine *e)
{
	const struct engine_config *cfg = e->cfg;

	e->active--;
	e->done++;
	if (cfg->progress)
		cfg->progress(cfg->ctx, e->done, cfg->ntargets);
	if (e->next < cfg->ntargets)
		job_start(e, e->next++);
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
	memset(&e, 0, sizeof e);
	e.loop = loop;
	e.cfg = cfg;
	e.report = report;
	first = (size_t)cfg->concurrency < cfg->ntargets ?
	    (size_t)cfg->concurrency : cfg->ntargets;
	for (e.next = 0; e.next < first;)
		job_start(&e, e.next++);
	if (uv_run(loop, UV_RUN_DEFAULT) < 0 || e.done != cfg->ntargets)
		return cf_error(msg, msgsz, CF_EINTERNAL, "engine: the loop "
		    "ended with %zu of %zu servers done", e.done,
		    cfg->ntargets);
	return 0;
}
