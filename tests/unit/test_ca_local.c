/*
 * The embedded CA: policy, creating the CA on disk (modes, no overwrite,
 * rollback), loading it, and signing leaves from the template. libcrypto
 * and the openssl command are the oracles.
 */
#include "tests/unit/unit.h"
#include "engine/ca/ca_local.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/reqspec.h"
#include "engine/base/san.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

extern char **environ;

/* One CA for the signing tests, made once by the group setup. */
static struct {
	char dir[64];
	char root[128], root_key[128], issuing[128], issuing_key[128];
	struct ca_local ca;
} fx;

static int rm_entry(const char *p, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_tree(const char *dir)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int group_setup(void **state)
{
	char msg[256];

	(void)state;
	snprintf(fx.dir, sizeof fx.dir, "/tmp/cf-ca-XXXXXX");
	if (mkdtemp(fx.dir) == NULL)
		return -1;
	snprintf(fx.root, sizeof fx.root, "%s/ca/root.pem", fx.dir);
	snprintf(fx.root_key, sizeof fx.root_key, "%s/private/root.key",
	    fx.dir);
	snprintf(fx.issuing, sizeof fx.issuing, "%s/ca/issuing.pem", fx.dir);
	snprintf(fx.issuing_key, sizeof fx.issuing_key,
	    "%s/private/issuing.key", fx.dir);
	if (ca_local_create("Contoso Fleet", fx.root, fx.root_key, fx.issuing,
	    fx.issuing_key, msg, sizeof msg) != 0) {
		fprintf(stderr, "ca_local_create: %s\n", msg);
		return -1;
	}
	if (ca_local_load(&fx.ca, fx.root, fx.issuing, fx.issuing_key, msg,
	    sizeof msg) != 0) {
		fprintf(stderr, "ca_local_load: %s\n", msg);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	ca_local_release(&fx.ca);
	rm_tree(fx.dir);
	return 0;
}

/* ---- policy ---- */

static char *domains[] = { "contoso.test", "fabrikam.example" };

static int judge(const struct ca_policy *pol, const char *subject,
    const char *san1, const char *san2, char *msg, size_t msgsz)
{
	struct req_spec rs;
	int rc;

	req_spec_init(&rs);
	rs.subject = subject ? strdup(subject) : NULL;
	if (san1 != NULL)
		assert_int_equal(req_spec_add_san(&rs, san1), 0);
	if (san2 != NULL)
		assert_int_equal(req_spec_add_san(&rs, san2), 0);
	msg[0] = '\0';
	rc = ca_policy_check(pol, &rs, msg, msgsz);
	req_spec_release(&rs);
	return rc;
}

static void test_policy(void **state)
{
	struct cidr ips[2];
	struct ca_policy pol = { domains, 2, ips, 2, false };
	struct ca_policy open = { NULL, 0, NULL, 0, false };
	char msg[256];

	(void)state;
	assert_true(cidr_parse("10.0.0.0/8", &ips[0]));
	assert_true(cidr_parse("fd00::/8", &ips[1]));

	/* DNS: equal to or under an allowed domain, wildcard by its base. */
	assert_int_equal(judge(&pol, NULL, "DNS:fe01.contoso.test",
	    "DNS:contoso.test", msg, sizeof msg), 0);
	assert_int_equal(judge(&pol, NULL, "DNS:a.b.FABRIKAM.example", NULL,
	    msg, sizeof msg), 0);
	assert_int_equal(judge(&pol, NULL, "DNS:*.contoso.test",
	    "DNS:*.pool.contoso.test", msg, sizeof msg), 0);
	assert_int_equal(judge(&pol, NULL, "DNS:evil.example", NULL, msg,
	    sizeof msg), CF_EDENIED);
	assert_string_equal(msg,
	    "SAN 'DNS:evil.example' is outside allowed_domains");
	assert_int_equal(judge(&pol, NULL, "DNS:evilcontoso.test", NULL, msg,
	    sizeof msg), CF_EDENIED);
	assert_int_equal(judge(&pol, NULL, "DNS:*.test", NULL, msg,
	    sizeof msg), CF_EDENIED);
	assert_string_equal(msg, "SAN 'DNS:*.test' is outside allowed_domains");

	/* The first offending SAN is the one named. */
	assert_int_equal(judge(&pol, NULL, "DNS:ok.contoso.test",
	    "DNS:bad.example", msg, sizeof msg), CF_EDENIED);
	assert_string_equal(msg,
	    "SAN 'DNS:bad.example' is outside allowed_domains");

	/* IP: inside an allowed CIDR, IPv4 and IPv6. */
	assert_int_equal(judge(&pol, NULL, "IP:10.200.0.1", "IP:fd12::1",
	    msg, sizeof msg), 0);
	assert_int_equal(judge(&pol, NULL, "IP:11.0.0.1", NULL, msg,
	    sizeof msg), CF_EDENIED);
	assert_string_equal(msg, "SAN 'IP:11.0.0.1' is outside allowed_ips");
	assert_int_equal(judge(&pol, NULL, "IP:fe80::1", NULL, msg,
	    sizeof msg), CF_EDENIED);
	assert_string_equal(msg, "SAN 'IP:fe80::1' is outside allowed_ips");

	/* email and URI are denied when domains are restricted. */
	assert_int_equal(judge(&pol, NULL, "email:ops@contoso.test", NULL, msg,
	    sizeof msg), CF_EDENIED);
	assert_string_equal(msg, "SAN 'email:ops@contoso.test' is not "
	    "allowed: allowed_domains admits DNS and IP names only");
	assert_int_equal(judge(&pol, NULL, "URI:spiffe://contoso.test/x",
	    NULL, msg, sizeof msg), CF_EDENIED);

	/* The subject CN is held to the same rules when it names a host. */
	assert_int_equal(judge(&pol, "CN=evil.example, O=Contoso",
	    "DNS:fe01.contoso.test", NULL, msg, sizeof msg), CF_EDENIED);
	assert_string_equal(msg,
	    "subject CN 'evil.example' is outside allowed_domains");
	assert_int_equal(judge(&pol, "CN=192.168.1.1", NULL, NULL, msg,
	    sizeof msg), CF_EDENIED);
	assert_int_equal(judge(&pol, "CN=Web Farm, O=Contoso",
	    "DNS:fe01.contoso.test", NULL, msg, sizeof msg), 0);
	assert_int_equal(judge(&pol, "CN=fe01.contoso.test",
	    "DNS:fe01.contoso.test", NULL, msg, sizeof msg), 0);

	/* Empty lists restrict nothing. */
	assert_int_equal(judge(&open, "CN=anything.example", "DNS:evil.example",
	    "IP:8.8.8.8", msg, sizeof msg), 0);
	assert_int_equal(judge(&open, NULL, "email:a@b.example",
	    "URI:https://x.example/", msg, sizeof msg), 0);
	pol.nips = 0;
	assert_int_equal(judge(&pol, NULL, "IP:8.8.8.8", NULL, msg,
	    sizeof msg), 0);
	pol.nips = 2;
	pol.ndomains = 0;
	assert_int_equal(judge(&pol, NULL, "DNS:evil.example",
	    "email:a@b.example", msg, sizeof msg), 0);
	assert_int_equal(judge(&pol, NULL, "IP:8.8.8.8", NULL, msg,
	    sizeof msg), CF_EDENIED);

	/* Malformed names are an error, not a denial. */
	assert_int_equal(judge(&pol, NULL, "DNS:bad_name", NULL, msg,
	    sizeof msg), CF_EINVAL);
}

/* ---- creating the CA ---- */

static mode_t mode_of(const char *p)
{
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

static bool exists(const char *p)
{
	struct stat st;

	return lstat(p, &st) == 0;
}

static char *slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	char *buf = malloc(1 << 16);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 1 << 16, f);
	fclose(f);
	return buf;
}

static void create_with_umask(mode_t um)
{
	char dir[] = "/tmp/cf-ca-XXXXXX", p[4][128], d[2][128], msg[256];
	mode_t old;
	int rc;

	assert_non_null(mkdtemp(dir));
	snprintf(p[0], sizeof p[0], "%s/certs/root.pem", dir);
	snprintf(p[1], sizeof p[1], "%s/keys/sub/root.key", dir);
	snprintf(p[2], sizeof p[2], "%s/certs/issuing.pem", dir);
	snprintf(p[3], sizeof p[3], "%s/keys/sub/issuing.key", dir);
	snprintf(d[0], sizeof d[0], "%s/keys/sub", dir);
	snprintf(d[1], sizeof d[1], "%s/certs", dir);
	old = umask(um);
	rc = ca_local_create("Contoso", p[0], p[1], p[2], p[3], msg,
	    sizeof msg);
	umask(old);
	assert_int_equal(rc, 0);
	assert_int_equal(mode_of(p[1]), 0600);
	assert_int_equal(mode_of(p[3]), 0600);
	assert_int_equal(mode_of(p[0]), 0644);
	assert_int_equal(mode_of(p[2]), 0644);
	assert_int_equal(mode_of(d[0]), 0700);
	snprintf(d[0], sizeof d[0], "%s/keys", dir);
	assert_int_equal(mode_of(d[0]), 0700);
	assert_int_equal(mode_of(d[1]), 0755);
	rm_tree(dir);
}

static void test_create_modes_umask_0(void **state)
{
	(void)state;
	create_with_umask(0);
}

static void test_create_modes_umask_077(void **state)
{
	(void)state;
	create_with_umask(077);
}

static void test_create_refuses_to_overwrite(void **state)
{
	const char *p[4] = { fx.root, fx.root_key, fx.issuing, fx.issuing_key };
	char *before[4], *after, msg[256], q[4][128];
	char dir[] = "/tmp/cf-ca-XXXXXX";
	size_t len[4], alen, i;
	int fd;

	(void)state;
	for (i = 0; i < 4; i++)
		before[i] = slurp(p[i], &len[i]);
	assert_int_equal(ca_local_create("Other", p[0], p[1], p[2], p[3], msg,
	    sizeof msg), CF_EEXIST);
	assert_non_null(strstr(msg, fx.root));
	assert_non_null(strstr(msg, "already exists"));
	for (i = 0; i < 4; i++) {
		after = slurp(p[i], &alen);
		assert_int_equal(alen, len[i]);
		assert_memory_equal(after, before[i], alen);
		free(after);
		free(before[i]);
	}

	/* Only the last file exists: nothing at all is written. */
	assert_non_null(mkdtemp(dir));
	for (i = 0; i < 4; i++)
		snprintf(q[i], sizeof q[i], "%s/f%zu.pem", dir, i);
	fd = open(q[3], O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(ca_local_create("Other", q[0], q[1], q[2], q[3], msg,
	    sizeof msg), CF_EEXIST);
	for (i = 0; i < 3; i++)
		assert_false(exists(q[i]));
	after = slurp(q[3], &alen);
	assert_int_equal(alen, 4);
	assert_memory_equal(after, "keep", 4);
	free(after);

	/* A dangling symlink counts as existing: it is never followed. */
	assert_int_equal(unlink(q[3]), 0);
	assert_int_equal(symlink("/tmp/cf-ca-nowhere", q[1]), 0);
	assert_int_equal(ca_local_create("Other", q[0], q[1], q[2], q[3], msg,
	    sizeof msg), CF_EEXIST);
	assert_false(exists("/tmp/cf-ca-nowhere"));
	assert_false(exists(q[0]));

	/* The same path twice is refused. */
	assert_int_equal(ca_local_create("Other", q[0], q[0], q[2], q[3], msg,
	    sizeof msg), CF_EINVAL);
	assert_false(exists(q[0]));
	assert_int_equal(ca_local_create("", q[0], q[2], q[2], q[3], msg,
	    sizeof msg), CF_EINVAL);
	rm_tree(dir);
}

static void test_create_rolls_back(void **state)
{
	char dir[] = "/tmp/cf-ca-XXXXXX", p[4][512], name[NAME_MAX], msg[256];
	size_t i;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p[0], sizeof p[0], "%s/root.pem", dir);
	snprintf(p[1], sizeof p[1], "%s/root.key", dir);
	snprintf(p[2], sizeof p[2], "%s/issuing.pem", dir);
	/*
	 * The last file's name fits NAME_MAX but its temporary name does
	 * not, so the fourth write fails after three files and a directory
	 * were created: all of them must go.
	 */
	memset(name, 'k', NAME_MAX - 5);
	name[NAME_MAX - 5] = '\0';
	snprintf(p[3], sizeof p[3], "%s/new/%s", dir, name);
	assert_int_equal(ca_local_create("Contoso", p[0], p[1], p[2], p[3],
	    msg, sizeof msg), CF_EIO);
	assert_non_null(strstr(msg, "cannot create"));
	for (i = 0; i < 4; i++)
		assert_false(exists(p[i]));
	snprintf(p[0], sizeof p[0], "%s/new", dir);
	assert_false(exists(p[0]));
	assert_int_equal(rmdir(dir), 0);
}

static void test_created_ca(void **state)
{
	X509 *root = fx.ca.root, *iss = fx.ca.issuing;
	BASIC_CONSTRAINTS *bc;
	EVP_PKEY *pub;
	time_t nb, na;
	char buf[128];
	int crit = -1;

	(void)state;
	assert_int_equal(X509_verify(iss, X509_get0_pubkey(root)), 1);
	assert_int_equal(X509_verify(root, X509_get0_pubkey(root)), 1);
	assert_int_equal(X509_check_issued(root, iss), X509_V_OK);
	assert_int_equal(crypto_cert_subject(root, buf, sizeof buf), 0);
	assert_string_equal(buf, "CN=Contoso Fleet Root CA, O=Contoso Fleet");
	assert_int_equal(crypto_cert_subject(iss, buf, sizeof buf), 0);
	assert_string_equal(buf, "CN=Contoso Fleet Issuing CA, O=Contoso Fleet");

	pub = X509_get0_pubkey(root);
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(pub), 384);
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(iss)), 384);
	assert_int_equal(X509_get_signature_nid(iss), NID_ecdsa_with_SHA384);

	bc = X509_get_ext_d2i(root, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_true(bc->ca);
	assert_null(bc->pathlen);
	BASIC_CONSTRAINTS_free(bc);
	bc = X509_get_ext_d2i(iss, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_true(bc->ca);
	assert_non_null(bc->pathlen);
	assert_int_equal(ASN1_INTEGER_get(bc->pathlen), 0);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(root), KU_KEY_CERT_SIGN |
	    KU_CRL_SIGN);
	assert_int_equal(X509_get_key_usage(iss), KU_KEY_CERT_SIGN |
	    KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(root));
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(iss),
	    X509_get0_subject_key_id(root)), 0);
	assert_int_equal(ASN1_OCTET_STRING_cmp(
	    X509_get0_authority_key_id(root), X509_get0_subject_key_id(root)),
	    0);

	assert_int_equal(crypto_cert_not_before(root, &nb), 0);
	assert_int_equal(crypto_cert_not_after(root, &na), 0);
	assert_int_equal(na - nb, 3652L * 86400 + 300);
	assert_int_equal(crypto_cert_not_before(iss, &nb), 0);
	assert_int_equal(crypto_cert_not_after(iss, &na), 0);
	assert_int_equal(na - nb, 1826L * 86400 + 300);
}

