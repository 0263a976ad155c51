/*
 * libcrypto wrappers: key generation, CSRs, PEM in and out, and the small
 * certificate readers the reports use. All of it runs on the calling thread
 * with no shared state, so the engine may run it in the libuv threadpool.
 * It must never print, touch files, prompt for a password (libcrypto's
 * default PEM callback reads the terminal) or put key material in a message;
 * every buffer that held a private key is cleansed before it is freed.
 */
#include "engine/base/crypto.h"
#include "engine/base/certcache.h"
#include "engine/base/dn.h"
#include "engine/base/err.h"
#include "engine/base/san.h"
#include "engine/base/str.h"

#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>

/*
 * Formats "what: <libcrypto reason>" into msg, empties this thread's error
 * queue (so that the next job on a pool thread starts clean) and returns
 * code. The reason is a static libcrypto string, never data.
 */
int crypto_ossl_error(char *msg, size_t msgsz, int code, const char *what)
{
	const char *reason = NULL;
	unsigned long e;

	while (reason == NULL && (e = ERR_get_error()) != 0)
		reason = ERR_reason_error_string(e);
	ERR_clear_error();
	if (reason == NULL)
		reason = "unknown reason";
	return cf_error(msg, msgsz, code, "%s: %s", what, reason);
}

int crypto_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * Ends a PEM write into b (NULL when it could not be made): copies b's
 * contents into a malloc'd NUL-terminated string in *out (its length in
 * *len when len is not NULL) and frees b. written is the PEM writer's
 * result; what names the object in messages.
 */
static int pem_encoded(BIO *b, int written, const char *what, char **out,
    size_t *len, char *msg, size_t msgsz)
{
	BUF_MEM *bm = NULL;
	int rc = 0;

	*out = NULL;
	if (b == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	if (written)
		BIO_get_mem_ptr(b, &bm);
	if (!written) {
		rc = crypto_ossl_error(msg, msgsz, CF_ECRYPTO, what);
	} else if (bm == NULL || (*out = malloc(bm->length + 1)) == NULL) {
		rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	} else {
		memcpy(*out, bm->data, bm->length);
		(*out)[bm->length] = '\0';
		if (len != NULL)
			*len = bm->length;
	}
	BIO_free(b);
	return rc;
}

/*
 * Ends a PEM read from b (NULL when it could not be made) and frees b:
 * 0 when found, else CF_EINVAL with "what 'source': <reason>".
 */
static int pem_decoded(BIO *b, bool found, const char *what,
    const char *source, char *msg, size_t msgsz)
{
	char w[512];

	if (b == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	BIO_free(b);
	if (found)
		return 0;
	snprintf(w, sizeof(w), "%s '%s'", what, source);
	return crypto_ossl_error(msg, msgsz, CF_EINVAL, w);
}

int crypto_keygen(const struct key_spec *ks, EVP_PKEY **out, char *msg,
    size_t msgsz)
{
	EVP_PKEY *k = NULL;
	const char *group;

	*out = NULL;
	switch (ks->type) {
	case KEY_EC:
		if (ks->curve != NULL && strcmp(ks->curve, "P-256") == 0)
			group = "prime256v1";
		else if (ks->curve != NULL && strcmp(ks->curve, "P-384") == 0)
			group = "secp384r1";
		else
			return cf_error(msg, msgsz, CF_EINVAL,
			    "unsupported curve '%s' (use P-256 or P-384)",
			    ks->curve ? ks->curve : "");
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
		break;
	case KEY_RSA:
		if (ks->bits != 2048 && ks->bits != 3072 && ks->bits != 4096)
			return cf_error(msg, msgsz, CF_EINVAL,
			    "unsupported rsa size %d (use 2048, 3072 or 4096)",
			    ks->bits);
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)ks->bits);
		break;
	case KEY_ED25519:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	default:
		return cf_error(msg, msgsz, CF_EINVAL, "unknown key type %d",
		    (int)ks->type);
	}
	if (k == NULL)
		return crypto_ossl_error(msg, msgsz, CF_ECRYPTO,
		    "cannot generate key");
	*out = k;
	return 0;
}

