/*
 * The local transport (see transport_local.h and transport.h): a server is
 * a directory on this machine. File operations run in the libuv threadpool,
 * one uv_work_t per operation, and report from the after-work callback on
 * the loop thread; commands run through uv_spawn on the loop itself.
 *
 * This file must never touch anything outside a server's root: every write
 * walks from the root with openat(2) and O_NOFOLLOW, every read is resolved
 * with realpath(3), checked to stay below the root, then opened again by
 * the same walk. It never runs a shell, never writes a file in place, and
 * never puts file contents into a message.
 */
#include "engine/transport/transport_local.h"
#include "engine/base/container_of.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/strv.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
#include "engine/base/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Directories the transport creates. */
#define DIR_MODE 0755
/* The version a hand-made set is kept as (see struct transport_set). */
#define ADOPTED "previous"
/* Largest hand-made file adopted into the "previous" version. */
#define ADOPT_MAX (1024 * 1024)
/* Between SIGTERM and SIGKILL, and between SIGKILL and giving up. */
/* Attempts at a fresh temporary or version name. */
#define NAME_TRIES 16

struct tl {
	struct transport base;
	char *root;
	unsigned pending;           /* operations not yet called back */
	bool closing;
	uv_work_t close_work;
	void (*close_cb)(void *arg);
	void *close_arg;
};

enum op_kind {
	OP_READ_FILE,
	OP_READ_STORE,
	OP_INSTALL,
	OP_ROLLBACK,
	OP_WRITE_FILE,
	OP_REMOVE
};

struct member_copy {
	char *name;
	char *link;
	char *data;
	size_t len;
	unsigned mode;
};

struct entry_copy {
	char *name;
	char *data;
	size_t len;
};

/* One file operation: inputs copied in, results handed back. */
struct op {
	uv_work_t work;
	struct tl *tl;
	enum op_kind kind;
	void *arg;
	union {
		transport_file_cb file;
		transport_store_cb store;
		transport_install_cb install;
		transport_status_cb status;
	} cb;
	int status;
	char msg[768];
	/* inputs */
	char *path;                 /* read_file, read_store, write_file */
	size_t max;
	unsigned mode;              /* write_file */
	char *store;                /* install */
	char *pointer;
	struct member_copy *members;
	size_t nmembers;
	struct transport_undo *in_undo;     /* rollback */
	/* outputs */
	char *data;
	size_t len;
	struct entry_copy *entries;
	size_t nentries;
	struct transport_undo *undo;
};

/* One command, while proc_run runs it. */
struct run_op {
	struct tl *tl;
	char *shown;                /* argv[0], for messages */
	unsigned timeout_ms;
	transport_run_cb cb;
	void *arg;
};

static int op_fail(struct op *op, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Records the first failure of op; later ones would only hide the cause. */
static int op_fail(struct op *op, int code, const char *fmt, ...)
{
	va_list ap;

	if (op->status != 0)
		return op->status;
	va_start(ap, fmt);
	vsnprintf(op->msg, sizeof op->msg, fmt, ap);
	va_end(ap);
	op->status = code;
	return code;
}

static const char *server_of(const struct op *op)
{
	return op->tl->base.server;
}

/* ---- server paths ---------------------------------------------------- */

/*
 * Normalises a server path to "a/b/c": no leading '/', no empty or "."
 * components ("" is the root itself). NULL when path is not confined (a ".."
 * component, a control character) or out of memory.
 */
static char *norm_path(const char *path)
{
	const char *p = path;
	size_t o = 0, n;
	char *out;

	if (path == NULL || !path_is_confined(path))
		return NULL;
	if ((out = malloc(strlen(path) + 1)) == NULL)
		return NULL;
	while (*p != '\0') {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, "/");
		if (!(n == 1 && p[0] == '.')) {
			if (o > 0)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	out[o] = '\0';
	return out;
}

/* "dir/name" for normalised parts ("" dir gives name). NULL: no memory. */
static char *join(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *p;

	if ((p = malloc(dl + nl + 2)) == NULL)
		return NULL;
	if (dl == 0) {
		memcpy(p, name, nl + 1);
		return p;
	}
	memcpy(p, dir, dl);
	p[dl] = '/';
	memcpy(p + dl + 1, name, nl + 1);
	return p;
}

/* Splits a normalised path into a new directory part and its last name. */
static char *split(const char *path, const char **base)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		*base = path;
		return strdup("");
	}
	*base = slash + 1;
	return strndup(path, (size_t)(slash - path));
}

/*
 * The text of a symlink placed in directory from (normalised) that leads to
 * to (normalised): "../" for each component of from past the common
 * directories, then the rest of to. Sound because writes never pass through
 * a symlinked directory, so ".." means the lexical parent.
 */
static char *rel_target(const char *from, const char *to)
{
	size_t i = 0, fc = 0, tc = 0, ups = 0, k, tl;
	const char *rest;
	char *p, *q;

	/* fc, tc: where from and to go on past their common directories. */
	while (from[i] != '\0' && from[i] == to[i]) {
		if (from[i] == '/')
			fc = tc = i + 1;
		i++;
	}
	if (from[i] == '\0' && to[i] == '/') {
		fc = i;
		tc = i + 1;
	}
	rest = from + fc;
	if (*rest != '\0') {
		ups = 1;
		for (k = 0; rest[k] != '\0'; k++)
			if (rest[k] == '/')
				ups++;
	}
	tl = strlen(to + tc);
	if ((p = malloc(ups * 3 + tl + 1)) == NULL)
		return NULL;
	for (q = p, k = 0; k < ups; k++, q += 3)
		memcpy(q, "../", 3);
	memcpy(q, to + tc, tl + 1);
	return p;
}

/*
 * The server path a symlink in dir (normalised) with text names, with ".."
 * taken lexically. NULL when the text is absolute, climbs above the root,
 * or memory runs out.
 */
