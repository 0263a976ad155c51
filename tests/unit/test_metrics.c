/*
 * Metrics rendering: label escaping, and the shape of the text exposition
 * format (HELP and TYPE before each family's samples, one family's samples
 * together, every sample NAME{LABELS} VALUE, a newline at the end). The
 * integration test runs promtool on real runs' files.
 */
#include "tests/unit/unit.h"
#include "engine/base/usage.h"
#include "engine/report/metrics.h"

#include <stdlib.h>
#include <string.h>

static char *label_of(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	metrics_write_label(f, s);
	fclose(f);
	return buf;
}

static void test_label_escaping(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "web01", "web01" },
		{ "", "" },
		{ "a\"b", "a\\\"b" },
		{ "a\\b", "a\\\\b" },
		{ "a\nb", "a\\nb" },
		{ "\\\"\n", "\\\\\\\"\\n" },
		/* Only those three: tabs, braces and commas stay as they are. */
		{ "a\tb{c},d=e", "a\tb{c},d=e" },
	};
	size_t i;
	char *got;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		got = label_of(cases[i].in);
		assert_string_equal(got, cases[i].out);
		free(got);
	}
}

/* Gives row a verdict of status listing n CAs (intermediates; root for
 * the last one when last_root). */
static void lacks(struct report_row *row, enum chain_status st, size_t n,
    int last_root)
{
	row->chain.status = st;
	row->chain.missing = calloc(n, sizeof(*row->chain.missing));
	assert_non_null(row->chain.missing);
	row->chain.nmissing = n;
	while (n-- > 0)
		row->chain.missing[n].kind = CHAIN_KIND_INTERMEDIATE;
	if (last_root)
		row->chain.missing[row->chain.nmissing - 1].kind =
		    CHAIN_KIND_ROOT;
}

/* A fleet with a hostile server name (the fleet file refuses such names,
 * the renderer must not rely on it), one lacking CAs, one failed. */
static void fill(struct report *r, struct metrics_cert *certs)
{
	struct report_row *row;

	assert_int_equal(report_init(r, "pool\"1", "run", 1764072000), 0);
	r->duration_ms = 1234;
	row = report_add(r, "we\"b\\01\n");
	row->status = REPORT_ASSIGNED;
	row->not_after = 1771848000;
	row->usages = USAGE_ALL_PREDEFINED;
	certs[0].usages = USAGE_ALL_PREDEFINED;
	certs[0].not_after = 1771848000;

	row = report_add(r, "fe06");
	row->status = REPORT_ISSUED;
	lacks(row, CHAIN_MISSING_CA, 3, 1);
	/* Holds an older certificate, for the default usage only. */
	certs[1].usages = 1u << USAGE_DEFAULT;
	certs[1].not_after = 1700000000;

	row = report_add(r, "fe07");
	row->status = REPORT_FAILED;
	/* An ok verdict's notes are no missing CA. */
	lacks(row, CHAIN_OK, 1, 0);
}

static char *render(const struct report *r, const struct metrics_cert *c,
    const struct metrics_run *run)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(metrics_write(r, c, run, f), 0);
	fclose(f);
	return buf;
}

/* True when text holds line as a whole line. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
	return 0;
}

static void test_samples(void **state)
{
	struct metrics_cert certs[3] = { { 0, 0 } };
	struct metrics_run run = { .exit_code = 1, .last_success = 1764000000 };
	struct report r;
	char *t;

	(void)state;
	fill(&r, certs);
	t = render(&r, certs, &run);
	assert_true(has_line(t, "certfleet_certificate_not_after_timestamp_"
	    "seconds{fleet=\"pool\\\"1\",server=\"we\\\"b\\\\01\\n\","
	    "usage=\"webservices_external\"} 1771848000"));
	assert_true(has_line(t, "certfleet_certificate_not_after_timestamp_"
	    "seconds{fleet=\"pool\\\"1\",server=\"fe06\",usage=\"default\"} "
	    "1700000000"));
	assert_null(strstr(t, "server=\"fe06\",usage=\"webservices"));
	assert_null(strstr(t, "server=\"fe07\",usage"));
	assert_true(has_line(t, "certfleet_server_status{fleet=\"pool\\\"1\","
	    "server=\"fe07\",status=\"failed\"} 1"));
	assert_true(has_line(t, "certfleet_servers{fleet=\"pool\\\"1\","
	    "status=\"issued\"} 1"));
	assert_true(has_line(t, "certfleet_servers{fleet=\"pool\\\"1\","
	    "status=\"held\"} 0"));
	assert_true(has_line(t, "certfleet_chain_missing_ca{fleet=\"pool\\\"1\","
	    "server=\"fe06\",kind=\"intermediate\"} 2"));
	assert_true(has_line(t, "certfleet_chain_missing_ca{fleet=\"pool\\\"1\","
	    "server=\"fe06\",kind=\"root\"} 1"));
	assert_null(strstr(t, "missing_ca{fleet=\"pool\\\"1\",server=\"fe07\""));
	assert_true(has_line(t, "certfleet_run_duration_seconds{fleet="
	    "\"pool\\\"1\",command=\"run\"} 1.234"));
	assert_true(has_line(t, "certfleet_run_timestamp_seconds{fleet="
	    "\"pool\\\"1\",command=\"run\"} 1764072000"));
	assert_true(has_line(t, "certfleet_run_success_timestamp_seconds{fleet="
	    "\"pool\\\"1\"} 1764000000"));
	assert_true(has_line(t, "certfleet_run_exit_code{fleet=\"pool\\\"1\","
	    "command=\"run\"} 1"));
	free(t);
	report_release(&r);
}

/* The name a sample line starts with, into name (cut at '{'). */
static void sample_name(const char *line, char *name, size_t namesz)
{
	size_t n = strcspn(line, "{");

	assert_true(n < namesz);
	assert_int_equal(line[n], '{');
	memcpy(name, line, n);
	name[n] = '\0';
}

