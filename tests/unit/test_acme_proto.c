/* RFC 8555 objects: fixture documents shaped like Let's Encrypt's and
 * Pebble's, every order status, malformed and hostile variants, and the
 * payloads certfleet sends. */
#include "tests/unit/unit.h"
#include "engine/acme/acme_proto.h"
#include "engine/base/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LE_DIRECTORY "{" \
	"\"keyChange\":\"https://acme-v02.api.letsencrypt.org/acme/" \
	"key-change\"," \
	"\"meta\":{\"caaIdentities\":[\"letsencrypt.org\"]," \
	"\"termsOfService\":\"https://letsencrypt.org/documents/LE-SA-v1.4-" \
	"April-3-2024.pdf\",\"website\":\"https://letsencrypt.org\"}," \
	"\"newAccount\":\"https://acme-v02.api.letsencrypt.org/acme/" \
	"new-acct\"," \
	"\"newNonce\":\"https://acme-v02.api.letsencrypt.org/acme/" \
	"new-nonce\"," \
	"\"newOrder\":\"https://acme-v02.api.letsencrypt.org/acme/" \
	"new-order\"," \
	"\"renewalInfo\":\"https://acme-v02.api.letsencrypt.org/acme/" \
	"renewal-info\"," \
	"\"revokeCert\":\"https://acme-v02.api.letsencrypt.org/acme/" \
	"revoke-cert\"," \
	"\"Ry8Mx0Bq1aY\":\"https://community.letsencrypt.org/t/adding-random-" \
	"entries-to-the-directory/33417\"}"

#define PEBBLE_DIRECTORY "{\n" \
	"   \"keyChange\": " \
	"\"https://localhost:14000/rollover-account-key\",\n" \
	"   \"meta\": {\n" \
	"      \"externalAccountRequired\": true,\n" \
	"      \"termsOfService\": " \
	"\"data:text/plain,Do%20what%20thou%20wilt\"\n" \
	"   },\n" \
	"   \"newAccount\": \"https://localhost:14000/sign-me-up\",\n" \
	"   \"newNonce\": \"https://localhost:14000/nonce-plz\",\n" \
	"   \"newOrder\": \"https://localhost:14000/order-plz\",\n" \
	"   \"revokeCert\": \"https://localhost:14000/revoke-cert\"\n" \
	"}\n"

#define ORDER_HEAD(status) "{\"status\":\"" status "\"," \
	"\"expires\":\"2016-01-05T14:09:07.99Z\"," \
	"\"identifiers\":[{\"type\":\"dns\",\"value\":\"www.example.org\"}," \
	"{\"type\":\"ip\",\"value\":\"192.0.2.7\"}]," \
	"\"authorizations\":[\"https://example.com/acme/authz/PAniVnsZcis\"," \
	"\"https://example.com/acme/authz/r4HqLzrSrpI\"]," \
	"\"finalize\":\"https://example.com/acme/order/TOlocE8rfgo/finalize\""

#define ORDER_PENDING ORDER_HEAD("pending") "}"
#define ORDER_READY ORDER_HEAD("ready") "}"
#define ORDER_PROCESSING ORDER_HEAD("processing") "}"
#define ORDER_VALID ORDER_HEAD("valid") \
	",\"certificate\":\"https://example.com/acme/cert/mAt3xBGaobw\"}"
#define ORDER_INVALID ORDER_HEAD("invalid") ",\"error\":{\"type\":" \
	"\"urn:ietf:params:acme:error:unauthorized\",\"detail\":" \
	"\"Some authorizations failed\",\"status\":403}}"

#define AUTHZ "{\"status\":\"pending\",\"expires\":\"2016-01-02T14:09:30Z\"," \
	"\"identifier\":{\"type\":\"dns\",\"value\":\"www.example.org\"}," \
	"\"challenges\":[" \
	"{\"type\":\"http-01\",\"url\":\"https://example.com/acme/chall/" \
	"prV_B7yEyA4\",\"status\":\"pending\",\"token\":" \
	"\"DGyRejmCefe7v4NfDGDKfA\"}," \
	"{\"type\":\"dns-01\",\"url\":\"https://example.com/acme/chall/" \
	"Rg5dV14Gh1Q\",\"status\":\"pending\",\"token\":" \
	"\"LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0\"}," \
	"{\"type\":\"tls-alpn-01\",\"url\":\"https://example.com/acme/chall/" \
	"s9ZtB8oG\",\"status\":\"pending\"," \
	"\"token\":\"evaGxfADs6pSRb2LAv9IZ\"}," \
	"{\"type\":\"future-02\"," \
	"\"url\":\"https://example.com/acme/chall/f\"," \
	"\"status\":\"pending\",\"whatever\":[1,2,3]}" \
	"]}"

