/*
 * The HTML report (see html.h). The page's markup is fixed text here; a
 * value from the inventory, a CA or an error reaches the page only
 * through html_escape, and the page's Content-Security-Policy forbids
 * scripts and fetches besides, should one ever slip through. Optional end
 * tags (</td>, </tr>) are left out: at 10,000 servers they would be a
 * tenth of the file.
 */
#include "engine/report/html.h"
#include "engine/base/err.h"
#include "engine/base/usage.h"
#include "engine/report/expiry.h"
#include "engine/report/html_escape.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char head[] =
"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
"style-src 'unsafe-inline'\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<meta name=\"generator\" content=\"certfleet\">\n";

static const char style[] =
"<style>\n"
"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
"margin:24px 32px;color:#212121;background:#fff}\n"
"h1{font-size:22px;margin:0 0 4px}\n"
"h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;"
"border-bottom:1px solid #e0e0e0}\n"
"h3{font-size:15px;margin:18px 0 6px}\n"
".meta,.note{color:#616161;margin:4px 0}\n"
"ul.summary,ul.legend{list-style:none;display:flex;flex-wrap:wrap;"
"padding:0;margin:10px 0}\n"
"ul.summary li{border:1px solid #e0e0e0;border-radius:6px;"
"padding:6px 14px;margin:0 8px 8px 0;background:#fafafa}\n"
"ul.summary li b{display:block;font-size:22px}\n"
"ul.legend li{margin-right:20px}\n"
".swatch{display:inline-block;width:12px;height:12px;border-radius:2px;"
"margin-right:6px;vertical-align:-1px}\n"
"svg{display:block;max-width:100%;height:auto;font-size:12px}\n"
"svg .lane{font-weight:600;fill:#212121}\n"
"svg .name,svg .days,svg .tick,svg .peak,svg .axis-title{fill:#424242}\n"
"table{border-collapse:collapse;font-size:13px}\n"
"th,td{text-align:left;padding:3px 14px 3px 0;"
"border-bottom:1px solid #eee;vertical-align:top}\n"
"th{border-bottom:2px solid #bdbdbd}\n"
".hex{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}\n"
"td.n{text-align:right}\n"
".bad{color:#b71c1c;font-weight:600}\n"
".wait{color:#e65100;font-weight:600}\n"
".good{color:#1b5e20}\n"
"</style>\n</head>\n<body>\n";

/* The sections of servers needing a person, in the order shown. */
enum need {
	NEED_MISSING_CA, NEED_FAILED, NEED_DENIED, NEED_PENDING, NEED_HELD,
	NEED_MAX
};

static const struct {
	const char *id;
	const char *title;
	const char *heads;
} needs[NEED_MAX] = {
	[NEED_MISSING_CA] = { "need-missing-ca", "Lacking a CA (import it "
	    "into the server's store, then run certfleet assign)",
	    "<th>Server<th>Kind<th>CA<th>SHA-1<th>Why" },
	[NEED_FAILED] = { "need-failed", "Failed",
	    "<th>Server<th>Status<th>Error" },
	[NEED_DENIED] = { "need-denied", "Denied by the CA",
	    "<th>Server<th>Status<th>Reason" },
	[NEED_PENDING] = { "need-pending", "Pending approval at the CA",
	    "<th>Server<th>CA status<th>Note" },
	[NEED_HELD] = { "need-held", "Held by a staged rollout's brake",
	    "<th>Server<th>Why" },
};

static bool in_need(const struct report_row *row, enum need k)
{
	switch (k) {
	case NEED_MISSING_CA:
		return row->chain.status == CHAIN_MISSING_CA;
	case NEED_FAILED:
		return row->status == REPORT_FAILED ||
		    row->status == REPORT_ASSIGN_FAILED;
	case NEED_DENIED:
		return row->status == REPORT_DENIED ||
		    row->status == REPORT_WOULD_DENY;
	case NEED_PENDING:
		return row->status == REPORT_PENDING;
	case NEED_HELD:
		return row->status == REPORT_HELD;
	default:
		return false;
	}
}

/* A class for a status cell: what needs a person stands out. */
static const char *status_class(enum report_status s)
{
	switch (s) {
	case REPORT_FAILED: case REPORT_ASSIGN_FAILED: case REPORT_DENIED:
	case REPORT_WOULD_DENY: case REPORT_HELD:
		return "bad";
	case REPORT_PENDING: case REPORT_ISSUED: case REPORT_WOULD_ISSUE:
		return "wait";
	case REPORT_NOT_RUN:
		return "none";
	default:
		return "good";
	}
}

