/* Report formatting: the JSON schema, the summary, the table, exit status. */
#include "tests/unit/unit.h"
#include "engine/report/report.h"
#include "engine/base/usage.h"

#include <stdlib.h>
#include <string.h>

/* Builds the demo's shape: an assigned server, one lacking its
 * intermediate, one denied, one up to date. */
static void fill(struct report *r)
{
	struct report_row *row;

	assert_int_equal(report_init(r, "contoso-pool", "run", 1764072000), 0);
	r->duration_ms = 1234;
	row = report_add(r, "fe01");
	row->status = REPORT_ASSIGNED;
	strcpy(row->thumbprint, "2E09AB6748856A723FE48A1F19F6197DAC975A9E");
	strcpy(row->sha256, "417864E3");
	row->not_after = 1771848000;
	row->chain.status = CHAIN_OK;
	row->usages = USAGE_ALL_PREDEFINED;
	report_row_set(&row->ca_status, "issued");

	row = report_add(r, "fe06");
	row->status = REPORT_ISSUED;
	strcpy(row->thumbprint, "D153E8425D81914A1FA130FA715118CDDCB50847");
	row->chain.status = CHAIN_MISSING_CA;
	row->chain.missing = calloc(1, sizeof(*row->chain.missing));
	row->chain.nmissing = 1;
	row->chain.missing[0].kind = CHAIN_KIND_INTERMEDIATE;
	row->chain.missing[0].subject = strdup("CN=contoso-pool Issuing CA");
	row->chain.missing[0].reason = strdup("absent");
	strcpy(row->chain.missing[0].sha1,
	    "AAAABBBBCCCCDDDDEEEEFFFF0000111122223333");

	row = report_add(r, "fe07");
	row->status = REPORT_DENIED;
	report_row_set(&row->ca_status, "denied");
	report_row_set(&row->error,
	    "SAN 'DNS:evil.example' is outside allowed_domains");

	row = report_add(r, "fe08");
	row->status = REPORT_UP_TO_DATE;
	row->chain.status = CHAIN_OK;
	row->usages = 1u << USAGE_DEFAULT;
}

static void test_json_schema(void **state)
{
	struct report r;
	json_t *j, *s, *row;

	(void)state;
	fill(&r);
	j = report_to_json(&r);
	assert_non_null(j);
	assert_string_equal(json_object_iter_key(json_object_iter(j)),
	    "schema_version");
	assert_int_equal(json_integer_value(json_object_get(j,
	    "schema_version")), REPORT_SCHEMA_VERSION);
	assert_string_equal(json_string_value(json_object_get(j, "fleet")),
	    "contoso-pool");
	assert_string_equal(json_string_value(json_object_get(j, "command")),
	    "run");
	assert_string_equal(json_string_value(json_object_get(j,
	    "started_at")), "2025-11-25T12:00:00Z");
	assert_int_equal(json_integer_value(json_object_get(j,
	    "duration_ms")), 1234);
	s = json_object_get(j, "summary");
	assert_int_equal(json_integer_value(json_object_get(s, "servers")), 4);
	assert_int_equal(json_integer_value(json_object_get(s, "assigned")), 1);
	assert_int_equal(json_integer_value(json_object_get(s, "issued")), 1);
	assert_int_equal(json_integer_value(json_object_get(s, "denied")), 1);
	assert_int_equal(json_integer_value(json_object_get(s,
	    "up_to_date")), 1);
	assert_int_equal(json_integer_value(json_object_get(s,
	    "missing_ca")), 1);
	assert_int_equal(json_integer_value(json_object_get(s, "failed")), 0);
	assert_int_equal(json_integer_value(json_object_get(s, "pending")), 0);

	row = json_array_get(json_object_get(j, "servers"), 0);
	assert_string_equal(json_string_value(json_object_get(row, "status")),
	    "assigned");
	assert_int_equal(strlen(json_string_value(json_object_get(row,
	    "thumbprint"))), 40);
	assert_string_equal(json_string_value(json_object_get(row,
	    "not_after")), "2026-02-23T12:00:00Z");
	assert_int_equal(json_array_size(json_object_get(row, "usages")), 3);
	assert_true(json_is_null(json_object_get(row, "error")));

	row = json_array_get(json_object_get(j, "servers"), 1);
	s = json_object_get(row, "chain");
	assert_string_equal(json_string_value(json_object_get(s, "status")),
	    "missing_ca");
	s = json_array_get(json_object_get(s, "missing"), 0);
	assert_string_equal(json_string_value(json_object_get(s, "kind")),
	    "intermediate");
	assert_string_equal(json_string_value(json_object_get(s, "subject")),
	    "CN=contoso-pool Issuing CA");
	assert_int_equal(strlen(json_string_value(json_object_get(s,
	    "sha1"))), 40);
	assert_true(json_is_null(json_object_get(row, "not_after")));
	assert_true(json_is_null(json_object_get(row, "sha256")));

	row = json_array_get(json_object_get(j, "servers"), 2);
	assert_true(json_is_null(json_object_get(row, "thumbprint")));
	assert_string_equal(json_string_value(json_object_get(
	    json_object_get(row, "chain"), "status")), "unknown");
	assert_string_equal(json_string_value(json_object_get(row, "error")),
	    "SAN 'DNS:evil.example' is outside allowed_domains");
	json_decref(j);
	report_release(&r);
}

