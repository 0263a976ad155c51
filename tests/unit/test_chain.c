/*
 * The chain check on certificates made here with libcrypto (fixed dates, so
 * nothing expires under the tests), every store combination, store loading
 * from files, and `openssl verify` as the oracle for ok vs not ok.
 */
#include "tests/unit/unit.h"
#include "engine/ca/ca_acme.h"
#include "engine/chain/chain.h"
#include "engine/chain/sigcache.h"
#include "engine/base/err.h"
#include "engine/base/reqspec.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

extern char **environ;

#define MTLS (EKU_SERVER_AUTH | EKU_CLIENT_AUTH)
#define VALID_FROM "20200101000000Z"
#define VALID_TO "21200101000000Z"

/* 2025-06-15: inside every good certificate, after the expired ones. */
static const time_t NOW = 1750000000;

static const char ROOT_SUBJ[] = "CN=Contoso Root CA, O=Contoso";
static const char INTER_SUBJ[] = "CN=Contoso Issuing CA 1, O=Contoso";
static const char INTER2_SUBJ[] = "CN=Contoso Issuing CA 2, O=Contoso";

static struct {
	EVP_PKEY *kroot, *kinter, *kinter2, *kunrel, *kleaf;
	X509 *root, *inter, *inter2, *inter_exp, *inter_future, *unrel;
	X509 *leaf_mtls, *leaf_server, *leaf_noeku, *leaf_expired, *leaf3;
	X509 *leaf_foreign, *leaf_badsig;
	STACK_OF(X509) *chain;          /* inter, root */
	STACK_OF(X509) *chain_noroot;   /* inter */
	STACK_OF(X509) *chain3;         /* inter2, inter, root */
	char tmp[64];
} F;

/* ---- fixture builder ---- */

static void add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static void set_name(X509_NAME *n, const char *o, const char *cn)
{
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
	    (const unsigned char *)o, -1, -1, 0), 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0), 1);
}

/*
 * A certificate for key named O=o, CN=cn, issued by issuer (NULL: self)
 * and signed with sign_key. eku NULL makes a CA.
 */
/* When set, CAs made next carry this extendedKeyUsage. */
static const char *ca_eku;

static X509 *make_cert(const char *o, const char *cn, EVP_PKEY *key,
    X509 *issuer, EVP_PKEY *sign_key, const char *eku, const char *from,
    const char *to)
{
	static long serial = 1000;
	X509 *x = X509_new();
	X509V3_CTX ctx;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++),
	    1);
	set_name(X509_get_subject_name(x), o, cn);
	assert_int_equal(X509_set_issuer_name(x, issuer ?
	    X509_get_subject_name(issuer) : X509_get_subject_name(x)), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	assert_int_equal(ASN1_TIME_set_string_X509(X509_getm_notBefore(x),
	    from), 1);
	assert_int_equal(ASN1_TIME_set_string_X509(X509_getm_notAfter(x),
	    to), 1);
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	if (issuer == NULL)
		assert_int_equal(X509V3_set_issuer_pkey(&ctx, key), 1);
	if (eku == NULL) {
		add_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
		if (ca_eku != NULL)
			add_ext(x, &ctx, NID_ext_key_usage, ca_eku);
	} else {
		add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature");
		if (eku[0] != '\0')
			add_ext(x, &ctx, NID_ext_key_usage, eku);
		add_ext(x, &ctx, NID_subject_alt_name,
		    "DNS:fe01.contoso.test");
	}
	add_ext(x, &ctx, NID_subject_key_identifier, "hash");
	add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
	assert_true(X509_sign(x, sign_key, EVP_sha256()) > 0);
	return x;
}

static X509 *make_ca(const char *o, const char *cn, EVP_PKEY *key,
    X509 *issuer, EVP_PKEY *ikey)
{
	return make_cert(o, cn, key, issuer, ikey ? ikey : key, NULL,
	    VALID_FROM, VALID_TO);
}

static X509 *make_leaf(X509 *issuer, EVP_PKEY *ikey, const char *eku)
{
	return make_cert("Contoso", "fe01.contoso.test", F.kleaf, issuer, ikey,
	    eku, VALID_FROM, VALID_TO);
}

static STACK_OF(X509) *stack_of(X509 *a, X509 *b, X509 *c)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *all[3] = { a, b, c };
	int i;

	assert_non_null(sk);
	for (i = 0; i < 3 && all[i] != NULL; i++) {
		assert_int_equal(X509_up_ref(all[i]), 1);
		assert_true(sk_X509_push(sk, all[i]) > 0);
	}
	return sk;
}

static EVP_PKEY *ec_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	assert_non_null(k);
	return k;
}

static int setup(void **state)
{
	(void)state;
	F.kroot = ec_key();
	F.kinter = ec_key();
	F.kinter2 = ec_key();
	F.kunrel = ec_key();
	F.kleaf = ec_key();
	F.root = make_ca("Contoso", "Contoso Root CA", F.kroot, NULL, NULL);
	F.inter = make_ca("Contoso", "Contoso Issuing CA 1", F.kinter, F.root,
	    F.kroot);
	F.inter_exp = make_cert("Contoso", "Contoso Issuing CA 1", F.kinter,
	    F.root, F.kroot, NULL, "20190101000000Z", "20210101000000Z");
	F.inter_future = make_cert("Contoso", "Contoso Issuing CA 1",
	    F.kinter, F.root, F.kroot, NULL, "21000101000000Z",
	    VALID_TO);
	F.inter2 = make_ca("Contoso", "Contoso Issuing CA 2", F.kinter2,
	    F.inter, F.kinter);
	F.unrel = make_ca("Fabrikam", "Fabrikam Root CA", F.kunrel, NULL,
	    NULL);
	F.leaf_mtls = make_leaf(F.inter, F.kinter, "serverAuth,clientAuth");
	F.leaf_server = make_leaf(F.inter, F.kinter, "serverAuth");
	F.leaf_noeku = make_leaf(F.inter, F.kinter, "");
	F.leaf_expired = make_cert("Contoso", "fe01.contoso.test", F.kleaf,
	    F.inter, F.kinter, "serverAuth,clientAuth", VALID_FROM,
	    "20210101000000Z");
	F.leaf3 = make_leaf(F.inter2, F.kinter2, "serverAuth,clientAuth");
	F.leaf_foreign = make_leaf(F.unrel, F.kunrel, "serverAuth,clientAuth");
	/* Names and key identifier of the issuing CA, signed by another. */
	F.leaf_badsig = make_leaf(F.inter, F.kunrel, "serverAuth,clientAuth");
	F.chain = stack_of(F.inter, F.root, NULL);
	F.chain_noroot = stack_of(F.inter, NULL, NULL);
	F.chain3 = stack_of(F.inter2, F.inter, F.root);
	snprintf(F.tmp, sizeof F.tmp, "/tmp/test_chain.XXXXXX");
	assert_non_null(mkdtemp(F.tmp));
	return 0;
}

