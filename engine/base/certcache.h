/*
 * CA certificates parsed once per process. A fleet's servers hold the same
 * few CA certificates in their stores, and a CA sends the same ones with
 * every leaf; parsing one costs far more than hashing its bytes (OpenSSL 3
 * decodes the public key through a provider lookup each time). So the X509
 * of each CA certificate is kept, keyed by the SHA-256 of its DER, and every
 * later read of the same bytes gets a new reference to it. Leaves are parsed
 * as usual and never kept. Thread-safe: threadpool workers read through it.
 */
#ifndef CF_CERTCACHE_H
#define CF_CERTCACHE_H

#include <openssl/x509.h>

/* At most this many CA certificates are kept; later ones are parsed each
 * time, as before (a fleet has a handful). */
#define CERTCACHE_MAX 64

/*
 * The certificate at the start of der (len bytes), as d2i_X509 reads it,
 * with how many bytes it took in *used. NULL when der does not start with
 * a certificate (OpenSSL's error queue says why). The caller frees its
 * reference (X509_free); the certificate must not be changed, since other
 * threads may hold the same one.
 */
X509 *certcache_d2i(const unsigned char *der, long len, long *used);

/* Certificates kept now (for tests). */
size_t certcache_count(void);

#endif
