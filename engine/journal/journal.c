/*
 * The run's journal in SQLite (see journal.h for the schema). Every
 * statement is prepared once at open and every value is bound: nothing
 * from the inventory or the CA is ever formatted into SQL. A requests row
 * and its events row are written in one BEGIN IMMEDIATE transaction, with
 * synchronous=FULL, so that what a call reported as saved survives SIGKILL
 * and power loss; grouped (journal_group), the writes of many servers share
 * one transaction and what survives is what journal_commit reported
 * committed. Never prints, never stores a private key.
 */
#include "engine/journal/journal.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How long a writer waits for another connection's write lock (ms). */
#define BUSY_TIMEOUT_MS 5000

enum stmt_id {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_RUN_BEGIN,
	STMT_RUN_END,
	STMT_REQ_INSERT,
	STMT_REQ_UPDATE,
	STMT_REQ_OPEN,
	STMT_REQ_LATEST,
	STMT_APPROVE,
	STMT_EVENT_INSERT,
	STMT_EVENTS_COUNT,
	STMT_REQ_APPROVED,
	STMT_SERVER_SAVE,
	STMT_SERVER_GET,
	STMT_OPEN_IDS,
	STMT_REQ_ASSIGNED,
	STMT_LAST_SUCCESS,
	STMT_SAVEPOINT,
	STMT_RELEASE,
	STMT_ROLLBACK_TO,
	STMT_MAX
};

_Static_assert(STMT_MAX <= JOURNAL_NSTMT, "raise JOURNAL_NSTMT");

/*
 * Parameter numbers of a requests row, shared by the INSERT and UPDATE
 * statements, and (minus one) the column numbers of REQ_COLUMNS.
 */
enum req_param {
	P_ID = 1,
	P_SERVER,
	P_RUN_ID,
	P_STATE,
	P_CA_STATUS,
	P_CA_REF,
	P_CSR_PEM,
	P_KEY_PATH,
	P_CERT_PEM,
	P_THUMBPRINT,
	P_SHA256,
	P_NOT_AFTER,
	P_CHAIN_STATUS,
	P_CHAIN_DETAIL,
	P_MISSING_JSON,
	P_USAGES,
	P_APPROVED,
	P_ERROR,
	P_RETRY_AT,
	P_ATTEMPTS,
	P_CREATED_AT,
	P_UPDATED_AT,
	P_FINAL,
	P_ALT_CHAINS,
	P_REQUEST_HASH
};

#define REQ_COLUMNS \
	"id, server, run_id, state, ca_status, ca_ref, csr_pem, key_path, " \
	"cert_pem, thumbprint, sha256, not_after, chain_status, " \
	"chain_detail, missing_json, usages, approved, error, retry_at, " \
	"attempts, created_at, updated_at, final, alt_chains, request_hash"

/* The text columns of a requests row and where struct journal_request
 * keeps each: binding, reading and freeing a request walk this table. */
#define TEXT(param, field) { param, offsetof(struct journal_request, field) }
static const struct {
	int param;
	size_t off;
} req_text[] = {
	TEXT(P_SERVER, server), TEXT(P_STATE, state),
	TEXT(P_CA_STATUS, ca_status), TEXT(P_CA_REF, ca_ref),
	TEXT(P_CSR_PEM, csr_pem), TEXT(P_KEY_PATH, key_path),
	TEXT(P_CERT_PEM, cert_pem), TEXT(P_THUMBPRINT, thumbprint),
	TEXT(P_SHA256, sha256), TEXT(P_CHAIN_STATUS, chain_status),
	TEXT(P_CHAIN_DETAIL, chain_detail), TEXT(P_MISSING_JSON, missing_json),
	TEXT(P_USAGES, usages), TEXT(P_ERROR, error),
	TEXT(P_ALT_CHAINS, alt_chains), TEXT(P_REQUEST_HASH, request_hash),
};
#undef TEXT

#define NTEXT (sizeof req_text / sizeof req_text[0])

static char **req_field(const struct journal_request *rq, size_t i)
{
	return (char **)((const char *)rq + req_text[i].off);
}

