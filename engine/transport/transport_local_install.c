/*
 * The local transport's versioned install (see struct transport_set in
 * transport.h): a new version directory below the set's store, the
 * members' links made once into the pointer, the pointer switched by one
 * rename, the hand-made set adopted as "previous" on the first install,
 * stale versions pruned, and the rollback that switches back. Version
 * names follow transport.h. Every path is reached through the confined
 * walk of transport_local_fs.c; this runs on threadpool threads.
 */
#include "engine/transport/transport_local_int.h"
#include "engine/base/crypto.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/base/path.h"
#include "engine/base/strv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The version a hand-made set is kept as (see struct transport_set). */
#define ADOPTED "previous"
/* Largest hand-made file adopted into the "previous" version. */
#define ADOPT_MAX (1024 * 1024)

/* ---- versions -------------------------------------------------------- */

/*
 * Makes name in dfd a symlink with text target in one atomic step: a new
 * symlink under a temporary name, renamed over name. Returns 0 or -1/errno.
 */
static int swap_link(int dfd, const char *name, const char *target)
{
	char tmp[300];
	int i, e, rc;

	for (i = 0, rc = -1; rc != 0 && i < TL_NAME_TRIES; i++) {
		snprintf(tmp, sizeof tmp, ".%.200s.%016" PRIx64 ".tmp", name,
		    fsio_random64());
		if ((rc = symlinkat(target, dfd, tmp)) != 0 && errno != EEXIST)
			break;
	}
	if (rc != 0)
		return -1;
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
	char **names;
	size_t n, i;
	int fd;

	fd = openat(storefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOTDIR || errno == ELOOP)
			unlinkat(storefd, name, 0);
		return;
	}
	names = tl_list_dir(fd, false, &n);
	for (i = 0; i < n; i++)
		unlinkat(fd, names[i], 0);
	strv_free(names);
	close(fd);
	unlinkat(storefd, name, AT_REMOVEDIR);
}

/* Removes every version in storefd except keep1 and keep2 (either may be
 * NULL): the new version and the one a rollback returns to. Not synced: a
 * removal a crash undoes is pruned again by the next install. */
static void prune(int storefd, const char *keep1, const char *keep2)
{
	char **names;
	size_t n, i;

	if ((names = tl_list_dir(storefd, false, &n)) == NULL)
		return;
	for (i = 0; i < n; i++) {
		if ((keep1 != NULL && strcmp(names[i], keep1) == 0) ||
		    (keep2 != NULL && strcmp(names[i], keep2) == 0))
			continue;
		remove_version(storefd, names[i]);
	}
	strv_free(names);
}

/* ---- install, rollback ----------------------------------------------- */

/*
 * Makes the link (normalised server path) a symlink to dest (normalised)
 * unless it already is one. Replaces a regular file or a foreign symlink in
 * one rename; its directory is synced at the install's barrier. Returns 0
 * or an error after tl_fail.
 */
static int ensure_link(struct op *op, int rootfd, const char *link,
    const char *dest)
{
	char *want, *have = NULL;
	const char *base;
	struct stat st;
	int dfd, rc = 0;

	if ((dfd = tl_walk_dir(op, rootfd, link, &base, true, "install",
	    link)) < 0)
		return dfd;
	if ((want = tl_rel_target(link, dest)) == NULL)
		rc = tl_fail_errno(op, "install", link);
	else if ((have = read_link(dfd, base)) != NULL &&
	    strcmp(have, want) == 0)
		rc = 0;         /* it already is */
	else if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode))
		rc = tl_fail(op, CF_EEXIST, "install", link, "it is a "
		    "directory");
	else if (swap_link(dfd, base, want) != 0 ||
	    tl_dirty_add(op->dirty, dfd) != 0)
		rc = tl_fail_errno(op, "install", link);
	free(have);
	free(want);
	close(dfd);
	return rc;
}

/*
 * The pointer does not exist yet. When a member's link path holds a file
 * (regular, or a symlink to a regular file below the root), keeps the bytes
 * and mode of each as <store>/previous/<name> and points the pointer at
 * that version, so a rollback restores the hand-made set. Returns 1 when a
 * set was adopted, 0 when there was none, or an error after tl_fail.
 */
