/*
 * The local transport's confinement below the server's root, the walk and
 * the resolved reads that transport_local.h describes, and the single-file
 * operations built on them (read_file, read_store, write_file, remove);
 * the versioned install uses the same walk (transport_local_install.c).
 * Runs on threadpool threads: nothing here touches the loop, and no
 * message holds file bytes.
 */
#include "engine/transport/transport_local_int.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
#include "engine/base/str.h"
#include "engine/base/strv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- server paths ---------------------------------------------------- */

/*
 * The text of a symlink at link (normalised) that leads to to (normalised):
 * "../" for each directory of link past those it has in common with to,
 * then the rest of to. Sound because writes never pass through a symlinked
 * directory, so ".." means the lexical parent.
 */
char *tl_rel_target(const char *link, const char *to)
{
	const char *f = link, *t = to, *fs, *ts;
	size_t ups = 0, k, n;
	char *p;

	while ((fs = strchr(f, '/')) != NULL && (ts = strchr(t, '/')) != NULL &&
	    fs - f == ts - t && strncmp(f, t, (size_t)(fs - f)) == 0) {
		f = fs + 1;
		t = ts + 1;
	}
	for (; (fs = strchr(f, '/')) != NULL; f = fs + 1)
		ups++;
	n = strlen(t);
	if ((p = malloc(ups * 3 + n + 1)) == NULL)
		return NULL;
	for (k = 0; k < ups; k++)
		memcpy(p + 3 * k, "../", 3);
	memcpy(p + 3 * ups, t, n + 1);
	return p;
}

/*
 * The server path a symlink at link (normalised) with text names, with
 * ".." taken lexically. NULL when the text is absolute, climbs above the
 * root, or memory runs out.
 */