static const char *const stmt_sql[STMT_MAX] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_RUN_BEGIN] =
	    "INSERT INTO runs(command, started_at, pid) VALUES (?1, ?2, ?3)",
	[STMT_RUN_END] =
	    "UPDATE runs SET finished_at = ?2, exit_code = ?3 WHERE id = ?1",
	/* ?1 is bound NULL: SQLite picks the id. */
	[STMT_REQ_INSERT] =
	    "INSERT INTO requests(" REQ_COLUMNS ") VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
	    "?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25)",
	/*
	 * created_at (?21) is bound but never changes. approved (?17) is
	 * never written back: only journal_approve sets it, so an approval
	 * given while a run holds the row in memory is never lost.
	 */
	[STMT_REQ_UPDATE] =
	    "UPDATE requests SET server = ?2, run_id = ?3, state = ?4, "
	    "ca_status = ?5, ca_ref = ?6, csr_pem = ?7, key_path = ?8, "
	    "cert_pem = ?9, thumbprint = ?10, sha256 = ?11, "
	    "not_after = ?12, chain_status = ?13, chain_detail = ?14, "
	    "missing_json = ?15, usages = ?16, error = ?18, "
	    "retry_at = ?19, attempts = ?20, updated_at = ?22, final = ?23, "
	    "alt_chains = ?24, request_hash = ?25 "
	    "WHERE id = ?1",
	[STMT_REQ_OPEN] =
	    "SELECT " REQ_COLUMNS " FROM requests WHERE server = ?1 "
	    "AND final = 0 ORDER BY id DESC LIMIT 1",
	[STMT_REQ_LATEST] =
	    "SELECT " REQ_COLUMNS " FROM requests WHERE server = ?1 "
	    "ORDER BY id DESC LIMIT 1",
	[STMT_APPROVE] =
	    "UPDATE requests SET approved = 1, updated_at = ?2 WHERE id = ?1",
	[STMT_EVENT_INSERT] =
	    "INSERT INTO events(request_id, server, at, state, ca_status, "
	    "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[STMT_EVENTS_COUNT] =
	    "SELECT count(*) FROM events WHERE (?1 IS NULL OR server = ?1) "
	    "AND (?2 IS NULL OR state = ?2)",
	[STMT_REQ_APPROVED] =
	    "SELECT approved FROM requests WHERE id = ?1",
	[STMT_SERVER_SAVE] =
	    "INSERT INTO servers(name, run_id, command, status, request_id, "
	    "report, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
	    "ON CONFLICT(name) DO UPDATE SET run_id = ?2, command = ?3, "
	    "status = ?4, request_id = ?5, report = ?6, updated_at = ?7",
	[STMT_SERVER_GET] =
	    "SELECT name, run_id, command, status, request_id, report, "
	    "updated_at FROM servers WHERE name = ?1",
	[STMT_OPEN_IDS] =
	    "SELECT id FROM requests WHERE final = 0 ORDER BY id",
	[STMT_REQ_ASSIGNED] =
	    "SELECT " REQ_COLUMNS " FROM requests WHERE server = ?1 "
	    "AND state = 'assigned' ORDER BY id DESC LIMIT 1",
	[STMT_LAST_SUCCESS] =
	    "SELECT coalesce(max(finished_at), 0) FROM runs "
	    "WHERE exit_code = 0",
	[STMT_SAVEPOINT] = "SAVEPOINT w",
	[STMT_RELEASE] = "RELEASE w",
	[STMT_ROLLBACK_TO] = "ROLLBACK TO w",
};

/*
 * Version 1. A later version adds an "if (version < 2)" step in
 * schema_upgrade rather than editing this text.
 */
static const char schema_v1[] =
	"CREATE TABLE runs ("
	" id INTEGER PRIMARY KEY,"
	" command TEXT NOT NULL,"
	" started_at INTEGER NOT NULL,"
	" finished_at INTEGER,"
	" pid INTEGER,"
	" exit_code INTEGER);"
	"CREATE TABLE requests ("
	" id INTEGER PRIMARY KEY,"
	" server TEXT NOT NULL,"
	" run_id INTEGER REFERENCES runs(id),"
	" state TEXT NOT NULL,"
	" ca_status TEXT,"
	" ca_ref TEXT,"
	" csr_pem TEXT,"
	" key_path TEXT,"
	" cert_pem TEXT,"
	" thumbprint TEXT,"
	" sha256 TEXT,"
	" not_after INTEGER,"
	" chain_status TEXT,"
	" chain_detail TEXT,"
	" missing_json TEXT,"
	" usages TEXT,"
	" approved INTEGER NOT NULL DEFAULT 0,"
	" error TEXT,"
	" retry_at INTEGER,"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL,"
	" final INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX requests_server ON requests(server, final, id);"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY,"
	" request_id INTEGER NOT NULL REFERENCES requests(id),"
	" server TEXT NOT NULL,"
	" at INTEGER NOT NULL,"
	" state TEXT NOT NULL,"
	" ca_status TEXT,"
	" detail TEXT);"
	"CREATE INDEX events_request ON events(request_id);"
	"CREATE INDEX events_server_state ON events(server, state);"
	"PRAGMA user_version = 1;";

