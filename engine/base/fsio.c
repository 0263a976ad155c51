/*
 * Safe local file operations (see fsio.h). Every write goes through a fresh
 * temporary file and a rename: nothing here ever opens an existing file for
 * writing except the lock file, never follows a symlink when creating, and
 * never leaves a temporary file behind on failure. No printing, no exit.
 */
#include "engine/base/fsio.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/path.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* How many random names to try before giving up on O_EXCL collisions. */
#define TMP_TRIES 16

/*
 * A random 64-bit value for temporary names. Not a secret: O_EXCL and
 * O_NOFOLLOW make a guessed name harmless; randomness only avoids retries.
 */
uint64_t fsio_random64(void)
{
	static uint64_t counter;
	uint64_t r;
	struct timespec ts;

	if (getentropy(&r, sizeof r) == 0)
		return r;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	counter++;
	return ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^
	    ((uint64_t)ts.tv_sec << 20) ^ (counter * 0x9e3779b97f4a7c15ULL);
}

/* Writes all of buf to fd, retrying short writes and EINTR. Returns 0,
 * or -1 with errno set (EIO when write makes no progress). */
static int write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Filesystems that cannot fsync a directory say EINVAL; there is nothing
 * more to do on those. */
int fsio_sync_fd(int fd)
{
	if (fsync(fd) != 0 && errno != EINVAL)
		return -1;
	return 0;
}

int fsio_sync_dir(const char *dir)
{
	int fd, rc, e;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsio_sync_fd(fd);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

int fsio_write_new_at(int dfd, const char *name, const void *data,
    size_t len, unsigned mode)
{
	bool ok;
	int fd, e;

	fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, (mode_t)(mode & 0600));
	if (fd < 0)
		return -1;
	/* open() honoured the umask and was at most 0600 while empty; now
	 * the exact mode, before any byte of a private key lands here. */
	ok = fchmod(fd, (mode_t)(mode & 07777)) == 0 &&
	    write_all(fd, data, len) == 0 && fsync(fd) == 0;
	e = errno;
	if (close(fd) != 0 && ok) {
		ok = false;
		e = errno;
	}
	if (ok)
		return 0;
	unlinkat(dfd, name, 0);
	errno = e;
	return -1;
}

/* Writes a complete temporary file next to path, then moves it to path:
 * rename(2) over it when replace, else link(2), which never replaces. */
static int publish(const char *path, const void *data, size_t len,
    mode_t mode, bool replace, char *msg, size_t msgsz)
{
	const char *base = strrchr(path ? path : "", '/');
	char *dir, *tmp;
	size_t tmpsz;
	int rc = -1, i, e;

	if (path == NULL || (data == NULL && len > 0))
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot write: no path or no data");
	base = base ? base + 1 : path;
	if ((dir = path_dirname(path)) == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM,
		    "cannot write '%s': out of memory", path);
	if (*base == '\0' || strcmp(base, ".") == 0 ||
	    strcmp(base, "..") == 0) {
		free(dir);
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot write '%s': not a file name", path);
	}
	/* dir + "/." + base + ".<16 hex>.tmp" + NUL */
	tmpsz = strlen(dir) + strlen(base) + 32;
	tmp = malloc(tmpsz);
	if (tmp == NULL) {
		free(dir);
		return cf_error(msg, msgsz, CF_ENOMEM,
		    "cannot write '%s': out of memory", path);
	}
	for (i = 0; i < TMP_TRIES; i++) {
		snprintf(tmp, tmpsz, "%s/.%s.%016" PRIx64 ".tmp", dir, base,
		    fsio_random64());
		if ((rc = fsio_write_new_at(AT_FDCWD, tmp, data, len,
		    mode)) == 0 || errno != EEXIST)
			break;
	}
	if (rc != 0) {
		e = errno;
		free(tmp);
		free(dir);
		return cf_error(msg, msgsz, cf_errno_code(e),
		    "cannot write '%s': %s", path, strerror(e));
	}
	if ((replace ? rename(tmp, path) : link(tmp, path)) != 0) {
		e = errno;
		unlink(tmp);
		free(tmp);
		free(dir);
		if (!replace && e == EEXIST)
			return CF_EEXIST;
		return cf_error(msg, msgsz, cf_errno_code(e),
		    "cannot %s '%s': %s", replace ? "replace" : "create", path,
		    strerror(e));
	}
	/* A linked file's temporary name goes; the file itself stays. */
	if (!replace)
		unlink(tmp);
	free(tmp);
	if (fsio_sync_dir(dir) != 0) {
		e = errno;
		free(dir);
		return cf_error(msg, msgsz, CF_EIO,
		    "cannot sync directory of '%s': %s", path, strerror(e));
	}
	free(dir);
	return 0;
}

