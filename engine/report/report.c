/*
 * Report rendering. The JSON keys are a contract with scripts: add keys,
 * never rename one. The table is for a terminal and may change.
 */
#include "engine/report/report.h"
#include "engine/base/err.h"
#include "engine/base/usage.h"

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
	[REPORT_WOULD_DENY] = "would_deny",
	[REPORT_HELD] = "held",
	[REPORT_NOT_RUN] = "not_run",
};

const char *report_status_name(enum report_status s)
{
	return (unsigned)s < REPORT_STATUS_MAX ? status_names[s] : "unknown";
}

/* The status called name, or -1. */
static int status_from_name(const char *name)
{
	int i;

	for (i = 0; name && i < REPORT_STATUS_MAX; i++)
		if (strcmp(status_names[i], name) == 0)
			return i;
	return -1;
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

void report_row_release(struct report_row *row)
{
	free(row->name);
	free(row->ca_status);
	free(row->chain_choice);
	free(row->reason);
	free(row->error);
	chain_verdict_release(&row->chain);
	memset(row, 0, sizeof(*row));
	chain_verdict_init(&row->chain);
}

void report_release(struct report *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		report_row_release(&r->rows[i]);
	free(r->rows);
	free(r->fleet);
	free(r->command);
	free(r->rollout);
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

/* How many rows have each status (failed counting assign_failed too),
 * and how many lack a CA. */
struct summary {
	int n[REPORT_STATUS_MAX];
	int missing_ca;
};

static void summarize(const struct report *r, struct summary *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < r->n; i++) {
		if ((unsigned)r->rows[i].status < REPORT_STATUS_MAX)
			s->n[r->rows[i].status]++;
		if (lacks_ca(&r->rows[i]))
			s->missing_ca++;
	}
	s->n[REPORT_FAILED] += s->n[REPORT_ASSIGN_FAILED];
}

size_t report_tallies(const struct report *r,
    struct report_tally t[REPORT_NTALLIES])
{
	struct summary s;
	size_t n = 0;

	summarize(r, &s);
#define TALLY(k, w, v, a) \
	(t[n++] = (struct report_tally){ .key = k, .words = w, .n = v, \
	    .aside = a })
	TALLY("assigned", "assigned", s.n[REPORT_ASSIGNED], false);
	TALLY("up_to_date", "up to date", s.n[REPORT_UP_TO_DATE], false);
	TALLY("issued", "issued", s.n[REPORT_ISSUED], false);
	TALLY("missing_ca", "lacking a CA", s.missing_ca, true);
	TALLY("pending", "pending", s.n[REPORT_PENDING], false);
	TALLY("denied", "denied", s.n[REPORT_DENIED], false);
	TALLY("failed", "failed", s.n[REPORT_FAILED], false);
	if (s.n[REPORT_WOULD_ISSUE] || s.n[REPORT_WOULD_DENY] ||
	    strcmp(r->command, "plan") == 0) {
		TALLY("would_issue", "would issue", s.n[REPORT_WOULD_ISSUE],
		    false);
		TALLY("would_deny", "would be denied", s.n[REPORT_WOULD_DENY],
		    false);
	}
	if (s.n[REPORT_HELD])
		TALLY("held", "held", s.n[REPORT_HELD], false);
#undef TALLY
	return n;
}

long long report_days_left(time_t not_after, time_t now)
{
	long long d = (long long)(not_after - now);

	return d >= 0 ? d / 86400 : -((-d + 86399) / 86400);
}

int report_exit_status(const struct report *r)
{
	struct summary s;

	summarize(r, &s);
	return s.n[REPORT_FAILED] || s.n[REPORT_DENIED] ||
	    s.n[REPORT_WOULD_DENY] || s.n[REPORT_HELD] || s.missing_ca ? 1 : 0;
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

json_t *report_missing_json(const struct chain_verdict *v)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a && i < v->nmissing; i++) {
		const struct chain_missing *m = &v->missing[i];

		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s}",
		    "kind", chain_kind_name(m->kind),
		    "subject", m->subject ? m->subject : "",
		    "sha1", m->sha1, "reason", m->reason ? m->reason : ""));
	}
	return a;
}

