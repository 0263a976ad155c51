/* Template variable maps and "{{...}}" expansion. */
#include "tests/unit/unit.h"
#include "engine/base/err.h"
#include "engine/base/path.h"
#include "inventory/vars.h"

#include <stdlib.h>
#include <string.h>

static const char *lookup(void *ctx, const char *name)
{
	return vars_get(ctx, name);
}

static void test_map(void **state)
{
	struct vars vs;

	(void)state;
	vars_init(&vs);
	assert_int_equal(vars_set(&vs, "site", "ams"), 0);
	assert_int_equal(vars_set(&vs, "rack", "1"), 0);
	assert_int_equal(vars_set(&vs, "site", "lon"), 0);
	assert_int_equal(vs.n, 2);
	assert_string_equal(vars_get(&vs, "site"), "lon");
	assert_null(vars_get(&vs, "nope"));
	vars_release(&vs);
	assert_true(vars_key_valid("site_2"));
	assert_true(vars_key_valid("_x"));
	assert_false(vars_key_valid("2x"));
	assert_false(vars_key_valid("a-b"));
	assert_false(vars_key_valid(""));
}

static void test_expand(void **state)
{
	struct vars vs;
	char *out = NULL, msg[256];

	(void)state;
	vars_init(&vs);
	vars_set(&vs, "name", "fe01");
	vars_set(&vs, "vars.site", "ams");
	assert_int_equal(vars_expand("DNS:{{name}}.{{ vars.site }}.test",
	    lookup, &vs, &out, msg, sizeof msg), 0);
	assert_string_equal(out, "DNS:fe01.ams.test");
	free(out);
	assert_int_equal(vars_expand("plain", lookup, &vs, &out, msg,
	    sizeof msg), 0);
	assert_string_equal(out, "plain");
	free(out);
	assert_int_equal(vars_expand("{{name}}{{name}}{{name}}{{name}}",
	    lookup, &vs, &out, msg, sizeof msg), 0);
	assert_string_equal(out, "fe01fe01fe01fe01");
	free(out);
	assert_int_equal(vars_expand("{{vars.rack}}", lookup, &vs, &out, msg,
	    sizeof msg), CF_ENOENT);
	assert_string_equal(msg, "template variable 'vars.rack' is not defined");
	assert_int_equal(vars_expand("{{name", lookup, &vs, &out, msg,
	    sizeof msg), CF_EINVAL);
	assert_string_equal(msg, "unclosed '{{' in '{{name'");
	assert_int_equal(vars_expand("name}}", lookup, &vs, &out, msg,
	    sizeof msg), CF_EINVAL);
	assert_int_equal(vars_expand("{{ }}", lookup, &vs, &out, msg,
	    sizeof msg), CF_EINVAL);
	assert_int_equal(vars_expand("{{$(id)}}", lookup, &vs, &out, msg,
	    sizeof msg), CF_EINVAL);
	vars_release(&vs);
}

static void test_paths(void **state)
{
	char *p;

	(void)state;
	p = path_join("examples", "state");
	assert_string_equal(p, "examples/state");
	free(p);
	p = path_join("examples/", "/abs");
	assert_string_equal(p, "/abs");
	free(p);
	p = path_dirname("examples/fleet.cfg");
	assert_string_equal(p, "examples");
	free(p);
	p = path_dirname("fleet.cfg");
	assert_string_equal(p, ".");
	free(p);
	p = path_dirname("/fleet.cfg");
	assert_string_equal(p, "/");
	free(p);
	assert_true(path_is_confined("etc/ssl/certs"));
	assert_true(path_is_confined("/etc/ssl/certs"));
	assert_true(path_is_confined("a..b/c"));
	assert_false(path_is_confined("../etc"));
	assert_false(path_is_confined("etc/../../x"));
	assert_false(path_is_confined("etc/.."));
	assert_false(path_is_confined("etc/a\nb"));
	assert_false(path_is_confined(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map),
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_paths),
	};
	return cmocka_run_group_tests_name("vars", tests, NULL, NULL);
}
