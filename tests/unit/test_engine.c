/*
 * The engine end to end on a real libuv loop: the real job state machine
 * (engine/job*.c, job_state.c's transition table), the local transport over
 * mkdtemp server directories, a real journal (SQLite) and report, and a
 * scriptable fake CA (fake_ca.h) that really signs. Each scenario ends
 * every run by checking that each server's latest journal row and its
 * report row say the same thing (check_agree). The transitions the journal
 * shows are collected across all scenarios, and the last test fails naming
 * every transition of the table that none took.
 *
 * A test marked "defect N" checks what issue 9's defect N asks for and
 * fails until that defect is fixed; "finding" marks a disagreement this
 * test found that issue 9 does not list.
 */
#include "tests/unit/unit.h"
#include "tests/unit/fake_ca.h"
#include "engine/ca/ca_local.h"
#include "engine/base/crypto.h"
#include "engine/job/engine.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/job/job_state.h"
#include "engine/journal/journal.h"
#include "engine/report/report.h"
#include "engine/journal/status_row.h"
#include "engine/transport/transport_local.h"
#include "tests/unit/tls_server.h"

#include <dirent.h>
#include <ftw.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NSRV 8

/* The embedded CA the fake signs with, made once for the whole group. */
static struct {
	char dir[64];
	char root[128], root_key[128], issuing[128], issuing_key[128];
	char *root_pem, *issuing_pem;
} ca;

/* Every (from, to) a job took, over every scenario run so far. */
static bool taken[JOB_STATE_MAX][JOB_STATE_MAX];

struct srv {
	char name[32];
	char root[192];             /* the local transport's root */
	char roots[64], inters[64], certs[64];      /* server paths */
	char cert_path[64];         /* usage default's cert, when bound */
	struct req_spec spec;
	struct store_paths store;
	struct usage_binding bind[USAGE_CAP];
};

struct fx {
	char dir[64];
	char keys[128];             /* the state directory's keys/ */
	char db[128];
	uv_loop_t loop;
	struct journal jr;
	sqlite3 *sql;               /* the same file, read directly */
	struct fake_ca *ca;
	struct srv srv[NSRV];
	struct engine_target tg[NSRV];
	size_t n;
	struct report report;       /* of the last run */
	int ends[NSRV];             /* job ends the observer saw */
	bool check_ahead;           /* the write-ahead rule is checked */
	int commits;                /* journal commits of the last run */
	const char *tag;            /* "defect 2": prefixes every failure */
	char fails[16384];          /* checks that failed, one a line */
	size_t nfails;
};

/* How one run is made; zero is a plain `run` over every server. */
struct opts {
	enum engine_mode mode;
	bool no_assign;             /* assignment off (held) */
	bool force;
	bool short_wait;            /* max_wait 0 s instead of 5 */
	const char *keys_dir;       /* NULL: the fixture's */
	const struct engine_rollout *rollout;
	int concurrency;            /* 0: 2 */
};

static char *const reload_fails[] = { "/bin/false", NULL };

/* ---- soft checks ------------------------------------------------------ */

/* Notes a failed check and goes on, so one run reports every
 * disagreement; verdict() fails the test with all of them. */