static json_t *chain_json(const struct report_row *row)
{
	return json_pack("{s:s, s:o, s:s}",
	    "status", chain_status_name(row->chain.status),
	    "missing", lacks_ca(row) ? report_missing_json(&row->chain) :
	    json_array(), "detail", chain_verdict_detail(&row->chain));
}

json_t *report_row_to_json(const struct usage_table *t,
    const struct report_row *row)
{
	json_t *usages = json_array();
	char when[32];
	unsigned u;

	for (u = 0; u < USAGE_CAP; u++)
		if (row->usages & (1u << u))
			json_array_append_new(usages,
			    json_string(usage_name(t, u)));
	if (row->not_after)
		iso8601(row->not_after, when, sizeof when);
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
	    "s:o, s:o, s:o}",
	    "name", row->name, "status", report_status_name(row->status),
	    "thumbprint", str_or_null(row->thumbprint),
	    "sha256", str_or_null(row->sha256),
	    "not_after", row->not_after ? json_string(when) : json_null(),
	    "chain", chain_json(row), "usages", usages,
	    "ca_status", str_or_null(row->ca_status),
	    "chain_choice", str_or_null(row->chain_choice),
	    "reason", str_or_null(row->reason),
	    "error", str_or_null(row->error),
	    "batch", row->batch ? json_integer(row->batch) : json_null(),
	    "verify", row->verify[0] ? json_pack("{s:s, s:o}", "result",
	    row->verify, "served", str_or_null(row->served)) : json_null());
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* The why of a missing CA, from the reason chain.c wrote for it. */
static enum chain_why why_from_reason(const char *reason)
{
	if (strncmp(reason, "expired", 7) == 0)
		return CHAIN_WHY_EXPIRED;
	if (strncmp(reason, "not valid", 9) == 0)
		return CHAIN_WHY_NOT_YET_VALID;
	if (strncmp(reason, "found only", 10) == 0)
		return CHAIN_WHY_MISPLACED;
	return CHAIN_WHY_ABSENT;
}

static int chain_from_json(struct chain_verdict *v, json_t *c)
{
	json_t *miss = json_object_get(c, "missing"), *m;
	const char *st = jstr(c, "status");
	size_t i;

	v->status = strcmp(st, "ok") == 0 ? CHAIN_OK :
	    strcmp(st, "missing_ca") == 0 ? CHAIN_MISSING_CA :
	    strcmp(st, "invalid") == 0 ? CHAIN_INVALID : CHAIN_UNKNOWN;
	if (*jstr(c, "detail") && chain_verdict_set_detail(v,
	    jstr(c, "detail")) != 0)
		return CF_ENOMEM;
	if (json_array_size(miss) == 0)
		return 0;
	if ((v->missing = calloc(json_array_size(miss),
	    sizeof(*v->missing))) == NULL)
		return CF_ENOMEM;
	json_array_foreach(miss, i, m) {
		struct chain_missing *cm = &v->missing[v->nmissing++];

		cm->kind = strcmp(jstr(m, "kind"), "root") == 0 ?
		    CHAIN_KIND_ROOT : CHAIN_KIND_INTERMEDIATE;
		cm->why = why_from_reason(jstr(m, "reason"));
		snprintf(cm->sha1, sizeof cm->sha1, "%s", jstr(m, "sha1"));
		if ((cm->subject = strdup(jstr(m, "subject"))) == NULL ||
		    (cm->reason = strdup(jstr(m, "reason"))) == NULL)
			return CF_ENOMEM;
	}
	return 0;
}

/* An optional string of o into an owned field ("" and null: NULL). */
static int field_from_json(char **field, json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return report_row_set(field, s && *s ? s : NULL);
}

int report_row_from_json(const struct usage_table *t,
    struct report_row *row, json_t *o)
{
	json_t *u, *usages = json_object_get(o, "usages");
	const char *na = json_string_value(json_object_get(o, "not_after"));
	struct tm tm;
	size_t i;
	int st;