static char *lex_join(const char *dir, const char *text)
{
	char *buf, *out, *p, *save = NULL;
	size_t o = 0;

	if (text[0] == '/' || (buf = join(dir, text)) == NULL)
		return NULL;
	if ((out = malloc(strlen(buf) + 1)) == NULL) {
		free(buf);
		return NULL;
	}
	for (p = strtok_r(buf, "/", &save); p != NULL;
	    p = strtok_r(NULL, "/", &save)) {
		if (strcmp(p, ".") == 0)
			continue;
		if (strcmp(p, "..") == 0) {
			if (o == 0) {
				free(buf);
				free(out);
				return NULL;
			}
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		if (o > 0)
			out[o++] = '/';
		memcpy(out + o, p, strlen(p));
		o += strlen(p);
	}
	out[o] = '\0';
	free(buf);
	return out;
}

/* ---- descriptors below the root -------------------------------------- */

static int sync_fd(int fd)
{
	if (fsync(fd) != 0 && errno != EINVAL)
		return -1;
	return 0;
}

static int open_root(struct op *op, const char *what, const char *shown)
{
	int fd, e;

	fd = open(op->tl->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		op_fail(op, CF_ETRANSPORT, "%s '%s' on '%s': cannot open the "
		    "server root '%s': %s", what, shown, server_of(op),
		    op->tl->root, strerror(e));
	}
	return fd;
}

/*
 * Opens directory rel (normalised; "" is the root) below rootfd one
 * component at a time, never following a symlink; when create, missing
 * components are made with DIR_MODE. Returns a descriptor, or -1 after
 * op_fail ("<what> '<shown>' on '<server>': <why>").
 */
static int walk_dir(struct op *op, int rootfd, const char *rel, bool create,
    const char *what, const char *shown)
{
	char *buf, *p, *save = NULL;
	struct stat st;
	int fd, nfd, e;

	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		op_fail(op, cf_errno_code(e), "%s '%s' on '%s': %s", what,
		    shown, server_of(op), strerror(e));
		return -1;
	}
	if ((buf = strdup(rel)) == NULL) {
		close(fd);
		op_fail(op, CF_ENOMEM, "%s '%s' on '%s': out of memory", what,
		    shown, server_of(op));
		return -1;
	}
	for (p = strtok_r(buf, "/", &save); p != NULL;
	    p = strtok_r(NULL, "/", &save)) {
		bool made = false;

		nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, p, DIR_MODE) == 0)
				made = true;
			else if (errno != EEXIST)
				goto fail;
			nfd = openat(fd, p, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			/* Exact mode, whatever the umask; make it durable. */
			if (nfd >= 0 && made && (fchmod(nfd, DIR_MODE) != 0 ||
			    sync_fd(fd) != 0)) {
				e = errno;
				close(nfd);
				errno = e;
				nfd = -1;
			}
		}
		if (nfd < 0)
			goto fail;
		close(fd);
		fd = nfd;
	}
	free(buf);
	return fd;

fail:
	e = errno;
	if (fstatat(fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		op_fail(op, CF_ETRANSPORT, "%s '%s' on '%s': refusing to "
		    "follow the symlink '%.*s'", what, shown, server_of(op),
		    (int)(p - buf + (ptrdiff_t)strlen(p)), rel);
	else if (e == ENOTDIR)
		op_fail(op, CF_EIO, "%s '%s' on '%s': '%.*s' is not a "
		    "directory", what, shown, server_of(op),
		    (int)(p - buf + (ptrdiff_t)strlen(p)), rel);
	else
		op_fail(op, cf_errno_code(e), "%s '%s' on '%s': %s", what,
		    shown, server_of(op), strerror(e));
	close(fd);
	free(buf);
	return -1;
}

/*
 * Opens the server path rel (normalised) for reading, following symlinks
 * only while they stay below the root: realpath(3), a prefix check against
 * the root's real path, then the O_NOFOLLOW walk over the resolved path.
 * Returns a descriptor (O_NONBLOCK, so a planted FIFO cannot block), or -1:
 * with *missing set and no message when the path does not exist, else after
 * op_fail.
 */
static int open_confined(struct op *op, const char *rel, const char *shown,
    bool *missing)
{
	char *rroot = NULL, *local = NULL, *real = NULL, *dir = NULL;
	const char *sub, *base;
	size_t n;
	int rootfd = -1, dfd = -1, fd = -1, e;

	*missing = false;
	if ((rroot = realpath(op->tl->root, NULL)) == NULL) {
		e = errno;
		op_fail(op, CF_ETRANSPORT, "cannot read '%s' on '%s': cannot "
		    "open the server root '%s': %s", shown, server_of(op),
		    op->tl->root, strerror(e));
		goto out;
	}
	if ((local = join(rroot, rel)) == NULL) {
		op_fail(op, CF_ENOMEM, "cannot read '%s' on '%s': out of "
		    "memory", shown, server_of(op));
		goto out;
	}
	if ((real = realpath(local, NULL)) == NULL) {
		e = errno;
		if (e == ENOENT)
			*missing = true;
		else
			op_fail(op, cf_errno_code(e), "cannot read '%s' on "
			    "'%s': %s", shown, server_of(op), strerror(e));
		goto out;
	}
	n = strlen(rroot);
	if (strcmp(real, rroot) == 0)
		sub = "";
	else if (strcmp(rroot, "/") == 0)
		sub = real + 1;
	else if (strncmp(real, rroot, n) == 0 && real[n] == '/')
		sub = real + n + 1;
	else {
		op_fail(op, CF_ETRANSPORT, "cannot read '%s' on '%s': it "
		    "leads outside the server root", shown, server_of(op));
		goto out;
	}
	if ((rootfd = open(rroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		e = errno;
		op_fail(op, CF_ETRANSPORT, "cannot read '%s' on '%s': %s",
		    shown, server_of(op), strerror(e));
		goto out;
	}
	if (*sub == '\0') {
		fd = openat(rootfd, ".", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			op_fail(op, CF_EIO, "cannot read '%s' on '%s': %s",
			    shown, server_of(op), strerror(errno));
		goto out;
	}
	if ((dir = split(sub, &base)) == NULL) {
		op_fail(op, CF_ENOMEM, "cannot read '%s' on '%s': out of "
		    "memory", shown, server_of(op));
		goto out;
	}
	if ((dfd = walk_dir(op, rootfd, dir, false, "cannot read",
	    shown)) < 0)
		goto out;
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ELOOP)
			op_fail(op, CF_ETRANSPORT, "cannot read '%s' on '%s': "
			    "it changed while being read", shown,
			    server_of(op));
		else
			op_fail(op, cf_errno_code(e), "cannot read '%s' on "
			    "'%s': %s", shown, server_of(op), strerror(e));
	}
out:
	if (dfd >= 0)
		close(dfd);
	if (rootfd >= 0)
		close(rootfd);
	free(dir);
	free(real);
	free(local);
	free(rroot);
	return fd;
}

/*
 * Reads the regular file open on fd, at most max bytes, into a new buffer
 * NUL-terminated one byte past *len. Returns 0, or an error after op_fail;
 * CF_EINVAL when the file is larger than max. Like every buffer here that
 * may hold a key, it has room for a NUL past its length, so it is freed
 * with crypto_secret_free(p, len + 1): never 0, which would mean strlen.
 */
static int read_fd(struct op *op, int fd, size_t max, const char *shown,
    char **data, size_t *len)
{
	struct stat st;
	char *buf, *nbuf;
	size_t cap, n = 0;
	ssize_t r;

	*data = NULL;
	*len = 0;
	if (fstat(fd, &st) != 0)
		return op_fail(op, CF_EIO, "cannot read '%s' on '%s': %s",
		    shown, server_of(op), strerror(errno));
	if (!S_ISREG(st.st_mode))
		return op_fail(op, CF_EIO, "cannot read '%s' on '%s': not a "
		    "regular file", shown, server_of(op));
	if (max > SIZE_MAX / 2)
		max = SIZE_MAX / 2;
	if ((uintmax_t)st.st_size > (uintmax_t)max)
		goto too_big;
	cap = (size_t)st.st_size + 1;
	if ((buf = malloc(cap + 1)) == NULL)
		goto no_mem;
	for (;;) {
		if (n == cap) {
			cap = cap > max / 2 ? max + 1 : cap * 2;
			if ((nbuf = realloc(buf, cap + 1)) == NULL) {
				crypto_secret_free(buf, n + 1);
				goto no_mem;
			}
			buf = nbuf;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			crypto_secret_free(buf, n + 1);
			return op_fail(op, CF_EIO, "cannot read '%s' on '%s': "
			    "%s", shown, server_of(op), strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			crypto_secret_free(buf, n + 1);
			goto too_big;
		}
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;

no_mem:
	return op_fail(op, CF_ENOMEM, "cannot read '%s' on '%s': out of "
	    "memory", shown, server_of(op));
too_big:
	return op_fail(op, CF_EINVAL, "cannot read '%s' on '%s': larger than "
	    "the limit of %zu bytes", shown, server_of(op), max);
}

/* Writes all of buf to fd, retrying short writes and EINTR. */
static int write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Creates name in dfd (it must not exist: O_EXCL | O_NOFOLLOW) with exactly
 * mode from its first byte, writes data and fsyncs. Returns 0 or -1/errno;
 * a partial file is removed.
 */
static int write_new(int dfd, const char *name, const void *data,
    size_t len, unsigned mode)
{
	int fd, e;

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, (mode_t)(mode & 0600));
	if (fd < 0)
		return -1;
	/* open() honoured the umask and was at most 0600 while empty; now
	 * the exact mode, before any byte is written. */
	if (fchmod(fd, (mode_t)(mode & 07777)) != 0 ||
	    write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		e = errno;
		close(fd);
		unlinkat(dfd, name, 0);
		errno = e;
		return -1;
	}
	if (close(fd) != 0) {
		e = errno;
		unlinkat(dfd, name, 0);
		errno = e;
		return -1;
	}
	return 0;
}

/*
 * Makes name in dfd a symlink with text target in one atomic step: a new
 * symlink under a temporary name, renamed over name. Returns 0 or -1/errno.
 */
static int swap_link(int dfd, const char *name, const char *target)
{
	char tmp[300];
	int i, e;

	for (i = 0; i < NAME_TRIES; i++) {
		snprintf(tmp, sizeof tmp, ".%.200s.%016" PRIx64 ".tmp", name,
		    fsio_random64());
		if (symlinkat(target, dfd, tmp) == 0)
			break;
		if (errno != EEXIST)
			return -1;
	}
	if (i == NAME_TRIES) {
		errno = EEXIST;
		return -1;
	}
	if (renameat(dfd, tmp, dfd, name) != 0) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		errno = e;
		return -1;
	}
	return 0;
}

/* The text of symlink name in dfd, new; NULL with errno (EINVAL: not a
 * symlink, ENOENT: missing). */
static char *read_link(int dfd, const char *name)
{
	char buf[4096];
	ssize_t n;

	n = readlinkat(dfd, name, buf, sizeof buf - 1);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return strdup(buf);
}

/* Removes version directory name in storefd (its files, then itself), or a
 * stray file of that name. Best effort: what stays is pruned next time. */
static void remove_version(int storefd, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(storefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)
			unlinkat(storefd, name, 0);
		return;
	}
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	unlinkat(storefd, name, AT_REMOVEDIR);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in the directory open on fd, sorted; NULL-ended, new. Entries
 * starting with '.' are left out when skip_dot. NULL: no memory or error. */
static char **list_dir(int fd, bool skip_dot, size_t *count)
{
	struct dirent *de;
	char **v = NULL, **nv;
	size_t n = 0, cap = 0;
	DIR *d;
	int dup_fd;

	*count = 0;
	if ((dup_fd = openat(fd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) < 0)
		return NULL;
	if ((d = fdopendir(dup_fd)) == NULL) {
		close(dup_fd);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    (skip_dot && de->d_name[0] == '.'))
			continue;
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = realloc(v, cap * sizeof *v)) == NULL)
				goto fail;
			v = nv;
		}
		if ((v[n] = strdup(de->d_name)) == NULL)
			goto fail;
		n++;
	}
	closedir(d);
	if (v == NULL && (v = calloc(1, sizeof *v)) == NULL)
		return NULL;
	v[n] = NULL;
	qsort(v, n, sizeof *v, cmp_str);
	*count = n;
	return v;
