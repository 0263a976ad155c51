/*
 * Choosing whether the server's current key can be reused. The key type
 * is compared by name (key_spec_describe, crypto_key_describe) so that the
 * message and the test are the same thing.
 */
#include "engine/job/key_reuse.h"
#include "engine/base/crypto.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

EVP_PKEY *key_reuse_pick(const char *key_pem, const char *cert_pem,
    const struct key_spec *ks, char *why, size_t whysz)
{
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = crypto_key_read(key_pem, strlen(key_pem));
	char have[64], want[32], msg[256];

	key_spec_describe(ks, want, sizeof want);
	if (key == NULL) {
		ERR_clear_error();
		snprintf(why, whysz, "the current key file holds no private "
		    "key");
		return NULL;
	}
	crypto_key_describe(key, have, sizeof have);
	if (crypto_certs_from_pem(cert_pem, "the current certificate", &certs,
	    msg, sizeof msg) != 0)
		snprintf(why, whysz, "%s", msg);
	else if (!crypto_key_matches_cert(key, sk_X509_value(certs, 0)))
		snprintf(why, whysz, "the current key does not belong to the "
		    "current certificate");
	else if (strcmp(have, want) != 0)
		snprintf(why, whysz, "the current key is %s; the template asks "
		    "%s", have, want);
	else
		why[0] = '\0';
	sk_X509_pop_free(certs, X509_free);
	if (why[0] != '\0') {
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}
