/*
 * The transport interface: how the engine reaches one server's files and
 * commands. The engine calls t->ops->install(...) and never knows whether a
 * directory on this machine (transport_local.c) or an ssh connection
 * (transport_ssh.c and its shell helper, ssh_remote.sh) is behind it; a
 * transport never knows about CAs, usages or jobs. Both keep every rule
 * below; tests/unit/test_transport_conformance.c runs the same tests
 * against each, so that they cannot drift.
 *
 * Rules every transport keeps (the engine relies on them):
 *
 * - Asynchronous, on the loop thread. An operation returns 0 when it has
 *   started; its callback then runs exactly once, from the loop, and never
 *   from inside the call that started it. An operation that returns a
 *   negative CF_E* code (CF_ENOMEM; CF_EINVAL for a missing argument or a
 *   transport being closed) has not started and never calls back.
 * - Server paths. Every path argument is a path on the server: absolute
 *   ("/etc/ssl/x") or relative ("certs/x"); a transport decides what they
 *   are relative to (the local transport takes both below the server's
 *   root; over ssh the root is a base for paths, and the server's own
 *   symlinks are followed). Paths with a ".." component or a control
 *   character are refused: install, rollback, write_file and remove at
 *   once (CF_EINVAL), reads through the callback. The engine never builds
 *   a local file name itself.
 * - Borrowed results. Data handed to a callback (file bytes, store entries,
 *   command output, msg) is valid until the callback returns; copy what you
 *   keep. Argument data is copied before the call returns.
 * - Secrets. Installed key bytes are copied once, cleansed after writing,
 *   and never appear in a message; messages name paths, never contents.
 * - Messages read "cannot read 'certs/x.pem' on 'web01': <reason>", lower
 *   case, no full stop.
 */
#ifndef CF_TRANSPORT_H
#define CF_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

/* Command output kept per stream (stdout, stderr) for messages. */
#define TRANSPORT_CAPTURE 4096

/* A file or store read: at most this many files in one store. */
#define TRANSPORT_STORE_MAX 4096

struct transport;

/* One file of a store, in name order. */
struct transport_entry {
	const char *name;           /* file name, no directory */
	const char *data;           /* NUL-terminated one byte past len */
	size_t len;
};

/*
 * One file of an installed set: written as name inside a new version
 * directory, and reachable at the server path link through the set's
 * pointer (link -> <pointer>/<name>).
 */
struct transport_member {
	const char *name;           /* "cert.pem", no '/' */
	const char *link;           /* server path: "certs/default.pem" */
	const void *data;
	size_t len;
	unsigned mode;              /* exact permissions: 0644, 0600 */
	const char *from;           /* or NULL: a server path whose bytes are
	                               copied instead of data (a key made on
	                               the server); transports without keygen
	                               refuse it */
};

/*
 * A set of files replaced as one unit. A transport writes the members into
 * a new directory below store, makes every member's link a symlink into
 * <pointer>/<name> (once; they never change after), then switches pointer
 * to the new directory in one atomic step (rename of a symlink). A reader
 * opening any two links at one instant resolves them through the same
 * pointer, so it never sees a new certificate with an old key. The version
 * the pointer named before stays on disk and the undo record names it;
 * anything else in store (older versions, leftovers) is pruned. Links are
 * relative symlinks ("default/cert.pem", ".certfleet/default/<version>"),
 * so the layout is the same whichever transport made it.
 *
 * Version names: the UTC time the version was made, to the nanosecond,
 * then '-' and 8 random lower-case hex digits, so that names sort by time
 * and two made at once do not collide: "YYYYMMDDTHHMMSS.NNNNNNNNNZ-xxxxxxxx"
 * (20250101T120000.123456789Z-1a2b3c4d). The one other name is "previous",
 * below.
 *
 * When pointer does not exist yet but a link path holds a regular file (a
 * certificate installed by hand), its bytes are first kept as the version
 * "<store>/previous" and the pointer is made to name it, so the hand-made
 * set is what a rollback restores (as symlinks, with the same bytes and
 * modes).
 */
struct transport_set {
	const char *store;          /* "certs/.certfleet/default" */
	const char *pointer;        /* "certs/default" */
	const struct transport_member *members;
	size_t nmembers;
};

/*
 * What a rollback needs to undo one install: server paths only, so the
 * journal can keep it and any transport can replay it.
 */
struct transport_undo {
	char *store;                /* the set's store */
	char *pointer;              /* the pointer symlink */
	char *previous;             /* version it named before; NULL: none */
	char *current;              /* version the install made */
	char **links;               /* the members' links, NULL-ended */
};

/* Result of a command. out and err are NUL-terminated, cut to
 * TRANSPORT_CAPTURE bytes each. */
struct transport_run_result {
	int exit_status;            /* exit code; -1 when killed by a signal */
	int term_signal;            /* the signal, or 0 */
	const char *out;
	size_t outlen;
	const char *err;
	size_t errlen;
};

/* data is NULL on failure; status CF_ENOENT when the file is missing. */
typedef void (*transport_file_cb)(void *arg, int status, const char *data,
    size_t len, const char *msg);
/* A missing path is status 0 with n == 0. */
typedef void (*transport_store_cb)(void *arg, int status,
    const struct transport_entry *entries, size_t n, const char *msg);
/* undo (the callback owns it; transport_undo_free) is not NULL whenever
 * the pointer was switched, even if status reports a later failure. */
typedef void (*transport_install_cb)(void *arg, int status,
    struct transport_undo *undo, const char *msg);
