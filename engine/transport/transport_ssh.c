/*
 * The ssh transport (see transport_ssh.h). Each operation runs the OpenSSH
 * client through proc_run with an argument vector (never a local shell),
 * feeds it the remote helper with its base64 arguments on stdin, reads
 * the helper's line protocol from stdout and ssh's complaints from
 * stderr. A ControlMaster per server makes every operation after the
 * first reuse one connection. Reads (read_file, read_store) asked for in
 * one loop iteration are queued and leave together as one "batch"
 * session, each answered as if it had been alone. It must never pass an
 * inventory value to any shell as code, and never put key bytes in a
 * message.
 */
#include "engine/transport/transport_ssh.h"
#include "engine/base/container_of.h"
#include "engine/base/env.h"
#include "engine/base/err.h"
#include "engine/base/strv.h"
#include "engine/base/path.h"
#include "engine/base/proc.h"
#include "engine/base/str.h"
#include "engine/transport/ssh_script.h"

#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest helper output kept: room for a big store in base64. */
#define OUT_MAX (64 * 1024 * 1024)
/* Longest an operation other than run may take beyond connecting. */
#define OP_TIMEOUT_S 120

struct tsh {
	struct transport base;
	char **ssh_argv;            /* ssh and its options */
	size_t nssh;
	char *host;
	char *root;
	unsigned pending;
	bool closing;
	bool master_stopped;
	int connect_timeout;
	void (*close_cb)(void *arg);
	void *close_arg;
	/* Reads asked for in one loop iteration wait here, so that they go
	 * to the server in one session (a "batch"); flush starts them. */
	uv_idle_t flush;
	struct sop *queue;
	struct sop *queue_tail;
	size_t nqueued;
	bool flush_closed;
};

enum sop_kind {
	SOP_READ_FILE,
	SOP_READ_STORE,
	SOP_WRITE_FILE,
	SOP_INSTALL,
	SOP_ROLLBACK,
	SOP_REMOVE,
	SOP_RUN,
	SOP_KEYGEN,
	SOP_EXIT,                   /* stops the ControlMaster */
	SOP_BATCH                   /* several reads in one session */
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
	[SOP_EXIT] = { "exit", "stop" },
	[SOP_BATCH] = { "batch", "read" },
};

/* One ssh session and what it is for. */
struct sop {
	struct tsh *t;
	enum sop_kind kind;
	char *what;                 /* for messages: "read 'certs/x'" */
	size_t max;                 /* reads: their limit; run: its timeout
	                               in seconds */
	BUF_MEM *script;            /* the helper's input: its arguments as
	                               assignments, then the helper */
	size_t nargs;
	bool failed;                /* memory ran out building the script */
	char *store;                /* install: for the undo */
	char *pointer;
	char **links;
	void *arg;
	/* A queued read: its path, kept until it starts. */
	struct sop *next;
	char *qpath;
	/* A batch: the reads it answers, in order (NULL once answered). */
	struct sop **parts;
	size_t nparts;
	union sop_cb {
		transport_file_cb file;
		transport_store_cb store;
		transport_install_cb install;
		transport_status_cb status;
		transport_run_cb run;
	} cb;
};

/* ---- small helpers ---- */

/* Appends n bytes at p to op's script. It may hold key bytes (base64),
 * so what it outgrows is cleansed (BUF_MEM_grow_clean). */
static void script_add(struct sop *op, const void *p, size_t n)
{
	size_t len = op->script->length;

	if (op->failed || BUF_MEM_grow_clean(op->script, len + n) == 0)
		op->failed = true;
	else
		memcpy(op->script->data + len, p, n);
}

/* Decodes base64 text (newlines allowed) into a new buffer, NUL-ended. */
static char *unb64(const char *s, size_t n, size_t *outlen)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	unsigned char *out = malloc(n / 4 * 3 + 4);
	int a = 0, b = 0;

	if (ctx == NULL || out == NULL)
		goto fail;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, out, &a, (const unsigned char *)s,
	    (int)n) < 0 || EVP_DecodeFinal(ctx, out + a, &b) != 1)
		goto fail;
	EVP_ENCODE_CTX_free(ctx);
	out[a + b] = '\0';
	*outlen = (size_t)(a + b);
	return (char *)out;
