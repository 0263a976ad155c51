/*
 * Keys, CSRs, PEM, thumbprints and certificate readers, checked against
 * libcrypto itself as the oracle (certificates here are built with plain
 * libcrypto calls, not with the code under test).
 */
#include "tests/unit/unit.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/reqspec.h"
#include "engine/base/str.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static const char *const sans[] = {
	"DNS:fe01.contoso.test", "DNS:*.pool.contoso.test", "IP:10.0.0.5",
	"IP:fd00::1", "email:ops@contoso.test",
	"URI:spiffe://contoso.test/fe01",
};
#define NSANS (sizeof(sans) / sizeof(sans[0]))
/* The same names in openssl.cnf syntax, for the libcrypto oracle. */
#define SANS_CNF "DNS:fe01.contoso.test,DNS:*.pool.contoso.test," \
	"IP:10.0.0.5,IP:fd00::1,email:ops@contoso.test," \
	"URI:spiffe://contoso.test/fe01"

static void spec_fill(struct req_spec *rs, const char *subject)
{
	size_t i;

	req_spec_init(rs);
	rs->subject = subject ? strdup(subject) : NULL;
	for (i = 0; i < NSANS; i++)
		assert_int_equal(req_spec_add_san(rs, sans[i]), 0);
	rs->eku = EKU_SERVER_AUTH | EKU_CLIENT_AUTH;
	rs->days = 90;
}

static EVP_PKEY *ec_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "prime256v1");

	assert_non_null(k);
	return k;
}

/* Adds an extension in openssl.cnf syntax to x. */
static void add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/*
 * A self-signed certificate built with libcrypto only: CN then O, valid
 * from nb to na, with the SAN and EKU extensions given (NULL for none).
 */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *o,
    time_t nb, time_t na, const char *san, const char *eku)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();

	assert_non_null(x);
	assert_non_null(n);
	if (o != NULL)
		assert_true(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
		    (const unsigned char *)o, -1, -1, 0));
	assert_true(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0));
	assert_true(X509_set_version(x, 2));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 42));
	assert_true(X509_set_subject_name(x, n));
	assert_true(X509_set_issuer_name(x, n));
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), nb));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), na));
	assert_true(X509_set_pubkey(x, key));
	if (san != NULL)
		add_ext(x, NID_subject_alt_name, san);
	if (eku != NULL)
		add_ext(x, NID_ext_key_usage, eku);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	X509_NAME_free(n);
	return x;
}

