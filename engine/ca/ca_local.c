/*
 * The embedded CA. It signs what the request template says, never what a
 * CSR asks for: the CSR only proves possession of a key and hands over its
 * public half. Creating the CA never overwrites an existing file, writes
 * keys 0600 from their first byte and leaves nothing behind on failure.
 * It must never put key material in a message, print, or follow a symlink
 * when it creates a file.
 */
#include "engine/ca/ca_local.h"
#include "engine/base/crypto.h"
#include "engine/base/dn.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
#include "engine/base/str.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define CA_ROOT_DAYS 3652           /* 10 years */
#define CA_ISSUING_DAYS 1826        /* 5 years */
#define CA_BACKDATE (5 * 60)        /* tolerate clocks a little behind */
#define CA_FILE_MAX (1024 * 1024)
#define CN_MAX 64

/* ---- policy ---- */

static bool domain_allowed(const struct ca_policy *pol, const char *host)
{
	size_t i;

	/* A wildcard covers names under its base, so judge the base. */
	if (strncmp(host, "*.", 2) == 0)
		host += 2;
	for (i = 0; i < pol->ndomains; i++) {
		const char *d = pol->allowed_domains[i];

		if (strncmp(d, "*.", 2) == 0)
			d += 2;
		if (host_in_domain(host, d))
			return true;
	}
	return false;
}

static bool ip_allowed(const struct ca_policy *pol, const unsigned char *ip,
    size_t iplen)
{
	size_t i;

	for (i = 0; i < pol->nips; i++)
		if (cidr_contains(&pol->allowed_ips[i], ip, iplen))
			return true;
	return false;
}

/* Judges the subject CN when it names a host or an address. */
static int check_cn(const struct ca_policy *pol, const char *subject,
    char *msg, size_t msgsz)
{
	unsigned char ip[16];
	const char *cn;
	size_t iplen;
	struct dn dn;
	int rc = 0;

	if (subject == NULL || subject[0] == '\0')
		return 0;
	if ((rc = dn_parse(&dn, subject, msg, msgsz)) != 0)
		return rc;
	cn = dn_get(&dn, "CN");
	if (cn == NULL) {
		rc = 0;
	} else if (ip_parse(cn, ip, &iplen)) {
		if (pol->nips > 0 && !ip_allowed(pol, ip, iplen))
			rc = cf_error(msg, msgsz, CF_EDENIED, "subject CN '%s' "
			    "is outside allowed_ips", cn);
	} else if (host_is_valid(cn, true)) {
		if (pol->ndomains > 0 && !domain_allowed(pol, cn))
			rc = cf_error(msg, msgsz, CF_EDENIED, "subject CN '%s' "
			    "is outside allowed_domains", cn);
	}
	dn_release(&dn);
	return rc;
}

int ca_policy_check(const struct ca_policy *pol, const struct req_spec *rs,
    char *msg, size_t msgsz)
{
	const char *why = NULL;
	struct san s;
	size_t i;
	int rc;

	for (i = 0; i < rs->nsan && why == NULL; i++) {
		if ((rc = san_parse(rs->san[i], &s, msg, msgsz)) != 0)
			return rc;
		switch (s.type) {
		case SAN_DNS:
			if (pol->ndomains > 0 && !domain_allowed(pol, s.value))
				why = "is outside allowed_domains";
			break;
		case SAN_IP:
			if (pol->nips > 0 && !ip_allowed(pol, s.ip, s.iplen))
				why = "is outside allowed_ips";
			break;
		case SAN_EMAIL:
		case SAN_URI:
		default:
			if (pol->ndomains > 0)
				why = "is not allowed: allowed_domains admits "
				    "DNS and IP names only";
			break;
		}
	}
	if (why != NULL)
		return cf_error(msg, msgsz, CF_EDENIED, "SAN '%s' %s",
		    rs->san[i - 1], why);
	return check_cn(pol, rs->subject, msg, msgsz);
}

/* ---- certificate building ---- */

/* Sets a random positive serial of 127 bits (RFC 5280 4.1.2.2, CA/B BR). */
static int set_random_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn = NULL;
	int ok = 0;

	do {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return 0;
		b[0] &= 0x7f;
		BN_free(bn);
		if ((bn = BN_bin2bn(b, sizeof(b), NULL)) == NULL)
			return 0;
	} while (BN_is_zero(bn));
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok;
}

