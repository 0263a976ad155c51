/*
 * Atomic writes, mkdir -p, bounded reads and the run lock, on real files in
 * a fresh mkdtemp directory. Failures are forced the way they happen in
 * the field (a read-only directory, a file size limit, a directory or a
 * file in the way), never simulated. Children are ended with _exit or
 * SIGKILL so that they never run cmocka or LeakSanitizer twice.
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fx {
	char dir[64];
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
	strcpy(fx->dir, "/tmp/cf-fsio-XXXXXX");
	if (mkdtemp(fx->dir) == NULL) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	chmod(fx->dir, 0700);
	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* dir/name into buf. */
static char *path_in(char *buf, size_t sz, const char *dir, const char *name)
{
	snprintf(buf, sz, "%s/%s", dir, name);
	return buf;
}

/* How many entries dir holds, "." and ".." aside. */
static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Asserts that path holds exactly s. */
static void assert_content(const char *path, const char *s)
{
	char *data, msg[256];
	size_t len;

	assert_int_equal(fsio_read_file(path, 1 << 20, &data, &len, msg,
	    sizeof msg), 0);
	assert_int_equal(len, strlen(s));
	assert_string_equal(data, s);
	free(data);
}

static void test_write_exact_mode(void **state)
{
	struct fx *fx = *state;
	char p[256], msg[256];
	mode_t old;

	path_in(p, sizeof p, fx->dir, "key.pem");
	old = umask(0);
	assert_int_equal(fsio_write_atomic(p, "k", 1, 0600, msg, sizeof msg),
	    0);
	assert_int_equal(mode_of(p), 0600);
	umask(077);
	assert_int_equal(fsio_write_atomic(p, "k2", 2, 0600, msg, sizeof msg),
	    0);
	assert_int_equal(mode_of(p), 0600);
	/* 0644 asked for under umask 077: exact, not 0600. */
	assert_int_equal(fsio_write_atomic(p, "c", 1, 0644, msg, sizeof msg),
	    0);
	assert_int_equal(mode_of(p), 0644);
	umask(0);
	assert_int_equal(fsio_write_atomic(p, "c", 1, 0640, msg, sizeof msg),
	    0);
	assert_int_equal(mode_of(p), 0640);
	umask(old);
	assert_int_equal(entries(fx->dir), 1);
}

static void test_write_replaces(void **state)
{
	struct fx *fx = *state;
	char p[256], target[256], link[256], msg[256];
	struct stat a, b;

	path_in(p, sizeof p, fx->dir, "cert.pem");
	assert_int_equal(fsio_write_atomic(p, "old", 3, 0644, msg, sizeof msg),
	    0);
	assert_int_equal(stat(p, &a), 0);
	assert_int_equal(fsio_write_atomic(p, "new content", 11, 0644, msg,
	    sizeof msg), 0);
	assert_content(p, "new content");
	assert_int_equal(stat(p, &b), 0);
	/* A new inode: the old file was replaced, never written in place. */
	assert_true(a.st_ino != b.st_ino);
	/* Empty content is a valid file. */
	assert_int_equal(fsio_write_atomic(p, NULL, 0, 0644, msg, sizeof msg),
	    0);
	assert_content(p, "");
	assert_int_equal(entries(fx->dir), 1);

	/* A symlink at path is replaced itself; its target is untouched. */
	path_in(target, sizeof target, fx->dir, "target");
	path_in(link, sizeof link, fx->dir, "link");
	assert_int_equal(fsio_write_atomic(target, "t", 1, 0644, msg,
	    sizeof msg), 0);
	assert_int_equal(symlink(target, link), 0);
	assert_int_equal(fsio_write_atomic(link, "l", 1, 0600, msg,
	    sizeof msg), 0);
	assert_int_equal(lstat(link, &a), 0);
	assert_true(S_ISREG(a.st_mode));
	assert_content(link, "l");
	assert_content(target, "t");
	assert_int_equal(entries(fx->dir), 3);

	/* An empty name or a trailing slash is not a file name. */
	assert_int_equal(fsio_write_atomic("", "x", 1, 0600, msg, sizeof msg),
	    CF_EINVAL);
	path_in(p, sizeof p, fx->dir, "dir/");
	assert_int_equal(fsio_write_atomic(p, "x", 1, 0600, msg, sizeof msg),
	    CF_EINVAL);
}

/* Runs fn in a child and returns its exit status (0 when fn returned 0). */
static int in_child(int (*fn)(const char *, const char *), const char *a,
    const char *b)
{
	pid_t pid;
	int st;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn(a, b) == 0 ? 0 : 1);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* In the child: no write permission on the directory, even for root. */
