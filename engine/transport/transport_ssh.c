/*
 * The ssh transport (see transport_ssh.h). Every operation becomes one
 * frame (ssh_frame.h) of base64 arguments for the remote helper, sent on
 * the server's one session (ssh_session.h), opened at the first operation
 * and kept until the transport closes. Operations wait in a queue and go
 * one at a time; the helper's answer is handed to the operation's
 * callback. A session that dies fails the operation in flight (and the
 * queue too when it never got in: a dead host costs one connection
 * attempt, not one per operation); the next operation opens a new one. It
 * never passes an inventory value to any shell as code, and never puts
 * key bytes in a message.
 */
#include "engine/transport/transport_ssh.h"
#include "engine/base/container_of.h"
#include "engine/base/env.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
#include "engine/base/str.h"
#include "engine/base/strv.h"
#include "engine/transport/ssh_frame.h"
#include "engine/transport/ssh_script.h"
#include "engine/transport/ssh_session.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest answer kept: room for a big store in base64. */
#define ANSWER_MAX (64 * 1024 * 1024)
/* Longest an operation other than run may take. */
#define OP_TIMEOUT_S 120
/* What run's server-side kill (TERM, 2 s, KILL) may add to its timeout. */
#define RUN_SLACK_S 15

struct tsh {
	struct transport base;
	char **ssh_argv;            /* ssh, its options, "--", host, "sh -s" */
	size_t nssh;
	char *root;                 /* base.root: the base of server paths */
	char *script;               /* the helper, after CF_ROOT's value */
	size_t scriptlen;
	int connect_timeout;
	struct ssh_session *sess;   /* NULL until the first operation */
	bool stopping;              /* sess is being ended */
	struct sop *cur;            /* the operation sess is answering */
	struct sop *queue;          /* waiting, oldest first */
	struct sop *queue_tail;
	unsigned pending;           /* operations not yet called back */
	bool closing;
	/* Starts queued operations from the loop, never inside the call
	 * that asked; its close is the transport's last step. */
	uv_idle_t idle;
	bool idle_closed;
	void (*close_cb)(void *arg);
	void *close_arg;
};

enum sop_kind {
	SOP_READ_FILE,
	SOP_READ_STORE,
	SOP_WRITE_FILE,
	SOP_INSTALL,
	SOP_ROLLBACK,
	SOP_REMOVE,
	SOP_RUN,
	SOP_KEYGEN
};

/* Each kind's operation in the helper, and its verb in messages. */
static const struct {
	const char *op;
	const char *verb;
} kinds[] = {
	[SOP_READ_FILE] = { "read_file", "read" },
	[SOP_READ_STORE] = { "read_store", "read store" },
	[SOP_WRITE_FILE] = { "write_file", "write" },
	[SOP_INSTALL] = { "install", "install" },
	[SOP_ROLLBACK] = { "rollback", "roll back" },
	[SOP_REMOVE] = { "remove", "remove" },
	[SOP_RUN] = { "run", "run" },
	[SOP_KEYGEN] = { "keygen", "make a key at" },
};

/* One operation, from its call to its callback. */
struct sop {
	struct tsh *t;
	enum sop_kind kind;
	char *what;                 /* for messages: "read 'certs/x'" */
	struct ssh_frame frame;     /* its arguments */
	unsigned timeout_s;         /* for its answer; 0: none */
	size_t max;                 /* a read: the largest file taken; the
	                               helper sends any size (no wc there) */
	bool refused;               /* a read of a path that is not confined:
	                               answered CF_EINVAL in its turn */
	bool run_timed;             /* run: with a timeout on the server */
	char *store;                /* install: for the undo */
	char *pointer;
	char **links;
	struct sop *next;
	void *arg;
	union sop_cb {
		transport_file_cb file;
		transport_store_cb store;
		transport_install_cb install;
		transport_status_cb status;
		transport_run_cb run;
	} cb;
};

static void on_idle(uv_idle_t *h);
static void pump(struct tsh *t);
static void maybe_closed(struct tsh *t);

/* ---- an operation's life ---- */