int crypto_name_from_subject(const char *subject, X509_NAME **out, char *msg,
    size_t msgsz)
{
	X509_NAME *name;
	struct dn dn;
	size_t i;
	int rc;

	*out = NULL;
	if ((name = X509_NAME_new()) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	if (subject == NULL || subject[0] == '\0') {
		*out = name;
		return 0;
	}
	if ((rc = dn_parse(&dn, subject, msg, msgsz)) != 0) {
		X509_NAME_free(name);
		return rc;
	}
	/* The string reads most specific first (RFC 4514: "CN=x, O=y"); the
	 * certificate holds the most significant first (O, then CN). */
	for (i = 0; i < dn.n; i++) {
		if (!X509_NAME_add_entry_by_txt(name, dn.rdn[i].key,
		    MBSTRING_UTF8, (const unsigned char *)dn.rdn[i].value, -1,
		    0, 0)) {
			char what[128];

			snprintf(what, sizeof(what), "malformed subject '%s'",
			    subject);
			rc = crypto_ossl_error(msg, msgsz, CF_EINVAL, what);
			dn_release(&dn);
			X509_NAME_free(name);
			return rc;
		}
	}
	dn_release(&dn);
	*out = name;
	return 0;
}

/* Wraps one parsed SAN into a new GENERAL_NAME, or NULL when out of memory. */
static GENERAL_NAME *general_name_new(const struct san *s)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_STRING *v;
	int type;

	if (gn == NULL)
		return NULL;
	switch (s->type) {
	case SAN_IP:
		type = GEN_IPADD;
		v = ASN1_OCTET_STRING_new();
		if (v != NULL && !ASN1_OCTET_STRING_set(v, s->ip,
		    (int)s->iplen)) {
			ASN1_OCTET_STRING_free(v);
			v = NULL;
		}
		break;
	case SAN_EMAIL:
	case SAN_URI:
	case SAN_DNS:
	default:
		type = s->type == SAN_EMAIL ? GEN_EMAIL :
		    s->type == SAN_URI ? GEN_URI : GEN_DNS;
		v = ASN1_IA5STRING_new();
		if (v != NULL && !ASN1_STRING_set(v, s->value, -1)) {
			ASN1_IA5STRING_free(v);
			v = NULL;
		}
		break;
	}
	if (v == NULL) {
		GENERAL_NAME_free(gn);
		return NULL;
	}
	GENERAL_NAME_set0_value(gn, type, v);
	return gn;
}

int crypto_sans_from_spec(const struct req_spec *rs, GENERAL_NAMES **out,
    char *msg, size_t msgsz)
{
	GENERAL_NAMES *gens;
	GENERAL_NAME *gn;
	struct san s;
	size_t i;
	int rc;

	*out = NULL;
	if (rs->nsan == 0)
		return 0;
	if ((gens = GENERAL_NAMES_new()) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	for (i = 0; i < rs->nsan; i++) {
		if ((rc = san_parse(rs->san[i], &s, msg, msgsz)) != 0) {
			GENERAL_NAMES_free(gens);
			return rc;
		}
		if ((gn = general_name_new(&s)) == NULL ||
		    !sk_GENERAL_NAME_push(gens, gn)) {
			GENERAL_NAME_free(gn);
			GENERAL_NAMES_free(gens);
			ERR_clear_error();
			return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
		}
	}
	*out = gens;
	return 0;
}

/* crypto_csr_new; whole false: the request's key only as its encoding
 * (crypto_spki_set), for a request that goes straight to PEM. */
static int csr_build(EVP_PKEY *key, const struct req_spec *rs, bool whole,
    X509_REQ **out, char *msg, size_t msgsz)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext = NULL;
	GENERAL_NAMES *gens = NULL;
	X509_NAME *name = NULL;
	X509_REQ *req = NULL;
	const EVP_MD *md;
	int rc;

	*out = NULL;
	rc = crypto_name_from_subject(rs->subject, &name, msg, msgsz);
	if (rc != 0)
		return rc;
	if ((rc = crypto_sans_from_spec(rs, &gens, msg, msgsz)) != 0)
		goto done;
	rc = CF_ECRYPTO;
	if ((req = X509_REQ_new()) == NULL ||
	    !X509_REQ_set_version(req, 0) ||
	    !X509_REQ_set_subject_name(req, name) ||
	    !((!whole && crypto_spki_set(X509_REQ_get_X509_PUBKEY(req), key)) ||
	    X509_REQ_set_pubkey(req, key))) {
		rc = crypto_ossl_error(msg, msgsz, rc, "cannot build CSR");
		goto done;
	}
	if (gens != NULL) {
		/* RFC 5280 4.2.1.6: critical when the subject is empty. */
		int crit = X509_NAME_entry_count(name) == 0;

		if ((exts = sk_X509_EXTENSION_new_null()) == NULL ||
		    (ext = X509V3_EXT_i2d(NID_subject_alt_name, crit,
		    gens)) == NULL ||
		    !sk_X509_EXTENSION_push(exts, ext)) {
			X509_EXTENSION_free(ext);
			rc = crypto_ossl_error(msg, msgsz, rc, "cannot build CSR");
			goto done;
		}
		if (!X509_REQ_add_extensions(req, exts)) {
			rc = crypto_ossl_error(msg, msgsz, rc, "cannot build CSR");
			goto done;
		}
	}
	/* Ed25519 signs the message itself and takes no digest. */
	md = EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 ||
	    EVP_PKEY_get_id(key) == EVP_PKEY_ED448 ? NULL : EVP_sha256();
	if (X509_REQ_sign(req, key, md) <= 0) {
		rc = crypto_ossl_error(msg, msgsz, rc, "cannot sign CSR");
		goto done;
	}
	*out = req;
	req = NULL;
	rc = 0;
done:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(name);
	X509_REQ_free(req);
	return rc;
}

