/*
 * One conformance suite for every transport: the same tests run against
 * the local transport (the default, in the unit phase) and against the
 * ssh transport with its shell helper (CF_TRANSPORT=ssh, from
 * tests/integration/test_transport_conformance.sh), so that the C and the
 * shell implementations of transport.h cannot drift: the versioned
 * install's layout and undo records, adoption of a hand-made set,
 * rollback, stale versions and keys, version names, read limits, the
 * confinement of writes, and commands with their environment. Each test has a fresh server root below /tmp,
 * which this process inspects directly (the ssh server is this machine).
 *
 * ssh settings: CF_SSH_ADDRESS, CF_SSH_PORT, CF_SSH_USER, CF_SSH_IDENTITY,
 * CF_SSH_KNOWN_HOSTS.
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/transport/transport_local.h"
#include "engine/transport/transport_ssh.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#define SERVER "web01"
#define STORE "certs/.certfleet/default"

struct fx {
	char root[64];
	uv_loop_t loop;
	struct transport *t;
};

/* What one operation called back with. */
struct got {
	bool returned;              /* the starting call has returned */
	int calls;
	int status;
	char msg[1024];
	char *data;
	size_t len;
	size_t n;
	char names[8][64];
	char *datas[8];
	struct transport_undo *undo;
	struct transport_run_result r;
	char out[TRANSPORT_CAPTURE + 1];
	char err[TRANSPORT_CAPTURE + 1];
};

static bool over_ssh;

/* ---- fixtures ------------------------------------------------------------ */

static int group_setup(void **state)
{
	const char *kind = getenv("CF_TRANSPORT");

	(void)state;
	over_ssh = kind != NULL && strcmp(kind, "ssh") == 0;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	struct ssh_target tg;
	const char *port = getenv("CF_SSH_PORT");
	char msg[256];

	assert_non_null(f);
	snprintf(f->root, sizeof f->root, "/tmp/cf-conf-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	if (!over_ssh) {
		assert_int_equal(transport_local_open(&f->t, &f->loop, SERVER,
		    f->root, msg, sizeof msg), 0);
	} else {
		memset(&tg, 0, sizeof tg);
		tg.address = getenv("CF_SSH_ADDRESS");
		tg.user = getenv("CF_SSH_USER");
		tg.port = port != NULL ? atoi(port) : 0;
		tg.identity_file = getenv("CF_SSH_IDENTITY");
		tg.known_hosts = getenv("CF_SSH_KNOWN_HOSTS");
		tg.root = f->root;
		assert_non_null(tg.address);
		assert_int_equal(transport_ssh_open(&f->t, &f->loop, SERVER,
		    &tg, msg, sizeof msg), 0);
	}
	*state = f;
	return 0;
}

static void closed(void *arg)
{
	(*(int *)arg)++;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int n = 0;

	f->t->ops->close(f->t, closed, &n);
	assert_int_equal(n, 0);     /* never from inside close */
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(n, 1);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	nftw(f->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- the server's files, seen from here ---------------------------------- */

static char *at(const struct fx *f, const char *rel)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%.60s/%.3000s", f->root, rel);
	return buf[i];
}

static void put(const char *path, const void *data, size_t len,
    unsigned mode)
{
	char msg[256], *dir = strdup(path);

	assert_non_null(dir);
	*strrchr(dir, '/') = '\0';
	assert_int_equal(fsio_mkdirs(dir, 0755, msg, sizeof msg), 0);
	assert_int_equal(fsio_write_atomic(path, data, len, mode, msg,
	    sizeof msg), 0);
	free(dir);
}

static void puts_at(const struct fx *f, const char *rel, const char *text)
{
	put(at(f, rel), text, strlen(text), 0644);
}

/* True when path (symlinks followed) holds exactly len bytes of data. */
static bool file_is(const char *path, const void *data, size_t len)
{
	char *got, msg[256];
	size_t n;
	bool same;

	if (fsio_read_file(path, 4 << 20, &got, &n, msg, sizeof msg) != 0)
		return false;
	same = n == len && memcmp(got, data, len) == 0;
	free(got);
	return same;
}

static const char *link_text(const char *path)
{
	static char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof buf - 1);

	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static unsigned mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (unsigned)st.st_mode & 07777;
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* Entries of a directory, "." and ".." left out; -1 when it is missing. */
static int count_entries(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* How many regular files below the root hold needle. */
static const char *needle;
static int holders;

static int look_in(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	char *data, msg[256];
	size_t n, i;

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode) ||
	    fsio_read_file(path, 4 << 20, &data, &n, msg, sizeof msg) != 0)
		return 0;
	for (i = 0; i + strlen(needle) <= n; i++)
		if (memcmp(data + i, needle, strlen(needle)) == 0) {
			holders++;
			break;
		}
	free(data);
	return 0;
}

static int files_holding(const struct fx *f, const char *text)
{
	needle = text;
	holders = 0;
	nftw(f->root, look_in, 16, FTW_PHYS);
	return holders;
}