#define AUTHZ_INVALID "{\"status\":\"invalid\"," \
	"\"identifier\":{\"type\":\"dns\",\"value\":\"example.org\"}," \
	"\"wildcard\":true,\"challenges\":[{\"type\":\"dns-01\",\"url\":" \
	"\"https://example.com/acme/chall/1\",\"status\":\"invalid\"," \
	"\"token\":\"abc\",\"validated\":\"2024-01-01T00:00:00Z\"," \
	"\"error\":{\"type\":\"urn:ietf:params:acme:error:dns\",\"detail\":" \
	"\"no TXT record\\nfound\\u0007\"}}]}"

#define PROBLEM_SUBS "{\"type\":\"urn:ietf:params:acme:error:malformed\"," \
	"\"detail\":\"Some of the identifiers requested were rejected\"," \
	"\"status\":400,\"subproblems\":[" \
	"{\"type\":\"urn:ietf:params:acme:error:malformed\",\"detail\":" \
	"\"Invalid underscore in DNS name \\\"_example.org\\\"\"," \
	"\"identifier\":{\"type\":\"dns\",\"value\":\"_example.org\"}}," \
	"{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\"," \
	"\"detail\":\"This CA will not issue for \\\"example.net\\\"\"," \
	"\"identifier\":{\"type\":\"dns\",\"value\":\"example.net\"}}]}"

/* A literal and its length, for the parsers. */
#define J(s) (s), strlen(s)

static size_t L(const char *s)
{
	return strlen(s);
}

static void test_directory(void **state)
{
	struct acme_directory d;
	char msg[256];

	(void)state;
	assert_int_equal(acme_directory_parse(LE_DIRECTORY, L(LE_DIRECTORY),
	    &d, msg, sizeof msg), 0);
	assert_string_equal(d.new_nonce,
	    "https://acme-v02.api.letsencrypt.org/acme/new-nonce");
	assert_string_equal(d.new_account,
	    "https://acme-v02.api.letsencrypt.org/acme/new-acct");
	assert_string_equal(d.new_order,
	    "https://acme-v02.api.letsencrypt.org/acme/new-order");
	assert_string_equal(d.revoke_cert,
	    "https://acme-v02.api.letsencrypt.org/acme/revoke-cert");
	assert_string_equal(d.key_change,
	    "https://acme-v02.api.letsencrypt.org/acme/key-change");
	assert_null(d.new_authz);
	assert_string_equal(d.website, "https://letsencrypt.org");
	assert_non_null(strstr(d.terms_of_service, "LE-SA"));
	assert_false(d.eab_required);
	acme_directory_release(&d);

	assert_int_equal(acme_directory_parse(PEBBLE_DIRECTORY,
	    L(PEBBLE_DIRECTORY), &d, msg, sizeof msg), 0);
	assert_string_equal(d.new_nonce, "https://localhost:14000/nonce-plz");
	assert_string_equal(d.terms_of_service,
	    "data:text/plain,Do%20what%20thou%20wilt");
	assert_true(d.eab_required);
	acme_directory_release(&d);

	/* Only the three we need are required. */
	assert_int_equal(acme_directory_parse(J("{\"newNonce\":\"https://a/n\","
	    "\"newAccount\":\"https://a/a\",\"newOrder\":\"http://a/o\"}"),
	    &d, msg, sizeof msg), 0);
	assert_null(d.revoke_cert);
	assert_null(d.key_change);
	assert_null(d.terms_of_service);
	acme_directory_release(&d);
}

struct bad_case {
	const char *json;
	const char *msg;
};