int crypto_csr_new(EVP_PKEY *key, const struct req_spec *rs, X509_REQ **out,
    char *msg, size_t msgsz)
{
	return csr_build(key, rs, true, out, msg, msgsz);
}

int crypto_csr_pem_new(EVP_PKEY *key, const struct req_spec *rs, char **out,
    char *msg, size_t msgsz)
{
	X509_REQ *req = NULL;
	int rc;

	*out = NULL;
	if ((rc = csr_build(key, rs, false, &req, msg, msgsz)) == 0)
		rc = crypto_csr_to_pem(req, out, msg, msgsz);
	X509_REQ_free(req);
	return rc;
}

void crypto_secret_free(char *p, size_t n)
{
	if (p == NULL)
		return;
	if (n == 0)
		n = strlen(p) + 1;
	OPENSSL_cleanse(p, n);
	free(p);
}

int crypto_key_to_pem(EVP_PKEY *key, char **out, size_t *len, char *msg,
    size_t msgsz)
{
	/* A secure-memory BIO clears its buffer on every grow and free. */
	BIO *b = BIO_new(BIO_s_secmem());

	return pem_encoded(b, b && PEM_write_bio_PKCS8PrivateKey(b, key, NULL,
	    NULL, 0, NULL, NULL), "cannot encode private key", out, len, msg,
	    msgsz);
}

/*
 * A PKCS#8 key (DER) through a decoder told its key type, read from the
 * key's AlgorithmIdentifier: without it OpenSSL 3 sets up a decoder for
 * every key manager it has, most of a key read's cost. NULL when not.
 */
static EVP_PKEY *pkcs8_read(const unsigned char *der, long len)
{
	const unsigned char *p = der;
	PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, len);
	const ASN1_OBJECT *alg;
	OSSL_DECODER_CTX *dc = NULL;
	EVP_PKEY *k = NULL;
	size_t left = (size_t)len;
	char oid[80];

	/* Key managers answer to their OID ("1.2.840.10045.2.1" is EC). */
	if (p8 != NULL && PKCS8_pkey_get0(&alg, NULL, NULL, NULL, p8) &&
	    OBJ_obj2txt(oid, sizeof oid, alg, 1) > 0 &&
	    (dc = OSSL_DECODER_CTX_new_for_pkey(&k, "DER", "PrivateKeyInfo",
	    oid, EVP_PKEY_KEYPAIR, NULL, NULL)) != NULL) {
		p = der;
		if (!OSSL_DECODER_from_data(dc, &p, &left)) {
			EVP_PKEY_free(k);
			k = NULL;
		}
	}
	OSSL_DECODER_CTX_free(dc);
	PKCS8_PRIV_KEY_INFO_free(p8);
	return k;
}

