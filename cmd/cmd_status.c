/*
 * `status` (each server's last state from the journal), `approve` (manual
 * approval of requests the embedded CA holds as pending) and `show` (the
 * issued certificate's details, like the wizard's "View Certificate
 * Details"). They read the journal; only approve writes to it.
 */
#include "cmd/cmd.h"
#include "engine/crypto.h"
#include "engine/err.h"
#include "engine/fsio.h"
#include "engine/job_state.h"
#include "engine/journal.h"
#include "engine/path.h"
#include "engine/report.h"
#include "inventory/fleet.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Opens the fleet's journal if a run has made one. Returns the exit code;
 * *found tells whether there is a journal at all. */
static int journal_of(const struct fleet *f, struct journal *jr, bool *found)
{
	char *db = path_join(f->state_dir, "journal.db"), msg[512];
	int rc = CMD_EXIT_OK;

	*found = false;
	if (db == NULL)
		return CMD_EXIT_FAILED;
	if (access(db, F_OK) == 0) {
		if (journal_open(jr, db, msg, sizeof msg) != 0) {
			fprintf(stderr, "certfleet: %s\n", msg);
			rc = CMD_EXIT_FAILED;
		} else {
			*found = true;
		}
	}
	free(db);
	return rc;
}

static enum report_status status_of(const char *state)
{
	switch (job_state_from_name(state)) {
	case JOB_ASSIGNED: return REPORT_ASSIGNED;
	case JOB_UP_TO_DATE: return REPORT_UP_TO_DATE;
	case JOB_ISSUED:
	case JOB_CHAIN_CHECK:
	case JOB_CHAIN_FAILED:
	case JOB_HELD:
	case JOB_ASSIGN: return REPORT_ISSUED;
	case JOB_SUBMIT:
	case JOB_PENDING:
	case JOB_POLL: return REPORT_PENDING;
	case JOB_DENIED: return REPORT_DENIED;
	case JOB_ASSIGN_FAILED: return REPORT_ASSIGN_FAILED;
	default: return REPORT_FAILED;
	}
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* Fills a report row from the server's latest journal row. */
static void row_from_journal(struct report_row *row,
    const struct journal_request *rq)
{
	json_t *miss;
	size_t i;
	int u;

	row->status = status_of(rq->state);
	snprintf(row->thumbprint, sizeof row->thumbprint, "%s",
	    rq->thumbprint ? rq->thumbprint : "");
	snprintf(row->sha256, sizeof row->sha256, "%s",
	    rq->sha256 ? rq->sha256 : "");
	row->not_after = (time_t)rq->not_after;
	report_row_set(&row->ca_status, rq->ca_status);
	report_row_set(&row->error, rq->error);
	if (rq->alt_chains) {
		json_t *o = json_loads(rq->alt_chains, 0, NULL);

		report_row_set(&row->chain_choice, json_string_value(
		    json_object_get(o, "choice")));
		json_decref(o);
	}
	if (rq->chain_status == NULL)
		return;
	row->chain.status = strcmp(rq->chain_status, "ok") == 0 ? CHAIN_OK :
	    strcmp(rq->chain_status, "missing_ca") == 0 ? CHAIN_MISSING_CA :
	    strcmp(rq->chain_status, "invalid") == 0 ? CHAIN_INVALID :
	    CHAIN_UNKNOWN;
	chain_verdict_set_detail(&row->chain, rq->chain_detail);
	for (u = 0; rq->usages && u < USAGE_MAX; u++)
		if (strstr(rq->usages, usage_name((enum usage)u)))
			row->usages |= 1u << u;
	miss = rq->missing_json ? json_loads(rq->missing_json, 0, NULL) : NULL;
	if (json_array_size(miss) > 0 && (row->chain.missing = calloc(
	    json_array_size(miss), sizeof(*row->chain.missing))) != NULL) {
		for (i = 0; i < json_array_size(miss); i++) {
			json_t *m = json_array_get(miss, i);
			struct chain_missing *cm = &row->chain.missing[i];
			cm->kind = strcmp(jstr(m, "kind"), "root") == 0 ?
			    CHAIN_KIND_ROOT : CHAIN_KIND_INTERMEDIATE;
			cm->subject = strdup(jstr(m, "subject"));
			cm->reason = strdup(jstr(m, "reason"));
			snprintf(cm->sha1, sizeof cm->sha1, "%s", jstr(m, "sha1"));
			cm->why = strncmp(jstr(m, "reason"), "expired", 7) == 0 ?
			    CHAIN_WHY_EXPIRED : strncmp(jstr(m, "reason"),
			    "not valid", 9) == 0 ? CHAIN_WHY_NOT_YET_VALID :
			    strncmp(jstr(m, "reason"), "found only", 10) == 0 ?
			    CHAIN_WHY_MISPLACED : CHAIN_WHY_ABSENT;
			row->chain.nmissing++;
		}
	}
	json_decref(miss);
}

int cmd_status(const struct cmd_opts *o)
{
	struct fleet f;
	struct journal jr = { 0 };
	struct journal_request rq;
	struct report r = { 0 };
	struct report_row *row;
	const struct server **sel = NULL;
	char msg[512];
	bool found = false;
	size_t i, nsel;
	int rc;

	if ((rc = cmd_fleet_load(&f, o->fleet)) != CMD_EXIT_OK ||
	    (rc = cmd_select(&f, o, &sel, &nsel)) != CMD_EXIT_OK)
		goto out;
	if ((rc = journal_of(&f, &jr, &found)) != CMD_EXIT_OK)
		goto out;
	if (report_init(&r, f.name, "status", time(NULL)) != 0) {
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	journal_request_init(&rq);
	for (i = 0; i < nsel; i++) {
		const struct server *s = sel[i];

		if ((row = report_add(&r, s->name)) == NULL)
			break;
		if (!found || journal_request_latest(&jr, s->name, &rq, msg,
		    sizeof msg) != 0) {
			/* Never run: a run would request one. */
			row->status = REPORT_WOULD_ISSUE;
			continue;
		}
		row_from_journal(row, &rq);
	}
	journal_request_release(&rq);
	if (o->json) {
		json_t *j = report_to_json(&r);

		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(j);
	} else {
		report_write_table(&r, stdout, o->quiet);
	}
	rc = report_exit_status(&r);
out:
	if (found)
		journal_close(&jr);
	report_release(&r);
	free(sel);
	fleet_release(&f);
	return rc;
}

int cmd_approve(const struct cmd_opts *o)
{
	struct fleet f;
	struct journal jr = { 0 };
	struct journal_request rq;
	const struct server **sel = NULL;
	char msg[512];
	bool found = false;
	size_t i, nsel;
	int k, rc, approved = 0;

	if ((rc = cmd_fleet_load(&f, o->fleet)) != CMD_EXIT_OK)
		goto out;
	if (!o->all && o->nargs == 0) {
		fprintf(stderr, "certfleet: approve needs server names or "
		    "--all\n");
		rc = CMD_EXIT_USAGE;
		goto out;
	}
	/* --limit and --exclude narrow --all; named servers are named. */
	if (!o->all && (o->nlimit || o->nexclude)) {
		fprintf(stderr, "certfleet: approve takes --limit and --exclude "
		    "only with --all\n");
		rc = CMD_EXIT_USAGE;
		goto out;
	}
	if ((rc = cmd_select(&f, o, &sel, &nsel)) != CMD_EXIT_OK)
		goto out;
	for (k = 0; k < o->nargs; k++)
		if (fleet_server_find(&f, o->args[k]) == NULL) {
			fprintf(stderr, "certfleet: no server '%s' in '%s'\n",
			    o->args[k], o->fleet);
			rc = CMD_EXIT_USAGE;
			goto out;
		}
	if ((rc = journal_of(&f, &jr, &found)) != CMD_EXIT_OK)
		goto out;
	if (!found) {
		fprintf(stderr, "certfleet: nothing to approve: no run has "
		    "journaled a request yet\n");
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	journal_request_init(&rq);
	for (i = 0; o->all && i < nsel; i++) {
		const char *name = sel[i]->name;

		if (journal_request_open(&jr, name, &rq, msg, sizeof msg) != 0 ||
		    strcmp(rq.state, "pending") != 0)
			continue;
		if (journal_approve(&jr, name, msg, sizeof msg) == 0) {
			printf("approved '%s'\n", name);
			approved++;
		}
	}
	journal_request_release(&rq);
	for (k = 0; k < o->nargs; k++) {
		if (journal_approve(&jr, o->args[k], msg, sizeof msg) != 0) {
			fprintf(stderr, "certfleet: %s\n", msg);
			rc = CMD_EXIT_FAILED;
			continue;
		}
		printf("approved '%s'\n", o->args[k]);
		approved++;
	}
	if (!o->quiet)
		printf("%d request%s approved; the next run collects %s\n",
		    approved, approved == 1 ? "" : "s",
		    approved == 1 ? "it" : "them");
out:
	if (found)
		journal_close(&jr);
	free(sel);
	fleet_release(&f);
	return rc;
}

static void show_cert(X509 *x, const char *indent)
{
	char buf[512], hex[65];

	crypto_cert_subject(x, buf, sizeof buf);
	crypto_thumbprint(x, hex);
	printf("%s%s\n%s  thumbprint %s\n", indent, buf, indent, hex);
}

int cmd_show(const struct cmd_opts *o)
{
	struct fleet f;
	struct journal jr = { 0 };
	struct journal_request rq;
	STACK_OF(X509) *certs = NULL;
	char msg[512], buf[512], hex[65], from[32], to[32];
	char **sans = NULL;
	bool found = false;
	time_t nb = 0, na = 0;
	size_t nsans = 0, i;
	unsigned eku, flag;
	X509 *leaf;
	int rc;

	journal_request_init(&rq);
	if ((rc = cmd_fleet_load(&f, o->fleet)) != CMD_EXIT_OK)
		goto out;
	if (o->nargs != 1 || fleet_server_find(&f, o->args[0]) == NULL) {
		fprintf(stderr, "certfleet: show needs one server of '%s'\n",
		    o->fleet);
		rc = CMD_EXIT_USAGE;
		goto out;
	}
	if ((rc = journal_of(&f, &jr, &found)) != CMD_EXIT_OK)
		goto out;
	if (!found || journal_request_latest(&jr, o->args[0], &rq, msg,
	    sizeof msg) != 0 || rq.cert_pem == NULL ||
	    crypto_certs_from_pem(rq.cert_pem, "the journal", &certs, msg,
	    sizeof msg) != 0) {
		fprintf(stderr, "certfleet: no certificate issued for '%s' "
		    "yet\n", o->args[0]);
		rc = CMD_EXIT_FAILED;
		goto out;
	}
	leaf = sk_X509_value(certs, 0);
	printf("server      %s (%s)\n", o->args[0], rq.state);
	crypto_cert_subject(leaf, buf, sizeof buf);
	printf("subject     %s\n", buf);
	crypto_cert_issuer(leaf, buf, sizeof buf);
	printf("issuer      %s\n", buf);
	crypto_cert_serial(leaf, buf, sizeof buf);
	printf("serial      %s\n", buf);
	crypto_cert_not_before(leaf, &nb);
	crypto_cert_not_after(leaf, &na);
	strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", gmtime(&nb));
	strftime(to, sizeof to, "%Y-%m-%dT%H:%M:%SZ", gmtime(&na));
	printf("valid       %s to %s\n", from, to);
	crypto_cert_sans(leaf, &sans, &nsans);
	printf("SANs       ");
	for (i = 0; i < nsans; i++)
		printf(" %s", sans[i]);
	printf("\nEKUs       ");
	eku = crypto_cert_eku(leaf);
	for (flag = 1; flag <= EKU_ALL; flag <<= 1)
		if (eku & flag)
			printf(" %s", eku_name(flag));
	crypto_cert_key_describe(leaf, buf, sizeof buf);
	printf("\nkey         %s\n", buf);
	crypto_thumbprint(leaf, hex);
	printf("thumbprint  %s\n", hex);
	crypto_fingerprint_sha256(leaf, hex);
	printf("sha256      %s\n", hex);
	printf("chain\n");
	for (i = 1; i < (size_t)sk_X509_num(certs); i++)
		show_cert(sk_X509_value(certs, (int)i), "  ");
	if (rq.chain_status)
		printf("chain check %s%s%s\n", rq.chain_status,
		    rq.chain_detail && *rq.chain_detail ? ": " : "",
		    rq.chain_detail ? rq.chain_detail : "");
	if (rq.usages)
		printf("usages      %s\n", rq.usages);
	/* Where to look the request up at the CA (an ACME order URL). */
	if (rq.ca_status)
		printf("ca status   %s\n", rq.ca_status);
	if (rq.ca_ref)
		printf("ca ref      %s\n", rq.ca_ref);
	rc = CMD_EXIT_OK;
out:
	crypto_strings_free(sans, nsans);
	sk_X509_pop_free(certs, X509_free);
	journal_request_release(&rq);
	if (found)
		journal_close(&jr);
	fleet_release(&f);
	return rc;
}
