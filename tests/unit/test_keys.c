/*
 * keys_sweep: a key stays while its request is open; a key of a closed
 * request and a temporary file a killed write left go; anything else in
 * the directory is not ours and stays.
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/journal/journal.h"
#include "engine/job/keys.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int64_t add(struct journal *j, const char *server, const char *state,
    int final)
{
	struct journal_request rq;
	char msg[256];
	int64_t id;

	journal_request_init(&rq);
	assert_int_equal(journal_strset(&rq.server, server), 0);
	assert_int_equal(journal_strset(&rq.state, state), 0);
	rq.final = final;
	assert_int_equal(journal_request_new(j, &rq, msg, sizeof msg), 0);
	id = rq.id;
	journal_request_release(&rq);
	return id;
}

static void touch(const char *dir, const char *name)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof p, "%s/%s", dir, name);
	assert_non_null(f = fopen(p, "w"));
	fclose(f);
}

static bool exists(const char *dir, const char *name)
{
	char p[512];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static void test_sweep(void **state)
{
	char dir[] = "/tmp/cf-keys-XXXXXX", keys[64], db[64], msg[256];
	char open_key[64], closed_key[64];
	struct journal j;
	int64_t open_id, closed_id;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(keys, sizeof keys, "%s/keys", dir);
	snprintf(db, sizeof db, "%s/journal.db", dir);
	assert_int_equal(mkdir(keys, 0700), 0);
	assert_int_equal(journal_open(&j, db, msg, sizeof msg), 0);
	open_id = add(&j, "web-01", "submit", 0);
	closed_id = add(&j, "web-01", "failed", 1);
	snprintf(open_key, sizeof open_key, "web-01-%lld.key",
	    (long long)open_id);
	snprintf(closed_key, sizeof closed_key, "web-01-%lld.key",
	    (long long)closed_id);
	touch(keys, open_key);
	touch(keys, closed_key);
	touch(keys, "web-02-999.key");
	touch(keys, ".web-01-7.key.0123456789abcdef.tmp");
	touch(keys, "README");
	touch(keys, "web-01-x1.key");
	assert_int_equal(keys_sweep(keys, &j, msg, sizeof msg), 0);
	assert_true(exists(keys, open_key));
	assert_false(exists(keys, closed_key));
	assert_false(exists(keys, "web-02-999.key"));
	assert_false(exists(keys, ".web-01-7.key.0123456789abcdef.tmp"));
	assert_true(exists(keys, "README"));
	assert_true(exists(keys, "web-01-x1.key"));
	/* A missing directory is nothing to sweep. */
	snprintf(db, sizeof db, "%s/none", dir);
	assert_int_equal(keys_sweep(db, &j, msg, sizeof msg), 0);
	journal_close(&j);
	snprintf(msg, sizeof msg, "rm -rf '%s'", dir);
	assert_int_equal(system(msg), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sweep),
	};
	return cmocka_run_group_tests_name("keys", tests, NULL, NULL);
}
