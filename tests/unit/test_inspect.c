/* The up-to-date decision on real certificates from the embedded CA. */
#include "tests/unit/unit.h"
#include "engine/ca/ca_local.h"
#include "engine/base/crypto.h"
#include "engine/job/inspect.h"
#include "engine/base/san.h"
#include "engine/base/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY 86400

struct fixture {
	char dir[64];
	struct req_spec spec;
	char *pem;                  /* leaf + chain for spec, 90 days */
	char *other;                /* another leaf, same names */
	time_t issued_at;
};

/* A renew_before_days policy of n days, as the fleet's default reads. */
static const struct renew_policy *days(int n)
{
	static struct renew_policy p;

	renew_policy_init(&p);
	p.days = n;
	return &p;
}

static char *issue(struct ca_local *ca, const struct req_spec *spec)
{
	EVP_PKEY *key = NULL;
	X509_REQ *csr = NULL;
	X509 *cert = NULL;
	char msg[512], *leaf = NULL, *chain = NULL, *pem;

	assert_int_equal(crypto_keygen(&spec->key, &key, msg, sizeof msg), 0);
	assert_int_equal(crypto_csr_new(key, spec, &csr, msg, sizeof msg), 0);
	assert_int_equal(ca_local_sign(ca, csr, spec, time(NULL), &cert, msg,
	    sizeof msg), 0);
	assert_int_equal(crypto_cert_to_pem(cert, &leaf, msg, sizeof msg), 0);
	assert_int_equal(ca_local_chain_pem(ca, &chain, msg, sizeof msg), 0);
	pem = cf_asprintf("%s%s", leaf, chain);
	assert_non_null(pem);
	free(leaf);
	free(chain);
	X509_free(cert);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
	return pem;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char p[4][128], msg[512];
	static const char *const names[4] = {
		"root.pem", "root.key", "issuing.pem", "issuing.key"
	};
	struct ca_local ca;
	int i;

	strcpy(f->dir, "/tmp/test_inspect.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	for (i = 0; i < 4; i++)
		snprintf(p[i], sizeof p[i], "%s/%s", f->dir, names[i]);
	assert_int_equal(ca_local_create("t", p[0], p[1], p[2], p[3], msg,
	    sizeof msg), 0);
	assert_int_equal(ca_local_load(&ca, p[0], p[2], p[3], msg, sizeof msg),
	    0);
	req_spec_init(&f->spec);
	f->spec.subject = strdup("CN=fe01.contoso.test");
	req_spec_add_san(&f->spec, "DNS:fe01.contoso.test");
	req_spec_add_san(&f->spec, "IP:fd00::1");
	f->spec.eku = EKU_SERVER_AUTH | EKU_CLIENT_AUTH;
	f->spec.days = 90;
	f->issued_at = time(NULL);
	f->pem = issue(&ca, &f->spec);
	f->other = issue(&ca, &f->spec);
	ca_local_release(&ca);
	for (i = 0; i < 4; i++)
		unlink(p[i]);
	rmdir(f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	req_spec_release(&f->spec);
	free(f->pem);
	free(f->other);
	free(f);
	return 0;
}

static void test_up_to_date(void **state)
{
	struct fixture *f = *state;
	const char *cur[USAGE_CAP] = { f->pem, f->pem, f->pem };
	struct inspect_result r;

	assert_int_equal(inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, days(30),
	    f->issued_at, false, &r), 0);
	assert_false(r.due);
	assert_int_equal(strlen(r.thumbprint), 40);
	assert_true(r.not_after > f->issued_at + 89 * DAY);
}

static void test_missing_usage(void **state)
{
	struct fixture *f = *state;
	const char *cur[USAGE_CAP] = { f->pem, NULL, f->pem };
	struct inspect_result r;

	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, days(30),
	    f->issued_at, false, &r);
	assert_true(r.due);
	assert_string_equal(r.reason, "no certificate assigned for usage "
	    "'webservices_internal'");
	/* A usage the server does not serve is not looked at. */
	inspect_decide(NULL, cur, (1u << USAGE_DEFAULT) | (1u << USAGE_WS_EXTERNAL),
	    &f->spec, days(30), f->issued_at, false, &r);
	assert_false(r.due);
}

static void test_usages_differ(void **state)
{
	struct fixture *f = *state;
	const char *cur[USAGE_CAP] = { f->pem, f->pem, f->other };
	struct inspect_result r;

	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, days(30),
	    f->issued_at, false, &r);
	assert_true(r.due);
	assert_string_equal(r.reason, "usage 'webservices_external' holds "
	    "another certificate than the others");
}

static void test_renewal_window(void **state)
{
	struct fixture *f = *state;
	const char *cur[USAGE_CAP] = { f->pem, f->pem, f->pem };
	struct inspect_result r;

	/* 61 days later, 29 remain: inside a 30-day window. */
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, days(30),
	    f->issued_at + 61 * DAY,
	    false, &r);
	assert_true(r.due);
	assert_non_null(strstr(r.reason, "within renew_before_days (30)"));
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, days(30),
	    f->issued_at + 59 * DAY,
	    false, &r);
	assert_false(r.due);
	/* Expired. */
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, days(0),
	    f->issued_at + 91 * DAY,
	    false, &r);
	assert_true(r.due);
}