/* Checks that csr requests exactly the names in SANS_CNF, in order. */
static void assert_csr_sans(X509_REQ *csr)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
	X509_EXTENSION *want_ext;
	GENERAL_NAMES *got = NULL, *want;
	int i;

	assert_non_null(exts);
	for (i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
		X509_EXTENSION *e = sk_X509_EXTENSION_value(exts, i);

		if (OBJ_obj2nid(X509_EXTENSION_get_object(e)) ==
		    NID_subject_alt_name)
			got = X509V3_EXT_d2i(e);
	}
	assert_non_null(got);
	want_ext = X509V3_EXT_nconf_nid(NULL, NULL, NID_subject_alt_name,
	    SANS_CNF);
	assert_non_null(want_ext);
	want = X509V3_EXT_d2i(want_ext);
	assert_non_null(want);
	assert_int_equal(sk_GENERAL_NAME_num(got), NSANS);
	assert_int_equal(sk_GENERAL_NAME_num(want), NSANS);
	for (i = 0; i < (int)NSANS; i++)
		assert_int_equal(GENERAL_NAME_cmp(sk_GENERAL_NAME_value(got, i),
		    sk_GENERAL_NAME_value(want, i)), 0);
	GENERAL_NAMES_free(got);
	GENERAL_NAMES_free(want);
	X509_EXTENSION_free(want_ext);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static void test_keygen_and_csr_every_type(void **state)
{
	static const struct {
		const char *type, *curve;
		int bits, id, sig_nid;
	} cases[] = {
		{ "ec", "P-256", 0, EVP_PKEY_EC, NID_ecdsa_with_SHA256 },
		{ "ec", "P-384", 0, EVP_PKEY_EC, NID_ecdsa_with_SHA256 },
		{ "rsa", NULL, 2048, EVP_PKEY_RSA,
		    NID_sha256WithRSAEncryption },
		{ "rsa", NULL, 3072, EVP_PKEY_RSA,
		    NID_sha256WithRSAEncryption },
		{ "ed25519", NULL, 0, EVP_PKEY_ED25519, NID_ED25519 },
	};
	struct req_spec rs;
	char msg[256], buf[256];
	size_t i;

	(void)state;
	spec_fill(&rs, "CN=fe01.contoso.test, O=Contoso");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct key_spec ks;
		EVP_PKEY *k = NULL;
		X509_REQ *csr = NULL;
		X509_NAME *n;

		assert_int_equal(key_spec_set(&ks, cases[i].type,
		    cases[i].curve, cases[i].bits, msg, sizeof msg), 0);
		assert_int_equal(crypto_keygen(&ks, &k, msg, sizeof msg), 0);
		assert_non_null(k);
		assert_int_equal(EVP_PKEY_get_base_id(k), cases[i].id);
		assert_int_equal(EVP_PKEY_get_bits(k), ks.bits);

		assert_int_equal(crypto_csr_new(k, &rs, &csr, msg, sizeof msg),
		    0);
		assert_int_equal(X509_REQ_verify(csr, k), 1);
		assert_int_equal(X509_REQ_get_signature_nid(csr),
		    cases[i].sig_nid);
		n = X509_REQ_get_subject_name(csr);
		assert_int_equal(X509_NAME_get_text_by_NID(n, NID_commonName,
		    buf, sizeof buf), strlen("fe01.contoso.test"));
		assert_string_equal(buf, "fe01.contoso.test");
		assert_true(X509_NAME_get_text_by_NID(n,
		    NID_organizationName, buf, sizeof buf) > 0);
		assert_string_equal(buf, "Contoso");
		assert_csr_sans(csr);
		X509_REQ_free(csr);
		EVP_PKEY_free(k);
	}
	req_spec_release(&rs);
}

static void test_keygen_refuses_bad_specs(void **state)
{
	struct key_spec ks = { KEY_RSA, 1024, NULL };
	EVP_PKEY *k = NULL;
	char msg[256];

	(void)state;
	assert_int_equal(crypto_keygen(&ks, &k, msg, sizeof msg), CF_EINVAL);
	assert_null(k);
	assert_string_equal(msg,
	    "unsupported rsa size 1024 (use 2048, 3072 or 4096)");
	ks.type = KEY_EC;
	ks.bits = 521;
	ks.curve = "P-521";
	assert_int_equal(crypto_keygen(&ks, &k, msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg,
	    "unsupported curve 'P-521' (use P-256 or P-384)");
	ks.curve = NULL;
	assert_int_equal(crypto_keygen(&ks, &k, msg, sizeof msg), CF_EINVAL);
	assert_null(k);
}

static void test_csr_refuses_bad_names(void **state)
{
	struct req_spec rs;
	X509_REQ *csr = NULL;
	EVP_PKEY *k = ec_key();
	char msg[256];

	(void)state;
	req_spec_init(&rs);
	rs.subject = strdup("CN=a, XX=b");
	assert_int_equal(crypto_csr_new(k, &rs, &csr, msg, sizeof msg),
	    CF_EINVAL);
	assert_null(csr);
	assert_non_null(strstr(msg, "unknown attribute 'XX'"));
	free(rs.subject);
	rs.subject = strdup("CN=fe01");
	assert_int_equal(req_spec_add_san(&rs, "DNS:bad_name"), 0);
	assert_int_equal(crypto_csr_new(k, &rs, &csr, msg, sizeof msg),
	    CF_EINVAL);
	assert_string_equal(msg, "malformed SAN 'DNS:bad_name': 'bad_name' "
	    "is not a valid DNS name");
	req_spec_release(&rs);

	/* An empty subject is allowed; the SAN then has to be critical. */
	req_spec_init(&rs);
	assert_int_equal(req_spec_add_san(&rs, "DNS:fe01.contoso.test"), 0);
	assert_int_equal(crypto_csr_new(k, &rs, &csr, msg, sizeof msg), 0);
	assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(csr)),
	    0);
	{
		STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);

		assert_int_equal(sk_X509_EXTENSION_num(exts), 1);
		assert_int_equal(X509_EXTENSION_get_critical(
		    sk_X509_EXTENSION_value(exts, 0)), 1);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	X509_REQ_free(csr);
	req_spec_release(&rs);
	EVP_PKEY_free(k);
}