static void test_load_errors(void **state)
{
	struct ca_local ca;
	char msg[512], missing[160];

	(void)state;
	/* The root's key is not the issuing CA's key. */
	assert_int_equal(ca_local_load(&ca, fx.root, fx.issuing, fx.root_key,
	    msg, sizeof msg), CF_EINVAL);
	assert_non_null(strstr(msg, "does not belong"));
	assert_null(ca.root);
	/* Root and issuing swapped: the issuing CA did not sign the root. */
	assert_int_equal(ca_local_load(&ca, fx.issuing, fx.root, fx.root_key,
	    msg, sizeof msg), CF_ECHAIN);
	assert_non_null(strstr(msg, "is not signed by the root CA"));
	snprintf(missing, sizeof missing, "%s/none.pem", fx.dir);
	assert_int_equal(ca_local_load(&ca, missing, fx.issuing,
	    fx.issuing_key, msg, sizeof msg), CF_ENOENT);
	assert_non_null(strstr(msg, missing));
	/* A key file where a certificate belongs. */
	assert_int_equal(ca_local_load(&ca, fx.issuing_key, fx.issuing,
	    fx.issuing_key, msg, sizeof msg), CF_EINVAL);
	assert_non_null(strstr(msg, "no PEM certificate"));
	assert_int_equal(ERR_peek_error(), 0);
	ca_local_release(&ca);
}