EVP_PKEY *crypto_key_read(const char *pem, size_t len)
{
	BIO *b = len <= INT_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL;
	char *name = NULL, *hdr = NULL;
	unsigned char *der = NULL;
	long dlen = 0;
	EVP_PKEY *k = NULL;

	if (b == NULL)
		return NULL;
	ERR_set_mark();
	if (PEM_read_bio(b, &name, &hdr, &der, &dlen) &&
	    strcmp(name, PEM_STRING_PKCS8INF) == 0)
		k = pkcs8_read(der, dlen);
	ERR_pop_to_mark();
	OPENSSL_free(name);
	OPENSSL_free(hdr);
	OPENSSL_clear_free(der, (size_t)dlen);
	BIO_free(b);
	/* Any other first block: OpenSSL's general reader, as always (on a
	 * BIO of its own: resetting a read-only one does not rewind it). */
	if (k == NULL && (b = BIO_new_mem_buf(pem, (int)len)) != NULL) {
		k = PEM_read_bio_PrivateKey(b, NULL, crypto_no_password, NULL);
		BIO_free(b);
	}
	return k;
}

int crypto_key_from_pem(const char *pem, const char *source, EVP_PKEY **out,
    char *msg, size_t msgsz)
{
	char what[512];

	if ((*out = crypto_key_read(pem, strlen(pem))) != NULL)
		return 0;
	snprintf(what, sizeof what, "cannot read private key from '%s'",
	    source);
	return crypto_ossl_error(msg, msgsz, CF_EINVAL, what);
}

int crypto_cert_to_pem(X509 *cert, char **out, char *msg, size_t msgsz)
{
	BIO *b = BIO_new(BIO_s_mem());

	return pem_encoded(b, b && PEM_write_bio_X509(b, cert),
	    "cannot encode certificate", out, NULL, msg, msgsz);
}

/* The next certificate block in b, by PEM_read_bio_X509's rules (other
 * blocks skipped), read through the cache of CA certificates. NULL at the
 * end or on an error: the queue says which. */
static X509 *next_cert(BIO *b)
{
	unsigned char *der = NULL;
	char *name = NULL;
	long len = 0, used;
	X509 *x;

	if (!PEM_bytes_read_bio(&der, &len, &name, PEM_STRING_X509, b,
	    crypto_no_password, NULL))
		return NULL;
	x = certcache_d2i(der, len, &used);
	if (x == NULL)
		ERR_raise(ERR_LIB_PEM, ERR_R_ASN1_LIB);
	OPENSSL_free(der);
	OPENSSL_free(name);
	return x;
}

int crypto_certs_from_pem(const char *pem, const char *source,
    STACK_OF(X509) **out, char *msg, size_t msgsz)
{
	STACK_OF(X509) *sk;
	char what[512];
	unsigned long e;
	X509 *x;
	BIO *b;

	*out = NULL;
	if ((sk = sk_X509_new_null()) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	if ((b = BIO_new_mem_buf(pem, -1)) == NULL) {
		sk_X509_free(sk);
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	for (;;) {
		if ((x = next_cert(b)) == NULL) {
			/* "No start line" after the last block is the end. */
			e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				break;
			}
			snprintf(what, sizeof(what), "malformed certificate "
			    "#%d in '%s'", sk_X509_num(sk) + 1, source);
			BIO_free(b);
			sk_X509_pop_free(sk, X509_free);
			return crypto_ossl_error(msg, msgsz, CF_EINVAL, what);
		}
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			BIO_free(b);
			sk_X509_pop_free(sk, X509_free);
			return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
		}
	}
	BIO_free(b);
	if (sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		return cf_error(msg, msgsz, CF_EINVAL,
		    "no PEM certificate in '%s'", source);
	}
	*out = sk;
	return 0;
}

int crypto_csr_to_pem(X509_REQ *csr, char **out, char *msg, size_t msgsz)
{
	BIO *b = BIO_new(BIO_s_mem());

	return pem_encoded(b, b && PEM_write_bio_X509_REQ(b, csr),
	    "cannot encode CSR", out, NULL, msg, msgsz);
}

