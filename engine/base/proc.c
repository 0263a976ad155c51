/*
 * The process runner on libuv: uv_spawn with three pipes and a timer. The
 * run ends once the process has exited and both output pipes are at EOF
 * (or the last grace period has passed), and only then is the callback
 * called, after every handle is closed. Its stdin copy and the captured
 * output are cleansed before they are freed: they may hold key bytes.
 */
#include "engine/base/proc.h"
#include "engine/base/container_of.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct capture {
	char *p;
	size_t len;
	size_t size;                /* allocated, grown as output comes */
	size_t cap;
	bool over;
	bool done;
};

/* One write to stdin: its own copy of the bytes, cleansed once written. */
struct pwrite {
	uv_write_t req;
	struct proc *p;
	size_t len;
	char data[];
};

struct proc {
	uv_process_t proc;
	uv_pipe_t in, out, err;
	uv_timer_t timer;
	unsigned nwrites;           /* writes not yet called back */
	bool end_in;                /* stdin closes once they are done */
	void (*on_out)(void *out_arg, const char *data, size_t len);
	void *out_arg;
	struct capture cout, cerr;
	char rbuf[2][65536];
	char argv0[256];
	int nopen;
	int phase;                  /* timer: 0 TERM next, 1 KILL, 2 give up */
	bool exited;
	bool finishing;
	bool spawn_failed;
	bool timed_out;
	bool group;
	int start_error;
	int exit_status;
	int term_signal;
	char msg[512];
	proc_cb cb;
	void *arg;
};

static void closed(uv_handle_t *h)
{
	struct proc *p = h->data;
	struct proc_result r;

	if (--p->nopen > 0)
		return;
	memset(&r, 0, sizeof r);
	/* Given up on before it exited: not a success. */
	r.exit_status = p->exited ? p->exit_status : -1;
	r.term_signal = p->term_signal;
	r.timed_out = p->timed_out;
	r.start_error = p->start_error;
	r.out = p->cout.p;
	r.outlen = p->cout.len;
	r.out_over = p->cout.over;
	r.err = p->cerr.p;
	r.errlen = p->cerr.len;
	r.err_over = p->cerr.over;
	p->cb(p->arg, p->spawn_failed ? CF_ETRANSPORT : 0, &r, p->msg);
	crypto_secret_free(p->cout.p, p->cout.size);
	crypto_secret_free(p->cerr.p, p->cerr.size);
	crypto_secret_free((char *)p, sizeof *p);      /* its read buffers */
}

static void close_one(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, closed);
}

static void finish(struct proc *p)
{
	if (p->finishing)
		return;
	p->finishing = true;
	uv_timer_stop(&p->timer);
	close_one((uv_handle_t *)&p->timer);
	close_one((uv_handle_t *)&p->in);
	close_one((uv_handle_t *)&p->out);
	close_one((uv_handle_t *)&p->err);
	close_one((uv_handle_t *)&p->proc);
}

static void maybe_done(struct proc *p)
{
	if (p->exited && p->cout.done && p->cerr.done)
		finish(p);
}

static void on_exit_cb(uv_process_t *h, int64_t status, int signo)
{
	struct proc *p = container_of(h, struct proc, proc);

	p->exited = true;
	p->exit_status = signo != 0 ? -1 : (int)status;
	p->term_signal = signo;
	maybe_done(p);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct proc *p = h->data;
	int i = h == (uv_handle_t *)&p->out ? 0 : 1;

	(void)suggested;
	buf->base = p->rbuf[i];
	buf->len = sizeof p->rbuf[i];
}

/* Room for need bytes, doubling; false when out of memory. Not realloc:
 * the old buffer is cleansed, as output may hold key bytes. */
