/*
 * The fleet: everything a run needs from the fleet file, validated. After
 * fleet_load succeeds, every name, address, path and variable in it has
 * passed the checks in this layer, and later layers may rely on that.
 */
#ifndef CF_FLEET_H
#define CF_FLEET_H

#include "engine/base/renew.h"
#include "engine/base/san.h"
#include "engine/base/usage.h"
#include "inventory/diag.h"
#include "inventory/hooks.h"
#include "inventory/rollout.h"
#include "inventory/template.h"
#include "inventory/types.h"
#include "inventory/vars.h"

#include <stdbool.h>
#include <stddef.h>


/* How an ssh server is reached; local paths are resolved. */
struct ssh_settings {
	char *user;
	int port;                   /* 0: ssh's default */
	char *identity_file;
	char *ssh_config;
	char *known_hosts;
	bool accept_new;            /* host_key_policy = "accept-new" */
	int connect_timeout;        /* seconds */
};


/* ca = { type = "acme"; ... }: paths resolved, URLs checked. */
struct fleet_acme {
	char *directory;
	char **contact;             /* NULL-ended */
	size_t ncontact;
	char *tls_ca_file;          /* NULL: the system store */
	char *account_key;          /* default <state_dir>/acme/account.key */
	char *eab_kid;
	char *eab_hmac_key;
	char *preferred_chain;
};

/* ca = { type = "command"; ... }: a certmonger helper, its path resolved. */
struct fleet_command {
	char **helper;              /* argv, NULL-ended; argv[0] a path */
	size_t nhelper;
	char *profile;              /* CERTMONGER_CA_PROFILE, or NULL */
	char *nickname;             /* CERTMONGER_CA_NICKNAME, or NULL */
	int timeout;                /* seconds per helper run */
};

struct server {
	char *name;
	char *address;
	enum transport_type transport;
	char *root;                 /* local: resolved directory; ssh: base
	                               directory on the server, or NULL */
	struct ssh_settings ssh;
	bool keygen_server;         /* keygen = "server": the key is made on
	                               the server and never leaves it */
	char **groups;              /* NULL-ended */
	size_t ngroups;
	struct vars vars;           /* fleet vars, then the server's own */
	const struct usage_table *utab; /* the fleet's (borrowed) */
	unsigned usages;            /* bit (1 << index in utab) */
	struct store_paths store;
	struct usage_binding *bindings; /* one per usage of utab */
	unsigned nbindings;
	char *webroot;              /* http-01 files go below it, or NULL */
	char *file;                 /* where the server is defined */
	int line;
	char *verify_address;       /* rollout: where verify connects, or
	                               NULL: address */
	struct rollout_verify *verify;  /* the server's own verify list */
	size_t nverify;
	bool verify_set;            /* it has one (else the rollout's) */
	char *request;              /* its template's name in `requests`, or
	                               NULL: the top-level `request` */
	const struct template *tmpl;    /* resolved by fleet_load */
	int approval;               /* -1: ca.approval; 0 auto; 1 manual */
	long split_of;              /* the index in servers of the entry whose
	                               second certificate this is, or -1 */
	bool manual_approval;       /* resolved: its requests wait for
	                               `certfleet approve` */
	struct renew_policy renew;  /* the fleet's, then the server's own;
	                               offset_s from the fleet and its name */
	struct renew_at {           /* where the renewal keys it has come
	                               from (0: the fleet's); the files are
	                               the cfg's, valid only while loading */
		const char *before_file, *jitter_file;
		int before, jitter, reuse;
	} renew_at;
};

struct fleet_ca {
	enum ca_type type;
	char *root_cert;
	char *root_key;
	char *issuing_cert;
	char *issuing_key;
	char **allowed_domains;     /* NULL-ended; empty: any */
	size_t ndomains;
	struct cidr *allowed_ips;
	size_t nips;
	bool manual_approval;
	char **trusted_roots;       /* SHA-256 hex, upper case, NULL-ended */
	size_t ntrusted;
	int max_wait;               /* seconds a server waits on the CA in
	                               one run before it stays pending */
	struct fleet_acme acme;
	struct fleet_command command;
};

/* One entry of `requests = { NAME = "file" or { ... }; }`. */
struct named_request {
	char *name;
	struct template tmpl;
	bool ok;                    /* parsed cleanly */
};

struct fleet {
	char *path;                 /* the fleet file as given */
	char *name;
	char *state_dir;            /* resolved */
	int concurrency;
	int renew_before_days;      /* renew.days, or -1 for a fraction */
	struct renew_policy renew;  /* fleet-level renewal policy */
	bool assign;
	struct fleet_ca ca;
	struct template tmpl;       /* the top-level `request`, if any */
	struct named_request *requests;     /* `requests`, in file order */
	size_t nrequests;
	struct usage_table utab;    /* predefined, then the file's own */
	struct fleet_usage {
		char *file;         /* where the file defines it (owned), */
		int line;           /* or NULL and 0 */
		const struct named_request *request;    /* its certificate's
		                       template, whatever the server's; NULL:
		                       the server's own */
		int port;           /* its rollout verify port, or 0 */
	} uinfo[USAGE_CAP];         /* by index in utab */
	unsigned usages;            /* the fleet-wide default selection */
	struct server *servers;
	size_t nservers;
	struct fleet_rollout rollout;
	struct fleet_hooks hooks;
};

/* Frees what f holds; f is then as fleet_load starts it. */
void fleet_release(struct fleet *f);

/*
 * Reads and validates the fleet file at path. Returns 0 when it is clean;
 * otherwise CF_ECONFIG with every problem in d (as FILE:LINE: text). The
 * fleet must be released either way.
 */
int fleet_load(struct fleet *f, const char *path, struct diags *d);

/*
 * Fills out (initialised by the caller) with server s's expanded request.
 * Returns 0, or an error with the reason in msg; fleet_load has already
 * proven that it succeeds for every server.
 */
int fleet_server_request(const struct fleet *f, const struct server *s,
    struct req_spec *out, char *msg, size_t msgsz);

/*
 * Reads the fleet file at path into cfg (which the caller destroys on
 * success) with its @include directory, and c to match. Returns 0, or
 * CF_ECONFIG with the problems in d, or CF_ENOMEM.
 */
int fleet_cfg_open(config_t *cfg, struct cfg *c, const char *path,
    struct diags *d);

/* The server called name, or NULL. */
const struct server *fleet_server_find(const struct fleet *f,
    const char *name);

/* True when s's name or one of its groups matches pattern, a name or an
 * fnmatch(3) glob (for --limit and --exclude; see select.h). */
bool server_matches(const struct server *s, const char *pattern);

#endif
