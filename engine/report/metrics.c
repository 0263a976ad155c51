/*
 * Metrics rendering (see metrics.h). Every metric is a gauge: each file
 * is a snapshot that the next command replaces whole. Family names and
 * HELP texts are constants here (no backslash, no newline, so nothing in
 * them needs escaping); every label value goes through
 * metrics_write_label, though the fleet file's name rules keep quotes out
 * of fleet and server names today.
 */
#include "engine/report/metrics.h"
#include "engine/base/err.h"
#include "engine/base/usage.h"

enum family {
	F_NOT_AFTER,
	F_SERVER_STATUS,
	F_SERVERS,
	F_MISSING_CA,
	F_DURATION,
	F_TIMESTAMP,
	F_SUCCESS,
	F_EXIT_CODE,
	F_MAX
};

static const struct {
	const char *name;
	const char *help;
} families[F_MAX] = {
	[F_NOT_AFTER] = { "certfleet_certificate_not_after_timestamp_seconds",
	    "When the certificate assigned to a server's usage expires "
	    "(Unix time)." },
	[F_SERVER_STATUS] = { "certfleet_server_status",
	    "1 for the status each server is in." },
	[F_SERVERS] = { "certfleet_servers",
	    "How many servers are in each status." },
	[F_MISSING_CA] = { "certfleet_chain_missing_ca",
	    "How many CA certificates of a kind (root, intermediate) a "
	    "server's stores lack for its certificate's chain." },
	[F_DURATION] = { "certfleet_run_duration_seconds",
	    "How long the command took." },
	[F_TIMESTAMP] = { "certfleet_run_timestamp_seconds",
	    "When the command started (Unix time)." },
	[F_SUCCESS] = { "certfleet_run_success_timestamp_seconds",
	    "When the last run or assign that exited 0 finished (Unix time; "
	    "0 when none has)." },
	[F_EXIT_CODE] = { "certfleet_run_exit_code",
	    "The command's exit code: 0 every server done, 1 some server "
	    "needs a person." },
};

void metrics_write_label(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void family(FILE *out, enum family f)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", families[f].name,
	    families[f].help, families[f].name);
}

static void label(FILE *out, const char *key, const char *value)
{
	fprintf(out, ",%s=\"", key);
	metrics_write_label(out, value);
	fputc('"', out);
}

/* Starts a sample of family f with its fleet label, and the shard's when
 * the command ran on one (the shards' series then never collide); label
 * adds one more, end_int writes the value. */
static void begin(FILE *out, enum family f, const struct report *r,
    const struct metrics_run *run)
{
	fprintf(out, "%s{fleet=\"", families[f].name);
	metrics_write_label(out, r->fleet);
	fputc('"', out);
	if (run->shard != NULL)
		label(out, "shard", run->shard);
}

static void end_int(FILE *out, long long v)
{
	fprintf(out, "} %lld\n", v);
}

static void certificates(FILE *out, const struct report *r,
    const struct metrics_cert *certs, const struct metrics_run *run)
{
	size_t i;
	int u;

	family(out, F_NOT_AFTER);
	for (i = 0; i < r->n; i++)
		for (u = 0; u < USAGE_CAP; u++) {
			if (!(certs[i].usages & (1u << u)))
				continue;
			begin(out, F_NOT_AFTER, r, run);
			label(out, "server", r->rows[i].name);
			label(out, "usage", usage_name(r->utab, (unsigned)u));
			end_int(out, (long long)certs[i].not_after);
		}
}

static void statuses(FILE *out, const struct report *r,
    const struct metrics_run *run)
{
	size_t i, count[REPORT_STATUS_MAX] = { 0 };
	int s;

	family(out, F_SERVER_STATUS);
	for (i = 0; i < r->n; i++) {
		if ((unsigned)r->rows[i].status < REPORT_STATUS_MAX)
			count[r->rows[i].status]++;
		begin(out, F_SERVER_STATUS, r, run);
		label(out, "server", r->rows[i].name);
		label(out, "status", report_status_name(r->rows[i].status));
		end_int(out, 1);
	}
	family(out, F_SERVERS);
	for (s = 0; s < REPORT_STATUS_MAX; s++) {
		begin(out, F_SERVERS, r, run);
		label(out, "status", report_status_name((enum report_status)s));
		end_int(out, (long long)count[s]);
	}
}

/* Only a verdict of missing_ca counts: an ok one may still carry notes
 * on misplaced copies, which need nobody. */
static void missing_cas(FILE *out, const struct report *r,
    const struct metrics_run *run)
{
	const struct chain_verdict *v;
	size_t i, k, n[2];
	int kind;

	family(out, F_MISSING_CA);
	for (i = 0; i < r->n; i++) {
		v = &r->rows[i].chain;
		if (v->status != CHAIN_MISSING_CA)
			continue;
		n[0] = n[1] = 0;
		for (k = 0; k < v->nmissing; k++)
			n[v->missing[k].kind == CHAIN_KIND_ROOT ? 0 : 1]++;
		for (kind = 0; kind < 2; kind++) {
			if (n[kind] == 0)
				continue;
			begin(out, F_MISSING_CA, r, run);
			label(out, "server", r->rows[i].name);
			label(out, "kind", chain_kind_name(kind == 0 ?
			    CHAIN_KIND_ROOT : CHAIN_KIND_INTERMEDIATE));
			end_int(out, (long long)n[kind]);
		}
	}
}

static void command(FILE *out, const struct report *r,
    const struct metrics_run *run)
{
	family(out, F_DURATION);
	begin(out, F_DURATION, r, run);
	label(out, "command", r->command);
	fprintf(out, "} %lld.%03lld\n", (long long)(r->duration_ms / 1000),
	    (long long)(r->duration_ms % 1000));
	family(out, F_TIMESTAMP);
	begin(out, F_TIMESTAMP, r, run);
	label(out, "command", r->command);
	end_int(out, (long long)r->started_at);
	family(out, F_SUCCESS);
	begin(out, F_SUCCESS, r, run);
	end_int(out, (long long)run->last_success);
	family(out, F_EXIT_CODE);
	begin(out, F_EXIT_CODE, r, run);
	label(out, "command", r->command);
	end_int(out, run->exit_code);
}

int metrics_write(const struct report *r, const struct metrics_cert *certs,
    const struct metrics_run *run, FILE *out)
{
	certificates(out, r, certs, run);
	statuses(out, r, run);
	missing_cas(out, r, run);
	command(out, r, run);
	return ferror(out) ? CF_EIO : 0;
}