/* ---- signing ---- */

static EVP_PKEY *keygen(const char *type, const char *curve, int bits)
{
	struct key_spec ks;
	EVP_PKEY *k = NULL;
	char msg[256];

	assert_int_equal(key_spec_set(&ks, type, curve, bits, msg, sizeof msg),
	    0);
	assert_int_equal(crypto_keygen(&ks, &k, msg, sizeof msg), 0);
	return k;
}

/* A CSR for key that asks for names the CA must ignore. */
static X509_REQ *greedy_csr(EVP_PKEY *key)
{
	struct req_spec rs;
	X509_REQ *csr = NULL;
	char msg[256];

	req_spec_init(&rs);
	rs.subject = strdup("CN=evil.example, O=Evil");
	assert_int_equal(req_spec_add_san(&rs, "DNS:evil.example"), 0);
	assert_int_equal(req_spec_add_san(&rs, "IP:6.6.6.6"), 0);
	assert_int_equal(crypto_csr_new(key, &rs, &csr, msg, sizeof msg), 0);
	req_spec_release(&rs);
	return csr;
}

static void template(struct req_spec *rs, const char *type,
    const char *curve, int bits)
{
	char msg[256];

	req_spec_init(rs);
	rs->subject = strdup("CN=fe01.contoso.test, O=Contoso");
	assert_int_equal(req_spec_add_san(rs, "DNS:fe01.contoso.test"), 0);
	assert_int_equal(req_spec_add_san(rs, "DNS:fe01"), 0);
	assert_int_equal(req_spec_add_san(rs, "IP:10.0.0.5"), 0);
	assert_int_equal(key_spec_set(&rs->key, type, curve, bits, msg,
	    sizeof msg), 0);
	rs->eku = EKU_SERVER_AUTH | EKU_CLIENT_AUTH;
	rs->days = 90;
}

