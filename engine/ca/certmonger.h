/*
 * certmonger's CA helper protocol (its doc/submit.txt) as pure functions:
 * the environment a helper runs with, and what its exit status and output
 * mean. No process, no loop, no printing: ca_command.c runs the helper.
 * Nothing built here ever carries the CSR or the CA's cookie into a
 * message for a person.
 */
#ifndef CF_CERTMONGER_H
#define CF_CERTMONGER_H

#include "engine/base/reqspec.h"
#include "engine/ca/ca.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

/* A helper's exit statuses (submit.txt); any other value is an error. */
enum certmonger_status {
	CM_ISSUED = 0,
	CM_WAIT = 1,                /* stdout: the CA's cookie */
	CM_REJECTED = 2,            /* stdout: why */
	CM_UNREACHABLE = 3,         /* stdout: why */
	CM_UNCONFIGURED = 4,        /* stdout: why */
	CM_WAIT_WITH_DELAY = 5,     /* stdout: seconds, newline, cookie */
	CM_UNSUPPORTED = 6          /* the helper does not support the operation */
};

/* What one helper run is about; everything borrowed. */
struct certmonger_call {
	const char *operation;      /* "SUBMIT", "POLL", "FETCH-ROOTS" */
	const char *csr_pem;        /* SUBMIT and POLL, else NULL */
	const char *cookie;         /* POLL, else NULL */
	const struct req_spec *spec;    /* the request, or NULL */
	const char *previous_pem;   /* the certificate renewed, or NULL */
	const char *profile;        /* CERTMONGER_CA_PROFILE, or NULL */
	const char *nickname;       /* CERTMONGER_CA_NICKNAME, or NULL */
};

/* The variables of our own environment a helper also gets (NULL-ended):
 * what a program needs to run, find Kerberos credentials and a proxy. */
extern const char *const certmonger_inherited[];

/*
 * The helper's environment for call: the certmonger_inherited variables
 * found in env (NULL-ended "NAME=value", may be NULL), then the
 * CERTMONGER_* ones. Values are passed as they are: no shell sees them.
 * Returns 0 and a new NULL-ended array in *out (strv_free), or CF_ENOMEM,
 * or CF_EINVAL when the CSR does not parse, with msg.
 */
int certmonger_env(const struct certmonger_call *call, char *const *env,
    char ***out, char *msg, size_t msgsz);

/*
 * Every certificate in a helper's output: PEM certificates and PEM PKCS#7
 * ("certificates only") in any mix, or one DER certificate or PKCS#7; other
 * text between PEM blocks is skipped (FETCH-ROOTS puts nicknames there).
 * Returns 0 and a new stack in *out (at least one certificate; free with
 * sk_X509_pop_free(s, X509_free)), or CF_EINVAL (no certificate, or a
 * malformed block) or CF_ENOMEM with msg.
 */
int certmonger_certs_parse(const char *data, size_t len,
    STACK_OF(X509) **out, char *msg, size_t msgsz);

/*
 * The chain of leaf: leaf first, then its issuer, found by name and
 * signature in sent (what the helper returned) before extra (FETCH-ROOTS),
 * and so on up to a self-signed root or the last issuer found. Certificates
 * of neither list that are not on the path are left out. Returns a new
 * stack (its certificates up-referenced) or NULL when out of memory.
 */
STACK_OF(X509) *certmonger_chain(X509 *leaf, STACK_OF(X509) *sent,
    STACK_OF(X509) *extra);

/*
 * The CA chain plan's preflight checks, from FETCH-ROOTS' certificates:
 * the lowest CA (one that issued none of the others, a non-root first),
 * then its issuers up to the root. *out is NULL when certs is empty or
 * NULL. Returns 0, or CF_ENOMEM with msg.
 */
int certmonger_ca_chain_pem(STACK_OF(X509) *certs, char **out, char *msg,
    size_t msgsz);

/* What one SUBMIT or POLL answer means for the engine. */
struct certmonger_answer {
	enum ca_answer answer;
	bool backoff;               /* pending: the driver picks the delay */
	int delay;                  /* pending, status 5: the helper's
	                               seconds; else -1 */
	char *cookie;               /* pending: the CA's cookie, or NULL */
	char *certs_pem;            /* issued: leaf, then its chain */
	char *status_text;          /* "issued", "waiting", "rejected",
	                               "unreachable", "underconfigured",
	                               "unsupported", "error" */
	char *detail;               /* for a person: the helper's words */
};

/* Frees what a holds and zeroes it. */
void certmonger_answer_release(struct certmonger_answer *a);

/*
 * Reads a helper's answer to SUBMIT or POLL: its exit status, its stdout
 * (out, outlen bytes, NUL-ended) and stderr (err, NUL-ended, may be NULL).
 * helper names it in messages. leaf_key is the CSR's public key: the
 * certificate holding it is the leaf, whatever order the helper used; extra
 * (may be NULL) is FETCH-ROOTS' certificates, to complete the chain. Fills
 * a (zeroed by the caller) and returns 0, or CF_ENOMEM.
 */
int certmonger_answer_parse(int status, const char *out, size_t outlen,
    const char *err, const char *helper, EVP_PKEY *leaf_key,
    STACK_OF(X509) *extra, struct certmonger_answer *a);

/*
 * A helper's words made fit for one line of a report: control characters
 * and runs of white space become one space, trimmed, cut (on a UTF-8
 * boundary, with "...") to fit buf. Returns buf.
 */
char *certmonger_text(const char *s, size_t len, char *buf, size_t bufsz);

#endif