static bool grow(struct capture *c, size_t need)
{
	size_t size = c->size;
	char *np;

	if (need <= size)
		return true;
	while (size < need)
		size *= 2;
	if ((np = malloc(size)) == NULL)
		return false;
	memcpy(np, c->p, c->len + 1);
	crypto_secret_free(c->p, c->size);
	c->p = np;
	c->size = size;
	return true;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct proc *p = s->data;
	struct capture *c = s == (uv_stream_t *)&p->out ? &p->cout : &p->cerr;
	size_t n;

	if (nread > 0 && p->on_out != NULL && c == &p->cout) {
		p->on_out(p->out_arg, buf->base, (size_t)nread);
		return;
	}
	if (nread > 0) {
		/* Keep the first cap bytes; drain the rest. */
		n = c->cap - c->len;
		if ((size_t)nread > n)
			c->over = true;
		else
			n = (size_t)nread;
		if (!grow(c, c->len + n + 1)) {
			c->over = true;
			return;
		}
		memcpy(c->p + c->len, buf->base, n);
		c->len += n;
		c->p[c->len] = '\0';
		return;
	}
	if (nread == 0)
		return;
	uv_read_stop(s);
	c->done = true;
	maybe_done(p);
}

/* A program that stopped reading is no error: what it did not take is
 * dropped, and its stdin closed when asked. */
static void on_written(uv_write_t *w, int status)
{
	struct pwrite *pw = container_of(w, struct pwrite, req);
	struct proc *p = pw->p;

	(void)status;
	crypto_secret_free((char *)pw, sizeof *pw + pw->len);
	if (--p->nwrites == 0 && p->end_in)
		close_one((uv_handle_t *)&p->in);
}

static struct pwrite *pwrite_new(struct proc *p, const void *data,
    size_t len)
{
	struct pwrite *pw = malloc(sizeof *pw + len);

	if (pw != NULL) {
		pw->p = p;
		pw->len = len;
		memcpy(pw->data, data, len);
	}
	return pw;
}

/* Queues pw on stdin, which then owns it. */
static int pwrite_send(struct proc *p, struct pwrite *pw)
{
	uv_buf_t b = uv_buf_init(pw->data, (unsigned)pw->len);

	if (p->end_in || p->finishing || uv_is_closing((uv_handle_t *)&p->in) ||
	    uv_write(&pw->req, (uv_stream_t *)&p->in, &b, 1, on_written) != 0) {
		crypto_secret_free((char *)pw, sizeof *pw + pw->len);
		return CF_EINVAL;
	}
	p->nwrites++;
	return 0;
}

int proc_write(struct proc *p, const void *data, size_t len)
{
	struct pwrite *pw = pwrite_new(p, data, len);

	return pw == NULL ? CF_ENOMEM : pwrite_send(p, pw);
}

void proc_end_input(struct proc *p)
{
	p->end_in = true;
	if (p->nwrites == 0)
		close_one((uv_handle_t *)&p->in);
}

static void send_signal(struct proc *p, int signo)
{
	if (p->proc.pid <= 0 || p->exited)
		return;
	if (!p->group || kill(-p->proc.pid, signo) != 0)
		kill(p->proc.pid, signo);
}

static void on_timer(uv_timer_t *t)
{
	struct proc *p = container_of(t, struct proc, timer);

	switch (p->phase++) {
	case 0:
		p->timed_out = true;
		send_signal(p, SIGTERM);
		break;
	case 1:
		send_signal(p, SIGKILL);
		if (p->group && p->proc.pid > 0)
			kill(-p->proc.pid, SIGKILL);
		break;
	default:
		/* Something outside the group holds the pipes: stop waiting. */
		finish(p);
		return;
	}
	uv_timer_start(&p->timer, on_timer, PROC_KILL_GRACE_MS, 0);
}

void proc_set_timeout(struct proc *p, unsigned ms)
{
	if (p->phase > 0 || p->finishing)
		return;
	uv_timer_stop(&p->timer);
	if (ms > 0)
		uv_timer_start(&p->timer, on_timer, ms, 0);
}

void proc_ref(struct proc *p, bool ref)
{
	uv_handle_t *h[] = { (uv_handle_t *)&p->proc, (uv_handle_t *)&p->in,
	    (uv_handle_t *)&p->out, (uv_handle_t *)&p->err,
	    (uv_handle_t *)&p->timer };
	size_t i;

	for (i = 0; i < sizeof h / sizeof h[0]; i++)
		if (ref)
			uv_ref(h[i]);
		else
			uv_unref(h[i]);
}

