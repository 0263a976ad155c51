/*
 * The HTML report: escaping (every inventory, CA and error value), the
 * urgency thresholds and histogram bars of the expiry picture, marks up to
 * EXPIRY_MARKS_MAX and a histogram beyond, lanes per group, and the page
 * of an empty fleet. tests/integration/test_html.sh renders real reports
 * in Chromium.
 */
#include "tests/unit/unit.h"
#include "engine/base/usage.h"
#include "engine/report/expiry.h"
#include "engine/report/html.h"
#include "engine/report/html_escape.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW ((time_t)1764072000)    /* 2025-11-25T12:00:00Z */
#define DAY 86400

static char *escaped(const char *s, size_t max)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	html_escape(f, s, max);
	fclose(f);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle)) != NULL) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* The sum of the data-n="N" counts of the histogram's bars. */
static long bar_sum(const char *page)
{
	const char *p = page;
	long sum = 0;

	while ((p = strstr(p, "<rect class=\"bar ")) != NULL) {
		p = strstr(p, "data-n=\"");
		assert_non_null(p);
		sum += strtol(p + 8, NULL, 10);
	}
	return sum;
}

static void test_escape(void **state)
{
	static const struct {
		const char *in;
		size_t max;
		const char *out;
	} cases[] = {
		{ "web01", SIZE_MAX, "web01" },
		{ "", SIZE_MAX, "" },
		{ "<script>alert(1)</script>", SIZE_MAX,
		  "&lt;script&gt;alert(1)&lt;/script&gt;" },
		{ "a & b", SIZE_MAX, "a &amp; b" },
		{ "\"double\" 'single'", SIZE_MAX,
		  "&quot;double&quot; &#39;single&#39;" },
		{ "&amp;", SIZE_MAX, "&amp;amp;" },
		/* Tab and newline stay; other controls are not HTML. */
		{ "a\tb\nc\x01\x7f", SIZE_MAX,
		  "a\tb\nc\xEF\xBF\xBD\xEF\xBF\xBD" },
		{ "caf\xC3\xA9 \xE2\x82\xAC", SIZE_MAX,
		  "caf\xC3\xA9 \xE2\x82\xAC" },
		/* At most max bytes, then "...". */
		{ "abcdef", 3, "abc..." },
		{ "abc", 3, "abc" },
		/* Never half a UTF-8 character: "é" is two bytes at 1 and 2. */
		{ "h\xC3\xA9llo", 2, "h..." },
		/* The cut is counted in the input, before escaping. */
		{ "<<<<", 2, "&lt;&lt;..." },
	};
	size_t i;
	char *got;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		got = escaped(cases[i].in, cases[i].max);
		assert_string_equal(got, cases[i].out);
		free(got);
	}
}

static void test_urgency(void **state)
{
	(void)state;
	assert_int_equal(expiry_urgency_of(-400), EXPIRY_EXPIRED);
	assert_int_equal(expiry_urgency_of(-1), EXPIRY_EXPIRED);
	/* 0 is the last day: not expired yet. */
	assert_int_equal(expiry_urgency_of(0), EXPIRY_WEEK);
	assert_int_equal(expiry_urgency_of(6), EXPIRY_WEEK);
	assert_int_equal(expiry_urgency_of(7), EXPIRY_MONTH);
	assert_int_equal(expiry_urgency_of(29), EXPIRY_MONTH);
	assert_int_equal(expiry_urgency_of(30), EXPIRY_LATER);
	assert_int_equal(expiry_urgency_of(3650), EXPIRY_LATER);
	assert_string_equal(expiry_urgency_name(EXPIRY_WEEK), "within 7 days");
}

static void test_bars(void **state)
{
	(void)state;
	/* Bars start at multiples of their width, 0 always an edge. */
	assert_int_equal(expiry_bar_of(0, 7), 0);
	assert_int_equal(expiry_bar_of(6, 7), 0);
	assert_int_equal(expiry_bar_of(7, 7), 7);
	assert_int_equal(expiry_bar_of(-1, 7), -7);
	assert_int_equal(expiry_bar_of(-7, 7), -7);
	assert_int_equal(expiry_bar_of(-8, 7), -14);
	assert_int_equal(expiry_bar_of(-5, 1), -5);
	/* The smallest width that needs at most EXPIRY_BARS_MAX bars. */
	assert_int_equal(expiry_bar_days(0, 30), 1);
	assert_int_equal(expiry_bar_days(0, EXPIRY_BARS_MAX), 1);
	assert_int_equal(expiry_bar_days(0, EXPIRY_BARS_MAX + 1), 7);
	assert_int_equal(expiry_bar_days(-11, 90), 7);
	assert_int_equal(expiry_bar_days(-30, 400), 14);
	assert_int_equal(expiry_bar_days(0, 800), 14);
	assert_int_equal(expiry_bar_days(0, 1000), 30);
	assert_int_equal(expiry_bar_days(EXPIRY_AXIS_MIN, EXPIRY_AXIS_MAX),
	    91);
}

