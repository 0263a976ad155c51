/*
 * The journals of a state directory (see journal_set.h): found by their
 * directory names, opened in a fixed order, and asked per server which
 * one wrote to it last.
 */
#include "engine/journal/journal_set.h"
#include "engine/base/err.h"
#include "engine/base/path.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void journal_set_init(struct journal_set *js)
{
	js->v = NULL;
	js->n = 0;
}

void journal_set_release(struct journal_set *js)
{
	size_t i;

	for (i = 0; i < js->n; i++)
		if (js->v[i].owned) {
			journal_close(js->v[i].jr);
			free(js->v[i].jr);
		}
	free(js->v);
	journal_set_init(js);
}

static int by_shard(const void *a, const void *b)
{
	const struct shard *x = a, *y = b;

	if (x->n != y->n)
		return x->n < y->n ? -1 : 1;
	return (x->k > y->k) - (x->k < y->k);
}

/* Opens sh's journal when it exists, appending it to js. */
static int add(struct journal_set *js, const char *state_dir,
    const struct shard *sh, char *msg, size_t msgsz)
{
	struct journal_set_entry *e;
	char *dir = shard_state_dir(state_dir, sh), *db = NULL;
	int rc = 0;

	if (dir == NULL || (db = path_join(dir, JOURNAL_FILE)) == NULL) {
		rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
		goto out;
	}
	if (access(db, F_OK) != 0)
		goto out;
	e = &js->v[js->n];
	if ((e->jr = calloc(1, sizeof(*e->jr))) == NULL) {
		rc = cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = journal_open(e->jr, db, msg, msgsz)) != 0) {
		free(e->jr);
		goto out;
	}
	e->shard = *sh;
	e->owned = true;
	e->used = false;
	js->n++;
out:
	free(db);
	free(dir);
	return rc;
}

static int is_shard_dir(const struct dirent *de)
{
	struct shard sh;

	return shard_from_dirname(de->d_name, &sh);
}

/* The shards that have a directory under state_dir, sorted, into *out
 * (the caller frees it). A state directory without shards/ has none. */
static int shards_found(const char *state_dir, struct shard **out,
    size_t *n, char *msg, size_t msgsz)
{
	char *parent = path_join(state_dir, SHARD_PARENT);
	struct dirent **names = NULL;
	int i, count;

	*out = NULL;
	*n = 0;
	if (parent == NULL)
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	count = scandir(parent, &names, is_shard_dir, NULL);
	free(parent);
	if (count < 0)
		return errno == ENOENT ? 0 : cf_error(msg, msgsz,
		    cf_errno_code(errno), "cannot read '%s/%s': %s", state_dir,
		    SHARD_PARENT, strerror(errno));
	if ((*out = calloc((size_t)count + 1, sizeof(**out))) == NULL) {
		for (i = 0; i < count; i++)
			free(names[i]);
		free(names);
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	for (i = 0; i < count; i++) {
		shard_from_dirname(names[i]->d_name, &(*out)[i]);
		free(names[i]);
	}
	free(names);
	*n = (size_t)count;
	qsort(*out, *n, sizeof(**out), by_shard);
	return 0;
}

int journal_set_open(struct journal_set *js, const char *state_dir,
    const struct shard *one, char *msg, size_t msgsz)
{
	struct shard none = { 0, 0 }, *found = NULL;
	size_t i, nfound = 0;
	int rc;

	journal_set_init(js);
	if (one == NULL && (rc = shards_found(state_dir, &found, &nfound, msg,
	    msgsz)) != 0)
		return rc;
	if ((js->v = calloc(nfound + 1, sizeof(*js->v))) == NULL) {
		free(found);
		return cf_error(msg, msgsz, CF_ENOMEM, "out of memory");
	}
	rc = add(js, state_dir, one ? one : &none, msg, msgsz);
	for (i = 0; rc == 0 && i < nfound; i++)
		rc = add(js, state_dir, &found[i], msg, msgsz);
	free(found);
	if (rc != 0)
		journal_set_release(js);
	return rc;
}

int journal_set_borrow(struct journal_set *js, struct journal *jr)
{
	journal_set_init(js);
	if ((js->v = calloc(1, sizeof(*js->v))) == NULL)
		return CF_ENOMEM;
	js->v[0].jr = jr;
	js->n = 1;
	return 0;
}

/* When jr last wrote to server name: its servers row or its newest
 * request, whichever is later; 0 when it never has. */
static int last_write(struct journal *jr, const char *name, int64_t *at,
    char *msg, size_t msgsz)
{
	struct journal_server srv;
	struct journal_request rq;
	int rc;

	*at = 0;
	journal_server_init(&srv);
	journal_request_init(&rq);
	rc = journal_server_get(jr, name, &srv, msg, msgsz);
	if (rc == 0)
		*at = srv.updated_at;
	if (rc == 0 || rc == CF_ENOENT)
		rc = journal_request_latest(jr, name, &rq, msg, msgsz);
	if (rc == 0 && rq.updated_at > *at)
		*at = rq.updated_at;
	journal_request_release(&rq);
	journal_server_release(&srv);
	return rc == CF_ENOENT ? 0 : rc;
}

int journal_set_pick(struct journal_set *js, const char *name,
    struct journal **out, char *msg, size_t msgsz)
{
	int64_t at, best = 0;
	size_t i, pick = 0;
	int rc;

	*out = NULL;
	if (js->n == 1) {
		js->v[0].used = true;
		*out = js->v[0].jr;
		return 0;
	}
	for (i = 0; i < js->n; i++) {
		if ((rc = last_write(js->v[i].jr, name, &at, msg, msgsz)) != 0)
			return rc;
		if (at > 0 && at >= best) {
			best = at;
			pick = i;
		}
	}
	if (best > 0) {
		js->v[pick].used = true;
		*out = js->v[pick].jr;
	}
	return 0;
}

int journal_set_last_success(struct journal_set *js, int64_t *at,
    char *msg, size_t msgsz)
{
	int64_t t;
	size_t i;
	bool any = false;
	int rc;

	*at = 0;
	if (js->n == 1)
		return journal_last_success(js->v[0].jr, at, msg, msgsz);
	for (i = 0; i < js->n; i++) {
		if (!js->v[i].used)
			continue;
		if ((rc = journal_last_success(js->v[i].jr, &t, msg,
		    msgsz)) != 0)
			return rc;
		if (t == 0) {
			*at = 0;
			return 0;
		}
		if (!any || t < *at)
			*at = t;
		any = true;
	}
	return 0;
}
