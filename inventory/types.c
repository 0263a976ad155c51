/*
 * The tables of CA types and transports. A new driver is a row here and a
 * row in cmd/drivers.c.
 */
#include "inventory/types.h"

#include <string.h>

static const char *const transports[] = {
	[TRANSPORT_LOCAL] = "local",
	[TRANSPORT_SSH] = "ssh",
};

static const char *const cas[] = {
	[CA_LOCAL] = "local",
	[CA_ACME] = "acme",
	[CA_COMMAND] = "command",
};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static int find(const char *const *names, int n, const char *name)
{
	int i;

	for (i = 0; name != NULL && i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

int transport_type_from_name(const char *name)
{
	return find(transports, N(transports), name);
}

int ca_type_from_name(const char *name)
{
	return find(cas, N(cas), name);
}

const char *transport_type_name(enum transport_type t)
{
	return (int)t >= 0 && (int)t < N(transports) ? transports[t] : "?";
}

const char *ca_type_name(enum ca_type t)
{
	return (int)t >= 0 && (int)t < N(cas) ? cas[t] : "?";
}

/* "a, b or c", built once into buf. */
static const char *list(const char *const *names, int n, char *buf,
    size_t bufsz)
{
	int i;

	if (buf[0] != '\0')
		return buf;
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(buf, i == n - 1 ? " or " : ", ",
			    bufsz - strlen(buf) - 1);
		strncat(buf, names[i], bufsz - strlen(buf) - 1);
	}
	return buf;
}

const char *transport_type_names(void)
{
	static char buf[128];

	return list(transports, N(transports), buf, sizeof buf);
}

const char *ca_type_names(void)
{
	static char buf[128];

	return list(cas, N(cas), buf, sizeof buf);
}