static void test_key_pem_round_trip(void **state)
{
	static const char *const types[] = { "ec", "rsa", "ed25519" };
	struct key_spec ks;
	EVP_PKEY *k, *back;
	char msg[256], *pem;
	size_t i, len;

	(void)state;
	for (i = 0; i < 3; i++) {
		assert_int_equal(key_spec_set(&ks, types[i], NULL, 0, msg,
		    sizeof msg), 0);
		assert_int_equal(crypto_keygen(&ks, &k, msg, sizeof msg), 0);
		assert_int_equal(crypto_key_to_pem(k, &pem, &len, msg,
		    sizeof msg), 0);
		assert_int_equal(len, strlen(pem));
		/* PKCS#8, unencrypted. */
		assert_memory_equal(pem, "-----BEGIN PRIVATE KEY-----\n", 28);
		assert_int_equal(crypto_key_from_pem(pem, "k.pem", &back, msg,
		    sizeof msg), 0);
		assert_int_equal(EVP_PKEY_eq(k, back), 1);
		assert_int_equal(EVP_PKEY_get_base_id(back),
		    EVP_PKEY_get_base_id(k));
		crypto_secret_free(pem, len + 1);
		EVP_PKEY_free(back);
		EVP_PKEY_free(k);
	}
	crypto_secret_free(NULL, 0);
	pem = strdup("short secret");
	crypto_secret_free(pem, 0);
}

static void test_key_from_pem_errors(void **state)
{
	EVP_PKEY *k = ec_key(), *back = NULL;
	BUF_MEM *bm;
	char msg[256], *enc;
	BIO *b;

	(void)state;
	assert_int_equal(crypto_key_from_pem("garbage", "keys/web.key", &back,
	    msg, sizeof msg), CF_EINVAL);
	assert_null(back);
	assert_memory_equal(msg, "cannot read private key from "
	    "'keys/web.key': ", 45);

	/* An encrypted key is refused, never prompted for. */
	b = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_PKCS8PrivateKey(b, k, EVP_aes_128_cbc(),
	    "pw", 2, NULL, NULL));
	BIO_get_mem_ptr(b, &bm);
	enc = strndup(bm->data, bm->length);
	BIO_free(b);
	assert_int_equal(crypto_key_from_pem(enc, "enc.key", &back, msg,
	    sizeof msg), CF_EINVAL);
	assert_null(back);
	assert_non_null(strstr(msg, "'enc.key'"));
	assert_int_equal(ERR_peek_error(), 0);
	free(enc);
	EVP_PKEY_free(k);
}

/* PEM text of k written by write (traditional or PKCS#8), new. */
static char *key_pem_by(EVP_PKEY *k, bool pkcs8)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *bm;
	char *s;

	assert_non_null(b);
	assert_true(pkcs8 ? PEM_write_bio_PKCS8PrivateKey(b, k, NULL, NULL, 0,
	    NULL, NULL) : PEM_write_bio_PrivateKey_traditional(b, k, NULL,
	    NULL, 0, NULL, NULL));
	BIO_get_mem_ptr(b, &bm);
	s = strndup(bm->data, bm->length);
	BIO_free(b);
	return s;
}

