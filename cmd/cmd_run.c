/*
 * `run`, `plan` and `assign`: load the fleet, choose the servers, take the
 * lock and open the journal (a shard's own with --shard), open the CA, hand every server to the engine,
 * show the report. plan takes no lock and writes nothing anywhere: no
 * journal, no keys. With --verbose (or CERTFLEET_TRACE=1) every server's
 * path goes to stderr as it happens. run and assign end with the fleet's
 * after_run hook (cmd_hook.c).
 */
#include "cmd/cmd.h"
#include "cmd/cmd_rollout.h"
#include "cmd/drivers.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
#include "engine/job/engine.h"
#include "engine/journal/journal_set.h"
#include "inventory/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One run, from the fleet file to the report; run_release frees it. */
struct run {
	const struct cmd_opts *o;
	enum engine_mode mode;
	struct fleet f;
	bool have_fleet;
	const struct server **servers;  /* the targets' servers */
	struct engine_target *tg;
	struct req_spec *specs;
	size_t n;
	uv_loop_t loop;
	bool have_loop;
	char *keys;
	int lockfd;                 /* state_dir/lock */
	int shard_lockfd;           /* the shard's own lock, or -1 */
	struct journal jr;
	bool have_journal;
	struct ca_driver *ca;
	char *chain;
	struct report report;
	struct cmd_rollout ro;
	bool tty;                   /* a progress counter on stderr */
	bool trace;
	size_t done;
	char msg[512];
};

/* Prints msg and gives back code, for one-line error returns. */
static int fail(struct run *r, int code)
{
	fprintf(stderr, "certfleet: %s\n", r->msg);
	return code;
}

static int open_transport(void *ctx, size_t i, uv_loop_t *loop,
    struct transport **out, char *msg, size_t msgsz)
{
	struct run *r = ctx;

	return cmd_transport_open(r->servers[i], loop, out, msg, msgsz);
}

/* Every transition, for the trace; every end, for the progress counter. */
static void observe(void *ctx, size_t i, enum job_state from,
    enum job_state to, const char *why, bool end)
{
	struct run *r = ctx;

	if (r->trace && !end)
		fprintf(stderr, "%s: %s -> %s%s%s%s\n", r->servers[i]->name,
		    job_state_name(from), job_state_name(to),
		    why && *why ? " (" : "", why && *why ? why : "",
		    why && *why ? ")" : "");
	if (!end)
		return;
	r->done++;
	if (r->tty)
		fprintf(stderr, "\r%zu/%zu servers", r->done, r->n);
	if (r->tty && r->done == r->n)
		fprintf(stderr, "\r\033[K");
}

/* The servers --limit and --exclude choose, with their requests. */
static int run_targets(struct run *r)
{
	const struct server *s;
	size_t i, nf = r->f.nservers;
	int rc;

	r->tg = calloc(nf + 1, sizeof(*r->tg));
	r->specs = calloc(nf + 1, sizeof(*r->specs));
	if (r->tg == NULL || r->specs == NULL) {
		snprintf(r->msg, sizeof r->msg, "out of memory");
		return fail(r, CMD_EXIT_FAILED);
	}
	for (i = 0; i < nf; i++)
		req_spec_init(&r->specs[i]);
	if ((rc = cmd_select(&r->f, r->o, &r->servers, &r->n)) != CMD_EXIT_OK)
		return rc;
	for (i = 0; i < r->n; i++) {
		s = r->servers[i];
		if (fleet_server_request(&r->f, s, &r->specs[i], r->msg,
		    sizeof r->msg) != 0)
			return fail(r, CMD_EXIT_FAILED);
		r->tg[i].name = s->name;
		r->tg[i].address = s->address;
		r->tg[i].spec = &r->specs[i];
		r->tg[i].renew = &s->renew;
		r->tg[i].utab = &r->f.utab;
		r->tg[i].usages = s->usages;
		r->tg[i].store = &s->store;
		r->tg[i].bindings = s->bindings;
		r->tg[i].keygen_remote = s->keygen_server;
		r->tg[i].webroot = s->webroot;
		r->tg[i].approval = s->manual_approval ? CA_APPROVAL_MANUAL :
		    CA_APPROVAL_AUTO;
	}
	if (cmd_rollout_make(&r->ro, &r->f, r->o, r->servers, r->tg, r->n,
	    r->msg, sizeof r->msg) != 0)
		return fail(r, CMD_EXIT_USAGE);
	return CMD_EXIT_OK;
}

/*
 * Takes the run's locks: the state directory's own, exclusive for an
 * unsharded run and shared for a shard, so that shards run side by side
 * but never next to an unsharded run over the same servers; and a shard's
 * own, exclusive, so that each shard runs once at a time.
 */