static int child_readonly(const char *path, const char *dir)
{
	char msg[256], want[300];
	int rc;

	(void)dir;
	if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
		return 2;
	rc = fsio_write_atomic(path, "new", 3, 0600, msg, sizeof msg);
	snprintf(want, sizeof want, "cannot write '%s': %s", path,
	    strerror(EACCES));
	return rc == CF_EIO && strcmp(msg, want) == 0 ? 0 : 1;
}

static void test_write_fail_readonly_dir(void **state)
{
	struct fx *fx = *state;
	char sub[256], p[300], msg[256];

	path_in(sub, sizeof sub, fx->dir, "ro");
	assert_int_equal(fsio_mkdirs(sub, 0755, msg, sizeof msg), 0);
	path_in(p, sizeof p, sub, "cert.pem");
	assert_int_equal(fsio_write_atomic(p, "old", 3, 0644, msg, sizeof msg),
	    0);
	/* The child drops root, so the top directory must let it through. */
	assert_int_equal(chmod(fx->dir, 0755), 0);
	assert_int_equal(chmod(sub, 0555), 0);
	assert_int_equal(in_child(child_readonly, p, sub), 0);
	assert_int_equal(chmod(sub, 0755), 0);
	assert_content(p, "old");
	assert_int_equal(entries(sub), 1);
}

/* In the child: a file size limit makes the write fail part way. */
static int child_fsize(const char *path, const char *dir)
{
	struct rlimit rl = { 16, 16 };
	char msg[256], want[300], big[4096];

	(void)dir;
	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
		return 2;
	memset(big, 'x', sizeof big);
	if (fsio_write_atomic(path, big, sizeof big, 0600, msg, sizeof msg) !=
	    CF_EIO)
		return 1;
	snprintf(want, sizeof want, "cannot write '%s': %s", path,
	    strerror(EFBIG));
	return strcmp(msg, want) == 0 ? 0 : 1;
}

static void test_write_fail_midway(void **state)
{
	struct fx *fx = *state;
	char p[256], msg[256];
	const char *old = "the old certificate, longer than the limit";

	path_in(p, sizeof p, fx->dir, "cert.pem");
	assert_int_equal(fsio_write_atomic(p, old, strlen(old), 0644, msg,
	    sizeof msg), 0);
	assert_int_equal(in_child(child_fsize, p, NULL), 0);
	assert_content(p, old);
	assert_int_equal(entries(fx->dir), 1);
}

static void test_write_fail_in_the_way(void **state)
{
	struct fx *fx = *state;
	char d[256], f[256], p[300], msg[256], want[400];

	/* A directory where the file should go: rename fails. */
	path_in(d, sizeof d, fx->dir, "adir");
	assert_int_equal(mkdir(d, 0700), 0);
	assert_int_equal(fsio_write_atomic(d, "x", 1, 0600, msg, sizeof msg),
	    CF_EIO);
	snprintf(want, sizeof want, "cannot replace '%s': %s", d,
	    strerror(EISDIR));
	assert_string_equal(msg, want);
	assert_int_equal(entries(fx->dir), 1);
	assert_int_equal(entries(d), 0);

	/* A regular file where the directory should be. */
	path_in(f, sizeof f, fx->dir, "afile");
	assert_int_equal(fsio_write_atomic(f, "keep", 4, 0600, msg,
	    sizeof msg), 0);
	path_in(p, sizeof p, f, "cert.pem");
	assert_int_equal(fsio_write_atomic(p, "x", 1, 0600, msg, sizeof msg),
	    CF_EIO);
	snprintf(want, sizeof want, "cannot write '%s': %s", p,
	    strerror(ENOTDIR));
	assert_string_equal(msg, want);
	assert_content(f, "keep");

	/* A missing directory. */
	path_in(p, sizeof p, fx->dir, "nodir/cert.pem");
	assert_int_equal(fsio_write_atomic(p, "x", 1, 0600, msg, sizeof msg),
	    CF_ENOENT);
	assert_int_equal(entries(fx->dir), 2);
}