static int teardown(void **state)
{
	X509 **certs[] = {
		&F.root, &F.inter, &F.inter2, &F.inter_exp, &F.inter_future,
		&F.unrel, &F.leaf_mtls, &F.leaf_server, &F.leaf_noeku,
		&F.leaf_expired, &F.leaf3, &F.leaf_foreign, &F.leaf_badsig,
	};
	EVP_PKEY **keys[] = {
		&F.kroot, &F.kinter, &F.kinter2, &F.kunrel, &F.kleaf,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(certs) / sizeof(certs[0]); i++)
		X509_free(*certs[i]);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		EVP_PKEY_free(*keys[i]);
	sk_X509_pop_free(F.chain, X509_free);
	sk_X509_pop_free(F.chain_noroot, X509_free);
	sk_X509_pop_free(F.chain3, X509_free);
	rmdir(F.tmp);
	return 0;
}

/* ---- helpers ---- */

/* PEM text of the NULL-terminated list; the caller frees it. */
static char *pem_of(X509 *const *list, size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *s;
	long n;

	assert_non_null(b);
	for (; *list != NULL; list++)
		assert_int_equal(PEM_write_bio_X509(b, *list), 1);
	n = BIO_get_mem_data(b, &p);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	if (n > 0)
		memcpy(s, p, (size_t)n);
	s[n] = '\0';
	*len = (size_t)n;
	BIO_free(b);
	return s;
}

/* Fills s through cert_store_add_pem, as a transport would. */
static void store_of(struct cert_store *s, X509 *const *list)
{
	char msg[256];
	size_t len;
	char *pem = pem_of(list, &len);

	cert_store_init(s);
	assert_int_equal(cert_store_add_pem(s, pem, len, "mem", msg,
	    sizeof msg), 0);
	free(pem);
}

static void diag_at(X509 *leaf, STACK_OF(X509) *chain, X509 *const *roots,
    X509 *const *inters, unsigned eku, time_t now, struct chain_verdict *v)
{
	struct cert_store rs, is;
	char msg[256];

	store_of(&rs, roots);
	store_of(&is, inters);
	chain_verdict_init(v);
	assert_int_equal(chain_diagnose(leaf, chain, &rs, &is, eku, now, v,
	    msg, sizeof msg), 0);
	assert_int_equal(ERR_peek_error(), 0);
	cert_store_release(&rs);
	cert_store_release(&is);
}

static void diag(X509 *leaf, STACK_OF(X509) *chain, X509 *const *roots,
    X509 *const *inters, unsigned eku, struct chain_verdict *v)
{
	diag_at(leaf, chain, roots, inters, eku, NOW, v);
}

static void sha1_of(X509 *x, char out[41])
{
	unsigned char md[20];
	unsigned int n = 0, i;

	assert_int_equal(X509_digest(x, EVP_sha1(), md, &n), 1);
	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
}

static void assert_missing(const struct chain_verdict *v, size_t i,
    enum chain_kind kind, enum chain_why why, const char *subject, X509 *ca,
    const char *reason)
{
	char sha[41] = "";

	assert_true(i < v->nmissing);
	assert_int_equal(v->missing[i].kind, kind);
	assert_int_equal(v->missing[i].why, why);
	assert_string_equal(v->missing[i].subject, subject);
	if (ca != NULL)
		sha1_of(ca, sha);
	assert_string_equal(v->missing[i].sha1, sha);
	assert_string_equal(v->missing[i].reason, reason);
}

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void write_pem(const char *path, X509 *const *list)
{
	size_t len;
	char *pem = pem_of(list, &len);

	write_file(path, pem, len);
	free(pem);
}

static char *tmp_path(const char *name)
{
	static char buf[4][256];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, 256, "%s/%s", F.tmp, name);
	return p;
}

/* ---- verdicts ---- */

static void test_both_present(void **state)
{
	X509 *roots[] = { F.root, NULL }, *inters[] = { F.inter, NULL };
	struct chain_verdict v;
	char buf[256];

	(void)state;
	diag(F.leaf_mtls, F.chain, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_OK);
	assert_int_equal(v.nmissing, 0);
	assert_string_equal(chain_verdict_detail(&v), "");
	assert_int_equal(chain_verdict_describe(&v, buf, sizeof buf), 0);
	assert_string_equal(buf, "chain ok");
	chain_verdict_release(&v);
	/* A rerun on a used verdict releases what it held. */
	diag(F.leaf_mtls, F.chain, roots, inters, 0, &v);
	assert_int_equal(v.status, CHAIN_OK);
	chain_verdict_release(&v);
}

static void test_lacks_intermediate(void **state)
{
	X509 *roots[] = { F.root, NULL }, *inters[] = { NULL };
	struct chain_verdict v;
	char buf[512], want[512], sha[41];

	(void)state;
	diag(F.leaf_mtls, F.chain, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 1);
	assert_missing(&v, 0, CHAIN_KIND_INTERMEDIATE, CHAIN_WHY_ABSENT,
	    INTER_SUBJ, F.inter, "absent");
	assert_non_null(strstr(chain_verdict_detail(&v), "unable to get local issuer"));
	sha1_of(F.inter, sha);
	snprintf(want, sizeof want, "missing intermediate CA '%s' (sha1 %s) "
	    "from the intermediate store; import it, then run certfleet "
	    "assign", INTER_SUBJ, sha);
	assert_int_equal(chain_verdict_describe(&v, buf, sizeof buf), 0);
	assert_string_equal(buf, want);
	chain_verdict_release(&v);
}

static void test_lacks_root(void **state)
{
	X509 *roots[] = { NULL }, *inters[] = { F.inter, NULL };
	struct chain_verdict v;
	char buf[512], want[512], sha[41];

	(void)state;
	diag(F.leaf_mtls, F.chain, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 1);
	assert_missing(&v, 0, CHAIN_KIND_ROOT, CHAIN_WHY_ABSENT, ROOT_SUBJ,
	    F.root, "absent");
	sha1_of(F.root, sha);
	snprintf(want, sizeof want, "missing root CA '%s' (sha1 %s) from the "
	    "root store; import it, then run certfleet assign", ROOT_SUBJ,
	    sha);
	assert_int_equal(chain_verdict_describe(&v, buf, sizeof buf), 0);
	assert_string_equal(buf, want);
	chain_verdict_release(&v);
}

