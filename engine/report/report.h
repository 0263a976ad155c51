/*
 * The report of one command over the fleet: a row per server with what the
 * CA returned, the thumbprint, the chain verdict and the usages assigned;
 * rendered as a table for people or as JSON (a schema later versions may
 * add keys to, never rename). It decides how results are shown and which
 * exit status they mean; cmd/ only chooses the stream and exits.
 */
#ifndef CF_REPORT_H
#define CF_REPORT_H

#include "engine/chain/chain.h"

#include "engine/base/usage.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* The "schema_version" of every JSON output (schema/certfleet.schema.json).
 * Raised only when a key is renamed, removed or changes its type or
 * meaning; a new key keeps it. */
#define REPORT_SCHEMA_VERSION 1

enum report_status {
	REPORT_ASSIGNED,            /* issued and assigned to every usage */
	REPORT_UP_TO_DATE,          /* nothing due */
	REPORT_ISSUED,              /* issued, not assigned (CA missing, or off) */
	REPORT_PENDING,             /* the CA holds the request */
	REPORT_DENIED,              /* the CA refused */
	REPORT_FAILED,              /* an error on the way */
	REPORT_ASSIGN_FAILED,       /* assignment failed and was rolled back */
	REPORT_WOULD_ISSUE,         /* plan: a run would request one */
	REPORT_WOULD_DENY,          /* plan: the CA's policy would refuse it */
	REPORT_NOT_RUN,             /* status: no run has looked at it yet */
	REPORT_HELD,                /* issued and checked, not assigned: a
	                               staged rollout's brake stopped first */
	REPORT_STATUS_MAX
};

struct report_row {
	char *name;
	enum report_status status;
	char thumbprint[41];        /* "" when none */
	char sha256[65];
	time_t not_after;           /* 0 when none */
	struct chain_verdict chain;
	unsigned usages;            /* bit (1 << index in the usage table)
	                               assigned */
	char *ca_status;            /* the CA's own word, or NULL */
	char *chain_choice;         /* which of the CA's chains, when it
	                               offered several; or NULL */
	char *reason;               /* why due, or why not ("expires in 3
	                               days", "valid until ..."); or NULL */
	char *error;                /* NULL when none */
	int batch;                  /* its rollout batch (1 = first), 0 none */
	char verify[8];             /* "ok", "failed", "skipped", or "" */
	char served[65];            /* SHA-256 the server served, or "" */
};

struct report {
	char *fleet;
	char *command;              /* "run", "plan", "assign", "status" */
	time_t started_at;
	int64_t duration_ms;
	struct report_row *rows;
	size_t n;
	size_t cap;
	char *rollout;              /* why a staged rollout stopped, or NULL */
	const struct usage_table *utab; /* the rows' usage names (borrowed);
	                                   NULL: the predefined three */
};

/* Fills r for a command over fleet; report_release frees what it holds. */
int report_init(struct report *r, const char *fleet, const char *command,
    time_t started_at);
void report_release(struct report *r);

/* A new row for server name, owned by r, to be filled by the caller; NULL
 * when out of memory. Valid until the next report_add. */
struct report_row *report_add(struct report *r, const char *name);

/* Sets an owned string field of a row (ca_status, error) to a copy. */
int report_row_set(char **field, const char *value);

/* Frees what a row holds (its name included) and empties it. */
void report_row_release(struct report_row *row);

/* The CAs v lacks as a JSON array (kind, subject, sha1, reason), as in a
 * row's "chain" object and the journal's missing_json; NULL: no memory. */
json_t *report_missing_json(const struct chain_verdict *v);

/* One row as in the JSON report's "servers" array; NULL: no memory. */
json_t *report_row_to_json(const struct usage_table *t,
    const struct report_row *row);

/*
 * Fills row (its name already set) back from report_row_to_json's object:
 * how status shows what the last run reported. Returns 0, or CF_EINVAL
 * when o is not such an object (row then unchanged but for what it could
 * read).
 */
int report_row_from_json(const struct usage_table *t,
    struct report_row *row, json_t *o);

/* "assigned", "up_to_date", ... as in the JSON schema. */
const char *report_status_name(enum report_status s);

/* One number of the summary: its key in the JSON "summary", the words
 * the table's summary line gives it, and the count. */
struct report_tally {
	const char *key;            /* "assigned", "missing_ca", ... */
	const char *words;          /* "assigned", "lacking a CA", ... */
	int n;
	bool aside;                 /* said in parentheses after the one
	                               before: "3 issued (3 lacking a CA)" */
};

#define REPORT_NTALLIES 10

/*
 * The numbers of the table's summary line, in its order, into t (failed
 * counting assign_failed too); would issue and would be denied only for
 * plan or when not 0, held only when not 0. Returns how many it filled.
 * Every report that shows a summary words it with these.
 */
size_t report_tallies(const struct report *r,
    struct report_tally t[REPORT_NTALLIES]);

/* Whole days from now to not_after, rounded down: 0 is the last day, -1
 * the first day after it expired. */
long long report_days_left(time_t not_after, time_t now);

/* 0 when every server is done or nothing was due; 1 when some server
 * failed, was denied (or would be), or lacks a CA. */
int report_exit_status(const struct report *r);

/* The whole report as JSON; the caller owns the result (NULL: no memory). */
json_t *report_to_json(const struct report *r);

/*
 * Writes the table and the summary line to out; the columns suit the
 * command (plan adds REASON, status NOT AFTER and DAYS LEFT). quiet keeps
 * only the rows that need a person and the summary, and writes nothing at
 * all when no row needs one (cron mails only when there is something to
 * do).
 */
int report_write_table(const struct report *r, FILE *out, bool quiet);

#endif
