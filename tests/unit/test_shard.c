/*
 * --shard: the hash on fixed vectors (FNV-1a 64's published ones, and the
 * server names the README shows), the K/N syntax, one shard per server,
 * and the directory names a shard's state lives under.
 */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/base/shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_hash_vectors(void **state)
{
	(void)state;
	/* FNV-1a 64's offset basis, and the reference implementation's
	 * vectors. */
	assert_true(shard_hash("") == 0xcbf29ce484222325ULL);
	assert_true(shard_hash("a") == 0xaf63dc4c8601ec8cULL);
	assert_true(shard_hash("foobar") == 0x85944171f73967e8ULL);
	/* Server names: the README's table. */
	assert_true(shard_hash("web01") == 0x6613be2e090dbca6ULL);
	assert_true(shard_hash("web02") == 0x6613bd2e090dbaf3ULL);
	assert_true(shard_hash("db01") == 0x7b7900672ab153a8ULL);
	/* Bytes, not characters: UTF-8 "café" hashes its five bytes. */
	assert_true(shard_hash("caf\xc3\xa9") == 0x48e8823acfa40d89ULL);
}

static void test_has(void **state)
{
	struct shard s3 = { 3, 4 }, s4 = { 4, 4 }, s1 = { 1, 4 };
	struct shard none = { 0, 0 };

	(void)state;
	/* web01 % 4 = 2: shard 3; web02 % 4 = 3: shard 4; db01: shard 1. */
	assert_true(shard_has(&s3, "web01"));
	assert_false(shard_has(&s4, "web01"));
	assert_true(shard_has(&s4, "web02"));
	assert_true(shard_has(&s1, "db01"));
	assert_true(shard_has(&none, "web01"));
}

/* Every name in exactly one shard of N, whatever N. */
static void test_partition(void **state)
{
	unsigned n, k, in;
	struct shard sh;
	char name[32];
	int i;

	(void)state;
	for (n = 1; n <= 9; n++)
		for (i = 0; i < 500; i++) {
			snprintf(name, sizeof name, "srv%05d", i);
			for (in = 0, k = 1; k <= n; k++) {
				sh.k = k;
				sh.n = n;
				in += shard_has(&sh, name);
			}
			assert_int_equal(in, 1);
		}
}

static void test_parse(void **state)
{
	static const struct {
		const char *text;
		unsigned k, n;
	} good[] = {
		{ "1/1", 1, 1 }, { "1/4", 1, 4 }, { "4/4", 4, 4 },
		{ "10/12", 10, 12 }, { "10000/10000", 10000, 10000 },
	};
	static const char *const bad[] = {
		"", "/", "1", "1/", "/4", "0/4", "5/4", "1/0", "01/4", "1/04",
		"-1/4", "+1/4", "1/-4", " 1/4", "1/4 ", "1 /4", "1/4x", "1/4/8",
		"1.0/4", "a/b", "1-of-4", "1/10001", "10001/10001",
		"99999999999999999999/1",
	};
	struct shard sh;
	char msg[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		assert_int_equal(shard_parse(good[i].text, &sh, msg,
		    sizeof msg), 0);
		assert_int_equal(sh.k, good[i].k);
		assert_int_equal(sh.n, good[i].n);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		msg[0] = '\0';
		if (shard_parse(bad[i], &sh, msg, sizeof msg) != CF_EINVAL)
			fail_msg("--shard '%s' was accepted", bad[i]);
		assert_int_equal(sh.n, 0);
		assert_non_null(strstr(msg, "--shard '"));
	}
	assert_int_equal(shard_parse("5/4", &sh, msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "--shard '5/4': shard 5 of 4 does not exist "
	    "(K goes from 1 to N)");
	assert_int_equal(shard_parse("01/4", &sh, msg, sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "--shard '01/4' must be K/N: two whole "
	    "numbers from 1 to 10000, without sign or leading zero, as in 1/4");
}

static void test_dirs(void **state)
{
	struct shard sh = { 2, 4 }, none = { 0, 0 }, got;
	char *d;

	(void)state;
	d = shard_state_dir("/var/lib/certfleet", &sh);
	assert_string_equal(d, "/var/lib/certfleet/shards/2-of-4");
	free(d);
	d = shard_state_dir("state", &none);
	assert_string_equal(d, "state");
	free(d);
	assert_true(shard_from_dirname("2-of-4", &got));
	assert_int_equal(got.k, 2);
	assert_int_equal(got.n, 4);
	assert_true(shard_from_dirname("10000-of-10000", &got));
	assert_false(shard_from_dirname("5-of-4", &got));
	assert_false(shard_from_dirname("02-of-4", &got));
	assert_false(shard_from_dirname("2-of-4.tmp", &got));
	assert_false(shard_from_dirname("2/4", &got));
	assert_false(shard_from_dirname(".", &got));
	assert_false(shard_from_dirname("", &got));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_vectors),
		cmocka_unit_test(test_has),
		cmocka_unit_test(test_partition),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_dirs),
	};
	return cmocka_run_group_tests_name("shard", tests, NULL, NULL);
}
