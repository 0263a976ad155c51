/*
 * JOSE for ACME: base64url, JWK, RFC 7638 thumbprints, flattened JWS with
 * ES256/ES384/RS256, the HS256 external account binding and http-01 key
 * authorizations. Only public key members are ever exported; the EAB MAC
 * key is wiped after use and never reaches a message. No I/O here.
 */
#include "engine/acme/jws.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/str.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/objects.h>

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int jws_b64url_encode(const void *in, size_t len, char **out)
{
	const unsigned char *p = in;
	unsigned long v = 0;
	size_t i, o = 0;
	int bits = 0;
	char *s;

	*out = NULL;
	if ((s = malloc(len / 3 * 4 + 4)) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < len; i++) {
		v = (v << 8 | p[i]) & 0xffff;
		for (bits += 8; bits >= 6; bits -= 6)
			s[o++] = b64url_alphabet[v >> (bits - 6) & 63];
	}
	/* The last bits, zero-filled on the right; no '=' padding. */
	if (bits > 0)
		s[o++] = b64url_alphabet[v << (6 - bits) & 63];
	s[o] = '\0';
	*out = s;
	return 0;
}

/* The 6-bit value of a base64url character, or -1. */
static int b64url_value(unsigned char c)
{
	const char *p = c != '\0' ? strchr(b64url_alphabet, c) : NULL;

	return p != NULL ? (int)(p - b64url_alphabet) : -1;
}

bool jws_b64url_valid(const char *s)
{
	return s != NULL && *s != '\0' &&
	    s[strspn(s, b64url_alphabet)] == '\0';
}

int jws_b64url_decode(const char *in, size_t len, unsigned char **out,
    size_t *outlen, char *msg, size_t msgsz)
{
	unsigned char *buf;
	unsigned long v = 0;
	size_t i, o = 0;
	int bits = 0, d;

	*out = NULL;
	*outlen = 0;
	if (len % 4 == 1)
		return cf_error(msg, msgsz, CF_EINVAL, "malformed base64url: "
		    "impossible length %zu", len);
	if ((buf = malloc(len / 4 * 3 + 3)) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < len; i++) {
		if ((d = b64url_value((unsigned char)in[i])) < 0) {
			free(buf);
			return cf_error(msg, msgsz, CF_EINVAL, "malformed "
			    "base64url: unexpected character at offset %zu",
			    i);
		}
		v = (v << 6 | (unsigned long)d) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(v >> bits & 0xff);
		}
	}
	/* Leftover bits must be zero, or two texts would decode alike. */
	if (bits > 0 && (v & ((1UL << bits) - 1)) != 0) {
		free(buf);
		return cf_error(msg, msgsz, CF_EINVAL, "malformed base64url: "
		    "non-zero padding bits");
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
}

/* The JWS "alg" of each enum jws_alg. */
static const char *const alg_names[] = {
	[JWS_ES256] = "ES256",
	[JWS_ES384] = "ES384",
	[JWS_RS256] = "RS256",
};

int jws_alg_of(EVP_PKEY *key, enum jws_alg *alg, char *msg, size_t msgsz)
{
	char group[64] = "";

	if (key == NULL)
		return cf_error(msg, msgsz, CF_EINVAL, "no account key");
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		/* The group by its OpenSSL or its NIST name. */
		EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
		    group, sizeof group, NULL);
		if (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "P-256") == 0)
			*alg = JWS_ES256;
		else if (strcmp(group, "secp384r1") == 0 ||
		    strcmp(group, "P-384") == 0)
			*alg = JWS_ES384;
		else
			return cf_error(msg, msgsz, CF_EINVAL, "unsupported "
			    "account key 'ec %s': use ec P-256, ec P-384 or "
			    "rsa", group[0] != '\0' ? group : "unknown");
		return 0;
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(key) < 2048)
			return cf_error(msg, msgsz, CF_EINVAL, "unsupported "
			    "account key 'rsa %d': at least 2048 bits",
			    EVP_PKEY_get_bits(key));
		*alg = JWS_RS256;
		return 0;
	default:
		return cf_error(msg, msgsz, CF_EINVAL, "unsupported account "
		    "key '%s': use ec P-256, ec P-384 or rsa",
		    OBJ_nid2sn(EVP_PKEY_get_base_id(key)));
	}
}

/* Adds member name = base64url of the big number param of key, left-padded
 * to width bytes (0: minimal length). */
