/*
 * Request specs: the tables of key types and EKUs that the check, the CA and
 * the reports all name the same way.
 */
#include "engine/base/reqspec.h"
#include "engine/base/strv.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	unsigned flag;
	const char *name;
} ekus[] = {
	{ EKU_SERVER_AUTH, "serverAuth" },
	{ EKU_CLIENT_AUTH, "clientAuth" },
	{ EKU_CODE_SIGNING, "codeSigning" },
	{ EKU_EMAIL_PROTECTION, "emailProtection" },
	{ EKU_TIME_STAMPING, "timeStamping" },
};

void req_spec_init(struct req_spec *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->key.type = KEY_EC;
	rs->key.bits = 256;
	rs->key.curve = "P-256";
}

void req_spec_release(struct req_spec *rs)
{
	size_t i;

	free(rs->subject);
	for (i = 0; i < rs->nsan; i++)
		free(rs->san[i]);
	free(rs->san);
	req_spec_init(rs);
}

int req_spec_copy(struct req_spec *dst, const struct req_spec *src)
{
	size_t i;

	dst->key = src->key;
	dst->eku = src->eku;
	dst->days = src->days;
	if (src->subject && (dst->subject = strdup(src->subject)) == NULL)
		return CF_ENOMEM;
	for (i = 0; i < src->nsan; i++)
		if (req_spec_add_san(dst, src->san[i]) != 0)
			return CF_ENOMEM;
	return 0;
}

int req_spec_add_san(struct req_spec *rs, const char *san)
{
	return strv_append(&rs->san, &rs->nsan, san);
}

int key_spec_set(struct key_spec *ks, const char *type, const char *curve,
    int bits, char *msg, size_t msgsz)
{
	if (strcmp(type, "ec") == 0) {
		if (bits != 0)
			return cf_error(msg, msgsz, CF_EINVAL,
			    "'size' applies to rsa keys only; use 'curve'");
		ks->type = KEY_EC;
		if (curve == NULL || strcmp(curve, "P-256") == 0) {
			ks->curve = "P-256";
			ks->bits = 256;
		} else if (strcmp(curve, "P-384") == 0) {
			ks->curve = "P-384";
			ks->bits = 384;
		} else {
			return cf_error(msg, msgsz, CF_EINVAL,
			    "unknown curve '%s' (use P-256 or P-384)", curve);
		}
	} else if (strcmp(type, "rsa") == 0) {
		if (curve != NULL)
			return cf_error(msg, msgsz, CF_EINVAL,
			    "'curve' applies to ec keys only; use 'size'");
		if (bits == 0)
			bits = 2048;
		if (bits != 2048 && bits != 3072 && bits != 4096)
			return cf_error(msg, msgsz, CF_EINVAL,
			    "unsupported rsa size %d (use 2048, 3072 or 4096)",
			    bits);
		ks->type = KEY_RSA;
		ks->bits = bits;
		ks->curve = NULL;
	} else if (strcmp(type, "ed25519") == 0) {
		if (curve != NULL || bits != 0)
			return cf_error(msg, msgsz, CF_EINVAL,
			    "ed25519 keys take neither 'curve' nor 'size'");
		ks->type = KEY_ED25519;
		ks->bits = 256;
		ks->curve = NULL;
	} else {
		return cf_error(msg, msgsz, CF_EINVAL,
		    "unknown key type '%s' (use ec, rsa or ed25519)", type);
	}
	return 0;
}

const char *key_spec_describe(const struct key_spec *ks, char *buf,
    size_t bufsz)
{
	switch (ks->type) {
	case KEY_EC:
		snprintf(buf, bufsz, "ec %s", ks->curve);
		break;
	case KEY_RSA:
		snprintf(buf, bufsz, "rsa %d", ks->bits);
		break;
	case KEY_ED25519:
		snprintf(buf, bufsz, "ed25519");
		break;
	}
	return buf;
}

unsigned eku_from_name(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(ekus) / sizeof(ekus[0]); i++)
		if (strcmp(ekus[i].name, name) == 0)
			return ekus[i].flag;
	return 0;
}

const char *eku_name(unsigned flag)
{
	size_t i;

	for (i = 0; i < sizeof(ekus) / sizeof(ekus[0]); i++)
		if (ekus[i].flag == flag)
			return ekus[i].name;
	return NULL;
}

/* Sorted copies of the SANs: the same names in another order ask the same. */
static int san_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Each field ends in its NUL, so no two requests hash the same text. */
static int hash_field(EVP_MD_CTX *ctx, const char *s)
{
	if (s == NULL)
		s = "";
	return EVP_DigestUpdate(ctx, s, strlen(s) + 1) == 1;
}

int req_spec_hash(const struct req_spec *rs, const char *ca_id,
    char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0, i;
	char **sans = NULL, line[64], key[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t k;
	int ok;

	out[0] = '\0';
	if (ctx == NULL || (rs->nsan && (sans = malloc(rs->nsan *
	    sizeof(*sans))) == NULL)) {
		EVP_MD_CTX_free(ctx);
		return CF_ENOMEM;
	}
	for (k = 0; k < rs->nsan; k++)
		sans[k] = rs->san[k];
	if (rs->nsan)
		qsort(sans, rs->nsan, sizeof(*sans), san_cmp);
	snprintf(line, sizeof line, "%s|eku %u|days %d",
	    key_spec_describe(&rs->key, key, sizeof key), rs->eku, rs->days);
	ok = EVP_DigestInit_ex(ctx, crypto_sha256(), NULL) == 1 &&
	    hash_field(ctx, ca_id) && hash_field(ctx, rs->subject) &&
	    hash_field(ctx, line);
	for (k = 0; k < rs->nsan; k++)
		ok = ok && hash_field(ctx, sans[k]);
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
	EVP_MD_CTX_free(ctx);
	free(sans);
	if (!ok)
		return CF_ECRYPTO;
	for (i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02X", md[i]);
	return 0;
}
