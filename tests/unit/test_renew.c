/* Renewal policy: parsing, jitter, the due time, and the fleet file's
 * renewal keys resolved per server. */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/base/renew.h"
#include "engine/base/crypto.h"
#include "engine/job/key_reuse.h"
#include "inventory/fleet.h"

#include <openssl/x509.h>
#include <stdlib.h>

#include <stdio.h>
#include <string.h>

#define DAY RENEW_DAY

static void test_parse_before(void **state)
{
	struct renew_policy p;
	char msg[256];

	(void)state;
	renew_policy_init(&p);
	assert_true(p.legacy);
	assert_int_equal(p.days, 30);
	assert_int_equal(renew_parse_before(&p, "30d", msg, sizeof msg), 0);
	assert_int_equal(p.days, 30);
	assert_false(p.legacy);
	assert_string_equal(p.text, "30d");
	assert_int_equal(renew_parse_before(&p, "0d", msg, sizeof msg), 0);
	assert_int_equal(p.days, 0);
	assert_int_equal(renew_parse_before(&p, "1/3", msg, sizeof msg), 0);
	assert_int_equal(p.days, -1);
	assert_int_equal(p.num, 1);
	assert_int_equal(p.den, 3);
	assert_int_equal(renew_parse_before(&p, "33%", msg, sizeof msg), 0);
	assert_int_equal(p.num, 33);
	assert_int_equal(p.den, 100);
	assert_string_equal(p.text, "33%");
}

