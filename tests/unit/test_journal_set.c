/*
 * The journals of a state directory read at once: which ones are found
 * (the unsharded one and each shard's, nothing else), in which order,
 * which one a server is read from (the one that wrote to it last), and
 * what the whole set's last success is. Real SQLite files in a fresh
 * mkdtemp directory; the times are set with SQL so that no test waits
 * for the clock.
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/base/fsio.h"
#include "engine/journal/journal_set.h"

#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	strcpy(fx->dir, "/tmp/cf-jset-XXXXXX");
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

	nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static void sql(struct journal *j, const char *s)
{
	assert_int_equal(sqlite3_exec(j->db, s, NULL, NULL, NULL), SQLITE_OK);
}

/* Opens (creating) the journal at dir/sub/journal.db. */
static void open_at(struct journal *j, const char *dir, const char *sub)
{
	char path[256], msg[256];

	snprintf(path, sizeof path, "%s/%s/journal.db", dir, sub);
	assert_int_equal(journal_open(j, path, msg, sizeof msg), 0);
}

/* A servers row for name, written at time at. */
static void server_at(struct journal *j, const char *name, int64_t at)
{
	struct journal_server s;
	char msg[256], q[256];

	journal_server_init(&s);
	s.name = strdup(name);
	s.command = strdup("run");
	s.status = strdup("assigned");
	s.report = strdup("{}");
	assert_int_equal(journal_server_save(j, &s, msg, sizeof msg), 0);
	journal_server_release(&s);
	snprintf(q, sizeof q, "UPDATE servers SET updated_at = %lld WHERE "
	    "name = '%s'", (long long)at, name);
	sql(j, q);
}

/* A request for name, last written at time at. */
static void request_at(struct journal *j, const char *name, int64_t at)
{
	struct journal_request rq;
	char msg[256], q[256];

	journal_request_init(&rq);
	assert_int_equal(journal_strset(&rq.server, name), 0);
	assert_int_equal(journal_strset(&rq.state, "pending"), 0);
	assert_int_equal(journal_request_new(j, &rq, msg, sizeof msg), 0);
	journal_request_release(&rq);
	snprintf(q, sizeof q, "UPDATE requests SET updated_at = %lld WHERE "
	    "server = '%s'", (long long)at, name);
	sql(j, q);
}

/* A run that exited code and finished at time at. */
static void run_at(struct journal *j, int code, int64_t at)
{
	char msg[256], q[128];
	int64_t id;

	assert_int_equal(journal_run_begin(j, "run", &id, msg, sizeof msg), 0);
	assert_int_equal(journal_run_end(j, id, code, msg, sizeof msg), 0);
	snprintf(q, sizeof q, "UPDATE runs SET finished_at = %lld WHERE "
	    "id = %lld", (long long)at, (long long)id);
	sql(j, q);
}

static size_t index_of(const struct journal_set *js, const struct journal *j)
{
	size_t i;

	for (i = 0; i < js->n; i++)
		if (js->v[i].jr == j)
			return i;
	fail_msg("journal not in the set");
	return 0;
}

/*
 * The state directory of a fleet that ran unsharded, then in 2 shards:
 * web01 moved on to shard 1 of 2, web02 was last seen unsharded, web03's
 * newest record is a request of shard 2 of 2. Directories that are not
 * shards, and a shard that never made a journal, are ignored.
 */
static void make_state(const char *dir)
{
	struct journal u, a, b;
	char path[256], msg[256];

	open_at(&u, dir, "state");
	open_at(&a, dir, "state/shards/1-of-2");
	open_at(&b, dir, "state/shards/2-of-2");
	server_at(&u, "web01", 100);
	server_at(&a, "web01", 200);
	server_at(&u, "web02", 150);
	server_at(&u, "web03", 50);
	request_at(&b, "web03", 300);
	run_at(&u, 0, 1000);
	run_at(&a, 0, 2000);
	run_at(&b, 1, 3000);
	journal_close(&u);
	journal_close(&a);
	journal_close(&b);
	snprintf(path, sizeof path, "%s/state/shards/1-of-3", dir);
	assert_int_equal(fsio_mkdirs(path, 0700, msg, sizeof msg), 0);
	snprintf(path, sizeof path, "%s/state/shards/01-of-2", dir);
	assert_int_equal(fsio_mkdirs(path, 0700, msg, sizeof msg), 0);
	/* Not a journal at all: opening it would fail the whole set. */
	snprintf(path, sizeof path, "%s/state/shards/junk", dir);
	assert_int_equal(fsio_mkdirs(path, 0700, msg, sizeof msg), 0);
	snprintf(path, sizeof path, "%s/state/shards/junk/journal.db", dir);
	assert_int_equal(fsio_write_atomic(path, "x", 1, 0600, msg,
	    sizeof msg), 0);
}

