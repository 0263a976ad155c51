/*
 * The ACME CA driver (RFC 8555): one account, one HTTP client and one
 * nonce pool per run, shared by every server's order. submit opens an
 * order and answers pending with the order URL at once, so the engine
 * journals it before anything waits on it; every poll then moves that
 * order one step on (authorizations and http-01 files, finalize,
 * download) and answers with the order's status. Transient trouble
 * (5xx, rateLimited, a broken download) is pending with a back-off.
 */
#ifndef CF_CA_ACME_H
#define CF_CA_ACME_H

#include "engine/ca/ca.h"

#include <stddef.h>
#include <uv.h>

/* Where ca_acme_new reads its settings; borrowed for the call only. */
struct ca_acme_config {
	const char *directory;      /* the directory URL (https://) */
	const char *tls_ca_file;    /* PEM trust anchors; NULL: system */
	const char *account_key;    /* PEM path; made (ES256, 0600) if absent */
	char *const *contact;       /* "mailto:..."; may be NULL */
	size_t ncontact;
	const char *eab_kid;        /* external account binding, or NULL */
	const char *eab_hmac_key;   /* base64url MAC key, with eab_kid */
	const char *preferred_chain;    /* issuer CN, or NULL */
	int max_in_flight;          /* HTTP requests at once; 0: default */
};

/*
 * Makes the driver on loop: loads or creates the account key (nothing is
 * sent yet). Returns 0 and *out (freed through ops->free), or a CF_E*
 * code with msg.
 */
int ca_acme_new(uv_loop_t *loop, const struct ca_acme_config *cfg,
    struct ca_driver **out, char *msg, size_t msgsz);

/*
 * True when chain_pem (leaf first) ends in a certificate issued by, or
 * itself named, common name cn: how preferred_chain picks a chain.
 */
bool ca_acme_chain_matches(const char *chain_pem, const char *cn);

#endif