static void expect(struct fx *f, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void expect(struct fx *f, bool ok, const char *fmt, ...)
{
	size_t len = strlen(f->fails);
	va_list ap;

	if (ok)
		return;
	f->nfails++;
	if (f->tag != NULL) {
		snprintf(f->fails + len, sizeof f->fails - len, "%s: ", f->tag);
		len = strlen(f->fails);
	}
	va_start(ap, fmt);
	vsnprintf(f->fails + len, sizeof f->fails - len, fmt, ap);
	va_end(ap);
	len = strlen(f->fails);
	if (len + 1 < sizeof f->fails)
		strcpy(f->fails + len, "\n");
}

/* One line at a time: cmocka cuts a message at 1024 bytes. */
static void verdict(struct fx *f)
{
	char *line, *save = NULL;

	if (f->nfails == 0)
		return;
	for (line = strtok_r(f->fails, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		print_error("%s\n", line);
	fail_msg("%zu check(s) failed", f->nfails);
}

static const char *str(const char *s)
{
	return s ? s : "";
}

/* ---- files ------------------------------------------------------------ */

static char *slurp(const char *path)
{
	char *data, msg[256];
	size_t len;

	if (fsio_read_file(path, 1 << 20, &data, &len, msg, sizeof msg) != 0)
		return NULL;
	return data;
}

static void put(const char *path, const char *data, mode_t mode)
{
	char msg[512], *dir = strdup(path);

	assert_non_null(dir);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(fsio_mkdirs(dir, 0755, msg, sizeof msg), 0);
	free(dir);
	assert_int_equal(fsio_write_atomic(path, data, strlen(data), mode, msg,
	    sizeof msg), 0);
}

static int rm_one(const char *p, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* The thumbprint of the first certificate in the file at path, or "". */
static void thumb_of_file(const char *path, char out[41])
{
	STACK_OF(X509) *certs = NULL;
	char *pem = slurp(path), msg[256];

	out[0] = '\0';
	if (pem && crypto_certs_from_pem(pem, path, &certs, msg,
	    sizeof msg) == 0)
		crypto_thumbprint(sk_X509_value(certs, 0), out);
	sk_X509_pop_free(certs, X509_free);
	free(pem);
}

/* Waiting keys of server name under keys/. */
static int keys_waiting(struct fx *f, const char *name)
{
	size_t n = strlen(name);
	struct dirent *de;
	DIR *d = opendir(f->keys);
	int count = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, name, n) == 0 && de->d_name[n] == '-')
			count++;
	closedir(d);
	return count;
}

/* ---- the fixture ------------------------------------------------------ */

static int group_setup(void **state)
{
	char msg[512];

	(void)state;
	strcpy(ca.dir, "/tmp/cf-engine-ca-XXXXXX");
	assert_non_null(mkdtemp(ca.dir));
	snprintf(ca.root, sizeof ca.root, "%s/root.pem", ca.dir);
	snprintf(ca.root_key, sizeof ca.root_key, "%s/root.key", ca.dir);
	snprintf(ca.issuing, sizeof ca.issuing, "%s/issuing.pem", ca.dir);
	snprintf(ca.issuing_key, sizeof ca.issuing_key, "%s/issuing.key",
	    ca.dir);
	assert_int_equal(ca_local_create("contoso", ca.root, ca.root_key,
	    ca.issuing, ca.issuing_key, msg, sizeof msg), 0);
	assert_non_null(ca.root_pem = slurp(ca.root));
	assert_non_null(ca.issuing_pem = slurp(ca.issuing));
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(ca.root_pem);
	free(ca.issuing_pem);
	nftw(ca.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char msg[512];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/cf-engine-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->keys, sizeof f->keys, "%s/state/keys", f->dir);
	snprintf(f->db, sizeof f->db, "%s/state/journal.db", f->dir);
	assert_int_equal(fsio_mkdirs(f->keys, 0700, msg, sizeof msg), 0);
	assert_int_equal(journal_open(&f->jr, f->db, msg, sizeof msg), 0);
	assert_int_equal(sqlite3_open_v2(f->db, &f->sql, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(fake_ca_new(&f->loop, ca.root, ca.issuing,
	    ca.issuing_key, &f->ca, msg, sizeof msg), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	size_t i;

	assert_int_equal(fake_ca_outstanding(f->ca), 0);
	fake_ca_free(f->ca);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	sqlite3_close(f->sql);
	journal_close(&f->jr);
	report_release(&f->report);
	for (i = 0; i < f->n; i++)
		req_spec_release(&f->srv[i].spec);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

enum srv_flags {
	NO_ROOT = 1 << 0,           /* its root store lacks the CA's root */
	NO_INTER = 1 << 1,          /* its intermediate store lacks it */
	ROOTS_UNREADABLE = 1 << 2,  /* its root store path is refused */
	CERT_UNREADABLE = 1 << 3,   /* its usage's cert path is refused */
	RELOAD_FAILS = 1 << 4,      /* its usage's reload exits 1 */
	ALL_USAGES = 1 << 5         /* the three usages, not default alone */
};

/* A server as cmd_run.c makes a target of a fleet entry: a local root
 * with its stores, a request spec from the template, usage default. */
static struct srv *add_server(struct fx *f, const char *name, unsigned flags)
{
	struct srv *s = &f->srv[f->n];
	struct engine_target *tg = &f->tg[f->n];
	char path[512], san[96], subject[128], dir[64];

	assert_true(f->n < NSRV);
	memset(s, 0, sizeof(*s));
	/* A copy: gcc cannot tell f->dir from f->srv[n] (-Wrestrict). */
	memcpy(dir, f->dir, sizeof dir);
	snprintf(s->name, sizeof s->name, "%s", name);
	snprintf(s->root, sizeof s->root, "%s/servers/%s", dir, name);
	snprintf(s->roots, sizeof s->roots, "%s", flags & ROOTS_UNREADABLE ?
	    "trust/../trust/roots" : "trust/roots");
	snprintf(s->inters, sizeof s->inters, "trust/intermediates");
	snprintf(s->certs, sizeof s->certs, "certs");
	snprintf(path, sizeof path, "%s/certs/README", s->root);
	put(path, "certificates go here\n", 0644);
	snprintf(path, sizeof path, "%s/trust/roots/root.pem", s->root);
	put(path, flags & NO_ROOT ? "" : ca.root_pem, 0644);
	snprintf(path, sizeof path, "%s/trust/intermediates/issuing.pem",
	    s->root);
	put(path, flags & NO_INTER ? "" : ca.issuing_pem, 0644);
	s->store.roots = s->roots;
	s->store.intermediates = s->inters;
	s->store.certs = s->certs;
	if (flags & CERT_UNREADABLE) {
		snprintf(s->cert_path, sizeof s->cert_path, "../outside.pem");
		s->bind[USAGE_DEFAULT].cert = s->cert_path;
	}
	if (flags & RELOAD_FAILS)
		s->bind[USAGE_DEFAULT].reload = (char **)reload_fails;

	req_spec_init(&s->spec);
	snprintf(subject, sizeof subject, "CN=%s.contoso.test, O=Contoso",
	    name);
	snprintf(san, sizeof san, "DNS:%s.contoso.test", name);
	assert_non_null(s->spec.subject = strdup(subject));
	assert_int_equal(req_spec_add_san(&s->spec, san), 0);
	s->spec.eku = EKU_SERVER_AUTH | EKU_CLIENT_AUTH;
	s->spec.days = 30;

	memset(tg, 0, sizeof(*tg));
	tg->name = s->name;
	tg->spec = &s->spec;
	tg->usages = flags & ALL_USAGES ? USAGE_ALL_PREDEFINED : 1u << USAGE_DEFAULT;
	tg->store = &s->store;
	tg->bindings = s->bind;
	f->n++;
	return s;
}

/* Puts the CA's root and issuing certificates back into s's stores. */
static void fix_stores(struct srv *s)
{
	char path[512];

	snprintf(path, sizeof path, "%s/trust/roots/root.pem", s->root);
	put(path, ca.root_pem, 0644);
	snprintf(path, sizeof path, "%s/trust/intermediates/issuing.pem",
	    s->root);
	put(path, ca.issuing_pem, 0644);
}

static void script(struct fx *f, const char *server,
    const struct fake_answer *seq, size_t n)
{
	assert_int_equal(fake_ca_script(f->ca, server, seq, n), 0);
}

#define SCRIPT(f, server, ...) do { \
	const struct fake_answer seq_[] = { __VA_ARGS__ }; \
	script(f, server, seq_, sizeof seq_ / sizeof seq_[0]); \
} while (0)

static const struct fake_answer ISSUED = { FAKE_ISSUED, 0, NULL, 0 };

static struct fake_counts counts(struct fx *f, const char *server)
{
	struct fake_counts c;

	fake_ca_counts(f->ca, server, &c);
	return c;
}

static struct report_row *row_of(struct fx *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->report.n; i++)
		if (strcmp(f->report.rows[i].name, name) == 0)
			return &f->report.rows[i];
	fail_msg("no report row for '%s'", name);
	return NULL;
}

static const char *status_name(struct fx *f, const char *name)
{
	return report_status_name(row_of(f, name)->status);
}

/* The server's latest journal row, released by the caller. */
static int latest(struct fx *f, const char *name, struct journal_request *rq)
{
	char msg[256];

	journal_request_init(rq);
	return journal_request_latest(&f->jr, name, rq, msg, sizeof msg);
}

static int64_t sql_int(struct fx *f, const char *q, const char *arg)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_prepare_v2(f->sql, q, -1, &st, NULL),
	    SQLITE_OK);
	if (arg)
		sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t events_now(struct fx *f)
{
	return sql_int(f, "SELECT coalesce(max(id), 0) FROM events", NULL);
}

/* ---- journal and report agree ----------------------------------------- */

static unsigned usages_of(const char *names)
{
	char buf[256], *p, *save = NULL;
	unsigned bits = 0;
	int u;

	snprintf(buf, sizeof buf, "%s", str(names));
	for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save))
		if ((u = usage_from_name(NULL, p)) >= 0)
			bits |= 1u << u;
		else
			bits |= 1u << (USAGE_CAP - 1);        /* never a report's */
	return bits;
}

/*
 * The one rule for journal and report, after every run that writes (plan
 * writes nothing):
 * 1. What status reads from the journal for the server (status_row_fill:
 *    what the last run found, or a request a stopped run left) is the
 *    report row: status, thumbprint, error and usages.
 * 2. The server's latest request agrees with the report. An open one is in
 *    a state that holds a request (a finished run never leaves one half
 *    made, in keygen) and means what the report says: submit and poll
 *    pending (only in assign, which asks no CA), pending pending, held and
 *    chain_failed issued, assign_failed assign_failed, and issued,
 *    chain_check and assign failed with the same error (the certificate
 *    kept for the next run). A server reported assigned has its latest
 *    request assigned, with the same thumbprint and usages; one reported
 *    denied, its latest request denied, for the reason the report gives.
 */
static void check_agree(struct fx *f, size_t i, enum engine_mode mode)
{
	const struct report_row *row = &f->report.rows[i];
	const char *name = row->name, *rs = report_status_name(row->status);
	struct report_row js;
	struct journal_request rq;
	char msg[512];
	int want = -1, st;

	memset(&js, 0, sizeof js);
	chain_verdict_init(&js.chain);
	js.name = strdup(name);
	journal_request_init(&rq);
	assert_int_equal(status_row_fill(NULL, &f->jr, name, &js, &rq, msg,
	    sizeof msg), 0);
	expect(f, js.status == row->status, "%s: the journal says %s, the "
	    "report %s", name, report_status_name(js.status), rs);
	expect(f, strcmp(js.thumbprint, row->thumbprint) == 0, "%s: journal "
	    "thumbprint '%s', report '%s'", name, js.thumbprint,
	    row->thumbprint);
	expect(f, strcmp(str(js.error), str(row->error)) == 0, "%s: journal "
	    "error '%s', report error '%s'", name, str(js.error),
	    str(row->error));
	expect(f, js.usages == row->usages, "%s: journal usages 0x%x, report "
	    "usages 0x%x", name, js.usages, row->usages);
	report_row_release(&js);
	if (rq.id == 0) {
		expect(f, row->status == REPORT_UP_TO_DATE ||
		    row->status == REPORT_FAILED, "%s: report says %s but the "
		    "journal has no request for it", name, rs);
		return;
	}
	st = job_state_from_name(rq.state);
	if (!rq.final) {
		switch (st) {
		case JOB_SUBMIT:
		case JOB_POLL:
			want = mode == ENGINE_ASSIGN ? REPORT_PENDING : -1;
			break;
		case JOB_PENDING: want = REPORT_PENDING; break;
		case JOB_HELD:
		case JOB_CHAIN_FAILED: want = REPORT_ISSUED; break;
		case JOB_ASSIGN_FAILED: want = REPORT_ASSIGN_FAILED; break;
		case JOB_READY: want = REPORT_HELD; break;
		case JOB_VERIFY_FAILED:
		case JOB_ISSUED:
		case JOB_CHAIN_CHECK:
		case JOB_ASSIGN: want = REPORT_FAILED; break;
		default: want = -1;
		}
		expect(f, want >= 0 && (int)row->status == want, "%s: a "
		    "finished run left request %lld open in '%s' (report says "
		    "%s, error '%s')", name, (long long)rq.id, rq.state, rs,
		    str(row->error));
		if (want == REPORT_FAILED)
			expect(f, strcmp(str(rq.error), str(row->error)) == 0,
			    "%s: request error '%s', report error '%s'", name,
			    str(rq.error), str(row->error));
	}
	if (row->status == REPORT_ASSIGNED)
		expect(f, st == JOB_ASSIGNED && strcmp(str(rq.thumbprint),
		    row->thumbprint) == 0 && usages_of(rq.usages) ==
		    row->usages, "%s: reported assigned (%s), latest request "
		    "'%s' (%s, usages '%s')", name, row->thumbprint, rq.state,
		    str(rq.thumbprint), str(rq.usages));
	if (row->status == REPORT_DENIED)
		expect(f, st == JOB_DENIED && rq.error && row->error &&
		    strstr(row->error, rq.error), "%s: reported denied ('%s'), "
		    "latest request '%s' ('%s')", name, str(row->error),
		    rq.state, str(rq.error));
	journal_request_release(&rq);
}

/* ---- transitions taken ------------------------------------------------ */

/*
 * The engine's observer: every transition a job takes, as it takes it
 * (the setter refuses what the table forbids, so each one seen is
 * allowed), and one end per job.
 */
static void observe(void *ctx, size_t i, enum job_state from,
    enum job_state to, const char *why, bool end)
{
	struct fx *f = ctx;

	(void)why;
	if (end) {
		f->ends[i]++;
		return;
	}
	expect(f, job_transition_allowed(from, to), "%s: observed %s -> %s, "
	    "which the table forbids", f->srv[i].name, job_state_name(from),
	    job_state_name(to));
	taken[from][to] = true;
}

/*
 * The journal's events since mark, request by request, never show a
 * transition the table forbids: a request's first new event comes from
 * inspect (a new row's "keygen", a resumed row's first step), each later
 * one from the event before it; an event that repeats the state (a CA
 * note, an import, a failure kept open) is none.
 */
static void check_journal(struct fx *f, int64_t mark)
{
	sqlite3_stmt *st;
	int64_t req = -1;
	int prev = JOB_INSPECT, to;

	assert_int_equal(sqlite3_prepare_v2(f->sql, "SELECT request_id, "
	    "server, state, detail FROM events WHERE id > ?1 ORDER BY "
	    "request_id, id", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int64(st, 1, mark);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *server = (const char *)sqlite3_column_text(st, 1);
		const char *state = (const char *)sqlite3_column_text(st, 2);
		const char *detail = (const char *)sqlite3_column_text(st, 3);

		if (sqlite3_column_int64(st, 0) != req) {
			req = sqlite3_column_int64(st, 0);
			prev = JOB_INSPECT;
		}
		to = job_state_from_name(state);
		expect(f, to >= 0, "%s: the journal holds unknown state '%s'",
		    server, state);
		/* A row an earlier run left in keygen, closed by this one. */
		if (detail && strncmp(detail, "abandoned", 9) == 0)
			prev = JOB_KEYGEN;
		if (to < 0 || to == prev)
			continue;
		expect(f, job_transition_allowed(prev, to), "%s: the journal "
		    "shows %s -> %s, which the table forbids", server,
		    job_state_name(prev), state);
		prev = to;
	}
	sqlite3_finalize(st);
}

/* ---- the write-ahead rule --------------------------------------------- */

/*
 * Every run checks, at each side effect on a server or at the CA, that
 * the transition it belongs to is durable: the journal's commit (grouped
 * per loop turn) has happened, so a connection of its own (f->sql) sees
 * it. The local transport's and the fake CA's ops are wrapped for that;
 * everything else they do is theirs.
 */
static struct fx *ahead_fx;
static struct transport_ops ahead_tops, local_tops;
static struct ca_ops ahead_cops, fake_cops;

/* The state of server's newest request that the journal has committed:
 * what a crash now would leave. */
static void committed_state(struct fx *f, const char *server, char *out,
    size_t outsz)
{
	sqlite3_stmt *st;
	const unsigned char *v;

	out[0] = '\0';
	assert_int_equal(sqlite3_prepare_v2(f->sql, "SELECT state FROM "
	    "requests WHERE server = ?1 ORDER BY id DESC LIMIT 1", -1, &st,
	    NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, server, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    (v = sqlite3_column_text(st, 0)) != NULL)
		snprintf(out, outsz, "%s", (const char *)v);
	sqlite3_finalize(st);
}

/* what on server may start only once state (or also) is committed. */
static void ahead(const char *server, const char *what, const char *state,
    const char *also)
{
	char have[32];

	committed_state(ahead_fx, server, have, sizeof have);
	expect(ahead_fx, strcmp(have, state) == 0 || (also != NULL &&
	    strcmp(have, also) == 0), "%s: %s started while the journal had "
	    "committed '%s', not '%s'", server, what, have, state);
}

static int ahead_install(struct transport *t, const struct transport_set *set,
    transport_install_cb cb, void *arg)
{
	ahead(t->server, "install", "assign", NULL);
	return local_tops.install(t, set, cb, arg);
}

static int ahead_rollback(struct transport *t, const struct transport_undo *u,
    transport_status_cb cb, void *arg)
{
	ahead(t->server, "rollback", "assign", "verify");
	return local_tops.rollback(t, u, cb, arg);
}

static int ahead_write_file(struct transport *t, const char *path,
    const void *data, size_t len, unsigned mode, transport_status_cb cb,
    void *arg)
{
	ahead(t->server, "an import", "chain_check", NULL);
	return local_tops.write_file(t, path, data, len, mode, cb, arg);
}

static int ahead_submit(struct ca_driver *drv, const struct ca_request *req,
    ca_reply_cb cb, void *arg)
{
	ahead(req->server, "submit", "submit", "poll");
	return fake_cops.submit(drv, req, cb, arg);
}

static int ahead_poll(struct ca_driver *drv, const struct ca_request *req,
    ca_reply_cb cb, void *arg)
{
	ahead(req->server, "poll", "poll", NULL);
	return fake_cops.poll(drv, req, cb, arg);
}

/* ---- a run ------------------------------------------------------------ */

static int open_local(void *ctx, size_t i, uv_loop_t *loop,
    struct transport **out, char *msg, size_t msgsz)
{
	struct fx *f = ctx;
	int rc;

	rc = transport_local_open(out, loop, f->srv[i].name, f->srv[i].root,
	    msg, msgsz);
	if (rc == 0 && f->check_ahead) {
		local_tops = *(*out)->ops;
		ahead_tops = local_tops;
		ahead_tops.install = ahead_install;
		ahead_tops.rollback = ahead_rollback;
		ahead_tops.write_file = ahead_write_file;
		(*out)->ops = &ahead_tops;
	}
	return rc;
}

static int commit_count(void *arg)
{
	(*(int *)arg)++;
	return 0;
}

/*
 * One engine run over every server, built as cmd_run.c builds it; the
 * report stays in f->report until the next run. Then the transitions it
 * journaled are collected and every server's rows are checked to agree.
 */
static void run(struct fx *f, const struct opts *o)
{
	struct engine_config cfg;
	char msg[512], *chain = NULL;
	int64_t mark = events_now(f);
	size_t i;

	memset(&cfg, 0, sizeof cfg);
	cfg.mode = o->mode;
	cfg.concurrency = o->concurrency > 0 ? o->concurrency : 2;
	cfg.renew_before_days = 10;
	cfg.force = o->force;
	cfg.assign = !o->no_assign;
	cfg.now = time(NULL);
	cfg.keys_dir = o->keys_dir ? o->keys_dir : f->keys;
	cfg.journal = o->mode == ENGINE_PLAN ? NULL : &f->jr;
	cfg.ca = fake_ca_driver(f->ca);
	assert_int_equal(cfg.ca->ops->chain_pem(cfg.ca, &chain, msg,
	    sizeof msg), 0);
	/* Plan journals nothing: there is no rule to check. */
	f->check_ahead = o->mode != ENGINE_PLAN;
	ahead_fx = f;
	fake_cops = *cfg.ca->ops;
	ahead_cops = fake_cops;
	ahead_cops.submit = ahead_submit;
	ahead_cops.poll = ahead_poll;
	if (f->check_ahead)
		cfg.ca->ops = &ahead_cops;
	cfg.ca_chain_pem = chain;
	cfg.targets = f->tg;
	cfg.ntargets = f->n;
	cfg.open = open_local;
	cfg.observe = observe;
	cfg.ctx = f;
	cfg.max_wait_s = o->short_wait ? 0 : 5;
	cfg.rollout = o->rollout;
	if (cfg.journal)
		assert_int_equal(journal_run_begin(&f->jr, "run", &cfg.run_id,
		    msg, sizeof msg), 0);
	report_release(&f->report);
	assert_int_equal(report_init(&f->report, "contoso", "run", cfg.now),
	    0);
	memset(f->ends, 0, sizeof f->ends);
	f->commits = 0;
	sqlite3_commit_hook(f->jr.db, commit_count, &f->commits);
	assert_int_equal(engine_run(&f->loop, &cfg, &f->report, msg,
	    sizeof msg), 0);
	sqlite3_commit_hook(f->jr.db, NULL, NULL);
	cfg.ca->ops = &fake_cops;
	for (i = 0; i < f->n; i++)
		expect(f, f->ends[i] == 1, "%s: the job ended %d times",
		    f->srv[i].name, f->ends[i]);
	free(chain);
	assert_int_equal(fake_ca_outstanding(f->ca), 0);
	assert_int_equal(f->report.n, f->n);
	check_journal(f, mark);
	if (o->mode == ENGINE_PLAN) {
		expect(f, events_now(f) == mark, "plan wrote to the journal");
		return;
	}
	for (i = 0; i < f->n; i++)
		check_agree(f, i, o->mode);
}

static void run_plain(struct fx *f)
{
	const struct opts o = { 0 };

	run(f, &o);
}

/* ---- a journal as a killed run left it -------------------------------- */

enum seed_flags {
	SEED_NO_KEY = 1 << 0,       /* the waiting key file is not there */
	SEED_BAD_CERT = 1 << 1      /* the journaled certificate is garbage */
};

/*
 * Leaves s's journal as a run killed in state would: a request made
 * through the states before it (as events), a real key under keys/ and
 * its CSR, from submit's answer on the CA's ref, from issued on the
 * certificate the CA signed (its thumbprint in thumb).
 */
static int64_t seed(struct fx *f, struct srv *s, const char *state,
    unsigned flags, char thumb[41])
{
	const char *steps[6];
	size_t nsteps = 0, k;
	struct journal_request rq;
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = NULL;
	X509_REQ *csr = NULL;
	char msg[512], path[512], ref[64], *key_pem = NULL, *pem = NULL;
	size_t key_len = 0;
	int64_t run_id;
	time_t na = 0;
	int st = job_state_from_name(state);

	assert_true(st >= 0);
	if (st != JOB_KEYGEN)
		steps[nsteps++] = "submit";
	if (st == JOB_PENDING || st == JOB_POLL)
		steps[nsteps++] = "pending";
	if (st == JOB_POLL)
		steps[nsteps++] = "poll";
	if (st == JOB_ISSUED || st == JOB_CHAIN_CHECK || st == JOB_ASSIGN ||
	    st == JOB_HELD || st == JOB_CHAIN_FAILED)
		steps[nsteps++] = "issued";
	if (st == JOB_CHAIN_CHECK || st == JOB_ASSIGN || st == JOB_HELD ||
	    st == JOB_CHAIN_FAILED)
		steps[nsteps++] = "chain_check";
	if (st == JOB_ASSIGN || st == JOB_HELD || st == JOB_CHAIN_FAILED)
		steps[nsteps++] = state;
	assert_true(nsteps == 0 || strcmp(steps[nsteps - 1], state) == 0);

	assert_int_equal(crypto_keygen(&s->spec.key, &key, msg, sizeof msg), 0);
	assert_int_equal(crypto_csr_new(key, &s->spec, &csr, msg, sizeof msg),
	    0);
	assert_int_equal(crypto_csr_to_pem(csr, &pem, msg, sizeof msg), 0);
	assert_int_equal(crypto_key_to_pem(key, &key_pem, &key_len, msg,
	    sizeof msg), 0);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);

	assert_int_equal(journal_run_begin(&f->jr, "run (killed)", &run_id,
	    msg, sizeof msg), 0);
	journal_request_init(&rq);
	assert_int_equal(journal_strset(&rq.server, s->name), 0);
	assert_int_equal(journal_strset(&rq.state, "keygen"), 0);
	rq.run_id = run_id;
	assert_int_equal(journal_request_new(&f->jr, &rq, msg, sizeof msg), 0);
	snprintf(path, sizeof path, "%s/%s-%lld.key", f->keys, s->name,
	    (long long)rq.id);
	if (!(flags & SEED_NO_KEY))
		assert_int_equal(fsio_write_atomic(path, key_pem, key_len, 0600,
		    msg, sizeof msg), 0);
	crypto_secret_free(key_pem, key_len);
	journal_strset(&rq.key_path, path);
	rq.csr_pem = pem;
	thumb[0] = '\0';
	snprintf(ref, sizeof ref, "fake-%s-seed", s->name);
	for (k = 0; k < nsteps; k++) {
		int ks = job_state_from_name(steps[k]);

		if (ks == JOB_PENDING) {
			journal_strset(&rq.ca_ref, ref);
			journal_strset(&rq.ca_status, "pending");
		}
		if (ks == JOB_ISSUED) {
			journal_strset(&rq.ca_ref, ref);
			journal_strset(&rq.ca_status, "issued");
			if (flags & SEED_BAD_CERT) {
				journal_strset(&rq.cert_pem, "not a "
				    "certificate");
			} else {
				assert_int_equal(fake_ca_sign(f->ca, pem,
				    &s->spec, &rq.cert_pem, msg, sizeof msg),
				    0);
				assert_int_equal(crypto_certs_from_pem(
				    rq.cert_pem, "seed", &certs, msg,
				    sizeof msg), 0);
				crypto_thumbprint(sk_X509_value(certs, 0),
				    thumb);
				journal_strset(&rq.thumbprint, thumb);
				crypto_cert_not_after(sk_X509_value(certs, 0),
				    &na);
				rq.not_after = na;
				sk_X509_pop_free(certs, X509_free);
			}
		}
		if (ks == JOB_HELD || ks == JOB_CHAIN_FAILED) {
			journal_strset(&rq.chain_status, ks == JOB_HELD ?
			    "ok" : "missing_ca");
		}
		rq.attempts = ks == JOB_SUBMIT ? 1 : rq.attempts;
		assert_int_equal(journal_strset(&rq.state, steps[k]), 0);
		assert_int_equal(journal_request_save(&f->jr, &rq, NULL, msg,
		    sizeof msg), 0);
	}
	journal_request_release(&rq);
	return run_id;
}

/* ---- scenarios -------------------------------------------------------- */

/* Issued and assigned (one server with one usage, one with all three);
 * the rerun finds them up to date and asks no CA; plan then writes
 * nothing and says up to date too. */
static void test_issue_assign_rerun(void **state)
{
	struct fx *f = *state;
	struct srv *s = add_server(f, "web01", 0);
	struct journal_request rq;
	char path[512], thumb[41];
	const struct opts plan = { .mode = ENGINE_PLAN };

	add_server(f, "web02", ALL_USAGES);
	run_plain(f);
	expect(f, row_of(f, "web02")->status == REPORT_ASSIGNED &&
	    row_of(f, "web02")->usages == USAGE_ALL_PREDEFINED, "web02: %s, usages 0x%x",
	    status_name(f, "web02"), row_of(f, "web02")->usages);
	expect(f, row_of(f, "web01")->status == REPORT_ASSIGNED,
	    "web01: %s, not assigned", status_name(f, "web01"));
	expect(f, counts(f, "web01").submits == 1, "web01: %d submits",
	    counts(f, "web01").submits);
	snprintf(path, sizeof path, "%s/certs/default.pem", s->root);
	thumb_of_file(path, thumb);
	expect(f, thumb[0] && strcmp(thumb, row_of(f, "web01")->thumbprint) ==
	    0, "web01 serves '%s', the report says '%s'", thumb,
	    row_of(f, "web01")->thumbprint);
	expect(f, keys_waiting(f, "web01") == 0, "web01: its key still waits "
	    "under keys/ once assigned");
	expect(f, report_exit_status(&f->report) == 0, "exit status %d",
	    report_exit_status(&f->report));
	assert_int_equal(latest(f, "web01", &rq), 0);
	expect(f, rq.final == 1, "web01: the assigned request is not final");
	journal_request_release(&rq);

	run_plain(f);
	expect(f, row_of(f, "web01")->status == REPORT_UP_TO_DATE,
	    "web01 rerun: %s, not up_to_date", status_name(f, "web01"));
	expect(f, row_of(f, "web02")->status == REPORT_UP_TO_DATE,
	    "web02 rerun: %s, not up_to_date", status_name(f, "web02"));
	expect(f, strcmp(row_of(f, "web01")->thumbprint, thumb) == 0,
	    "web01 rerun: thumbprint '%s', serves '%s'",
	    row_of(f, "web01")->thumbprint, thumb);
	expect(f, counts(f, "web01").submits == 1, "web01 rerun asked the CA");

	run(f, &plan);
	expect(f, row_of(f, "web01")->status == REPORT_UP_TO_DATE,
	    "web01 plan: %s, not up_to_date", status_name(f, "web01"));
	verdict(f);
}

/* pending, pending, issued in one run (retry-after 0), next to a server
 * whose answers are slow (uv timers), at concurrency 2 over 4 servers. */
static void test_pending_then_issued(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "web01", "web02", "web03", "web04" };
	size_t i;

	for (i = 0; i < 4; i++)
		add_server(f, names[i], 0);
	SCRIPT(f, "web01", { FAKE_PENDING, 0, NULL, 0 },
	    { FAKE_PENDING, 0, NULL, 0 }, ISSUED);
	SCRIPT(f, "web02", { FAKE_PENDING, 0, NULL, 40 },
	    { FAKE_ISSUED, 0, NULL, 20 });
	SCRIPT(f, "web03", { FAKE_ISSUED, 0, NULL, 30 });
	SCRIPT(f, "web04", { FAKE_PENDING, 0, NULL, 0 },
	    { FAKE_PENDING, 0, NULL, 25 }, { FAKE_ISSUED, 0, NULL, 5 });
	run_plain(f);
	for (i = 0; i < 4; i++) {
		expect(f, strcmp(f->report.rows[i].name, names[i]) == 0,
		    "report row %zu is '%s', not '%s'", i,
		    f->report.rows[i].name, names[i]);
		expect(f, f->report.rows[i].status == REPORT_ASSIGNED,
		    "%s: %s, not assigned", names[i],
		    status_name(f, names[i]));
		expect(f, counts(f, names[i]).submits == 1, "%s: %d submits",
		    names[i], counts(f, names[i]).submits);
	}
	expect(f, counts(f, "web01").polls == 2, "web01: %d polls",
	    counts(f, "web01").polls);
	expect(f, counts(f, "web02").polls == 1, "web02: %d polls",
	    counts(f, "web02").polls);
	verdict(f);
}

/* Pending past max_wait stays pending (retry-after 1 s, max_wait 0; and
 * -1, not in this run); the next run polls the same request (its ref)
 * and collects it. */
static void test_pending_past_max_wait(void **state)
{
	struct fx *f = *state;
	const struct opts short_wait = { .short_wait = true };
	struct journal_request rq;
	char ref[64] = "";

	add_server(f, "web01", 0);
	add_server(f, "web02", 0);
	SCRIPT(f, "web01", { FAKE_PENDING, 1, NULL, 0 }, ISSUED);
	SCRIPT(f, "web02", { FAKE_PENDING, -1, NULL, 0 });
	run(f, &short_wait);
	expect(f, row_of(f, "web01")->status == REPORT_PENDING, "web01: %s, "
	    "not pending", status_name(f, "web01"));
	expect(f, row_of(f, "web02")->status == REPORT_PENDING, "web02: %s, "
	    "not pending", status_name(f, "web02"));
	if (latest(f, "web01", &rq) == 0 && rq.ca_ref)
		snprintf(ref, sizeof ref, "%s", rq.ca_ref);
	journal_request_release(&rq);

	/* web02 is still pending without limit: waits again, same request. */
	run_plain(f);
	expect(f, row_of(f, "web01")->status == REPORT_ASSIGNED, "web01 next "
	    "run: %s, not assigned", status_name(f, "web01"));
	expect(f, counts(f, "web01").submits == 1 &&
	    counts(f, "web01").polls == 1, "web01: %d submits, %d polls",
	    counts(f, "web01").submits, counts(f, "web01").polls);
	expect(f, ref[0] && strcmp(counts(f, "web01").last_ref, ref) == 0,
	    "web01 polled '%s', the journal holds '%s'",
	    counts(f, "web01").last_ref, ref);
	expect(f, row_of(f, "web02")->status == REPORT_PENDING, "web02 next "
	    "run: %s, not pending", status_name(f, "web02"));

	SCRIPT(f, "web02", ISSUED);
	run_plain(f);
	expect(f, row_of(f, "web02")->status == REPORT_ASSIGNED, "web02 third "
	    "run: %s, not assigned", status_name(f, "web02"));
	expect(f, counts(f, "web02").submits == 1, "web02: %d submits",
	    counts(f, "web02").submits);
	verdict(f);
}

/*
 * Finding (not in issue 9): a pending answer's reason ("waiting for
 * 'certfleet approve'", as the embedded CA gives under manual approval)
 * is the report's error, but the journal row keeps no error, so `status`
 * shows the server pending with no reason while `run` showed one.
 */
static void test_pending_reason_journaled(void **state)
{
	struct fx *f = *state;

	f->tag = "finding";

	add_server(f, "web01", 0);
	SCRIPT(f, "web01", { FAKE_PENDING, -1,
	    "waiting for 'certfleet approve'", 0 });
	run_plain(f);
	expect(f, row_of(f, "web01")->status == REPORT_PENDING, "web01: %s, "
	    "not pending", status_name(f, "web01"));
	verdict(f);
}

/* Denied at submit and at a poll; the reason in report and journal. */
static void test_denied(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "web01", "web02" };
	const struct report_row *row;
	size_t i;

	add_server(f, "web01", 0);
	add_server(f, "web02", 0);
	SCRIPT(f, "web01", { FAKE_DENIED, 0, "name not allowed", 0 });
	SCRIPT(f, "web02", { FAKE_PENDING, 0, NULL, 0 },
	    { FAKE_DENIED, 0, "refused by an officer", 10 });
	run_plain(f);
	for (i = 0; i < 2; i++) {
		row = row_of(f, names[i]);
		expect(f, row->status == REPORT_DENIED, "%s: %s, not denied",
		    names[i], status_name(f, names[i]));
		expect(f, row->error && strstr(row->error, i ? "refused by an "
		    "officer" : "name not allowed"), "%s: error '%s' lacks "
		    "the CA's reason", names[i], str(row->error));
	}
	expect(f, report_exit_status(&f->report) == 1, "exit status %d",
	    report_exit_status(&f->report));
	verdict(f);
}