/* The key OpenSSL's general reader finds in pem, or NULL. */
static EVP_PKEY *general_read(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, crypto_no_password,
	    NULL);

	BIO_free(b);
	ERR_clear_error();
	return k;
}

/* crypto_key_read (a PKCS#8 key decoded for its own type) finds what
 * OpenSSL's general reader finds, whatever the key and its PEM. */
static void test_key_read_agrees(void **state)
{
	EVP_PKEY *keys[3], *a, *b;
	X509 *cert;
	char *pem, *cpem, *both, msg[256];
	size_t i;
	int pkcs8;

	(void)state;
	keys[0] = ec_key();
	keys[1] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	keys[2] = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	for (i = 0; i < 3; i++) {
		assert_non_null(keys[i]);
		for (pkcs8 = 0; pkcs8 < 2; pkcs8++) {
			/* Ed25519 has no traditional form. */
			if (i == 2 && !pkcs8)
				continue;
			pem = key_pem_by(keys[i], pkcs8);
			a = crypto_key_read(pem, strlen(pem));
			b = general_read(pem);
			assert_non_null(a);
			assert_non_null(b);
			assert_int_equal(EVP_PKEY_eq(a, keys[i]), 1);
			assert_int_equal(EVP_PKEY_eq(a, b), 1);
			EVP_PKEY_free(a);
			EVP_PKEY_free(b);
			free(pem);
		}
	}
	/* A certificate first, then the key: as the general reader does. */
	cert = make_cert(keys[0], "a.contoso.test", NULL, 0, 86400, NULL,
	    NULL);
	assert_int_equal(crypto_cert_to_pem(cert, &cpem, msg, sizeof msg), 0);
	pem = key_pem_by(keys[0], 1);
	both = malloc(strlen(cpem) + strlen(pem) + 1);
	assert_non_null(both);
	strcpy(both, cpem);
	strcat(both, pem);
	a = crypto_key_read(both, strlen(both));
	b = general_read(both);
	assert_true((a == NULL) == (b == NULL));
	assert_true(a == NULL || EVP_PKEY_eq(a, b) == 1);
	/* Cut short: no key at all. */
	assert_null(crypto_key_read(pem, strlen(pem) / 2));
	ERR_clear_error();
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	free(both);
	free(pem);
	free(cpem);
	X509_free(cert);
	for (i = 0; i < 3; i++)
		EVP_PKEY_free(keys[i]);
}

/*
 * crypto_csr_pem_new writes what crypto_csr_new and crypto_csr_to_pem do:
 * for EC (crypto_spki_set's way), Ed25519 and RSA (X509_PUBKEY_set's) the
 * same public key bytes, a signature its own key verifies, the names.
 */
static void test_csr_pem_same(void **state)
{
	struct {
		const char *type, *curve;
	} cases[] = { { "EC", "P-256" }, { "EC", "P-384" }, { "ED25519", NULL },
	    { "RSA", NULL } };
	unsigned char *a, *b;
	struct req_spec rs;
	X509_REQ *whole, *read;
	EVP_PKEY *k;
	char msg[256], *pem;
	size_t i;
	int na, nb;

	(void)state;
	spec_fill(&rs, "CN=fe01.contoso.test, O=Contoso");
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		k = cases[i].curve != NULL ? EVP_PKEY_Q_keygen(NULL, NULL,
		    cases[i].type, cases[i].curve) : strcmp(cases[i].type,
		    "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
		    (size_t)2048) : EVP_PKEY_Q_keygen(NULL, NULL,
		    cases[i].type);
		assert_non_null(k);
		assert_int_equal(crypto_csr_new(k, &rs, &whole, msg,
		    sizeof msg), 0);
		assert_int_equal(crypto_csr_pem_new(k, &rs, &pem, msg,
		    sizeof msg), 0);
		assert_int_equal(crypto_csr_from_pem(pem, "pem", &read, msg,
		    sizeof msg), 0);
		a = b = NULL;
		na = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(read), &a);
		nb = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(whole), &b);
		assert_true(na > 0);
		assert_int_equal(na, nb);
		assert_memory_equal(a, b, (size_t)na);
		assert_int_equal(X509_REQ_verify(read, k), 1);
		assert_int_equal(X509_NAME_cmp(X509_REQ_get_subject_name(read),
		    X509_REQ_get_subject_name(whole)), 0);
		OPENSSL_free(a);
		OPENSSL_free(b);
		free(pem);
		X509_REQ_free(read);
		X509_REQ_free(whole);
		EVP_PKEY_free(k);
	}
	req_spec_release(&rs);
}

