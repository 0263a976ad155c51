/*
 * Sweeping keys/ at the start of a run: one directory read and one query,
 * whatever the fleet's size.
 */
#include "engine/job/keys.h"
#include "engine/base/err.h"
#include "engine/base/str.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int id_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The request id of "<server>-<id>.key", or 0 when name is not a key. */
static int64_t key_id(const char *name)
{
	size_t n = strlen(name);
	const char *dash, *p;
	int64_t id = 0;

	if (n < 6 || strcmp(name + n - 4, ".key") != 0 ||
	    (dash = strrchr(name, '-')) == NULL || dash == name)
		return 0;
	for (p = dash + 1; p < name + n - 4; p++) {
		if (*p < '0' || *p > '9' || id > INT64_MAX / 10 - 1)
			return 0;
		id = id * 10 + (*p - '0');
	}
	return p == dash + 1 ? 0 : id;
}

/* A temporary file of fsio_write_atomic: ".<name>.<16 hex>.tmp". */
static int is_temporary(const char *name)
{
	size_t n = strlen(name);

	return name[0] == '.' && n > 5 && strcmp(name + n - 4, ".tmp") == 0;
}

int keys_sweep(const char *dir, struct journal *jr, char *msg,
    size_t msgsz)
{
	int64_t *ids = NULL, id;
	struct dirent *de;
	size_t n = 0;
	char *path;
	DIR *d;
	int rc;

	if ((rc = journal_open_ids(jr, &ids, &n, msg, msgsz)) != 0)
		return rc;
	if ((d = opendir(dir)) == NULL) {
		free(ids);
		return errno == ENOENT ? 0 : cf_error(msg, msgsz, CF_EIO,
		    "cannot read '%s': %s", dir, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		id = key_id(de->d_name);
		if (!is_temporary(de->d_name) && (id == 0 || (n > 0 &&
		    bsearch(&id, ids, n, sizeof(*ids), id_cmp) != NULL)))
			continue;
		if ((path = cf_asprintf("%s/%s", dir, de->d_name)) != NULL)
			unlink(path);
		free(path);
	}
	closedir(d);
	free(ids);
	return 0;
}
