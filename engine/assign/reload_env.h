/*
 * What a reload command learns of its assignment: the CERTFLEET_*
 * variables of its environment (never its command line). Pure: built from
 * strings and PEM, nothing read or run here.
 */
#ifndef CF_RELOAD_ENV_H
#define CF_RELOAD_ENV_H

#include <stddef.h>

/* A certificate as a reload sees it, as the report shows it: all ""
 * when there is none. */
struct reload_cert {
	char thumbprint[41];        /* SHA-1 of the DER, upper-case hex */
	char sha256[65];            /* SHA-256 of the DER, upper-case hex */
	char not_after[21];         /* RFC 3339, UTC: 2025-01-01T12:00:00Z */
};

/* Fills c from the first certificate in pem (len bytes); all "" when pem
 * is NULL or holds none. */
void reload_cert_read(struct reload_cert *c, const char *pem, size_t len);

/* One reload: what is in place now, and what was before it. */
struct reload_info {
	const char *fleet;
	const char *server;
	const char *address;
	const char *usage;
	const char *cert_file;      /* absolute paths on the server */
	const char *key_file;
	const char *chain_file;
	const struct reload_cert *now;
	const char *previous_sha256;    /* "" when there was none */
};

/*
 * The reload's environment: CERTFLEET_FLEET, _SERVER, _ADDRESS, _USAGE,
 * _CERT_FILE, _KEY_FILE, _CHAIN_FILE, _THUMBPRINT, _SHA256, _NOT_AFTER
 * and _PREVIOUS_SHA256 as "NAME=value" (NULL values become ""), NULL-
 * ended; strv_free. NULL when memory runs out.
 */
char **reload_env(const struct reload_info *ri);

#endif