int crypto_csr_from_pem(const char *pem, const char *source, X509_REQ **out,
    char *msg, size_t msgsz)
{
	BIO *b = BIO_new_mem_buf(pem, -1);

	*out = b ? PEM_read_bio_X509_REQ(b, NULL, crypto_no_password, NULL) : NULL;
	return pem_decoded(b, *out != NULL, "cannot read CSR from", source, msg,
	    msgsz);
}

/* Writes the md digest of cert's DER as upper-case hex into out. */
static int cert_digest_hex(X509 *cert, const EVP_MD *md, char *out)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	out[0] = '\0';
	if (!X509_digest(cert, md, d, &n)) {
		ERR_clear_error();
		return CF_ECRYPTO;
	}
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 0xf];
	}
	out[2 * n] = '\0';
	return 0;
}

int crypto_thumbprint(X509 *cert, char sha1[41])
{
	return cert_digest_hex(cert, EVP_sha1(), sha1);
}

int crypto_spki_set(X509_PUBKEY *pub, EVP_PKEY *key)
{
	ASN1_OBJECT *alg, *curve = NULL;
	unsigned char *point = NULL;
	char group[80];
	size_t len = 0;
	int nid;

	if (EVP_PKEY_is_a(key, "EC")) {
		/* Named curves only; explicit parameters take the long way. */
		if (!EVP_PKEY_get_utf8_string_param(key,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) ||
		    (nid = OBJ_txt2nid(group)) == NID_undef ||
		    (curve = OBJ_nid2obj(nid)) == NULL)
			return 0;
		alg = OBJ_nid2obj(NID_X9_62_id_ecPublicKey);
	} else if (EVP_PKEY_is_a(key, "ED25519")) {
		alg = OBJ_nid2obj(NID_ED25519);
	} else if (EVP_PKEY_is_a(key, "ED448")) {
		alg = OBJ_nid2obj(NID_ED448);
	} else {
		return 0;
	}
	if (alg == NULL || EVP_PKEY_get_octet_string_param(key,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0, &len) != 1 ||
	    len > INT_MAX || (point = OPENSSL_malloc(len)) == NULL ||
	    EVP_PKEY_get_octet_string_param(key,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, len, &len) != 1 ||
	    !X509_PUBKEY_set0_param(pub, alg, curve ? V_ASN1_OBJECT :
	    V_ASN1_UNDEF, curve, point, (int)len)) {
		OPENSSL_free(point);
		ERR_clear_error();
		return 0;
	}
	return 1;
}

int crypto_fingerprint_sha256(X509 *cert, char out[65])
{
	return cert_digest_hex(cert, crypto_sha256(), out);
}

static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *crypto_sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256 != NULL ? sha256 : EVP_sha256();
}

/* True when both keys are there and equal; libcrypto's queue is emptied. */
static bool same_key(EVP_PKEY *a, EVP_PKEY *b)
{
	bool eq = a != NULL && b != NULL && EVP_PKEY_eq(a, b) == 1;

	ERR_clear_error();
	return eq;
}

bool crypto_key_matches_cert(EVP_PKEY *key, X509 *cert)
{
	return same_key(key, X509_get0_pubkey(cert));
}

bool crypto_csr_matches_cert(X509_REQ *csr, X509 *cert)
{
	return same_key(X509_REQ_get0_pubkey(csr), X509_get0_pubkey(cert));
}

/* Steps *p over the DER element at it (at most *left bytes), into it when
 * into; false when there is none. Its start is *at, its length *n. */
static bool der_step(const unsigned char **p, long *left, bool into,
    const unsigned char **at, long *n)
{
	const unsigned char *q = *p;
	long clen;
	int tag, cls, r = ASN1_get_object(&q, &clen, &tag, &cls, *left);

	if ((r & 0x80) != 0 || r == 0x21)
		return false;
	*at = *p;
	*n = (long)(q - *p) + clen;
	*left -= into ? (long)(q - *p) : *n;
	*p = into ? q : q + clen;
	return true;
}