/* The digest that suits signing key k: none for EdDSA, SHA-384 for P-384. */
static const EVP_MD *sign_md(EVP_PKEY *k)
{
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		return NULL;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_bits(k) > 384)
			return EVP_sha512();
		if (EVP_PKEY_get_bits(k) > 256)
			return EVP_sha384();
		return EVP_sha256();
	default:
		return EVP_sha256();
	}
}

/* Adds one extension written in openssl.cnf syntax. Returns 1 or 0. */
static int add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok;

	if (ext == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

/*
 * Fills in what every certificate made here has: version 3, a random
 * serial, subject and issuer (issuer NULL: self-signed), validity from
 * now - CA_BACKDATE to now + days, key (whole false: only its encoding,
 * crypto_spki_set), basic constraints, key usage and key identifiers.
 * Returns 1 or 0.
 */
static int cert_fill(X509 *x, X509 *issuer, X509_NAME *subject,
    EVP_PKEY *key, bool whole, time_t now, int days, const char *basic,
    const char *usage)
{
	X509V3_CTX ctx;

	if (!X509_set_version(x, 2) || !set_random_serial(x) ||
	    !X509_set_subject_name(x, subject) ||
	    !X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
	    subject) ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, -CA_BACKDATE,
	    &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &now) == NULL ||
	    !((!whole && crypto_spki_set(X509_get_X509_PUBKEY(x), key)) ||
	    X509_set_pubkey(x, key)))
		return 0;
	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	/* SKI before AKI: a self-signed AKI is taken from its own SKI. */
	return add_conf_ext(x, &ctx, NID_basic_constraints, basic) &&
	    add_conf_ext(x, &ctx, NID_key_usage, usage) &&
	    add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
	    add_conf_ext(x, &ctx, NID_authority_key_identifier,
	    "keyid:always");
}

/*
 * Makes a CA certificate for key named "CN=<cn>, O=<org>", signed by
 * issuer/issuer_key, or self-signed when issuer is NULL. pathlen < 0 means
 * no path length constraint.
 */
static int make_ca_cert(EVP_PKEY *key, const char *cn, const char *org,
    X509 *issuer, EVP_PKEY *issuer_key, int days, int pathlen, time_t now,
    X509 **out, char *msg, size_t msgsz)
{
	X509_NAME *name = NULL;
	X509 *x;
	int rc = CF_ECRYPTO;

	*out = NULL;
	if ((x = X509_new()) == NULL || (name = X509_NAME_new()) == NULL)
		goto fail;
	/* Most significant first: O, then CN ("CN=x, O=y" when printed). */
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
	    (const unsigned char *)org, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0)) {
		rc = CF_EINVAL;
		goto fail;
	}
	if (!cert_fill(x, issuer, name, key, true, now, days, pathlen >= 0 ?
	    "critical,CA:TRUE,pathlen:0" : "critical,CA:TRUE",
	    "critical,keyCertSign,cRLSign"))
		goto fail;
	if (issuer_key == NULL)
		issuer_key = key;
	if (X509_sign(x, issuer_key, sign_md(issuer_key)) <= 0)
		goto fail;
	X509_NAME_free(name);
	*out = x;
	return 0;
fail:
	X509_NAME_free(name);
	X509_free(x);
	return crypto_ossl_error(msg, msgsz, rc, rc == CF_EINVAL ?
	    "invalid CA name" : "cannot build CA certificate");
}

/* ---- files ---- */

/* Paths this call created, to undo on failure. */
struct undo {
	char *files[4];
	size_t nfiles;
	char **dirs;
	size_t ndirs;
};

static void undo_run(struct undo *u, bool remove)
{
	size_t i;

	for (i = u->nfiles; remove && i > 0; i--)
		unlink(u->files[i - 1]);
	for (i = u->ndirs; i > 0; i--) {
		if (remove)
			rmdir(u->dirs[i - 1]);
		free(u->dirs[i - 1]);
	}
	free(u->dirs);
	memset(u, 0, sizeof(*u));
}

