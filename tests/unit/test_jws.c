/* JOSE for ACME: base64url, JWK, thumbprints, JWS signatures and EAB, on
 * RFC vectors and checked independently with libcrypto. */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/acme/jws.h"
#include "engine/base/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>

/* RFC 7638 3.1. */
#define RFC7638_N \
	"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1" \
	"RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5" \
	"n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8K" \
	"JZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQF" \
	"h6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJz" \
	"KnqDKgw"
#define RFC7638_THUMB "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

/* RFC 7515 A.2 (RS256) and A.3 (ES256): the shared payload. */
#define A_PAYLOAD \
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl" \
	"LmNvbS9pc19yb290Ijp0cnVlfQ"
#define A2_N \
	"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Va" \
	"w-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32" \
	"690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBd" \
	"QOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJ" \
	"H7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FR" \
	"WyuXpoQ"
#define A2_D \
	"Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5s" \
	"LKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-" \
	"GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4q" \
	"AdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl" \
	"_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVR" \
	"uOopznQ"
#define A2_SIG \
	"cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAu" \
	"HIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRF" \
	"diuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_" \
	"eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6I" \
	"eYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUP" \
	"QGe77Rw"
#define A3_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define A3_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define A3_D "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
#define A3_SIG \
	"DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmW" \
	"QxfKTUJqPP3-Kg6NU1Q"

static EVP_PKEY *p256, *p384, *rsa2048;

static int setup(void **state)
{
	(void)state;
	p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	rsa2048 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	return p256 != NULL && p384 != NULL && rsa2048 != NULL ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(rsa2048);
	return 0;
}

/* Decodes base64url that the test knows is valid. */
static unsigned char *dec(const char *s, size_t *len)
{
	unsigned char *out;
	size_t n;

	assert_int_equal(jws_b64url_decode(s, strlen(s), &out, &n, NULL, 0),
	    0);
	if (len != NULL)
		*len = n;
	return out;
}

static BIGNUM *dec_bn(const char *s)
{
	unsigned char *b;
	size_t n;
	BIGNUM *bn;

	b = dec(s, &n);
	bn = BN_bin2bn(b, (int)n, NULL);
	free(b);
	assert_non_null(bn);
	return bn;
}

/* An RSA key from base64url n, e and (when not NULL) d. */
static EVP_PKEY *rsa_from(const char *n, const char *e, const char *d)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BIGNUM *bn = dec_bn(n), *be = dec_bn(e), *bd = NULL;
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;

	assert_non_null(bld);
	assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn));
	assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be));
	if (d != NULL) {
		bd = dec_bn(d);
		assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D,
		    bd));
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &key, d != NULL ?
	    EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(bn);
	BN_free(be);
	BN_clear_free(bd);
	return key;
}

/* A P-256 key from base64url x, y and (when not NULL) d. */
static EVP_PKEY *p256_from(const char *x, const char *y, const char *d)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	unsigned char pub[65], *bx, *by;
	size_t nx, ny;
	BIGNUM *bd = NULL;
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;

	bx = dec(x, &nx);
	by = dec(y, &ny);
	assert_int_equal(nx, 32);
	assert_int_equal(ny, 32);
	pub[0] = 4;
	memcpy(pub + 1, bx, 32);
	memcpy(pub + 33, by, 32);
	free(bx);
	free(by);
	assert_true(OSSL_PARAM_BLD_push_utf8_string(bld,
	    OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0));
	assert_true(OSSL_PARAM_BLD_push_octet_string(bld,
	    OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub));
	if (d != NULL) {
		bd = dec_bn(d);
		assert_true(OSSL_PARAM_BLD_push_BN(bld,
		    OSSL_PKEY_PARAM_PRIV_KEY, bd));
	}
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &key, d != NULL ?
	    EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_clear_free(bd);
	return key;
}

/* Verifies a JOSE signature (base64url; ECDSA as R||S) over input with
 * the public half of key, converting R||S to DER as libcrypto wants. */