bool crypto_csr_pem_same_spki(const char *csr_pem, X509 *cert)
{
	BIO *b = BIO_new_mem_buf(csr_pem, -1);
	unsigned char *der = NULL, *mine = NULL;
	const unsigned char *p, *at = NULL;
	long len = 0, left, n = 0;
	bool same = false;
	int k;

	/* CertificationRequest { CertificationRequestInfo { version,
	 * subject, subjectPKInfo, ... }, ... } (RFC 2986). */
	ERR_set_mark();
	if (b != NULL && PEM_bytes_read_bio(&der, &len, NULL,
	    PEM_STRING_X509_REQ, b, crypto_no_password, NULL)) {
		p = der;
		left = len;
		if (der_step(&p, &left, true, &at, &n) &&
		    der_step(&p, &left, true, &at, &n) &&
		    der_step(&p, &left, false, &at, &n) &&
		    der_step(&p, &left, false, &at, &n) &&
		    der_step(&p, &left, false, &at, &n) &&
		    (k = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &mine)) > 0)
			same = k == n && memcmp(mine, at, (size_t)n) == 0;
	}
	ERR_pop_to_mark();
	OPENSSL_free(mine);
	OPENSSL_free(der);
	BIO_free(b);
	return same;
}

static int asn1_time_to_time_t(const ASN1_TIME *at, time_t *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (at == NULL || !ASN1_TIME_to_tm(at, &tm)) {
		ERR_clear_error();
		return CF_EINVAL;
	}
	*t = timegm(&tm);
	return 0;
}

int crypto_cert_not_after(X509 *cert, time_t *t)
{
	return asn1_time_to_time_t(X509_get0_notAfter(cert), t);
}

int crypto_cert_not_before(X509 *cert, time_t *t)
{
	return asn1_time_to_time_t(X509_get0_notBefore(cert), t);
}

static int name_print(const X509_NAME *name, char *buf, size_t bufsz);

int crypto_cert_subject(X509 *cert, char *buf, size_t bufsz)
{
	return name_print(X509_get_subject_name(cert), buf, bufsz);
}

int crypto_cert_issuer(X509 *cert, char *buf, size_t bufsz)
{
	return name_print(X509_get_issuer_name(cert), buf, bufsz);
}

int crypto_cert_serial(X509 *cert, char *buf, size_t bufsz)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *hex = bn ? BN_bn2hex(bn) : NULL;
	int rc = 0;

	if (hex == NULL || strlen(hex) >= bufsz)
		rc = CF_EINVAL;
	else
		strcpy(buf, hex);
	OPENSSL_free(hex);
	BN_free(bn);
	return rc;
}

const char *crypto_key_describe(EVP_PKEY *k, char *buf, size_t bufsz)
{
	char group[48];

	switch (k ? EVP_PKEY_get_base_id(k) : EVP_PKEY_NONE) {
	case EVP_PKEY_RSA:
		snprintf(buf, bufsz, "rsa %d", EVP_PKEY_get_bits(k));
		break;
	case EVP_PKEY_ED25519:
		snprintf(buf, bufsz, "ed25519");
		break;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(k,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL))
			snprintf(group, sizeof(group), "unknown curve");
		snprintf(buf, bufsz, "ec %s",
		    strcmp(group, "prime256v1") == 0 ? "P-256" :
		    strcmp(group, "secp384r1") == 0 ? "P-384" : group);
		break;
	default:
		snprintf(buf, bufsz, "%s", k && EVP_PKEY_get0_type_name(k) ?
		    EVP_PKEY_get0_type_name(k) : "unknown key type");
		break;
	}
	ERR_clear_error();
	return buf;
}

