/*
 * Assignment and the local transport, on real files: each test runs a real
 * libuv loop over a fresh mkdtemp root, with throw-away EC P-256 keys and
 * self-signed certificates made once for the group. Every test closes its
 * transport and checks that uv_loop_close returns 0.
 */
#include "tests/unit/unit.h"
#include "engine/assign/assign.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/str.h"
#include "engine/transport/transport_local.h"
#include "inventory/fleet.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <uv.h>

/* A key and a bundle: its certificate first, then the other pair's as a
 * stand-in chain. */
struct pair {
	char *leaf;                 /* the leaf's PEM alone */
	char *bundle;               /* leaf + "chain" */
	size_t bundle_len;
	char *key;
	size_t key_len;
};

static struct pair pa, pb;

struct fx {
	char root[64];
	char outside[64];
	uv_loop_t loop;
	struct transport *t;
};

/* ---- fixtures -------------------------------------------------------- */

static char *bio_text(BIO *b)
{
	char *p, *s;
	long n = BIO_get_mem_data(b, &p);

	s = malloc((size_t)n + 1);
	assert_non_null(s);
	memcpy(s, p, (size_t)n);
	s[n] = '\0';
	return s;
}

static void make_pair(struct pair *p, const char *cn, EVP_PKEY **keyout)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	BIO *b;

	assert_non_null(k);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, k);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_X509(b, x);
	p->leaf = bio_text(b);
	BIO_free(b);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	p->key = bio_text(b);
	p->key_len = strlen(p->key);
	BIO_free(b);
	X509_free(x);
	*keyout = k;
}