static void test_lacks_both(void **state)
{
	X509 *none[] = { NULL };
	struct chain_verdict v;
	char buf[1024];

	(void)state;
	diag(F.leaf_mtls, F.chain, none, none, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 2);
	assert_missing(&v, 0, CHAIN_KIND_INTERMEDIATE, CHAIN_WHY_ABSENT,
	    INTER_SUBJ, F.inter, "absent");
	assert_missing(&v, 1, CHAIN_KIND_ROOT, CHAIN_WHY_ABSENT, ROOT_SUBJ,
	    F.root, "absent");
	assert_int_equal(chain_verdict_describe(&v, buf, sizeof buf), 0);
	assert_non_null(strstr(buf, "; import them, then run certfleet "
	    "assign"));
	assert_true(strstr(buf, "missing intermediate CA") <
	    strstr(buf, "missing root CA"));
	chain_verdict_release(&v);
}

static void test_unrelated_root_only(void **state)
{
	X509 *roots[] = { F.unrel, NULL }, *none[] = { NULL };
	struct chain_verdict v;

	(void)state;
	diag(F.leaf_mtls, F.chain, roots, none, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 2);
	assert_missing(&v, 0, CHAIN_KIND_INTERMEDIATE, CHAIN_WHY_ABSENT,
	    INTER_SUBJ, F.inter, "absent");
	assert_missing(&v, 1, CHAIN_KIND_ROOT, CHAIN_WHY_ABSENT, ROOT_SUBJ,
	    F.root, "absent");
	chain_verdict_release(&v);
}

/*
 * openssl verify accepts an intermediate in the trusted store when the
 * real root is there too: ok, with the misplacement kept as a note.
 * Without the root it fails, and both are named.
 */
static void test_intermediate_in_root_store(void **state)
{
	X509 *with_root[] = { F.root, F.inter, NULL };
	X509 *inter_only[] = { F.inter, NULL }, *none[] = { NULL };
	struct chain_verdict v;
	char buf[512];

	(void)state;
	diag(F.leaf_mtls, F.chain, with_root, none, MTLS, &v);
	assert_int_equal(v.status, CHAIN_OK);
	assert_int_equal(v.nmissing, 1);
	assert_missing(&v, 0, CHAIN_KIND_INTERMEDIATE, CHAIN_WHY_MISPLACED,
	    INTER_SUBJ, F.inter, "found only in the root store");
	assert_int_equal(chain_verdict_describe(&v, buf, sizeof buf), 0);
	assert_true(strncmp(buf, "chain ok; note: missing intermediate CA '",
	    41) == 0);
	assert_non_null(strstr(buf, "from the intermediate store (found only "
	    "in the root store)"));
	chain_verdict_release(&v);

	diag(F.leaf_mtls, F.chain, inter_only, none, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 2);
	assert_missing(&v, 0, CHAIN_KIND_INTERMEDIATE, CHAIN_WHY_MISPLACED,
	    INTER_SUBJ, F.inter, "found only in the root store");
	assert_missing(&v, 1, CHAIN_KIND_ROOT, CHAIN_WHY_ABSENT, ROOT_SUBJ,
	    F.root, "absent");
	chain_verdict_release(&v);
}

static void test_root_in_intermediate_store(void **state)
{
	X509 *none[] = { NULL }, *inters[] = { F.inter, F.root, NULL };
	X509 *roots[] = { F.root, NULL };
	struct chain_verdict v;
	char buf[512];

	(void)state;
	diag(F.leaf_mtls, F.chain, none, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 1);
	assert_missing(&v, 0, CHAIN_KIND_ROOT, CHAIN_WHY_MISPLACED, ROOT_SUBJ,
	    F.root, "found only in the intermediate store");
	assert_int_equal(chain_verdict_describe(&v, buf, sizeof buf), 0);
	assert_non_null(strstr(buf, "from the root store (found only in the "
	    "intermediate store); import it"));
	chain_verdict_release(&v);
	/* In both stores is fine. */
	diag(F.leaf_mtls, F.chain, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_OK);
	assert_int_equal(v.nmissing, 0);
	chain_verdict_release(&v);
}

static void test_chain_of_three(void **state)
{
	X509 *roots[] = { F.root, NULL };
	X509 *lacking[] = { F.inter2, NULL };
	X509 *full[] = { F.inter2, F.inter, NULL };
	struct chain_verdict v;

	(void)state;
	diag(F.leaf3, F.chain3, roots, full, MTLS, &v);
	assert_int_equal(v.status, CHAIN_OK);
	assert_int_equal(v.nmissing, 0);
	chain_verdict_release(&v);

	diag(F.leaf3, F.chain3, roots, lacking, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 1);
	assert_missing(&v, 0, CHAIN_KIND_INTERMEDIATE, CHAIN_WHY_ABSENT,
	    INTER_SUBJ, F.inter, "absent");
	chain_verdict_release(&v);

	/* Whatever order the CA sends its chain in. */
	{
		STACK_OF(X509) *shuffled = stack_of(F.root, F.inter, F.inter2);
		X509 *none[] = { NULL };

		diag(F.leaf3, shuffled, none, none, MTLS, &v);
		assert_int_equal(v.status, CHAIN_MISSING_CA);
		assert_int_equal(v.nmissing, 3);
		assert_missing(&v, 0, CHAIN_KIND_INTERMEDIATE,
		    CHAIN_WHY_ABSENT, INTER2_SUBJ, F.inter2, "absent");
		assert_missing(&v, 1, CHAIN_KIND_INTERMEDIATE,
		    CHAIN_WHY_ABSENT, INTER_SUBJ, F.inter, "absent");
		assert_missing(&v, 2, CHAIN_KIND_ROOT, CHAIN_WHY_ABSENT,
		    ROOT_SUBJ, F.root, "absent");
		chain_verdict_release(&v);
		sk_X509_pop_free(shuffled, X509_free);
	}
}

static void test_expired_intermediate(void **state)
{
	X509 *roots[] = { F.root, NULL };
	X509 *expired[] = { F.inter_exp, NULL };
	X509 *future[] = { F.inter_future, NULL };
	X509 *both[] = { F.inter_exp, F.inter, NULL };
	struct chain_verdict v;
	char buf[512];

	(void)state;
	diag(F.leaf_mtls, F.chain, roots, expired, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 1);
	/* Named by the thumbprint of the copy to import, the CA's own. */
	assert_missing(&v, 0, CHAIN_KIND_INTERMEDIATE, CHAIN_WHY_EXPIRED,
	    INTER_SUBJ, F.inter, "expired on 2021-01-01");
	assert_non_null(strstr(chain_verdict_detail(&v), "certificate has expired"));
	assert_int_equal(chain_verdict_describe(&v, buf, sizeof buf), 0);
	assert_non_null(strstr(buf, "in the intermediate store: expired on "
	    "2021-01-01; import it"));
	chain_verdict_release(&v);

	diag(F.leaf_mtls, F.chain, roots, future, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_missing(&v, 0, CHAIN_KIND_INTERMEDIATE,
	    CHAIN_WHY_NOT_YET_VALID, INTER_SUBJ, F.inter,
	    "not valid before 2100-01-01");
	chain_verdict_release(&v);

	/* A valid copy next to the expired one wins, as in OpenSSL. */
	diag(F.leaf_mtls, F.chain, roots, both, MTLS, &v);
	assert_int_equal(v.status, CHAIN_OK);
	assert_int_equal(v.nmissing, 0);
	chain_verdict_release(&v);
}

/* A copy of x whose signature is spoiled (its last byte changed). */
static X509 *spoiled(X509 *x)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	int n = i2d_X509(x, &der);
	X509 *y;

	assert_true(n > 0);
	der[n - 1] ^= 0x01;
	p = der;
	y = d2i_X509(NULL, &p, n);
	assert_non_null(y);
	OPENSSL_free(der);
	return y;
}