static bool verify(EVP_PKEY *key, const char *md, const char *input,
    const char *sig64)
{
	unsigned char *raw, *der = NULL;
	size_t rawlen;
	int derlen, ok;
	EVP_MD_CTX *ctx;

	raw = dec(sig64, &rawlen);
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
		ECDSA_SIG *s = ECDSA_SIG_new();
		size_t w = rawlen / 2;

		assert_int_equal(rawlen % 2, 0);
		assert_int_equal(ECDSA_SIG_set0(s, BN_bin2bn(raw, (int)w,
		    NULL), BN_bin2bn(raw + w, (int)w, NULL)), 1);
		derlen = i2d_ECDSA_SIG(s, &der);
		ECDSA_SIG_free(s);
		assert_true(derlen > 0);
	} else {
		der = raw;
		raw = NULL;
		derlen = (int)rawlen;
	}
	ctx = EVP_MD_CTX_new();
	ok = EVP_DigestVerifyInit_ex(ctx, NULL, md, NULL, NULL, key, NULL)
	    == 1 && EVP_DigestVerify(ctx, der, (size_t)derlen,
	    (const unsigned char *)input, strlen(input)) == 1;
	EVP_MD_CTX_free(ctx);
	if (raw != NULL)
		OPENSSL_free(der);
	else
		free(der);
	free(raw);
	return ok;
}

static void test_b64url_vectors(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
		{ "\xff\xff\xfe", "___-" },
	};
	unsigned char *b;
	size_t i, n;
	char *s;

	(void)state;
	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		assert_int_equal(jws_b64url_encode(v[i].in, strlen(v[i].in),
		    &s), 0);
		assert_string_equal(s, v[i].out);
		free(s);
		assert_int_equal(jws_b64url_decode(v[i].out,
		    strlen(v[i].out), &b, &n, NULL, 0), 0);
		assert_int_equal(n, strlen(v[i].in));
		assert_memory_equal(b, v[i].in, n);
		free(b);
	}
}

static void test_b64url_round_trip(void **state)
{
	unsigned char buf[70] = { 0 }, *b;
	size_t len, n, i;
	char *s;

	(void)state;
	for (len = 0; len <= sizeof buf; len++) {
		for (i = 0; i < len; i++)
			buf[i] = (unsigned char)(i * 37 + len * 11 + 255);
		assert_int_equal(jws_b64url_encode(buf, len, &s), 0);
		assert_int_equal(strlen(s), (len * 4 + 2) / 3);
		assert_true(len == 0 || jws_b64url_valid(s));
		assert_null(strchr(s, '='));
		assert_int_equal(jws_b64url_decode(s, strlen(s), &b, &n, NULL,
		    0), 0);
		assert_int_equal(n, len);
		if (len > 0)
			assert_memory_equal(b, buf, len);
		free(b);
		free(s);
	}
}

static void test_b64url_rejects(void **state)
{
	static const char *const bad[] = {
		"Zg==", "Zg=", "Z", "Zm9vY", "Zh", "Zm9", "Zm+v", "Zm/v",
		"Zm9v\n", "Zm 9v", "\xc3\xa9\xc3\xa9",
	};
	unsigned char *b = (unsigned char *)"x";
	char msg[256];
	size_t i, n = 9;

	(void)state;
	/* "Zm9" is fine ("fo"); "Zm8" too: check stray bits on "Zm9". */
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = jws_b64url_decode(bad[i], strlen(bad[i]), &b, &n,
		    msg, sizeof msg);

		if (strcmp(bad[i], "Zm9") == 0) {
			/* 'Z','m','9': 9 = 61 = 111101, low 2 bits 01. */
			assert_int_equal(rc, CF_EINVAL);
			assert_string_equal(msg, "malformed base64url: "
			    "non-zero padding bits");
			continue;
		}
		assert_int_equal(rc, CF_EINVAL);
		assert_null(b);
		assert_int_equal(n, 0);
		assert_non_null(strstr(msg, "malformed base64url"));
	}
	assert_false(jws_b64url_valid(""));
	assert_false(jws_b64url_valid(NULL));
	assert_false(jws_b64url_valid("a/b"));
	assert_false(jws_b64url_valid("a.b"));
	assert_true(jws_b64url_valid("aZ09-_"));
}