/* Creates dir and its missing parents with mode, recording each in u. */
static int mkdir_parents(const char *dir, mode_t mode, struct undo *u,
    char *msg, size_t msgsz)
{
	char *p = strdup(dir), *s, **n;
	struct stat st;
	int rc = 0;

	if (p == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	for (s = p + 1;; s++) {
		bool last = *s == '\0';

		if (*s != '/' && !last)
			continue;
		*s = '\0';
		if (mkdir(p, mode) == 0) {
			/* mkdir's mode passes through the umask; set it. */
			if (chmod(p, mode) != 0 || (n = realloc(u->dirs,
			    (u->ndirs + 1) * sizeof(*n))) == NULL) {
				int err = errno;

				rmdir(p);
				rc = cf_error(msg, msgsz, CF_EIO, "cannot "
				    "create directory '%s': %s", p,
				    strerror(err));
				break;
			}
			u->dirs = n;
			if ((u->dirs[u->ndirs] = strdup(p)) == NULL) {
				rmdir(p);
				rc = cf_error(msg, msgsz, CF_ENOMEM,
				    "out of memory");
				break;
			}
			u->ndirs++;
		} else if (errno != EEXIST || stat(p, &st) != 0 ||
		    !S_ISDIR(st.st_mode)) {
			rc = cf_error(msg, msgsz, CF_EIO, "cannot create "
			    "directory '%s': %s", p,
			    strerror(errno == EEXIST ? ENOTDIR : errno));
			break;
		}
		if (last)
			break;
		*s = '/';
	}
	free(p);
	return rc;
}

/*
 * Writes data to a new file at path with mode: first to a temporary name
 * in the same directory (fsio_write_new_at: exactly mode from the first
 * byte, so a key is never readable by others, whatever the umask), then
 * hard-linked to path: link(2), unlike rename(2), fails rather than
 * replace a file that appeared meanwhile.
 */
static int write_new_file(const char *path, const char *data, size_t len,
    mode_t mode, char *msg, size_t msgsz)
{
	char *tmp, *dir = NULL;
	int rc = 0, err;

	tmp = cf_asprintf("%s.tmp.%016" PRIx64, path, fsio_random64());
	if (tmp == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	if (fsio_write_new_at(AT_FDCWD, tmp, data, len, mode) != 0) {
		err = errno;
		free(tmp);
		return cf_error(msg, msgsz, CF_EIO, "cannot create '%s': %s",
		    path, strerror(err));
	}
	if (link(tmp, path) != 0) {
		err = errno;
		rc = cf_error(msg, msgsz, err == EEXIST ? CF_EEXIST : CF_EIO,
		    "cannot write '%s': %s", path, strerror(err));
	} else if ((dir = path_dirname(path)) == NULL ||
	    fsio_sync_dir(dir) != 0) {
		err = dir ? errno : ENOMEM;
		unlink(path);
		rc = cf_error(msg, msgsz, CF_EIO, "cannot write '%s': %s", path,
		    strerror(err));
	}
	unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

/* True when fleet_name can stand in a CA's CN and O. */
static bool fleet_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n + strlen(" Issuing CA") > CN_MAX)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

int ca_local_create(const char *fleet_name, const char *root_cert,
    const char *root_key, const char *issuing_cert, const char *issuing_key,
    char *msg, size_t msgsz)
{
	const char *paths[4] = {
		root_cert, root_key, issuing_cert, issuing_key
	};
	const bool is_key[4] = { false, true, false, true };
	EVP_PKEY *rkey = NULL, *ikey = NULL;
	X509 *rcert = NULL, *icert = NULL;
	char *pem[4] = { NULL, NULL, NULL, NULL };
	size_t pemlen[4] = { 0, 0, 0, 0 };
	struct key_spec ks = { KEY_EC, 384, "P-384" };
	char cn[CN_MAX + 1];
	struct undo u;
	struct stat st;
	time_t now = time(NULL);
	size_t i, j;
	int rc;

	memset(&u, 0, sizeof(u));
	if (fleet_name == NULL || !fleet_name_ok(fleet_name))
		return cf_error(msg, msgsz, CF_EINVAL, "invalid fleet name "
		    "'%s': 1 to %zu printable characters", fleet_name ?
		    fleet_name : "", CN_MAX - strlen(" Issuing CA"));
	for (i = 0; i < 4; i++) {
		if (paths[i] == NULL || paths[i][0] == '\0')
			return cf_error(msg, msgsz, CF_EINVAL,
			    "empty path for the CA's files");
		for (j = 0; j < i; j++)
			if (strcmp(paths[i], paths[j]) == 0)
				return cf_error(msg, msgsz, CF_EINVAL, "'%s' "
				    "named for two of the CA's files",
				    paths[i]);
	}
	/* Check all four before writing any, so a refusal writes nothing. */
	for (i = 0; i < 4; i++) {
		if (lstat(paths[i], &st) == 0)
			return cf_error(msg, msgsz, CF_EEXIST, "'%s' already "
			    "exists; refusing to overwrite a CA", paths[i]);
		if (errno != ENOENT)
			return cf_error(msg, msgsz, CF_EIO, "cannot check "
			    "'%s': %s", paths[i], strerror(errno));
	}

	if ((rc = crypto_keygen(&ks, &rkey, msg, msgsz)) != 0 ||
	    (rc = crypto_keygen(&ks, &ikey, msg, msgsz)) != 0)
		goto done;
	snprintf(cn, sizeof(cn), "%s Root CA", fleet_name);
	if ((rc = make_ca_cert(rkey, cn, fleet_name, NULL, NULL,
	    CA_ROOT_DAYS, -1, now, &rcert, msg, msgsz)) != 0)
		goto done;
	snprintf(cn, sizeof(cn), "%s Issuing CA", fleet_name);
	if ((rc = make_ca_cert(ikey, cn, fleet_name, rcert, rkey,
	    CA_ISSUING_DAYS, 0, now, &icert, msg, msgsz)) != 0)
		goto done;
	if ((rc = crypto_cert_to_pem(rcert, &pem[0], msg, msgsz)) != 0 ||
	    (rc = crypto_key_to_pem(rkey, &pem[1], &pemlen[1], msg,
	    msgsz)) != 0 ||
	    (rc = crypto_cert_to_pem(icert, &pem[2], msg, msgsz)) != 0 ||
	    (rc = crypto_key_to_pem(ikey, &pem[3], &pemlen[3], msg,
	    msgsz)) != 0)
		goto done;

	/* Key directories first, so a directory shared with a cert is 0700. */
	for (j = 0; j < 2; j++) {
		for (i = 0; i < 4; i++) {
			char *d;

			if (is_key[i] != (j == 0))
				continue;
			if ((d = path_dirname(paths[i])) == NULL) {
				rc = cf_error(msg, msgsz, CF_ENOMEM,
				    "out of memory");
				goto done;
			}
			rc = mkdir_parents(d, is_key[i] ? 0700 : 0755, &u,
			    msg, msgsz);
			free(d);
			if (rc != 0)
				goto done;
		}
	}
	for (i = 0; i < 4; i++) {
		rc = write_new_file(paths[i], pem[i], strlen(pem[i]),
		    is_key[i] ? 0600 : 0644, msg, msgsz);
		if (rc != 0)
			goto done;
		u.files[u.nfiles++] = (char *)paths[i];
	}
	rc = 0;
done:
	undo_run(&u, rc != 0);
	for (i = 0; i < 4; i++) {
		if (is_key[i])
			crypto_secret_free(pem[i], pem[i] ? pemlen[i] + 1 : 0);
		else
			free(pem[i]);
	}
	X509_free(rcert);
	X509_free(icert);
	EVP_PKEY_free(rkey);
	EVP_PKEY_free(ikey);
	return rc;
}

/* ---- loading ---- */

/* Reads the first certificate in path into *out. */
static int load_cert(const char *path, X509 **out, char *msg, size_t msgsz)
{
	STACK_OF(X509) *sk = NULL;
	size_t len;
	char *pem;
	int rc;

	*out = NULL;
	if ((rc = fsio_read_file(path, CA_FILE_MAX, &pem, &len, msg,
	    msgsz)) != 0)
		return rc;
	rc = crypto_certs_from_pem(pem, path, &sk, msg, msgsz);
	free(pem);
	if (rc != 0)
		return rc;
	*out = sk_X509_shift(sk);
	sk_X509_pop_free(sk, X509_free);
	return 0;
}

int ca_local_load(struct ca_local *ca, const char *root_cert,
    const char *issuing_cert, const char *issuing_key, char *msg,
    size_t msgsz)
{
	size_t len;
	char *pem;
	int rc;

	memset(ca, 0, sizeof(*ca));
	if ((rc = load_cert(root_cert, &ca->root, msg, msgsz)) != 0 ||
	    (rc = load_cert(issuing_cert, &ca->issuing, msg, msgsz)) != 0)
		goto fail;
	if ((rc = fsio_read_file(issuing_key, CA_FILE_MAX, &pem, &len, msg,
	    msgsz)) != 0)
		goto fail;
	rc = crypto_key_from_pem(pem, issuing_key, &ca->issuing_key, msg,
	    msgsz);
	crypto_secret_free(pem, len + 1);
	if (rc != 0)
		goto fail;
	if (!crypto_key_matches_cert(ca->issuing_key, ca->issuing)) {
		rc = cf_error(msg, msgsz, CF_EINVAL, "key '%s' does not belong "
		    "to the issuing CA certificate '%s'", issuing_key,
		    issuing_cert);
		goto fail;
	}
	if (X509_check_ca(ca->issuing) == 0) {
		rc = cf_error(msg, msgsz, CF_ECHAIN, "'%s' is not a CA "
		    "certificate", issuing_cert);
		goto fail;
	}
	if (X509_check_issued(ca->root, ca->issuing) != X509_V_OK ||
	    X509_verify(ca->issuing, X509_get0_pubkey(ca->root)) != 1) {
		ERR_clear_error();
		rc = cf_error(msg, msgsz, CF_ECHAIN, "issuing CA '%s' is not "
		    "signed by the root CA '%s'", issuing_cert, root_cert);
		goto fail;
	}
	return 0;
fail:
	ca_local_release(ca);
	return rc;
}

void ca_local_release(struct ca_local *ca)
{
	X509_free(ca->root);
	X509_free(ca->issuing);
	EVP_PKEY_free(ca->issuing_key);
	memset(ca, 0, sizeof(*ca));
}

/* ---- signing ---- */

/* Builds the EKU extension value for flags; NULL when out of memory. */
static EXTENDED_KEY_USAGE *eku_build(unsigned flags)
{
	static const struct {
		unsigned flag;
		int nid;
	} map[] = {
		{ EKU_SERVER_AUTH, NID_server_auth },
		{ EKU_CLIENT_AUTH, NID_client_auth },
		{ EKU_CODE_SIGNING, NID_code_sign },
		{ EKU_EMAIL_PROTECTION, NID_email_protect },
		{ EKU_TIME_STAMPING, NID_time_stamp },
	};
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	size_t i;

	if (eku == NULL)
		return NULL;
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (!(flags & map[i].flag))
			continue;
		if (!sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(map[i].nid))) {
			sk_ASN1_OBJECT_free(eku);
			return NULL;
		}
	}
	return eku;
}

