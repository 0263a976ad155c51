/*
 * The cache of parsed CA certificates (engine/base/certcache.h): the same
 * CA bytes give the same X509, whichever reader asks (PEM through
 * crypto_certs_from_pem, a store through cert_store_add_pem); a leaf is
 * parsed anew each time; what d2i_X509 would take is what is reported.
 */
#include "tests/unit/unit.h"
#include "engine/base/certcache.h"
#include "engine/base/crypto.h"
#include "engine/chain/chain.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

/* A self-signed certificate, a CA (basicConstraints CA:TRUE) or not. */
static X509 *self_signed(const char *cn, bool ca)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509_EXTENSION *e;
	X509V3_CTX ctx;

	assert_non_null(k);
	assert_non_null(x);
	assert_true(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0));
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_nconf_nid(NULL, &ctx, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	X509_NAME_free(n);
	EVP_PKEY_free(k);
	return x;
}

static unsigned char *der_of(X509 *x, long *len)
{
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);

	assert_true(n > 0);
	*len = n;
	return der;
}

static void test_ca_parsed_once(void **state)
{
	X509 *ca = self_signed("cache CA", true), *a, *b;
	unsigned char *der, *longer;
	long len, used = 0;
	size_t before = certcache_count();

	(void)state;
	der = der_of(ca, &len);
	a = certcache_d2i(der, len, &used);
	assert_non_null(a);
	assert_int_equal(used, len);
	assert_int_equal(X509_cmp(a, ca), 0);
	b = certcache_d2i(der, len, &used);
	assert_ptr_equal(a, b);
	assert_int_equal(certcache_count(), before + 1);
	/* Trailing bytes: d2i_X509 takes the certificate, so does this. */
	longer = malloc((size_t)len + 8);
	assert_non_null(longer);
	memcpy(longer, der, (size_t)len);
	memset(longer + len, 0x42, 8);
	X509_free(b);
	b = certcache_d2i(longer, len + 8, &used);
	assert_ptr_equal(a, b);
	assert_int_equal(used, len);
	/* Not a certificate at all. */
	longer[0] = 0x04;
	assert_null(certcache_d2i(longer, len + 8, &used));
	free(longer);
	OPENSSL_free(der);
	X509_free(a);
	X509_free(b);
	X509_free(ca);
}

static void test_leaf_not_kept(void **state)
{
	X509 *leaf = self_signed("cache leaf", false), *a, *b;
	unsigned char *der;
	long len, used;
	size_t before = certcache_count();

	(void)state;
	der = der_of(leaf, &len);
	a = certcache_d2i(der, len, &used);
	b = certcache_d2i(der, len, &used);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_int_equal(X509_cmp(a, b), 0);
	assert_int_equal(certcache_count(), before);
	OPENSSL_free(der);
	X509_free(a);
	X509_free(b);
	X509_free(leaf);
}

/* The readers of PEM share it: a chain and a store hold the same X509. */
static void test_readers_share(void **state)
{
	X509 *ca = self_signed("shared CA", true);
	STACK_OF(X509) *sk = NULL;
	struct cert_store s;
	char *pem = NULL, msg[256];

	(void)state;
	assert_int_equal(crypto_cert_to_pem(ca, &pem, msg, sizeof msg), 0);
	assert_int_equal(crypto_certs_from_pem(pem, "test", &sk, msg,
	    sizeof msg), 0);
	cert_store_init(&s);
	assert_int_equal(cert_store_add_pem(&s, pem, strlen(pem), "store",
	    msg, sizeof msg), 0);
	assert_int_equal(sk_X509_num(sk), 1);
	assert_int_equal(cert_store_count(&s), 1);
	assert_ptr_equal(sk_X509_value(sk, 0), sk_X509_value(s.certs, 0));
	cert_store_release(&s);
	sk_X509_pop_free(sk, X509_free);
	free(pem);
	X509_free(ca);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ca_parsed_once),
		cmocka_unit_test(test_leaf_not_kept),
		cmocka_unit_test(test_readers_share),
	};

	return cmocka_run_group_tests_name("certcache", tests, NULL, NULL);
}