static void sop_free(struct sop *op)
{
	ssh_frame_release(&op->frame);
	free(op->what);
	free(op->store);
	free(op->pointer);
	strv_free(op->links);
	free(op);
}

/* A new operation for tp's server, which cb answers; path (or NULL) is
 * what it names in messages. NULL when memory runs out. */
static struct sop *sop_new(struct transport *tp, enum sop_kind kind,
    union sop_cb cb, void *arg, const char *path)
{
	struct sop *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->t = container_of(tp, struct tsh, base);
	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	op->timeout_s = OP_TIMEOUT_S;
	op->max = SIZE_MAX;
	ssh_frame_init(&op->frame);
	op->what = path ? cf_asprintf("%s '%s'", kinds[kind].verb, path) :
	    strdup(kinds[kind].verb);
	if (op->what == NULL) {
		sop_free(op);
		return NULL;
	}
	return op;
}

/* Queues op, complete with its arguments, for pump: 0 (it counts as in
 * flight from here on), or CF_ENOMEM when building it failed (it is
 * freed). */
static int sop_queue(struct sop *op)
{
	struct tsh *t = op->t;

	if (op->frame.failed || uv_idle_start(&t->idle, on_idle) != 0) {
		sop_free(op);
		return CF_ENOMEM;
	}
	if (t->queue_tail != NULL)
		t->queue_tail->next = op;
	else
		t->queue = op;
	t->queue_tail = op;
	t->pending++;
	return 0;
}

/* ---- answers ---- */

/* "CF-UNDO <version> [<previous in base64>]": the version the helper made
 * in the set's store (a plain name: digits, hex, 'T', 'Z', '.', '-'), and
 * what the pointer named before, if anything. */
static void deliver_install(struct sop *op, int status, const char *msg,
    const char *ans)
{
	const char *undo = ssh_answer_line(ans, "CF-UNDO");
	size_t vl = undo ? strcspn(undo, " \n") : 0;
	struct transport_undo *u = NULL;

	if (status == 0 && vl > 0 && undo[0] != '.' &&
	    strspn(undo, "0123456789abcdefTZ.-") == vl &&
	    (u = calloc(1, sizeof(*u))) != NULL) {
		u->current = cf_asprintf("%s/%.*s", op->store, (int)vl, undo);
		u->store = op->store;
		u->pointer = op->pointer;
		u->links = op->links;
		op->store = op->pointer = NULL;
		op->links = NULL;
		if (undo[vl] == ' ' && undo[vl + 1] != '\n' &&
		    undo[vl + 1] != '\0')
			u->previous = ssh_answer_word(undo + vl + 1);
	}
	if (status == 0 && (u == NULL || u->current == NULL)) {
		transport_undo_free(u);
		u = NULL;
		status = CF_ETRANSPORT;
		msg = "malformed answer from the server";
	}
	op->cb.install(op->arg, status, u, msg);
}

static void deliver_run(struct sop *op, int status, const char *msg,
    const char *ans)
{
	struct transport_run_result r;
	const char *exit_line = ssh_answer_line(ans, "CF-EXIT");
	char *o = ssh_answer_word(ssh_answer_line(ans, "CF-OUT"));
	char *e = ssh_answer_word(ssh_answer_line(ans, "CF-ERROUT"));

	memset(&r, 0, sizeof r);
	r.out = o ? o : "";
	r.outlen = strlen(r.out);
	r.err = e ? e : "";
	r.errlen = strlen(r.err);
	r.exit_status = status == 0 && exit_line ? atoi(exit_line) : -1;
	if (status == 0 && ssh_answer_line(ans, "CF-TIMEOUT") != NULL) {
		status = CF_ETIMEDOUT;
		msg = "timed out on the server and was killed";
	}
	op->cb.run(op->arg, status, &r, msg);
	free(o);
	free(e);
}

/* "cannot <what> on '<server>': <why>" into buf. */
static void op_msg(const struct sop *op, char *buf, size_t bufsz,
    const char *why)
{
	snprintf(buf, bufsz, "cannot %s on '%s': %s", op->what,
	    op->t->base.server, why);
}