static void verify_with_store(X509 *leaf)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *untrusted = sk_X509_new_null();

	assert_true(X509_STORE_add_cert(store, fx.ca.root));
	assert_true(sk_X509_push(untrusted, fx.ca.issuing));
	assert_true(X509_STORE_CTX_init(ctx, store, leaf, untrusted));
	assert_true(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER));
	assert_int_equal(X509_verify_cert(ctx), 1);
	assert_int_equal(sk_X509_num(X509_STORE_CTX_get0_chain(ctx)), 3);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(store);
}

/* Runs "openssl verify" on leaf via posix_spawnp; returns its output. */
static void openssl_verify(X509 *leaf, char *out, size_t outsz, int *status)
{
	char path[160], msg[256], *pem;
	char *argv[] = { "openssl", "verify", "-CAfile", fx.root,
	    "-untrusted", fx.issuing, path, NULL };
	posix_spawn_file_actions_t fa;
	size_t n = 0;
	ssize_t r;
	pid_t pid;
	FILE *f;
	int p[2];

	snprintf(path, sizeof path, "%s/leaf.pem", fx.dir);
	assert_int_equal(crypto_cert_to_pem(leaf, &pem, msg, sizeof msg), 0);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(pem, f) >= 0, 1);
	fclose(f);
	free(pem);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	posix_spawn_file_actions_addclose(&fa, p[1]);
	assert_int_equal(posix_spawnp(&pid, "openssl", &fa, NULL, argv,
	    environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	while (n + 1 < outsz && (r = read(p[0], out + n, outsz - n - 1)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		assert_true(r > 0);
		n += (size_t)r;
	}
	out[n] = '\0';
	close(p[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
	unlink(path);
}

static void test_sign_uses_template(void **state)
{
	EVP_PKEY *k = keygen("ec", "P-256", 0);
	X509_REQ *csr = greedy_csr(k);
	X509 *leaf = NULL, *leaf2 = NULL;
	struct req_spec rs;
	BASIC_CONSTRAINTS *bc;
	BIGNUM *s1, *s2;
	char msg[256], buf[256], out[1024], **v;
	time_t now = time(NULL), t;
	size_t n;
	int crit = -1, status = -1, days = -1, secs = -1;

	(void)state;
	template(&rs, "ec", "P-256", 0);
	assert_int_equal(ca_local_sign(&fx.ca, csr, &rs, now, &leaf, msg,
	    sizeof msg), 0);
	assert_non_null(leaf);

	/* Subject, SANs and EKUs from the template, not from the CSR. */
	assert_int_equal(crypto_cert_subject(leaf, buf, sizeof buf), 0);
	assert_string_equal(buf, "CN=fe01.contoso.test, O=Contoso");
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf),
	    NID_organizationName, buf, sizeof buf), 7);
	assert_string_equal(buf, "Contoso");
	assert_int_equal(crypto_cert_sans(leaf, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0], "DNS:fe01.contoso.test");
	assert_string_equal(v[1], "DNS:fe01");
	assert_string_equal(v[2], "IP:10.0.0.5");
	crypto_strings_free(v, n);
	assert_int_equal(X509_get_extended_key_usage(leaf),
	    XKU_SSL_SERVER | XKU_SSL_CLIENT);
	assert_int_equal(crypto_cert_eku(leaf), EKU_SERVER_AUTH |
	    EKU_CLIENT_AUTH);
	assert_true(crypto_csr_matches_cert(csr, leaf));
	assert_true(crypto_key_matches_cert(k, leaf));
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(leaf),
	    X509_get_subject_name(fx.ca.issuing)), 0);

	/* Validity: now - 5 minutes to now + 90 days. */
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(leaf),
	    now - 300), 0);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(leaf),
	    now + 90L * 86400), 0);
	assert_true(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf),
	    X509_get0_notAfter(leaf)));
	assert_int_equal(days, 90);
	assert_int_equal(secs, 300);
	assert_int_equal(crypto_cert_not_after(leaf, &t), 0);
	assert_int_equal(t, now + 90L * 86400);

	/* A leaf: CA:FALSE critical, digitalSignature only for EC. */
	bc = X509_get_ext_d2i(leaf, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_int_equal(crit, 1);
	assert_false(bc->ca);
	BASIC_CONSTRAINTS_free(bc);
	assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_get_ext_by_NID(leaf, NID_key_usage, -1) >= 0, 1);
	assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(leaf,
	    X509_get_ext_by_NID(leaf, NID_key_usage, -1))), 1);
	assert_non_null(X509_get0_subject_key_id(leaf));
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
	    X509_get0_subject_key_id(fx.ca.issuing)), 0);
	assert_int_equal(X509_get_signature_nid(leaf), NID_ecdsa_with_SHA384);

	/* Serial: positive, at least 64 bits, different every time. */
	assert_int_equal(ca_local_sign(&fx.ca, csr, &rs, now, &leaf2, msg,
	    sizeof msg), 0);
	s1 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	s2 = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf2), NULL);
	assert_false(BN_is_negative(s1));
	assert_false(BN_is_zero(s1));
	assert_true(BN_num_bits(s1) > 64);
	assert_true(BN_num_bits(s1) <= 127);
	assert_int_not_equal(BN_cmp(s1, s2), 0);
	BN_free(s1);
	BN_free(s2);

	/* The chain verifies, for libcrypto and for the openssl command. */
	verify_with_store(leaf);
	openssl_verify(leaf, out, sizeof out, &status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(out, "leaf.pem: OK"));

	ERR_clear_error();
	X509_free(leaf);
	X509_free(leaf2);
	X509_REQ_free(csr);
	req_spec_release(&rs);
	EVP_PKEY_free(k);
}

