/*
 * The journal on a real SQLite file in a fresh mkdtemp directory: file
 * modes, schema version, every column round-tripped, row and event in one
 * transaction, resumable requests, approval, durability across close and
 * across SIGKILL, and hostile strings stored as plain data; then a state
 * directory's journals read together (journal_set). Children end with
 * SIGKILL or _exit, never through cmocka.
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/journal/journal.h"
#include "engine/journal/journal_set.h"
#include "engine/journal/status_row.h"
#include "engine/base/usage.h"

#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fx {
	char dir[64];
	char path[128];             /* dir/state/journal.db, dir not made */
	struct journal j;
};

static int rm_one(const char *p, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	strcpy(fx->dir, "/tmp/cf-journal-XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->path, sizeof fx->path, "%s/state/journal.db", fx->dir);
	*state = fx;
	return 0;
}

/* setup, then the journal opened. */
static int setup_open(void **state)
{
	struct fx *fx;
	char msg[256];

	if (setup(state) != 0)
		return -1;
	fx = *state;
	return journal_open(&fx->j, fx->path, msg, sizeof msg);
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	journal_close(&fx->j);
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* The first column of the first row of sql (one value) as an integer. */
static int64_t sql_int(struct journal *j, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(j->db, sql, -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* The same as text, copied into buf. */
static char *sql_text(struct journal *j, const char *sql, char *buf,
    size_t sz)
{
	sqlite3_stmt *st;
	const unsigned char *s;

	assert_int_equal(sqlite3_prepare_v2(j->db, sql, -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	s = sqlite3_column_text(st, 0);
	snprintf(buf, sz, "%s", s != NULL ? (const char *)s : "(null)");
	sqlite3_finalize(st);
	return buf;
}

static int64_t events(struct journal *j, const char *server,
    const char *state)
{
	char msg[256];
	int64_t n = -1;

	assert_int_equal(journal_events_count(j, server, state, &n, msg,
	    sizeof msg), 0);
	return n;
}

/* Sets every column of rq to a value derived from tag. */
static void fill(struct journal_request *rq, const char *server,
    const char *tag, int64_t base)
{
	char b[128];

#define S(field) do { \
	snprintf(b, sizeof b, "%s-%s", #field, tag); \
	assert_int_equal(journal_strset(&rq->field, b), 0); \
} while (0)
	assert_int_equal(journal_strset(&rq->server, server), 0);
	S(state);
	S(ca_status);
	S(ca_ref);
	S(csr_pem);
	S(key_path);
	S(cert_pem);
	S(thumbprint);
	S(sha256);
	S(chain_status);
	S(chain_detail);
	S(missing_json);
	S(usages);
	S(error);
	S(alt_chains);
	S(request_hash);
#undef S
	rq->not_after = base + 1;
	rq->approved = 1;
	rq->retry_at = base + 2;
	rq->attempts = (int)(base % 1000) + 3;
	rq->final = 0;
}

static void assert_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_same(const struct journal_request *a,
    const struct journal_request *b)
{
	assert_int_equal(a->id, b->id);
	assert_str_eq(a->server, b->server);
	assert_int_equal(a->run_id, b->run_id);
	assert_str_eq(a->state, b->state);
	assert_str_eq(a->ca_status, b->ca_status);
	assert_str_eq(a->ca_ref, b->ca_ref);
	assert_str_eq(a->csr_pem, b->csr_pem);
	assert_str_eq(a->key_path, b->key_path);
	assert_str_eq(a->cert_pem, b->cert_pem);
	assert_str_eq(a->thumbprint, b->thumbprint);
	assert_str_eq(a->sha256, b->sha256);
	assert_int_equal(a->not_after, b->not_after);
	assert_str_eq(a->chain_status, b->chain_status);
	assert_str_eq(a->chain_detail, b->chain_detail);
	assert_str_eq(a->missing_json, b->missing_json);
	assert_str_eq(a->usages, b->usages);
	assert_int_equal(a->approved, b->approved);
	assert_str_eq(a->error, b->error);
	assert_int_equal(a->retry_at, b->retry_at);
	assert_int_equal(a->attempts, b->attempts);
	assert_int_equal(a->created_at, b->created_at);
	assert_int_equal(a->final, b->final);
	assert_str_eq(a->alt_chains, b->alt_chains);
	assert_str_eq(a->request_hash, b->request_hash);
}

/* A new request for server in state. */
static int64_t add(struct journal *j, const char *server, const char *state,
    int final)
{
	struct journal_request rq;
	char msg[256];
	int64_t id;

	journal_request_init(&rq);
	assert_int_equal(journal_strset(&rq.server, server), 0);
	assert_int_equal(journal_strset(&rq.state, state), 0);
	rq.final = final;
	assert_int_equal(journal_request_new(j, &rq, msg, sizeof msg), 0);
	id = rq.id;
	journal_request_release(&rq);
	return id;
}

static void test_open_creates(void **state)
{
	struct fx *fx = *state;
	char msg[256], dir[128], wal[160], buf[32];
	mode_t old;

	old = umask(0);
	assert_int_equal(journal_open(&fx->j, fx->path, msg, sizeof msg), 0);
	umask(old);
	snprintf(dir, sizeof dir, "%s/state", fx->dir);
	assert_int_equal(mode_of(dir), 0700);
	assert_int_equal(mode_of(fx->path), 0600);
	assert_int_equal(sql_int(&fx->j, "PRAGMA user_version"),
	    JOURNAL_SCHEMA_VERSION);
	assert_string_equal(sql_text(&fx->j, "PRAGMA journal_mode", buf,
	    sizeof buf), "wal");
	assert_int_equal(sql_int(&fx->j, "PRAGMA synchronous"), 2);
	assert_int_equal(sql_int(&fx->j, "PRAGMA foreign_keys"), 1);
	/* SQLite gives the WAL the database's mode, not the umask's. */
	add(&fx->j, "web01", "new", 0);
	snprintf(wal, sizeof wal, "%s-wal", fx->path);
	assert_int_equal(mode_of(wal), 0600);
	journal_close(&fx->j);
	journal_close(&fx->j);
}

static void test_open_refuses(void **state)
{
	struct fx *fx = *state;
	char msg[256], p[128], want[300];
	const char junk[] = "this is a certificate, not an SQLite database, "
	    "and it is long enough to have a header of its own............";

	/* Not a database. */
	snprintf(p, sizeof p, "%s/junk.db", fx->dir);
	assert_int_equal(fsio_write_atomic(p, junk, sizeof junk, 0600, msg,
	    sizeof msg), 0);
	assert_int_equal(journal_open(&fx->j, p, msg, sizeof msg), CF_EDB);
	snprintf(want, sizeof want, "cannot open journal '%s': file is not a "
	    "database", p);
	assert_string_equal(msg, want);
	assert_null(fx->j.db);

	/* A symlink. */
	snprintf(p, sizeof p, "%s/link.db", fx->dir);
	assert_int_equal(journal_open(&fx->j, fx->path, msg, sizeof msg), 0);
	journal_close(&fx->j);
	assert_int_equal(symlink(fx->path, p), 0);
	assert_int_equal(journal_open(&fx->j, p, msg, sizeof msg), CF_EIO);
	snprintf(want, sizeof want, "cannot open journal '%s': it is a "
	    "symbolic link", p);
	assert_string_equal(msg, want);

	/* A newer schema than ours. */
	assert_int_equal(journal_open(&fx->j, fx->path, msg, sizeof msg), 0);
	assert_int_equal(sqlite3_exec(fx->j.db, "PRAGMA user_version = 7",
	    NULL, NULL, NULL), SQLITE_OK);
	journal_close(&fx->j);
	assert_int_equal(journal_open(&fx->j, fx->path, msg, sizeof msg),
	    CF_EDB);
	snprintf(want, sizeof want, "cannot open journal '%s': schema version "
	    "7 is newer than this certfleet's (%d)", fx->path,
	    JOURNAL_SCHEMA_VERSION);
	assert_string_equal(msg, want);

	/* A file where the state directory should be. */
	snprintf(p, sizeof p, "%s/junk.db/journal.db", fx->dir);
	assert_int_equal(journal_open(&fx->j, p, msg, sizeof msg), CF_EEXIST);
}

/* A version 1 journal (before alt_chains, request_hash and servers) is
 * upgraded in place and keeps its rows. */
static void test_upgrade_from_v1(void **state)
{
	struct fx *fx = *state;
	struct journal_request rq;
	char msg[256];

	assert_int_equal(journal_open(&fx->j, fx->path, msg, sizeof msg), 0);
	add(&fx->j, "web01", "pending", 0);
	assert_int_equal(sqlite3_exec(fx->j.db, "ALTER TABLE requests DROP "
	    "COLUMN alt_chains; ALTER TABLE requests DROP COLUMN "
	    "request_hash; DROP TABLE servers; PRAGMA user_version = 1;",
	    NULL, NULL, NULL), SQLITE_OK);
	journal_close(&fx->j);
	assert_int_equal(journal_open(&fx->j, fx->path, msg, sizeof msg), 0);
	assert_int_equal(sql_int(&fx->j, "PRAGMA user_version"),
	    JOURNAL_SCHEMA_VERSION);
	assert_int_equal(sql_int(&fx->j, "SELECT count(*) FROM servers"), 0);
	journal_request_init(&rq);
	assert_int_equal(journal_request_open(&fx->j, "web01", &rq, msg,
	    sizeof msg), 0);
	assert_string_equal(rq.state, "pending");
	assert_null(rq.alt_chains);
	assert_int_equal(journal_strset(&rq.alt_chains, "{\"chains\":[]}"),
	    0);
	assert_int_equal(journal_request_save(&fx->j, &rq, NULL, msg,
	    sizeof msg), 0);
	journal_request_release(&rq);
	journal_close(&fx->j);
}

static void test_round_trip(void **state)
{
	struct fx *fx = *state;
	struct journal_request a, b;
	char msg[256];
	int64_t run;

	journal_request_init(&a);
	journal_request_init(&b);
	assert_int_equal(journal_run_begin(&fx->j, "certfleet run fleet.cfg",
	    &run, msg, sizeof msg), 0);
	assert_true(run > 0);
	fill(&a, "web01", "one", 1700000000);
	a.run_id = run;
	assert_int_equal(journal_request_new(&fx->j, &a, msg, sizeof msg), 0);
	assert_true(a.id > 0);
	assert_true(a.created_at > 0);
	assert_int_equal(journal_request_latest(&fx->j, "web01", &b, msg,
	    sizeof msg), 0);
	assert_same(&a, &b);

	/* Change every column, save, read back: all of them again, but for
	 * approved, which only journal_approve writes. */
	fill(&a, "web01", "two", 1800000000);
	a.approved = 0;
	assert_int_equal(journal_request_save(&fx->j, &a, "second", msg,
	    sizeof msg), 0);
	assert_int_equal(journal_request_open(&fx->j, "web01", &b, msg,
	    sizeof msg), 0);
	assert_int_equal(b.approved, 1);
	a.approved = 1;
	assert_same(&a, &b);
	assert_true(b.updated_at >= b.created_at);

	/* NULLs and zeros come back as NULLs and zeros. */
	assert_int_equal(journal_strset(&a.cert_pem, NULL), 0);
	assert_int_equal(journal_strset(&a.error, NULL), 0);
	a.not_after = 0;
	a.retry_at = 0;
	a.run_id = 0;
	a.attempts = 0;
	assert_int_equal(journal_request_save(&fx->j, &a, NULL, msg,
	    sizeof msg), 0);
	assert_int_equal(journal_request_latest(&fx->j, "web01", &b, msg,
	    sizeof msg), 0);
	assert_same(&a, &b);
	assert_null(b.cert_pem);

	assert_int_equal(journal_run_end(&fx->j, run, 1, msg, sizeof msg), 0);
	assert_int_equal(sql_int(&fx->j, "SELECT exit_code FROM runs"), 1);
	assert_int_equal(sql_int(&fx->j, "SELECT pid FROM runs"), getpid());
	assert_int_equal(journal_run_end(&fx->j, run + 99, 0, msg, sizeof msg),
	    CF_ENOENT);

	/* A request for a run that does not exist: foreign keys are on. */
	a.id = 0;
	a.run_id = run + 99;
	assert_int_equal(journal_request_new(&fx->j, &a, msg, sizeof msg),
	    CF_EDB);
	assert_non_null(strstr(msg, "FOREIGN KEY"));
	assert_int_equal(a.id, 0);

	journal_request_release(&a);
	journal_request_release(&b);
}

/* From now on an event with detail "boom" is refused: its write fails. */
static void refuse_boom(struct journal *j)
{
	assert_int_equal(sqlite3_exec(j->db, "CREATE TRIGGER boom BEFORE "
	    "INSERT ON events WHEN NEW.detail = 'boom' BEGIN "
	    "SELECT RAISE(ABORT, 'event refused'); END", NULL, NULL, NULL),
	    SQLITE_OK);
}

static void test_save_event_same_transaction(void **state)
{
	struct fx *fx = *state;
	struct journal_request rq, got;
	char msg[256], buf[64], want[300];

	journal_request_init(&rq);
	journal_request_init(&got);
	assert_int_equal(journal_strset(&rq.server, "web01"), 0);
	assert_int_equal(journal_strset(&rq.state, "new"), 0);
	assert_int_equal(journal_request_new(&fx->j, &rq, msg, sizeof msg), 0);
	assert_int_equal(events(&fx->j, "web01", "new"), 1);

	assert_int_equal(journal_strset(&rq.state, "submitted"), 0);
	assert_int_equal(journal_strset(&rq.ca_status, "pending"), 0);
	assert_int_equal(journal_request_save(&fx->j, &rq, "retry after 30 s",
	    msg, sizeof msg), 0);
	assert_int_equal(events(&fx->j, "web01", "submitted"), 1);
	assert_int_equal(events(&fx->j, NULL, NULL), 2);
	assert_string_equal(sql_text(&fx->j, "SELECT detail FROM events "
	    "ORDER BY id DESC LIMIT 1", buf, sizeof buf), "retry after 30 s");
	assert_string_equal(sql_text(&fx->j, "SELECT ca_status FROM events "
	    "ORDER BY id DESC LIMIT 1", buf, sizeof buf), "pending");

	/*
	 * Make the event insert fail: the row update must not stay either,
	 * because both are one transaction.
	 */
	refuse_boom(&fx->j);
	assert_int_equal(journal_strset(&rq.state, "issued"), 0);
	assert_int_equal(journal_request_save(&fx->j, &rq, "boom", msg,
	    sizeof msg), CF_EDB);
	snprintf(want, sizeof want, "cannot save the request for 'web01' in "
	    "journal '%s': event refused", fx->path);
	assert_string_equal(msg, want);
	assert_int_equal(journal_request_latest(&fx->j, "web01", &got, msg,
	    sizeof msg), 0);
	assert_string_equal(got.state, "submitted");
	assert_int_equal(events(&fx->j, NULL, NULL), 2);
	/* The failed transaction is gone: the next save goes through. */
	assert_int_equal(journal_request_save(&fx->j, &rq, "issued", msg,
	    sizeof msg), 0);
	assert_int_equal(journal_request_latest(&fx->j, "web01", &got, msg,
	    sizeof msg), 0);
	assert_string_equal(got.state, "issued");
	assert_int_equal(events(&fx->j, "web01", "issued"), 1);
	journal_request_release(&rq);
	journal_request_release(&got);
}

static void test_final_not_resumed(void **state)
{
	struct fx *fx = *state;
	struct journal_request rq;
	char msg[256];
	int64_t done_id, open_id;

	journal_request_init(&rq);
	assert_int_equal(journal_request_open(&fx->j, "web01", &rq, msg,
	    sizeof msg), CF_ENOENT);
	done_id = add(&fx->j, "web01", "done", 1);
	add(&fx->j, "web02", "submitted", 0);
	assert_int_equal(journal_request_open(&fx->j, "web01", &rq, msg,
	    sizeof msg), CF_ENOENT);
	assert_int_equal(journal_request_latest(&fx->j, "web01", &rq, msg,
	    sizeof msg), 0);
	assert_int_equal(rq.id, done_id);
	assert_int_equal(rq.final, 1);

	/* The newest open request is the one to resume. */
	add(&fx->j, "web01", "submitted", 0);
	open_id = add(&fx->j, "web01", "pending", 0);
	assert_int_equal(journal_request_open(&fx->j, "web01", &rq, msg,
	    sizeof msg), 0);
	assert_int_equal(rq.id, open_id);
	assert_string_equal(rq.state, "pending");
	assert_string_equal(rq.server, "web01");

	/* Finishing it makes it the latest but no longer open. */
	rq.final = 1;
	assert_int_equal(journal_strset(&rq.state, "done"), 0);
	assert_int_equal(journal_request_save(&fx->j, &rq, NULL, msg,
	    sizeof msg), 0);
	assert_int_equal(journal_request_open(&fx->j, "web01", &rq, msg,
	    sizeof msg), 0);
	assert_true(rq.id != open_id);
	assert_string_equal(rq.state, "submitted");
	assert_int_equal(journal_request_latest(&fx->j, "web01", &rq, msg,
	    sizeof msg), 0);
	assert_int_equal(rq.id, open_id);

	/* Saving a request that does not exist writes nothing. */
	rq.id = 424242;
	assert_int_equal(journal_request_save(&fx->j, &rq, NULL, msg,
	    sizeof msg), CF_ENOENT);
	assert_int_equal(events(&fx->j, NULL, NULL), 5);
	journal_request_release(&rq);
	rq.id = 1;
	assert_int_equal(journal_request_save(&fx->j, &rq, NULL, msg,
	    sizeof msg), CF_EINVAL);
}

static void test_approve(void **state)
{
	struct fx *fx = *state;
	struct journal_request rq;
	char msg[256], buf[64];

	journal_request_init(&rq);
	assert_int_equal(journal_approve(&fx->j, "web01", msg, sizeof msg),
	    CF_ENOENT);
	assert_string_equal(msg, "no pending request for 'web01'");
	add(&fx->j, "web01", "issued", 0);
	assert_int_equal(journal_approve(&fx->j, "web01", msg, sizeof msg),
	    CF_ENOENT);
	assert_string_equal(msg, "no pending request for 'web01': its request "
	    "is 'issued'");
	add(&fx->j, "web01", "pending", 1);
	assert_int_equal(journal_approve(&fx->j, "web01", msg, sizeof msg),
	    CF_ENOENT);
	assert_int_equal(events(&fx->j, NULL, NULL), 2);

	add(&fx->j, "web01", "pending", 0);
	assert_int_equal(journal_approve(&fx->j, "web01", msg, sizeof msg), 0);
	assert_int_equal(journal_request_open(&fx->j, "web01", &rq, msg,
	    sizeof msg), 0);
	assert_int_equal(rq.approved, 1);
	assert_string_equal(rq.state, "pending");
	assert_int_equal(events(&fx->j, "web01", "pending"), 3);
	assert_string_equal(sql_text(&fx->j, "SELECT detail FROM events "
	    "ORDER BY id DESC LIMIT 1", buf, sizeof buf), "approved");
	/* Approval does not leak to another server. */
	assert_int_equal(journal_approve(&fx->j, "web02", msg, sizeof msg),
	    CF_ENOENT);
	journal_request_release(&rq);
}

/*
 * Issue 9, defect 5: a run holds the row in memory (approved = 0) while
 * approve writes approved = 1; the run's next saves must not undo it,
 * and the run sees it when it reads the column before asking the CA.
 */
static void test_approve_during_run(void **state)
{
	struct fx *fx = *state;
	struct journal_request held, got;
	struct journal other;
	char msg[256];
	int approved = -1;

	journal_request_init(&held);
	journal_request_init(&got);
	assert_int_equal(journal_strset(&held.server, "web01"), 0);
	assert_int_equal(journal_strset(&held.state, "submit"), 0);
	assert_int_equal(journal_request_new(&fx->j, &held, msg, sizeof msg),
	    0);
	/* A run killed in submit sends the same CSR again: approvable. */
	assert_int_equal(journal_open(&other, fx->path, msg, sizeof msg), 0);
	assert_int_equal(journal_approve(&other, "web01", msg, sizeof msg), 0);
	journal_close(&other);
	assert_int_equal(journal_strset(&held.state, "pending"), 0);
	assert_int_equal(journal_request_save(&fx->j, &held, NULL, msg,
	    sizeof msg), 0);
	assert_int_equal(journal_strset(&held.state, "poll"), 0);
	assert_int_equal(journal_request_save(&fx->j, &held, NULL, msg,
	    sizeof msg), 0);
	assert_int_equal(journal_request_open(&fx->j, "web01", &got, msg,
	    sizeof msg), 0);
	assert_int_equal(got.approved, 1);
	assert_int_equal(journal_request_approved(&fx->j, held.id, &approved,
	    msg, sizeof msg), 0);
	assert_int_equal(approved, 1);
	assert_int_equal(journal_request_approved(&fx->j, held.id + 1,
	    &approved, msg, sizeof msg), CF_ENOENT);
	/* Before the CA has it (keygen), there is nothing to approve yet. */
	add(&fx->j, "web02", "keygen", 0);
	assert_int_equal(journal_approve(&fx->j, "web02", msg, sizeof msg),
	    CF_ENOENT);
	assert_string_equal(msg, "no pending request for 'web02': its "
	    "request is 'keygen'");
	journal_request_release(&held);
	journal_request_release(&got);
}

/* What the last run found on each server: one row a server, replaced. */
static void test_servers(void **state)
{
	struct fx *fx = *state;
	struct journal_server s, got;
	char msg[256];
	int64_t run;

	journal_server_init(&s);
	journal_server_init(&got);
	assert_int_equal(journal_server_get(&fx->j, "web01", &got, msg,
	    sizeof msg), CF_ENOENT);
	assert_int_equal(journal_run_begin(&fx->j, "run", &run, msg,
	    sizeof msg), 0);
	s.name = strdup("web01");
	s.command = strdup("run");
	s.status = strdup("failed");
	s.report = strdup("{\"status\": \"failed\"}");
	s.run_id = run;
	assert_int_equal(journal_server_save(&fx->j, &s, msg, sizeof msg), 0);
	free(s.status);
	s.status = strdup("up_to_date");
	assert_int_equal(journal_server_save(&fx->j, &s, msg, sizeof msg), 0);
	assert_int_equal(journal_server_get(&fx->j, "web01", &got, msg,
	    sizeof msg), 0);
	assert_string_equal(got.status, "up_to_date");
	assert_string_equal(got.command, "run");
	assert_int_equal(got.run_id, run);
	assert_int_equal(got.request_id, 0);
	assert_true(got.updated_at > 0);
	assert_int_equal(sql_int(&fx->j, "SELECT count(*) FROM servers"), 1);
	free(s.report);
	s.report = NULL;
	assert_int_equal(journal_server_save(&fx->j, &s, msg, sizeof msg),
	    CF_EINVAL);
	journal_server_release(&s);
	journal_server_release(&got);
}

/* An assigned request with its usages and expiry, as a run leaves it. */
static void add_assigned(struct journal *j, const char *server,
    const char *usages, int64_t not_after)
{
	struct journal_request rq;
	char msg[256];

	journal_request_init(&rq);
	assert_int_equal(journal_strset(&rq.server, server), 0);
	assert_int_equal(journal_strset(&rq.state, "assigned"), 0);
	assert_int_equal(journal_strset(&rq.usages, usages), 0);
	rq.not_after = not_after;
	rq.final = 1;
	assert_int_equal(journal_request_new(j, &rq, msg, sizeof msg), 0);
	journal_request_release(&rq);
}

/* What --metrics reads: the last run that exited 0, and the certificate
 * a server was last assigned when the report row has none. */
static void test_installed(void **state)
{
	struct fx *fx = *state;
	struct journal_request rq;
	struct report_row row;
	char msg[256];
	int64_t run, at;
	unsigned usages;
	time_t na;

	assert_int_equal(journal_last_success(&fx->j, &at, msg, sizeof msg),
	    0);
	assert_int_equal(at, 0);
	assert_int_equal(journal_run_begin(&fx->j, "run", &run, msg,
	    sizeof msg), 0);
	assert_int_equal(journal_last_success(&fx->j, &at, msg, sizeof msg),
	    0);
	assert_int_equal(at, 0);
	assert_int_equal(journal_run_end(&fx->j, run, 1, msg, sizeof msg), 0);
	assert_int_equal(journal_last_success(&fx->j, &at, msg, sizeof msg),
	    0);
	assert_int_equal(at, 0);
	assert_int_equal(journal_run_begin(&fx->j, "assign", &run, msg,
	    sizeof msg), 0);
	assert_int_equal(journal_run_end(&fx->j, run, 0, msg, sizeof msg), 0);
	assert_int_equal(journal_last_success(&fx->j, &at, msg, sizeof msg),
	    0);
	assert_true(at > 0);
	assert_int_equal(at, sql_int(&fx->j, "SELECT finished_at FROM runs "
	    "WHERE exit_code = 0"));

	journal_request_init(&rq);
	assert_int_equal(journal_request_assigned(&fx->j, "web01", &rq, msg,
	    sizeof msg), CF_ENOENT);
	add_assigned(&fx->j, "web01", "default,webservices_external", 1000);
	add_assigned(&fx->j, "web01", "default", 2000);
	/* A later request that failed leaves the assigned one in place. */
	add(&fx->j, "web01", "failed", 1);
	assert_int_equal(journal_request_assigned(&fx->j, "web01", &rq, msg,
	    sizeof msg), 0);
	assert_int_equal(rq.not_after, 2000);
	journal_request_release(&rq);

	memset(&row, 0, sizeof row);
	row.name = "web01";
	/* A new certificate whose assignment was rolled back (the row still
	 * names the usages it was given for a moment). */
	row.status = REPORT_FAILED;
	row.not_after = 3000;
	row.usages = USAGE_ALL_PREDEFINED;
	assert_int_equal(status_row_installed(NULL, &fx->j, &row, &usages, &na, msg,
	    sizeof msg), 0);
	assert_int_equal(usages, 1u << USAGE_DEFAULT);
	assert_int_equal(na, 2000);
	assert_int_equal(status_row_installed(NULL, NULL, &row, &usages, &na, msg,
	    sizeof msg), 0);
	assert_int_equal(usages, 0);
	assert_int_equal(na, 0);
	row.status = REPORT_UP_TO_DATE;
	assert_int_equal(status_row_installed(NULL, &fx->j, &row, &usages, &na, msg,
	    sizeof msg), 0);
	assert_int_equal(usages, USAGE_ALL_PREDEFINED);
	assert_int_equal(na, 3000);
	row.name = "web02";
	row.status = REPORT_DENIED;
	assert_int_equal(status_row_installed(NULL, &fx->j, &row, &usages, &na, msg,
	    sizeof msg), 0);
	assert_int_equal(usages, 0);
	assert_int_equal(na, 0);
}

static void test_durable_across_close(void **state)
{
	struct fx *fx = *state;
	struct journal_request a, b;
	char msg[256];

	journal_request_init(&a);
	journal_request_init(&b);
	fill(&a, "web01", "kept", 1700000000);
	assert_int_equal(journal_request_new(&fx->j, &a, msg, sizeof msg), 0);
	assert_int_equal(journal_request_save(&fx->j, &a, "saved", msg,
	    sizeof msg), 0);
	journal_close(&fx->j);
	assert_int_equal(journal_open(&fx->j, fx->path, msg, sizeof msg), 0);
	assert_int_equal(journal_request_open(&fx->j, "web01", &b, msg,
	    sizeof msg), 0);
	assert_same(&a, &b);
	assert_int_equal(events(&fx->j, "web01", NULL), 2);
	journal_request_release(&a);
	journal_request_release(&b);
}

static void test_hostile_strings(void **state)
{
	struct fx *fx = *state;
	struct journal_request a, b;
	const char *evil = "a'; DROP TABLE requests;--";
	const char *evil2 = "\"); DELETE FROM events; SELECT ('%s%n?1";
	char msg[256];

	journal_request_init(&a);
	journal_request_init(&b);
	add(&fx->j, "web01", "issued", 0);
	fill(&a, evil, "x", 1);
	assert_int_equal(journal_strset(&a.state, evil2), 0);
	assert_int_equal(journal_strset(&a.usages, evil), 0);
	assert_int_equal(journal_request_new(&fx->j, &a, msg, sizeof msg), 0);
	assert_int_equal(journal_request_save(&fx->j, &a, evil2, msg,
	    sizeof msg), 0);
	assert_int_equal(journal_request_latest(&fx->j, evil, &b, msg,
	    sizeof msg), 0);
	assert_same(&a, &b);
	assert_string_equal(b.server, evil);
	assert_string_equal(b.state, evil2);
	assert_int_equal(events(&fx->j, evil, evil2), 2);
	assert_int_equal(events(&fx->j, NULL, NULL), 3);
	/* Everything else is still there. */
	assert_int_equal(journal_request_latest(&fx->j, "web01", &b, msg,
	    sizeof msg), 0);
	assert_int_equal(sql_int(&fx->j, "SELECT count(*) FROM requests"), 2);
	assert_int_equal(journal_approve(&fx->j, evil, msg, sizeof msg),
	    CF_ENOENT);
	journal_request_release(&a);
	journal_request_release(&b);
}

/* In the child: open, record, and die by SIGKILL right after the save. */
static void child_save_and_die(const char *path)
{
	struct journal j;
	struct journal_request rq;
	char msg[256];

	journal_request_init(&rq);
	if (journal_open(&j, path, msg, sizeof msg) != 0 ||
	    journal_strset(&rq.server, "web01") != 0 ||
	    journal_strset(&rq.state, "submitted") != 0 ||
	    journal_request_new(&j, &rq, msg, sizeof msg) != 0 ||
	    journal_strset(&rq.state, "issued") != 0 ||
	    journal_strset(&rq.thumbprint, "AB12") != 0 ||
	    journal_request_save(&j, &rq, "issued by the CA", msg,
	    sizeof msg) != 0)
		_exit(1);
	kill(getpid(), SIGKILL);
	_exit(2);
}

/* Runs child(path) in a child process, which must die by SIGKILL; the
 * journal is closed first (no SQLite connection may cross fork(): the
 * child opens its own) and stays closed. */
static void killed_child(struct fx *fx, void (*child)(const char *path))
{
	pid_t pid;
	int st;

	journal_close(&fx->j);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child(fx->path);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
}

static void test_durable_across_sigkill(void **state)
{
	struct fx *fx = *state;
	struct journal_request rq;
	char msg[256];

	killed_child(fx, child_save_and_die);

	journal_request_init(&rq);
	assert_int_equal(journal_open(&fx->j, fx->path, msg, sizeof msg), 0);
	assert_int_equal(journal_request_open(&fx->j, "web01", &rq, msg,
	    sizeof msg), 0);
	assert_string_equal(rq.state, "issued");
	assert_string_equal(rq.thumbprint, "AB12");
	/* Resuming means no second issuance: one request, its two events. */
	assert_int_equal(events(&fx->j, "web01", "submitted"), 1);
	assert_int_equal(events(&fx->j, "web01", "issued"), 1);
	assert_int_equal(sql_int(&fx->j, "SELECT count(*) FROM requests"), 1);
	journal_request_release(&rq);
}

/*
 * Every journal of a state directory read at once (journal_set.c): which
 * ones are found (the unsharded one and each shard's, nothing else), in
 * which order, which one a server is read from (the one that wrote to it
 * last), and what the whole set's last success is. The times are set with
 * SQL so that no test waits for the clock.
 */

static void sql_exec(struct journal *j, const char *s)
{
	assert_int_equal(sqlite3_exec(j->db, s, NULL, NULL, NULL), SQLITE_OK);
}

/* Opens (creating) the journal at dir/sub/journal.db. */
static void open_at(struct journal *j, const char *dir, const char *sub)
{
	char path[256], msg[256];

	snprintf(path, sizeof path, "%s/%s/journal.db", dir, sub);
	assert_int_equal(journal_open(j, path, msg, sizeof msg), 0);
}

/* A servers row for name, written at time at. */
static void server_at(struct journal *j, const char *name, int64_t at)
{
	struct journal_server s;
	char msg[256], q[256];

	journal_server_init(&s);
	s.name = strdup(name);
	s.command = strdup("run");
	s.status = strdup("assigned");
	s.report = strdup("{}");
	assert_int_equal(journal_server_save(j, &s, msg, sizeof msg), 0);
	journal_server_release(&s);
	snprintf(q, sizeof q, "UPDATE servers SET updated_at = %lld WHERE "
	    "name = '%s'", (long long)at, name);
	sql_exec(j, q);
}

/* A request for name, last written at time at. */
static void request_at(struct journal *j, const char *name, int64_t at)
{
	struct journal_request rq;
	char msg[256], q[256];

	journal_request_init(&rq);
	assert_int_equal(journal_strset(&rq.server, name), 0);
	assert_int_equal(journal_strset(&rq.state, "pending"), 0);
	assert_int_equal(journal_request_new(j, &rq, msg, sizeof msg), 0);
	journal_request_release(&rq);
	snprintf(q, sizeof q, "UPDATE requests SET updated_at = %lld WHERE "
	    "server = '%s'", (long long)at, name);
	sql_exec(j, q);
}

/* A run that exited code and finished at time at. */
static void run_at(struct journal *j, int code, int64_t at)
{
	char msg[256], q[128];
	int64_t id;

	assert_int_equal(journal_run_begin(j, "run", &id, msg, sizeof msg), 0);
	assert_int_equal(journal_run_end(j, id, code, msg, sizeof msg), 0);
	snprintf(q, sizeof q, "UPDATE runs SET finished_at = %lld WHERE "
	    "id = %lld", (long long)at, (long long)id);
	sql_exec(j, q);
}

/* journal_set_pick reads name from entry want (-1: from none). */
static void assert_pick(struct journal_set *js, const char *name, int want)
{
	struct journal *j;
	char msg[256];

	assert_int_equal(journal_set_pick(js, name, &j, msg, sizeof msg), 0);
	if (want < 0)
		assert_null(j);
	else
		assert_ptr_equal(j, js->v[want].jr);
}

/* The set's last success, as journal_set_last_success has it now. */
static int64_t set_success(struct journal_set *js)
{
	char msg[256];
	int64_t at;

	assert_int_equal(journal_set_last_success(js, &at, msg, sizeof msg),
	    0);
	return at;
}

/*
 * The state directory of a fleet that ran unsharded, then in 2 shards:
 * web01 moved on to shard 1 of 2, web02 was last seen unsharded, web03's
 * newest record is a request of shard 2 of 2. Directories that are not
 * shards, and a shard that never made a journal, are ignored.
 */
static void make_state(const char *dir)
{
	struct journal u, a, b;
	char path[256], msg[256];

	open_at(&u, dir, "state");
	open_at(&a, dir, "state/shards/1-of-2");
	open_at(&b, dir, "state/shards/2-of-2");
	server_at(&u, "web01", 100);
	server_at(&a, "web01", 200);
	server_at(&u, "web02", 150);
	server_at(&u, "web03", 50);
	request_at(&b, "web03", 300);
	run_at(&u, 0, 1000);
	run_at(&a, 0, 2000);
	run_at(&b, 1, 3000);
	journal_close(&u);
	journal_close(&a);
	journal_close(&b);
	snprintf(path, sizeof path, "%s/state/shards/1-of-3", dir);
	assert_int_equal(fsio_mkdirs(path, 0700, msg, sizeof msg), 0);
	snprintf(path, sizeof path, "%s/state/shards/01-of-2", dir);
	assert_int_equal(fsio_mkdirs(path, 0700, msg, sizeof msg), 0);
	/* Not a journal at all: opening it would fail the whole set. */
	snprintf(path, sizeof path, "%s/state/shards/junk", dir);
	assert_int_equal(fsio_mkdirs(path, 0700, msg, sizeof msg), 0);
	snprintf(path, sizeof path, "%s/state/shards/junk/journal.db", dir);
	assert_int_equal(fsio_write_atomic(path, "x", 1, 0600, msg,
	    sizeof msg), 0);
}

static void test_set_all(void **state)
{
	struct fx *fx = *state;
	struct journal_set js;
	char sd[128], msg[256];

	make_state(fx->dir);
	snprintf(sd, sizeof sd, "%s/state", fx->dir);
	assert_int_equal(journal_set_open(&js, sd, NULL, msg, sizeof msg), 0);
	assert_int_equal(js.n, 3);
	assert_int_equal(js.v[0].shard.n, 0);
	assert_int_equal(js.v[1].shard.k, 1);
	assert_int_equal(js.v[1].shard.n, 2);
	assert_int_equal(js.v[2].shard.k, 2);
	/* Nothing picked yet: no part of the fleet showing has succeeded. */
	assert_int_equal(set_success(&js), 0);
	assert_pick(&js, "web01", 1);
	assert_pick(&js, "web02", 0);
	/* The oldest success of the journals shown: the unsharded one. */
	assert_int_equal(set_success(&js), 1000);
	assert_pick(&js, "web03", 2);
	/* Shard 2 of 2 never exited 0: the fleet has not succeeded. */
	assert_int_equal(set_success(&js), 0);
	assert_pick(&js, "nobody", -1);
	journal_set_release(&js);
	journal_set_release(&js);
}

/* Opens state directory sd's journals for one (NULL: all): want_n of
 * them (0 or 1), which one is then the answer for any server, unread, and
 * its last success want_success. */
static void assert_only(const char *sd, const struct shard *one,
    size_t want_n, int64_t want_success)
{
	struct journal_set js;
	char msg[256];

	assert_int_equal(journal_set_open(&js, sd, one, msg, sizeof msg), 0);
	assert_int_equal(js.n, want_n);
	if (want_n == 1) {
		assert_int_equal(js.v[0].shard.k, one->k);
		assert_int_equal(js.v[0].shard.n, one->n);
	}
	assert_pick(&js, "web01", want_n ? 0 : -1);
	assert_int_equal(set_success(&js), want_success);
	journal_set_release(&js);
}

static void test_set_one(void **state)
{
	struct fx *fx = *state;
	struct shard two = { 2, 2 }, none = { 0, 0 }, missing = { 1, 3 };
	char sd[128];

	make_state(fx->dir);
	snprintf(sd, sizeof sd, "%s/state", fx->dir);
	assert_only(sd, &two, 1, 0);
	assert_only(sd, &none, 1, 1000);
	/* A shard that never ran has no journal, and none is made. */
	assert_only(sd, &missing, 0, 0);
	snprintf(sd, sizeof sd, "%s/state/shards/1-of-3/journal.db", fx->dir);
	assert_int_equal(access(sd, F_OK), -1);
}

static void test_set_empty_and_borrowed(void **state)
{
	struct fx *fx = *state;
	struct journal_set js;
	struct journal own;
	char sd[128];

	/* No state directory yet: nothing, and nothing made. */
	snprintf(sd, sizeof sd, "%s/state", fx->dir);
	assert_only(sd, NULL, 0, 0);
	assert_int_equal(access(sd, F_OK), -1);
	/* A run's own journal, borrowed: the release leaves it open. */
	open_at(&own, fx->dir, "state");
	assert_int_equal(journal_set_borrow(&js, &own), 0);
	assert_pick(&js, "web01", 0);
	assert_ptr_equal(js.v[0].jr, &own);
	journal_set_release(&js);
	run_at(&own, 0, 500);
	journal_close(&own);
}

/* Requests another connection (one of its own) sees: what is durable. */
static int64_t seen_elsewhere(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t n = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM "
	    "requests", -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

/*
 * Grouped writes share one transaction: none is durable (seen by another
 * connection) before journal_commit, all are after; a write that fails in
 * the group undoes only itself; a commit with nothing open is a no-op.
 */
static void test_group_commit(void **state)
{
	struct fx *fx = *state;
	struct journal_request rq, got;
	char msg[256];

	journal_request_init(&rq);
	journal_request_init(&got);
	assert_int_equal(journal_group(&fx->j, true, msg, sizeof msg), 0);
	assert_false(journal_uncommitted(&fx->j));
	add(&fx->j, "web01", "keygen", 0);
	assert_int_equal(journal_strset(&rq.server, "web02"), 0);
	assert_int_equal(journal_strset(&rq.state, "keygen"), 0);
	assert_int_equal(journal_request_new(&fx->j, &rq, msg, sizeof msg), 0);
	assert_true(journal_uncommitted(&fx->j));
	/* This connection reads its own writes; no other one does yet. */
	assert_int_equal(sql_int(&fx->j, "SELECT count(*) FROM requests"), 2);
	assert_int_equal(seen_elsewhere(fx->path), 0);

	refuse_boom(&fx->j);
	assert_int_equal(journal_strset(&rq.state, "submit"), 0);
	assert_int_equal(journal_request_save(&fx->j, &rq, "boom", msg,
	    sizeof msg), CF_EDB);
	assert_int_equal(journal_request_latest(&fx->j, "web02", &got, msg,
	    sizeof msg), 0);
	assert_string_equal(got.state, "keygen");
	assert_true(journal_uncommitted(&fx->j));

	assert_int_equal(journal_commit(&fx->j, msg, sizeof msg), 0);
	assert_false(journal_uncommitted(&fx->j));
	assert_int_equal(seen_elsewhere(fx->path), 2);
	assert_int_equal(events(&fx->j, NULL, NULL), 2);
	assert_int_equal(journal_commit(&fx->j, msg, sizeof msg), 0);

	/* Ending the group commits what is open. */
	add(&fx->j, "web03", "keygen", 0);
	assert_int_equal(seen_elsewhere(fx->path), 2);
	assert_int_equal(journal_group(&fx->j, false, msg, sizeof msg), 0);
	assert_int_equal(seen_elsewhere(fx->path), 3);
	add(&fx->j, "web04", "keygen", 0);
	assert_false(journal_uncommitted(&fx->j));
	assert_int_equal(seen_elsewhere(fx->path), 4);
	journal_request_release(&rq);
	journal_request_release(&got);
}

/* A child that groups two writes, commits the first only, and is
 * killed: the second never reaches the disk. */
static void child_group_and_die(const char *path)
{
	struct journal j;
	char msg[256];

	if (journal_open(&j, path, msg, sizeof msg) != 0)
		_exit(2);
	journal_group(&j, true, msg, sizeof msg);
	add(&j, "web01", "keygen", 0);
	if (journal_commit(&j, msg, sizeof msg) != 0)
		_exit(3);
	add(&j, "web02", "keygen", 0);
	kill(getpid(), SIGKILL);
	_exit(4);
}

static void test_group_commit_sigkill(void **state)
{
	struct fx *fx = *state;
	char msg[256];

	killed_child(fx, child_group_and_die);
	assert_int_equal(journal_open(&fx->j, fx->path, msg, sizeof msg), 0);
	assert_int_equal(sql_int(&fx->j, "SELECT count(*) FROM requests "
	    "WHERE server = 'web01'"), 1);
	assert_int_equal(sql_int(&fx->j, "SELECT count(*) FROM requests "
	    "WHERE server = 'web02'"), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_from_v1, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_round_trip,
		    setup_open, teardown),
		cmocka_unit_test_setup_teardown(
		    test_save_event_same_transaction, setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_final_not_resumed,
		    setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_approve,
		    setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_approve_during_run,
		    setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_servers,
		    setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_installed, setup_open,
		    teardown),
		cmocka_unit_test_setup_teardown(test_durable_across_close,
		    setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_strings,
		    setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_set_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_empty_and_borrowed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_durable_across_sigkill,
		    setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit,
		    setup_open, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit_sigkill,
		    setup_open, teardown),
	};
	return cmocka_run_group_tests_name("journal", tests, NULL, NULL);
}