fail:
	EVP_ENCODE_CTX_free(ctx);
	free(out);
	return NULL;
}

/* Appends "NAME='BASE64'\n" to op's script: base64 without newlines is
 * safe inside single quotes remotely. */
static void assign_var(struct sop *op, const char *name, const void *v,
    size_t n)
{
	char *e = malloc(4 * ((n + 2) / 3) + 1);

	if (e == NULL) {
		op->failed = true;
		return;
	}
	EVP_EncodeBlock((unsigned char *)e, v, (int)n);
	script_add(op, name, strlen(name));
	script_add(op, "='", 2);
	script_add(op, e, strlen(e));
	script_add(op, "'\n", 2);
	OPENSSL_clear_free(e, strlen(e));
}

/* Adds the operation's next argument (CF_A0, CF_A1...): n bytes at p. */
static void sop_arg(struct sop *op, const void *p, size_t n)
{
	char name[32];

	snprintf(name, sizeof name, "CF_A%zu", op->nargs++);
	assign_var(op, name, p, n);
}

/* Adds the next argument as text: a path, a count, a mode. */
static void sop_argf(struct sop *op, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sop_argf(struct sop *op, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cf_vasprintf(fmt, ap);
	va_end(ap);
	if (s == NULL)
		op->failed = true;
	else
		sop_arg(op, s, strlen(s));
	free(s);
}

/* ---- the operation's life ---- */

static void sop_free(struct sop *op)
{
	size_t i;

	if (op == NULL)
		return;
	for (i = 0; i < op->nparts; i++)
		sop_free(op->parts[i]);
	BUF_MEM_free(op->script);
	free(op->parts);
	free(op->qpath);
	free(op->what);
	free(op->store);
	free(op->pointer);
	strv_free(op->links);
	free(op);
}

static void tsh_maybe_closed(struct tsh *t);

/* The first line of ssh's stderr, as an operator would want to read it. */
static void ssh_reason(const struct proc_result *a, char *buf, size_t bufsz)
{
	const char *e = a->err;
	size_t n;

	while (*e == '\n' || *e == '\r')
		e++;
	n = strcspn(e, "\r\n");
	if (strstr(e, "Host key verification failed") ||
	    strstr(e, "REMOTE HOST IDENTIFICATION HAS CHANGED"))
		snprintf(buf, bufsz, "host key verification failed (a changed "
		    "or unknown host key; check known_hosts)");
	else if (strstr(e, "Permission denied"))
		snprintf(buf, bufsz, "authentication refused (%.*s)", (int)n,
		    e);
	else if (strstr(e, "timed out"))
		snprintf(buf, bufsz, "connection timed out");
	else if (n > 0)
		snprintf(buf, bufsz, "%.*s", (int)n, e);
	else
		snprintf(buf, bufsz, "ssh exited %d", a->exit_status);
}

/* Finds "TAG rest" at the start of a line; returns rest or NULL. */
static const char *line_with(const char *text, const char *tag)
{
	size_t n = strlen(tag);
	const char *p = text;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, tag, n) == 0 && (p[n] == ' ' || p[n] == '\n' ||
		    p[n] == '\0'))
			return p + n + (p[n] == ' ');
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return NULL;
}

/* The decoded base64 word at p (up to a space or newline). */
static char *word64(const char *p)
{
	size_t len;

	return p ? unb64(p, strcspn(p, " \n"), &len) : NULL;
}

/* The base64 lines between the line after at and "CF-END". */
static char *block(const char *at, size_t *len)
{
	const char *start = at ? strchr(at, '\n') : NULL, *end;

	if (start == NULL)
		return NULL;
	start++;
	if ((end = strstr(start, "CF-END")) == NULL)
		return NULL;
	return unb64(start, (size_t)(end - start), len);
}

