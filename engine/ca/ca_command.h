/*
 * A CA reached through a certmonger helper (type = "command"): cepces-submit
 * for AD CS, ipa-submit for FreeIPA, dogtag-submit, scep-submit, scripts.
 * Every submit and poll runs the helper once through the process runner
 * (engine/base/proc.h), never through a shell; the request reaches it only
 * as CERTMONGER_* environment values (certmonger.h). A helper that asks to
 * wait answers pending with its cookie as the reply's ref, which the engine
 * journals before it waits: a killed run resumes with POLL, never with a
 * second SUBMIT.
 */
#ifndef CF_CA_COMMAND_H
#define CF_CA_COMMAND_H

#include "engine/ca/ca.h"

#include <stddef.h>
#include <uv.h>

/* Bytes kept of a helper's stdout and stderr; an answer longer than the
 * stdout cap is an error, whatever its status. */
#define CA_COMMAND_OUT_CAP (1024 * 1024)
#define CA_COMMAND_ERR_CAP (64 * 1024)

/* Back-off after "unreachable" (status 3) and "wait" without a delay
 * (status 1): MIN seconds doubling per answer in a row for that server,
 * up to MAX, each with jitter (x0.5 to x1.5). */
#define CA_COMMAND_BACKOFF_MIN 5
#define CA_COMMAND_BACKOFF_MAX 600

/* Where ca_command_new reads its settings; borrowed for the call only. */
struct ca_command_config {
	char *const *helper;        /* argv, NULL-ended; argv[0] a path */
	const char *profile;        /* CERTMONGER_CA_PROFILE, or NULL */
	const char *nickname;       /* CERTMONGER_CA_NICKNAME, or NULL */
	int timeout;                /* seconds per helper run */
};

/*
 * Makes the driver on loop, and asks the helper for the CA's certificates
 * (FETCH-ROOTS) at once, waiting for the answer on a private loop: they
 * complete every issued chain and are the chain plan's preflight checks.
 * A helper that does not support it (or fails at it) leaves the chain
 * unknown. Returns 0 and *out (freed through ops->free), or a CF_E* code
 * with msg (a helper that cannot be run at all is CF_ECONFIG).
 */
int ca_command_new(uv_loop_t *loop, const struct ca_command_config *cfg,
    struct ca_driver **out, char *msg, size_t msgsz);

/* The back-off for the n-th such answer in a row (n from 0), in seconds,
 * with jitter: ca_command.c's schedule, exposed for its unit test. */
int ca_command_backoff(int n);

#endif
