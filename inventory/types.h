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

/* The type called name, or -1. */
int transport_type_from_name(const char *name);
int ca_type_from_name(const char *name);

/* The name of a type ("local", "ssh", "acme", "command"). */
const char *transport_type_name(enum transport_type t);
const char *ca_type_name(enum ca_type t);

/* Every name, "a, b or c", for messages. */
const char *transport_type_names(void);
const char *ca_type_names(void);

#endif