static void test_rfc7638_thumbprint(void **state)
{
	json_t *jwk, *mine;
	EVP_PKEY *key;
	char *t, msg[256];

	(void)state;
	jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "n",
	    RFC7638_N, "e", "AQAB", "alg", "RS256", "kid", "2011-04-29");
	assert_non_null(jwk);
	assert_int_equal(jws_jwk_thumbprint(jwk, &t, msg, sizeof msg), 0);
	assert_string_equal(t, RFC7638_THUMB);
	free(t);

	/* The same key as an EVP_PKEY gives the same JWK and thumbprint. */
	key = rsa_from(RFC7638_N, "AQAB", NULL);
	assert_int_equal(jws_jwk(key, &mine, msg, sizeof msg), 0);
	assert_string_equal(json_string_value(json_object_get(mine, "n")),
	    RFC7638_N);
	assert_string_equal(json_string_value(json_object_get(mine, "e")),
	    "AQAB");
	assert_string_equal(json_string_value(json_object_get(mine, "kty")),
	    "RSA");
	assert_int_equal(json_object_size(mine), 3);
	assert_int_equal(jws_thumbprint(key, &t, msg, sizeof msg), 0);
	assert_string_equal(t, RFC7638_THUMB);
	free(t);
	json_decref(mine);
	EVP_PKEY_free(key);

	/* Missing members and unknown types are refused. */
	json_object_del(jwk, "e");
	assert_int_equal(jws_jwk_thumbprint(jwk, &t, msg, sizeof msg),
	    CF_EINVAL);
	assert_string_equal(msg, "malformed JWK: missing string member 'e'");
	assert_null(t);
	json_object_set_new(jwk, "kty", json_string("OKP"));
	assert_int_equal(jws_jwk_thumbprint(jwk, &t, msg, sizeof msg),
	    CF_EINVAL);
	assert_string_equal(msg, "malformed JWK: unknown key type 'OKP'");
	json_decref(jwk);
}

static void test_rfc7515_a2_rs256(void **state)
{
	const char *input = "eyJhbGciOiJSUzI1NiJ9." A_PAYLOAD;
	EVP_PKEY *key;
	char *sig, msg[256];

	(void)state;
	key = rsa_from(A2_N, "AQAB", A2_D);
	/* PKCS#1 v1.5 is deterministic: the RFC's exact signature. */
	assert_int_equal(jws_signature(key, input, strlen(input), &sig, msg,
	    sizeof msg), 0);
	assert_string_equal(sig, A2_SIG);
	free(sig);
	EVP_PKEY_free(key);
}

static void test_rfc7515_a3_es256(void **state)
{
	const char *input = "eyJhbGciOiJFUzI1NiJ9." A_PAYLOAD;
	EVP_PKEY *pub, *priv;
	json_t *jwk;
	char *sig, msg[256];
	size_t n;
	unsigned char *raw;

	(void)state;
	pub = p256_from(A3_X, A3_Y, NULL);
	/* The RFC's R||S signature verifies once turned into DER. */
	assert_true(verify(pub, "SHA256", input, A3_SIG));
	assert_false(verify(pub, "SHA256", "eyJhbGciOiJFUzI1NiJ9.e30",
	    A3_SIG));

	priv = p256_from(A3_X, A3_Y, A3_D);
	assert_int_equal(jws_jwk(priv, &jwk, msg, sizeof msg), 0);
	assert_string_equal(json_string_value(json_object_get(jwk, "x")),
	    A3_X);
	assert_string_equal(json_string_value(json_object_get(jwk, "y")),
	    A3_Y);
	assert_string_equal(json_string_value(json_object_get(jwk, "crv")),
	    "P-256");
	assert_string_equal(json_string_value(json_object_get(jwk, "kty")),
	    "EC");
	assert_int_equal(json_object_size(jwk), 4);
	assert_null(json_object_get(jwk, "d"));
	json_decref(jwk);

	/* Our own ES256 signature: 64 bytes, verified by the public key. */
	assert_int_equal(jws_signature(priv, input, strlen(input), &sig, msg,
	    sizeof msg), 0);
	raw = dec(sig, &n);
	assert_int_equal(n, 64);
	free(raw);
	assert_true(verify(pub, "SHA256", input, sig));
	free(sig);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(priv);
}