/* Hands op's result to its callback: status and msg as made from the
 * answer ans ("" when there is none), then what ans carries. A read's
 * limit is enforced here, with the local transport's words. */
static void deliver(struct sop *op, int status, const char *msg,
    const char *ans)
{
	struct transport_entry *e = NULL;
	size_t len = 0, n = 0;
	char *data, why[64], buf[768];

	snprintf(why, sizeof why, "larger than the limit of %zu bytes",
	    op->max);
	switch (op->kind) {
	case SOP_READ_FILE:
	case SOP_KEYGEN:
		data = status ? NULL : ssh_answer_block(ssh_answer_line(ans,
		    "CF-OK"), &len);
		if (status == 0 && data == NULL) {
			status = CF_ETRANSPORT;
			msg = "malformed answer from the server";
		} else if (data != NULL && len > op->max) {
			OPENSSL_clear_free(data, len);
			data = NULL;
			status = CF_EINVAL;
			op_msg(op, buf, sizeof buf, why);
			msg = buf;
		}
		op->cb.file(op->arg, status, data, data ? len : 0, msg);
		OPENSSL_clear_free(data, len);
		return;
	case SOP_READ_STORE:
		if (status == 0 && (status = ssh_answer_files(ans, op->max, &e,
		    &n)) == CF_EINVAL) {
			op_msg(op, buf, sizeof buf, why);
			msg = buf;
		} else if (status != 0) {
			msg = "malformed answer from the server";
		}
		op->cb.store(op->arg, status, e, n, msg);
		ssh_answer_files_free(e, n);
		return;
	case SOP_INSTALL:
		deliver_install(op, status, msg, ans);
		return;
	case SOP_RUN:
		deliver_run(op, status, msg, ans);
		return;
	case SOP_ROLLBACK:
	case SOP_WRITE_FILE:
	case SOP_REMOVE:
		op->cb.status(op->arg, status, msg);
		return;
	}
}

/* Ends op with status and why, as "cannot <what> on '<server>': <why>";
 * ans is the helper's answer or "". op is freed. */
static void finish(struct sop *op, int status, const char *why,
    const char *ans)
{
	struct tsh *t = op->t;
	char msg[768];

	msg[0] = '\0';
	if (status != 0)
		op_msg(op, msg, sizeof msg, why);
	deliver(op, status, msg, ans);
	sop_free(op);
	t->pending--;
}

/* The session's answer to t->cur. */
static void on_answer(void *arg, const char *text, size_t len)
{
	struct tsh *t = arg;
	struct sop *op = t->cur;
	char *why = NULL;
	int status;

	(void)len;
	t->cur = NULL;
	status = ssh_answer_status(text, &why);
	if (status == CF_ETRANSPORT && why == NULL)
		why = strdup("malformed answer from the server");
	finish(op, status, why ? why : status == CF_ENOENT ? "no such file" :
	    "failed", text);
	free(why);
	pump(t);
	maybe_closed(t);
}

/* The session is gone: the operation in flight fails with its reason, and
 * so does the queue when ssh never got in. */
static void on_end(void *arg, int status, const char *why, bool ready)
{
	struct tsh *t = arg;
	struct sop *op = t->cur, *q = NULL, *next;

	t->sess = NULL;
	t->stopping = false;
	t->cur = NULL;
	if (status != 0 && !ready) {
		q = t->queue;
		t->queue = t->queue_tail = NULL;
	}
	if (op != NULL)
		finish(op, status ? status : CF_ETRANSPORT, why, "");
	for (; q != NULL; q = next) {
		next = q->next;
		finish(q, status, why, "");
	}
	pump(t);
	maybe_closed(t);
}

/* Opens t's session: the helper with CF_ROOT's value in front. */
static int session_open(struct tsh *t)
{
	struct ssh_session_spec spec = { .argv = t->ssh_argv,
	    .script = t->script, .scriptlen = t->scriptlen,
	    .answer_max = ANSWER_MAX,
	    .connect_ms = (unsigned)t->connect_timeout * 1000,
	    .on_answer = on_answer, .on_end = on_end, .arg = t };

	return ssh_session_start(t->base.loop, &spec, &t->sess);
}