	if (!json_is_object(o) ||
	    (st = status_from_name(jstr(o, "status"))) < 0)
		return CF_EINVAL;
	row->status = (enum report_status)st;
	snprintf(row->thumbprint, sizeof row->thumbprint, "%s",
	    jstr(o, "thumbprint"));
	snprintf(row->sha256, sizeof row->sha256, "%s", jstr(o, "sha256"));
	memset(&tm, 0, sizeof tm);
	row->not_after = na && strptime(na, "%Y-%m-%dT%H:%M:%SZ", &tm) ?
	    timegm(&tm) : 0;
	row->batch = (int)json_integer_value(json_object_get(o, "batch"));
	snprintf(row->verify, sizeof row->verify, "%s",
	    jstr(json_object_get(o, "verify"), "result"));
	snprintf(row->served, sizeof row->served, "%s",
	    jstr(json_object_get(o, "verify"), "served"));
	row->usages = 0;
	json_array_foreach(usages, i, u) {
		/* A journal written by hand or by another version: skip what
		 * is not a usage's name. */
		int k = json_is_string(u) ? usage_from_name(t,
		    json_string_value(u)) : -1;

		if (k >= 0)
			row->usages |= 1u << k;
	}
	if (field_from_json(&row->ca_status, o, "ca_status") != 0 ||
	    field_from_json(&row->chain_choice, o, "chain_choice") != 0 ||
	    field_from_json(&row->reason, o, "reason") != 0 ||
	    field_from_json(&row->error, o, "error") != 0)
		return CF_ENOMEM;
	chain_verdict_release(&row->chain);
	chain_verdict_init(&row->chain);
	return chain_from_json(&row->chain, json_object_get(o, "chain"));
}

json_t *report_to_json(const struct report *r)
{
	struct summary s;
	json_t *rows = json_array();
	char when[32];
	size_t i;

	summarize(r, &s);
	iso8601(r->started_at, when, sizeof when);
	for (i = 0; rows && i < r->n; i++)
		json_array_append_new(rows, report_row_to_json(r->utab,
		    &r->rows[i]));
	return json_pack("{s:i, s:s, s:s, s:s, s:I, s:{s:i, s:i, s:i, s:i, "
	    "s:i, s:i, s:i, s:i, s:i, s:i, s:i}, s:o, s:o}",
	    "schema_version", REPORT_SCHEMA_VERSION, "fleet", r->fleet,
	    "command", r->command, "started_at", when,
	    "duration_ms", (json_int_t)r->duration_ms,
	    "summary", "servers", (int)r->n, "assigned", s.n[REPORT_ASSIGNED],
	    "up_to_date", s.n[REPORT_UP_TO_DATE], "issued", s.n[REPORT_ISSUED],
	    "pending", s.n[REPORT_PENDING], "denied", s.n[REPORT_DENIED],
	    "failed", s.n[REPORT_FAILED], "missing_ca", s.missing_ca,
	    "would_issue", s.n[REPORT_WOULD_ISSUE],
	    "would_deny", s.n[REPORT_WOULD_DENY], "held", s.n[REPORT_HELD],
	    "servers", rows, "rollout", str_or_null(r->rollout));
}

/* True when the row needs a person: failed, denied, a CA missing. */
static bool needs_person(const struct report_row *row)
{
	return row->status == REPORT_FAILED || row->status == REPORT_DENIED ||
	    row->status == REPORT_ASSIGN_FAILED ||
	    row->status == REPORT_WOULD_DENY || row->status == REPORT_HELD ||
	    lacks_ca(row);
}

/* The columns a table may show beside SERVER and STATUS, in this order. */
enum column {
	COL_THUMBPRINT, COL_NOT_AFTER, COL_DAYS_LEFT, COL_CHAIN, COL_USAGES,
	COL_BATCH, COL_REASON, NCOLS
};

static const struct {
	const char *head;
	const char *fmt;
} columns[NCOLS] = {
	[COL_THUMBPRINT] = { "THUMBPRINT", "  %-40s" },
	[COL_NOT_AFTER] = { "NOT AFTER", "  %-10s" },
	[COL_DAYS_LEFT] = { "DAYS LEFT", "  %9s" },
	[COL_CHAIN] = { "CHAIN", "  %-10s" },
	[COL_USAGES] = { "USAGES", "  %s" },
	[COL_BATCH] = { "BATCH", "  %5s" },
	[COL_REASON] = { "REASON", "  %s" },
};

#define C(col) (1u << (col))

