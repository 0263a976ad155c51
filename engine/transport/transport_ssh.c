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
#include "engine/base/err.h"
#include "engine/base/strv.h"
#include "engine/base/path.h"
#include "engine/base/proc.h"
#include "engine/base/str.h"
#include "engine/transport/ssh_script.h"

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

/* A growable byte buffer: the script fed to ssh. It may hold key bytes
 * (base64), so a buffer it outgrows is cleansed, never realloc'd. */
struct buf {
	char *p;
	size_t len;
	size_t cap;
};

/* What one session answered: borrowed from proc_run's result. */
struct answer {
	const char *out;            /* the helper's lines, NUL-ended */
	bool over;                  /* longer than OUT_MAX, cut there */
	const char *err;            /* ssh's complaints */
	int exit_status;            /* 255: ssh itself failed */
	bool timed_out;
};

/* One ssh session and what it is for. */
struct sop {
	struct tsh *t;
	enum sop_kind kind;
	char *what;                 /* for messages: "read 'certs/x'" */
	size_t max;                 /* run: its timeout in seconds */
	char *store;                /* install, rollback: for the undo */
	char *pointer;
	char **links;
	void *arg;
	/* A queued read: its operation and arguments, kept until it starts. */
	struct sop *next;
	const char *opname;
	char *qpath;
	char qmax[32];
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

static bool buf_add(struct buf *b, const char *p, size_t n)
{
	char *np;
	size_t cap;

	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = malloc(cap)) == NULL)
			return false;
		if (b->p != NULL) {
			memcpy(np, b->p, b->len);
			OPENSSL_cleanse(b->p, b->len);
			free(b->p);
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return true;
}

