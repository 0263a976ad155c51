/*
 * Choosing whether the server's current key can be reused. The key type
 * is compared by name (key_spec_describe) so that the message and the
 * test are the same thing.
 */
#include "engine/job/key_reuse.h"
#include "engine/base/crypto.h"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <stdio.h>
#include <string.h>

/* key's type as key_spec_describe writes one: "ec P-256", "rsa 3072",
 * "ed25519"; "" for what the templates cannot ask. */
static void key_describe(EVP_PKEY *key, char *buf, size_t bufsz)
{
	char group[64];
	const char *nist;

	buf[0] = '\0';
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		snprintf(buf, bufsz, "rsa %d", EVP_PKEY_get_bits(key));
		break;
	case EVP_PKEY_ED25519:
		snprintf(buf, bufsz, "ed25519");
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(key,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL) &&
		    (nist = EC_curve_nid2nist(OBJ_sn2nid(group))) != NULL)
			snprintf(buf, bufsz, "ec %s", nist);
		break;
	default:
		break;
	}
}

EVP_PKEY *key_reuse_pick(const char *key_pem, const char *cert_pem,
    const struct key_spec *ks, char *why, size_t whysz)
{
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = crypto_key_read(key_pem, strlen(key_pem));
	char have[32], want[32], msg[256];

	key_spec_describe(ks, want, sizeof want);
	if (key == NULL) {
		ERR_clear_error();
		snprintf(why, whysz, "the current key file holds no private "
		    "key");
		return NULL;
	}
	key_describe(key, have, sizeof have);
	if (crypto_certs_from_pem(cert_pem, "the current certificate", &certs,
	    msg, sizeof msg) != 0)
		snprintf(why, whysz, "%s", msg);
	else if (!crypto_key_matches_cert(key, sk_X509_value(certs, 0)))
		snprintf(why, whysz, "the current key does not belong to the "
		    "current certificate");
	else if (strcmp(have, want) != 0)
		snprintf(why, whysz, "the current key is %s; the template asks "
		    "%s", have[0] ? have : "of another type", want);
	else
		why[0] = '\0';
	sk_X509_pop_free(certs, X509_free);
	if (why[0] != '\0') {
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}
