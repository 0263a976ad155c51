/*
 * The one process runner: a command as an argument vector (never a
 * shell), its stdin fed from memory, its stdout and stderr captured up to
 * a cap each (the rest drained), and a timeout that sends SIGTERM, then
 * SIGKILL. Used by reload commands, the ssh transport and the command CA
 * driver. Runs on the loop; the callback runs once, on the loop. The
 * process must ignore SIGPIPE: a program that exits without reading its
 * stdin is not an error. Its copy of stdin and the captured output are
 * cleansed before they are freed, since they may hold key bytes.
 *
 * A long-lived conversation (the ssh transport's session) keeps stdin
 * open (keep_in), writes more with proc_write, takes stdout as it comes
 * (on_out) and arms the timeout per exchange (proc_set_timeout).
 */
#ifndef CF_PROC_H
#define CF_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct proc_spec {
	char *const *argv;          /* argv[0] is the program (PATH searched) */
	char *const *env;           /* "NAME=value", NULL-ended; NULL: ours */
	const char *cwd;            /* NULL: ours */
	const char *in;             /* written to stdin, then closed; NULL:
	                               stdin is closed at once */
	size_t inlen;
	size_t out_cap;             /* stdout bytes kept (at least 1) */
	size_t err_cap;             /* stderr bytes kept (at least 1) */
	unsigned timeout_ms;        /* 0: none; else SIGTERM, then SIGKILL */
	bool group;                 /* its own process group, signalled as a
	                               whole (whatever it starts goes too) */
	bool keep_in;               /* stdin stays open after in: more with
	                               proc_write, until proc_end_input */
	/* NULL: stdout is captured (out_cap). Else each chunk of stdout is
	 * handed to on_out(out_arg, ...) as it comes, valid during the call,
	 * and the result's out is empty. */
	void (*on_out)(void *out_arg, const char *data, size_t len);
	void *out_arg;
};

struct proc_result {
	int start_error;            /* libuv's code when it could not start */
	int exit_status;            /* -1 when a signal ended it */
	int term_signal;
	bool timed_out;             /* it was signalled for the timeout */
	char *out;                  /* captured stdout, NUL-ended */
	size_t outlen;
	bool out_over;              /* stdout was longer than out_cap */
	char *err;                  /* captured stderr, NUL-ended */
	size_t errlen;
	bool err_over;
};

/*
 * status 0: it ran (the result says how it ended, timed_out included);
 * CF_ETRANSPORT: it could not be started (msg says why). The result and
 * msg are valid during the callback only.
 */
typedef void (*proc_cb)(void *arg, int status, const struct proc_result *r,
    const char *msg);

/*
 * Starts spec's command on loop. Returns 0 (cb will run, also when the
 * program cannot be started) or CF_EINVAL/CF_ENOMEM (cb will not run).
 * spec and everything it points to may be freed once this returns.
 */
int proc_run(uv_loop_t *loop, const struct proc_spec *spec, proc_cb cb,
    void *arg);

struct proc;

/* As proc_run, with the running process in *out: valid until cb has
 * run, for the calls below. */
int proc_start(uv_loop_t *loop, const struct proc_spec *spec, proc_cb cb,
    void *arg, struct proc **out);

/* Copies len bytes at data to the process's stdin (keep_in), cleansed
 * once written: 0, CF_ENOMEM, or CF_EINVAL once its stdin is closed. */
int proc_write(struct proc *p, const void *data, size_t len);

/* Closes its stdin once what was written has gone. */
void proc_end_input(struct proc *p);

/* (Re)arms the timeout: SIGTERM ms from now, then SIGKILL, as
 * spec.timeout_ms; 0 disarms it. Nothing changes once it is being
 * killed. */
void proc_set_timeout(struct proc *p, unsigned ms);

/* SIGTERM now, then SIGKILL after the grace; not counted as timed out. */
void proc_kill(struct proc *p);

/* Whether p keeps its loop running (it does from the start): a
 * conversation waiting for its next request need not. */
void proc_ref(struct proc *p, bool ref);

/* Grace between SIGTERM and SIGKILL, and between SIGKILL and giving up
 * on pipes that something outside the group keeps open. */
#define PROC_KILL_GRACE_MS 2000

#endif
