/*
 * Assignment: install one issued certificate, its chain and its private key
 * for each of a server's usages, run each usage's reload command, and roll
 * every usage back to its previous set when any step fails. Asynchronous,
 * on the loop thread, through a transport (transport.h); it never touches a
 * file or runs a command itself, never logs, and never lets the private key
 * into a message.
 *
 * Layout on the server, for usage U and certificate store C (store.certs):
 *
 *   C/.certfleet/U/<version>/cert.pem   leaf then chain, 0644
 *   C/.certfleet/U/<version>/key.pem    private key, 0600 from its first byte
 *   C/U                  -> .certfleet/U/<version>   the pointer (symlink)
 *   C/U.pem              -> U/cert.pem               stable symlinks,
 *   C/U.key              -> U/key.pem                made once
 *
 * A usage whose binding names a chain (intermediates only), a fullchain
 * (leaf then intermediates; neither holds the root) or a pkcs12 file (key, leaf and chain,
 * encrypted; 0600) gets chain.pem, fullchain.pem or cert.p12 in the same
 * version directory, linked from those paths: every file of a usage
 * switches, and rolls back, with the one pointer.
 *
 * Key, certificate and chain change as one unit: a new version directory is
 * written and synced completely, then the pointer C/U is switched by
 * renaming a new symlink over it, which is one atomic step. Two symlinks
 * (U.pem, U.key) could not be switched together; one pointer can. A reader
 * resolving U.pem and U.key at one instant goes through the same pointer, so
 * it never sees a new certificate with an old key. A reader that opens the
 * two files at different moments, across a switch, still can: a program
 * that must never mismatch opens the directory C/U once and reads cert.pem
 * and key.pem relative to it (openat).
 *
 * A usage bound to explicit paths (usage_bindings { cert = "etc/nginx/
 * ext.pem"; key = ... }) works the same way: those paths become the stable
 * symlinks into C/U/. When such a path already holds a regular file the
 * first time, its bytes and mode are kept as the version
 * C/.certfleet/U/previous, which is what a rollback then restores.
 *
 * Versions are named by UTC time to the nanosecond plus a random suffix
 * ("20250101T120000.123456789Z-1a2b3c4d"): they sort and never collide. The
 * new version and the one before it stay on disk; older ones are pruned on
 * each install. A rollback is one rename of the pointer back.
 *
 * Order of work, for each usage the server has, in enum usage order:
 * install, then that usage's reload command (when set). The first failure
 * stops the forward run; every usage already switched (the failing one
 * included) is rolled back, newest first, and its reload command is run
 * again, best effort. The key and the certificate are checked to belong
 * together before anything is written.
 *
 * A reload command gets the CERTFLEET_* variables of reload_env.h in its
 * environment, describing what is in place when it runs: the new
 * certificate, and the SHA-256 of the one the pointer named before it
 * (read from that version's cert.pem once, just before the first reload
 * of the usage). After a rollback they describe the certificate restored
 * (all "" when there was none), and CERTFLEET_PREVIOUS_SHA256 is the new
 * certificate's, which the rollback took away.
 */
#ifndef CF_ASSIGN_H
#define CF_ASSIGN_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "engine/assign/reload_env.h"
#include "engine/transport/transport.h"
#include "engine/base/usage.h"

/* Reload commands without a timeout of their own get this many seconds. */
#define ASSIGN_RELOAD_TIMEOUT 30

/* Largest certificate file read_current reads by default. */
#define ASSIGN_CERT_MAX (1024 * 1024)

/* A PKCS#12 file made for a usage (assign_pkcs12), DER. */
struct assign_blob {
	unsigned char *data;
	size_t len;
};

/* What to assign, and where. Everything is copied by assign_start. */
struct assign_input {
	const char *server;                 /* name, for messages */
	const struct usage_table *utab;     /* names; NULL: the predefined */
	unsigned usages;                    /* bit (1 << index in utab) */
	const char *certs;                  /* store.certs: server path */
	const struct usage_binding *bindings;   /* an entry per usage of
	                                           utab, or NULL: default
	                                           paths, no reload commands */
	const struct assign_blob *p12;      /* [USAGE_CAP]: for the usages
	                                       bound to a pkcs12 file, or
	                                       NULL when none is */
	const char *cert_pem;               /* leaf first, then the chain */
	size_t cert_len;
	const char *key_pem;                /* secret */
	size_t key_len;
	const char *key_on_server;          /* or: the server path of a key
	                                       made on the server (keygen =
	                                       "server"); key_pem is then
	                                       NULL and the pair was proven
	                                       through its CSR */
	const char *fleet;                  /* for reload commands: the
	                                       fleet's name and the server's */
	const char *address;                /* address, or NULL ("") */
	bool pair_checked;                  /* the caller has run
	                                       assign_check_pair on exactly
	                                       these bytes (off the loop) */
};

/*
 * Checks that key_pem (the first private key in it) belongs to the first
 * certificate in cert_pem, and that cert_pem holds no private key (it is
 * written world-readable). parsed is that first certificate when the
 * caller has it already, or NULL. Returns 0, or CF_EINVAL with the reason
 * in msg (never any key material). Pure: any thread.
 */
int assign_check_pair(const char *server, const char *cert_pem,
    size_t cert_len, X509 *parsed, const char *key_pem, size_t key_len,
    char *msg, size_t msgsz);