static void test_all(void **state)
{
	struct fx *fx = *state;
	struct journal_set js;
	struct journal *j;
	char sd[128], msg[256];
	int64_t at;

	make_state(fx->dir);
	snprintf(sd, sizeof sd, "%s/state", fx->dir);
	assert_int_equal(journal_set_open(&js, sd, NULL, msg, sizeof msg), 0);
	assert_int_equal(js.n, 3);
	assert_int_equal(js.v[0].shard.n, 0);
	assert_int_equal(js.v[1].shard.k, 1);
	assert_int_equal(js.v[1].shard.n, 2);
	assert_int_equal(js.v[2].shard.k, 2);
	/* Nothing picked yet: no part of the fleet showing has succeeded. */
	assert_int_equal(journal_set_last_success(&js, &at, msg, sizeof msg),
	    0);
	assert_int_equal(at, 0);
	assert_int_equal(journal_set_pick(&js, "web01", &j, msg, sizeof msg),
	    0);
	assert_int_equal(index_of(&js, j), 1);
	assert_int_equal(journal_set_pick(&js, "web02", &j, msg, sizeof msg),
	    0);
	assert_int_equal(index_of(&js, j), 0);
	/* The oldest success of the journals shown: the unsharded one. */
	assert_int_equal(journal_set_last_success(&js, &at, msg, sizeof msg),
	    0);
	assert_int_equal(at, 1000);
	assert_int_equal(journal_set_pick(&js, "web03", &j, msg, sizeof msg),
	    0);
	assert_int_equal(index_of(&js, j), 2);
	/* Shard 2 of 2 never exited 0: the fleet has not succeeded. */
	assert_int_equal(journal_set_last_success(&js, &at, msg, sizeof msg),
	    0);
	assert_int_equal(at, 0);
	assert_int_equal(journal_set_pick(&js, "nobody", &j, msg, sizeof msg),
	    0);
	assert_null(j);
	journal_set_release(&js);
	journal_set_release(&js);
}

static void test_one(void **state)
{
	struct fx *fx = *state;
	struct shard two = { 2, 2 }, none = { 0, 0 }, missing = { 1, 3 };
	struct journal_set js;
	struct journal *j;
	char sd[128], msg[256];
	int64_t at;

	make_state(fx->dir);
	snprintf(sd, sizeof sd, "%s/state", fx->dir);
	assert_int_equal(journal_set_open(&js, sd, &two, msg, sizeof msg), 0);
	assert_int_equal(js.n, 1);
	assert_int_equal(js.v[0].shard.k, 2);
	/* One journal is the answer for every server, unread. */
	assert_int_equal(journal_set_pick(&js, "web01", &j, msg, sizeof msg),
	    0);
	assert_ptr_equal(j, js.v[0].jr);
	assert_int_equal(journal_set_last_success(&js, &at, msg, sizeof msg),
	    0);
	assert_int_equal(at, 0);
	journal_set_release(&js);
	assert_int_equal(journal_set_open(&js, sd, &none, msg, sizeof msg), 0);
	assert_int_equal(js.n, 1);
	assert_int_equal(js.v[0].shard.n, 0);
	assert_int_equal(journal_set_last_success(&js, &at, msg, sizeof msg),
	    0);
	assert_int_equal(at, 1000);
	journal_set_release(&js);
	/* A shard that never ran has no journal, and none is made. */
	assert_int_equal(journal_set_open(&js, sd, &missing, msg, sizeof msg),
	    0);
	assert_int_equal(js.n, 0);
	journal_set_release(&js);
	snprintf(sd, sizeof sd, "%s/state/shards/1-of-3/journal.db", fx->dir);
	assert_int_equal(access(sd, F_OK), -1);
}

static void test_empty_and_borrowed(void **state)
{
	struct fx *fx = *state;
	struct journal_set js;
	struct journal own, *j;
	char sd[128], msg[256];
	int64_t at;

	/* No state directory yet: nothing, and nothing made. */
	snprintf(sd, sizeof sd, "%s/state", fx->dir);
	assert_int_equal(journal_set_open(&js, sd, NULL, msg, sizeof msg), 0);
	assert_int_equal(js.n, 0);
	assert_int_equal(journal_set_pick(&js, "web01", &j, msg, sizeof msg),
	    0);
	assert_null(j);
	assert_int_equal(journal_set_last_success(&js, &at, msg, sizeof msg),
	    0);
	assert_int_equal(at, 0);
	journal_set_release(&js);
	assert_int_equal(access(sd, F_OK), -1);
	/* A run's own journal, borrowed: the release leaves it open. */
	open_at(&own, fx->dir, "state");
	assert_int_equal(journal_set_borrow(&js, &own), 0);
	assert_int_equal(journal_set_pick(&js, "web01", &j, msg, sizeof msg),
	    0);
	assert_ptr_equal(j, &own);
	journal_set_release(&js);
	run_at(&own, 0, 500);
	journal_close(&own);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_borrowed, setup,
		    teardown),
	};
	return cmocka_run_group_tests_name("journal_set", tests, NULL, NULL);
}
