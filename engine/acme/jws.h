/*
 * JOSE for ACME (RFC 7515, 7517, 7518, 7638, 8555 section 6.2): base64url,
 * the public JWK of an account key and its thumbprint, flattened JSON JWS
 * signed with ES256, ES384 or RS256, the HS256 external account binding
 * and the http-01 key authorization. Pure functions on the calling thread;
 * nothing here does I/O, and no private key material ever reaches an
 * output or a message (only public members are exported).
 */
#ifndef CF_JWS_H
#define CF_JWS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

enum jws_alg {
	JWS_ES256,                  /* EC P-256, SHA-256, R||S of 64 bytes */
	JWS_ES384,                  /* EC P-384, SHA-384, R||S of 96 bytes */
	JWS_RS256                   /* RSA, PKCS#1 v1.5, SHA-256 */
};

/*
 * Encodes len bytes as base64url without padding into a new NUL-terminated
 * string in *out (caller frees). Returns 0 or CF_ENOMEM.
 */
int jws_b64url_encode(const void *in, size_t len, char **out);

/*
 * Decodes the base64url text in (len bytes; no padding, no whitespace, no
 * stray bits) into a new buffer in *out of *outlen bytes, NUL-terminated
 * for convenience (caller frees). Returns 0, CF_ENOMEM, or CF_EINVAL with
 * the reason in msg.
 */
int jws_b64url_decode(const char *in, size_t len, unsigned char **out,
    size_t *outlen, char *msg, size_t msgsz);

/* True when s is non-empty and only holds base64url characters. */
bool jws_b64url_valid(const char *s);

/*
 * The JWS algorithm for key: ES256 for P-256, ES384 for P-384, RS256 for
 * RSA of at least 2048 bits. Returns 0, or CF_EINVAL naming the key type.
 */
int jws_alg_of(EVP_PKEY *key, enum jws_alg *alg, char *msg, size_t msgsz);

/*
 * The public JWK of key: {"crv","kty","x","y"} for EC (coordinates padded
 * to the field size), {"e","kty","n"} for RSA. Returns 0 and a new object
 * in *out (caller json_decref's), or a CF_E* code with msg.
 */
int jws_jwk(EVP_PKEY *key, json_t **out, char *msg, size_t msgsz);

/*
 * The RFC 7638 SHA-256 thumbprint of a JWK object (only its required
 * members count), base64url, in a new string in *out (caller frees).
 * Returns 0 or a CF_E* code with msg (unknown kty, missing member).
 */
int jws_jwk_thumbprint(const json_t *jwk, char **out, char *msg,
    size_t msgsz);

/* The thumbprint of key's public JWK; as jws_jwk_thumbprint. */
int jws_thumbprint(EVP_PKEY *key, char **out, char *msg, size_t msgsz);

/*
 * Signs the bytes in[0..len) with key (alg from jws_alg_of) and returns
 * the JWS signature, base64url, in a new string in *out (caller frees):
 * ECDSA as the fixed-width R||S JOSE needs, never DER.
 */
int jws_signature(EVP_PKEY *key, const void *in, size_t len, char **out,
    char *msg, size_t msgsz);

/* The protected header members of an ACME request (RFC 8555 6.2). */
struct jws_header {
	const char *url;            /* required: the exact request URL */
	const char *nonce;          /* from Replay-Nonce; NULL only for the
	                               inner JWS of keyChange */
	const char *kid;            /* the account URL; NULL: embed the jwk
	                               (newAccount, revokeCert by cert key) */
};

/*
 * Builds the flattened JSON JWS {"protected","payload","signature"} of
 * payload (JSON text; NULL or "" gives the empty payload of POST-as-GET)
 * signed by key with header h, as compact JSON text in a new string in
 * *out (caller frees): the body of an application/jose+json POST.
 * Returns 0 or a CF_E* code with msg.
 */
int jws_sign(EVP_PKEY *key, const struct jws_header *h, const char *payload,
    char **out, char *msg, size_t msgsz);

/*
 * The externalAccountBinding of a newAccount payload (RFC 8555 7.3.4): a
 * flattened JWS, HS256 with the CA's MAC key (hmac_key_b64url, base64url
 * as CAs hand it out), protected {"alg":"HS256","kid":eab_kid,"url":url}
 * where url is the newAccount URL, over the account key's public JWK.
 * Returns 0 and a new object in *out (caller json_decref's) or a CF_E*
 * code with msg; the MAC key never appears in a message.
 */
int jws_eab(EVP_PKEY *account_key, const char *eab_kid,
    const char *hmac_key_b64url, const char *url, json_t **out, char *msg,
    size_t msgsz);

/*
 * The http-01 key authorization token "." thumbprint (RFC 8555 8.1) in a
 * new string in *out (caller frees). The token must be base64url (it
 * becomes a file name under /.well-known/acme-challenge/). Returns 0,
 * CF_ENOMEM or CF_EINVAL with msg.
 */
int jws_key_authorization(const char *token, const char *thumbprint,
    char **out, char *msg, size_t msgsz);

#endif