static void deliver_store(struct sop *op, int status, const char *msg,
    const char *out)
{
	struct transport_entry *e = NULL, *ne = NULL;
	size_t n = 0, i, len;
	const char *p = out;
	char bad[256], *name, *data;

	while (status == 0 && (p = line_with(p, "CF-FILE")) != NULL) {
		name = word64(p);
		data = block(p, &len);
		if ((ne = realloc(e, (n + 1) * sizeof(*e))) != NULL)
			e = ne;
		if (name == NULL || data == NULL || ne == NULL) {
			status = ne == NULL ? CF_ENOMEM : CF_ETRANSPORT;
			snprintf(bad, sizeof bad, "cannot %s on '%s': malformed "
			    "answer from the server", op->what,
			    op->t->base.server);
			msg = bad;
			free(name);
			free(data);
		} else {
			e[n].name = name;
			e[n].data = data;
			e[n++].len = len;
		}
	}
	op->cb.store(op->arg, status, status ? NULL : e, status ? 0 : n, msg);
	for (i = 0; i < n; i++) {
		free((char *)e[i].name);
		free((char *)e[i].data);
	}
	free(e);
}

static void deliver(struct sop *op, int status, const char *msg,
    const char *out)
{
	struct transport_run_result r;
	struct transport_undo *u;
	char *data, *o, *e;
	size_t len = 0;

	switch (op->kind) {
	case SOP_READ_FILE:
	case SOP_KEYGEN:
		data = status ? NULL : block(line_with(out, "CF-OK"), &len);
		if (status == 0 && data == NULL) {
			status = CF_ETRANSPORT;
			msg = "malformed answer from the server";
		}
		op->cb.file(op->arg, status, data, data ? len : 0, msg);
		OPENSSL_clear_free(data, len);
		return;
	case SOP_READ_STORE:
		deliver_store(op, status, msg, out);
		return;
	case SOP_INSTALL:
		u = NULL;
		if (status == 0) {
			const char *undo = line_with(out, "CF-UNDO");
			const char *sp = undo ? strchr(undo, ' ') : NULL;

			if ((u = calloc(1, sizeof(*u))) != NULL) {
				u->store = strdup(op->store);
				u->pointer = strdup(op->pointer);
				u->previous = word64(undo);
				u->current = word64(sp ? sp + 1 : NULL);
				u->links = op->links;
				op->links = NULL;
				if (u->previous && *u->previous == '\0') {
					free(u->previous);
					u->previous = NULL;
				}
			}
			if (u == NULL || u->current == NULL) {
				transport_undo_free(u);
				u = NULL;
				status = CF_ETRANSPORT;
				msg = "malformed answer from the server";
			}
		}
		op->cb.install(op->arg, status, u, msg);
		return;
	case SOP_ROLLBACK:
	case SOP_WRITE_FILE:
	case SOP_REMOVE:
		op->cb.status(op->arg, status, msg);
		return;
	case SOP_RUN:
		memset(&r, 0, sizeof r);
		o = word64(line_with(out, "CF-OUT"));
		e = word64(line_with(out, "CF-ERROUT"));
		r.out = o ? o : "";
		r.outlen = strlen(r.out);
		r.err = e ? e : "";
		r.errlen = strlen(r.err);
		if (status == 0 && line_with(out, "CF-EXIT"))
			r.exit_status = atoi(line_with(out, "CF-EXIT"));
		else
			r.exit_status = -1;
		/* timeout(1) says 124, or 137 once it had to kill. */
		if (status == 0 && op->max > 0 && (r.exit_status == 124 ||
		    r.exit_status == 137)) {
			status = CF_ETIMEDOUT;
			msg = "timed out on the server and was killed";
		}
		op->cb.run(op->arg, status, &r, msg);
		free(o);
		free(e);
		return;
	case SOP_EXIT:
	case SOP_BATCH:
		return;
	}
}

/* The CF_E* code the helper names after "CF-ERR <message> ": "EINVAL"
 * for CF_EINVAL; CF_EIO when it names none. */
static int err_code(const char *p)
{
	static const struct {
		const char *name;
		int code;
	} codes[] = {
#define XX(code, _) { #code, CF_##code },
		CF_ERRNO_MAP(XX)
#undef XX
	};
	size_t i, n;

	p += strcspn(p, " \n");
	p += strspn(p, " ");
	n = strcspn(p, " \n");
	for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (strlen(codes[i].name) == n &&
		    strncmp(p, codes[i].name, n) == 0)
			return codes[i].code;
	return CF_EIO;
}