/* ca_local_sign_pem's certificate for csr: as leaf, ca_local_sign's, in
 * its key (the same bytes) and usages; it verifies under the CA. */
static void same_as_pem(X509 *leaf, EVP_PKEY *k, X509_REQ *csr,
    struct req_spec *rs)
{
	STACK_OF(X509) *sk = NULL;
	unsigned char *a = NULL, *b = NULL;
	char msg[256], out[1024], *pem = NULL;
	X509 *x;
	int na, nb, status;

	assert_int_equal(ca_local_sign_pem(&fx.ca, csr, rs, time(NULL), &pem,
	    msg, sizeof msg), 0);
	assert_int_equal(crypto_certs_from_pem(pem, "pem", &sk, msg,
	    sizeof msg), 0);
	x = sk_X509_value(sk, 0);
	assert_true(crypto_key_matches_cert(k, x));
	assert_int_equal(X509_get_key_usage(x), X509_get_key_usage(leaf));
	na = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &a);
	nb = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &b);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, (size_t)na);
	openssl_verify(x, out, sizeof out, &status);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(out, "leaf.pem: OK"));
	OPENSSL_free(a);
	OPENSSL_free(b);
	sk_X509_pop_free(sk, X509_free);
	free(pem);
}

static void test_sign_key_types(void **state)
{
	static const struct {
		const char *type, *curve;
		unsigned ku;
	} cases[] = {
		{ "rsa", NULL, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT },
		{ "ed25519", NULL, KU_DIGITAL_SIGNATURE },
		{ "ec", "P-384", KU_DIGITAL_SIGNATURE },
	};
	char msg[256], out[1024];
	size_t i;
	int status;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *k = keygen(cases[i].type, cases[i].curve, 0);
		X509_REQ *csr = greedy_csr(k);
		struct req_spec rs;
		X509 *leaf = NULL;

		template(&rs, cases[i].type, cases[i].curve, 0);
		rs.eku = EKU_CLIENT_AUTH;
		assert_int_equal(ca_local_sign(&fx.ca, csr, &rs, time(NULL),
		    &leaf, msg, sizeof msg), 0);
		assert_int_equal(X509_get_key_usage(leaf), cases[i].ku);
		assert_int_equal(crypto_cert_eku(leaf), EKU_CLIENT_AUTH);
		assert_true(crypto_key_matches_cert(k, leaf));
		openssl_verify(leaf, out, sizeof out, &status);
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_non_null(strstr(out, "leaf.pem: OK"));
		/* Straight to PEM (the driver's way): the same key, the same
		 * bytes for it, and it verifies. */
		same_as_pem(leaf, k, csr, &rs);
		X509_free(leaf);
		X509_REQ_free(csr);
		req_spec_release(&rs);
		EVP_PKEY_free(k);
	}
}

