/*
 * cf_asprintf and cf_vasprintf: the string is exactly what printf would
 * print, however long, and a format that cannot be printed gives NULL
 * rather than a short or unterminated string. ASan checks the sizes.
 */
#include "tests/unit/unit.h"
#include "engine/base/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static void test_formats(void **state)
{
	char *s;

	(void)state;
	s = cf_asprintf("%s/.certfleet/keys/%s-%lld.key", "certs", "web01",
	    42LL);
	assert_non_null(s);
	assert_string_equal(s, "certs/.certfleet/keys/web01-42.key");
	free(s);
	s = cf_asprintf("%s", "");
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);
	s = cf_asprintf("%d%%", -7);
	assert_non_null(s);
	assert_string_equal(s, "-7%");
	free(s);
}

/* The bug of issue 9 defect 1: a 64-character server name after a path,
 * where the old buffer had room for 64 bytes in all. */
static void test_long_name(void **state)
{
	char name[65], want[256], *s;

	(void)state;
	memset(name, 'a', 64);
	name[64] = '\0';
	snprintf(want, sizeof want, "certs/.certfleet/keys/%s-123456789.key",
	    name);
	s = cf_asprintf("%s/.certfleet/keys/%s-%lld.key", "certs", name,
	    123456789LL);
	assert_non_null(s);
	assert_int_equal(strlen(s), strlen(want));
	assert_string_equal(s, want);
	free(s);
}

static void test_large(void **state)
{
	char *s;

	(void)state;
	s = cf_asprintf("<%*s>", 1 << 20, "x");
	assert_non_null(s);
	assert_int_equal(strlen(s), (1 << 20) + 2);
	assert_int_equal(s[0], '<');
	assert_int_equal(s[1 << 20], 'x');
	assert_int_equal(s[(1 << 20) + 1], '>');
	free(s);
}

static char *via_va(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *via_va(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cf_vasprintf(fmt, ap);
	va_end(ap);
	return s;
}

/* The va_list is formatted twice (measure, then write): both passes must
 * see every argument. */
static void test_va(void **state)
{
	char *s;

	(void)state;
	s = via_va("%s=%d;%s=%zu", "a", 1, "bb", (size_t)22);
	assert_non_null(s);
	assert_string_equal(s, "a=1;bb=22");
	free(s);
}

/* vsnprintf fails (a wide character the C locale cannot print: EILSEQ):
 * NULL, nothing leaked. (A result longer than INT_MAX, EOVERFLOW, takes
 * glibc seconds to count, so it is not tried here.) */
static void test_unprintable(void **state)
{
	static const wchar_t bad[] = { 0xe9, 0 };

	(void)state;
	assert_null(cf_asprintf("name %ls", bad));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_formats),
		cmocka_unit_test(test_long_name),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_va),
		cmocka_unit_test(test_unprintable),
	};
	return cmocka_run_group_tests_name("str", tests, NULL, NULL);
}
