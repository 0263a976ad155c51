/*
 * One ssh session (see ssh_session.h) on proc: stdin kept open for the
 * frames, stdout taken as it comes and cut into answers at "CF-DONE"
 * lines (ssh_frame_find_line), the timeout armed per request. Nothing is
 * sent before the helper's "CF-READY": 'sh -s' reads its script from the
 * same pipe, in blocks, and would swallow a frame sent early.
 */
#include "engine/transport/ssh_session.h"
#include "engine/base/err.h"
#include "engine/base/proc.h"
#include "engine/transport/ssh_frame.h"
#include "engine/transport/transport.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How long a stopped helper has to exit before it is killed. */
#define STOP_MS 5000

struct ssh_session {
	struct proc *p;
	size_t answer_max;
	unsigned connect_ms;
	ssh_session_answer_cb on_answer;
	ssh_session_end_cb on_end;
	void *arg;
	char *buf;                  /* stdout not yet taken, NUL-ended */
	size_t len;
	size_t size;
	size_t scan;                /* where the next line look resumes */
	char *pending;              /* a request waiting for CF-READY */
	size_t pendlen;
	bool ready;
	bool busy;                  /* a request awaits its answer */
	bool stopping;
	bool over;                  /* an answer outgrew answer_max */
};

/* Appends n bytes to s->buf, keeping a NUL after them. */
static bool append(struct ssh_session *s, const char *data, size_t n)
{
	if (!ssh_buf_room(&s->buf, &s->size, s->len, s->len + n + 1))
		return false;
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return true;
}

/* Drops the first n bytes of s->buf (cleansing them). */
static void consume(struct ssh_session *s, size_t n)
{
	memmove(s->buf, s->buf + n, s->len - n);
	OPENSSL_cleanse(s->buf + s->len - n, n);
	s->len -= n;
	s->buf[s->len] = '\0';
	s->scan = 0;
}

/* A write that fails ends the session: ssh is going, and its end says
 * why, to the request in flight. */
static void session_send(struct ssh_session *s, const char *frame,
    size_t len)
{
	if (proc_write(s->p, frame, len) != 0)
		proc_kill(s->p);
}

static void send_pending(struct ssh_session *s)
{
	if (s->pending == NULL)
		return;
	session_send(s, s->pending, s->pendlen);
	OPENSSL_clear_free(s->pending, s->pendlen);
	s->pending = NULL;
}

/* stdout as it comes: first the helper's "CF-READY" (what a login shell
 * printed before it is dropped), then one answer per request. */
static void on_out(void *arg, const char *data, size_t n)
{
	struct ssh_session *s = arg;
	size_t end;

	if (s->over)
		return;
	if (s->len + n > s->answer_max || !append(s, data, n)) {
		s->over = true;
		proc_kill(s->p);
		return;
	}
	if (!s->ready) {
		if ((end = ssh_frame_find_line(s->buf, s->len, &s->scan,
		    "CF-READY")) == 0)
			return;
		consume(s, end);
		s->ready = true;
		send_pending(s);
	}
	while (s->busy && (end = ssh_frame_find_line(s->buf, s->len,
	    &s->scan, "CF-DONE")) != 0) {
		/* The answer ends where its CF-DONE line starts. */
		s->buf[end - 8] = '\0';
		s->busy = false;
		proc_set_timeout(s->p, 0);
		s->on_answer(s->arg, s->buf, end - 8);
		consume(s, end);
	}
	/* Waiting for a request, the session does not keep the loop
	 * running: a caller's uv_run returns when its work is done. */
	if (!s->busy && !s->stopping)
		proc_ref(s->p, false);
}

/* What ssh's stderr (its first line) or its end says, for a message. */
static void reason(const struct ssh_session *s, const struct proc_result *r,
    char *buf, size_t bufsz)
{
	const char *e = r->err;
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
		snprintf(buf, bufsz, "%s%.*s", s->ready ? "the session ended: " :
		    "", (int)n, e);
	else if (r->exit_status < 0)
		snprintf(buf, bufsz, "ssh was killed by signal %d",
		    r->term_signal);
	else
		snprintf(buf, bufsz, "%s (ssh exited %d)", s->ready ?
		    "the session ended" : "the server did not start the "
		    "helper", r->exit_status);
}

static void on_done(void *arg, int status, const struct proc_result *r,
    const char *msg)
{
	struct ssh_session *s = arg;
	char why[600];
	int st = CF_ETRANSPORT;

	why[0] = '\0';
	if (status != 0)
		snprintf(why, sizeof why, "cannot start ssh: %s", msg);
	else if (s->over)
		st = cf_error(why, sizeof why, CF_EINVAL, "the answer is "
		    "larger than %zu bytes", s->answer_max);
	else if (s->stopping && !s->busy)
		st = 0;
	else if (r->timed_out)
		st = cf_error(why, sizeof why, CF_ETIMEDOUT, "timed out");
	else
		reason(s, r, why, sizeof why);
	s->on_end(s->arg, st, why, s->ready);
	OPENSSL_clear_free(s->buf, s->size);
	OPENSSL_clear_free(s->pending, s->pendlen);
	free(s);
}

int ssh_session_start(uv_loop_t *loop, const struct ssh_session_spec *spec,
    struct ssh_session **out)
{
	struct proc_spec ps = { .argv = spec->argv, .in = spec->script,
	    .inlen = spec->scriptlen, .keep_in = true, .out_cap = 1,
	    .err_cap = TRANSPORT_CAPTURE, .on_out = on_out };
	struct ssh_session *s = calloc(1, sizeof *s);
	int rc;

	if (s == NULL)
		return CF_ENOMEM;
	s->answer_max = spec->answer_max;
	s->connect_ms = spec->connect_ms;
	s->on_answer = spec->on_answer;
	s->on_end = spec->on_end;
	s->arg = spec->arg;
	ps.out_arg = s;
	if ((rc = proc_start(loop, &ps, on_done, s, &s->p)) != 0) {
		free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int ssh_session_request(struct ssh_session *s, const char *frame,
    size_t len, unsigned timeout_ms)
{
	if (s->busy || s->stopping)
		return CF_EINVAL;
	if (s->ready) {
		session_send(s, frame, len);
	} else {
		if ((s->pending = malloc(len)) == NULL)
			return CF_ENOMEM;
		memcpy(s->pending, frame, len);
		s->pendlen = len;
		if (timeout_ms > 0)
			timeout_ms += s->connect_ms;
	}
	s->busy = true;
	proc_ref(s->p, true);
	proc_set_timeout(s->p, timeout_ms);
	return 0;
}

void ssh_session_stop(struct ssh_session *s)
{
	s->stopping = true;
	proc_ref(s->p, true);
	proc_end_input(s->p);
	proc_set_timeout(s->p, STOP_MS);
}