/* ca_local_sign; whole false: the leaf's key only as its encoding, for
 * a certificate that goes straight to PEM. */
static int sign_leaf(struct ca_local *ca, X509_REQ *csr,
    const struct req_spec *rs, time_t now, bool whole, X509 **out,
    char *msg, size_t msgsz)
{
	char want[80], have[80];
	EXTENDED_KEY_USAGE *eku = NULL;
	GENERAL_NAMES *gens = NULL;
	X509_NAME *name = NULL;
	EVP_PKEY *pub;
	time_t ca_end;
	X509 *x = NULL;
	int rc, crit;

	*out = NULL;
	if ((pub = X509_REQ_get0_pubkey(csr)) == NULL) {
		ERR_clear_error();
		return cf_error(msg, msgsz, CF_EDENIED, "CSR carries no "
		    "usable public key");
	}
	/* Proof of possession: the CSR's key signed it. */
	if (X509_REQ_verify(csr, pub) != 1) {
		ERR_clear_error();
		return cf_error(msg, msgsz, CF_EDENIED, "CSR signature does "
		    "not verify: no proof of possession of its key");
	}
	key_spec_describe(&rs->key, want, sizeof(want));
	crypto_key_describe(pub, have, sizeof(have));
	if (strcmp(want, have) != 0)
		return cf_error(msg, msgsz, CF_EDENIED, "CSR key '%s' does not "
		    "match the template's '%s'", have, want);
	if (rs->days <= 0 || rs->days > 36500)
		return cf_error(msg, msgsz, CF_EINVAL, "invalid validity of %d "
		    "days", rs->days);
	if ((rs->eku & ~(unsigned)EKU_ALL) != 0)
		return cf_error(msg, msgsz, CF_EINVAL, "unknown EKU flags 0x%x",
		    rs->eku & ~(unsigned)EKU_ALL);
	if (crypto_cert_not_after(ca->issuing, &ca_end) != 0 ||
	    now + (time_t)rs->days * 86400 > ca_end)
		return cf_error(msg, msgsz, CF_EDENIED, "validity of %d days "
		    "would outlast the issuing CA", rs->days);

	if ((rc = crypto_name_from_subject(rs->subject, &name, msg,
	    msgsz)) != 0 ||
	    (rc = crypto_sans_from_spec(rs, &gens, msg, msgsz)) != 0)
		goto done;
	crit = X509_NAME_entry_count(name) == 0;
	if (crit && gens == NULL) {
		rc = cf_error(msg, msgsz, CF_EINVAL, "the request names "
		    "neither a subject nor a SAN");
		goto done;
	}
	rc = CF_ECRYPTO;
	if ((x = X509_new()) == NULL || !cert_fill(x, ca->issuing, name, pub,
	    whole, now, rs->days, "critical,CA:FALSE",
	    EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA ?
	    "critical,digitalSignature,keyEncipherment" :
	    "critical,digitalSignature"))
		goto fail;
	/* RFC 5280 4.2.1.6: the SAN is critical when the subject is empty. */
	if (gens != NULL && X509_add1_ext_i2d(x, NID_subject_alt_name, gens,
	    crit, X509V3_ADD_DEFAULT) != 1)
		goto fail;
	if (rs->eku != 0 && ((eku = eku_build(rs->eku)) == NULL ||
	    X509_add1_ext_i2d(x, NID_ext_key_usage, eku, 0,
	    X509V3_ADD_DEFAULT) != 1))
		goto fail;
	if (X509_sign(x, ca->issuing_key, sign_md(ca->issuing_key)) <= 0)
		goto fail;
	*out = x;
	x = NULL;
	rc = 0;
	goto done;
fail:
	rc = crypto_ossl_error(msg, msgsz, CF_ECRYPTO, "cannot sign certificate");
done:
	sk_ASN1_OBJECT_free(eku);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(name);
	X509_free(x);
	return rc;
}

