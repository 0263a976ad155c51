/*
 * Environments of the commands certfleet starts (engine/base/env.c) and
 * the CERTFLEET_* variables of a reload (engine/assign/reload_env.c):
 * names checked, values kept byte for byte, merging that replaces.
 */
#include "tests/unit/unit.h"
#include "engine/assign/reload_env.h"
#include "engine/base/env.h"
#include "engine/base/err.h"
#include "engine/base/strv.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static size_t count(char *const *v)
{
	size_t n = 0;

	while (v[n] != NULL)
		n++;
	return n;
}

static void test_names(void **state)
{
	(void)state;
	assert_true(env_name_valid("CERTFLEET_FLEET", 15));
	assert_true(env_name_valid("_", 1));
	assert_true(env_name_valid("A1_2", 4));
	assert_false(env_name_valid("", 0));
	assert_false(env_name_valid("1A", 2));
	assert_false(env_name_valid("a", 1));
	assert_false(env_name_valid("A-B", 3));
	assert_false(env_name_valid("A B", 3));
	assert_false(env_name_valid("A=B", 3));
	/* Only the len bytes count. */
	assert_true(env_name_valid("AB=x", 2));
}

static void test_check(void **state)
{
	char *good[] = { "A=1", "B=", "C=x=y", "D=$(id) `id`\n;", NULL };
	char *bad[][3] = {
		{ "1A=x", NULL }, { "a=x", NULL }, { "A-B=x", NULL },
		{ "NOVALUE", NULL }, { "=x", NULL }, { "A=1", "A=2", NULL },
	};
	size_t i;

	(void)state;
	assert_int_equal(env_check(NULL), 0);
	assert_int_equal(env_check(good), 0);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(env_check(bad[i]), CF_EINVAL);
}

static void test_build(void **state)
{
	struct env e = { 0 };
	char **v;
	size_t i;

	(void)state;
	/* Empty, yet an array. */
	v = env_take(&e);
	assert_non_null(v);
	assert_null(v[0]);
	strv_free(v);
	/* Values are bytes, newlines and all; the array grows. */
	env_set(&e, "A", "x\ny\n");
	env_set(&e, "B", "");
	for (i = 0; i < 40; i++)
		env_set(&e, "C", "c");
	v = env_take(&e);
	assert_non_null(v);
	assert_null(e.v);
	assert_int_equal(count(v), 42);
	assert_string_equal(v[0], "A=x\ny\n");
	assert_string_equal(v[1], "B=");
	strv_free(v);
	/* A failed allocation spoils the whole. */
	env_push(&e, NULL);
	assert_true(e.oom);
	assert_null(env_take(&e));
	assert_false(e.oom);
}

static void test_merge(void **state)
{
	char *base[] = { "PATH=/bin", "HOME=/root", "PATHX=1", NULL };
	char *add[] = { "HOME=/x", "NEW=y", NULL };
	char **v;

	(void)state;
	v = env_merge(base, add);
	assert_non_null(v);
	assert_int_equal(count(v), 4);
	/* Ours first, but for what add replaces, then add's. */
	assert_string_equal(v[0], "PATH=/bin");
	assert_string_equal(v[1], "PATHX=1");
	assert_string_equal(v[2], "HOME=/x");
	assert_string_equal(v[3], "NEW=y");
	strv_free(v);
	v = env_merge(NULL, NULL);
	assert_non_null(v);
	assert_null(v[0]);
	strv_free(v);
	v = env_merge(base, NULL);
	assert_int_equal(count(v), 3);
	strv_free(v);
}

/* A self-signed certificate valid until 2030-01-02T03:04:05Z. */
static char *make_cert(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;

	assert_non_null(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	assert_int_equal(ASN1_TIME_set_string(X509_getm_notAfter(x),
	    "20300102030405Z"), 1);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &p);
	s = strndup(p, (size_t)n);
	BIO_free(b);
	X509_free(x);
	EVP_PKEY_free(k);
	return s;
}

/* The upper-case hex of digest md over the DER of the PEM's certificate. */
static void digest_hex(const char *pem, const EVP_MD *md, char *out)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned n, i;

	assert_int_equal(X509_digest(x, md, d, &n), 1);
	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02X", d[i]);
	X509_free(x);
	BIO_free(b);
}

static void test_reload_cert(void **state)
{
	struct reload_cert c;
	char *pem = make_cert(), sha1[41], sha256[65], *two;

	(void)state;
	digest_hex(pem, EVP_sha1(), sha1);
	digest_hex(pem, EVP_sha256(), sha256);
	reload_cert_read(&c, pem, strlen(pem));
	assert_string_equal(c.thumbprint, sha1);
	assert_string_equal(c.sha256, sha256);
	assert_string_equal(c.not_after, "2030-01-02T03:04:05Z");
	/* The leaf is the first; len bytes only. */
	two = malloc(2 * strlen(pem) + 1);
	strcpy(two, pem);
	strcat(two, "garbage");
	reload_cert_read(&c, two, strlen(pem));
	assert_string_equal(c.sha256, sha256);
	/* Nothing there, or nothing readable: all empty. */
	reload_cert_read(&c, NULL, 0);
	assert_string_equal(c.thumbprint, "");
	assert_string_equal(c.sha256, "");
	assert_string_equal(c.not_after, "");
	reload_cert_read(&c, "HAND CERT\n", 10);
	assert_string_equal(c.sha256, "");
	assert_string_equal(c.not_after, "");
	free(two);
	free(pem);
}

static void test_reload_env(void **state)
{
	struct reload_cert now = { "AB", "CD", "2030-01-02T03:04:05Z" };
	struct reload_info ri = { "prod", "web01", "web01.contoso.test",
	    "default", "/srv/a b;$(x)/cert.pem", "/srv/k.pem",
	    "/srv/a b;$(x)/cert.pem", &now, NULL };
	const char *want[] = {
		"CERTFLEET_FLEET=prod", "CERTFLEET_SERVER=web01",
		"CERTFLEET_ADDRESS=web01.contoso.test",
		"CERTFLEET_USAGE=default",
		"CERTFLEET_CERT_FILE=/srv/a b;$(x)/cert.pem",
		"CERTFLEET_KEY_FILE=/srv/k.pem",
		"CERTFLEET_CHAIN_FILE=/srv/a b;$(x)/cert.pem",
		"CERTFLEET_THUMBPRINT=AB", "CERTFLEET_SHA256=CD",
		"CERTFLEET_NOT_AFTER=2030-01-02T03:04:05Z",
		"CERTFLEET_PREVIOUS_SHA256=",
	};
	char **v;
	size_t i;

	(void)state;
	v = reload_env(&ri);
	assert_non_null(v);
	assert_int_equal(count(v), 11);
	for (i = 0; i < 11; i++)
		assert_string_equal(v[i], want[i]);
	/* What a transport takes. */
	assert_int_equal(env_check(v), 0);
	strv_free(v);
	/* Nothing in place: every certificate variable empty. */
	ri.now = NULL;
	ri.previous_sha256 = "CD";
	v = reload_env(&ri);
	assert_string_equal(v[7], "CERTFLEET_THUMBPRINT=");
	assert_string_equal(v[8], "CERTFLEET_SHA256=");
	assert_string_equal(v[9], "CERTFLEET_NOT_AFTER=");
	assert_string_equal(v[10], "CERTFLEET_PREVIOUS_SHA256=CD");
	strv_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_reload_cert),
		cmocka_unit_test(test_reload_env),
	};

	return cmocka_run_group_tests_name("env", tests, NULL, NULL);
}