/* Starts the next queued operation when none is in flight. Runs from the
 * loop only, so that refusals and failures here call back from it. */
static void pump(struct tsh *t)
{
	struct sop *op;
	char *frame;
	size_t len;
	int rc;

	uv_idle_stop(&t->idle);
	while (t->cur == NULL && !t->stopping && (op = t->queue) != NULL) {
		if ((t->queue = op->next) == NULL)
			t->queue_tail = NULL;
		if (op->refused) {
			finish(op, CF_EINVAL, "not a server path below the root",
			    "");
			continue;
		}
		if (t->sess == NULL && (rc = session_open(t)) != 0) {
			finish(op, rc, cf_strerror(rc), "");
			continue;
		}
		frame = ssh_frame_take(&op->frame, kinds[op->kind].op, &len);
		rc = frame == NULL ? CF_ENOMEM : ssh_session_request(t->sess,
		    frame, len, op->timeout_s * 1000);
		OPENSSL_clear_free(frame, frame ? len : 0);
		if (rc != 0) {
			finish(op, rc, cf_strerror(rc), "");
			continue;
		}
		t->cur = op;
	}
}

static void on_idle(uv_idle_t *h)
{
	struct tsh *t = h->data;

	pump(t);
	/* A refusal's callback may have closed t. */
	maybe_closed(t);
}

/* ---- the operations ---- */

/* A read: refused through the callback when path is not confined, as
 * transport.h says reads are. */
static int read_op(struct transport *tp, enum sop_kind kind,
    const char *path, size_t max, union sop_cb cb, void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	struct sop *op;

	if (path == NULL || t->closing)
		return CF_EINVAL;
	if ((op = sop_new(tp, kind, cb, arg, path)) == NULL)
		return CF_ENOMEM;
	op->refused = !path_is_confined(path);
	op->max = max;
	ssh_frame_argf(&op->frame, "%s", path);
	ssh_frame_argf(&op->frame, "%zu", max);
	return sop_queue(op);
}

static int tsh_read_file(struct transport *tp, const char *path, size_t max,
    transport_file_cb cb, void *arg)
{
	return cb == NULL ? CF_EINVAL : read_op(tp, SOP_READ_FILE, path, max,
	    (union sop_cb){ .file = cb }, arg);
}

static int tsh_read_store(struct transport *tp, const char *path, size_t max,
    transport_store_cb cb, void *arg)
{
	return cb == NULL ? CF_EINVAL : read_op(tp, SOP_READ_STORE, path, max,
	    (union sop_cb){ .store = cb }, arg);
}

/* An operation on one path below the root (write_file, remove, keygen),
 * its callback checked by the caller: NULL with *rc set when refused or
 * out of memory. */
static struct sop *path_op(struct transport *tp, enum sop_kind kind,
    const char *path, union sop_cb cb, void *arg, int *rc)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	struct sop *op = NULL;

	*rc = CF_EINVAL;
	if (transport_path_below_root(path) && !t->closing) {
		*rc = CF_ENOMEM;
		op = sop_new(tp, kind, cb, arg, path);
	}
	return op;
}

static int tsh_write_file(struct transport *tp, const char *path,
    const void *data, size_t len, unsigned mode, transport_status_cb cb,
    void *arg)
{
	struct sop *op;
	int rc;

	if (cb == NULL)
		return CF_EINVAL;
	if ((op = path_op(tp, SOP_WRITE_FILE, path,
	    (union sop_cb){ .status = cb }, arg, &rc)) == NULL)
		return rc;
	ssh_frame_argf(&op->frame, "%s", path);
	ssh_frame_argf(&op->frame, "%04o", mode & 07777);
	ssh_frame_arg(&op->frame, data, len);
	return sop_queue(op);
}