static int name_print(const X509_NAME *name, char *buf, size_t bufsz)
{
	/*
	 * RFC 4514 order and escaping, ", " between RDNs, so that it reads
	 * like the template's subject ("CN=x, O=y"); UTF-8 left as is,
	 * control characters escaped. chain.c names CAs the same way.
	 */
	unsigned long flags = XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_DN_REV |
	    XN_FLAG_FN_SN | XN_FLAG_DUMP_UNKNOWN_FIELDS |
	    ASN1_STRFLGS_ESC_2253 | ASN1_STRFLGS_ESC_CTRL |
	    ASN1_STRFLGS_UTF8_CONVERT | ASN1_STRFLGS_DUMP_UNKNOWN |
	    ASN1_STRFLGS_DUMP_DER;
	BUF_MEM *bm = NULL;
	BIO *b;
	int rc = 0;

	if (bufsz == 0)
		return CF_EINVAL;
	buf[0] = '\0';
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return CF_ENOMEM;
	if (X509_NAME_print_ex(b, name, 0, flags) < 0) {
		BIO_free(b);
		ERR_clear_error();
		return CF_EINVAL;
	}
	BIO_get_mem_ptr(b, &bm);
	if (bm != NULL) {
		size_t n = bm->length;

		if (n >= bufsz) {
			n = bufsz - 1;
			rc = CF_EINVAL;
		}
		memcpy(buf, bm->data, n);
		buf[n] = '\0';
	}
	BIO_free(b);
	return rc;
}

/* Formats one GENERAL_NAME the req_spec way into a new string, or NULL. */
static char *general_name_string(const GENERAL_NAME *gn, bool *skip)
{
	const unsigned char *d;
	const char *prefix;
	char ip[INET6_ADDRSTRLEN];
	ASN1_STRING *v;
	int type, len;

	*skip = false;
	v = GENERAL_NAME_get0_value(gn, &type);
	if (v == NULL) {
		*skip = true;
		return NULL;
	}
	d = ASN1_STRING_get0_data(v);
	len = ASN1_STRING_length(v);
	switch (type) {
	case GEN_IPADD:
		if ((len != 4 && len != 16) || inet_ntop(len == 4 ?
		    AF_INET : AF_INET6, d, ip, sizeof(ip)) == NULL) {
			*skip = true;
			return NULL;
		}
		return cf_asprintf("IP:%s", ip);
	case GEN_DNS:
		prefix = "DNS:";
		break;
	case GEN_EMAIL:
		prefix = "email:";
		break;
	case GEN_URI:
		prefix = "URI:";
		break;
	default:
		*skip = true;
		return NULL;
	}
	/* An embedded NUL would make the string lie about the name. */
	if (len < 0 || memchr(d, '\0', (size_t)len) != NULL) {
		*skip = true;
		return NULL;
	}
	return cf_asprintf("%s%.*s", prefix, len, (const char *)d);
}

int crypto_cert_sans(X509 *cert, char ***out, size_t *n)
{
	GENERAL_NAMES *gens;
	char **v = NULL, *s;
	size_t count = 0;
	bool skip;
	int i;

	*out = NULL;
	*n = 0;
	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (gens == NULL) {
		ERR_clear_error();
		return 0;
	}
	if (sk_GENERAL_NAME_num(gens) > 0 &&
	    (v = calloc((size_t)sk_GENERAL_NAME_num(gens), sizeof(*v))) ==
	    NULL) {
		GENERAL_NAMES_free(gens);
		return CF_ENOMEM;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		s = general_name_string(sk_GENERAL_NAME_value(gens, i), &skip);
		if (skip)
			continue;
		if (s == NULL) {
			crypto_strings_free(v, count);
			GENERAL_NAMES_free(gens);
			return CF_ENOMEM;
		}
		v[count++] = s;
	}
	GENERAL_NAMES_free(gens);
	if (count == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = count;
	return 0;
}

void crypto_strings_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

unsigned crypto_cert_eku(X509 *cert)
{
	EXTENDED_KEY_USAGE *eku;
	unsigned flags = 0;
	int i;

	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
	if (eku == NULL) {
		ERR_clear_error();
		return 0;
	}
	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		switch (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i))) {
		case NID_server_auth:
			flags |= EKU_SERVER_AUTH;
			break;
		case NID_client_auth:
			flags |= EKU_CLIENT_AUTH;
			break;
		case NID_code_sign:
			flags |= EKU_CODE_SIGNING;
			break;
		case NID_email_protect:
			flags |= EKU_EMAIL_PROTECTION;
			break;
		case NID_time_stamp:
			flags |= EKU_TIME_STAMPING;
			break;
		default:
			break;
		}
	}
	EXTENDED_KEY_USAGE_free(eku);
	return flags;
}
