/*
 * The chain check: can this leaf be assigned on a server, given that
 * server's own root store (trusted) and intermediate store (untrusted)? And
 * when not, which CA must be imported, and into which store?
 *
 * Pure functions for the calling thread (or a threadpool worker): no libuv,
 * no printing, no private keys. The only file I/O is cert_store_load_path,
 * for stores on this machine; transports read remote stores themselves and
 * feed the bytes to cert_store_add_pem.
 *
 * Decisions (the oracle is `openssl verify -CAfile ROOTS -untrusted
 * INTERMEDIATES leaf.pem`, and the verdict agrees with it on ok vs not ok):
 *
 * - Verification is X509_verify_cert with the root store trusted, the
 *   intermediate store untrusted, no partial chains, at the time given.
 *   The chain the CA returned is never used for verification, only to name
 *   the CAs the leaf needs.
 * - EKUs are checked on the leaf explicitly: every EKU asked for must be in
 *   its extendedKeyUsage. A leaf without that extension is unrestricted, and
 *   anyExtendedKeyUsage does not stand in for a named EKU (OpenSSL's rules).
 *   On top of that, serverAuth verifies with purpose sslserver and clientAuth
 *   with sslclient (one run each), so CA EKUs and key usage count as well.
 * - A CA on the path is present when its store holds the same DER or a
 *   certificate with the same subject and public key, valid at `now`. A
 *   store copy that is expired or not yet valid is reported with that
 *   reason. An intermediate found only in the root store, or a root found
 *   only in the intermediate store, is reported as missing from its store.
 * - The status follows verification: OpenSSL accepts an intermediate that
 *   sits only in the root store when the real root is there too, so that
 *   verdict is CHAIN_OK and the misplaced intermediate stays listed as a
 *   note. Decide on the status, never on nmissing alone.
 * - Leaf problems (EKU, validity, self-signed, not issued by the chain the CA
 *   returned, bad signature) are CHAIN_INVALID before any store is looked
 *   at: importing CAs would not help.
 * - cert_store_add_pem skips PEM blocks that are not certificates (keys,
 *   CRLs, parameters) without a word; text with no PEM block at all (and not
 *   a DER certificate either) is an error naming the source. A file that is
 *   empty or only white space adds nothing and is not an error. Duplicates
 *   are dropped.
 */
#ifndef CF_CHAIN_H
#define CF_CHAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

/* Longest CA path followed above a leaf. */
#define CHAIN_MAX_DEPTH 16

/* One trust store on a server: every certificate it holds, no order. */
struct cert_store {
	STACK_OF(X509) *certs;      /* NULL while empty */
};

/* Fills s with an empty store; cert_store_release frees what it holds. */
void cert_store_init(struct cert_store *s);
void cert_store_release(struct cert_store *s);

/* The number of certificates in s. */
size_t cert_store_count(const struct cert_store *s);

/*
 * Adds x (taking a new reference; the caller keeps its own) unless the same
 * DER is already in s. Returns 0 or CF_ENOMEM.
 */
int cert_store_add_cert(struct cert_store *s, X509 *x);

/*
 * Adds every certificate in the PEM text data (one or many blocks; other
 * blocks are skipped), or a single DER certificate. source names the file in
 * messages. Returns 0, or CF_EINVAL (malformed, or no certificate text at
 * all) or CF_ENOMEM with the reason in msg; certificates read before the
 * error stay in s.
 */
int cert_store_add_pem(struct cert_store *s, const char *data, size_t len,
    const char *source, char *msg, size_t msgsz);

/*
 * Adds the certificates in a local file, or in every regular file of a
 * directory (sorted by name, not recursive, names starting with '.' and
 * anything that is not a regular file after following symlinks skipped). A
 * missing path is an empty store, not an error. Returns 0, or CF_EIO,
 * CF_EINVAL or CF_ENOMEM with the reason (naming the file) in msg.
 */
int cert_store_load_path(struct cert_store *s, const char *path, char *msg,
    size_t msgsz);

