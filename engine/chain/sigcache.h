/*
 * Signatures proven between CA certificates, once per process. A fleet's
 * servers chain to the same few CAs, so the chain check of every server
 * verifies the same CA-to-CA signatures (the issuing CA by the root, the
 * root by itself); with P-384 each costs a millisecond. A link once proven
 * is remembered, keyed by the SHA-256 of both certificates' DER: a
 * signature's validity is a function of those bytes alone, so another
 * server whose stores hold the same CA certificates shares it, and any
 * other bytes (a tampered copy) are verified afresh. Only proven links are
 * kept; a leaf's signature is never kept. Everything else the verifier
 * checks (validity at the time asked, key usage, purposes, constraints)
 * is checked again every time. Thread-safe.
 */
#ifndef CF_SIGCACHE_H
#define CF_SIGCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509_vfy.h>

/* Links kept at most; later ones are verified each time, as before. */
#define SIGCACHE_MAX 256

/*
 * Sets ctx (initialised, not yet verified) to verify its chain's
 * signatures through the cache: the leaf's signature always, each link
 * between two CAs only when not proven before; anything short of a clean
 * pass (a failed signature, a certificate not valid at the context's time)
 * goes to OpenSSL's own verification, which decides and reports it, and
 * whose success proves the chain's CA links for later. A store with a
 * verify function of its own (X509_STORE_set_verify) is left alone.
 */
void sigcache_attach(X509_STORE_CTX *ctx);

/* X509_self_signed(x, 1), remembered for a CA certificate that is. */
int sigcache_self_signed(X509 *x);

/* Links proven so far (for tests). */
size_t sigcache_count(void);

#endif