fail:
	while (n > 0)
		free(v[--n]);
	free(v);
	closedir(d);
	return NULL;
}

/* Removes every version in storefd except keep1 and keep2 (either may be
 * NULL): the new version and the one a rollback returns to. */
static void prune(int storefd, const char *keep1, const char *keep2)
{
	char **names;
	size_t n, i;

	if ((names = list_dir(storefd, false, &n)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		if ((keep1 != NULL && strcmp(names[i], keep1) == 0) ||
		    (keep2 != NULL && strcmp(names[i], keep2) == 0))
			continue;
		remove_version(storefd, names[i]);
	}
	strv_free(names);
	sync_fd(storefd);
}

/*
 * A version name that sorts by time and never collides:
 * "20250101T120000.123456789Z-1a2b3c4d".
 */
static void version_name(char *buf, size_t n)
{
	struct timespec ts;
	struct tm tm;
	size_t l;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	l = strftime(buf, n, "%Y%m%dT%H%M%S", &tm);
	snprintf(buf + l, n - l, ".%09ldZ-%08" PRIx32, (long)ts.tv_nsec,
	    (uint32_t)fsio_random64());
}

/* ---- read_file, read_store ------------------------------------------- */

static void read_file_work(struct op *op)
{
	bool missing;
	char *rel;
	int fd;

	if ((rel = norm_path(op->path)) == NULL) {
		op_fail(op, CF_EINVAL, "cannot read '%s' on '%s': not a "
		    "server path below the root", op->path, server_of(op));
		return;
	}
	fd = open_confined(op, rel, op->path, &missing);
	free(rel);
	if (fd < 0) {
		if (missing)
			op_fail(op, CF_ENOENT, "cannot read '%s' on '%s': no "
			    "such file", op->path, server_of(op));
		return;
	}
	read_fd(op, fd, op->max, op->path, &op->data, &op->len);
	close(fd);
}

static int add_entry(struct op *op, const char *name, char *data,
    size_t len, size_t *cap)
{
	struct entry_copy *ne;

	if (op->nentries == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		ne = realloc(op->entries, *cap * sizeof *ne);
		if (ne == NULL)
			goto no_mem;
		op->entries = ne;
	}
	if ((op->entries[op->nentries].name = strdup(name)) == NULL)
		goto no_mem;
	op->entries[op->nentries].data = data;
	op->entries[op->nentries].len = len;
	op->nentries++;
	return 0;
no_mem:
	free(data);
	return op_fail(op, CF_ENOMEM, "cannot read '%s' on '%s': out of "
	    "memory", op->path, server_of(op));
}

static void read_store_work(struct op *op)
{
	char *rel, *sub, *data, **names = NULL;
	const char *base;
	struct stat st;
	size_t cap = 0, n, i, len;
	bool missing;
	int fd, efd;

	if ((rel = norm_path(op->path)) == NULL) {
		op_fail(op, CF_EINVAL, "cannot read '%s' on '%s': not a "
		    "server path below the root", op->path, server_of(op));
		return;
	}
	fd = open_confined(op, rel, op->path, &missing);
	if (fd < 0)
		goto out;
	if (fstat(fd, &st) != 0) {
		op_fail(op, CF_EIO, "cannot read '%s' on '%s': %s", op->path,
		    server_of(op), strerror(errno));
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
		if (read_fd(op, fd, op->max, op->path, &data, &len) == 0)
			add_entry(op, base, data, len, &cap);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		op_fail(op, CF_EIO, "cannot read '%s' on '%s': neither a file "
		    "nor a directory", op->path, server_of(op));
		goto out;
	}
	if ((names = list_dir(fd, true, &n)) == NULL) {
		op_fail(op, CF_EIO, "cannot list '%s' on '%s': %s", op->path,
		    server_of(op), strerror(errno));
		goto out;
	}
	if (n > TRANSPORT_STORE_MAX) {
		op_fail(op, CF_EINVAL, "cannot read '%s' on '%s': more than "
		    "%d files", op->path, server_of(op), TRANSPORT_STORE_MAX);
		goto out;
	}
	for (i = 0; i < n && op->status == 0; i++) {
		if ((sub = join(rel, names[i])) == NULL) {
			op_fail(op, CF_ENOMEM, "cannot read '%s' on '%s': out "
			    "of memory", op->path, server_of(op));
			break;
		}
		/* A dangling symlink or anything but a regular file (after
		 * following symlinks) is not part of the store. */
		efd = open_confined(op, sub, sub, &missing);
		if (efd >= 0 && fstat(efd, &st) == 0 && S_ISREG(st.st_mode) &&
		    read_fd(op, efd, op->max, sub, &data, &len) == 0)
			add_entry(op, names[i], data, len, &cap);
		if (efd >= 0)
			close(efd);
		free(sub);
	}
out:
	if (fd >= 0)
		close(fd);
	strv_free(names);
	free(rel);
}

/* ---- install, rollback ----------------------------------------------- */

/*
 * Makes the link (normalised server path) a symlink to dest (normalised)
 * unless it already is one. Replaces a regular file or a foreign symlink in
 * one rename. Returns 0 or an error after op_fail.
 */
static int ensure_link(struct op *op, int rootfd, const char *link,
    const char *dest)
{
	char *dir, *want = NULL, *have = NULL;
	const char *base;
	struct stat st;
	int dfd, rc = 0;

	if ((dir = split(link, &base)) == NULL)
		return op_fail(op, CF_ENOMEM, "cannot install '%s' on '%s': "
		    "out of memory", link, server_of(op));
	if ((dfd = walk_dir(op, rootfd, dir, true, "cannot install",
	    link)) < 0) {
		free(dir);
		return op->status;
	}
	if ((want = rel_target(dir, dest)) == NULL) {
		rc = op_fail(op, CF_ENOMEM, "cannot install '%s' on '%s': out "
		    "of memory", link, server_of(op));
		goto out;
	}
	if ((have = read_link(dfd, base)) != NULL &&
	    strcmp(have, want) == 0)
		goto out;
	if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode)) {
		rc = op_fail(op, CF_EEXIST, "cannot install '%s' on '%s': it "
		    "is a directory", link, server_of(op));
		goto out;
	}
	if (swap_link(dfd, base, want) != 0 || sync_fd(dfd) != 0)
		rc = op_fail(op, cf_errno_code(errno), "cannot install '%s' on "
		    "'%s': %s", link, server_of(op), strerror(errno));