static void test_mkdirs(void **state)
{
	struct fx *fx = *state;
	char p[256], q[256], f[256], msg[256], want[600];
	mode_t old;

	path_in(p, sizeof p, fx->dir, "a/b/c");
	old = umask(077);
	assert_int_equal(fsio_mkdirs(p, 0750, msg, sizeof msg), 0);
	umask(old);
	assert_int_equal(mode_of(p), 0750);
	path_in(q, sizeof q, fx->dir, "a/b");
	assert_int_equal(mode_of(q), 0750);
	/* Existing directories are fine and keep their mode. */
	assert_int_equal(chmod(q, 0700), 0);
	assert_int_equal(fsio_mkdirs(p, 0755, msg, sizeof msg), 0);
	assert_int_equal(mode_of(q), 0700);
	/* Doubled and trailing slashes. */
	path_in(q, sizeof q, fx->dir, "x//y/");
	assert_int_equal(fsio_mkdirs(q, 0700, msg, sizeof msg), 0);
	path_in(q, sizeof q, fx->dir, "x/y");
	assert_int_equal(mode_of(q), 0700);
	assert_int_equal(fsio_mkdirs("/", 0700, msg, sizeof msg), 0);
	/* A file in the way. */
	path_in(f, sizeof f, fx->dir, "a/file");
	assert_int_equal(fsio_write_atomic(f, "x", 1, 0600, msg, sizeof msg),
	    0);
	path_in(q, sizeof q, fx->dir, "a/file/d");
	assert_int_equal(fsio_mkdirs(q, 0700, msg, sizeof msg), CF_EEXIST);
	snprintf(want, sizeof want, "cannot create directory '%s': '%s' is "
	    "not a directory", q, f);
	assert_string_equal(msg, want);
	assert_int_equal(fsio_mkdirs(f, 0700, msg, sizeof msg), CF_EEXIST);
	assert_int_equal(fsio_mkdirs("", 0700, msg, sizeof msg), CF_EINVAL);
}

static void test_read_limits(void **state)
{
	struct fx *fx = *state;
	char p[256], msg[256], want[400], *data;
	size_t len;

	path_in(p, sizeof p, fx->dir, "ten");
	assert_int_equal(fsio_write_atomic(p, "0123456789", 10, 0600, msg,
	    sizeof msg), 0);
	assert_int_equal(fsio_read_file(p, 10, &data, &len, msg, sizeof msg),
	    0);
	assert_int_equal(len, 10);
	assert_int_equal(data[10], '\0');
	free(data);
	data = (char *)1;
	assert_int_equal(fsio_read_file(p, 9, &data, &len, msg, sizeof msg),
	    CF_EINVAL);
	assert_null(data);
	assert_int_equal(len, 0);
	snprintf(want, sizeof want, "cannot read '%s': larger than the limit "
	    "of 9 bytes", p);
	assert_string_equal(msg, want);

	/* A file whose size says 0 is read to its end, within the limit. */
	assert_int_equal(fsio_read_file("/proc/self/status", 1 << 20, &data,
	    &len, msg, sizeof msg), 0);
	assert_true(len > 0);
	assert_int_equal(strlen(data), len);
	free(data);
	assert_int_equal(fsio_read_file("/proc/self/status", 8, &data, &len,
	    msg, sizeof msg), CF_EINVAL);
	assert_null(data);

	path_in(p, sizeof p, fx->dir, "empty");
	assert_int_equal(fsio_write_atomic(p, "", 0, 0600, msg, sizeof msg),
	    0);
	assert_int_equal(fsio_read_file(p, 0, &data, &len, msg, sizeof msg),
	    0);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);

	path_in(p, sizeof p, fx->dir, "missing");
	assert_int_equal(fsio_read_file(p, 10, &data, &len, msg, sizeof msg),
	    CF_ENOENT);
	snprintf(want, sizeof want, "cannot read '%s': %s", p,
	    strerror(ENOENT));
	assert_string_equal(msg, want);
	assert_int_equal(fsio_read_file(fx->dir, 10, &data, &len, msg,
	    sizeof msg), CF_EIO);
	assert_null(data);
}

static void test_remove(void **state)
{
	struct fx *fx = *state;
	char p[256], d[256], msg[256];

	path_in(p, sizeof p, fx->dir, "f");
	assert_int_equal(fsio_write_atomic(p, "x", 1, 0600, msg, sizeof msg),
	    0);
	assert_int_equal(fsio_remove(p, msg, sizeof msg), 0);
	assert_int_equal(entries(fx->dir), 0);
	assert_int_equal(fsio_remove(p, msg, sizeof msg), 0);
	path_in(d, sizeof d, fx->dir, "d");
	assert_int_equal(mkdir(d, 0700), 0);
	assert_int_equal(fsio_remove(d, msg, sizeof msg), CF_EIO);
	assert_non_null(strstr(msg, "cannot remove '"));
}

/* msg says that pid holds the lock at p. */
static void assert_held_by(const char *msg, const char *p, long pid)
{
	char want[400];

	snprintf(want, sizeof want, "another run holds the lock '%s' (pid %ld)",
	    p, pid);
	assert_string_equal(msg, want);
}