static int add_bn(json_t *o, const char *name, EVP_PKEY *key,
    const char *param, int width, char *msg, size_t msgsz)
{
	BIGNUM *bn = NULL;
	unsigned char *buf;
	char *b64;
	int n, rc;

	if (!EVP_PKEY_get_bn_param(key, param, &bn))
		return crypto_ossl_error(msg, msgsz, CF_ECRYPTO,
		    "cannot read the public key");
	n = width > 0 ? width : BN_num_bytes(bn);
	if (n == 0)
		n = 1;
	if ((buf = malloc((size_t)n)) == NULL)
		rc = CF_ENOMEM;
	else if (BN_bn2binpad(bn, buf, n) < 0)
		rc = cf_error(msg, msgsz, CF_ECRYPTO, "public key member "
		    "'%s' is larger than its field", name);
	else
		rc = jws_b64url_encode(buf, (size_t)n, &b64);
	BN_free(bn);
	free(buf);
	if (rc != 0)
		return rc;
	rc = json_object_set_new(o, name, json_string(b64)) == 0 ? 0 :
	    CF_ENOMEM;
	free(b64);
	return rc;
}

int jws_jwk(EVP_PKEY *key, json_t **out, char *msg, size_t msgsz)
{
	/* Member, then the parameter it holds; EC coordinates keep their
	 * field's width (RFC 7518 6.2.1.2). */
	static const char *const rsa[] = { "n", OSSL_PKEY_PARAM_RSA_N,
	    "e", OSSL_PKEY_PARAM_RSA_E };
	static const char *const ec[] = { "x", OSSL_PKEY_PARAM_EC_PUB_X,
	    "y", OSSL_PKEY_PARAM_EC_PUB_Y };
	const char *const *m;
	enum jws_alg alg;
	int rc, width, i;
	json_t *o;

	*out = NULL;
	if ((rc = jws_alg_of(key, &alg, msg, msgsz)) != 0)
		return rc;
	if (alg == JWS_RS256) {
		o = json_pack("{s:s}", "kty", "RSA");
		m = rsa;
		width = 0;
	} else {
		o = json_pack("{s:s, s:s}", "kty", "EC", "crv",
		    alg == JWS_ES256 ? "P-256" : "P-384");
		m = ec;
		width = alg == JWS_ES256 ? 32 : 48;
	}
	if (o == NULL)
		return CF_ENOMEM;
	for (i = 0; rc == 0 && i < 4; i += 2)
		rc = add_bn(o, m[i], key, m[i + 1], width, msg, msgsz);
	if (rc != 0) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return 0;
}

/* Copies the string member name of src into dst, or fails with msg. */
static int copy_member(json_t *dst, const json_t *src, const char *name,
    char *msg, size_t msgsz)
{
	const json_t *v = json_object_get(src, name);

	if (!json_is_string(v) || json_string_length(v) == 0)
		return cf_error(msg, msgsz, CF_EINVAL, "malformed JWK: "
		    "missing string member '%s'", name);
	if (json_object_set_new(dst, name, json_copy((json_t *)v)) != 0)
		return CF_ENOMEM;
	return 0;
}

int jws_jwk_thumbprint(const json_t *jwk, char **out, char *msg,
    size_t msgsz)
{
	static const char *const ec[] = { "crv", "kty", "x", "y", NULL };
	static const char *const rsa[] = { "e", "kty", "n", NULL };
	static const char *const oct[] = { "k", "kty", NULL };
	const char *const *members;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	const char *kty;
	json_t *canon;
	char *text;
	int rc = 0;
	size_t i;

	*out = NULL;
	kty = json_string_value(json_object_get(jwk, "kty"));
	if (kty == NULL)
		return cf_error(msg, msgsz, CF_EINVAL, "malformed JWK: "
		    "missing string member 'kty'");
	if (strcmp(kty, "EC") == 0)
		members = ec;
	else if (strcmp(kty, "RSA") == 0)
		members = rsa;
	else if (strcmp(kty, "oct") == 0)
		members = oct;
	else
		return cf_error(msg, msgsz, CF_EINVAL, "malformed JWK: "
		    "unknown key type '%.32s'", kty);
	if ((canon = json_object()) == NULL)
		return CF_ENOMEM;
	for (i = 0; rc == 0 && members[i] != NULL; i++)
		rc = copy_member(canon, jwk, members[i], msg, msgsz);
	if (rc != 0) {
		json_decref(canon);
		return rc;
	}
	/* RFC 7638 3.3: sorted members, no whitespace, UTF-8. */
	text = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(canon);
	if (text == NULL)
		return CF_ENOMEM;
	if (!EVP_Digest(text, strlen(text), md, &mdlen, EVP_sha256(), NULL)) {
		free(text);
		return crypto_ossl_error(msg, msgsz, CF_ECRYPTO,
		    "cannot hash the JWK");
	}
	free(text);
	return jws_b64url_encode(md, mdlen, out);
}

