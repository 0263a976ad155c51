/*
 * The run's journal: durable state in SQLite, so that a killed run loses
 * nothing and the next run resumes each server's open request instead of
 * issuing a second certificate. Blocking calls on the loop thread; one
 * struct journal per thread, never shared across fork(). Every value is
 * bound, never formatted into SQL. Private keys never enter the journal:
 * only the path of the key file (key_path) is stored.
 *
 * Schema (PRAGMA user_version = JOURNAL_SCHEMA_VERSION; WAL, synchronous=FULL,
 * foreign keys on):
 *
 *   runs(id INTEGER PRIMARY KEY, command TEXT NOT NULL,
 *        started_at INTEGER NOT NULL, finished_at INTEGER, pid INTEGER,
 *        exit_code INTEGER)
 *      one row per certfleet invocation that writes.
 *
 *   requests(id INTEGER PRIMARY KEY, server TEXT NOT NULL,
 *        run_id INTEGER REFERENCES runs(id), state TEXT NOT NULL,
 *        ca_status TEXT, ca_ref TEXT, csr_pem TEXT, key_path TEXT,
 *        cert_pem TEXT, thumbprint TEXT, sha256 TEXT, not_after INTEGER,
 *        chain_status TEXT, chain_detail TEXT, missing_json TEXT,
 *        usages TEXT, approved INTEGER NOT NULL DEFAULT 0, error TEXT,
 *        retry_at INTEGER, attempts INTEGER NOT NULL DEFAULT 0,
 *        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
 *        final INTEGER NOT NULL DEFAULT 0, alt_chains TEXT,
 *        request_hash TEXT)
 *      one row per certificate request; the current state of each. A
 *      server has at most one row with final = 0 that matters: the newest.
 *      approved is written only by journal_approve, never by a save.
 *
 *   events(id INTEGER PRIMARY KEY,
 *        request_id INTEGER NOT NULL REFERENCES requests(id),
 *        server TEXT NOT NULL, at INTEGER NOT NULL, state TEXT NOT NULL,
 *        ca_status TEXT, detail TEXT)
 *      append-only history: every transition and every status the CA
 *      returned, written in the same transaction as the requests row.
 *
 *   servers(name TEXT PRIMARY KEY, run_id INTEGER REFERENCES runs(id),
 *        command TEXT NOT NULL, status TEXT NOT NULL,
 *        request_id INTEGER REFERENCES requests(id), report TEXT NOT NULL,
 *        updated_at INTEGER NOT NULL)
 *      what the last run or assign found on each server, made request or
 *      not: its report row as JSON (report_row_to_json), so status says
 *      what run said.
 *
 * Times are seconds since the epoch. Integer columns whose value is 0 in
 * struct journal_request (run_id, not_after, retry_at) are stored as NULL
 * and read back as 0; NULL strings are stored as NULL.
 */
#ifndef CF_JOURNAL_H
#define CF_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_SCHEMA_VERSION 3

/* Room for the prepared statements journal.c keeps (see enum stmt_id). */
#define JOURNAL_NSTMT 21

struct sqlite3;
struct sqlite3_stmt;

struct journal {
	struct sqlite3 *db;
	struct sqlite3_stmt *stmt[JOURNAL_NSTMT];
	char *path;                 /* for messages */
	bool grouped;               /* writes wait for journal_commit */
	bool open;                  /* grouped writes not committed yet */
	bool lost;                  /* SQLite rolled them back (an error) */
};

/*
 * One requests row. Every string is owned (malloc) or NULL; set them with
 * journal_strset. ca_ref is the CA's handle for the request: the local CA's
 * request id or the ACME order URL. cert_pem is the leaf and chain as the
 * CA returned them. missing_json names the CAs the server's stores lack.
 */
struct journal_request {
	int64_t id;                 /* 0 until journal_request_new */
	char *server;               /* required */
	int64_t run_id;             /* 0: none */
	char *state;                /* required: the job state name */
	char *ca_status;            /* issued, pending, denied, error */
	char *ca_ref;
	char *csr_pem;
	char *key_path;
	char *cert_pem;
	char *thumbprint;           /* SHA-1 of the DER, upper-case hex */
	char *sha256;
	int64_t not_after;          /* 0: unknown */
	char *chain_status;
	char *chain_detail;
	char *missing_json;
	char *usages;
	int approved;               /* 0 or 1 */
	char *error;
	int64_t retry_at;           /* 0: none */
	int attempts;               /* submissions so far, for back-off */
	int64_t created_at;         /* set by the journal */
	int64_t updated_at;         /* set by the journal */
	int final;                  /* 1: done, never resumed */
	char *alt_chains;           /* JSON: {"preferred": bool, "chains":
	                               [PEM...]}, the CA's other chains */
	char *request_hash;         /* what was asked, and of which CA
	                               (req_spec_hash) */
};

/* One servers row: what the last run found on a server. Strings owned. */
struct journal_server {
	char *name;
	int64_t run_id;
	char *command;              /* "run", "assign" */
	char *status;               /* the report status word */
	int64_t request_id;         /* the request it is about, or 0 */
	char *report;               /* the report row as JSON */
	int64_t updated_at;         /* set by the journal */
};

