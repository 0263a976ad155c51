/*
 * A small, strict DN parser: comma-separated KEY=VALUE pairs, "\," and "\\"
 * as escapes, attribute names from a fixed list. It never accepts control
 * characters, since subjects also end up in logs and reports.
 */
#include "engine/base/dn.h"
#include "engine/base/err.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	size_t max;                 /* RFC 5280 upper bounds */
} attrs[] = {
	{ "CN", 64 }, { "O", 64 }, { "OU", 64 }, { "C", 2 }, { "ST", 128 },
	{ "L", 128 }, { "DC", 63 }, { "emailAddress", 255 },
	{ "serialNumber", 64 },
};

static int attr_find(const char *k, size_t n)
{
	size_t i;

	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
		if (strlen(attrs[i].name) == n &&
		    strncasecmp(attrs[i].name, k, n) == 0)
			return (int)i;
	return -1;
}

static const char *skip_space(const char *p)
{
	while (*p == ' ')
		p++;
	return p;
}

int dn_parse(struct dn *dn, const char *s, char *msg, size_t msgsz)
{
	const char *p = s;
	int rc = CF_EINVAL;

	memset(dn, 0, sizeof(*dn));
	for (;;) {
		const char *k, *eq;
		char *v;
		size_t vl = 0, i;
		int a;

		p = skip_space(p);
		k = p;
		eq = strchr(p, '=');
		if (eq == NULL) {
			cf_error(msg, msgsz, rc, "malformed subject '%s': "
			    "expected KEY=VALUE at '%s'", s, k);
			goto fail;
		}
		i = (size_t)(eq - k);
		while (i > 0 && k[i - 1] == ' ')
			i--;
		a = attr_find(k, i);
		if (a < 0) {
			cf_error(msg, msgsz, rc, "malformed subject '%s': unknown "
			    "attribute '%.*s' (use CN, O, OU, C, ST, L, DC, "
			    "emailAddress or serialNumber)", s, (int)i, k);
			goto fail;
		}
		if (dn->n == DN_MAX) {
			cf_error(msg, msgsz, rc, "malformed subject '%s': more "
			    "than %d attributes", s, DN_MAX);
			goto fail;
		}
		v = malloc(strlen(eq) + 1);
		if (v == NULL) {
			rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
			goto fail;
		}
		dn->rdn[dn->n].key = attrs[a].name;
		dn->rdn[dn->n].value = v;
		dn->n++;
		for (p = skip_space(eq + 1); *p && *p != ','; p++) {
			if (*p == '\\' && (p[1] == ',' || p[1] == '\\'))
				p++;
			else if (*p == '\\' || *p == '=') {
				cf_error(msg, msgsz, rc, "malformed subject '%s': "
				    "unescaped '%c' in value", s, *p);
				goto fail;
			}
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				cf_error(msg, msgsz, rc, "malformed subject '%s': "
				    "control character in value", s);
				goto fail;
			}
			v[vl++] = *p;
		}
		while (vl > 0 && v[vl - 1] == ' ')
			vl--;
		v[vl] = '\0';
		if (vl == 0) {
			cf_error(msg, msgsz, rc, "malformed subject '%s': empty "
			    "value for '%s'", s, attrs[a].name);
			goto fail;
		}
		if (vl > attrs[a].max) {
			cf_error(msg, msgsz, rc, "malformed subject '%s': '%s' "
			    "is longer than %zu characters", s, attrs[a].name,
			    attrs[a].max);
			goto fail;
		}
		if (strcmp(attrs[a].name, "C") == 0 &&
		    !(isupper((unsigned char)v[0]) &&
		      isupper((unsigned char)v[1]))) {
			cf_error(msg, msgsz, rc, "malformed subject '%s': C must "
			    "be a two-letter country code", s);
			goto fail;
		}
		if (*p == '\0')
			return 0;
		p++;
	}
fail:
	dn_release(dn);
	return rc;
}

void dn_release(struct dn *dn)
{
	size_t i;

	for (i = 0; i < dn->n; i++)
		free(dn->rdn[i].value);
	dn->n = 0;
}

const char *dn_get(const struct dn *dn, const char *key)
{
	size_t i;

	for (i = 0; i < dn->n; i++)
		if (strcasecmp(dn->rdn[i].key, key) == 0)
			return dn->rdn[i].value;
	return NULL;
}
