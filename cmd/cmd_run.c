/*
 * `run`, `plan` and `assign`: load the fleet, take the lock, open the
 * journal and the CA, hand every server to the engine, show the report.
 * plan takes no lock and writes nothing anywhere: no journal, no keys.
 */
#include "cmd/cmd.h"
#include "cmd/drivers.h"
#include "engine/job/engine.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
#include "inventory/fleet.h"
#include "inventory/select.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct run_ctx {
	const struct fleet *f;
	const struct server **servers;  /* the targets' servers */
	bool tty;
	struct cmd_transports ct;
};

static int open_transport(void *ctx, size_t i, uv_loop_t *loop,
    struct transport **out, char *msg, size_t msgsz)
{
	struct run_ctx *rc = ctx;

	return cmd_transport_open(&rc->ct, rc->servers[i], loop, out, msg,
	    msgsz);
}

static void progress(void *ctx, size_t done, size_t total)
{
	struct run_ctx *rc = ctx;

	if (rc->tty)
		fprintf(stderr, "\r%zu/%zu servers", done, total);
	if (rc->tty && done == total)
		fprintf(stderr, "\r\033[K");
}

static int64_t now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The servers --limit and --exclude choose (see fleet_select). Returns
 * how many, or -1 with the reason in msg. */
static ssize_t select_servers(const struct fleet *f, const struct cmd_opts *o,
    const struct server **out, char *msg, size_t msgsz)
{
	size_t n;

	if (fleet_select(f, o->limit, o->nlimit, o->exclude, o->nexclude, out,
	    &n, msg, msgsz) != 0)
		return -1;
	return (ssize_t)n;
}


static void print_report(const struct cmd_opts *o, struct report *r)
{
	json_t *j;

	if (o->json) {
		if ((j = report_to_json(r)) == NULL) {
			fprintf(stderr, "certfleet: out of memory\n");
			return;
		}
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(j);
	} else {
		report_write_table(r, stdout, o->quiet);
	}
}