/* A report of n servers, assigned, the i-th expiring in (i % 120) - 20
 * days, in group "g<i % ngroups>" (srv) when ngroups is not 0. */
static void fleet(struct report *r, struct html_server **srv, size_t n,
    size_t ngroups, char ***groups)
{
	struct report_row *row;
	char name[32];
	size_t i;

	assert_int_equal(report_init(r, "pool", "status", NOW), 0);
	*srv = calloc(n + 1, sizeof(**srv));
	*groups = calloc(ngroups + 1, sizeof(**groups));
	for (i = 0; i < ngroups; i++) {
		snprintf(name, sizeof name, "g%zu", i);
		(*groups)[i] = strdup(name);
	}
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "srv%05zu", i);
		row = report_add(r, name);
		assert_non_null(row);
		row->status = REPORT_ASSIGNED;
		row->not_after = NOW + ((time_t)(i % 120) - 20) * DAY + 3600;
		row->usages = USAGE_ALL_PREDEFINED;
		strcpy(row->thumbprint,
		    "2E09AB6748856A723FE48A1F19F6197DAC975A9E");
		(*srv)[i].not_after = row->not_after;
		(*srv)[i].group = ngroups ? (*groups)[i % ngroups] : NULL;
	}
}

static void fleet_free(struct report *r, struct html_server *srv,
    char **groups)
{
	size_t i;

	for (i = 0; groups[i]; i++)
		free(groups[i]);
	free(groups);
	free(srv);
	report_release(r);
}

static char *render(const struct report *r, const struct html_server *srv)
{
	char *buf;
	size_t len;

	assert_int_equal(html_render(r, srv, NOW, &buf, &len), 0);
	assert_int_equal(strlen(buf), len);
	assert_non_null(strstr(buf, "</html>\n"));
	return buf;
}

static void test_marks_up_to_the_threshold(void **state)
{
	struct html_server *srv;
	struct report r;
	char **groups, *page;

	(void)state;
	fleet(&r, &srv, EXPIRY_MARKS_MAX, 3, &groups);
	page = render(&r, srv);
	assert_int_equal(count(page, "<circle class=\"mark "),
	    EXPIRY_MARKS_MAX);
	assert_int_equal(count(page, "<rect class=\"bar "), 0);
	assert_non_null(strstr(page, "<svg class=\"marks\""));
	/* One lane per group, its name shown once. */
	assert_int_equal(count(page, "<text class=\"lane\""), 3);
	/* A mark's title names the server and its expiry. */
	assert_non_null(strstr(page, "<title>srv00000: expired 20 days ago, "
	    "on 2025-11-05</title>"));
	assert_non_null(strstr(page, "<title>srv00021: 1 day left, until "
	    "2025-11-26</title>"));
	free(page);
	fleet_free(&r, srv, groups);
}

static void test_histogram_above_it(void **state)
{
	struct html_server *srv;
	struct report r;
	char **groups, *page;

	(void)state;
	fleet(&r, &srv, EXPIRY_MARKS_MAX + 1, 0, &groups);
	page = render(&r, srv);
	assert_int_equal(count(page, "<circle class=\"mark "), 0);
	assert_non_null(strstr(page, "<svg class=\"histogram\""));
	assert_int_equal(bar_sum(page), EXPIRY_MARKS_MAX + 1);
	assert_non_null(strstr(page, ">(no group)<"));
	free(page);
	fleet_free(&r, srv, groups);

	/* 10,000 servers in 12 groups: 7 lanes and "other groups", every
	 * certificate in a bar, each urgency counted in the legend. */
	fleet(&r, &srv, 10000, 12, &groups);
	page = render(&r, srv);
	assert_int_equal(count(page, "<text class=\"lane\""),
	    EXPIRY_LANES_MAX);
	assert_int_equal(count(page, ">other groups<"), 1);
	assert_int_equal(bar_sum(page), 10000);
	/* Days (i % 120) - 20: of each 120 servers, 20 expired, 7 within a
	 * week, 23 within 30 days, 70 later; then 40 more (20, 7, 13, 0). */
	assert_non_null(strstr(page, "data-n=\"1680\"><span"));
	assert_non_null(strstr(page, "data-n=\"588\"><span"));
	assert_non_null(strstr(page, "data-n=\"1922\"><span"));
	assert_non_null(strstr(page, "data-n=\"5810\"><span"));
	assert_int_equal(count(page, "<tr><td>srv"), 10000);
	free(page);
	fleet_free(&r, srv, groups);
}

