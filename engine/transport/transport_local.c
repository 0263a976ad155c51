/*
 * The local transport's ops table (see transport_local.h and transport.h):
 * each operation's arguments are checked and copied on the loop thread, so
 * that a bad one is refused at once, then the work is queued (file
 * operations, transport_local_queue.c) or the command is run (proc_run, in
 * the server's root). It never runs a shell and never puts file contents
 * into a message.
 */
#include "engine/transport/transport_local.h"
#include "engine/transport/transport_local_int.h"
#include "engine/base/container_of.h"
#include "engine/base/env.h"
#include "engine/base/err.h"
#include "engine/base/path.h"
#include "engine/base/proc.h"
#include "engine/base/strv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

/* One command, while proc_run runs it. */
struct run_op {
	struct tl *tl;
	unsigned timeout_ms;
	transport_run_cb cb;
	void *arg;
	char shown[];               /* argv[0], for messages */
};

/* ---- results, on the loop thread -------------------------------------- */

static void done_file(struct op *op)
{
	op->cb.file(op->arg, op->status, op->status ? NULL : op->data,
	    op->status ? 0 : op->len, op->msg);
}

static void done_store(struct op *op)
{
	op->cb.store(op->arg, op->status, op->status ? NULL : op->entries,
	    op->status ? 0 : op->nentries, op->msg);
}

static void done_install(struct op *op)
{
	struct transport_undo *u = op->undo;

	op->undo = NULL;
	op->cb.install(op->arg, op->status, u, op->msg);
}

static void done_status(struct op *op)
{
	op->cb.status(op->arg, op->status, op->msg);
}

/* ---- file operations --------------------------------------------------- */

/* Queues run on a copy of path (and of data, if any) with cb, which is
 * not NULL. Reads refuse a path that is not confined through the
 * callback; writes refuse it before they get here. */
static int queue_path(struct transport *t, void (*run)(struct op *),
    void (*done)(struct op *), union tl_cb cb, void *arg, const char *path,
    size_t max, const void *data, size_t len, unsigned mode)
{
	struct tl *tl = container_of(t, struct tl, base);
	struct op *op;

	if (path == NULL || tl->closing)
		return CF_EINVAL;
	if ((op = tl_op_new(tl, run, done, cb, arg)) == NULL)
		return CF_ENOMEM;
	op->max = max;
	op->mode = mode;
	op->len = len;
	if ((op->path = strdup(path)) == NULL ||
	    (data != NULL && (op->data = malloc(len + 1)) == NULL)) {
		tl_op_free(op);
		return CF_ENOMEM;
	}
	if (data != NULL)
		memcpy(op->data, data, len);
	return tl_op_queue(op);
}

static int tl_read_file(struct transport *t, const char *path, size_t max,
    transport_file_cb cb, void *arg)
{
	return cb == NULL ? CF_EINVAL : queue_path(t, tl_read_file_run,
	    done_file, (union tl_cb){ .file = cb }, arg, path, max, NULL, 0,
	    0);
}

static int tl_read_store(struct transport *t, const char *path, size_t max,
    transport_store_cb cb, void *arg)
{
	return cb == NULL ? CF_EINVAL : queue_path(t, tl_read_store_run,
	    done_store, (union tl_cb){ .store = cb }, arg, path, max, NULL,
	    0, 0);
}

static int tl_write_file(struct transport *t, const char *path,
    const void *data, size_t len, unsigned mode, transport_status_cb cb,
    void *arg)
{
	if (cb == NULL || path == NULL || !path_is_confined(path))
		return CF_EINVAL;
	return queue_path(t, tl_write_file_run, done_status,
	    (union tl_cb){ .status = cb }, arg, path, 0, data, len, mode);
}

static int tl_remove(struct transport *t, const char *path,
    transport_status_cb cb, void *arg)
{
	if (cb == NULL || path == NULL || !path_is_confined(path))
		return CF_EINVAL;
	return queue_path(t, tl_remove_run, done_status,
	    (union tl_cb){ .status = cb }, arg, path, 0, NULL, 0, 0);
}

/* The set is checked and normalised on the loop thread (see
 * transport_set_check), so that a bad argument is refused at once. */
static int tl_install(struct transport *t, const struct transport_set *set,
    transport_install_cb cb, void *arg)
{
	struct tl *tl = container_of(t, struct tl, base);
	struct member_copy *m;
	struct op *op;
	size_t i;

	if (cb == NULL || tl->closing || transport_set_check(set, false) != 0)
		return CF_EINVAL;
	if ((op = tl_op_new(tl, tl_install_run, done_install,
	    (union tl_cb){ .install = cb }, arg)) == NULL)
		return CF_ENOMEM;
	op->store = transport_path_norm(set->store);
	op->pointer = transport_path_norm(set->pointer);
	op->members = calloc(set->nmembers, sizeof *op->members);
	if (op->store == NULL || op->pointer == NULL || op->members == NULL)
		goto no_mem;
	op->nmembers = set->nmembers;
	for (i = 0; i < set->nmembers; i++) {
		const struct transport_member *sm = &set->members[i];

		m = &op->members[i];
		m->name = strdup(sm->name);
		m->link = transport_path_norm(sm->link);
		m->data = malloc(sm->len + 1);
		if (m->name == NULL || m->link == NULL || m->data == NULL)
			goto no_mem;
		if (sm->len > 0)
			memcpy(m->data, sm->data, sm->len);
		m->len = sm->len;
		m->mode = sm->mode & 07777;
	}
	return tl_op_queue(op);
no_mem:
	tl_op_free(op);
	return CF_ENOMEM;
}