/*
 * Opens (creating when missing) the journal at path: its directory with
 * mode 0700, the file with 0600, the schema when new. Returns 0, or CF_EDB
 * (not a journal, a newer schema, a SQLite error), CF_EIO (a symlink at
 * path, a file system error), CF_EEXIST (a file where a directory should
 * be) or CF_ENOMEM, with the reason in msg; on failure j holds nothing
 * and journal_close on it is harmless.
 */
int journal_open(struct journal *j, const char *path, char *msg,
    size_t msgsz);

/* Finalizes every statement and closes the database; j may be reused. */
void journal_close(struct journal *j);

/*
 * Group commit. While grouped, every write (request, event, servers row)
 * joins one open transaction, each in a savepoint of its own so that a
 * failed write undoes only itself, and nothing is durable until
 * journal_commit: a caller starts the side effect a write announces only
 * once journal_commit has returned 0. journal_group(j, false) commits
 * what is open and returns that result. Reads see the open writes.
 */
int journal_group(struct journal *j, bool on, char *msg, size_t msgsz);

/* True when grouped writes wait for journal_commit. */
bool journal_uncommitted(const struct journal *j);

/*
 * Commits the grouped writes in one transaction (one sync of the WAL with
 * synchronous=FULL). Returns 0 (also when nothing was open), or CF_EDB
 * when none of them is durable: the commit failed, or SQLite had rolled
 * the transaction back after an error in one of them.
 */
int journal_commit(struct journal *j, char *msg, size_t msgsz);

/* Records the start of a run (command line, now, our pid) in *run_id. */
int journal_run_begin(struct journal *j, const char *command,
    int64_t *run_id, char *msg, size_t msgsz);

/* Records the end of run run_id with its exit code. CF_ENOENT if unknown. */
int journal_run_end(struct journal *j, int64_t run_id, int exit_code,
    char *msg, size_t msgsz);

/* Fills rq with an empty request (every pointer NULL, every number 0). */
void journal_request_init(struct journal_request *rq);

/* Frees the strings rq holds and leaves it as journal_request_init does. */
void journal_request_release(struct journal_request *rq);

/*
 * Replaces the owned string *dst with a copy of src (NULL clears it).
 * Returns 0 or CF_ENOMEM, in which case *dst is unchanged.
 */
int journal_strset(char **dst, const char *src);

/*
 * Inserts rq as a new request and its first event, in one transaction;
 * fills rq->id, created_at and updated_at. server and state are required.
 */
int journal_request_new(struct journal *j, struct journal_request *rq,
    char *msg, size_t msgsz);

/*
 * Writes every column of rq to its row (by rq->id) and appends an event
 * with rq's state, ca_status and event_detail (may be NULL), in one
 * transaction, so the history and the row never disagree. Returns 0,
 * CF_ENOENT when the row does not exist, or CF_EDB; on failure neither is
 * written.
 */
int journal_request_save(struct journal *j, const struct journal_request *rq,
    const char *event_detail, char *msg, size_t msgsz);

/*
 * The server's newest request that is not final, into out (which must be
 * initialized; what it held is released first): the one a resumed run
 * continues. Returns 0, CF_ENOENT when there is none, or CF_EDB. The caller
 * releases out.
 */
int journal_request_open(struct journal *j, const char *server,
    struct journal_request *out, char *msg, size_t msgsz);

/* Like journal_request_open, but the newest request whatever its state. */
int journal_request_latest(struct journal *j, const char *server,
    struct journal_request *out, char *msg, size_t msgsz);

/*
 * Like journal_request_open, but the newest request that was assigned
 * (state "assigned"): the certificate the server was last given. CF_ENOENT
 * when none was.
 */
int journal_request_assigned(struct journal *j, const char *server,
    struct journal_request *out, char *msg, size_t msgsz);

/*
 * Approves the server's open request if the CA holds it or is about to
 * (submit, pending, poll): sets approved = 1 and records an event
 * ("approved"). Returns 0, CF_ENOENT with a message when the server has no
 * such request, or CF_EDB. Safe while a run holds the row: a save never
 * writes approved back.
 */
int journal_approve(struct journal *j, const char *server, char *msg,
    size_t msgsz);

/* Reads the approved column of request id as it is now on disk. */
int journal_request_approved(struct journal *j, int64_t id, int *approved,
    char *msg, size_t msgsz);

void journal_server_init(struct journal_server *s);
void journal_server_release(struct journal_server *s);

/* Records (replaces) what a run found on server s->name. */
int journal_server_save(struct journal *j, const struct journal_server *s,
    char *msg, size_t msgsz);

/* What the last run found on name, into out (initialised; what it held is
 * released first). 0, CF_ENOENT when no run has recorded it, or CF_EDB. */
int journal_server_get(struct journal *j, const char *name,
    struct journal_server *out, char *msg, size_t msgsz);

/* When the last run that exited 0 finished, into *at (0 when none has).
 * Returns 0 or CF_EDB. */
int journal_last_success(struct journal *j, int64_t *at, char *msg,
    size_t msgsz);

/* The ids of every open request (final = 0), ascending, as a new array
 * (*ids, the caller frees it; NULL when none). */
int journal_open_ids(struct journal *j, int64_t **ids, size_t *n, char *msg,
    size_t msgsz);

/*
 * Counts events in *n; server and state each filter when not NULL (so
 * NULL, NULL counts every event).
 */
int journal_events_count(struct journal *j, const char *server,
    const char *state, int64_t *n, char *msg, size_t msgsz);

#endif