static void test_cert_and_csr_pem(void **state)
{
	EVP_PKEY *k = ec_key();
	X509 *a = make_cert(k, "a.contoso.test", NULL, 0, 86400, NULL, NULL);
	X509 *b = make_cert(k, "b.contoso.test", NULL, 0, 86400, NULL, NULL);
	STACK_OF(X509) *sk = NULL;
	char msg[256], *pa, *pb, *kp, *all, *bad, *p;
	struct req_spec rs;
	X509_REQ *csr, *csr2;
	size_t klen;

	(void)state;
	assert_int_equal(crypto_cert_to_pem(a, &pa, msg, sizeof msg), 0);
	assert_int_equal(crypto_cert_to_pem(b, &pb, msg, sizeof msg), 0);
	assert_int_equal(crypto_key_to_pem(k, &kp, &klen, msg, sizeof msg), 0);
	assert_memory_equal(pa, "-----BEGIN CERTIFICATE-----\n", 28);

	/* Two certificates with text and a key block between them. */
	all = cf_asprintf("leaf:\n%s%s\nchain:\n%s", pa, kp, pb);
	assert_non_null(all);
	assert_int_equal(crypto_certs_from_pem(all, "bundle.pem", &sk, msg,
	    sizeof msg), 0);
	assert_int_equal(sk_X509_num(sk), 2);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 0), a), 0);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 1), b), 0);
	sk_X509_pop_free(sk, X509_free);
	crypto_secret_free(all, 0);
	crypto_secret_free(kp, klen + 1);

	sk = NULL;
	assert_int_equal(crypto_certs_from_pem("hello world\n", "junk.pem",
	    &sk, msg, sizeof msg), CF_EINVAL);
	assert_null(sk);
	assert_string_equal(msg, "no PEM certificate in 'junk.pem'");
	assert_int_equal(crypto_certs_from_pem("", "empty.pem", &sk, msg,
	    sizeof msg), CF_EINVAL);

	/* A damaged second block is named. */
	bad = cf_asprintf("%s%s", pa, pb);
	assert_non_null(bad);
	p = bad + strlen(pa) + 28 + 10;
	*p = '!';
	assert_int_equal(crypto_certs_from_pem(bad, "chain.pem", &sk, msg,
	    sizeof msg), CF_EINVAL);
	assert_null(sk);
	assert_memory_equal(msg, "malformed certificate #2 in 'chain.pem': ",
	    41);
	free(bad);
	assert_int_equal(ERR_peek_error(), 0);

	/* CSR round trip: the DER survives unchanged. */
	spec_fill(&rs, "CN=fe01.contoso.test");
	assert_int_equal(crypto_csr_new(k, &rs, &csr, msg, sizeof msg), 0);
	assert_int_equal(crypto_csr_to_pem(csr, &p, msg, sizeof msg), 0);
	assert_memory_equal(p, "-----BEGIN CERTIFICATE REQUEST-----\n", 36);
	assert_int_equal(crypto_csr_from_pem(p, "fe01.csr", &csr2, msg,
	    sizeof msg), 0);
	{
		unsigned char *d1 = NULL, *d2 = NULL;
		int n1 = i2d_X509_REQ(csr, &d1), n2 = i2d_X509_REQ(csr2, &d2);

		assert_true(n1 > 0);
		assert_int_equal(n1, n2);
		assert_memory_equal(d1, d2, (size_t)n1);
		OPENSSL_free(d1);
		OPENSSL_free(d2);
	}
	free(p);
	X509_REQ_free(csr2);
	csr2 = NULL;
	assert_int_equal(crypto_csr_from_pem(pa, "not-a-csr.pem", &csr2, msg,
	    sizeof msg), CF_EINVAL);
	assert_null(csr2);
	assert_non_null(strstr(msg, "cannot read CSR from 'not-a-csr.pem'"));
	X509_REQ_free(csr);
	req_spec_release(&rs);
	free(pa);
	free(pb);
	X509_free(a);
	X509_free(b);
	EVP_PKEY_free(k);
}