/* Runs the engine in mode over the fleet; returns the exit code. */
static int run_mode(const struct cmd_opts *o, enum engine_mode mode,
    const char *command)
{
	struct fleet f;
	struct run_ctx rc = { 0 };
	struct engine_config cfg;
	struct engine_target *tg = NULL;
	struct req_spec *specs = NULL;
	struct journal jr = { 0 };
	struct ca_driver *ca = NULL;
	struct report report = { 0 };
	char msg[512], *lock = NULL, *keys = NULL, *db = NULL;
	char *chain = NULL;
	uv_loop_t loop;
	int64_t start = now_ms();
	int lockfd = -1, exit_code = CMD_EXIT_FAILED, loop_ok = 0, mk = 0;
	bool have_journal = false;
	ssize_t n;
	size_t i;

	if ((exit_code = cmd_fleet_load(&f, o->fleet)) != CMD_EXIT_OK)
		goto out;
	exit_code = CMD_EXIT_FAILED;
	rc.f = &f;
	rc.tty = isatty(STDERR_FILENO) && !o->quiet && !o->json;
	rc.servers = calloc(f.nservers + 1, sizeof(*rc.servers));
	tg = calloc(f.nservers + 1, sizeof(*tg));
	specs = calloc(f.nservers + 1, sizeof(*specs));
	if (rc.servers == NULL || tg == NULL || specs == NULL) {
		fprintf(stderr, "certfleet: out of memory\n");
		goto out;
	}
	if ((n = select_servers(&f, o, rc.servers, msg, sizeof msg)) < 0) {
		fprintf(stderr, "certfleet: %s\n", msg);
		exit_code = CMD_EXIT_USAGE;
		goto out;
	}
	for (i = 0; i < (size_t)n; i++) {
		const struct server *s = rc.servers[i];

		req_spec_init(&specs[i]);
		if (fleet_server_request(&f, s, &specs[i], msg,
		    sizeof msg) != 0) {
			fprintf(stderr, "certfleet: %s\n", msg);
			goto out;
		}
		tg[i].name = s->name;
		tg[i].spec = &specs[i];
		tg[i].usages = s->usages;
		tg[i].store = &s->store;
		tg[i].bindings = s->bindings;
		tg[i].keygen_remote = s->keygen_server;
		tg[i].webroot = s->webroot;
	}

	if (uv_loop_init(&loop) != 0) {
		fprintf(stderr, "certfleet: cannot start the event loop\n");
		goto out;
	}
	loop_ok = 1;
	if (mode != ENGINE_PLAN) {
		lock = path_join(f.state_dir, "lock");
		keys = path_join(f.state_dir, "keys");
		db = path_join(f.state_dir, "journal.db");
		if (lock == NULL || keys == NULL || db == NULL ||
		    (mk = fsio_mkdirs(f.state_dir, 0700, msg, sizeof msg)) != 0 ||
		    (mk = fsio_mkdirs(keys, 0700, msg, sizeof msg)) != 0) {
			fprintf(stderr, "certfleet: %s\n", msg);
			/* A file where the state directory goes: the fleet
			 * file's state_dir must change, a configuration error. */
			if (mk == CF_EEXIST)
				exit_code = CMD_EXIT_USAGE;
			goto out;
		}
		if (fsio_lock(lock, &lockfd, msg, sizeof msg) != 0) {
			fprintf(stderr, "certfleet: %s\n", msg);
			lockfd = -1;
			exit_code = CMD_EXIT_LOCKED;
			goto out;
		}
		if (journal_open(&jr, db, msg, sizeof msg) != 0) {
			fprintf(stderr, "certfleet: %s\n", msg);
			goto out;
		}
		have_journal = true;
	}
	if (cmd_transports_init(&rc.ct, &f, mode == ENGINE_PLAN, msg,
	    sizeof msg) != 0) {
		fprintf(stderr, "certfleet: %s\n", msg);
		goto out;
	}
	/* plan asks no CA anything, so an ACME account key is not made
	 * for it: plan writes nothing. */
	if ((mode != ENGINE_PLAN || f.ca.type != CA_ACME) &&
	    cmd_ca_open(&f, &loop, &ca, msg, sizeof msg) != 0) {
		fprintf(stderr, "certfleet: %s\n", msg);
		exit_code = CMD_EXIT_USAGE;
		goto out;
	}
	if (ca && ca->ops->chain_pem(ca, &chain, msg, sizeof msg) != 0) {
		fprintf(stderr, "certfleet: %s\n", msg);
		goto out;
	}

	memset(&cfg, 0, sizeof cfg);
	cfg.mode = mode;
	cfg.concurrency = f.concurrency;
	cfg.renew_before_days = f.renew_before_days;
	cfg.force = o->force;
	cfg.assign = f.assign && !o->no_assign;
	cfg.import_ca = o->import_ca;
	cfg.trusted_pins = f.ca.trusted_roots;
	cfg.npins = f.ca.ntrusted;
	cfg.now = time(NULL);
	cfg.keys_dir = keys;
	cfg.journal = have_journal ? &jr : NULL;
	cfg.ca = ca;
	cfg.ca_chain_pem = chain;
	cfg.targets = tg;
	cfg.ntargets = (size_t)n;
	cfg.open = open_transport;
	cfg.progress = progress;
	cfg.ctx = &rc;
	cfg.max_wait_s = f.ca.max_wait;
	if (have_journal && journal_run_begin(&jr, command, &cfg.run_id, msg,
	    sizeof msg) != 0) {
		fprintf(stderr, "certfleet: %s\n", msg);
		goto out;
	}
	if (report_init(&report, f.name, command, cfg.now) != 0 ||
	    engine_run(&loop, &cfg, &report, msg, sizeof msg) != 0) {
		fprintf(stderr, "certfleet: %s\n", msg);
		goto out;
	}
	report.duration_ms = now_ms() - start;
	print_report(o, &report);
	exit_code = report_exit_status(&report);
	if (have_journal)
		journal_run_end(&jr, cfg.run_id, exit_code, msg, sizeof msg);
out:
	if (ca)
		ca->ops->free(ca);
	if (loop_ok) {
		uv_run(&loop, UV_RUN_DEFAULT);
		if (uv_loop_close(&loop) != 0)
			fprintf(stderr, "certfleet: internal error: handles "
			    "left open\n");
	}
	if (have_journal)
		journal_close(&jr);
	cmd_transports_release(&rc.ct);
	if (lockfd >= 0)
		fsio_unlock(lockfd);
	for (i = 0; specs && i < f.nservers; i++)
		req_spec_release(&specs[i]);
	report_release(&report);
	free(specs);
	free(tg);
	free(rc.servers);
	free(chain);
	free(lock);
	free(keys);
	free(db);
	fleet_release(&f);
	return exit_code;
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
