/*
 * Report rendering. The JSON keys are a contract with scripts: add keys,
 * never rename one. The table is for a terminal and may change.
 */
#include "engine/report.h"
#include "engine/err.h"
#include "engine/usage.h"

#include <stdlib.h>
#include <string.h>

static const char *const status_names[REPORT_STATUS_MAX] = {
	[REPORT_ASSIGNED] = "assigned",
	[REPORT_UP_TO_DATE] = "up_to_date",
	[REPORT_ISSUED] = "issued",
	[REPORT_PENDING] = "pending",
	[REPORT_DENIED] = "denied",
	[REPORT_FAILED] = "failed",
	[REPORT_ASSIGN_FAILED] = "assign_failed",
	[REPORT_WOULD_ISSUE] = "would_issue",
};

const char *report_status_name(enum report_status s)
{
	return (unsigned)s < REPORT_STATUS_MAX ? status_names[s] : "unknown";
}

int report_init(struct report *r, const char *fleet, const char *command,
    time_t started_at)
{
	memset(r, 0, sizeof(*r));
	r->started_at = started_at;
	r->fleet = strdup(fleet);
	r->command = strdup(command);
	if (r->fleet == NULL || r->command == NULL) {
		report_release(r);
		return CF_ENOMEM;
	}
	return 0;
}

void report_release(struct report *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->rows[i].name);
		free(r->rows[i].ca_status);
		free(r->rows[i].chain_choice);
		free(r->rows[i].error);
		chain_verdict_release(&r->rows[i].chain);
	}
	free(r->rows);
	free(r->fleet);
	free(r->command);
	memset(r, 0, sizeof(*r));
}

struct report_row *report_add(struct report *r, const char *name)
{
	struct report_row *row;

	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		struct report_row *rows = realloc(r->rows, cap * sizeof(*rows));

		if (rows == NULL)
			return NULL;
		r->rows = rows;
		r->cap = cap;
	}
	row = &r->rows[r->n];
	memset(row, 0, sizeof(*row));
	chain_verdict_init(&row->chain);
	if ((row->name = strdup(name)) == NULL)
		return NULL;
	r->n++;
	return row;
}

int report_row_set(char **field, const char *value)
{
	char *v = value ? strdup(value) : NULL;

	if (value && v == NULL)
		return CF_ENOMEM;
	free(*field);
	*field = v;
	return 0;
}

/* A CA counts as missing only when the verdict says so: an OK verdict may
 * still carry notes on misplaced copies. */
static bool lacks_ca(const struct report_row *row)
{
	return row->chain.status == CHAIN_MISSING_CA;
}

void report_summarize(const struct report *r, struct report_summary *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->servers = (int)r->n;
	for (i = 0; i < r->n; i++) {
		const struct report_row *row = &r->rows[i];

		switch (row->status) {
		case REPORT_ASSIGNED: s->assigned++; break;
		case REPORT_UP_TO_DATE: s->up_to_date++; break;
		case REPORT_ISSUED: s->issued++; break;
		case REPORT_PENDING: s->pending++; break;
		case REPORT_DENIED: s->denied++; break;
		case REPORT_FAILED:
		case REPORT_ASSIGN_FAILED: s->failed++; break;
		case REPORT_WOULD_ISSUE: s->would_issue++; break;
		case REPORT_STATUS_MAX: break;
		}
		if (lacks_ca(row))
			s->missing_ca++;
	}
}

int report_exit_status(const struct report *r)
{
	struct report_summary s;

	report_summarize(r, &s);
	return s.failed || s.denied || s.missing_ca ? 1 : 0;
}

static void iso8601(time_t t, char *buf, size_t bufsz)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, bufsz, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

static json_t *chain_json(const struct report_row *row)
{
	json_t *missing = json_array();
	size_t i;

	for (i = 0; lacks_ca(row) && i < row->chain.nmissing; i++) {
		const struct chain_missing *m = &row->chain.missing[i];

		json_array_append_new(missing, json_pack("{s:s, s:s, s:s, s:s}",
		    "kind", chain_kind_name(m->kind),
		    "subject", m->subject ? m->subject : "",
		    "sha1", m->sha1, "reason", m->reason ? m->reason : ""));
	}
	return json_pack("{s:s, s:o, s:s}",
	    "status", chain_status_name(row->chain.status),
	    "missing", missing, "detail", chain_verdict_detail(&row->chain));
}