/*
 * Defect 6: a denial is remembered until the request changes or --force:
 * the next run asks the CA nothing and reports denied with the reason
 * (exit 1), and the denied request's key is removed.
 */
static void test_denied_remembered(void **state)
{
	struct fx *f = *state;
	const struct opts force = { .force = true };
	const struct report_row *row;

	f->tag = "defect 6";

	add_server(f, "web01", 0);
	SCRIPT(f, "web01", { FAKE_DENIED, 0, "name not allowed", 0 });
	run_plain(f);
	expect(f, keys_waiting(f, "web01") == 0, "web01 denied, "
	    "its key stays under keys/ (%d file(s))",
	    keys_waiting(f, "web01"));

	run_plain(f);
	row = row_of(f, "web01");
	expect(f, counts(f, "web01").submits == 1, "web01 denied, "
	    "asked again on the next run (%d submits)",
	    counts(f, "web01").submits);
	expect(f, row->status == REPORT_DENIED && row->error &&
	    strstr(row->error, "name not allowed"), "web01 next "
	    "run: %s, error '%s'", status_name(f, "web01"), str(row->error));
	expect(f, report_exit_status(&f->report) == 1, "exit "
	    "status %d after a remembered denial",
	    report_exit_status(&f->report));

	/* --force asks again, and this time the CA agrees. */
	SCRIPT(f, "web01", ISSUED);
	run(f, &force);
	expect(f, row_of(f, "web01")->status == REPORT_ASSIGNED, "web01 "
	    "--force: %s, not assigned", status_name(f, "web01"));
	verdict(f);
}