static int group_setup(void **state)
{
	EVP_PKEY *ka, *kb;
	size_t la, lb;

	(void)state;
	make_pair(&pa, "a.contoso.test", &ka);
	make_pair(&pb, "b.contoso.test", &kb);
	la = strlen(pa.leaf);
	lb = strlen(pb.leaf);
	pa.bundle = malloc(la + lb + 1);
	pb.bundle = malloc(la + lb + 1);
	memcpy(pa.bundle, pa.leaf, la);
	memcpy(pa.bundle + la, pb.leaf, lb + 1);
	memcpy(pb.bundle, pb.leaf, lb);
	memcpy(pb.bundle + lb, pa.leaf, la + 1);
	pa.bundle_len = pb.bundle_len = la + lb;
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	free(pa.leaf);
	free(pa.bundle);
	free(pa.key);
	free(pb.leaf);
	free(pb.bundle);
	free(pb.key);
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	char msg[256];

	assert_non_null(f);
	snprintf(f->root, sizeof f->root, "/tmp/cf-assign-XXXXXX");
	snprintf(f->outside, sizeof f->outside, "/tmp/cf-outside-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	assert_non_null(mkdtemp(f->outside));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(transport_local_open(&f->t, &f->loop, "web01",
	    f->root, msg, sizeof msg), 0);
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
	nftw(f->outside, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- helpers --------------------------------------------------------- */

static char *at(const struct fx *f, const char *rel)
{
	static char buf[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof buf[i], "%.60s/%.3000s", f->root, rel);
	return buf[i];
}

static char *slurp(const char *path, size_t *len)
{
	char *data, msg[256];
	size_t n;

	if (fsio_read_file(path, 1 << 20, &data, &n, msg, sizeof msg) != 0)
		return NULL;
	if (len != NULL)
		*len = n;
	return data;
}

static bool file_is(const char *path, const char *want, size_t len)
{
	size_t n;
	char *got = slurp(path, &n);
	bool same = got != NULL && n == len && memcmp(got, want, n) == 0;

	free(got);
	return same;
}

static void put(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static unsigned mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (unsigned)st.st_mode & 07777;
}

static char *link_text(const char *path)
{
	static char buf[PATH_MAX];
	ssize_t n = readlink(path, buf, sizeof buf - 1);

	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void on_done(struct assign *a, int status)
{
	int *calls = a->data;

	assert_int_equal(status, a->status);
	(*calls)++;
}

/*
 * Assigns p to usages on the fixture's server and runs the loop until done.
 * Returns the status (the start's error when it did not start); a holds
 * the results and must be released.
 */
static int run_assign(struct fx *f, const struct pair *p, unsigned usages,
    const struct usage_binding *b, struct assign *a, char *msg,
    size_t msgsz)
{
	struct assign_input in = {
		.server = "web01",
		.usages = usages,
		.certs = "certs",
		.bindings = b,
		.cert_pem = p->bundle,
		.cert_len = p->bundle_len,
		.key_pem = p->key,
		.key_len = p->key_len,
		.fleet = "prod",
		.address = "web01.contoso.test",
	};
	int calls = 0, rc;

	rc = assign_start(a, f->t, &in, on_done, msg, msgsz);
	if (rc != 0)
		return rc;
	a->data = &calls;
	assert_int_equal(calls, 0);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(calls, 1);
	return a->status;
}

static void assign_ok(struct fx *f, const struct pair *p, unsigned usages,
    const struct usage_binding *b)
{
	struct assign a;
	char msg[256] = "";

	if (run_assign(f, p, usages, b, &a, msg, sizeof msg) != 0)
		fail_msg("assign failed: %s %s", msg, a.msg);
	assert_int_equal(a.assigned, usages);
	assign_release(&a);
}

/* Every usage in usages holds p's bundle and key. */
static void assert_holds(const struct fx *f, const struct pair *p,
    unsigned usages)
{
	char rel[128];
	int u;

	for (u = 0; u < USAGE_PREDEFINED; u++) {
		if (!(usages & (1u << u)))
			continue;
		snprintf(rel, sizeof rel, "certs/%s.pem", usage_name(NULL, u));
		assert_true(file_is(at(f, rel), p->bundle, p->bundle_len));
		snprintf(rel, sizeof rel, "certs/%s.key", usage_name(NULL, u));
		assert_true(file_is(at(f, rel), p->key, p->key_len));
	}
}

/* ---- assignment ------------------------------------------------------ */

static void test_first_assignment_layout(void **state)
{
	struct fx *f = *state;
	mode_t old = umask(0);
	char rel[128], *pem;
	int u;

	assign_ok(f, &pa, USAGE_ALL_PREDEFINED, NULL);
	umask(old);
	assert_holds(f, &pa, USAGE_ALL_PREDEFINED);
	for (u = 0; u < USAGE_PREDEFINED; u++) {
		snprintf(rel, sizeof rel, "certs/%s.pem", usage_name(NULL, u));
		pem = slurp(at(f, rel), NULL);
		assert_non_null(pem);
		assert_memory_equal(pem, pa.leaf, strlen(pa.leaf));
		free(pem);
		assert_string_equal(link_text(at(f, rel)), u == 0 ?
		    "default/cert.pem" : u == 1 ?
		    "webservices_internal/cert.pem" :
		    "webservices_external/cert.pem");
		snprintf(rel, sizeof rel, "certs/%s.key", usage_name(NULL, u));
		assert_int_equal(mode_of(at(f, rel)), 0600);
		snprintf(rel, sizeof rel, "certs/%s/cert.pem", usage_name(NULL, u));
		assert_int_equal(mode_of(at(f, rel)), 0644);
		snprintf(rel, sizeof rel, "certs/.certfleet/%s", usage_name(NULL, u));
		assert_int_equal(mode_of(at(f, rel)), 0755);
		assert_int_equal(count_entries(at(f, rel)), 1);
	}
	assert_true(strncmp(link_text(at(f, "certs/default")),
	    ".certfleet/default/", 19) == 0);
}

static void test_second_assignment_keeps_previous(void **state)
{
	struct fx *f = *state;
	char first[PATH_MAX], second[PATH_MAX], *path;
	mode_t old;

	assign_ok(f, &pa, USAGE_ALL_PREDEFINED, NULL);
	snprintf(first, sizeof first, "%s", link_text(at(f,
	    "certs/webservices_internal")));
	old = umask(077);
	assign_ok(f, &pb, USAGE_ALL_PREDEFINED, NULL);
	umask(old);
	assert_holds(f, &pb, USAGE_ALL_PREDEFINED);
	snprintf(second, sizeof second, "%s", link_text(at(f,
	    "certs/webservices_internal")));
	assert_string_not_equal(first, second);
	assert_int_equal(mode_of(at(f, "certs/webservices_internal.key")),
	    0600);
	assert_int_equal(mode_of(at(f, "certs/webservices_internal.pem")),
	    0644);
	/* The previous version is still on disk, whole. */
	path = at(f, "certs/.certfleet/webservices_internal");
	assert_int_equal(count_entries(path), 2);
	snprintf(second, sizeof second, "certs/%.200s/key.pem", first);
	assert_true(file_is(at(f, second), pa.key, pa.key_len));
	/* A third keeps two: the new one and the one before it. */
	assign_ok(f, &pa, USAGE_ALL_PREDEFINED, NULL);
	assert_int_equal(count_entries(path), 2);
	assert_holds(f, &pa, USAGE_ALL_PREDEFINED);
}

struct reader {
	const char *dir;            /* root/certs/default */
	volatile bool stop;
	unsigned reads;
	unsigned mismatches;
};

/* Reads the pair the way assign.h tells a strict reader to: open the
 * usage's directory once, then both files relative to it. */
static void *reader_main(void *arg)
{
	struct reader *r = arg;
	char cert[4096], key[1024];
	ssize_t cn, kn;
	int dfd, fd;

	while (!r->stop) {
		if ((dfd = open(r->dir, O_RDONLY | O_DIRECTORY)) < 0)
			continue;
		cn = kn = -1;
		if ((fd = openat(dfd, "cert.pem", O_RDONLY)) >= 0) {
			cn = read(fd, cert, sizeof cert);
			close(fd);
		}
		if ((fd = openat(dfd, "key.pem", O_RDONLY)) >= 0) {
			kn = read(fd, key, sizeof key);
			close(fd);
		}
		close(dfd);
		if (cn <= 0 || kn <= 0)
			continue;       /* a pruned version: read again */
		r->reads++;
		if (((size_t)cn >= strlen(pa.leaf) &&
		    memcmp(cert, pa.leaf, strlen(pa.leaf)) == 0) !=
		    ((size_t)kn == pa.key_len &&
		    memcmp(key, pa.key, pa.key_len) == 0))
			r->mismatches++;
	}
	return NULL;
}

static void test_reader_never_sees_mismatch(void **state)
{
	struct fx *f = *state;
	struct reader r = { 0 };
	char pem[PATH_MAX], key[PATH_MAX], *a, *b;
	pthread_t th;
	int i;

	assign_ok(f, &pa, 1u << USAGE_DEFAULT, NULL);
	/* Structure: both names resolve through the one pointer. */
	assert_string_equal(link_text(at(f, "certs/default.pem")),
	    "default/cert.pem");
	assert_string_equal(link_text(at(f, "certs/default.key")),
	    "default/key.pem");
	a = realpath(at(f, "certs/default.pem"), NULL);
	b = realpath(at(f, "certs/default.key"), NULL);
	assert_non_null(a);
	assert_non_null(b);
	snprintf(pem, sizeof pem, "%s", a);
	snprintf(key, sizeof key, "%s", b);
	*strrchr(pem, '/') = '\0';
	*strrchr(key, '/') = '\0';
	assert_string_equal(pem, key);
	free(a);
	free(b);

	r.dir = at(f, "certs/default");
	assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
	for (i = 0; i < 8; i++)
		assign_ok(f, i % 2 ? &pa : &pb, 1u << USAGE_DEFAULT, NULL);
	while (r.reads == 0)
		usleep(1000);
	r.stop = true;
	pthread_join(th, NULL);
	assert_int_equal(r.mismatches, 0);
}

static void test_mismatch_refused(void **state)
{
	struct fx *f = *state;
	struct assign_input in = {
		.server = "web01",
		.usages = USAGE_ALL_PREDEFINED,
		.certs = "certs",
		.cert_pem = pa.bundle,
		.cert_len = pa.bundle_len,
		.key_pem = pb.key,
		.key_len = pb.key_len,
	};
	struct assign a;
	char msg[256], *both;
	struct stat st;

	assert_int_equal(assign_start(&a, f->t, &in, on_done, msg,
	    sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "cannot assign on 'web01': the private key "
	    "does not belong to the certificate");
	assert_null(strstr(msg, "PRIVATE"));
	assign_release(&a);

	/* A private key inside the world-readable bundle is refused too. */
	both = malloc(pa.bundle_len + pa.key_len + 1);
	memcpy(both, pa.bundle, pa.bundle_len);
	memcpy(both + pa.bundle_len, pa.key, pa.key_len + 1);
	in.cert_pem = both;
	in.cert_len = pa.bundle_len + pa.key_len;
	in.key_pem = pa.key;
	in.key_len = pa.key_len;
	assert_int_equal(assign_start(&a, f->t, &in, on_done, msg,
	    sizeof msg), CF_EINVAL);
	assert_non_null(strstr(msg, "holds a private key"));
	assign_release(&a);
	free(both);

	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(lstat(at(f, "certs"), &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_entries(f->root), 0);
}

static char *boom_argv[] = { "/bin/sh", "-c",
	"echo starting; echo boom >&2; exit 1", NULL };
static char *true_argv[] = { "/bin/true", NULL };
static char *sleep_argv[] = { "/bin/sleep", "30", NULL };

static void test_reload_failure_rolls_back(void **state)
{
	struct fx *f = *state;
	struct usage_binding b[USAGE_CAP];
	struct assign a;
	char msg[256];

	assign_ok(f, &pa, USAGE_ALL_PREDEFINED, NULL);
	memset(b, 0, sizeof b);
	b[USAGE_DEFAULT].reload = true_argv;
	b[USAGE_WS_INTERNAL].reload = true_argv;
	b[USAGE_WS_EXTERNAL].reload = boom_argv;
	b[USAGE_WS_EXTERNAL].reload_timeout = 5;
	assert_int_equal(run_assign(f, &pb, USAGE_ALL_PREDEFINED, b, &a, msg,
	    sizeof msg), CF_ETRANSPORT);
	assert_string_equal(a.msg, "reload command '/bin/sh -c echo "
	    "starting; echo boom >&2; exit 1' for usage "
	    "'webservices_external' on 'web01' exited 1: boom; rolled back "
	    "to the previous certificate");
	assert_int_equal(a.assigned, 0);
	assert_int_equal(a.rolled_back, USAGE_ALL_PREDEFINED);
	assign_release(&a);
	/* Byte for byte, every usage. */
	assert_holds(f, &pa, USAGE_ALL_PREDEFINED);
	/* The failed version is gone; the one in use is kept. */
	assert_int_equal(count_entries(at(f, "certs/.certfleet/default")), 1);
}

static void test_first_assignment_rollback_empties(void **state)
{
	struct fx *f = *state;
	struct usage_binding b[USAGE_CAP];
	struct assign a;
	char msg[256];
	struct stat st;

	memset(b, 0, sizeof b);
	b[USAGE_DEFAULT].reload = boom_argv;
	assert_int_equal(run_assign(f, &pa, 1u << USAGE_DEFAULT, b, &a, msg,
	    sizeof msg), CF_ETRANSPORT);
	assert_non_null(strstr(a.msg, "exited 1: boom; rolled back (no "
	    "certificate was assigned before)"));
	assign_release(&a);
	assert_int_equal(lstat(at(f, "certs/default.pem"), &st), -1);
	assert_int_equal(lstat(at(f, "certs/default.key"), &st), -1);
	assert_int_equal(lstat(at(f, "certs/default"), &st), -1);
	assert_int_equal(count_entries(at(f, "certs/.certfleet/default")), 0);
}

static void test_reload_timeout_rolls_back(void **state)
{
	struct fx *f = *state;
	struct usage_binding b[USAGE_CAP];
	struct assign a;
	char msg[256];

	assign_ok(f, &pa, 1u << USAGE_DEFAULT | 1u << USAGE_WS_INTERNAL,
	    NULL);
	memset(b, 0, sizeof b);
	b[USAGE_WS_INTERNAL].reload = sleep_argv;
	b[USAGE_WS_INTERNAL].reload_timeout = 1;
	assert_int_equal(run_assign(f, &pb, 1u << USAGE_DEFAULT |
	    1u << USAGE_WS_INTERNAL, b, &a, msg, sizeof msg), CF_ETIMEDOUT);
	assert_string_equal(a.msg, "reload command '/bin/sleep 30' for usage "
	    "'webservices_internal' on 'web01' did not finish within 1 s and "
	    "was killed; rolled back to the previous certificate");
	assign_release(&a);
	assert_holds(f, &pa, 1u << USAGE_DEFAULT | 1u << USAGE_WS_INTERNAL);
}

static void test_custom_path_kept_and_restored(void **state)
{
	struct fx *f = *state;
	struct usage_binding b[USAGE_CAP];
	struct assign a;
	char msg[256];
	struct stat st;

	assert_int_equal(fsio_mkdirs(at(f, "etc/nginx"), 0755, msg,
	    sizeof msg), 0);
	put(at(f, "etc/nginx/ext.pem"), "HAND CERT\n", 0644);
	put(at(f, "etc/nginx/ext.key"), "HAND KEY\n", 0640);
	memset(b, 0, sizeof b);
	b[USAGE_WS_EXTERNAL].cert = "etc/nginx/ext.pem";
	b[USAGE_WS_EXTERNAL].key = "/etc/nginx/ext.key";
	b[USAGE_WS_EXTERNAL].reload = boom_argv;

	assert_int_equal(run_assign(f, &pa, 1u << USAGE_WS_EXTERNAL, b, &a,
	    msg, sizeof msg), CF_ETRANSPORT);
	assert_non_null(strstr(a.msg, "rolled back to the previous "
	    "certificate"));
	assign_release(&a);
	assert_true(file_is(at(f, "etc/nginx/ext.pem"), "HAND CERT\n", 10));
	assert_true(file_is(at(f, "etc/nginx/ext.key"), "HAND KEY\n", 9));
	assert_int_equal(mode_of(at(f, "etc/nginx/ext.key")), 0640);
	assert_true(file_is(at(f,
	    "certs/.certfleet/webservices_external/previous/cert.pem"),
	    "HAND CERT\n", 10));
	assert_string_equal(link_text(at(f, "etc/nginx/ext.pem")),
	    "../../certs/webservices_external/cert.pem");
	/* The default names were never made for a bound usage. */
	assert_int_equal(lstat(at(f, "certs/webservices_external.pem"), &st),
	    -1);

	/* Without the failing reload it goes through, and the hand-made set
	 * stays as the previous version. */
	b[USAGE_WS_EXTERNAL].reload = NULL;
	assign_ok(f, &pa, 1u << USAGE_WS_EXTERNAL, b);
	assert_true(file_is(at(f, "etc/nginx/ext.pem"), pa.bundle,
	    pa.bundle_len));
	assert_true(file_is(at(f, "etc/nginx/ext.key"), pa.key, pa.key_len));
	assert_int_equal(mode_of(at(f, "etc/nginx/ext.key")), 0600);
	assert_int_equal(count_entries(at(f,
	    "certs/.certfleet/webservices_external")), 2);
}

/* What a reload learns of pair p, as reload_env.h says: SHA-1, SHA-256
 * and notAfter of the leaf. */
static void facts_of(const struct pair *p, char sha1[41], char sha256[65],
    char not_after[21])
{
	BIO *b = BIO_new_mem_buf(p->leaf, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	time_t t;
	struct tm tm;

	assert_non_null(x);
	assert_int_equal(crypto_thumbprint(x, sha1), 0);
	assert_int_equal(crypto_fingerprint_sha256(x, sha256), 0);
	assert_int_equal(crypto_cert_not_after(x, &t), 0);
	gmtime_r(&t, &tm);
	strftime(not_after, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
	X509_free(x);
	BIO_free(b);
}

/* The CERTFLEET_* variables one reload saw, sorted, as the log holds
 * them: now is what is in place, before the SHA-256 it replaced. */
static char *env_block(const struct fx *f, const char *usage,
    const char *cert, const char *key, const struct pair *now,
    const struct pair *before)
{
	char sha1[41] = "", sha256[65] = "", na[21] = "", prev[65] = "";
	char s1[41], n1[21];

	if (now != NULL)
		facts_of(now, sha1, sha256, na);
	if (before != NULL)
		facts_of(before, s1, prev, n1);
	return cf_asprintf("CERTFLEET_ADDRESS=web01.contoso.test\n"
	    "CERTFLEET_CERT_FILE=%s/%s\nCERTFLEET_CHAIN_FILE=%s/%s\n"
	    "CERTFLEET_FLEET=prod\nCERTFLEET_KEY_FILE=%s/%s\n"
	    "CERTFLEET_NOT_AFTER=%s\nCERTFLEET_PREVIOUS_SHA256=%s\n"
	    "CERTFLEET_SERVER=web01\nCERTFLEET_SHA256=%s\n"
	    "CERTFLEET_THUMBPRINT=%s\nCERTFLEET_USAGE=%s\n---\n",
	    f->root, cert, f->root, cert, f->root, key, na, prev, sha256,
	    sha1, usage);
}

/*
 * A reload's environment: the new certificate and the one it replaced;
 * after a rollback, the one restored and the one taken away. Paths are
 * the server's, whole and literal, shell syntax and all. The reload logs
 * what it sees, fails the first time and succeeds when run again.
 */
static void test_reload_environment(void **state)
{
	struct fx *f = *state;
	const char *cert = "etc/a b;$(touch pwned)`touch pwned2`'\"q.pem";
	char log[128], *argv[] = { "/bin/sh", "-c", "env | grep '^CERTFLEET_' "
	    "| LC_ALL=C sort >>\"$1\"; echo --- >>\"$1\"; [ -e \"$1.x\" ] "
	    "&& exit 0; : >\"$1.x\"; exit 1", "sh", log, NULL };
	struct usage_binding b[USAGE_CAP];
	struct assign a;
	char msg[256], *want, *got, *w1, *w2;

	snprintf(log, sizeof log, "%s/log", f->outside);
	memset(b, 0, sizeof b);
	b[USAGE_DEFAULT].cert = (char *)cert;
	assign_ok(f, &pa, 1u << USAGE_DEFAULT, b);
	b[USAGE_DEFAULT].reload = argv;
	assert_int_equal(run_assign(f, &pb, 1u << USAGE_DEFAULT, b, &a, msg,
	    sizeof msg), CF_ETRANSPORT);
	assign_release(&a);
	w1 = env_block(f, "default", cert, "certs/default.key", &pb, &pa);
	w2 = env_block(f, "default", cert, "certs/default.key", &pa, &pb);
	want = cf_asprintf("%s%s", w1, w2);
	got = slurp(log, NULL);
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_false(access(at(f, "pwned"), F_OK) == 0 ||
	    access("pwned", F_OK) == 0 || access("pwned2", F_OK) == 0);
	free(w1);
	free(w2);
	free(want);
	free(got);

	/* Rolled back to nothing: nothing is in place. */
	assert_int_equal(unlink(log), 0);
	strcat(log, ".x");
	assert_int_equal(unlink(log), 0);
	log[strlen(log) - 2] = '\0';
	b[USAGE_WS_INTERNAL].reload = argv;
	assert_int_equal(run_assign(f, &pb, 1u << USAGE_WS_INTERNAL, b, &a,
	    msg, sizeof msg), CF_ETRANSPORT);
	assign_release(&a);
	w1 = env_block(f, "webservices_internal",
	    "certs/webservices_internal.pem",
	    "certs/webservices_internal.key", &pb, NULL);
	w2 = env_block(f, "webservices_internal",
	    "certs/webservices_internal.pem",
	    "certs/webservices_internal.key", NULL, &pb);
	want = cf_asprintf("%s%s", w1, w2);
	got = slurp(log, NULL);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(w1);
	free(w2);
	free(want);
	free(got);
}

static void test_symlink_outside_refused(void **state)
{
	struct fx *f = *state;
	struct assign a;
	char msg[256];

	assert_int_equal(symlink(f->outside, at(f, "certs")), 0);
	assert_int_equal(run_assign(f, &pa, USAGE_ALL_PREDEFINED, NULL, &a, msg,
	    sizeof msg), CF_ETRANSPORT);
	assert_string_equal(a.msg, "cannot install 'certs/.certfleet/default' "
	    "on 'web01': refusing to follow the symlink 'certs' (usage "
	    "'default'); nothing was changed");
	assert_int_equal(a.assigned, 0);
	assign_release(&a);
	assert_int_equal(count_entries(f->outside), 0);

	/* A custom path through a planted directory link fails the same way,
	 * and the default certs path (now a real directory) is untouched. */
	assert_int_equal(unlink(at(f, "certs")), 0);
	assert_int_equal(mkdir(at(f, "etc"), 0755), 0);
	assert_int_equal(symlink(f->outside, at(f, "etc/nginx")), 0);
	{
		struct usage_binding b[USAGE_CAP];

		memset(b, 0, sizeof b);
		b[USAGE_DEFAULT].cert = "etc/nginx/x.pem";
		assert_int_equal(run_assign(f, &pa, 1u << USAGE_DEFAULT, b,
		    &a, msg, sizeof msg), CF_ETRANSPORT);
		assert_non_null(strstr(a.msg, "refusing to follow the symlink "
		    "'etc/nginx'"));
		assign_release(&a);
	}
	assert_int_equal(count_entries(f->outside), 0);
	assert_int_equal(count_entries(at(f, "certs/.certfleet/default")), 0);
}

/* ---- the transport on its own ---------------------------------------- */

struct got {
	bool returned;              /* the starting call has returned */
	int calls;
	int status;
	char msg[512];
	char *data;
	size_t len;
	char names[8][64];
	char *datas[8];
	size_t n;
	struct transport_run_result r;
	char out[TRANSPORT_CAPTURE + 1];
	char err[TRANSPORT_CAPTURE + 1];
};

static void got_file(void *arg, int status, const char *data, size_t len,
    const char *msg)
{
	struct got *g = arg;

	assert_true(g->returned);
	g->calls++;
	g->status = status;
	snprintf(g->msg, sizeof g->msg, "%s", msg);
	if (data != NULL) {
		g->data = malloc(len + 1);
		memcpy(g->data, data, len + 1);
		g->len = len;
	}
}

static void got_store(void *arg, int status,
    const struct transport_entry *e, size_t n, const char *msg)
{
	struct got *g = arg;
	size_t i;

	assert_true(g->returned);
	g->calls++;
	g->status = status;
	snprintf(g->msg, sizeof g->msg, "%s", msg);
	g->n = n;
	for (i = 0; i < n && i < 8; i++) {
		snprintf(g->names[i], sizeof g->names[i], "%s", e[i].name);
		g->datas[i] = strdup(e[i].data);
	}
}

static void got_run(void *arg, int status,
    const struct transport_run_result *r, const char *msg)
{
	struct got *g = arg;

	assert_true(g->returned);
	g->calls++;
	g->status = status;
	snprintf(g->msg, sizeof g->msg, "%s", msg);
	g->r = *r;
	memcpy(g->out, r->out, r->outlen + 1);
	memcpy(g->err, r->err, r->errlen + 1);
	g->r.out = g->out;
	g->r.err = g->err;
}

static void got_clear(struct got *g)
{
	size_t i;

	free(g->data);
	for (i = 0; i < g->n && i < 8; i++)
		free(g->datas[i]);
	memset(g, 0, sizeof *g);
}

static void read_file(struct fx *f, const char *path, size_t max,
    struct got *g)
{
	got_clear(g);
	assert_int_equal(f->t->ops->read_file(f->t, path, max, got_file, g),
	    0);
	g->returned = true;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(g->calls, 1);
}

static void read_store(struct fx *f, const char *path, struct got *g)
{
	got_clear(g);
	assert_int_equal(f->t->ops->read_store(f->t, path, 65536, got_store,
	    g), 0);
	g->returned = true;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(g->calls, 1);
}

static void run_cmd(struct fx *f, char **argv, unsigned timeout_ms,
    struct got *g)
{
	got_clear(g);
	assert_int_equal(f->t->ops->run(f->t, argv, NULL, timeout_ms, got_run,
	    g), 0);
	g->returned = true;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(g->calls, 1);
}

static void test_read_file_limits(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	char hundred[101], secret[PATH_MAX];

	memset(hundred, 'x', 100);
	hundred[100] = '\0';
	put(at(f, "f.txt"), hundred, 0644);
	read_file(f, "f.txt", 100, &g);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.len, 100);
	read_file(f, "/f.txt", 99, &g);
	assert_int_equal(g.status, CF_EINVAL);
	assert_string_equal(g.msg, "cannot read '/f.txt' on 'web01': larger "
	    "than the limit of 99 bytes");
	assert_null(g.data);
	read_file(f, "missing.txt", 100, &g);
	assert_int_equal(g.status, CF_ENOENT);
	read_file(f, "a/../f.txt", 100, &g);
	assert_int_equal(g.status, CF_EINVAL);
	/* A symlink that leads out of the root is not followed. */
	snprintf(secret, sizeof secret, "%s/secret", f->outside);
	put(secret, "x", 0644);
	assert_int_equal(symlink(secret, at(f, "host")), 0);
	read_file(f, "host", 100, &g);
	assert_int_equal(g.status, CF_ETRANSPORT);
	assert_string_equal(g.msg, "cannot read 'host' on 'web01': it leads "
	    "outside the server root");
	assert_null(g.data);
	/* One that stays inside is. */
	assert_int_equal(symlink("f.txt", at(f, "inside")), 0);
	read_file(f, "inside", 100, &g);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.len, 100);
	got_clear(&g);
}

static void test_read_store(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	char msg[256];

	assert_int_equal(fsio_mkdirs(at(f, "trust/roots/sub"), 0755, msg,
	    sizeof msg), 0);
	put(at(f, "trust/roots/b.pem"), "B", 0644);
	put(at(f, "trust/roots/a.pem"), "A", 0644);
	put(at(f, "trust/roots/c.crt"), "C", 0644);
	put(at(f, "trust/roots/.hidden.pem"), "H", 0644);
	assert_int_equal(symlink("a.pem", at(f, "trust/roots/d.pem")), 0);
	assert_int_equal(symlink("gone.pem", at(f, "trust/roots/e.pem")), 0);
	read_store(f, "trust/roots", &g);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.n, 4);
	assert_string_equal(g.names[0], "a.pem");
	assert_string_equal(g.names[1], "b.pem");
	assert_string_equal(g.names[2], "c.crt");
	assert_string_equal(g.names[3], "d.pem");
	assert_string_equal(g.datas[1], "B");
	assert_string_equal(g.datas[3], "A");

	put(at(f, "trust/bundle.pem"), "BUNDLE", 0644);
	read_store(f, "/trust/bundle.pem", &g);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.n, 1);
	assert_string_equal(g.names[0], "bundle.pem");
	assert_string_equal(g.datas[0], "BUNDLE");

	read_store(f, "trust/intermediates", &g);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.n, 0);

	/* A store whose directory leads out of the root is refused. */
	assert_int_equal(symlink(f->outside, at(f, "trust/elsewhere")), 0);
	read_store(f, "trust/elsewhere", &g);
	assert_int_equal(g.status, CF_ETRANSPORT);
	assert_non_null(strstr(g.msg, "leads outside the server root"));
	got_clear(&g);
}

static void test_run(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	char *out3[] = { "/bin/sh", "-c", "echo out; echo err >&2; exit 3",
	    NULL };
	char *pwd[] = { "/bin/pwd", NULL };
	char *big[] = { "/bin/sh", "-c", "yes a | head -c 10000", NULL };
	char *none[] = { "/nonexistent/reload", NULL };
	char *real, want[PATH_MAX + 2];

	run_cmd(f, out3, 5000, &g);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.r.exit_status, 3);
	assert_string_equal(g.out, "out\n");
	assert_string_equal(g.err, "err\n");

	run_cmd(f, pwd, 5000, &g);
	real = realpath(f->root, NULL);
	snprintf(want, sizeof want, "%s\n", real);
	free(real);
	assert_string_equal(g.out, want);

	run_cmd(f, big, 5000, &g);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.r.outlen, TRANSPORT_CAPTURE);

	run_cmd(f, none, 5000, &g);
	assert_int_equal(g.status, CF_ETRANSPORT);
	assert_non_null(strstr(g.msg, "cannot run '/nonexistent/reload' on "
	    "'web01'"));

	/* A hung command and what it started are killed together. */
	{
		char *tree[] = { "/bin/sh", "-c", "/bin/sleep 30; exit 0",
		    NULL };

		run_cmd(f, tree, 300, &g);
		assert_int_equal(g.status, CF_ETIMEDOUT);
		assert_int_equal(g.r.exit_status, -1);
	}
	got_clear(&g);
}

