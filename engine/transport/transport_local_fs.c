/*
 * The local transport's confinement (see transport_local.h): every path it
 * touches stays below the server's root. Writes walk from the root one
 * component at a time with openat(2) and O_NOFOLLOW; reads are resolved
 * with realpath(3), checked against the root's real path, then opened
 * again by the same walk. The single-file operations (read_file,
 * read_store, write_file, remove) are here; the versioned install builds
 * on the same walk in transport_local_install.c. Runs on threadpool
 * threads: nothing here touches the loop, and no message holds file bytes.
 */
#include "engine/transport/transport_local_int.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
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

/* Splits a normalised path into a new directory part and its last name. */
char *tl_split(const char *path, const char **base)
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
char *tl_rel_target(const char *from, const char *to)
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
char *tl_lex_join(const char *dir, const char *text)
{
	char *buf, *out, *p, *save = NULL;
	size_t o = 0;

	if (text[0] == '/' || (buf = path_join(dir, text)) == NULL)
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

int tl_open_root(struct op *op, const char *what, const char *shown)
{
	int fd, e;

	fd = open(op->tl->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		tl_fail(op, CF_ETRANSPORT, "%s '%s' on '%s': cannot open the "
		    "server root '%s': %s", what, shown, tl_server(op),
		    op->tl->root, strerror(e));
	}
	return fd;
}

/*
 * Opens directory rel (normalised; "" is the root) below rootfd one
 * component at a time, never following a symlink; when create, missing
 * components are made with TL_DIR_MODE. Returns a descriptor, or -1 after
 * tl_fail ("<what> '<shown>' on '<server>': <why>").
 */
int tl_walk_dir(struct op *op, int rootfd, const char *rel, bool create,
    const char *what, const char *shown)
{
	char *buf, *p, *save = NULL;
	struct stat st;
	int fd, nfd, e;

	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		tl_fail(op, cf_errno_code(e), "%s '%s' on '%s': %s", what,
		    shown, tl_server(op), strerror(e));
		return -1;
	}
	if ((buf = strdup(rel)) == NULL) {
		close(fd);
		tl_fail(op, CF_ENOMEM, "%s '%s' on '%s': out of memory", what,
		    shown, tl_server(op));
		return -1;
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
			/* Exact mode, whatever the umask; make it durable. */
			if (nfd >= 0 && made &&
			    (fchmod(nfd, TL_DIR_MODE) != 0 ||
			    fsio_sync_fd(fd) != 0)) {
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
		tl_fail(op, CF_ETRANSPORT, "%s '%s' on '%s': refusing to "
		    "follow the symlink '%.*s'", what, shown, tl_server(op),
		    (int)(p - buf + (ptrdiff_t)strlen(p)), rel);
	else if (e == ENOTDIR)
		tl_fail(op, CF_EIO, "%s '%s' on '%s': '%.*s' is not a "
		    "directory", what, shown, tl_server(op),
		    (int)(p - buf + (ptrdiff_t)strlen(p)), rel);
	else
		tl_fail(op, cf_errno_code(e), "%s '%s' on '%s': %s", what,
		    shown, tl_server(op), strerror(e));
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
 * tl_fail.
 */
int tl_open_confined(struct op *op, const char *rel, const char *shown,
    bool *missing)
{
	char *rroot = NULL, *local = NULL, *real = NULL, *dir = NULL;
	const char *sub, *base;
	size_t n;
	int rootfd = -1, dfd = -1, fd = -1, e;

	*missing = false;
	if ((rroot = realpath(op->tl->root, NULL)) == NULL) {
		e = errno;
		tl_fail(op, CF_ETRANSPORT, "cannot read '%s' on '%s': cannot "
		    "open the server root '%s': %s", shown, tl_server(op),
		    op->tl->root, strerror(e));
		goto out;
	}
	if ((local = path_join(rroot, rel)) == NULL) {
		tl_fail(op, CF_ENOMEM, "cannot read '%s' on '%s': out of "
		    "memory", shown, tl_server(op));
		goto out;
	}
	if ((real = realpath(local, NULL)) == NULL) {
		e = errno;
		if (e == ENOENT)
			*missing = true;
		else
			tl_fail(op, cf_errno_code(e), "cannot read '%s' on "
			    "'%s': %s", shown, tl_server(op), strerror(e));
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
		tl_fail(op, CF_ETRANSPORT, "cannot read '%s' on '%s': it "
		    "leads outside the server root", shown, tl_server(op));
		goto out;
	}
	if ((rootfd = open(rroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		e = errno;
		tl_fail(op, CF_ETRANSPORT, "cannot read '%s' on '%s': %s",
		    shown, tl_server(op), strerror(e));
		goto out;
	}
	if (*sub == '\0') {
		fd = openat(rootfd, ".", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			tl_fail(op, CF_EIO, "cannot read '%s' on '%s': %s",
			    shown, tl_server(op), strerror(errno));
		goto out;
	}
	if ((dir = tl_split(sub, &base)) == NULL) {
		tl_fail(op, CF_ENOMEM, "cannot read '%s' on '%s': out of "
		    "memory", shown, tl_server(op));
		goto out;
	}
	if ((dfd = tl_walk_dir(op, rootfd, dir, false, "cannot read",
	    shown)) < 0)
		goto out;
	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ELOOP)
			tl_fail(op, CF_ETRANSPORT, "cannot read '%s' on '%s': "
			    "it changed while being read", shown,
			    tl_server(op));
		else
			tl_fail(op, cf_errno_code(e), "cannot read '%s' on "
			    "'%s': %s", shown, tl_server(op), strerror(e));
	}
out:
	tl_close_fd(dfd);
	tl_close_fd(rootfd);
	free(dir);
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
		return tl_fail(op, CF_EIO, "cannot read '%s' on '%s': not a "
		    "regular file", shown, tl_server(op));
	if ((rc = fsio_read_fd(fd, max, data, len)) == CF_EINVAL)
		return tl_fail(op, CF_EINVAL, "cannot read '%s' on '%s': "
		    "larger than the limit of %zu bytes", shown,
		    tl_server(op), max);
	if (rc != 0)
		return tl_fail(op, rc, "cannot read '%s' on '%s': %s", shown,
		    tl_server(op), rc == CF_ENOMEM ? "out of memory" :
		    strerror(errno));
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

void tl_read_file_run(struct op *op)
{
	bool missing;
	char *rel;
	int fd;

	if ((rel = transport_path_norm(op->path)) == NULL) {
		tl_fail(op, CF_EINVAL, "cannot read '%s' on '%s': not a "
		    "server path below the root", op->path, tl_server(op));
		return;
	}
	fd = tl_open_confined(op, rel, op->path, &missing);
	free(rel);
	if (fd < 0) {
		if (missing)
			tl_fail(op, CF_ENOENT, "cannot read '%s' on '%s': no "
			    "such file", op->path, tl_server(op));
		return;
	}
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
	return tl_fail(op, CF_ENOMEM, "cannot read '%s' on '%s': out of "
	    "memory", op->path, tl_server(op));
}

void tl_read_store_run(struct op *op)
{
	char *rel, *sub, *data, **names = NULL;
	const char *base;
	struct stat st;
	size_t cap = 0, n, i, len;
	bool missing;
	int fd, efd;

	if ((rel = transport_path_norm(op->path)) == NULL) {
		tl_fail(op, CF_EINVAL, "cannot read '%s' on '%s': not a "
		    "server path below the root", op->path, tl_server(op));
		return;
	}
	fd = tl_open_confined(op, rel, op->path, &missing);
	if (fd < 0)
		goto out;
	if (fstat(fd, &st) != 0) {
		tl_fail(op, CF_EIO, "cannot read '%s' on '%s': %s", op->path,
		    tl_server(op), strerror(errno));
		goto out;
	}
	if (S_ISREG(st.st_mode)) {
		base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
		if (tl_read_fd(op, fd, op->max, op->path, &data, &len) == 0)
			add_entry(op, base, data, len, &cap);
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		tl_fail(op, CF_EIO, "cannot read '%s' on '%s': neither a file "
		    "nor a directory", op->path, tl_server(op));
		goto out;
	}
	if ((names = tl_list_dir(fd, true, &n)) == NULL) {
		tl_fail(op, CF_EIO, "cannot list '%s' on '%s': %s", op->path,
		    tl_server(op), strerror(errno));
		goto out;
	}
	if (n > TRANSPORT_STORE_MAX) {
		tl_fail(op, CF_EINVAL, "cannot read '%s' on '%s': more than "
		    "%d files", op->path, tl_server(op), TRANSPORT_STORE_MAX);
		goto out;
	}
	for (i = 0; i < n && op->status == 0; i++) {
		if ((sub = path_join(rel, names[i])) == NULL) {
			tl_fail(op, CF_ENOMEM, "cannot read '%s' on '%s': out "
			    "of memory", op->path, tl_server(op));
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
	char *rel = transport_path_norm(op->path), *dir = NULL, tmp[300];
	const char *base;
	int rootfd = -1, dfd = -1, i, e, rc;

	if (rel == NULL || *rel == '\0') {
		tl_fail(op, CF_EINVAL, "cannot write '%s' on '%s': not a "
		    "confined path", op->path, tl_server(op));
		goto out;
	}
	if ((dir = tl_split(rel, &base)) == NULL) {
		tl_fail(op, CF_ENOMEM, "out of memory");
		goto out;
	}
	if ((rootfd = tl_open_root(op, "cannot write", op->path)) < 0 ||
	    (dfd = tl_walk_dir(op, rootfd, dir, true, "cannot write",
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
	if (rc != 0)
		goto fail;
	if (renameat(dfd, tmp, dfd, base) != 0) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		errno = e;
		goto fail;
	}
	if (fsio_sync_fd(dfd) != 0)
		goto fail;
	goto out;
fail:
	e = errno;
	tl_fail(op, cf_errno_code(e), "cannot write '%s' on '%s': %s", op->path,
	    tl_server(op), strerror(e));
out:
	tl_close_fd(dfd);
	tl_close_fd(rootfd);
	free(dir);
	free(rel);
}

/* Unlinks op->path, reached without following symlinks; missing is fine. */
void tl_remove_run(struct op *op)
{
	char *rel = transport_path_norm(op->path), *dir = NULL;
	const char *base;
	int rootfd = -1, dfd = -1, e;

	if (rel == NULL || *rel == '\0' ||
	    (dir = tl_split(rel, &base)) == NULL) {
		tl_fail(op, CF_EINVAL, "cannot remove '%s' on '%s': not a "
		    "confined path", op->path, tl_server(op));
		goto out;
	}
	if ((rootfd = tl_open_root(op, "cannot remove", op->path)) < 0)
		goto out;
	if ((dfd = tl_walk_dir(op, rootfd, dir, false, "cannot remove",
	    op->path)) < 0) {
		if (op->status == CF_ENOENT) {
			op->status = 0;
			op->msg[0] = '\0';
		}
		goto out;
	}
	if (unlinkat(dfd, base, 0) != 0 && errno != ENOENT) {
		e = errno;
		tl_fail(op, cf_errno_code(e), "cannot remove '%s' on '%s': %s",
		    op->path, tl_server(op), strerror(e));
	}
out:
	tl_close_fd(dfd);
	tl_close_fd(rootfd);
	free(dir);
	free(rel);
}