/* The CA fails: at submit, at a poll, and a driver that cannot send
 * (submit or poll returns an error). The next run makes new requests. */
static void test_ca_error(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "web01", "web02", "web03", "web04" };
	const struct report_row *row;
	size_t i;

	for (i = 0; i < 4; i++)
		add_server(f, names[i], 0);
	SCRIPT(f, "web01", { FAKE_ERROR, 0, "the CA is down", 0 });
	SCRIPT(f, "web02", { FAKE_PENDING, 0, NULL, 0 },
	    { FAKE_ERROR, 0, "the CA lost it", 15 });
	SCRIPT(f, "web03", { FAKE_REFUSE, 0, NULL, 0 });
	SCRIPT(f, "web04", { FAKE_PENDING, 0, NULL, 0 },
	    { FAKE_REFUSE, 0, NULL, 0 });
	run_plain(f);
	for (i = 0; i < 4; i++) {
		row = row_of(f, names[i]);
		expect(f, row->status == REPORT_FAILED && row->error &&
		    *row->error, "%s: %s, error '%s'", names[i],
		    status_name(f, names[i]), str(row->error));
	}
	row = row_of(f, "web01");
	expect(f, row->error && strstr(row->error, "the CA is down"),
	    "web01: error '%s' lacks the CA's reason", str(row->error));

	for (i = 0; i < 4; i++)
		SCRIPT(f, names[i], ISSUED);
	run_plain(f);
	for (i = 0; i < 4; i++)
		expect(f, row_of(f, names[i])->status == REPORT_ASSIGNED,
		    "%s next run: %s, not assigned", names[i],
		    status_name(f, names[i]));
	verdict(f);
}

