/*
 * The CERTFLEET_* variables of a reload command (see reload_env.h). The
 * formats are those of the report, so a reload can compare what it gets
 * with `certfleet status --json`.
 */
#include "engine/assign/reload_env.h"
#include "engine/base/crypto.h"
#include "engine/base/env.h"

#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void reload_cert_read(struct reload_cert *c, const char *pem, size_t len)
{
	STACK_OF(X509) *sk = NULL;
	X509 *leaf;
	char msg[256], *copy;
	time_t na = 0;
	struct tm tm;

	memset(c, 0, sizeof *c);
	if (pem == NULL || len == 0 || (copy = strndup(pem, len)) == NULL)
		return;
	if (crypto_certs_from_pem(copy, "the certificate", &sk, msg,
	    sizeof msg) == 0) {
		leaf = sk_X509_value(sk, 0);
		if (crypto_thumbprint(leaf, c->thumbprint) != 0 ||
		    crypto_fingerprint_sha256(leaf, c->sha256) != 0 ||
		    crypto_cert_not_after(leaf, &na) != 0 ||
		    gmtime_r(&na, &tm) == NULL)
			memset(c, 0, sizeof *c);
		else
			strftime(c->not_after, sizeof c->not_after,
			    "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	sk_X509_pop_free(sk, X509_free);
	ERR_clear_error();
	free(copy);
}

static void put(struct env *e, const char *name, const char *value)
{
	env_set(e, name, value != NULL ? value : "");
}

char **reload_env(const struct reload_info *ri)
{
	static const struct reload_cert none;
	const struct reload_cert *now = ri->now ? ri->now : &none;
	struct env e = { 0 };

	put(&e, "CERTFLEET_FLEET", ri->fleet);
	put(&e, "CERTFLEET_SERVER", ri->server);
	put(&e, "CERTFLEET_ADDRESS", ri->address);
	put(&e, "CERTFLEET_USAGE", ri->usage);
	put(&e, "CERTFLEET_CERT_FILE", ri->cert_file);
	put(&e, "CERTFLEET_KEY_FILE", ri->key_file);
	put(&e, "CERTFLEET_CHAIN_FILE", ri->chain_file);
	put(&e, "CERTFLEET_THUMBPRINT", now->thumbprint);
	put(&e, "CERTFLEET_SHA256", now->sha256);
	put(&e, "CERTFLEET_NOT_AFTER", now->not_after);
	put(&e, "CERTFLEET_PREVIOUS_SHA256", ri->previous_sha256);
	return env_take(&e);
}