int ca_local_sign(struct ca_local *ca, X509_REQ *csr,
    const struct req_spec *rs, time_t now, X509 **out, char *msg,
    size_t msgsz)
{
	return sign_leaf(ca, csr, rs, now, true, out, msg, msgsz);
}

int ca_local_sign_pem(struct ca_local *ca, X509_REQ *csr,
    const struct req_spec *rs, time_t now, char **out, char *msg,
    size_t msgsz)
{
	X509 *x = NULL;
	int rc;

	*out = NULL;
	if ((rc = sign_leaf(ca, csr, rs, now, false, &x, msg, msgsz)) == 0)
		rc = crypto_cert_to_pem(x, out, msg, msgsz);
	X509_free(x);
	return rc;
}

int ca_local_chain_pem(const struct ca_local *ca, char **out, char *msg,
    size_t msgsz)
{
	char *a = NULL, *b = NULL, *s;
	int rc;

	*out = NULL;
	if ((rc = crypto_cert_to_pem(ca->issuing, &a, msg, msgsz)) != 0 ||
	    (rc = crypto_cert_to_pem(ca->root, &b, msg, msgsz)) != 0)
		goto done;
	if ((s = cf_asprintf("%s%s", a, b)) == NULL) {
		rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
		goto done;
	}
	*out = s;
done:
	free(a);
	free(b);
	return rc;
}