/* A server lacking the root, one lacking the intermediate: issued, not
 * assigned, the missing CA named; once imported, the rerun assigns the
 * same certificate without asking the CA again. */
static void test_chain_failed(void **state)
{
	struct fx *f = *state;
	struct srv *a = add_server(f, "web01", NO_ROOT);
	struct srv *b = add_server(f, "web02", NO_INTER);
	const struct report_row *row;
	char thumb[2][41];
	size_t i;

	run_plain(f);
	for (i = 0; i < 2; i++) {
		row = &f->report.rows[i];
		snprintf(thumb[i], sizeof thumb[i], "%s", row->thumbprint);
		expect(f, row->status == REPORT_ISSUED, "%s: %s, not issued",
		    row->name, report_status_name(row->status));
		expect(f, row->chain.status == CHAIN_MISSING_CA &&
		    row->chain.nmissing >= 1, "%s: chain %s with %zu missing",
		    row->name, chain_status_name(row->chain.status),
		    row->chain.nmissing);
		expect(f, row->chain.nmissing < 1 || row->chain.missing[0].kind
		    == (i == 0 ? CHAIN_KIND_ROOT : CHAIN_KIND_INTERMEDIATE),
		    "%s: the missing CA is not the %s", row->name,
		    i == 0 ? "root" : "intermediate");
	}
	expect(f, report_exit_status(&f->report) == 1, "exit status %d",
	    report_exit_status(&f->report));

	fix_stores(a);
	fix_stores(b);
	run_plain(f);
	for (i = 0; i < 2; i++) {
		row = &f->report.rows[i];
		expect(f, row->status == REPORT_ASSIGNED, "%s after import: "
		    "%s, not assigned", row->name,
		    report_status_name(row->status));
		expect(f, strcmp(row->thumbprint, thumb[i]) == 0, "%s: "
		    "assigned '%s', issued '%s'", row->name, row->thumbprint,
		    thumb[i]);
		expect(f, counts(f, row->name).submits == 1, "%s: %d submits",
		    row->name, counts(f, row->name).submits);
	}
	verdict(f);
}

