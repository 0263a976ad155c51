/*
 * Usages: the roles a certificate is assigned to on a server. The wizard's
 * three (Default/MTLS, Web Services Internal and External) are predefined;
 * a fleet file may define more of its own (inventory/usages.c). The table
 * belongs to the fleet; the engine reads names and EKUs through the
 * pointer its targets carry, so there is no global mutable state.
 */
#ifndef CF_USAGE_H
#define CF_USAGE_H

#include <stdbool.h>
#include <stddef.h>

/* The predefined usages keep their indexes in every table. */
enum usage {
	USAGE_DEFAULT,              /* MTLS: client and server connections */
	USAGE_WS_INTERNAL,          /* internal web services site */
	USAGE_WS_EXTERNAL,          /* external web services site */
	USAGE_PREDEFINED
};

/* A usage is a bit of an unsigned: at most this many in a table. */
#define USAGE_CAP 32
#define USAGE_NAME_MAX 32

/* The predefined usages as a bit set. */
#define USAGE_ALL_PREDEFINED ((1u << USAGE_PREDEFINED) - 1)

/* One usage: its name (a file name on servers) and the EKUs it needs. */
struct usage_def {
	char name[USAGE_NAME_MAX + 1];
	unsigned eku;               /* enum eku_flags */
};

struct usage_table {
	unsigned n;
	struct usage_def def[USAGE_CAP];
};

/* Where a server keeps its trust stores and certificates: server paths. */
struct store_paths {
	char *roots;
	char *intermediates;
	char *certs;
};

/* How one usage is installed: file paths on the server, a reload command. */
struct usage_binding {
	char *cert;                 /* NULL: <certs>/<usage>.pem (leaf+chain) */
	char *key;                  /* NULL: <certs>/<usage>.key */
	char *chain;                /* intermediates only, or NULL: none */
	char *fullchain;            /* leaf + intermediates, or NULL: none */
	char *pkcs12;               /* key + leaf + chain, or NULL: none */
	char *pkcs12_passphrase_file;   /* controller path, read at run time */
	char **reload;              /* argument vector, NULL-ended, or NULL */
	int reload_timeout;         /* seconds */
};

/* The three predefined usages; t->n is USAGE_PREDEFINED. */
void usage_table_init(struct usage_table *t);

/* A static table holding only the predefined usages (tests, tools). */
const struct usage_table *usage_table_builtin(void);

/* True when name fits [a-z0-9_]{1,32}. */
bool usage_name_valid(const char *name);

/*
 * Adds (or finds, for a predefined name) usage name with eku. Returns its
 * index, -1 when the table is full, -2 when name is not valid.
 */
int usage_table_add(struct usage_table *t, const char *name, unsigned eku);

/* The name used in fleet files, file names and reports ("unknown" past
 * the table; t NULL means the builtin table). */
const char *usage_name(const struct usage_table *t, unsigned u);

/* The usage called name in t, or -1. */
int usage_from_name(const struct usage_table *t, const char *name);

/* The EKUs (enum eku_flags) a certificate needs to serve usage u. */
unsigned usage_eku_needed(const struct usage_table *t, unsigned u);

/* Every usage of t as a bit set. */
unsigned usage_all(const struct usage_table *t);

/* "default, smtp and ldap": t's names, for messages. */
void usage_names_text(const struct usage_table *t, char *buf, size_t bufsz);

#endif
