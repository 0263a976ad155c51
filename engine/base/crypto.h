/*
 * Keys, CSRs, PEM and certificate readers: thin wrappers over libcrypto that
 * speak certfleet's types (struct key_spec, struct req_spec, CF_E* codes).
 * Every function is pure and runs on the calling thread, so the engine can
 * call them from uv_queue_work. Nothing here prints, logs or touches files,
 * and no message ever carries private key material.
 */
#ifndef CF_CRYPTO_H
#define CF_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "engine/base/reqspec.h"

/*
 * Generates a key as ks describes (ec P-256/P-384, rsa 2048/3072/4096,
 * ed25519). Returns 0 and a new key in *out (caller frees with
 * EVP_PKEY_free), or CF_EINVAL / CF_ECRYPTO with the reason in msg.
 */
int crypto_keygen(const struct key_spec *ks, EVP_PKEY **out, char *msg,
    size_t msgsz);

/*
 * Builds a CSR for key: subject from rs->subject (dn.h syntax; NULL or ""
 * for an empty subject), rs->san as a subjectAltName extension request,
 * signed with SHA-256 (no digest for ed25519). Returns 0 and a new request
 * in *out (caller frees with X509_REQ_free), or a CF_E* code and msg.
 */
int crypto_csr_new(EVP_PKEY *key, const struct req_spec *rs, X509_REQ **out,
    char *msg, size_t msgsz);

/*
 * The same CSR straight to PEM, in a malloc'd string *out the caller
 * frees: the request never leaves, so its public key is written from the
 * key's encoding (crypto_spki_set) and never decoded back, which is most of
 * the cost of building one with OpenSSL 3. 0, or a CF_E* code and msg.
 */
int crypto_csr_pem_new(EVP_PKEY *key, const struct req_spec *rs, char **out,
    char *msg, size_t msgsz);

/*
 * Builds an X509_NAME from a "CN=x, O=y" subject (NULL or "" gives an empty
 * name). Returns 0 and a new name in *out (caller frees with X509_NAME_free)
 * or CF_EINVAL / CF_ENOMEM and msg. Shared with the CA.
 */
int crypto_name_from_subject(const char *subject, X509_NAME **out, char *msg,
    size_t msgsz);

/*
 * Builds the GENERAL_NAMES for rs->san (san.h syntax). Returns 0 and a new
 * stack in *out (caller frees with GENERAL_NAMES_free; NULL when rs has no
 * SANs) or CF_EINVAL / CF_ENOMEM and msg. Shared with the CA.
 */
int crypto_sans_from_spec(const struct req_spec *rs, GENERAL_NAMES **out,
    char *msg, size_t msgsz);

/*
 * Cleanses n bytes of p, then frees it. n == 0 means strlen(p) + 1. Use it
 * for every buffer that held a private key. p may be NULL.
 */
void crypto_secret_free(char *p, size_t n);

/*
 * Writes key as unencrypted PKCS#8 PEM. Returns 0 and a malloc'd
 * NUL-terminated string in *out (and its length without the NUL in *len
 * when len is not NULL); the caller frees it with crypto_secret_free.
 */
int crypto_key_to_pem(EVP_PKEY *key, char **out, size_t *len, char *msg,
    size_t msgsz);

/*
 * Parses an unencrypted private key PEM (PKCS#8 or traditional). source
 * names the data in messages (a file name). Returns 0 and a new key in *out
 * (caller frees with EVP_PKEY_free), or CF_EINVAL and msg.
 */
int crypto_key_from_pem(const char *pem, const char *source, EVP_PKEY **out,
    char *msg, size_t msgsz);

/*
 * The first private key in the PEM text pem (len bytes) as
 * crypto_key_from_pem reads it, or NULL (OpenSSL's error queue says why).
 * A PKCS#8 key is decoded for its own key type only, several times faster
 * with OpenSSL 3 than the general reader.
 */
EVP_PKEY *crypto_key_read(const char *pem, size_t len);

/*
 * SHA-256, fetched once per process and shared by every thread: each
 * EVP_sha256() use would look it up again, under libcrypto's lock.
 */
const EVP_MD *crypto_sha256(void);

/*
 * Sets pub (a new certificate's or request's SubjectPublicKeyInfo) to
 * key's public key, for EC keys on a named curve, Ed25519 and Ed448: the
 * algorithm and the encoded key as the provider gives them, the bytes
 * X509_PUBKEY_set writes without its round trip through OpenSSL 3's
 * encoder and decoder. pub then holds no decoded key (X509_PUBKEY_get0
 * and X509_get0_pubkey answer NULL): for an object that is signed and
 * encoded, never read back. Returns 1, or 0 for any other key (the caller
 * then uses X509_PUBKEY_set).
 */