/* The root store cannot be read (a refused path): the chain check fails
 * the server. */
static void test_chain_read_fails(void **state)
{
	struct fx *f = *state;
	const struct report_row *row;

	add_server(f, "web01", ROOTS_UNREADABLE);
	run_plain(f);
	row = row_of(f, "web01");
	expect(f, row->status == REPORT_FAILED && row->error && *row->error,
	    "web01: %s, error '%s'", status_name(f, "web01"), str(row->error));
	verdict(f);
}

/* Assignment off: held (issued); `assign` then assigns it. */
static void test_assign_off_then_assign(void **state)
{
	struct fx *f = *state;
	const struct opts off = { .no_assign = true };
	const struct opts assign = { .mode = ENGINE_ASSIGN };
	char thumb[41];

	add_server(f, "web01", 0);
	run(f, &off);
	expect(f, row_of(f, "web01")->status == REPORT_ISSUED, "web01: %s, "
	    "not issued", status_name(f, "web01"));
	snprintf(thumb, sizeof thumb, "%s", row_of(f, "web01")->thumbprint);
	expect(f, keys_waiting(f, "web01") == 1, "web01 held: %d waiting "
	    "keys, not 1", keys_waiting(f, "web01"));

	run(f, &assign);
	expect(f, row_of(f, "web01")->status == REPORT_ASSIGNED, "web01 "
	    "assign: %s, not assigned", status_name(f, "web01"));
	expect(f, strcmp(row_of(f, "web01")->thumbprint, thumb) == 0,
	    "web01: assigned '%s', held '%s'",
	    row_of(f, "web01")->thumbprint, thumb);
	expect(f, counts(f, "web01").submits == 1, "web01: %d submits",
	    counts(f, "web01").submits);
	expect(f, keys_waiting(f, "web01") == 0, "web01: the key still waits");
	verdict(f);
}

/* A reload command that exits 1: assign_failed, rolled back; with the
 * reload fixed, the rerun assigns the same certificate. */
static void test_assign_fails(void **state)
{
	struct fx *f = *state;
	struct srv *s = add_server(f, "web01", RELOAD_FAILS);
	const struct report_row *row;
	char path[512], thumb[41], served[41];

	run_plain(f);
	row = row_of(f, "web01");
	expect(f, row->status == REPORT_ASSIGN_FAILED && row->error &&
	    strstr(row->error, "/bin/false"), "web01: %s, error '%s'",
	    status_name(f, "web01"), str(row->error));
	snprintf(thumb, sizeof thumb, "%s", row->thumbprint);
	snprintf(path, sizeof path, "%s/certs/default.pem", s->root);
	thumb_of_file(path, served);
	expect(f, served[0] == '\0', "web01 rolled back, yet serves '%s'",
	    served);

	s->bind[USAGE_DEFAULT].reload = NULL;
	run_plain(f);
	row = row_of(f, "web01");
	expect(f, row->status == REPORT_ASSIGNED, "web01 rerun: %s, not "
	    "assigned", status_name(f, "web01"));
	expect(f, strcmp(row->thumbprint, thumb) == 0, "web01: assigned '%s', "
	    "issued '%s'", row->thumbprint, thumb);
	expect(f, counts(f, "web01").submits == 1, "web01: %d submits",
	    counts(f, "web01").submits);
	verdict(f);
}

/*
 * Resume from every state a killed run journals a request in: submit (no
 * CA ref: the CSR is sent again), pending and poll (the same ref polled),
 * issued, chain_check and assign (the journaled certificate assigned, the
 * CA not asked), and keygen (no request held: a new one, the stale key
 * removed). An issued row whose certificate is garbage fails.
 */
static void test_resume(void **state)
{
	struct fx *f = *state;
	static const char *const states[] = { "submit", "pending", "poll",
	    "issued", "chain_check", "assign", "keygen" };
	char thumb[7][41], bad[41], name[32];
	const struct report_row *row;
	struct fake_counts c;
	size_t i;

	for (i = 0; i < 7; i++) {
		snprintf(name, sizeof name, "r-%s", states[i]);
		/* A DNS name has no '_'. */
		if (strchr(name, '_'))
			*strchr(name, '_') = '-';
		seed(f, add_server(f, name, 0), states[i], 0, thumb[i]);
	}
	seed(f, add_server(f, "r-badcert", 0), "issued", SEED_BAD_CERT, bad);
	run_plain(f);
	for (i = 0; i < 7; i++) {
		row = &f->report.rows[i];
		c = counts(f, row->name);
		expect(f, row->status == REPORT_ASSIGNED, "%s: %s, not "
		    "assigned", row->name, report_status_name(row->status));
		if (thumb[i][0])
			expect(f, strcmp(row->thumbprint, thumb[i]) == 0,
			    "%s: assigned '%s', journaled '%s'", row->name,
			    row->thumbprint, thumb[i]);
		expect(f, keys_waiting(f, row->name) == 0, "%s: %d key(s) "
		    "still wait", row->name, keys_waiting(f, row->name));
		if (i >= 3 && i <= 5)
			expect(f, c.submits == 0 && c.polls == 0, "%s: the CA "
			    "was asked again (%d submits, %d polls)",
			    row->name, c.submits, c.polls);
	}
	c = counts(f, "r-submit");
	expect(f, c.submits == 1 && c.polls == 0, "r-submit: %d submits, %d "
	    "polls", c.submits, c.polls);
	for (i = 1; i <= 2; i++) {
		c = counts(f, f->report.rows[i].name);
		snprintf(name, sizeof name, "fake-%s-seed",
		    f->report.rows[i].name);
		expect(f, c.submits == 0 && c.polls == 1 &&
		    strcmp(c.last_ref, name) == 0, "%s: %d submits, %d polls "
		    "(ref '%s')", f->report.rows[i].name, c.submits, c.polls,
		    c.last_ref);
	}
	c = counts(f, "r-keygen");
	expect(f, c.submits == 1, "r-keygen: %d submits", c.submits);
	row = row_of(f, "r-badcert");
	expect(f, row->status == REPORT_FAILED && row->error &&
	    strstr(row->error, "holds no certificate"), "r-badcert: %s, "
	    "error '%s'", status_name(f, "r-badcert"), str(row->error));
	verdict(f);
}

/* The journaled request held by a killed run, chain_failed or held, is
 * what a rerun continues too (not only the in-flight states). */
static void test_resume_held(void **state)
{
	struct fx *f = *state;
	char t1[41], t2[41];

	seed(f, add_server(f, "r-held", 0), "held", 0, t1);
	seed(f, add_server(f, "r-chainfail", 0), "chain_failed", 0, t2);
	run_plain(f);
	expect(f, row_of(f, "r-held")->status == REPORT_ASSIGNED &&
	    strcmp(row_of(f, "r-held")->thumbprint, t1) == 0, "r-held: %s "
	    "'%s'", status_name(f, "r-held"), row_of(f, "r-held")->thumbprint);
	expect(f, row_of(f, "r-chainfail")->status == REPORT_ASSIGNED &&
	    strcmp(row_of(f, "r-chainfail")->thumbprint, t2) == 0,
	    "r-chainfail: %s", status_name(f, "r-chainfail"));
	verdict(f);
}

/*
 * After a run that lost server name's waiting key: the report says
 * failed with the reason, the journal row is not left in assign, and the
 * next run (a new request) assigns it. Defect 2 today: the job fails in
 * assign, the table forbids assign -> failed and the journal write is
 * skipped silently, so the row stays 'assign' with no error while the
 * report says failed, and every later run fails the same way.
 */