/* The version name transport.h defines. */
static bool is_version_name(const char *s)
{
	regex_t re;
	bool ok;

	assert_int_equal(regcomp(&re, "^[0-9]{8}T[0-9]{6}\\.[0-9]{9}Z-"
	    "[0-9a-f]{8}$", REG_EXTENDED | REG_NOSUB), 0);
	ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

/* The version an undo record's current names, checked to be in STORE. */
static const char *version_of(const struct transport_undo *u)
{
	assert_non_null(u);
	assert_true(strncmp(u->current, STORE "/", strlen(STORE) + 1) == 0);
	return u->current + strlen(STORE) + 1;
}

/* ---- operations, run to their callback ----------------------------------- */

static void got_clear(struct got *g)
{
	size_t i;

	free(g->data);
	for (i = 0; i < g->n && i < 8; i++)
		free(g->datas[i]);
	transport_undo_free(g->undo);
	memset(g, 0, sizeof *g);
}

static void got_status(void *arg, int status, const char *msg)
{
	struct got *g = arg;

	assert_true(g->returned);
	g->calls++;
	g->status = status;
	snprintf(g->msg, sizeof g->msg, "%s", msg);
}

static void got_file(void *arg, int status, const char *data, size_t len,
    const char *msg)
{
	struct got *g = arg;

	got_status(arg, status, msg);
	if (data != NULL) {
		assert_int_equal(data[len], '\0');
		g->data = malloc(len + 1);
		assert_non_null(g->data);
		memcpy(g->data, data, len + 1);
		g->len = len;
	}
}

static void got_store(void *arg, int status,
    const struct transport_entry *e, size_t n, const char *msg)
{
	struct got *g = arg;
	size_t i;

	got_status(arg, status, msg);
	g->n = n;
	for (i = 0; i < n && i < 8; i++) {
		snprintf(g->names[i], sizeof g->names[i], "%s", e[i].name);
		g->datas[i] = strdup(e[i].data);
	}
}

static void got_install(void *arg, int status, struct transport_undo *u,
    const char *msg)
{
	struct got *g = arg;

	got_status(arg, status, msg);
	g->undo = u;
}

static void got_run(void *arg, int status,
    const struct transport_run_result *r, const char *msg)
{
	struct got *g = arg;

	got_status(arg, status, msg);
	g->r = *r;
	memcpy(g->out, r->out, r->outlen + 1);
	memcpy(g->err, r->err, r->errlen + 1);
}

/* Runs the loop until the operation started (rc 0) has called back;
 * returns rc when it did not start, else the status it called back. */
static int wait_for(struct fx *f, struct got *g, int rc)
{
	if (rc != 0) {
		assert_int_equal(g->calls, 0);
		return rc;
	}
	g->returned = true;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(g->calls, 1);
	return g->status;
}

static int read_file(struct fx *f, const char *path, size_t max,
    struct got *g)
{
	got_clear(g);
	return wait_for(f, g, f->t->ops->read_file(f->t, path, max, got_file,
	    g));
}

static int read_store(struct fx *f, const char *path, size_t max,
    struct got *g)
{
	got_clear(g);
	return wait_for(f, g, f->t->ops->read_store(f->t, path, max,
	    got_store, g));
}

static int write_file(struct fx *f, const char *path, const char *text,
    unsigned mode, struct got *g)
{
	got_clear(g);
	return wait_for(f, g, f->t->ops->write_file(f->t, path, text,
	    strlen(text), mode, got_status, g));
}

static int remove_file(struct fx *f, const char *path, struct got *g)
{
	got_clear(g);
	return wait_for(f, g, f->t->ops->remove(f->t, path, got_status, g));
}

static int install(struct fx *f, const struct transport_set *s,
    struct got *g)
{
	got_clear(g);
	return wait_for(f, g, f->t->ops->install(f->t, s, got_install, g));
}

static int rollback(struct fx *f, const struct transport_undo *u,
    struct got *g)
{
	got_clear(g);
	return wait_for(f, g, f->t->ops->rollback(f->t, u, got_status, g));
}

static int run_env(struct fx *f, char **argv, char **env,
    unsigned timeout_ms, struct got *g)
{
	got_clear(g);
	return wait_for(f, g, f->t->ops->run(f->t, argv, env, timeout_ms,
	    got_run, g));
}

static int run(struct fx *f, char **argv, unsigned timeout_ms,
    struct got *g)
{
	return run_env(f, argv, NULL, timeout_ms, g);
}

/* Installs cert and key as the "default" set and hands back its undo
 * record; the paths are deliberately not in normal form. */
static struct transport_undo *install_pair(struct fx *f, const char *cert,
    const char *key)
{
	struct transport_member m[2] = {
		{ "cert.pem", "/certs/default.pem", cert, strlen(cert), 0644,
		    NULL },
		{ "key.pem", "certs/./default.key", key, strlen(key), 0600,
		    NULL },
	};
	struct transport_set s = { "/" STORE "/", "certs//default", m, 2 };
	struct transport_undo *u;
	struct got g = { 0 };

	assert_int_equal(install(f, &s, &g), 0);
	assert_string_equal(g.msg, "");
	u = g.undo;
	g.undo = NULL;
	got_clear(&g);
	return u;
}

/* ---- the versioned install ----------------------------------------------- */

static void test_install_layout(void **state)
{
	struct fx *f = *state;
	static const char key[] = "KEY\0one\n\001\377";
	struct transport_member m[2] = {
		{ "cert.pem", "/certs/default.pem", "CERT-1\n", 7, 0644, NULL },
		{ "key.pem", "certs/./default.key", key, sizeof key - 1, 0600,
		    NULL },
	};
	struct transport_set s = { "/" STORE "/", "certs//default", m, 2 };
	struct transport_undo *u;
	struct got g = { 0 };
	char want[128];
	mode_t old = umask(077);

	assert_int_equal(install(f, &s, &g), 0);
	umask(old);
	/* The undo record holds server paths in normal form. */
	u = g.undo;
	assert_non_null(u);
	assert_string_equal(u->store, STORE);
	assert_string_equal(u->pointer, "certs/default");
	assert_null(u->previous);
	assert_true(is_version_name(version_of(u)));
	assert_string_equal(u->links[0], "certs/default.pem");
	assert_string_equal(u->links[1], "certs/default.key");
	assert_null(u->links[2]);
	/* The same layout from both: relative links through the pointer. */
	assert_string_equal(link_text(at(f, "certs/default.pem")),
	    "default/cert.pem");
	assert_string_equal(link_text(at(f, "certs/default.key")),
	    "default/key.pem");
	snprintf(want, sizeof want, ".certfleet/default/%s", version_of(u));
	assert_string_equal(link_text(at(f, "certs/default")), want);
	assert_true(file_is(at(f, "certs/default.pem"), "CERT-1\n", 7));
	assert_true(file_is(at(f, "certs/default.key"), key, sizeof key - 1));
	assert_int_equal(mode_of(at(f, "certs/default.pem")), 0644);
	assert_int_equal(mode_of(at(f, "certs/default.key")), 0600);
	assert_int_equal(mode_of(at(f, "certs/default")), 0755);
	assert_int_equal(mode_of(at(f, STORE)), 0755);
	assert_int_equal(mode_of(at(f, "certs/.certfleet")), 0755);
	assert_int_equal(count_entries(at(f, STORE)), 1);
	/* And read back through the transport, byte for byte. */
	assert_int_equal(read_file(f, "certs/default.key", 100, &g), 0);
	assert_int_equal(g.len, sizeof key - 1);
	assert_memory_equal(g.data, key, sizeof key - 1);
	got_clear(&g);
}

static void test_version_naming(void **state)
{
	struct fx *f = *state;
	struct transport_undo *a, *b;

	a = install_pair(f, "CERT-A\n", "KEY-A\n");
	b = install_pair(f, "CERT-B\n", "KEY-B\n");
	assert_true(is_version_name(version_of(a)));
	assert_true(is_version_name(version_of(b)));
	/* Names sort by the time they were made. */
	assert_true(strcmp(version_of(a), version_of(b)) < 0);
	assert_non_null(b->previous);
	assert_string_equal(b->previous, a->current);
	transport_undo_free(a);
	transport_undo_free(b);
}

/* Stale versions go, and the keys in them: only the version in use and
 * the one a rollback returns to stay on the server. */
static void test_stale_versions_pruned(void **state)
{
	struct fx *f = *state;
	struct transport_undo *a, *b, *c;

	a = install_pair(f, "CERT-A\n", "KEY-A\n");
	/* Left by a run that died, and a stray file. */
	puts_at(f, STORE "/20000101T000000.000000000Z-0badf00d/key.pem",
	    "KEY-STALE\n");
	puts_at(f, STORE "/.stray", "x");
	b = install_pair(f, "CERT-B\n", "KEY-B\n");
	assert_int_equal(count_entries(at(f, STORE)), 2);
	assert_true(exists(at(f, a->current)));
	assert_int_equal(files_holding(f, "KEY-STALE"), 0);
	c = install_pair(f, "CERT-C\n", "KEY-C\n");
	assert_int_equal(count_entries(at(f, STORE)), 2);
	assert_false(exists(at(f, a->current)));
	assert_true(exists(at(f, b->current)));
	assert_true(exists(at(f, c->current)));
	assert_int_equal(files_holding(f, "KEY-A"), 0);
	assert_int_equal(files_holding(f, "KEY-B"), 1);
	assert_int_equal(files_holding(f, "KEY-C"), 1);
	transport_undo_free(a);
	transport_undo_free(b);
	transport_undo_free(c);
}

/* A usage that held a plain file before certfleet's first install: the
 * hand-made set is kept as "previous", and a rollback brings it back. */
static void test_adopt(void **state)
{
	struct fx *f = *state;
	struct transport_undo *u;
	struct got g = { 0 };

	put(at(f, "certs/default.pem"), "HAND-CERT\n", 10, 0640);
	/* The key is a symlink to a file below the root: its bytes count. */
	put(at(f, "hand/key.pem"), "HAND-KEY\n", 9, 0600);
	assert_int_equal(symlink("../hand/key.pem",
	    at(f, "certs/default.key")), 0);
	/* A "previous" left over from an earlier life is replaced. */
	puts_at(f, STORE "/previous/old.pem", "OLD\n");

	u = install_pair(f, "CERT-1\n", "KEY-1\n");
	assert_non_null(u->previous);
	assert_string_equal(u->previous, STORE "/previous");
	assert_int_equal(count_entries(at(f, STORE "/previous")), 2);
	assert_true(file_is(at(f, STORE "/previous/cert.pem"), "HAND-CERT\n",
	    10));
	assert_int_equal(mode_of(at(f, STORE "/previous/cert.pem")), 0640);
	assert_true(file_is(at(f, STORE "/previous/key.pem"), "HAND-KEY\n",
	    9));
	assert_int_equal(mode_of(at(f, STORE "/previous/key.pem")), 0600);
	assert_string_equal(link_text(at(f, "certs/default.pem")),
	    "default/cert.pem");
	assert_true(file_is(at(f, "certs/default.key"), "KEY-1\n", 6));
	assert_int_equal(count_entries(at(f, STORE)), 2);

	assert_int_equal(rollback(f, u, &g), 0);
	assert_string_equal(link_text(at(f, "certs/default")),
	    ".certfleet/default/previous");
	assert_true(file_is(at(f, "certs/default.pem"), "HAND-CERT\n", 10));
	assert_true(file_is(at(f, "certs/default.key"), "HAND-KEY\n", 9));
	assert_int_equal(count_entries(at(f, STORE)), 1);
	/* The hand-made key itself was never touched. */
	assert_true(file_is(at(f, "hand/key.pem"), "HAND-KEY\n", 9));
	transport_undo_free(u);
	got_clear(&g);
}

/* Only what is there is adopted; what cannot be adopted stops the
 * install before anything is switched. */
static void test_adopt_partial_and_refused(void **state)
{
	struct fx *f = *state;
	struct transport_member m[2] = {
		{ "cert.pem", "certs/x.pem", "CERT\n", 5, 0644, NULL },
		{ "key.pem", "certs/x.key", "KEY\n", 4, 0600, NULL },
	};
	struct transport_set s = { "certs/.certfleet/x", "certs/x", m, 2 };
	struct got g = { 0 };
	char *big;

	/* The certificate alone was there. */
	puts_at(f, "certs/x.pem", "HAND\n");
	assert_int_equal(install(f, &s, &g), 0);
	assert_string_equal(g.undo->previous, "certs/.certfleet/x/previous");
	assert_int_equal(count_entries(at(f, "certs/.certfleet/x/previous")),
	    1);
	assert_true(file_is(at(f, "certs/.certfleet/x/previous/cert.pem"),
	    "HAND\n", 5));

	/* A link path that is a directory. */
	m[0].link = "certs/d.pem";
	m[1].link = "certs/d.key";
	s.store = "certs/.certfleet/d";
	s.pointer = "certs/d";
	assert_int_equal(mkdir(at(f, "certs/d.pem"), 0755), 0);
	assert_int_equal(install(f, &s, &g), CF_EEXIST);
	assert_false(exists(at(f, "certs/d")));
	assert_int_equal(count_entries(at(f, "certs/.certfleet/d")), 0);

	/* A pointer that is not a symlink. */
	m[0].link = "certs/p.pem";
	m[1].link = "certs/p.key";
	s.store = "certs/.certfleet/p";
	s.pointer = "certs/p";
	puts_at(f, "certs/p", "mine\n");
	assert_int_equal(install(f, &s, &g), CF_EEXIST);
	assert_string_equal(g.msg, "cannot install 'certs/p' on '" SERVER
	    "': it exists and is not a symlink made by certfleet; move it "
	    "away");
	assert_true(file_is(at(f, "certs/p"), "mine\n", 5));

	/* A hand-made file too large to be a certificate or key. */
	m[0].link = "certs/b.pem";
	m[1].link = "certs/b.key";
	s.store = "certs/.certfleet/b";
	s.pointer = "certs/b";
	big = calloc(1, (1 << 20) + 1);
	assert_non_null(big);
	put(at(f, "certs/b.pem"), big, (1 << 20) + 1, 0644);
	free(big);
	assert_int_equal(install(f, &s, &g), CF_EINVAL);
	assert_false(exists(at(f, "certs/b")));
	assert_int_equal(count_entries(at(f, "certs/.certfleet/b")), 0);
	got_clear(&g);
}

static void test_rollback(void **state)
{
	struct fx *f = *state;
	struct transport_undo *a, *b, *c, *d;
	struct got g = { 0 };
	char want[128];

	a = install_pair(f, "CERT-A\n", "KEY-A\n");
	b = install_pair(f, "CERT-B\n", "KEY-B\n");
	assert_int_equal(rollback(f, b, &g), 0);
	snprintf(want, sizeof want, ".certfleet/default/%s", version_of(a));
	assert_string_equal(link_text(at(f, "certs/default")), want);
	assert_true(file_is(at(f, "certs/default.key"), "KEY-A\n", 6));
	assert_false(exists(at(f, b->current)));
	assert_int_equal(count_entries(at(f, STORE)), 1);
	/* Twice is once. */
	assert_int_equal(rollback(f, b, &g), 0);
	assert_string_equal(link_text(at(f, "certs/default")), want);

	/* The first install had nothing before it: back to nothing. */
	assert_int_equal(rollback(f, a, &g), 0);
	assert_false(exists(at(f, "certs/default")));
	assert_false(exists(at(f, "certs/default.pem")));
	assert_false(exists(at(f, "certs/default.key")));
	assert_int_equal(count_entries(at(f, STORE)), 0);
	assert_int_equal(rollback(f, a, &g), 0);

	/* Only this run's own switch is undone: another one came since. */
	c = install_pair(f, "CERT-C\n", "KEY-C\n");
	d = install_pair(f, "CERT-D\n", "KEY-D\n");
	assert_int_equal(rollback(f, c, &g), CF_ETRANSPORT);
	assert_string_equal(g.msg, "cannot roll back 'certs/default' on '"
	    SERVER "': it no longer names the version this run installed");
	assert_true(file_is(at(f, "certs/default.key"), "KEY-D\n", 6));
	transport_undo_free(a);
	transport_undo_free(b);
	transport_undo_free(c);
	transport_undo_free(d);
	got_clear(&g);
}

/* Bad sets and undo records are refused before anything starts. */
static void test_install_refused(void **state)
{
	struct fx *f = *state;
	struct transport_member m[2] = {
		{ "cert.pem", "certs/a.pem", "C", 1, 0644, NULL },
		{ "key.pem", "certs/a.key", "K", 1, 0600, NULL },
	};
	struct transport_set s = { STORE, "certs/default", m, 2 };
	struct transport_undo u = { STORE, "certs/default", NULL,
	    STORE "/x", NULL };
	struct transport_member saved;
	struct got g = { 0 };
	struct {
		int member;
		const char *name, *link;
	} bad[] = {
		{ 0, "a/b", NULL }, { 0, ".hidden", NULL }, { 0, "", NULL },
		{ 0, "key.pem", NULL }, { 0, NULL, "/certs/./a.key" },
		{ 1, NULL, "/certs/default" }, { 1, NULL, "certs/../a.key" },
		{ 1, NULL, "/" },
	};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		saved = m[bad[i].member];
		if (bad[i].name != NULL)
			m[bad[i].member].name = bad[i].name;
		if (bad[i].link != NULL)
			m[bad[i].member].link = bad[i].link;
		assert_int_equal(install(f, &s, &g), CF_EINVAL);
		m[bad[i].member] = saved;
	}
	s.store = "certs/../x";
	assert_int_equal(install(f, &s, &g), CF_EINVAL);
	s.store = STORE;
	s.pointer = "/";
	assert_int_equal(install(f, &s, &g), CF_EINVAL);
	s.pointer = "certs/default";
	s.nmembers = 0;
	assert_int_equal(install(f, &s, &g), CF_EINVAL);
	s.nmembers = 2;
	m[1].data = NULL;
	assert_int_equal(install(f, &s, &g), CF_EINVAL);
	m[1].data = "K";
	if (f->t->ops->keygen == NULL) {
		/* Copying a file made on the server needs keygen. */
		m[1].from = "certs/k.key";
		assert_int_equal(install(f, &s, &g), CF_EINVAL);
		m[1].from = NULL;
	}
	assert_int_equal(count_entries(f->root), 0);

	u.pointer = "certs/../default";
	assert_int_equal(rollback(f, &u, &g), CF_EINVAL);
	u.pointer = "certs/default";
	u.current = NULL;
	assert_int_equal(rollback(f, &u, &g), CF_EINVAL);
	got_clear(&g);
}