static int tsh_remove(struct transport *tp, const char *path,
    transport_status_cb cb, void *arg)
{
	struct sop *op;
	int rc;

	if (cb == NULL)
		return CF_EINVAL;
	if ((op = path_op(tp, SOP_REMOVE, path, (union sop_cb){ .status = cb },
	    arg, &rc)) == NULL)
		return rc;
	ssh_frame_argf(&op->frame, "%s", path);
	return sop_queue(op);
}

static int tsh_keygen(struct transport *tp, const char *keytype,
    const char *key_path, const char *cn, const char *san,
    transport_file_cb cb, void *arg)
{
	struct sop *op;
	int rc;

	if (cb == NULL || keytype == NULL || cn == NULL || san == NULL ||
	    str_has_control(cn) || str_has_control(san))
		return CF_EINVAL;
	if ((op = path_op(tp, SOP_KEYGEN, key_path,
	    (union sop_cb){ .file = cb }, arg, &rc)) == NULL)
		return rc;
	ssh_frame_argf(&op->frame, "%s", keytype);
	ssh_frame_argf(&op->frame, "%s", key_path);
	ssh_frame_argf(&op->frame, "%s", cn);
	ssh_frame_argf(&op->frame, "%s", san);
	return sop_queue(op);
}

/*
 * The set is checked as every transport checks it (transport_set_check)
 * and its paths go in normal form, so that the undo record the helper
 * answers with holds server paths like the local transport's.
 * Arguments: store, pointer, member count, then name, link, mode, data
 * and from (or "") of each member, then the new version's name.
 */
static int tsh_install(struct transport *tp, const struct transport_set *set,
    transport_install_cb cb, void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	const struct transport_member *m;
	char *pointer, *from, version[64];
	struct sop *op;
	size_t i;

	if (cb == NULL || t->closing || transport_set_check(set, true) != 0)
		return CF_EINVAL;
	if ((pointer = transport_path_norm(set->pointer)) == NULL ||
	    (op = sop_new(tp, SOP_INSTALL, (union sop_cb){ .install = cb },
	    arg, pointer)) == NULL) {
		free(pointer);
		return CF_ENOMEM;
	}
	op->pointer = pointer;
	op->store = transport_path_norm(set->store);
	op->links = calloc(set->nmembers + 1, sizeof(char *));
	if (op->store == NULL || op->links == NULL)
		goto no_mem;
	ssh_frame_argf(&op->frame, "%s", op->store);
	ssh_frame_argf(&op->frame, "%s", op->pointer);
	ssh_frame_argf(&op->frame, "%zu", set->nmembers);
	for (i = 0; i < set->nmembers; i++) {
		m = &set->members[i];
		from = m->from ? transport_path_norm(m->from) : NULL;
		if ((op->links[i] = transport_path_norm(m->link)) == NULL ||
		    (m->from != NULL && from == NULL)) {
			free(from);
			goto no_mem;
		}
		ssh_frame_argf(&op->frame, "%s", m->name);
		ssh_frame_argf(&op->frame, "%s", op->links[i]);
		ssh_frame_argf(&op->frame, "%04o", m->mode & 07777);
		ssh_frame_arg(&op->frame, m->data, m->len);
		ssh_frame_argf(&op->frame, "%s", from ? from : "");
		free(from);
	}
	/* The version's name, by the controller's clock: a 'date' fewer
	 * there. */
	transport_version_name(version, sizeof version);
	ssh_frame_argf(&op->frame, "%s", version);
	return sop_queue(op);
no_mem:
	sop_free(op);
	return CF_ENOMEM;
}

/* As install: checked as every transport checks an undo record, sent in
 * normal form, links included for a rollback to nothing. Arguments:
 * store, pointer, previous (or ""), current, link count, the links. */
