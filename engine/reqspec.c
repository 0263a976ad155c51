/*
 * Request specs: the tables of key types and EKUs that the check, the CA and
 * the reports all name the same way.
 */
#include "engine/reqspec.h"
#include "engine/err.h"

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
	char **n = realloc(rs->san, (rs->nsan + 1) * sizeof(*n));

	if (n == NULL)
		return CF_ENOMEM;
	rs->san = n;
	if ((n[rs->nsan] = strdup(san)) == NULL)
		return CF_ENOMEM;
	rs->nsan++;
	return 0;
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