static void test_directory_malformed(void **state)
{
	static const struct bad_case cases[] = {
		{ "", "malformed ACME directory: not JSON (line 1, column 0: "
		    "'[' or '{' expected near end of file)" },
		{ "[]", "malformed ACME directory: an array, not an object" },
		{ "{\"newAccount\":\"https://a/a\","
		    "\"newOrder\":\"https://a/o\"}",
		    "malformed ACME directory: missing 'newNonce'" },
		{ "{\"newNonce\":5,\"newAccount\":\"https://a/a\","
		    "\"newOrder\":\"https://a/o\"}",
		    "malformed ACME directory: 'newNonce' is a number, not a "
		    "string" },
		{ "{\"newNonce\":\"file:///etc/passwd\",\"newAccount\":"
		    "\"https://a/a\",\"newOrder\":\"https://a/o\"}",
		    "malformed ACME directory: 'newNonce' is not an http(s) "
		    "URL: 'file:///etc/passwd'" },
		{ "{\"newNonce\":\"https://a/n x\",\"newAccount\":"
		    "\"https://a/a\",\"newOrder\":\"https://a/o\"}",
		    "malformed ACME directory: 'newNonce' is not an http(s) "
		    "URL: 'https://a/n x'" },
		{ "{\"newNonce\":\"https://a/n\",\"newAccount\":"
		    "\"https://a/a\",\"newOrder\":\"https://a/o\",\"meta\":[]}",
		    "malformed ACME directory: 'meta' is an array, not an "
		    "object" },
		{ "{\"newNonce\":\"https://a/n\",\"newAccount\":"
		    "\"https://a/a\",\"newOrder\":\"https://a/o\",\"meta\":"
		    "{\"externalAccountRequired\":\"yes\"}}",
		    "malformed ACME directory: 'externalAccountRequired' is a "
		    "string, not a boolean" },
		{ "{\"newNonce\":\"https://a/n\",\"newNonce\":\"https://b/n\","
		    "\"newAccount\":\"https://a/a\",\"newOrder\":"
		    "\"https://a/o\"}", NULL },
		{ "{\"newNonce\":\"https://a/\\u0000n\",\"newAccount\":"
		    "\"https://a/a\",\"newOrder\":\"https://a/o\"}", NULL },
	};
	struct acme_directory d;
	char msg[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(acme_directory_parse(cases[i].json,
		    L(cases[i].json), &d, msg, sizeof msg), CF_EINVAL);
		if (cases[i].msg != NULL)
			assert_string_equal(msg, cases[i].msg);
		else
			assert_non_null(strstr(msg, "malformed ACME "
			    "directory: not JSON"));
		acme_directory_release(&d);
	}
	assert_int_equal(acme_directory_parse(NULL, 0, &d, msg, sizeof msg),
	    CF_EINVAL);
}

static void test_orders(void **state)
{
	static const struct {
		const char *json;
		enum acme_status status;
	} cases[] = {
		{ ORDER_PENDING, ACME_PENDING },
		{ ORDER_READY, ACME_READY },
		{ ORDER_PROCESSING, ACME_PROCESSING },
		{ ORDER_VALID, ACME_VALID },
		{ ORDER_INVALID, ACME_INVALID },
	};
	struct acme_order o;
	char msg[256], buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(acme_order_parse(cases[i].json,
		    L(cases[i].json), &o, msg, sizeof msg), 0);
		assert_int_equal(o.status, cases[i].status);
		assert_int_equal(o.nidentifiers, 2);
		assert_string_equal(o.identifiers[0].type, "dns");
		assert_string_equal(o.identifiers[0].value,
		    "www.example.org");
		assert_string_equal(o.identifiers[1].type, "ip");
		assert_string_equal(o.identifiers[1].value, "192.0.2.7");
		assert_int_equal(o.nauthorizations, 2);
		assert_string_equal(o.authorizations[1],
		    "https://example.com/acme/authz/r4HqLzrSrpI");
		assert_string_equal(o.finalize,
		    "https://example.com/acme/order/TOlocE8rfgo/finalize");
		assert_string_equal(o.expires, "2016-01-05T14:09:07.99Z");
		if (cases[i].status == ACME_VALID)
			assert_string_equal(o.certificate,
			    "https://example.com/acme/cert/mAt3xBGaobw");
		else
			assert_null(o.certificate);
		if (cases[i].status == ACME_INVALID) {
			assert_non_null(o.error);
			assert_true(acme_problem_is(o.error, "unauthorized"));
			assert_int_equal(o.error->status, 403);
			assert_string_equal(acme_problem_describe(o.error, buf,
			    sizeof buf), "unauthorized: Some authorizations "
			    "failed");
		} else {
			assert_null(o.error);
		}
		acme_order_release(&o);
	}
	assert_string_equal(acme_status_name(ACME_PROCESSING), "processing");
	assert_string_equal(acme_status_name((enum acme_status)99),
	    "unknown");
}