/*
 * The CA path is proven once a process (engine/chain/sigcache.h), keyed by
 * the certificates' SHA-256: a second leaf under the same CAs adds no link;
 * a copy of the issuing CA whose bytes differ (signature spoiled) is not
 * taken for the proven one; a proven link does not excuse a CA that is not
 * valid at the time asked.
 */
static void test_ca_path_once(void **state)
{
	EVP_PKEY *kr = ec_key(), *ki = ec_key();
	X509 *root = make_ca("Northwind", "Northwind Root CA", kr, NULL, NULL);
	X509 *inter = make_cert("Northwind", "Northwind Issuing CA", ki, root,
	    kr, NULL, VALID_FROM, "20300101000000Z");
	X509 *bad = spoiled(inter);
	X509 *leaf1 = make_leaf(inter, ki, "serverAuth,clientAuth");
	X509 *leaf2 = make_leaf(inter, ki, "serverAuth");
	X509 *roots[] = { root, NULL }, *inters[] = { inter, NULL };
	X509 *bads[] = { bad, NULL };
	STACK_OF(X509) *chain = stack_of(inter, root, NULL);
	STACK_OF(X509) *bad_chain = stack_of(bad, root, NULL);
	struct chain_verdict v;
	size_t n0 = sigcache_count();

	(void)state;
	diag(leaf1, chain, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_OK);
	chain_verdict_release(&v);
	/* The issuing CA by the root, and the root by itself. */
	assert_int_equal(sigcache_count(), n0 + 2);
	diag(leaf2, chain, roots, inters, EKU_SERVER_AUTH, &v);
	assert_int_equal(v.status, CHAIN_OK);
	chain_verdict_release(&v);
	assert_int_equal(sigcache_count(), n0 + 2);

	diag(leaf1, bad_chain, roots, bads, MTLS, &v);
	assert_int_not_equal(v.status, CHAIN_OK);
	assert_non_null(strstr(chain_verdict_detail(&v), "signature"));
	chain_verdict_release(&v);
	assert_int_equal(sigcache_count(), n0 + 2);

	/* 2031: the issuing CA has expired, proven link or not. */
	diag_at(leaf1, chain, roots, inters, MTLS, 1925000000, &v);
	assert_int_not_equal(v.status, CHAIN_OK);
	assert_non_null(strstr(chain_verdict_detail(&v), "expired"));
	chain_verdict_release(&v);
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(bad_chain, X509_free);
	X509_free(root);
	X509_free(inter);
	X509_free(bad);
	X509_free(leaf1);
	X509_free(leaf2);
	EVP_PKEY_free(kr);
	EVP_PKEY_free(ki);
}

static void test_chain_without_root(void **state)
{
	X509 *roots[] = { F.root, NULL }, *inters[] = { F.inter, NULL };
	X509 *none[] = { NULL }, *root_as_inter[] = { F.inter, F.root, NULL };
	struct chain_verdict v;
	char buf[512];

	(void)state;
	diag(F.leaf_mtls, F.chain_noroot, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_OK);
	assert_int_equal(v.nmissing, 0);
	chain_verdict_release(&v);

	/* Named from the issuer field, thumbprint unknown. */
	diag(F.leaf_mtls, F.chain_noroot, none, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 1);
	assert_missing(&v, 0, CHAIN_KIND_ROOT, CHAIN_WHY_ABSENT, ROOT_SUBJ,
	    NULL, "absent");
	assert_int_equal(chain_verdict_describe(&v, buf, sizeof buf), 0);
	assert_string_equal(buf, "missing root CA 'CN=Contoso Root CA, "
	    "O=Contoso' from the root store; import it, then run certfleet "
	    "assign");
	chain_verdict_release(&v);

	/* Found in the wrong store: the server's copy gives the thumbprint. */
	diag(F.leaf_mtls, F.chain_noroot, none, root_as_inter, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 1);
	assert_missing(&v, 0, CHAIN_KIND_ROOT, CHAIN_WHY_MISPLACED, ROOT_SUBJ,
	    F.root, "found only in the intermediate store");
	chain_verdict_release(&v);
}

static void test_no_chain_from_ca(void **state)
{
	X509 *roots[] = { F.root, NULL }, *inters[] = { F.inter, NULL };
	X509 *none[] = { NULL };
	struct chain_verdict v;
	char buf[512];

	(void)state;
	diag(F.leaf_mtls, NULL, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_OK);
	chain_verdict_release(&v);

	diag(F.leaf_mtls, NULL, roots, none, MTLS, &v);
	assert_int_equal(v.status, CHAIN_UNKNOWN);
	assert_int_equal(v.nmissing, 0);
	assert_string_equal(chain_verdict_detail(&v), "cannot name the missing CA: the CA "
	    "sent no chain and issuer 'CN=Contoso Issuing CA 1, O=Contoso' "
	    "of 'CN=fe01.contoso.test, O=Contoso' is in neither store");
	assert_int_equal(chain_verdict_describe(&v, buf, sizeof buf), 0);
	assert_true(strncmp(buf, "chain not verified: cannot name", 31) == 0);
	chain_verdict_release(&v);

	/* The root alone can still be named from the server's own copy. */
	diag(F.leaf_mtls, NULL, none, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 1);
	assert_missing(&v, 0, CHAIN_KIND_ROOT, CHAIN_WHY_ABSENT, ROOT_SUBJ,
	    NULL, "absent");
	chain_verdict_release(&v);
}

