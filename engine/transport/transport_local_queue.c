/*
 * The local transport's threadpool plumbing: each file operation is one
 * uv_work_t whose run function works on a threadpool thread with copies of
 * its inputs, and whose done function calls back from the after-work
 * callback on the loop thread. Counts what is in flight so that close
 * waits for it. Knows nothing of what an operation does.
 */
#include "engine/transport/transport_local_int.h"
#include "engine/base/container_of.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Records the first failure of op; later ones would only hide the cause. */
int tl_fail(struct op *op, int code, const char *verb, const char *path,
    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (op->status != 0)
		return op->status;
	n = snprintf(op->msg, sizeof op->msg, "cannot %s '%s' on '%s': ", verb,
	    path, op->tl->base.server);
	if (n >= 0 && (size_t)n < sizeof op->msg) {
		va_start(ap, fmt);
		vsnprintf(op->msg + n, sizeof op->msg - (size_t)n, fmt, ap);
		va_end(ap);
	}
	op->status = code;
	return code;
}

int tl_fail_errno(struct op *op, const char *verb, const char *path)
{
	int e = errno;

	return tl_fail(op, cf_errno_code(e), verb, path, "%s", e == ENOMEM ?
	    "out of memory" : strerror(e));
}

void tl_op_free(struct op *op)
{
	size_t i;

	free(op->path);
	free(op->store);
	free(op->pointer);
	for (i = 0; i < op->nmembers; i++) {
		free(op->members[i].name);
		free(op->members[i].link);
		crypto_secret_free(op->members[i].data, op->members[i].len + 1);
	}
	free(op->members);
	transport_undo_free(op->in_undo);
	crypto_secret_free(op->data, op->len + 1);
	for (i = 0; i < op->nentries; i++) {
		free((char *)op->entries[i].name);
		free((char *)op->entries[i].data);
	}
	free(op->entries);
	transport_undo_free(op->undo);
	free(op);
}

/* Frees tl and reports the close once nothing is in flight. */
void tl_maybe_closed(struct tl *tl)
{
	void (*cb)(void *);
	void *arg;

	if (!tl->closing || tl->pending > 0)
		return;
	cb = tl->close_cb;
	arg = tl->close_arg;
	free(tl->base.server);
	free(tl->abs_root);
	free(tl->root);
	free(tl);
	if (cb != NULL)
		cb(arg);
}

static void work_cb(uv_work_t *w)
{
	struct op *op = container_of(w, struct op, work);

	op->run(op);
}

static void after_work_cb(uv_work_t *w, int status)
{
	struct op *op = container_of(w, struct op, work);
	struct tl *tl = op->tl;

	if (status != 0 && op->status == 0) {
		op->status = CF_ETRANSPORT;
		snprintf(op->msg, sizeof op->msg, "operation on '%s' cancelled",
		    op->tl->base.server);
	}
	op->done(op);
	tl_op_free(op);
	tl->pending--;
	tl_maybe_closed(tl);
}

struct op *tl_op_new(struct tl *tl, void (*run)(struct op *),
    void (*done)(struct op *), union tl_cb cb, void *arg)
{
	struct op *op;

	if (tl->closing || (op = calloc(1, sizeof *op)) == NULL)
		return NULL;
	op->tl = tl;
	op->run = run;
	op->done = done;
	op->cb = cb;
	op->arg = arg;
	return op;
}

int tl_op_queue(struct op *op)
{
	int rc;

	rc = uv_queue_work(op->tl->base.loop, &op->work, work_cb,
	    after_work_cb);
	if (rc != 0) {
		tl_op_free(op);
		return CF_ETRANSPORT;
	}
	op->tl->pending++;
	return 0;
}

/* ---- lifetime -------------------------------------------------------- */

static void close_work(uv_work_t *w)
{
	(void)w;
}

static void close_after(uv_work_t *w, int status)
{
	struct tl *tl = container_of(w, struct tl, close_work);

	(void)status;
	tl->pending--;
	tl_maybe_closed(tl);
}

/* The no-op work item defers the close callback to a later loop pass even
 * when nothing is in flight. */
void tl_close(struct transport *t, void (*cb)(void *arg), void *arg)
{
	struct tl *tl = container_of(t, struct tl, base);

	if (tl->closing)
		return;
	tl->closing = true;
	tl->close_cb = cb;
	tl->close_arg = arg;
	tl->pending++;
	if (uv_queue_work(t->loop, &tl->close_work, close_work,
	    close_after) != 0) {
		/* Cannot happen with a non-NULL work_cb; close later. */
		tl->pending--;
	}
}