/* Base64 of n bytes, no newlines: safe inside single quotes remotely. */
static char *b64(const void *p, size_t n)
{
	char *s = malloc(4 * ((n + 2) / 3) + 1);

	if (s != NULL)
		EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
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

/* Appends "NAME='BASE64'\n" to the script being built. */
static bool assign_var(struct buf *s, const char *name, const void *v,
    size_t n)
{
	char *e = b64(v, n);
	bool ok;

	ok = e != NULL && buf_add(s, name, strlen(name)) &&
	    buf_add(s, "='", 2) && buf_add(s, e, strlen(e)) &&
	    buf_add(s, "'\n", 2);
	if (e != NULL)
		OPENSSL_cleanse(e, strlen(e));
	free(e);
	return ok;
}

/* ---- the operation's life ---- */

static void sop_free(struct sop *op)
{
	size_t i;

	for (i = 0; i < op->nparts; i++)
		if (op->parts[i] != NULL)
			sop_free(op->parts[i]);
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
static void ssh_reason(const struct answer *a, char *buf, size_t bufsz)
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
	size_t n = p ? strcspn(p, " \n") : 0, len;

	if (p == NULL)
		return NULL;
	if (n == 0)
		return strdup("");
	return unb64(p, n, &len);
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
	if (end == start) {
		*len = 0;
		return strdup("");
	}
	return unb64(start, (size_t)(end - start), len);
}

static void deliver_store(struct sop *op, const char *out)
{
	struct transport_entry *e = NULL, *ne = NULL;
	size_t n = 0, i, len;
	const char *p = out;
	char msg[256], *name, *data;
	int status = 0;

	while (status == 0 && (p = line_with(p, "CF-FILE")) != NULL) {
		name = word64(p);
		data = block(p, &len);
		if ((ne = realloc(e, (n + 1) * sizeof(*e))) != NULL)
			e = ne;
		if (name == NULL || data == NULL || ne == NULL) {
			status = ne == NULL ? CF_ENOMEM : CF_ETRANSPORT;
			free(name);
			free(data);
		} else {
			e[n].name = name;
			e[n].data = data;
			e[n++].len = len;
		}
	}
	snprintf(msg, sizeof msg, "cannot %s on '%s': malformed answer from "
	    "the server", op->what, op->t->base.server);
	op->cb.store(op->arg, status, status ? NULL : e, status ? 0 : n,
	    status ? msg : "");
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
		if (status != 0) {
			op->cb.file(op->arg, status, NULL, 0, msg);
			return;
		}
		if ((data = block(line_with(out, "CF-OK"), &len)) == NULL) {
			op->cb.file(op->arg, CF_ETRANSPORT, NULL, 0,
			    "malformed answer from the server");
			return;
		}
		op->cb.file(op->arg, 0, data, len, "");
		OPENSSL_cleanse(data, len);
		free(data);
		return;
	case SOP_READ_STORE:
		if (status != 0)
			op->cb.store(op->arg, status, NULL, 0, msg);
		else
			deliver_store(op, out);
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

/* The status of an answered operation and its message, from what ssh
 * and the helper said. */
static int sop_verdict(const struct sop *op, const struct answer *a,
    char *msg, size_t msgsz)
{
	const char *server = op->t->base.server, *err;
	char reason[512];
	int status = 0;
	char *text;

	if (a->timed_out) {
		status = CF_ETIMEDOUT;
		snprintf(msg, msgsz, "cannot %s on '%s': timed out",
		    op->what, server);
	} else if (a->exit_status == 255 || (!line_with(a->out, "CF-OK") &&
	    !line_with(a->out, "CF-ERR") && !line_with(a->out, "CF-ENOENT"))) {
		ssh_reason(a, reason, sizeof reason);
		status = CF_ETRANSPORT;
		snprintf(msg, msgsz, "cannot %s on '%s': %s", op->what,
		    server, reason);
	} else if ((err = line_with(a->out, "CF-ERR")) != NULL) {
		text = word64(err);
		status = err_code(err);
		snprintf(msg, msgsz, "cannot %s on '%s': %s", op->what,
		    server, text ? text : "failed");
		free(text);
	} else if (line_with(a->out, "CF-ENOENT") != NULL) {
		status = CF_ENOENT;
		snprintf(msg, msgsz, "cannot %s on '%s': no such file",
		    op->what, server);
	} else if (a->over) {
		status = CF_EINVAL;
		snprintf(msg, msgsz, "cannot %s on '%s': the answer is "
		    "larger than %d bytes", op->what, server, OUT_MAX);
	} else {
		msg[0] = '\0';
	}
	return status;
}

/* Hands an answered operation's result to its callback. */
static void sop_conclude(struct sop *op, const struct answer *a)
{
	char msg[768];
	int status = sop_verdict(op, a, msg, sizeof msg);

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
static void batch_finish(struct sop *b, const struct answer *a)
{
	const char **start = calloc(b->nparts, sizeof(*start));
	size_t *len = calloc(b->nparts, sizeof(*len)), i;
	bool split = start && len && !a->over &&
	    batch_split(a->out, b->nparts, start, len);
	struct answer part = *a;
	char *text;

	for (i = 0; i < b->nparts; i++) {
		if (a->over)
			text = strdup("CF-OK\n");
		else if (split)
			text = strndup(start[i], len[i]);
		else
			text = strndup(a->out, batch_prologue(a->out));
		part.out = text ? text : "";
		sop_conclude(b->parts[i], &part);
		if (text != NULL)
			OPENSSL_cleanse(text, strlen(text));
		free(text);
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
	struct answer a = { r->out, r->out_over, r->err, r->exit_status,
	    r->timed_out };
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

/* Builds the script and starts ssh; on error nothing is left behind. */
static int sop_start(struct sop *op, const char *opname, char *const *args,
    const size_t *lens, size_t nargs, unsigned timeout_s)
{
	struct tsh *t = op->t;
	struct buf s = { NULL, 0, 0 };
	struct proc_spec spec;
	char name[32], **argv = NULL;
	size_t i;
	int rc = CF_ENOMEM;

	if (!assign_var(&s, "CF_OP", opname, strlen(opname)) ||
	    !assign_var(&s, "CF_ROOT", t->root, strlen(t->root)))
		goto out;
	for (i = 0; i < nargs; i++) {
		snprintf(name, sizeof name, "CF_A%zu", i);
		if (!assign_var(&s, name, args[i], lens ? lens[i] :
		    strlen(args[i])))
			goto out;
	}
	if (!buf_add(&s, ssh_remote_script, strlen(ssh_remote_script)))
		goto out;

	/* ssh OPTIONS [-O exit] -- HOST ["sh -s"]: the host after "--" so
	 * nothing can read as an option; the remote command is fixed. */
	if ((argv = calloc(t->nssh + 6, sizeof(*argv))) == NULL)
		goto out;
	memcpy(argv, t->ssh_argv, t->nssh * sizeof(*argv));
	i = t->nssh;
	if (op->kind == SOP_EXIT) {
		argv[i++] = "-O";
		argv[i++] = "exit";
	}
	argv[i++] = "--";
	argv[i++] = t->host;
	if (op->kind != SOP_EXIT)
		argv[i++] = "sh -s";

	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	/* "ssh -O exit" reads no stdin: nothing to send it. */
	spec.in = op->kind == SOP_EXIT ? NULL : s.p;
	spec.inlen = op->kind == SOP_EXIT ? 0 : s.len;
	spec.out_cap = OUT_MAX;
	spec.err_cap = TRANSPORT_CAPTURE;
	spec.timeout_ms = (unsigned)(t->connect_timeout + timeout_s) * 1000;
	if ((rc = proc_run(t->base.loop, &spec, on_done, op)) == 0)
		t->pending++;
out:
	free(argv);
	if (s.p != NULL)
		OPENSSL_cleanse(s.p, s.len);
	free(s.p);
	return rc;
}

static struct sop *sop_new(struct tsh *t, enum sop_kind kind, void *arg,
    const char *verb, const char *path)
{
	struct sop *op;

	/* A batch only carries reads queued before the close. */
	if (t->closing && kind != SOP_EXIT && kind != SOP_BATCH)
		return NULL;
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return NULL;
	op->t = t;
	op->kind = kind;
	op->arg = arg;
	if ((op->what = path ? cf_asprintf("%s '%s'", verb, path) :
	    strdup(verb)) == NULL) {
		free(op);
		return NULL;
	}
	return op;
}

static int start_or_free(struct sop *op, const char *opname,
    char *const *args, const size_t *lens, size_t n, unsigned timeout_s)
{
	int rc = sop_start(op, opname, args, lens, n, timeout_s);

	if (rc != 0)
		sop_free(op);
	return rc;
}

/* ---- the operations ---- */

/*
 * Starts a batch of queued reads (at least two): CF_A0 is their count,
 * then each read's operation, path and limit. The helper answers each
 * after a line "CF-PART i" and ends with "CF-DONE" (see batch_split).
 */
static int batch_start(struct tsh *t, struct sop *list, size_t n)
{
	struct sop *b = sop_new(t, SOP_BATCH, NULL, "read", NULL), *op;
	char count[32], **args = calloc(1 + 3 * n, sizeof(*args));
	size_t i;
	int rc;

	if (b == NULL || args == NULL ||
	    (b->parts = calloc(n, sizeof(*b->parts))) == NULL) {
		if (b != NULL)
			sop_free(b);
		free(args);
		return CF_ENOMEM;
	}
	snprintf(count, sizeof count, "%zu", n);
	args[0] = count;
	for (i = 0, op = list; i < n; i++, op = op->next) {
		args[1 + 3 * i] = (char *)op->opname;
		args[2 + 3 * i] = op->qpath;
		args[3 + 3 * i] = op->qmax;
	}
	rc = sop_start(b, "batch", args, NULL, 1 + 3 * n, OP_TIMEOUT_S);
	free(args);
	if (rc != 0) {
		sop_free(b);
		return rc;
	}
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
 * leave as one session; a single read is sent as its plain operation. */
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
	if (n == 1) {
		char *args[2] = { list->qpath, list->qmax };

		rc = sop_start(list, list->opname, args, NULL, 2,
		    OP_TIMEOUT_S);
	} else if (n > 1) {
		rc = batch_start(t, list, n);
	}
	if (rc != 0)
		queue_fail(t, list, rc, NULL);
	tsh_maybe_closed(t);
}

/* Queues a read for on_flush with cb, which is not NULL; it counts as in
 * flight from here on. */
static int queue_read(struct transport *tp, enum sop_kind kind,
    const char *path, size_t max, union sop_cb cb, void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	bool file = kind == SOP_READ_FILE;
	struct sop *op;

	if (path == NULL)
		return CF_EINVAL;
	if ((op = sop_new(t, kind, arg, file ? "read" : "read store",
	    path)) == NULL)
		return CF_ENOMEM;
	if ((op->qpath = strdup(path)) == NULL) {
		sop_free(op);
		return CF_ENOMEM;
	}
	if (t->nqueued == 0 && uv_idle_start(&t->flush, on_flush) != 0) {
		sop_free(op);
		return CF_ENOMEM;
	}
	op->opname = file ? "read_file" : "read_store";
	op->cb = cb;
	snprintf(op->qmax, sizeof op->qmax, "%zu", max);
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
	struct tsh *t = container_of(tp, struct tsh, base);
	char modes[16], *args[3];
	size_t lens[3];
	struct sop *op;

	if (!transport_path_below_root(path) || cb == NULL)
		return CF_EINVAL;
	if ((op = sop_new(t, SOP_WRITE_FILE, arg, "write", path)) == NULL)
		return CF_ENOMEM;
	op->cb.status = cb;
	snprintf(modes, sizeof modes, "%04o", mode & 07777);
	args[0] = (char *)path;
	args[1] = modes;
	args[2] = (char *)data;
	lens[0] = strlen(path);
	lens[1] = strlen(modes);
	lens[2] = len;
	return start_or_free(op, "write_file", args, lens, 3, OP_TIMEOUT_S);
}

/*
 * The set is checked as every transport checks it (transport_set_check)
 * and its paths go in normal form, so that the undo record the helper
 * answers with holds server paths like the local transport's.
 */
static int tsh_install(struct transport *tp, const struct transport_set *set,
    transport_install_cb cb, void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	char *pointer, *args[3 + 5 * 16], *from[16] = { NULL }, modes[16][8];
	size_t lens[3 + 5 * 16], n, i;
	char count[16];
	struct sop *op;
	int rc = CF_ENOMEM;

	if (cb == NULL || transport_set_check(set, true) != 0 ||
	    set->nmembers > 16)
		return CF_EINVAL;
	if ((pointer = transport_path_norm(set->pointer)) == NULL)
		return CF_ENOMEM;
	op = sop_new(t, SOP_INSTALL, arg, "install", pointer);
	free(pointer);
	if (op == NULL)
		return CF_ENOMEM;
	op->cb.install = cb;
	op->store = transport_path_norm(set->store);
	op->pointer = transport_path_norm(set->pointer);
	op->links = calloc(set->nmembers + 1, sizeof(char *));
	if (op->store == NULL || op->pointer == NULL || op->links == NULL)
		goto out;
	n = 3 + 5 * set->nmembers;
	snprintf(count, sizeof count, "%zu", set->nmembers);
	args[0] = op->store;
	args[1] = op->pointer;
	args[2] = count;
	for (i = 0; i < set->nmembers; i++) {
		const struct transport_member *m = &set->members[i];

		if ((op->links[i] = transport_path_norm(m->link)) == NULL ||
		    (m->from && (from[i] = transport_path_norm(m->from)) ==
		    NULL))
			goto out;
		snprintf(modes[i], sizeof modes[i], "%04o", m->mode & 07777);
		args[3 + 5 * i] = (char *)m->name;
		args[4 + 5 * i] = op->links[i];
		args[5 + 5 * i] = modes[i];
		args[6 + 5 * i] = m->data ? (char *)m->data : "";
		args[7 + 5 * i] = from[i] ? from[i] : "";
	}
	/* Every argument but the data is a string. */
	for (i = 0; i < n; i++)
		lens[i] = i >= 6 && (i - 6) % 5 == 0 ?
		    set->members[(i - 6) / 5].len : strlen(args[i]);
	rc = sop_start(op, "install", args, lens, n, OP_TIMEOUT_S);
	op = rc == 0 ? NULL : op;
out:
	for (i = 0; i < set->nmembers; i++)
		free(from[i]);
	if (op != NULL)
		sop_free(op);
	return rc;
}

/* As install: checked as every transport checks an undo record, sent in
 * normal form, links included for a rollback to nothing. */
static int tsh_rollback(struct transport *tp, const struct transport_undo *u,
    transport_status_cb cb, void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	struct transport_undo *c;
	char count[32], **args;
	struct sop *op = NULL;
	size_t n = 0, i;
	int rc = CF_ENOMEM;

	if (cb == NULL)
		return CF_EINVAL;
	if ((rc = transport_undo_norm(u, &c)) != 0)
		return rc;
	while (c->links[n] != NULL)
		n++;
	if ((args = calloc(5 + n, sizeof(*args))) == NULL ||
	    (op = sop_new(t, SOP_ROLLBACK, arg, "roll back", c->pointer)) ==
	    NULL)
		goto out;
	op->cb.status = cb;
	snprintf(count, sizeof count, "%zu", n);
	args[0] = c->store;
	args[1] = c->pointer;
	args[2] = c->previous ? c->previous : "";
	args[3] = c->current;
	args[4] = count;
	for (i = 0; i < n; i++)
		args[5 + i] = c->links[i];
	rc = start_or_free(op, "rollback", args, NULL, 5 + n, OP_TIMEOUT_S);
out:
	free(args);
	transport_undo_free(c);
	return rc;
}

static int tsh_remove(struct transport *tp, const char *path,
    transport_status_cb cb, void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	char *args[1];
	struct sop *op;

	if (!transport_path_below_root(path) || cb == NULL)
		return CF_EINVAL;
	if ((op = sop_new(t, SOP_REMOVE, arg, "remove", path)) == NULL)
		return CF_ENOMEM;
	op->cb.status = cb;
	args[0] = (char *)path;
	return start_or_free(op, "remove", args, NULL, 1, OP_TIMEOUT_S);
}

static int tsh_run(struct transport *tp, char *const argv[],
    unsigned timeout_ms, transport_run_cb cb, void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	size_t n = 0, i;
	char **args, ts[32], ns[32];
	unsigned secs = (timeout_ms + 999) / 1000;
	struct sop *op;
	int rc;

	if (argv == NULL || argv[0] == NULL || cb == NULL)
		return CF_EINVAL;
	while (argv[n] != NULL)
		n++;
	if ((op = sop_new(t, SOP_RUN, arg, "run", argv[0])) == NULL)
		return CF_ENOMEM;
	op->cb.run = cb;
	op->max = secs;
	if ((args = calloc(n + 2, sizeof(*args))) == NULL) {
		sop_free(op);
		return CF_ENOMEM;
	}
	snprintf(ts, sizeof ts, "%u", secs);
	snprintf(ns, sizeof ns, "%zu", n);
	args[0] = ts;
	args[1] = ns;
	for (i = 0; i < n; i++)
		args[2 + i] = argv[i];
	/* The server's timeout(1) ends the command; ours ends ssh after it. */
	rc = start_or_free(op, "run", args, NULL, n + 2, secs + 15);
	free(args);
	return rc;
}

static int tsh_keygen(struct transport *tp, const char *keytype,
    const char *key_path, const char *cn, const char *san,
    transport_file_cb cb, void *arg)
{
	struct tsh *t = container_of(tp, struct tsh, base);
	char *args[4];
	struct sop *op;

	if (!transport_path_below_root(key_path) || cb == NULL ||
	    keytype == NULL || cn == NULL || san == NULL ||
	    str_has_control(cn) || str_has_control(san))
		return CF_EINVAL;
	if ((op = sop_new(t, SOP_KEYGEN, arg, "make a key at", key_path)) ==
	    NULL)
		return CF_ENOMEM;
	op->cb.file = cb;
	args[0] = (char *)keytype;
	args[1] = (char *)key_path;
	args[2] = (char *)cn;
	args[3] = (char *)san;
	return start_or_free(op, "keygen", args, NULL, 4, OP_TIMEOUT_S);
}

static void tsh_free(struct tsh *t)
{
	size_t i;

	for (i = 0; i < t->nssh; i++)
		free(t->ssh_argv[i]);
	free(t->ssh_argv);
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
		struct sop *op = sop_new(t, SOP_EXIT, NULL, "stop", NULL);

		t->master_stopped = true;
		/* "ssh -O exit" stops this server's ControlMaster; best
		 * effort, a failure only means there was none. */
		if (op != NULL && sop_start(op, "exit", NULL, NULL, 0, 5) != 0)
			sop_free(op);
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

static bool add_arg(struct tsh *t, char *s)
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

/* Adds "-o" and the option formatted from fmt. */
static bool add_opt(struct tsh *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool add_opt(struct tsh *t, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cf_vasprintf(fmt, ap);
	va_end(ap);
	if (!add_arg(t, strdup("-o"))) {
		free(s);
		return false;
	}
	return add_arg(t, s);
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
	/* BatchMode: never a prompt. One ControlMaster per server. */
	t->host = strdup(tg->address);
	ok = t->base.server && t->root && t->host &&
	    add_arg(t, strdup("ssh")) && add_arg(t, strdup("-T")) &&
	    add_opt(t, "BatchMode=yes") && add_opt(t, "LogLevel=ERROR") &&
	    add_opt(t, "ControlMaster=auto") &&
	    add_opt(t, "ControlPath=%s/%016llx", tg->control_dir,
	    (unsigned long long)name_hash(server)) &&
	    add_opt(t, "ControlPersist=60") &&
	    add_opt(t, "ConnectTimeout=%d", t->connect_timeout) &&
	    add_opt(t, "ServerAliveInterval=10") &&
	    add_opt(t, "StrictHostKeyChecking=%s", tg->accept_new ?
	    "accept-new" : "yes");
	if (ok && tg->ssh_config)
		ok = add_arg(t, strdup("-F")) &&
		    add_arg(t, strdup(tg->ssh_config));
	if (ok && tg->identity_file)
		ok = add_arg(t, strdup("-i")) &&
		    add_arg(t, strdup(tg->identity_file)) &&
		    add_opt(t, "IdentitiesOnly=yes");
	if (ok && tg->known_hosts)
		ok = add_opt(t, "UserKnownHostsFile=%s", tg->known_hosts);
	if (ok && tg->port > 0)
		ok = add_arg(t, strdup("-p")) &&
		    add_arg(t, cf_asprintf("%d", tg->port));
	if (ok && tg->user)
		ok = add_arg(t, strdup("-l")) && add_arg(t, strdup(tg->user));
	if (!ok) {
		tsh_free(t);
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	uv_idle_init(loop, &t->flush);
	t->flush.data = t;
	*out = &t->base;
	return 0;
}