static int run_lock(struct run *r, const char *dir)
{
	char *lock = path_join(r->f.state_dir, "lock"), *own = NULL;
	int rc = CMD_EXIT_OK;

	if (lock == NULL || (r->o->shard.n &&
	    (own = path_join(dir, "lock")) == NULL)) {
		snprintf(r->msg, sizeof r->msg, "out of memory");
		rc = fail(r, CMD_EXIT_FAILED);
	} else if ((r->o->shard.n ? fsio_lock_shared(lock, &r->lockfd, r->msg,
	    sizeof r->msg) : fsio_lock(lock, &r->lockfd, r->msg,
	    sizeof r->msg)) != 0 || (own != NULL && fsio_lock(own,
	    &r->shard_lockfd, r->msg, sizeof r->msg) != 0)) {
		rc = fail(r, CMD_EXIT_LOCKED);
	}
	free(lock);
	free(own);
	return rc;
}

/* The state directory (a shard's below it), its locks and the journal
 * (not for plan). */
static int run_state(struct run *r)
{
	char *dir, *db = NULL;
	int rc = CMD_EXIT_OK, mk = 0;

	dir = shard_state_dir(r->f.state_dir, &r->o->shard);
	if (dir != NULL) {
		db = path_join(dir, JOURNAL_FILE);
		r->keys = path_join(dir, "keys");
	}
	if (dir == NULL || db == NULL || r->keys == NULL) {
		snprintf(r->msg, sizeof r->msg, "out of memory");
		rc = fail(r, CMD_EXIT_FAILED);
	} else if ((mk = fsio_mkdirs(r->f.state_dir, 0700, r->msg,
	    sizeof r->msg)) != 0 || (mk = fsio_mkdirs(r->keys, 0700, r->msg,
	    sizeof r->msg)) != 0) {
		/* A file where the state directory goes: the fleet file's
		 * state_dir must change, a configuration error. */
		rc = fail(r, mk == CF_EEXIST ? CMD_EXIT_USAGE :
		    CMD_EXIT_FAILED);
	} else if ((rc = run_lock(r, dir)) != CMD_EXIT_OK) {
		/* said */
	} else if (journal_open(&r->jr, db, r->msg, sizeof r->msg) != 0) {
		rc = fail(r, CMD_EXIT_FAILED);
	} else {
		r->have_journal = true;
	}
	free(dir);
	free(db);
	return rc;
}

/* The CA driver and its chain (plan's preflight). plan asks an ACME CA
 * nothing, so no account key is made for it: plan writes nothing. */
static int run_ca(struct run *r)
{
	if (r->mode == ENGINE_PLAN && r->f.ca.type == CA_ACME)
		return CMD_EXIT_OK;
	if (cmd_ca_open(&r->f, &r->loop, &r->ca, r->msg, sizeof r->msg) != 0)
		return fail(r, CMD_EXIT_USAGE);
	if (r->ca->ops->chain_pem(r->ca, &r->chain, r->msg,
	    sizeof r->msg) != 0)
		return fail(r, CMD_EXIT_FAILED);
	return CMD_EXIT_OK;
}

/* The engine over the targets, then the report; the exit code. */
static int run_engine(struct run *r, const char *command, int64_t start)
{
	struct engine_config cfg;
	struct journal_set js;
	int exit_code;

	journal_set_init(&js);
	memset(&cfg, 0, sizeof cfg);
	cfg.mode = r->mode;
	cfg.fleet = r->f.name;
	cfg.concurrency = r->f.concurrency;
	cfg.renew_before_days = r->f.renew_before_days;
	cfg.force = r->o->force;
	cfg.assign = r->f.assign && !r->o->no_assign;
	cfg.import_ca = r->o->import_ca;
	cfg.trusted_pins = r->f.ca.trusted_roots;
	cfg.npins = r->f.ca.ntrusted;
	cfg.now = time(NULL);
	cfg.keys_dir = r->keys;
	cfg.journal = r->have_journal ? &r->jr : NULL;
	cfg.ca = r->ca;
	cfg.ca_chain_pem = r->chain;
	cfg.targets = r->tg;
	cfg.ntargets = r->n;
	cfg.open = open_transport;
	cfg.observe = observe;
	cfg.ctx = r;
	cfg.max_wait_s = r->f.ca.max_wait;
	cfg.rollout = r->ro.on ? &r->ro.engine : NULL;
	if (r->have_journal && journal_run_begin(&r->jr, command, &cfg.run_id,
	    r->msg, sizeof r->msg) != 0)
		return fail(r, CMD_EXIT_FAILED);
	if (report_init(&r->report, r->f.name, command, cfg.now) != 0)
		return fail(r, CMD_EXIT_FAILED);
	r->report.utab = &r->f.utab;
	if (engine_run(&r->loop, &cfg, &r->report, r->msg,
	    sizeof r->msg) != 0)
		return fail(r, CMD_EXIT_FAILED);
	if (r->mode == ENGINE_PLAN && cmd_rollout_plan(&r->ro, r->tg,
	    &r->report) != 0) {
		snprintf(r->msg, sizeof r->msg, "out of memory");
		return fail(r, CMD_EXIT_FAILED);
	}
	r->report.duration_ms = cmd_now_ms() - start;
	cmd_print_report(r->o, &r->report);
	exit_code = report_exit_status(&r->report);
	if (r->have_journal)
		journal_run_end(&r->jr, cfg.run_id, exit_code, r->msg,
		    sizeof r->msg);
	if (r->have_journal && journal_set_borrow(&js, &r->jr) != 0) {
		snprintf(r->msg, sizeof r->msg, "out of memory");
		return fail(r, CMD_EXIT_FAILED);
	}
	exit_code = cmd_write_outputs(r->o, &r->f, r->have_journal ? &js :
	    NULL, &r->report, exit_code);
	journal_set_release(&js);
	/* Last: the hook may read anything the run wrote. plan runs none. */
	if (r->mode != ENGINE_PLAN)
		cmd_after_run(&r->f, &r->report, exit_code);
	return exit_code;
}

