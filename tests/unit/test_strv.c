/* strv_dup and strv_free: deep copies of NULL-ended string arrays. */
#include "tests/unit/unit.h"
#include "engine/base/strv.h"

#include <stdlib.h>
#include <string.h>

static void test_dup(void **state)
{
	char a[] = "/usr/sbin/nginx", b[] = "-s", c[] = "reload";
	char *v[] = { a, b, c, NULL }, **d;

	(void)state;
	d = strv_dup(v);
	assert_non_null(d);
	assert_string_equal(d[0], "/usr/sbin/nginx");
	assert_string_equal(d[1], "-s");
	assert_string_equal(d[2], "reload");
	assert_null(d[3]);
	/* A copy: the original may change or go. */
	assert_ptr_not_equal(d[0], a);
	a[0] = 'X';
	assert_string_equal(d[0], "/usr/sbin/nginx");
	strv_free(d);
}

static void test_empty_and_null(void **state)
{
	char *none[] = { NULL }, **d;

	(void)state;
	assert_null(strv_dup(NULL));
	d = strv_dup(none);
	assert_non_null(d);
	assert_null(d[0]);
	strv_free(d);
	strv_free(NULL);
}

/* Appending keeps the array NULL-ended, from nothing on. */
static void test_append(void **state)
{
	char **v = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(strv_append(&v, &n, "a"), 0);
	assert_int_equal(strv_append(&v, &n, "b"), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "b");
	assert_null(v[2]);
	strv_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dup),
		cmocka_unit_test(test_empty_and_null),
		cmocka_unit_test(test_append),
	};
	return cmocka_run_group_tests_name("strv", tests, NULL, NULL);
}