static void test_order_malformed(void **state)
{
	static const struct bad_case cases[] = {
		{ "{\"status\":\"done\",\"identifiers\":[],\"authorizations\":"
		    "[],\"finalize\":\"https://a/f\"}",
		    "malformed order: unknown status 'done'" },
		/* An authorization status is not an order status. */
		{ "{\"status\":\"deactivated\"}",
		    "malformed order: unknown status 'deactivated'" },
		{ "{\"status\":7}",
		    "malformed order: 'status' is a number, not a string" },
		{ "{\"identifiers\":[]}", "malformed order: missing 'status'" },
		{ "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[]}",
		    "malformed order: missing 'finalize'" },
		{ "{\"status\":\"valid\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[],\"finalize\":"
		    "\"https://a/f\"}",
		    "malformed order: status 'valid' without 'certificate'" },
		{ "{\"status\":\"pending\",\"identifiers\":[],"
		    "\"authorizations\":[],\"finalize\":\"https://a/f\"}",
		    "malformed order: 'identifiers' is empty" },
		{ "{\"status\":\"pending\",\"identifiers\":{},"
		    "\"authorizations\":[],\"finalize\":\"https://a/f\"}",
		    "malformed order: 'identifiers' is an object, not an "
		    "array" },
		{ "{\"status\":\"pending\",\"identifiers\":[\"dns:a\"],"
		    "\"authorizations\":[],\"finalize\":\"https://a/f\"}",
		    "malformed order: an identifier is a string, not an "
		    "object" },
		{ "{\"status\":\"pending\","
		    "\"identifiers\":[{\"type\":\"dns\"}],"
		    "\"authorizations\":[],\"finalize\":\"https://a/f\"}",
		    "malformed order: missing 'value'" },
		{ "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\\nb\"}],\"authorizations\":[],\"finalize\":"
		    "\"https://a/f\"}",
		    "malformed order: 'value' holds control characters or is "
		    "too long" },
		{ "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[null],\"finalize\":"
		    "\"https://a/f\"}",
		    "malformed order: authorization 0 is null, not a string" },
		{ "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[\"javascript:x\"],"
		    "\"finalize\":\"https://a/f\"}",
		    "malformed order: authorization 0 is not an http(s) URL: "
		    "'javascript:x'" },
		{ "{\"status\":\"invalid\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[],\"finalize\":"
		    "\"https://a/f\",\"error\":\"boom\"}",
		    "malformed order: the problem is a string, not an object" },
		{ "{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\","
		    "\"value\":\"a\"}],\"authorizations\":[],\"finalize\":"
		    "\"https://a/f\",\"expires\":false}",
		    "malformed order: 'expires' is a boolean, not a string" },
	};
	struct acme_order o;
	char msg[256], *big;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(acme_order_parse(cases[i].json,
		    L(cases[i].json), &o, msg, sizeof msg), CF_EINVAL);
		assert_string_equal(msg, cases[i].msg);
		acme_order_release(&o);
	}

	/* 101 identifiers: too many for one order. */
	big = malloc(101 * 40 + 200);
	n = (size_t)sprintf(big, "{\"status\":\"pending\",\"finalize\":"
	    "\"https://a/f\",\"authorizations\":[],\"identifiers\":[");
	for (i = 0; i < 101; i++)
		n += (size_t)sprintf(big + n, "%s{\"type\":\"dns\",\"value\":"
		    "\"h%zu.test\"}", i > 0 ? "," : "", i);
	strcpy(big + n, "]}");
	assert_int_equal(acme_order_parse(big, strlen(big), &o, msg,
	    sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed order: 'identifiers' has 101 "
	    "entries (at most 100)");
	acme_order_release(&o);
	free(big);
}

static void test_authz(void **state)
{
	const struct acme_challenge *ch;
	struct acme_authz a;
	char msg[256], buf[256];

	(void)state;
	assert_int_equal(acme_authz_parse(AUTHZ, L(AUTHZ), &a, msg,
	    sizeof msg), 0);
	assert_int_equal(a.status, ACME_PENDING);
	assert_string_equal(a.identifier.type, "dns");
	assert_string_equal(a.identifier.value, "www.example.org");
	assert_string_equal(a.expires, "2016-01-02T14:09:30Z");
	assert_false(a.wildcard);
	assert_int_equal(a.nchallenges, 4);
	ch = acme_authz_challenge(&a, "http-01");
	assert_non_null(ch);
	assert_string_equal(ch->url,
	    "https://example.com/acme/chall/prV_B7yEyA4");
	assert_string_equal(ch->token, "DGyRejmCefe7v4NfDGDKfA");
	assert_int_equal(ch->status, ACME_PENDING);
	assert_null(ch->error);
	ch = acme_authz_challenge(&a, "dns-01");
	assert_string_equal(ch->token,
	    "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0");
	ch = acme_authz_challenge(&a, "future-02");
	assert_non_null(ch);
	assert_null(ch->token);
	assert_null(acme_authz_challenge(&a, "http-02"));
	acme_authz_release(&a);

	assert_int_equal(acme_authz_parse(AUTHZ_INVALID, L(AUTHZ_INVALID), &a,
	    msg, sizeof msg), 0);
	assert_int_equal(a.status, ACME_INVALID);
	assert_true(a.wildcard);
	assert_null(a.expires);
	assert_int_equal(a.nchallenges, 1);
	assert_int_equal(a.challenges[0].status, ACME_INVALID);
	assert_non_null(a.challenges[0].error);
	assert_true(acme_problem_is(a.challenges[0].error, "dns"));
	/* The CA's text loses its control characters. */
	assert_string_equal(a.challenges[0].error->detail,
	    "no TXT record?found?");
	assert_string_equal(acme_problem_describe(a.challenges[0].error, buf,
	    sizeof buf), "dns: no TXT record?found?");
	acme_authz_release(&a);
}

