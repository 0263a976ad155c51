/*
 * One ssh session to one server: the OpenSSH client started once (through
 * proc, an argument vector, never a local shell), the remote helper fed to
 * its fixed 'sh -s', then requests framed as ssh_frame.h says, one at a
 * time, each answered on stdout. A request that overruns its time kills
 * the session. Knows nothing of transport operations: frames in, answer
 * text out.
 */
#ifndef CF_SSH_SESSION_H
#define CF_SSH_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct ssh_session;

/* The answer to the request in flight: its text before the line
 * "CF-DONE", NUL-ended, valid during the call. */
typedef void (*ssh_session_answer_cb)(void *arg, const char *text,
    size_t len);

/*
 * The session is over, its process and handles gone; it is freed after
 * this returns. status 0 when it ended as asked (ssh_session_stop) with
 * nothing in flight; else CF_ETIMEDOUT, CF_ETRANSPORT (ssh failed, or the
 * helper went away) or CF_EINVAL (an answer larger than answer_max), why
 * saying it for a message. ready: the helper had started, so ssh got in.
 */
typedef void (*ssh_session_end_cb)(void *arg, int status, const char *why,
    bool ready);

struct ssh_session_spec {
	char *const *argv;          /* ssh, its options, "--", host, "sh -s" */
	const char *script;         /* the helper and its assignments */
	size_t scriptlen;
	size_t answer_max;          /* bytes; a longer answer ends it */
	unsigned connect_ms;        /* added to the first request's time */
	ssh_session_answer_cb on_answer;
	ssh_session_end_cb on_end;
	void *arg;
};

/* Starts ssh. 0: on_end will run, once, from the loop (also when ssh
 * cannot be started); CF_ENOMEM: nothing started. */
int ssh_session_start(uv_loop_t *loop, const struct ssh_session_spec *spec,
    struct ssh_session **out);

/*
 * Sends one request (frame: len bytes, copied and cleansed once sent),
 * sent as soon as the helper is ready, with timeout_ms (0: none) for its
 * answer. One at a time: the previous one has been answered. 0, or a
 * CF_E* code when the session is ending or memory runs out.
 */
int ssh_session_request(struct ssh_session *s, const char *frame,
    size_t len, unsigned timeout_ms);

/* Ends the session, with nothing in flight: stdin closes, the helper
 * exits (or is killed a few seconds later), on_end follows. */
void ssh_session_stop(struct ssh_session *s);

#endif