/* Parses a flattened JWS, checks its shape and returns its protected
 * header (caller json_decref's); *input gets "P.Q", *payload the decoded
 * payload and *sig the signature (caller frees all three). */
static json_t *open_jws(const char *text, char **input, char **payload,
    char **sig)
{
	json_t *o, *h;
	const char *p64, *q64, *s64;
	unsigned char *b;
	size_t n;

	o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), 3);
	p64 = json_string_value(json_object_get(o, "protected"));
	q64 = json_string_value(json_object_get(o, "payload"));
	s64 = json_string_value(json_object_get(o, "signature"));
	assert_non_null(p64);
	assert_non_null(q64);
	assert_non_null(s64);
	b = dec(p64, &n);
	h = json_loadb((const char *)b, n, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(h);
	free(b);
	*payload = (char *)dec(q64, NULL);
	*sig = strdup(s64);
	*input = cf_asprintf("%s.%s", p64, q64);
	assert_non_null(*input);
	json_decref(o);
	return h;
}

static void check_sign(EVP_PKEY *key, const char *alg, const char *md,
    size_t siglen)
{
	struct jws_header h = {
		.url = "https://ca.test/acme/new-acct",
		.nonce = "bm9uY2UtMQ",
		.kid = NULL,
	};
	char *out, *input, *payload, msg[256], *thumb, *t2;
	char *sig;
	unsigned char *raw;
	json_t *hdr, *jwk;
	size_t n;

	/* newAccount style: the JWK embedded, no kid. */
	assert_int_equal(jws_sign(key, &h, "{\"termsOfServiceAgreed\":true}",
	    &out, msg, sizeof msg), 0);
	assert_null(strchr(out, ' '));
	hdr = open_jws(out, &input, &payload, &sig);
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")),
	    alg);
	assert_string_equal(json_string_value(json_object_get(hdr, "nonce")),
	    "bm9uY2UtMQ");
	assert_string_equal(json_string_value(json_object_get(hdr, "url")),
	    h.url);
	assert_null(json_object_get(hdr, "kid"));
	jwk = json_object_get(hdr, "jwk");
	assert_true(json_is_object(jwk));
	assert_null(json_object_get(jwk, "d"));
	assert_int_equal(jws_jwk_thumbprint(jwk, &thumb, msg, sizeof msg), 0);
	assert_int_equal(jws_thumbprint(key, &t2, msg, sizeof msg), 0);
	assert_string_equal(thumb, t2);
	free(thumb);
	free(t2);
	assert_int_equal(json_object_size(hdr), 4);
	assert_string_equal(payload, "{\"termsOfServiceAgreed\":true}");
	raw = dec(sig, &n);
	assert_int_equal(n, siglen);
	free(raw);
	assert_true(verify(key, md, input, sig));
	json_decref(hdr);
	free(input);
	free(payload);
	free(sig);
	free(out);

	/* POST-as-GET with the account URL: kid, empty payload. */
	h.kid = "https://ca.test/acme/acct/17";
	h.url = "https://ca.test/acme/order/5";
	assert_int_equal(jws_sign(key, &h, NULL, &out, msg, sizeof msg), 0);
	hdr = open_jws(out, &input, &payload, &sig);
	assert_string_equal(json_string_value(json_object_get(hdr, "kid")),
	    "https://ca.test/acme/acct/17");
	assert_null(json_object_get(hdr, "jwk"));
	assert_int_equal(json_object_size(hdr), 4);
	assert_string_equal(payload, "");
	assert_non_null(strstr(out, "\"payload\":\"\""));
	assert_true(verify(key, md, input, sig));
	json_decref(hdr);
	free(input);
	free(payload);
	free(sig);
	free(out);

	/* keyChange's inner JWS: no nonce. */
	h.nonce = NULL;
	h.kid = NULL;
	assert_int_equal(jws_sign(key, &h, "{}", &out, msg, sizeof msg), 0);
	hdr = open_jws(out, &input, &payload, &sig);
	assert_null(json_object_get(hdr, "nonce"));
	assert_non_null(json_object_get(hdr, "jwk"));
	assert_true(verify(key, md, input, sig));
	json_decref(hdr);
	free(input);
	free(payload);
	free(sig);
	free(out);
}