static void test_eku(void **state)
{
	X509 *roots[] = { F.root, NULL }, *inters[] = { F.inter, NULL };
	struct chain_verdict v;
	char buf[512];

	(void)state;
	diag(F.leaf_server, F.chain, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_INVALID);
	assert_int_equal(v.nmissing, 0);
	assert_string_equal(chain_verdict_detail(&v), "certificate 'CN=fe01.contoso.test, "
	    "O=Contoso' lacks extended key usage clientAuth");
	assert_int_equal(chain_verdict_describe(&v, buf, sizeof buf), 0);
	assert_string_equal(buf, "chain invalid: certificate "
	    "'CN=fe01.contoso.test, O=Contoso' lacks extended key usage "
	    "clientAuth");
	chain_verdict_release(&v);

	diag(F.leaf_server, F.chain, roots, inters, EKU_SERVER_AUTH, &v);
	assert_int_equal(v.status, CHAIN_OK);
	chain_verdict_release(&v);

	diag(F.leaf_mtls, F.chain, roots, inters,
	    MTLS | EKU_CODE_SIGNING | EKU_TIME_STAMPING, &v);
	assert_int_equal(v.status, CHAIN_INVALID);
	assert_string_equal(chain_verdict_detail(&v), "certificate 'CN=fe01.contoso.test, "
	    "O=Contoso' lacks extended key usage codeSigning and "
	    "timeStamping");
	chain_verdict_release(&v);

	/* No extendedKeyUsage at all is no restriction (OpenSSL's rule). */
	diag(F.leaf_noeku, F.chain, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_OK);
	chain_verdict_release(&v);
}

static void test_leaf_invalid(void **state)
{
	X509 *roots[] = { F.root, NULL }, *inters[] = { F.inter, NULL };
	X509 *none[] = { NULL };
	struct chain_verdict v;

	(void)state;
	/* Importing CAs would not help, so no CA is named. */
	diag(F.leaf_expired, F.chain, none, none, MTLS, &v);
	assert_int_equal(v.status, CHAIN_INVALID);
	assert_int_equal(v.nmissing, 0);
	assert_string_equal(chain_verdict_detail(&v), "certificate 'CN=fe01.contoso.test, "
	    "O=Contoso' expired on 2021-01-01");
	chain_verdict_release(&v);

	diag_at(F.leaf_mtls, F.chain, roots, inters, MTLS,
	    1500000000, &v);
	assert_int_equal(v.status, CHAIN_INVALID);
	assert_string_equal(chain_verdict_detail(&v), "certificate 'CN=fe01.contoso.test, "
	    "O=Contoso' is not valid before 2020-01-01");
	chain_verdict_release(&v);

	diag(F.leaf_foreign, F.chain, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_INVALID);
	assert_string_equal(chain_verdict_detail(&v), "certificate 'CN=fe01.contoso.test, "
	    "O=Contoso' was not issued by this CA: its issuer 'CN=Fabrikam "
	    "Root CA, O=Fabrikam' is not in the chain the CA returned");
	chain_verdict_release(&v);

	diag(F.leaf_badsig, F.chain, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_INVALID);
	assert_string_equal(chain_verdict_detail(&v), "certificate signature failure: "
	    "'CN=fe01.contoso.test, O=Contoso' was not signed by the key of "
	    "'CN=Contoso Issuing CA 1, O=Contoso'");
	chain_verdict_release(&v);

	/* Without a chain from the CA, X509_verify_cert finds it. */
	diag(F.leaf_badsig, NULL, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_INVALID);
	assert_non_null(strstr(chain_verdict_detail(&v), "signature failure"));
	chain_verdict_release(&v);

	/* A self-signed leaf. */
	diag(F.unrel, NULL, roots, inters, 0, &v);
	assert_int_equal(v.status, CHAIN_INVALID);
	assert_string_equal(chain_verdict_detail(&v), "certificate 'CN=Fabrikam Root CA, "
	    "O=Fabrikam' is self-signed");
	chain_verdict_release(&v);
}

static void test_bad_arguments(void **state)
{
	struct chain_verdict v;
	char msg[256];

	(void)state;
	chain_verdict_init(&v);
	assert_int_equal(chain_diagnose(NULL, NULL, NULL, NULL, 0, NOW, &v,
	    msg, sizeof msg), CF_EINVAL);
	assert_int_equal(chain_diagnose(F.leaf_mtls, NULL, NULL, NULL,
	    1u << 20, NOW, &v, msg, sizeof msg), CF_EINVAL);
	assert_int_equal(v.status, CHAIN_UNKNOWN);
	/* NULL stores are empty stores. */
	assert_int_equal(chain_diagnose(F.leaf_mtls, F.chain, NULL, NULL,
	    MTLS, NOW, &v, msg, sizeof msg), 0);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 2);
	chain_verdict_release(&v);
}

static void test_names_and_describe(void **state)
{
	struct chain_verdict v;
	X509 *none[] = { NULL };
	char small[40];

	(void)state;
	assert_string_equal(chain_status_name(CHAIN_OK), "ok");
	assert_string_equal(chain_status_name(CHAIN_MISSING_CA),
	    "missing_ca");
	assert_string_equal(chain_status_name(CHAIN_INVALID), "invalid");
	assert_string_equal(chain_status_name(CHAIN_UNKNOWN), "unknown");
	assert_string_equal(chain_kind_name(CHAIN_KIND_ROOT), "root");
	assert_string_equal(chain_kind_name(CHAIN_KIND_INTERMEDIATE),
	    "intermediate");
	chain_verdict_init(&v);
	assert_int_equal(chain_verdict_describe(&v, small, sizeof small), 0);
	assert_string_equal(small, "chain not checked");
	assert_int_equal(chain_verdict_describe(&v, NULL, 0), CF_EINVAL);
	diag(F.leaf_mtls, F.chain, none, none, MTLS, &v);
	assert_int_equal(chain_verdict_describe(&v, small, sizeof small),
	    CF_EINVAL);
	assert_int_equal(strlen(small), sizeof small - 1);
	chain_verdict_release(&v);
}

/* ---- stores ---- */

