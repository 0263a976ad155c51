/*
 * JOSE for ACME: base64url, JWK, RFC 7638 thumbprints, flattened JWS with
 * ES256/ES384/RS256, the HS256 external account binding and http-01 key
 * authorizations. Only public key members are ever exported; the EAB MAC
 * key is wiped after use and never reaches a message. No I/O here.
 */
#include "engine/acme/jws.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"

#include <stdio.h>
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
	size_t n = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
	size_t i, o = 0;
	unsigned long v;
	char *s;

	*out = NULL;
	if ((s = malloc(n + 1)) == NULL)
		return CF_ENOMEM;
	for (i = 0; i + 3 <= len; i += 3) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8 |
		    p[i + 2];
		s[o++] = b64url_alphabet[v >> 18 & 63];
		s[o++] = b64url_alphabet[v >> 12 & 63];
		s[o++] = b64url_alphabet[v >> 6 & 63];
		s[o++] = b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		v = (unsigned long)p[i] << 16;
		s[o++] = b64url_alphabet[v >> 18 & 63];
		s[o++] = b64url_alphabet[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (unsigned long)p[i] << 16 | (unsigned long)p[i + 1] << 8;
		s[o++] = b64url_alphabet[v >> 18 & 63];
		s[o++] = b64url_alphabet[v >> 12 & 63];
		s[o++] = b64url_alphabet[v >> 6 & 63];
	}
	s[o] = '\0';
	*out = s;
	return 0;
}

/* The 6-bit value of a base64url character, or -1. */
static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

bool jws_b64url_valid(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (b64url_value((unsigned char)*s) < 0)
			return false;
	return true;
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

const char *jws_alg_name(enum jws_alg alg)
{
	switch (alg) {
	case JWS_ES256:
		return "ES256";
	case JWS_ES384:
		return "ES384";
	case JWS_RS256:
		return "RS256";
	}
	return "none";
}

/* The EC curve of key as "P-256" or "P-384", or NULL (name in buf). */
static const char *ec_curve(EVP_PKEY *key, char *buf, size_t bufsz)
{
	buf[0] = '\0';
	if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME,
	    buf, bufsz, NULL))
		return NULL;
	if (strcmp(buf, "prime256v1") == 0 || strcmp(buf, "P-256") == 0)
		return "P-256";
	if (strcmp(buf, "secp384r1") == 0 || strcmp(buf, "P-384") == 0)
		return "P-384";
	return NULL;
}