static void test_sign_es256(void **state)
{
	(void)state;
	check_sign(p256, "ES256", "SHA256", 64);
}

static void test_sign_es384(void **state)
{
	(void)state;
	check_sign(p384, "ES384", "SHA384", 96);
}

static void test_sign_rs256(void **state)
{
	(void)state;
	check_sign(rsa2048, "RS256", "SHA256", 256);
}

static void test_es_many_signatures(void **state)
{
	char *sig, msg[256];
	unsigned char *raw;
	size_t n;
	int i;

	(void)state;
	/* R or S with leading zero bytes must still give fixed widths. */
	for (i = 0; i < 200; i++) {
		char input[32];

		snprintf(input, sizeof input, "input-%d", i);
		assert_int_equal(jws_signature(i % 2 ? p256 : p384, input,
		    strlen(input), &sig, msg, sizeof msg), 0);
		raw = dec(sig, &n);
		assert_int_equal(n, i % 2 ? 64u : 96u);
		assert_true(verify(i % 2 ? p256 : p384, i % 2 ? "SHA256" :
		    "SHA384", input, sig));
		free(raw);
		free(sig);
	}
}

static void test_sign_refuses(void **state)
{
	struct jws_header h = { .url = "https://ca.test/x", .nonce = "a/b" };
	EVP_PKEY *ed, *p521, *rsa1024;
	char *out = (char *)"x", msg[256];

	(void)state;
	assert_int_equal(jws_sign(p256, &h, "{}", &out, msg, sizeof msg),
	    CF_EINVAL);
	assert_null(out);
	assert_string_equal(msg, "invalid nonce for 'https://ca.test/x': "
	    "not base64url");
	h.nonce = "abc";
	h.url = NULL;
	assert_int_equal(jws_sign(p256, &h, "{}", &out, msg, sizeof msg),
	    CF_EINVAL);
	assert_string_equal(msg, "no URL for the signed request");

	ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	p521 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(ed);
	assert_non_null(p521);
	assert_non_null(rsa1024);
	h.url = "https://ca.test/x";
	assert_int_equal(jws_sign(ed, &h, "{}", &out, msg, sizeof msg),
	    CF_EINVAL);
	assert_string_equal(msg, "unsupported account key 'ED25519': use ec "
	    "P-256, ec P-384 or rsa");
	assert_int_equal(jws_sign(p521, &h, "{}", &out, msg, sizeof msg),
	    CF_EINVAL);
	assert_string_equal(msg, "unsupported account key 'ec secp521r1': "
	    "use ec P-256, ec P-384 or rsa");
	assert_int_equal(jws_sign(rsa1024, &h, "{}", &out, msg, sizeof msg),
	    CF_EINVAL);
	assert_string_equal(msg, "unsupported account key 'rsa 1024': at "
	    "least 2048 bits");
	EVP_PKEY_free(ed);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(rsa1024);
}