/* Walks the text line by line: every family opens with HELP then TYPE
 * gauge, is never opened twice, and its samples follow it, each ending
 * in "} VALUE" with nothing unescaped inside its braces. */
static void assert_shape(const char *t, int nfamilies)
{
	char cur[128] = "", name[128], line[512], seen[16][128];
	const char *p = t, *nl, *v;
	int nseen = 0, i, inq;
	size_t k;

	assert_true(strlen(t) > 0 && t[strlen(t) - 1] == '\n');
	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		assert_non_null(nl);
		assert_true((size_t)(nl - p) < sizeof line);
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (strncmp(line, "# HELP ", 7) == 0) {
			snprintf(cur, sizeof cur, "%.*s",
			    (int)strcspn(line + 7, " "), line + 7);
			for (i = 0; i < nseen; i++)
				assert_string_not_equal(seen[i], cur);
			assert_true(nseen < 16);
			strcpy(seen[nseen++], cur);
			p = nl + 1;
			nl = strchr(p, '\n');
			assert_non_null(nl);
			snprintf(line, sizeof line, "# TYPE %s gauge", cur);
			assert_int_equal(strncmp(p, line, strlen(line)), 0);
			assert_int_equal(p[strlen(line)], '\n');
			continue;
		}
		sample_name(line, name, sizeof name);
		assert_string_equal(name, cur);
		/* Inside the braces a quote ends a value only unescaped. */
		inq = 0;
		for (k = strlen(name) + 1; line[k] != '\0'; k++) {
			if (inq && line[k] == '\\') {
				k++;
				assert_non_null(strchr("\\\"n", line[k]));
			} else if (line[k] == '"') {
				inq = !inq;
			} else if (!inq && line[k] == '}') {
				break;
			}
		}
		assert_int_equal(line[k], '}');
		v = line + k + 1;
		assert_int_equal(*v, ' ');
		assert_true(strspn(v + 1, "0123456789.") == strlen(v + 1));
	}
	assert_int_equal(nseen, nfamilies);
}

static void test_shape(void **state)
{
	struct metrics_cert certs[3] = { { 0, 0 } };
	struct metrics_run run = { 0, 0, NULL };
	struct report r;
	char *t;

	(void)state;
	fill(&r, certs);
	t = render(&r, certs, &run);
	assert_shape(t, 8);
	free(t);
	report_release(&r);
}

/* No servers, no journal: every family is still there, with the counts
 * at 0 and no success yet. */
static void test_empty(void **state)
{
	struct metrics_run run = { 0, 0, NULL };
	struct report r;
	char *t;

	(void)state;
	assert_int_equal(report_init(&r, "t", "status", 1), 0);
	t = render(&r, NULL, &run);
	assert_shape(t, 8);
	assert_true(has_line(t, "certfleet_servers{fleet=\"t\","
	    "status=\"assigned\"} 0"));
	assert_true(has_line(t, "certfleet_run_success_timestamp_seconds{"
	    "fleet=\"t\"} 0"));
	assert_true(has_line(t, "certfleet_run_duration_seconds{fleet=\"t\","
	    "command=\"status\"} 0.000"));
	free(t);
	report_release(&r);
}

/* With --shard every series carries the shard, right after the fleet:
 * the shards' files side by side in one collector never repeat a series. */
static void test_shard_label(void **state)
{
	static const char want[] = "{fleet=\"pool\\\"1\",shard=\"2/4\"";
	struct metrics_cert certs[3] = { { 0, 0 } };
	struct metrics_run run = { .exit_code = 0, .shard = "2/4" };
	struct report r;
	const char *p;
	char *t;
	int samples = 0;

	(void)state;
	fill(&r, certs);
	t = render(&r, certs, &run);
	assert_shape(t, 8);
	for (p = t; *p; p = strchr(p, '\n') + 1) {
		if (*p == '#')
			continue;
		samples++;
		assert_int_equal(strncmp(p + strcspn(p, "{"), want,
		    strlen(want)), 0);
	}
	assert_true(samples > 8);
	assert_true(has_line(t, "certfleet_run_exit_code{fleet=\"pool\\\"1\","
	    "shard=\"2/4\",command=\"run\"} 0"));
	free(t);
	report_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shard_label),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_shape),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