int jws_thumbprint(EVP_PKEY *key, char **out, char *msg, size_t msgsz)
{
	json_t *jwk;
	int rc;

	*out = NULL;
	if ((rc = jws_jwk(key, &jwk, msg, msgsz)) != 0)
		return rc;
	rc = jws_jwk_thumbprint(jwk, out, msg, msgsz);
	json_decref(jwk);
	return rc;
}

/* Turns a DER ECDSA signature into R||S of 2 * width bytes in raw. */
static int ecdsa_der_to_raw(const unsigned char *der, size_t len,
    unsigned char *raw, int width, char *msg, size_t msgsz)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig;
	int ok;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		return crypto_ossl_error(msg, msgsz, CF_ECRYPTO,
		    "cannot decode the ECDSA signature");
	ECDSA_SIG_get0(sig, &r, &s);
	ok = BN_bn2binpad(r, raw, width) == width &&
	    BN_bn2binpad(s, raw + width, width) == width;
	ECDSA_SIG_free(sig);
	if (!ok)
		return cf_error(msg, msgsz, CF_ECRYPTO, "ECDSA signature "
		    "does not fit the curve");
	return 0;
}

int jws_signature(EVP_PKEY *key, const void *in, size_t len, char **out,
    char *msg, size_t msgsz)
{
	unsigned char raw[96], *sig = NULL;
	const EVP_MD *md;
	EVP_MD_CTX *ctx;
	enum jws_alg alg;
	size_t siglen = 0;
	int rc;

	*out = NULL;
	if ((rc = jws_alg_of(key, &alg, msg, msgsz)) != 0)
		return rc;
	md = alg == JWS_ES384 ? EVP_sha384() : EVP_sha256();
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return CF_ENOMEM;
	if (EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, in, len) != 1 ||
	    (sig = malloc(siglen)) == NULL ||
	    EVP_DigestSign(ctx, sig, &siglen, in, len) != 1) {
		EVP_MD_CTX_free(ctx);
		free(sig);
		return crypto_ossl_error(msg, msgsz, CF_ECRYPTO,
		    "cannot sign the request");
	}
	EVP_MD_CTX_free(ctx);
	if (alg == JWS_RS256) {
		rc = jws_b64url_encode(sig, siglen, out);
	} else {
		int width = alg == JWS_ES256 ? 32 : 48;

		rc = ecdsa_der_to_raw(sig, siglen, raw, width, msg, msgsz);
		if (rc == 0)
			rc = jws_b64url_encode(raw, (size_t)width * 2, out);
	}
	free(sig);
	return rc;
}

/*
 * Encodes the protected header and payload, signs "P.Q" with key, or with
 * HS256 when mac_key is not NULL, and assembles the flattened JWS object.
 */
static int flatten(EVP_PKEY *key, const unsigned char *mac_key,
    size_t mac_len, const json_t *prot, const char *payload, json_t **out,
    char *msg, size_t msgsz)
{
	char *ptext, *p64 = NULL, *q64 = NULL, *input = NULL, *s64 = NULL;
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0;
	int rc;

	*out = NULL;
	if ((ptext = json_dumps(prot, JSON_COMPACT | JSON_SORT_KEYS)) == NULL)
		return CF_ENOMEM;
	if (payload == NULL)
		payload = "";
	if ((rc = jws_b64url_encode(ptext, strlen(ptext), &p64)) != 0 ||
	    (rc = jws_b64url_encode(payload, strlen(payload), &q64)) != 0)
		goto done;
	if ((input = cf_asprintf("%s.%s", p64, q64)) == NULL) {
		rc = CF_ENOMEM;
		goto done;
	}
	if (mac_key == NULL) {
		rc = jws_signature(key, input, strlen(input), &s64, msg,
		    msgsz);
	} else if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, mac_key,
	    mac_len, (const unsigned char *)input, strlen(input), mac,
	    sizeof mac, &maclen) == NULL) {
		rc = crypto_ossl_error(msg, msgsz, CF_ECRYPTO,
		    "cannot compute the EAB MAC");
	} else {
		rc = jws_b64url_encode(mac, maclen, &s64);
		OPENSSL_cleanse(mac, sizeof mac);
	}
	if (rc == 0 && (*out = json_pack("{s:s, s:s, s:s}", "protected", p64,
	    "payload", q64, "signature", s64)) == NULL)
		rc = CF_ENOMEM;