static json_t *row_json(const struct report_row *row)
{
	json_t *usages = json_array();
	char when[32];
	int u;

	for (u = 0; u < USAGE_MAX; u++)
		if (row->usages & (1u << u))
			json_array_append_new(usages,
			    json_string(usage_name((enum usage)u)));
	if (row->not_after)
		iso8601(row->not_after, when, sizeof when);
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
	    "name", row->name, "status", report_status_name(row->status),
	    "thumbprint", str_or_null(row->thumbprint),
	    "sha256", str_or_null(row->sha256),
	    "not_after", row->not_after ? json_string(when) : json_null(),
	    "chain", chain_json(row), "usages", usages,
	    "ca_status", str_or_null(row->ca_status),
	    "chain_choice", str_or_null(row->chain_choice),
	    "error", str_or_null(row->error));
}

json_t *report_to_json(const struct report *r)
{
	struct report_summary s;
	json_t *rows = json_array();
	char when[32];
	size_t i;

	report_summarize(r, &s);
	iso8601(r->started_at, when, sizeof when);
	for (i = 0; rows && i < r->n; i++)
		json_array_append_new(rows, row_json(&r->rows[i]));
	return json_pack("{s:s, s:s, s:s, s:I, s:{s:i, s:i, s:i, s:i, s:i, "
	    "s:i, s:i, s:i}, s:o}",
	    "fleet", r->fleet, "command", r->command, "started_at", when,
	    "duration_ms", (json_int_t)r->duration_ms,
	    "summary", "servers", s.servers, "assigned", s.assigned,
	    "up_to_date", s.up_to_date, "issued", s.issued,
	    "pending", s.pending, "denied", s.denied, "failed", s.failed,
	    "missing_ca", s.missing_ca, "servers", rows);
}

static bool needs_person(const struct report_row *row)
{
	return row->status == REPORT_FAILED || row->status == REPORT_DENIED ||
	    row->status == REPORT_ASSIGN_FAILED || lacks_ca(row);
}

int report_write_table(const struct report *r, FILE *out, bool quiet)
{
	struct report_summary s;
	char line[1024];
	size_t i, w = 6;
	int u;

	for (i = 0; i < r->n; i++)
		if (strlen(r->rows[i].name) > w)
			w = strlen(r->rows[i].name);
	if (!quiet)
		fprintf(out, "%-*s  %-13s  %-40s  %-10s  %s\n", (int)w,
		    "SERVER", "STATUS", "THUMBPRINT", "CHAIN", "USAGES");
	for (i = 0; i < r->n; i++) {
		const struct report_row *row = &r->rows[i];
		const char *sep = "";

		if (quiet && !needs_person(row))
			continue;
		fprintf(out, "%-*s  %-13s  %-40s  %-10s  ", (int)w, row->name,
		    report_status_name(row->status),
		    row->thumbprint[0] ? row->thumbprint : "-",
		    chain_status_name(row->chain.status));
		for (u = 0; u < USAGE_MAX; u++)
			if (row->usages & (1u << u)) {
				fprintf(out, "%s%s", sep,
				    usage_name((enum usage)u));
				sep = ",";
			}
		fprintf(out, "%s\n", *sep ? "" : "-");
		if (row->error)
			fprintf(out, "%*s  %s\n", (int)w, "", row->error);
		if (row->chain_choice && !quiet)
			fprintf(out, "%*s  %s\n", (int)w, "",
			    row->chain_choice);
		if (row->chain.status == CHAIN_MISSING_CA ||
		    row->chain.status == CHAIN_INVALID) {
			chain_verdict_describe(&row->chain, line, sizeof line);
			fprintf(out, "%*s  %s\n", (int)w, "", line);
		}
	}
	report_summarize(r, &s);
	fprintf(out, "%d server%s: %d assigned, %d up to date, %d issued "
	    "(%d lacking a CA), %d pending, %d denied, %d failed",
	    s.servers, s.servers == 1 ? "" : "s", s.assigned, s.up_to_date,
	    s.issued, s.missing_ca, s.pending, s.denied, s.failed);
	if (s.would_issue)
		fprintf(out, ", %d would issue", s.would_issue);
	fprintf(out, "\n");
	return ferror(out) ? CF_EIO : 0;
}
