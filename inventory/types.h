/*
 * The names the fleet file gives CA types and transports, from one table
 * each: parsing, messages and --json all read them here.
 */
#ifndef CF_TYPES_H
#define CF_TYPES_H

#include <stddef.h>

enum transport_type {
	TRANSPORT_LOCAL,            /* a directory here is the server's root */
	TRANSPORT_SSH               /* the OpenSSH client */
};

enum ca_type {
	CA_LOCAL,                   /* the embedded CA */
	CA_ACME,                    /* an ACME server (RFC 8555) */
	CA_COMMAND                  /* a certmonger helper program */
};

/* Each type's name ("local", "ssh", "acme", "command"), indexed by its
 * enum and NULL-ended: the fleet file, messages and --json use these. */
extern const char *const transport_type_names[];
extern const char *const ca_type_names[];

#endif
