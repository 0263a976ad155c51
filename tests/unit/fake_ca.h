/*
 * A scriptable CA driver for the engine's unit test, never linked into
 * certfleet (integration tests keep real CAs). Each server has a script of
 * answers given in order to its submits and polls, the last one repeating;
 * every answer comes after a uv timer of its own (0 ms by default), never
 * from inside submit or poll. An issued answer is real: the CSR is signed
 * by an embedded CA (ca_local.h) and sent with its issuing CA and root, so
 * the engine's key check, chain check and assignment see real certificates.
 */
#ifndef CF_TEST_FAKE_CA_H
#define CF_TEST_FAKE_CA_H

#include "engine/ca/ca.h"

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

enum fake_kind {
	FAKE_ISSUED,                /* the CSR signed: leaf, issuing CA, root */
	FAKE_PENDING,               /* pending; retry_after seconds, -1: not
	                               in this run */
	FAKE_DENIED,                /* denied; detail is the CA's reason */
	FAKE_ERROR,                 /* the CA failed; detail says why */
	FAKE_REFUSE                 /* submit or poll itself returns
	                               CF_ETRANSPORT and never calls back */
};

/* One answer of a script. */
struct fake_answer {
	enum fake_kind kind;
	int retry_after;            /* FAKE_PENDING: seconds, 0 allowed */
	const char *detail;         /* reason; NULL gives none */
	unsigned delay_ms;          /* answer after a uv timer of this long */
};

/* What a server asked of the CA so far. */
struct fake_counts {
	int submits;
	int polls;
	char last_ref[64];          /* the ref the last poll carried */
};

struct fake_ca;

/*
 * Loads the embedded CA's files and makes a fake on loop. Its policy
 * (precheck, which plan asks) refuses any SAN holding "forbidden". Returns 0 with
 * *out, or a CF_E* code with msg. fake_ca_driver(*out) is what the engine
 * gets; fake_ca_free frees both once no answer is outstanding (run the
 * loop to its end first).
 */
int fake_ca_new(uv_loop_t *loop, const char *root_cert,
    const char *issuing_cert, const char *issuing_key, struct fake_ca **out,
    char *msg, size_t msgsz);
void fake_ca_free(struct fake_ca *fc);
struct ca_driver *fake_ca_driver(struct fake_ca *fc);

/*
 * Gives server the answers seq[0..n-1] (copied, detail strings included),
 * from its next call on; the last one repeats. A server with no script is
 * issued at once. Returns 0 or CF_ENOMEM.
 */
int fake_ca_script(struct fake_ca *fc, const char *server,
    const struct fake_answer *seq, size_t n);

/* The server's calls so far (zeros for a server never seen). */
void fake_ca_counts(const struct fake_ca *fc, const char *server,
    struct fake_counts *out);

/* Answers not delivered yet (their timers still running). */
int fake_ca_outstanding(const struct fake_ca *fc);

/*
 * Signs csr_pem for spec as an issued answer would: *out is the leaf, the
 * issuing CA and the root (PEM, the caller frees). For tests that seed a
 * journal as a killed run left it. 0 or a CF_E* code with msg.
 */
int fake_ca_sign(struct fake_ca *fc, const char *csr_pem,
    const struct req_spec *spec, char **out, char *msg, size_t msgsz);

#endif