/* The columns each command's table shows. */
static unsigned columns_of(const char *command)
{
	if (strcmp(command, "plan") == 0)
		return C(COL_THUMBPRINT) | C(COL_CHAIN) | C(COL_REASON);
	if (strcmp(command, "status") == 0)
		return C(COL_THUMBPRINT) | C(COL_NOT_AFTER) | C(COL_DAYS_LEFT) |
		    C(COL_CHAIN) | C(COL_USAGES);
	return C(COL_THUMBPRINT) | C(COL_CHAIN) | C(COL_USAGES);
}

/* The rest of a line: cell[c] in each column c of cols, or the column
 * heads when cell is NULL. */
static void write_cells(FILE *out, unsigned cols, const char *const *cell)
{
	int c;

	for (c = 0; c < NCOLS; c++)
		if (cols & C(c))
			fprintf(out, columns[c].fmt, cell ? cell[c] :
			    columns[c].head);
	fputc('\n', out);
}

static void write_row(const struct report *r, const struct report_row *row,
    FILE *out, int w, unsigned cols, bool quiet)
{
	char line[1024], day[32] = "-", left[32] = "-";
	char usages[USAGE_CAP * (USAGE_NAME_MAX + 1)] = "";
	char batch[16] = "-";
	const char *cell[NCOLS];
	struct tm tm;
	int u;

	if (row->not_after) {
		gmtime_r(&row->not_after, &tm);
		strftime(day, sizeof day, "%Y-%m-%d", &tm);
		snprintf(left, sizeof left, "%lld",
		    report_days_left(row->not_after, r->started_at));
	}
	for (u = 0; u < USAGE_CAP; u++)
		if (row->usages & (1u << u))
			snprintf(usages + strlen(usages), sizeof usages -
			    strlen(usages), "%s%s", usages[0] ? "," : "",
			    usage_name(r->utab, (unsigned)u));
	cell[COL_THUMBPRINT] = row->thumbprint[0] ? row->thumbprint : "-";
	cell[COL_NOT_AFTER] = day;
	cell[COL_DAYS_LEFT] = left;
	cell[COL_CHAIN] = chain_status_name(row->chain.status);
	cell[COL_USAGES] = usages[0] ? usages : "-";
	if (row->batch)
		snprintf(batch, sizeof batch, "%d", row->batch);
	cell[COL_BATCH] = batch;
	cell[COL_REASON] = row->reason ? row->reason : "-";
	fprintf(out, "%-*s  %-13s", w, row->name,
	    report_status_name(row->status));
	write_cells(out, cols, cell);
	if (row->error)
		fprintf(out, "%*s  %s\n", w, "", row->error);
	if (row->chain_choice && !quiet)
		fprintf(out, "%*s  %s\n", w, "", row->chain_choice);
	if (row->chain.status == CHAIN_MISSING_CA ||
	    row->chain.status == CHAIN_INVALID) {
		chain_verdict_describe(&row->chain, line, sizeof line);
		fprintf(out, "%*s  %s\n", w, "", line);
	}
}

int report_write_table(const struct report *r, FILE *out, bool quiet)
{
	unsigned cols = columns_of(r->command);
	struct report_tally t[REPORT_NTALLIES];
	size_t i, nt, w = 6;
	bool any = false;

	for (i = 0; i < r->n; i++) {
		if (strlen(r->rows[i].name) > w)
			w = strlen(r->rows[i].name);
		any = any || needs_person(&r->rows[i]);
		if (r->rows[i].batch)
			cols |= C(COL_BATCH);
	}
	if (quiet && !any)
		return 0;
	if (!quiet) {
		fprintf(out, "%-*s  %-13s", (int)w, "SERVER", "STATUS");
		write_cells(out, cols, NULL);
	}
	for (i = 0; i < r->n; i++)
		if (!quiet || needs_person(&r->rows[i]))
			write_row(r, &r->rows[i], out, (int)w, cols, quiet);
	nt = report_tallies(r, t);
	fprintf(out, "%zu server%s:", r->n, r->n == 1 ? "" : "s");
	for (i = 0; i < nt; i++)
		if (t[i].aside)
			fprintf(out, " (%d %s)", t[i].n, t[i].words);
		else
			fprintf(out, "%s %d %s", i ? "," : "", t[i].n,
			    t[i].words);
	fprintf(out, "\n");
	if (r->rollout)
		fprintf(out, "%s\n", r->rollout);
	return ferror(out) ? CF_EIO : 0;
}