static int tsh_rollback(struct transport *tp, const struct transport_undo *u,
    transport_status_cb cb, void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	struct transport_undo *c;
	struct sop *op;
	size_t n = 0, i;
	int rc;

	if (cb == NULL || t->closing)
		return CF_EINVAL;
	if ((rc = transport_undo_norm(u, &c)) != 0)
		return rc;
	if ((op = sop_new(tp, SOP_ROLLBACK, (union sop_cb){ .status = cb },
	    arg, c->pointer)) != NULL) {
		while (c->links[n] != NULL)
			n++;
		ssh_frame_argf(&op->frame, "%s", c->store);
		ssh_frame_argf(&op->frame, "%s", c->pointer);
		ssh_frame_argf(&op->frame, "%s", c->previous ? c->previous :
		    "");
		ssh_frame_argf(&op->frame, "%s", c->current);
		ssh_frame_argf(&op->frame, "%zu", n);
		for (i = 0; i < n; i++)
			ssh_frame_argf(&op->frame, "%s", c->links[i]);
	}
	transport_undo_free(c);
	return op == NULL ? CF_ENOMEM : sop_queue(op);
}

/* Arguments: the timeout in seconds (0: none), the argument count and
 * the arguments, then the environment's count and each entry's name and
 * value, every one base64 like all arguments: the helper exports them,
 * never parsing a value. The server's watchdog ends the command; the
 * session's timeout ends ssh a little after it, should the server not
 * answer. */
static int tsh_run(struct transport *tp, char *const argv[],
    char *const env[], unsigned timeout_ms, transport_run_cb cb, void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	unsigned secs = (timeout_ms + 999) / 1000;
	struct sop *op;
	size_t n = 0, ne = 0, i, len;

	if (argv == NULL || argv[0] == NULL || cb == NULL || t->closing ||
	    env_check(env) != 0)
		return CF_EINVAL;
	if ((op = sop_new(tp, SOP_RUN, (union sop_cb){ .run = cb }, arg,
	    argv[0])) == NULL)
		return CF_ENOMEM;
	op->timeout_s = secs > 0 ? secs + RUN_SLACK_S : 0;
	while (argv[n] != NULL)
		n++;
	while (env != NULL && env[ne] != NULL)
		ne++;
	ssh_frame_argf(&op->frame, "%u", secs);
	ssh_frame_argf(&op->frame, "%zu", n);
	for (i = 0; i < n; i++)
		ssh_frame_argf(&op->frame, "%s", argv[i]);
	ssh_frame_argf(&op->frame, "%zu", ne);
	for (i = 0; i < ne; i++) {
		len = strcspn(env[i], "=");
		ssh_frame_arg(&op->frame, env[i], len);
		ssh_frame_arg(&op->frame, env[i] + len + 1,
		    strlen(env[i] + len + 1));
	}
	return sop_queue(op);
}

/* ---- lifetime ---- */

static void tsh_free(struct tsh *t)
{
	strv_free(t->ssh_argv);
	OPENSSL_clear_free(t->script, t->scriptlen);
	free(t->root);
	free(t->base.server);
	free(t);
}

static void on_idle_closed(uv_handle_t *h)
{
	struct tsh *t = h->data;
	void (*cb)(void *) = t->close_cb;
	void *arg = t->close_arg;

	tsh_free(t);
	if (cb != NULL)
		cb(arg);
}

/* Once closing and every operation has called back: the session ends,
 * then the idle handle, whose close callback frees t. */
static void maybe_closed(struct tsh *t)
{
	if (!t->closing || t->pending > 0 || t->idle_closed)
		return;
	if (t->sess != NULL) {
		if (!t->stopping) {
			t->stopping = true;
			ssh_session_stop(t->sess);
		}
		return;
	}
	t->idle_closed = true;
	uv_close((uv_handle_t *)&t->idle, on_idle_closed);
}

static void tsh_close(struct transport *tp, void (*cb)(void *arg), void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);

	t->closing = true;
	t->close_cb = cb;
	t->close_arg = arg;
	maybe_closed(t);
}

static const struct transport_ops ssh_ops = {
	.name = "ssh",
	.read_file = tsh_read_file,
	.read_store = tsh_read_store,
	.install = tsh_install,
	.rollback = tsh_rollback,
	.write_file = tsh_write_file,
	.remove = tsh_remove,
	.keygen = tsh_keygen,
	.run = tsh_run,
	.close = tsh_close,
};