static void test_sign_refuses(void **state)
{
	EVP_PKEY *k = keygen("ec", "P-256", 0);
	X509_REQ *csr = greedy_csr(k), *bad;
	unsigned char *der = NULL;
	const unsigned char *p;
	struct req_spec rs;
	X509 *leaf = NULL;
	char msg[256];
	int len;

	(void)state;
	template(&rs, "ec", "P-256", 0);

	/* A CSR whose signature does not verify: no proof of possession. */
	len = i2d_X509_REQ(csr, &der);
	assert_true(len > 0);
	der[len - 1] ^= 0x01;
	p = der;
	bad = d2i_X509_REQ(NULL, &p, len);
	assert_non_null(bad);
	assert_int_equal(ca_local_sign(&fx.ca, bad, &rs, time(NULL), &leaf,
	    msg, sizeof msg), CF_EDENIED);
	assert_null(leaf);
	assert_string_equal(msg, "CSR signature does not verify: no proof of "
	    "possession of its key");
	X509_REQ_free(bad);
	OPENSSL_free(der);

	/* A key other than the template's. */
	req_spec_release(&rs);
	template(&rs, "ec", "P-384", 0);
	assert_int_equal(ca_local_sign(&fx.ca, csr, &rs, time(NULL), &leaf,
	    msg, sizeof msg), CF_EDENIED);
	assert_string_equal(msg,
	    "CSR key 'ec P-256' does not match the template's 'ec P-384'");
	req_spec_release(&rs);
	template(&rs, "ec", "P-256", 0);

	/* Validity beyond the issuing CA's, or none at all. */
	rs.days = 6 * 366;
	assert_int_equal(ca_local_sign(&fx.ca, csr, &rs, time(NULL), &leaf,
	    msg, sizeof msg), CF_EDENIED);
	assert_non_null(strstr(msg, "would outlast the issuing CA"));
	rs.days = 0;
	assert_int_equal(ca_local_sign(&fx.ca, csr, &rs, time(NULL), &leaf,
	    msg, sizeof msg), CF_EINVAL);
	rs.days = 90;

	/* A malformed template SAN. */
	assert_int_equal(req_spec_add_san(&rs, "DNS:bad_name"), 0);
	assert_int_equal(ca_local_sign(&fx.ca, csr, &rs, time(NULL), &leaf,
	    msg, sizeof msg), CF_EINVAL);
	assert_null(leaf);
	assert_int_equal(ERR_peek_error(), 0);
	req_spec_release(&rs);
	X509_REQ_free(csr);
	EVP_PKEY_free(k);
}

static void test_chain(void **state)
{
	STACK_OF(X509) *sk = NULL;
	char msg[256], *pem;

	(void)state;
	assert_int_equal(ca_local_chain_pem(&fx.ca, &pem, msg, sizeof msg), 0);
	assert_int_equal(crypto_certs_from_pem(pem, "chain", &sk, msg,
	    sizeof msg), 0);
	assert_int_equal(sk_X509_num(sk), 2);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 0), fx.ca.issuing), 0);
	assert_int_equal(X509_cmp(sk_X509_value(sk, 1), fx.ca.root), 0);
	sk_X509_pop_free(sk, X509_free);
	free(pem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_create_modes_umask_0),
		cmocka_unit_test(test_create_modes_umask_077),
		cmocka_unit_test(test_create_refuses_to_overwrite),
		cmocka_unit_test(test_create_rolls_back),
		cmocka_unit_test(test_created_ca),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_sign_uses_template),
		cmocka_unit_test(test_sign_key_types),
		cmocka_unit_test(test_sign_refuses),
		cmocka_unit_test(test_chain),
	};
	return cmocka_run_group_tests_name("ca_local", tests, group_setup,
	    group_teardown);
}