/* Upper-case hex of the digest of cert's DER, computed independently. */
static void oracle_hex(X509 *x, const char *md, char *out)
{
	unsigned char *der = NULL, d[EVP_MAX_MD_SIZE];
	size_t n = 0, i;
	int len = i2d_X509(x, &der);

	assert_true(len > 0);
	assert_int_equal(EVP_Q_digest(NULL, md, NULL, der, (size_t)len, d, &n),
	    1);
	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02X", d[i]);
	OPENSSL_free(der);
}

static void test_thumbprints(void **state)
{
	EVP_PKEY *k = ec_key();
	X509 *x = make_cert(k, "fe01.contoso.test", "Contoso", 0, 86400,
	    NULL, NULL);
	char sha1[41], sha256[65], want[2 * EVP_MAX_MD_SIZE + 1];
	size_t i;

	(void)state;
	memset(sha1, 'x', sizeof sha1);
	assert_int_equal(crypto_thumbprint(x, sha1), 0);
	assert_int_equal(strlen(sha1), 40);
	for (i = 0; i < 40; i++)
		assert_true(isdigit((unsigned char)sha1[i]) ||
		    (sha1[i] >= 'A' && sha1[i] <= 'F'));
	oracle_hex(x, "SHA1", want);
	assert_string_equal(sha1, want);

	assert_int_equal(crypto_fingerprint_sha256(x, sha256), 0);
	assert_int_equal(strlen(sha256), 64);
	oracle_hex(x, "SHA256", want);
	assert_string_equal(sha256, want);
	X509_free(x);
	EVP_PKEY_free(k);
}

static void test_matching(void **state)
{
	EVP_PKEY *k = ec_key(), *other = ec_key();
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	X509 *x = make_cert(k, "a", NULL, 0, 86400, NULL, NULL);
	X509_REQ *mine, *theirs;
	struct req_spec rs;
	char msg[256], *pm, *pt;

	(void)state;
	assert_true(crypto_key_matches_cert(k, x));
	assert_false(crypto_key_matches_cert(other, x));
	assert_false(crypto_key_matches_cert(ed, x));
	spec_fill(&rs, "CN=a");
	assert_int_equal(crypto_csr_new(k, &rs, &mine, msg, sizeof msg), 0);
	assert_int_equal(crypto_csr_new(ed, &rs, &theirs, msg, sizeof msg), 0);
	assert_true(crypto_csr_matches_cert(mine, x));
	assert_false(crypto_csr_matches_cert(theirs, x));
	/* The same by the encodings alone; anything else says no. */
	assert_int_equal(crypto_csr_to_pem(mine, &pm, msg, sizeof msg), 0);
	assert_int_equal(crypto_csr_to_pem(theirs, &pt, msg, sizeof msg), 0);
	assert_true(crypto_csr_pem_same_spki(pm, x));
	assert_false(crypto_csr_pem_same_spki(pt, x));
	assert_false(crypto_csr_pem_same_spki("garbage", x));
	pm[strlen(pm) / 2] = '\0';
	assert_false(crypto_csr_pem_same_spki(pm, x));
	assert_int_equal(ERR_peek_error(), 0);
	free(pm);
	free(pt);
	X509_REQ_free(mine);
	X509_REQ_free(theirs);
	req_spec_release(&rs);
	X509_free(x);
	EVP_PKEY_free(k);
	EVP_PKEY_free(other);
	EVP_PKEY_free(ed);
}