static int adopt(struct op *op, int rootfd, int storefd, int pdirfd,
    const char *pbase, char **prev)
{
	struct {
		char *data;
		size_t len;
		unsigned mode;
	} *old;
	char *target = NULL;
	const char *base;
	struct stat st;
	size_t i;
	bool any = false, missing;
	int dfd, fd, vfd = -1, rc = 0;

	if ((old = calloc(op->nmembers, sizeof *old)) == NULL)
		return tl_fail_errno(op, "install", op->pointer);
	for (i = 0; i < op->nmembers && rc == 0; i++) {
		const char *link = op->members[i].link;

		if ((dfd = tl_walk_dir(op, rootfd, link, &base, true,
		    "install", link)) < 0) {
			rc = dfd;
			break;
		}
		if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			close(dfd);
			continue;
		}
		close(dfd);
		if (S_ISDIR(st.st_mode)) {
			rc = tl_fail(op, CF_EEXIST, "install", link, "it is a "
			    "directory");
			break;
		}
		if ((fd = tl_open_confined(op, link, link, &missing)) < 0) {
			rc = op->status;
			continue;
		}
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    tl_read_fd(op, fd, ADOPT_MAX, link, &old[i].data,
		    &old[i].len) == 0) {
			old[i].mode = (unsigned)st.st_mode & 07777;
			any = true;
		}
		close(fd);
		rc = op->status;
	}
	if (rc != 0 || !any)
		goto out;
	remove_version(storefd, ADOPTED);
	if (mkdirat(storefd, ADOPTED, TL_DIR_MODE) != 0 ||
	    (vfd = openat(storefd, ADOPTED, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) < 0 || fchmod(vfd, TL_DIR_MODE) != 0)
		goto io_fail;
	for (i = 0; i < op->nmembers; i++)
		if (old[i].data && fsio_write_new_at(vfd, op->members[i].name,
		    old[i].data, old[i].len, old[i].mode) != 0)
			goto io_fail;
	/* All the pointer will lead to, durable before it does. */
	if (tl_dirty_add(op->dirty, vfd) != 0 ||
	    tl_dirty_add(op->dirty, storefd) != 0 ||
	    tl_dirty_sync(op->dirty) != 0)
		goto io_fail;
	if ((*prev = path_join(op->store, ADOPTED)) == NULL ||
	    (target = tl_rel_target(op->pointer, *prev)) == NULL) {
		rc = tl_fail_errno(op, "install", op->pointer);
		goto out;
	}
	if (swap_link(pdirfd, pbase, target) != 0 || fsio_sync_fd(pdirfd) != 0)
		goto io_fail;
	rc = 1;
	goto out;
io_fail:
	rc = tl_fail_errno(op, "keep the certificate installed by hand for",
	    op->pointer);
out:
	tl_close_fd(vfd);
	for (i = 0; i < op->nmembers; i++)
		crypto_secret_free(old[i].data, old[i].len + 1);
	free(old);
	free(target);
	return rc;
}