/* Hands an answered operation's result to its callback, with the status
 * and message that what ssh and the helper said make. */
static void sop_conclude(struct sop *op, const struct proc_result *a)
{
	const char *err = line_with(a->out, "CF-ERR"), *why = NULL;
	char reason[512], msg[768], *text = NULL;
	int status = 0;

	if (a->timed_out) {
		status = CF_ETIMEDOUT;
		why = "timed out";
	} else if (a->exit_status == 255 /* ssh's own failure */ ||
	    (!line_with(a->out, "CF-OK") && err == NULL &&
	    !line_with(a->out, "CF-ENOENT"))) {
		ssh_reason(a, reason, sizeof reason);
		status = CF_ETRANSPORT;
		why = reason;
	} else if (err != NULL) {
		status = err_code(err);
		why = (text = word64(err)) != NULL ? text : "failed";
	} else if (line_with(a->out, "CF-ENOENT") != NULL) {
		status = CF_ENOENT;
		why = "no such file";
	} else if (a->out_over) {
		status = CF_EINVAL;
		snprintf(reason, sizeof reason, "the answer is larger than %d "
		    "bytes", OUT_MAX);
		why = reason;
	}
	msg[0] = '\0';
	if (why != NULL)
		snprintf(msg, sizeof msg, "cannot %s on '%s': %s", op->what,
		    op->t->base.server, why);
	free(text);
	deliver(op, status, msg, a->out);
}

/*
 * Splits a batch's answer: part i is the text after the line "CF-PART i"
 * up to the next "CF-PART" or "CF-DONE" line. Base64 has no '-', so no
 * data line can look like one. False when the answer is cut short.
 */
static bool batch_split(const char *out, size_t n, const char **start,
    size_t *len)
{
	const char *p = out, *nl;
	size_t next = 0;
	bool done, part;

	while ((nl = strchr(p, '\n')) != NULL) {
		done = strncmp(p, "CF-DONE\n", 8) == 0;
		part = strncmp(p, "CF-PART ", 8) == 0;
		if (done || part) {
			if (next > 0)
				len[next - 1] = (size_t)(p - start[next - 1]);
			if (done)
				return next == n;
			if (next == n || strtoul(p + 8, NULL, 10) != next)
				return false;
			start[next++] = nl + 1;
		}
		p = nl + 1;
	}
	return false;
}

/* The text before a batch's first part: where the helper says why the
 * whole batch failed, if it did. */
static size_t batch_prologue(const char *out)
{
	const char *p = out;

	while (p != NULL && strncmp(p, "CF-PART ", 8) != 0)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	return p ? (size_t)(p - out) : strlen(out);
}

/*
 * Answers every read of a batch as if it had been a session of its own:
 * each gets its part of the answer, and the session's fate (timed out,
 * ssh failed, answer too large or cut short) becomes each one's, so
 * statuses and messages are those of standalone reads.
 */
static void batch_finish(struct sop *b, const struct proc_result *a)
{
	const char **start = calloc(b->nparts, sizeof(*start));
	size_t *len = calloc(b->nparts, sizeof(*len)), i;
	bool split = start && len && !a->out_over &&
	    batch_split(a->out, b->nparts, start, len);
	struct proc_result part = *a;
	char *text;

	for (i = 0; i < b->nparts; i++) {
		if (a->out_over)
			text = strdup("CF-OK\n");
		else if (split)
			text = strndup(start[i], len[i]);
		else
			text = strndup(a->out, batch_prologue(a->out));
		part.out = text ? text : "";
		sop_conclude(b->parts[i], &part);
		OPENSSL_clear_free(text, text ? strlen(text) : 0);
		sop_free(b->parts[i]);
		b->parts[i] = NULL;
	}
	free(start);
	free(len);
}