/* ---- reads --------------------------------------------------------------- */

static void test_read_file_limits(void **state)
{
	struct fx *f = *state;
	static const char bin[] = "\0\001two\nthree\377";
	struct got g = { 0 };
	char hundred[101];

	memset(hundred, 'x', 100);
	hundred[100] = '\0';
	puts_at(f, "f.txt", hundred);
	assert_int_equal(read_file(f, "f.txt", 100, &g), 0);
	assert_int_equal(g.len, 100);
	assert_int_equal(read_file(f, "/f.txt", 99, &g), CF_EINVAL);
	assert_string_equal(g.msg, "cannot read '/f.txt' on '" SERVER "': "
	    "larger than the limit of 99 bytes");
	assert_null(g.data);
	assert_int_equal(read_file(f, "missing.txt", 100, &g), CF_ENOENT);
	assert_null(g.data);
	assert_int_equal(mkdir(at(f, "dir"), 0755), 0);
	assert_int_equal(read_file(f, "dir", 100, &g), CF_EIO);
	assert_string_equal(g.msg, "cannot read 'dir' on '" SERVER "': not a "
	    "regular file");
	/* Not confined: refused through the callback. */
	assert_int_equal(read_file(f, "a/../f.txt", 100, &g), CF_EINVAL);
	/* Any bytes, exactly. */
	put(at(f, "bin"), bin, sizeof bin - 1, 0600);
	assert_int_equal(read_file(f, "bin", 100, &g), 0);
	assert_int_equal(g.len, sizeof bin - 1);
	assert_memory_equal(g.data, bin, sizeof bin - 1);
	puts_at(f, "empty", "");
	assert_int_equal(read_file(f, "empty", 100, &g), 0);
	assert_int_equal(g.len, 0);
	got_clear(&g);
}

