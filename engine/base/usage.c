/* The usage table: names and the EKUs each usage needs. */
#include "engine/base/usage.h"
#include "engine/base/reqspec.h"

#include <stdio.h>
#include <string.h>

static const struct usage_table builtin = {
	USAGE_PREDEFINED, {
		[USAGE_DEFAULT] = { "default", EKU_SERVER_AUTH |
		    EKU_CLIENT_AUTH },
		[USAGE_WS_INTERNAL] = { "webservices_internal",
		    EKU_SERVER_AUTH },
		[USAGE_WS_EXTERNAL] = { "webservices_external",
		    EKU_SERVER_AUTH },
	}
};

void usage_table_init(struct usage_table *t)
{
	*t = builtin;
}

const struct usage_table *usage_table_builtin(void)
{
	return &builtin;
}

bool usage_name_valid(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n <= USAGE_NAME_MAX &&
	    strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

int usage_table_add(struct usage_table *t, const char *name, unsigned eku)
{
	int u;

	if (!usage_name_valid(name))
		return -2;
	if ((u = usage_from_name(t, name)) >= 0) {
		t->def[u].eku = eku;
		return u;
	}
	if (t->n >= USAGE_CAP)
		return -1;
	memset(&t->def[t->n], 0, sizeof t->def[t->n]);
	strcpy(t->def[t->n].name, name);
	t->def[t->n].eku = eku;
	return (int)t->n++;
}

const char *usage_name(const struct usage_table *t, unsigned u)
{
	if (t == NULL)
		t = &builtin;
	return u < t->n ? t->def[u].name : "unknown";
}

int usage_from_name(const struct usage_table *t, const char *name)
{
	unsigned i;

	if (t == NULL)
		t = &builtin;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->def[i].name, name) == 0)
			return (int)i;
	return -1;
}

unsigned usage_eku_needed(const struct usage_table *t, unsigned u)
{
	if (t == NULL)
		t = &builtin;
	return u < t->n ? t->def[u].eku : 0;
}

unsigned usage_all(const struct usage_table *t)
{
	if (t == NULL)
		t = &builtin;
	return t->n >= 32 ? ~0u : (1u << t->n) - 1;
}

void usage_names_text(const struct usage_table *t, char *buf, size_t bufsz)
{
	size_t n = 0;
	unsigned i;

	if (t == NULL)
		t = &builtin;
	buf[0] = '\0';
	for (i = 0; i < t->n && n < bufsz; i++)
		n += (size_t)snprintf(buf + n, bufsz - n, "%s%s",
		    i == 0 ? "" : i + 1 == t->n ? " or " : ", ",
		    t->def[i].name);
}