out:
	free(have);
	free(want);
	free(dir);
	close(dfd);
	return rc;
}

/*
 * The pointer does not exist yet. When a member's link path holds a file
 * (regular, or a symlink to a regular file below the root), keeps the bytes
 * and mode of each as <store>/previous/<name> and points the pointer at
 * that version, so a rollback restores the hand-made set. Returns 1 when a
 * set was adopted, 0 when there was none, or an error after op_fail.
 */
static int adopt(struct op *op, int rootfd, int storefd, int pdirfd,
    const char *pdir, const char *pbase, const char *store, char **prev)
{
	struct {
		char *data;
		size_t len;
		unsigned mode;
		bool found;
	} *old;
	char *dir, *target = NULL;
	const char *base;
	struct stat st;
	size_t i;
	bool any = false, missing;
	int dfd, fd, vfd = -1, rc = 0;

	if ((old = calloc(op->nmembers, sizeof *old)) == NULL)
		return op_fail(op, CF_ENOMEM, "cannot install '%s' on '%s': "
		    "out of memory", op->pointer, server_of(op));
	for (i = 0; i < op->nmembers && rc == 0; i++) {
		const char *link = op->members[i].link;

		if ((dir = split(link, &base)) == NULL) {
			rc = op_fail(op, CF_ENOMEM, "cannot install '%s' on "
			    "'%s': out of memory", link, server_of(op));
			break;
		}
		dfd = walk_dir(op, rootfd, dir, true, "cannot install", link);
		free(dir);
		if (dfd < 0) {
			rc = op->status;
			break;
		}
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			close(dfd);
			continue;
		}
		close(dfd);
		if (S_ISDIR(st.st_mode)) {
			rc = op_fail(op, CF_EEXIST, "cannot install '%s' on "
			    "'%s': it is a directory", link, server_of(op));
			break;
		}
		if ((fd = open_confined(op, link, link, &missing)) < 0) {
			rc = op->status;
			continue;
		}
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    read_fd(op, fd, ADOPT_MAX, link, &old[i].data,
		    &old[i].len) == 0) {
			old[i].mode = (unsigned)st.st_mode & 07777;
			old[i].found = any = true;
		}
		close(fd);
		rc = op->status;
	}
	if (rc != 0 || !any)
		goto out;
	remove_version(storefd, ADOPTED);
	if (mkdirat(storefd, ADOPTED, DIR_MODE) != 0 ||
	    (vfd = openat(storefd, ADOPTED, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) < 0 || fchmod(vfd, DIR_MODE) != 0)
		goto io_fail;
	for (i = 0; i < op->nmembers; i++)
		if (old[i].found && write_new(vfd, op->members[i].name,
		    old[i].data, old[i].len, old[i].mode) != 0)
			goto io_fail;
	if (sync_fd(vfd) != 0 || sync_fd(storefd) != 0)
		goto io_fail;
	if ((*prev = join(store, ADOPTED)) == NULL ||
	    (target = rel_target(pdir, *prev)) == NULL) {
		rc = op_fail(op, CF_ENOMEM, "cannot install '%s' on '%s': out "
		    "of memory", op->pointer, server_of(op));
		goto out;
	}
	if (swap_link(pdirfd, pbase, target) != 0 || sync_fd(pdirfd) != 0)
		goto io_fail;
	rc = 1;
	goto out;
io_fail:
	rc = op_fail(op, cf_errno_code(errno), "cannot keep the certificate "
	    "installed by hand for '%s' on '%s': %s", op->pointer,
	    server_of(op), strerror(errno));
out:
	if (vfd >= 0)
		close(vfd);
	for (i = 0; i < op->nmembers; i++)
		crypto_secret_free(old[i].data, old[i].len + 1);
	free(old);
	free(target);
	return rc;
}