typedef void (*transport_status_cb)(void *arg, int status, const char *msg);
/* status: 0 when the command ran to its end (whatever its exit code),
 * CF_ETIMEDOUT when it overran and was killed, CF_ETRANSPORT when it could
 * not be started; r is never NULL. */
typedef void (*transport_run_cb)(void *arg, int status,
    const struct transport_run_result *r, const char *msg);

struct transport_ops {
	const char *name;           /* "local", "ssh" */

	/* Reading. read_file refuses files larger than max (CF_EINVAL).
	 * read_store reads a directory of files (not recursive, regular
	 * files only, sorted by name, names starting with '.' skipped) or
	 * one file (its base name as the entry name); each at most max. */
	int (*read_file)(struct transport *t, const char *path, size_t max,
	    transport_file_cb cb, void *arg);
	int (*read_store)(struct transport *t, const char *path, size_t max,
	    transport_store_cb cb, void *arg);

	/* Writing. One install or rollback per pointer at a time; sets
	 * with different pointers may run at once. */
	int (*install)(struct transport *t, const struct transport_set *set,
	    transport_install_cb cb, void *arg);
	int (*rollback)(struct transport *t, const struct transport_undo *u,
	    transport_status_cb cb, void *arg);
	/* Replaces one file atomically (temporary name, fsync, rename,
	 * fsync of the directory), with exactly mode from its first byte;
	 * missing directories are created. For files that stand alone, such
	 * as a CA certificate imported into a store. */
	int (*write_file)(struct transport *t, const char *path,
	    const void *data, size_t len, unsigned mode,
	    transport_status_cb cb, void *arg);

	/* Optional, NULL when the transport cannot: makes a private key of
	 * keytype ("ec P-256", "rsa 3072", "ed25519"...) on the server at
	 * key_path (0600) and hands back a CSR for it (PEM, through cb) with
	 * common name cn and SANs san ("DNS:a,IP:b"). The key never crosses
	 * the transport. */
	int (*keygen)(struct transport *t, const char *keytype,
	    const char *key_path, const char *cn, const char *san,
	    transport_file_cb cb, void *arg);

	/* Removes one file (a missing one is fine). */
	int (*remove)(struct transport *t, const char *path,
	    transport_status_cb cb, void *arg);

	/* Commands: argv[0] with its arguments, never through a shell.
	 * env (NULL: none) is a NULL-ended array of "NAME=value" added to
	 * the environment the command would have anyway (a name it sets
	 * replaces that variable); NAME fits [A-Z_][A-Z0-9_]*, once each,
	 * else CF_EINVAL (env_check). A value is any bytes but NUL and
	 * arrives exactly, never parsed by a shell on the way.
	 * After timeout_ms (0: none) the command gets SIGTERM, then SIGKILL,
	 * and the status is CF_ETIMEDOUT. */
	int (*run)(struct transport *t, char *const argv[], char *const env[],
	    unsigned timeout_ms, transport_run_cb cb, void *arg);

	/* Lifetime. Waits for every operation in flight to call back, then
	 * frees t and calls cb(arg) from the loop. t is gone afterwards. */
	void (*close)(struct transport *t, void (*cb)(void *arg), void *arg);
};

struct transport {
	const struct transport_ops *ops;
	uv_loop_t *loop;
	char *server;               /* the server's name, for messages */
	const char *root;           /* the absolute directory server paths
	                               are below, as the server's commands
	                               see it (the transport's own); NULL:
	                               "/" */
};

/*
 * A server path in normal form, new: no leading '/', no empty or "."
 * components ("certs/x"; "" is the root itself). NULL when path is not
 * confined (a ".." component, a control character) or memory runs out.
 * Undo records hold server paths in this form, whatever the transport.
 */
char *transport_path_norm(const char *path);

/*
 * Server path path as the server's own commands see it: t's root joined
 * with path in normal form ("/srv/x/certs/a.pem"), new. NULL when path is
 * not confined or memory runs out.
 */
char *transport_path_real(const struct transport *t, const char *path);

/* True when path is confined and names something below the root, not
 * the root itself: what a file operation may write or remove. */
bool transport_path_below_root(const char *path);

/*
 * 0 when set may be installed, else CF_EINVAL: store, pointer and links
 * confined and below the root; member names one plain component not
 * starting with '.'; the pointer none of the links; links and names
 * distinct; data present when len > 0; from only when with_from (a
 * transport that can copy a file made on the server), and confined.
 */
int transport_set_check(const struct transport_set *set, bool with_from);

/* A new copy of u in *out (transport_undo_free) with its paths in normal
 * form: 0, CF_EINVAL when a path of u is missing or not confined
 * (previous may be NULL), or CF_ENOMEM. */
int transport_undo_norm(const struct transport_undo *u,
    struct transport_undo **out);

/*
 * How a command that did not succeed ended, for a message that names it
 * first: "exited 3: <first line of its stderr, else stdout>", "was killed
 * by signal 9", "did not finish within 30 s and was killed" (status
 * CF_ETIMEDOUT, timeout_s its limit) or "could not be run: <msg>" (any
 * other status). Written into buf.
 */
void transport_run_describe(int status, const struct transport_run_result *r,
    unsigned timeout_s, const char *msg, char *buf, size_t bufsz);

/* Frees an undo record and everything it holds; u may be NULL. */
void transport_undo_free(struct transport_undo *u);

/* A new version name as above, for now, into buf (n >= 36 bytes):
 * "20250101T120000.123456789Z-1a2b3c4d". */
void transport_version_name(char *buf, size_t n);

#endif