int fsio_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode, char *msg, size_t msgsz)
{
	return publish(path, data, len, mode, true, msg, msgsz);
}

int fsio_write_new(const char *path, const void *data, size_t len,
    mode_t mode, char *msg, size_t msgsz)
{
	return publish(path, data, len, mode, false, msg, msgsz);
}

/* mkdir for one prefix; an existing directory (or link to one) is fine. */
static int mkdir_one(const char *full, const char *prefix, mode_t mode,
    char *msg, size_t msgsz)
{
	struct stat st;
	int e, found;

	if (mkdir(prefix, mode & 07777) == 0) {
		if (chmod(prefix, mode & 07777) == 0)
			return 0;
		e = errno;
	} else {
		e = errno;
		found = stat(prefix, &st) == 0;
		/* Also an existing parent we may not write into. */
		if (found && S_ISDIR(st.st_mode))
			return 0;
		if (found && e == EEXIST)
			return cf_error(msg, msgsz, CF_EEXIST, "cannot create "
			    "directory '%s': '%s' is not a directory", full,
			    prefix);
		if (e == EEXIST)
			e = errno;
	}
	return cf_error(msg, msgsz, cf_errno_code(e),
	    "cannot create directory '%s': %s", prefix, strerror(e));
}

int fsio_mkdirs(const char *path, mode_t mode, char *msg, size_t msgsz)
{
	char *buf, *p;
	int rc;

	if (path == NULL || *path == '\0')
		return cf_error(msg, msgsz, CF_EINVAL,
		    "cannot create directory: empty path");
	buf = strdup(path);
	if (buf == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM,
		    "cannot create directory '%s': out of memory", path);
	/* Each '/' after a non-'/' ends a prefix; the root itself exists. */
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0';
		rc = mkdir_one(path, buf, mode, msg, msgsz);
		*p = '/';
		if (rc != 0) {
			free(buf);
			return rc;
		}
	}
	rc = 0;
	if (p[-1] != '/')
		rc = mkdir_one(path, buf, mode, msg, msgsz);
	free(buf);
	return rc;
}

int fsio_read_fd(int fd, size_t max, char **data, size_t *len)
{
	struct stat st;
	char *buf, *nbuf;
	size_t cap, n = 0;
	ssize_t r;
	int rc = CF_EIO, e;

	*data = NULL;
	*len = 0;
	if (fstat(fd, &st) != 0)
		return CF_EIO;
	if (max > SIZE_MAX - 2)
		max = SIZE_MAX - 2;
	if (st.st_size > 0 && (uintmax_t)st.st_size > (uintmax_t)max)
		return CF_EINVAL;
	/*
	 * st_size is only a hint (the file may grow, or be a pipe or a /proc
	 * file that says 0): read until EOF, one byte past max at most.
	 */
	cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	if (cap > max + 1)
		cap = max + 1;
	if ((buf = malloc(cap + 1)) == NULL)
		return CF_ENOMEM;
	for (;;) {
		if (n == cap) {
			/* cap <= max here: n > max was refused below. */
			cap = cap > max / 2 ? max + 1 : cap * 2;
			if ((nbuf = realloc(buf, cap + 1)) == NULL) {
				rc = CF_ENOMEM;
				goto fail;
			}
			buf = nbuf;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			rc = CF_EINVAL;
			goto fail;
		}
	}
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
fail:
	e = errno;
	crypto_secret_free(buf, n + 1);
	errno = e;
	return rc;
}