/* proc_run's callback: the session is over, its handles closed. */
static void on_done(void *arg, int status, const struct proc_result *r,
    const char *msg)
{
	struct sop *op = arg;
	struct tsh *t = op->t;
	struct proc_result a = *r;
	char why[300];

	if (status != 0) {
		/* Told as ssh itself failing, like a refused connection. */
		snprintf(why, sizeof why, "cannot start ssh: %s",
		    r->start_error ? uv_strerror(r->start_error) : msg);
		a.err = why;
		a.exit_status = 255;
	}
	if (op->kind == SOP_BATCH)
		batch_finish(op, &a);
	else
		sop_conclude(op, &a);
	sop_free(op);
	t->pending--;
	tsh_maybe_closed(t);
}

/* Completes op's script (its operation, the root, the helper) and starts
 * ssh; on error nothing is started and op is freed. */
static int sop_send(struct sop *op, unsigned timeout_s)
{
	struct tsh *t = op->t;
	const char *name = kinds[op->kind].op;
	struct proc_spec spec = { .out_cap = OUT_MAX,
	    .err_cap = TRANSPORT_CAPTURE,
	    .timeout_ms = (unsigned)(t->connect_timeout + timeout_s) * 1000 };
	char **argv = NULL;
	size_t i;
	int rc = CF_ENOMEM;

	assign_var(op, "CF_OP", name, strlen(name));
	assign_var(op, "CF_ROOT", t->root, strlen(t->root));
	script_add(op, ssh_remote_script, strlen(ssh_remote_script));
	if (op->failed || (argv = calloc(t->nssh + 6, sizeof(*argv))) == NULL)
		goto out;

	/* ssh OPTIONS [-O exit] -- HOST ["sh -s"]: the host after "--" so
	 * nothing can read as an option; the remote command is fixed. */
	memcpy(argv, t->ssh_argv, t->nssh * sizeof(*argv));
	i = t->nssh;
	if (op->kind == SOP_EXIT) {
		argv[i++] = "-O";
		argv[i++] = "exit";
	}
	argv[i++] = "--";
	argv[i++] = t->host;
	/* "ssh -O exit" reads no stdin: nothing to send it. */
	if (op->kind != SOP_EXIT) {
		argv[i++] = "sh -s";
		spec.in = op->script->data;
		spec.inlen = op->script->length;
	}
	spec.argv = argv;
	if ((rc = proc_run(t->base.loop, &spec, on_done, op)) == 0)
		t->pending++;
out:
	/* Cleansed as soon as ssh has its copy. */
	free(argv);
	BUF_MEM_free(op->script);
	op->script = NULL;
	if (rc != 0)
		sop_free(op);
	return rc;
}

/* A new operation for tp's server, which cb answers; path (or NULL) is
 * what it names in messages. NULL when tp is closing or memory runs out. */
static struct sop *sop_new(struct transport *tp, enum sop_kind kind,
    union sop_cb cb, void *arg, const char *path)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	const char *verb = kinds[kind].verb;
	struct sop *op;

	/* A batch only carries reads queued before the close. */
	if (t->closing && kind != SOP_EXIT && kind != SOP_BATCH)
		return NULL;
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->t = t;
	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	op->what = path ? cf_asprintf("%s '%s'", verb, path) : strdup(verb);
	if (op->what == NULL || (op->script = BUF_MEM_new()) == NULL) {
		sop_free(op);
		return NULL;
	}
	return op;
}

/* ---- the operations ---- */

/*
 * Starts a batch of queued reads (one or more): CF_A0 is their count,
 * then each read's operation, path and limit. The helper answers each
 * after a line "CF-PART i" and ends with "CF-DONE" (see batch_split).
 */
static int batch_start(struct tsh *t, struct sop *list, size_t n)
{
	struct sop *b = sop_new(&t->base, SOP_BATCH, (union sop_cb){ NULL },
	    NULL, NULL), *op;
	size_t i;
	int rc;

	if (b == NULL || (b->parts = calloc(n, sizeof(*b->parts))) == NULL) {
		sop_free(b);
		return CF_ENOMEM;
	}
	sop_argf(b, "%zu", n);
	for (op = list; op != NULL; op = op->next) {
		sop_argf(b, "%s", kinds[op->kind].op);
		sop_argf(b, "%s", op->qpath);
		sop_argf(b, "%zu", op->max);
	}
	if ((rc = sop_send(b, OP_TIMEOUT_S)) != 0)
		return rc;
	/* From here the batch answers (and frees) the reads. */
	for (i = 0, op = list; i < n; i++, op = op->next)
		b->parts[i] = op;
	b->nparts = n;
	return 0;
}