static void install_work(struct op *op)
{
	char version[64], *pdir = NULL, *prev = NULL, *cur = NULL;
	char *text = NULL, *target = NULL, *dest = NULL;
	const char *pbase, *keep = NULL, *pv;
	struct transport_undo *u = NULL;
	int rootfd, storefd = -1, pdirfd = -1, vfd = -1, i, e;
	bool made = false;
	size_t k;

	if ((rootfd = open_root(op, "cannot install", op->pointer)) < 0)
		return;
	if ((storefd = walk_dir(op, rootfd, op->store, true, "cannot install",
	    op->store)) < 0)
		goto out;
	if ((pdir = split(op->pointer, &pbase)) == NULL)
		goto no_mem;
	if ((pdirfd = walk_dir(op, rootfd, pdir, true, "cannot install",
	    op->pointer)) < 0)
		goto out;

	/* 1. What the pointer names now: the version a rollback restores. */
	if ((text = read_link(pdirfd, pbase)) != NULL) {
		if ((prev = lex_join(pdir, text)) == NULL) {
			op_fail(op, CF_EEXIST, "cannot install '%s' on '%s': "
			    "it names '%s', outside the server tree; remove "
			    "it", op->pointer, server_of(op), text);
			goto out;
		}
	} else if (errno == EINVAL) {
		op_fail(op, CF_EEXIST, "cannot install '%s' on '%s': it exists "
		    "and is not a symlink made by certfleet; move it away",
		    op->pointer, server_of(op));
		goto out;
	} else if (errno != ENOENT) {
		op_fail(op, cf_errno_code(errno), "cannot install '%s' on '%s': "
		    "%s", op->pointer, server_of(op), strerror(errno));
		goto out;
	}

	/* 2. The new version, complete and durable before anyone sees it. */
	for (i = 0; i < NAME_TRIES; i++) {
		version_name(version, sizeof version);
		if (mkdirat(storefd, version, DIR_MODE) == 0)
			break;
		if (errno != EEXIST)
			goto io_fail;
	}
	if (i == NAME_TRIES) {
		errno = EEXIST;
		goto io_fail;
	}
	made = true;
	if ((vfd = openat(storefd, version, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) < 0 || fchmod(vfd, DIR_MODE) != 0)
		goto io_fail;
	for (k = 0; k < op->nmembers; k++)
		if (write_new(vfd, op->members[k].name, op->members[k].data,
		    op->members[k].len, op->members[k].mode) != 0)
			goto io_fail;
	if (sync_fd(vfd) != 0 || sync_fd(storefd) != 0)
		goto io_fail;
	if ((cur = join(op->store, version)) == NULL)
		goto no_mem;

	/* 3. First time: keep what was installed by hand. */
	if (prev == NULL && adopt(op, rootfd, storefd, pdirfd, pdir, pbase,
	    op->store, &prev) < 0)
		goto out;

	/* 4. The links, through the pointer; created once. */
	for (k = 0; k < op->nmembers; k++) {
		if ((dest = join(op->pointer, op->members[k].name)) == NULL)
			goto no_mem;
		if (ensure_link(op, rootfd, op->members[k].link, dest) != 0)
			goto out;
		free(dest);
		dest = NULL;
	}

	/* 5. The switch: one rename. The undo record is ready before it. */
	if ((target = rel_target(pdir, cur)) == NULL ||
	    (u = calloc(1, sizeof *u)) == NULL ||
	    (u->links = calloc(op->nmembers + 1, sizeof *u->links)) == NULL ||
	    (u->store = strdup(op->store)) == NULL ||
	    (u->pointer = strdup(op->pointer)) == NULL)
		goto no_mem;
	for (k = 0; k < op->nmembers; k++)
		if ((u->links[k] = strdup(op->members[k].link)) == NULL)
			goto no_mem;
	if (swap_link(pdirfd, pbase, target) != 0)
		goto io_fail;
	u->current = cur;
	cur = NULL;
	u->previous = prev;
	prev = NULL;
	op->undo = u;
	u = NULL;
	made = false;
	if (sync_fd(pdirfd) != 0) {
		op_fail(op, CF_EIO, "cannot install '%s' on '%s': switched, "
		    "but cannot sync its directory: %s", op->pointer,
		    server_of(op), strerror(errno));
		goto out;
	}

	/* 6. Keep the new version and the one before it, nothing older. */
	pv = op->undo->previous;
	if (pv != NULL && strncmp(pv, op->store, strlen(op->store)) == 0 &&
	    pv[strlen(op->store)] == '/')
		keep = pv + strlen(op->store) + 1;
	prune(storefd, version, keep);
	goto out;

no_mem:
	op_fail(op, CF_ENOMEM, "cannot install '%s' on '%s': out of memory",
	    op->pointer, server_of(op));
	goto out;
io_fail:
	e = errno;
	op_fail(op, cf_errno_code(e), "cannot install '%s' on '%s': %s",
	    op->pointer, server_of(op), strerror(e));
out:
	if (vfd >= 0)
		close(vfd);
	if (made && storefd >= 0)
		remove_version(storefd, version);
	if (pdirfd >= 0)
		close(pdirfd);
	if (storefd >= 0)
		close(storefd);
	close(rootfd);
	transport_undo_free(u);
	free(dest);
	free(target);
	free(text);
	free(cur);
	free(prev);
	free(pdir);
}

static void rollback_work(struct op *op)
{
	const struct transport_undo *u = op->in_undo;
	char *pdir = NULL, *text = NULL, *now = NULL, *target = NULL;
	char *dir = NULL;
	const char *pbase, *base;
	struct stat st;
	size_t sl, k;
	int rootfd, pdirfd = -1, storefd = -1, dfd;

	if ((rootfd = open_root(op, "cannot roll back", u->pointer)) < 0)
		return;
	if ((pdir = split(u->pointer, &pbase)) == NULL)
		goto no_mem;
	if ((pdirfd = walk_dir(op, rootfd, pdir, false, "cannot roll back",
	    u->pointer)) < 0)
		goto out;
	/* Only undo our own switch: another run may have switched since. */
	if ((text = read_link(pdirfd, pbase)) == NULL && errno == ENOENT &&
	    u->previous == NULL)
		goto drop;      /* rolled back to nothing already */
	if (text == NULL || (now = lex_join(pdir, text)) == NULL ||
	    strcmp(now, u->current) != 0) {
		if (now != NULL && u->previous != NULL &&
		    strcmp(now, u->previous) == 0)
			goto drop;      /* rolled back already */
		op_fail(op, CF_ETRANSPORT, "cannot roll back '%s' on '%s': it "
		    "no longer names the version this run installed",
		    u->pointer, server_of(op));
		goto out;
	}
	if (u->previous != NULL) {
		if ((target = rel_target(pdir, u->previous)) == NULL)
			goto no_mem;
		if (swap_link(pdirfd, pbase, target) != 0 ||
		    sync_fd(pdirfd) != 0)
			goto io_fail;
	} else {
		/* Nothing was assigned before: back to nothing. */
		if (unlinkat(pdirfd, pbase, 0) != 0 && errno != ENOENT)
			goto io_fail;
		sync_fd(pdirfd);
		for (k = 0; u->links != NULL && u->links[k] != NULL; k++) {
			free(dir);
			if ((dir = split(u->links[k], &base)) == NULL)
				goto no_mem;
			if ((dfd = walk_dir(op, rootfd, dir, false,
			    "cannot roll back", u->links[k])) < 0)
				goto out;
			if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				unlinkat(dfd, base, 0);
			sync_fd(dfd);
			close(dfd);
		}
	}
drop:
	/* The version this run made is no use any more. */
	sl = strlen(u->store);
	if (strncmp(u->current, u->store, sl) == 0 && u->current[sl] == '/' &&
	    strchr(u->current + sl + 1, '/') == NULL &&
	    (storefd = walk_dir(op, rootfd, u->store, false,
	    "cannot roll back", u->store)) >= 0) {
		remove_version(storefd, u->current + sl + 1);
		sync_fd(storefd);
	}
	goto out;
no_mem:
	op_fail(op, CF_ENOMEM, "cannot roll back '%s' on '%s': out of memory",
	    u->pointer, server_of(op));
	goto out;
io_fail:
	op_fail(op, cf_errno_code(errno), "cannot roll back '%s' on '%s': %s",
	    u->pointer, server_of(op), strerror(errno));
out:
	if (storefd >= 0)
		close(storefd);
	if (pdirfd >= 0)
		close(pdirfd);
	close(rootfd);
	free(dir);
	free(target);
	free(now);
	free(text);
	free(pdir);
}

/* ---- operation plumbing ---------------------------------------------- */

/*
 * Writes op->data to op->path: a new file under a temporary name in the
 * same directory (walked without following symlinks), then renamed over
 * the old one, then the directory synced.
 */
static void write_file_work(struct op *op)
{
	char *rel = norm_path(op->path), *dir = NULL, tmp[300];
	const char *base;
	int rootfd = -1, dfd = -1, i, e;

	if (rel == NULL || *rel == '\0') {
		op_fail(op, CF_EINVAL, "cannot write '%s' on '%s': not a "
		    "confined path", op->path, server_of(op));
		goto out;
	}
	if ((dir = split(rel, &base)) == NULL) {
		op_fail(op, CF_ENOMEM, "out of memory");
		goto out;
	}
	if ((rootfd = open_root(op, "cannot write", op->path)) < 0 ||
	    (dfd = walk_dir(op, rootfd, dir, true, "cannot write",
	    op->path)) < 0)
		goto out;
	for (i = 0; i < NAME_TRIES; i++) {
		snprintf(tmp, sizeof tmp, ".%.200s.%016" PRIx64 ".tmp", base,
		    fsio_random64());
		if (write_new(dfd, tmp, op->data, op->len, op->mode) == 0)
			break;
		if (errno != EEXIST)
			goto fail;
	}
	if (i == NAME_TRIES) {
		errno = EEXIST;
		goto fail;
	}
	if (renameat(dfd, tmp, dfd, base) != 0) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		errno = e;
		goto fail;
	}
	if (sync_fd(dfd) != 0)
		goto fail;
	goto out;
fail:
	e = errno;
	op_fail(op, cf_errno_code(e), "cannot write '%s' on '%s': %s", op->path,
	    server_of(op), strerror(e));
out:
	if (dfd >= 0)
		close(dfd);
	if (rootfd >= 0)
		close(rootfd);
	free(dir);
	free(rel);
}