done:
	free(ptext);
	free(p64);
	free(q64);
	free(input);
	free(s64);
	return rc;
}

int jws_sign(EVP_PKEY *key, const struct jws_header *h, const char *payload,
    char **out, char *msg, size_t msgsz)
{
	json_t *prot, *jwk = NULL, *jws;
	enum jws_alg alg;
	int rc;

	*out = NULL;
	if (h == NULL || h->url == NULL || h->url[0] == '\0')
		return cf_error(msg, msgsz, CF_EINVAL, "no URL for the "
		    "signed request");
	/* RFC 8555 6.5.1: a nonce is base64url; anything else is unsafe. */
	if (h->nonce != NULL && !jws_b64url_valid(h->nonce))
		return cf_error(msg, msgsz, CF_EINVAL, "invalid nonce for "
		    "'%s': not base64url", h->url);
	if ((rc = jws_alg_of(key, &alg, msg, msgsz)) != 0)
		return rc;
	/* No kid: the key itself goes along (newAccount). */
	if (h->kid == NULL && (rc = jws_jwk(key, &jwk, msg, msgsz)) != 0)
		return rc;
	/* json_pack refuses invalid UTF-8 in a member: out of memory too. */
	prot = json_pack("{s:s, s:s, s:s*, s:s*, s:O*}", "alg",
	    alg_names[alg], "url", h->url, "nonce", h->nonce, "kid", h->kid,
	    "jwk", jwk);
	json_decref(jwk);
	if (prot == NULL)
		return CF_ENOMEM;
	rc = flatten(key, NULL, 0, prot, payload, &jws, msg, msgsz);
	json_decref(prot);
	if (rc != 0)
		return rc;
	if ((*out = json_dumps(jws, JSON_COMPACT)) == NULL)
		rc = CF_ENOMEM;
	json_decref(jws);
	return rc;
}

int jws_eab(EVP_PKEY *account_key, const char *eab_kid,
    const char *hmac_key_b64url, const char *url, json_t **out, char *msg,
    size_t msgsz)
{
	json_t *prot = NULL, *jwk = NULL;
	unsigned char *mac_key = NULL;
	size_t mac_len = 0, n;
	char *payload = NULL;
	int rc;

	*out = NULL;
	if (eab_kid == NULL || eab_kid[0] == '\0')
		return cf_error(msg, msgsz, CF_EINVAL, "no EAB key id");
	if (url == NULL || url[0] == '\0')
		return cf_error(msg, msgsz, CF_EINVAL, "no newAccount URL for "
		    "the EAB");
	if (hmac_key_b64url == NULL)
		return cf_error(msg, msgsz, CF_EINVAL, "no EAB MAC key for "
		    "key id '%s'", eab_kid);
	/* Some CAs hand the key out padded: padding is all we forgive. */
	n = strlen(hmac_key_b64url);
	while (n > 0 && hmac_key_b64url[n - 1] == '=')
		n--;
	if (n == 0 || jws_b64url_decode(hmac_key_b64url, n, &mac_key,
	    &mac_len, NULL, 0) != 0)
		return cf_error(msg, msgsz, CF_EINVAL, "invalid EAB MAC key "
		    "for key id '%s': not base64url", eab_kid);
	if ((rc = jws_jwk(account_key, &jwk, msg, msgsz)) != 0)
		goto done;
	if ((payload = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS)) ==
	    NULL || (prot = json_pack("{s:s, s:s, s:s}", "alg", "HS256",
	    "kid", eab_kid, "url", url)) == NULL) {
		rc = CF_ENOMEM;
		goto done;
	}
	rc = flatten(NULL, mac_key, mac_len, prot, payload, out, msg, msgsz);
done:
	OPENSSL_cleanse(mac_key, mac_len);
	free(mac_key);
	free(payload);
	json_decref(jwk);
	json_decref(prot);
	return rc;
}

int jws_key_authorization(const char *token, const char *thumbprint,
    char **out, char *msg, size_t msgsz)
{
	*out = NULL;
	if (!jws_b64url_valid(token))
		return cf_error(msg, msgsz, CF_EINVAL, "invalid challenge "
		    "token: not base64url");
	if (!jws_b64url_valid(thumbprint))
		return cf_error(msg, msgsz, CF_EINVAL, "invalid key "
		    "thumbprint: not base64url");
	if ((*out = cf_asprintf("%s.%s", token, thumbprint)) == NULL)
		return CF_ENOMEM;
	return 0;
}