/* Adds s, which it owns, to the ssh command; ssh_argv stays NULL-ended. */
static bool push_arg(struct tsh *t, char *s)
{
	char **v;

	if (s == NULL || (v = realloc(t->ssh_argv, (t->nssh + 2) *
	    sizeof(*v))) == NULL) {
		free(s);
		return false;
	}
	t->ssh_argv = v;
	v[t->nssh++] = s;
	v[t->nssh] = NULL;
	return true;
}

/* Adds flag ("-o", "-p"...; NULL: none) and the argument formatted from
 * fmt. */
static bool add_arg(struct tsh *t, const char *flag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool add_arg(struct tsh *t, const char *flag, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cf_vasprintf(fmt, ap);
	va_end(ap);
	if (flag != NULL && !push_arg(t, strdup(flag))) {
		free(s);
		return false;
	}
	return push_arg(t, s);
}

/* The helper's input before any frame: "CF_ROOT='<base64>'" (base64 is
 * safe inside single quotes), then the helper itself. */
static bool script_make(struct tsh *t, const char *root)
{
	size_t n = strlen(root), e = 4 * ((n + 2) / 3);
	size_t len = strlen(ssh_remote_script);

	if ((t->script = malloc(e + 16 + len)) == NULL)
		return false;
	memcpy(t->script, "CF_ROOT='", 9);
	EVP_EncodeBlock((unsigned char *)t->script + 9,
	    (const unsigned char *)root, (int)n);
	memcpy(t->script + 9 + e, "'\n", 2);
	memcpy(t->script + 11 + e, ssh_remote_script, len);
	t->scriptlen = 11 + e + len;
	return true;
}

int transport_ssh_open(struct transport **out, uv_loop_t *loop,
    const char *server, const struct ssh_target *tg, char *msg,
    size_t msgsz)
{
	struct tsh *t;
	bool ok;

	if (tg->address == NULL || tg->address[0] == '-')
		return cf_error(msg, msgsz, CF_EINVAL, "ssh transport for "
		    "'%s': invalid target", server);
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	t->base.ops = &ssh_ops;
	t->base.loop = loop;
	t->connect_timeout = tg->connect_timeout > 0 ? tg->connect_timeout : 10;
	t->base.server = strdup(server);
	t->root = strdup(tg->root ? tg->root : "/");
	t->base.root = t->root;
	/* BatchMode: never a prompt. No ControlMaster of ours: the one
	 * session is the connection (the operator's ssh_config may still
	 * name one). */
	ok = t->base.server && t->root && script_make(t, t->root) &&
	    add_arg(t, NULL, "ssh") && add_arg(t, NULL, "-T") &&
	    add_arg(t, "-o", "BatchMode=yes") &&
	    add_arg(t, "-o", "LogLevel=ERROR") &&
	    add_arg(t, "-o", "ConnectTimeout=%d", t->connect_timeout) &&
	    add_arg(t, "-o", "ServerAliveInterval=10") &&
	    add_arg(t, "-o", "StrictHostKeyChecking=%s", tg->accept_new ?
	    "accept-new" : "yes");
	if (ok && tg->ssh_config)
		ok = add_arg(t, "-F", "%s", tg->ssh_config);
	if (ok && tg->identity_file)
		ok = add_arg(t, "-i", "%s", tg->identity_file) &&
		    add_arg(t, "-o", "IdentitiesOnly=yes");
	if (ok && tg->known_hosts)
		ok = add_arg(t, "-o", "UserKnownHostsFile=%s", tg->known_hosts);
	if (ok && tg->port > 0)
		ok = add_arg(t, "-p", "%d", tg->port);
	if (ok && tg->user)
		ok = add_arg(t, "-l", "%s", tg->user);
	/* The host after "--", so nothing can read as an option; the
	 * remote command is fixed. */
	ok = ok && add_arg(t, NULL, "--") && add_arg(t, NULL, "%s",
	    tg->address) && add_arg(t, NULL, "sh -s");
	if (!ok) {
		tsh_free(t);
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	uv_idle_init(loop, &t->idle);
	t->idle.data = t;
	*out = &t->base;
	return 0;
}
