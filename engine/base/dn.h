/*
 * Distinguished names written as "CN=web01, O=Contoso": the one parser used
 * by the fleet file check and by the CA, so a subject that checks clean is
 * exactly the subject that gets signed.
 */
#ifndef CF_DN_H
#define CF_DN_H

#include <stddef.h>

#define DN_MAX 16

struct dn_rdn {
	const char *key;            /* canonical short name, static */
	char *value;                /* owned, unescaped */
};

struct dn {
	size_t n;
	struct dn_rdn rdn[DN_MAX];
};

/*
 * Parses s into dn (which the caller provides). Returns 0, or CF_EINVAL or
 * CF_ENOMEM with the reason in msg. On success the caller owns dn and frees
 * it with dn_release; on failure nothing needs freeing.
 */
int dn_parse(struct dn *dn, const char *s, char *msg, size_t msgsz);

/* Frees the values dn holds. */
void dn_release(struct dn *dn);

/* The value of the first attribute named key (e.g. "CN"), or NULL. */
const char *dn_get(const struct dn *dn, const char *key);

#endif