int fsio_read_file(const char *path, size_t max, char **data, size_t *len,
    char *msg, size_t msgsz)
{
	struct stat st;
	int fd, rc, e;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		return cf_error(msg, msgsz, cf_errno_code(e),
		    "cannot read '%s': %s", path, strerror(e));
	}
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		rc = CF_EIO;
		e = EISDIR;
	} else {
		rc = fsio_read_fd(fd, max, data, len);
		e = errno;
	}
	close(fd);
	if (rc == CF_EINVAL)
		return cf_error(msg, msgsz, CF_EINVAL, "cannot read '%s': "
		    "larger than the limit of %zu bytes", path, max);
	if (rc != 0)
		return cf_error(msg, msgsz, rc, "cannot read '%s': %s", path,
		    rc == CF_ENOMEM ? "out of memory" : strerror(e));
	return 0;
}

int fsio_remove(const char *path, char *msg, size_t msgsz)
{
	int e;

	if (unlink(path) == 0 || errno == ENOENT)
		return 0;
	e = errno;
	return cf_error(msg, msgsz, CF_EIO, "cannot remove '%s': %s", path,
	    strerror(e));
}

/* The pid a lock holder wrote into the lock file, or 0 when unreadable. */
static long lock_holder(int fd)
{
	char buf[32];
	ssize_t n;
	char *end;
	long pid;

	n = pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || pid <= 0)
		return 0;
	return pid;
}

/* Opens path and takes flock op (LOCK_EX or LOCK_SH) without waiting. */
static int lock_take(const char *path, int op, int *fd, char *msg,
    size_t msgsz)
{
	long pid;
	int lfd, e;

	*fd = -1;
	lfd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (lfd < 0) {
		e = errno;
		return cf_error(msg, msgsz, CF_EIO,
		    "cannot open lock '%s': %s", path, strerror(e));
	}
	while (flock(lfd, op | LOCK_NB) != 0) {
		e = errno;
		if (e == EINTR)
			continue;
		if (e == EWOULDBLOCK) {
			pid = lock_holder(lfd);
			close(lfd);
			if (pid > 0)
				return cf_error(msg, msgsz, CF_ELOCKED,
				    "another run holds the lock '%s' "
				    "(pid %ld)", path, pid);
			return cf_error(msg, msgsz, CF_ELOCKED,
			    "another run holds the lock '%s'", path);
		}
		close(lfd);
		return cf_error(msg, msgsz, CF_EIO,
		    "cannot lock '%s': %s", path, strerror(e));
	}
	*fd = lfd;
	return 0;
}

int fsio_lock(const char *path, int *fd, char *msg, size_t msgsz)
{
	char buf[32];
	int rc, e, n;

	if ((rc = lock_take(path, LOCK_EX, fd, msg, msgsz)) != 0)
		return rc;
	/*
	 * The pid is for the message a second run prints, nothing more: the
	 * lock is the kernel's, so a stale pid from a dead run is harmless.
	 */
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(*fd, 0) != 0 || pwrite(*fd, buf, (size_t)n, 0) != n) {
		e = errno;
		close(*fd);
		*fd = -1;
		return cf_error(msg, msgsz, CF_EIO,
		    "cannot write lock '%s': %s", path, strerror(e));
	}
	return 0;
}

int fsio_lock_shared(const char *path, int *fd, char *msg, size_t msgsz)
{
	return lock_take(path, LOCK_SH, fd, msg, msgsz);
}

void fsio_unlock(int fd)
{
	if (fd < 0)
		return;
	/* Clear our pid while we still hold the lock, then let go. */
	if (ftruncate(fd, 0) != 0) {
		/* Nothing to do: the pid is only informative. */
	}
	flock(fd, LOCK_UN);
	close(fd);
}