/* "<td>" and s escaped, or "-" when s is NULL or empty. */
static void cell(FILE *out, const char *s)
{
	fputs("<td>", out);
	html_escape(out, s && *s ? s : "-", SIZE_MAX);
}

static void day_of(time_t t, char *buf, size_t bufsz)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, bufsz, "%Y-%m-%d", &tm);
}

static void write_header(FILE *out, const struct report *r, time_t now)
{
	char when[32], ran[32];
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
	gmtime_r(&r->started_at, &tm);
	strftime(ran, sizeof ran, "%Y-%m-%d %H:%M UTC", &tm);
	fputs("<title>certfleet: ", out);
	html_escape(out, r->fleet, SIZE_MAX);
	fputs("</title>\n", out);
	fputs(style, out);
	fputs("<header>\n<h1>Fleet <span id=\"fleet\">", out);
	html_escape(out, r->fleet, SIZE_MAX);
	fprintf(out, "</span></h1>\n<p class=\"meta\">Generated %s by "
	    "<b>certfleet ", when);
	html_escape(out, r->command, SIZE_MAX);
	fprintf(out, "</b>, from the report of %s.</p>\n</header>\n", ran);
}

static void write_summary(FILE *out, const struct report *r)
{
	struct report_tally t[REPORT_NTALLIES];
	size_t i, n = report_tallies(r, t);

	fprintf(out, "<section id=\"summary\">\n<h2>Summary</h2>\n"
	    "<ul class=\"summary\">\n<li data-key=\"servers\"><b>%zu</b> "
	    "server%s</li>\n", r->n, r->n == 1 ? "" : "s");
	for (i = 0; i < n; i++)
		fprintf(out, "<li data-key=\"%s\"><b>%d</b> %s</li>\n",
		    t[i].key, t[i].n, t[i].words);
	fputs("</ul>\n</section>\n", out);
}

/* The picture of the certificates the servers hold, and how many hold
 * none that is known. */
static int write_expiry(FILE *out, const struct report *r,
    const struct html_server *srv, time_t now)
{
	struct expiry_cert *c = calloc(r->n + 1, sizeof(*c));
	size_t i, n = 0;
	time_t t;
	int rc;

	if (c == NULL)
		return CF_ENOMEM;
	for (i = 0; i < r->n; i++) {
		t = srv ? srv[i].not_after : r->rows[i].not_after;
		if (t == 0)
			continue;
		c[n++] = (struct expiry_cert){ r->rows[i].name,
		    srv ? srv[i].group : NULL, t, report_days_left(t, now) };
	}
	fputs("<section id=\"expiry\">\n<h2>Expiry</h2>\n<p class=\"note\">"
	    "The certificate each server holds, by days left; one lane per "
	    "group. ", out);
	if (n > EXPIRY_MARKS_MAX)
		fprintf(out, "Above %d certificates they are counted in bars, "
		    "each bar's number in its title. ", EXPIRY_MARKS_MAX);
	else
		fputs("Each mark's title gives its server and expiry. ", out);
	if (n < r->n)
		fprintf(out, "%zu server%s hold%s no certificate that certfleet "
		    "knows of (not run yet, or nothing assigned).", r->n - n,
		    r->n - n == 1 ? "" : "s", r->n - n == 1 ? "s" : "");
	fputs("</p>\n", out);
	rc = expiry_write(out, c, n);
	fputs("</section>\n", out);
	free(c);
	return rc;
}

static void write_need_row(FILE *out, const struct report_row *row,
    enum need k)
{
	size_t i;

	if (k != NEED_MISSING_CA) {
		fputs("<tr>", out);
		cell(out, row->name);
	}
	switch (k) {
	case NEED_MISSING_CA:
		for (i = 0; i < row->chain.nmissing; i++) {
			const struct chain_missing *m = &row->chain.missing[i];

			fputs("<tr>", out);
			cell(out, row->name);
			cell(out, chain_kind_name(m->kind));
			cell(out, m->subject);
			fputs("<td class=\"hex\">", out);
			html_escape(out, m->sha1[0] ? m->sha1 : "-", SIZE_MAX);
			cell(out, m->reason);
			fputc('\n', out);
		}
		return;
	case NEED_PENDING:
		cell(out, row->ca_status);
		break;
	case NEED_HELD:
		break;
	default:
		cell(out, report_status_name(row->status));
	}
	cell(out, row->error ? row->error : row->reason);
	fputc('\n', out);
}

