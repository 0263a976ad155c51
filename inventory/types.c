/*
 * The tables of CA types and transports. A new driver is a row here and a
 * row in cmd/drivers.c.
 */
#include "inventory/types.h"

#include <stddef.h>

const char *const transport_type_names[] = {
	[TRANSPORT_LOCAL] = "local",
	[TRANSPORT_SSH] = "ssh",
	NULL
};

const char *const ca_type_names[] = {
	[CA_LOCAL] = "local",
	[CA_ACME] = "acme",
	[CA_COMMAND] = "command",
	NULL
};