static void test_readers(void **state)
{
	const time_t nb = 1700000000, na = 1700000000 + 90 * 86400;
	EVP_PKEY *k = ec_key();
	X509 *x = make_cert(k, "fe01.contoso.test", "Contoso", nb, na,
	    SANS_CNF, "serverAuth,clientAuth,OCSPSigning");
	X509 *bare = make_cert(k, "bare", "Contoso, Ltd", nb, na, NULL, NULL);
	char buf[128], small[8], **v = NULL;
	size_t n = 99, i;
	time_t t = 0;

	(void)state;
	assert_int_equal(crypto_cert_not_before(x, &t), 0);
	assert_int_equal(t, nb);
	assert_int_equal(crypto_cert_not_after(x, &t), 0);
	assert_int_equal(t, na);

	assert_int_equal(crypto_cert_subject(x, buf, sizeof buf), 0);
	assert_string_equal(buf, "CN=fe01.contoso.test, O=Contoso");
	assert_int_equal(crypto_cert_subject(bare, buf, sizeof buf), 0);
	assert_string_equal(buf, "CN=bare, O=Contoso\\, Ltd");
	assert_int_equal(crypto_cert_subject(x, small, sizeof small),
	    CF_EINVAL);
	assert_string_equal(small, "CN=fe01");

	assert_int_equal(crypto_cert_sans(x, &v, &n), 0);
	assert_int_equal(n, NSANS);
	for (i = 0; i < n; i++)
		assert_string_equal(v[i], sans[i]);
	crypto_strings_free(v, n);
	assert_int_equal(crypto_cert_sans(bare, &v, &n), 0);
	assert_int_equal(n, 0);
	assert_null(v);

	/* OCSPSigning has no certfleet flag and is ignored. */
	assert_int_equal(crypto_cert_eku(x), EKU_SERVER_AUTH | EKU_CLIENT_AUTH);
	assert_int_equal(crypto_cert_eku(bare), 0);
	assert_int_equal(ERR_peek_error(), 0);
	X509_free(x);
	X509_free(bare);
	EVP_PKEY_free(k);
}

static void test_eku_names(void **state)
{
	EVP_PKEY *k = ec_key();
	X509 *x = make_cert(k, "a", NULL, 0, 86400, NULL,
	    "codeSigning,emailProtection,timeStamping");

	(void)state;
	assert_int_equal(crypto_cert_eku(x), EKU_CODE_SIGNING |
	    EKU_EMAIL_PROTECTION | EKU_TIME_STAMPING);
	X509_free(x);
	EVP_PKEY_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keygen_and_csr_every_type),
		cmocka_unit_test(test_keygen_refuses_bad_specs),
		cmocka_unit_test(test_csr_refuses_bad_names),
		cmocka_unit_test(test_key_pem_round_trip),
		cmocka_unit_test(test_key_from_pem_errors),
		cmocka_unit_test(test_key_read_agrees),
		cmocka_unit_test(test_csr_pem_same),
		cmocka_unit_test(test_cert_and_csr_pem),
		cmocka_unit_test(test_thumbprints),
		cmocka_unit_test(test_matching),
		cmocka_unit_test(test_readers),
		cmocka_unit_test(test_eku_names),
	};
	return cmocka_run_group_tests_name("crypto", tests, NULL, NULL);
}
