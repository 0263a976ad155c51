/*
 * The embedded CA: creating its root and issuing CA on disk, loading them,
 * judging a request against the fleet's policy and signing a leaf from the
 * request template. Pure functions on the calling thread (the engine runs
 * them in uv_queue_work); no libuv, no printing, no key in any message.
 */
#ifndef CF_CA_LOCAL_H
#define CF_CA_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "engine/base/reqspec.h"
#include "engine/base/san.h"

/*
 * What the embedded CA agrees to sign. An empty list puts no restriction on
 * that kind of name. manual_approval is for the CA driver (requests wait as
 * pending until approved); ca_policy_check does not look at it.
 */
struct ca_policy {
	char **allowed_domains;     /* "contoso.test": the name and below */
	size_t ndomains;
	struct cidr *allowed_ips;
	size_t nips;
	bool manual_approval;
};

/*
 * Returns 0 when the policy allows every name rs asks for, CF_EDENIED with
 * the first offending name in msg, or CF_EINVAL for a malformed SAN.
 * - DNS SANs must equal or lie under an allowed domain; "*.x.y" is judged
 *   by "x.y".
 * - IP SANs must lie in an allowed CIDR.
 * - With allowed_domains set, email and URI SANs are denied: their host
 *   part is not a name the policy can vouch for.
 * - The subject CN, when it is a host name or an IP address, is held to the
 *   same rules, since some clients still match on it.
 */
int ca_policy_check(const struct ca_policy *pol, const struct req_spec *rs,
    char *msg, size_t msgsz);

/*
 * Creates a root CA and an issuing CA (EC P-384, "CN=<fleet> Root CA,
 * O=<fleet>" for 10 years and "CN=<fleet> Issuing CA, O=<fleet>" for 5,
 * the issuing one with pathlen 0) and writes the four PEM files: keys
 * 0600 from their first byte, certificates 0644, missing parent
 * directories created (0700 where a key goes). Returns CF_EEXIST and writes
 * nothing when any of the four paths exists; on a later failure removes
 * what it created. Returns 0 or a CF_E* code with msg.
 */
int ca_local_create(const char *fleet_name, const char *root_cert,
    const char *root_key, const char *issuing_cert, const char *issuing_key,
    char *msg, size_t msgsz);

/* A loaded CA. Every member is owned; ca_local_release frees them. */
struct ca_local {
	X509 *root;
	X509 *issuing;
	EVP_PKEY *issuing_key;
};

/*
 * Reads the CA's files into ca (which the caller provides), checking that
 * the key belongs to the issuing certificate, that the issuing certificate
 * is a CA and that the root signed it. Returns 0 (release with
 * ca_local_release) or a CF_E* code with msg, ca then holding nothing.
 */
int ca_local_load(struct ca_local *ca, const char *root_cert,
    const char *issuing_cert, const char *issuing_key, char *msg,
    size_t msgsz);

/* Frees what ca holds; safe on a zeroed or released struct. */
void ca_local_release(struct ca_local *ca);

/*
 * Signs a leaf certificate. The CSR proves possession of its key (its
 * signature must verify) and contributes only that key; subject, SANs,
 * EKUs and validity (now - 5 minutes to now + rs->days) come from rs, and
 * the key must be of the type rs->key names. Policy is the caller's job
 * (ca_policy_check). Returns 0 and a new certificate in *out (caller frees
 * with X509_free), CF_EDENIED for a CSR the CA refuses, or another CF_E*.
 */
int ca_local_sign(struct ca_local *ca, X509_REQ *csr,
    const struct req_spec *rs, time_t now, X509 **out, char *msg,
    size_t msgsz);

/*
 * The same certificate straight to PEM, in a malloc'd string *out the
 * caller frees: it never leaves, so its key is written from the CSR key's
 * encoding and never decoded back (crypto_spki_set), most of what building
 * one costs besides the signature with OpenSSL 3. Returns as ca_local_sign.
 */
int ca_local_sign_pem(struct ca_local *ca, X509_REQ *csr,
    const struct req_spec *rs, time_t now, char **out, char *msg,
    size_t msgsz);

/*
 * The chain above a leaf as PEM, issuing CA first, then the root, in a
 * malloc'd string *out the caller frees. 0 or a CF_E* code with msg.
 */
int ca_local_chain_pem(const struct ca_local *ca, char **out, char *msg,
    size_t msgsz);

#endif