/* Version 2: the other chains an ACME CA offered for the same leaf. */
static const char schema_v2[] =
	"ALTER TABLE requests ADD COLUMN alt_chains TEXT;"
	"PRAGMA user_version = 2;";

/*
 * Version 3: the hash of what a request asked (so a denial is remembered
 * until the request changes), and what the last run found for each
 * server, whether or not it made a request (status reads it).
 */
static const char schema_v3[] =
	"ALTER TABLE requests ADD COLUMN request_hash TEXT;"
	"CREATE TABLE servers ("
	" name TEXT PRIMARY KEY,"
	" run_id INTEGER REFERENCES runs(id),"
	" command TEXT NOT NULL,"
	" status TEXT NOT NULL,"
	" request_id INTEGER REFERENCES requests(id),"
	" report TEXT NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"PRAGMA user_version = 3;";

_Static_assert(JOURNAL_SCHEMA_VERSION == 3, "add the upgrade step");

static int64_t now(void)
{
	return (int64_t)time(NULL);
}

/*
 * Formats "cannot <what> in journal 'PATH': <sqlite message>" and returns
 * CF_ENOMEM for SQLITE_NOMEM, CF_EDB otherwise.
 */
static int db_fail(struct journal *j, int rc, char *msg, size_t msgsz,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int db_fail(struct journal *j, int rc, char *msg, size_t msgsz,
    const char *fmt, ...)
{
	char what[256];
	va_list ap;
	const char *err;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	err = j->db != NULL ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc);
	return cf_error(msg, msgsz,
	    (rc & 0xff) == SQLITE_NOMEM ? CF_ENOMEM : CF_EDB,
	    "cannot %s in journal '%s': %s", what, j->path, err);
}

/* The same for journal_open: "cannot open journal 'PATH': <reason>". */
static int open_fail(struct journal *j, int rc, char *msg, size_t msgsz)
{
	const char *err;

	err = j->db != NULL ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc);
	return cf_error(msg, msgsz,
	    (rc & 0xff) == SQLITE_NOMEM ? CF_ENOMEM : CF_EDB,
	    "cannot open journal '%s': %s", j->path, err);
}

/* Makes a statement ready for its next use and drops its bindings. */
static void done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Binds s, or NULL when s is NULL. */
static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* Binds v, or NULL when v is 0 (an id, time or date that is not set). */
static int bind_opt(sqlite3_stmt *st, int i, int64_t v)
{
	if (v == 0)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_int64(st, i, v);
}

/*
 * Binds the arguments to parameters 1, 2, ... of st, one letter of types
 * each ('t' a string or NULL, 'o' an int64_t bound NULL when 0, 'i' an
 * int64_t), then steps st once. Returns SQLITE_ROW with the row for the
 * caller to read (and then done); else st is reset and the result is
 * SQLITE_OK (it ran to its end: a write done, a query without a row) or
 * the error code, whose message the connection keeps until its next
 * call.
 */