/* renew_before = "1/3": due once less than a third of the 90 days is
 * left, whatever notBefore's backdating; the reason names the fraction. */
static void test_fraction(void **state)
{
	struct fixture *f = *state;
	const char *cur[USAGE_CAP] = { f->pem, f->pem, f->pem };
	struct renew_policy p;
	struct inspect_result r;
	char msg[128];

	renew_policy_init(&p);
	assert_int_equal(renew_parse_before(&p, "1/3", msg, sizeof msg), 0);
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, &p, f->issued_at + 59 * DAY,
	    false, &r);
	assert_false(r.due);
	assert_non_null(strstr(r.reason, "; renews on "));
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, &p, f->issued_at + 61 * DAY,
	    false, &r);
	assert_true(r.due);
	assert_non_null(strstr(r.reason, "within renew_before (1/3 of the "
	    "lifetime)"));
	/* 50%: due after 45 days, not at 44. */
	assert_int_equal(renew_parse_before(&p, "50%", msg, sizeof msg), 0);
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, &p, f->issued_at + 44 * DAY,
	    false, &r);
	assert_false(r.due);
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, &p, f->issued_at + 46 * DAY,
	    false, &r);
	assert_true(r.due);
}

/* A jitter offset moves the renewal earlier by exactly itself. */
static void test_jitter(void **state)
{
	struct fixture *f = *state;
	const char *cur[USAGE_CAP] = { f->pem, f->pem, f->pem };
	struct renew_policy p = *days(30);
	struct inspect_result r;

	p.jitter_s = 5 * DAY;
	p.offset_s = 3 * DAY;
	/* 32 days left: outside 30 days, inside 30 + 3. */
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, &p, f->issued_at + 58 * DAY,
	    false, &r);
	assert_true(r.due);
	assert_non_null(strstr(r.reason, "within renew_before_days (30) and "
	    "renews 3.0 days early (jitter)"));
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, &p, f->issued_at + 56 * DAY,
	    false, &r);
	assert_false(r.due);
	assert_non_null(strstr(r.reason, ", 3.0 days early (jitter)"));
	/* Without jitter the same day is not due, and the text is as ever. */
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, days(30),
	    f->issued_at + 58 * DAY, false, &r);
	assert_false(r.due);
	assert_null(strstr(r.reason, "renews on"));
}

static void test_sans_changed(void **state)
{
	struct fixture *f = *state;
	const char *cur[USAGE_CAP] = { f->pem, f->pem, f->pem };
	struct inspect_result r;
	struct req_spec more, fewer;

	req_spec_init(&more);
	req_spec_copy(&more, &f->spec);
	req_spec_add_san(&more, "DNS:new.contoso.test");
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &more, days(30),
	    f->issued_at, false, &r);
	assert_true(r.due);
	assert_string_equal(r.reason, "the certificate lacks SAN "
	    "'DNS:new.contoso.test' of the template");
	req_spec_release(&more);

	req_spec_init(&fewer);
	req_spec_add_san(&fewer, "DNS:FE01.contoso.test");
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &fewer, days(30),
	    f->issued_at, false, &r);
	assert_true(r.due);
	assert_non_null(strstr(r.reason, "which the template no longer asks"));
	/* Case and IPv6 spelling do not count as a change. */
	req_spec_add_san(&fewer, "IP:fd00:0::1");
	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &fewer, days(30),
	    f->issued_at, false, &r);
	assert_false(r.due);
	req_spec_release(&fewer);
}

static void test_force_and_garbage(void **state)
{
	struct fixture *f = *state;
	const char *cur[USAGE_CAP] = { f->pem, f->pem, f->pem };
	const char *bad[USAGE_CAP] = { "junk", "junk", "junk" };
	struct inspect_result r;

	inspect_decide(NULL, cur, USAGE_ALL_PREDEFINED, &f->spec, days(30),
	    f->issued_at, true, &r);
	assert_true(r.due);
	assert_string_equal(r.reason, "--force");
	assert_int_equal(strlen(r.thumbprint), 40);
	inspect_decide(NULL, bad, USAGE_ALL_PREDEFINED, &f->spec, days(30),
	    f->issued_at, false, &r);
	assert_true(r.due);
	assert_string_equal(r.thumbprint, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_up_to_date),
		cmocka_unit_test(test_missing_usage),
		cmocka_unit_test(test_usages_differ),
		cmocka_unit_test(test_renewal_window),
		cmocka_unit_test(test_fraction),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_sans_changed),
		cmocka_unit_test(test_force_and_garbage),
	};
	return cmocka_run_group_tests_name("inspect", tests, setup, teardown);
}