/* Reads that could not be started are answered from the loop all the same,
 * with the reason (why, or rc's text), as the interface promises a
 * callback once started. */
static void queue_fail(struct tsh *t, struct sop *list, int rc,
    const char *why)
{
	struct sop *next;

	/* Counted, so a callback closing t cannot free it under us. */
	t->pending++;
	for (; list != NULL; list = next) {
		char msg[512];

		next = list->next;
		snprintf(msg, sizeof msg, "cannot %s on '%s': %s", list->what,
		    t->base.server, why ? why : cf_strerror(rc));
		deliver(list, rc, msg, "");
		sop_free(list);
	}
	t->pending--;
}

/* The idle handle's callback: the reads queued in this loop iteration
 * leave as one session. */
static void on_flush(uv_idle_t *h)
{
	struct tsh *t = h->data;
	struct sop *list = t->queue, **pp, *bad = NULL, *op;
	size_t n = t->nqueued;
	int rc = 0;

	uv_idle_stop(h);
	t->queue = t->queue_tail = NULL;
	t->nqueued = 0;
	/* Paths that are not confined are refused through the callback, as
	 * transport.h says reads are. */
	for (pp = &list; (op = *pp) != NULL;) {
		if (path_is_confined(op->qpath)) {
			pp = &op->next;
			continue;
		}
		*pp = op->next;
		op->next = bad;
		bad = op;
		n--;
	}
	if (bad != NULL)
		queue_fail(t, bad, CF_EINVAL, "not a server path below the "
		    "root");
	if (n > 0 && (rc = batch_start(t, list, n)) != 0)
		queue_fail(t, list, rc, NULL);
	tsh_maybe_closed(t);
}

/* Queues a read for on_flush with cb, which is not NULL; it counts as in
 * flight from here on. */
static int queue_read(struct transport *tp, enum sop_kind kind,
    const char *path, size_t max, union sop_cb cb, void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	struct sop *op;

	if (path == NULL)
		return CF_EINVAL;
	if ((op = sop_new(tp, kind, cb, arg, path)) == NULL)
		return CF_ENOMEM;
	if ((op->qpath = strdup(path)) == NULL ||
	    (t->nqueued == 0 && uv_idle_start(&t->flush, on_flush) != 0)) {
		sop_free(op);
		return CF_ENOMEM;
	}
	op->max = max;
	if (t->queue_tail != NULL)
		t->queue_tail->next = op;
	else
		t->queue = op;
	t->queue_tail = op;
	t->nqueued++;
	return 0;
}

static int tsh_read_file(struct transport *tp, const char *path, size_t max,
    transport_file_cb cb, void *arg)
{
	return cb == NULL ? CF_EINVAL : queue_read(tp, SOP_READ_FILE, path,
	    max, (union sop_cb){ .file = cb }, arg);
}

static int tsh_read_store(struct transport *tp, const char *path, size_t max,
    transport_store_cb cb, void *arg)
{
	return cb == NULL ? CF_EINVAL : queue_read(tp, SOP_READ_STORE, path,
	    max, (union sop_cb){ .store = cb }, arg);
}

static int tsh_write_file(struct transport *tp, const char *path,
    const void *data, size_t len, unsigned mode, transport_status_cb cb,
    void *arg)
{
	struct sop *op;

	if (!transport_path_below_root(path) || cb == NULL)
		return CF_EINVAL;
	if ((op = sop_new(tp, SOP_WRITE_FILE, (union sop_cb){ .status = cb },
	    arg, path)) == NULL)
		return CF_ENOMEM;
	sop_argf(op, "%s", path);
	sop_argf(op, "%04o", mode & 07777);
	sop_arg(op, data, len);
	return sop_send(op, OP_TIMEOUT_S);
}