static void got_status(void *arg, int status, const char *msg)
{
	struct got *g = arg;

	assert_true(g->returned);
	g->calls++;
	g->status = status;
	snprintf(g->msg, sizeof g->msg, "%s", msg);
}

static int write_file(struct fx *f, const char *path, const char *text,
    unsigned mode, struct got *g)
{
	int rc;

	got_clear(g);
	rc = f->t->ops->write_file(f->t, path, text, strlen(text), mode,
	    got_status, g);
	if (rc != 0)
		return rc;
	g->returned = true;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(g->calls, 1);
	return g->status;
}

/* write_file: atomic replace, exact mode, confined like every write. */
static void test_write_file(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	char link[PATH_MAX];
	mode_t old = umask(077);

	assert_int_equal(write_file(f, "trust/roots/ca.pem", "one\n", 0644,
	    &g), 0);
	umask(old);
	assert_true(file_is(at(f, "trust/roots/ca.pem"), "one\n", 4));
	assert_int_equal(mode_of(at(f, "trust/roots/ca.pem")), 0644);
	assert_int_equal(write_file(f, "/trust/roots/ca.pem", "two\n", 0600,
	    &g), 0);
	assert_true(file_is(at(f, "trust/roots/ca.pem"), "two\n", 4));
	assert_int_equal(mode_of(at(f, "trust/roots/ca.pem")), 0600);
	/* No temporary file is left beside it. */
	assert_int_equal(count_entries(at(f, "trust/roots")), 1);
	/* Outside the root: refused before anything starts. */
	assert_int_equal(f->t->ops->write_file(f->t, "../x.pem", "x", 1, 0644,
	    got_status, &g), CF_EINVAL);
	/* A symlinked directory on the way is not followed. */
	snprintf(link, sizeof link, "%s", at(f, "evil"));
	assert_int_equal(symlink(f->outside, link), 0);
	assert_int_not_equal(write_file(f, "evil/ca.pem", "x", 0644, &g), 0);
	assert_non_null(strstr(g.msg, "symlink"));
	assert_int_equal(count_entries(f->outside), 0);
	got_clear(&g);
}