int crypto_spki_set(X509_PUBKEY *pub, EVP_PKEY *key);

/* Writes cert as PEM into a malloc'd string *out the caller frees. */
int crypto_cert_to_pem(X509 *cert, char **out, char *msg, size_t msgsz);

/*
 * Parses every certificate in pem, in order; other PEM blocks are skipped.
 * Returns 0 and a new stack in *out (caller frees with
 * sk_X509_pop_free(s, X509_free)), or CF_EINVAL naming source when there is
 * no certificate or a block is malformed.
 */
int crypto_certs_from_pem(const char *pem, const char *source,
    STACK_OF(X509) **out, char *msg, size_t msgsz);

/* Writes csr as PEM into a malloc'd string *out the caller frees. */
int crypto_csr_to_pem(X509_REQ *csr, char **out, char *msg, size_t msgsz);

/*
 * Parses one CSR from pem. Returns 0 and a new request in *out (caller
 * frees with X509_REQ_free), or CF_EINVAL naming source.
 */
int crypto_csr_from_pem(const char *pem, const char *source, X509_REQ **out,
    char *msg, size_t msgsz);

/*
 * Writes the SHA-1 of cert's DER as 40 upper-case hex digits without colons
 * (the Windows thumbprint). Returns 0 or CF_ECRYPTO.
 */
int crypto_thumbprint(X509 *cert, char sha1[41]);

/*
 * Formats "what: <libcrypto's reason>" into msg, empties libcrypto's error
 * queue and returns code. The reason is a static libcrypto string, never
 * data, so no key material can reach a message this way.
 */
int crypto_ossl_error(char *msg, size_t msgsz, int code, const char *what);

/* Writes the SHA-256 of cert's DER as 64 upper-case hex digits. */
int crypto_fingerprint_sha256(X509 *cert, char out[65]);

/* True when key's public half is the public key in cert. */
bool crypto_key_matches_cert(EVP_PKEY *key, X509 *cert);

/* True when csr and cert carry the same public key. */
bool crypto_csr_matches_cert(X509_REQ *csr, X509 *cert);

/*
 * True when the CSR in csr_pem carries, byte for byte, cert's
 * SubjectPublicKeyInfo (read from the CSR's DER): the same key, found
 * without decoding either, which OpenSSL 3 does through a provider lookup.
 * False says nothing about the keys: compare them decoded then.
 */
bool crypto_csr_pem_same_spki(const char *csr_pem, X509 *cert);

/* Fills *t with cert's notAfter (notBefore). Returns 0 or CF_EINVAL. */
int crypto_cert_not_after(X509 *cert, time_t *t);
int crypto_cert_not_before(X509 *cert, time_t *t);

/*
 * Writes cert's subject on one line in RFC 4514 order and escaping, as the
 * templates write it ("CN=fe01.contoso.test, O=Contoso"). Returns 0, or CF_EINVAL when buf was
 * too small (buf then holds a truncated, NUL-terminated string).
 */
int crypto_cert_subject(X509 *cert, char *buf, size_t bufsz);

/* The issuer's name, as crypto_cert_subject writes a subject. */
int crypto_cert_issuer(X509 *cert, char *buf, size_t bufsz);

/* The serial number in upper-case hex. 0 or CF_EINVAL (buf too small). */
int crypto_cert_serial(X509 *cert, char *buf, size_t bufsz);

/* Key k (NULL: "unknown key type") as the templates name it: "ec P-256",
 * "rsa 3072", "ed25519". Returns buf. */
const char *crypto_key_describe(EVP_PKEY *k, char *buf, size_t bufsz);

/*
 * Returns cert's SANs as "DNS:...", "IP:...", "email:..." and "URI:..."
 * strings (the req_spec syntax); other name forms are skipped. On 0, *out
 * is a malloc'd array of *n malloc'd strings (NULL and 0 when there are
 * none); free it with crypto_strings_free. CF_ENOMEM otherwise.
 */
int crypto_cert_sans(X509 *cert, char ***out, size_t *n);

/* Frees an array of n strings as crypto_cert_sans returns it. */
void crypto_strings_free(char **v, size_t n);

/*
 * Returns cert's extended key usages as enum eku_flags; usages certfleet has
 * no flag for are ignored. 0 when the certificate has no EKU extension.
 */
unsigned crypto_cert_eku(X509 *cert);

/* A PEM password callback that refuses instead of reading the terminal:
 * an encrypted key is an error, never a prompt. */
int crypto_no_password(char *buf, int size, int rwflag, void *u);

#endif