static int tl_rollback(struct transport *t, const struct transport_undo *u,
    transport_status_cb cb, void *arg)
{
	struct tl *tl = container_of(t, struct tl, base);
	struct op *op;
	int rc;

	if (cb == NULL || tl->closing)
		return CF_EINVAL;
	if ((op = tl_op_new(tl, tl_rollback_run, done_status,
	    (union tl_cb){ .status = cb }, arg)) == NULL)
		return CF_ENOMEM;
	if ((rc = transport_undo_norm(u, &op->in_undo)) != 0) {
		tl_op_free(op);
		return rc;
	}
	return tl_op_queue(op);
}

/* ---- run ------------------------------------------------------------- */

static void run_done(void *arg, int status, const struct proc_result *pr,
    const char *msg)
{
	struct run_op *r = arg;
	struct transport_run_result res = { pr->exit_status, pr->term_signal,
	    pr->out, pr->outlen, pr->err, pr->errlen };
	struct tl *tl = r->tl;
	char why[512];

	snprintf(why, sizeof why, "%s", msg);
	if (status != 0) {
		snprintf(why, sizeof why, "cannot run '%s' on '%s': %s",
		    r->shown, tl->base.server, uv_strerror(pr->start_error));
	} else if (pr->timed_out) {
		status = CF_ETIMEDOUT;
		snprintf(why, sizeof why, "'%s' on '%s' did not finish within "
		    "%u ms and was killed", r->shown, tl->base.server,
		    r->timeout_ms);
	}
	r->cb(r->arg, status, &res, why);
	free(r);
	tl->pending--;
	tl_maybe_closed(tl);
}

/* The command runs in its own process group in the server's root, so a
 * timeout takes whatever it started too, with our environment and env
 * added to it. */
static int tl_run(struct transport *t, char *const argv[], char *const env[],
    unsigned timeout_ms, transport_run_cb cb, void *arg)
{
	struct tl *tl = container_of(t, struct tl, base);
	struct proc_spec spec = { .argv = argv, .cwd = tl->root,
	    .out_cap = TRANSPORT_CAPTURE, .err_cap = TRANSPORT_CAPTURE,
	    .timeout_ms = timeout_ms, .group = true };
	struct run_op *r;
	char **envp;
	int rc;

	if (argv == NULL || argv[0] == NULL || cb == NULL || tl->closing ||
	    env_check(env) != 0)
		return CF_EINVAL;
	if ((r = calloc(1, sizeof *r + strlen(argv[0]) + 1)) == NULL)
		return CF_ENOMEM;
	if ((envp = env_merge(environ, env)) == NULL) {
		free(r);
		return CF_ENOMEM;
	}
	r->tl = tl;
	r->cb = cb;
	r->arg = arg;
	r->timeout_ms = timeout_ms;
	strcpy(r->shown, argv[0]);
	spec.env = envp;
	if ((rc = proc_run(t->loop, &spec, run_done, r)) == 0)
		tl->pending++;
	else
		free(r);
	strv_free(envp);
	return rc;
}

static const struct transport_ops local_ops = {
	.name = "local",
	.read_file = tl_read_file,
	.read_store = tl_read_store,
	.install = tl_install,
	.rollback = tl_rollback,
	.write_file = tl_write_file,
	.remove = tl_remove,
	.run = tl_run,
	.close = tl_close,
};

int transport_local_open(struct transport **out, uv_loop_t *loop,
    const char *server, const char *root, char *msg, size_t msgsz)
{
	struct tl *tl;

	*out = NULL;
	if (loop == NULL || server == NULL || root == NULL || *root == '\0')
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot open the local transport: no loop, server or root");
	if ((tl = calloc(1, sizeof *tl)) == NULL ||
	    (tl->root = strdup(root)) == NULL ||
	    (tl->abs_root = path_absolute(root)) == NULL ||
	    (tl->base.server = strdup(server)) == NULL) {
		if (tl != NULL) {
			free(tl->root);
			free(tl->abs_root);
		}
		free(tl);
		return cf_error(msg, msgsz, CF_ENOMEM,
		    "cannot open the local transport for '%s': out of memory",
		    server);
	}
	tl->base.ops = &local_ops;
	tl->base.loop = loop;
	tl->base.root = tl->abs_root;
	*out = &tl->base;
	return 0;
}