static void test_read_store_limits(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	char name[64];
	int i;

	puts_at(f, "trust/roots/b.pem", "B");
	puts_at(f, "trust/roots/a.pem", "A");
	puts_at(f, "trust/roots/c.crt", "C");
	puts_at(f, "trust/roots/.hidden.pem", "H");
	puts_at(f, "trust/roots/sub/x.pem", "X");
	assert_int_equal(symlink("a.pem", at(f, "trust/roots/d.pem")), 0);
	assert_int_equal(symlink("gone.pem", at(f, "trust/roots/e.pem")), 0);
	assert_int_equal(read_store(f, "trust/roots", 100, &g), 0);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.names[0], "a.pem");
	assert_string_equal(g.names[1], "b.pem");
	assert_string_equal(g.names[2], "c.crt");
	assert_string_equal(g.names[3], "d.pem");
	assert_string_equal(g.datas[1], "B");
	assert_string_equal(g.datas[3], "A");
	/* One file is a store of one. */
	assert_int_equal(read_store(f, "/trust/roots/b.pem", 100, &g), 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.names[0], "b.pem");
	/* A missing store is an empty one. */
	assert_int_equal(read_store(f, "trust/none", 100, &g), 0);
	assert_int_equal(g.n, 0);
	/* One file over the limit fails the store. */
	puts_at(f, "trust/roots/z.pem", "0123456789");
	assert_int_equal(read_store(f, "trust/roots", 9, &g), CF_EINVAL);
	assert_int_equal(read_store(f, "trust/../trust", 9, &g), CF_EINVAL);
	/* So does a store of more than TRANSPORT_STORE_MAX files (empty:
	 * made here without fsync, which would take long for so many). */
	assert_int_equal(mkdir(at(f, "many"), 0755), 0);
	for (i = 0; i <= TRANSPORT_STORE_MAX; i++) {
		snprintf(name, sizeof name, "many/%05d.pem", i);
		assert_int_equal(close(open(at(f, name), O_WRONLY | O_CREAT,
		    0644)), 0);
	}
	assert_int_equal(read_store(f, "many", 100, &g), CF_EINVAL);
	got_clear(&g);
}