static void test_parse_before_bad(void **state)
{
	static const char *const bad[] = {
		"", "30", "d", "30 d", "-1d", "30days", "1/", "/3", "1/0",
		"0/3", "3/3", "4/3", "0%", "100%", "150%", "%", "3651d",
		"1.5/3", "1/3x", "9999999999d", NULL
	};
	struct renew_policy p;
	char msg[256];
	size_t i;

	(void)state;
	for (i = 0; bad[i]; i++) {
		renew_policy_init(&p);
		if (renew_parse_before(&p, bad[i], msg, sizeof msg) !=
		    CF_EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
		/* A refused value leaves the policy as it was. */
		assert_int_equal(p.days, 30);
		assert_true(p.legacy);
	}
	renew_parse_before(&p, "1/0", msg, sizeof msg);
	assert_string_equal(msg, "renew_before '1/0' must be days (\"30d\") "
	    "or a fraction of the lifetime (\"1/3\", \"33%\")");
	renew_parse_before(&p, "3/3", msg, sizeof msg);
	assert_string_equal(msg, "renew_before '3/3' must be a fraction "
	    "between 0 and 1 (exclusive)");
}

static void test_parse_jitter(void **state)
{
	static const char *const bad[] = {
		"", "5", "0d", "0h", "5m", "366d", "-1d", "5 d", NULL
	};
	char msg[256];
	long s = 0;
	size_t i;

	(void)state;
	assert_int_equal(renew_parse_jitter("5d", &s, msg, sizeof msg), 0);
	assert_int_equal(s, 5 * DAY);
	assert_int_equal(renew_parse_jitter("12h", &s, msg, sizeof msg), 0);
	assert_int_equal(s, 12 * 3600);
	assert_int_equal(renew_parse_jitter("365d", &s, msg, sizeof msg), 0);
	for (i = 0; bad[i]; i++)
		if (renew_parse_jitter(bad[i], &s, msg, sizeof msg) !=
		    CF_EINVAL)
			fail_msg("jitter '%s' was accepted", bad[i]);
}

/* Stable (a known value pins the hash: plan and run, this host and the
 * next, agree), within [0, jitter), and spread over a pool. */
static void test_jitter_offset(void **state)
{
	char name[32];
	long o, lo = 5 * DAY, hi = 0;
	int i, buckets[5] = { 0 };

	(void)state;
	assert_int_equal(renew_jitter_offset("f", "web01", 0), 0);
	o = renew_jitter_offset("f", "web01", 5 * DAY);
	assert_int_equal(o, renew_jitter_offset("f", "web01", 5 * DAY));
	assert_int_not_equal(o, renew_jitter_offset("g", "web01", 5 * DAY));
	assert_int_not_equal(o, renew_jitter_offset("f", "web02", 5 * DAY));
	/* The fleet and server names do not run into each other. */
	assert_int_not_equal(renew_jitter_offset("ab", "c", 5 * DAY),
	    renew_jitter_offset("a", "bc", 5 * DAY));
	assert_int_equal(renew_jitter_offset("renewal", "web01", 5 * DAY),
	    renew_jitter_offset("renewal", "web01", 5 * DAY));
	for (i = 0; i < 1000; i++) {
		snprintf(name, sizeof name, "pool%03d", i);
		o = renew_jitter_offset("pool", name, 5 * DAY);
		assert_true(o >= 0 && o < 5 * DAY);
		lo = o < lo ? o : lo;
		hi = o > hi ? o : hi;
		buckets[o / DAY]++;
	}
	/* Every day of the five gets a good share of a 1000-server pool. */
	for (i = 0; i < 5; i++)
		assert_true(buckets[i] > 150);
	assert_true(hi - lo > 4 * DAY);
}

static void test_due_at(void **state)
{
	struct renew_policy p;
	char msg[256];
	time_t nb = 1000000000, na = nb + 90 * DAY;

	(void)state;
	renew_policy_init(&p);
	assert_int_equal(renew_due_at(&p, nb, na), na - 30 * DAY);
	renew_parse_before(&p, "1/3", msg, sizeof msg);
	assert_int_equal(renew_due_at(&p, nb, na), na - 30 * DAY);
	renew_parse_before(&p, "10%", msg, sizeof msg);
	assert_int_equal(renew_due_at(&p, nb, na), na - 9 * DAY);
	p.offset_s = 2 * DAY + 7;
	assert_int_equal(renew_due_at(&p, nb, na), na - 11 * DAY - 7);
	/* A fraction of a 6-day certificate: 2 days, not 30. */
	renew_parse_before(&p, "1/3", msg, sizeof msg);
	p.offset_s = 0;
	assert_int_equal(renew_due_at(&p, nb, nb + 6 * DAY), nb + 4 * DAY);
	assert_string_equal(renew_describe(&p, msg, sizeof msg),
	    "renew_before (1/3 of the lifetime)");
}

/* The fleet's policy, then each server's own keys, with its offset. */
static void test_fleet_resolved(void **state)
{
	struct fleet f;
	struct diags d;
	const struct server *s;

	(void)state;
	diags_init(&d);
	assert_int_equal(fleet_load(&f, FIXTURES "/good/renewal.cfg", &d), 0);
	assert_int_equal(f.renew.days, -1);
	assert_int_equal(f.renew.jitter_s, 5 * DAY);
	assert_true(f.renew.reuse_key);
	s = fleet_server_find(&f, "web01");
	assert_int_equal(s->renew.num, 1);
	assert_int_equal(s->renew.den, 3);
	assert_true(s->renew.reuse_key);
	assert_int_equal(s->renew.offset_s,
	    renew_jitter_offset("renewal", "web01", 5 * DAY));
	assert_int_not_equal(s->renew.offset_s,
	    fleet_server_find(&f, "web02")->renew.offset_s);
	s = fleet_server_find(&f, "mail01");
	assert_int_equal(s->renew.days, 20);
	assert_int_equal(s->renew.jitter_s, 12 * 3600);
	assert_true(s->renew.offset_s < 12 * 3600);
	assert_false(s->renew.reuse_key);
	s = fleet_server_find(&f, "ldap01");
	assert_int_equal(s->renew.days, 10);
	assert_true(s->renew.legacy);
	assert_int_equal(s->renew.jitter_s, 5 * DAY);
	s = fleet_server_find(&f, "api01");
	assert_int_equal(s->renew.num, 25);
	assert_int_equal(f.tmpl.key.type, KEY_RSA);
	assert_int_equal(f.tmpl.key.bits, 4096);
	fleet_release(&f);
	diags_release(&d);
}

/* A key of type (ec, rsa, ed25519) as PEM, and a self-signed
 * certificate for it when cert is not NULL. */
static char *key_and_cert(const char *type, int bits, char **cert)
{
	struct key_spec ks;
	EVP_PKEY *k = NULL;
	X509 *x;
	char msg[256], *pem = NULL;
	size_t len;

	assert_int_equal(key_spec_set(&ks, type, NULL, bits, msg, sizeof msg),
	    0);
	assert_int_equal(crypto_keygen(&ks, &k, msg, sizeof msg), 0);
	assert_int_equal(crypto_key_to_pem(k, &pem, &len, msg, sizeof msg), 0);
	if (cert != NULL) {
		assert_non_null(x = X509_new());
		X509_gmtime_adj(X509_getm_notBefore(x), 0);
		X509_gmtime_adj(X509_getm_notAfter(x), DAY);
		X509_set_pubkey(x, k);
		assert_true(X509_sign(x, k, ks.type == KEY_ED25519 ? NULL :
		    EVP_sha256()) > 0);
		assert_int_equal(crypto_cert_to_pem(x, cert, msg, sizeof msg),
		    0);
		X509_free(x);
	}
	EVP_PKEY_free(k);
	return pem;
}

/* The server's key is kept only when it is the certificate's and of the
 * template's type; the reason never holds key material. */
static void test_key_reuse(void **state)
{
	struct key_spec ec, rsa, ed;
	char *cert, *key = key_and_cert("ec", 0, &cert), *other, *edcert,
	    *edkey = key_and_cert("ed25519", 0, &edcert), why[256];
	EVP_PKEY *k;

	(void)state;
	other = key_and_cert("ec", 0, NULL);
	key_spec_set(&ec, "ec", NULL, 0, why, sizeof why);
	key_spec_set(&rsa, "rsa", NULL, 3072, why, sizeof why);
	key_spec_set(&ed, "ed25519", NULL, 0, why, sizeof why);
	assert_non_null(k = key_reuse_pick(key, cert, &ec, why, sizeof why));
	EVP_PKEY_free(k);
	assert_non_null(k = key_reuse_pick(edkey, edcert, &ed, why,
	    sizeof why));
	EVP_PKEY_free(k);
	assert_null(key_reuse_pick(other, cert, &ec, why, sizeof why));
	assert_string_equal(why, "the current key does not belong to the "
	    "current certificate");
	assert_null(key_reuse_pick(key, cert, &rsa, why, sizeof why));
	assert_string_equal(why, "the current key is ec P-256; the template "
	    "asks rsa 3072");
	assert_null(key_reuse_pick(edkey, edcert, &ec, why, sizeof why));
	assert_string_equal(why, "the current key is ed25519; the template "
	    "asks ec P-256");
	assert_null(key_reuse_pick("junk", cert, &ec, why, sizeof why));
	assert_string_equal(why, "the current key file holds no private key");
	assert_null(key_reuse_pick(key, "junk", &ec, why, sizeof why));
	crypto_secret_free(key, 0);
	crypto_secret_free(edkey, 0);
	crypto_secret_free(other, 0);
	free(cert);
	free(edcert);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_before),
		cmocka_unit_test(test_parse_before_bad),
		cmocka_unit_test(test_parse_jitter),
		cmocka_unit_test(test_jitter_offset),
		cmocka_unit_test(test_due_at),
		cmocka_unit_test(test_fleet_resolved),
		cmocka_unit_test(test_key_reuse),
	};
	return cmocka_run_group_tests_name("renew", tests, NULL, NULL);
}