static void test_lock_same_process(void **state)
{
	struct fx *fx = *state;
	char p[256], msg[256];
	int fd1, fd2;

	path_in(p, sizeof p, fx->dir, "run.lock");
	assert_int_equal(fsio_lock(p, &fd1, msg, sizeof msg), 0);
	assert_true(fd1 >= 0);
	assert_int_equal(mode_of(p), 0600);
	assert_int_equal(fsio_lock(p, &fd2, msg, sizeof msg), CF_ELOCKED);
	assert_int_equal(fd2, -1);
	assert_held_by(msg, p, (long)getpid());
	fsio_unlock(fd1);
	assert_int_equal(fsio_lock(p, &fd2, msg, sizeof msg), 0);
	fsio_unlock(fd2);
	fsio_unlock(-1);

	path_in(p, sizeof p, fx->dir, "nodir/run.lock");
	assert_int_equal(fsio_lock(p, &fd1, msg, sizeof msg), CF_EIO);
}

static void test_lock_killed_holder(void **state)
{
	struct fx *fx = *state;
	char p[256], msg[256], c;
	int fds[2], fd, st;
	pid_t pid;

	path_in(p, sizeof p, fx->dir, "run.lock");
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		if (fsio_lock(p, &fd, msg, sizeof msg) != 0)
			_exit(1);
		if (write(fds[1], "L", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	assert_int_equal(read(fds[0], &c, 1), 1);
	close(fds[0]);
	assert_int_equal(fsio_lock(p, &fd, msg, sizeof msg), CF_ELOCKED);
	assert_held_by(msg, p, (long)pid);
	/* SIGKILL: no cleanup in the child; the kernel drops the lock. */
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(fsio_lock(p, &fd, msg, sizeof msg), 0);
	fsio_unlock(fd);
}

/* fsio_write_new creates, exactly as fsio_write_atomic does, but never
 * replaces: the loser of a race keeps nothing of its own and leaves no
 * temporary file. */
static void test_write_new(void **state)
{
	struct fx *fx = *state;
	char p[256], msg[256];

	path_in(p, sizeof p, fx->dir, "account.key");
	assert_int_equal(fsio_write_new(p, "first", 5, 0600, msg, sizeof msg),
	    0);
	assert_int_equal(mode_of(p), 0600);
	msg[0] = '\0';
	assert_int_equal(fsio_write_new(p, "second", 6, 0644, msg,
	    sizeof msg), CF_EEXIST);
	assert_string_equal(msg, "");
	assert_content(p, "first");
	assert_int_equal(mode_of(p), 0600);
	assert_int_equal(entries(fx->dir), 1);
	path_in(p, sizeof p, fx->dir, "nodir/account.key");
	assert_int_equal(fsio_write_new(p, "x", 1, 0600, msg, sizeof msg),
	    CF_ENOENT);
}

/* Shared holders coexist; an exclusive one excludes them and the other
 * way round, as --shard runs and an unsharded run must. */
static void test_lock_shared(void **state)
{
	struct fx *fx = *state;
	char p[256], msg[256];
	int a, b, x;

	path_in(p, sizeof p, fx->dir, "lock");
	assert_int_equal(fsio_lock_shared(p, &a, msg, sizeof msg), 0);
	assert_int_equal(fsio_lock_shared(p, &b, msg, sizeof msg), 0);
	assert_int_equal(mode_of(p), 0600);
	assert_int_equal(fsio_lock(p, &x, msg, sizeof msg), CF_ELOCKED);
	assert_int_equal(x, -1);
	fsio_unlock(a);
	assert_int_equal(fsio_lock(p, &x, msg, sizeof msg), CF_ELOCKED);
	fsio_unlock(b);
	assert_int_equal(fsio_lock(p, &x, msg, sizeof msg), 0);
	assert_int_equal(fsio_lock_shared(p, &a, msg, sizeof msg), CF_ELOCKED);
	assert_int_equal(a, -1);
	assert_held_by(msg, p, (long)getpid());
	fsio_unlock(x);
	assert_int_equal(fsio_lock_shared(p, &a, msg, sizeof msg), 0);
	fsio_unlock(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_write_exact_mode,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_replaces,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fail_readonly_dir,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fail_midway,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_fail_in_the_way,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_mkdirs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_limits,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_same_process,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_killed_holder,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_new, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lock_shared, setup,
		    teardown),
	};
	return cmocka_run_group_tests_name("fsio", tests, NULL, NULL);
}