/* ---- writes -------------------------------------------------------------- */

static void test_write_file_confined(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	mode_t old = umask(077);

	assert_int_equal(write_file(f, "trust/roots/ca.pem", "one\n", 0644,
	    &g), 0);
	umask(old);
	assert_true(file_is(at(f, "trust/roots/ca.pem"), "one\n", 4));
	assert_int_equal(mode_of(at(f, "trust/roots/ca.pem")), 0644);
	assert_int_equal(mode_of(at(f, "trust/roots")), 0755);
	assert_int_equal(mode_of(at(f, "trust")), 0755);
	assert_int_equal(write_file(f, "/trust/roots/ca.pem", "two\n", 0600,
	    &g), 0);
	assert_true(file_is(at(f, "trust/roots/ca.pem"), "two\n", 4));
	assert_int_equal(mode_of(at(f, "trust/roots/ca.pem")), 0600);
	/* No temporary file is left beside it. */
	assert_int_equal(count_entries(at(f, "trust/roots")), 1);
	/* Refused before anything starts. */
	assert_int_equal(write_file(f, "../x.pem", "x", 0644, &g), CF_EINVAL);
	assert_int_equal(write_file(f, "a/../../x.pem", "x", 0644, &g),
	    CF_EINVAL);
	assert_int_equal(write_file(f, "a\nb.pem", "x", 0644, &g), CF_EINVAL);
	assert_int_equal(write_file(f, "/", "x", 0644, &g), CF_EINVAL);
	/* A directory is not replaced by a file. */
	assert_int_not_equal(write_file(f, "trust/roots", "x", 0644, &g), 0);
	assert_int_equal(count_entries(at(f, "trust/roots")), 1);
	assert_int_equal(count_entries(f->root), 1);
	got_clear(&g);
}