static void test_empty_fleet(void **state)
{
	struct report r;
	char *page;

	(void)state;
	assert_int_equal(report_init(&r, "empty", "report", NOW), 0);
	page = render(&r, NULL);
	assert_non_null(strstr(page, "<li data-key=\"servers\"><b>0</b> "
	    "servers</li>"));
	assert_null(strstr(page, "<svg"));
	assert_non_null(strstr(page, "No server needs a person."));
	assert_non_null(strstr(page, "<h2>Every server (0)</h2>"));
	assert_non_null(strstr(page, "data-n=\"0\""));
	free(page);
	report_release(&r);
}

/* Markup in every value that comes from outside: names (the fleet file
 * refuses them today; the page must not rely on it), groups, the CA's
 * name and reason, errors, the CA's status. */
static void test_hostile_values(void **state)
{
	static const char evil[] = "<script>alert(1)</script>";
	struct html_server srv[3] = {
		{ "<b>grp</b>", NOW + 40 * DAY },
		{ "\"><script>x()</script>", NOW - DAY },
		{ NULL, 0 },
	};
	struct report_row *row;
	struct report r;
	char *page;

	(void)state;
	assert_int_equal(report_init(&r, "p<script>", "run", NOW), 0);
	row = report_add(&r, evil);
	row->status = REPORT_FAILED;
	report_row_set(&row->error, "cannot read '<img src=x onerror=y>' & co");
	row = report_add(&r, "web'01\"");
	row->status = REPORT_ISSUED;
	row->chain.status = CHAIN_MISSING_CA;
	row->chain.missing = calloc(1, sizeof(*row->chain.missing));
	row->chain.nmissing = 1;
	row->chain.missing[0].kind = CHAIN_KIND_ROOT;
	row->chain.missing[0].subject = strdup("CN=\\<script\\> & 'Co'");
	row->chain.missing[0].reason = strdup("expired on <now>");
	strcpy(row->chain.missing[0].sha1,
	    "AAAABBBBCCCCDDDDEEEEFFFF0000111122223333");
	row = report_add(&r, "s3");
	row->status = REPORT_PENDING;
	report_row_set(&row->ca_status, "<i>waiting</i>");
	page = render(&r, srv);
	assert_null(strstr(page, "<script"));
	assert_null(strstr(page, "<img"));
	assert_null(strstr(page, "<b>grp"));
	assert_null(strstr(page, "<i>"));
	assert_non_null(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt;"));
	assert_non_null(strstr(page, "cannot read &#39;&lt;img src=x "
	    "onerror=y&gt;&#39; &amp; co"));
	assert_non_null(strstr(page, "web&#39;01&quot;"));
	assert_non_null(strstr(page, "CN=\\&lt;script\\&gt; &amp; &#39;Co&#39;"));
	assert_non_null(strstr(page, "AAAABBBBCCCCDDDDEEEEFFFF0000111122223333"));
	assert_non_null(strstr(page, "&lt;i&gt;waiting&lt;/i&gt;"));
	assert_non_null(strstr(page, "<title>certfleet: p&lt;script&gt;"
	    "</title>"));
	/* The two servers holding a certificate are marked, in two lanes. */
	assert_int_equal(count(page, "<circle class=\"mark "), 2);
	assert_non_null(strstr(page, "&quot;&gt;&lt;script&gt;x()"));
	free(page);
	report_release(&r);
}

/* The summary in the table's words, from the same tallies; rows without
 * srv picture their own certificate. */
static void test_summary_words(void **state)
{
	struct report_row *row;
	struct report r;
	char *page;

	(void)state;
	assert_int_equal(report_init(&r, "pool", "plan", NOW), 0);
	row = report_add(&r, "a");
	row->status = REPORT_WOULD_DENY;
	row = report_add(&r, "b");
	row->status = REPORT_UP_TO_DATE;
	row->not_after = NOW + 100 * DAY;
	page = render(&r, NULL);
	assert_non_null(strstr(page, "<li data-key=\"up_to_date\"><b>1</b> "
	    "up to date</li>"));
	assert_non_null(strstr(page, "<li data-key=\"missing_ca\"><b>0</b> "
	    "lacking a CA</li>"));
	assert_non_null(strstr(page, "<li data-key=\"would_deny\"><b>1</b> "
	    "would be denied</li>"));
	assert_null(strstr(page, "data-key=\"held\""));
	assert_int_equal(count(page, "<circle class=\"mark "), 1);
	assert_non_null(strstr(page, "id=\"need-denied\""));
	assert_non_null(strstr(page, "1 server holds no certificate"));
	free(page);
	report_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_urgency),
		cmocka_unit_test(test_bars),
		cmocka_unit_test(test_marks_up_to_the_threshold),
		cmocka_unit_test(test_histogram_above_it),
		cmocka_unit_test(test_empty_fleet),
		cmocka_unit_test(test_hostile_values),
		cmocka_unit_test(test_summary_words),
	};

	return cmocka_run_group_tests_name("html", tests, NULL, NULL);
}
