/*
 * The command CA: certmonger's protocol as pure functions (the helper's
 * environment, every exit status, PEM and PKCS#7 answers, chains built
 * from what the helper and FETCH-ROOTS returned, text made fit for a
 * report, the back-off), then the driver on a real loop against a small
 * shell helper (the cookie round trip, a poll without a cookie, a timeout,
 * a helper that cannot run).
 */
#include "tests/unit/unit.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/str.h"
#include "engine/base/strv.h"
#include "engine/ca/ca_command.h"
#include "engine/ca/certmonger.h"

#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
	EVP_PKEY *kroot, *kinter, *kleaf, *kother, *kunrel;
	X509 *root, *inter, *leaf, *other, *unrel;
	char *csr_pem;
	struct req_spec spec;
	char dir[64];
} F;

/* ---- fixtures ---- */

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for key named CN=cn, issued by issuer (NULL: itself). */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer,
    EVP_PKEY *ikey, bool ca)
{
	static long serial = 1;
	X509 *x = X509_new();
	X509V3_CTX ctx;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
	    X509_get_subject_name(x));
	X509_set_pubkey(x, key);
	ASN1_TIME_set_string_X509(X509_getm_notBefore(x), "20200101000000Z");
	ASN1_TIME_set_string_X509(X509_getm_notAfter(x), "21200101000000Z");
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (issuer == NULL)
		X509V3_set_issuer_pkey(&ctx, key);
	add_ext(x, &ctx, NID_basic_constraints, ca ? "critical,CA:TRUE" :
	    "critical,CA:FALSE");
	add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	assert_true(X509_sign(x, issuer ? ikey : key, EVP_sha256()) > 0);
	return x;
}

static EVP_PKEY *ec_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	return k;
}

static char *pem(X509 *x)
{
	char *s, m[64];

	assert_int_equal(crypto_cert_to_pem(x, &s, m, sizeof m), 0);
	return s;
}

/* certs (NULL-ended) as a PKCS#7 "certs only", PEM or DER. */
static char *p7_of(X509 *const *certs, bool as_pem, size_t *len)
{
	PKCS7 *p7 = PKCS7_new();
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;
	size_t i;

	assert_non_null(p7);
	assert_int_equal(PKCS7_set_type(p7, NID_pkcs7_signed), 1);
	assert_int_equal(PKCS7_content_new(p7, NID_pkcs7_data), 1);
	for (i = 0; certs[i] != NULL; i++)
		assert_int_equal(PKCS7_add_certificate(p7, certs[i]), 1);
	assert_int_equal(as_pem ? PEM_write_bio_PKCS7(b, p7) :
	    i2d_PKCS7_bio(b, p7), 1);
	n = BIO_get_mem_data(b, &data);
	s = malloc((size_t)n + 1);
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*len = (size_t)n;
	BIO_free(b);
	PKCS7_free(p7);
	return s;
}