char *tl_lex_join(const char *link, const char *text)
{
	char *buf, *out, *p, *save = NULL;
	size_t o = 0;

	/* "link/.." is the directory the symlink is in. */
	if (text[0] == '/' || (buf = cf_asprintf("%s/../%s", link, text)) ==
	    NULL)
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

/* ---- directories to sync at the install's barrier -------------------- */

void tl_dirty_init(struct tl_dirty *d)
{
	d->n = 0;
}

int tl_dirty_add(struct tl_dirty *d, int fd)
{
	struct stat st;
	size_t i;
	int c;

	if (fstat(fd, &st) != 0)
		return -1;
	for (i = 0; i < d->n; i++)
		if (d->dev[i] == st.st_dev && d->ino[i] == st.st_ino)
			return 0;
	if (d->n == TL_DIRTY_MAX)
		return fsio_sync_fd(fd);
	if ((c = dup(fd)) < 0)
		return -1;
	d->fd[d->n] = c;
	d->dev[d->n] = st.st_dev;
	d->ino[d->n++] = st.st_ino;
	return 0;
}

int tl_dirty_sync(struct tl_dirty *d)
{
	int rc = 0, e = 0;
	size_t i;

	for (i = 0; i < d->n; i++) {
		if (rc == 0 && fsio_sync_fd(d->fd[i]) != 0) {
			rc = -1;
			e = errno;
		}
		close(d->fd[i]);
	}
	d->n = 0;
	errno = e;
	return rc;
}

void tl_dirty_release(struct tl_dirty *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		close(d->fd[i]);
	d->n = 0;
}

/* ---- descriptors below the root -------------------------------------- */

int tl_open_root(struct op *op, const char *verb, const char *shown)
{
	int fd = open(op->tl->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return tl_fail(op, CF_ETRANSPORT, verb, shown, "cannot open the "
		    "server root '%s': %s", op->tl->root, strerror(errno));
	return fd;
}

/*
 * Opens directory rel (normalised; "" is the root) below rootfd one
 * component at a time, never following a symlink; when create, missing
 * components are made with TL_DIR_MODE. With base, the directory opened is
 * the one holding rel, and *base is rel's last name. Returns a descriptor,
 * or an error after tl_fail ("cannot <verb> '<shown>' on '<server>': ...").
 */
int tl_walk_dir(struct op *op, int rootfd, const char *rel, const char **base,
    bool create, const char *verb, const char *shown)
{
	const char *slash = strrchr(rel, '/');
	char *buf, *p, *save = NULL;
	struct stat st;
	int fd, nfd, e, n;

	if (base != NULL)
		*base = slash ? slash + 1 : rel;
	buf = base == NULL ? strdup(rel) : strndup(rel, slash ? (size_t)(slash -
	    rel) : 0);
	if (buf == NULL)
		return tl_fail(op, CF_ENOMEM, verb, shown, "out of memory");
	if ((fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		free(buf);
		return tl_fail_errno(op, verb, shown);
	}
	for (p = strtok_r(buf, "/", &save); p != NULL;
	    p = strtok_r(NULL, "/", &save)) {
		bool made = false;

		nfd = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, p, TL_DIR_MODE) == 0)
				made = true;
			else if (errno != EEXIST)
				goto fail;
			nfd = openat(fd, p, O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			/* Exact mode, whatever the umask; make it durable
			 * (an install: by its barrier, before its switch). */
			if (nfd >= 0 && made &&
			    (fchmod(nfd, TL_DIR_MODE) != 0 ||
			    (op->dirty != NULL ? tl_dirty_add(op->dirty, fd) :
			    fsio_sync_fd(fd)) != 0)) {
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
	/* The part of rel up to the component that failed. */
	n = (int)(p - buf + (ptrdiff_t)strlen(p));
	if (fstatat(fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		nfd = tl_fail(op, CF_ETRANSPORT, verb, shown, "refusing to "
		    "follow the symlink '%.*s'", n, rel);
	else if (e == ENOTDIR)
		nfd = tl_fail(op, CF_EIO, verb, shown, "'%.*s' is not a "
		    "directory", n, rel);
	else
		nfd = tl_fail(op, cf_errno_code(e), verb, shown, "%s",
		    strerror(e));
	close(fd);
	free(buf);
	return nfd;
}

/*
 * Opens the server path rel (normalised) for reading, following symlinks
 * only while they stay below the root: realpath(3), a prefix check against
 * the root's real path, then the O_NOFOLLOW walk over the resolved path.
 * Returns a descriptor (O_NONBLOCK, so a planted FIFO cannot block), or -1:
 * with *missing set and no message when the path does not exist, else after
 * tl_fail.
 */
int tl_open_confined(struct op *op, const char *rel, const char *shown,
    bool *missing)
{
	char *rroot = NULL, *local = NULL, *real = NULL;
	const char *sub, *base;
	size_t n;
	int rootfd = -1, dfd = -1, fd = -1;

	*missing = false;
	if ((rroot = realpath(op->tl->root, NULL)) == NULL) {
		tl_fail(op, CF_ETRANSPORT, "read", shown, "cannot open the "
		    "server root '%s': %s", op->tl->root, strerror(errno));
		goto out;
	}
	if ((local = path_join(rroot, rel)) == NULL) {
		tl_fail(op, CF_ENOMEM, "read", shown, "out of memory");
		goto out;
	}
	if ((real = realpath(local, NULL)) == NULL) {
		if (errno == ENOENT)
			*missing = true;
		else
			tl_fail_errno(op, "read", shown);
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
		tl_fail(op, CF_ETRANSPORT, "read", shown, "it leads outside "
		    "the server root");
		goto out;
	}
	if ((rootfd = open(rroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		tl_fail(op, CF_ETRANSPORT, "read", shown, "%s",
		    strerror(errno));
		goto out;
	}
	if ((dfd = tl_walk_dir(op, rootfd, sub, &base, false, "read",
	    shown)) < 0)
		goto out;
	/* An empty base: sub is the root itself. */
	fd = openat(dfd, *base ? base : ".", O_RDONLY | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ELOOP)
		tl_fail(op, CF_ETRANSPORT, "read", shown, "it changed while "
		    "being read");
	else if (fd < 0)
		tl_fail_errno(op, "read", shown);
out:
	tl_close_fd(dfd);
	tl_close_fd(rootfd);
	free(real);
	free(local);
	free(rroot);
	return fd;
}

/*
 * Reads the regular file open on fd, at most max bytes, into a new buffer
 * NUL-terminated one byte past *len. Returns 0, or an error after tl_fail;
 * CF_EINVAL when the file is larger than max. Like every buffer here that
 * may hold a key, it has room for a NUL past its length, so it is freed
 * with crypto_secret_free(p, len + 1): never 0, which would mean strlen.
 */
int tl_read_fd(struct op *op, int fd, size_t max, const char *shown,
    char **data, size_t *len)
{
	struct stat st;
	int rc;

	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode))
		return tl_fail(op, CF_EIO, "read", shown, "not a regular file");
	if ((rc = fsio_read_fd(fd, max, data, len)) == CF_EINVAL)
		return tl_fail(op, CF_EINVAL, "read", shown, "larger than the "
		    "limit of %zu bytes", max);
	if (rc != 0)
		return tl_fail(op, rc, "read", shown, "%s", rc == CF_ENOMEM ?
		    "out of memory" : strerror(errno));
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in the directory open on fd, sorted; NULL-ended, new. Entries
 * starting with '.' are left out when skip_dot. NULL: no memory or error. */
char **tl_list_dir(int fd, bool skip_dot, size_t *count)
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


/* ---- read_file, read_store ------------------------------------------- */

/* Opens op->path as tl_open_confined does, its normal form in *rel (to be
 * freed, even on failure). */
static int open_path(struct op *op, char **rel, bool *missing)
{
	*missing = false;
	if ((*rel = transport_path_norm(op->path)) == NULL)
		return tl_fail(op, CF_EINVAL, "read", op->path, "not a server "
		    "path below the root");
	return tl_open_confined(op, *rel, op->path, missing);
}

void tl_read_file_run(struct op *op)
{
	bool missing;
	char *rel;
	int fd = open_path(op, &rel, &missing);

	free(rel);
	if (missing)
		tl_fail(op, CF_ENOENT, "read", op->path, "no such file");
	if (fd < 0)
		return;
	tl_read_fd(op, fd, op->max, op->path, &op->data, &op->len);
	close(fd);
}

static int add_entry(struct op *op, const char *name, char *data,
    size_t len, size_t *cap)
{
	struct transport_entry *ne;

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
	return tl_fail(op, CF_ENOMEM, "read", op->path, "out of memory");
}

void tl_read_store_run(struct op *op)
{
	char *rel, *sub, *data, **names = NULL;
	struct stat st;
	size_t cap = 0, n = 0, i, len;
	bool missing;
	int fd = open_path(op, &rel, &missing), efd;

	if (fd < 0)
		goto out;
	if (fstat(fd, &st) != 0)
		tl_fail(op, CF_EIO, "read", op->path, "%s", strerror(errno));
	else if (S_ISREG(st.st_mode)) {
		sub = strrchr(rel, '/');
		if (tl_read_fd(op, fd, op->max, op->path, &data, &len) == 0)
			add_entry(op, sub ? sub + 1 : rel, data, len, &cap);
	} else if (!S_ISDIR(st.st_mode))
		tl_fail(op, CF_EIO, "read", op->path, "neither a file nor a "
		    "directory");
	else if ((names = tl_list_dir(fd, true, &n)) == NULL)
		tl_fail(op, CF_EIO, "list", op->path, "%s", strerror(errno));
	else if (n > TRANSPORT_STORE_MAX)
		tl_fail(op, CF_EINVAL, "read", op->path, "more than %d files",
		    TRANSPORT_STORE_MAX);
	/* A directory's files, once it is listed and not too many. */
	for (i = 0; i < n && op->status == 0; i++) {
		if ((sub = path_join(rel, names[i])) == NULL) {
			tl_fail_errno(op, "read", op->path);
			break;
		}
		/* A dangling symlink or anything but a regular file (after
		 * following symlinks) is not part of the store. */
		efd = tl_open_confined(op, sub, sub, &missing);
		if (efd >= 0 && fstat(efd, &st) == 0 && S_ISREG(st.st_mode) &&
		    tl_read_fd(op, efd, op->max, sub, &data, &len) == 0)
			add_entry(op, names[i], data, len, &cap);
		tl_close_fd(efd);
		free(sub);
	}
out:
	tl_close_fd(fd);
	strv_free(names);
	free(rel);
}

/* ---- write_file, remove ---------------------------------------------- */

/*
 * Writes op->data to op->path: a new file under a temporary name in the
 * same directory (walked without following symlinks), then renamed over
 * the old one, then the directory synced.
 */
void tl_write_file_run(struct op *op)
{
	char *rel = transport_path_norm(op->path), tmp[300];
	const char *base;
	int rootfd = -1, dfd = -1, i, e, rc;

	if (rel == NULL || *rel == '\0') {
		tl_fail(op, CF_EINVAL, "write", op->path, "not a confined path");
		goto out;
	}
	if ((rootfd = tl_open_root(op, "write", op->path)) < 0 ||
	    (dfd = tl_walk_dir(op, rootfd, rel, &base, true, "write",
	    op->path)) < 0)
		goto out;
	/* A fresh name: a clash (EEXIST) is retried, anything else not. */
	for (i = 0, rc = -1; rc != 0 && i < TL_NAME_TRIES; i++) {
		snprintf(tmp, sizeof tmp, ".%.200s.%016" PRIx64 ".tmp", base,
		    fsio_random64());
		if ((rc = fsio_write_new_at(dfd, tmp, op->data, op->len,
		    op->mode)) != 0 && errno != EEXIST)
			break;
	}
	if (rc == 0 && renameat(dfd, tmp, dfd, base) != 0) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		errno = e;
		rc = -1;
	}
	if (rc != 0 || fsio_sync_fd(dfd) != 0)
		tl_fail_errno(op, "write", op->path);
out:
	tl_close_fd(dfd);
	tl_close_fd(rootfd);
	free(rel);
}

/* Unlinks op->path, reached without following symlinks; missing is fine. */
void tl_remove_run(struct op *op)
{
	char *rel = transport_path_norm(op->path);
	const char *base;
	int rootfd = -1, dfd = -1;

	if (rel == NULL || *rel == '\0') {
		tl_fail(op, CF_EINVAL, "remove", op->path, "not a confined "
		    "path");
		goto out;
	}
	if ((rootfd = tl_open_root(op, "remove", op->path)) < 0)
		goto out;
	if ((dfd = tl_walk_dir(op, rootfd, rel, &base, false, "remove",
	    op->path)) < 0) {
		if (op->status == CF_ENOENT) {
			op->status = 0;
			op->msg[0] = '\0';
		}
		goto out;
	}
	if (unlinkat(dfd, base, 0) != 0 && errno != ENOENT)
		tl_fail_errno(op, "remove", op->path);
out:
	tl_close_fd(dfd);
	tl_close_fd(rootfd);
	free(rel);
}