static void test_authz_malformed(void **state)
{
	static const struct bad_case cases[] = {
		{ "{\"status\":\"ready\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"a\"},\"challenges\":[]}",
		    "malformed authorization: unknown status 'ready'" },
		{ "{\"status\":\"pending\",\"challenges\":[]}",
		    "malformed authorization: missing 'identifier'" },
		{ "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"a\"}}",
		    "malformed authorization: missing 'challenges'" },
		{ "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"a\"},\"wildcard\":1,\"challenges\":[]}",
		    "malformed authorization: 'wildcard' is a number, not a "
		    "boolean" },
		{ "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"a\"},\"challenges\":[{\"type\":\"http-01\","
		    "\"url\":\"https://a/c\",\"status\":\"pending\",\"token\":"
		    "\"../../etc/passwd\"}]}",
		    "malformed authorization: challenge 'http-01' has an "
		    "unsafe token '../../etc/passwd'" },
		{ "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"a\"},\"challenges\":[{\"type\":\"http-01\","
		    "\"url\":\"https://a/c\",\"status\":\"pending\"}]}",
		    "malformed authorization: challenge 'http-01' has no "
		    "token" },
		{ "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"a\"},\"challenges\":[{\"type\":\"http-01\","
		    "\"url\":\"https://a/c\",\"status\":\"ready\",\"token\":"
		    "\"abc\"}]}",
		    "malformed authorization: unknown status 'ready'" },
		{ "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"a\"},\"challenges\":[{\"type\":\"http-01\","
		    "\"status\":\"pending\",\"token\":\"abc\"}]}",
		    "malformed authorization: missing 'url'" },
		{ "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"a\"},\"challenges\":[17]}",
		    "malformed authorization: a challenge is a number, not an "
		    "object" },
		{ "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\","
		    "\"value\":\"a\"},\"challenges\":[{\"type\":\"http-01\","
		    "\"url\":\"https://a/c\",\"status\":\"pending\",\"token\":"
		    "\"a\\u001bb\"}]}",
		    "malformed authorization: 'token' holds control "
		    "characters or is too long" },
	};
	struct acme_authz a;
	char msg[256], *big;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(acme_authz_parse(cases[i].json,
		    L(cases[i].json), &a, msg, sizeof msg), CF_EINVAL);
		assert_string_equal(msg, cases[i].msg);
		acme_authz_release(&a);
	}

	big = malloc(17 * 100 + 200);
	n = (size_t)sprintf(big, "{\"status\":\"pending\",\"identifier\":"
	    "{\"type\":\"dns\",\"value\":\"a\"},\"challenges\":[");
	for (i = 0; i < 17; i++)
		n += (size_t)sprintf(big + n, "%s{\"type\":\"x-%zu\",\"url\":"
		    "\"https://a/c\",\"status\":\"pending\"}", i > 0 ? "," : "",
		    i);
	strcpy(big + n, "]}");
	assert_int_equal(acme_authz_parse(big, strlen(big), &a, msg,
	    sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed authorization: 'challenges' has "
	    "17 entries (at most 16)");
	acme_authz_release(&a);
	free(big);
}

