/*
 * The usage table: the predefined three, names a fleet file may use, the
 * cap, and what the table says back (names, EKUs, the set of all).
 */
#include "tests/unit/unit.h"
#include "engine/base/reqspec.h"
#include "engine/base/usage.h"

#include <stdio.h>
#include <string.h>

static void test_predefined(void **state)
{
	struct usage_table t;

	(void)state;
	usage_table_init(&t);
	assert_int_equal(t.n, USAGE_PREDEFINED);
	assert_string_equal(usage_name(&t, USAGE_WS_EXTERNAL),
	    "webservices_external");
	assert_string_equal(usage_name(NULL, USAGE_DEFAULT), "default");
	assert_string_equal(usage_name(&t, 7), "unknown");
	assert_int_equal(usage_from_name(&t, "webservices_internal"),
	    USAGE_WS_INTERNAL);
	assert_int_equal(usage_from_name(&t, "smtp"), -1);
	assert_int_equal(usage_eku_needed(&t, USAGE_DEFAULT),
	    EKU_SERVER_AUTH | EKU_CLIENT_AUTH);
	assert_int_equal(usage_all(&t), USAGE_ALL_PREDEFINED);
	assert_ptr_equal(usage_table_builtin(), usage_table_builtin());
	assert_int_equal(usage_table_builtin()->n, USAGE_PREDEFINED);
}

static void test_names(void **state)
{
	char long33[34];

	(void)state;
	memset(long33, 'a', 33);
	long33[33] = '\0';
	assert_true(usage_name_valid("smtp"));
	assert_true(usage_name_valid("ldap_2"));
	assert_true(usage_name_valid(long33 + 1));
	assert_false(usage_name_valid(long33));
	assert_false(usage_name_valid(""));
	assert_false(usage_name_valid("Smtp"));
	assert_false(usage_name_valid("mail-relay"));
	assert_false(usage_name_valid("../x"));
	assert_false(usage_name_valid("a.b"));
}

static void test_add_and_cap(void **state)
{
	struct usage_table t;
	char name[16], text[2048];
	int i;

	(void)state;
	usage_table_init(&t);
	assert_int_equal(usage_table_add(&t, "smtp", EKU_SERVER_AUTH), 3);
	assert_int_equal(usage_table_add(&t, "Bad", 0), -2);
	/* A predefined name is overridden in place. */
	assert_int_equal(usage_table_add(&t, "default", EKU_CLIENT_AUTH),
	    USAGE_DEFAULT);
	assert_int_equal(usage_eku_needed(&t, USAGE_DEFAULT), EKU_CLIENT_AUTH);
	usage_names_text(&t, text, sizeof text);
	assert_string_equal(text, "default, webservices_internal, "
	    "webservices_external or smtp");
	for (i = 0; t.n < USAGE_CAP; i++) {
		int want = (int)t.n;

		snprintf(name, sizeof name, "u%d", i);
		assert_int_equal(usage_table_add(&t, name, 0), want);
	}
	assert_int_equal(usage_table_add(&t, "one_more", 0), -1);
	assert_int_equal(usage_all(&t), ~0u);
	assert_string_equal(usage_name(&t, USAGE_CAP - 1), name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_predefined),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_add_and_cap),
	};
	return cmocka_run_group_tests_name("usage", tests, NULL, NULL);
}
