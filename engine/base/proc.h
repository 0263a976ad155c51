/*
 * The one process runner: a command as an argument vector (never a
 * shell), its stdin fed from memory, its stdout and stderr captured up to
 * a cap each (the rest drained), and a timeout that sends SIGTERM, then
 * SIGKILL. Used by reload commands, the ssh transport and the command CA
 * driver. Runs on the loop; the callback runs once, on the loop. The
 * process must ignore SIGPIPE: a program that exits without reading its
 * stdin is not an error. Its copy of stdin and the captured output are
 * cleansed before they are freed, since they may hold key bytes.
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

/* Grace between SIGTERM and SIGKILL, and between SIGKILL and giving up
 * on pipes that something outside the group keeps open. */
#define PROC_KILL_GRACE_MS 2000

#endif