/*
 * The set is checked as every transport checks it (transport_set_check)
 * and its paths go in normal form, so that the undo record the helper
 * answers with holds server paths like the local transport's.
 */
static int tsh_install(struct transport *tp, const struct transport_set *set,
    transport_install_cb cb, void *arg)
{
	const struct transport_member *m;
	char *pointer, *from;
	struct sop *op;
	size_t i;

	if (cb == NULL || transport_set_check(set, true) != 0)
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
	sop_argf(op, "%s", op->store);
	sop_argf(op, "%s", op->pointer);
	sop_argf(op, "%zu", set->nmembers);
	for (i = 0; i < set->nmembers; i++) {
		m = &set->members[i];
		from = m->from ? transport_path_norm(m->from) : NULL;
		if ((op->links[i] = transport_path_norm(m->link)) == NULL ||
		    (m->from != NULL && from == NULL)) {
			free(from);
			goto no_mem;
		}
		sop_argf(op, "%s", m->name);
		sop_argf(op, "%s", op->links[i]);
		sop_argf(op, "%04o", m->mode & 07777);
		sop_arg(op, m->data, m->len);
		sop_argf(op, "%s", from ? from : "");
		free(from);
	}
	return sop_send(op, OP_TIMEOUT_S);
no_mem:
	sop_free(op);
	return CF_ENOMEM;
}

/* As install: checked as every transport checks an undo record, sent in
 * normal form, links included for a rollback to nothing. */
static int tsh_rollback(struct transport *tp, const struct transport_undo *u,
    transport_status_cb cb, void *arg)
{
	struct transport_undo *c;
	struct sop *op;
	size_t n = 0, i;
	int rc;

	if (cb == NULL)
		return CF_EINVAL;
	if ((rc = transport_undo_norm(u, &c)) != 0)
		return rc;
	if ((op = sop_new(tp, SOP_ROLLBACK, (union sop_cb){ .status = cb },
	    arg, c->pointer)) != NULL) {
		while (c->links[n] != NULL)
			n++;
		sop_argf(op, "%s", c->store);
		sop_argf(op, "%s", c->pointer);
		sop_argf(op, "%s", c->previous ? c->previous : "");
		sop_argf(op, "%s", c->current);
		sop_argf(op, "%zu", n);
		for (i = 0; i < n; i++)
			sop_argf(op, "%s", c->links[i]);
	}
	transport_undo_free(c);
	return op == NULL ? CF_ENOMEM : sop_send(op, OP_TIMEOUT_S);
}

static int tsh_remove(struct transport *tp, const char *path,
    transport_status_cb cb, void *arg)
{
	struct sop *op;

	if (!transport_path_below_root(path) || cb == NULL)
		return CF_EINVAL;
	if ((op = sop_new(tp, SOP_REMOVE, (union sop_cb){ .status = cb },
	    arg, path)) == NULL)
		return CF_ENOMEM;
	sop_argf(op, "%s", path);
	return sop_send(op, OP_TIMEOUT_S);
}

/* Arguments: the timeout, the argument count and the arguments, then the
 * environment's count and each entry's name and value, every one base64
 * like all arguments: the helper exports them, never parsing a value. */
static int tsh_run(struct transport *tp, char *const argv[],
    char *const env[], unsigned timeout_ms, transport_run_cb cb, void *arg)
{
	unsigned secs = (timeout_ms + 999) / 1000;
	struct sop *op;
	size_t n = 0, ne = 0, i, len;

	if (argv == NULL || argv[0] == NULL || cb == NULL ||
	    env_check(env) != 0)
		return CF_EINVAL;
	if ((op = sop_new(tp, SOP_RUN, (union sop_cb){ .run = cb }, arg,
	    argv[0])) == NULL)
		return CF_ENOMEM;
	op->max = secs;
	while (argv[n] != NULL)
		n++;
	while (env != NULL && env[ne] != NULL)
		ne++;
	sop_argf(op, "%u", secs);
	sop_argf(op, "%zu", n);
	for (i = 0; i < n; i++)
		sop_argf(op, "%s", argv[i]);
	sop_argf(op, "%zu", ne);
	for (i = 0; i < ne; i++) {
		len = strcspn(env[i], "=");
		sop_arg(op, env[i], len);
		sop_arg(op, env[i] + len + 1, strlen(env[i] + len + 1));
	}
	/* The server's timeout(1) ends the command; ours ends ssh after it. */
	return sop_send(op, secs + 15);
}