static void test_read_current(void **state)
{
	struct fx *f = *state;
	struct got g = { 0 };
	struct usage_binding b[USAGE_CAP];
	char *p;

	memset(b, 0, sizeof b);
	b[USAGE_WS_EXTERNAL].cert = "etc/ext.pem";
	p = assign_cert_path("certs", NULL, "webservices_internal");
	assert_string_equal(p, "certs/webservices_internal.pem");
	free(p);
	p = assign_key_path("/etc/ssl", &b[USAGE_WS_EXTERNAL],
	    "webservices_external");
	assert_string_equal(p, "/etc/ssl/webservices_external.key");
	free(p);

	assert_int_equal(assign_read_current(f->t, "certs", NULL,
	    "default", 0, got_file, &g), 0);
	g.returned = true;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(g.status, CF_ENOENT);

	assign_ok(f, &pb, 1u << USAGE_DEFAULT | 1u << USAGE_WS_EXTERNAL, b);
	got_clear(&g);
	assert_int_equal(assign_read_current(f->t, "certs",
	    &b[USAGE_WS_EXTERNAL], "webservices_external", 0, got_file, &g), 0);
	g.returned = true;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(g.status, 0);
	assert_int_equal(g.len, pb.bundle_len);
	assert_memory_equal(g.data, pb.bundle, pb.bundle_len);
	got_clear(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_assignment_layout,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_second_assignment_keeps_previous, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reader_never_sees_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mismatch_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_reload_failure_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_first_assignment_rollback_empties, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reload_timeout_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_custom_path_kept_and_restored, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_environment,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlink_outside_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_file_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_store, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_current, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("assign", tests, group_setup,
	    group_teardown);
}