static void test_store_pem(void **state)
{
	static const char garbage[] = "this is not a certificate\n";
	static const char bad_b64[] = "-----BEGIN CERTIFICATE-----\n"
	    "!!!!\n-----END CERTIFICATE-----\n";
	static const char bad_der[] = "-----BEGIN CERTIFICATE-----\n"
	    "aGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
	X509 *two[] = { F.root, F.inter, NULL };
	struct cert_store s;
	char msg[256], *pem;
	unsigned char *der = NULL;
	size_t len;
	int dlen;

	(void)state;
	cert_store_init(&s);
	assert_int_equal(cert_store_count(&s), 0);
	assert_int_equal(cert_store_add_pem(&s, garbage, strlen(garbage),
	    "notes.txt", msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "no certificate in 'notes.txt': neither PEM "
	    "nor DER");
	assert_int_equal(cert_store_add_pem(&s, bad_b64, strlen(bad_b64),
	    "b64.pem", msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed PEM block 1 in 'b64.pem'");
	assert_int_equal(cert_store_add_pem(&s, bad_der, strlen(bad_der),
	    "der.pem", msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "malformed certificate in PEM block 1 of "
	    "'der.pem'");
	assert_int_equal(cert_store_add_pem(&s, " \n\t\n", 4, "blank.pem",
	    msg, sizeof msg), 0);
	assert_int_equal(cert_store_add_pem(&s, "", 0, "empty.pem", msg,
	    sizeof msg), 0);
	assert_int_equal(cert_store_count(&s), 0);

	/* A bundle, twice: duplicates are dropped. */
	pem = pem_of(two, &len);
	assert_int_equal(cert_store_add_pem(&s, pem, len, "bundle.pem", msg,
	    sizeof msg), 0);
	assert_int_equal(cert_store_add_pem(&s, pem, len, "bundle.pem", msg,
	    sizeof msg), 0);
	assert_int_equal(cert_store_count(&s), 2);
	free(pem);

	/* A lone DER certificate. */
	dlen = i2d_X509(F.unrel, &der);
	assert_true(dlen > 0);
	assert_int_equal(cert_store_add_pem(&s, (const char *)der,
	    (size_t)dlen, "unrel.der", msg, sizeof msg), 0);
	assert_int_equal(cert_store_count(&s), 3);
	OPENSSL_free(der);

	assert_int_equal(cert_store_add_cert(&s, F.inter2), 0);
	assert_int_equal(cert_store_add_cert(&s, F.inter2), 0);
	assert_int_equal(cert_store_count(&s), 4);
	cert_store_release(&s);
	assert_int_equal(cert_store_count(&s), 0);
	assert_int_equal(ERR_peek_error(), 0);
}

static void test_store_bundle_file(void **state)
{
	X509 *bundle[] = { F.root, F.inter, NULL };
	struct cert_store rs, is;
	struct chain_verdict v;
	char msg[256];
	char *path = tmp_path("ca-bundle.crt");

	(void)state;
	write_pem(path, bundle);
	cert_store_init(&rs);
	cert_store_init(&is);
	assert_int_equal(cert_store_load_path(&rs, path, msg, sizeof msg), 0);
	assert_int_equal(cert_store_count(&rs), 2);
	assert_int_equal(cert_store_load_path(&is, path, msg, sizeof msg), 0);
	chain_verdict_init(&v);
	assert_int_equal(chain_diagnose(F.leaf_mtls, F.chain, &rs, &is, MTLS,
	    NOW, &v, msg, sizeof msg), 0);
	assert_int_equal(v.status, CHAIN_OK);
	assert_int_equal(v.nmissing, 0);
	chain_verdict_release(&v);
	cert_store_release(&rs);
	cert_store_release(&is);
	assert_int_equal(unlink(path), 0);
}

static void test_store_directory(void **state)
{
	static const char key_block[] = "-----BEGIN PRIVATE KEY-----\n"
	    "aGVsbG8gd29ybGQ=\n-----END PRIVATE KEY-----\n";
	X509 *root[] = { F.root, NULL }, *inter[] = { F.inter, NULL };
	struct cert_store s;
	char msg[512], want[512], *dir = tmp_path("certs");
	char path[300], *pem;
	size_t len;
	FILE *f;

	(void)state;
	assert_int_equal(mkdir(dir, 0700), 0);
	cert_store_init(&s);
	/* An empty directory is an empty store. */
	assert_int_equal(cert_store_load_path(&s, dir, msg, sizeof msg), 0);
	assert_int_equal(cert_store_count(&s), 0);

	snprintf(path, sizeof path, "%s/a-root.pem", dir);
	write_pem(path, root);
	/* A key block next to the certificate is skipped. */
	snprintf(path, sizeof path, "%s/b-inter.pem", dir);
	pem = pem_of(inter, &len);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(key_block, 1, strlen(key_block), f),
	    strlen(key_block));
	assert_int_equal(fwrite(pem, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(pem);
	/* Hash links, dangling links, dot files, subdirectories. */
	snprintf(path, sizeof path, "%s/0a1b2c3d.0", dir);
	assert_int_equal(symlink("a-root.pem", path), 0);
	snprintf(path, sizeof path, "%s/dangling.pem", dir);
	assert_int_equal(symlink("nowhere.pem", path), 0);
	snprintf(path, sizeof path, "%s/.hidden", dir);
	write_file(path, "junk", 4);
	snprintf(path, sizeof path, "%s/java", dir);
	assert_int_equal(mkdir(path, 0700), 0);

	assert_int_equal(cert_store_load_path(&s, dir, msg, sizeof msg), 0);
	assert_int_equal(cert_store_count(&s), 2);
	cert_store_release(&s);

	snprintf(path, sizeof path, "%s/c-readme.txt", dir);
	write_file(path, "see the wiki\n", 13);
	assert_int_equal(cert_store_load_path(&s, dir, msg, sizeof msg),
	    CF_EINVAL);
	snprintf(want, sizeof want, "no certificate in '%s/c-readme.txt': "
	    "neither PEM nor DER", dir);
	assert_string_equal(msg, want);
	cert_store_release(&s);

	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof path, "%s/java", dir);
	assert_int_equal(rmdir(path), 0);
	{
		static const char *names[] = {
			"a-root.pem", "b-inter.pem", "0a1b2c3d.0",
			"dangling.pem", ".hidden",
		};
		size_t i;

		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(path, sizeof path, "%s/%s", dir, names[i]);
			assert_int_equal(unlink(path), 0);
		}
	}
	assert_int_equal(rmdir(dir), 0);
}

static void test_store_missing_path(void **state)
{
	struct cert_store s;
	char msg[256], *path = tmp_path("empty.pem");

	(void)state;
	cert_store_init(&s);
	assert_int_equal(cert_store_load_path(&s, tmp_path("no/such/dir"),
	    msg, sizeof msg), 0);
	assert_int_equal(cert_store_load_path(&s, "/nonexistent-store.pem",
	    msg, sizeof msg), 0);
	write_file(path, "", 0);
	assert_int_equal(cert_store_load_path(&s, path, msg, sizeof msg), 0);
	assert_int_equal(cert_store_count(&s), 0);
	assert_int_equal(cert_store_load_path(&s, "/dev/null", msg,
	    sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "cannot read '/dev/null': not a file or "
	    "directory");
	cert_store_release(&s);
	assert_int_equal(unlink(path), 0);
}

/* ---- openssl verify as the oracle ---- */

static void preflight(STACK_OF(X509) *chain, X509 *const *roots,
    X509 *const *inters, struct chain_verdict *v)
{
	struct cert_store rs, is;
	char msg[256];

	store_of(&rs, roots);
	store_of(&is, inters);
	chain_verdict_init(v);
	assert_int_equal(chain_preflight(chain, &rs, &is, NOW, v, msg,
	    sizeof msg), 0);
	cert_store_release(&rs);
	cert_store_release(&is);
}

/* Plan's check before any leaf exists names the same CAs. */
static void test_preflight(void **state)
{
	X509 *root[] = { F.root, NULL }, *inter[] = { F.inter, NULL };
	X509 *none[] = { NULL }, *both[] = { F.root, F.inter, NULL };
	X509 *inter3[] = { F.inter, F.inter2, NULL };
	X509 *exp[] = { F.inter_exp, NULL };
	struct chain_verdict v;
	char msg[128];

	(void)state;
	preflight(F.chain, root, inter, &v);
	assert_int_equal(v.status, CHAIN_OK);
	assert_int_equal(v.nmissing, 0);
	chain_verdict_release(&v);

	preflight(F.chain, root, none, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.nmissing, 1);
	assert_missing(&v, 0, CHAIN_KIND_INTERMEDIATE, CHAIN_WHY_ABSENT,
	    INTER_SUBJ, F.inter, "absent");
	chain_verdict_release(&v);

	preflight(F.chain, none, inter, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_missing(&v, 0, CHAIN_KIND_ROOT, CHAIN_WHY_ABSENT, ROOT_SUBJ,
	    F.root, "absent");
	chain_verdict_release(&v);

	preflight(F.chain, none, none, &v);
	assert_int_equal(v.nmissing, 2);
	chain_verdict_release(&v);

	/* Intermediate only in the root store, next to the root: verifies. */
	preflight(F.chain, both, none, &v);
	assert_int_equal(v.status, CHAIN_OK);
	chain_verdict_release(&v);

	/* The CA sent no root; the server's root store holds it. */
	preflight(F.chain_noroot, root, inter, &v);
	assert_int_equal(v.status, CHAIN_OK);
	chain_verdict_release(&v);
	preflight(F.chain_noroot, none, inter, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_missing(&v, 0, CHAIN_KIND_ROOT, CHAIN_WHY_ABSENT, ROOT_SUBJ,
	    NULL, "absent");
	chain_verdict_release(&v);

	preflight(F.chain3, root, inter3, &v);
	assert_int_equal(v.status, CHAIN_OK);
	chain_verdict_release(&v);
	preflight(F.chain3, root, inter, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_missing(&v, 0, CHAIN_KIND_INTERMEDIATE, CHAIN_WHY_ABSENT,
	    INTER2_SUBJ, F.inter2, "absent");
	chain_verdict_release(&v);

	preflight(F.chain, root, exp, &v);
	assert_int_equal(v.status, CHAIN_MISSING_CA);
	assert_int_equal(v.missing[0].why, CHAIN_WHY_EXPIRED);
	chain_verdict_release(&v);

	assert_int_equal(chain_preflight(NULL, NULL, NULL, NOW, &v, msg,
	    sizeof msg), CF_EINVAL);
}

/*
 * An intermediate restricted to serverAuth cannot issue for MTLS: the
 * second purpose is checked on the path the first one proved, and must
 * fail just as a full verification does.
 */
static void test_ca_restricted_to_server_auth(void **state)
{
	X509 *inter, *leaf, *roots[] = { F.root, NULL }, *inters[2];
	STACK_OF(X509) *chain;
	struct chain_verdict v;

	(void)state;
	ca_eku = "serverAuth";
	inter = make_ca("Contoso", "Contoso Web CA", F.kinter2, F.root,
	    F.kroot);
	ca_eku = NULL;
	leaf = make_cert("Contoso", "fe01.contoso.test", F.kleaf, inter,
	    F.kinter2, "serverAuth,clientAuth", VALID_FROM, VALID_TO);
	chain = stack_of(inter, F.root, NULL);
	inters[0] = inter;
	inters[1] = NULL;
	diag(leaf, chain, roots, inters, EKU_SERVER_AUTH, &v);
	assert_int_equal(v.status, CHAIN_OK);
	chain_verdict_release(&v);
	diag(leaf, chain, roots, inters, MTLS, &v);
	assert_int_equal(v.status, CHAIN_INVALID);
	assert_non_null(strstr(chain_verdict_detail(&v), "clientAuth"));
	assert_non_null(strstr(chain_verdict_detail(&v), "Contoso Web CA"));
	chain_verdict_release(&v);
	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	X509_free(inter);
}

static int have_openssl = -1;
static int cli_runs_ok, cli_runs_failed;

/* Exit status of argv (stdout and stderr to /dev/null), or -1. */
static int run(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st = 0, rc;

	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	assert_int_equal(posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
	    O_WRONLY, 0), 0);
	assert_int_equal(posix_spawn_file_actions_addopen(&fa, 2, "/dev/null",
	    O_WRONLY, 0), 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -1;
	while (waitpid(pid, &st, 0) < 0)
		assert_int_equal(errno, EINTR);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int cli_ok(int has_inters, const char *purpose)
{
	char *argv[12];
	int i = 0;

	argv[i++] = "openssl";
	argv[i++] = "verify";
	if (purpose != NULL) {
		argv[i++] = "-purpose";
		argv[i++] = (char *)purpose;
	}
	argv[i++] = "-CAfile";
	argv[i++] = tmp_path("ROOTS.pem");
	if (has_inters) {
		argv[i++] = "-untrusted";
		argv[i++] = tmp_path("INTERMEDIATES.pem");
	}
	argv[i++] = tmp_path("leaf.pem");
	argv[i] = NULL;
	return run(argv) == 0;
}

/*
 * Our verdict and `openssl verify` agree on ok vs not ok. The CLI checks
 * times with the real clock, so the verdict uses time(NULL) too.
 */
static void compare(X509 *leaf, STACK_OF(X509) *chain, X509 *const *pool,
    const int *place, size_t n, unsigned eku)
{
	X509 *roots[8], *inters[8], *one[2] = { leaf, NULL };
	size_t i, nr = 0, ni = 0;
	struct chain_verdict v;
	int ours, theirs;

	for (i = 0; i < n; i++) {
		if (place[i] & 1)
			roots[nr++] = pool[i];
		if (place[i] & 2)
			inters[ni++] = pool[i];
	}
	roots[nr] = NULL;
	inters[ni] = NULL;
	diag_at(leaf, chain, roots, inters, eku, time(NULL), &v);
	ours = v.status == CHAIN_OK;
	chain_verdict_release(&v);
	if (nr == 0) {
		/* -CAfile refuses an empty file; no roots never verifies. */
		assert_false(ours);
		return;
	}
	write_pem(tmp_path("ROOTS.pem"), roots);
	if (ni > 0)
		write_pem(tmp_path("INTERMEDIATES.pem"), inters);
	write_pem(tmp_path("leaf.pem"), one);
	if (eku & (EKU_SERVER_AUTH | EKU_CLIENT_AUTH)) {
		theirs = 1;
		if (eku & EKU_SERVER_AUTH)
			theirs &= cli_ok(ni > 0, "sslserver");
		if (theirs && (eku & EKU_CLIENT_AUTH))
			theirs &= cli_ok(ni > 0, "sslclient");
	} else {
		theirs = cli_ok(ni > 0, NULL);
	}
	if (theirs)
		cli_runs_ok++;
	else
		cli_runs_failed++;
	if (ours != theirs)
		fail_msg("verdict %s but openssl verify %s (roots %zu, "
		    "intermediates %zu)", ours ? "ok" : "not ok",
		    theirs ? "ok" : "not ok", nr, ni);
	unlink(tmp_path("ROOTS.pem"));
	unlink(tmp_path("INTERMEDIATES.pem"));
	unlink(tmp_path("leaf.pem"));
}

/* Every placement of n certificates: none, roots, intermediates, both. */
static void compare_all(X509 *leaf, STACK_OF(X509) *chain, X509 *const *pool,
    size_t n, unsigned eku)
{
	int place[4];
	unsigned combo, total = 1;
	size_t i;

	for (i = 0; i < n; i++)
		total *= 4;
	for (combo = 0; combo < total; combo++) {
		for (i = 0; i < n; i++)
			place[i] = (int)((combo >> (2 * i)) & 3);
		compare(leaf, chain, pool, place, n, eku);
	}
}

static void test_agrees_with_openssl(void **state)
{
	char *version[] = { "openssl", "version", NULL };
	X509 *pool3[] = { F.root, F.inter, F.unrel };
	X509 *pool2[] = { F.root, F.inter };
	X509 *pool_chain3[] = { F.root, F.inter, F.inter2 };
	X509 *pool_exp[] = { F.root, F.inter, F.inter_exp };
	X509 *full[] = { F.root, F.inter };
	static const int full_place[] = { 1, 2 };
	int place[3];
	int i, j;

	(void)state;
	if (have_openssl < 0)
		have_openssl = run(version) == 0;
	if (!have_openssl)
		skip();
	/* MTLS: sslserver and sslclient must both pass. */
	compare_all(F.leaf_mtls, F.chain, pool3, 3, MTLS);
	compare_all(F.leaf_server, F.chain, pool2, 2, EKU_SERVER_AUTH);
	compare_all(F.leaf_mtls, F.chain_noroot, pool2, 2, 0);
	compare_all(F.leaf3, F.chain3, pool_chain3, 3, 0);
	/* Expired copies: root trusted, the two intermediates anywhere. */
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 4; j++) {
			place[0] = 1;
			place[1] = i;
			place[2] = j;
			compare(F.leaf_mtls, F.chain, pool_exp, place, 3, MTLS);
		}
	}
	/* Leaf problems, with complete stores. */
	compare(F.leaf_server, F.chain, full, full_place, 2, MTLS);
	compare(F.leaf_noeku, F.chain, full, full_place, 2, MTLS);
	compare(F.leaf_expired, F.chain, full, full_place, 2, MTLS);
	compare(F.leaf_badsig, F.chain, full, full_place, 2, MTLS);
	compare(F.leaf_foreign, F.chain, full, full_place, 2, 0);
	/* The oracle really ran and said both things. */
	assert_true(cli_runs_ok > 10);
	assert_true(cli_runs_failed > 10);
}

/* ---- the chain as sent (ACME alternate chains) ---- */

static void test_sent_reaches(void **state)
{
	struct cert_store roots, other;
	STACK_OF(X509) *sent = stack_of(F.leaf_server, F.inter, NULL);
	STACK_OF(X509) *with_root = stack_of(F.leaf_server, F.inter, F.root);

	(void)state;
	cert_store_init(&roots);
	cert_store_init(&other);
	assert_int_equal(cert_store_add_cert(&roots, F.root), 0);
	assert_int_equal(cert_store_add_cert(&other, F.unrel), 0);
	assert_true(chain_sent_reaches(sent, &roots));
	assert_true(chain_sent_reaches(with_root, &roots));
	assert_false(chain_sent_reaches(sent, &other));
	assert_false(chain_sent_reaches(with_root, &other));
	/* A leaf alone reaches no root: its issuer is not one. */
	sk_X509_pop_free(sent, X509_free);
	sent = stack_of(F.leaf_server, NULL, NULL);
	assert_false(chain_sent_reaches(sent, &roots));
	sk_X509_pop_free(sent, X509_free);
	sk_X509_pop_free(with_root, X509_free);
	cert_store_release(&roots);
	cert_store_release(&other);
}

/* preferred_chain names the top issuer, or any CA in the chain. */
static void test_preferred_chain_match(void **state)
{
	X509 *list[] = { F.leaf_server, F.inter, NULL };
	size_t len;
	char *pem = pem_of(list, &len);

	(void)state;
	assert_true(ca_acme_chain_matches(pem, "Contoso Root CA"));
	assert_true(ca_acme_chain_matches(pem, "Contoso Issuing CA 1"));
	assert_false(ca_acme_chain_matches(pem, "fe01.contoso.test"));
	assert_false(ca_acme_chain_matches(pem, "Fabrikam Root CA"));
	assert_false(ca_acme_chain_matches(pem, "Contoso Root"));
	assert_false(ca_acme_chain_matches("not a chain", "Contoso Root CA"));
	assert_false(ca_acme_chain_matches(pem, NULL));
	free(pem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_both_present),
		cmocka_unit_test(test_preflight),
		cmocka_unit_test(test_ca_restricted_to_server_auth),
		cmocka_unit_test(test_lacks_intermediate),
		cmocka_unit_test(test_lacks_root),
		cmocka_unit_test(test_lacks_both),
		cmocka_unit_test(test_unrelated_root_only),
		cmocka_unit_test(test_intermediate_in_root_store),
		cmocka_unit_test(test_root_in_intermediate_store),
		cmocka_unit_test(test_chain_of_three),
		cmocka_unit_test(test_expired_intermediate),
		cmocka_unit_test(test_ca_path_once),
		cmocka_unit_test(test_chain_without_root),
		cmocka_unit_test(test_no_chain_from_ca),
		cmocka_unit_test(test_eku),
		cmocka_unit_test(test_leaf_invalid),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_names_and_describe),
		cmocka_unit_test(test_store_pem),
		cmocka_unit_test(test_store_bundle_file),
		cmocka_unit_test(test_store_directory),
		cmocka_unit_test(test_store_missing_path),
		cmocka_unit_test(test_agrees_with_openssl),
		cmocka_unit_test(test_sent_reaches),
		cmocka_unit_test(test_preferred_chain_match),
	};
	return cmocka_run_group_tests_name("chain", tests, setup, teardown);
}