void proc_kill(struct proc *p)
{
	if (p->phase > 0 || p->finishing)
		return;
	p->phase = 1;
	send_signal(p, SIGTERM);
	uv_timer_start(&p->timer, on_timer, PROC_KILL_GRACE_MS, 0);
}

static bool capture_init(struct capture *c, size_t cap)
{
	c->cap = cap ? cap : 1;
	c->size = c->cap < 4096 ? c->cap + 1 : 4096;
	c->p = malloc(c->size);
	if (c->p != NULL)
		c->p[0] = '\0';
	return c->p != NULL;
}

int proc_run(uv_loop_t *loop, const struct proc_spec *spec, proc_cb cb,
    void *arg)
{
	struct proc *p;

	return proc_start(loop, spec, cb, arg, &p);
}

int proc_start(uv_loop_t *loop, const struct proc_spec *spec, proc_cb cb,
    void *arg, struct proc **out)
{
	uv_process_options_t po;
	uv_stdio_container_t io[3];
	struct pwrite *first = NULL;
	struct proc *p;
	int rc;

	if (spec == NULL || spec->argv == NULL || spec->argv[0] == NULL ||
	    cb == NULL)
		return CF_EINVAL;
	if ((p = calloc(1, sizeof *p)) == NULL)
		return CF_ENOMEM;
	if (!capture_init(&p->cout, spec->out_cap) ||
	    !capture_init(&p->cerr, spec->err_cap) ||
	    (spec->in != NULL && spec->inlen > 0 &&
	    (first = pwrite_new(p, spec->in, spec->inlen)) == NULL)) {
		free(p->cout.p);
		free(p->cerr.p);
		free(p);
		return CF_ENOMEM;
	}
	snprintf(p->argv0, sizeof p->argv0, "%s", spec->argv[0]);
	p->cb = cb;
	p->arg = arg;
	p->group = spec->group;
	p->on_out = spec->on_out;
	p->out_arg = spec->out_arg;
	*out = p;
	uv_pipe_init(loop, &p->in, 0);
	uv_pipe_init(loop, &p->out, 0);
	uv_pipe_init(loop, &p->err, 0);
	uv_timer_init(loop, &p->timer);
	p->in.data = p->out.data = p->err.data = p->timer.data = p;
	p->proc.data = p;
	p->nopen = 5;

	memset(&po, 0, sizeof po);
	memset(io, 0, sizeof io);
	io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
	io[0].data.stream = (uv_stream_t *)&p->in;
	io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	io[1].data.stream = (uv_stream_t *)&p->out;
	io[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	io[2].data.stream = (uv_stream_t *)&p->err;
	po.file = spec->argv[0];
	po.args = (char **)spec->argv;
	po.env = (char **)spec->env;
	po.cwd = spec->cwd;
	po.flags = spec->group ? UV_PROCESS_DETACHED : 0;
	po.stdio_count = 3;
	po.stdio = io;
	po.exit_cb = on_exit_cb;
	/* uv_spawn initialises the process handle even when it fails. */
	rc = uv_spawn(loop, &p->proc, &po);
	p->proc.data = p;
	if (rc != 0) {
		p->spawn_failed = true;
		p->start_error = rc;
		p->exit_status = -1;
		snprintf(p->msg, sizeof p->msg, "cannot run '%s': %s",
		    p->argv0, uv_strerror(rc));
		if (first != NULL)
			crypto_secret_free((char *)first,
			    sizeof *first + first->len);
		finish(p);
		return 0;
	}
	uv_read_start((uv_stream_t *)&p->out, on_alloc, on_read);
	uv_read_start((uv_stream_t *)&p->err, on_alloc, on_read);
	if (first != NULL)
		pwrite_send(p, first);
	if (!spec->keep_in)
		proc_end_input(p);
	if (spec->timeout_ms > 0)
		uv_timer_start(&p->timer, on_timer, spec->timeout_ms, 0);
	return 0;
}
