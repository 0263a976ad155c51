/*
 * A usage's PKCS#12 file: key, leaf and chain, encrypted with a passphrase
 * read from a controller file at run time. The passphrase is cleansed after
 * use and never put in a message.
 */
#include "engine/assign/assign.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

/* The longest passphrase file read; its first line is the passphrase. */
#define PASSPHRASE_MAX 4096

void assign_blob_release(struct assign_blob *b)
{
	if (b->data != NULL)
		crypto_secret_free((char *)b->data, b->len);
	b->data = NULL;
	b->len = 0;
}

/* The DER of p12, new, into out; false when out of memory. */
static bool p12_der(PKCS12 *p12, struct assign_blob *out)
{
	unsigned char *der = NULL;
	int n = i2d_PKCS12(p12, &der);

	if (n <= 0)
		return false;
	if ((out->data = malloc((size_t)n)) != NULL) {
		memcpy(out->data, der, (size_t)n);
		out->len = (size_t)n;
	}
	OPENSSL_free(der);
	return out->data != NULL;
}

/* True when c is a root: it issued itself. Roots stay out of chain
 * files, as the CA's intermediates are what a server sends. */
static bool is_root(X509 *c)
{
	return X509_check_issued(c, c) == X509_V_OK;
}

char *assign_intermediates_pem(const char *cert_pem)
{
	STACK_OF(X509) *certs = NULL;
	BIO *b = BIO_new(BIO_s_mem());
	char msg[128], *out = NULL, *data;
	long n;
	int i;

	if (b != NULL && crypto_certs_from_pem(cert_pem, "the certificate",
	    &certs, msg, sizeof msg) == 0) {
		for (i = 1; i < sk_X509_num(certs); i++)
			if (!is_root(sk_X509_value(certs, i)) &&
			    !PEM_write_bio_X509(b, sk_X509_value(certs, i)))
				break;
		n = BIO_get_mem_data(b, &data);
		if (i == sk_X509_num(certs) && n >= 0 &&
		    (out = malloc((size_t)n + 1)) != NULL) {
			if (n > 0)      /* an empty BIO's data is NULL */
				memcpy(out, data, (size_t)n);
			out[n] = '\0';
		}
	}
	ERR_clear_error();
	sk_X509_pop_free(certs, X509_free);
	BIO_free(b);
	return out;
}

/* Encrypts key, leaf and chain of certs with pass into out; a reason. */
static const char *p12_make(const char *pass, EVP_PKEY *key,
    STACK_OF(X509) *certs, struct assign_blob *out)
{
	STACK_OF(X509) *ca = sk_X509_new_null();
	PKCS12 *p12 = NULL;
	const char *why = NULL;
	int i;

	for (i = 1; ca != NULL && i < sk_X509_num(certs); i++)
		if (!is_root(sk_X509_value(certs, i)) &&
		    !sk_X509_push(ca, sk_X509_value(certs, i)))
			why = "out of memory";
	/* AES-256-CBC with PBKDF2 for key and certificates, SHA-256 MAC:
	 * what OpenSSL 3 writes by default, named so it stays so. */
	if (ca == NULL)
		why = "out of memory";
	else if (why == NULL && (p12 = PKCS12_create(pass, NULL, key,
	    sk_X509_value(certs, 0), ca, NID_aes_256_cbc, NID_aes_256_cbc,
	    PKCS12_DEFAULT_ITER, PKCS12_DEFAULT_ITER, 0)) == NULL)
		why = "PKCS12_create failed";
	else if (why == NULL && !p12_der(p12, out))
		why = "out of memory";
	PKCS12_free(p12);
	sk_X509_free(ca);
	return why;
}

int assign_pkcs12(const char *server, const char *usage,
    const struct usage_binding *b, const char *cert_pem,
    const char *key_pem, size_t key_len, struct assign_blob *out,
    char *msg, size_t msgsz)
{
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = NULL;
	char *pass = NULL, why[256] = "";
	size_t plen = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if (b == NULL || b->pkcs12_passphrase_file == NULL)
		return cf_error(msg, msgsz, CF_EINVAL, "cannot make the PKCS#12 "
		    "file of usage '%s' on '%s': no passphrase file", usage,
		    server);
	rc = fsio_read_file(b->pkcs12_passphrase_file, PASSPHRASE_MAX, &pass,
	    &plen, why, sizeof why);
	if (rc != 0)
		return cf_error(msg, msgsz, rc, "cannot make the PKCS#12 file "
		    "of usage '%s' on '%s': %s", usage, server, why);
	pass[strcspn(pass, "\r\n")] = '\0';
	if (crypto_certs_from_pem(cert_pem, "the certificate", &certs, why,
	    sizeof why) != 0)
		rc = CF_EINVAL;
	else if ((key = crypto_key_read(key_pem, key_len)) == NULL) {
		snprintf(why, sizeof why, "the private key is not a PEM key");
		rc = CF_EINVAL;
	} else if (pass[0] == '\0') {
		snprintf(why, sizeof why, "the passphrase file '%s' is empty",
		    b->pkcs12_passphrase_file);
		rc = CF_EINVAL;
	} else {
		const char *w = p12_make(pass, key, certs, out);

		if (w != NULL) {
			snprintf(why, sizeof why, "%s", w);
			rc = CF_ENOMEM;
		}
	}
	ERR_clear_error();
	crypto_secret_free(pass, plen + 1);
	EVP_PKEY_free(key);
	sk_X509_pop_free(certs, X509_free);
	if (rc != 0)
		return cf_error(msg, msgsz, rc, "cannot make the PKCS#12 file "
		    "of usage '%s' on '%s': %s", usage, server, why);
	return 0;
}