static void check_key_lost(struct fx *f, const char *name)
{
	const struct report_row *row = row_of(f, name);
	struct journal_request rq;
	int st;

	expect(f, row->status == REPORT_FAILED && row->error &&
	    strstr(row->error, "private key"), "%s: %s, error '%s'",
	    name, report_status_name(row->status), str(row->error));
	assert_int_equal(latest(f, name, &rq), 0);
	st = job_state_from_name(rq.state);
	expect(f, st == JOB_FAILED || st == JOB_ASSIGN_FAILED, "%s: "
	    "the journal row stays '%s' (error '%s') after the key was lost",
	    name, rq.state, str(rq.error));
	journal_request_release(&rq);

	run_plain(f);
	row = row_of(f, name);
	expect(f, row->status == REPORT_ASSIGNED, "%s, next run: "
	    "%s, error '%s'", name, report_status_name(row->status),
	    str(row->error));
}

/* Defect 2, by run: a killed run left the request issued, and its key
 * file is gone. */
static void test_key_lost_run(void **state)
{
	struct fx *f = *state;
	char thumb[41];

	f->tag = "defect 2";

	seed(f, add_server(f, "web01", 0), "issued", SEED_NO_KEY, thumb);
	run_plain(f);
	check_key_lost(f, "web01");
	verdict(f);
}

/* Defect 2, by assign: held with assignment off, then its waiting key
 * is deleted before `assign`. */
static void test_key_lost_assign(void **state)
{
	struct fx *f = *state;
	const struct opts off = { .no_assign = true };
	const struct opts assign = { .mode = ENGINE_ASSIGN };
	struct journal_request rq;

	f->tag = "defect 2";

	add_server(f, "web01", 0);
	run(f, &off);
	expect(f, row_of(f, "web01")->status == REPORT_ISSUED, "web01: %s, "
	    "not issued", status_name(f, "web01"));
	assert_int_equal(latest(f, "web01", &rq), 0);
	assert_non_null(rq.key_path);
	assert_int_equal(unlink(rq.key_path), 0);
	journal_request_release(&rq);
	run(f, &assign);
	check_key_lost(f, "web01");
	verdict(f);
}

/*
 * Defect 3: a `run --force` killed in key generation leaves a request
 * row in keygen, with no error. The next run finds the server up to date
 * (its certificate still serves) and reports up_to_date, while the
 * server's latest journal row, the one status and show read, is that
 * keygen row: status says failed with no error, show "no certificate".
 */
static void test_killed_force_keygen(void **state)
{
	struct fx *f = *state;
	struct srv *s = add_server(f, "web01", 0);
	char thumb[41];

	f->tag = "defect 3";

	run_plain(f);
	expect(f, row_of(f, "web01")->status == REPORT_ASSIGNED, "web01: %s",
	    status_name(f, "web01"));
	seed(f, s, "keygen", SEED_NO_KEY, thumb);
	run_plain(f);
	expect(f, row_of(f, "web01")->status == REPORT_UP_TO_DATE, "web01 "
	    "after the kill: %s", status_name(f, "web01"));
	verdict(f);
}

/*
 * Finding (near defects 3, 6 and 9): servers that serve an assigned
 * certificate, re-requested with --force; the CA denies one, fails
 * another, holds the third pending. The run's report gives each the
 * thumbprint of the certificate it still serves (inspect's), the journal
 * row (what status reads) none. The run after, without --force, reports
 * the denied and the failed one up_to_date while their latest journal
 * rows stay denied and failed: status says denied and failed for good.
 */
static void test_force_on_assigned(void **state)
{
	struct fx *f = *state;
	const struct opts force = { .force = true };
	const char *names[] = { "web01", "web02", "web03" };
	size_t i;

	f->tag = "finding";
	for (i = 0; i < 3; i++)
		add_server(f, names[i], 0);
	run_plain(f);
	SCRIPT(f, "web01", { FAKE_DENIED, 0, "no more for you", 0 });
	SCRIPT(f, "web02", { FAKE_ERROR, 0, "the CA is down", 0 });
	SCRIPT(f, "web03", { FAKE_PENDING, -1, NULL, 0 });
	run(f, &force);
	/* And the run after, without --force. */
	run_plain(f);
	verdict(f);
}

/* Key generation fails (keys/ missing): keygen -> failed, journaled. */
static void test_keygen_fails(void **state)
{
	struct fx *f = *state;
	char keys[192];
	const struct opts o = { .keys_dir = keys };
	const struct report_row *row;

	snprintf(keys, sizeof keys, "%s/no-such-dir", f->dir);
	add_server(f, "web01", 0);
	run(f, &o);
	row = row_of(f, "web01");
	expect(f, row->status == REPORT_FAILED && row->error &&
	    strstr(row->error, "cannot make a key"), "web01: %s, error '%s'",
	    status_name(f, "web01"), str(row->error));
	verdict(f);
}

/*
 * Defect 4: a server that fails before any request is made (its root
 * directory does not exist; its certificate path is refused) is failed
 * in the report, but nothing is journaled: status then shows would_issue
 * for a server never run, and the last request's state (assigned) for
 * one that had a certificate, not what the last run found.
 */