static void test_remove_confined(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };

	puts_at(f, "certs/x.pem", "x");
	assert_int_equal(remove_file(f, "certs/x.pem", &g), 0);
	assert_false(exists(at(f, "certs/x.pem")));
	/* Missing is fine, even its directory. */
	assert_int_equal(remove_file(f, "/certs/x.pem", &g), 0);
	assert_int_equal(remove_file(f, "no/such/dir/x.pem", &g), 0);
	assert_int_equal(remove_file(f, "../x.pem", &g), CF_EINVAL);
	assert_int_equal(remove_file(f, "x\tz", &g), CF_EINVAL);
	assert_int_equal(remove_file(f, "/", &g), CF_EINVAL);
	/* A directory is not a file. */
	assert_int_not_equal(remove_file(f, "certs", &g), 0);
	assert_true(exists(at(f, "certs")));
	got_clear(&g);
}

/*
 * The local transport never leaves its root, not even through a symlink
 * (see transport_local.h); over ssh the root is a base for paths and the
 * server's own symlinks are followed, so this one is local only.
 */
static void test_symlinks_stay_below_root(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	char outside[64];

	if (over_ssh)
		skip();
	snprintf(outside, sizeof outside, "/tmp/cf-out-XXXXXX");
	assert_non_null(mkdtemp(outside));
	assert_int_equal(symlink(outside, at(f, "evil")), 0);
	assert_int_not_equal(write_file(f, "evil/ca.pem", "x", 0644, &g), 0);
	assert_non_null(strstr(g.msg, "symlink"));
	assert_int_equal(remove_file(f, "evil/x", &g), CF_ETRANSPORT);
	assert_int_equal(read_file(f, "evil/../evil", 10, &g), CF_EINVAL);
	put(at(f, "evil/secret"), "s", 1, 0644);
	assert_int_equal(read_file(f, "evil/secret", 10, &g), CF_ETRANSPORT);
	assert_non_null(strstr(g.msg, "leads outside the server root"));
	assert_int_equal(count_entries(outside), 1);
	nftw(outside, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	got_clear(&g);
}

/* ---- commands ------------------------------------------------------------ */

static void test_run(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	char *out3[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3",
	    NULL };
	char *pwd[] = { "/bin/pwd", NULL };
	char *big[] = { "/bin/sh", "-c", "yes a | head -c 10000", NULL };
	char *none[] = { "/nonexistent/reload", NULL };
	char *slow[] = { "/bin/sleep", "30", NULL };
	char *real, want[PATH_MAX + 2];

	assert_int_equal(run(f, out3, 5000, &g), 0);
	assert_int_equal(g.r.exit_status, 3);
	assert_string_equal(g.out, "out\n");
	assert_string_equal(g.err, "err\n");
	/* In the server's root. */
	assert_int_equal(run(f, pwd, 5000, &g), 0);
	real = realpath(f->root, NULL);
	snprintf(want, sizeof want, "%s\n", real);
	free(real);
	assert_string_equal(g.out, want);
	assert_int_equal(run(f, big, 5000, &g), 0);
	assert_int_equal(g.r.outlen, TRANSPORT_CAPTURE);
	assert_int_equal(run(f, none, 5000, &g), CF_ETRANSPORT);
	assert_string_equal(g.msg, "cannot run '/nonexistent/reload' on '"
	    SERVER "': no such file or directory");
	assert_int_equal(run(f, slow, 1000, &g), CF_ETIMEDOUT);
	got_clear(&g);
}

/* Over ssh, a session lost mid-operation fails that operation, and the
 * next one opens a new session: a command kills the helper's shell that
 * serves operations (its parent's parent), which ends the session. The
 * local transport has no session. */
static void test_session_lost(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	char *kill_session[] = { "/bin/sh", "-c",
	    "read -r a b c p r </proc/$PPID/stat && kill -KILL $p", NULL };
	char *echo[] = { "/bin/sh", "-c", "echo back", NULL };

	if (!over_ssh)
		skip();
	puts_at(f, "certs/x.pem", "X\n");
	assert_int_equal(run(f, echo, 5000, &g), 0);
	assert_int_equal(run(f, kill_session, 5000, &g), CF_ETRANSPORT);
	assert_true(strncmp(g.msg, "cannot run '/bin/sh' on '" SERVER "': ",
	    strlen("cannot run '/bin/sh' on '" SERVER "': ")) == 0);
	assert_int_equal(read_file(f, "certs/x.pem", 100, &g), 0);
	assert_string_equal(g.data, "X\n");
	assert_int_equal(run(f, echo, 5000, &g), 0);
	assert_string_equal(g.out, "back\n");
	got_clear(&g);
}

/* A value of shell syntax, quotes, newlines (trailing ones too) and
 * bytes that are not text. */
#define HOSTILE "a b 'q' \"d\" $(touch pwned-sub) `touch pwned-bt`; " \
	"touch pwned-semi | x & y > z\n\nline\t\\ $HOME * \001\201\377\n\n"

/* The environment of a command: every value arrives byte for byte and
 * nothing in it runs; the command keeps the environment it would have
 * had, a variable set replaces one of the same name, and names that
 * could not be a variable's are refused before anything starts. */
static void test_run_env(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	char *show[] = { "/usr/bin/printenv", "CF_T1", "CF_T2", "CF_T3",
	    "HOME", NULL };
	char *path[] = { "/usr/bin/printenv", "PATH", NULL };
	char *env[] = { "CF_T1=" HOSTILE, "CF_T2=", "CF_T3=a=b", "HOME=/x",
	    NULL };
	char *bad[][3] = {
		{ "1A=x", NULL }, { "a=x", NULL }, { "A-B=x", NULL },
		{ "NOVALUE", NULL }, { "=x", NULL }, { "A=1", "A=2", NULL },
	};
	size_t i;

	assert_int_equal(run_env(f, show, env, 5000, &g), 0);
	assert_int_equal(g.r.exit_status, 0);
	assert_int_equal(g.r.outlen, strlen(HOSTILE "\n\na=b\n/x\n"));
	assert_memory_equal(g.out, HOSTILE "\n\na=b\n/x\n", g.r.outlen);
	assert_false(exists("pwned-sub") || exists("pwned-bt") ||
	    exists("pwned-semi") || exists(at(f, "pwned-sub")) ||
	    exists(at(f, "pwned-bt")) || exists(at(f, "pwned-semi")));
	/* Added to what it has anyway, not instead. */
	assert_int_equal(run_env(f, path, env, 5000, &g), 0);
	assert_int_equal(g.r.exit_status, 0);
	assert_true(g.r.outlen > 1);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(run_env(f, show, bad[i], 5000, &g),
		    CF_EINVAL);
	got_clear(&g);
}

/* keygen = "server": the key is made there, 0600, and stale keys of the
 * same server ("NAME-ID.key", ID all digits) go; a set copies it. */
static void test_keygen_stale_keys(void **state)
{
	struct fx *f = *state;
	const char *dir = "certs/.certfleet/keys";
	char path[128];
	struct transport_member m[2] = {
		{ "cert.pem", "certs/default.pem", "CERT\n", 5, 0644, NULL },
		{ "key.pem", "certs/default.key", NULL, 0, 0600, NULL },
	};
	struct transport_set s = { STORE, "certs/default", m, 2 };
	struct got g = { 0 };
	char *key, msg[256];
	size_t n;

	if (f->t->ops->keygen == NULL)
		skip();
	snprintf(path, sizeof path, "%s/%s-999.key", dir, SERVER);
	puts_at(f, path, "stale");
	snprintf(path, sizeof path, "%s/%s-notes.key", dir, SERVER);
	puts_at(f, path, "note");
	snprintf(path, sizeof path, "%s/%sx-5.key", dir, SERVER);
	puts_at(f, path, "other");
	snprintf(path, sizeof path, "%s/%s-1000.key", dir, SERVER);
	got_clear(&g);
	assert_int_equal(wait_for(f, &g, f->t->ops->keygen(f->t, "ec P-256",
	    path, SERVER ".test", "DNS:" SERVER ".test", got_file, &g)), 0);
	assert_non_null(strstr(g.data, "BEGIN CERTIFICATE REQUEST"));
	assert_int_equal(mode_of(at(f, path)), 0600);
	assert_int_equal(count_entries(at(f, dir)), 3);
	snprintf(path, sizeof path, "%s/%s-999.key", dir, SERVER);
	assert_false(exists(at(f, path)));

	snprintf(path, sizeof path, "%s/%s-1000.key", dir, SERVER);
	m[1].from = path;
	assert_int_equal(install(f, &s, &g), 0);
	assert_int_equal(fsio_read_file(at(f, path), 1 << 16, &key, &n, msg,
	    sizeof msg), 0);
	assert_true(file_is(at(f, "certs/default.key"), key, n));
	assert_int_equal(mode_of(at(f, "certs/default.key")), 0600);
	free(key);
	got_clear(&g);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_install_layout),
		T(test_version_naming),
		T(test_stale_versions_pruned),
		T(test_adopt),
		T(test_adopt_partial_and_refused),
		T(test_rollback),
		T(test_install_refused),
		T(test_read_file_limits),
		T(test_read_store_limits),
		T(test_write_file_confined),
		T(test_remove_confined),
		T(test_symlinks_stay_below_root),
		T(test_run),
		T(test_session_lost),
		T(test_run_env),
		T(test_keygen_stale_keys),
	};

	return cmocka_run_group_tests_name(getenv("CF_TRANSPORT") != NULL &&
	    strcmp(getenv("CF_TRANSPORT"), "ssh") == 0 ?
	    "transport conformance (ssh)" : "transport conformance (local)",
	    tests, group_setup, NULL);
}