/* Unlinks op->path, reached without following symlinks; missing is fine. */
static void remove_work(struct op *op)
{
	char *rel = norm_path(op->path), *dir = NULL;
	const char *base;
	int rootfd = -1, dfd = -1, e;

	if (rel == NULL || *rel == '\0' || (dir = split(rel, &base)) == NULL) {
		op_fail(op, CF_EINVAL, "cannot remove '%s' on '%s': not a "
		    "confined path", op->path, server_of(op));
		goto out;
	}
	if ((rootfd = open_root(op, "cannot remove", op->path)) < 0)
		goto out;
	if ((dfd = walk_dir(op, rootfd, dir, false, "cannot remove",
	    op->path)) < 0) {
		if (op->status == CF_ENOENT) {
			op->status = 0;
			op->msg[0] = '\0';
		}
		goto out;
	}
	if (unlinkat(dfd, base, 0) != 0 && errno != ENOENT) {
		e = errno;
		op_fail(op, cf_errno_code(e), "cannot remove '%s' on '%s': %s",
		    op->path, server_of(op), strerror(e));
	}
out:
	if (dfd >= 0)
		close(dfd);
	if (rootfd >= 0)
		close(rootfd);
	free(dir);
	free(rel);
}

static void op_free(struct op *op)
{
	size_t i;

	free(op->path);
	free(op->store);
	free(op->pointer);
	for (i = 0; i < op->nmembers; i++) {
		free(op->members[i].name);
		free(op->members[i].link);
		crypto_secret_free(op->members[i].data, op->members[i].len + 1);
	}
	free(op->members);
	transport_undo_free(op->in_undo);
	crypto_secret_free(op->data, op->len + 1);
	for (i = 0; i < op->nentries; i++) {
		free(op->entries[i].name);
		free(op->entries[i].data);
	}
	free(op->entries);
	transport_undo_free(op->undo);
	free(op);
}

/* Frees tl and reports the close once nothing is in flight. */
static void maybe_closed(struct tl *tl)
{
	void (*cb)(void *);
	void *arg;

	if (!tl->closing || tl->pending > 0)
		return;
	cb = tl->close_cb;
	arg = tl->close_arg;
	free(tl->base.server);
	free(tl->root);
	free(tl);
	if (cb != NULL)
		cb(arg);
}

