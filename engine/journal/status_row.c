/*
 * A server's status from the journal. The servers table holds the report
 * row the last run printed, so status says what run said. A request moved
 * by a later run that never finished the server (killed, or still
 * running) is newer than that: it is shown as it stands.
 */
#include "engine/journal/status_row.h"
#include "engine/base/err.h"
#include "engine/base/usage.h"
#include "engine/job/job_state.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum report_status status_row_of_state(int state)
{
	switch (state) {
	case JOB_ASSIGNED: return REPORT_ASSIGNED;
	case JOB_UP_TO_DATE: return REPORT_UP_TO_DATE;
	case JOB_WOULD_ISSUE: return REPORT_WOULD_ISSUE;
	case JOB_WOULD_DENY: return REPORT_WOULD_DENY;
	case JOB_ISSUED:
	case JOB_CHAIN_CHECK:
	case JOB_CHAIN_FAILED:
	case JOB_HELD:
	case JOB_ASSIGN:
	case JOB_VERIFY: return REPORT_ISSUED;
	case JOB_READY: return REPORT_HELD;
	case JOB_SUBMIT:
	case JOB_PENDING:
	case JOB_POLL: return REPORT_PENDING;
	case JOB_DENIED: return REPORT_DENIED;
	case JOB_ASSIGN_FAILED: return REPORT_ASSIGN_FAILED;
	default: return REPORT_FAILED;
	}
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* The row of a request, as report_row_to_json would have written it. */
static int row_from_request(const struct usage_table *utab,
    struct report_row *row, const struct journal_request *rq)
{
	json_t *o, *usages = json_array(), *missing = NULL;
	char when[32], *list, *tok, *save = NULL;
	time_t t = (time_t)rq->not_after;
	struct tm tm;
	int rc;

	if (rq->not_after) {
		gmtime_r(&t, &tm);
		strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	if (rq->usages && (list = strdup(rq->usages)) != NULL) {
		for (tok = strtok_r(list, ",", &save); tok;
		    tok = strtok_r(NULL, ",", &save))
			json_array_append_new(usages, json_string(tok));
		free(list);
	}
	if (rq->missing_json)
		missing = json_loads(rq->missing_json, 0, NULL);
	o = json_pack("{s:s, s:o, s:o, s:o, s:{s:s, s:o, s:o}, s:o, s:o, "
	    "s:o, s:o}",
	    "status", report_status_name(status_row_of_state(
	    job_state_from_name(rq->state))),
	    "thumbprint", str_or_null(rq->thumbprint),
	    "sha256", str_or_null(rq->sha256),
	    "not_after", rq->not_after ? json_string(when) : json_null(),
	    "chain", "status", rq->chain_status ? rq->chain_status : "unknown",
	    "missing", missing ? missing : json_array(),
	    "detail", str_or_null(rq->chain_detail),
	    "usages", usages, "ca_status", str_or_null(rq->ca_status),
	    "chain_choice", json_null(), "error", str_or_null(rq->error));
	if (o == NULL)
		return CF_ENOMEM;
	if (rq->alt_chains) {
		json_t *a = json_loads(rq->alt_chains, 0, NULL);

		json_object_set(o, "chain_choice", json_object_get(a,
		    "choice"));
		json_decref(a);
	}
	rc = report_row_from_json(utab, row, o);
	json_decref(o);
	return rc;
}

/* A request a later run left open: shown as it stands, saying so. */
static int row_in_flight(const struct usage_table *t,
    struct report_row *row,
    const struct journal_request *rq, bool have_row)
{
	char note[300];
	int st = job_state_from_name(rq->state), rc = 0;

	if (st >= 0 && job_state_holds_request((enum job_state)st)) {
		rc = row_from_request(t, row, rq);
		snprintf(note, sizeof note, "a run stopped (or is still "
		    "running) with request %lld at '%s'; the next run "
		    "continues it", (long long)rq->id, rq->state);
	} else {
		/* Killed before the CA saw anything: what was there stays. */
		if (!have_row)
			row->status = REPORT_NOT_RUN;
		snprintf(note, sizeof note, "a run stopped (or is still "
		    "running) while making a new key; the next run starts "
		    "over");
	}
	if (rc == 0)
		rc = report_row_set(&row->reason, note);
	return rc;
}

int status_row_fill(const struct usage_table *t, struct journal *jr,
    const char *name,
    struct report_row *row, struct journal_request *latest, char *msg,
    size_t msgsz)
{
	struct journal_server srv;
	struct journal_request rq;
	json_t *o;
	bool have_row = false;
	int rc;

	journal_server_init(&srv);
	journal_request_init(&rq);
	row->status = REPORT_NOT_RUN;
	rc = journal_server_get(jr, name, &srv, msg, msgsz);
	if (rc == 0) {
		o = json_loads(srv.report, 0, NULL);
		have_row = report_row_from_json(t, row, o) == 0;
		json_decref(o);
	} else if (rc != CF_ENOENT) {
		goto out;
	}
	rc = journal_request_latest(jr, name, &rq, msg, msgsz);
	if (rc == CF_ENOENT) {
		rc = 0;
		goto out;
	}
	if (rc != 0)
		goto out;
	/* No run recorded a row (a journal older than the servers table,
	 * or the first run stopped): the request is all there is. */
	if (!have_row && rq.final)
		rc = row_from_request(t, row, &rq);
	else if (!rq.final && (!have_row || rq.run_id > srv.run_id))
		rc = row_in_flight(t, row, &rq, have_row);
	if (rc == CF_ENOMEM)
		cf_error(msg, msgsz, rc, "out of memory");
out:
	if (latest != NULL && rc == 0) {
		journal_request_release(latest);
		*latest = rq;
	} else {
		journal_request_release(&rq);
	}
	journal_server_release(&srv);
	return rc;
}

int status_row_installed(const struct usage_table *t, struct journal *jr,
    const struct report_row *row,
    unsigned *usages, time_t *not_after, char *msg, size_t msgsz)
{
	struct journal_request rq;
	char *tok, *save = NULL;
	int rc, u;

	/* Only these rows say what is installed: any other may carry a new
	 * certificate that was never assigned, or was rolled back. */
	if ((row->status == REPORT_ASSIGNED ||
	    row->status == REPORT_UP_TO_DATE) && row->not_after) {
		*usages = row->usages;
		*not_after = row->not_after;
		return 0;
	}
	*usages = 0;
	*not_after = 0;
	if (jr == NULL)
		return 0;
	journal_request_init(&rq);
	rc = journal_request_assigned(jr, row->name, &rq, msg, msgsz);
	if (rc == CF_ENOENT)
		rc = 0;
	if (rc == 0 && rq.not_after && rq.usages) {
		for (tok = strtok_r(rq.usages, ",", &save); tok;
		    tok = strtok_r(NULL, ",", &save))
			if ((u = usage_from_name(t, tok)) >= 0)
				*usages |= 1u << u;
		*not_after = *usages ? (time_t)rq.not_after : 0;
	}
	journal_request_release(&rq);
	return rc;
}