static void run_release(struct run *r)
{
	size_t i;

	if (r->ca)
		r->ca->ops->free(r->ca);
	if (r->have_loop) {
		uv_run(&r->loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&r->loop) != 0)
			fprintf(stderr, "certfleet: internal error: handles "
			    "left open\n");
	}
	if (r->have_journal)
		journal_close(&r->jr);
	fsio_unlock(r->shard_lockfd);
	fsio_unlock(r->lockfd);
	for (i = 0; r->specs && i < r->f.nservers; i++)
		req_spec_release(&r->specs[i]);
	report_release(&r->report);
	cmd_rollout_release(&r->ro);
	free(r->specs);
	free(r->tg);
	free(r->servers);
	free(r->chain);
	free(r->keys);
	if (r->have_fleet)
		fleet_release(&r->f);
}

/*
 * The threadpool's size, unless the operator set UV_THREADPOOL_SIZE: four
 * threads a core, at least 8 and at most 64. Its workers sign, verify and
 * write, and an assignment waits on some eight fsyncs, so libuv's default
 * of 4 leaves the cores idle while every worker waits on the disk. Read by
 * libuv when the first work is queued, so set before the loop starts.
 */
static void threadpool_size(void)
{
	unsigned n = 4 * uv_available_parallelism();
	char v[16];

	if (getenv("UV_THREADPOOL_SIZE") != NULL)
		return;
	snprintf(v, sizeof v, "%u", n < 8 ? 8 : n > 64 ? 64 : n);
	setenv("UV_THREADPOOL_SIZE", v, 0);
}

/* Runs the engine in mode over the fleet; returns the exit code. */
static int run_mode(const struct cmd_opts *o, enum engine_mode mode,
    const char *command)
{
	const char *trace = getenv("CERTFLEET_TRACE");
	int64_t start = cmd_now_ms();
	struct run r;
	int rc;

	memset(&r, 0, sizeof r);
	r.o = o;
	r.mode = mode;
	r.lockfd = -1;
	r.shard_lockfd = -1;
	r.tty = isatty(STDERR_FILENO) && !o->quiet && !o->json;
	r.trace = o->verbose || (trace != NULL && strcmp(trace, "1") == 0);
	/* A trace and a counter on one line would garble each other. */
	r.tty = r.tty && !r.trace;
	r.have_fleet = true;
	if ((rc = cmd_fleet_load(&r.f, o->fleet)) != CMD_EXIT_OK ||
	    (rc = run_targets(&r)) != CMD_EXIT_OK)
		goto out;
	threadpool_size();
	if (uv_loop_init(&r.loop) != 0) {
		snprintf(r.msg, sizeof r.msg, "cannot start the event loop");
		rc = fail(&r, CMD_EXIT_FAILED);
		goto out;
	}
	r.have_loop = true;
	if (mode != ENGINE_PLAN && (rc = run_state(&r)) != CMD_EXIT_OK)
		goto out;
	if ((rc = run_ca(&r)) != CMD_EXIT_OK)
		goto out;
	rc = run_engine(&r, command, start);
out:
	run_release(&r);
	return rc;
}

int cmd_run(const struct cmd_opts *o)
{
	return run_mode(o, ENGINE_RUN, "run");
}

int cmd_plan(const struct cmd_opts *o)
{
	return run_mode(o, ENGINE_PLAN, "plan");
}

int cmd_assign(const struct cmd_opts *o)
{
	return run_mode(o, ENGINE_ASSIGN, "assign");
}