static void work_cb(uv_work_t *w)
{
	struct op *op = container_of(w, struct op, work);

	switch (op->kind) {
	case OP_READ_FILE:
		read_file_work(op);
		break;
	case OP_READ_STORE:
		read_store_work(op);
		break;
	case OP_INSTALL:
		install_work(op);
		break;
	case OP_ROLLBACK:
		rollback_work(op);
		break;
	case OP_WRITE_FILE:
		write_file_work(op);
		break;
	case OP_REMOVE:
		remove_work(op);
		break;
	}
}

static void after_work_cb(uv_work_t *w, int status)
{
	struct op *op = container_of(w, struct op, work);
	struct tl *tl = op->tl;
	struct transport_entry *ents = NULL;
	struct transport_undo *u;
	size_t i;

	if (status != 0 && op->status == 0)
		op_fail(op, CF_ETRANSPORT, "operation on '%s' cancelled",
		    server_of(op));
	switch (op->kind) {
	case OP_READ_FILE:
		op->cb.file(op->arg, op->status, op->status ? NULL : op->data,
		    op->status ? 0 : op->len, op->msg);
		break;
	case OP_READ_STORE:
		if (op->status == 0 && op->nentries > 0 &&
		    (ents = calloc(op->nentries, sizeof *ents)) == NULL)
			op_fail(op, CF_ENOMEM, "cannot read '%s' on '%s': out "
			    "of memory", op->path, server_of(op));
		for (i = 0; ents != NULL && i < op->nentries; i++) {
			ents[i].name = op->entries[i].name;
			ents[i].data = op->entries[i].data;
			ents[i].len = op->entries[i].len;
		}
		op->cb.store(op->arg, op->status, op->status ? NULL : ents,
		    op->status ? 0 : op->nentries, op->msg);
		free(ents);
		break;
	case OP_INSTALL:
		u = op->undo;
		op->undo = NULL;
		op->cb.install(op->arg, op->status, u, op->msg);
		break;
	case OP_ROLLBACK:
	case OP_WRITE_FILE:
	case OP_REMOVE:
		op->cb.status(op->arg, op->status, op->msg);
		break;
	}
	op_free(op);
	tl->pending--;
	maybe_closed(tl);
}

static struct op *op_new(struct tl *tl, enum op_kind kind, void *arg)
{
	struct op *op;

	if (tl->closing || (op = calloc(1, sizeof *op)) == NULL)
		return NULL;
	op->tl = tl;
	op->kind = kind;
	op->arg = arg;
	return op;
}

static int op_queue(struct op *op)
{
	int rc;

	rc = uv_queue_work(op->tl->base.loop, &op->work, work_cb,
	    after_work_cb);
	if (rc != 0) {
		op_free(op);
		return CF_ETRANSPORT;
	}
	op->tl->pending++;
	return 0;
}

/* Queues an operation on one path; the caller sets the callback. */
static struct op *path_op(struct transport *t, enum op_kind kind,
    const char *path, size_t max, void *arg, int *rc)
{
	struct tl *tl = container_of(t, struct tl, base);
	struct op *op;

	*rc = CF_EINVAL;
	if (path == NULL || tl->closing)
		return NULL;
	*rc = CF_ENOMEM;
	if ((op = op_new(tl, kind, arg)) == NULL)
		return NULL;
	op->max = max;
	if ((op->path = strdup(path)) == NULL) {
		op_free(op);
		return NULL;
	}
	return op;
}

static int tl_read_file(struct transport *t, const char *path, size_t max,
    transport_file_cb cb, void *arg)
{
	struct op *op;
	int rc;

	if (cb == NULL)
		return CF_EINVAL;
	if ((op = path_op(t, OP_READ_FILE, path, max, arg, &rc)) == NULL)
		return rc;
	op->cb.file = cb;
	return op_queue(op);
}

static int tl_write_file(struct transport *t, const char *path,
    const void *data, size_t len, unsigned mode, transport_status_cb cb,
    void *arg)
{
	struct op *op;
	int rc;

	if (cb == NULL || path == NULL || !path_is_confined(path))
		return CF_EINVAL;
	if ((op = path_op(t, OP_WRITE_FILE, path, 0, arg, &rc)) == NULL)
		return rc;
	op->cb.status = cb;
	op->mode = mode;
	op->len = len;
	if ((op->data = malloc(len + 1)) == NULL) {
		op_free(op);
		return CF_ENOMEM;
	}
	memcpy(op->data, data, len);
	return op_queue(op);
}

static int tl_remove(struct transport *t, const char *path,
    transport_status_cb cb, void *arg)
{
	struct op *op;
	int rc;

	if (cb == NULL || path == NULL || !path_is_confined(path))
		return CF_EINVAL;
	if ((op = path_op(t, OP_REMOVE, path, 0, arg, &rc)) == NULL)
		return rc;
	op->cb.status = cb;
	return op_queue(op);
}

static int tl_read_store(struct transport *t, const char *path, size_t max,
    transport_store_cb cb, void *arg)
{
	struct op *op;
	int rc;

	if (cb == NULL)
		return CF_EINVAL;
	if ((op = path_op(t, OP_READ_STORE, path, max, arg, &rc)) == NULL)
		return rc;
	op->cb.store = cb;
	return op_queue(op);
}

/* A member name is one plain component that does not start with '.'. */
static bool member_name_ok(const char *name)
{
	return name != NULL && name[0] != '\0' && name[0] != '.' &&
	    strchr(name, '/') == NULL && !str_has_control(name);
}

/*
 * The set is checked on the loop thread, so that a bad argument is refused
 * at once: paths normalised and confined, plain member names, a pointer
 * that is none of the links, links distinct.
 */
static int tl_install(struct transport *t, const struct transport_set *set,
    transport_install_cb cb, void *arg)
{
	struct tl *tl = container_of(t, struct tl, base);
	struct member_copy *m;
	struct op *op;
	size_t i, j;

	if (set == NULL || cb == NULL || tl->closing || set->nmembers == 0 ||
	    set->members == NULL)
		return CF_EINVAL;
	if ((op = op_new(tl, OP_INSTALL, arg)) == NULL)
		return CF_ENOMEM;
	op->cb.install = cb;
	op->store = norm_path(set->store);
	op->pointer = norm_path(set->pointer);
	op->members = calloc(set->nmembers, sizeof *op->members);
	if (op->store == NULL || op->pointer == NULL || op->members == NULL ||
	    *op->store == '\0' || *op->pointer == '\0')
		goto bad;
	op->nmembers = set->nmembers;
	for (i = 0; i < set->nmembers; i++) {
		const struct transport_member *sm = &set->members[i];

		m = &op->members[i];
		if (!member_name_ok(sm->name) || (sm->data == NULL &&
		    sm->len > 0) || sm->from != NULL)
			goto bad;
		m->name = strdup(sm->name);
		m->link = norm_path(sm->link);
		m->data = malloc(sm->len + 1);
		if (m->name == NULL || m->link == NULL || m->data == NULL ||
		    *m->link == '\0' || strcmp(m->link, op->pointer) == 0)
			goto bad;
		if (sm->len > 0)
			memcpy(m->data, sm->data, sm->len);
		m->len = sm->len;
		m->mode = sm->mode & 07777;
		for (j = 0; j < i; j++)
			if (strcmp(op->members[j].link, m->link) == 0 ||
			    strcmp(op->members[j].name, m->name) == 0)
				goto bad;
	}
	return op_queue(op);
bad:
	op_free(op);
	return CF_EINVAL;
}