static int run_stmt(sqlite3_stmt *st, const char *types, ...)
{
	va_list ap;
	int rc = SQLITE_OK, i;

	va_start(ap, types);
	for (i = 0; rc == SQLITE_OK && types[i] != '\0'; i++) {
		if (types[i] == 't')
			rc = bind_text(st, i + 1, va_arg(ap, const char *));
		else if (types[i] == 'o')
			rc = bind_opt(st, i + 1, va_arg(ap, int64_t));
		else
			rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
	}
	va_end(ap);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		return rc;
	done(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/*
 * A write's transaction: its own BEGIN IMMEDIATE ... COMMIT, or, while
 * grouped, a savepoint in the transaction journal_commit ends (opened by
 * the first write after a commit).
 */
static int tx_begin(struct journal *j)
{
	int rc;

	if (!j->grouped)
		return run_stmt(j->stmt[STMT_BEGIN], "");
	/* SQLite ended the open transaction itself after an error (a full
	 * disk, an I/O error): what it held is gone, and the commit says so. */
	if (j->open && sqlite3_get_autocommit(j->db))
		j->lost = true;
	if (!j->open || sqlite3_get_autocommit(j->db)) {
		if ((rc = run_stmt(j->stmt[STMT_BEGIN], "")) != SQLITE_OK)
			return rc;
		j->open = true;
	}
	return run_stmt(j->stmt[STMT_SAVEPOINT], "");
}

static int tx_commit(struct journal *j)
{
	return run_stmt(j->stmt[j->grouped ? STMT_RELEASE : STMT_COMMIT], "");
}

/*
 * Undoes the failed write: its savepoint while grouped (the writes before
 * it stay), else its transaction. Called after a failure, so its own
 * result does not matter: if even this fails SQLite rolls back on close.
 */
static void tx_rollback(struct journal *j)
{
	if (sqlite3_get_autocommit(j->db))
		return;
	if (!j->grouped) {
		run_stmt(j->stmt[STMT_ROLLBACK], "");
		return;
	}
	if (run_stmt(j->stmt[STMT_ROLLBACK_TO], "") == SQLITE_OK)
		run_stmt(j->stmt[STMT_RELEASE], "");
}

int journal_commit(struct journal *j, char *msg, size_t msgsz)
{
	bool lost = j->lost;
	int rc;

	if (!j->open)
		return 0;
	j->open = false;
	j->lost = false;
	if (lost || sqlite3_get_autocommit(j->db))
		return cf_error(msg, msgsz, CF_EDB, "cannot commit in journal "
		    "'%s': an error rolled the transaction back", j->path);
	rc = run_stmt(j->stmt[STMT_COMMIT], "");
	if (rc != SQLITE_OK) {
		rc = db_fail(j, rc, msg, msgsz, "commit");
		if (!sqlite3_get_autocommit(j->db))
			run_stmt(j->stmt[STMT_ROLLBACK], "");
	}
	return rc;
}

bool journal_uncommitted(const struct journal *j)
{
	return j->open;
}

int journal_group(struct journal *j, bool on, char *msg, size_t msgsz)
{
	int rc = on ? 0 : journal_commit(j, msg, msgsz);

	j->grouped = on;
	return rc;
}

/* Binds every column of rq to the shared request parameters; on failure
 * st is reset. */
static int bind_request(sqlite3_stmt *st, const struct journal_request *rq,
    int64_t id, int64_t created, int64_t updated)
{
	int rc = SQLITE_OK;
	size_t i;

#define B(call) do { if (rc == SQLITE_OK) rc = (call); } while (0)
	for (i = 0; i < NTEXT; i++)
		B(bind_text(st, req_text[i].param, *req_field(rq, i)));
	B(bind_opt(st, P_ID, id));
	B(bind_opt(st, P_RUN_ID, rq->run_id));
	B(bind_opt(st, P_NOT_AFTER, rq->not_after));
	B(sqlite3_bind_int(st, P_APPROVED, rq->approved != 0));
	B(bind_opt(st, P_RETRY_AT, rq->retry_at));
	B(sqlite3_bind_int(st, P_ATTEMPTS, rq->attempts));
	B(sqlite3_bind_int64(st, P_CREATED_AT, created));
	B(sqlite3_bind_int64(st, P_UPDATED_AT, updated));
	B(sqlite3_bind_int(st, P_FINAL, rq->final != 0));
#undef B
	if (rc != SQLITE_OK)
		done(st);
	return rc;
}

/* Copies column i of the current row, or NULL; 0 when out of memory. */
static int col_text(sqlite3_stmt *st, int i, char **out)
{
	const unsigned char *s;

	*out = NULL;
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return 1;
	s = sqlite3_column_text(st, i);
	if (s == NULL)
		return 0;
	*out = strdup((const char *)s);
	return *out != NULL;
}

/* Fills rq (initialized, empty) from the current row of REQ_COLUMNS. */
static int read_request(sqlite3_stmt *st, struct journal_request *rq)
{
	size_t i;
	int ok = 1;

	rq->id = sqlite3_column_int64(st, P_ID - 1);
	rq->run_id = sqlite3_column_int64(st, P_RUN_ID - 1);
	rq->not_after = sqlite3_column_int64(st, P_NOT_AFTER - 1);
	rq->approved = sqlite3_column_int(st, P_APPROVED - 1) != 0;
	rq->retry_at = sqlite3_column_int64(st, P_RETRY_AT - 1);
	rq->attempts = sqlite3_column_int(st, P_ATTEMPTS - 1);
	rq->created_at = sqlite3_column_int64(st, P_CREATED_AT - 1);
	rq->updated_at = sqlite3_column_int64(st, P_UPDATED_AT - 1);
	rq->final = sqlite3_column_int(st, P_FINAL - 1) != 0;
	for (i = 0; ok && i < NTEXT; i++)
		ok = col_text(st, req_text[i].param - 1, req_field(rq, i));
	if (!ok)
		journal_request_release(rq);
	return ok;
}

/* Appends rq's events row (as request id); inside the caller's
 * transaction. */
static int add_event(struct journal *j, const struct journal_request *rq,
    int64_t id, const char *detail, int64_t at)
{
	return run_stmt(j->stmt[STMT_EVENT_INSERT], "itittt", id,
	    rq->server, at, rq->state, rq->ca_status, detail);
}

/* Runs a PRAGMA and copies the first column of its row, if any, to out
 * ("" when none). */
static int pragma(sqlite3 *db, const char *sql, char *out, size_t outsz)
{
	const unsigned char *v;
	sqlite3_stmt *st;
	int rc;

	out[0] = '\0';
	rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && (v = sqlite3_column_text(st, 0)) != NULL)
		snprintf(out, outsz, "%s", (const char *)v);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Switches to WAL and checks that SQLite agreed (it cannot on some VFS). */
static int set_wal(struct journal *j, char *msg, size_t msgsz)
{
	char mode[16];
	int rc;

	rc = pragma(j->db, "PRAGMA journal_mode = WAL", mode, sizeof mode);
	if (rc != SQLITE_OK)
		return open_fail(j, rc, msg, msgsz);
	if (strcmp(mode, "wal") != 0)
		return cf_error(msg, msgsz, CF_EDB,
		    "cannot open journal '%s': WAL mode not available",
		    j->path);
	return 0;
}

/* Creates the schema in a new journal; refuses one newer than ours. */
static int schema_upgrade(struct journal *j, char *msg, size_t msgsz)
{
	char v[16];
	int version, rc;

	rc = pragma(j->db, "PRAGMA user_version", v, sizeof v);
	version = atoi(v);
	if (rc != SQLITE_OK)
		return open_fail(j, rc, msg, msgsz);
	if (version == JOURNAL_SCHEMA_VERSION)
		return 0;
	if (version > JOURNAL_SCHEMA_VERSION)
		return cf_error(msg, msgsz, CF_EDB,
		    "cannot open journal '%s': schema version %d is newer "
		    "than this certfleet's (%d)", j->path, version,
		    JOURNAL_SCHEMA_VERSION);
	rc = sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return open_fail(j, rc, msg, msgsz);
	/* Another process may have created it while we waited for BEGIN. */
	rc = pragma(j->db, "PRAGMA user_version", v, sizeof v);
	version = atoi(v);
	if (rc == SQLITE_OK && version == 0)
		rc = sqlite3_exec(j->db, schema_v1, NULL, NULL, NULL);
	if (rc == SQLITE_OK && version < 2)
		rc = sqlite3_exec(j->db, schema_v2, NULL, NULL, NULL);
	if (rc == SQLITE_OK && version < 3)
		rc = sqlite3_exec(j->db, schema_v3, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = open_fail(j, rc, msg, msgsz);
		if (!sqlite3_get_autocommit(j->db))
			sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
		return rc;
	}
	return 0;
}

/*
 * Creates the file with 0600 before SQLite sees it, so the journal is
 * never readable by others, whatever the umask; SQLite then gives the
 * -wal and -shm files the same mode. An existing file is left as it is.
 */
static int create_file(const char *path, char *msg, size_t msgsz)
{
	struct stat st;
	int fd, e;

	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0) {
		e = errno;
		if (e == EEXIST) {
			/* SQLite refuses it too; this says why. */
			if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
				return cf_error(msg, msgsz, CF_EIO,
				    "cannot open journal '%s': it is a "
				    "symbolic link", path);
			return 0;
		}
		return cf_error(msg, msgsz, e == ENOENT ? CF_ENOENT : CF_EIO,
		    "cannot create journal '%s': %s", path, strerror(e));
	}
	if (fchmod(fd, 0600) != 0) {
		e = errno;
		close(fd);
		unlink(path);
		return cf_error(msg, msgsz, CF_EIO,
		    "cannot create journal '%s': %s", path, strerror(e));
	}
	close(fd);
	return 0;
}

/* Creates the directory that will hold path, 0700 when it is new. */
static int make_parent(const char *path, char *msg, size_t msgsz)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int rc;

	if (slash == NULL || slash == path)
		return 0;
	dir = strndup(path, (size_t)(slash - path));
	if (dir == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM,
		    "cannot open journal '%s': out of memory", path);
	rc = fsio_mkdirs(dir, 0700, msg, msgsz);
	free(dir);
	return rc;
}