void tl_install_run(struct op *op)
{
	char version[64], *prev = NULL, *cur = NULL, *text = NULL;
	char *target = NULL, *dest = NULL;
	const char *pbase, *keep = NULL, *pv;
	struct transport_undo *u = NULL;
	struct tl_dirty dirty;
	int rootfd, storefd = -1, pdirfd = -1, vfd = -1, i, rc;
	bool made = false;
	size_t k;

	/* Directories made or changed below are synced once, together,
	 * right before the switch that makes them reachable. */
	tl_dirty_init(&dirty);
	if ((rootfd = tl_open_root(op, "install", op->pointer)) < 0)
		return;
	op->dirty = &dirty;
	if ((storefd = tl_walk_dir(op, rootfd, op->store, NULL, true,
	    "install", op->store)) < 0 ||
	    (pdirfd = tl_walk_dir(op, rootfd, op->pointer, &pbase, true,
	    "install", op->pointer)) < 0)
		goto out;

	/* 1. What the pointer names now: the version a rollback restores. */
	if ((text = read_link(pdirfd, pbase)) != NULL) {
		if ((prev = tl_lex_join(op->pointer, text)) == NULL) {
			tl_fail(op, CF_EEXIST, "install", op->pointer, "it "
			    "names '%s', outside the server tree; remove it",
			    text);
			goto out;
		}
	} else if (errno == EINVAL) {
		tl_fail(op, CF_EEXIST, "install", op->pointer, "it exists and "
		    "is not a symlink made by certfleet; move it away");
		goto out;
	} else if (errno != ENOENT) {
		goto fail;
	}

	/* 2. The new version, complete and durable before anyone sees it. */
	for (i = 0, rc = -1; rc != 0 && i < TL_NAME_TRIES; i++) {
		transport_version_name(version, sizeof version);
		if ((rc = mkdirat(storefd, version, TL_DIR_MODE)) != 0 &&
		    errno != EEXIST)
			break;
	}
	if (rc != 0)
		goto fail;
	made = true;
	if ((vfd = openat(storefd, version, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) < 0 || fchmod(vfd, TL_DIR_MODE) != 0)
		goto fail;
	for (k = 0; k < op->nmembers; k++)
		if (fsio_write_new_at(vfd, op->members[k].name,
		    op->members[k].data, op->members[k].len,
		    op->members[k].mode) != 0)
			goto fail;
	if (tl_dirty_add(&dirty, vfd) != 0 ||
	    tl_dirty_add(&dirty, storefd) != 0)
		goto fail;
	if ((cur = path_join(op->store, version)) == NULL)
		goto fail;

	/* 3. First time: keep what was installed by hand. */
	if (prev == NULL && adopt(op, rootfd, storefd, pdirfd, pbase,
	    &prev) < 0)
		goto out;

	/* 4. The links, through the pointer; created once. */
	for (k = 0; k < op->nmembers; k++) {
		dest = path_join(op->pointer, op->members[k].name);
		if (dest == NULL)
			goto fail;
		if (ensure_link(op, rootfd, op->members[k].link, dest) != 0)
			goto out;
		free(dest);
		dest = NULL;
	}

	/* 5. The switch: one rename. The undo record is ready before it. */
	if ((target = tl_rel_target(op->pointer, cur)) == NULL ||
	    (u = calloc(1, sizeof *u)) == NULL ||
	    (u->links = calloc(op->nmembers + 1, sizeof *u->links)) == NULL ||
	    (u->store = strdup(op->store)) == NULL ||
	    (u->pointer = strdup(op->pointer)) == NULL)
		goto fail;
	for (k = 0; k < op->nmembers; k++)
		if ((u->links[k] = strdup(op->members[k].link)) == NULL)
			goto fail;
	/* The barrier: the version, its directories and the links. */
	if (tl_dirty_sync(&dirty) != 0 ||
	    swap_link(pdirfd, pbase, target) != 0)
		goto fail;
	u->current = cur;
	cur = NULL;
	u->previous = prev;
	prev = NULL;
	op->undo = u;
	u = NULL;
	made = false;
	if (fsio_sync_fd(pdirfd) != 0) {
		tl_fail(op, CF_EIO, "install", op->pointer, "switched, but "
		    "cannot sync its directory: %s", strerror(errno));
		goto out;
	}

	/* 6. Keep the new version and the one before it, nothing older. */
	pv = op->undo->previous;
	if (pv != NULL && strncmp(pv, op->store, strlen(op->store)) == 0 &&
	    pv[strlen(op->store)] == '/')
		keep = pv + strlen(op->store) + 1;
	prune(storefd, version, keep);
	goto out;

fail:
	/* errno says why: allocations set it too (ENOMEM). */
	tl_fail_errno(op, "install", op->pointer);
out:
	tl_dirty_release(&dirty);
	op->dirty = NULL;
	tl_close_fd(vfd);
	if (made && storefd >= 0)
		remove_version(storefd, version);
	tl_close_fd(pdirfd);
	tl_close_fd(storefd);
	close(rootfd);
	transport_undo_free(u);
	free(dest);
	free(target);
	free(text);
	free(cur);
	free(prev);
}

void tl_rollback_run(struct op *op)
{
	const struct transport_undo *u = op->in_undo;
	char *text = NULL, *now = NULL, *target = NULL;
	const char *pbase, *base;
	struct stat st;
	size_t sl, k;
	int rootfd, pdirfd = -1, storefd = -1, dfd;

	if ((rootfd = tl_open_root(op, "roll back", u->pointer)) < 0)
		return;
	if ((pdirfd = tl_walk_dir(op, rootfd, u->pointer, &pbase, false,
	    "roll back", u->pointer)) < 0)
		goto out;
	/* Only undo our own switch: another run may have switched since. */
	if ((text = read_link(pdirfd, pbase)) == NULL && errno == ENOENT &&
	    u->previous == NULL)
		goto drop;      /* rolled back to nothing already */
	if (text == NULL || (now = tl_lex_join(u->pointer, text)) == NULL ||
	    strcmp(now, u->current) != 0) {
		if (now != NULL && u->previous != NULL &&
		    strcmp(now, u->previous) == 0)
			goto drop;      /* rolled back already */
		tl_fail(op, CF_ETRANSPORT, "roll back", u->pointer, "it no "
		    "longer names the version this run installed");
		goto out;
	}
	if (u->previous != NULL) {
		if ((target = tl_rel_target(u->pointer, u->previous)) == NULL ||
		    swap_link(pdirfd, pbase, target) != 0 ||
		    fsio_sync_fd(pdirfd) != 0)
			goto fail;
	} else {
		/* Nothing was assigned before: back to nothing. */
		if (unlinkat(pdirfd, pbase, 0) != 0 && errno != ENOENT)
			goto fail;
		fsio_sync_fd(pdirfd);
		for (k = 0; u->links != NULL && u->links[k] != NULL; k++) {
			if ((dfd = tl_walk_dir(op, rootfd, u->links[k], &base,
			    false, "roll back", u->links[k])) < 0)
				goto out;
			if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				unlinkat(dfd, base, 0);
			fsio_sync_fd(dfd);
			close(dfd);
		}
	}
drop:
	/* The version this run made is no use any more. */
	sl = strlen(u->store);
	if (strncmp(u->current, u->store, sl) == 0 && u->current[sl] == '/' &&
	    strchr(u->current + sl + 1, '/') == NULL &&
	    (storefd = tl_walk_dir(op, rootfd, u->store, NULL, false,
	    "roll back", u->store)) >= 0) {
		remove_version(storefd, u->current + sl + 1);
		fsio_sync_fd(storefd);
	}
	goto out;
fail:
	tl_fail_errno(op, "roll back", u->pointer);
out:
	tl_close_fd(storefd);
	tl_close_fd(pdirfd);
	close(rootfd);
	free(target);
	free(now);
	free(text);
}