static void write_needs(FILE *out, const struct report *r)
{
	size_t i, n[NEED_MAX] = { 0 }, any = 0;
	bool some;
	int k;

	for (i = 0; i < r->n; i++) {
		for (some = false, k = 0; k < NEED_MAX; k++)
			if (in_need(&r->rows[i], (enum need)k)) {
				n[k]++;
				some = true;
			}
		any += some;
	}
	fprintf(out, "<section id=\"attention\">\n<h2>Needing a person "
	    "(<span class=\"count\">%zu</span>)</h2>\n", any);
	if (any == 0)
		fputs("<p class=\"good\">No server needs a person.</p>\n", out);
	for (k = 0; k < NEED_MAX; k++) {
		if (n[k] == 0)
			continue;
		fprintf(out, "<section class=\"need\" id=\"%s\">\n<h3>%s (%zu)"
		    "</h3>\n<table>\n<thead><tr>%s</thead>\n<tbody>\n",
		    needs[k].id, needs[k].title, n[k], needs[k].heads);
		for (i = 0; i < r->n; i++)
			if (in_need(&r->rows[i], (enum need)k))
				write_need_row(out, &r->rows[i], (enum need)k);
		fputs("</tbody>\n</table>\n</section>\n", out);
	}
	fputs("</section>\n", out);
}

static void write_server(FILE *out, const struct report *r, size_t i,
    const struct html_server *srv, time_t now)
{
	const struct report_row *row = &r->rows[i];
	char day[16] = "-", usages[USAGE_CAP * (USAGE_NAME_MAX + 2)] = "";
	unsigned u;

	for (u = 0; u < USAGE_CAP; u++)
		if (row->usages & (1u << u))
			snprintf(usages + strlen(usages), sizeof usages -
			    strlen(usages), "%s%s", usages[0] ? ", " : "",
			    usage_name(r->utab, u));
	fputs("<tr>", out);
	cell(out, row->name);
	cell(out, srv ? srv[i].group : NULL);
	fprintf(out, "<td class=\"%s\">%s<td class=\"hex\">",
	    status_class(row->status), report_status_name(row->status));
	html_escape(out, row->thumbprint[0] ? row->thumbprint : "-", SIZE_MAX);
	if (row->not_after) {
		day_of(row->not_after, day, sizeof day);
		fprintf(out, "<td>%s<td class=\"n\">%lld", day,
		    report_days_left(row->not_after, now));
	} else {
		fputs("<td>-<td class=\"n\">-", out);
	}
	cell(out, chain_status_name(row->chain.status));
	cell(out, usages);
	fputc('\n', out);
}

static void write_servers(FILE *out, const struct report *r,
    const struct html_server *srv, time_t now)
{
	size_t i;

	fprintf(out, "<section id=\"servers\">\n<h2>Every server (%zu)</h2>\n"
	    "<table id=\"server-table\">\n<thead><tr><th>Server<th>Group"
	    "<th>Status<th>Thumbprint (SHA-1)<th>Not after<th>Days left"
	    "<th>Chain<th>Usages</thead>\n<tbody>\n", r->n);
	for (i = 0; i < r->n; i++)
		write_server(out, r, i, srv, now);
	fputs("</tbody>\n</table>\n</section>\n", out);
}

int html_render(const struct report *r, const struct html_server *srv,
    time_t now, char **buf, size_t *len)
{
	FILE *out;
	int rc;

	*buf = NULL;
	*len = 0;
	if ((out = open_memstream(buf, len)) == NULL)
		return CF_ENOMEM;
	fputs(head, out);
	write_header(out, r, now);
	write_summary(out, r);
	rc = write_expiry(out, r, srv, now);
	write_needs(out, r);
	write_servers(out, r, srv, now);
	fputs("</body>\n</html>\n", out);
	if (fclose(out) != 0 || rc != 0) {
		free(*buf);
		*buf = NULL;
		*len = 0;
		return CF_ENOMEM;
	}
	return 0;
}