int jws_alg_of(EVP_PKEY *key, enum jws_alg *alg, char *msg, size_t msgsz)
{
	char group[64];
	const char *crv;

	if (key == NULL)
		return cf_error(msg, msgsz, CF_EINVAL, "no account key");
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		if ((crv = ec_curve(key, group, sizeof group)) == NULL)
			return cf_error(msg, msgsz, CF_EINVAL, "unsupported "
			    "account key 'ec %s': use ec P-256, ec P-384 or "
			    "rsa", group[0] != '\0' ? group : "unknown");
		*alg = strcmp(crv, "P-256") == 0 ? JWS_ES256 : JWS_ES384;
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
	if ((buf = malloc((size_t)n)) == NULL) {
		BN_free(bn);
		return CF_ENOMEM;
	}
	if (BN_bn2binpad(bn, buf, n) < 0) {
		BN_free(bn);
		free(buf);
		return cf_error(msg, msgsz, CF_ECRYPTO, "public key member "
		    "'%s' is larger than its field", name);
	}
	BN_free(bn);
	rc = jws_b64url_encode(buf, (size_t)n, &b64);
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
	enum jws_alg alg;
	json_t *o;
	int rc, width;

	*out = NULL;
	if ((rc = jws_alg_of(key, &alg, msg, msgsz)) != 0)
		return rc;
	if ((o = json_object()) == NULL)
		return CF_ENOMEM;
	if (alg == JWS_RS256) {
		if (json_object_set_new(o, "kty", json_string("RSA")) != 0)
			rc = CF_ENOMEM;
		if (rc == 0)
			rc = add_bn(o, "n", key, OSSL_PKEY_PARAM_RSA_N, 0,
			    msg, msgsz);
		if (rc == 0)
			rc = add_bn(o, "e", key, OSSL_PKEY_PARAM_RSA_E, 0,
			    msg, msgsz);
	} else {
		width = alg == JWS_ES256 ? 32 : 48;
		if (json_object_set_new(o, "kty", json_string("EC")) != 0 ||
		    json_object_set_new(o, "crv", json_string(alg ==
		    JWS_ES256 ? "P-256" : "P-384")) != 0)
			rc = CF_ENOMEM;
		if (rc == 0)
			rc = add_bn(o, "x", key, OSSL_PKEY_PARAM_EC_PUB_X,
			    width, msg, msgsz);
		if (rc == 0)
			rc = add_bn(o, "y", key, OSSL_PKEY_PARAM_EC_PUB_Y,
			    width, msg, msgsz);
	}
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
 * Encodes the protected header and payload, signs "P.Q" with sign() and
 * assembles the flattened JWS object. mac_key non-NULL selects HS256.
 */
static int flatten(EVP_PKEY *key, const unsigned char *mac_key,
    size_t mac_len, const json_t *prot, const char *payload, json_t **out,
    char *msg, size_t msgsz)
{
	char *ptext = NULL, *p64 = NULL, *q64 = NULL, *input = NULL;
	char *s64 = NULL;
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0, n;
	json_t *o = NULL;
	int rc;

	*out = NULL;
	if ((ptext = json_dumps(prot, JSON_COMPACT | JSON_SORT_KEYS)) ==
	    NULL) {
		rc = CF_ENOMEM;
		goto done;
	}
	if (payload == NULL)
		payload = "";
	if ((rc = jws_b64url_encode(ptext, strlen(ptext), &p64)) != 0 ||
	    (rc = jws_b64url_encode(payload, strlen(payload), &q64)) != 0)
		goto done;
	n = strlen(p64) + 1 + strlen(q64) + 1;
	if ((input = malloc(n)) == NULL) {
		rc = CF_ENOMEM;
		goto done;
	}
	snprintf(input, n, "%s.%s", p64, q64);
	if (mac_key != NULL) {
		if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, mac_key,
		    mac_len, (const unsigned char *)input, strlen(input), mac,
		    sizeof mac, &maclen) == NULL) {
			rc = crypto_ossl_error(msg, msgsz, CF_ECRYPTO,
			    "cannot compute the EAB MAC");
			goto done;
		}
		rc = jws_b64url_encode(mac, maclen, &s64);
		OPENSSL_cleanse(mac, sizeof mac);
	} else {
		rc = jws_signature(key, input, strlen(input), &s64, msg,
		    msgsz);
	}
	if (rc != 0)
		goto done;
	if ((o = json_object()) == NULL ||
	    json_object_set_new(o, "protected", json_string(p64)) != 0 ||
	    json_object_set_new(o, "payload", json_string(q64)) != 0 ||
	    json_object_set_new(o, "signature", json_string(s64)) != 0) {
		json_decref(o);
		rc = CF_ENOMEM;
		goto done;
	}
	*out = o;
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
	json_t *prot = NULL, *jwk = NULL, *jws = NULL;
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
	if ((prot = json_object()) == NULL)
		return CF_ENOMEM;
	if (json_object_set_new(prot, "alg", json_string(jws_alg_name(alg)))
	    != 0 ||
	    json_object_set_new(prot, "url", json_string(h->url)) != 0 ||
	    (h->nonce != NULL && json_object_set_new(prot, "nonce",
	    json_string(h->nonce)) != 0)) {
		rc = CF_ENOMEM;
		goto done;
	}
	if (h->kid != NULL) {
		if (json_object_set_new(prot, "kid", json_string(h->kid)) !=
		    0) {
			rc = CF_ENOMEM;
			goto done;
		}
	} else {
		if ((rc = jws_jwk(key, &jwk, msg, msgsz)) != 0)
			goto done;
		if (json_object_set_new(prot, "jwk", jwk) != 0) {
			rc = CF_ENOMEM;
			goto done;
		}
	}
	/* json_string() refuses invalid UTF-8: a NULL member fails above. */
	if ((rc = flatten(key, NULL, 0, prot, payload, &jws, msg, msgsz)) !=
	    0)
		goto done;
	if ((*out = json_dumps(jws, JSON_COMPACT)) == NULL)
		rc = CF_ENOMEM;
done:
	json_decref(prot);
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
	    NULL || (prot = json_object()) == NULL ||
	    json_object_set_new(prot, "alg", json_string("HS256")) != 0 ||
	    json_object_set_new(prot, "kid", json_string(eab_kid)) != 0 ||
	    json_object_set_new(prot, "url", json_string(url)) != 0) {
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
	size_t n;

	*out = NULL;
	if (!jws_b64url_valid(token))
		return cf_error(msg, msgsz, CF_EINVAL, "invalid challenge "
		    "token: not base64url");
	if (!jws_b64url_valid(thumbprint))
		return cf_error(msg, msgsz, CF_EINVAL, "invalid key "
		    "thumbprint: not base64url");
	n = strlen(token) + 1 + strlen(thumbprint) + 1;
	if ((*out = malloc(n)) == NULL)
		return CF_ENOMEM;
	snprintf(*out, n, "%s.%s", token, thumbprint);
	return 0;
}