static int tsh_keygen(struct transport *tp, const char *keytype,
    const char *key_path, const char *cn, const char *san,
    transport_file_cb cb, void *arg)
{
	struct sop *op;

	if (!transport_path_below_root(key_path) || cb == NULL ||
	    keytype == NULL || cn == NULL || san == NULL ||
	    str_has_control(cn) || str_has_control(san))
		return CF_EINVAL;
	if ((op = sop_new(tp, SOP_KEYGEN, (union sop_cb){ .file = cb }, arg,
	    key_path)) == NULL)
		return CF_ENOMEM;
	sop_argf(op, "%s", keytype);
	sop_argf(op, "%s", key_path);
	sop_argf(op, "%s", cn);
	sop_argf(op, "%s", san);
	return sop_send(op, OP_TIMEOUT_S);
}
static void tsh_free(struct tsh *t)
{
	strv_free(t->ssh_argv);
	free(t->host);
	free(t->root);
	free(t->base.server);
	free(t);
}

static void on_flush_closed(uv_handle_t *h)
{
	struct tsh *t = h->data;
	void (*cb)(void *) = t->close_cb;
	void *arg = t->close_arg;

	tsh_free(t);
	if (cb != NULL)
		cb(arg);
}

static void tsh_maybe_closed(struct tsh *t)
{
	if (!t->closing || t->pending > 0 || t->nqueued > 0 ||
	    t->flush_closed)
		return;
	if (!t->master_stopped) {
		struct sop *op = sop_new(&t->base, SOP_EXIT,
		    (union sop_cb){ NULL }, NULL, NULL);

		t->master_stopped = true;
		/* "ssh -O exit" stops this server's ControlMaster; best
		 * effort, a failure only means there was none. */
		if (op != NULL)
			sop_send(op, 5);
		if (t->pending > 0)
			return;
	}
	/* The flush handle is the last thing of t the loop knows. */
	t->flush_closed = true;
	uv_close((uv_handle_t *)&t->flush, on_flush_closed);
}

static void tsh_close(struct transport *tp, void (*cb)(void *arg), void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);

	t->closing = true;
	t->close_cb = cb;
	t->close_arg = arg;
	/* Even with nothing in flight, the callback comes from the loop:
	 * stopping the ControlMaster is an operation of its own. */
	tsh_maybe_closed(t);
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

/* FNV-1a of the server's name: one ControlMaster per server, even for
 * servers that share a host, so that one closing never cuts another off;
 * short, because a socket path is limited to about 100 bytes. */
static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

int transport_ssh_open(struct transport **out, uv_loop_t *loop,
    const char *server, const struct ssh_target *tg, char *msg,
    size_t msgsz)
{
	struct tsh *t;
	bool ok;

	if (tg->address == NULL || tg->address[0] == '-' ||
	    tg->control_dir == NULL)
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
	/* BatchMode: never a prompt. One ControlMaster per server. */
	t->host = strdup(tg->address);
	ok = t->base.server && t->root && t->host &&
	    add_arg(t, NULL, "ssh") && add_arg(t, NULL, "-T") &&
	    add_arg(t, "-o", "BatchMode=yes") &&
	    add_arg(t, "-o", "LogLevel=ERROR") &&
	    add_arg(t, "-o", "ControlMaster=auto") &&
	    add_arg(t, "-o", "ControlPath=%s/%016llx", tg->control_dir,
	    (unsigned long long)name_hash(server)) &&
	    add_arg(t, "-o", "ControlPersist=60") &&
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
	if (!ok) {
		tsh_free(t);
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	uv_idle_init(loop, &t->flush);
	t->flush.data = t;
	*out = &t->base;
	return 0;
}
