/*
 * reuse_key = true: a renewal keeps the key the server holds, when that
 * key belongs to the server's current certificate and is of the key type
 * the template asks; otherwise a new key is made and the report says why.
 */
#ifndef CF_KEY_REUSE_H
#define CF_KEY_REUSE_H

#include "engine/base/reqspec.h"

#include <openssl/evp.h>
#include <stddef.h>

/*
 * The private key in key_pem, when it belongs to the leaf (first
 * certificate) of cert_pem and is of type ks; else NULL with the reason
 * in why ("the current key is ec P-256; the template asks rsa 4096").
 * Never puts key material in why. Pure: any thread.
 */
EVP_PKEY *key_reuse_pick(const char *key_pem, const char *cert_pem,
    const struct key_spec *ks, char *why, size_t whysz);

#endif