static void test_problems(void **state)
{
	struct acme_problem p;
	char msg[256], buf[512];

	(void)state;
	assert_int_equal(acme_problem_parse(PROBLEM_SUBS, L(PROBLEM_SUBS), &p,
	    msg, sizeof msg), 0);
	assert_true(acme_problem_is(&p, "malformed"));
	assert_false(acme_problem_is(&p, "badNonce"));
	assert_int_equal(p.status, 400);
	assert_int_equal(p.nsub, 2);
	assert_string_equal(p.sub[1].identifier.value, "example.net");
	assert_true(acme_problem_is(&p.sub[1], "rejectedIdentifier"));
	assert_string_equal(acme_problem_describe(&p, buf, sizeof buf),
	    "malformed: Some of the identifiers requested were rejected; "
	    "dns _example.org: malformed: Invalid underscore in DNS name "
	    "\"_example.org\"; dns example.net: rejectedIdentifier: This CA "
	    "will not issue for \"example.net\"");
	/* A short buffer is truncated, never overrun. */
	assert_string_equal(acme_problem_describe(&p, buf, 12),
	    "malformed: ");
	acme_problem_release(&p);

	assert_int_equal(acme_problem_parse(J("{\"type\":"
	    "\"urn:ietf:params:acme:"
	    "error:badNonce\",\"detail\":\"JWS has an invalid anti-replay "
	    "nonce\"}"), &p, msg, sizeof msg), 0);
	assert_true(acme_problem_is(&p, "badNonce"));
	assert_int_equal(p.status, 0);
	acme_problem_release(&p);

	assert_int_equal(acme_problem_parse(J("{\"type\":"
	    "\"urn:ietf:params:acme:"
	    "error:rateLimited\",\"detail\":\"too many certificates\","
	    "\"status\":429}"), &p, msg, sizeof msg), 0);
	assert_true(acme_problem_is(&p, "rateLimited"));
	assert_int_equal(p.status, 429);
	acme_problem_release(&p);

	/* Nothing but braces: about:blank, no detail. */
	assert_int_equal(acme_problem_parse(J("{}"), &p, msg, sizeof msg), 0);
	assert_string_equal(p.type, "about:blank");
	assert_string_equal(p.detail, "");
	assert_false(acme_problem_is(&p, "badNonce"));
	assert_string_equal(acme_problem_describe(&p, buf, sizeof buf),
	    "about:blank");
	acme_problem_release(&p);

	/* An HTML error page is not a problem document. */
	assert_int_equal(acme_problem_parse(J("<html>502</html>"), &p, msg,
	    sizeof msg), CF_EINVAL);
	assert_memory_equal(msg, "malformed problem document: not JSON", 36);
	acme_problem_release(&p);
	assert_int_equal(acme_problem_parse(J("{\"status\":\"400\"}"), &p, msg,
	    sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed problem document: 'status' is "
	    "not an HTTP status code");
	acme_problem_release(&p);
	assert_int_equal(acme_problem_parse(J("{\"subproblems\":[1]}"), &p,
	    msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed problem document: a subproblem "
	    "is a number, not an object");
	acme_problem_release(&p);
	assert_false(acme_problem_is(NULL, "badNonce"));
}

static void test_account(void **state)
{
	struct acme_account a;
	char msg[256];

	(void)state;
	assert_int_equal(acme_account_parse(J("{\"status\":\"valid\","
	    "\"contact\":[\"mailto:a@b.test\"],\"orders\":"
	    "\"https://a/acct/1/orders\"}"), &a, msg, sizeof msg), 0);
	assert_int_equal(a.status, ACME_VALID);
	assert_string_equal(a.orders, "https://a/acct/1/orders");
	acme_account_release(&a);
	assert_int_equal(acme_account_parse(J("{\"status\":\"revoked\"}"), &a,
	    msg, sizeof msg), 0);
	assert_int_equal(a.status, ACME_REVOKED);
	assert_null(a.orders);
	acme_account_release(&a);
	assert_int_equal(acme_account_parse(J("{\"status\":\"pending\"}"), &a,
	    msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed account: unknown status "
	    "'pending'");
	acme_account_release(&a);
}

/* Every parser, on any input: 0 or CF_EINVAL, and a releasable struct. */
static void parse_all(const char *json, size_t len)
{
	struct acme_directory d;
	struct acme_account ac;
	struct acme_order o;
	struct acme_authz a;
	struct acme_problem p;
	char msg[256];
	int rc;

	rc = acme_directory_parse(json, len, &d, msg, sizeof msg);
	assert_true(rc == 0 || rc == CF_EINVAL);
	acme_directory_release(&d);
	rc = acme_account_parse(json, len, &ac, msg, sizeof msg);
	assert_true(rc == 0 || rc == CF_EINVAL);
	acme_account_release(&ac);
	rc = acme_order_parse(json, len, &o, msg, sizeof msg);
	assert_true(rc == 0 || rc == CF_EINVAL);
	acme_order_release(&o);
	rc = acme_authz_parse(json, len, &a, msg, sizeof msg);
	assert_true(rc == 0 || rc == CF_EINVAL);
	acme_authz_release(&a);
	rc = acme_problem_parse(json, len, &p, msg, sizeof msg);
	assert_true(rc == 0 || rc == CF_EINVAL);
	acme_problem_release(&p);
}

/* Replaces every member (depth-first, objects inside arrays too) of a
 * fixture by values of every other type, one at a time. */
static void swap_members(json_t *root, json_t *node)
{
	static const char *const subs[] = { "null", "1", "-1", "1.5", "true",
	    "\"\"", "\"x\\u0000y\"", "[]", "{}", "[null]", "[{}]",
	    "\"https://a/\"", "\"../x\"" };
	const char *key;
	json_t *v, *old, *nv;
	size_t i, j;
	char *text;

	if (json_is_object(node)) {
		size_t nkeys = json_object_size(node), ki = 0;
		char **keys = calloc(nkeys, sizeof *keys);

		/* Keys first: deleting and re-adding reorders the object. */
		json_object_foreach(node, key, v)
			keys[ki++] = strdup(key);
		for (ki = 0; ki < nkeys; ki++) {
			key = keys[ki];
			old = json_incref(json_object_get(node, key));
			for (j = 0; j < sizeof subs / sizeof subs[0]; j++) {
				nv = json_loads(subs[j], JSON_DECODE_ANY |
				    JSON_ALLOW_NUL, NULL);
				assert_non_null(nv);
				json_object_set_new(node, key, nv);
				text = json_dumps(root, 0);
				parse_all(text, strlen(text));
				free(text);
			}
			json_object_del(node, key);
			text = json_dumps(root, 0);
			parse_all(text, strlen(text));
			free(text);
			json_object_set_new(node, key, old);
			swap_members(root, old);
			free(keys[ki]);
		}
		free(keys);
	} else if (json_is_array(node)) {
		for (i = 0; i < json_array_size(node); i++)
			swap_members(root, json_array_get(node, i));
	}
}

static void test_hostile(void **state)
{
	static const char *const fixtures[] = { LE_DIRECTORY,
	    PEBBLE_DIRECTORY, ORDER_VALID, ORDER_INVALID, AUTHZ,
	    AUTHZ_INVALID, PROBLEM_SUBS };
	unsigned long seed = 12345;
	size_t f, i, len, k;
	json_t *root;
	char *buf;

	(void)state;
	for (f = 0; f < sizeof fixtures / sizeof fixtures[0]; f++) {
		len = strlen(fixtures[f]);
		parse_all(fixtures[f], len);
		/* Every truncation. */
		for (i = 0; i < len; i++)
			parse_all(fixtures[f], i);
		/* Random byte flips. */
		buf = malloc(len + 1);
		for (i = 0; i < 300; i++) {
			memcpy(buf, fixtures[f], len + 1);
			for (k = 0; k < 3; k++) {
				seed = seed * 6364136223846793005UL +
				    1442695040888963407UL;
				buf[(seed >> 33) % len] = (char)(seed >> 20);
			}
			parse_all(buf, len);
		}
		free(buf);
		/* Every member with every wrong type. */
		root = json_loads(fixtures[f], 0, NULL);
		assert_non_null(root);
		swap_members(root, root);
		json_decref(root);
	}

	/* Deep nesting stops in jansson's parser, not in our stack. */
	len = 200000;
	buf = malloc(len + 1);
	memset(buf, '[', len / 2);
	memset(buf + len / 2, ']', len / 2);
	buf[len] = '\0';
	parse_all(buf, len);
	memcpy(buf, "{\"status\":", 10);
	parse_all(buf, len);
	free(buf);
	parse_all("{\"status\":\"pending\"}\0garbage", 28);
}

static void test_new_account_payload(void **state)
{
	const char *contact[] = { "mailto:ops@contoso.test",
	    "mailto:pki@contoso.test" };
	const char *bad[] = { "ops@contoso.test" };
	const char *bad2[] = { "mailto:a@b.test,c@d.test" };
	const char *bad3[] = { "mailto:a@b.test\r\nX: y" };
	json_t *eab;
	char *out, msg[256];

	(void)state;
	assert_int_equal(acme_new_account_payload(contact, 2, true, false,
	    NULL, &out, msg, sizeof msg), 0);
	assert_string_equal(out, "{\"contact\":[\"mailto:ops@contoso.test\","
	    "\"mailto:pki@contoso.test\"],\"termsOfServiceAgreed\":true}");
	free(out);
	assert_int_equal(acme_new_account_payload(NULL, 0, false, true, NULL,
	    &out, msg, sizeof msg), 0);
	assert_string_equal(out, "{\"onlyReturnExisting\":true}");
	free(out);
	eab = json_pack("{s:s, s:s, s:s}", "protected", "e30", "payload",
	    "e30", "signature", "c2ln");
	assert_int_equal(acme_new_account_payload(contact, 1, true, false,
	    eab, &out, msg, sizeof msg), 0);
	assert_string_equal(out, "{\"contact\":[\"mailto:ops@contoso.test\"],"
	    "\"termsOfServiceAgreed\":true,\"externalAccountBinding\":"
	    "{\"protected\":\"e30\",\"payload\":\"e30\",\"signature\":"
	    "\"c2ln\"}}");
	free(out);
	json_decref(eab);

	assert_int_equal(acme_new_account_payload(bad, 1, true, false, NULL,
	    &out, msg, sizeof msg), CF_EINVAL);
	assert_null(out);
	assert_string_equal(msg, "invalid ACME contact 'ops@contoso.test': "
	    "use mailto:address");
	assert_int_equal(acme_new_account_payload(bad2, 1, true, false, NULL,
	    &out, msg, sizeof msg), CF_EINVAL);
	assert_int_equal(acme_new_account_payload(bad3, 1, true, false, NULL,
	    &out, msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "invalid ACME contact 'mailto:a@b.test??X: "
	    "y': use mailto:address");
}

static void test_new_order_payload(void **state)
{
	char *sans[] = { "DNS:fe01.contoso.test", "IP:10.0.0.1",
	    "DNS:*.contoso.test", "IP:2001:DB8:0:0:0:0:0:1",
	    "DNS:FE01.contoso.test", "IP:2001:db8::1", "ip:::ffff:10.0.0.2" };
	char *email[] = { "DNS:a.test", "email:ops@contoso.test" };
	char *badsan[] = { "DNS:a_b.test" };
	char *out, msg[256];

	(void)state;
	assert_int_equal(acme_new_order_payload(sans, 7, &out, msg,
	    sizeof msg), 0);
	assert_string_equal(out, "{\"identifiers\":["
	    "{\"type\":\"dns\",\"value\":\"fe01.contoso.test\"},"
	    "{\"type\":\"ip\",\"value\":\"10.0.0.1\"},"
	    "{\"type\":\"dns\",\"value\":\"*.contoso.test\"},"
	    "{\"type\":\"ip\",\"value\":\"2001:db8::1\"},"
	    "{\"type\":\"ip\",\"value\":\"::ffff:10.0.0.2\"}]}");
	free(out);

	assert_int_equal(acme_new_order_payload(email, 2, &out, msg,
	    sizeof msg), CF_EINVAL);
	assert_null(out);
	assert_string_equal(msg, "cannot request SAN 'email:ops@contoso.test' "
	    "from an ACME CA: only DNS and IP names");
	assert_int_equal(acme_new_order_payload(badsan, 1, &out, msg,
	    sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed SAN 'DNS:a_b.test': 'a_b.test' is "
	    "not a valid DNS name");
	assert_int_equal(acme_new_order_payload(NULL, 0, &out, msg,
	    sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "no DNS or IP name to request from the ACME "
	    "CA");
}

static void test_finalize_payload(void **state)
{
	static const unsigned char der[] = { 0x30, 0x82, 0x01, 0xfb, 0xff };
	char *out, msg[256];

	(void)state;
	assert_int_equal(acme_finalize_payload(der, sizeof der, &out, msg,
	    sizeof msg), 0);
	assert_string_equal(out, "{\"csr\":\"MIIB-_8\"}");
	free(out);
	assert_int_equal(acme_finalize_payload(der, 0, &out, msg, sizeof msg),
	    CF_EINVAL);
	assert_null(out);
}

static void test_nonce(void **state)
{
	char longn[600];

	(void)state;
	assert_true(acme_nonce_valid("oFvnlFP1wIhRlYS2jTaXbA"));
	assert_false(acme_nonce_valid(""));
	assert_false(acme_nonce_valid(NULL));
	assert_false(acme_nonce_valid("abc=="));
	assert_false(acme_nonce_valid("a b"));
	assert_false(acme_nonce_valid("a\"b"));
	memset(longn, 'a', sizeof longn - 1);
	longn[sizeof longn - 1] = '\0';
	assert_false(acme_nonce_valid(longn));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_directory),
		cmocka_unit_test(test_directory_malformed),
		cmocka_unit_test(test_orders),
		cmocka_unit_test(test_order_malformed),
		cmocka_unit_test(test_authz),
		cmocka_unit_test(test_authz_malformed),
		cmocka_unit_test(test_problems),
		cmocka_unit_test(test_account),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_new_account_payload),
		cmocka_unit_test(test_new_order_payload),
		cmocka_unit_test(test_finalize_payload),
		cmocka_unit_test(test_nonce),
	};

	return cmocka_run_group_tests_name("acme_proto", tests, NULL, NULL);
}
