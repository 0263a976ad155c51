/*
 * The fleet's after_run hook: run once on this machine when `run` or
 * `assign` has shown its report (and written its metrics), with the
 * report as a JSON file and the exit status in its environment. It runs
 * on a loop of its own, after everything the run did is done: whatever
 * it does or fails to do changes neither what was assigned nor the exit
 * status; a failure is said on stderr, --quiet or not.
 */
#include "cmd/cmd.h"
#include "engine/base/env.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
#include "engine/base/proc.h"
#include "engine/base/strv.h"
#include "engine/report/report.h"
#include "engine/transport/transport.h"
#include "inventory/fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* The report the hook reads: private, like everything in the state
 * directory, and there only while the hook runs. */
#define HOOK_REPORT "after_run.json"
#define HOOK_REPORT_MODE 0600

/* How the hook ended, for the message. */
struct hook_run {
	const char *program;
	unsigned timeout_s;
};

static void hook_done(void *arg, int status, const struct proc_result *pr,
    const char *msg)
{
	struct hook_run *h = arg;
	struct transport_run_result r = { pr->exit_status, pr->term_signal,
	    pr->out, pr->outlen, pr->err, pr->errlen };
	char how[768];

	if (status == 0 && pr->timed_out)
		status = CF_ETIMEDOUT;
	else if (status == 0 && pr->term_signal == 0 && pr->exit_status == 0)
		return;
	transport_run_describe(status, &r, h->timeout_s, msg, how,
	    sizeof how);
	fprintf(stderr, "certfleet: after_run hook '%s' %s\n", h->program, how);
}

/* The report as a file the hook can read: 0 or a CF_E* code with msg. */
static int write_report(const char *path, const struct report *rep,
    char *msg, size_t msgsz)
{
	json_t *j = report_to_json(rep);
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
	int rc;

	json_decref(j);
	if (text == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	rc = fsio_write_atomic(path, text, strlen(text), HOOK_REPORT_MODE, msg,
	    msgsz);
	free(text);
	return rc;
}

/* The hook's environment: ours, and the run's three variables. */
static char **hook_env(const struct fleet *f, const char *report,
    int exit_code)
{
	struct env e = { 0 };
	char code[16], **add, **all;

	snprintf(code, sizeof code, "%d", exit_code);
	env_set(&e, "CERTFLEET_FLEET", f->name);
	env_set(&e, "CERTFLEET_REPORT", report);
	env_set(&e, "CERTFLEET_EXIT", code);
	if ((add = env_take(&e)) == NULL)
		return NULL;
	all = env_merge(environ, add);
	strv_free(add);
	return all;
}

/* Runs the hook on a loop of its own until it has ended: 0, or a CF_E*
 * code with msg when it was not started. */
static int run_hook(struct proc_spec *spec, struct hook_run *h, char *msg,
    size_t msgsz)
{
	uv_loop_t loop;
	int rc;

	if (uv_loop_init(&loop) != 0)
		return cf_error(msg, msgsz, CF_EIO, "cannot start an event "
		    "loop");
	if ((rc = proc_run(&loop, spec, hook_done, h)) != 0)
		cf_error(msg, msgsz, rc, "%s", cf_strerror(rc));
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0)
		fprintf(stderr, "certfleet: internal error: handles left "
		    "open\n");
	return rc;
}

void cmd_after_run(const struct fleet *f, const struct report *rep,
    int exit_code)
{
	const struct fleet_hooks *hk = &f->hooks;
	struct hook_run h = { hk->after_run ? hk->after_run[0] : NULL,
	    (unsigned)hk->after_run_timeout };
	struct proc_spec spec = { .argv = hk->after_run,
	    .out_cap = TRANSPORT_CAPTURE, .err_cap = TRANSPORT_CAPTURE,
	    .timeout_ms = h.timeout_s * 1000, .group = true };
	char *dir, *path = NULL, **env = NULL, msg[512];
	int rc;

	if (hk->after_run == NULL)
		return;
	if ((dir = path_absolute(f->state_dir)) == NULL ||
	    (path = path_join(dir, HOOK_REPORT)) == NULL)
		rc = cf_error(msg, sizeof msg, CF_ENOMEM, "out of memory");
	else if ((rc = write_report(path, rep, msg, sizeof msg)) == 0 &&
	    (spec.env = env = hook_env(f, path, exit_code)) == NULL)
		rc = cf_error(msg, sizeof msg, CF_ENOMEM, "out of memory");
	if (rc == 0)
		rc = run_hook(&spec, &h, msg, sizeof msg);
	if (rc != 0)
		fprintf(stderr, "certfleet: after_run hook not run: %s\n", msg);
	if (path != NULL)
		fsio_remove(path, msg, sizeof msg);
	strv_free(env);
	free(path);
	free(dir);
}