static int setup(void **state)
{
	X509_REQ *csr;
	char m[256];

	(void)state;
	F.kroot = ec_key();
	F.kinter = ec_key();
	F.kleaf = ec_key();
	F.kother = ec_key();
	F.kunrel = ec_key();
	F.root = make_cert("Test Root", F.kroot, NULL, NULL, true);
	F.inter = make_cert("Test Issuing", F.kinter, F.root, F.kroot, true);
	F.leaf = make_cert("web01.test", F.kleaf, F.inter, F.kinter, false);
	F.other = make_cert("other.test", F.kother, F.inter, F.kinter, false);
	F.unrel = make_cert("Unrelated Root", F.kunrel, NULL, NULL, true);
	req_spec_init(&F.spec);
	F.spec.subject = strdup("CN=web01.test, O=Test");
	req_spec_add_san(&F.spec, "DNS:web01.test");
	req_spec_add_san(&F.spec, "DNS:www.web01.test");
	req_spec_add_san(&F.spec, "IP:10.0.0.1");
	req_spec_add_san(&F.spec, "email:ops@web01.test");
	req_spec_add_san(&F.spec, "URI:spiffe://test/web01");
	assert_int_equal(crypto_csr_new(F.kleaf, &F.spec, &csr, m, sizeof m),
	    0);
	assert_int_equal(crypto_csr_to_pem(csr, &F.csr_pem, m, sizeof m), 0);
	X509_REQ_free(csr);
	strcpy(F.dir, "/tmp/test_ca_command.XXXXXX");
	assert_non_null(mkdtemp(F.dir));
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	X509_free(F.root);
	X509_free(F.inter);
	X509_free(F.leaf);
	X509_free(F.other);
	X509_free(F.unrel);
	EVP_PKEY_free(F.kroot);
	EVP_PKEY_free(F.kinter);
	EVP_PKEY_free(F.kleaf);
	EVP_PKEY_free(F.kother);
	EVP_PKEY_free(F.kunrel);
	free(F.csr_pem);
	req_spec_release(&F.spec);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", F.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* The value of name in env, or NULL. */
static const char *getv(char **env, const char *name)
{
	size_t n = strlen(name), i;

	for (i = 0; env[i] != NULL; i++)
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

/* ---- the environment ---- */

static void test_env_submit(void **state)
{
	char *ours[] = { "PATH=/opt/bin:/usr/bin", "HOME=/root",
	    "SECRET_TOKEN=x", "CERTMONGER_OPERATION=POLL",
	    "KRB5CCNAME=FILE:/tmp/krb5cc_0", "PATHX=no", NULL };
	struct certmonger_call call = { "SUBMIT", F.csr_pem, "cookie-x",
	    &F.spec, "-----BEGIN CERTIFICATE-----\nold\n", "WebServer",
	    "corp-ca" };
	unsigned char *der = NULL;
	char **env, m[256], *b64;
	int len, i, ops = 0;

	(void)state;
	call.cookie = NULL;     /* SUBMIT has none */
	assert_int_equal(certmonger_env(&call, ours, &env, m, sizeof m), 0);
	assert_string_equal(getv(env, "PATH"), "/opt/bin:/usr/bin");
	assert_string_equal(getv(env, "HOME"), "/root");
	assert_string_equal(getv(env, "KRB5CCNAME"), "FILE:/tmp/krb5cc_0");
	assert_null(getv(env, "SECRET_TOKEN"));
	assert_null(getv(env, "PATHX"));
	for (i = 0; env[i] != NULL; i++)
		ops += strncmp(env[i], "CERTMONGER_OPERATION=", 21) == 0;
	assert_int_equal(ops, 1);
	assert_string_equal(getv(env, "CERTMONGER_OPERATION"), "SUBMIT");
	assert_string_equal(getv(env, "CERTMONGER_CSR"), F.csr_pem);
	assert_null(getv(env, "CERTMONGER_CA_COOKIE"));
	assert_string_equal(getv(env, "CERTMONGER_REQ_SUBJECT"),
	    "CN=web01.test, O=Test");
	assert_string_equal(getv(env, "CERTMONGER_REQ_HOSTNAME"),
	    "web01.test\nwww.web01.test");
	assert_string_equal(getv(env, "CERTMONGER_REQ_IP_ADDRESS"), "10.0.0.1");
	assert_string_equal(getv(env, "CERTMONGER_REQ_EMAIL"),
	    "ops@web01.test");
	assert_string_equal(getv(env, "CERTMONGER_CA_PROFILE"), "WebServer");
	assert_string_equal(getv(env, "CERTMONGER_CA_NICKNAME"), "corp-ca");
	assert_string_equal(getv(env, "CERTMONGER_CERTIFICATE"),
	    "-----BEGIN CERTIFICATE-----\nold\n");
	assert_string_equal(getv(env, "CERTMONGER_KEY_TYPE"), "EC");
	/* The SPKI is the CSR key's DER, base64 on one line. */
	len = i2d_PUBKEY(F.kleaf, &der);
	b64 = malloc((size_t)len * 2 + 4);
	EVP_EncodeBlock((unsigned char *)b64, der, len);
	assert_string_equal(getv(env, "CERTMONGER_SPKI"), b64);
	free(b64);
	OPENSSL_free(der);
	strv_free(env);
}

static void test_env_poll_and_roots(void **state)
{
	struct certmonger_call poll = { "POLL", F.csr_pem, "req-17,ref",
	    NULL, NULL, NULL, NULL };
	struct certmonger_call roots = { "FETCH-ROOTS", NULL, NULL, NULL,
	    NULL, NULL, "corp-ca" };
	char *ours[] = { "HOME=/root", NULL };
	char **env, m[256];

	(void)state;
	assert_int_equal(certmonger_env(&poll, ours, &env, m, sizeof m), 0);
	assert_string_equal(getv(env, "CERTMONGER_OPERATION"), "POLL");
	assert_string_equal(getv(env, "CERTMONGER_CA_COOKIE"), "req-17,ref");
	/* Nothing set that the call does not have, and a PATH always. */
	assert_null(getv(env, "CERTMONGER_CA_PROFILE"));
	assert_null(getv(env, "CERTMONGER_REQ_HOSTNAME"));
	assert_non_null(getv(env, "PATH"));
	strv_free(env);
	assert_int_equal(certmonger_env(&roots, NULL, &env, m, sizeof m), 0);
	assert_string_equal(getv(env, "CERTMONGER_OPERATION"), "FETCH-ROOTS");
	assert_string_equal(getv(env, "CERTMONGER_CA_NICKNAME"), "corp-ca");
	assert_null(getv(env, "CERTMONGER_CSR"));
	assert_null(getv(env, "CERTMONGER_SPKI"));
	strv_free(env);
	poll.csr_pem = "not a csr";
	assert_int_equal(certmonger_env(&poll, NULL, &env, m, sizeof m),
	    CF_EINVAL);
	assert_null(env);
}

/* ---- certificates in an answer ---- */

static void assert_certs(STACK_OF(X509) *sk, X509 *const *want)
{
	int i;

	for (i = 0; want[i] != NULL; i++) {
		assert_true(i < sk_X509_num(sk));
		assert_int_equal(X509_cmp(sk_X509_value(sk, i), want[i]), 0);
	}
	assert_int_equal(sk_X509_num(sk), i);
}

static void test_certs_parse(void **state)
{
	X509 *const pair[] = { F.leaf, F.inter, NULL };
	X509 *const one[] = { F.root, NULL };
	STACK_OF(X509) *sk;
	unsigned char *der = NULL;
	char *a = pem(F.root), *b = pem(F.inter), *text, *p7, m[256];
	size_t len;
	int n;

	(void)state;
	/* FETCH-ROOTS' layout: nicknames before each certificate. */
	text = cf_asprintf("Test Root\n%s\nTest Issuing\r\n%s", a, b);
	assert_int_equal(certmonger_certs_parse(text, strlen(text), &sk, m,
	    sizeof m), 0);
	assert_int_equal(sk_X509_num(sk), 2);
	sk_X509_pop_free(sk, X509_free);
	free(text);
	/* PKCS#7 certs-only, PEM and DER, and under a CERTIFICATE label. */
	p7 = p7_of(pair, true, &len);
	assert_int_equal(certmonger_certs_parse(p7, len, &sk, m, sizeof m), 0);
	assert_certs(sk, pair);
	sk_X509_pop_free(sk, X509_free);
	free(p7);
	p7 = p7_of(pair, false, &len);
	assert_int_equal(certmonger_certs_parse(p7, len, &sk, m, sizeof m), 0);
	assert_certs(sk, pair);
	sk_X509_pop_free(sk, X509_free);
	free(p7);
	/* One DER certificate. */
	n = i2d_X509(F.root, &der);
	assert_int_equal(certmonger_certs_parse((char *)der, (size_t)n, &sk,
	    m, sizeof m), 0);
	assert_certs(sk, one);
	sk_X509_pop_free(sk, X509_free);
	OPENSSL_free(der);
	/* Nothing, garbage, a broken block. */
	assert_int_equal(certmonger_certs_parse("", 0, &sk, m, sizeof m),
	    CF_EINVAL);
	assert_int_equal(certmonger_certs_parse("garbage\n", 8, &sk, m,
	    sizeof m), CF_EINVAL);
	assert_null(sk);
	text = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	assert_int_equal(certmonger_certs_parse(text, strlen(text), &sk, m,
	    sizeof m), CF_EINVAL);
	assert_string_equal(m, "malformed certificate or PKCS#7 in PEM block "
	    "#1");
	free(a);
	free(b);
}

static void test_chain(void **state)
{
	X509 *const want[] = { F.leaf, F.inter, F.root, NULL };
	X509 *const want2[] = { F.leaf, F.inter, NULL };
	X509 *const ca_want[] = { F.inter, F.root, NULL };
	STACK_OF(X509) *sent = sk_X509_new_null(), *extra = sk_X509_new_null();
	STACK_OF(X509) *path, *sk;
	char *chain, m[64];

	(void)state;
	/* Unordered, with an unrelated root: the path only. */
	sk_X509_push(sent, F.unrel);
	sk_X509_push(sent, F.inter);
	sk_X509_push(sent, F.leaf);
	sk_X509_push(extra, F.unrel);
	sk_X509_push(extra, F.root);
	path = certmonger_chain(F.leaf, sent, extra);
	assert_certs(path, want);
	sk_X509_pop_free(path, X509_free);
	path = certmonger_chain(F.leaf, sent, NULL);
	assert_certs(path, want2);
	sk_X509_pop_free(path, X509_free);
	/* Plan's chain from FETCH-ROOTS: the lowest CA first. */
	sk_X509_push(extra, F.inter);
	assert_int_equal(certmonger_ca_chain_pem(extra, &chain, m, sizeof m),
	    0);
	assert_int_equal(crypto_certs_from_pem(chain, "chain", &sk, m,
	    sizeof m), 0);
	assert_certs(sk, ca_want);
	sk_X509_pop_free(sk, X509_free);
	free(chain);
	assert_int_equal(certmonger_ca_chain_pem(NULL, &chain, m, sizeof m),
	    0);
	assert_null(chain);
	sk_X509_free(sent);
	sk_X509_free(extra);
}

/* ---- answers ---- */

static void parse(int status, const char *out, const char *err,
    STACK_OF(X509) *extra, struct certmonger_answer *a)
{
	memset(a, 0, sizeof(*a));
	assert_int_equal(certmonger_answer_parse(status, out, strlen(out),
	    err, "cepces-submit", F.kleaf, extra, a), 0);
	assert_non_null(a->status_text);
	assert_non_null(a->detail);
}

static void test_issued(void **state)
{
	X509 *const pair[] = { F.inter, F.leaf, NULL };
	X509 *const want[] = { F.leaf, F.inter, F.root, NULL };
	STACK_OF(X509) *extra = sk_X509_new_null(), *sk;
	struct certmonger_answer a;
	char *b = pem(F.inter), *c = pem(F.leaf), *o = pem(F.other), *text;
	char *p7, m[64];
	size_t len;

	(void)state;
	sk_X509_push(extra, F.root);
	/* PEM, issuing CA first: the leaf goes first, the root is added. */
	text = cf_asprintf("%s%s", b, c);
	parse(0, text, NULL, extra, &a);
	assert_int_equal(a.answer, CA_ISSUED);
	assert_string_equal(a.status_text, "issued");
	assert_int_equal(crypto_certs_from_pem(a.certs_pem, "x", &sk, m,
	    sizeof m), 0);
	assert_certs(sk, want);
	sk_X509_pop_free(sk, X509_free);
	certmonger_answer_release(&a);
	free(text);
	/* A PKCS#7 certs-only answer. */
	p7 = p7_of(pair, true, &len);
	parse(0, p7, NULL, extra, &a);
	assert_int_equal(a.answer, CA_ISSUED);
	assert_int_equal(crypto_certs_from_pem(a.certs_pem, "x", &sk, m,
	    sizeof m), 0);
	assert_certs(sk, want);
	sk_X509_pop_free(sk, X509_free);
	certmonger_answer_release(&a);
	free(p7);
	/* Garbage, and a certificate for another key. */
	parse(0, "Certificate issued.\n", NULL, extra, &a);
	assert_int_equal(a.answer, CA_ERROR);
	assert_string_equal(a.detail, "the helper 'cepces-submit' said issued "
	    "(exit 0), but its answer holds no certificate: no certificate");
	certmonger_answer_release(&a);
	parse(0, o, NULL, extra, &a);
	assert_int_equal(a.answer, CA_ERROR);
	assert_string_equal(a.detail, "the helper 'cepces-submit' returned no "
	    "certificate for the request's key");
	certmonger_answer_release(&a);
	sk_X509_free(extra);
	free(b);
	free(c);
	free(o);
}

static void test_waits(void **state)
{
	struct certmonger_answer a;

	(void)state;
	parse(1, "  req-17,ABC\r\n", NULL, NULL, &a);
	assert_int_equal(a.answer, CA_PENDING);
	assert_true(a.backoff);
	assert_int_equal(a.delay, -1);
	assert_string_equal(a.cookie, "req-17,ABC");
	assert_string_equal(a.status_text, "waiting");
	assert_null(strstr(a.detail, "req-17"));
	certmonger_answer_release(&a);
	/* No cookie: certmonger submits again; so do we. */
	parse(1, "\n", NULL, NULL, &a);
	assert_int_equal(a.answer, CA_PENDING);
	assert_null(a.cookie);
	certmonger_answer_release(&a);
	parse(5, "30\nreq-18\n", NULL, NULL, &a);
	assert_int_equal(a.answer, CA_PENDING);
	assert_false(a.backoff);
	assert_int_equal(a.delay, 30);
	assert_string_equal(a.cookie, "req-18");
	certmonger_answer_release(&a);
	/* A delay past a week is a week. */
	parse(5, "99999999999999999999\r\nc", NULL, NULL, &a);
	assert_int_equal(a.delay, 7 * 24 * 3600);
	assert_string_equal(a.cookie, "c");
	certmonger_answer_release(&a);
	parse(5, "soon\nreq-19\n", NULL, NULL, &a);
	assert_int_equal(a.answer, CA_ERROR);
	assert_null(a.cookie);
	assert_null(strstr(a.detail, "req-19"));
	certmonger_answer_release(&a);
}

static void test_refusals(void **state)
{
	struct certmonger_answer a;

	(void)state;
	parse(2, "Denied by Policy Module\n  0x80094012\n", "trace", NULL, &a);
	assert_int_equal(a.answer, CA_DENIED);
	assert_string_equal(a.status_text, "rejected");
	assert_string_equal(a.detail, "Denied by Policy Module 0x80094012");
	certmonger_answer_release(&a);
	/* No words on stdout: stderr's. */
	parse(2, "", "template not allowed\n", NULL, &a);
	assert_string_equal(a.detail, "template not allowed");
	certmonger_answer_release(&a);
	parse(3, "Connection refused\n", NULL, NULL, &a);
	assert_int_equal(a.answer, CA_PENDING);
	assert_true(a.backoff);
	assert_string_equal(a.status_text, "unreachable");
	assert_string_equal(a.detail, "the helper 'cepces-submit' cannot reach "
	    "the CA: Connection refused; asking again later");
	certmonger_answer_release(&a);
	parse(4, "no server configured\n", NULL, NULL, &a);
	assert_int_equal(a.answer, CA_ERROR);
	assert_string_equal(a.status_text, "underconfigured");
	assert_string_equal(a.detail, "the helper 'cepces-submit' is not "
	    "configured: no server configured");
	certmonger_answer_release(&a);
	parse(6, "", NULL, NULL, &a);
	assert_int_equal(a.answer, CA_ERROR);
	assert_string_equal(a.status_text, "unsupported");
	certmonger_answer_release(&a);
	/* Unknown: stdout is not shown (it may be a cookie), stderr is. */
	parse(42, "secret-cookie\n", "Traceback: boom\n", NULL, &a);
	assert_int_equal(a.answer, CA_ERROR);
	assert_string_equal(a.detail, "the helper 'cepces-submit' exited with "
	    "status 42: Traceback: boom");
	certmonger_answer_release(&a);
	parse(17, "", NULL, NULL, &a);
	assert_int_equal(a.answer, CA_ERROR);
	assert_non_null(strstr(a.detail, "status 17 (it asks for a new key"));
	certmonger_answer_release(&a);
}

static void test_text(void **state)
{
	char buf[16], big[600];

	(void)state;
	assert_string_equal(certmonger_text("  a\tb\n\x1b[31mc  ", 15, buf,
	    sizeof buf), "a b [31mc");
	assert_string_equal(certmonger_text("abcdefghijklmnopqrstuvwxyz", 26,
	    buf, sizeof buf), "abcdefghijkl...");
	/* Never half a UTF-8 character. */
	assert_string_equal(certmonger_text("abcdefghij\xc3\xa9\xc3\xa9xyz", 17,
	    buf, sizeof buf), "abcdefghij\xc3\xa9...");
	assert_string_equal(certmonger_text("abcdefghijk\xc3\xa9xyz", 16, buf,
	    sizeof buf), "abcdefghijk...");
	memset(big, 'x', sizeof big);
	certmonger_text(big, sizeof big, buf, sizeof buf);
	assert_int_equal(strlen(buf), sizeof buf - 1);
}

static void test_backoff(void **state)
{
	int n, i, s;

	(void)state;
	for (n = 0; n < 12; n++)
		for (i = 0; i < 50; i++) {
			double base = CA_COMMAND_BACKOFF_MIN << n;

			if (base > CA_COMMAND_BACKOFF_MAX)
				base = CA_COMMAND_BACKOFF_MAX;
			s = ca_command_backoff(n);
			assert_true(s >= (int)(base * 0.5));
			assert_true(s <= (int)(base * 1.5));
		}
	assert_true(ca_command_backoff(1000) <= CA_COMMAND_BACKOFF_MAX * 3 / 2);
}

/* ---- the driver on a loop ---- */

struct got {
	int calls;
	bool inside;
	struct ca_reply r;
};

static bool inside;

static void on_reply(void *arg, struct ca_reply *r)
{
	struct got *g = arg;

	g->calls++;
	g->inside = inside;
	ca_reply_release(&g->r);
	g->r = *r;
	memset(r, 0, sizeof(*r));
}

/* A helper in sh: FETCH-ROOTS prints the root; SUBMIT logs and waits
 * with cookie c1; POLL logs its cookie and prints the leaf. */
static void write_helper(const char *path, const char *body)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fprintf(fp, "#!/bin/sh\n%s", body);
	fclose(fp);
	assert_int_equal(chmod(path, 0755), 0);
}

static void ask(struct ca_driver *ca, uv_loop_t *loop, bool poll,
    const char *ref, struct got *g)
{
	struct ca_request req = { "web01", F.csr_pem, &F.spec, ref, false,
	    { NULL, NULL, NULL, NULL }, NULL, CA_APPROVAL_DEFAULT };

	inside = true;
	assert_int_equal((poll ? ca->ops->poll : ca->ops->submit)(ca, &req,
	    on_reply, g), 0);
	inside = false;
	assert_int_equal(g->calls, 0);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(g->calls, 1);
	assert_false(g->inside);
	g->calls = 0;
}

static char *slurp(const char *path)
{
	char *s = calloc(1, 4096);
	FILE *fp = fopen(path, "r");

	assert_non_null(fp);
	assert_true(fread(s, 1, 4095, fp) < 4095);
	fclose(fp);
	return s;
}

static void test_driver(void **state)
{
	char helper[128], log[128], *argv[] = { helper, NULL }, *body, *root;
	char *leaf, rootf[128], leaff[128], m[512], *chain, *text;
	struct ca_command_config cfg = { argv, "WebServer", "corp-ca", 30 };
	struct ca_driver *ca;
	struct got g;
	uv_loop_t loop;
	FILE *fp;

	(void)state;
	memset(&g, 0, sizeof g);
	snprintf(helper, sizeof helper, "%s/helper", F.dir);
	snprintf(log, sizeof log, "%s/log", F.dir);
	snprintf(rootf, sizeof rootf, "%s/root.pem", F.dir);
	snprintf(leaff, sizeof leaff, "%s/leaf.pem", F.dir);
	root = pem(F.root);
	leaf = pem(F.leaf);
	fp = fopen(rootf, "w");
	fprintf(fp, "Test Root\n%s", root);
	fclose(fp);
	fp = fopen(leaff, "w");
	chain = pem(F.inter);
	fprintf(fp, "%s%s", leaf, chain);
	fclose(fp);
	free(chain);
	body = cf_asprintf(
	    "echo \"$CERTMONGER_OPERATION $CERTMONGER_CA_COOKIE "
	    "$CERTMONGER_CA_PROFILE\" >>%s\n"
	    "case $CERTMONGER_OPERATION in\n"
	    "FETCH-ROOTS) cat %s ;;\n"
	    "SUBMIT) echo c1; exit 1 ;;\n"
	    "POLL) cat %s ;;\n"
	    "*) exit 6 ;;\n"
	    "esac\n", log, rootf, leaff);
	write_helper(helper, body);
	free(body);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(ca_command_new(&loop, &cfg, &ca, m, sizeof m), 0);
	assert_string_equal(ca->type, "command");
	assert_non_null(strstr(ca->id, "/helper profile=WebServer "
	    "nickname=corp-ca"));
	/* FETCH-ROOTS ran at the start: the root is plan's chain. */
	assert_int_equal(ca->ops->chain_pem(ca, &chain, m, sizeof m), 0);
	assert_string_equal(chain, root);
	free(chain);

	ask(ca, &loop, false, NULL, &g);
	assert_int_equal(g.r.answer, CA_PENDING);
	assert_string_equal(g.r.ref, "c1");
	assert_true(g.r.retry_after >= 2 && g.r.retry_after <= 8);
	/* The cookie goes back on POLL; the chain gets FETCH-ROOTS' root. */
	ask(ca, &loop, true, g.r.ref, &g);
	assert_int_equal(g.r.answer, CA_ISSUED);
	assert_string_equal(g.r.ref, "c1");
	text = cf_asprintf("%s%s%s", leaf, chain = pem(F.inter), root);
	assert_string_equal(g.r.cert_pem, text);
	free(text);
	free(chain);
	/* A poll with no cookie journaled submits. */
	ask(ca, &loop, true, NULL, &g);
	assert_int_equal(g.r.answer, CA_PENDING);
	text = slurp(log);
	assert_string_equal(text, "FETCH-ROOTS  WebServer\nSUBMIT  WebServer\n"
	    "POLL c1 WebServer\nSUBMIT  WebServer\n");
	free(text);
	ca->ops->free(ca);
	ca_reply_release(&g.r);
	assert_int_equal(uv_loop_close(&loop), 0);
	free(root);
	free(leaf);
}

static void test_driver_failures(void **state)
{
	char helper[128], *argv[] = { helper, NULL }, m[512];
	struct ca_command_config cfg = { argv, NULL, NULL, 1 };
	struct ca_driver *ca;
	struct got g;
	uv_loop_t loop;

	(void)state;
	memset(&g, 0, sizeof g);
	assert_int_equal(uv_loop_init(&loop), 0);
	/* A helper that cannot run stops the driver at its start. */
	snprintf(helper, sizeof helper, "%s/missing", F.dir);
	assert_int_equal(ca_command_new(&loop, &cfg, &ca, m, sizeof m),
	    CF_ECONFIG);
	assert_non_null(strstr(m, "missing"));
	/* No FETCH-ROOTS (exit 6): no chain. A hang: stopped, an error. */
	snprintf(helper, sizeof helper, "%s/hang", F.dir);
	write_helper(helper, "[ \"$CERTMONGER_OPERATION\" = SUBMIT ] || "
	    "exit 6\nexec sleep 60\n");
	assert_int_equal(ca_command_new(&loop, &cfg, &ca, m, sizeof m), 0);
	assert_int_equal(ca->ops->chain_pem(ca, &g.r.cert_pem, m, sizeof m),
	    0);
	assert_null(g.r.cert_pem);
	ask(ca, &loop, false, NULL, &g);
	assert_int_equal(g.r.answer, CA_ERROR);
	assert_string_equal(g.r.detail, "the helper 'hang' did not answer "
	    "within 1 s and was stopped");
	ca->ops->free(ca);
	ca_reply_release(&g.r);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_submit),
		cmocka_unit_test(test_env_poll_and_roots),
		cmocka_unit_test(test_certs_parse),
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_issued),
		cmocka_unit_test(test_waits),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_driver),
		cmocka_unit_test(test_driver_failures),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("ca_command", tests, setup,
	    teardown);
}
