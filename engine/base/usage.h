/*
 * Usages: the roles a certificate is assigned to on a server, after the
 * wizard's defaults (Default/MTLS, Web Services Internal and External).
 */
#ifndef CF_USAGE_H
#define CF_USAGE_H

enum usage {
	USAGE_DEFAULT,              /* MTLS: client and server connections */
	USAGE_WS_INTERNAL,          /* internal web services site */
	USAGE_WS_EXTERNAL,          /* external web services site */
	USAGE_MAX
};

#define USAGE_ALL ((1u << USAGE_MAX) - 1)

/* Where a server keeps its trust stores and certificates: server paths. */
struct store_paths {
	char *roots;
	char *intermediates;
	char *certs;
};

/* How one usage is installed: file paths on the server, a reload command. */
struct usage_binding {
	char *cert;                 /* NULL: <certs>/<usage>.pem */
	char *key;                  /* NULL: <certs>/<usage>.key */
	char **reload;              /* argument vector, NULL-ended, or NULL */
	int reload_timeout;         /* seconds */
};

/* The name used in fleet files, file names and reports. */
const char *usage_name(enum usage u);

/* The usage called name, or -1. */
int usage_from_name(const char *name);

/* The EKUs (enum eku_flags) a certificate needs to serve usage u. */
unsigned usage_eku_needed(enum usage u);

#endif