static void test_eab(void **state)
{
	/* 32 bytes of MAC key, as a CA would hand them out. */
	const char *key64 =
	    "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
	unsigned char *key, mac[EVP_MAX_MD_SIZE];
	unsigned int maclen;
	size_t keylen;
	json_t *eab, *jwk;
	char *text, *input, *payload, *mac64, *padded, msg[256];
	char *sig;
	json_t *hdr;

	(void)state;
	assert_int_equal(jws_eab(p256, "kid-1", key64,
	    "https://ca.test/acme/new-acct", &eab, msg, sizeof msg), 0);
	text = json_dumps(eab, JSON_COMPACT);
	hdr = open_jws(text, &input, &payload, &sig);
	assert_string_equal(json_string_value(json_object_get(hdr, "alg")),
	    "HS256");
	assert_string_equal(json_string_value(json_object_get(hdr, "kid")),
	    "kid-1");
	assert_string_equal(json_string_value(json_object_get(hdr, "url")),
	    "https://ca.test/acme/new-acct");
	assert_null(json_object_get(hdr, "nonce"));
	assert_null(json_object_get(hdr, "jwk"));
	assert_int_equal(json_object_size(hdr), 3);

	/* The payload is the account key's public JWK. */
	jwk = json_loads(payload, 0, NULL);
	assert_non_null(jwk);
	{
		json_t *want;

		assert_int_equal(jws_jwk(p256, &want, msg, sizeof msg), 0);
		assert_true(json_equal(jwk, want));
		json_decref(want);
	}
	json_decref(jwk);

	/* HMAC-SHA256 computed independently over "P.Q". */
	key = dec(key64, &keylen);
	assert_int_equal(keylen, 48);
	assert_non_null(HMAC(EVP_sha256(), key, (int)keylen,
	    (const unsigned char *)input, strlen(input), mac, &maclen));
	assert_int_equal(jws_b64url_encode(mac, maclen, &mac64), 0);
	assert_string_equal(sig, mac64);
	free(mac64);
	free(key);
	json_decref(hdr);
	free(input);
	free(payload);
	free(sig);
	free(text);
	json_decref(eab);

	/* A padded key gives the same MAC; a broken one is refused and the
	 * message never shows the key. */
	padded = cf_asprintf("%s==", key64);
	assert_non_null(padded);
	assert_int_equal(jws_eab(p256, "kid-1", padded,
	    "https://ca.test/acme/new-acct", &eab, msg, sizeof msg), 0);
	json_decref(eab);
	free(padded);
	assert_int_equal(jws_eab(p256, "kid-1", "c2VjcmV0+/", "https://x",
	    &eab, msg, sizeof msg), CF_EINVAL);
	assert_null(eab);
	assert_string_equal(msg, "invalid EAB MAC key for key id 'kid-1': "
	    "not base64url");
	assert_null(strstr(msg, "c2VjcmV0"));
	assert_int_equal(jws_eab(p256, "", key64, "https://x", &eab, msg,
	    sizeof msg), CF_EINVAL);
	assert_int_equal(jws_eab(p256, "k", key64, NULL, &eab, msg,
	    sizeof msg), CF_EINVAL);
}

static void test_key_authorization(void **state)
{
	char *ka, msg[256];

	(void)state;
	assert_int_equal(jws_key_authorization(
	    "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", RFC7638_THUMB,
	    &ka, msg, sizeof msg), 0);
	assert_string_equal(ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA."
	    RFC7638_THUMB);
	free(ka);
	assert_int_equal(jws_key_authorization("../../etc/passwd",
	    RFC7638_THUMB, &ka, msg, sizeof msg), CF_EINVAL);
	assert_null(ka);
	assert_string_equal(msg, "invalid challenge token: not base64url");
	assert_int_equal(jws_key_authorization("", RFC7638_THUMB, &ka, msg,
	    sizeof msg), CF_EINVAL);
	assert_int_equal(jws_key_authorization("abc", "a.b", &ka, msg,
	    sizeof msg), CF_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_b64url_round_trip),
		cmocka_unit_test(test_b64url_rejects),
		cmocka_unit_test(test_rfc7638_thumbprint),
		cmocka_unit_test(test_rfc7515_a2_rs256),
		cmocka_unit_test(test_rfc7515_a3_es256),
		cmocka_unit_test(test_sign_es256),
		cmocka_unit_test(test_sign_es384),
		cmocka_unit_test(test_sign_rs256),
		cmocka_unit_test(test_es_many_signatures),
		cmocka_unit_test(test_sign_refuses),
		cmocka_unit_test(test_eab),
		cmocka_unit_test(test_key_authorization),
	};

	return cmocka_run_group_tests_name("jws", tests, setup, teardown);
}