static int tl_rollback(struct transport *t, const struct transport_undo *u,
    transport_status_cb cb, void *arg)
{
	struct tl *tl = container_of(t, struct tl, base);
	struct transport_undo *c;
	struct op *op;
	size_t n = 0, i;

	if (u == NULL || cb == NULL || tl->closing ||
	    u->pointer == NULL || !path_is_confined(u->pointer) ||
	    u->current == NULL || !path_is_confined(u->current) ||
	    u->store == NULL || !path_is_confined(u->store) ||
	    (u->previous != NULL && !path_is_confined(u->previous)))
		return CF_EINVAL;
	while (u->links != NULL && u->links[n] != NULL)
		if (!path_is_confined(u->links[n++]))
			return CF_EINVAL;
	n = 0;
	if ((op = op_new(tl, OP_ROLLBACK, arg)) == NULL)
		return CF_ENOMEM;
	op->cb.status = cb;
	while (u->links != NULL && u->links[n] != NULL)
		n++;
	if ((c = op->in_undo = calloc(1, sizeof *c)) == NULL ||
	    (c->links = calloc(n + 1, sizeof *c->links)) == NULL)
		goto no_mem;
	c->store = norm_path(u->store);
	c->pointer = norm_path(u->pointer);
	c->current = norm_path(u->current);
	if (c->store == NULL || c->pointer == NULL || c->current == NULL ||
	    (u->previous != NULL &&
	    (c->previous = norm_path(u->previous)) == NULL))
		goto no_mem;
	for (i = 0; i < n; i++)
		if ((c->links[i] = norm_path(u->links[i])) == NULL)
			goto no_mem;
	return op_queue(op);
no_mem:
	op_free(op);
	return CF_ENOMEM;
}

/* ---- run ------------------------------------------------------------- */

static void run_done(void *arg, int status, const struct proc_result *pr,
    const char *msg)
{
	struct run_op *r = arg;
	struct transport_run_result res;
	struct tl *tl = r->tl;
	char why[512];

	res.exit_status = pr->exit_status;
	res.term_signal = pr->term_signal;
	res.out = pr->out;
	res.outlen = pr->outlen;
	res.err = pr->err;
	res.errlen = pr->errlen;
	snprintf(why, sizeof why, "%s", msg);
	if (status != 0) {
		snprintf(why, sizeof why, "cannot run '%s' on '%s': %s",
		    r->shown, tl->base.server, uv_strerror(pr->start_error));
	} else if (pr->timed_out) {
		status = CF_ETIMEDOUT;
		snprintf(why, sizeof why, "'%s' on '%s' did not finish within "
		    "%u ms and was killed", r->shown, tl->base.server,
		    r->timeout_ms);
	}
	r->cb(r->arg, status, &res, why);
	free(r->shown);
	free(r);
	tl->pending--;
	maybe_closed(tl);
}

/* The command runs in its own process group in the server's root, so a
 * timeout takes whatever it started too. */
static int tl_run(struct transport *t, char *const argv[],
    unsigned timeout_ms, transport_run_cb cb, void *arg)
{
	struct tl *tl = container_of(t, struct tl, base);
	struct proc_spec spec;
	struct run_op *r;
	int rc;

	if (argv == NULL || argv[0] == NULL || cb == NULL || tl->closing)
		return CF_EINVAL;
	if ((r = calloc(1, sizeof *r)) == NULL)
		return CF_ENOMEM;
	if ((r->shown = strdup(argv[0])) == NULL) {
		free(r);
		return CF_ENOMEM;
	}
	r->tl = tl;
	r->cb = cb;
	r->arg = arg;
	r->timeout_ms = timeout_ms;
	memset(&spec, 0, sizeof spec);
	spec.argv = argv;
	spec.cwd = tl->root;
	spec.out_cap = TRANSPORT_CAPTURE;
	spec.err_cap = TRANSPORT_CAPTURE;
	spec.timeout_ms = timeout_ms;
	spec.group = true;
	tl->pending++;
	if ((rc = proc_run(t->loop, &spec, run_done, r)) != 0) {
		tl->pending--;
		free(r->shown);
		free(r);
	}
	return rc;
}

/* ---- lifetime -------------------------------------------------------- */

static void close_work(uv_work_t *w)
{
	(void)w;
}

static void close_after(uv_work_t *w, int status)
{
	struct tl *tl = container_of(w, struct tl, close_work);

	(void)status;
	tl->pending--;
	maybe_closed(tl);
}

/* The no-op work item defers the close callback to a later loop pass even
 * when nothing is in flight. */
static void tl_close(struct transport *t, void (*cb)(void *arg), void *arg)
{
	struct tl *tl = container_of(t, struct tl, base);

	if (tl->closing)
		return;
	tl->closing = true;
	tl->close_cb = cb;
	tl->close_arg = arg;
	tl->pending++;
	if (uv_queue_work(t->loop, &tl->close_work, close_work,
	    close_after) != 0) {
		/* Cannot happen with a non-NULL work_cb; close later. */
		tl->pending--;
	}
}

static const struct transport_ops local_ops = {
	.name = "local",
	.read_file = tl_read_file,
	.read_store = tl_read_store,
	.install = tl_install,
	.rollback = tl_rollback,
	.write_file = tl_write_file,
	.remove = tl_remove,
	.run = tl_run,
	.close = tl_close,
};

int transport_local_open(struct transport **out, uv_loop_t *loop,
    const char *server, const char *root, char *msg, size_t msgsz)
{
	struct tl *tl;

	*out = NULL;
	if (loop == NULL || server == NULL || root == NULL || *root == '\0')
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot open the local transport: no loop, server or root");
	if ((tl = calloc(1, sizeof *tl)) == NULL ||
	    (tl->root = strdup(root)) == NULL ||
	    (tl->base.server = strdup(server)) == NULL) {
		if (tl != NULL)
			free(tl->root);
		free(tl);
		return cf_error(msg, msgsz, CF_ENOMEM,
		    "cannot open the local transport for '%s': out of memory",
		    server);
	}
	tl->base.ops = &local_ops;
	tl->base.loop = loop;
	*out = &tl->base;
	return 0;
}