static void test_exit_status(void **state)
{
	struct report r;
	struct report_row *row;

	(void)state;
	fill(&r);
	assert_int_equal(report_exit_status(&r), 1);
	report_release(&r);

	assert_int_equal(report_init(&r, "f", "run", 0), 0);
	assert_int_equal(report_exit_status(&r), 0);
	row = report_add(&r, "a");
	row->status = REPORT_UP_TO_DATE;
	row = report_add(&r, "b");
	row->status = REPORT_PENDING;
	/* Pending is not a failure: cron will collect it next time. */
	assert_int_equal(report_exit_status(&r), 0);
	row = report_add(&r, "c");
	row->status = REPORT_ASSIGN_FAILED;
	assert_int_equal(report_exit_status(&r), 1);
	report_release(&r);
}

static char *table(const struct report *r, bool quiet)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(report_write_table(r, f, quiet), 0);
	fclose(f);
	return buf;
}

static void test_table(void **state)
{
	struct report r;
	char *t;

	(void)state;
	fill(&r);
	t = table(&r, false);
	assert_non_null(strstr(t, "SERVER  STATUS"));
	assert_non_null(strstr(t, "fe01    assigned       "
	    "2E09AB6748856A723FE48A1F19F6197DAC975A9E  ok          "
	    "default,webservices_internal,webservices_external\n"));
	assert_non_null(strstr(t, "missing intermediate CA "
	    "'CN=contoso-pool Issuing CA'"));
	assert_non_null(strstr(t, "import it, then run certfleet assign"));
	assert_non_null(strstr(t, "is outside allowed_domains"));
	assert_non_null(strstr(t, "4 servers: 1 assigned, 1 up to date, "
	    "1 issued (1 lacking a CA), 0 pending, 1 denied, 0 failed\n"));
	free(t);

	/* Quiet (cron): only what needs a person, and the summary. */
	t = table(&r, true);
	assert_null(strstr(t, "SERVER"));
	assert_null(strstr(t, "fe01"));
	assert_null(strstr(t, "fe08"));
	assert_non_null(strstr(t, "fe06"));
	assert_non_null(strstr(t, "fe07"));
	assert_non_null(strstr(t, "4 servers:"));
	free(t);
	report_release(&r);
}

static void test_status_names(void **state)
{
	(void)state;
	assert_string_equal(report_status_name(REPORT_WOULD_ISSUE),
	    "would_issue");
	assert_string_equal(report_status_name(REPORT_ASSIGN_FAILED),
	    "assign_failed");
	assert_string_equal(report_status_name(REPORT_STATUS_MAX), "unknown");
}

/* A row read back from a journal whose usages hold something else than
 * names: the names are kept, the rest skipped. */
static void test_row_from_json_odd_usages(void **state)
{
	struct report r;
	struct report_row *row;
	json_t *o;

	(void)state;
	assert_int_equal(report_init(&r, "contoso-pool", "status", 0), 0);
	row = report_add(&r, "fe01");
	assert_non_null(row);
	o = json_pack("{s:s, s:[i, s, n, s]}", "status", "assigned", "usages",
	    7, "default", "nosuch");
	assert_non_null(o);
	assert_int_equal(report_row_from_json(NULL, row, o), 0);
	assert_int_equal(row->usages, 1u << USAGE_DEFAULT);
	json_decref(o);
	report_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_schema),
		cmocka_unit_test(test_exit_status),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_status_names),
		cmocka_unit_test(test_row_from_json_odd_usages),
	};
	return cmocka_run_group_tests_name("report", tests, NULL, NULL);
}
