/* The usage table: names and the EKUs each usage needs. */
#include "engine/base/usage.h"
#include "engine/base/reqspec.h"

#include <string.h>

static const struct {
	const char *name;
	unsigned eku;
} usages[USAGE_MAX] = {
	[USAGE_DEFAULT] = { "default", EKU_SERVER_AUTH | EKU_CLIENT_AUTH },
	[USAGE_WS_INTERNAL] = { "webservices_internal", EKU_SERVER_AUTH },
	[USAGE_WS_EXTERNAL] = { "webservices_external", EKU_SERVER_AUTH },
};

const char *usage_name(enum usage u)
{
	return (unsigned)u < USAGE_MAX ? usages[u].name : "unknown";
}

int usage_from_name(const char *name)
{
	int i;

	for (i = 0; i < USAGE_MAX; i++)
		if (strcmp(usages[i].name, name) == 0)
			return i;
	return -1;
}

unsigned usage_eku_needed(enum usage u)
{
	return (unsigned)u < USAGE_MAX ? usages[u].eku : 0;
}