static void test_inspect_fails(void **state)
{
	struct fx *f = *state;
	const char *names[] = { "noroot", "badpath", "gone" };
	const struct report_row *row;
	struct srv *gone;
	size_t i;

	f->tag = "defect 4";
	add_server(f, "noroot", 0);
	add_server(f, "badpath", CERT_UNREADABLE);
	gone = add_server(f, "gone", 0);
	nftw(f->srv[0].root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	run_plain(f);
	expect(f, row_of(f, "gone")->status == REPORT_ASSIGNED, "gone: %s",
	    status_name(f, "gone"));
	nftw(gone->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	run_plain(f);
	for (i = 0; i < 3; i++) {
		row = row_of(f, names[i]);
		expect(f, row->status == REPORT_FAILED && row->error &&
		    *row->error, "%s: %s, error '%s'", names[i],
		    report_status_name(row->status), str(row->error));
	}
	verdict(f);
}

/* assign mode: a held server is assigned, a pending one stays pending
 * with its row untouched and no CA asked. */
static void test_assign_mode(void **state)
{
	struct fx *f = *state;
	const struct opts assign = { .mode = ENGINE_ASSIGN };
	char thumb[41];
	int64_t before;

	seed(f, add_server(f, "held", 0), "held", 0, thumb);
	seed(f, add_server(f, "waiting", 0), "pending", 0, thumb);
	seed(f, add_server(f, "sent", 0), "submit", 0, thumb);
	before = sql_int(f, "SELECT count(*) FROM events WHERE server = ?1",
	    "waiting");
	run(f, &assign);
	expect(f, row_of(f, "held")->status == REPORT_ASSIGNED, "held: %s",
	    status_name(f, "held"));
	expect(f, row_of(f, "waiting")->status == REPORT_PENDING, "waiting: "
	    "%s", status_name(f, "waiting"));
	expect(f, row_of(f, "sent")->status == REPORT_PENDING, "sent: %s",
	    status_name(f, "sent"));
	expect(f, sql_int(f, "SELECT count(*) FROM events WHERE server = ?1",
	    "waiting") == before, "waiting: assign wrote to its request");
	expect(f, counts(f, "waiting").polls == 0 &&
	    counts(f, "sent").submits == 0, "assign asked the CA");
	verdict(f);
}

/*
 * Defect 4: `assign` reports a server that was denied and never had a
 * certificate as up_to_date (exit 0); likewise one never run at all. It
 * must say what it is (denied; nothing to assign) and count in the exit
 * status.
 */
static void test_assign_mode_nothing_to_assign(void **state)
{
	struct fx *f = *state;
	const struct opts assign = { .mode = ENGINE_ASSIGN };

	f->tag = "defect 4";

	add_server(f, "denied", 0);
	SCRIPT(f, "denied", { FAKE_DENIED, 0, "name not allowed", 0 });
	run_plain(f);
	expect(f, row_of(f, "denied")->status == REPORT_DENIED, "denied: %s",
	    status_name(f, "denied"));
	add_server(f, "never", 0);
	run(f, &assign);
	expect(f, row_of(f, "denied")->status != REPORT_UP_TO_DATE,
	    "assign reports the denied server up_to_date");
	expect(f, row_of(f, "never")->status != REPORT_UP_TO_DATE,
	    "assign reports a server with nothing to assign "
	    "up_to_date");
	expect(f, report_exit_status(&f->report) != 0, "assign "
	    "exits %d", report_exit_status(&f->report));
	verdict(f);
}

/* plan: would_issue for a fresh server, up_to_date for an assigned one;
 * no journal write, no key, nothing on the servers. */
static void test_plan(void **state)
{
	struct fx *f = *state;
	const struct opts plan = { .mode = ENGINE_PLAN };
	struct srv *fresh;
	char path[512];

	add_server(f, "done", 0);
	add_server(f, "broken", 0);
	run_plain(f);
	/* Up to date, but its root store can no longer be read: the check
	 * of what it holds fails (check_current -> failed). */
	snprintf(f->srv[1].roots, sizeof f->srv[1].roots, "trust/../x");
	run_plain(f);
	expect(f, row_of(f, "broken")->status == REPORT_FAILED, "broken: %s",
	    status_name(f, "broken"));
	fresh = add_server(f, "fresh", NO_ROOT);
	add_server(f, "forbidden", 0);
	add_server(f, "blind", ROOTS_UNREADABLE);
	run(f, &plan);
	expect(f, row_of(f, "forbidden")->status == REPORT_WOULD_DENY,
	    "forbidden: %s", status_name(f, "forbidden"));
	expect(f, row_of(f, "blind")->status == REPORT_FAILED, "blind: %s",
	    status_name(f, "blind"));
	expect(f, row_of(f, "done")->status == REPORT_UP_TO_DATE, "done: %s",
	    status_name(f, "done"));
	expect(f, row_of(f, "fresh")->status == REPORT_WOULD_ISSUE, "fresh: "
	    "%s", status_name(f, "fresh"));
	expect(f, row_of(f, "fresh")->chain.status == CHAIN_MISSING_CA,
	    "fresh: plan's preflight says %s, not missing_ca",
	    chain_status_name(row_of(f, "fresh")->chain.status));
	expect(f, keys_waiting(f, "fresh") == 0, "plan made a key");
	expect(f, counts(f, "fresh").submits == 0, "plan asked the CA");
	snprintf(path, sizeof path, "%s/certs/default.pem", fresh->root);
	expect(f, access(path, F_OK) != 0, "plan wrote to a server");
	verdict(f);
}

/* Every transition of the table, taken by some scenario above (so this
 * runs last): a transition no job can take does not belong in it. */
/*
 * A staged rollout: web01 the canary, then batches of one, each server
 * proven by a TLS handshake to serve its new certificate. web03 serves
 * another certificate (the CA's root): verify fails, it had nothing
 * before so it keeps the new one, and with max_failures 0 the brake holds
 * web04. Once web03 serves its files, the next run assigns web04 and
 * verifies web03 again, issuing nothing anew.
 */
static void test_rollout(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = { "web01", "web02", "web03",
	    "web04" };
	struct tls_server tls[4];
	struct rollout_verify checks[4];
	bool canary[NSRV] = { true };
	struct engine_rollout ro;
	struct opts o = { 0 };
	const struct report_row *row;
	char cert[512], key[512];
	size_t i;

	memset(&ro, 0, sizeof ro);
	ro.policy.batch.value = 1;
	ro.canary = canary;
	ro.verify = true;
	ro.verify_timeout_ms = 1500;
	o.rollout = &ro;
	for (i = 0; i < 4; i++) {
		struct srv *s = add_server(f, names[i], 0);

		snprintf(cert, sizeof cert, "%s/certs/default.pem", s->root);
		snprintf(key, sizeof key, "%s/certs/default.key", s->root);
		assert_int_equal(tls_server_start(&tls[i], i == 2 ? ca.root :
		    cert, i == 2 ? ca.root_key : key), 0);
		checks[i].usage = USAGE_DEFAULT;
		checks[i].port = tls[i].port;
		f->tg[i].verify_address = "127.0.0.1";
		f->tg[i].verify = &checks[i];
		f->tg[i].nverify = 1;
	}
	run(f, &o);
	for (i = 0; i < 2; i++) {
		row = row_of(f, names[i]);
		expect(f, row->status == REPORT_ASSIGNED && row->batch ==
		    (int)i + 1 && strcmp(row->verify, "ok") == 0 &&
		    strcmp(row->served, row->sha256) == 0, "%s: %s, batch %d, "
		    "verify '%s', served '%s'", names[i],
		    status_name(f, names[i]), row->batch, row->verify,
		    row->served);
	}
	row = row_of(f, "web03");
	expect(f, row->status == REPORT_FAILED && strcmp(row->verify,
	    "failed") == 0 && row->error && strstr(row->error,
	    "served SHA-256") && strstr(row->error, "keeps it"), "web03: %s, "
	    "verify '%s', error '%s'", status_name(f, "web03"), row->verify,
	    str(row->error));
	row = row_of(f, "web04");
	expect(f, row->status == REPORT_HELD && row->batch == 0,
	    "web04: %s, batch %d", status_name(f, "web04"), row->batch);
	expect(f, f->report.rollout && strcmp(f->report.rollout, "rollout "
	    "stopped after batch 3 of 4: 1 failure, more than max_failures "
	    "0") == 0, "rollout: '%s'", str(f->report.rollout));
	expect(f, report_exit_status(&f->report) == 1, "exit status %d",
	    report_exit_status(&f->report));

	snprintf(tls[2].cert, sizeof tls[2].cert, "%s/certs/default.pem",
	    f->srv[2].root);
	snprintf(tls[2].key, sizeof tls[2].key, "%s/certs/default.key",
	    f->srv[2].root);
	run(f, &o);
	for (i = 2; i < 4; i++) {
		row = row_of(f, names[i]);
		expect(f, row->status == REPORT_ASSIGNED && strcmp(row->verify,
		    "ok") == 0, "%s rerun: %s, verify '%s', error '%s'",
		    names[i], status_name(f, names[i]), row->verify,
		    str(row->error));
		expect(f, counts(f, names[i]).submits == 1, "%s: %d submits",
		    names[i], counts(f, names[i]).submits);
	}
	expect(f, f->report.rollout == NULL, "rollout: '%s'",
	    str(f->report.rollout));
	for (i = 0; i < 4; i++)
		tls_server_stop(&tls[i]);
	verdict(f);
}

/*
 * Group commit: eight servers at concurrency 4 move together, so their
 * transitions share commits (fewer commits than transitions), and every
 * side effect still waited for its own (checked in every run, above).
 */
static void test_group_commit(void **state)
{
	struct fx *f = *state;
	const struct opts o = { .concurrency = 4 };
	int64_t mark = events_now(f), moves;
	char name[16];
	size_t i;

	for (i = 0; i < NSRV; i++) {
		snprintf(name, sizeof name, "web%02zu", i + 1);
		add_server(f, name, i == 3 ? RELOAD_FAILS : 0);
	}
	SCRIPT(f, "web05", { FAKE_PENDING, 0, NULL, 0 }, ISSUED);
	run(f, &o);
	moves = events_now(f) - mark;
	for (i = 0; i < NSRV; i++)
		expect(f, f->report.rows[i].status == (i == 3 ?
		    REPORT_ASSIGN_FAILED : REPORT_ASSIGNED), "%s: %s",
		    f->report.rows[i].name,
		    report_status_name(f->report.rows[i].status));
	expect(f, f->commits > 0 && f->commits < moves, "%d commits for %lld "
	    "journaled transitions: not grouped", f->commits,
	    (long long)moves);
	verdict(f);
}

static void test_every_transition_taken(void **state)
{
	char missing[4096] = "";
	size_t len;
	int a, b, nall = 0, ntaken = 0;

	(void)state;
	for (a = 0; a < JOB_STATE_MAX; a++)
		for (b = 0; b < JOB_STATE_MAX; b++) {
			if (!job_transition_allowed(a, b))
				continue;
			nall++;
			if (taken[a][b]) {
				ntaken++;
				continue;
			}
			len = strlen(missing);
			snprintf(missing + len, sizeof missing - len, " %s->%s",
			    job_state_name(a), job_state_name(b));
		}
	print_message("%d of the table's %d transitions taken\n", ntaken,
	    nall);
	if (missing[0])
		fail_msg("transitions never taken:%s", missing);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_issue_assign_rerun),
		T(test_pending_then_issued),
		T(test_pending_past_max_wait),
		T(test_pending_reason_journaled),
		T(test_denied),
		T(test_denied_remembered),
		T(test_ca_error),
		T(test_chain_failed),
		T(test_chain_read_fails),
		T(test_assign_off_then_assign),
		T(test_assign_fails),
		T(test_resume),
		T(test_resume_held),
		T(test_key_lost_run),
		T(test_key_lost_assign),
		T(test_killed_force_keygen),
		T(test_force_on_assigned),
		T(test_keygen_fails),
		T(test_inspect_fails),
		T(test_assign_mode),
		T(test_assign_mode_nothing_to_assign),
		T(test_plan),
		T(test_rollout),
		T(test_group_commit),
#undef T
		/* Last: it reads what every scenario above took. */
		cmocka_unit_test(test_every_transition_taken),
	};

	/* A TLS peer that closes first must not end the test (main.c does
	 * the same for certfleet). */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("engine", tests, group_setup,
	    group_teardown);
}
