/*
 * The process's cache of parsed CA certificates (certcache.h): a small
 * array searched under one mutex, taken twice per lookup at most; the
 * parse itself runs outside it.
 */
#include "engine/base/certcache.h"
#include "engine/base/crypto.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

static struct {
	unsigned char sha256[32];
	X509 *x;
} kept[CERTCACHE_MAX];
static atomic_size_t nkept;     /* written under lock; read by count */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The length of the DER element at the start of der, or -1. */
static long der_length(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	long clen;
	int tag, xclass, r;

	r = ASN1_get_object(&p, &clen, &tag, &xclass, len);
	/* An error, or the indefinite form DER never uses. */
	if ((r & 0x80) != 0 || r == 0x21)
		return -1;
	return (long)(p - der) + clen;
}

static X509 *lookup(const unsigned char sha256[32])
{
	X509 *x = NULL;
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nkept && x == NULL; i++)
		if (memcmp(kept[i].sha256, sha256, 32) == 0 &&
		    X509_up_ref(kept[i].x))
			x = kept[i].x;
	pthread_mutex_unlock(&lock);
	return x;
}

/* Keeps x (a new reference) unless full or another thread was first. */
static void keep(const unsigned char sha256[32], X509 *x)
{
	size_t i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nkept; i++)
		if (memcmp(kept[i].sha256, sha256, 32) == 0)
			break;
	if (i == nkept && nkept < CERTCACHE_MAX && X509_up_ref(x)) {
		memcpy(kept[i].sha256, sha256, 32);
		kept[i].x = x;
		atomic_store(&nkept, i + 1);
	}
	pthread_mutex_unlock(&lock);
}

X509 *certcache_d2i(const unsigned char *der, long len, long *used)
{
	unsigned char sha256[32];
	const unsigned char *p = der;
	long n = der_length(der, len);
	X509 *x;
	bool hashed;

	hashed = n > 0 && n <= len && EVP_Digest(der, (size_t)n, sha256, NULL,
	    crypto_sha256(), NULL) == 1;
	if (hashed && (x = lookup(sha256)) != NULL) {
		*used = n;
		return x;
	}
	if ((x = d2i_X509(NULL, &p, len)) == NULL)
		return NULL;
	*used = (long)(p - der);
	/* Only what is kept is shared: a CA certificate, read whole. */
	if (hashed && *used == n && X509_check_ca(x) != 0)
		keep(sha256, x);
	return x;
}

size_t certcache_count(void)
{
	return atomic_load(&nkept);
}