int journal_open(struct journal *j, const char *path, char *msg,
    size_t msgsz)
{
	int rc, i;

	memset(j, 0, sizeof *j);
	if (path == NULL || *path == '\0')
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot open journal: no path");
	j->path = strdup(path);
	if (j->path == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM,
		    "cannot open journal '%s': out of memory", path);
	rc = make_parent(path, msg, msgsz);
	if (rc == 0)
		rc = create_file(path, msg, msgsz);
	if (rc != 0)
		goto fail;
	rc = sqlite3_open_v2(path, &j->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = open_fail(j, rc, msg, msgsz);
		goto fail;
	}
	sqlite3_busy_timeout(j->db, BUSY_TIMEOUT_MS);
	/* No writes to sqlite_schema through SQL, even by mistake. */
	sqlite3_db_config(j->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	rc = set_wal(j, msg, msgsz);
	if (rc != 0)
		goto fail;
	/*
	 * FULL: the WAL is fsynced at every commit, so a transaction this
	 * module reported as saved survives a power loss, not just SIGKILL.
	 */
	rc = sqlite3_exec(j->db, "PRAGMA synchronous = FULL; "
	    "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = open_fail(j, rc, msg, msgsz);
		goto fail;
	}
	rc = schema_upgrade(j, msg, msgsz);
	if (rc != 0)
		goto fail;
	for (i = 0; i < STMT_MAX; i++) {
		rc = sqlite3_prepare_v3(j->db, stmt_sql[i], -1,
		    SQLITE_PREPARE_PERSISTENT, &j->stmt[i], NULL);
		if (rc != SQLITE_OK) {
			rc = open_fail(j, rc, msg, msgsz);
			goto fail;
		}
	}
	return 0;

fail:
	journal_close(j);
	return rc;
}

void journal_close(struct journal *j)
{
	int i;

	for (i = 0; i < JOURNAL_NSTMT; i++)
		sqlite3_finalize(j->stmt[i]);
	/* Every statement is finalized, so this closes for certain. */
	sqlite3_close(j->db);
	free(j->path);
	memset(j, 0, sizeof *j);
}

int journal_run_begin(struct journal *j, const char *command,
    int64_t *run_id, char *msg, size_t msgsz)
{
	int rc = run_stmt(j->stmt[STMT_RUN_BEGIN], "tii",
	    command != NULL ? command : "", now(), (int64_t)getpid());

	if (rc != SQLITE_OK)
		return db_fail(j, rc, msg, msgsz, "record the run");
	*run_id = sqlite3_last_insert_rowid(j->db);
	return 0;
}

int journal_run_end(struct journal *j, int64_t run_id, int exit_code,
    char *msg, size_t msgsz)
{
	int rc = run_stmt(j->stmt[STMT_RUN_END], "iii", run_id, now(),
	    (int64_t)exit_code);

	if (rc != SQLITE_OK)
		return db_fail(j, rc, msg, msgsz, "record the end of run %lld",
		    (long long)run_id);
	if (sqlite3_changes(j->db) == 0)
		return cf_error(msg, msgsz, CF_ENOENT,
		    "cannot record the end of run %lld in journal '%s': "
		    "no such run", (long long)run_id, j->path);
	return 0;
}

void journal_request_init(struct journal_request *rq)
{
	memset(rq, 0, sizeof *rq);
}

void journal_request_release(struct journal_request *rq)
{
	size_t i;

	for (i = 0; i < NTEXT; i++)
		free(*req_field(rq, i));
	journal_request_init(rq);
}

int journal_strset(char **dst, const char *src)
{
	char *s = NULL;

	if (src != NULL) {
		s = strdup(src);
		if (s == NULL)
			return CF_ENOMEM;
	}
	free(*dst);
	*dst = s;
	return 0;
}

/*
 * Writes rq as request *id (0: a new row, whose id *id then gets) with an
 * event, in one transaction, at time t; what names the write in messages
 * ("save the request for"). Returns 0, CF_ENOENT when row *id does not
 * exist, or CF_EDB; on failure neither is written.
 */
static int write_request(struct journal *j, const struct journal_request *rq,
    int64_t *id, int64_t created, int64_t t, const char *detail,
    const char *what, char *msg, size_t msgsz)
{
	sqlite3_stmt *st = j->stmt[*id == 0 ? STMT_REQ_INSERT :
	    STMT_REQ_UPDATE];
	int rc;

	rc = tx_begin(j);
	if (rc == SQLITE_OK)
		rc = bind_request(st, rq, *id, created, t);
	if (rc == SQLITE_OK)
		rc = run_stmt(st, "");
	if (rc == SQLITE_OK && *id == 0) {
		*id = sqlite3_last_insert_rowid(j->db);
	} else if (rc == SQLITE_OK && sqlite3_changes(j->db) == 0) {
		tx_rollback(j);
		return cf_error(msg, msgsz, CF_ENOENT, "cannot %s '%s' in "
		    "journal '%s': no request %lld", what, rq->server, j->path,
		    (long long)*id);
	}
	if (rc == SQLITE_OK)
		rc = add_event(j, rq, *id, detail, t);
	if (rc == SQLITE_OK)
		rc = tx_commit(j);
	if (rc != SQLITE_OK) {
		rc = db_fail(j, rc, msg, msgsz, "%s '%s'", what, rq->server);
		tx_rollback(j);
	}
	return rc;
}

int journal_request_new(struct journal *j, struct journal_request *rq,
    char *msg, size_t msgsz)
{
	int64_t t = now(), id = 0;
	int rc;

	if (rq->server == NULL || rq->state == NULL)
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot record a request without server and state");
	rc = write_request(j, rq, &id, t, t, "created", "record a request for",
	    msg, msgsz);
	if (rc != 0)
		return rc;
	rq->id = id;
	rq->created_at = t;
	rq->updated_at = t;
	return 0;
}

int journal_request_save(struct journal *j, const struct journal_request *rq,
    const char *event_detail, char *msg, size_t msgsz)
{
	int64_t id = rq->id;

	if (rq->id <= 0 || rq->server == NULL || rq->state == NULL)
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot save a request without id, server and state");
	return write_request(j, rq, &id, rq->created_at, now(), event_detail,
	    "save the request for", msg, msgsz);
}

/* Runs a request SELECT for server into out. */
static int find_request(struct journal *j, enum stmt_id which,
    const char *server, struct journal_request *out, char *msg,
    size_t msgsz)
{
	sqlite3_stmt *st = j->stmt[which];
	int rc, ok;

	journal_request_release(out);
	if (server == NULL)
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot look up a request without a server");
	rc = run_stmt(st, "t", server);
	if (rc == SQLITE_OK)
		return cf_error(msg, msgsz, CF_ENOENT,
		    "no %srequest for '%s' in journal '%s'",
		    which == STMT_REQ_OPEN ? "open " :
		    which == STMT_REQ_ASSIGNED ? "assigned " : "", server,
		    j->path);
	if (rc != SQLITE_ROW)
		return db_fail(j, rc, msg, msgsz, "read the request for '%s'",
		    server);
	ok = read_request(st, out);
	done(st);
	if (!ok)
		return cf_error(msg, msgsz, CF_ENOMEM,
		    "cannot read the request for '%s' in journal '%s': out "
		    "of memory", server, j->path);
	return 0;
}

int journal_request_open(struct journal *j, const char *server,
    struct journal_request *out, char *msg, size_t msgsz)
{
	return find_request(j, STMT_REQ_OPEN, server, out, msg, msgsz);
}

int journal_request_latest(struct journal *j, const char *server,
    struct journal_request *out, char *msg, size_t msgsz)
{
	return find_request(j, STMT_REQ_LATEST, server, out, msg, msgsz);
}

int journal_request_assigned(struct journal *j, const char *server,
    struct journal_request *out, char *msg, size_t msgsz)
{
	return find_request(j, STMT_REQ_ASSIGNED, server, out, msg, msgsz);
}

/* The states in which a request may be approved: the CA holds it, or is
 * about to (a run killed in submit sends the same CSR again). */
static int approvable(const char *state)
{
	return strcmp(state, "submit") == 0 || strcmp(state, "pending") == 0 ||
	    strcmp(state, "poll") == 0;
}

int journal_approve(struct journal *j, const char *server, char *msg,
    size_t msgsz)
{
	struct journal_request rq;
	int64_t t = now();
	int rc;

	if (server == NULL)
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot approve: no server");
	/* Look up and update under one write lock: no run slips between. */
	rc = tx_begin(j);
	if (rc != SQLITE_OK)
		return db_fail(j, rc, msg, msgsz, "approve the request for "
		    "'%s'", server);
	journal_request_init(&rq);
	rc = find_request(j, STMT_REQ_OPEN, server, &rq, msg, msgsz);
	if (rc == CF_ENOENT) {
		tx_rollback(j);
		return cf_error(msg, msgsz, CF_ENOENT,
		    "no pending request for '%s'", server);
	}
	if (rc != 0) {
		tx_rollback(j);
		return rc;
	}
	if (!approvable(rq.state)) {
		tx_rollback(j);
		rc = cf_error(msg, msgsz, CF_ENOENT, "no pending request for "
		    "'%s': its request is '%s'", server, rq.state);
		journal_request_release(&rq);
		return rc;
	}
	rc = run_stmt(j->stmt[STMT_APPROVE], "ii", rq.id, t);
	if (rc == SQLITE_OK)
		rc = add_event(j, &rq, rq.id, "approved", t);
	if (rc == SQLITE_OK)
		rc = tx_commit(j);
	if (rc != SQLITE_OK) {
		rc = db_fail(j, rc, msg, msgsz, "approve the request for "
		    "'%s'", server);
		tx_rollback(j);
	}
	journal_request_release(&rq);
	return rc;
}

int journal_request_approved(struct journal *j, int64_t id, int *approved,
    char *msg, size_t msgsz)
{
	sqlite3_stmt *st = j->stmt[STMT_REQ_APPROVED];
	int rc;

	*approved = 0;
	rc = run_stmt(st, "i", id);
	if (rc == SQLITE_OK)
		return cf_error(msg, msgsz, CF_ENOENT, "no request %lld in "
		    "journal '%s'", (long long)id, j->path);
	if (rc != SQLITE_ROW)
		return db_fail(j, rc, msg, msgsz, "read request %lld",
		    (long long)id);
	*approved = sqlite3_column_int(st, 0) != 0;
	done(st);
	return 0;
}

void journal_server_init(struct journal_server *s)
{
	memset(s, 0, sizeof *s);
}

void journal_server_release(struct journal_server *s)
{
	free(s->name);
	free(s->command);
	free(s->status);
	free(s->report);
	journal_server_init(s);
}

int journal_server_save(struct journal *j, const struct journal_server *s,
    char *msg, size_t msgsz)
{
	int rc;

	if (s->name == NULL || s->command == NULL || s->status == NULL ||
	    s->report == NULL)
		return cf_error(msg, msgsz, CF_EINVAL, "cannot record a "
		    "server without name, command, status and report");
	rc = tx_begin(j);
	if (rc == SQLITE_OK)
		rc = run_stmt(j->stmt[STMT_SERVER_SAVE], "tottoti", s->name,
		    s->run_id, s->command, s->status, s->request_id, s->report,
		    now());
	if (rc == SQLITE_OK)
		rc = tx_commit(j);
	if (rc != SQLITE_OK) {
		rc = db_fail(j, rc, msg, msgsz, "record what the run found "
		    "on '%s'", s->name);
		tx_rollback(j);
	}
	return rc;
}

int journal_server_get(struct journal *j, const char *name,
    struct journal_server *out, char *msg, size_t msgsz)
{
	sqlite3_stmt *st = j->stmt[STMT_SERVER_GET];
	int rc, ok;

	journal_server_release(out);
	rc = run_stmt(st, "t", name);
	if (rc == SQLITE_OK)
		return cf_error(msg, msgsz, CF_ENOENT, "no run has looked at "
		    "'%s' yet", name);
	if (rc != SQLITE_ROW)
		return db_fail(j, rc, msg, msgsz, "read what the last run "
		    "found on '%s'", name);
	out->run_id = sqlite3_column_int64(st, 1);
	out->request_id = sqlite3_column_int64(st, 4);
	out->updated_at = sqlite3_column_int64(st, 6);
	ok = col_text(st, 0, &out->name) && col_text(st, 2, &out->command) &&
	    col_text(st, 3, &out->status) && col_text(st, 5, &out->report);
	done(st);
	if (!ok) {
		journal_server_release(out);
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	return 0;
}

int journal_events_count(struct journal *j, const char *server,
    const char *state, int64_t *n, char *msg, size_t msgsz)
{
	sqlite3_stmt *st = j->stmt[STMT_EVENTS_COUNT];
	int rc;

	*n = 0;
	rc = run_stmt(st, "tt", server, state);
	if (rc != SQLITE_ROW)
		return db_fail(j, rc, msg, msgsz, "count events");
	*n = sqlite3_column_int64(st, 0);
	done(st);
	return 0;
}

int journal_last_success(struct journal *j, int64_t *at, char *msg,
    size_t msgsz)
{
	sqlite3_stmt *st = j->stmt[STMT_LAST_SUCCESS];
	int rc;

	*at = 0;
	rc = run_stmt(st, "");
	if (rc != SQLITE_ROW)
		return db_fail(j, rc, msg, msgsz, "find the last successful run");
	*at = sqlite3_column_int64(st, 0);
	done(st);
	return 0;
}

int journal_open_ids(struct journal *j, int64_t **ids, size_t *n, char *msg,
    size_t msgsz)
{
	sqlite3_stmt *st = j->stmt[STMT_OPEN_IDS];
	int64_t *v = NULL, *nv;
	size_t cap = 0;
	int rc;

	*ids = NULL;
	*n = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				free(v);
				done(st);
				*n = 0;
				return cf_error(msg, msgsz, CF_ENOMEM,
				    "out of memory");
			}
			v = nv;
		}
		v[(*n)++] = sqlite3_column_int64(st, 0);
	}
	if (rc != SQLITE_DONE) {
		rc = db_fail(j, rc, msg, msgsz, "list the open requests");
		done(st);
		free(v);
		*n = 0;
		return rc;
	}
	done(st);
	*ids = v;
	return 0;
}