/* Where the run is. */
enum assign_state {
	ASSIGN_IDLE,                /* not started */
	ASSIGN_INSTALL,             /* waits for the transport's install */
	ASSIGN_RELOAD,              /* waits for a reload command (or the
	                               read of the previous certificate
	                               before it) */
	ASSIGN_ROLLBACK,            /* waits for a rollback */
	ASSIGN_RERELOAD,            /* waits for a reload after a rollback
	                               (or that read) */
	ASSIGN_DONE                 /* done has been called */
};

/* One usage's part of the run (private to assign.c). */
struct assign_usage {
	unsigned usage;             /* index in the input's table */
	char name[USAGE_NAME_MAX + 1];
	char *store;
	char *pointer;
	char *cert;
	char *key;
	char *chain;                /* bound paths, or NULL */
	char *fullchain;
	char *pkcs12;
	struct assign_blob p12;     /* its bytes, when pkcs12 is set */
	char **reload;              /* NULL-ended copy, or NULL */
	unsigned timeout_ms;
	struct transport_undo *undo;    /* set once switched */
	struct reload_cert prev;    /* what undo->previous holds, once read */
	bool prev_read;
};

struct assign {
	/* Results, valid when done runs. */
	int status;                 /* 0, or the failing step's CF_E* code */
	unsigned assigned;          /* usages holding the new certificate */
	unsigned rolled_back;       /* usages restored to their previous set */
	char msg[1024];             /* why it failed, for an operator */
	void *data;                 /* the caller's; assign never touches it */

	/* Private. */
	enum assign_state state;
	struct transport *t;
	char *server;
	char *cert_pem;
	size_t cert_len;
	char *chain_pem;            /* the intermediates (no root) */
	char *fullchain_pem;        /* the leaf, then chain_pem */
	char *key_pem;
	size_t key_len;
	char *key_from;             /* key_on_server, copied */
	char *fleet;
	char *address;
	struct reload_cert cert;    /* the new certificate's leaf */
	transport_run_cb reload_cb; /* the reload the read of prev precedes */
	struct assign_usage *use;   /* one per usage assigned */
	size_t nuse;
	size_t cur;                 /* the usage being worked on */
	bool failed;                /* going backwards */
	size_t failed_at;           /* the usage whose step failed */
	unsigned had_previous;      /* usages that had a set before */
	void (*done)(struct assign *a, int status);
};

/*
 * Starts assigning in->cert_pem and in->key_pem to the usages in
 * in->usages through t (which must stay open until done has run). Checks
 * the pair and the paths first: on an error it returns CF_EINVAL/CF_ENOMEM
 * with msg, nothing has been written and done will not be called. On 0,
 * done(a, a->status) runs once, later, from the loop. a is filled here
 * (its old contents are not looked at); in and what it points to may be
 * freed as soon as this returns. Call assign_release after done, or after
 * a failed start.
 */
int assign_start(struct assign *a, struct transport *t,
    const struct assign_input *in, void (*done)(struct assign *a, int status),
    char *msg, size_t msgsz);

/*
 * After a run that succeeded (done called with 0, a not yet released):
 * rolls every usage that held a certificate before back to it and runs
 * its reload command again, as a failed run would; a usage that held
 * none keeps the new one. why starts a->msg, the rollback's outcome is
 * appended. Returns 0 and calls done(a, CF_ECHAIN) once, later; CF_ENOENT
 * when no usage had a previous set (nothing to do, done not called);
 * CF_EINVAL when a is not such a run.
 */
int assign_undo(struct assign *a, const char *why,
    void (*done)(struct assign *a, int status));

/*
 * Makes usage's PKCS#12 file for binding b into out: the key in key_pem,
 * the leaf and chain of cert_pem (NUL-terminated), encrypted with
 * AES-256-CBC (PBKDF2) and the first line of b->pkcs12_passphrase_file, a
 * controller path read now. Any thread. Returns 0 (release out with
 * assign_blob_release), or a CF_E* code with msg, which never holds the
 * passphrase.
 */
int assign_pkcs12(const char *server, const char *usage,
    const struct usage_binding *b, const char *cert_pem,
    const char *key_pem, size_t key_len, struct assign_blob *out,
    char *msg, size_t msgsz);

/* The intermediates of cert_pem (leaf first), as PEM: the certificates
 * after the leaf but the self-signed root; "" when there are none. A new
 * string, or NULL when out of memory or cert_pem is not PEM. Any thread. */
char *assign_intermediates_pem(const char *cert_pem);

/* Frees (cleansed) what b holds. */
void assign_blob_release(struct assign_blob *b);

/*
 * Frees what a holds (undo records, paths, the key copy, cleansed); the
 * results stay readable. Not while a run is in flight: only after done, or
 * a failed assign_start. May be called from inside done.
 */
void assign_release(struct assign *a);

/*
 * The server path at which usage u's certificate (assign_cert_path) or key
 * (assign_key_path) is read: the binding's path (b may be NULL), or
 * "<certs>/<usage>.pem" / ".key". A new string the caller frees; NULL when
 * out of memory, or when neither certs nor the binding gives a path.
 */
char *assign_cert_path(const char *certs, const struct usage_binding *b,
    const char *usage);
char *assign_key_path(const char *certs, const struct usage_binding *b,
    const char *usage);

/*
 * Starts reading the certificate currently assigned to usage (leaf, then
 * chain) through t, for inspect: cb gets the PEM, or CF_ENOENT when nothing
 * is assigned. max 0 means ASSIGN_CERT_MAX. Returns 0 when started, or
 * CF_EINVAL / CF_ENOMEM (cb is then not called).
 */
int assign_read_current(struct transport *t, const char *certs,
    const struct usage_binding *b, const char *usage, size_t max,
    transport_file_cb cb, void *arg);

#endif