/*
 * True when the chain as sent (leaf first, as a server will send it to its
 * clients) ends at, or is signed by, a root in roots: clients that trust
 * only that root verify it without building another path.
 */
bool chain_sent_reaches(STACK_OF(X509) *sent, const struct cert_store *roots);

enum chain_status {
	CHAIN_OK,                   /* verifies; notes may still be listed */
	CHAIN_MISSING_CA,           /* does not verify; missing lists why */
	CHAIN_INVALID,              /* does not verify; detail says why */
	CHAIN_UNKNOWN               /* not checked, or the CA cannot be named */
};

enum chain_kind {
	CHAIN_KIND_ROOT,
	CHAIN_KIND_INTERMEDIATE
};

enum chain_why {
	CHAIN_WHY_ABSENT,           /* in neither store */
	CHAIN_WHY_MISPLACED,        /* only in the other store */
	CHAIN_WHY_EXPIRED,          /* the store's copy has expired */
	CHAIN_WHY_NOT_YET_VALID     /* the store's copy is not valid yet */
};

/* One CA the server lacks, in the store its kind belongs to. */
struct chain_missing {
	enum chain_kind kind;
	enum chain_why why;
	char *subject;              /* "CN=Contoso Root CA, O=Contoso" */
	char sha1[41];              /* of the DER, upper-case hex; "" when the
	                               CA did not send it */
	char *reason;               /* "absent", "found only in the root
	                               store", "expired on 2021-01-01", "not
	                               valid before 2100-01-01" */
};

struct chain_verdict {
	enum chain_status status;
	struct chain_missing *missing;  /* path order, leaf's issuer first */
	size_t nmissing;
	char *detail;               /* why not ok; NULL when ok (heap: a
	                               fleet of 100,000 keeps one each) */
};

/* v's detail, "" when it has none. */
const char *chain_verdict_detail(const struct chain_verdict *v);

/* Replaces v's detail with a copy of text (NULL or "": none). Returns 0
 * or CF_ENOMEM. */
int chain_verdict_set_detail(struct chain_verdict *v, const char *text);

/* "ok", "missing_ca", "invalid", "unknown". */
const char *chain_status_name(enum chain_status st);

/* "root" or "intermediate". */
const char *chain_kind_name(enum chain_kind kind);

/* Fills v with CHAIN_UNKNOWN and nothing missing. */
void chain_verdict_init(struct chain_verdict *v);
void chain_verdict_release(struct chain_verdict *v);

/*
 * Checks leaf against the server's stores (either may be NULL or empty) at
 * time now, requiring every EKU in eku_needed (enum eku_flags). ca_chain
 * (may be NULL) is what the CA returned with the leaf, issuer first, with or
 * without its root. Fills out (initialised by the caller; its old contents
 * are released) and returns 0 whatever the verdict; returns CF_EINVAL,
 * CF_ENOMEM or CF_ECRYPTO with msg only when no verdict could be reached.
 */
int chain_diagnose(X509 *leaf, STACK_OF(X509) *ca_chain,
    const struct cert_store *roots, const struct cert_store *intermediates,
    unsigned eku_needed, time_t now, struct chain_verdict *out, char *msg,
    size_t msgsz);

/*
 * The check before any certificate exists (plan): would a leaf from the CA
 * whose chain is ca_chain (issuing CA first) verify on this server? Names
 * every CA of the chain the server's stores lack, as chain_diagnose does.
 * Returns 0 with the verdict in out, or a CF_E* code with msg.
 */
int chain_preflight(STACK_OF(X509) *ca_chain, const struct cert_store *roots,
    const struct cert_store *intermediates, time_t now,
    struct chain_verdict *out, char *msg, size_t msgsz);

/*
 * Writes one line for a person into buf, e.g. "missing root CA 'CN=Contoso
 * Root CA' (sha1 AB12...) from the root store; import it, then run
 * certfleet assign". Returns 0, or CF_EINVAL when it was cut to fit.
 */
int chain_verdict_describe(const struct chain_verdict *v, char *buf,
    size_t bufsz);

#endif
